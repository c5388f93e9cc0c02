//! The hand-off to Pigsty itself (`--pigsty`): Pigsty's own source tree unpacked on the node
//! (from the bundle, where `pigsty-build --include` put it, or from a tarball or folder the
//! user names), its `./configure -i IP -n -v PG` run there, the offline vars file written
//! from the installed bundle ([`vars`]), then the playbooks the user names, each as
//! `ansible-playbook ARGS -e @pigsty-offline.yml` in Pigsty's folder, inside the node (in the
//! chroot under `--root`), unchanged.
//!
//! The tree is unpacked and configured in a staging folder beside its place and put there
//! when `configure` succeeded: a folder at the place is always a configured one. An existing
//! folder is used as it is (a `pigsty.yml` there is the user's, never overwritten; without
//! one, `configure` runs in it). The offline vars file is written again on every run, for
//! the bundle installed now.

mod vars;

use std::collections::BTreeSet;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use pigsty_bundle::fs::{self as bfs, Staging};
use pigsty_bundle::Manifest;
use serde::Serialize;
use serde_yaml_ng::Value;

use crate::node::{Node, NodeError};

pub use vars::FILE_NAME as OFFLINE_VARS;

/// Where Pigsty's source comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PigstySource {
    /// The bundle's `include/pigsty*.tgz` (`pigsty-build --include`).
    Bundle,
    /// A tarball (`.tgz`, `.tar.gz`) or a folder on this machine.
    Path(PathBuf),
}

/// What the Pigsty hand-off is asked to do.
#[derive(Debug, Clone)]
pub struct PigstyOptions {
    pub source: PigstySource,
    /// Pigsty's folder on the node (`/root/pigsty`).
    pub dir: String,
    /// The node's address, for `./configure -i` (Pigsty's `admin_ip`).
    pub ip: String,
    /// What follows `ansible-playbook`, a run each, in order.
    pub playbooks: Vec<String>,
}

/// One playbook run.
#[derive(Debug, Clone, Serialize)]
pub struct PlaybookRun {
    pub args: String,
    pub exit: i32,
}

/// What the Pigsty hand-off did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PigstyReport {
    /// Pigsty's folder on the node.
    pub dir: String,
    /// Where the tree was unpacked from, when it was in this run.
    pub unpacked_from: Option<String>,
    /// `./configure` ran in this run.
    pub configured: bool,
    /// The offline vars file, as the node sees it.
    pub vars_file: String,
    /// What the offline vars file took out of Pigsty's package lists, a line each.
    pub removed: Vec<String>,
    pub playbooks: Vec<PlaybookRun>,
    /// The exit status of the hand-off: 0, or the first failing step's.
    pub exit: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum PigstyError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("cannot {what} {}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the bundle holds no Pigsty source (include/pigsty*.tgz): build it with `pigsty-build --include pigsty-vX.Y.Z.tgz`, or pass --pigsty FILE.tgz|DIR")]
    NotInBundle,
    #[error("the bundle holds several Pigsty sources ({0}): pass --pigsty with the one to use (e.g. {1})")]
    SeveralInBundle(String, String),
    #[error(
        "the bundle's {0} is not the file its signed manifest lists; install the bundle again"
    )]
    Changed(PathBuf),
    #[error("{src} is not a Pigsty source: {reason}")]
    NotPigsty { src: String, reason: String },
    #[error("cannot unpack {src}")]
    Unpack {
        src: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ansible-playbook is not on the node: the Pigsty hand-off needs the bootstrap set (do not pass --no-bootstrap, or install ansible on the node)")]
    NoAnsible,
    #[error("--ip `{0}`: not an IP address (the node's, for Pigsty's ./configure -i)")]
    BadIp(String),
    #[error(
        "--pigsty-dir `{0}`: an absolute path on the node of letters, digits and `/._-`, not `/`"
    )]
    BadDir(String),
    #[error("{} is not valid YAML", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
}

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> PigstyError + 'a {
    move |source| PigstyError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The Pigsty hand-off of one install.
