//! `pigsty-build`: the command line. The work is done in the `pigsty_build` library.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use pigsty_build::catalog::{self, Catalog};
use pigsty_build::distro::Distro;
use pigsty_build::mirrors::{self, Mirrors};
use pigsty_build::plan::{items, Plan, Request};
use pigsty_bundle::{check_pg, Arch, Os, Target, PG_DEFAULT};

/// Build offline package bundles of a Pigsty-style PostgreSQL distribution.
///
/// Without a subcommand, builds: `pigsty-build --os d12 --pg 15 --modules node --ext postgis
/// --sign-key pigsty.key` resolves the packages, downloads and verifies them, writes a signed
/// local repository (apt for Debian/Ubuntu, dnf for EL) to OUT/pigsty and the bundle
/// OUT/pigsty-pkg-VERSION.OS.ARCH.tgz. Comma-separated --os/--arch/--pg build every
/// combination, each in OUT/OS.ARCH.pgN; --base OLD/MANIFEST.json makes a delta bundle.
///
/// `plan` shows what a target needs; `matrix` lists every target; `catalog` checks and
/// refreshes the extension catalog; `repos` shows the upstream repositories of a target with
/// their mirrors resolved; `key gen` makes a signing key; `verify` checks a bundle; `sign`
/// signs release files.
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
}

/// Which target: OS, architecture and PostgreSQL major.
#[derive(Args, Clone)]
struct TargetArgs {
    /// OS code: el8 el9 el10 d12 d13 u22 u24 u26; a build takes several, comma-separated [default: this host's OS]
    #[arg(long)]
    os: Option<String>,
    /// CPU architecture: x86_64 (amd64) or aarch64 (arm64); a build takes several [default: this host's]
    #[arg(long)]
    arch: Option<String>,
    /// PostgreSQL major, 13 to 18; a build takes several, comma-separated
    #[arg(long, default_value_t = PG_DEFAULT.to_string())]
    pg: String,
    /// Allow a PostgreSQL major that is still in beta (19)
    #[arg(long)]
    beta: bool,
}

impl TargetArgs {
    /// The one target; several (`--os d12,d13`) are refused.
    fn target(&self) -> Result<Target> {
        match self.targets()?.as_slice() {
            [one] => Ok(*one),
            _ => bail!(
                "this command takes one target: give --os, --arch and --pg one value each (only a build takes several)"
            ),
        }
    }

    /// Every combination of the comma-separated `--os`, `--arch` and `--pg` values.
    fn targets(&self) -> Result<Vec<Target>> {
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let oses = match &self.os {
            Some(o) => list(o)
                .iter()
                .map(|o| o.parse::<Os>())
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![Os::detect(Path::new("/etc/os-release"))
                .context("cannot default --os to this host's OS; pass --os")?],
        };
        let arches = match &self.arch {
            Some(a) => list(a)
                .iter()
                .map(|a| a.parse::<Arch>())
                .collect::<Result<Vec<_>, _>>()?,
            None => {
                vec![Arch::host().context("cannot default --arch to this host's; pass --arch")?]
            }
        };
        let mut pgs = Vec::new();
        for p in list(&self.pg) {
            let n: u32 = p
                .parse()
                .with_context(|| format!("bad --pg `{p}`: a PostgreSQL major such as 17"))?;
            pgs.push(check_pg(n, self.beta)?);
        }
        if oses.is_empty() || arches.is_empty() || pgs.is_empty() {
            bail!("--os, --arch and --pg need at least one value each");
        }
        let mut out = Vec::new();
        for os in &oses {
            for arch in &arches {
                for pg in &pgs {
                    out.push(Target::new(*os, *arch, *pg));
                }
            }
        }
        Ok(out)
    }
}

