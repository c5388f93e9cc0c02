//! A build, step by step: plan -> resolve (the family's upstream indexes, checked, and its
//! closure) -> fetch (verified downloads into the shared cache) -> write the local repo (the
//! family's metadata, signed) -> pack the bundle with a signed manifest. This module
//! orchestrates only: the family specifics are behind [`crate::family`], the local repo and
//! the bundle are [`repo`].
//!
//! The local repository is laid out in a staging folder beside the output and swapped into
//! place (`OUT/pigsty`) only when complete; the bundle is written to a temporary name and
//! renamed. A failure at any step leaves the previous output as it was.

mod availability;
mod phase;
mod repo;

use std::path::{Path, PathBuf};

use pigsty_bundle::archive::{self, BundleFormat, SignedManifest};
use pigsty_bundle::sign::{PublicKeyring, SecretKey, SignError};
use pigsty_bundle::Target;
use serde::Serialize;

use crate::catalog::Catalog;
use crate::closure::ClosureError;
use crate::distro::{Distro, RepoDef};
use crate::dnf::repo::RepodataCompression;
use crate::family::{self, Resolution, ResolveInput};
use crate::fetch::{FetchItem, Fetcher};
use crate::mirrors::Mirrors;
use crate::plan::{Plan, Request};

pub use availability::Availability;
pub use phase::{Phase, Phases};
pub use repo::{INCLUDE_DIR, SBOM_NAME};

/// Everything a build needs to know.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub target: Target,
    pub config: Option<PathBuf>,
    pub request: Request,
    /// Repo modules to use; `None`: every module the target defines.
    pub modules: Option<Vec<String>>,
    /// `--include FILE`: extra files for the bundle, as `pigsty/include/NAME`.
    pub include: Vec<PathBuf>,
    /// `--repo NAME=URL`: change one repo's URL.
    pub repo_urls: Vec<(String, String)>,
    /// `--no-repo NAME`.
    pub no_repo: Vec<String>,
    /// `--only-repo NAME=URL`: use exactly these, first one highest priority.
    pub only_repo: Vec<(String, String)>,
    /// `--repo-priority NAME=N`: a repo's priority (lower wins), over the manifests'.
    pub repo_priorities: Vec<(String, u32)>,
    /// `--key NAME=FILE`: the keyring a repo's key name stands for.
    pub keys: Vec<(String, PathBuf)>,
    pub insecure_upstream: Vec<String>,
    pub sign_key: PathBuf,
    pub out: PathBuf,
    pub cache: PathBuf,
    pub jobs: usize,
    pub format: BundleFormat,
    pub allow_missing: bool,
    pub with_recommends: bool,
    pub exclude_installed: Option<PathBuf>,
    pub progress: bool,
    /// Told of each phase as it starts.
    pub phases: Phases,
    /// SOURCE_DATE_EPOCH.
    pub epoch: u64,
    pub version: String,
    /// `--base OLD/MANIFEST.json`: make a delta bundle against that build.
    pub base: Option<PathBuf>,
    /// dnf metadata compression; `None`: gz for EL8, zst for EL9 and EL10.
    pub repodata_compression: Option<RepodataCompression>,
}

