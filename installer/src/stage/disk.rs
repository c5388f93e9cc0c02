//! The disk as a [`Sink`]: what the verifier accepts is written under a staging root, files
//! `O_NOFOLLOW` and new, modes 0644/0755, mtimes from the archive, writeback started as each
//! file closes.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use pigsty_bundle::archive::Sink;
use pigsty_bundle::fs as bfs;
use pigsty_bundle::BundleError;

use super::StageError;

const FILE_BUF: usize = 256 * 1024;
const DIR_MODE: u32 = 0o755;

/// Creates one directory with mode 0755, whatever the umask.
pub(super) fn make_dir(path: &Path) -> Result<(), StageError> {
    DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .and_then(|()| fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)))
        .map_err(super::write_err(path))
}

/// Opens a new file for writing, never through a link, with `mode` from the start.
pub(super) fn create_new(path: &Path, mode: u32) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn when(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The file being written.
struct Current {
    path: PathBuf,
    out: BufWriter<File>,
    mode: u32,
    mtime: u64,
}

/// Writes what the verifier accepts under `root`.
pub(super) struct DiskSink {
    root: PathBuf,
    current: Option<Current>,
    /// Folders made, for their fsync.
    dirs: Vec<PathBuf>,
    /// Folders with their own entry, and its mtime: set once nothing more is written in them.
    dir_mtimes: Vec<(PathBuf, u64)>,
}

fn werr(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Write {
        path: path.to_path_buf(),
        source,
    }
}

impl DiskSink {
    pub(super) fn new(root: PathBuf) -> DiskSink {
        DiskSink {
            root,
            current: None,
            dirs: Vec::new(),
            dir_mtimes: Vec::new(),
        }
    }

    /// A file taken from elsewhere on the node (a delta's carried file, checked already):
    /// hard-linked where the filesystem allows, else copied and fsynced.
    pub(super) fn link(
        &mut self,
        create: &[String],
        rel: &str,
        from: &Path,
    ) -> Result<(), StageError> {
        self.make_dirs(create)?;
        let to = self.root.join(rel);
        if fs::hard_link(from, &to).is_err() {
            fs::copy(from, &to)
                .and_then(|_| File::open(&to)?.sync_all())
                .map_err(super::write_err(&to))?;
        }
        Ok(())
    }

    /// Gives the folders their mtimes (`default` for those without an entry of their own)
    /// now that nothing more is written in them, and fsyncs every folder.
    pub(super) fn finish_dirs(&self, default: Option<u64>) -> Result<(), StageError> {
        let set = |path: &Path, mtime: u64| {
            File::open(path)
                .and_then(|d| d.set_modified(when(mtime)))
                .map_err(super::write_err(path))
        };
        if let Some(mtime) = default {
            for d in self.dirs.iter().chain(std::iter::once(&self.root)) {
                set(d, mtime)?;
            }
        }
        for (path, mtime) in &self.dir_mtimes {
            set(path, *mtime)?;
        }
        for d in self.dirs.iter().chain(std::iter::once(&self.root)) {
            bfs::sync_dir(d).map_err(super::write_err(d))?;
        }
        Ok(())
    }
}

impl Sink for DiskSink {
    fn make_dirs(&mut self, rels: &[String]) -> Result<(), BundleError> {
        for rel in rels {
            let path = self.root.join(rel);
            DirBuilder::new()
                .mode(DIR_MODE)
                .create(&path)
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(DIR_MODE)))
                .map_err(werr(&path))?;
            self.dirs.push(path);
        }
        Ok(())
    }

    fn dir_mtime(&mut self, rel: &str, mtime: u64) -> Result<(), BundleError> {
        self.dir_mtimes.push((self.root.join(rel), mtime));
        Ok(())
    }

    fn file(&mut self, rel: &str, exec: bool, mtime: u64) -> Result<(), BundleError> {
        let path = self.root.join(rel);
        let mode = if exec { 0o755 } else { 0o644 };
        let file = create_new(&path, mode).map_err(werr(&path))?;
        self.current = Some(Current {
            path,
            out: BufWriter::with_capacity(FILE_BUF, file),
            mode,
            mtime,
        });
        Ok(())
    }

    fn write(&mut self, chunk: &[u8]) -> Result<(), BundleError> {
        match self.current.as_mut() {
            Some(c) => c.out.write_all(chunk).map_err(werr(&c.path)),
            None => Ok(()),
        }
    }

    fn keep(&mut self) -> Result<(), BundleError> {
        let Some(c) = self.current.take() else {
            return Ok(());
        };
        let file = c.out.into_inner().map_err(|e| BundleError::Write {
            path: c.path.clone(),
            source: e.into_error(),
        })?;
        file.set_permissions(fs::Permissions::from_mode(c.mode))
            .and_then(|()| file.set_modified(when(c.mtime)))
            .and_then(|()| bfs::start_writeback(&file))
            .map_err(werr(&c.path))
    }

    fn discard(&mut self) {
        if let Some(c) = self.current.take() {
            drop(c.out);
            let _ = fs::remove_file(&c.path);
        }
    }
}