/// The catalog and the user's own configuration.
#[derive(Args, Clone)]
struct SourceArgs {
    /// Load the extension catalog from FILE (upstream 41-column CSV, or one of our TOML files)
    /// instead of the one built in
    #[arg(long, value_name = "FILE")]
    catalog: Option<PathBuf>,
    /// A TOML file that adds or overrides mirrors, keys, repos, aliases and default package sets
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl SourceArgs {
    fn catalog(&self) -> Result<Catalog> {
        Ok(match &self.catalog {
            Some(p) => Catalog::load(p)?,
            None => Catalog::builtin().context("the built-in catalog is broken")?,
        })
    }
}

/// What is asked for: extensions and packages.
#[derive(Args, Clone)]
struct RequestArgs {
    /// Extensions: names (or package keys), `all`, or `category:NAME`; comma-separated or repeated
    #[arg(long, value_name = "EXT")]
    ext: Vec<String>,
    /// Package aliases or package names (comma-separated or repeated); a name that is not an
    /// alias is a package name; `none` for no packages but the extensions' [default: the
    /// target's default package sets]
    #[arg(long, value_name = "PKG")]
    packages: Vec<String>,
    /// Leave out the bootstrap set (what pigsty-install installs before it hands off to
    /// Pigsty: `ansible python3-jmespath`, and python3-apt on Debian and Ubuntu), which is
    /// otherwise always resolved into the bundle with its closure
    #[arg(long)]
    no_bootstrap: bool,
}

impl RequestArgs {
    /// The request; `probe` for a build, where the repos decide what is available.
    fn request(&self, probe: bool) -> Request {
        Request {
            probe,
            extensions: items(&self.ext),
            packages: match items(&self.packages).as_slice() {
                [] => None,
                [none] if none == "none" => Some(Vec::new()),
                given => Some(given.to_vec()),
            },
            bootstrap: !self.no_bootstrap,
        }
    }
}

#[derive(Args)]
struct PlanArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    sources: SourceArgs,
    #[command(flatten)]
    request: RequestArgs,
    /// Print the plan as JSON (schema 1, see the `plan` module docs)
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Write DIR/pigsty.key (armored secret key) and DIR/pigsty.pub, print the fingerprint
    Gen {
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The key's user id
        #[arg(long, default_value = "Pigsty Local Repository")]
        name: String,
    },
}

/// Building one target.
#[derive(Args, Clone)]
struct BuildArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    sources: SourceArgs,
    #[command(flatten)]
    request: RequestArgs,
    /// Repo modules to build from (comma-separated), or `all` for every module the target
    /// defines [default: infra,node,pgsql, Pigsty's repo_modules]
    #[arg(long, value_name = "MODULE")]
    modules: Vec<String>,
    /// Put FILE into the bundle as `pigsty/include/NAME` (e.g. Pigsty's source,
    /// pigsty-v4.5.0.tgz, for `pigsty-install --pigsty`), listed and signed in the manifest
    /// like every other file; repeatable
    #[arg(long, value_name = "FILE")]
    include: Vec<PathBuf>,
    /// Change one repo's URL: NAME=URL (for apt, `URL SUITE COMPONENT...`); repeatable
    #[arg(long, value_name = "NAME=URL")]
    repo: Vec<String>,
    /// Leave a repo out; repeatable
    #[arg(long, value_name = "NAME")]
    no_repo: Vec<String>,
    /// Use exactly these repos, first one highest priority: NAME=URL; repeatable
    #[arg(long, value_name = "NAME=URL")]
    only_repo: Vec<String>,
    /// A repo's priority, lower wins over any version elsewhere (as dnf's priority and apt's
    /// pins): NAME=N; repeatable [default: the manifests' priorities, else equal]
    #[arg(long, value_name = "NAME=N")]
    repo_priority: Vec<String>,
    /// Set a mirror: NAME=URL (repeatable), e.g. debian=http://HOST/debian
    #[arg(long, value_name = "NAME=URL")]
    mirror: Vec<String>,
    /// The keyring a repo (or a key name of the manifests) is checked with: NAME=FILE
    #[arg(long, value_name = "NAME=FILE")]
    key: Vec<String>,
    /// Accept this repo unsigned or without a key; repeatable
    #[arg(long, value_name = "NAME")]
    insecure_upstream: Vec<String>,
    /// The armored secret key that signs the repo and the manifest (see `key gen`)
    #[arg(long, value_name = "FILE")]
    sign_key: Option<PathBuf>,
    /// Output folder for the bundle and the local repo
    #[arg(long, value_name = "DIR", default_value = "dist")]
    out: PathBuf,
    /// Download cache shared by all targets [default: ~/.cache/pigsty-build]
    #[arg(long, value_name = "DIR")]
    cache: Option<PathBuf>,
    /// Concurrent downloads
    #[arg(long, default_value_t = 8)]
    jobs: usize,
    /// Bundle format: tgz or tar.zst
    #[arg(long, default_value = "tgz")]
    format: String,
    /// Report requested packages that no repo has, and extensions named in --ext that the
    /// target cannot serve, instead of failing (never unsatisfied dependencies)
    #[arg(long)]
    allow_missing: bool,
    /// Follow Recommends too
    #[arg(long)]
    with_recommends: bool,
    /// A dpkg status file of the target image: leave out what it already has
    #[arg(long, value_name = "STATUSFILE")]
    exclude_installed: Option<PathBuf>,
    /// The bundle's version [default: PG major and builder version]
    #[arg(long)]
    bundle_version: Option<String>,
    /// Make a delta bundle: only the packages that are new or changed since the build whose
    /// manifest this is (e.g. the installed DEST/pigsty/MANIFEST.json), with complete new
    /// metadata; `pigsty-install` applies it on top of exactly that repo
    #[arg(long, value_name = "OLD/MANIFEST.json")]
    base: Option<PathBuf>,
    /// EL targets: compression of the repo metadata, gz or zst [default: gz for el8, zst for
    /// el9 and el10, as their dnf expects]
    #[arg(long, value_name = "gz|zst")]
    repodata_compression: Option<pigsty_build::dnf::repo::RepodataCompression>,
    /// Print the build report as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MatrixArgs {
    #[command(flatten)]
    sources: SourceArgs,
    /// Include beta PostgreSQL majors
    #[arg(long)]
    beta: bool,
    /// What to print: a table, JSON rows with the extension counts, or one line of JSON
    /// `{"include":[{"name","os","arch","pg","family","beta","runner"}...]}` for a GitHub
    /// Actions `strategy.matrix` (`fromJSON`); runner is the GitHub-hosted runner of the arch
    #[arg(long, value_enum, default_value_t = MatrixFormat::Human)]
    format: MatrixFormat,
    /// The same as --format json
    #[arg(long, conflicts_with = "format")]
    json: bool,
}