/// What a build made, for humans and `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct BuildReport {
    pub target: crate::plan::TargetInfo,
    pub bundle: PathBuf,
    pub bundle_sha256: String,
    pub bundle_size: u64,
    pub repo: PathBuf,
    pub packages: usize,
    pub packages_size: u64,
    pub key_fingerprint: String,
    pub repos: Vec<RepoReport>,
    pub unavailable: Vec<crate::plan::UnavailableExtension>,
    /// Where the catalog's availability prediction and the repos disagree.
    pub disagreements: Vec<String>,
    /// Requested packages absent upstream (only with `--allow-missing`).
    pub missing: Vec<String>,
    /// Alternatives chosen among `a | b` dependencies: `dependency -> choice`.
    pub choices: Vec<String>,
    /// What the node's package manager may object to: rpm conflicts or obsoletes between
    /// packages of the bundle.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepoReport {
    pub name: String,
    pub url: String,
    pub signed_by: Option<String>,
    pub packages: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error(transparent)]
    Distro(#[from] crate::distro::DistroError),
    #[error(transparent)]
    Mirror(#[from] crate::mirrors::MirrorError),
    /// Boxed: the largest of the variants, and every `Result` here carries its size.
    #[error(transparent)]
    Upstream(Box<crate::upstream::UpstreamError>),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Bundle(#[from] pigsty_bundle::BundleError),
    #[error(transparent)]
    Manifest(#[from] pigsty_bundle::manifest::ManifestError),
    #[error(transparent)]
    AptRepo(#[from] crate::apt::repo::AptRepoError),
    #[error(transparent)]
    PackageSignature(#[from] crate::dnf::pkgsig::PkgSigError),
    #[error(transparent)]
    DnfRepo(#[from] crate::dnf::repo::DnfRepoError),
    #[error(transparent)]
    Closure(#[from] ClosureError),
    #[error("{}: not a dpkg status file", path.display())]
    Status {
        path: PathBuf,
        #[source]
        source: crate::apt::index::IndexError,
    },
    #[error("repo `{repo}`: package {package} has no {field} in its index")]
    IncompleteIndex {
        repo: String,
        package: String,
        field: &'static str,
    },
    #[error("repo `{repo}` has two packages with the file name {name}: {first} and {second}; the local repo is flat, so one would replace the other")]
    SameFileName {
        repo: String,
        name: String,
        first: String,
        second: String,
    },
    #[error("the cached copy of {name} ({}) is damaged: {reason}; it was removed from the cache, run the build again to download it", cache.display())]
    CacheDamaged {
        name: String,
        cache: PathBuf,
        reason: String,
    },
    #[error("{target}: {} asked for by name cannot be had (pass --allow-missing to build without):{}", if extensions.len() == 1 { "an extension" } else { "extensions" }, extensions.iter().map(|e| format!("\n  {e}")).collect::<String>())]
    Unavailable {
        target: String,
        extensions: Vec<String>,
    },
    #[error("target {target}")]
    InTarget {
        target: String,
        #[source]
        source: Box<BuildError>,
    },
    #[error("--base {}: {reason}", path.display())]
    Base { path: PathBuf, reason: String },
    #[error("--base {}: not a manifest", path.display())]
    BaseManifest {
        path: PathBuf,
        #[source]
        source: pigsty_bundle::manifest::ManifestError,
    },
    #[error("{0}: the bundle is not signed (no MANIFEST.json.asc)")]
    Unsigned(PathBuf),
    #[error("{}: the manifest's signature does not verify", .0.display())]
    ManifestSignature(PathBuf, #[source] SignError),
    #[error("repo `{repo}` is checked with key `{key}`, which is not known: pass --key {key}=FILE (a keyring or armored key), or --insecure-upstream {repo}")]
    NoKey { repo: String, key: String },
    #[error("no repository left to build from (modules: {modules}); check --modules, --no-repo and --only-repo")]
    NoRepos { modules: String },
    #[error("unknown repo `{0}` in --repo/--no-repo/--repo-priority/--insecure-upstream; the target's repos: {1}")]
    UnknownRepo(String, String),
    #[error("{target}: the bootstrap set needs {}, which no repository of the build has; pigsty-install installs it before it hands off to Pigsty, so --allow-missing never drops it: add a repository that has it (--modules, --repo, --config), change the set (`[bootstrap]` in --config), or build without it (--no-bootstrap)", names.join(", "))]
    BootstrapMissing { target: String, names: Vec<String> },
    #[error("--include {}: {reason}", path.display())]
    Include { path: PathBuf, reason: String },
    #[error("{what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<crate::upstream::UpstreamError> for BuildError {
    fn from(e: crate::upstream::UpstreamError) -> Self {
        BuildError::Upstream(Box::new(e))
    }
}

impl From<crate::dnf::DnfClosureError> for BuildError {
    fn from(e: crate::dnf::DnfClosureError) -> Self {
        match e {
            crate::dnf::DnfClosureError::Unresolvable { problems } => {
                BuildError::Closure(ClosureError { problems })
            }
            crate::dnf::DnfClosureError::FileLists(e) => BuildError::Upstream(e),
        }
    }
}

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a small file of the repo atomically.
pub(crate) fn write_small(path: &Path, data: &[u8]) -> Result<(), BuildError> {
    pigsty_bundle::fs::write_atomic(path, data, 0o644).map_err(io("cannot write", path))
}

/// The repositories a build uses, in priority order.
pub fn select_repos(distro: &Distro, opts: &BuildOptions) -> Result<Vec<RepoDef>, BuildError> {
    if !opts.only_repo.is_empty() {
        // First one highest priority (lowest number, as dnf counts), as --help says.
        return Ok(opts
            .only_repo
            .iter()
            .zip(1u32..)
            .map(|((name, url), priority)| RepoDef {
                name: name.clone(),
                module: "only".to_string(),
                url: url.clone(),
                key: name.clone(),
                priority: Some(priority),
                excludepkgs: Vec::new(),
                module_hotfixes: false,
                optional: false,
            })
            .collect());
    }
    let names: Vec<&str> = distro.repos.iter().map(|r| r.name.as_str()).collect();
    for n in opts
        .no_repo
        .iter()
        .chain(opts.repo_urls.iter().map(|(n, _)| n))
        .chain(opts.repo_priorities.iter().map(|(n, _)| n))
        .chain(&opts.insecure_upstream)
    {
        if !names.contains(&n.as_str()) {
            return Err(BuildError::UnknownRepo(n.clone(), names.join(", ")));
        }
    }
    let mut repos: Vec<RepoDef> = distro
        .repos
        .iter()
        .filter(|r| opts.modules.as_ref().is_none_or(|m| m.contains(&r.module)))
        .filter(|r| !opts.no_repo.contains(&r.name))
        .cloned()
        .collect();
    for r in &mut repos {
        if let Some((_, url)) = opts.repo_urls.iter().find(|(n, _)| *n == r.name) {
            r.url = url.clone();
        }
        if let Some((_, p)) = opts.repo_priorities.iter().find(|(n, _)| *n == r.name) {
            r.priority = Some(*p);
        }
    }
    if repos.is_empty() {
        return Err(BuildError::NoRepos {
            modules: opts
                .modules
                .as_ref()
                .map(|m| m.join(","))
                .unwrap_or_else(|| "all".into()),
        });
    }
    Ok(repos)
}

/// Runs the whole build of one target.
pub fn build(
    catalog: &Catalog,
    mirrors: &Mirrors,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let fetcher = Fetcher::new(&opts.cache, opts.jobs.max(1))?.with_progress(opts.progress);
    let prepared = prepare(catalog, mirrors, opts, &fetcher)?;
    let items = prepared.items();
    tell_download(opts, &items);
    let cached = fetcher.fetch_all(&items)?;
    repo::finish(catalog, &prepared, &cached)
}

/// Builds several targets in one run: every target is resolved first, then all their
/// packages are downloaded together (`--jobs` at once, each file once however many targets
/// share it, one cache), then each target's repo and bundle are written. A target that fails
/// stops the run, naming it.
pub fn build_many(
    catalog: &Catalog,
    all: &[(BuildOptions, Mirrors)],
) -> Result<Vec<BuildReport>, BuildError> {
    let Some((first, _)) = all.first() else {
        return Ok(Vec::new());
    };
    let fetcher = Fetcher::new(&first.cache, first.jobs.max(1))?.with_progress(first.progress);
    let in_target = |opts: &BuildOptions| {
        let target = opts.target.to_string();
        move |e: BuildError| BuildError::InTarget {
            target,
            source: Box::new(e),
        }
    };
    let mut prepared = Vec::new();
    for (opts, mirrors) in all {
        prepared.push(prepare(catalog, mirrors, opts, &fetcher).map_err(in_target(opts))?);
    }
    let items: Vec<FetchItem> = prepared.iter().flat_map(|p| p.items()).collect();
    tell_download(first, &items);
    let cached = fetcher.fetch_all(&items)?;
    let mut reports = Vec::new();
    let mut rest = cached.as_slice();
    for p in &prepared {
        let (mine, tail) = rest.split_at(p.resolved.chosen.len());
        rest = tail;
        reports.push(repo::finish(catalog, p, mine).map_err(in_target(&p.opts))?);
    }
    Ok(reports)
}

fn tell_download(opts: &BuildOptions, items: &[FetchItem]) {
    opts.phases.tell(Phase::Download {
        packages: items.len(),
        bytes: items.iter().map(|i| i.size).sum(),
    });
}

/// A target resolved: what to download, and what is needed to write its repo.
struct Prepared {
    opts: BuildOptions,
    distro: Distro,
    resolved: Resolution,
    availability: Availability,
    secret: SecretKey,
}

impl Prepared {
    fn items(&self) -> Vec<FetchItem> {
        self.resolved
            .chosen
            .iter()
            .map(|c| c.item.clone())
            .collect()
    }
}

/// The plan, then the family's resolution: upstream indexes (each verified) and closure.
fn prepare(
    catalog: &Catalog,
    mirrors: &Mirrors,
    opts: &BuildOptions,
    fetcher: &Fetcher,
) -> Result<Prepared, BuildError> {
    let distro = Distro::load(opts.target, opts.config.as_deref())?;
    let plan = Plan::make(catalog, &distro, &opts.request)?;
    let repos = select_repos(&distro, opts)?;
    // Every mirror the repos need and nothing sets, named at once.
    mirrors.check(&repos, &opts.target)?;
    for r in &repos {
        tracing::info!(target = %opts.target, repo = %r.name, module = %r.module, url = %r.url, "upstream");
    }
    opts.phases.tell(Phase::Resolve {
        target: opts.target.to_string(),
        repos: repos.len(),
    });
    let secret = SecretKey::load(&opts.sign_key)?.with_signing_time(opts.epoch);
    let input = ResolveInput {
        distro: &distro,
        plan: &plan,
        repos: &repos,
        mirrors,
        fetcher,
        opts,
    };
    let resolved = family::for_family(opts.target.family()).resolve(&input)?;
    check_bootstrap(&distro, opts, &resolved)?;
    let availability = availability::settle(&plan, &resolved.missing, opts.allow_missing)?;
    Ok(Prepared {
        opts: opts.clone(),
        distro,
        resolved,
        availability,
        secret,
    })
}

/// The bootstrap set is in the bundle: a package of it that the upstreams lack is an error
/// naming it, even where `--allow-missing` let other requests go.
fn check_bootstrap(
    distro: &Distro,
    opts: &BuildOptions,
    resolved: &Resolution,
) -> Result<(), BuildError> {
    if !opts.request.bootstrap {
        return Ok(());
    }
    let names: Vec<String> = resolved
        .missing
        .iter()
        .filter(|m| {
            distro
                .bootstrap
                .iter()
                .any(|b| crate::catalog::expand_v(b, opts.target.pg) == m.name)
        })
        .map(|m| m.name.clone())
        .collect();
    if names.is_empty() {
        Ok(())
    } else {
        Err(BuildError::BootstrapMissing {
            target: opts.target.to_string(),
            names,
        })
    }
}

/// Verifies a bundle: the manifest's signature with a trusted key, then every file against
/// it, through the one verifier. Returns the manifest and the signer's fingerprint.
pub fn verify(bundle_path: &Path, key: &Path) -> Result<(SignedManifest, String), BuildError> {
    let ring = PublicKeyring::load(key)?;
    let head = archive::read_signed_manifest(bundle_path)?;
    let sig = head
        .signature()
        .ok_or_else(|| BuildError::Unsigned(bundle_path.to_path_buf()))?;
    let fpr = ring
        .verify_detached(head.raw(), sig)
        .map_err(|e| BuildError::ManifestSignature(bundle_path.to_path_buf(), e))?;
    archive::verify_signed(bundle_path, &head)?;
    Ok((head, fpr))
}
