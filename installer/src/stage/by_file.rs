//! A staging folder filled one file at a time, from anything but a bundle (`--from URL`, a
//! mirror), judged by the same [`Verifier`] as an archive: only listed files, each once, each
//! with its size (a byte past it is refused as it comes) and its SHA-256.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use pigsty_bundle::archive::{FileCheck, Problem, SignedManifest, Sink, Verifier};
use pigsty_bundle::fs::{self as bfs, Staging};
use pigsty_bundle::manifest::{MANIFEST_NAME, SIGNATURE_NAME};
use pigsty_bundle::BundleError;

use super::disk::{create_new, DiskSink};
use super::{make_staging, prepare_dest, write_err, StageError, Staged};

/// The write buffer of one [`StagedFile`].
const FILE_BUF: usize = 256 * 1024;

/// Files of a repo staged one at a time; see the module documentation. [`FileStager::finish`]
/// refuses if a listed file never came, writes the signed manifest and its signature, and
/// gives the same [`Staged`] as a bundle. Files and folders get the manifest's `created` time
/// as their mtime and mode 0644 / 0755 (a file's mode is not in the manifest). Dropping the
/// stager before `finish` removes the folder. Several files may be written at once (`&self`),
/// from threads or tasks.
pub struct FileStager {
    /// Where the files come from, for messages (a URL).
    origin: String,
    dest: PathBuf,
    staging: Option<Staging>,
    created_dest: bool,
    root: PathBuf,
    head: SignedManifest,
    mtime: u64,
    state: Mutex<(Verifier, DiskSink)>,
}

impl FileStager {
    /// Creates the staging folder beside `<dest>/pigsty` (checking there is room) for the repo
    /// `head` describes, whose signature the caller has checked. `origin` names the source.
    pub fn new(origin: &str, head: &SignedManifest, dest: &Path) -> Result<FileStager, StageError> {
        let created_dest = prepare_dest(dest)?;
        let (staging, root) = match make_staging(dest, head) {
            Ok(made) => made,
            Err(e) => {
                if created_dest {
                    let _ = fs::remove_dir(dest);
                }
                return Err(e);
            }
        };
        Ok(FileStager {
            origin: origin.to_string(),
            dest: dest.to_path_buf(),
            staging: Some(staging),
            created_dest,
            root: root.clone(),
            head: head.clone(),
            mtime: head.manifest().created,
            state: Mutex::new((Verifier::by_file(head, origin), DiskSink::new(root))),
        })
    }

    fn state(&self) -> MutexGuard<'_, (Verifier, DiskSink)> {
        // A panic while the lock was held leaves plain flags behind: still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn refused(&self, p: Problem) -> StageError {
        StageError::Bundle(BundleError::Verify {
            origin: self.origin.clone(),
            received: true,
            problems: vec![p],
        })
    }

    /// Starts writing the listed file `rel` (relative to `pigsty/`). A file not listed, one
    /// received already or one being written is refused.
    pub fn file(&self, rel: &str) -> Result<StagedFile<'_>, StageError> {
        let check = {
            let mut st = self.state();
            let (v, sink) = &mut *st;
            let (check, create) = v.begin_file(rel).map_err(|p| self.refused(p))?;
            if let Err(e) = sink.make_dirs(&create) {
                v.abandon(check);
                return Err(e.into());
            }
            check
        };
        let path = self.root.join(rel);
        match create_new(&path, 0o644) {
            Ok(file) => Ok(StagedFile {
                stager: self,
                path,
                out: Some(BufWriter::with_capacity(FILE_BUF, file)),
                check: Some(check),
            }),
            Err(source) => {
                self.state().0.abandon(check);
                Err(StageError::Write { path, source })
            }
        }
    }

    /// How many of the listed files are complete and checked.
    pub fn received(&self) -> usize {
        self.state().0.received()
    }

    /// Checks that every listed file came, writes `MANIFEST.json` and its signature, fsyncs
    /// the folders and returns the staged repo, ready to [`Staged::commit`].
    pub fn finish(mut self) -> Result<Staged, StageError> {
        let (v, sink) = {
            let mut st = self.state();
            let (v, sink) = &mut *st;
            v.finish();
            let v = std::mem::replace(v, Verifier::by_file(&self.head, &self.origin));
            let sink = std::mem::replace(sink, DiskSink::new(self.root.clone()));
            (v, sink)
        };
        v.into_result()?;
        let mut extra = vec![(MANIFEST_NAME, self.head.raw())];
        if let Some(sig) = self.head.signature() {
            extra.push((SIGNATURE_NAME, sig));
        }
        for (name, data) in extra {
            let path = self.root.join(name);
            let mut f = create_new(&path, 0o644).map_err(write_err(&path))?;
            f.write_all(data)
                .and_then(|()| f.set_modified(when(self.mtime)))
                .and_then(|()| bfs::start_writeback(&f))
                .map_err(write_err(&path))?;
        }
        sink.finish_dirs(Some(self.mtime))?;
        let Some(staging) = self.staging.take() else {
            return Err(StageError::NotADir {
                path: self.root.clone(),
            });
        };
        // Every file's writeback was started as it was closed; wait for all of it at once.
        bfs::sync_filesystem(staging.path()).map_err(write_err(staging.path()))?;
        bfs::sync_dir(staging.path()).map_err(write_err(staging.path()))?;
        let m = self.head.manifest();
        Ok(Staged {
            dest: self.dest.clone(),
            staging: Some(staging),
            created_dest: std::mem::take(&mut self.created_dest),
            repo: self.root.clone(),
            files: m.files.len(),
            bytes: m.total_size(),
        })
    }
}

