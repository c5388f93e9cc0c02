//! `pigsty-install`: the command line. The work is done in the `pigsty_install` library.

mod cli;

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::CommandFactory;
use pigsty_bundle::cli::{self as shared, ErrorEnvelope, ErrorKind, IoCounter, Progress};
use pigsty_install::install::{self, InstallError, InstallOptions, Ui};
use pigsty_install::node::Node;
use pigsty_install::pigsty::{PigstyOptions, PigstySource};
use pigsty_install::serve::{self, Event, ServeOptions};
use pigsty_install::Source;

use cli::args::{Cli, Command, InstallArgs, LimitArgs, TrustArgs};

fn main() -> ExitCode {
    let cli: Cli = shared::parse(Cli::command());
    cli.verbosity.init_logging();
    let json = cli.json();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let err: &(dyn std::error::Error + 'static) = e.as_ref();
            let kind = e
                .chain()
                .find_map(|c| c.downcast_ref::<CliError>().map(CliError::kind))
                .unwrap_or_else(|| pigsty_install::kind::of_chain(e.chain().map(|c| c as _)));
            ErrorEnvelope::new(kind, err).print(json)
        }
    }
}

/// The command line's own errors (the library's have their kinds in `pigsty_install::kind`).
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error("`pigsty-install {command}` changes the node{under}: run as root (e.g. `sudo pigsty-install {command} ...`)")]
    NotRoot {
        command: &'static str,
        under: String,
    },
}

impl CliError {
    fn kind(&self) -> ErrorKind {
        match self {
            CliError::Usage(_) => ErrorKind::Usage,
            CliError::NotRoot { .. } => ErrorKind::Node,
        }
    }
}

/// Refuses to go on unless the process runs as root, or works under `--root DIR` that it
/// owns: checked before anything on the node is touched.
fn require_root(command: &'static str, root: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let euid = rustix::process::geteuid();
    if euid.is_root() {
        return Ok(());
    }
    let is_host = root == Path::new("/");
    if !is_host && std::fs::metadata(root).is_ok_and(|m| m.uid() == euid.as_raw()) {
        return Ok(());
    }
    Err(CliError::NotRoot {
        command,
        under: if is_host {
            String::new()
        } else {
            format!(" under {}, which this user does not own", root.display())
        },
    }
    .into())
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    Ok(shared::print_json(value)?)
}

/// What `status` prints: the record, with its time also in RFC 3339 (UTC).
fn status_json(st: &Option<install::Status>) -> Result<serde_json::Value> {
    let mut v = serde_json::to_value(st)?;
    if let (Some(obj), Some(s)) = (v.as_object_mut(), st) {
        obj.insert(
            "installed".to_string(),
            serde_json::Value::String(install::rfc3339(s.installed_at)),
        );
    }
    Ok(v)
}

