//! `catalog diff` and `catalog import`: checking and refreshing the extension catalog.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use pigsty_build::catalog::{self, Catalog};

use super::print_json;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Compare our catalog with a catalog CSV in the upstream format; exit 1 on any difference
    #[command(after_help = "Example:\n  pigsty-build catalog diff extension.csv --json")]
    Diff {
        /// The upstream-format CSV to compare with
        file: PathBuf,
        /// Compare this catalog file instead of the built-in one
        #[arg(long, value_name = "FILE")]
        catalog: Option<PathBuf>,
        /// Print the differences as JSON
        #[arg(long)]
        json: bool,
    },
    /// Write our catalog files (one TOML file per category) from an upstream-format CSV
    #[command(
        after_help = "Example:\n  pigsty-build catalog import NEWEST.csv --availability OLDER.csv --out extensions/"
    )]
    Import {
        /// The upstream-format CSV with the facts
        file: PathBuf,
        /// An older upstream CSV whose `extra.matrix` gives availability per OS, arch and PG
        #[arg(long, value_name = "CSV")]
        availability: Option<PathBuf>,
        /// Where to write the files
        #[arg(long, value_name = "DIR", default_value = "extensions")]
        out: PathBuf,
        /// Print what was written as JSON
        #[arg(long)]
        json: bool,
    },
}

impl CatalogCommand {
    /// Whether the command asked for JSON.
    pub fn json(&self) -> bool {
        match self {
            CatalogCommand::Diff { json, .. } | CatalogCommand::Import { json, .. } => *json,
        }
    }
}

pub fn catalog_cmd(c: CatalogCommand) -> Result<ExitCode> {
    match c {
        CatalogCommand::Diff {
            file,
            catalog,
            json,
        } => {
            let ours = match catalog {
                Some(p) => Catalog::load(&p)?,
                None => Catalog::builtin()?,
            };
            let theirs = Catalog::load(&file)?;
            let diffs = catalog::diff::diff(&ours, &theirs);
            if json {
                print_json(&diffs)?;
            } else {
                let mut out = std::io::stdout().lock();
                for d in &diffs {
                    writeln!(out, "{d}")?;
                }
                writeln!(
                    out,
                    "{} differences between our catalog ({} extensions) and {} ({} extensions)",
                    diffs.len(),
                    ours.extensions().len(),
                    file.display(),
                    theirs.extensions().len()
                )?;
            }
            Ok(if diffs.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        CatalogCommand::Import {
            file,
            availability,
            out,
            json,
        } => {
            let facts = Catalog::load(&file)?;
            let mut exts = facts.extensions().to_vec();
            if let Some(avail) = availability {
                let old = Catalog::load(&avail)?;
                let by_name: BTreeMap<&str, _> = old
                    .extensions()
                    .iter()
                    .filter_map(|e| e.availability.as_ref().map(|a| (e.name.as_str(), a)))
                    .collect();
                for e in &mut exts {
                    if e.availability.is_none() {
                        e.availability = by_name.get(e.name.as_str()).map(|a| (*a).clone());
                    }
                }
            }
            let catalog = Catalog::new(exts, &file.display().to_string())?;
            std::fs::create_dir_all(&out)
                .with_context(|| format!("cannot create {}", out.display()))?;
            let files = catalog::store::render(&catalog);
            for (name, text) in &files {
                let path = out.join(name);
                let tmp = out.join(format!(".{name}.tmp"));
                std::fs::write(&tmp, text)
                    .with_context(|| format!("cannot write {}", tmp.display()))?;
                std::fs::rename(&tmp, &path)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            if json {
                print_json(&serde_json::json!({
                    "extensions": catalog.extensions().len(),
                    "files": files.keys().map(|name| out.join(name)).collect::<Vec<_>>(),
                }))?;
            } else {
                eprintln!(
                    "wrote {} extensions in {} files under {}",
                    catalog.extensions().len(),
                    files.len(),
                    out.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
