//! The build (the default command): options, the modules of a build, the report.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use pigsty_build::distro::Distro;
use pigsty_build::mirrors::Mirrors;
use pigsty_build::plan::items;
use pigsty_bundle::Target;

use super::args::{MirrorArgs, RequestArgs, SourceArgs, TargetsArgs};
use super::{pairs, print_json};

/// Building one target.
#[derive(Args, Clone)]
pub struct BuildArgs {
    #[command(flatten)]
    pub target: TargetsArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Repo modules to build from (comma-separated), or `all` for every module the target
    /// defines [default: infra,node,pgsql, Pigsty's repo_modules]
    #[arg(long, value_name = "MODULE")]
    pub modules: Vec<String>,
    /// Put FILE into the bundle as `pigsty/include/NAME` (e.g. Pigsty's source,
    /// pigsty-v4.5.0.tgz, for `pigsty-install --pigsty`), listed and signed in the manifest
    /// like every other file; repeatable
    #[arg(long, value_name = "FILE")]
    pub include: Vec<PathBuf>,
    /// Change one repo's URL: NAME=URL (for apt, `URL SUITE COMPONENT...`); repeatable
    #[arg(long, value_name = "NAME=URL")]
    pub repo: Vec<String>,
    /// Leave a repo out; repeatable
    #[arg(long, value_name = "NAME")]
    pub no_repo: Vec<String>,
    /// Use exactly these repos, first one highest priority: NAME=URL; repeatable
    #[arg(long, value_name = "NAME=URL")]
    pub only_repo: Vec<String>,
    /// A repo's priority, lower wins over any version elsewhere (as dnf's priority and apt's
    /// pins): NAME=N; repeatable [default: the manifests' priorities, else equal]
    #[arg(long, value_name = "NAME=N")]
    pub repo_priority: Vec<String>,
    #[command(flatten)]
    pub mirrors: MirrorArgs,
    /// The keyring a repo (or a key name of the manifests) is checked with: NAME=FILE
    #[arg(long, value_name = "NAME=FILE")]
    pub key: Vec<String>,
    /// Accept this repo unsigned or without a key; repeatable
    #[arg(long, value_name = "NAME")]
    pub insecure_upstream: Vec<String>,
    /// The armored secret key that signs the repo and the manifest (see `key gen`)
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Output folder for the bundle and the local repo
    #[arg(long, value_name = "DIR", default_value = "dist")]
    pub out: PathBuf,
    /// Download cache shared by all targets [default: ~/.cache/pigsty-build]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Concurrent downloads
    #[arg(long, default_value_t = 8)]
    pub jobs: usize,
    /// Bundle format: tgz or tar.zst
    #[arg(long, default_value = "tgz")]
    pub format: String,
    /// Report requested packages that no repo has, and extensions named in --ext that the
    /// target cannot serve, instead of failing (never unsatisfied dependencies)
    #[arg(long)]
    pub allow_missing: bool,
    /// Follow Recommends too
    #[arg(long)]
    pub with_recommends: bool,
    /// A dpkg status file of the target image: leave out what it already has
    #[arg(long, value_name = "STATUSFILE")]
    pub exclude_installed: Option<PathBuf>,
    /// The bundle's version [default: PG major and builder version]
    #[arg(long)]
    pub bundle_version: Option<String>,
    /// Make a delta bundle: only the packages that are new or changed since the build whose
    /// manifest this is (e.g. the installed DEST/pigsty/MANIFEST.json), with complete new
    /// metadata; `pigsty-install` applies it on top of exactly that repo
    #[arg(long, value_name = "OLD/MANIFEST.json")]
    pub base: Option<PathBuf>,
    /// EL targets: compression of the repo metadata, gz or zst [default: gz for el8, zst for
    /// el9 and el10, as their dnf expects]
    #[arg(long, value_name = "gz|zst")]
    pub repodata_compression: Option<pigsty_build::dnf::repo::RepodataCompression>,
    /// Print the build report as JSON
    #[arg(long)]
    pub json: bool,
}

