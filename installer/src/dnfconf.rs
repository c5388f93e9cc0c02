//! Pointing dnf at the local repository: the `.repo` file with `gpgcheck`/`repo_gpgcheck` and
//! its keys, moving other repos aside (`--local-only`) and back (`restore-repos`), the dnf runs
//! the installer makes (refresh, simulate for the drift check, install), and reading dnf's
//! dependency problems into [`Blocker`]s.
//!
//! On the running system dnf is run as it is. For `--root DIR` it is this machine's dnf with
//! `--installroot DIR` (dnf's own way to work on another root), given a private `reposdir` whose
//! `.repo` file names the repo and keys by their paths as seen from here.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::drift::Blocker;
use crate::node::{Node, NodeError};

/// Where our files go on the node.
pub const REPO_FILE: &str = "/etc/yum.repos.d/pigsty-local.repo";
pub const REPO_ID: &str = "pigsty-local";
/// The bundle's key (it signs `repomd.xml`); package keys go beside it with a suffix.
pub const KEY_FILE: &str = "/etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local";
pub const BACKUP_DIR: &str = "/etc/pigsty-backup/yum.repos.d";
/// Where the installer keeps its own `reposdir` for the dnf runs it makes.
pub const STATE_DIR: &str = "/var/lib/pigsty-install/dnf";
/// dnf's own cache on the node, which the installer's runs share after the repo is in place.
pub const CACHE_DIR: &str = "/var/cache/dnf";

#[derive(Debug, thiserror::Error)]
pub enum DnfError {
    #[error("cannot {what} {path}: {source}")]
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
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> DnfError + 'a {
    move |source| DnfError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

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

/// Writes a file atomically (temp name, fsync, rename), creating its folder.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), DnfError> {
    pigsty_bundle::fsutil::write_atomic(path, data, mode).map_err(io("write", path))
}

/// Installs the keys (`keys[0]` the bundle key) and the `.repo` file.
pub fn configure(
    node: &Node,
    repo_dir: &str,
    keys: &[Vec<u8>],
    gpgcheck: bool,
) -> Result<RepoConfig, DnfError> {
    let paths = key_paths(keys.len().saturating_sub(1));
    for (p, k) in paths.iter().zip(keys) {
        write_file(&node.path(p), k, 0o644)?;
    }
    let config = RepoConfig {
        repo_dir: repo_dir.to_string(),
        keys: paths,
        gpgcheck,
        el: node.os.release(),
    };
    write_file(&node.path(REPO_FILE), repo_text(&config).as_bytes(), 0o644)?;
    Ok(config)
}

/// The other `.repo` files of the node (what `--local-only` moves aside).
pub fn other_repos(node: &Node) -> Vec<PathBuf> {
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

/// Moves every other `.repo` file into the backup folder; returns what was moved.
pub fn local_only(node: &Node) -> Result<Vec<PathBuf>, DnfError> {
    let backup = node.path(BACKUP_DIR);
    let mut moved = Vec::new();
    for p in other_repos(node) {
        std::fs::create_dir_all(&backup).map_err(io("create", &backup))?;
        let dest = backup.join(p.file_name().unwrap_or_default());
        std::fs::rename(&p, &dest).map_err(io("move aside", &p))?;
        moved.push(p);
    }
    Ok(moved)
}

/// Puts back what `local_only` moved aside; returns what was restored.
pub fn restore(node: &Node) -> Result<Vec<PathBuf>, DnfError> {
    let backup = node.path(BACKUP_DIR);
    let mut restored = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&backup) {
        for e in dir.flatten() {
            let dest = node.path("/etc/yum.repos.d").join(e.file_name());
            std::fs::rename(e.path(), &dest).map_err(io("restore", &dest))?;
            restored.push(dest);
        }
    }
    let _ = std::fs::remove_dir_all(&backup);
    if let Some(parent) = backup.parent() {
        let _ = std::fs::remove_dir(parent);
    }
    Ok(restored)
}

