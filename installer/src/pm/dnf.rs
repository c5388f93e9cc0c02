//! dnf: the `.repo` file with `gpgcheck`/`repo_gpgcheck` and its keys, the drift check as
//! `dnf install --assumeno` from the staged repo, refresh and install restricted to our repo,
//! other repos aside and back.
//!
//! On the running system dnf is run as it is. For `--root DIR` it is this machine's dnf with
//! `--installroot DIR` (dnf's own way to work on another root), given a private `reposdir` whose
//! `.repo` file names the repo and keys by their paths as seen from here.

use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_bundle::Manifest;

use super::dnf_output::parse_problems;
use super::{checked, io, write_file, Blocker, PackageManager, PmError, StagedRepo};
use crate::node::{Node, NodeError};

/// Where our files go on the node.
pub const REPO_FILE: &str = "/etc/yum.repos.d/pigsty-local.repo";
pub const REPO_ID: &str = "pigsty-local";
/// The bundle's key (it signs `repomd.xml`); package keys go beside it with a suffix.
pub const KEY_FILE: &str = "/etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local";
pub const BACKUP_DIR: &str = "/etc/pigsty-backup/yum.repos.d";
/// Where the installer keeps its own `reposdir` for the dnf runs it makes.
pub const STATE_DIR: &str = "/var/lib/pigsty-install/dnf";

/// dnf, on EL nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dnf;

/// How the repo is checked.
#[derive(Debug, Clone)]
pub struct RepoConfig {
    /// The repo folder, as dnf sees it.
    pub repo_dir: String,
    /// Key files, as dnf sees them: the bundle key first, then the keys that signed packages.
    pub keys: Vec<String>,
    /// Every package carries a signature from one of `keys` (the bundle says so).
    pub gpgcheck: bool,
    /// EL major of the node: `module_hotfixes` exists from EL8 on.
    pub el: u32,
}

/// The `.repo` text: `repo_gpgcheck` always (our `repomd.xml` is signed), `gpgcheck` when the
/// bundle's packages are all signed by keys it ships; never `gpgcheck=0` on a signed bundle's
/// packages that could be checked.
pub fn repo_text(c: &RepoConfig) -> String {
    let keys: Vec<String> = c.keys.iter().map(|k| format!("file://{k}")).collect();
    let mut s = format!(
        "[{REPO_ID}]\nname=Pigsty local repo\nbaseurl=file://{}\nenabled=1\nrepo_gpgcheck=1\ngpgcheck={}\ngpgkey={}\nskip_if_unavailable=0\nmetadata_expire=-1\n",
        c.repo_dir,
        u8::from(c.gpgcheck),
        keys.join(" ")
    );
    if c.el >= 8 {
        s.push_str("module_hotfixes=1\n");
    }
    s
}

/// Key file paths on the node for the bundle key and `n` package keys.
pub fn key_paths(n: usize) -> Vec<String> {
    let mut v = vec![KEY_FILE.to_string()];
    v.extend((1..=n).map(|i| format!("{KEY_FILE}-{i}")));
    v
}

/// How dnf is pointed at exactly one repo: a private `reposdir` (a folder as seen from here)
/// holding one `.repo` file, and, for the drift check, a private folder for dnf's cache, logs
/// and state, so that it leaves nothing in the node.
///
/// With `--installroot`, dnf 4.14 (measured) uses `cachedir` and `logdir` as given for its
/// metadata and `hawkey.log`, but puts `expired_repos.json` and its other logs under the root
/// (`ROOT/<cachedir>`, `ROOT/<logdir>`): whichever view of the paths is given, part lands on
/// the other side. The paths given are this process's, inside the staging folder, and what
/// dnf made under the root for them (their twin) is removed after each run ([`dnf`]).
#[derive(Debug, Clone)]
struct OnlyRepo {
    reposdir: PathBuf,
    /// Seen from here: dnf's cache, logs and state go under it, not the node's own.
    private: Option<PathBuf>,
}

