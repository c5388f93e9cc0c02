//! `pigsty-install`: the command line. The work is done in the `pigsty_install` library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use pigsty_install::install::{self, InstallError, InstallOptions, Ui};
use pigsty_install::mirror::Limits;
use pigsty_install::node::Node;
use pigsty_install::pigsty::{PigstyOptions, PigstySource};
use pigsty_install::serve::{self, Event, ServeOptions};
use pigsty_install::{Source, Trust};

/// Install a Pigsty bundle on a node with no network: verify it, lay out the local repo,
/// point apt or dnf at it (signed: never trusted=yes, never gpgcheck=0 for signed packages),
/// check that the node's packages do not block the bundle's, install the bootstrap set and
/// hand off to the config applier (a command, or Pigsty itself with --pigsty); a delta bundle
/// only on top of the repo it was made for. With
/// --from URL, the repo comes from a node that serves its own (`pigsty-install serve`) instead
/// of a bundle file, with the same checks.
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
    /// Check a bundle, or a mirror with --from (signature, then every file), without installing
    Verify {
        /// The bundle file
        #[arg(required_unless_present = "from")]
        bundle: Option<PathBuf>,
        /// Verify what a mirror serves instead (`http://ADMIN/pigsty`): its signed manifest,
        /// then every file, downloaded into a temporary folder and removed
        #[arg(long, value_name = "URL", conflicts_with = "bundle")]
        from: Option<String>,
        #[command(flatten)]
        trust: TrustArgs,
        #[command(flatten)]
        limits: LimitArgs,
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
    /// Return to the repo the last install replaced (kept in DEST/.pigsty-previous): its
    /// signature and files checked, swapped into place in one step, the package manager
    /// pointed at it; installed packages are left as they are
    Rollback {
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        /// Where the local repo is (the repo is DEST/pigsty)
        #[arg(long, default_value = "/www")]
        dest: String,
        #[arg(long)]
        json: bool,
    },
    /// Put back the apt sources (or dnf .repo files) --local-only moved aside
    RestoreRepos {
        #[arg(long, value_name = "DIR", default_value = "/")]
        root: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Serve the installed repo (DEST/pigsty) over HTTP under /pigsty/, for `pigsty-install
    /// --from http://THIS-NODE/pigsty` on other nodes, or for their apt or dnf directly;
    /// runs until SIGTERM or SIGINT, then lets requests under way finish
    Serve {
        /// The address and port to listen on
        #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:80")]
        listen: std::net::SocketAddr,
        /// The folder holding the repo (DEST/pigsty is served)
        #[arg(long, value_name = "DIR", default_value = "/www")]
        dest: PathBuf,
        /// Seconds requests under way may take to finish after SIGTERM or SIGINT
        #[arg(long, value_name = "SECS", default_value_t = 30)]
        grace: u64,
        /// Seconds a client may take no byte of an answer before it is dropped
        #[arg(long, value_name = "SECS", default_value_t = serve::DEFAULT_WRITE_TIMEOUT.as_secs(),
              value_parser = clap::value_parser!(u64).range(1..))]
        write_timeout: u64,
        /// The most connections served at once; more wait until one ends
        #[arg(long, value_name = "N", default_value_t = serve::DEFAULT_MAX_CONNECTIONS,
              value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
        max_connections: usize,
        /// Print the startup line (address, repo, pid) as JSON on stdout
        #[arg(long)]
        json: bool,
    },
}

/// What a mirror's downloads may take (`--from`).
#[derive(Args, Clone)]
struct LimitArgs {
    /// Give up a file not downloaded after SECS, plus its time at --min-speed
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    file_deadline: u64,
    /// Give up a download slower than BYTES a second over --speed-window
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    min_speed: u64,
    /// The window --min-speed is measured over, in seconds
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    speed_window: u64,
}

impl LimitArgs {
    fn limits(&self) -> Limits {
        Limits {
            deadline_floor: std::time::Duration::from_secs(self.file_deadline),
            min_speed: self.min_speed,
            window: std::time::Duration::from_secs(self.speed_window.max(1)),
        }
    }
}

#[derive(Args, Clone)]
struct TrustArgs {
    /// The trusted public key the bundle (or the mirror's manifest) must be signed with
    #[arg(long, value_name = "FILE", conflicts_with_all = ["fingerprint", "insecure"])]
    key: Option<PathBuf>,
    /// Trust the key shipped in the bundle (or on the mirror) if it has this fingerprint
    #[arg(long, value_name = "FPR", conflicts_with = "insecure")]
    fingerprint: Option<String>,
    /// Install an unsigned bundle (or mirror), or one signed by an unknown key
    #[arg(long)]
    insecure: bool,
}

