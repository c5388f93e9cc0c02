//! `pigsty-install`: the air-gapped installer (not yet implemented beyond `--help`).

use clap::Parser;

/// Verify a Pigsty bundle and bootstrap an air-gapped node from it.
///
/// Not implemented yet: this release only builds and plans bundles (see `pigsty-build`).
#[derive(Parser)]
#[command(version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    anyhow::bail!("pigsty-install is not implemented yet; see the project's open issues")
}