pub struct HandOff<'a> {
    pub node: &'a Node,
    pub opts: &'a PigstyOptions,
    /// The installed repo, as seen from here, and its manifest.
    pub repo: &'a Path,
    pub manifest: &'a Manifest,
    /// Set for every command (`PIGSTY_REPO`, `PIGSTY_TARGET`, `PIGSTY_BUNDLE`).
    pub env: Vec<(&'static str, String)>,
}

/// Prefix of the staging folders beside Pigsty's folder.
const STAGING_PREFIX: &str = ".pigsty-install-";

impl HandOff<'_> {
    /// Unpacks and configures Pigsty where needed, writes the offline vars file, runs the
    /// playbooks; stops at the first step that fails, with its exit status in the report.
    pub fn run(&self, log: &mut dyn FnMut(&str)) -> Result<PigstyReport, PigstyError> {
        let opts = self.opts;
        if opts.ip.parse::<std::net::IpAddr>().is_err() {
            return Err(PigstyError::BadIp(opts.ip.clone()));
        }
        let safe = |c: char| c.is_ascii_alphanumeric() || "/._-".contains(c);
        if !opts.dir.starts_with('/')
            || opts.dir.trim_end_matches('/').is_empty()
            || !opts.dir.chars().all(safe)
        {
            return Err(PigstyError::BadDir(opts.dir.clone()));
        }
        if !self.node.path("/usr/bin/ansible-playbook").exists() {
            return Err(PigstyError::NoAnsible);
        }
        let dir = opts.dir.trim_end_matches('/').to_string();
        let local = self.node.path(&dir);
        let mut report = PigstyReport {
            dir: dir.clone(),
            vars_file: format!("{dir}/{OFFLINE_VARS}"),
            ..PigstyReport::default()
        };
        if !local.exists() {
            let (src, shown) = self.source()?;
            log(&format!("unpacking Pigsty from {shown} into {dir}"));
            report.unpacked_from = Some(shown);
            report.exit = self.unpack_and_configure(&src, &local, log)?;
            report.configured = true;
        } else if !local.join("pigsty.yml").exists() {
            report.exit = self.configure(&dir, log)?;
            report.configured = true;
        } else {
            log(&format!(
                "Pigsty at {dir} is configured already: its pigsty.yml is used as it is"
            ));
        }
        if report.exit != 0 {
            return Ok(report);
        }
        let written = self.write_vars(&local)?;
        log(&format!(
            "wrote {}: node_repo_modules: local, Pigsty's package lists narrowed to the bundle",
            report.vars_file
        ));
        for note in &written.notes {
            log(&format!("note: {note}"));
        }
        for r in &written.removed {
            log(&format!("  removed {r}"));
        }
        report.removed = written.removed.iter().map(ToString::to_string).collect();
        for args in &opts.playbooks {
            let line = format!("ansible-playbook {args} -e @{OFFLINE_VARS}");
            log(&format!("handing off to Pigsty: {line} (in {dir})"));
            let script = format!("cd \"$1\" && exec {line}");
            let exit = self.in_node(&script, std::slice::from_ref(&dir))?;
            report.playbooks.push(PlaybookRun {
                args: args.clone(),
                exit,
            });
            if exit != 0 {
                log(&format!(
                    "`{line}` failed (exit {exit}); the next playbooks were not run"
                ));
                report.exit = exit;
                return Ok(report);
            }
        }
        Ok(report)
    }

    /// The tarball or folder to unpack, and how to name it.
    fn source(&self) -> Result<(PathBuf, String), PigstyError> {
        let rel = match &self.opts.source {
            PigstySource::Path(p) => return Ok((p.clone(), p.display().to_string())),
            PigstySource::Bundle => {
                let found: Vec<&pigsty_bundle::manifest::FileEntry> = self
                    .manifest
                    .files
                    .iter()
                    .filter(|f| {
                        let name = f.path.strip_prefix("include/").unwrap_or("");
                        name.starts_with("pigsty")
                            && (name.ends_with(".tgz") || name.ends_with(".tar.gz"))
                    })
                    .collect();
                match found.as_slice() {
                    [] => return Err(PigstyError::NotInBundle),
                    [one] => *one,
                    [first, ..] => {
                        let names: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
                        let path = self.repo.join(&first.path);
                        return Err(PigstyError::SeveralInBundle(
                            names.join(", "),
                            path.display().to_string(),
                        ));
                    }
                }
            }
        };
        // Checked again against the signed manifest: the file sat on the node's disk since.
        let path = self.repo.join(&rel.path);
        let (size, sha256) = bfs::hash_file(&path).map_err(io("read", &path))?;
        if size != rel.size || sha256 != rel.sha256 {
            return Err(PigstyError::Changed(path));
        }
        let shown = format!("the bundle ({})", rel.path);
        Ok((path, shown))
    }

    /// Unpacks `src` into a staging folder beside `local`, runs `configure` there, and puts
    /// the tree at `local` when it succeeded. Returns configure's exit status.
    fn unpack_and_configure(
        &self,
        src: &Path,
        local: &Path,
        log: &mut dyn FnMut(&str),
    ) -> Result<i32, PigstyError> {
        let parent = bfs::parent_dir(local);
        std::fs::create_dir_all(&parent).map_err(io("create", &parent))?;
        for stale in bfs::sweep_stale(&parent, &[STAGING_PREFIX]).map_err(io("clean", &parent))? {
            log(&format!(
                "removed {}, left by a hand-off that was stopped",
                stale.display()
            ));
        }
        let staging = Staging::new_in(&parent, STAGING_PREFIX).map_err(io("create in", &parent))?;
        let tree = unpack(src, &staging.path().join("src"))?;
        let exit = self.configure(&on_node(self.node, &tree), log)?;
        if exit == 0 {
            std::fs::rename(&tree, local).map_err(io("put in place", local))?;
        }
        Ok(exit)
    }

    /// `./configure -i IP -n -v PG` in Pigsty's folder `dir` (a node path).
    fn configure(&self, dir: &str, log: &mut dyn FnMut(&str)) -> Result<i32, PigstyError> {
        let pg = self.manifest.target.pg.to_string();
        log(&format!(
            "handing off to Pigsty: ./configure -i {} -n -v {pg}",
            self.opts.ip
        ));
        let script = "cd \"$1\" && shift && exec ./configure \"$@\"";
        let args = [dir, "-i", &self.opts.ip, "-n", "-v", &pg].map(String::from);
        let exit = self.in_node(script, &args)?;
        if exit != 0 {
            log(&format!(
                "./configure failed (exit {exit}); Pigsty was not put in place"
            ));
        }
        Ok(exit)
    }

    /// Runs `sh -c SCRIPT sh ARGS...` on the node with the hand-off's environment; its output
    /// goes to stderr (stdout stays for `--json`). Returns the exit status.
    fn in_node(&self, script: &str, args: &[String]) -> Result<i32, PigstyError> {
        let mut all = vec!["-c".to_string(), script.to_string(), "sh".to_string()];
        all.extend(args.iter().cloned());
        let mut c = self.node.command("sh", &all);
        c.env("HOME", "/root");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Ok(fd) = std::io::stderr().as_fd().try_clone_to_owned() {
            c.stdout(Stdio::from(fd));
        }
        let status = c.status().map_err(|source| NodeError::Spawn {
            cmd: format!("sh -c '{script}'"),
            source,
        })?;
        Ok(status.code().unwrap_or(1))
    }

    /// Writes `pigsty-offline.yml` into Pigsty's folder (`local`, as seen from here).
    fn write_vars(&self, local: &Path) -> Result<vars::OfflineVars, PigstyError> {
        let m = self.manifest;
        let t = m.target;
        let yaml = |rel: &str| -> Result<Value, PigstyError> {
            let path = local.join(rel);
            let text = std::fs::read_to_string(&path).map_err(io("read", &path))?;
            serde_yaml_ng::from_str(&text).map_err(|source| PigstyError::Yaml { path, source })
        };
        let inventory = yaml("pigsty.yml")?;
        let os_vars = yaml(&format!(
            "roles/node_id/vars/{}.{}.yml",
            t.os.code(),
            t.arch.as_str()
        ))?;
        let node_defaults = yaml("roles/node/defaults/main.yml")?;
        let pgsql_defaults = yaml("roles/pgsql/defaults/main.yml")?;
        let have: BTreeSet<String> = m.packages.iter().map(|p| p.name.clone()).collect();
        let written = vars::offline_vars(&vars::Inputs {
            inventory: &inventory,
            os_vars: &os_vars,
            node_defaults: &node_defaults,
            pgsql_defaults: &pgsql_defaults,
            host: &self.opts.ip,
            have: &have,
            extensions: &bundle_extensions(m),
            pg: t.pg,
            about: format!(
                "bundle {} ({}.{}, PG {})",
                m.version,
                t.os.code(),
                t.arch.as_str(),
                t.pg
            ),
        });
        let path = local.join(OFFLINE_VARS);
        bfs::write_atomic(&path, written.text.as_bytes(), 0o644).map_err(io("write", &path))?;
        Ok(written)
    }
}