impl OnlyRepo {
    /// Writes `dir/repos/pigsty-local.repo` for `config` with paths seen from here (the node's
    /// root prefixed when it is not `/`); with `private`, dnf's cache, logs and state go under
    /// `dir` too.
    fn write(
        node: &Node,
        dir: &Path,
        config: &RepoConfig,
        private: bool,
    ) -> Result<OnlyRepo, PmError> {
        let here = |p: &str| node.path(p).display().to_string();
        let local = RepoConfig {
            repo_dir: here(&config.repo_dir),
            keys: config.keys.iter().map(|k| here(k)).collect(),
            ..config.clone()
        };
        let reposdir = dir.join("repos");
        write_file(
            &reposdir.join("pigsty-local.repo"),
            repo_text(&local).as_bytes(),
            0o644,
        )?;
        if private {
            // dnf makes the log folder under the root only; hawkey.log needs it here.
            let log = dir.join("log");
            std::fs::create_dir_all(&log).map_err(io("create", &log))?;
        }
        Ok(OnlyRepo {
            reposdir,
            private: private.then(|| dir.to_path_buf()),
        })
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            format!("--setopt=reposdir={}", self.reposdir.display()),
            format!("--repo={REPO_ID}"),
        ];
        if let Some(dir) = &self.private {
            let dir = dir.display();
            args.extend([
                format!("--setopt=cachedir={dir}/cache"),
                format!("--setopt=logdir={dir}/log"),
                format!("--setopt=persistdir={dir}/lib"),
            ]);
        }
        args
    }

    /// The topmost folder of `ROOT/<private>` (dnf's twin of the private folder, see above)
    /// that does not exist yet: what to remove after a run. `None` on the running system.
    fn twin(&self, node: &Node) -> Option<PathBuf> {
        let private = self.private.as_ref()?;
        if node.root == Path::new("/") {
            return None;
        }
        let twin = node.path(&private.display().to_string());
        twin.ancestors()
            .filter(|a| a.starts_with(&node.root) && *a != node.root)
            .take_while(|a| !a.exists())
            .last()
            .map(Path::to_path_buf)
    }
}

/// Runs dnf for the node, reading only `only`'s repo; a non-zero exit is an error carrying
/// its output.
fn dnf(node: &Node, only: &OnlyRepo, args: &[&str]) -> Result<String, PmError> {
    let mut all: Vec<String> = Vec::new();
    if node.root != Path::new("/") {
        all.push(format!("--installroot={}", node.root.display()));
        all.push(format!("--releasever={}", node.os.release()));
    }
    all.extend(only.args());
    all.extend(["--quiet".into(), "--nodocs".into()]);
    all.extend(args.iter().map(|s| s.to_string()));
    let cmd = format!("dnf {}", all.join(" "));
    // What dnf makes under the root for the private folder goes when it is done.
    let twin = only.twin(node);
    let out = Command::new("dnf")
        .args(&all)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8")
        .output();
    if let Some(twin) = twin {
        let _ = std::fs::remove_dir_all(twin);
    }
    let out = out.map_err(|source| NodeError::Spawn {
        cmd: cmd.clone(),
        source,
    })?;
    checked(cmd, out)
}

