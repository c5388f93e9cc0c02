//! apt: the signed deb822 source and its key, the drift check as `apt-get -s install` from the
//! staged repo, refresh and install restricted to our source, other sources aside and back.

use std::path::{Path, PathBuf};

use pigsty_bundle::Manifest;

use super::apt_output::{held_blockers, parse_held_changes, parse_unmet};
use super::{checked, io, write_file, Blocker, PackageManager, PmError, StagedRepo};
use crate::node::Node;

/// Where our files go on the node.
pub const SOURCE_FILE: &str = "/etc/apt/sources.list.d/pigsty-local.sources";
pub const KEY_FILE: &str = "/etc/apt/keyrings/pigsty.asc";
pub const BACKUP_DIR: &str = "/etc/apt/pigsty-backup";

/// apt, on Debian and Ubuntu nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;

/// The deb822 source for a flat repository at `repo_dir` (a path on the node), checked with
/// the key at `key` (never `trusted=yes`).
pub fn source_text(repo_dir: &str, key: &str) -> String {
    format!("Types: deb\nURIs: file:{repo_dir}\nSuites: ./\nSigned-By: {key}\n")
}

/// apt options that make it read only the given source file (a path on the node) and keep
/// its lists apart, so that the node's own configuration is neither read nor changed.
fn only_source(source_file: &str, state_dir: Option<&str>) -> Vec<String> {
    let mut o = vec![
        "-o".to_string(),
        format!("Dir::Etc::SourceList={source_file}"),
        "-o".to_string(),
        "Dir::Etc::SourceParts=/nonexistent".to_string(),
        "-o".to_string(),
        "APT::Get::List-Cleanup=0".to_string(),
    ];
    if let Some(state) = state_dir {
        o.extend([
            "-o".to_string(),
            format!("Dir::State::Lists={state}/lists"),
            "-o".to_string(),
            format!("Dir::Cache::pkgcache={state}/pkgcache.bin"),
            "-o".to_string(),
            format!("Dir::Cache::srcpkgcache={state}/srcpkgcache.bin"),
        ]);
    }
    o
}

/// Runs apt-get on the node; a non-zero exit is an error carrying its output.
fn apt_get(node: &Node, args: Vec<String>) -> Result<String, PmError> {
    let out = node.run("apt-get", &args)?;
    checked(format!("apt-get {}", args.join(" ")), out)
}

/// The version of a package installed on the node, if it is.
fn installed_version(node: &Node, name: &str) -> Option<String> {
    let args = [
        "-W".to_string(),
        "-f=${Version}".to_string(),
        name.to_string(),
    ];
    let out = node.run("dpkg-query", &args).ok()?;
    let v = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !v.is_empty()).then_some(v)
}

/// Marks the blockers whose installed package is held (`apt-mark hold`).
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

impl Apt {
    /// The simulated install, in the private state the drift check set up.
    fn simulate(
        &self,
        node: &Node,
        staged: &StagedRepo,
        src: &str,
        packages: &[String],
    ) -> Result<Vec<Blocker>, PmError> {
        // The refresh checks the staged repo's signed metadata, packages to simulate or not.
        let mut args = only_source(src, Some(&staged.state));
        args.push("update".into());
        apt_get(node, args)?;
        if packages.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = only_source(src, Some(&staged.state));
        args.extend(["-s", "install", "--no-install-recommends"].map(String::from));
        args.extend(packages.iter().cloned());
        let held_check = |output: &str| -> Vec<Blocker> {
            let held = parse_held_changes(output);
            if held.is_empty() {
                return Vec::new();
            }
            let packages =
                std::fs::read_to_string(staged.local.join("Packages")).unwrap_or_default();
            held_blockers(&held, |name| installed_version(node, name), &packages)
        };
        match apt_get(node, args) {
            Ok(output) => Ok(held_check(&output)),
            Err(PmError::Failed { output, .. }) => {
                let mut blockers = parse_unmet(&output);
                blockers.extend(held_check(&output));
                if blockers.is_empty() {
                    return Err(PmError::Unresolved {
                        manager: "apt",
                        output,
                    });
                }
                mark_held(node, &mut blockers);
                Ok(blockers)
            }
            Err(e) => Err(e),
        }
    }
}

