//! The decompressed `Packages` indexes kept between builds, so that a warm build neither
//! downloads nor decompresses them again: `<cache>/apt-packages/<name of its URL>` holds
//! exactly the text of the uncompressed `Packages`, and is trusted only when its size and
//! SHA-256 are the ones the verified `Release` lists for that `Packages`. It is hashed as it
//! is parsed; a copy that differs (damaged, altered, stale) is removed, what was parsed from it
//! is dropped, and the index is downloaded, checked and decompressed as on a cold run, which
//! writes the copy again.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

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
    /// `None` otherwise (the copy is then removed). `early`: the copy as [`parse_kept`]
    /// found it before `Release` was read, if it was started then.
    pub(super) fn load(&self, early: Option<Parsed>) -> Option<Vec<PackageEntry>> {
        let parsed = early.or_else(|| parse_kept(&self.path, self.want.size));
        let loaded = parsed
            .filter(|p| p.size == self.want.size && p.sha256 == self.want.sha256)
            .and_then(|p| p.packages);
        if loaded.is_none() {
            self.discard();
        }
        loaded
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

/// The most of a kept copy read before `Release` says what size it must be.
pub(super) const MAX_KEPT: u64 = 1 << 30;

/// A kept copy as found: its size, its SHA-256 and its packages (`None` if it does not
/// parse). Nothing of it is used before its size and hash are compared with `Release`'s.
pub(super) struct Parsed {
    size: u64,
    sha256: String,
    packages: Option<Vec<PackageEntry>>,
}

/// Reads the kept copy at `path` whole if it is a file of at most `max` bytes (the parsed
/// packages hold the same bytes anyway), then hashes it and parses it in pieces cut at
/// paragraph boundaries, one per core.
pub(super) fn parse_kept(path: &Path, max: u64) -> Option<Parsed> {
    let file = File::open(path).ok()?;
    let size = file
        .metadata()
        .ok()
        .filter(|m| m.is_file() && m.len() <= max)?
        .len();
    let mut text = Vec::with_capacity(usize::try_from(size).ok()?);
    file.take(size).read_to_end(&mut text).ok()?;
    if text.len() as u64 != size {
        return None;
    }
    let pieces = pieces(&text, parallelism());
    let (sha256, packages) = std::thread::scope(|s| {
        let rest: Vec<_> = pieces[1..]
            .iter()
            .map(|piece| s.spawn(move || index::read_packages(*piece)))
            .collect();
        let sha256 = hex::encode(Sha256::digest(&text));
        let mut parsed = index::read_packages(pieces[0]);
        for r in rest {
            let more = r.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            parsed = parsed.and_then(|mut all| {
                all.extend(more?);
                Ok(all)
            });
        }
        (sha256, parsed.ok())
    });
    Some(Parsed {
        size,
        sha256,
        packages,
    })
}

/// How many pieces to parse a kept copy in: one per core, at most 8.
fn parallelism() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// `text` cut into at most `n` pieces of about the same size, each cut just after an empty
/// line (`\n\n`), which always ends a paragraph: the pieces parse to the same paragraphs as
/// the whole.
fn pieces(text: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(n);
    let mut rest = text;
    for left in (2..=n).rev() {
        let aim = rest.len() / left;
        let Some(cut) = rest[aim..]
            .windows(2)
            .position(|w| w == b"\n\n")
            .map(|i| aim + i + 2)
        else {
            break;
        };
        let (piece, tail) = rest.split_at(cut);
        out.push(piece);
        rest = tail;
    }
    out.push(rest);
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &[u8]) -> Vec<String> {
        index::read_packages(text)
            .unwrap()
            .iter()
            .map(|p| p.raw().to_string())
            .collect()
    }

    #[test]
    fn pieces_parse_to_the_paragraphs_of_the_whole() {
        let text: String = (0..50)
            .map(|i| format!("Package: p{i}\nVersion: 1.{i}\nDescription: x\n .\n more\n\n"))
            .collect();
        for n in 1..=8 {
            let parts = pieces(text.as_bytes(), n);
            assert!(!parts.is_empty() && parts.len() <= n);
            assert_eq!(parts.concat(), text.as_bytes());
            let joined: Vec<String> = parts.iter().flat_map(|p| names(p)).collect();
            assert_eq!(joined, names(text.as_bytes()), "{n} pieces");
        }
        // No empty line: one piece.
        assert_eq!(pieces(b"Package: a\nVersion: 1\n", 4).len(), 1);
        assert_eq!(pieces(b"", 4), vec![&b""[..]]);
    }
}
