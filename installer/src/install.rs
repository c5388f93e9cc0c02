//! The install, step by step: verify -> stage -> drift check -> put in place -> configure the
//! package manager -> bootstrap -> check the node's own sources -> hand off (a command, or
//! Pigsty itself: [`crate::pigsty`]) -> check the node's sources again. Nothing on the node changes until the repo is
//! verified, staged beside the destination and the drift check passed; a failure before that
//! leaves the node as it was. This module orchestrates only: where the repo comes from is
//! [`crate::origin`], trust is [`crate::trust`], the disk is [`crate::stage`], apt and dnf are
//! [`crate::pm`], the Pigsty hand-off is [`crate::pigsty`].

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use pigsty_bundle::archive::{Problems, SignedManifest};
use pigsty_bundle::fs::Lock;
use pigsty_bundle::BundleError;
use pigsty_bundle::Manifest;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::mirror::Limits;
use crate::node::{Node, NodeError};
use crate::origin::{Origin, OriginError, Source};
use crate::pigsty::{HandOff, PigstyError, PigstyOptions, PigstyReport};
use crate::pm::{self, Blocker, PackageManager, PmError, StagedRepo};
use crate::stage::{self, StageError, Staged};
use crate::trust::{check_trust, Trust, TrustError, Trusted};

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
    /// The applier command the user gave (`--then`).
    pub then: Option<String>,
    /// The hand-off to Pigsty itself (`--pigsty`), instead of a command.
    pub pigsty: Option<PigstyOptions>,
    pub no_handoff: bool,
    pub force: bool,
    pub dry_run: bool,
    /// Install a bundle older than the installed one.
    pub allow_downgrade: bool,
    /// What a mirror's downloads may take.
    pub limits: Limits,
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
    /// SHA-256 of the repo's `MANIFEST.json`: which repo this record is about.
    #[serde(default)]
    pub manifest_sha256: Option<String>,
    /// The key the node trusts for this repo (armored), for `rollback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The record of the repo kept at `DEST/.pigsty-previous`, if it is known (one generation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<Status>>,
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
    /// What the Pigsty hand-off did (`--pigsty`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pigsty: Option<PigstyReport>,
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Origin(#[from] OriginError),
    /// Boxed: the largest of the variants, and every `Result` here carries its size.
    #[error(transparent)]
    Trust(Box<TrustError>),
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error(transparent)]
    Pm(#[from] PmError),
    #[error("the Pigsty hand-off")]
    Pigsty(#[from] PigstyError),
    #[error(
        "{bundle} is built for {built}, but this node is {node}; pass --force to install it anyway"
    )]
    WrongTarget {
        bundle: String,
        built: String,
        node: String,
    },
    #[error("{0}")]
    Drift(String),
    #[error("cannot lock the node at {root}")]
    Lock {
        root: String,
        #[source]
        source: std::io::Error,
    },
    #[error("another pigsty-install is working on the node at {root} (it holds a lock on that folder); wait for it to finish")]
    Busy { root: String },
    /// Boxed: large, and every `Result` here carries its size.
    #[error(transparent)]
    Downgrade(Box<Downgrade>),
    #[error(transparent)]
    Rollback(#[from] crate::rollback::RollbackError),
    #[error("the hand-off `{cmd}` could not start")]
    Handoff {
        cmd: String,
        #[source]
        source: std::io::Error,
    },
}

/// A bundle older than the installed one.
#[derive(Debug, thiserror::Error)]
#[error("{bundle}: bundle {version} (built {built}) is older than bundle {installed_version} (built {installed_built}) installed in {repo}; pass --allow-downgrade to install it anyway, or run `pigsty-install rollback` to return to the repo the last install replaced")]
pub struct Downgrade {
    pub bundle: String,
    pub version: String,
    pub built: String,
    pub installed_version: String,
    pub installed_built: String,
    pub repo: String,
}

