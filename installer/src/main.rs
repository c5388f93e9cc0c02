//! `pigsty-install`: the command line. The work is done in the `pigsty_install` library.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use pigsty_install::aptconf;
use pigsty_install::install::{self, InstallError, InstallOptions, Trust};
use pigsty_install::node::Node;

/// Install a Pigsty bundle on a node with no network: verify it, lay out the local repo,
/// point apt at it (signed, never trusted=yes), check that the node's packages do not block
/// the bundle's, install the bootstrap set and hand off to the config applier.
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
    install: InstallArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Check a bundle (signature, then every file) without installing it
    Verify {
        bundle: PathBuf,
        #[command(flatten)]
        trust: TrustArgs,
        #[arg(long)]
        json: bool,
    },
    /// Show what is installed from which bundle
    Status {
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Put back the apt sources --local-only moved aside
    RestoreRepos {
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone)]
struct TrustArgs {
    /// The trusted public key the bundle must be signed with
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fingerprint", "insecure"])]
    key: Option<PathBuf>,
    /// Trust the key shipped in the bundle if it has this fingerprint
    #[arg(long, value_name = "FPR", conflicts_with = "insecure")]
    fingerprint: Option<String>,
    /// Install an unsigned bundle, or one signed by an unknown key
    #[arg(long)]
    insecure: bool,
}

impl TrustArgs {
    fn trust(&self, bundle: &Path) -> Result<Trust> {
        Ok(match (&self.key, &self.fingerprint, self.insecure) {
            (Some(k), _, _) => Trust::Key(k.clone()),
            (_, Some(f), _) => Trust::Fingerprint(f.clone()),
            (_, _, true) => Trust::Insecure,
            _ => bail!(
                "{}: no trusted key given: pass --key FILE or --fingerprint FPR (or --insecure)",
                bundle.display()
            ),
        })
    }
}

#[derive(Args, Clone)]
struct InstallArgs {
    /// The bundle file (.tgz or .tar.zst)
    bundle: Option<PathBuf>,
    #[command(flatten)]
    trust: TrustArgs,
    /// Where the local repo goes (the repo is DEST/pigsty)
    #[arg(long, default_value = "/www")]
    dest: String,
    /// Operate on the system under DIR (apt runs in `chroot DIR`)
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Move every other apt source aside so the node uses only the bundle (see restore-repos)
    #[arg(long)]
    local_only: bool,
    /// Packages to install first [default: the bundle's bootstrap set]
    #[arg(long, value_name = "PKG", conflicts_with = "no_bootstrap")]
    bootstrap: Vec<String>,
    /// Install nothing; only lay out and configure the repo
    #[arg(long)]
    no_bootstrap: bool,
    /// Drift check: simulate installing every package of the bundle, not only the bootstrap set
    #[arg(long)]
    check_all: bool,
    /// The config applier to hand off to [default: the bundle's]
    #[arg(long, value_name = "CMD", conflicts_with = "no_handoff")]
    then: Option<String>,
    /// Stop after the bootstrap
    #[arg(long)]
    no_handoff: bool,
    /// Install a bundle built for another OS or arch
    #[arg(long)]
    force: bool,
    /// Print every step and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Do not ask (the installer never asks; accepted for scripts)
    #[arg(short = 'y', long)]
    yes: bool,
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

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Verify {
            bundle,
            trust,
            json,
        }) => {
            let t = trust.trust(&bundle)?;
            let (m, fpr) = install::verify(&bundle, &t)?;
            if json {
                print_json(
                    &serde_json::json!({"bundle": bundle, "fingerprint": fpr, "target": m.target, "files": m.files.len(), "packages": m.packages.len()}),
                )?;
            } else {
                println!(
                    "{}: {}; {} files, {} packages for {} verified",
                    bundle.display(),
                    fpr.map(|f| format!("good signature by {f}"))
                        .unwrap_or_else(|| "signature NOT checked".into()),
                    m.files.len(),
                    m.packages.len(),
                    m.target
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status { root, json }) => {
            let node = Node::detect(&root)?;
            let st = install::status(&node);
            if json {
                print_json(&st)?;
            } else {
                match st {
                    Some(s) => println!(
                        "{} {} from {} (key {}), {} packages, repo {}, installed at {} (unix time)",
                        s.target,
                        s.version,
                        s.bundle,
                        s.fingerprint.as_deref().unwrap_or("unchecked"),
                        s.packages,
                        s.repo,
                        s.installed_at
                    ),
                    None => println!("no bundle installed"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::RestoreRepos { root, json }) => {
            let node = Node::detect(&root)?;
            let restored = aptconf::restore(&node)?;
            if json {
                print_json(&restored)?;
            } else {
                println!("restored {} apt sources", restored.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        None => install_cmd(cli.install),
    }
}

fn install_cmd(a: InstallArgs) -> Result<ExitCode> {
    let Some(bundle) = a.bundle.clone() else {
        bail!("give a bundle file: pigsty-install BUNDLE --key pigsty.pub (see --help)");
    };
    let trust = a.trust.trust(&bundle)?;
    let node = Node::detect(&a.root)
        .with_context(|| format!("cannot tell the node's OS under {}", a.root.display()))?;
    let opts = InstallOptions {
        bundle,
        trust,
        dest: a.dest.clone(),
        local_only: a.local_only,
        bootstrap: if a.no_bootstrap {
            Some(Vec::new())
        } else if a.bootstrap.is_empty() {
            None
        } else {
            Some(
                a.bootstrap
                    .iter()
                    .flat_map(|b| b.split(','))
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        },
        check_all: a.check_all,
        then: a.then.clone(),
        no_handoff: a.no_handoff,
        force: a.force,
        dry_run: a.dry_run,
    };
    let json = a.json;
    let result = install::install(&node, &opts, |s| {
        if !json {
            eprintln!("{s}");
        }
    });
    match result {
        Ok(report) => {
            if json {
                print_json(&report)?;
            }
            Ok(match report.handoff_exit {
                Some(0) | None => ExitCode::SUCCESS,
                Some(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
            })
        }
        Err(InstallError::Drift(msg)) => {
            if json {
                print_json(&serde_json::json!({"error": "drift", "message": msg}))?;
            }
            eprintln!("error: {msg}");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
