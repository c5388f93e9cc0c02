//! Writes the metadata of a flat rpm repository (`repodata/`: repomd.xml, primary, filelists
//! and other, no sqlite databases) that dnf reads, from a folder of downloaded `.rpm` files.
//!
//! The XML is what createrepo_c 0.17.3 writes for the same files, byte for byte, but for
//! these differences, all by design:
//! - `<time file=...>` (createrepo_c: each rpm's mtime) and every repomd `<timestamp>` and
//!   `<revision>` (createrepo_c: the clock) are [`RepodataOptions::timestamp`], so the same
//!   input gives the same bytes; the metadata files' mtimes are set to it too;
//! - packages are sorted by file name then location, like createrepo_c does for one folder
//!   (it sorts by file name only);
//! - the compressed bytes differ (another deflate / zstd implementation and level), so the
//!   file names and `checksum`s differ while `open-checksum`s match;
//! - a package createrepo_c would leave out with an error (a control character in a field dnf
//!   reads) is an error here: a repository silently missing a package is worse than none. A
//!   changelog entry with one is left out of `other`, as createrepo_c leaves it out when its
//!   changelog limit stops before it (openSUSE publishes such packages; dnf installs them).
//!
//! The package checksum and size come from the caller, who has them from the download (the
//! size is checked against the file). Of each rpm only the lead, the signature header and
//! the header are read (see `header`), by up to [`RepodataOptions::workers`] threads; the
//! XML is streamed through the compressors in package order, never held whole. Everything
//! goes into a temporary folder beside `repodata/` that replaces it at the end (an atomic
//! exchange on Linux), each file and folder fsynced.
//!
//! Debian 12's dnf 4.14 (libsolv 0.7) reads both the `.gz` and the `.zst` metadata (tested),
//! createrepo_c 0.17.3 itself cannot write `.zst`.

mod header;
mod package;
mod xml;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::fs::{self, File, FileTimes};
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

pub use header::{read_signed_header, HeaderError, SignedHeader};
pub use package::{Dialect, CHANGELOG_LIMIT};

use header::read_headers;
use package::Package;
use xml::{FileFacts, RepomdRecord};

/// gzip level for `.gz` metadata (zlib's default, as createrepo_c).
pub const GZIP_LEVEL: u32 = 6;
/// zstd level for `.zst` metadata: zstd's default, a third smaller than gzip -6 on repodata
/// and many times quicker; higher levels cost far more time than they save bytes.
pub const ZSTD_LEVEL: i32 = 3;
/// How many packages the header readers may run ahead of the writer, per worker.
const WINDOW_PER_WORKER: usize = 64;
/// How many package fragments may wait for each compressor.
const COMPRESS_QUEUE: usize = 256;

/// How the metadata files are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepodataCompression {
    /// `.gz`: EL8's default, and what createrepo_c 0.17.3 writes.
    Gz,
    /// `.zst`: EL9's and EL10's default.
    Zst,
}

impl RepodataCompression {
    /// The file name suffix, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            RepodataCompression::Gz => "gz",
            RepodataCompression::Zst => "zst",
        }
    }
}

impl fmt::Display for RepodataCompression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.extension())
    }
}

impl FromStr for RepodataCompression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "gz" => Ok(RepodataCompression::Gz),
            "zst" => Ok(RepodataCompression::Zst),
            _ => Err(format!(
                "unknown repodata compression `{s}` (use `gz` or `zst`)"
            )),
        }
    }
}

/// One `.rpm` of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpmFile {
    /// Path relative to the repository root, `/`-separated, e.g.
    /// `pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm`.
    pub location: String,
    /// SHA-256 of the file, hex, as known from the download.
    pub sha256: String,
    /// Size of the file in bytes, as known from the download.
    pub size: u64,
}