impl From<TrustError> for InstallError {
    fn from(e: TrustError) -> Self {
        InstallError::Trust(Box::new(e))
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Verifies a bundle or a mirror fully (signature, then every file) without installing.
pub fn verify(
    source: &Source,
    trust: &Trust,
    limits: Limits,
) -> Result<(Manifest, Option<String>), InstallError> {
    let origin = Origin::open_with(source, limits)?;
    let head = origin.signed_manifest()?;
    let trusted = check_trust(&origin, &head, trust)?;
    origin.verify(&head)?;
    Ok((head.manifest().clone(), trusted.fingerprint))
}

/// How the install talks to its user: `log` a step (done; kept in the report), `phase` a
/// long step beginning, with the bytes it writes where known (shown while it runs, e.g. a
/// spinner or a bar; not kept), `confirm` a question (false when nobody can answer).
pub struct Ui<'a> {
    pub log: &'a mut dyn FnMut(&str),
    pub phase: &'a mut dyn FnMut(&str, Option<u64>),
    pub confirm: &'a mut dyn FnMut(&str) -> bool,
}

/// One install under way.
struct Run<'a, 'u> {
    node: &'a Node,
    opts: &'a InstallOptions,
    origin: Origin,
    head: SignedManifest,
    pm: &'static dyn PackageManager,
    report: Report,
    ui: Ui<'u>,
}

impl Run<'_, '_> {
    fn step(&mut self, s: String) {
        (self.ui.log)(&s);
        self.report.steps.push(s);
    }

    fn phase(&mut self, s: &str, bytes: Option<u64>) {
        (self.ui.phase)(s, bytes);
    }

    fn m(&self) -> &Manifest {
        self.head.manifest()
    }

    /// `d12.x86_64`, what the bundle is built for.
    fn built(&self) -> String {
        format!("{}.{}", self.m().target.os, self.m().target.arch)
    }

    fn here(&self) -> String {
        format!("{}.{}", self.node.os, self.node.arch)
    }

    /// `/www/pigsty`, the repo as the node sees it.
    fn repo_on_node(&self) -> String {
        format!("{}/pigsty", self.opts.dest.trim_end_matches('/'))
    }

    fn bootstrap_set(&self) -> Vec<String> {
        self.opts
            .bootstrap
            .clone()
            .unwrap_or_else(|| self.m().bootstrap.clone())
    }
}

/// Runs the install.
pub fn install(node: &Node, opts: &InstallOptions, ui: Ui) -> Result<Report, InstallError> {
    let origin = Origin::open_with(&opts.source, opts.limits)?;
    let head = origin.signed_manifest()?;
    let pm = pm::for_family(head.manifest().family);
    let mut run = Run {
        node,
        opts,
        origin,
        head,
        pm,
        report: Report::default(),
        ui,
    };
    let trusted = run.check()?;
    let dest = node.path(&opts.dest);
    if opts.dry_run {
        run.refuse_downgrade(&dest)?;
        run.check_writable()?;
        run.dry_run(&dest);
        return Ok(run.report);
    }
    // One install at a time on a node: held until this function returns.
    let _lock = lock(node)?;
    let rerun = run.refuse_downgrade(&dest)?;
    for stale in stage::sweep_stale(&dest)? {
        run.step(format!(
            "removed {}, left by an install that was stopped",
            stale.display()
        ));
    }
    if rerun && run.rerun(&dest)? {
        run.handoff()?;
        return Ok(run.report);
    }
    let doing = format!(
        "{} and verifying {} files ({} bytes) into {}",
        if run.origin.is_mirror() {
            "downloading"
        } else {
            "extracting"
        },
        run.m().files.len(),
        run.m().total_size(),
        run.repo_on_node()
    );
    let bytes = run.m().total_size();
    run.phase(&doing, Some(bytes));
    let staged = run.origin.stage(&run.head, &dest)?;
    let what = if run.origin.is_mirror() {
        "downloaded"
    } else {
        "extracted"
    };
    run.step(format!(
        "{what} and verified {} files ({} bytes)",
        staged.files, staged.bytes
    ));
    run.phase(
        &format!("drift check: {} simulates the install", run.pm.name()),
        None,
    );
    run.drift_check(&staged, &trusted)?;
    // A new bundle keeps the repo it replaces for `rollback`; a repair drops the damaged copy.
    let placed = if rerun {
        staged.commit()?
    } else {
        staged.commit_keeping_previous()?
    };
    let kept = match (placed.replaced_previous, rerun) {
        (true, false) => format!(
            " (the repo it replaced is kept in {}/{} for `pigsty-install rollback`)",
            opts.dest.trim_end_matches('/'),
            stage::PREVIOUS
        ),
        (true, true) => " (repaired: the damaged copy is replaced)".to_string(),
        (false, _) => String::new(),
    };
    run.step(format!("{} in place{kept}", run.repo_on_node()));
    run.phase(
        &format!(
            "configuring {} and installing the bootstrap set",
            run.pm.name()
        ),
        None,
    );
    run.configure(&placed.path, &trusted)?;
    run.handoff()?;
    Ok(run.report)
}

impl Run<'_, '_> {
    /// What the bundle is for, and whether we trust it.
    fn check(&mut self) -> Result<Trusted, InstallError> {
        let (built, here) = (self.built(), self.here());
        if built != here && !self.opts.force {
            return Err(InstallError::WrongTarget {
                bundle: self.origin.shown(),
                built,
                node: here,
            });
        }
        let line = format!(
            "bundle {} for {built} (PG {}), node {here}",
            self.m().version,
            self.m().target.pg
        );
        self.step(line);
        let trusted = check_trust(&self.origin, &self.head, &self.opts.trust)?;
        match &trusted.fingerprint {
            Some(f) => self.step(format!("signature: good, key {f}")),
            None => self.step("signature: NOT checked (--insecure)".to_string()),
        }
        self.report.fingerprint = trusted.fingerprint.clone();
        Ok(trusted)
    }

