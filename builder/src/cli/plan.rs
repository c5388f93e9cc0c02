//! `plan`: the packages a target needs, grouped by repo module.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pigsty_build::distro::Distro;
use pigsty_build::plan::Plan;

use super::args::{RequestArgs, SourceArgs, TargetArgs};
use super::print_json;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print the plan as JSON (schema 1, see the `plan` module docs)
    #[arg(long)]
    pub json: bool,
}

pub fn plan(a: PlanArgs) -> Result<ExitCode> {
    let target = a.target.target()?;
    let catalog = a.sources.catalog()?;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let plan = Plan::make(&catalog, &distro, &a.request.request(false))?;
    if a.json {
        print_json(&plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "plan for {} ({}{}): {} packages",
        target,
        target.family(),
        target
            .os
            .codename()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        plan.packages.len()
    )?;
    let groups = plan.by_module();
    let mut order: Vec<&str> = distro.modules();
    for m in groups.keys() {
        if !order.contains(m) {
            order.push(m);
        }
    }
    let width = plan
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    for module in order {
        let Some(pkgs) = groups.get(module) else {
            continue;
        };
        writeln!(out, "\n[{module}] {} packages", pkgs.len())?;
        for p in pkgs {
            let why: Vec<String> = p.wanted_by.iter().map(|w| w.to_string()).collect();
            writeln!(out, "  {:width$}  {}", p.name, why.join("; "))?;
        }
    }
    if !plan.unavailable.is_empty() {
        writeln!(
            out,
            "\nunavailable on {}: {} extensions",
            target,
            plan.unavailable.len()
        )?;
        let width = plan
            .unavailable
            .iter()
            .map(|u| u.extension.len())
            .max()
            .unwrap_or(0);
        for u in &plan.unavailable {
            let note = if u.requested {
                ""
            } else {
                " (required by another)"
            };
            writeln!(out, "  {:width$}  {}{}", u.extension, u.message, note)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
