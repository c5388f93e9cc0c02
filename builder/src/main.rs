//! `pigsty-build`: the command line. The work is done in the `pigsty_build` library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use cli::build::BuildArgs;
use cli::catalog::CatalogCommand;
use cli::ext::ExtCommand;
use cli::matrix::MatrixArgs;
use cli::plan::PlanArgs;
use cli::repos::ReposArgs;
use cli::sign::KeyCommand;

/// Build offline package bundles of a Pigsty-style PostgreSQL distribution.
///
/// Without a subcommand, builds: `pigsty-build --os d12 --pg 15 --modules node --ext postgis
/// --sign-key pigsty.key` resolves the packages, downloads and verifies them, writes a signed
/// local repository (apt for Debian/Ubuntu, dnf for EL) to OUT/pigsty and the bundle
/// OUT/pigsty-pkg-VERSION.OS.ARCH.tgz. Comma-separated --os/--arch/--pg build every
/// combination, each in OUT/OS.ARCH.pgN; --base OLD/MANIFEST.json makes a delta bundle.
///
/// `ext` browses the extension catalog; `plan` shows what a target needs; `matrix` lists
/// every target; `catalog` checks and refreshes the extension catalog; `repos` shows the
/// upstream repositories of a target with their mirrors resolved; `key gen` makes a signing
/// key; `verify` checks a bundle; `sign` signs release files.
#[derive(Parser)]
#[command(
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    build: BuildArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Build a target, or several (the same as giving no subcommand).
    Build(Box<BuildArgs>),
    /// Make a signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check a bundle without installing it: the manifest's signature, then every file.
    Verify {
        /// The bundle file (.tgz or .tar.zst)
        bundle: PathBuf,
        /// The trusted public key (armored or binary), e.g. pigsty.pub
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Show the packages a target needs for the given extensions and package aliases.
    Plan(PlanArgs),
    /// List every target (OS x arch x PG major) with the number of extensions it can serve,
    /// or as the build matrix of a GitHub Actions workflow (`--format github`).
    Matrix(MatrixArgs),
    /// Write a detached armored signature FILE.asc beside each FILE (e.g. SHA256SUMS), with
    /// the key that signs the bundles; `gpgv --keyring PUB FILE.asc FILE` checks it.
    Sign {
        /// The files to sign
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The armored secret key (see `key gen`)
        #[arg(long, value_name = "KEY")]
        sign_key: PathBuf,
    },
    /// Work with the extension catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Show the upstream repositories of a target, with their mirror URLs resolved.
    Repos(ReposArgs),
    /// Browse the extension catalog: `ext list`, `ext info NAME`, `ext search WORD`.
    #[command(subcommand)]
    Ext(ExtCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        None => cli::build::build(cli.build),
        Some(Command::Build(a)) => cli::build::build(*a),
        Some(Command::Key(KeyCommand::Gen { out, name })) => cli::sign::key_gen(&out, &name),
        Some(Command::Verify { bundle, key, json }) => cli::sign::verify(&bundle, &key, json),
        Some(Command::Plan(a)) => cli::plan::plan(a),
        Some(Command::Matrix(a)) => cli::matrix::matrix(a),
        Some(Command::Sign { files, sign_key }) => cli::sign::sign(&files, &sign_key),
        Some(Command::Catalog(c)) => cli::catalog::catalog_cmd(c),
        Some(Command::Repos(a)) => cli::repos::repos(a),
        Some(Command::Ext(c)) => cli::ext::run(c),
    }
}
