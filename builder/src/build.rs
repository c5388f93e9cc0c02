//! The build of one apt target: plan -> upstream indexes -> closure -> verified downloads ->
//! signed flat apt repository -> reproducible bundle with a signed manifest.
//!
//! The local repository is laid out in a staging folder beside the output and renamed into
//! place (`OUT/pigsty`) only when complete; the bundle is written to a temporary name and
//! renamed. A failure at any step leaves the previous output as it was.

use std::path::{Path, PathBuf};

use pigsty_bundle::apt::{self as aptrepo, AptPackage, ReleaseMeta};
use pigsty_bundle::bundle::{self, BundleFormat};
use pigsty_bundle::dnf::{self as dnfrepo, RepodataCompression, RepodataOptions, RpmFile};
use pigsty_bundle::manifest::{FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SIGNATURE_NAME};
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use pigsty_bundle::{Family, Target};
use serde::Serialize;

use crate::apt::closure::{self, ClosureOptions, Installed, Requested, Why};
use crate::catalog::Catalog;
use crate::distro::{Distro, RepoDef};
use crate::dnf;
use crate::fetch::{FetchItem, Fetcher};
use crate::mirrors::Mirrors;
use crate::plan::{Plan, Request, WantedBy};
use crate::upstream::{self, AptSource};

/// The SBOM's file name in the repo and the bundle.
pub const SBOM_NAME: &str = "sbom.spdx.json";