    /// Refuses a bundle older than the one installed in `dest` (unless allowed); whether the
    /// installed one is this very bundle (the same signed manifest, byte for byte).
    fn refuse_downgrade(&mut self, dest: &Path) -> Result<bool, InstallError> {
        let Some((installed, raw)) = stage::installed_manifest(dest) else {
            return Ok(false);
        };
        if raw == self.head.raw() {
            return Ok(true);
        }
        if self.m().is_older_than(&installed) {
            let downgrade = Downgrade {
                bundle: self.origin.shown(),
                version: self.m().version.clone(),
                built: date(self.m().created),
                installed_version: installed.version.clone(),
                installed_built: date(installed.created),
                repo: self.repo_on_node(),
            };
            if !self.opts.allow_downgrade {
                return Err(InstallError::Downgrade(Box::new(downgrade)));
            }
            self.step(format!("--allow-downgrade: {downgrade}"));
        }
        Ok(false)
    }

    /// The bundle installed already, again: it is verified fully all the same (a damaged copy
    /// with the same manifest is refused, never taken for the installed one), and the
    /// installed repo is checked against the manifest. Whether there is nothing to do for the
    /// repo (intact, the package manager pointed at it, the install recorded); else what
    /// differs is said, and the install runs again (repairing the repo).
    fn rerun(&mut self, dest: &Path) -> Result<bool, InstallError> {
        if !self.origin.is_mirror() {
            self.origin.verify(&self.head)?;
            let line = format!(
                "verified every file of {} against its manifest",
                self.origin.shown()
            );
            self.step(line);
        }
        let repo = self.repo_on_node();
        match stage::check_installed(dest, &self.head) {
            Ok(()) => {}
            Err(StageError::Bundle(e @ BundleError::Verify { .. })) => {
                self.step(format!(
                    "{repo} holds this bundle, but not as its manifest says; repairing it:{}",
                    Problems {
                        problems: e.problems(),
                        received: false
                    }
                ));
                return Ok(false);
            }
            Err(e) => return Err(e.into()),
        }
        let sha = manifest_sha256(self.head.raw());
        let built = self.built();
        let recorded = status(self.node).is_some_and(|st| match &st.manifest_sha256 {
            Some(s) => *s == sha,
            None => st.version == self.m().version && st.target == built,
        });
        if !self.node.path(self.pm.source_file()).exists() || !recorded {
            self.step(format!(
                "{repo} holds this bundle, but the install that laid it out did not finish; installing it again"
            ));
            return Ok(false);
        }
        self.step(format!(
            "{repo} already holds this bundle, every file checked: nothing to do"
        ));
        self.report.no_op = true;
        Ok(true)
    }

