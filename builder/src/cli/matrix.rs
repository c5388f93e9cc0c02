//! `matrix`: every target with its extension counts, or a GitHub Actions matrix.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::args::SourceArgs;
use super::print_json;

#[derive(Args)]
pub struct MatrixArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Include beta PostgreSQL majors
    #[arg(long)]
    pub beta: bool,
    /// What to print: a table, JSON rows with the extension counts, or one line of JSON
    /// `{"include":[{"name","os","arch","pg","family","beta","runner"}...]}` for a GitHub
    /// Actions `strategy.matrix` (`fromJSON`); runner is the GitHub-hosted runner of the arch
    #[arg(long, value_enum, default_value_t = MatrixFormat::Human)]
    pub format: MatrixFormat,
    /// The same as --format json
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// Output formats of `matrix`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MatrixFormat {
    Human,
    Json,
    Github,
}

pub fn matrix(a: MatrixArgs) -> Result<ExitCode> {
    let format = if a.json { MatrixFormat::Json } else { a.format };
    if format == MatrixFormat::Github {
        // One line: a step writes it to $GITHUB_OUTPUT as `matrix=...`.
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &pigsty_build::matrix::github(a.beta))?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let catalog = a.sources.catalog()?;
    let rows = pigsty_build::matrix::matrix(&catalog, a.beta)?;
    if format == MatrixFormat::Json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<6} {:<8} {:>3}  {:>10}  {:>8}",
        "os", "arch", "pg", "extensions", "packages"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<6} {:<8} {:>3}  {:>10}  {:>8}{}",
            r.os,
            r.arch,
            r.pg,
            r.extensions,
            r.extension_packages,
            if r.beta { "  (beta)" } else { "" }
        )?;
    }
    writeln!(
        out,
        "{} targets, {} extensions in the catalog",
        rows.len(),
        catalog.extensions().len()
    )?;
    Ok(ExitCode::SUCCESS)
}