impl Drop for FileStager {
    fn drop(&mut self) {
        if let Some(staging) = self.staging.take() {
            drop(staging);
            if self.created_dest {
                let _ = fs::remove_dir(&self.dest);
            }
        }
    }
}

fn when(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

/// One file being written into a [`FileStager`]: [`StagedFile::write`] the bytes as they come,
/// then [`StagedFile::finish`]. Dropped before `finish` (a failed transfer), the partial file
/// is removed and the file can be started again.
pub struct StagedFile<'a> {
    stager: &'a FileStager,
    path: PathBuf,
    out: Option<BufWriter<File>>,
    check: Option<FileCheck>,
}

impl StagedFile<'_> {
    /// Appends the next bytes; refused as soon as they pass the manifest's size.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        let (Some(check), Some(out)) = (self.check.as_mut(), self.out.as_mut()) else {
            return Err(StageError::Write {
                path: self.path.clone(),
                source: std::io::ErrorKind::BrokenPipe.into(),
            });
        };
        check.update(chunk).map_err(|p| self.stager.refused(p))?;
        out.write_all(chunk).map_err(write_err(&self.path))
    }

    /// How many bytes were written so far.
    pub fn received(&self) -> u64 {
        self.check.as_ref().map_or(0, FileCheck::received)
    }

    /// Checks the size and the SHA-256, then starts the file's writeback
    /// ([`FileStager::finish`] waits for all of it).
    pub fn finish(mut self) -> Result<(), StageError> {
        let (Some(check), Some(out)) = (self.check.take(), self.out.take()) else {
            return Err(StageError::Write {
                path: self.path.clone(),
                source: std::io::ErrorKind::BrokenPipe.into(),
            });
        };
        let file = out
            .into_inner()
            .map_err(|e| write_err(&self.path)(e.into_error()))?;
        self.stager
            .state()
            .0
            .end_file(check)
            .map_err(|p| self.stager.refused(p))?;
        file.set_modified(when(self.stager.mtime))
            .and_then(|()| bfs::start_writeback(&file))
            .map_err(write_err(&self.path))
    }
}

impl Drop for StagedFile<'_> {
    fn drop(&mut self) {
        // Not finished, or refused at the end: the partial file goes, the file may come again.
        let finished = self.check.is_none() && self.out.is_none();
        if let Some(check) = self.check.take() {
            self.stager.state().0.abandon(check);
        }
        drop(self.out.take());
        if !finished || !self.stager.state().0.has(self.rel()) {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl StagedFile<'_> {
    fn rel(&self) -> &str {
        self.path
            .strip_prefix(&self.stager.root)
            .ok()
            .and_then(Path::to_str)
            .unwrap_or("")
    }
}