fn run(cli: Cli) -> Result<ExitCode> {
    let quiet = cli.verbosity.quiet;
    match cli.command {
        Some(Command::Install(a)) => install_cmd(*a, quiet),
        Some(Command::Completions { shell }) => {
            shared::write_completions(&mut Cli::command(), shell, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Man { outdir }) => {
            shared::print_man_pages(Cli::command(), &outdir)
                .with_context(|| format!("cannot write man pages into {}", outdir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Verify {
            bundle,
            from,
            trust,
            limits,
            json,
        }) => verify_cmd(bundle, from, &trust, &limits, json, quiet),
        Some(Command::Status { root, json }) => {
            let node = Node::detect(&root)?;
            let st = install::status(&node);
            if json {
                print_json(&status_json(&st)?)?;
            } else {
                match st {
                    Some(s) => println!(
                        "{} {} from {} (key {}), {} packages, repo {}, installed at {}",
                        s.target,
                        s.version,
                        s.bundle,
                        s.fingerprint.as_deref().unwrap_or("unchecked"),
                        s.packages,
                        s.repo,
                        install::rfc3339(s.installed_at)
                    ),
                    None => println!("no bundle installed"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Rollback { root, dest, json }) => {
            require_root("rollback", &root)?;
            let node = Node::detect(&root)?;
            let mut log = |s: &str| {
                if !json && !quiet {
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
            require_root("restore-repos", &root)?;
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
        }) => serve_cmd(
            ServeOptions {
                dest,
                listen,
                grace: std::time::Duration::from_secs(grace),
                write_timeout: std::time::Duration::from_secs(write_timeout),
                max_connections,
            },
            json,
        ),
        None => install_cmd(cli.install, quiet),
    }
}

/// `verify`: a bundle or a mirror checked whole, without installing.
fn verify_cmd(
    bundle: Option<PathBuf>,
    from: Option<String>,
    trust: &TrustArgs,
    limits: &LimitArgs,
    json: bool,
    quiet: bool,
) -> Result<ExitCode> {
    let source = match (&bundle, &from) {
        (_, Some(url)) => Source::Mirror(url.clone()),
        (Some(b), None) => Source::Bundle(b.clone()),
        (None, None) => return Err(CliError::Usage("give a BUNDLE or --from URL".into()).into()),
    };
    let shown = source.to_string();
    let trust = trust
        .trust(&source)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let mut progress = Progress::new(quiet || json);
    // A bundle file is read once, whole: the bar follows the bytes read against its size.
    // A mirror's size is known only from its manifest: a spinner.
    let size = bundle
        .as_deref()
        .filter(|_| from.is_none())
        .and_then(|b| std::fs::metadata(b).ok())
        .map(|m| m.len());
    let msg = format!(
        "verifying {shown}: the signature, then every file{}",
        if from.is_some() { " (downloaded)" } else { "" }
    );
    match size {
        Some(total) => progress.bar_following(&msg, total, IoCounter::Read),
        None => progress.phase(&msg),
    }
    let verified = install::verify(&source, &trust, limits.limits());
    progress.clear();
    let (m, fpr) = verified?;
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

/// `serve`: the installed repo over HTTP until SIGTERM or SIGINT.
fn serve_cmd(opts: ServeOptions, json: bool) -> Result<ExitCode> {
    let grace = opts.grace.as_secs();
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

fn install_cmd(a: InstallArgs, quiet: bool) -> Result<ExitCode> {
    let source = match (a.bundle.clone(), a.from.clone()) {
        (Some(bundle), _) => Source::Bundle(bundle),
        (None, Some(url)) => Source::Mirror(url),
        (None, None) => return Err(CliError::Usage(
            "give a bundle file or a mirror: pigsty-install BUNDLE --key pigsty.pub, or pigsty-install --from http://ADMIN/pigsty --key pigsty.pub (see --help)".into()
        ).into()),
    };
    let trust = a
        .trust
        .trust(&source)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if !a.dry_run {
        require_root("install", &a.root)?;
    }
    if !a.dry_run {
        remove_staging_on_signal();
    }
    let node = Node::detect(&a.root)
        .with_context(|| format!("cannot tell the node's OS under {}", a.root.display()))?;
    tracing::info!(
        "node {}.{} under {}",
        node.os,
        node.arch,
        node.root.display()
    );
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
    // Steps as lines, the long ones shown while they run (a spinner on a terminal).
    let progress = RefCell::new(Progress::new(quiet || json));
    let mut log = |s: &str| progress.borrow_mut().done(s);
    // Extracting and downloading write the repo's files: the bar follows the bytes written.
    let mut phase = |s: &str, bytes: Option<u64>| match bytes {
        Some(total) => progress
            .borrow_mut()
            .bar_following(s, total, IoCounter::Written),
        None => progress.borrow_mut().phase(s),
    };
    // A command the bundle proposes runs only if someone at a terminal says yes.
    let yes = a.yes;
    let mut confirm = |question: &str| {
        progress.borrow_mut().clear();
        !yes && ask(question)
    };
    let ui = Ui {
        log: &mut log,
        phase: &mut phase,
        confirm: &mut confirm,
    };
    let result = install::install(&node, &opts, ui);
    progress.borrow_mut().clear();
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
            // The blockers' advice spans lines: printed whole, not wrapped into one.
            if json {
                Ok(ErrorEnvelope::message(ErrorKind::Node, msg).print(true))
            } else {
                eprintln!("error: {msg}");
                Ok(ExitCode::FAILURE)
            }
        }
        Err(e) => Err(e.into()),
    }
}