/// Output formats of `matrix`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MatrixFormat {
    Human,
    Json,
    Github,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Compare our catalog with a catalog CSV in the upstream format; exit 1 on any difference
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
    Import {
        /// The upstream-format CSV with the facts
        file: PathBuf,
        /// An older upstream CSV whose `extra.matrix` gives availability per OS, arch and PG
        #[arg(long, value_name = "CSV")]
        availability: Option<PathBuf>,
        /// Where to write the files
        #[arg(long, value_name = "DIR", default_value = "extensions")]
        out: PathBuf,
    },
}

#[derive(Args)]
struct ReposArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    sources: SourceArgs,
    /// Set a mirror: NAME=URL (repeatable), for example debian=http://HOST/debian
    #[arg(long, value_name = "NAME=URL")]
    mirror: Vec<String>,
    /// Only repositories of these modules (comma-separated) [default: all the target defines]
    #[arg(long, value_name = "MODULE")]
    modules: Vec<String>,
    /// Print JSON
    #[arg(long)]
    json: bool,
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
        None => build(cli.build),
        Some(Command::Build(a)) => build(*a),
        Some(Command::Key(KeyCommand::Gen { out, name })) => key_gen(&out, &name),
        Some(Command::Verify { bundle, key, json }) => verify(&bundle, &key, json),
        Some(Command::Plan(a)) => plan(a),
        Some(Command::Matrix(a)) => matrix(a),
        Some(Command::Sign { files, sign_key }) => sign(&files, &sign_key),
        Some(Command::Catalog(c)) => catalog_cmd(c),
        Some(Command::Repos(a)) => repos(a),
    }
}

fn pairs(values: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("bad {flag} `{v}`: want NAME=VALUE"))
        })
        .collect()
}

