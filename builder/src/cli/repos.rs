//! `repos`: the upstream repositories of a target with their mirror URLs.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use pigsty_build::distro::Distro;
use pigsty_build::mirrors::{self, Mirrors};
use pigsty_build::plan::items;

use super::args::{SourceArgs, TargetArgs};
use super::print_json;

#[derive(Args)]
pub struct ReposArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Set a mirror: NAME=URL (repeatable), for example debian=http://HOST/debian
    #[arg(long, value_name = "NAME=URL")]
    pub mirror: Vec<String>,
    /// Only repositories of these modules (comma-separated) [default: all the target defines]
    #[arg(long, value_name = "MODULE")]
    pub modules: Vec<String>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

pub fn repos(a: ReposArgs) -> Result<ExitCode> {
    let target = a.target.target()?;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let host = mirrors::host_mirrors(Path::new("/"));
    let mirrors = Mirrors::new(&a.mirror, &distro.config_mirrors, &host)?;
    let modules = items(&a.modules);
    for m in &modules {
        if !distro.modules().contains(&m.as_str()) {
            bail!(
                "{target} has no repo module `{m}`; modules: {}",
                distro.modules().join(", ")
            );
        }
    }
    #[derive(serde::Serialize)]
    struct Row<'a> {
        name: &'a str,
        module: &'a str,
        url: String,
        key: &'a str,
    }
    let mut rows = Vec::new();
    for r in distro
        .repos
        .iter()
        .filter(|r| modules.is_empty() || modules.contains(&r.module))
    {
        rows.push(Row {
            name: &r.name,
            module: &r.module,
            url: mirrors.expand(r, &target)?,
            key: &r.key,
        });
    }
    if a.json {
        print_json(&rows)?;
    } else {
        let mut out = std::io::stdout().lock();
        for r in &rows {
            writeln!(out, "{:<16} {:<8} {}", r.name, r.module, r.url)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
