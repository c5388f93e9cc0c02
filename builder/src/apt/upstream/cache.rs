//! The decompressed `Packages` indexes kept between builds, so that a warm build neither
//! downloads nor decompresses them again: `<cache>/apt-packages/<name of its URL>` holds
//! exactly the text of the uncompressed `Packages`, and is trusted only when its size and
//! SHA-256 are the ones the verified `Release` lists for that `Packages`. It is hashed as it
//! is parsed; a copy that differs (damaged, altered, stale) is removed, what was parsed from it
//! is dropped, and the index is downloaded, checked and decompressed as on a cold run, which
//! writes the copy again.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::PathBuf;

use sha2::{Digest, Sha256};

use crate::apt::index::{self, PackageEntry, ReleaseFile};

/// The read buffer of a kept index.
const BUF: usize = 1 << 20;

/// One kept `Packages`: where it is, and what the verified `Release` says it must be.
pub(super) struct PackagesCache {
    path: PathBuf,
    want: ReleaseFile,
}

impl PackagesCache {
    pub(super) fn new(path: PathBuf, want: ReleaseFile) -> PackagesCache {
        PackagesCache { path, want }
    }

    /// The packages of the kept copy if it is exactly the `Packages` that `Release` lists;
    /// `None` otherwise (the copy is then removed).
    pub(super) fn load(&self) -> Option<Vec<PackageEntry>> {
        let file = File::open(&self.path).ok()?;
        let fits = file
            .metadata()
            .is_ok_and(|m| m.is_file() && m.len() == self.want.size);
        if !fits {
            self.discard();
            return None;
        }
        let mut hashed = Hashing::new(file.take(self.want.size));
        let parsed = index::read_packages(BufReader::with_capacity(BUF, &mut hashed));
        // The parse read to the end: every byte parsed was hashed.
        let (size, sha256) = hashed.finish();
        match parsed {
            Ok(packages) if size == self.want.size && sha256 == self.want.sha256 => Some(packages),
            _ => {
                self.discard();
                None
            }
        }
    }

    /// Wraps the decompressed index being parsed: its bytes are copied into a new kept copy,
    /// which [`Tee::keep`] puts in place if they are the ones `Release` lists.
    pub(super) fn tee<R: Read>(&self, inner: R) -> Tee<'_, R> {
        let tmp = pigsty_bundle::fs::tmp_name(&self.path);
        let out = self
            .path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| match std::fs::remove_file(&tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => OpenOptions::new().write(true).create_new(true).open(&tmp),
            })
            .ok()
            .map(|f| BufWriter::with_capacity(BUF, f));
        Tee {
            cache: self,
            hashed: Hashing::new(inner),
            out,
            tmp,
        }
    }

    fn discard(&self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A reader that hashes and counts what passes through it.
struct Hashing<R> {
    inner: R,
    sha256: Sha256,
    size: u64,
}

impl<R: Read> Hashing<R> {
    fn new(inner: R) -> Hashing<R> {
        Hashing {
            inner,
            sha256: Sha256::new(),
            size: 0,
        }
    }

    fn finish(&mut self) -> (u64, String) {
        let sha256 = std::mem::take(&mut self.sha256);
        (self.size, hex::encode(sha256.finalize()))
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha256.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// The decompressed index on its way to the parser, copied into a temporary file beside the
/// kept copy. Writing the copy is best effort: when it fails (no space, say) the build goes on
/// without it.
pub(super) struct Tee<'a, R> {
    cache: &'a PackagesCache,
    hashed: Hashing<R>,
    out: Option<BufWriter<File>>,
    tmp: PathBuf,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.hashed.read(buf)?;
        if let Some(out) = &mut self.out {
            // Never more than Release says it is.
            if self.hashed.size > self.cache.want.size || out.write_all(&buf[..n]).is_err() {
                self.out = None;
            }
        }
        Ok(n)
    }
}

impl<R: Read> Tee<'_, R> {
    /// Puts the copy in place if everything was read and it is the `Packages` that `Release`
    /// lists; it is removed otherwise (on drop). Not fsynced: a copy a crash damaged fails
    /// the check of the next load and is made again.
    pub(super) fn keep(mut self) {
        let want = &self.cache.want;
        let (size, sha256) = self.hashed.finish();
        let flushed = self.out.take().is_some_and(|mut o| o.flush().is_ok());
        if flushed && size == want.size && sha256 == want.sha256 {
            let _ = std::fs::rename(&self.tmp, &self.cache.path);
        }
    }
}

impl<R> Drop for Tee<'_, R> {
    /// A copy not put in place is removed.
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}