    /// A dry run's check that what the install writes can be written: DEST, the package
    /// manager's source and key files, the install record (and the backup folder under
    /// --local-only). A read-only or immutable place fails the dry run, naming it.
    fn check_writable(&mut self) -> Result<(), InstallError> {
        let mut paths = vec![self.opts.dest.as_str(), STATUS_FILE];
        paths.extend(self.pm.written());
        if self.opts.local_only {
            paths.push(self.pm.backup_dir());
        }
        for p in &paths {
            self.node.check_writable(p)?;
        }
        self.step(format!("can write {}", paths.join(", ")));
        Ok(())
    }

    fn dry_run(&mut self, dest: &Path) {
        if stage::installed_manifest(dest).is_some_and(|(_, raw)| raw == self.head.raw()) {
            let line = format!(
                "{} holds this bundle already: would verify the bundle and check the installed files against its manifest, repairing what differs",
                self.repo_on_node()
            );
            self.step(line);
        }
        let m = self.m();
        let fetch = if self.origin.is_mirror() {
            format!(
                "would download and verify {} files ({} bytes) into {}",
                m.files.len(),
                m.total_size(),
                self.repo_on_node()
            )
        } else {
            format!(
                "would extract and verify {} files into {}",
                m.files.len(),
                self.repo_on_node()
            )
        };
        let local = if self.opts.local_only {
            format!(
                "would move {} other {} to {}",
                self.pm.other_sources(self.node).len(),
                self.pm.sources_noun(),
                self.pm.backup_dir()
            )
        } else {
            "would keep the node's other package sources".to_string()
        };
        let lines = [
            fetch,
            self.pm.would_write(m),
            local,
            format!("would install {}", self.bootstrap_set().join(" ")),
            match self.handoff_cmd() {
                _ if self.opts.pigsty.is_some() => self.pigsty_would(),
                Some((c, false)) => format!("would hand off to `{c}`"),
                Some((c, true)) => format!(
                    "would not run the hand-off the bundle proposes, `{c}`, unless confirmed at a terminal (pass --then to run a command)"
                ),
                None => "would stop after the bootstrap (no applier)".to_string(),
            },
        ];
        for s in lines {
            self.step(s);
        }
    }

    /// The node's package manager simulates installing the bootstrap set (or every package)
    /// from the staged repo; what blocks it refuses the install.
    fn drift_check(&mut self, staged: &Staged, trusted: &Trusted) -> Result<(), InstallError> {
        let node_path = format!(
            "/{}",
            staged
                .repo
                .strip_prefix(&self.node.root)
                .unwrap_or(&staged.repo)
                .display()
        )
        .replace("//", "/");
        let state = format!(
            "{}/.{}-state",
            node_path.trim_end_matches("/pigsty"),
            self.pm.name()
        );
        let repo = StagedRepo {
            key: bundle_key(trusted, &staged.repo)?,
            local: staged.repo.clone(),
            node: node_path,
            state,
        };
        let packages = if self.opts.check_all {
            self.m().packages.iter().map(|p| p.name.clone()).collect()
        } else {
            self.bootstrap_set()
        };
        let blockers = self
            .pm
            .drift_check(self.node, &repo, self.m(), &packages)
            .map_err(|e| match e {
                PmError::Unresolved { .. } => InstallError::Drift(e.to_string()),
                other => other.into(),
            })?;
        if !blockers.is_empty() {
            self.report.blockers = blockers.clone();
            return Err(InstallError::Drift(pm::advice(
                self.pm,
                &blockers,
                &self.here(),
                &self.built(),
            )));
        }
        self.step("drift check: the node's packages do not block the bundle".to_string());
        Ok(())
    }

    /// The package manager pointed at the repo in place, other sources aside if asked, the
    /// bootstrap set installed, the install recorded.
    fn configure(&mut self, repo: &Path, trusted: &Trusted) -> Result<(), InstallError> {
        let repo_on_node = self.repo_on_node();
        let key = bundle_key(trusted, repo)?;
        for s in self
            .pm
            .configure(self.node, repo, &repo_on_node, self.m(), &key)?
        {
            self.step(s);
        }
        if self.opts.local_only {
            let moved = self.pm.local_only(self.node)?;
            let line = format!(
                "moved {} other {} to {}",
                moved.len(),
                self.pm.sources_noun(),
                self.pm.backup_dir()
            );
            self.step(line);
        }
        let boot = self.bootstrap_set();
        for s in self.pm.install(self.node, &repo_on_node, self.m(), &boot)? {
            self.step(s);
        }
        for s in self.pm.check_sources(self.node, Some(&repo_on_node))? {
            self.step(s);
        }
        let status = Status {
            target: self.built(),
            version: self.m().version.clone(),
            fingerprint: self.report.fingerprint.clone(),
            bundle: self.origin.shown(),
            repo: repo_on_node,
            installed_at: now(),
            packages: self.m().packages.len(),
            bootstrap: boot,
            manifest_sha256: Some(manifest_sha256(self.head.raw())),
            key: Some(String::from_utf8_lossy(&key).into_owned()),
            previous: previous_record(self.node, &self.node.path(&self.opts.dest)),
        };
        write_status(self.node, &status)
    }

