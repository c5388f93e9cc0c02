//! apt: the signed source and its key, the drift check as `apt-get -s install` from the staged
//! repo, refresh and install restricted to our source, other sources aside and back, and the
//! check of the node's own apt configuration.
//!
//! The source is Pigsty's file, `/etc/apt/sources.list.d/pigsty-local.list`, in Pigsty's
//! one-line form with `signed-by=` our key: Pigsty's `bootstrap` and infra.yml write their
//! `[trusted=yes]` line for the same repo into the same file, so the two never sit side by
//! side (apt refuses every source then: `Conflicting values set for option Trusted`). The key
//! is also in `/etc/apt/trusted.gpg.d/`, where apt takes it for every source that names no
//! key: Pigsty's lines (`deb [trusted=yes] http://ADMIN/pigsty ./` from node.yml, or its
//! `bootstrap` line) then check the repo's signature with it instead of warning `NO_PUBKEY`.
//! The trade-off: apt trusts the bundle key for any source without `signed-by`, not only
//! ours; the key signs nothing but bundles, and Pigsty's lines, which name no key, leave no
//! narrower place for it.

use std::path::{Path, PathBuf};

use pigsty_bundle::Manifest;

use super::apt_output::{held_blockers, parse_held_changes, parse_unmet};
use super::{checked, io, write_file, Blocker, PackageManager, PmError, StagedRepo};
use crate::node::Node;

/// Where our files go on the node.
pub const SOURCE_FILE: &str = "/etc/apt/sources.list.d/pigsty-local.list";
pub const KEY_FILE: &str = "/etc/apt/keyrings/pigsty.asc";
/// The same key where apt takes it for every source that names none (Pigsty's lines).
pub const TRUSTED_KEY_FILE: &str = "/etc/apt/trusted.gpg.d/pigsty.asc";
pub const BACKUP_DIR: &str = "/etc/apt/pigsty-backup";
/// The source file of older pigsty-install releases, removed when the new one is written.
pub const OLD_SOURCE_FILE: &str = "/etc/apt/sources.list.d/pigsty-local.sources";
/// Where other source files that named our repo go (not restored by `restore-repos`: back
/// beside ours, apt would refuse both).
pub const REPLACED_DIR: &str = "/etc/apt/pigsty-replaced";

/// apt, on Debian and Ubuntu nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;

/// The deb822 source for a flat repository at `repo_dir` (a path on the node), checked with
/// the key at `key` (never `trusted=yes`); the drift check's private source.
pub fn source_text(repo_dir: &str, key: &str) -> String {
    format!("Types: deb\nURIs: file:{repo_dir}\nSuites: ./\nSigned-By: {key}\n")
}

/// The node's source for the repo at `repo_dir`: Pigsty's one-line form (`file:DIR/ ./`, as
/// its `bootstrap` writes it), checked with the key at `key` (never `trusted=yes`).
pub fn source_line(repo_dir: &str, key: &str) -> String {
    format!(
        "deb [signed-by={key}] file:{}/ ./\n",
        repo_dir.trim_end_matches('/')
    )
}

/// The `deb` entries of an apt source file as (URI, suite): one-line (`.list`) or deb822
/// (`.sources`) by the file's name.
fn entries(name: &str, text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if name.ends_with(".sources") {
        for para in text.split("\n\n") {
            let field = |key: &str| -> Vec<String> {
                para.lines()
                    .filter_map(|l| l.split_once(':'))
                    .filter(|(k, _)| k.trim().eq_ignore_ascii_case(key))
                    .flat_map(|(_, v)| v.split_whitespace().map(str::to_string))
                    .collect()
            };
            if !field("Types").iter().any(|t| t == "deb") {
                continue;
            }
            for uri in field("URIs") {
                for suite in field("Suites") {
                    out.push((uri.clone(), suite));
                }
            }
        }
        return out;
    }
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line.strip_prefix("deb ") else {
            continue;
        };
        let rest = rest.trim_start();
        let rest = match rest.strip_prefix('[') {
            Some(opts) => opts.split_once(']').map_or("", |(_, r)| r),
            None => rest,
        };
        let mut words = rest.split_whitespace();
        if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
            out.push((uri.to_string(), suite.to_string()));
        }
    }
    out
}