impl PackageManager for Apt {
    fn name(&self) -> &'static str {
        "apt"
    }

    fn source_file(&self) -> &'static str {
        SOURCE_FILE
    }

    fn sources_noun(&self) -> &'static str {
        "apt sources"
    }

    fn sources_base(&self) -> &'static str {
        "/etc/apt"
    }

    fn backup_dir(&self) -> &'static str {
        BACKUP_DIR
    }

    fn other_sources(&self, node: &Node) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let list = node.path("/etc/apt/sources.list");
        if list.exists() {
            out.push(list);
        }
        if let Ok(dir) = std::fs::read_dir(node.path("/etc/apt/sources.list.d")) {
            let mut paths: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
            paths.sort();
            for p in paths {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if (name.ends_with(".list") || name.ends_with(".sources"))
                    && name != "pigsty-local.sources"
                {
                    out.push(p);
                }
            }
        }
        out
    }

    fn would_write(&self, _m: &Manifest) -> String {
        format!("would write {KEY_FILE} and {SOURCE_FILE}")
    }

    fn drift_check(
        &self,
        node: &Node,
        staged: &StagedRepo,
        _m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<Blocker>, PmError> {
        let state_local = node.path(&staged.state);
        let check = (|| {
            let lists = state_local.join("lists/partial");
            std::fs::create_dir_all(&lists).map_err(io("create", &lists))?;
            let src = format!("{}/check.sources", staged.state);
            // apt wants .asc for armored keys
            let key = format!("{}/pigsty.asc", staged.state);
            write_file(&node.path(&key), &staged.key, 0o644)?;
            write_file(
                &node.path(&src),
                source_text(&staged.node, &key).as_bytes(),
                0o644,
            )?;
            self.simulate(node, staged, &src, packages)
        })();
        let _ = std::fs::remove_dir_all(&state_local);
        check
    }

    fn configure(
        &self,
        node: &Node,
        _repo: &Path,
        repo_on_node: &str,
        _m: &Manifest,
        key: &[u8],
    ) -> Result<Vec<String>, PmError> {
        write_file(&node.path(KEY_FILE), key, 0o644)?;
        write_file(
            &node.path(SOURCE_FILE),
            source_text(repo_on_node, KEY_FILE).as_bytes(),
            0o644,
        )?;
        Ok(vec![format!("wrote {SOURCE_FILE} (signed-by {KEY_FILE})")])
    }

    fn install(
        &self,
        node: &Node,
        _repo_on_node: &str,
        _m: &Manifest,
        packages: &[String],
    ) -> Result<Vec<String>, PmError> {
        let mut args = only_source(SOURCE_FILE, None);
        args.push("update".into());
        apt_get(node, args)?;
        let mut done = vec!["apt-get update (local repo)".to_string()];
        if !packages.is_empty() {
            let mut args = only_source(SOURCE_FILE, None);
            args.extend(["install", "-y", "--no-install-recommends"].map(String::from));
            args.extend(packages.iter().cloned());
            apt_get(node, args)?;
            done.push(format!("installed {}", packages.join(" ")));
        }
        Ok(done)
    }

    fn advice_items(&self, blockers: &[Blocker]) -> Vec<&'static str> {
        let mut items = Vec::new();
        if blockers.iter().any(|b| b.held) {
            items.push(
                "release the held packages (`apt-mark unhold NAME`) so the bundle's versions can replace them",
            );
        }
        items.push(
            "build a bundle against this node's release: on a connected machine, \
             `pigsty-build --exclude-installed STATUS` with this node's /var/lib/dpkg/status, so the \
             bundle matches what is installed",
        );
        items
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_is_signed_never_trusted() {
        let s = source_text("/www/pigsty", KEY_FILE);
        assert_eq!(
            s,
            "Types: deb\nURIs: file:/www/pigsty\nSuites: ./\nSigned-By: /etc/apt/keyrings/pigsty.asc\n"
        );
        assert!(!s.contains("trusted"));
    }

    #[test]
    fn local_only_and_restore_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            "deb http://x.invalid/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list.d/a.sources"),
            "Types: deb\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list.d/pigsty-local.sources"),
            "ours",
        )
        .unwrap();
        let node = Node::detect(root).unwrap();
        let moved = Apt.local_only(&node).unwrap();
        assert_eq!(moved.len(), 2);
        assert!(!root.join("etc/apt/sources.list").exists());
        assert!(root.join("etc/apt/pigsty-backup/sources.list").exists());
        assert!(root
            .join("etc/apt/sources.list.d/pigsty-local.sources")
            .exists());
        assert!(Apt.other_sources(&node).is_empty());
        let restored = Apt.restore(&node).unwrap();
        assert_eq!(restored.len(), 2);
        assert!(root.join("etc/apt/sources.list").exists());
        assert!(root.join("etc/apt/sources.list.d/a.sources").exists());
        assert!(!root.join(BACKUP_DIR.trim_start_matches('/')).exists());
    }
}