    /// The applier to hand off to, and whether it comes from the bundle (not the user).
    fn handoff_cmd(&self) -> Option<(String, bool)> {
        if self.opts.no_handoff {
            return None;
        }
        match (&self.opts.then, &self.m().handoff) {
            (Some(c), _) => Some((c.clone(), false)),
            (None, Some(c)) => Some((c.clone(), true)),
            (None, None) => None,
        }
    }

    /// What the environment of a hand-off holds: the repo, the target, the bundle.
    fn handoff_env(&self) -> Vec<(&'static str, String)> {
        let m = self.m();
        vec![
            ("PIGSTY_REPO", self.repo_on_node()),
            (
                "PIGSTY_TARGET",
                format!("{}.{}/pg{}", m.target.os, m.target.arch, m.target.pg),
            ),
            ("PIGSTY_BUNDLE", self.origin.shown()),
        ]
    }

    /// Runs the hand-off inside the node: Pigsty itself (`--pigsty`), else the applier
    /// command; then, when it succeeded, checks the node's sources as they were left.
    fn handoff(&mut self) -> Result<(), InstallError> {
        if let Some(opts) = self.opts.pigsty.clone() {
            let repo = self.node.path(&self.repo_on_node());
            let handoff = HandOff {
                node: self.node,
                opts: &opts,
                repo: &repo,
                manifest: self.head.manifest(),
                env: self.handoff_env(),
            };
            let mut lines = Vec::new();
            let log = &mut self.ui.log;
            let result = handoff.run(&mut |s: &str| {
                (log)(s);
                lines.push(s.to_string());
            });
            self.report.steps.extend(lines);
            let report = result?;
            self.report.handoff_exit = Some(report.exit);
            self.report.pigsty = Some(report);
        } else {
            self.run_command()?;
        }
        if self.report.handoff_exit == Some(0) {
            for s in self.pm.check_sources(self.node, None)? {
                self.step(format!("after the hand-off: {s}"));
            }
        }
        Ok(())
    }

    /// What a dry run says about the Pigsty hand-off.
    fn pigsty_would(&self) -> String {
        let Some(p) = &self.opts.pigsty else {
            return String::new();
        };
        let src = match &p.source {
            crate::pigsty::PigstySource::Bundle => "the bundle".to_string(),
            crate::pigsty::PigstySource::Path(s) => s.display().to_string(),
        };
        let plays: Vec<String> = p
            .playbooks
            .iter()
            .map(|a| format!("`ansible-playbook {a} -e @{}`", crate::pigsty::OFFLINE_VARS))
            .collect();
        format!(
            "would hand off to Pigsty from {src} in {} (unpacked and `./configure -i {} -n -v {}` where it is not yet), write {}/{} and run {}",
            p.dir,
            p.ip,
            self.m().target.pg,
            p.dir,
            crate::pigsty::OFFLINE_VARS,
            if plays.is_empty() { "no playbook".to_string() } else { plays.join(", then ") }
        )
    }