fn build(a: BuildArgs) -> Result<ExitCode> {
    use pigsty_build::build::{build as run_build, build_many};
    let targets = a.target.targets()?;
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
        jobs.push(build_options(&a, *target, out)?);
    }
    let reports = if many {
        build_many(&catalog, &jobs)?
    } else {
        let (opts, mirrors) = &jobs[0];
        vec![run_build(&catalog, mirrors, opts)?]
    };
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
fn build_modules(distro: &Distro, given: &[String]) -> Result<Option<Vec<String>>> {
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
fn build_options(
    a: &BuildArgs,
    target: Target,
    out: PathBuf,
) -> Result<(pigsty_build::build::BuildOptions, Mirrors)> {
    use pigsty_build::build::BuildOptions;
    use pigsty_bundle::archive::BundleFormat;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let host = mirrors::host_mirrors(Path::new("/"));
    let mirrors = Mirrors::new(&a.mirror, &distro.config_mirrors, &host)?;
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
        progress: !a.json,
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

fn key_gen(out: &Path, name: &str) -> Result<ExitCode> {
    use pigsty_bundle::sign::SecretKey;
    let key = SecretKey::generate(name)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let secret = out.join("pigsty.key");
    let public = out.join("pigsty.pub");
    if secret.exists() {
        bail!(
            "{} exists; refusing to overwrite a signing key",
            secret.display()
        );
    }
    write_new(&secret, key.to_armored()?.as_bytes(), 0o600)?;
    write_new(&public, key.public().to_armored()?.as_bytes(), 0o644)?;
    println!("{}", key.fingerprint());
    eprintln!("wrote {} and {}", secret.display(), public.display());
    Ok(ExitCode::SUCCESS)
}

fn sign(files: &[PathBuf], key: &Path) -> Result<ExitCode> {
    use pigsty_bundle::sign::SecretKey;
    let mut key = SecretKey::load(key)?;
    // Dated like the bundles of the same build, when SOURCE_DATE_EPOCH is set.
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs = v
            .trim()
            .parse::<u64>()
            .with_context(|| format!("bad SOURCE_DATE_EPOCH `{v}`"))?;
        key = key.with_signing_time(secs);
    }
    for file in files {
        let sig = pigsty_build::sign::sign_file(&key, file)?;
        println!("{}", sig.display());
    }
    eprintln!("signed by {}", key.fingerprint());
    Ok(ExitCode::SUCCESS)
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    pigsty_bundle::fs::write_atomic(path, data, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn verify(bundle: &Path, key: &Path, json: bool) -> Result<ExitCode> {
    let (head, fpr) = pigsty_build::build::verify(bundle, key)?;
    let manifest = head.manifest();
    if json {
        print_json(&serde_json::json!({
            "bundle": bundle,
            "fingerprint": fpr,
            "target": manifest.target,
            "files": manifest.files.len(),
            "packages": manifest.packages.len(),
        }))?;
    } else {
        println!(
            "{}: good signature by {fpr}; {} files, {} packages for {} verified",
            bundle.display(),
            manifest.files.len(),
            manifest.packages.len(),
            manifest.target
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

fn plan(a: PlanArgs) -> Result<ExitCode> {
    let target = a.target.target()?;
    let catalog = a.sources.catalog()?;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let plan = Plan::make(&catalog, &distro, &a.request.request(false))?;
    if a.json {
        print_json(&plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "plan for {} ({}{}): {} packages",
        target,
        target.family(),
        target
            .os
            .codename()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        plan.packages.len()
    )?;
    let groups = plan.by_module();
    let mut order: Vec<&str> = distro.modules();
    for m in groups.keys() {
        if !order.contains(m) {
            order.push(m);
        }
    }
    let width = plan
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    for module in order {
        let Some(pkgs) = groups.get(module) else {
            continue;
        };
        writeln!(out, "\n[{module}] {} packages", pkgs.len())?;
        for p in pkgs {
            let why: Vec<String> = p.wanted_by.iter().map(|w| w.to_string()).collect();
            writeln!(out, "  {:width$}  {}", p.name, why.join("; "))?;
        }
    }
    if !plan.unavailable.is_empty() {
        writeln!(
            out,
            "\nunavailable on {}: {} extensions",
            target,
            plan.unavailable.len()
        )?;
        let width = plan
            .unavailable
            .iter()
            .map(|u| u.extension.len())
            .max()
            .unwrap_or(0);
        for u in &plan.unavailable {
            let note = if u.requested {
                ""
            } else {
                " (required by another)"
            };
            writeln!(out, "  {:width$}  {}{}", u.extension, u.message, note)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn matrix(a: MatrixArgs) -> Result<ExitCode> {
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

fn catalog_cmd(c: CatalogCommand) -> Result<ExitCode> {
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
            eprintln!(
                "wrote {} extensions in {} files under {}",
                catalog.extensions().len(),
                files.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn repos(a: ReposArgs) -> Result<ExitCode> {
    let target = a.target.target()?;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let host = mirrors::host_mirrors(Path::new("/"));
    let mirrors = Mirrors::new(&a.mirror, &distro.config_mirrors, &host)?;
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
        url: String,
        key: &'a str,
    }
    let mut rows = Vec::new();
    for r in distro
        .repos
        .iter()
        .filter(|r| modules.is_empty() || modules.contains(&r.module))
    {
        rows.push(Row {
            name: &r.name,
            module: &r.module,
            url: mirrors.expand(r, &target)?,
            key: &r.key,
        });
    }
    if a.json {
        print_json(&rows)?;
    } else {
        let mut out = std::io::stdout().lock();
        for r in &rows {
            writeln!(out, "{:<16} {:<8} {}", r.name, r.module, r.url)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