/// Everything a build needs to know.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub target: Target,
    pub config: Option<PathBuf>,
    pub request: Request,
    /// Repo modules to use; `None`: every module the target defines.
    pub modules: Option<Vec<String>>,
    /// `--repo NAME=URL`: change one repo's URL.
    pub repo_urls: Vec<(String, String)>,
    /// `--no-repo NAME`.
    pub no_repo: Vec<String>,
    /// `--only-repo NAME=URL`: use exactly these, first one highest priority.
    pub only_repo: Vec<(String, String)>,
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
    #[error(transparent)]
    Upstream(#[from] upstream::UpstreamError),
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    #[error(transparent)]
    Sign(#[from] pigsty_bundle::sign::SignError),
    #[error(transparent)]
    Bundle(#[from] pigsty_bundle::bundle::BundleError),
    #[error(transparent)]
    Manifest(#[from] pigsty_bundle::manifest::ManifestError),
    #[error(transparent)]
    AptRepo(#[from] pigsty_bundle::apt::AptRepoError),
    /// Boxed: the largest of the variants, and every `Result` here carries its size.
    #[error(transparent)]
    DnfUpstream(Box<dnf::upstream::DnfUpstreamError>),
    #[error(transparent)]
    PackageSignature(#[from] dnf::pkgsig::PkgSigError),
    #[error(transparent)]
    DnfRepo(#[from] pigsty_bundle::dnf::DnfRepoError),
    #[error("{0}")]
    Closure(String),
    #[error("target {target}: {source}")]
    InTarget {
        target: String,
        #[source]
        source: Box<BuildError>,
    },
    #[error("--base {path}: {reason}")]
    Base { path: PathBuf, reason: String },
    #[error("{0}: the bundle is not signed (no MANIFEST.json.asc)")]
    Unsigned(PathBuf),
    #[error("{0}: the manifest's signature does not verify: {1}")]
    ManifestSignature(PathBuf, pigsty_bundle::sign::SignError),
    #[error("repo `{repo}` is checked with key `{key}`, which is not known: pass --key {key}=FILE (a keyring or armored key), or --insecure-upstream {repo}")]
    NoKey { repo: String, key: String },
    #[error("no repository left to build from (modules: {modules}); check --modules, --no-repo and --only-repo")]
    NoRepos { modules: String },
    #[error("unknown repo `{0}` in --repo/--no-repo/--insecure-upstream; the target's repos: {1}")]
    UnknownRepo(String, String),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<dnf::upstream::DnfUpstreamError> for BuildError {
    fn from(e: dnf::upstream::DnfUpstreamError) -> Self {
        BuildError::DnfUpstream(Box::new(e))
    }
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> BuildError + 'a {
    move |source| BuildError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The repositories a build uses, in priority order.
pub fn select_repos(distro: &Distro, opts: &BuildOptions) -> Result<Vec<RepoDef>, BuildError> {
    if !opts.only_repo.is_empty() {
        return Ok(opts
            .only_repo
            .iter()
            .map(|(name, url)| RepoDef {
                name: name.clone(),
                module: "only".to_string(),
                url: url.clone(),
                key: name.clone(),
                priority: None,
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

fn keyring_for(
    distro: &Distro,
    opts: &BuildOptions,
    repo: &RepoDef,
) -> Result<Option<(PublicKeyring, PathBuf)>, BuildError> {
    if opts.insecure_upstream.contains(&repo.name) {
        return Ok(None);
    }
    let path = if let Some((_, p)) = opts
        .keys
        .iter()
        .find(|(k, _)| *k == repo.key || *k == repo.name)
    {
        p.clone()
    } else if let Some(k) = distro.keys.get(&repo.key) {
        PathBuf::from(
            k.keyring
                .replace("$releasever", &opts.target.os.release().to_string()),
        )
    } else {
        return Err(BuildError::NoKey {
            repo: repo.name.clone(),
            key: repo.key.clone(),
        });
    };
    let ring = PublicKeyring::load(&path)?;
    Ok(Some((ring, path)))
}

fn wanted_label(w: &WantedBy) -> String {
    w.to_string()
}

/// How the manifest says why a package is there: the plan's reasons as they are, and
/// `dependency of NAME` for what the closure pulled in.
fn why_label(w: &Why) -> String {
    match w {
        Why::Requested { label } => label.clone(),
        Why::Dependency { of, .. } => format!("dependency of {of}"),
    }
}

/// Runs the whole build of one target.
pub fn build(
    catalog: &Catalog,
    mirrors: &Mirrors,
    opts: &BuildOptions,
) -> Result<BuildReport, BuildError> {
    let fetcher = Fetcher::new(&opts.cache, opts.jobs.max(1))?.with_progress(opts.progress);
    let prepared = prepare(catalog, mirrors, opts, &fetcher)?;
    // 3. Downloads, verified against the index while streaming.
    let cached = fetcher.fetch_all(&prepared.items())?;
    finish(catalog, &prepared, &cached)
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
    let cached = fetcher.fetch_all(&items)?;
    let mut reports = Vec::new();
    let mut rest = cached.as_slice();
    for p in &prepared {
        let (mine, tail) = rest.split_at(p.resolved.chosen.len());
        rest = tail;
        reports.push(finish(catalog, p, mine).map_err(in_target(&p.opts))?);
    }
    Ok(reports)
}

/// A target resolved: what to download, and what is needed to write its repo.
struct Prepared {
    opts: BuildOptions,
    distro: Distro,
    plan: Plan,
    resolved: Resolved,
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

/// Steps 1-2: the plan, the upstream indexes (each verified) and the closure.
fn prepare(
    catalog: &Catalog,
    mirrors: &Mirrors,
    opts: &BuildOptions,
    fetcher: &Fetcher,
) -> Result<Prepared, BuildError> {
    let target = opts.target;
    let distro = Distro::load(target, opts.config.as_deref())?;
    let plan = Plan::make(catalog, &distro, &opts.request)?;
    let repos = select_repos(&distro, opts)?;
    let secret = SecretKey::load(&opts.sign_key)?.with_signing_time(opts.epoch);
    let resolved = match target.family() {
        Family::Deb => resolve_apt(&distro, &plan, &repos, mirrors, fetcher, opts)?,
        Family::Rpm => resolve_dnf(&distro, &plan, &repos, mirrors, fetcher, opts)?,
    };
    Ok(Prepared {
        opts: opts.clone(),
        distro,
        plan,
        resolved,
        secret,
    })
}

/// Steps 4-5, once the packages are in the cache (`cached`, in `chosen` order): the local
/// repo in a staging folder, signed, then the bundle, then the repo renamed into place.
fn finish(
    catalog: &Catalog,
    prepared: &Prepared,
    cached: &[PathBuf],
) -> Result<BuildReport, BuildError> {
    let Prepared {
        opts,
        distro,
        plan,
        resolved,
        secret,
    } = prepared;
    let target = opts.target;
    let items: Vec<FetchItem> = prepared.items();

    // 4. The local repo, in a staging folder.
    std::fs::create_dir_all(&opts.out).map_err(io("cannot create", &opts.out))?;
    let staging = opts.out.join(format!(".staging-{}", std::process::id()));
    let result_repo = (|| -> Result<(Manifest, String), BuildError> {
        let _ = std::fs::remove_dir_all(&staging);
        let repo_dir = staging.join("pigsty");
        std::fs::create_dir_all(&repo_dir).map_err(io("cannot create", &repo_dir))?;
        let mut files: Vec<FileEntry> = Vec::new();
        let mut entries = Vec::new();
        let mut complete = String::new();
        for (c, path) in resolved.chosen.iter().zip(cached) {
            let item = &c.item;
            let dest = repo_dir.join(&item.name);
            if std::fs::hard_link(path, &dest).is_err() {
                std::fs::copy(path, &dest).map_err(io("cannot copy into", &dest))?;
            }
            files.push(FileEntry {
                path: item.name.clone(),
                size: item.size,
                sha256: item.sha256.clone(),
            });
            complete.push_str(&format!("{}  {}\n", item.sha256, item.name));
            entries.push(PackageEntry {
                name: c.name.clone(),
                version: c.version.clone(),
                arch: c.arch.clone(),
                file: item.name.clone(),
                repo: c.repo.clone(),
                wanted_by: c.why.clone(),
            });
        }
        // The index files, signed; the names of what was written, for the manifest.
        let (mut meta_files, package_keys) = match target.family() {
            Family::Deb => (
                write_apt_metadata(&repo_dir, resolved, secret, opts)?,
                Vec::new(),
            ),
            Family::Rpm => write_dnf_metadata(&repo_dir, resolved, cached, secret, opts)?,
        };
        write_small(
            &repo_dir.join("pigsty.pub"),
            secret.public().to_armored()?.as_bytes(),
        )?;
        write_small(&repo_dir.join("repo_complete"), complete.as_bytes())?;
        meta_files.extend(["pigsty.pub".to_string(), "repo_complete".to_string()]);
        let bootstrap = distro
            .defaults
            .bootstrap
            .iter()
            .filter(|b| entries.iter().any(|e| &e.name == *b))
            .cloned()
            .collect();
        let mut manifest = Manifest {
            schema: pigsty_bundle::manifest::SCHEMA,
            target,
            version: opts.version.clone(),
            builder: format!("pigsty-build {}", env!("CARGO_PKG_VERSION")),
            catalog: format!("builtin-{}", catalog.extensions().len()),
            created: opts.epoch,
            files,
            packages: entries,
            bootstrap,
            handoff: None,
            key_fingerprint: Some(secret.fingerprint()),
            repo_format: match target.family() {
                Family::Deb => "apt".to_string(),
                Family::Rpm => "dnf".to_string(),
            },
            package_keys,
            base: None,
        };
        // The SBOM, with licences from the catalog where a package is an extension's.
        let licenses: std::collections::HashMap<String, String> = catalog
            .extensions()
            .iter()
            .filter_map(|e| {
                catalog
                    .resolve(e, &target)
                    .ok()
                    .map(|p| (p, e.license.clone()))
            })
            .filter(|(_, l)| !l.is_empty())
            .collect();
        let sbom = crate::sbom::render(
            &manifest,
            &format!(
                "pigsty-pkg-{}.{}.{}",
                opts.version,
                target.os.code(),
                target.arch.as_str()
            ),
            |name| licenses.get(name).cloned(),
        );
        write_small(&repo_dir.join(SBOM_NAME), sbom.as_bytes())?;
        meta_files.push(SBOM_NAME.to_string());
        for name in &meta_files {
            let p = repo_dir.join(name);
            let (size, sha256) =
                pigsty_bundle::manifest::hash_file(&p).map_err(io("cannot read", &p))?;
            manifest.files.push(FileEntry {
                path: name.clone(),
                size,
                sha256,
            });
        }
        manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
        if let Some(base_path) = &opts.base {
            manifest.base = Some(delta_base(base_path, &manifest)?);
        }
        let json = manifest.to_json()?;
        Ok((manifest, json))
    })();
    let (manifest, json) = match result_repo {
        Ok(v) => v,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    let sig = secret.sign_detached(json.as_bytes())?;
    let repo_dir = staging.join("pigsty");

    // 5. The bundle.
    let name = format!(
        "pigsty-pkg-{}.{}.{}{}{}",
        opts.version,
        target.os.code(),
        target.arch.as_str(),
        if manifest.base.is_some() {
            ".delta"
        } else {
            ""
        },
        opts.format.extension()
    );
    let out_path = opts.out.join(&name);
    let carried: &[String] = manifest.base.as_ref().map_or(&[], |b| &b.carried);
    let info = bundle::write_bundle_except(
        &repo_dir,
        &out_path,
        opts.format,
        opts.epoch,
        &[
            (MANIFEST_NAME.to_string(), json.clone().into_bytes()),
            (SIGNATURE_NAME.to_string(), sig.clone().into_bytes()),
        ],
        carried,
    )
    .map_err(BuildError::from)
    .and_then(|info| {
        // The local repo carries the manifest too, for the installer and mirrors.
        write_small(&repo_dir.join(MANIFEST_NAME), json.as_bytes())?;
        write_small(&repo_dir.join(SIGNATURE_NAME), sig.as_bytes())?;
        Ok(info)
    });
    let info = match info {
        Ok(i) => i,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    // The repo folder replaces the previous one in one step.
    let final_repo = opts.out.join("pigsty");
    let old = opts.out.join(format!(".old-{}", std::process::id()));
    if final_repo.exists() {
        std::fs::rename(&final_repo, &old).map_err(io("cannot move aside", &final_repo))?;
    }
    std::fs::rename(&repo_dir, &final_repo).map_err(io("cannot rename into place", &final_repo))?;
    let _ = std::fs::remove_dir_all(&old);
    let _ = std::fs::remove_dir_all(&staging);

    Ok(BuildReport {
        target: (&target).into(),
        bundle: info.path,
        bundle_sha256: info.sha256,
        bundle_size: info.size,
        repo: final_repo,
        packages: manifest.packages.len(),
        packages_size: items.iter().map(|i| i.size).sum(),
        key_fingerprint: secret.fingerprint(),
        repos: resolved.repos.clone(),
        unavailable: plan.unavailable.clone(),
        missing: resolved.missing.clone(),
        choices: resolved.choices.clone(),
        warnings: resolved.warnings.clone(),
    })
}

/// One package of the closure, ready to download and put in the local repo.
#[derive(Debug, Clone)]
struct Chosen {
    name: String,
    version: String,
    arch: String,
    repo: String,
    /// Where it comes from, its sha256 and size from signed metadata, and its file name in
    /// the local repo.
    item: FetchItem,
    /// Why it is there: the plan's reasons, or `dependency of NAME`.
    why: Vec<String>,
    /// apt: the upstream index paragraph the local `Packages` is written from.
    paragraph: Option<String>,
}

/// What resolution found, whatever the family.
#[derive(Debug)]
struct Resolved {
    chosen: Vec<Chosen>,
    repos: Vec<RepoReport>,
    missing: Vec<String>,
    choices: Vec<String>,
    warnings: Vec<String>,
    /// rpm: the keyring each repo's packages are checked with (`None`: insecure).
    keyrings: Vec<(String, Option<(PublicKeyring, PathBuf)>)>,
}

fn plan_requests(plan: &Plan) -> Vec<(String, String)> {
    plan.packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.wanted_by
                    .iter()
                    .map(wanted_label)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })
        .collect()
}

/// apt: verified upstream indexes, then the closure.
fn resolve_apt(
    distro: &Distro,
    plan: &Plan,
    repos: &[RepoDef],
    mirrors: &Mirrors,
    fetcher: &Fetcher,
    opts: &BuildOptions,
) -> Result<Resolved, BuildError> {
    let target = opts.target;
    let arch = target.arch.deb();
    let mut indexes = Vec::new();
    for r in repos {
        let line = mirrors.expand(r, &target)?;
        let source = AptSource::parse(&r.name, &line)?;
        let keyring = keyring_for(distro, opts, r)?;
        let idx = upstream::load(
            fetcher,
            &source,
            keyring.as_ref().map(|(k, p)| (k, p.as_path())),
            arch,
        )?;
        indexes.push(idx);
    }
    let requests: Vec<Requested> = plan_requests(plan)
        .into_iter()
        .map(|(name, label)| Requested::new(name, label))
        .collect();
    let installed = match &opts.exclude_installed {
        Some(p) => {
            let f = std::fs::File::open(p).map_err(io("cannot read", p))?;
            Some(
                Installed::from_status(std::io::BufReader::new(f))
                    .map_err(|e| BuildError::Closure(format!("{}: {e}", p.display())))?,
            )
        }
        None => None,
    };
    let (sources, closure_repos): (Vec<_>, Vec<_>) = indexes
        .into_iter()
        .map(|i| ((i.source, i.signed_by), i.repo))
        .unzip();
    let options = ClosureOptions {
        with_recommends: opts.with_recommends,
        allow_missing: opts.allow_missing,
        installed,
    };
    let result = closure::resolve(&closure_repos, arch, &requests, &options)
        .map_err(|e| BuildError::Closure(e.to_string()))?;
    drop(closure_repos);
    let mut chosen = Vec::new();
    for sel in &result.packages {
        let (source, _) = sources
            .iter()
            .find(|(s, _)| s.name == sel.repo)
            .ok_or_else(|| BuildError::Closure(format!("internal: repo {} vanished", sel.repo)))?;
        let incomplete = |field: &str| {
            BuildError::Closure(format!(
                "repo `{}`: package {} {} has no {field} in its index",
                sel.repo, sel.name, sel.version
            ))
        };
        let filename = sel.entry.filename().ok_or_else(|| incomplete("Filename"))?;
        chosen.push(Chosen {
            name: sel.name.clone(),
            version: sel.version.to_string(),
            arch: sel.arch.clone(),
            repo: sel.repo.clone(),
            item: FetchItem {
                url: source.pool_url(filename),
                sha256: sel
                    .entry
                    .sha256()
                    .ok_or_else(|| incomplete("SHA256"))?
                    .to_string(),
                size: sel.entry.size().ok_or_else(|| incomplete("Size"))?,
                name: deb_file_name(filename),
            },
            why: sel.why.iter().map(why_label).collect(),
            paragraph: Some(sel.entry.raw().to_string()),
        });
    }
    Ok(Resolved {
        repos: sources
            .iter()
            .map(|(s, signed_by)| RepoReport {
                name: s.name.clone(),
                url: format!("{} {} {}", s.base, s.suite, s.components.join(" ")),
                signed_by: signed_by.clone(),
                packages: result.packages.iter().filter(|p| p.repo == s.name).count(),
            })
            .collect(),
        missing: result
            .missing
            .iter()
            .map(|m| format!("{} (wanted by {})", m.name, m.wanted_by))
            .collect(),
        choices: result
            .choices
            .iter()
            .map(|c| format!("{}: {} -> {}", c.package, c.group, c.chosen))
            .collect(),
        chosen,
        warnings: Vec::new(),
        keyrings: Vec::new(),
    })
}

/// apt: `Packages`, `Packages.gz`, `Release`, and `InRelease` / `Release.gpg` signed with the
/// bundle key. Returns the files written, relative to the repo.
fn write_apt_metadata(
    repo_dir: &Path,
    resolved: &Resolved,
    secret: &SecretKey,
    opts: &BuildOptions,
) -> Result<Vec<String>, BuildError> {
    let target = opts.target;
    let arch = target.arch.deb();
    let apt_packages: Vec<AptPackage> = resolved
        .chosen
        .iter()
        .map(|c| AptPackage {
            name: c.name.clone(),
            version: c.version.clone(),
            arch: c.arch.clone(),
            paragraph: c.paragraph.clone().unwrap_or_default(),
            filename: c.item.name.clone(),
        })
        .collect();
    let meta = ReleaseMeta {
        origin: "Pigsty".into(),
        label: "Pigsty".into(),
        codename: target.os.codename().unwrap_or_default().to_string(),
        architectures: vec![arch.to_string(), "all".to_string()],
        description: format!("Pigsty local repository for {target}"),
        date: opts.epoch,
    };
    aptrepo::write_indexes(repo_dir, &apt_packages, &meta)?;
    let release =
        std::fs::read_to_string(repo_dir.join("Release")).map_err(io("cannot read", repo_dir))?;
    write_small(
        &repo_dir.join("InRelease"),
        secret.clearsign(&release)?.as_bytes(),
    )?;
    write_small(
        &repo_dir.join("Release.gpg"),
        secret.sign_detached(release.as_bytes())?.as_bytes(),
    )?;
    Ok([
        "Packages",
        "Packages.gz",
        "Release",
        "InRelease",
        "Release.gpg",
    ]
    .map(String::from)
    .to_vec())
}

/// What a delta against the base manifest at `path` carries over: every file of `manifest`
/// the base has with the same path and SHA-256. The base must be for the same target; it may
/// itself be a delta's manifest (it still lists the whole repo it leaves installed).
fn delta_base(
    path: &Path,
    manifest: &Manifest,
) -> Result<pigsty_bundle::manifest::DeltaBase, BuildError> {
    let bad = |reason: String| BuildError::Base {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
    let base = Manifest::from_json(&raw).map_err(|e| bad(e.to_string()))?;
    if base.target != manifest.target {
        return Err(bad(format!(
            "it is a manifest for {}, this build is for {}",
            base.target, manifest.target
        )));
    }
    let old: std::collections::HashMap<&str, &str> = base
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let carried = manifest
        .files
        .iter()
        .filter(|f| old.get(f.path.as_str()) == Some(&f.sha256.as_str()))
        .map(|f| f.path.clone())
        .collect();
    Ok(pigsty_bundle::manifest::DeltaBase {
        version: base.version,
        manifest_sha256: pigsty_bundle::manifest::hash_reader(raw.as_slice())
            .map_err(|e| bad(e.to_string()))?
            .1,
        carried,
    })
}

/// `pool/main/p/postgresql-15/postgresql-15_15.8-0+deb12u1_amd64.deb` -> its file name.
fn deb_file_name(filename: &str) -> String {
    filename.rsplit('/').next().unwrap_or(filename).to_string()
}

fn write_small(path: &Path, data: &[u8]) -> Result<(), BuildError> {
    pigsty_bundle::fsutil::write_atomic(path, data, 0o644).map_err(io("cannot write", path))
}

/// Verifies a bundle: the manifest's signature with a trusted key, then every file's size and
/// hash. Returns the manifest and the signer's fingerprint.
pub fn verify(bundle_path: &Path, key: &Path) -> Result<(Manifest, String), BuildError> {
    let ring = PublicKeyring::load(key)?;
    let head = bundle::read_signed_manifest(bundle_path)?;
    let sig = head
        .signature
        .ok_or_else(|| BuildError::Unsigned(bundle_path.to_path_buf()))?;
    let fpr = ring
        .verify_detached(head.raw.as_slice(), &sig)
        .map_err(|e| BuildError::ManifestSignature(bundle_path.to_path_buf(), e))?;
    let manifest = bundle::verify_bundle(bundle_path)?;
    Ok((manifest, fpr))
}

/// dnf: the upstream repos' `repomd.xml` verified, their package lists, and the closure.
fn resolve_dnf(
    distro: &Distro,
    plan: &Plan,
    repos: &[RepoDef],
    mirrors: &Mirrors,
    fetcher: &Fetcher,
    opts: &BuildOptions,
) -> Result<Resolved, BuildError> {
    let target = opts.target;
    let arch = target.arch.as_str();
    let mut indexes = Vec::new();
    let mut keyrings = Vec::new();
    for r in repos {
        let url = mirrors.expand(r, &target)?;
        let source = dnf::upstream::DnfSource::from_repo_def(r, &url);
        let keyring = keyring_for(distro, opts, r)?;
        let idx = dnf::upstream::load(
            fetcher,
            &source,
            keyring.as_ref().map(|(k, p)| (k, p.as_path())),
            arch,
        )?;
        indexes.push(idx);
        keyrings.push((r.name.clone(), keyring));
    }
    let requests: Vec<Requested> = plan_requests(plan)
        .into_iter()
        .map(|(name, label)| Requested::new(name, label))
        .collect();
    let options = dnf::closure::DnfClosureOptions {
        allow_missing: opts.allow_missing,
    };
    let result = dnf::closure::resolve(&indexes, &requests, &options, fetcher)
        .map_err(|e| BuildError::Closure(e.to_string()))?;
    let mut chosen = Vec::new();
    for sel in &result.packages {
        let index = &indexes[sel.repo_index];
        chosen.push(Chosen {
            name: sel.name.clone(),
            version: sel.evr.to_string(),
            arch: sel.arch.clone(),
            repo: sel.repo.clone(),
            item: index.fetch_item(&sel.package)?,
            why: sel
                .why
                .iter()
                .map(|w| match w {
                    dnf::closure::Why::Requested { label } => label.clone(),
                    dnf::closure::Why::Dependency { of, .. } => format!("dependency of {of}"),
                })
                .collect(),
            paragraph: None,
        });
    }
    Ok(Resolved {
        repos: indexes
            .iter()
            .map(|i| RepoReport {
                name: i.source.name.clone(),
                url: i.source.baseurl.clone(),
                signed_by: i.signed_by.clone(),
                packages: result
                    .packages
                    .iter()
                    .filter(|p| p.repo == i.source.name)
                    .count(),
            })
            .collect(),
        missing: result
            .missing
            .iter()
            .map(|m| format!("{} (wanted by {})", m.name, m.wanted_by))
            .collect(),
        choices: result
            .choices
            .iter()
            .map(|c| format!("{}: {} -> {}", c.package, c.requirement, c.chosen))
            .collect(),
        warnings: result.conflicts.iter().map(|c| c.to_string()).collect(),
        chosen,
        keyrings,
    })
}

/// dnf: every package's own signature checked with its repo's keyring, those keys shipped in
/// `keys/`, `repodata/` written and `repomd.xml.asc` signed with the bundle key. Returns the
/// files written and the keys that signed every package (none if a package came from an
/// insecure upstream, unsigned).
fn write_dnf_metadata(
    repo_dir: &Path,
    resolved: &Resolved,
    cached: &[PathBuf],
    secret: &SecretKey,
    opts: &BuildOptions,
) -> Result<(Vec<String>, Vec<String>), BuildError> {
    let mut written = Vec::new();
    // Package signatures: the same check dnf's gpgcheck makes, before anything ships.
    // The keyrings that verified packages, once each (by file), with a repo using them.
    let mut used_keys: Vec<(&str, &Path, &PublicKeyring)> = Vec::new();
    let mut all_signed = true;
    for (c, path) in resolved.chosen.iter().zip(cached) {
        let ring = resolved
            .keyrings
            .iter()
            .find(|(repo, _)| *repo == c.repo)
            .and_then(|(_, k)| k.as_ref());
        match ring {
            Some((ring, ring_path)) => {
                dnf::pkgsig::verify(path, &c.repo, ring)?;
                if !used_keys.iter().any(|(_, p, _)| p == ring_path) {
                    used_keys.push((&c.repo, ring_path, ring));
                }
            }
            None => all_signed = false,
        }
    }
    let mut package_keys = Vec::new();
    for (i, (repo, _, ring)) in used_keys.iter().enumerate() {
        let name = format!("keys/{:02}-{repo}.asc", i + 1);
        write_small(&repo_dir.join(&name), ring.to_armored()?.as_bytes())?;
        written.push(name.clone());
        package_keys.push(name);
    }
    if !all_signed {
        package_keys.clear();
    }
    let files: Vec<RpmFile> = resolved
        .chosen
        .iter()
        .map(|c| RpmFile {
            location: c.item.name.clone(),
            sha256: c.item.sha256.clone(),
            size: c.item.size,
        })
        .collect();
    let compression = opts
        .repodata_compression
        .unwrap_or(if opts.target.os.release() <= 8 {
            RepodataCompression::Gz
        } else {
            RepodataCompression::Zst
        });
    let info = dnfrepo::write_repodata(
        repo_dir,
        &files,
        &RepodataOptions {
            compression,
            timestamp: opts.epoch,
            workers: 2,
        },
    )?;
    let repomd = std::fs::read(&info.repomd).map_err(io("cannot read", &info.repomd))?;
    write_small(
        &repo_dir.join("repodata/repomd.xml.asc"),
        secret.sign_detached(repomd.as_slice())?.as_bytes(),
    )?;
    written.extend(info.files);
    written.push("repodata/repomd.xml.asc".to_string());
    Ok((written, package_keys))
}