/// The node's source files that hold the source apt's `Conflicting values ... regarding
/// source URI SUITE` lines name.
fn conflicting_files(node: &Node, problems: &[&str]) -> Vec<String> {
    let norm = |u: &str| u.trim_end_matches('/').replace("file:///", "file:/");
    let named: Vec<(String, String)> = problems
        .iter()
        .filter_map(|l| l.split_once("regarding source "))
        .filter_map(|(_, rest)| {
            let mut w = rest.split_whitespace();
            Some((norm(w.next()?), w.next()?.to_string()))
        })
        .collect();
    let mut files = Apt.other_sources(node);
    files.push(node.path(SOURCE_FILE));
    files
        .into_iter()
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let text = std::fs::read_to_string(p).unwrap_or_default();
            entries(name, &text)
                .iter()
                .any(|(u, su)| named.iter().any(|(nu, ns)| *nu == norm(u) && ns == su))
        })
        .map(|p| {
            format!("/{}", p.strip_prefix(&node.root).unwrap_or(&p).display()).replace("//", "/")
        })
        .collect()
}

/// Whether an entry names the local repo at `repo_dir`: `file:DIR` or `file://DIR`, with or
/// without the last slash, suite `./`.
fn names_repo(entry: &(String, String), repo_dir: &str) -> bool {
    let (uri, suite) = entry;
    let path = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("file:"));
    path.is_some_and(|p| p.trim_end_matches('/') == repo_dir.trim_end_matches('/'))
        && suite.trim_end_matches('/') == "."
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

    fn written(&self) -> Vec<&'static str> {
        vec![SOURCE_FILE, KEY_FILE, TRUSTED_KEY_FILE]
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
                    && node.path(SOURCE_FILE) != p
                    && node.path(OLD_SOURCE_FILE) != p
                {
                    out.push(p);
                }
            }
        }
        out
    }

    fn would_write(&self, _m: &Manifest) -> String {
        format!("would write {KEY_FILE}, {TRUSTED_KEY_FILE} and {SOURCE_FILE}")
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
        let mut done = Vec::new();
        // Other files that point apt at this repo: beside ours, apt refuses every source.
        let same_repo: Vec<PathBuf> = self
            .other_sources(node)
            .into_iter()
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let text = std::fs::read_to_string(p).unwrap_or_default();
                let found = entries(name, &text);
                !found.is_empty() && found.iter().all(|e| names_repo(e, repo_on_node))
            })
            .collect();
        for p in super::move_aside(node, same_repo, "/etc/apt", REPLACED_DIR)? {
            done.push(format!(
                "moved {} to {REPLACED_DIR}: it named the local repo too (apt refuses two sources for one repo)",
                p.display()
            ));
        }
        write_file(&node.path(KEY_FILE), key, 0o644)?;
        write_file(&node.path(TRUSTED_KEY_FILE), key, 0o644)?;
        write_file(
            &node.path(SOURCE_FILE),
            source_line(repo_on_node, KEY_FILE).as_bytes(),
            0o644,
        )?;
        let old = node.path(OLD_SOURCE_FILE);
        if old.exists() {
            std::fs::remove_file(&old).map_err(io("remove", &old))?;
            done.push(format!(
                "removed {OLD_SOURCE_FILE} (an older pigsty-install's)"
            ));
        }
        done.push(format!(
            "wrote {SOURCE_FILE} (signed-by {KEY_FILE}; the key also in {TRUSTED_KEY_FILE}, for Pigsty's own lines)"
        ));
        Ok(done)
    }

    /// `apt-cache policy` with the node's own configuration (no network): it reads every
    /// source as the node's apt does, and refuses them all on `Conflicting values`.
    fn check_sources(
        &self,
        node: &Node,
        repo_on_node: Option<&str>,
    ) -> Result<Vec<String>, PmError> {
        let out = node.run("apt-cache", &["policy".to_string()])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let problems: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("E:") || l.contains("Conflicting values"))
            .collect();
        if !out.status.success() || !problems.is_empty() {
            let files = conflicting_files(node, &problems);
            let problem = if files.is_empty() {
                "apt refuses the node's sources".to_string()
            } else {
                format!(
                    "apt refuses the node's sources: {} name one repo with other options; keep one entry for it (ours is {SOURCE_FILE}, the name Pigsty gives it)",
                    files.join(" and ")
                )
            };
            return Err(PmError::NodeSources {
                manager: "apt",
                problem,
                output: if problems.is_empty() {
                    text.clone()
                } else {
                    problems.join("\n")
                },
            });
        }
        if let Some(repo) = repo_on_node {
            let uri = format!("file:{}", repo.trim_end_matches('/'));
            if !text.lines().any(|l| l.contains(&uri)) {
                return Err(PmError::NodeSources {
                    manager: "apt",
                    problem: format!("the node's apt does not read the local repo ({uri})"),
                    output: text,
                });
            }
        }
        let mut done = vec!["the node's own apt reads its sources (apt-cache policy)".to_string()];
        done.extend(
            text.lines()
                .filter(|l| l.starts_with("W:"))
                .map(|l| format!("the node's apt says: {l}")),
        );
        Ok(done)
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
        let line = source_line("/www/pigsty", KEY_FILE);
        assert_eq!(
            line,
            "deb [signed-by=/etc/apt/keyrings/pigsty.asc] file:/www/pigsty/ ./\n"
        );
        assert!(!line.contains("trusted"));
        assert!(SOURCE_FILE.ends_with("/pigsty-local.list"), "Pigsty's name");
    }

    #[test]
    fn entries_naming_the_repo_in_both_formats() {
        let repo = "/www/pigsty";
        let list =
            "# Pigsty\ndeb [trusted=yes] file:/www/pigsty/ ./\ndeb-src file:/www/pigsty/ ./\n";
        let e = entries("pigsty-local.list", list);
        assert_eq!(e, [("file:/www/pigsty/".to_string(), "./".to_string())]);
        assert!(names_repo(&e[0], repo));
        let e = entries("x.list", "deb file:///www/pigsty ./ # plain\n");
        assert!(names_repo(&e[0], repo));
        let other = entries("x.list", "deb [trusted=yes] http://10.10.10.10/pigsty ./\n");
        assert!(
            !names_repo(&other[0], repo),
            "another URI is another source for apt"
        );
        let deb822 = "Types: deb\nURIs: file:/www/pigsty\nSuites: ./\nSigned-By: /k.asc\n\nTypes: deb-src\nURIs: file:/x\nSuites: ./\n";
        let e = entries("pigsty-local.sources", deb822);
        assert_eq!(e.len(), 1);
        assert!(names_repo(&e[0], repo));
        assert!(!names_repo(
            &("file:/www/pigsty2".into(), "./".into()),
            repo
        ));
        assert!(!names_repo(
            &("file:/www/pigsty".into(), "bookworm".into()),
            repo
        ));
    }

    #[test]
    fn apts_conflict_is_traced_to_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let d = root.join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        std::fs::write(
            d.join("pigsty-local.list"),
            source_line("/www/pigsty", KEY_FILE),
        )
        .unwrap();
        std::fs::write(
            root.join("etc/apt/sources.list"),
            "deb http://x.invalid/debian bookworm main\ndeb [trusted=yes] file:/www/pigsty ./\n",
        )
        .unwrap();
        std::fs::write(
            d.join("other.list"),
            "deb [trusted=yes] http://10.10.10.10/pigsty ./\n",
        )
        .unwrap();
        let node = Node::detect(root).unwrap();
        let line =
            "E: Conflicting values set for option Trusted regarding source file:/www/pigsty/ ./";
        assert_eq!(
            conflicting_files(&node, &[line, "E: The list of sources could not be read."]),
            [
                "/etc/apt/sources.list",
                "/etc/apt/sources.list.d/pigsty-local.list"
            ]
        );
    }

    #[test]
    fn configure_replaces_pigstys_line_and_the_old_file_and_moves_other_copies_aside() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let d = root.join("etc/apt/sources.list.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            root.join("etc/os-release"),
            "ID=debian\nVERSION_ID=\"12\"\n",
        )
        .unwrap();
        // Pigsty's bootstrap line, our older deb822 file, a user's copy, a mixed file
        std::fs::write(
            d.join("pigsty-local.list"),
            "deb [trusted=yes] file:/www/pigsty/ ./\n",
        )
        .unwrap();
        std::fs::write(
            d.join("pigsty-local.sources"),
            source_text("/www/pigsty", KEY_FILE),
        )
        .unwrap();
        std::fs::write(
            d.join("local.list"),
            "deb [trusted=yes] file:/www/pigsty/ ./\n",
        )
        .unwrap();
        let mixed = "deb http://x.invalid/debian bookworm main\ndeb file:/www/pigsty/ ./\n";
        std::fs::write(d.join("mixed.list"), mixed).unwrap();
        let node = Node::detect(root).unwrap();
        let m = Manifest {
            schema: pigsty_bundle::manifest::SCHEMA,
            target: pigsty_bundle::Target::new(
                pigsty_bundle::Os::D12,
                pigsty_bundle::Arch::X86_64,
                15,
            ),
            version: "1".into(),
            builder: "t".into(),
            catalog: "t".into(),
            created: 0,
            files: vec![],
            packages: vec![],
            bootstrap: vec![],
            handoff: None,
            key_fingerprint: None,
            family: pigsty_bundle::Family::Deb,
            package_keys: Vec::new(),
            base: None,
        };
        let done = Apt
            .configure(&node, root, "/www/pigsty", &m, b"KEY")
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(d.join("pigsty-local.list")).unwrap(),
            source_line("/www/pigsty", KEY_FILE)
        );
        assert!(!d.join("pigsty-local.sources").exists());
        assert!(!d.join("local.list").exists());
        assert!(root
            .join("etc/apt/pigsty-replaced/sources.list.d/local.list")
            .exists());
        assert_eq!(
            std::fs::read_to_string(d.join("mixed.list")).unwrap(),
            mixed,
            "left as it is"
        );
        assert_eq!(
            std::fs::read(root.join("etc/apt/trusted.gpg.d/pigsty.asc")).unwrap(),
            b"KEY"
        );
        assert_eq!(
            std::fs::read(root.join("etc/apt/keyrings/pigsty.asc")).unwrap(),
            b"KEY"
        );
        assert!(done.iter().any(|l| l.contains("local.list")), "{done:?}");
        // restore-repos does not bring the copy back
        assert!(Apt.restore(&node).unwrap().is_empty());
        assert!(!d.join("local.list").exists());
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
            root.join("etc/apt/sources.list.d/pigsty-local.list"),
            "ours",
        )
        .unwrap();
        let node = Node::detect(root).unwrap();
        let moved = Apt.local_only(&node).unwrap();
        assert_eq!(moved.len(), 2);
        assert!(!root.join("etc/apt/sources.list").exists());
        assert!(root.join("etc/apt/pigsty-backup/sources.list").exists());
        assert!(root
            .join("etc/apt/sources.list.d/pigsty-local.list")
            .exists());
        assert!(Apt.other_sources(&node).is_empty());
        let restored = Apt.restore(&node).unwrap();
        assert_eq!(restored.len(), 2);
        assert!(root.join("etc/apt/sources.list").exists());
        assert!(root.join("etc/apt/sources.list.d/a.sources").exists());
        assert!(!root.join(BACKUP_DIR.trim_start_matches('/')).exists());
    }
}