/// How dnf is pointed at exactly one repo: a private `reposdir` (a folder as seen from here)
/// holding one `.repo` file, plus dnf's cache beside it.
#[derive(Debug, Clone)]
pub struct OnlyRepo {
    pub reposdir: PathBuf,
    pub cachedir: PathBuf,
}

impl OnlyRepo {
    /// Writes `dir/repos/pigsty-local.repo` for `config` with paths seen from here (the node's
    /// root prefixed when it is not `/`).
    pub fn write(node: &Node, dir: &Path, config: &RepoConfig) -> Result<OnlyRepo, DnfError> {
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
        Ok(OnlyRepo {
            reposdir,
            cachedir: dir.join("cache"),
        })
    }

    fn args(&self) -> Vec<String> {
        vec![
            format!("--setopt=reposdir={}", self.reposdir.display()),
            format!("--setopt=cachedir={}", self.cachedir.display()),
            format!("--repo={REPO_ID}"),
        ]
    }
}

/// Runs dnf for the node, reading only `only`'s repo; a non-zero exit is an error carrying
/// its output.
pub fn dnf(node: &Node, only: &OnlyRepo, args: &[&str]) -> Result<String, DnfError> {
    let mut all: Vec<String> = Vec::new();
    if node.root != Path::new("/") {
        all.push(format!("--installroot={}", node.root.display()));
        all.push(format!("--releasever={}", node.os.release()));
    }
    let mut cmd = Command::new("dnf");
    all.extend(only.args());
    all.extend(["--quiet".into(), "--nodocs".into()]);
    all.extend(args.iter().map(|s| s.to_string()));
    cmd.args(&all)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("LANG", "C.UTF-8")
        .env("LC_ALL", "C.UTF-8");
    let out = cmd.output().map_err(|source| NodeError::Spawn {
        cmd: format!("dnf {}", all.join(" ")),
        source,
    })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(DnfError::Failed {
            cmd: format!("dnf {}", all.join(" ")),
            code: out.status.code().unwrap_or(-1),
            output: text,
        })
    }
}

/// If the package `nevra` (or a plain name) is installed on the node: its name and version
/// (`[EPOCH:]VERSION-RELEASE`), from the node's rpm database.
pub fn installed(node: &Node, nevra: &str) -> Option<(String, String)> {
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

/// Reads libsolv's problem report from a failed `dnf install --assumeno --setopt=best=True`
/// (without `best`, dnf would rather plan a downgrade of the node's package):
///
/// ```text
///  Problem: cannot install both postgresql17-libs-17.6-1PGDG.rhel9.x86_64 and postgresql17-libs-17.7-1PGDG.rhel9.x86_64
///   - package postgresql17-server-17.6-1PGDG.rhel9.x86_64 requires postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9, but none of the providers can be installed
///   - cannot install the best candidate for the job
/// ```
///
/// `installed(nevra)` tells which side of "cannot install both" is on the node, with its name
/// and installed version.
pub fn parse_problems(
    output: &str,
    mut installed: impl FnMut(&str) -> Option<(String, String)>,
) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    let mut needs: Vec<(String, String)> = Vec::new();
    let mut in_the_way: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        let mut l = line.trim().trim_start_matches("- ").trim();
        // `Problem: ...` or `Problem 2: ...` starts a block; its text is the first item.
        if let Some(rest) = l.strip_prefix("Problem") {
            flush(&mut out, &mut needs, &mut in_the_way);
            l = rest.split_once(": ").map_or("", |(_, r)| r.trim());
        }
        if let Some(rest) = l.strip_prefix("package ") {
            if let Some((pkg, rel)) = rest.split_once(" requires ") {
                let rel = rel
                    .split(", but none of the providers can be installed")
                    .next()
                    .unwrap_or(rel);
                needs.push((pkg.trim().to_string(), rel.trim().to_string()));
            } else if let Some((pkg, rel)) = rest.split_once(" conflicts with ") {
                needs.push((
                    pkg.trim().to_string(),
                    format!("no conflict with {}", rel.trim()),
                ));
            }
        } else if let Some(rest) = l.strip_prefix("cannot install both ") {
            if let Some((a, b)) = rest.split_once(" and ") {
                for nevra in [a.trim(), b.trim()] {
                    if let Some((name, version)) = installed(nevra) {
                        in_the_way.push((name, version));
                    }
                }
            }
        } else if let Some(rest) = l.strip_prefix("nothing provides ") {
            if let Some((rel, pkg)) = rest.split_once(" needed by ") {
                let pkg = pkg.split(" from ").next().unwrap_or(pkg);
                needs.push((pkg.trim().to_string(), rel.trim().to_string()));
            }
        } else if let Some(rest) = l.strip_prefix("problem with installed package ") {
            if let Some((name, version)) = installed(rest.trim()) {
                in_the_way.push((name, version));
            }
        }
    }
    flush(&mut out, &mut needs, &mut in_the_way);
    out
}