    /// Runs the applier command inside the node. A command that comes from the bundle is
    /// shown and runs only if the user confirms it: a bundle never runs a command as root by
    /// itself.
    fn run_command(&mut self) -> Result<(), InstallError> {
        let repo_on_node = self.repo_on_node();
        let Some((cmd, from_bundle)) = self.handoff_cmd() else {
            self.step(format!(
                "done; next: run your config applier against the local repo {repo_on_node} (e.g. ansible-playbook), or pass --then CMD"
            ));
            return Ok(());
        };
        if from_bundle {
            let question = format!("the bundle proposes the hand-off `{cmd}`; run it as root?");
            if !(self.ui.confirm)(&question) {
                self.step(format!(
                    "done; the bundle proposes the hand-off `{cmd}`, not run: pass --then '{cmd}' to run it"
                ));
                return Ok(());
            }
        }
        self.step(format!("handing off to `{cmd}`"));
        let mut c = self.node.command("sh", &["-c".to_string(), cmd.clone()]);
        // from `/`, in the chroot (chroot(1) changes to it) as on the running system
        c.envs(self.handoff_env())
            .env("HOME", "/root")
            .current_dir("/");
        // Its output goes to stderr, as the Pigsty hand-off's: stdout stays for --json.
        if let Ok(fd) = std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned() {
            c.stdout(std::process::Stdio::from(fd));
        }
        let status = c
            .status()
            .map_err(|source| InstallError::Handoff { cmd, source })?;
        self.report.handoff_exit = Some(status.code().unwrap_or(1));
        Ok(())
    }
}

/// The key the node trusts for the repo: the one that signed the manifest, alone; with
/// `--insecure`, the key the repo ships.
fn bundle_key(trusted: &Trusted, repo: &Path) -> Result<Vec<u8>, InstallError> {
    if let Some(key) = &trusted.key {
        return Ok(key.clone());
    }
    let path = repo.join("pigsty.pub");
    std::fs::read(&path)
        .map_err(pm::io("read", &path))
        .map_err(InstallError::from)
}

/// An exclusive `flock` on the node's root folder: two installs on one node never
/// interleave, and the lock leaves no file behind (a refused bundle changes nothing). The
/// kernel releases it when the process ends, however it ends.
pub(crate) fn lock(node: &Node) -> Result<Lock, InstallError> {
    let root = node.root.display().to_string();
    match Lock::take(&node.root, false) {
        Ok(Some(lock)) => Ok(lock),
        Ok(None) => Err(InstallError::Busy { root }),
        Err(source) => Err(InstallError::Lock { root, source }),
    }
}

/// The install record, if any.
pub fn status(node: &Node) -> Option<Status> {
    let data = std::fs::read(node.path(STATUS_FILE)).ok()?;
    serde_json::from_slice(&data).ok()
}

/// Writes the install record.
pub(crate) fn write_status(node: &Node, status: &Status) -> Result<(), InstallError> {
    if let Ok(json) = serde_json::to_vec_pretty(status) {
        pm::write_file(&node.path(STATUS_FILE), &json, 0o644)?;
    }
    Ok(())
}

/// Lowercase hex SHA-256 of a manifest's bytes.
pub(crate) fn manifest_sha256(raw: &[u8]) -> String {
    hex::encode(Sha256::digest(raw))
}

/// The record of the repo now at `<dest>/.pigsty-previous`: whichever of the node's records
/// (the install before, or the one it kept) has that repo's manifest; none if neither has.
fn previous_record(node: &Node, dest: &Path) -> Option<Box<Status>> {
    let kept = crate::rollback::kept_manifest_sha256(dest)?;
    let mut old = status(node)?;
    let older = old.previous.take();
    [Some(Box::new(old)), older]
        .into_iter()
        .flatten()
        .find(|s| s.manifest_sha256.as_deref() == Some(kept.as_str()))
        .map(|mut s| {
            s.previous = None;
            s
        })
}

/// A Unix time as a UTC date, `2023-11-14`.
pub(crate) fn date(secs: u64) -> String {
    let (y, m, d) = civil(secs);
    format!("{y:04}-{m:02}-{d:02}")
}

/// A Unix time as an RFC 3339 UTC time, `2023-11-14T22:13:20Z`.
pub fn rfc3339(secs: u64) -> String {
    let (y, m, d) = civil(secs);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A Unix time's UTC (year, month, day).
fn civil(secs: u64) -> (i64, i64, i64) {
    // Days to a civil date (Howard Hinnant's algorithm): no date crate for two formats.
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Puts back the sources `--local-only` moved aside; returns what was restored.
pub fn restore_repos(node: &Node) -> Result<(Vec<std::path::PathBuf>, &'static str), InstallError> {
    let pm = pm::for_family(node.os.family());
    Ok((pm.restore(node)?, pm.sources_noun()))
}