/// The extensions the bundle was built with (`ext NAME` among its packages' reasons), each
/// with the names of its packages, in the order first seen.
fn bundle_extensions(m: &Manifest) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for p in &m.packages {
        for label in p.wanted_by.iter().flat_map(|w| w.split(", ")) {
            let Some(rest) = label.strip_prefix("ext ") else {
                continue;
            };
            let name = rest.split(" (").next().unwrap_or(rest).to_string();
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, pkgs)) => {
                    if !pkgs.contains(&p.name) {
                        pkgs.push(p.name.clone());
                    }
                }
                None => out.push((name, vec![p.name.clone()])),
            }
        }
    }
    out
}

/// A path under the node's root as the node sees it.
fn on_node(node: &Node, local: &Path) -> String {
    let rel = local.strip_prefix(&node.root).unwrap_or(local);
    format!("/{}", rel.display()).replace("//", "/")
}

/// Unpacks a tarball (`.tgz`, `.tar.gz`) or copies a folder to `dest` (which must not exist);
/// returns Pigsty's tree in it: `dest` when it has `configure` at its top, else its one
/// folder that has. The tar reader refuses entries that would land outside `dest` (`..`,
/// links leading out); owners are not restored.
fn unpack(src: &Path, dest: &Path) -> Result<PathBuf, PigstyError> {
    let shown = src.display().to_string();
    let not_pigsty = |reason: &str| PigstyError::NotPigsty {
        src: shown.clone(),
        reason: reason.to_string(),
    };
    let meta = std::fs::metadata(src).map_err(io("read", src))?;
    if meta.is_dir() {
        // cp -a: links, modes and times as they are, no code of ours to get them wrong
        let status = Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(dest)
            .status()
            .map_err(|source| PigstyError::Unpack {
                src: shown.clone(),
                source,
            })?;
        if !status.success() {
            return Err(PigstyError::Unpack {
                src: shown.clone(),
                source: std::io::Error::other(format!("cp -a exited with {status}")),
            });
        }
    } else if shown.ends_with(".tgz") || shown.ends_with(".tar.gz") {
        let file = std::fs::File::open(src).map_err(io("read", src))?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
        archive.set_preserve_ownerships(false);
        std::fs::create_dir(dest).map_err(io("create", dest))?;
        archive.unpack(dest).map_err(|source| PigstyError::Unpack {
            src: shown.clone(),
            source,
        })?;
    } else {
        return Err(not_pigsty("neither a folder nor a .tgz / .tar.gz tarball"));
    }
    if dest.join("configure").is_file() {
        return Ok(dest.to_path_buf());
    }
    let tops: Vec<PathBuf> = std::fs::read_dir(dest)
        .map_err(io("read", dest))?
        .flatten()
        .map(|e| e.path())
        .collect();
    match tops.as_slice() {
        [one] if one.join("configure").is_file() => Ok(one.clone()),
        _ => Err(not_pigsty(
            "no `configure` at its top or in its one top folder",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::manifest::PackageEntry;

    fn tgz(entries: &[(&str, &[u8], u32)]) -> Vec<u8> {
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data, mode) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(*mode);
            h.set_cksum();
            b.append_data(&mut h, path, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn unpack_finds_the_tree_and_refuses_what_is_not_pigsty() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("pigsty-v4.5.0.tgz");
        std::fs::write(
            &src,
            tgz(&[
                ("pigsty/configure", b"#!/bin/sh\n", 0o755),
                ("pigsty/node.yml", b"---\n", 0o644),
            ]),
        )
        .unwrap();
        let tree = unpack(&src, &dir.path().join("a")).unwrap();
        assert_eq!(tree, dir.path().join("a/pigsty"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tree.join("configure"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "configure stays executable");
        // a folder is copied
        let tree = unpack(&dir.path().join("a/pigsty"), &dir.path().join("b")).unwrap();
        assert_eq!(tree, dir.path().join("b"));
        assert!(tree.join("node.yml").is_file());
        // not Pigsty: named, with why
        let other = dir.path().join("other.tgz");
        std::fs::write(&other, tgz(&[("x/readme", b"hi", 0o644)])).unwrap();
        let err = unpack(&other, &dir.path().join("c"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("other.tgz is not a Pigsty source"), "{err}");
        let err = unpack(&dir.path().join("a/pigsty/node.yml"), &dir.path().join("d"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("neither a folder nor"), "{err}");
    }

    #[test]
    fn a_tarball_cannot_write_outside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        // `..` in a path, written raw (the tar builder refuses to make one)
        let mut h = tar::Header::new_gnu();
        h.as_gnu_mut().unwrap().name[..22].copy_from_slice(b"pigsty/../../escaped.t");
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        b.append(&h, &b"x"[..]).unwrap();
        let src = dir.path().join("evil.tgz");
        std::fs::write(&src, b.into_inner().unwrap().finish().unwrap()).unwrap();
        let dest = dir.path().join("in/src");
        std::fs::create_dir(dir.path().join("in")).unwrap();
        let _ = unpack(&src, &dest);
        assert!(!dir.path().join("escaped.t").exists());
        assert!(!dir.path().join("in/escaped.t").exists());
        // a link leading out, then a file through it
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "pigsty/out", &outside).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "pigsty/out/escaped", &b"x"[..])
            .unwrap();
        let src = dir.path().join("link.tgz");
        std::fs::write(&src, b.into_inner().unwrap().finish().unwrap()).unwrap();
        let err = unpack(&src, &dir.path().join("in/link"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot unpack"), "{err}");
        assert!(!outside.join("escaped").exists());
    }

    #[test]
    fn the_bundle_extensions_come_from_the_reasons() {
        let pkg = |name: &str, why: &[&str]| PackageEntry {
            name: name.into(),
            version: "1".into(),
            arch: "amd64".into(),
            file: format!("{name}.deb"),
            repo: "base".into(),
            wanted_by: why.iter().map(|s| s.to_string()).collect(),
        };
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
            packages: vec![
                pkg("postgresql-15", &["alias pgsql-main", "dependency of x"]),
                pkg("postgresql-15-repack", &["alias pgsql-main, ext pg_repack"]),
                pkg(
                    "postgresql-15-postgis-3",
                    &["ext postgis (required by pgrouting)"],
                ),
                pkg("postgresql-15-cron", &["ext pg_cron"]),
            ],
            bootstrap: vec![],
            handoff: None,
            key_fingerprint: None,
            family: pigsty_bundle::Family::Deb,
            package_keys: Vec::new(),
            base: None,
        };
        assert_eq!(
            bundle_extensions(&m),
            [
                (
                    "pg_repack".to_string(),
                    vec!["postgresql-15-repack".to_string()]
                ),
                (
                    "postgis".to_string(),
                    vec!["postgresql-15-postgis-3".to_string()]
                ),
                (
                    "pg_cron".to_string(),
                    vec!["postgresql-15-cron".to_string()]
                ),
            ]
        );
    }
}