fn flush(
    out: &mut Vec<Blocker>,
    needs: &mut Vec<(String, String)>,
    in_the_way: &mut Vec<(String, String)>,
) {
    in_the_way.dedup();
    for (pkg, rel) in needs.drain(..) {
        let blocker = in_the_way.first().cloned();
        let b = Blocker {
            bundle_package: pkg,
            needs: rel,
            installed: blocker.as_ref().map(|(n, _)| n.clone()),
            installed_version: blocker.map(|(_, v)| v),
            held: false,
        };
        if !out.contains(&b) {
            out.push(b);
        }
    }
    in_the_way.clear();
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
    fn reads_libsolv_problems() {
        // As dnf 4.14 prints it with best=True, a node with a newer library than the bundle's.
        let output = "Package postgresql17-libs-17.7-1PGDG.rhel9.x86_64 is already installed.\nError: \n Problem: cannot install both postgresql17-libs-17.6-1PGDG.rhel9.x86_64 and postgresql17-libs-17.7-1PGDG.rhel9.x86_64\n  - package postgresql17-server-17.6-1PGDG.rhel9.x86_64 requires postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9, but none of the providers can be installed\n  - cannot install the best candidate for the job\n(try to add '--allowerasing' to command line to replace conflicting packages or '--skip-broken' to skip uninstallable packages)\n";
        let b = parse_problems(output, |nevra| {
            (nevra == "postgresql17-libs-17.7-1PGDG.rhel9.x86_64")
                .then(|| ("postgresql17-libs".into(), "17.7-1PGDG.rhel9".into()))
        });
        assert_eq!(
            b,
            vec![Blocker {
                bundle_package: "postgresql17-server-17.6-1PGDG.rhel9.x86_64".into(),
                needs: "postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9".into(),
                installed: Some("postgresql17-libs".into()),
                installed_version: Some("17.7-1PGDG.rhel9".into()),
                held: false,
            }]
        );
        let missing = parse_problems(
            " Problem: conflicting requests\n  - nothing provides libfoo.so.1()(64bit) needed by bar-1-1.x86_64 from pigsty-local\n",
            |_| None,
        );
        assert_eq!(missing[0].bundle_package, "bar-1-1.x86_64");
        assert_eq!(missing[0].needs, "libfoo.so.1()(64bit)");
        assert!(missing[0].installed.is_none());
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
        assert_eq!(local_only(&node).unwrap().len(), 2);
        assert!(other_repos(&node).is_empty());
        assert!(root.join("etc/yum.repos.d/pigsty-local.repo").exists());
        assert_eq!(restore(&node).unwrap().len(), 2);
        assert!(root.join("etc/yum.repos.d/rocky.repo").exists());
        assert!(!root.join("etc/pigsty-backup").exists());
    }
}