pub fn build(a: BuildArgs, quiet: bool) -> Result<ExitCode> {
    use pigsty_build::build::{build as run_build, build_many, Phase, Phases};
    use pigsty_bundle::cli::{IoCounter, Progress};
    use std::sync::{Arc, Mutex};
    let targets = a.target.targets()?;
    // A line per phase (a spinner on a terminal); the download shows the fetcher's own bar.
    let progress = Arc::new(Mutex::new(Progress::new(quiet || a.json)));
    let shown = Arc::clone(&progress);
    let phases = Phases::new(move |phase: Phase| {
        tracing::debug!(%phase, "phase");
        if let Ok(mut p) = shown.lock() {
            match phase {
                Phase::Download { .. } => {
                    // The phase before stays as a line; the fetcher draws its own bar.
                    p.end();
                    p.done(&phase.to_string())
                }
                // A bar on a terminal, following the bytes the process reads while it packs.
                Phase::Pack { bytes, .. } => {
                    p.bar_following(&phase.to_string(), bytes, IoCounter::Read)
                }
                _ => p.phase(&phase.to_string()),
            }
        }
    });
    let catalog = a.sources.catalog()?;
    let many = targets.len() > 1;
    let mut jobs = Vec::new();
    for target in &targets {
        // Several targets: each in its own folder of --out, `OS.ARCH.pgN`.
        let out = if many {
            a.out.join(format!(
                "{}.{}.pg{}",
                target.os.code(),
                target.arch.as_str(),
                target.pg
            ))
        } else {
            a.out.clone()
        };
        jobs.push(build_options(&a, *target, out, &phases, quiet)?);
        if target == &targets[0] && !quiet {
            // A `--packages` item that is no alias but looks like a typo of one.
            let distro = Distro::load(*target, a.sources.config.as_deref())?;
            for item in items(&a.request.packages) {
                if let Some(note) = pigsty_build::suggest::for_package(&catalog, &distro, &item) {
                    eprintln!("warning: {note}");
                }
            }
        }
    }
    let reports = if many {
        build_many(&catalog, &jobs)?
    } else {
        let (opts, mirrors) = &jobs[0];
        vec![run_build(&catalog, mirrors, opts)?]
    };
    if let Ok(mut p) = progress.lock() {
        p.end();
    }
    if a.json {
        if many {
            print_json(&reports)?;
        } else {
            print_json(&reports[0])?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    for report in &reports {
        writeln!(
            out,
            "built {} for {}.{}/pg{}",
            report.bundle.display(),
            report.target.os,
            report.target.arch,
            report.target.pg
        )?;
        writeln!(
            out,
            "  packages   {} ({} bytes)",
            report.packages, report.packages_size
        )?;
        writeln!(
            out,
            "  bundle     {} bytes, sha256 {}",
            report.bundle_size, report.bundle_sha256
        )?;
        writeln!(out, "  repo       {}", report.repo.display())?;
        writeln!(out, "  signed by  {}", report.key_fingerprint)?;
        for r in &report.repos {
            writeln!(out, "  from {:<12} {} packages", r.name, r.packages)?;
        }
        for m in &report.missing {
            writeln!(out, "  missing    {m}")?;
        }
        for w in &report.warnings {
            writeln!(out, "  warning    {w}")?;
        }
        for u in &report.unavailable {
            writeln!(out, "  unavailable {}: {}", u.extension, u.message)?;
        }
        for d in &report.disagreements {
            writeln!(out, "  note       {d}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The repo modules of a build: those given (each one the target defines), every module for
/// `all`, else the manifests' default (Pigsty's `repo_modules`, those of it the target
/// defines). `None`: every module.
pub fn build_modules(distro: &Distro, given: &[String]) -> Result<Option<Vec<String>>> {
    let given = items(given);
    let defined = distro.modules();
    if given.iter().any(|m| m == "all") {
        return Ok(None);
    }
    for m in &given {
        if !defined.contains(&m.as_str()) {
            bail!(
                "{} has no repo module `{m}`; modules: {} (or all)",
                distro.target,
                defined.join(", ")
            );
        }
    }
    if !given.is_empty() {
        return Ok(Some(given));
    }
    let default: Vec<String> = distro
        .defaults
        .repo_modules
        .iter()
        .filter(|m| defined.contains(&m.as_str()))
        .cloned()
        .collect();
    Ok((!default.is_empty()).then_some(default))
}

/// The options and mirrors of one target of a build.
pub fn build_options(
    a: &BuildArgs,
    target: Target,
    out: PathBuf,
    phases: &pigsty_build::build::Phases,
    quiet: bool,
) -> Result<(pigsty_build::build::BuildOptions, Mirrors)> {
    use pigsty_build::build::BuildOptions;
    use pigsty_bundle::archive::BundleFormat;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let mirrors = a.mirrors.mirrors(&target, &distro)?;
    let Some(sign_key) = a.sign_key.clone() else {
        bail!("pass --sign-key FILE: the key that signs the repo and the manifest (make one with `pigsty-build key gen --out DIR`)");
    };
    let format = match a.format.as_str() {
        "tgz" | "tar.gz" => BundleFormat::Tgz,
        "tar.zst" | "zst" => BundleFormat::TarZst,
        other => bail!("unknown --format `{other}`: tgz or tar.zst"),
    };
    let cache = match a.cache.clone() {
        Some(c) => c,
        None => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/pigsty-build"))
            .context("no HOME to put the cache in; pass --cache DIR")?,
    };
    let epoch = match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse::<u64>()
            .with_context(|| format!("bad SOURCE_DATE_EPOCH `{v}`"))?,
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let opts = BuildOptions {
        target,
        config: a.sources.config.clone(),
        request: a.request.request(true),
        modules: build_modules(&distro, &a.modules)?,
        include: a.include.clone(),
        repo_urls: pairs(&a.repo, "--repo")?,
        no_repo: items(&a.no_repo),
        only_repo: pairs(&a.only_repo, "--only-repo")?,
        repo_priorities: pairs(&a.repo_priority, "--repo-priority")?
            .into_iter()
            .map(|(n, v)| {
                v.parse()
                    .map(|p| (n, p))
                    .with_context(|| format!("bad --repo-priority `{v}`: a number such as 10"))
            })
            .collect::<Result<_>>()?,
        keys: pairs(&a.key, "--key")?
            .into_iter()
            .map(|(k, v)| (k, PathBuf::from(v)))
            .collect(),
        insecure_upstream: items(&a.insecure_upstream),
        sign_key,
        out,
        cache,
        jobs: a.jobs,
        format,
        allow_missing: a.allow_missing,
        with_recommends: a.with_recommends,
        exclude_installed: a.exclude_installed.clone(),
        progress: !a.json && !quiet,
        phases: phases.clone(),
        epoch,
        base: a.base.clone(),
        repodata_compression: a.repodata_compression,
        version: a
            .bundle_version
            .clone()
            .unwrap_or_else(|| format!("{}-pg{}", env!("CARGO_PKG_VERSION"), target.pg)),
    };
    Ok((opts, mirrors))
}
