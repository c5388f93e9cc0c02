//! `pigsty-build`: the command line. The work is done in the `pigsty_build` library.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use pigsty_bundle::cli::{self as shared, ErrorEnvelope, Shell, Verbosity};

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
/// key; `verify` checks a bundle; `sign` signs release files; `completions` prints a shell's
/// completion script.
#[derive(Parser)]
#[command(
    version,
    propagate_version = true,
    args_conflicts_with_subcommands = true,
    after_help = EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    build: BuildArgs,
    #[command(flatten)]
    verbosity: Verbosity,
}

/// Examples shown at the end of `pigsty-build --help`.
const EXAMPLES: &str = "\
Examples:
  A signing key, then a bundle for Rocky 9 and PostgreSQL 17 with pgvector and PostGIS
  (the upstreams from Pigsty's own repo lists: its source in ~/pigsty, or --pigsty):
    pigsty-build key gen --out keys
    pigsty-build --os el9 --pg 17 --ext vector,postgis --sign-key keys/pigsty.key
  The same from mirrors in China, or one mirror set by hand:
    pigsty-build --os el9 --pg 17 --region china --pigsty pigsty.tgz --sign-key keys/pigsty.key
    pigsty-build --os d12 --pg 17 --mirror pgdg=http://HOST/pgdg --sign-key keys/pigsty.key
  What a target needs, and where from:
    pigsty-build plan --os d12 --pg 17 --ext all
    pigsty-build repos --os el9 --pg 17
  Browse the extension catalog:
    pigsty-build ext search vector
    pigsty-build ext info postgis
  Check a bundle:
    pigsty-build verify dist/pigsty-pkg-0.1.0-pg17.el9.x86_64.tgz --key keys/pigsty.pub
  Shell completions and man pages:
    pigsty-build completions bash > /etc/bash_completion.d/pigsty-build
    pigsty-build man /usr/local/share/man/man1";

impl Cli {
    /// Whether the command asked for JSON (its errors are printed as JSON too).
    fn json(&self) -> bool {
        match &self.command {
            None => self.build.json,
            Some(Command::Build(a)) => a.json,
            Some(Command::Key(KeyCommand::Gen { json, .. }))
            | Some(Command::Verify { json, .. })
            | Some(Command::Sign { json, .. }) => *json,
            Some(Command::Plan(a)) => a.json,
            Some(Command::Matrix(a)) => a.json || a.format != cli::matrix::MatrixFormat::Human,
            Some(Command::Catalog(c)) => c.json(),
            Some(Command::Repos(a)) => a.json,
            Some(Command::Ext(c)) => c.json(),
            Some(Command::Completions { .. }) | Some(Command::Man { .. }) => false,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Build a target, or several (the same as giving no subcommand).
    Build(Box<BuildArgs>),
    /// Make a signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Check a bundle without installing it: the manifest's signature, then every file.
    #[command(
        after_help = "Example:\n  pigsty-build verify dist/pigsty-pkg-0.1.0-pg17.el9.x86_64.tgz --key keys/pigsty.pub --json"
    )]
    Verify {
        /// The bundle file (.tgz or .tar.zst)
        bundle: PathBuf,
        /// The trusted public key (armored or binary), e.g. pigsty.pub
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Print the result as JSON: bundle, fingerprint, target, files, packages
        #[arg(long)]
        json: bool,
    },
    /// Show the packages one target needs for the given extensions and package aliases.
    #[command(
        after_help = "Examples:\n  pigsty-build plan --os el9 --pg 17 --ext vector,postgis\n  pigsty-build plan --os d12 --ext all --packages none --json"
    )]
    Plan(PlanArgs),
    /// List every target (OS x arch x PG major) with the number of extensions it can serve,
    /// or as the build matrix of a GitHub Actions workflow (`--format github`).
    #[command(
        after_help = "Examples:\n  pigsty-build matrix\n  pigsty-build matrix --format github"
    )]
    Matrix(MatrixArgs),
    /// Write a detached armored signature FILE.asc beside each FILE (e.g. SHA256SUMS), with
    /// the key that signs the bundles; `gpgv --keyring PUB FILE.asc FILE` checks it.
    #[command(
        after_help = "Example:\n  pigsty-build sign dist/SHA256SUMS --sign-key keys/pigsty.key"
    )]
    Sign {
        /// The files to sign
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        /// The armored secret key (see `key gen`)
        #[arg(long, value_name = "KEY")]
        sign_key: PathBuf,
        /// Print the signatures written and the key's fingerprint as JSON
        #[arg(long)]
        json: bool,
    },
    /// Work with the extension catalog.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Show the upstream repositories of one target, with their mirror URLs resolved (those
    /// no setting resolves are listed, marked, with what sets them on stderr).
    #[command(
        after_help = "Examples:\n  pigsty-build repos --os el9 --pg 17\n  pigsty-build repos --os d12 --modules node,pgsql --region europe --json"
    )]
    Repos(ReposArgs),
    /// Browse the extension catalog: `ext list`, `ext info NAME`, `ext search WORD`.
    #[command(subcommand)]
    Ext(ExtCommand),
    /// Print the completion script of a shell (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  pigsty-build completions bash > /etc/bash_completion.d/pigsty-build\n  pigsty-build completions zsh > ~/.zfunc/_pigsty-build"
    )]
    Completions {
        /// The shell
        shell: Shell,
    },
    /// Write the man pages (pigsty-build.1 and one per subcommand) into OUTDIR
    #[command(hide = true)]
    Man {
        /// Where to write them, e.g. /usr/local/share/man/man1
        outdir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli: Cli = shared::parse(Cli::command());
    cli.verbosity.init_logging();
    let json = cli.json();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let err: &(dyn std::error::Error + 'static) = e.as_ref();
            ErrorEnvelope::new(cli::kind::of_chain(e.chain()), err).print(json)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let quiet = cli.verbosity.quiet;
    match cli.command {
        None => cli::build::build(cli.build, quiet),
        Some(Command::Build(a)) => cli::build::build(*a, quiet),
        Some(Command::Key(KeyCommand::Gen { out, name, json })) => {
            cli::sign::key_gen(&out, &name, json, quiet)
        }
        Some(Command::Verify { bundle, key, json }) => cli::sign::verify(&bundle, &key, json),
        Some(Command::Plan(a)) => cli::plan::plan(a),
        Some(Command::Matrix(a)) => cli::matrix::matrix(a),
        Some(Command::Sign {
            files,
            sign_key,
            json,
        }) => cli::sign::sign(&files, &sign_key, json, quiet),
        Some(Command::Catalog(c)) => cli::catalog::catalog_cmd(c),
        Some(Command::Repos(a)) => cli::repos::repos(a),
        Some(Command::Ext(c)) => cli::ext::run(c),
        Some(Command::Completions { shell }) => {
            shared::write_completions(&mut Cli::command(), shell, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man { outdir }) => {
            shared::print_man_pages(Cli::command(), &outdir)
                .with_context(|| format!("cannot write man pages into {}", outdir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every option and argument of every subcommand says what it is for.
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_long_about().is_none() {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "pigsty-build", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
    }
}
