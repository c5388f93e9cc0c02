//! A repo laid out on disk (an installed `<dest>/pigsty`) judged by the same [`Verifier`] as
//! the bundle it came from: every folder, file and link under it is read as if it were an
//! archive entry, so that what an archive may not hold (unlisted files, folders no listed
//! file needs, links, setuid bits, files with other bytes) is found in the tree too, and a
//! listed file that is gone is missing. Nothing is followed through a link.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::read::{feed, SignedManifest};
use super::verify::{Discard, Entry, EntryType, Sink, Verifier};
use super::{escape, BundleError, TOP};

const BUF_SIZE: usize = 1 << 20;

/// What one path of the tree is, as an archive entry named `pigsty/<rel>`.
fn entry_of(path: &Path, rel: &[u8], meta: &fs::Metadata) -> Entry {
    let kind = meta.file_type();
    let entry_type = if kind.is_symlink() {
        EntryType::Symlink
    } else if kind.is_dir() {
        EntryType::Dir
    } else if kind.is_file() {
        EntryType::File
    } else {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_char_device() {
            EntryType::CharDevice
        } else if kind.is_block_device() {
            EntryType::BlockDevice
        } else if kind.is_fifo() {
            EntryType::Fifo
        } else {
            EntryType::Other("socket".into())
        }
    };
    let link = match entry_type {
        EntryType::Symlink => fs::read_link(path)
            .map(|l| escape(l.as_os_str().as_encoded_bytes()))
            .unwrap_or_default(),
        _ => String::new(),
    };
    let mut name = format!("{TOP}/").into_bytes();
    name.extend_from_slice(rel);
    if kind.is_dir() && !rel.is_empty() {
        name.push(b'/');
    }
    Entry {
        path: name,
        size: if entry_type == EntryType::File {
            meta.len()
        } else {
            0
        },
        entry_type,
        mode: Ok(meta.mode() & 0o7777),
        mtime: Ok(u64::try_from(meta.mtime()).unwrap_or(0)),
        link,
    }
}

/// Walks the folder `repo` (the repo's top folder, `<dest>/pigsty`) as if it were the archive
/// of a bundle: the top folder, then every path under it, sorted, parents before children.
/// Problems are left in `v`; the error is for what is not the tree's fault (a sink that fails).
pub fn walk_tree(repo: &Path, v: &mut Verifier, sink: &mut dyn Sink) -> Result<(), BundleError> {
    let read_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Read { path, source }
    };
    let meta = fs::symlink_metadata(repo).map_err(read_err(repo))?;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut stack: Vec<(PathBuf, Vec<u8>, fs::Metadata)> =
        vec![(repo.to_path_buf(), Vec::new(), meta)];
    while let Some((path, rel, meta)) = stack.pop() {
        if v.stopped() || (v.has_problems() && !sink.keep_going()) {
            return Ok(());
        }
        let info = entry_of(&path, &rel, &meta);
        let mut data: Box<dyn io::Read> = Box::new(io::empty());
        if meta.file_type().is_file() {
            // Gone or replaced since it was listed: judged as an empty file.
            if let Ok(f) = open_no_follow(&path) {
                data = Box::new(f);
            }
        }
        if !feed(v, sink, &info, &mut data, &mut buf)? {
            return Ok(());
        }
        if !meta.file_type().is_dir() {
            continue;
        }
        let mut children = Vec::new();
        for item in fs::read_dir(&path).map_err(read_err(&path))? {
            let item = item.map_err(read_err(&path))?;
            let name = item.file_name();
            let child = item.path();
            let meta = fs::symlink_metadata(&child).map_err(read_err(&child))?;
            let mut child_rel = rel.clone();
            if !child_rel.is_empty() {
                child_rel.push(b'/');
            }
            child_rel.extend_from_slice(name.as_encoded_bytes());
            children.push((child, child_rel, meta));
        }
        // Popped in name order.
        children.sort_by(|a, b| b.1.cmp(&a.1));
        stack.extend(children);
    }
    Ok(())
}

/// Checks the repo folder `repo` against `head` as a bundle is checked ([`walk_tree`]): every
/// problem found, or none.
pub fn verify_tree(repo: &Path, head: &SignedManifest) -> Result<(), BundleError> {
    let mut v = Verifier::new(head, &repo.display().to_string());
    walk_tree(repo, &mut v, &mut Discard)?;
    v.finish();
    v.into_result()
}

/// Opens a file of a tree for reading, never through a link.
pub fn open_no_follow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}
