//! The install: verify -> stage -> drift check -> put in place -> configure apt -> bootstrap
//! -> hand off. Nothing on the node changes until the bundle is verified, staged beside the
//! destination and the drift check passed; a failure before that leaves the node as it was.
//!
//! The repo comes from a bundle file or from a mirror ([`Source`]); only reading the signed
//! manifest, the shipped key and staging the files differ ([`Origin`]), the rest of the flow
//! is the same.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use pigsty_bundle::bundle::{self, SignedManifest};
use pigsty_bundle::extract::{self, ExtractOptions};
use pigsty_bundle::manifest::Manifest;
use pigsty_bundle::sign::PublicKeyring;
use serde::{Deserialize, Serialize};

use crate::aptconf::{self, AptError};
use crate::dnfconf::{self, DnfError, OnlyRepo, RepoConfig};
use crate::drift::{self, Blocker};
use crate::mirror::{Mirror, MirrorError};
use crate::node::{Node, NodeError};

/// How the bundle's signature is trusted.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A public key file the user trusts.
    Key(PathBuf),
    /// The fingerprint of the key shipped in the bundle (`pigsty.pub`).
    Fingerprint(String),
    /// No check (the fingerprint is still printed when there is a signature).
    Insecure,
}

/// Where the repo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A bundle file (`.tgz` or `.tar.zst`).
    Bundle(PathBuf),
    /// The URL of a repo a mirror serves (`http://ADMIN/pigsty`, see `pigsty-install serve`).
    Mirror(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Bundle(p) => p.display().fmt(f),
            Source::Mirror(url) => url.fmt(f),
        }
    }
}

/// A [`Source`] opened: the bundle file, or a client for the mirror.
#[derive(Debug)]
pub enum Origin {
    Bundle(PathBuf),
    Mirror(Mirror),
}

impl Origin {
    pub fn open(source: &Source) -> Result<Origin, InstallError> {
        Ok(match source {
            Source::Bundle(p) => Origin::Bundle(p.clone()),
            Source::Mirror(url) => Origin::Mirror(Mirror::new(url)?),
        })
    }

    /// The bundle's path or the mirror's URL, for messages.
    pub fn shown(&self) -> String {
        match self {
            Origin::Bundle(p) => p.display().to_string(),
            Origin::Mirror(m) => m.url().to_string(),
        }
    }

    /// `MANIFEST.json`, parsed, with its raw bytes and its signature if there is one.
    pub fn signed_manifest(&self) -> Result<SignedManifest, InstallError> {
        Ok(match self {
            Origin::Bundle(p) => bundle::read_signed_manifest(p)?,
            Origin::Mirror(m) => m.signed_manifest()?,
        })
    }

    /// The public key shipped with the repo (`pigsty.pub`), and its name for messages.
    fn shipped_key(&self) -> Result<(Option<Vec<u8>>, String), InstallError> {
        Ok(match self {
            Origin::Bundle(p) => (
                bundle::read_small_file(p, "pigsty.pub", 1 << 20)?,
                format!("{}: pigsty/pigsty.pub", p.display()),
            ),
            Origin::Mirror(m) => (
                m.get_small("pigsty.pub", 1 << 20)?,
                m.file_url("pigsty.pub"),
            ),
        })
    }

    /// Extracts or downloads every file of `head` into a staging folder beside
    /// `dest/pigsty`, each checked against the manifest; nothing is in place yet.
    fn stage(&self, head: &SignedManifest, dest: &Path) -> Result<extract::Staged, InstallError> {
        let opts = ExtractOptions {
            dest: dest.to_path_buf(),
        };
        Ok(match self {
            Origin::Bundle(p) => extract::stage_bundle(
                p,
                &head.manifest,
                &head.raw,
                head.signature.as_deref(),
                &opts,
            )?,
            Origin::Mirror(m) => m.stage(head, &opts)?,
        })
    }
}