/// How to write the metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepodataOptions {
    pub compression: RepodataCompression,
    /// Seconds since the epoch (SOURCE_DATE_EPOCH): the repomd revision, every timestamp,
    /// each package's `<time file=...>` and the metadata files' mtimes.
    pub timestamp: u64,
    /// Threads reading rpm headers and rendering XML (at least one is used); three more
    /// compress the three metadata files.
    pub workers: usize,
    /// The createrepo_c whose output the metadata matches: the target release's own.
    pub dialect: Dialect,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepodataInfo {
    /// `REPO/repodata/repomd.xml`.
    pub repomd: PathBuf,
    /// Every file written, relative to the repository root: `repodata/repomd.xml` first,
    /// then `repodata/<sha256>-primary.xml.<ext>`, filelists and other.
    pub files: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DnfRepoError {
    #[error("cannot write repository metadata {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {rpm}")]
    Read {
        rpm: String,
        #[source]
        source: io::Error,
    },
    #[error("{rpm} (download it again)")]
    BadRpm {
        rpm: String,
        #[source]
        source: HeaderError,
    },
    #[error("{rpm}: the file has {actual} bytes, its download said {expected}; download it again")]
    SizeMismatch {
        rpm: String,
        expected: u64,
        actual: u64,
    },
    #[error("{rpm}: `{location}` is not a path inside the repository")]
    BadLocation { rpm: String, location: String },
    #[error("{rpm}: listed twice")]
    Duplicate { rpm: String },
    #[error("{rpm}: sha256 `{value}` is not 64 hex digits")]
    BadChecksum { rpm: String, value: String },
    #[error(
        "{rpm}: its {field} holds a control character, which repository metadata (XML) \
         cannot carry; leave the package out or rebuild it"
    )]
    ControlChars { rpm: String, field: &'static str },
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> DnfRepoError + '_ {
    move |source| DnfRepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether `location` is a plain relative path: no `..`, no root, no empty parts.
fn location_ok(location: &str) -> bool {
    !location.is_empty()
        && !location.contains('\\')
        && Path::new(location)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !location.split('/').any(str::is_empty)
}

fn check_input(files: &[RpmFile]) -> Result<(), DnfRepoError> {
    let mut seen = HashSet::new();
    for f in files {
        if !location_ok(&f.location) {
            return Err(DnfRepoError::BadLocation {
                rpm: f.location.clone(),
                location: f.location.clone(),
            });
        }
        if !seen.insert(f.location.as_str()) {
            return Err(DnfRepoError::Duplicate {
                rpm: f.location.clone(),
            });
        }
        if f.sha256.len() != 64 || !f.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(DnfRepoError::BadChecksum {
                rpm: f.location.clone(),
                value: f.sha256.clone(),
            });
        }
    }
    Ok(())
}

/// The package order: by file name, then by the whole location.
fn sorted(files: &[RpmFile]) -> Vec<&RpmFile> {
    let mut out: Vec<&RpmFile> = files.iter().collect();
    let base = |f: &RpmFile| f.location.rsplit('/').next().unwrap_or_default().to_owned();
    out.sort_by_cached_key(|f| (base(f), f.location.clone()));
    out
}

/// The three XML fragments of one package.
#[derive(Default)]
struct Chunks {
    primary: Vec<u8>,
    filelists: Vec<u8>,
    other: Vec<u8>,
}

/// Reads one rpm's headers and renders its three fragments.
fn render(
    repo_dir: &Path,
    f: &RpmFile,
    timestamp: u64,
    dialect: Dialect,
) -> Result<Chunks, DnfRepoError> {
    let read_err = |source| DnfRepoError::Read {
        rpm: f.location.clone(),
        source,
    };
    let mut file = File::open(repo_dir.join(&f.location)).map_err(read_err)?;
    let actual = file.metadata().map_err(read_err)?.len();
    if actual != f.size {
        return Err(DnfRepoError::SizeMismatch {
            rpm: f.location.clone(),
            expected: f.size,
            actual,
        });
    }
    let bad = |source| DnfRepoError::BadRpm {
        rpm: f.location.clone(),
        source,
    };
    let headers = read_headers(&mut file).map_err(bad)?;
    let pkg = Package::from_headers(&headers, dialect).map_err(bad)?;
    if let Some(field) = pkg.control_char_field(&f.location) {
        return Err(DnfRepoError::ControlChars {
            rpm: f.location.clone(),
            field,
        });
    }
    let sha256 = f.sha256.to_ascii_lowercase();
    let facts = FileFacts {
        sha256: &sha256,
        location: &f.location,
        size: f.size,
        time_file: timestamp,
    };
    let mut chunks = Chunks::default();
    xml::primary(&mut chunks.primary, &pkg, &facts);
    xml::filelists(&mut chunks.filelists, &pkg, &facts);
    xml::other(&mut chunks.other, &pkg, &facts);
    Ok(chunks)
}

