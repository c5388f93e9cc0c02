//! Pointing apt at the local repository: the signed deb822 source and its key, moving other
//! sources aside (`--local-only`) and back (`restore-repos`), and the apt runs the installer
//! makes: refresh, simulate (the drift check) and install, each restricted to our source.

use std::path::{Path, PathBuf};

use crate::node::{Node, NodeError};

/// Where our files go on the node.
pub const SOURCE_FILE: &str = "/etc/apt/sources.list.d/pigsty-local.sources";
pub const KEY_FILE: &str = "/etc/apt/keyrings/pigsty.asc";
pub const BACKUP_DIR: &str = "/etc/apt/pigsty-backup";

#[derive(Debug, thiserror::Error)]
pub enum AptError {
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

fn io<'a>(what: &'static str, path: &'a Path) -> impl Fn(std::io::Error) -> AptError + 'a {
    move |source| AptError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The deb822 source for a flat repository at `repo_dir` (a path on the node), checked with
/// the key at `key` (never `trusted=yes`).
pub fn source_text(repo_dir: &str, key: &str) -> String {
    format!("Types: deb\nURIs: file:{repo_dir}\nSuites: ./\nSigned-By: {key}\n")
}

/// Writes a file atomically (temp name, fsync, rename), creating its folder.
pub fn write_file(path: &Path, data: &[u8], mode: u32) -> Result<(), AptError> {
    pigsty_bundle::fsutil::write_atomic(path, data, mode).map_err(io("write", path))
}

/// Installs the key and the source file.
pub fn configure(node: &Node, repo_dir: &str, public_key: &[u8]) -> Result<(), AptError> {
    write_file(&node.path(KEY_FILE), public_key, 0o644)?;
    write_file(
        &node.path(SOURCE_FILE),
        source_text(repo_dir, KEY_FILE).as_bytes(),
        0o644,
    )
}

/// The other apt sources of the node (what `--local-only` moves aside).
pub fn other_sources(node: &Node) -> Vec<PathBuf> {
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

/// Moves every other source into the backup folder; returns what was moved.
pub fn local_only(node: &Node) -> Result<Vec<PathBuf>, AptError> {
    let backup = node.path(BACKUP_DIR);
    let mut moved = Vec::new();
    for p in other_sources(node) {
        let rel = p
            .strip_prefix(node.path("/etc/apt"))
            .unwrap_or(&p)
            .to_path_buf();
        let dest = backup.join(&rel);
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(io("create", d))?;
        }
        std::fs::rename(&p, &dest).map_err(io("move aside", &p))?;
        moved.push(p);
    }
    Ok(moved)
}

/// Puts back what `local_only` moved aside; returns what was restored.
pub fn restore(node: &Node) -> Result<Vec<PathBuf>, AptError> {
    let backup = node.path(BACKUP_DIR);
    let mut restored = Vec::new();
    for rel in ["sources.list", "sources.list.d"] {
        let src = backup.join(rel);
        if src.is_file() {
            let dest = node.path("/etc/apt").join(rel);
            std::fs::rename(&src, &dest).map_err(io("restore", &dest))?;
            restored.push(dest);
        } else if src.is_dir() {
            for e in std::fs::read_dir(&src).map_err(io("read", &src))?.flatten() {
                let dest = node.path("/etc/apt/sources.list.d").join(e.file_name());
                std::fs::rename(e.path(), &dest).map_err(io("restore", &dest))?;
                restored.push(dest);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&backup);
    Ok(restored)
}

/// apt options that make it read only the given source file (a path on the node) and keep
/// its lists apart, so that the node's own configuration is neither read nor changed.
pub fn only_source(source_file: &str, state_dir: Option<&str>) -> Vec<String> {
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

/// Runs apt-get with arguments; a non-zero exit is an error carrying its output.
pub fn apt_get(node: &Node, args: Vec<String>) -> Result<String, AptError> {
    let out = node.run("apt-get", &args)?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(AptError::Failed {
            cmd: format!("apt-get {}", args.join(" ")),
            code: out.status.code().unwrap_or(-1),
            output: text,
        })
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
        let moved = local_only(&node).unwrap();
        assert_eq!(moved.len(), 2);
        assert!(!root.join("etc/apt/sources.list").exists());
        assert!(root
            .join("etc/apt/sources.list.d/pigsty-local.sources")
            .exists());
        assert!(other_sources(&node).is_empty());
        let restored = restore(&node).unwrap();
        assert_eq!(restored.len(), 2);
        assert!(root.join("etc/apt/sources.list").exists());
        assert!(root.join("etc/apt/sources.list.d/a.sources").exists());
        assert!(!root.join(BACKUP_DIR.trim_start_matches('/')).exists());
    }
}
