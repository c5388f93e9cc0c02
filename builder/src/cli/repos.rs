//! `repos`: the upstream repositories of a target with their mirror URLs.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Args;
use pigsty_build::distro::Distro;
use pigsty_build::plan::items;

use super::args::{MirrorArgs, SourceArgs, TargetArgs};
use super::print_json;

#[derive(Args)]
pub struct ReposArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
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
    let mirrors = a.mirrors.mirrors(&target, &distro)?;
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
        /// The URL, or null where a mirror is not set.
        url: Option<String>,
        /// The URL with the mirrors that are not set left as `${mirror.NAME}`.
        #[serde(skip)]
        partial: String,
        /// The mirrors it needs that nothing sets.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        unset: Vec<String>,
        key: &'a str,
    }
    let chosen: Vec<_> = distro
        .repos
        .iter()
        .filter(|r| modules.is_empty() || modules.contains(&r.module))
        .collect();
    let mut rows = Vec::new();
    for r in &chosen {
        let (url, unset) = mirrors.try_expand(r, &target)?;
        rows.push(Row {
            name: &r.name,
            module: &r.module,
            url: unset.is_empty().then(|| url.clone()),
            partial: url,
            unset,
            key: &r.key,
        });
    }
    let missing = mirrors.check(chosen.iter().copied(), &target).err();
    if a.json {
        print_json(&rows)?;
    } else {
        let mut out = std::io::stdout().lock();
        for r in &rows {
            let url = match &r.url {
                Some(u) => u.clone(),
                None => format!("UNRESOLVED {} (set {})", r.partial, r.unset.join(", ")),
            };
            writeln!(out, "{:<16} {:<8} {url}", r.name, r.module)?;
        }
    }
    // Listed all the same; what sets the missing ones goes to stderr.
    if let Some(e) = missing {
        eprintln!("note: {e}");
    }
    Ok(ExitCode::SUCCESS)
}