/// The fuzz target `rpm_header` (see [`crate::fuzzing`]): `data` as an rpm's start, read and
/// indexed as [`render`] does; a package it would index must give metadata that this crate's
/// own readers parse back, with its name, arch and files.
pub(crate) fn fuzz_rpm(data: &[u8]) {
    use header::read_signed_header;
    let Ok(headers) = read_headers(&mut &data[..]) else {
        return;
    };
    let _ = read_signed_header(&mut &data[..]);
    let Ok(pkg) = Package::from_headers(&headers, Dialect::Current) else {
        return;
    };
    if pkg.control_char_field("x.rpm").is_some() {
        return;
    }
    let sha256 = "0".repeat(64);
    let facts = FileFacts {
        sha256: &sha256,
        location: "x.rpm",
        size: data.len() as u64,
        time_file: 1,
    };
    let (mut primary, mut filelists, mut other) = (Vec::new(), Vec::new(), Vec::new());
    xml::primary(&mut primary, &pkg, &facts);
    xml::filelists(&mut filelists, &pkg, &facts);
    xml::other(&mut other, &pkg, &facts);
    let mut doc = b"<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"1\">\n".to_vec();
    doc.extend_from_slice(&primary);
    doc.extend_from_slice(b"</metadata>\n");
    let mut reader = crate::dnf::PrimaryReader::new(&doc[..]);
    match reader.next_package() {
        Ok(Some(back)) => {
            // Plain names come back as they are (XML normalizes line ends and blanks).
            for (what, got, was) in [
                ("name", &back.name, pkg.name),
                ("arch", &back.arch, pkg.arch),
            ] {
                if was.iter().all(u8::is_ascii_graphic) {
                    assert_eq!(got.as_bytes(), was, "{what}");
                }
            }
        }
        other => panic!(
            "the primary.xml written for this rpm does not read back: {other:?}\n{}",
            String::from_utf8_lossy(&doc)
        ),
    }
    let mut doc =
        b"<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"1\">\n".to_vec();
    doc.extend_from_slice(&filelists);
    doc.extend_from_slice(b"</filelists>\n");
    let wanted = std::collections::HashSet::new();
    if let Err(e) = crate::dnf::read_filelists(&doc[..], &wanted) {
        panic!(
            "the filelists.xml written for this rpm does not read back: {e}\n{}",
            String::from_utf8_lossy(&doc)
        );
    }
    let _ = other;
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    sha256: Sha256,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            sha256: Sha256::new(),
            size: 0,
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type Sink = Hashing<BufWriter<File>>;

enum Encoder {
    Gz(flate2::write::GzEncoder<Sink>),
    Zst(zstd::stream::write::Encoder<'static, Sink>),
}

/// One metadata file being written: XML in, hashed before and after compression.
struct MetaFile {
    kind: &'static str,
    path: PathBuf,
    encoder: Encoder,
    open: Sha256,
    open_size: u64,
}

impl MetaFile {
    fn create(
        dir: &Path,
        kind: &'static str,
        compression: RepodataCompression,
    ) -> io::Result<Self> {
        let path = dir.join(format!("{kind}.xml.{compression}.part"));
        let sink = Hashing::new(BufWriter::with_capacity(1 << 16, File::create(&path)?));
        let encoder = match compression {
            RepodataCompression::Gz => Encoder::Gz(
                // No name, mtime 0, OS Unix: as createrepo_c's header, deterministic.
                flate2::GzBuilder::new()
                    .operating_system(3)
                    .mtime(0)
                    .write(sink, flate2::Compression::new(GZIP_LEVEL)),
            ),
            RepodataCompression::Zst => {
                let mut enc = zstd::stream::write::Encoder::new(sink, ZSTD_LEVEL)?;
                enc.include_checksum(true)?;
                Encoder::Zst(enc)
            }
        };
        Ok(MetaFile {
            kind,
            path,
            encoder,
            open: Sha256::new(),
            open_size: 0,
        })
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.open.update(data);
        self.open_size += data.len() as u64;
        match &mut self.encoder {
            Encoder::Gz(e) => e.write_all(data),
            Encoder::Zst(e) => e.write_all(data),
        }
    }

    /// Ends the stream, fsyncs the file and renames it to `<sha256>-<kind>.xml.<ext>`.
    fn finish(self, times: FileTimes, ext: &str) -> io::Result<RepomdRecord> {
        let sink = match self.encoder {
            Encoder::Gz(e) => e.finish()?,
            Encoder::Zst(e) => e.finish()?,
        };
        let sha256 = hex::encode(sink.sha256.finalize());
        let file = sink.inner.into_inner().map_err(|e| e.into_error())?;
        file.set_times(times)?;
        file.sync_all()?;
        let name = format!("{sha256}-{}.xml.{ext}", self.kind);
        fs::rename(&self.path, self.path.with_file_name(&name))?;
        Ok(RepomdRecord {
            kind: self.kind,
            location: format!("repodata/{name}"),
            sha256,
            open_sha256: hex::encode(self.open.finalize()),
            size: sink.size,
            open_size: self.open_size,
        })
    }
}

/// Writes `repo_dir/repodata/` for `files` (paths relative to `repo_dir`), replacing any
/// metadata there. See the module documentation for what is written and how.
pub fn write_repodata(
    repo_dir: &Path,
    files: &[RpmFile],
    opts: &RepodataOptions,
) -> Result<RepodataInfo, DnfRepoError> {
    check_input(files)?;
    let order = sorted(files);
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let tag = format!(
        "{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    );
    let tmp = repo_dir.join(format!(".repodata.tmp-{tag}"));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir(&tmp).map_err(io_err(&tmp))?;
    let result = write_into(&tmp, repo_dir, &order, opts).and_then(|records| {
        replace_repodata(repo_dir, &tmp, &tag)?;
        Ok(records)
    });
    let records = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    let mut out = vec!["repodata/repomd.xml".to_string()];
    out.extend(records.into_iter().map(|r| r.location));
    Ok(RepodataInfo {
        repomd: repo_dir.join("repodata/repomd.xml"),
        files: out,
    })
}

/// Writes the four files into `dir`; returns the records of repomd.xml. Each metadata file
/// is compressed on a thread of its own, fed in package order.
fn write_into(
    dir: &Path,
    repo_dir: &Path,
    order: &[&RpmFile],
    opts: &RepodataOptions,
) -> Result<Vec<RepomdRecord>, DnfRepoError> {
    let compression = opts.compression;
    let times =
        FileTimes::new().set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(opts.timestamp));
    let records = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        let mut compressors = Vec::new();
        for kind in ["primary", "filelists", "other"] {
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(COMPRESS_QUEUE);
            senders.push(tx);
            compressors.push(scope.spawn(move || {
                let mut meta = MetaFile::create(dir, kind, compression).map_err(io_err(dir))?;
                let path = meta.path.clone();
                let (head, tail) = xml::document(kind, order.len());
                (|| {
                    meta.write(head.as_bytes())?;
                    for data in rx {
                        meta.write(&data)?;
                    }
                    meta.write(tail.as_bytes())?;
                    meta.finish(times, compression.extension())
                })()
                .map_err(io_err(&path))
            }));
        }
        let rendered = render_all(repo_dir, order, opts, |chunks| {
            for (tx, data) in senders
                .iter()
                .zip([chunks.primary, chunks.filelists, chunks.other])
            {
                if tx.send(data).is_err() {
                    // That compressor failed; its own error is reported below.
                    return Err(io_err(dir)(io::Error::other("compressor stopped")));
                }
            }
            Ok(())
        });
        drop(senders);
        let mut records = Vec::new();
        let mut failed = None;
        for c in compressors {
            match c.join() {
                Ok(Ok(r)) => records.push(r),
                Ok(Err(e)) => {
                    failed.get_or_insert(e);
                }
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match (rendered, failed) {
            // A compressor's error explains a render stop, and comes first.
            (_, Some(e)) | (Err(e), None) => Err(e),
            (Ok(()), None) => Ok(records),
        }
    })?;
    let repomd = xml::repomd(opts.timestamp, opts.timestamp, &records);
    let path = dir.join("repomd.xml");
    (|| {
        let mut f = File::create(&path)?;
        f.write_all(repomd.as_bytes())?;
        f.set_times(times)?;
        f.sync_all()?;
        File::open(dir)?.sync_all()
    })()
    .map_err(io_err(&path))?;
    Ok(records)
}

/// Renders every package on worker threads and hands the fragments to `sink` in order.
/// Workers stay at most a window ahead of the writer, so memory does not grow with the repo.
fn render_all(
    repo_dir: &Path,
    order: &[&RpmFile],
    opts: &RepodataOptions,
    mut sink: impl FnMut(Chunks) -> Result<(), DnfRepoError>,
) -> Result<(), DnfRepoError> {
    let workers = opts.workers.clamp(1, order.len().max(1));
    let window = WINDOW_PER_WORKER * workers;
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    // How many packages the writer has taken, and the signal it moved.
    let written = Mutex::new(0usize);
    let moved = Condvar::new();
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Result<Chunks, DnfRepoError>)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, stop, written, moved) = (&next, &stop, &written, &moved);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= order.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                {
                    let mut w = written.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= *w + window && !stop.load(Ordering::Relaxed) {
                        w = moved.wait(w).unwrap_or_else(|e| e.into_inner());
                    }
                }
                let chunks = render(repo_dir, order[i], opts.timestamp, opts.dialect);
                if tx.send((i, chunks)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut pending = BTreeMap::new();
        let mut done = 0usize;
        let mut first_error: Option<(usize, DnfRepoError)> = None;
        for (i, chunks) in rx.iter() {
            match chunks {
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
                Ok(c) if first_error.is_none() => {
                    pending.insert(i, c);
                }
                Ok(_) => {}
            }
            while let Some(c) = pending.remove(&done) {
                if let Err(e) = sink(c) {
                    stop.store(true, Ordering::Relaxed);
                    first_error.get_or_insert((done, e));
                    pending.clear();
                    break;
                }
                done += 1;
            }
            *written.lock().unwrap_or_else(|e| e.into_inner()) = done;
            moved.notify_all();
        }
        // Wake any worker still waiting on the window after a stop.
        moved.notify_all();
        match first_error {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    })
}

