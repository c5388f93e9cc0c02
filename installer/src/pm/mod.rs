//! The node's package manager, the seam between the install flow and apt or dnf: point it at
//! the local repo (signed), check that the node's packages do not block the bundle's (the
//! drift check), install the bootstrap set, move the node's other sources aside and back, and
//! check the node's own configuration.
//! [`for_family`] picks the implementation; the flow never asks which one it has.

mod apt;
mod apt_output;
mod dnf;
mod dnf_output;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Output;

use pigsty_bundle::{Family, Manifest};
use serde::Serialize;

use crate::node::{Node, NodeError};

pub use apt::Apt;
pub use dnf::Dnf;

/// The package manager of a family.
pub fn for_family(family: Family) -> &'static dyn PackageManager {
    match family {
        Family::Deb => &Apt,
        Family::Rpm => &Dnf,
    }
}

/// What the install flow asks of a package manager. Inputs are plain: the node, paths as the
/// node sees them and as this process sees them, the manifest.
pub trait PackageManager: Sync {
    /// `apt` or `dnf`.
    fn name(&self) -> &'static str;

    /// The file on the node that points the package manager at the local repo.
    fn source_file(&self) -> &'static str;

    /// What [`PackageManager::local_only`] moves aside, in words: `apt sources`.
    fn sources_noun(&self) -> &'static str;

    /// The folder the sources are under (`/etc/apt`); they keep their paths relative to it
    /// in the backup.
    fn sources_base(&self) -> &'static str;

    /// Where [`PackageManager::local_only`] moves them.
    fn backup_dir(&self) -> &'static str;

    /// The node's other sources (what [`PackageManager::local_only`] would move aside).
    fn other_sources(&self, node: &Node) -> Vec<PathBuf>;

    /// The files and folders on the node [`PackageManager::configure`] writes (absolute, as
    /// the node sees them), for a dry run's check that they can be written.
    fn written(&self) -> Vec<&'static str>;

    /// What [`PackageManager::configure`] would write, for a dry run.
    fn would_write(&self, m: &Manifest) -> String;

    /// Simulates installing `packages` from the staged repo (`staged.node` as the node sees
    /// it) with a private package manager state under `staged.state` (the node's own
    /// configuration is neither read for sources nor changed); the packages on the node that
    /// would block them.
    fn drift_check(
        &self,
        node: &Node,
        staged: &StagedRepo,
        m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<Blocker>, PmError>;

    /// Writes the source for the repo at `repo_on_node` (its files at `repo` as seen from
    /// here), signed by `key` (armored), and the keys; returns what was done, a line each.
    fn configure(
        &self,
        node: &Node,
        repo: &Path,
        repo_on_node: &str,
        m: &Manifest,
        key: &[u8],
    ) -> Result<Vec<String>, PmError>;

    /// Refreshes from the local repo at `repo_on_node` only (as [`PackageManager::configure`]
    /// set it up), then installs `packages` from it; returns what was done, a line each.
    fn install(
        &self,
        node: &Node,
        repo_on_node: &str,
        m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<String>, PmError>;

    /// Checks the node's own configuration of the package manager (every source, as the
    /// node's own runs read them, not the installer's private view); `repo_on_node`: the local
    /// repo must be among them. Returns what was seen, a line each; refuses a configuration
    /// the package manager would refuse.
    fn check_sources(
        &self,
        node: &Node,
        repo_on_node: Option<&str>,
    ) -> Result<Vec<String>, PmError>;

    /// What a user can do about `blockers`, an item each.
    fn advice_items(&self, blockers: &[Blocker]) -> Vec<&'static str>;

    /// Moves every other source aside into [`PackageManager::backup_dir`]; returns what was
    /// moved.
    fn local_only(&self, node: &Node) -> Result<Vec<PathBuf>, PmError> {
        let files = self.other_sources(node);
        move_aside(node, files, self.sources_base(), self.backup_dir())
    }

    /// Puts back what [`PackageManager::local_only`] moved aside; returns what was restored.
    fn restore(&self, node: &Node) -> Result<Vec<PathBuf>, PmError> {
        move_back(node, self.sources_base(), self.backup_dir())
    }
}

/// A staged repo, for the drift check.
#[derive(Debug, Clone)]
pub struct StagedRepo {
    /// The armored public key the repo's metadata is checked with.
    pub key: Vec<u8>,
    /// Its folder as this process sees it.
    pub local: PathBuf,
    /// Its folder as the node sees it.
    pub node: String,
    /// A private state folder for the package manager, as the node sees it.
    pub state: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PmError {
    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("`{cmd}` failed (exit {code}):\n{output}")]
    Failed {
        cmd: String,
        code: i32,
        output: String,
    },
    /// The node's own configuration of the package manager is not usable.
    #[error("the node's own {manager} configuration: {problem}:\n{output}")]
    NodeSources {
        manager: &'static str,
        problem: String,
        output: String,
    },
    /// The package manager cannot install the bundle's packages, and names nothing on the
    /// node as the cause.
    #[error("{manager} cannot install the bundle's packages:\n{output}")]
    Unresolved {
        manager: &'static str,
        output: String,
    },
}

pub(crate) fn io<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl Fn(std::io::Error) -> PmError + 'a {
    move |source| PmError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Writes a file atomically (temp name, fsync, rename), creating its folder.
pub(crate) fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), PmError> {
    pigsty_bundle::fs::write_atomic(path, data, mode).map_err(io("write", path))
}

/// A command's output as one text; a non-zero exit is [`PmError::Failed`] carrying it.
pub(crate) fn checked(cmd: String, out: Output) -> Result<String, PmError> {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(PmError::Failed {
            cmd,
            code: out.status.code().unwrap_or(-1),
            output: text,
        })
    }
}