/// If the package `nevra` (or a plain name) is installed on the node: its name and version
/// (`[EPOCH:]VERSION-RELEASE`), from the node's rpm database.
fn installed(node: &Node, nevra: &str) -> Option<(String, String)> {
    let mut args = Vec::new();
    if node.root != Path::new("/") {
        args.push(format!("--root={}", node.root.display()));
    }
    args.extend([
        "-q".to_string(),
        "--qf".to_string(),
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\\n".to_string(),
        nevra.to_string(),
    ]);
    let out = Command::new("rpm").args(&args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let (name, version) = text.lines().next()?.trim().split_once(' ')?;
    Some((name.to_string(), version.to_string()))
}

/// The repo's configuration on `node` for the repo at `repo_dir` (a node path).
fn config(node: &Node, repo_dir: &str, m: &Manifest) -> RepoConfig {
    RepoConfig {
        repo_dir: repo_dir.to_string(),
        keys: key_paths(m.package_keys.len()),
        gpgcheck: !m.package_keys.is_empty(),
        el: node.os.release(),
    }
}

impl PackageManager for Dnf {
    fn name(&self) -> &'static str {
        "dnf"
    }

    fn source_file(&self) -> &'static str {
        REPO_FILE
    }

    fn sources_noun(&self) -> &'static str {
        "dnf repos"
    }

    fn sources_base(&self) -> &'static str {
        "/etc/yum.repos.d"
    }

    fn backup_dir(&self) -> &'static str {
        BACKUP_DIR
    }

    fn written(&self) -> Vec<&'static str> {
        vec![REPO_FILE, KEY_FILE, STATE_DIR]
    }

    fn other_sources(&self, node: &Node) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Ok(dir) = std::fs::read_dir(node.path("/etc/yum.repos.d")) {
            let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".repo") && name != "pigsty-local.repo" {
                    out.push(p);
                }
            }
        }
        out
    }

    fn would_write(&self, m: &Manifest) -> String {
        format!(
            "would write {KEY_FILE} and {REPO_FILE} (repo_gpgcheck=1, gpgcheck={})",
            u8::from(!m.package_keys.is_empty())
        )
    }

    /// `dnf install --assumeno` with `best=True`, so that a package the node has at another
    /// version is reported as the problem it is rather than planned as a downgrade.
    fn drift_check(
        &self,
        node: &Node,
        staged: &StagedRepo,
        m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<Blocker>, PmError> {
        let state_local = node.path(&staged.state);
        let check = (|| {
            let mut config = config(node, &staged.node, m);
            let key = format!("{}/pigsty.asc", staged.state);
            write_file(&node.path(&key), &staged.key, 0o644)?;
            config.keys = std::iter::once(key)
                .chain(
                    m.package_keys
                        .iter()
                        .map(|k| format!("{}/{k}", staged.node)),
                )
                .collect();
            let only = OnlyRepo::write(node, &state_local, &config, true)?;
            // The repo's key is imported for repo_gpgcheck here (-y): it is the bundle's, whose
            // signature on the manifest was checked.
            dnf(node, &only, &["-y", "makecache"])?;
            if packages.is_empty() {
                return Ok(Vec::new());
            }
            let mut args = vec!["--assumeno", "--setopt=best=True", "install"];
            args.extend(packages.iter().map(String::as_str));
            let output = match dnf(node, &only, &args) {
                Ok(o) => o,
                Err(PmError::Failed { output, .. }) => output,
                Err(e) => return Err(e),
            };
            // --assumeno ends a good plan with "Operation aborted." (and a non-zero exit).
            let blockers = parse_problems(&output, |nevra| installed(node, nevra));
            if blockers.is_empty() && output.contains("Error:") {
                return Err(PmError::Unresolved {
                    manager: "dnf",
                    output,
                });
            }
            Ok(blockers)
        })();
        let _ = std::fs::remove_dir_all(&state_local);
        check
    }

    fn configure(
        &self,
        node: &Node,
        repo: &Path,
        repo_on_node: &str,
        m: &Manifest,
        key: &[u8],
    ) -> Result<Vec<String>, PmError> {
        let config = config(node, repo_on_node, m);
        write_file(&node.path(KEY_FILE), key, 0o644)?;
        for (rel, dest) in m.package_keys.iter().zip(config.keys.iter().skip(1)) {
            let path = repo.join(rel);
            let package_key = std::fs::read(&path).map_err(io("read", &path))?;
            write_file(&node.path(dest), &package_key, 0o644)?;
        }
        write_file(&node.path(REPO_FILE), repo_text(&config).as_bytes(), 0o644)?;
        let mut done = vec![format!(
            "wrote {REPO_FILE} (repo_gpgcheck=1, gpgcheck={}, keys {})",
            u8::from(config.gpgcheck),
            config.keys.join(" ")
        )];
        if !config.gpgcheck {
            done.push("note: some packages of the bundle are not signed by a key it ships (insecure upstreams at build time): gpgcheck=0, repo_gpgcheck=1 still checks the signed metadata that holds every package's sha256".to_string());
        }
        Ok(done)
    }

    fn install(
        &self,
        node: &Node,
        repo_on_node: &str,
        m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<String>, PmError> {
        let config = config(node, repo_on_node, m);
        // The node's own cache, logs and history (dnf's defaults, under the root): this
        // install is the node's.
        let only = OnlyRepo::write(node, &node.path(STATE_DIR), &config, false)?;
        dnf(node, &only, &["-y", "makecache"])?;
        let mut done = vec!["dnf makecache (local repo)".to_string()];
        if !packages.is_empty() {
            let mut args = vec!["-y", "install"];
            args.extend(packages.iter().map(String::as_str));
            dnf(node, &only, &args)?;
            done.push(format!("installed {}", packages.join(" ")));
        }
        Ok(done)
    }

    /// dnf reads its `.repo` files without complaint where apt refuses conflicting sources;
    /// what it does warn about is one repo id in two files (Pigsty's `local.repo` of
    /// node.yml names its local repo `pigsty-local` too): the files are named. Pigsty's own
    /// `.repo` files carry `gpgcheck=0` and no `repo_gpgcheck`, so dnf asks no key of them;
    /// ours checks with the keys we wrote, and nothing goes into rpm's keyring (the bundle
    /// key signs repo metadata, never a package).
    fn check_sources(
        &self,
        node: &Node,
        _repo_on_node: Option<&str>,
    ) -> Result<Vec<String>, PmError> {
        let header = format!("[{REPO_ID}]");
        let mut files: Vec<PathBuf> = self
            .other_sources(node)
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(p)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.trim() == header)
            })
            .collect();
        let ours = node.path(REPO_FILE);
        if files.is_empty() || !ours.exists() {
            return Ok(vec![format!(
                "the node's dnf repo files name {REPO_ID} once"
            )]);
        }
        files.insert(0, ours);
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        Ok(vec![format!(
            "note: the repo id {REPO_ID} is in {}; dnf takes the first and warns about the others",
            names.join(" and ")
        )])
    }

    fn advice_items(&self, _blockers: &[Blocker]) -> Vec<&'static str> {
        vec![
            "build the bundle from the same minor release as this node: on a connected machine, point \
             pigsty-build at that release's repos (`--mirror el=URL` of its vault or snapshot), so the \
             bundle's versions match what is installed",
            "or, if the bundle's version is the one you want, change the blocking package yourself \
             (`dnf downgrade NAME` or `dnf remove NAME`) and run pigsty-install again",
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_file_checks_signatures() {
        let c = RepoConfig {
            repo_dir: "/www/pigsty".into(),
            keys: key_paths(1),
            gpgcheck: true,
            el: 9,
        };
        let t = repo_text(&c);
        assert!(t.contains("baseurl=file:///www/pigsty\n"), "{t}");
        assert!(t.contains("repo_gpgcheck=1\ngpgcheck=1\n"), "{t}");
        assert!(t.contains(
            "gpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local file:///etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local-1\n"
        ));
        assert!(t.contains("module_hotfixes=1"));
        let unsigned_packages = repo_text(&RepoConfig {
            gpgcheck: false,
            keys: key_paths(0),
            ..c
        });
        assert!(unsigned_packages.contains("repo_gpgcheck=1\ngpgcheck=0\n"));
    }

    #[test]
    fn local_only_and_restore_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/yum.repos.d")).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=\"rocky\"\nVERSION_ID=\"9.4\"\n",
        )
        .unwrap();
        std::fs::write(root.join("etc/yum.repos.d/rocky.repo"), "[baseos]\n").unwrap();
        std::fs::write(root.join("etc/yum.repos.d/epel.repo"), "[epel]\n").unwrap();
        std::fs::write(root.join("etc/yum.repos.d/pigsty-local.repo"), "ours").unwrap();
        let node = Node::detect(root).unwrap();
        assert_eq!(Dnf.local_only(&node).unwrap().len(), 2);
        assert!(Dnf.other_sources(&node).is_empty());
        assert!(root.join("etc/yum.repos.d/pigsty-local.repo").exists());
        assert_eq!(Dnf.restore(&node).unwrap().len(), 2);
        assert!(root.join("etc/yum.repos.d/rocky.repo").exists());
        assert!(!root.join("etc/pigsty-backup").exists());
    }
}