/// Puts `tmp` in place of `repo_dir/repodata`: an atomic exchange where the kernel and file
/// system allow it, else two renames; then fsyncs `repo_dir`.
fn replace_repodata(repo_dir: &Path, tmp: &Path, tag: &str) -> Result<(), DnfRepoError> {
    let target = repo_dir.join("repodata");
    let result = (|| {
        if target.exists() {
            if !exchange(tmp, &target)? {
                let old = repo_dir.join(format!(".repodata.old-{tag}"));
                fs::rename(&target, &old)?;
                fs::rename(tmp, &target)?;
                let _ = fs::remove_dir_all(&old);
                return File::open(repo_dir)?.sync_all();
            }
            // `tmp` now holds the old metadata.
            fs::remove_dir_all(tmp)?;
        } else {
            fs::rename(tmp, &target)?;
        }
        File::open(repo_dir)?.sync_all()
    })();
    result.map_err(io_err(&target))
}

/// Swaps two paths atomically (`renameat2(RENAME_EXCHANGE)`); false if not supported.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let ca = CString::new(a.as_os_str().as_bytes())?;
    let cb = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: both paths are valid NUL-terminated strings for the duration of the call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP) => Ok(false),
        _ => Err(err),
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_a: &Path, _b: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names() {
        for c in [RepodataCompression::Gz, RepodataCompression::Zst] {
            assert_eq!(c.to_string().parse::<RepodataCompression>(), Ok(c));
        }
        assert!("xz".parse::<RepodataCompression>().is_err());
    }

    #[test]
    fn locations() {
        assert!(location_ok("a.rpm"));
        assert!(location_ok("Packages/p/a.rpm"));
        for bad in [
            "",
            "/a.rpm",
            "../a.rpm",
            "a/../b.rpm",
            "a//b.rpm",
            "./a.rpm",
            "a\\b",
        ] {
            assert!(!location_ok(bad), "{bad}");
        }
    }

    #[test]
    fn order_is_by_file_name() {
        let f = |l: &str| RpmFile {
            location: l.into(),
            sha256: "0".repeat(64),
            size: 0,
        };
        let files = [f("sub/aaa.rpm"), f("z.rpm"), f("a-z.rpm"), f("b/z.rpm")];
        let names: Vec<&str> = sorted(&files).iter().map(|f| f.location.as_str()).collect();
        assert_eq!(names, ["a-z.rpm", "sub/aaa.rpm", "b/z.rpm", "z.rpm"]);
    }
}