/// Moves `files` (under the node's `base`) into `backup` (a node path), keeping their paths
/// relative to `base`.
fn move_aside(
    node: &Node,
    files: Vec<PathBuf>,
    base: &str,
    backup: &str,
) -> Result<Vec<PathBuf>, PmError> {
    let etc = node.path(base);
    let backup = node.path(backup);
    let mut moved = Vec::new();
    for p in files {
        let rel = p.strip_prefix(&etc).unwrap_or(&p).to_path_buf();
        let dest = backup.join(&rel);
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
        }
        std::fs::rename(&p, &dest).map_err(io("move aside", &p))?;
        moved.push(p);
    }
    Ok(moved)
}

/// Puts back every file under `backup` (a node path) where it came from (its path relative to
/// the backup is relative to the node's `base`), then removes the backup folder (and its
/// parent, if that is left empty).
fn move_back(node: &Node, base: &str, backup: &str) -> Result<Vec<PathBuf>, PmError> {
    let etc = node.path(base);
    let backup = node.path(backup);
    let mut restored = Vec::new();
    let mut stack = vec![backup.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&backup).unwrap_or(&path);
            let dest = etc.join(rel);
            if let Some(d) = dest.parent() {
                std::fs::create_dir_all(d).map_err(io("create", d))?;
            }
            std::fs::rename(&path, &dest).map_err(io("restore", &dest))?;
            restored.push(dest);
        }
    }
    restored.sort();
    let _ = std::fs::remove_dir_all(&backup);
    if let Some(parent) = backup.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(restored)
}

/// One bundle package that cannot be installed, and what blocks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The package from the bundle that cannot be installed.
    pub bundle_package: String,
    /// Its relation that cannot be met, as the package manager prints it (`libpq5 (>= 15.20)`).
    pub needs: String,
    /// The package on the node that is in the way, if the package manager names one.
    pub installed: Option<String>,
    /// Its version on the node.
    pub installed_version: Option<String>,
    /// Whether it is held (`apt-mark hold`).
    pub held: bool,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.installed, &self.installed_version) {
            (Some(p), Some(v)) => write!(
                f,
                "installed {p} {v}{} blocks {} from the bundle, which needs {}",
                if self.held { " (held)" } else { "" },
                self.bundle_package,
                self.needs
            ),
            _ => write!(
                f,
                "{} from the bundle needs {}, which cannot be installed",
                self.bundle_package, self.needs
            ),
        }
    }
}

/// What to tell the user about blockers: each one, then what to do.
pub fn advice(
    pm: &dyn PackageManager,
    blockers: &[Blocker],
    node_os: &str,
    bundle_target: &str,
) -> String {
    let mut s =
        format!("the node ({node_os}) has packages that block the bundle ({bundle_target}):\n");
    for b in blockers {
        s.push_str(&format!("  - {b}\n"));
    }
    s.push_str("what to do:\n");
    for (i, item) in pm.advice_items(blockers).iter().enumerate() {
        let item = if i > 0 && !item.starts_with("or") {
            format!("or {item}")
        } else {
            item.to_string()
        };
        s.push_str(&format!("  - {item};\n"));
    }
    s.push_str("  - nothing was changed on this node.");
    s
}