/// What to do.
#[derive(Debug, Clone)]
pub struct InstallOptions {
    pub source: Source,
    pub trust: Trust,
    /// Where the repo goes on the node (`/www`; the repo is `/www/pigsty`).
    pub dest: String,
    pub local_only: bool,
    /// Packages to install first; `None`: the manifest's bootstrap set.
    pub bootstrap: Option<Vec<String>>,
    /// Simulate installing every package of the bundle, not just the bootstrap set.
    pub check_all: bool,
    /// Applier command; `None`: the manifest's.
    pub then: Option<String>,
    pub no_handoff: bool,
    pub force: bool,
    pub dry_run: bool,
}

/// The record of an install, kept on the node for `status`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub target: String,
    pub version: String,
    pub fingerprint: Option<String>,
    pub bundle: String,
    pub repo: String,
    pub installed_at: u64,
    pub packages: usize,
    pub bootstrap: Vec<String>,
}

pub const STATUS_FILE: &str = "/var/lib/pigsty-install/status.json";

/// What an install did, step by step.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub steps: Vec<String>,
    pub fingerprint: Option<String>,
    pub no_op: bool,
    pub blockers: Vec<Blocker>,
    pub handoff_exit: Option<i32>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Bundle(#[from] pigsty_bundle::bundle::BundleError),
    #[error(transparent)]
    Extract(#[from] pigsty_bundle::extract::ExtractError),
    #[error(transparent)]
    Apt(#[from] AptError),
    #[error(transparent)]
    Dnf(#[from] DnfError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(
        "{bundle} is built for {built}, but this node is {node}; pass --force to install it anyway"
    )]
    WrongTarget {
        bundle: String,
        built: String,
        node: String,
    },
    #[error("{0}: the bundle is not signed (no MANIFEST.json.asc); pass --insecure to install it anyway")]
    Unsigned(String),
    #[error("{bundle}: the manifest's signature does not verify with {key}: {reason}")]
    BadSignature {
        bundle: String,
        key: String,
        reason: String,
    },
    #[error("{bundle}: the bundle's key has fingerprint {found}, not the trusted {wanted}")]
    WrongFingerprint {
        bundle: String,
        found: String,
        wanted: String,
    },
    #[error("{0}: no trusted key given: pass --key FILE or --fingerprint FPR (or --insecure)")]
    NoTrust(String),
    #[error("{0}")]
    Drift(String),
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("another pigsty-install is working on the node at {root} (it holds a lock on that folder); wait for it to finish")]
    Busy { root: String },
    #[error("the hand-off `{cmd}` could not start: {reason}")]
    Handoff { cmd: String, reason: String },
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Checks the manifest's signature as `trust` says; returns the signer's fingerprint.
pub fn check_trust(
    origin: &Origin,
    head: &SignedManifest,
    trust: &Trust,
) -> Result<Option<String>, InstallError> {
    let shown = origin.shown();
    let sig = match (&head.signature, trust) {
        (Some(s), _) => s,
        (None, Trust::Insecure) => return Ok(None),
        (None, _) => return Err(InstallError::Unsigned(shown)),
    };
    let (ring, key_shown) = match trust {
        Trust::Key(path) => (
            PublicKeyring::load(path).map_err(|e| InstallError::Read {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
            path.display().to_string(),
        ),
        Trust::Fingerprint(_) | Trust::Insecure => {
            let (data, key_shown) = origin.shipped_key()?;
            let data = data.ok_or_else(|| InstallError::Read {
                path: key_shown.clone(),
                reason: "the bundle ships no public key".into(),
            })?;
            let ring = PublicKeyring::from_bytes(&data).map_err(|e| InstallError::Read {
                path: key_shown.clone(),
                reason: e.to_string(),
            })?;
            if let Trust::Fingerprint(wanted) = trust {
                let wanted_norm: String = wanted
                    .chars()
                    .filter(|c| !c.is_whitespace())
                    .collect::<String>()
                    .to_uppercase();
                let found = ring.fingerprints();
                if !found.contains(&wanted_norm) {
                    return Err(InstallError::WrongFingerprint {
                        bundle: shown,
                        found: found.join(", "),
                        wanted: wanted_norm,
                    });
                }
            }
            (ring, key_shown)
        }
    };
    match ring.verify_detached(head.raw.as_slice(), sig) {
        Ok(fpr) => Ok(Some(fpr)),
        Err(e) if matches!(trust, Trust::Insecure) => {
            let _ = e;
            Ok(None)
        }
        Err(e) => Err(InstallError::BadSignature {
            bundle: shown,
            key: key_shown,
            reason: e.to_string(),
        }),
    }
}

/// Verifies a bundle fully (signature, then every file) without installing it.
pub fn verify(bundle: &Path, trust: &Trust) -> Result<(Manifest, Option<String>), InstallError> {
    let origin = Origin::Bundle(bundle.to_path_buf());
    let head = origin.signed_manifest()?;
    let fpr = check_trust(&origin, &head, trust)?;
    let manifest = bundle::verify_bundle(bundle)?;
    Ok((manifest, fpr))
}

/// Verifies a mirror fully without installing from it: the manifest's signature, then every
/// file downloaded into a temporary folder with its size and SHA-256 checked, then removed.
pub fn verify_mirror(url: &str, trust: &Trust) -> Result<(Manifest, Option<String>), InstallError> {
    let origin = Origin::open(&Source::Mirror(url.to_string()))?;
    let head = origin.signed_manifest()?;
    let fpr = check_trust(&origin, &head, trust)?;
    let scratch =
        std::env::temp_dir().join(format!("pigsty-install-verify-{}", std::process::id()));
    let staged = origin.stage(&head, &scratch);
    let result = staged.map(|s| s.discard());
    let _ = std::fs::remove_dir_all(&scratch);
    result?;
    Ok((head.manifest, fpr))
}

/// Runs the install.
pub fn install(
    node: &Node,
    opts: &InstallOptions,
    mut log: impl FnMut(&str),
) -> Result<Report, InstallError> {
    let mut report = Report::default();
    let mut step = |report: &mut Report, s: String| {
        log(&s);
        report.steps.push(s);
    };
    let origin = Origin::open(&opts.source)?;
    let shown = origin.shown();

    // 1. What the bundle is for, and whether we trust it.
    let head = origin.signed_manifest()?;
    let m = &head.manifest;
    let built = format!("{}.{}", m.target.os, m.target.arch);
    let here = format!("{}.{}", node.os, node.arch);
    if built != here && !opts.force {
        return Err(InstallError::WrongTarget {
            bundle: shown,
            built,
            node: here,
        });
    }
    step(
        &mut report,
        format!(
            "bundle {} for {} (PG {}), node {}",
            m.version, built, m.target.pg, here
        ),
    );
    let fpr = check_trust(&origin, &head, &opts.trust)?;
    match &fpr {
        Some(f) => step(&mut report, format!("signature: good, key {f}")),
        None => step(
            &mut report,
            "signature: NOT checked (--insecure)".to_string(),
        ),
    }
    report.fingerprint = fpr.clone();

    // 2. The same bundle again is a no-op.
    let dest = node.path(&opts.dest);
    let repo_on_node = format!("{}/pigsty", opts.dest.trim_end_matches('/'));
    if let Some((_, raw)) = extract::installed_manifest(&dest) {
        let source_file = if m.repo_format == "dnf" {
            dnfconf::REPO_FILE
        } else {
            aptconf::SOURCE_FILE
        };
        if raw == head.raw && node.path(source_file).exists() {
            step(
                &mut report,
                format!("{repo_on_node} already holds this bundle: nothing to do"),
            );
            report.no_op = true;
            return Ok(report);
        }
    }
    if opts.dry_run {
        for s in [
            match &origin {
                Origin::Bundle(_) => format!(
                    "would extract and verify {} files into {repo_on_node}",
                    m.files.len()
                ),
                Origin::Mirror(_) => format!(
                    "would download and verify {} files ({} bytes) into {repo_on_node}",
                    m.files.len(),
                    m.total_size()
                ),
            },
            if m.repo_format == "dnf" {
                format!(
                    "would write {} and {} (repo_gpgcheck=1, gpgcheck={})",
                    dnfconf::KEY_FILE,
                    dnfconf::REPO_FILE,
                    u8::from(!m.package_keys.is_empty())
                )
            } else {
                format!(
                    "would write {} and {}",
                    aptconf::KEY_FILE,
                    aptconf::SOURCE_FILE
                )
            },
            match (opts.local_only, m.repo_format == "dnf") {
                (true, false) => format!(
                    "would move {} other apt sources to {}",
                    aptconf::other_sources(node).len(),
                    aptconf::BACKUP_DIR
                ),
                (true, true) => format!(
                    "would move {} other dnf repos to {}",
                    dnfconf::other_repos(node).len(),
                    dnfconf::BACKUP_DIR
                ),
                (false, _) => "would keep the node's other package sources".to_string(),
            },
            format!("would install {}", bootstrap_set(opts, m).join(" ")),
            match handoff_cmd(opts, m) {
                Some(c) => format!("would hand off to `{c}`"),
                None => "would stop after the bootstrap (no applier)".to_string(),
            },
        ] {
            step(&mut report, s);
        }
        return Ok(report);
    }

    // One install at a time on a node: held until this function returns.
    let _lock = NodeLock::take(node)?;

    // 3. Stage: extract (or download) and verify beside the destination; nothing in place yet.
    let staged = origin.stage(&head, &dest)?;
    step(
        &mut report,
        format!(
            "{} and verified {} files ({} bytes)",
            match origin {
                Origin::Bundle(_) => "extracted",
                Origin::Mirror(_) => "downloaded",
            },
            staged.files,
            staged.bytes
        ),
    );

    // 4. Drift check against the staged repo, with a private package manager state: the
    //    node's own configuration is neither read for sources nor changed.
    let dnf = m.repo_format == "dnf";
    let check = if dnf {
        drift_check_dnf(node, opts, m, &staged)
    } else {
        drift_check_apt(node, opts, m, &staged)
    };
    let blockers = match check {
        Ok(b) => b,
        Err(e) => {
            staged.discard();
            return Err(e);
        }
    };
    if !blockers.is_empty() {
        staged.discard();
        report.blockers = blockers.clone();
        return Err(InstallError::Drift(drift::advice(
            &blockers,
            &here,
            &built,
            &m.repo_format,
        )));
    }
    step(
        &mut report,
        "drift check: the node's packages do not block the bundle".to_string(),
    );

    // 5. In place, then apt.
    let placed = staged.commit()?;
    step(
        &mut report,
        format!(
            "{repo_on_node} in place{}",
            if placed.replaced_previous {
                " (replaced the previous repo)"
            } else {
                ""
            }
        ),
    );
    let boot = bootstrap_set(opts, m);
    if dnf {
        configure_dnf(node, opts, m, &placed.path, &repo_on_node, &boot, |s| {
            step(&mut report, s)
        })?;
    } else {
        configure_apt(node, opts, &placed.path, &repo_on_node, &boot, |s| {
            step(&mut report, s)
        })?;
    }
    let status = Status {
        target: built.clone(),
        version: m.version.clone(),
        fingerprint: fpr,
        bundle: shown,
        repo: repo_on_node.clone(),
        installed_at: now(),
        packages: m.packages.len(),
        bootstrap: boot,
    };
    if let Ok(json) = serde_json::to_vec_pretty(&status) {
        aptconf::write_file(&node.path(STATUS_FILE), &json, 0o644)?;
    }

    // 7. Hand off.
    match handoff_cmd(opts, m) {
        Some(cmd) => {
            step(&mut report, format!("handing off to `{cmd}`"));
            let target = format!("{}.{}/pg{}", m.target.os, m.target.arch, m.target.pg);
            let mut c = node.command("sh", &["-c".to_string(), cmd.clone()]);
            c.env("PIGSTY_REPO", &repo_on_node)
                .env("PIGSTY_TARGET", target)
                .env("PIGSTY_BUNDLE", origin.shown())
                .env("HOME", "/root");
            let status = c.status().map_err(|e| InstallError::Handoff {
                cmd: cmd.clone(),
                reason: e.to_string(),
            })?;
            report.handoff_exit = Some(status.code().unwrap_or(1));
        }
        None => step(
            &mut report,
            format!(
                "done; next: run your config applier against the local repo {repo_on_node} (e.g. ansible-playbook), or pass --then CMD"
            ),
        ),
    }
    Ok(report)
}

/// The node path of the staged repo, and a private state folder beside it.
fn staged_paths(node: &Node, staged: &extract::Staged, what: &str) -> (String, String) {
    let staged_repo_node = format!(
        "/{}",
        staged
            .repo
            .strip_prefix(&node.root)
            .unwrap_or(&staged.repo)
            .display()
    )
    .replace("//", "/");
    let state = format!(
        "{}/.{what}-state",
        staged_repo_node.trim_end_matches("/pigsty")
    );
    (staged_repo_node, state)
}

fn drift_packages(opts: &InstallOptions, m: &Manifest) -> Vec<String> {
    if opts.check_all {
        m.packages.iter().map(|p| p.name.clone()).collect()
    } else {
        bootstrap_set(opts, m)
    }
}

/// apt: `apt-get -s install` of the bootstrap set (or every package) from the staged repo.
fn drift_check_apt(
    node: &Node,
    opts: &InstallOptions,
    m: &Manifest,
    staged: &extract::Staged,
) -> Result<Vec<Blocker>, InstallError> {
    let (staged_repo_node, state) = staged_paths(node, staged, "apt");
    let state_local = node.path(&state);
    let check = (|| -> Result<Vec<Blocker>, InstallError> {
        std::fs::create_dir_all(state_local.join("lists/partial")).map_err(|e| {
            InstallError::Read {
                path: state_local.display().to_string(),
                reason: e.to_string(),
            }
        })?;
        let src = format!("{state}/check.sources");
        // apt wants .asc for armored keys
        std::fs::copy(
            staged.repo.join("pigsty.pub"),
            node.path(&format!("{state}/pigsty.asc")),
        )
        .map_err(|e| InstallError::Read {
            path: "pigsty.pub".into(),
            reason: e.to_string(),
        })?;
        aptconf::write_file(
            &node.path(&src),
            aptconf::source_text(&staged_repo_node, &format!("{state}/pigsty.asc")).as_bytes(),
            0o644,
        )?;
        let mut args = aptconf::only_source(&src, Some(&state));
        args.push("update".into());
        aptconf::apt_get(node, args)?;
        let mut args = aptconf::only_source(&src, Some(&state));
        args.extend([
            "-s".into(),
            "install".into(),
            "--no-install-recommends".into(),
        ]);
        let pkgs = if opts.check_all {
            m.packages.iter().map(|p| p.name.clone()).collect()
        } else {
            bootstrap_set(opts, m)
        };
        if pkgs.is_empty() {
            return Ok(Vec::new());
        }
        args.extend(pkgs);
        let held_check = |output: &str| -> Vec<Blocker> {
            let held = drift::parse_held_changes(output);
            if held.is_empty() {
                return Vec::new();
            }
            let packages =
                std::fs::read_to_string(staged.repo.join("Packages")).unwrap_or_default();
            drift::held_blockers(&held, |name| installed_version(node, name), &packages)
        };
        match aptconf::apt_get(node, args) {
            Ok(output) => Ok(held_check(&output)),
            Err(AptError::Failed { output, .. }) => {
                let mut blockers = drift::parse_unmet(&output);
                blockers.extend(held_check(&output));
                if blockers.is_empty() {
                    return Err(InstallError::Drift(format!(
                        "apt cannot install the bundle's packages:\n{output}"
                    )));
                }
                mark_held(node, &mut blockers);
                Ok(blockers)
            }
            Err(e) => Err(e.into()),
        }
    })();
    let _ = std::fs::remove_dir_all(&state_local);
    check
}

/// dnf: `dnf install --assumeno` of the bootstrap set (or every package) from the staged
/// repo, with `best=True` so that a package the node has at another version is reported as
/// the problem it is rather than planned as a downgrade.
fn drift_check_dnf(
    node: &Node,
    opts: &InstallOptions,
    m: &Manifest,
    staged: &extract::Staged,
) -> Result<Vec<Blocker>, InstallError> {
    let (staged_repo_node, state) = staged_paths(node, staged, "dnf");
    let state_local = node.path(&state);
    let check = (|| -> Result<Vec<Blocker>, InstallError> {
        let mut keys = vec![format!("{staged_repo_node}/pigsty.pub")];
        keys.extend(
            m.package_keys
                .iter()
                .map(|k| format!("{staged_repo_node}/{k}")),
        );
        let config = RepoConfig {
            repo_dir: staged_repo_node.clone(),
            keys,
            gpgcheck: !m.package_keys.is_empty(),
            el: node.os.release(),
        };
        let only = OnlyRepo::write(node, &state_local, &config)?;
        // The repo's key is imported for repo_gpgcheck here (-y): it is the bundle's, whose
        // signature on the manifest was checked above.
        dnfconf::dnf(node, &only, &["-y", "makecache"])?;
        let pkgs = drift_packages(opts, m);
        if pkgs.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["--assumeno", "--setopt=best=True", "install"];
        args.extend(pkgs.iter().map(String::as_str));
        let output = match dnfconf::dnf(node, &only, &args) {
            Ok(o) => o,
            Err(DnfError::Failed { output, .. }) => output,
            Err(e) => return Err(e.into()),
        };
        // --assumeno ends a good plan with "Operation aborted." (and a non-zero exit).
        let blockers = dnfconf::parse_problems(&output, |nevra| dnfconf::installed(node, nevra));
        if blockers.is_empty() && output.contains("Error:") {
            return Err(InstallError::Drift(format!(
                "dnf cannot install the bundle's packages:\n{output}"
            )));
        }
        Ok(blockers)
    })();
    let _ = std::fs::remove_dir_all(&state_local);
    check
}

/// apt: the signed source and its key, other sources aside (`--local-only`), `apt-get
/// update`, then the bootstrap set from the local repo only.
fn configure_apt(
    node: &Node,
    opts: &InstallOptions,
    repo: &Path,
    repo_on_node: &str,
    boot: &[String],
    mut step: impl FnMut(String),
) -> Result<(), InstallError> {
    let public = std::fs::read(repo.join("pigsty.pub")).map_err(|e| InstallError::Read {
        path: repo.join("pigsty.pub").display().to_string(),
        reason: e.to_string(),
    })?;
    aptconf::configure(node, repo_on_node, &public)?;
    step(format!(
        "wrote {} (signed-by {})",
        aptconf::SOURCE_FILE,
        aptconf::KEY_FILE
    ));
    if opts.local_only {
        let moved = aptconf::local_only(node)?;
        step(format!(
            "moved {} other apt sources to {}",
            moved.len(),
            aptconf::BACKUP_DIR
        ));
    }
    let mut args = aptconf::only_source(aptconf::SOURCE_FILE, None);
    args.push("update".into());
    aptconf::apt_get(node, args)?;
    step("apt-get update (local repo)".to_string());
    if !boot.is_empty() {
        let mut args = aptconf::only_source(aptconf::SOURCE_FILE, None);
        args.extend([
            "install".into(),
            "-y".into(),
            "--no-install-recommends".into(),
        ]);
        args.extend(boot.iter().cloned());
        aptconf::apt_get(node, args)?;
        step(format!("installed {}", boot.join(" ")));
    }
    Ok(())
}

/// dnf: the keys and the `.repo` file (repo_gpgcheck always, gpgcheck when every package is
/// signed by a key the bundle ships), other repos aside (`--local-only`), `dnf makecache`,
/// then the bootstrap set from the local repo only.
fn configure_dnf(
    node: &Node,
    opts: &InstallOptions,
    m: &Manifest,
    repo: &Path,
    repo_on_node: &str,
    boot: &[String],
    mut step: impl FnMut(String),
) -> Result<(), InstallError> {
    let read = |rel: &str| {
        std::fs::read(repo.join(rel)).map_err(|e| InstallError::Read {
            path: repo.join(rel).display().to_string(),
            reason: e.to_string(),
        })
    };
    let mut keys = vec![read("pigsty.pub")?];
    for k in &m.package_keys {
        keys.push(read(k)?);
    }
    let gpgcheck = !m.package_keys.is_empty();
    let config = dnfconf::configure(node, repo_on_node, &keys, gpgcheck)?;
    step(format!(
        "wrote {} (repo_gpgcheck=1, gpgcheck={}, keys {})",
        dnfconf::REPO_FILE,
        u8::from(gpgcheck),
        config.keys.join(" ")
    ));
    if !gpgcheck {
        step("note: some packages of the bundle are not signed by a key it ships (insecure upstreams at build time): gpgcheck=0, repo_gpgcheck=1 still checks the signed metadata that holds every package's sha256".to_string());
    }
    if opts.local_only {
        let moved = dnfconf::local_only(node)?;
        step(format!(
            "moved {} other dnf repos to {}",
            moved.len(),
            dnfconf::BACKUP_DIR
        ));
    }
    let mut only = OnlyRepo::write(node, &node.path(dnfconf::STATE_DIR), &config)?;
    only.cachedir = node.path(dnfconf::CACHE_DIR);
    dnfconf::dnf(node, &only, &["-y", "makecache"])?;
    step("dnf makecache (local repo)".to_string());
    if !boot.is_empty() {
        let mut args = vec!["-y", "install"];
        args.extend(boot.iter().map(String::as_str));
        dnfconf::dnf(node, &only, &args)?;
        step(format!("installed {}", boot.join(" ")));
    }
    Ok(())
}

/// An exclusive `flock` on the node's root directory: two installs on one node never
/// interleave, and the lock leaves no file behind (a refused bundle changes nothing). The
/// kernel releases it when the process ends, however it ends.
struct NodeLock {
    _dir: std::fs::File,
}

impl NodeLock {
    fn take(node: &Node) -> Result<NodeLock, InstallError> {
        use std::os::fd::AsRawFd;
        let dir = std::fs::File::open(&node.root).map_err(|e| InstallError::Read {
            path: node.root.display().to_string(),
            reason: e.to_string(),
        })?;
        // SAFETY: a valid open descriptor; flock only takes it and a flag set.
        if unsafe { libc::flock(dir.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.kind() == std::io::ErrorKind::WouldBlock {
                InstallError::Busy {
                    root: node.root.display().to_string(),
                }
            } else {
                InstallError::Read {
                    path: node.root.display().to_string(),
                    reason: e.to_string(),
                }
            });
        }
        Ok(NodeLock { _dir: dir })
    }
}

fn bootstrap_set(opts: &InstallOptions, m: &Manifest) -> Vec<String> {
    opts.bootstrap
        .clone()
        .unwrap_or_else(|| m.bootstrap.clone())
}

fn handoff_cmd(opts: &InstallOptions, m: &Manifest) -> Option<String> {
    if opts.no_handoff {
        return None;
    }
    opts.then.clone().or_else(|| m.handoff.clone())
}

fn installed_version(node: &Node, name: &str) -> Option<String> {
    let out = node
        .run(
            "dpkg-query",
            &[
                "-W".to_string(),
                "-f=${Version}".to_string(),
                name.to_string(),
            ],
        )
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

fn mark_held(node: &Node, blockers: &mut [Blocker]) {
    let Ok(out) = node.run("apt-mark", &["showhold".to_string()]) else {
        return;
    };
    let held: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .collect();
    for b in blockers.iter_mut() {
        if let Some(p) = &b.installed {
            b.held = held.contains(p);
        }
    }
}

/// The install record, if any.
pub fn status(node: &Node) -> Option<Status> {
    let data = std::fs::read(node.path(STATUS_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}