impl TrustArgs {
    fn trust(&self, source: &dyn std::fmt::Display) -> Result<Trust> {
        Ok(match (&self.key, &self.fingerprint, self.insecure) {
            (Some(k), _, _) => Trust::Key(k.clone()),
            (_, Some(f), _) => Trust::Fingerprint(f.clone()),
            (_, _, true) => Trust::Insecure,
            _ => bail!(
                "{source}: no trusted key given: pass --key FILE or --fingerprint FPR (or --insecure)"
            ),
        })
    }
}

#[derive(Args, Clone)]
struct InstallArgs {
    /// The bundle file (.tgz or .tar.zst)
    bundle: Option<PathBuf>,
    /// Install from the repo a mirror serves (http://ADMIN/pigsty, see `serve`) instead of a
    /// bundle file: its signed manifest is checked as a bundle's, then every file is
    /// downloaded and checked against it
    #[arg(long, value_name = "URL", conflicts_with = "bundle")]
    from: Option<String>,
    #[command(flatten)]
    trust: TrustArgs,
    #[command(flatten)]
    limits: LimitArgs,
    /// Where the local repo goes (the repo is DEST/pigsty)
    #[arg(long, default_value = "/www")]
    dest: String,
    /// Operate on the system under DIR (apt runs in `chroot DIR`)
    #[arg(long, value_name = "DIR", default_value = "/")]
    root: PathBuf,
    /// Move every other apt source (or dnf .repo file) aside so the node uses only the bundle (see restore-repos)
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
    /// The config applier to hand off to [default: the bundle's]: `sh -c CMD` inside the node
    /// (`chroot ROOT sh -c CMD` under --root), with a cleared environment (PATH, LANG,
    /// HOME=/root, PIGSTY_REPO, PIGSTY_TARGET, PIGSTY_BUNDLE), from `/`
    #[arg(long, value_name = "CMD", conflicts_with = "no_handoff")]
    then: Option<String>,
    /// Hand off to Pigsty itself: its source from the bundle (no value: the bundle's
    /// include/pigsty*.tgz, see `pigsty-build --include`) or a tarball or folder here;
    /// unpacked into --pigsty-dir on the node where that does not exist, configured with
    /// `./configure -i IP -n -v PG`, then each --playbook run with the offline vars file
    #[arg(long, value_name = "SRC.tgz|DIR", num_args = 0..=1, default_missing_value = "bundle",
          conflicts_with_all = ["then", "no_handoff"], requires = "ip")]
    pigsty: Option<String>,
    /// The node's address, for Pigsty's `./configure -i IP` (its admin_ip)
    #[arg(long, value_name = "IP", requires = "pigsty")]
    ip: Option<String>,
    /// A playbook for the Pigsty hand-off: what follows `ansible-playbook`, as a shell reads
    /// it (e.g. 'node.yml -t node_repo,node_pkg'), run in Pigsty's folder with `-e
    /// @pigsty-offline.yml` added; repeatable, run in order, stopping at the first that fails
    #[arg(long, value_name = "ARGS", requires = "pigsty")]
    playbook: Vec<String>,
    /// Pigsty's folder on the node
    #[arg(long, value_name = "DIR", default_value = "/root/pigsty")]
    pigsty_dir: String,
    /// Stop after the bootstrap
    #[arg(long)]
    no_handoff: bool,
    /// Install a bundle built for another OS or arch
    #[arg(long)]
    force: bool,
    /// Print every step and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Install a bundle older (by version, then build time) than the installed one
    #[arg(long)]
    allow_downgrade: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
    /// Never ask: the one question the installer asks, whether to run a hand-off the bundle
    /// proposes (never run without --then or a yes at the terminal), is answered no
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
            from,
            trust,
            limits,
            json,
        }) => {
            let source = match (&bundle, &from) {
                (_, Some(url)) => Source::Mirror(url.clone()),
                (Some(b), None) => Source::Bundle(b.clone()),
                (None, None) => bail!("give a BUNDLE or --from URL"),
            };
            let shown = source.to_string();
            let (m, fpr) = install::verify(&source, &trust.trust(&source)?, limits.limits())?;
            if json {
                print_json(
                    &serde_json::json!({"bundle": shown, "fingerprint": fpr, "target": m.target, "files": m.files.len(), "packages": m.packages.len()}),
                )?;
            } else {
                println!(
                    "{}: {}; {} files, {} packages for {} verified",
                    shown,
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
        Some(Command::Rollback { root, dest, json }) => {
            let node = Node::detect(&root)?;
            let mut log = |s: &str| {
                if !json {
                    eprintln!("{s}");
                }
            };
            let report = pigsty_install::rollback::rollback(&node, &dest, &mut log)?;
            if json {
                print_json(&report)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::RestoreRepos { root, json }) => {
            let node = Node::detect(&root)?;
            let (restored, what) = install::restore_repos(&node)?;
            if json {
                print_json(&restored)?;
            } else {
                println!("restored {} {what}", restored.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Serve {
            listen,
            dest,
            grace,
            write_timeout,
            max_connections,
            json,
        }) => {
            let opts = ServeOptions {
                dest,
                listen,
                grace: std::time::Duration::from_secs(grace),
                write_timeout: std::time::Duration::from_secs(write_timeout),
                max_connections,
            };
            // One write per line (stderr is unbuffered; the server logs every request).
            let log: serve::EventLog = std::sync::Arc::new(|e: &Event| {
                let _ = std::io::stderr().write_all(format!("{e}\n").as_bytes());
            });
            let summary = serve::serve(&opts, log, |addr, repo| {
                if json {
                    let _ = print_json_line(&serde_json::json!({
                        "listen": addr.to_string(),
                        "repo": repo,
                        "url": format!("http://{addr}/{}", serve::URL_TOP),
                        "pid": std::process::id(),
                    }));
                } else {
                    eprintln!(
                        "serving {} on http://{addr}/{}/ (pid {})",
                        repo.display(),
                        serve::URL_TOP,
                        std::process::id()
                    );
                }
            })?;
            eprintln!(
                "stopped: {} connections, {} requests{}",
                summary.connections,
                summary.requests,
                if summary.cut > 0 {
                    format!(
                        "; {} connections still busy after {grace} s were closed",
                        summary.cut
                    )
                } else {
                    String::new()
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        None => install_cmd(cli.install),
    }
}

/// Asks a yes/no question on the terminal; no when stdin is not a terminal.
fn ask(question: &str) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if std::io::stdin().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes")
}

/// One line of JSON on stdout, flushed (a startup line a script waits for).
fn print_json_line(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// On SIGTERM, SIGINT or SIGHUP during an install: the staging folder (a repo half extracted
/// or downloaded) is removed before the process ends, and nothing else is touched: a swap
/// under way finishes first, so `DEST/pigsty` is the old repo or the new one, whole. The
/// exit status is 128 + the signal's number, as the shell's for a killed process. (A kill -9
/// cannot be caught: the next install sweeps what it left.)
fn remove_staging_on_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let watch = || -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let mut hup = signal(SignalKind::hangup())?;
            let number = tokio::select! {
                _ = term.recv() => libc::SIGTERM,
                _ = int.recv() => libc::SIGINT,
                _ = hup.recv() => libc::SIGHUP,
            };
            let removed = pigsty_bundle::fs::remove_staging_now();
            eprintln!(
                "error: stopped by signal {number}{}",
                if removed.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; removed {}",
                        removed
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            );
            std::process::exit(128 + number);
        })
    };
    std::thread::spawn(move || {
        if let Err(e) = watch() {
            eprintln!("warning: cannot watch for signals ({e}): a stopped install leaves its staging folder to the next one's sweep");
        }
    });
}

fn install_cmd(a: InstallArgs) -> Result<ExitCode> {
    let source = match (a.bundle.clone(), a.from.clone()) {
        (Some(bundle), _) => Source::Bundle(bundle),
        (None, Some(url)) => Source::Mirror(url),
        (None, None) => bail!(
            "give a bundle file or a mirror: pigsty-install BUNDLE --key pigsty.pub, or pigsty-install --from http://ADMIN/pigsty --key pigsty.pub (see --help)"
        ),
    };
    let trust = a.trust.trust(&source)?;
    if !a.dry_run {
        remove_staging_on_signal();
    }
    let node = Node::detect(&a.root)
        .with_context(|| format!("cannot tell the node's OS under {}", a.root.display()))?;
    let opts = InstallOptions {
        source,
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
        pigsty: a.pigsty.as_ref().map(|src| PigstyOptions {
            source: if src == "bundle" {
                PigstySource::Bundle
            } else {
                PigstySource::Path(PathBuf::from(src))
            },
            dir: a.pigsty_dir.clone(),
            ip: a.ip.clone().unwrap_or_default(),
            playbooks: a.playbook.clone(),
        }),
        no_handoff: a.no_handoff,
        force: a.force,
        dry_run: a.dry_run,
        allow_downgrade: a.allow_downgrade,
        limits: a.limits.limits(),
    };
    let json = a.json;
    let mut log = |s: &str| {
        if !json {
            eprintln!("{s}");
        }
    };
    // A command the bundle proposes runs only if someone at a terminal says yes.
    let yes = a.yes;
    let mut confirm = |question: &str| !yes && ask(question);
    let ui = Ui {
        log: &mut log,
        confirm: &mut confirm,
    };
    let result = install::install(&node, &opts, ui);
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
