//! The offline bundle: a reproducible `.tgz` or `.tar.zst` of one top folder `pigsty/`, its
//! writer ([`write_bundle`]) and its streaming reader and verifier ([`read_manifest`],
//! [`verify_bundle`]).
//!
//! The same input tree and the same SOURCE_DATE_EPOCH give byte-identical bundles: entries are
//! sorted by path, owners are 0/0 with no names, modes are 0755 or 0644, every mtime is the
//! epoch, and GNU headers carry no atime, ctime or pax records. `pigsty/MANIFEST.json` and
//! `pigsty/MANIFEST.json.asc` come first (right after the `pigsty/` entry) so that the
//! installer can read the manifest and then check every other file in a single pass.
//!
//! Nothing is held whole in memory: files are copied through buffers, the SHA-256 of the
//! bundle is computed on the compressed stream as it goes out, and the bundle is written to a
//! temporary file beside the target which is fsynced and renamed into place only once
//! complete. A `<bundle>.sha256` file in `sha256sum` format is written beside it.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use sha2::{Digest, Sha256};

use crate::manifest::{
    check_rel_path, hash_file, FileEntry, Manifest, ManifestError, MANIFEST_NAME, SIGNATURE_NAME,
};

/// The bundle's top folder.
pub const TOP: &str = "pigsty";
/// gzip level for `.tgz` entries that are not compressed already (metadata, scripts).
pub const GZIP_LEVEL: u32 = 3;
/// File extensions whose content is compressed already (packages, compressed metadata): in a
/// `.tgz` they are stored (deflate level 0), since compressing them again is wasted work.
pub const PRECOMPRESSED: &[&str] = &[
    "deb", "udeb", "ddeb", "rpm", "gz", "tgz", "xz", "zst", "bz2", "lz4", "lzma", "zip",
];
/// zstd level for `.tar.zst`: packages are compressed already, so level 1 loses nothing in
/// size (measured: smaller than `tar | zstd -T0` at its level 3) and is quicker.
pub const ZSTD_LEVEL: i32 = 1;
/// The largest `MANIFEST.json` the reader accepts.
pub const MAX_MANIFEST_SIZE: u64 = 64 << 20;
/// The largest `MANIFEST.json.asc` the reader accepts.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;

const BUF_SIZE: usize = 1 << 20;
const BLOCK: u64 = 512;

/// How a bundle is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleFormat {
    /// gzip: `.tgz`, readable by any `tar -xzf`.
    Tgz,
    /// zstd: `.tar.zst`, faster; `tar --zstd -xf`.
    TarZst,
}

impl BundleFormat {
    /// The format a file name asks for: `.tgz`/`.tar.gz` or `.tar.zst`/`.tzst`.
    pub fn from_path_name(path: &Path) -> Option<BundleFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
            Some(BundleFormat::Tgz)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(BundleFormat::TarZst)
        } else {
            None
        }
    }

    /// The usual file extension, with its dot: `.tgz` or `.tar.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            BundleFormat::Tgz => ".tgz",
            BundleFormat::TarZst => ".tar.zst",
        }
    }
}

impl fmt::Display for BundleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BundleFormat::Tgz => "tgz",
            BundleFormat::TarZst => "tar.zst",
        })
    }
}

/// What [`write_bundle`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    pub path: PathBuf,
    /// Size of the compressed bundle in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the compressed bundle.
    pub sha256: String,
}

/// One thing wrong with a bundle, found by [`verify_bundle`]. Paths are archive paths
/// (`pigsty/pool/foo_1.0_amd64.deb`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Listed in the manifest, absent from the archive.
    Missing {
        path: String,
    },
    /// In the archive, not listed in the manifest.
    Unlisted {
        path: String,
    },
    /// In the archive more than once.
    Duplicate {
        path: String,
    },
    SizeMismatch {
        path: String,
        expected: u64,
        found: u64,
    },
    Sha256Mismatch {
        path: String,
    },
    /// An entry that has no place in a bundle (link, device, path outside `pigsty/`...).
    BadEntry {
        path: String,
        reason: String,
    },
    /// The archive stops early; what follows it was not checked.
    Truncated {
        detail: String,
    },
    /// The compressed stream or the tar structure is damaged; what follows was not checked.
    Corrupt {
        detail: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { path } => write!(f, "{path}: listed in the manifest but missing"),
            Problem::Unlisted { path } => write!(f, "{path}: not listed in the manifest"),
            Problem::Duplicate { path } => write!(f, "{path}: duplicate entry"),
            Problem::SizeMismatch {
                path,
                expected,
                found,
            } => write!(
                f,
                "{path}: size mismatch (manifest {expected} bytes, archive {found} bytes)"
            ),
            Problem::Sha256Mismatch { path } => write!(f, "{path}: sha256 mismatch"),
            Problem::BadEntry { path, reason } => write!(f, "{path}: {reason}"),
            Problem::Truncated { detail } => write!(f, "truncated archive: {detail}"),
            Problem::Corrupt { detail } => write!(f, "corrupt archive: {detail}"),
        }
    }
}

/// The problems of a bundle, one a line, at most 50.
pub struct Problems<'a>(pub &'a [Problem]);

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 50;
        for p in self.0.iter().take(SHOWN) {
            write!(f, "\n  - {p}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, "\n  ... and {} more", self.0.len() - SHOWN)?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: not a directory", path.display())]
    NotADir { path: PathBuf },
    #[error("{}: is a symbolic link; bundles hold only files and directories", path.display())]
    Symlink { path: PathBuf },
    #[error("{}: not a regular file or directory", path.display())]
    Special { path: PathBuf },
    #[error("{}: file name is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("extra bundle file `{path}`: {reason}")]
    BadExtra { path: String, reason: String },
    #[error("`{path}` would be in the bundle twice")]
    DuplicateEntry { path: String },
    #[error("{}: changed while being written to the bundle ({reason})", path.display())]
    FileChanged { path: PathBuf, reason: String },
    #[error("not enough free space in {}: the bundle needs up to {} ({needed} bytes), {} ({available} bytes) available", dir.display(), human(*needed), human(*available))]
    NoSpace {
        dir: PathBuf,
        needed: u64,
        available: u64,
    },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("{}: not a gzip or zstd bundle (starts with {magic})", path.display())]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{}: {detail}; not a bundle made by pigsty-build?", path.display())]
    NoManifest { path: PathBuf, detail: String },
    #[error("{}: {source}", path.display())]
    Manifest {
        path: PathBuf,
        source: ManifestError,
    },
    #[error("{}: truncated archive: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: corrupt archive: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    #[error("{}: {} problem(s):{}", path.display(), problems.len(), Problems(problems))]
    Verify {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

/// Bytes as a short human size: `1.5 GiB`.
pub(crate) fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

// ---------------------------------------------------------------------------------------------
// Collecting the entries
// ---------------------------------------------------------------------------------------------

/// Where an entry's bytes come from.
#[derive(Debug)]
enum Source<'a> {
    Dir,
    File {
        path: PathBuf,
        size: u64,
        exec: bool,
    },
    Data(&'a [u8]),
}

/// One archive entry; `rel` is relative to `pigsty/` (empty for `pigsty/` itself).
#[derive(Debug)]
struct Entry<'a> {
    rel: String,
    source: Source<'a>,
}

impl Entry<'_> {
    fn archive_path(&self) -> String {
        match (&self.source, self.rel.is_empty()) {
            (_, true) => format!("{TOP}/"),
            (Source::Dir, false) => format!("{TOP}/{}/", self.rel),
            _ => format!("{TOP}/{}", self.rel),
        }
    }

    /// Whether the entry's bytes are compressed already, judging by its extension.
    fn precompressed(&self) -> bool {
        match &self.source {
            Source::File { .. } => match self.rel.rsplit_once('.') {
                Some((_, ext)) => PRECOMPRESSED.iter().any(|p| ext.eq_ignore_ascii_case(p)),
                None => false,
            },
            _ => false,
        }
    }

    fn data_size(&self) -> u64 {
        match &self.source {
            Source::Dir => 0,
            Source::File { size, .. } => *size,
            Source::Data(d) => d.len() as u64,
        }
    }
}

/// Walks `src_dir`: every directory and regular file under it by its path relative to it.
/// Symbolic links and special files are refused.
fn scan_tree(src_dir: &Path) -> Result<BTreeMap<String, Source<'static>>, BundleError> {
    let meta = fs::symlink_metadata(src_dir).map_err(|source| BundleError::Read {
        path: src_dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(BundleError::NotADir {
            path: src_dir.to_path_buf(),
        });
    }
    let mut found = BTreeMap::new();
    let mut stack = vec![(src_dir.to_path_buf(), String::new())];
    while let Some((dir, rel_dir)) = stack.pop() {
        let read_err = |source| BundleError::Read {
            path: dir.clone(),
            source,
        };
        for item in fs::read_dir(&dir).map_err(read_err)? {
            let item = item.map_err(read_err)?;
            let path = item.path();
            let name = item
                .file_name()
                .into_string()
                .map_err(|_| BundleError::NotUtf8 { path: path.clone() })?;
            let rel = if rel_dir.is_empty() {
                name
            } else {
                format!("{rel_dir}/{name}")
            };
            let meta = fs::symlink_metadata(&path).map_err(|source| BundleError::Read {
                path: path.clone(),
                source,
            })?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                return Err(BundleError::Symlink { path });
            } else if kind.is_dir() {
                found.insert(rel.clone(), Source::Dir);
                stack.push((path, rel));
            } else if kind.is_file() {
                let exec = meta.permissions().mode() & 0o111 != 0;
                let size = meta.len();
                found.insert(rel, Source::File { path, size, exec });
            } else {
                return Err(BundleError::Special { path });
            }
        }
    }
    Ok(found)
}

/// The entries of a bundle in archive order: `pigsty/`, the manifest and its signature, then
/// everything else sorted by path bytes.
fn collect_entries<'a>(
    src_dir: &Path,
    extra: &'a [(String, Vec<u8>)],
) -> Result<Vec<Entry<'a>>, BundleError> {
    let mut all: BTreeMap<String, Source<'a>> = scan_tree(src_dir)?.into_iter().collect();
    for (name, data) in extra {
        let rel = name.strip_prefix(&format!("{TOP}/")).unwrap_or(name);
        check_rel_path(rel).map_err(|reason| BundleError::BadExtra {
            path: name.clone(),
            reason,
        })?;
        if all.contains_key(rel) {
            return Err(BundleError::DuplicateEntry {
                path: format!("{TOP}/{rel}"),
            });
        }
        // Parent folders that the tree does not have.
        let mut parent = rel;
        while let Some((up, _)) = parent.rsplit_once('/') {
            match all.get(up) {
                Some(Source::Dir) => {}
                Some(_) => {
                    return Err(BundleError::BadExtra {
                        path: name.clone(),
                        reason: format!("`{up}` is a file"),
                    })
                }
                None => {
                    all.insert(up.to_string(), Source::Dir);
                }
            }
            parent = up;
        }
        all.insert(rel.to_string(), Source::Data(data));
    }
    let mut entries = Vec::with_capacity(all.len() + 1);
    entries.push(Entry {
        rel: String::new(),
        source: Source::Dir,
    });
    for first in [MANIFEST_NAME, SIGNATURE_NAME] {
        if let Some((rel, source)) = all.remove_entry(first) {
            if matches!(source, Source::Dir) {
                return Err(BundleError::Special {
                    path: src_dir.join(rel),
                });
            }
            entries.push(Entry { rel, source });
        }
    }
    entries.extend(all.into_iter().map(|(rel, source)| Entry { rel, source }));
    Ok(entries)
}

/// How many bytes the tar stream of these entries takes, headers and padding included.
fn tar_size(entries: &[Entry]) -> u64 {
    let padded = |n: u64| n.div_ceil(BLOCK) * BLOCK;
    let mut total = 2 * BLOCK;
    for e in entries {
        let name = e.archive_path().len() as u64;
        if name >= 100 {
            total += BLOCK + padded(name + 1);
        }
        total += BLOCK + padded(e.data_size());
    }
    total
}

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Writes `src_dir` as the bundle `out`, its contents under `pigsty/`, plus the in-memory
/// files of `extra` (paths relative to `pigsty/`; a leading `pigsty/` is accepted too), e.g.
/// `MANIFEST.json` and `MANIFEST.json.asc`. Every entry gets `mtime` (SOURCE_DATE_EPOCH).
/// Also writes `<out>.sha256`. On error, `out` is left as it was and nothing else remains.
pub fn write_bundle(
    src_dir: &Path,
    out: &Path,
    format: BundleFormat,
    mtime: u64,
    extra: &[(String, Vec<u8>)],
) -> Result<BundleInfo, BundleError> {
    write_bundle_except(src_dir, out, format, mtime, extra, &[])
}

/// [`write_bundle`] leaving out the files `skip` (paths relative to `src_dir`): a delta
/// bundle, whose manifest lists them as carried over from its base.
pub fn write_bundle_except(
    src_dir: &Path,
    out: &Path,
    format: BundleFormat,
    mtime: u64,
    extra: &[(String, Vec<u8>)],
    skip: &[String],
) -> Result<BundleInfo, BundleError> {
    let mut entries = collect_entries(src_dir, extra)?;
    if !skip.is_empty() {
        let skip: std::collections::HashSet<&str> = skip.iter().map(String::as_str).collect();
        entries.retain(|e| !skip.contains(e.rel.as_str()));
    }
    let needed = match format {
        // Incompressible data grows a little: ~0.03% for deflate, less for zstd.
        BundleFormat::Tgz | BundleFormat::TarZst => {
            let raw = tar_size(&entries);
            raw + raw / 256 + (1 << 20)
        }
    };
    check_space(out, needed)?;
    write_entries(&entries, out, format, mtime, zstd_workers())
}

/// The zstd worker count: one per CPU. Any count from one up gives the same bytes.
fn zstd_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 64) as u32
}

/// The folder `out` goes in.
fn out_dir(out: &Path) -> PathBuf {
    match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Fails if the filesystem of `out` has less than `needed` bytes available.
fn check_space(out: &Path, needed: u64) -> Result<(), BundleError> {
    let dir = out_dir(out);
    let available = available_space(&dir).map_err(|source| BundleError::Write {
        path: dir.clone(),
        source,
    })?;
    if available < needed {
        return Err(BundleError::NoSpace {
            dir,
            needed,
            available,
        });
    }
    Ok(())
}

/// The bytes an unprivileged user may still write on the filesystem of `dir`.
pub(crate) fn available_space(dir: &Path) -> io::Result<u64> {
    let c_path = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: statvfs is plain old data, zeroed is a valid value for it.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a NUL-terminated string and stat a valid, writable statvfs.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)]
    Ok((stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64))
}

/// Removes the temporary files unless disarmed.
struct TempGuard {
    paths: Vec<PathBuf>,
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        for p in &self.paths {
            let _ = fs::remove_file(p);
        }
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Hashes and counts the bytes on their way out.
struct HashWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> Write for HashWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads exactly `expected` bytes of a file, failing if it is shorter; records whether an
/// error came from the file (rather than from the output).
struct FileReader {
    inner: BufReader<File>,
    remaining: u64,
    failed: Option<io::Error>,
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let result = match self.inner.read(&mut buf[..max]) {
            Ok(0) => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("it became {} bytes shorter", self.remaining),
            )),
            other => other,
        };
        match result {
            Ok(n) => {
                self.remaining -= n as u64;
                Ok(n)
            }
            Err(e) => {
                let copy = io::Error::new(e.kind(), e.to_string());
                self.failed = Some(e);
                Err(copy)
            }
        }
    }
}

/// Compressors whose level can change between entries.
trait Levels {
    /// Whether [`Levels::set_stored`] does anything.
    fn wants_levels(&self) -> bool {
        false
    }

    /// Stores (true) or compresses (false) what comes next.
    fn set_stored(&mut self, _stored: bool) -> io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Levels for zstd::stream::Encoder<'_, W> {}

/// A gzip writer (one member, no name, mtime 0, OS unknown: deterministic) whose deflate
/// level can change between entries, so that packages are stored and metadata compressed.
struct GzWriter<W: Write> {
    inner: W,
    deflate: Compress,
    crc: Crc,
    out: Vec<u8>,
    level: u32,
}

impl<W: Write> GzWriter<W> {
    fn new(mut inner: W, level: u32) -> io::Result<GzWriter<W>> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown).
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff])?;
        Ok(GzWriter {
            inner,
            deflate: Compress::new(Compression::new(level), false),
            crc: Crc::new(),
            out: Vec::with_capacity(BUF_SIZE),
            level,
        })
    }

    /// Runs deflate over `input` with `flush`, writing out what it makes; returns how much
    /// of `input` it took.
    fn run(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<(usize, Status)> {
        self.out.clear();
        let before = self.deflate.total_in();
        let status = self
            .deflate
            .compress_vec(input, &mut self.out, flush)
            .map_err(io::Error::other)?;
        self.inner.write_all(&self.out)?;
        Ok(((self.deflate.total_in() - before) as usize, status))
    }

    /// Ends the deflate stream, writes the trailer (CRC-32, length) and hands back the writer.
    fn finish(mut self) -> io::Result<W> {
        loop {
            let (_, status) = self.run(&[], FlushCompress::Finish)?;
            if status == Status::StreamEnd {
                break;
            }
        }
        self.inner.write_all(&self.crc.sum().to_le_bytes())?;
        self.inner.write_all(&self.crc.amount().to_le_bytes())?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for GzWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            let (taken, _) = self.run(rest, FlushCompress::None)?;
            rest = &rest[taken..];
        }
        self.crc.update(buf);
        Ok(buf.len())
    }

    /// Passes buffered output on; the deflate stream itself is not flushed.
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Levels for GzWriter<W> {
    fn wants_levels(&self) -> bool {
        true
    }

    fn set_stored(&mut self, stored: bool) -> io::Result<()> {
        let level = if stored { 0 } else { GZIP_LEVEL };
        if level == self.level {
            return Ok(());
        }
        // End the current block with a sync flush (byte-aligned, not final), then go on with a
        // fresh compressor: its blocks continue the same raw deflate stream. (Changing the
        // level in place, deflateParams, fails with zlib-rs through flate2.)
        loop {
            self.run(&[], FlushCompress::Sync)?;
            if self.out.len() < self.out.capacity() {
                break;
            }
        }
        self.deflate = Compress::new(Compression::new(level), false);
        self.level = level;
        Ok(())
    }
}

/// Writes the tar stream of `entries` into `w` and hands `w` back.
fn write_tar<W: Write + Levels>(
    w: W,
    entries: &[Entry],
    mtime: u64,
    out: &Path,
) -> Result<W, BundleError> {
    let werr = |source| BundleError::Write {
        path: out.to_path_buf(),
        source,
    };
    let mut tar = tar::Builder::new(BufWriter::with_capacity(BUF_SIZE, w));
    let mut stored = false;
    for e in entries {
        let precompressed = e.precompressed();
        if precompressed != stored && tar.get_ref().get_ref().wants_levels() {
            let buffered = tar.get_mut();
            buffered.flush().map_err(werr)?;
            buffered.get_mut().set_stored(precompressed).map_err(werr)?;
            stored = precompressed;
        }
        let mut header = tar::Header::new_gnu();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(mtime);
        let path = e.archive_path();
        match &e.source {
            Source::Dir => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                tar.append_data(&mut header, &path, io::empty())
                    .map_err(werr)?;
            }
            Source::Data(data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(data.len() as u64);
                tar.append_data(&mut header, &path, *data).map_err(werr)?;
            }
            Source::File {
                path: file,
                size,
                exec,
            } => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if *exec { 0o755 } else { 0o644 });
                header.set_size(*size);
                let opened = File::open(file).map_err(|source| BundleError::Read {
                    path: file.clone(),
                    source,
                })?;
                let mut reader = FileReader {
                    inner: BufReader::with_capacity(BUF_SIZE, opened),
                    remaining: *size,
                    failed: None,
                };
                if let Err(e) = tar.append_data(&mut header, &path, &mut reader) {
                    return Err(match reader.failed.take() {
                        Some(source) if source.kind() == io::ErrorKind::UnexpectedEof => {
                            BundleError::FileChanged {
                                path: file.clone(),
                                reason: source.to_string(),
                            }
                        }
                        Some(source) => BundleError::Read {
                            path: file.clone(),
                            source,
                        },
                        None => werr(e),
                    });
                }
                let mut probe = [0u8; 1];
                let more = reader
                    .inner
                    .read(&mut probe)
                    .map_err(|source| BundleError::Read {
                        path: file.clone(),
                        source,
                    })?;
                if more != 0 {
                    return Err(BundleError::FileChanged {
                        path: file.clone(),
                        reason: format!("it grew past {size} bytes"),
                    });
                }
            }
        }
    }
    let buffered = tar.into_inner().map_err(werr)?;
    buffered.into_inner().map_err(|e| werr(e.into_error()))
}

/// Compresses the entries into `<out>.tmp-<pid>`, then moves it and its `.sha256` into place.
fn write_entries(
    entries: &[Entry],
    out: &Path,
    format: BundleFormat,
    mtime: u64,
    workers: u32,
) -> Result<BundleInfo, BundleError> {
    let pid = std::process::id();
    let tmp = with_suffix(out, &format!(".tmp-{pid}"));
    let sum_path = with_suffix(out, ".sha256");
    let sum_tmp = with_suffix(&sum_path, &format!(".tmp-{pid}"));
    let mut guard = TempGuard {
        paths: vec![tmp.clone(), sum_tmp.clone()],
    };
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Write { path, source }
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(werr(&tmp))?;
    let sink = HashWriter {
        inner: BufWriter::with_capacity(BUF_SIZE, file),
        hasher: Sha256::new(),
        count: 0,
    };
    let sink = match format {
        BundleFormat::Tgz => {
            let gz = GzWriter::new(sink, GZIP_LEVEL).map_err(werr(&tmp))?;
            write_tar(gz, entries, mtime, &tmp)?
                .finish()
                .map_err(werr(&tmp))?
        }
        BundleFormat::TarZst => {
            let mut zst = zstd::stream::Encoder::new(sink, ZSTD_LEVEL).map_err(werr(&tmp))?;
            zst.multithread(workers.max(1)).map_err(werr(&tmp))?;
            zst.include_checksum(true).map_err(werr(&tmp))?;
            write_tar(zst, entries, mtime, &tmp)?
                .finish()
                .map_err(werr(&tmp))?
        }
    };
    let HashWriter {
        inner,
        hasher,
        count,
    } = sink;
    let file = inner.into_inner().map_err(|e| werr(&tmp)(e.into_error()))?;
    file.sync_all().map_err(werr(&tmp))?;
    drop(file);
    let sha256 = hex::encode(hasher.finalize());

    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut sum_file = File::create(&sum_tmp).map_err(werr(&sum_tmp))?;
    sum_file
        .write_all(format!("{sha256}  {name}\n").as_bytes())
        .and_then(|()| sum_file.sync_all())
        .map_err(werr(&sum_tmp))?;
    drop(sum_file);

    fs::rename(&tmp, out).map_err(werr(out))?;
    guard.paths = vec![sum_tmp.clone()];
    fs::rename(&sum_tmp, &sum_path).map_err(werr(&sum_path))?;
    guard.paths.clear();
    // Make the renames durable; a failure here loses nothing that was asked for.
    if let Ok(dir) = File::open(out_dir(out)) {
        let _ = dir.sync_all();
    }
    Ok(BundleInfo {
        path: out.to_path_buf(),
        size: count,
        sha256,
    })
}

/// The files of a bundle source tree as manifest entries (sizes and SHA-256 streamed from
/// disk), sorted by path, leaving out a top-level `MANIFEST.json` and `MANIFEST.json.asc`.
pub fn file_entries(src_dir: &Path) -> Result<Vec<FileEntry>, BundleError> {
    let mut files = Vec::new();
    for (rel, source) in scan_tree(src_dir)? {
        if let Source::File { path, .. } = source {
            if rel == MANIFEST_NAME || rel == SIGNATURE_NAME {
                continue;
            }
            let (size, sha256) = hash_file(&path).map_err(|source| BundleError::Read {
                path: path.clone(),
                source,
            })?;
            files.push(FileEntry {
                path: rel,
                size,
                sha256,
            });
        }
    }
    Ok(files)
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Opens a bundle and returns its decompressed tar stream; the format is told by the magic
/// bytes (gzip `1f 8b`, zstd `28 b5 2f fd`), not by the name.
pub(crate) fn open_bundle(bundle: &Path) -> Result<Box<dyn Read>, BundleError> {
    let file = File::open(bundle).map_err(|source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    let mut reader = BufReader::with_capacity(BUF_SIZE, file);
    let head = reader.fill_buf().map_err(|source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(reader).map_err(|source| {
            BundleError::Read {
                path: bundle.to_path_buf(),
                source,
            }
        })?;
        Ok(Box::new(decoder))
    } else {
        let magic = head
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        Err(BundleError::UnknownFormat {
            path: bundle.to_path_buf(),
            magic: if magic.is_empty() {
                "nothing".into()
            } else {
                magic
            },
        })
    }
}

/// A stream error as a problem: early end of data is truncation, the rest corruption.
pub(crate) fn stream_problem(e: &io::Error) -> Problem {
    let text = e.to_string();
    let truncated = e.kind() == io::ErrorKind::UnexpectedEof
        || text.contains("incomplete frame")
        || text.contains("unexpected end")
        || text.contains("failed to read entire block");
    if truncated {
        Problem::Truncated { detail: text }
    } else {
        Problem::Corrupt { detail: text }
    }
}

fn stream_error(bundle: &Path, e: &io::Error) -> BundleError {
    match stream_problem(e) {
        Problem::Truncated { detail } => BundleError::Truncated {
            path: bundle.to_path_buf(),
            detail,
        },
        other => BundleError::Corrupt {
            path: bundle.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// What an archive entry is, as far as a bundle cares.
enum Kind {
    /// `pigsty/` itself.
    Top,
    Dir,
    /// A regular file; its path relative to `pigsty/`.
    File(String),
    /// Anything else, with the reason it does not belong.
    Bad(String),
}

/// Classifies an entry: its archive path (lossy, for messages) and its kind.
fn classify<R: Read>(entry: &tar::Entry<R>) -> (String, Kind) {
    let raw = entry.path_bytes();
    let shown = String::from_utf8_lossy(&raw).into_owned();
    let Ok(name) = std::str::from_utf8(&raw) else {
        return (shown, Kind::Bad("path is not UTF-8".into()));
    };
    let name = name.strip_prefix("./").unwrap_or(name);
    let rel = match name.strip_prefix(TOP) {
        Some("") | Some("/") => {
            return match entry.header().entry_type() {
                tar::EntryType::Directory => (shown, Kind::Top),
                _ => (shown, Kind::Bad("the top folder is not a directory".into())),
            }
        }
        Some(rest) => match rest.strip_prefix('/') {
            Some(rel) => rel,
            None => return (shown, Kind::Bad(format!("outside the top folder `{TOP}/`"))),
        },
        None => return (shown, Kind::Bad(format!("outside the top folder `{TOP}/`"))),
    };
    let entry_type = entry.header().entry_type();
    let rel = if entry_type.is_dir() {
        rel.strip_suffix('/').unwrap_or(rel)
    } else {
        rel
    };
    if let Err(reason) = check_rel_path(rel) {
        return (shown, Kind::Bad(reason));
    }
    match entry_type {
        tar::EntryType::Directory => (shown, Kind::Dir),
        tar::EntryType::Regular | tar::EntryType::Continuous => (shown, Kind::File(rel.into())),
        other => (shown, Kind::Bad(format!("unexpected entry type {other:?}"))),
    }
}

/// Reads a small entry whole, refusing one larger than `max`.
fn read_small<R: Read>(
    entry: &mut tar::Entry<R>,
    max: u64,
    bundle: &Path,
    shown: &str,
) -> Result<Vec<u8>, BundleError> {
    let size = entry.header().entry_size().unwrap_or(u64::MAX);
    if size > max {
        return Err(BundleError::NoManifest {
            path: bundle.to_path_buf(),
            detail: format!("{shown} is {size} bytes, more than the {max} allowed"),
        });
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    Read::take(&mut *entry, max)
        .read_to_end(&mut data)
        .map_err(|e| stream_error(bundle, &e))?;
    if (data.len() as u64) < size {
        return Err(BundleError::Truncated {
            path: bundle.to_path_buf(),
            detail: format!("{shown} stops after {} of its {size} bytes", data.len()),
        });
    }
    Ok(data)
}

/// The head of a bundle: the manifest and its signature, which the writer puts first.
struct Head {
    manifest: Manifest,
    /// The bytes of `MANIFEST.json` as they are in the archive: what the signature covers.
    raw: Vec<u8>,
    signature: Option<Vec<u8>>,
}

/// Reads entries until the manifest (and its signature, if next) has been read; the first
/// entry after them is handed back, unread, for [`verify_bundle`] to go on with.
fn read_head<'a, R: Read + 'a>(
    entries: &mut tar::Entries<'a, R>,
    bundle: &Path,
) -> Result<(Head, Option<tar::Entry<'a, R>>), BundleError> {
    let mut manifest = None;
    let mut raw = Vec::new();
    let mut signature = None;
    for entry in entries.by_ref() {
        let mut entry = entry.map_err(|e| stream_error(bundle, &e))?;
        let (shown, kind) = classify(&entry);
        match (kind, manifest.is_some()) {
            (Kind::Top, false) => continue,
            (Kind::File(rel), false) if rel == MANIFEST_NAME => {
                let data = read_small(&mut entry, MAX_MANIFEST_SIZE, bundle, &shown)?;
                let parsed =
                    Manifest::from_json(&data).map_err(|source| BundleError::Manifest {
                        path: bundle.to_path_buf(),
                        source,
                    })?;
                manifest = Some(parsed);
                raw = data;
            }
            (Kind::File(rel), true) if rel == SIGNATURE_NAME && signature.is_none() => {
                signature = Some(read_small(&mut entry, MAX_SIGNATURE_SIZE, bundle, &shown)?);
            }
            (_, true) => {
                if let Some(manifest) = manifest.take() {
                    let signature = signature.take();
                    return Ok((
                        Head {
                            manifest,
                            raw: std::mem::take(&mut raw),
                            signature,
                        },
                        Some(entry),
                    ));
                }
            }
            (_, false) => {
                return Err(BundleError::NoManifest {
                    path: bundle.to_path_buf(),
                    detail: format!(
                        "{shown} comes before {TOP}/{MANIFEST_NAME}, which must be first"
                    ),
                })
            }
        }
    }
    match manifest {
        Some(manifest) => Ok((
            Head {
                manifest,
                raw,
                signature,
            },
            None,
        )),
        None => Err(BundleError::NoManifest {
            path: bundle.to_path_buf(),
            detail: format!("no {TOP}/{MANIFEST_NAME}"),
        }),
    }
}

/// The manifest of a bundle with the exact bytes its signature covers.
#[derive(Debug, Clone)]
pub struct SignedManifest {
    pub manifest: Manifest,
    /// `MANIFEST.json` as stored in the bundle.
    pub raw: Vec<u8>,
    /// `MANIFEST.json.asc`, if the bundle has one.
    pub signature: Option<Vec<u8>>,
}

/// Like [`read_manifest`], but also returns the manifest's bytes, for checking its signature.
pub fn read_signed_manifest(bundle: &Path) -> Result<SignedManifest, BundleError> {
    let stream = open_bundle(bundle)?;
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    let (head, _) = read_head(&mut entries, bundle)?;
    Ok(SignedManifest {
        manifest: head.manifest,
        raw: head.raw,
        signature: head.signature,
    })
}

/// Reads the manifest of a bundle, streaming only as far as it and its signature, and
/// returns it (validated) with the bytes of `MANIFEST.json.asc` if the bundle has one. The
/// signature is not checked here.
pub fn read_manifest(bundle: &Path) -> Result<(Manifest, Option<Vec<u8>>), BundleError> {
    let stream = open_bundle(bundle)?;
    let mut archive = tar::Archive::new(stream);
    let mut entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    let (head, _) = read_head(&mut entries, bundle)?;
    Ok((head.manifest, head.signature))
}

/// Streams the whole bundle once and checks every file against its manifest: size and
/// SHA-256 of every listed file, no file missing, none unlisted, none twice, nothing but
/// files and directories under `pigsty/`, and an intact compressed stream to its end.
/// Returns the manifest if all is well, else every problem found.
pub fn verify_bundle(bundle: &Path) -> Result<Manifest, BundleError> {
    let stream = open_bundle(bundle)?;
    let mut archive = tar::Archive::new(stream);
    let mut problems = Vec::new();
    let manifest = {
        let mut entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
        let (head, next) = read_head(&mut entries, bundle)?;
        let manifest = head.manifest;
        let index: HashMap<&str, usize> = manifest
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_str(), i))
            .collect();
        let mut seen = vec![false; manifest.files.len()];
        let mut seen_dirs = std::collections::HashSet::new();
        let mut fatal = false;
        let rest = next
            .into_iter()
            .map(Ok::<_, io::Error>)
            .chain(entries.by_ref());
        for entry in rest {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    problems.push(stream_problem(&e));
                    fatal = true;
                    break;
                }
            };
            let (shown, kind) = classify(&entry);
            match kind {
                Kind::Top => problems.push(Problem::Duplicate { path: shown }),
                Kind::Dir => {
                    if !seen_dirs.insert(shown.clone()) {
                        problems.push(Problem::Duplicate { path: shown });
                    }
                }
                Kind::Bad(reason) => problems.push(Problem::BadEntry {
                    path: shown,
                    reason,
                }),
                Kind::File(rel) => {
                    let expected_size = entry.header().entry_size().unwrap_or(0);
                    let (found, sha256) = match crate::manifest::hash_reader(&mut entry) {
                        Ok(r) => r,
                        Err(e) => {
                            problems.push(stream_problem(&e));
                            fatal = true;
                            break;
                        }
                    };
                    if found < expected_size {
                        problems.push(Problem::Truncated {
                            detail: format!(
                                "{shown} stops after {found} of its {expected_size} bytes"
                            ),
                        });
                        fatal = true;
                        break;
                    }
                    match index.get(rel.as_str()) {
                        None if rel == MANIFEST_NAME || rel == SIGNATURE_NAME => {
                            problems.push(Problem::Duplicate { path: shown })
                        }
                        None => problems.push(Problem::Unlisted { path: shown }),
                        Some(&i) if seen[i] => problems.push(Problem::Duplicate { path: shown }),
                        Some(&i) => {
                            seen[i] = true;
                            let want = &manifest.files[i];
                            if want.size != found {
                                problems.push(Problem::SizeMismatch {
                                    path: shown,
                                    expected: want.size,
                                    found,
                                });
                            } else if want.sha256 != sha256 {
                                problems.push(Problem::Sha256Mismatch { path: shown });
                            }
                        }
                    }
                }
            }
        }
        if !fatal {
            let carried: std::collections::HashSet<&str> = manifest
                .base
                .iter()
                .flat_map(|b| b.carried.iter().map(String::as_str))
                .collect();
            for (f, seen) in manifest.files.iter().zip(&seen) {
                if !seen && !carried.contains(f.path.as_str()) {
                    problems.push(Problem::Missing {
                        path: format!("{TOP}/{}", f.path),
                    });
                }
            }
        }
        drop(index);
        (manifest, fatal)
    };
    let (manifest, fatal) = manifest;
    if !fatal {
        // Read to the end, so that the decompressor checks its trailer (gzip CRC and length,
        // zstd checksum) and a cut-off stream shows.
        if let Err(e) = io::copy(&mut archive.into_inner(), &mut io::sink()) {
            problems.push(stream_problem(&e));
        }
    }
    if problems.is_empty() {
        Ok(manifest)
    } else {
        Err(BundleError::Verify {
            path: bundle.to_path_buf(),
            problems,
        })
    }
}

/// Reads one small file of a bundle (path relative to `pigsty/`, e.g. `pigsty.pub`), streaming
/// only as far as it; `None` if the bundle does not have it. Its hash is not checked here.
pub fn read_small_file(bundle: &Path, rel: &str, max: u64) -> Result<Option<Vec<u8>>, BundleError> {
    let stream = open_bundle(bundle)?;
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(bundle, &e))?;
        let (shown, kind) = classify(&entry);
        if let Kind::File(path) = kind {
            if path == rel {
                return read_small(&mut entry, max, bundle, &shown).map(Some);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{PackageEntry, SCHEMA};
    use crate::target::{Arch, Os, Target};
    use std::process::Command;
    use std::time::{Duration, SystemTime};

    const EPOCH: u64 = 1_700_000_000;
    const DEB: &str = "pool/main/f/foo/foo_1.0_amd64.deb";
    const LONG: &str = "pool/main/p/postgresql-17-some-extension-with-a-very-long-name/postgresql-17-some-extension-with-a-very-long-name_1.2.3-1.pgdg120+1_amd64.deb";

    /// Incompressible bytes from a seed (xorshift).
    fn noise(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// The files of the test tree: path, content, executable.
    fn tree_files() -> Vec<(&'static str, Vec<u8>, bool)> {
        vec![
            (DEB, noise(1, 300_000), false),
            (LONG, noise(2, 70_000), false),
            (
                "dists/bookworm/Release",
                b"Origin: pigsty\n".to_vec(),
                false,
            ),
            (
                "dists/bookworm/main/binary-amd64/Packages",
                b"Package: foo\n".to_vec(),
                false,
            ),
            ("bin/install.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
            ("empty.txt", Vec::new(), false),
            ("pool-notes", b"x".to_vec(), false),
        ]
    }

    /// Creates the test tree under `root`, in creation order `reverse` or not, with on-disk
    /// modes and mtimes that depend on `variant`.
    fn make_tree(root: &Path, reverse: bool, variant: u32) {
        let mut files = tree_files();
        if reverse {
            files.reverse();
        }
        fs::create_dir_all(root.join("empty-dir")).unwrap();
        for (i, (path, data, exec)) in files.iter().enumerate() {
            let p = root.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, data).unwrap();
            let mode = match (exec, variant) {
                (true, 0) => 0o755,
                (true, _) => 0o700,
                (false, 0) => 0o644,
                (false, _) => 0o600,
            };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let when = SystemTime::UNIX_EPOCH
                + Duration::from_secs(1_600_000_000 + (i as u64) * 7 + variant as u64 * 1000);
            File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        if variant != 0 {
            fs::set_permissions(root.join("dists"), fs::Permissions::from_mode(0o700)).unwrap();
        }
    }

    fn manifest_for(root: &Path) -> Manifest {
        Manifest {
            schema: SCHEMA,
            target: Target::new(Os::D12, Arch::X86_64, 17),
            version: "v4.0.0".into(),
            builder: "pigsty-build 0.1.0".into(),
            catalog: "test".into(),
            created: EPOCH,
            files: file_entries(root).unwrap(),
            packages: vec![PackageEntry {
                name: "foo".into(),
                version: "1.0".into(),
                arch: "amd64".into(),
                file: DEB.into(),
                repo: "pigsty".into(),
                wanted_by: vec![],
            }],
            bootstrap: vec!["foo".into()],
            handoff: None,
            key_fingerprint: None,
            repo_format: "apt".into(),
            package_keys: Vec::new(),
            base: None,
        }
    }

    fn extras(m: &Manifest) -> Vec<(String, Vec<u8>)> {
        vec![
            (
                "pigsty/MANIFEST.json".into(),
                m.to_json().unwrap().into_bytes(),
            ),
            (
                "MANIFEST.json.asc".into(),
                b"-----BEGIN PGP SIGNATURE-----\n".to_vec(),
            ),
        ]
    }

    /// A tree with its manifest, written as a bundle of `format` in `dir`.
    fn bundle_in(dir: &Path, format: BundleFormat) -> (PathBuf, PathBuf, BundleInfo) {
        let src = dir.join("src");
        make_tree(&src, false, 0);
        let m = manifest_for(&src);
        let out = dir.join(format!("bundle{}", format.extension()));
        let info = write_bundle(&src, &out, format, EPOCH, &extras(&m)).unwrap();
        (src, out, info)
    }

    fn problems(err: BundleError) -> Vec<Problem> {
        match err {
            BundleError::Verify { problems, .. } => problems,
            other => panic!("expected a verification failure, got {other}"),
        }
    }

    fn run(cmd: &mut Command) -> String {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Every file extracted under `dir/pigsty` equals the source tree or the extras.
    fn same_as_source(extracted: &Path, src: &Path, m: &Manifest) {
        let top = extracted.join(TOP);
        for (path, data, _) in tree_files() {
            assert_eq!(fs::read(top.join(path)).unwrap(), data, "{path}");
            assert_eq!(fs::read(src.join(path)).unwrap(), data);
        }
        assert_eq!(
            fs::read(top.join(MANIFEST_NAME)).unwrap(),
            m.to_json().unwrap().as_bytes()
        );
        assert!(top.join("empty-dir").is_dir());
        let mode = |p: &str| fs::metadata(top.join(p)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode("bin/install.sh"), 0o755);
        assert_eq!(mode(DEB), 0o644);
        let mtime = fs::metadata(top.join(DEB)).unwrap().modified().unwrap();
        assert_eq!(mtime, SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH));
    }

    #[test]
    fn formats_from_names() {
        assert_eq!(
            BundleFormat::from_path_name(Path::new("/x/a.tgz")),
            Some(BundleFormat::Tgz)
        );
        assert_eq!(
            BundleFormat::from_path_name(Path::new("a.tar.gz")),
            Some(BundleFormat::Tgz)
        );
        assert_eq!(
            BundleFormat::from_path_name(Path::new("a.TAR.ZST")),
            Some(BundleFormat::TarZst)
        );
        assert_eq!(BundleFormat::from_path_name(Path::new("a.tar")), None);
        assert_eq!(BundleFormat::TarZst.extension(), ".tar.zst");
    }

    #[test]
    fn byte_identical_from_any_copy_of_the_tree() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (a, b) = (dir.path().join("a"), dir.path().join("b"));
            make_tree(&a, false, 0);
            make_tree(&b, true, 1);
            let m = manifest_for(&a);
            assert_eq!(m, manifest_for(&b));
            let ext = format.extension();
            let outs = [
                write_bundle(
                    &a,
                    &dir.path().join(format!("1{ext}")),
                    format,
                    EPOCH,
                    &extras(&m),
                )
                .unwrap(),
                write_bundle(
                    &a,
                    &dir.path().join(format!("2{ext}")),
                    format,
                    EPOCH,
                    &extras(&m),
                )
                .unwrap(),
                write_bundle(
                    &b,
                    &dir.path().join(format!("3{ext}")),
                    format,
                    EPOCH,
                    &extras(&m),
                )
                .unwrap(),
            ];
            let first = fs::read(&outs[0].path).unwrap();
            assert_eq!(first.len() as u64, outs[0].size);
            assert_eq!(hex::encode(Sha256::digest(&first)), outs[0].sha256);
            for o in &outs[1..] {
                assert_eq!(
                    fs::read(&o.path).unwrap(),
                    first,
                    "{format}: {}",
                    o.path.display()
                );
                assert_eq!(o.sha256, outs[0].sha256);
            }
            // Another mtime gives another bundle.
            let other = write_bundle(
                &a,
                &dir.path().join(format!("4{ext}")),
                format,
                EPOCH + 1,
                &extras(&m),
            )
            .unwrap();
            assert_ne!(other.sha256, outs[0].sha256);
        }
    }

    #[test]
    fn zstd_output_does_not_depend_on_the_worker_count() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let m = manifest_for(&src);
        let extra = extras(&m);
        let entries = collect_entries(&src, &extra).unwrap();
        let one = write_entries(
            &entries,
            &dir.path().join("1.tar.zst"),
            BundleFormat::TarZst,
            EPOCH,
            1,
        )
        .unwrap();
        let four = write_entries(
            &entries,
            &dir.path().join("4.tar.zst"),
            BundleFormat::TarZst,
            EPOCH,
            4,
        )
        .unwrap();
        assert_eq!(one.sha256, four.sha256);
    }

    #[test]
    fn entry_order_owner_and_modes() {
        let dir = tempfile::tempdir().unwrap();
        let (_, out, _) = bundle_in(dir.path(), BundleFormat::Tgz);
        let listing = run(Command::new("tar").arg("-tzf").arg(&out));
        let names: Vec<&str> = listing.lines().collect();
        assert_eq!(
            &names[..3],
            &[
                "pigsty/",
                "pigsty/MANIFEST.json",
                "pigsty/MANIFEST.json.asc"
            ]
        );
        let rest = &names[3..];
        let mut sorted = rest.to_vec();
        sorted.sort_by(|a, b| a.trim_end_matches('/').cmp(b.trim_end_matches('/')));
        assert_eq!(rest, &sorted[..]);
        assert!(names.contains(&format!("pigsty/{LONG}").as_str()));
        assert!(names.contains(&"pigsty/empty-dir/"));
        let verbose = run(Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(&out));
        for line in verbose.lines() {
            assert!(line.contains(" 0/0 "), "{line}");
            assert!(
                line.starts_with("drwxr-xr-x")
                    || line.starts_with("-rw-r--r--")
                    || line.starts_with("-rwxr-xr-x"),
                "{line}"
            );
            assert!(line.contains("2023-11-14"), "{line}");
        }
    }

    #[test]
    fn real_tar_and_zstd_extract_tgz_and_tar_zst() {
        let dir = tempfile::tempdir().unwrap();
        let (src, tgz, _) = bundle_in(dir.path(), BundleFormat::Tgz);
        let m = manifest_for(&src);
        let zst = dir.path().join("b.tar.zst");
        write_bundle(&src, &zst, BundleFormat::TarZst, EPOCH, &extras(&m)).unwrap();

        let x1 = dir.path().join("x1");
        fs::create_dir(&x1).unwrap();
        run(Command::new("tar").arg("-xzf").arg(&tgz).arg("-C").arg(&x1));
        same_as_source(&x1, &src, &m);

        let x2 = dir.path().join("x2");
        fs::create_dir(&x2).unwrap();
        run(Command::new("tar")
            .arg("--zstd")
            .arg("-xf")
            .arg(&zst)
            .arg("-C")
            .arg(&x2));
        same_as_source(&x2, &src, &m);

        let x3 = dir.path().join("x3");
        fs::create_dir(&x3).unwrap();
        let script = "zstd -dc \"$1\" | tar -x -C \"$2\"";
        run(Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&zst)
            .arg(&x3));
        same_as_source(&x3, &src, &m);

        let x4 = dir.path().join("x4");
        fs::create_dir(&x4).unwrap();
        let script = "gzip -dc \"$1\" | tar -x -C \"$2\"";
        run(Command::new("sh")
            .args(["-c", script, "sh"])
            .arg(&tgz)
            .arg(&x4));
        same_as_source(&x4, &src, &m);
    }

    #[test]
    fn tgz_stores_packages_and_compresses_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("pool")).unwrap();
        let text: Vec<u8> = (0..20_000)
            .flat_map(|i| format!("Package: pkg-{i}\nVersion: 1.{i}\n\n").into_bytes())
            .collect();
        let files = [
            ("Packages", text.clone()),
            ("pool/a_1.0_amd64.deb", noise(7, 200_000)),
            ("pool/b.txt", text.clone()),
            ("pool/c_1.0_amd64.DEB", noise(8, 200_000)),
            ("zz.txt", text.clone()),
        ];
        for (path, data) in &files {
            fs::write(src.join(path), data).unwrap();
        }
        let out = dir.path().join("b.tgz");
        let info = write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap();
        assert!(
            info.size > 400_000 && info.size < 400_000 + 3 * text.len() as u64 / 5,
            "{} for {}",
            info.size,
            3 * text.len()
        );
        run(Command::new("gzip").arg("-t").arg(&out));
        let x = dir.path().join("x");
        fs::create_dir(&x).unwrap();
        run(Command::new("tar").arg("-xzf").arg(&out).arg("-C").arg(&x));
        for (path, data) in &files {
            assert_eq!(&fs::read(x.join(TOP).join(path)).unwrap(), data, "{path}");
        }
    }

    #[test]
    fn sha256sum_accepts_the_checksum_file() {
        let dir = tempfile::tempdir().unwrap();
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let (_, out, info) = bundle_in(&dir.path().join(format.to_string()), format);
            let sum_file = with_suffix(&out, ".sha256");
            let text = fs::read_to_string(&sum_file).unwrap();
            assert_eq!(
                text,
                format!("{}  bundle{}\n", info.sha256, format.extension())
            );
            let ok = run(Command::new("sha256sum")
                .arg("-c")
                .arg(sum_file.file_name().unwrap())
                .current_dir(out.parent().unwrap()));
            assert!(ok.contains(": OK"), "{ok}");
        }
    }

    #[test]
    fn verifies_and_reads_the_manifest() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (src, out, _) = bundle_in(dir.path(), format);
            let want = manifest_for(&src);
            let (m, asc) = read_manifest(&out).unwrap();
            assert_eq!(m, want);
            assert_eq!(
                asc.as_deref(),
                Some(&b"-----BEGIN PGP SIGNATURE-----\n"[..])
            );
            assert_eq!(verify_bundle(&out).unwrap(), want);
        }
    }

    #[test]
    fn names_a_changed_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let m = manifest_for(&src);
        let mut data = fs::read(src.join(DEB)).unwrap();
        data[1000] ^= 1;
        fs::write(src.join(DEB), &data).unwrap();
        let out = dir.path().join("b.tgz");
        write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &extras(&m)).unwrap();
        let err = verify_bundle(&out).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("pigsty/pool/main/f/foo/foo_1.0_amd64.deb: sha256 mismatch"),
            "{text}"
        );
        assert_eq!(
            problems(err),
            vec![Problem::Sha256Mismatch {
                path: format!("pigsty/{DEB}")
            }]
        );
    }

    #[test]
    fn names_missing_unlisted_and_resized_files() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let m = manifest_for(&src);
        fs::remove_file(src.join("dists/bookworm/Release")).unwrap();
        fs::write(src.join("pool/stray.rpm"), b"stray").unwrap();
        fs::write(src.join("pool-notes"), b"longer").unwrap();
        let out = dir.path().join("b.tar.zst");
        write_bundle(&src, &out, BundleFormat::TarZst, EPOCH, &extras(&m)).unwrap();
        let mut found = problems(verify_bundle(&out).unwrap_err());
        found.sort_by_key(|p| p.to_string());
        assert_eq!(
            found,
            vec![
                Problem::Missing {
                    path: "pigsty/dists/bookworm/Release".into()
                },
                Problem::SizeMismatch {
                    path: "pigsty/pool-notes".into(),
                    expected: 1,
                    found: 6
                },
                Problem::Unlisted {
                    path: "pigsty/pool/stray.rpm".into()
                },
            ]
        );
    }

    #[test]
    fn reports_truncated_and_corrupt_bundles() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (_, out, _) = bundle_in(dir.path(), format);
            let full = fs::read(&out).unwrap();
            for cut in [1usize, 8 << 10, 100 << 10] {
                let short = dir
                    .path()
                    .join(format!("short-{cut}{}", format.extension()));
                fs::write(&short, &full[..full.len() - cut]).unwrap();
                let err = verify_bundle(&short).unwrap_err();
                let text = err.to_string();
                let found = problems(err);
                assert!(
                    matches!(found.last(), Some(Problem::Truncated { .. })),
                    "{format} cut {cut}: {text}"
                );
                assert!(text.contains("truncated archive"), "{text}");
                // The manifest, at the start, still reads.
                assert!(read_manifest(&short).is_ok());
            }
            // A byte flipped in the middle of the compressed stream.
            let mut bad = full.clone();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x55;
            let flipped = dir.path().join(format!("flipped{}", format.extension()));
            fs::write(&flipped, &bad).unwrap();
            let err = verify_bundle(&flipped).unwrap_err();
            assert!(matches!(err, BundleError::Verify { .. }), "{format}: {err}");
            // Cut inside the manifest.
            let head = dir.path().join(format!("head{}", format.extension()));
            fs::write(&head, &full[..600]).unwrap();
            let err = read_manifest(&head).unwrap_err();
            assert!(
                matches!(err, BundleError::Truncated { .. }),
                "{format}: {err}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.tgz");
        fs::write(&junk, b"PK\x03\x04 not a bundle").unwrap();
        let err = verify_bundle(&junk).unwrap_err().to_string();
        assert!(
            err.contains("not a gzip or zstd bundle (starts with 50 4b 03 04)"),
            "{err}"
        );
    }

    #[test]
    fn a_bundle_without_manifest_first_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let out = dir.path().join("b.tgz");
        write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap();
        let err = read_manifest(&out).unwrap_err().to_string();
        assert!(
            err.contains("pigsty/bin/ comes before pigsty/MANIFEST.json"),
            "{err}"
        );
        assert!(verify_bundle(&out).is_err());
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[cfg(unix)]
    #[test]
    fn refuses_symlinks_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        std::os::unix::fs::symlink("foo_1.0_amd64.deb", src.join("pool/main/f/foo/foo.deb"))
            .unwrap();
        let out = dir.path().join("b.tgz");
        let err = write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap_err();
        assert!(matches!(err, BundleError::Symlink { .. }));
        assert!(
            err.to_string()
                .contains("pool/main/f/foo/foo.deb: is a symbolic link"),
            "{err}"
        );
        assert_eq!(names(dir.path()), vec!["src"]);
    }

    #[test]
    fn a_file_changing_mid_way_leaves_the_old_bundle_alone() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let out = dir.path().join("b.tar.zst");
        fs::write(&out, b"old bundle").unwrap();
        fs::write(with_suffix(&out, ".sha256"), b"old sum").unwrap();
        for (change, want) in [
            ("shrink", "shorter"),
            ("grow", "grew"),
            ("remove", "No such file"),
        ] {
            let entries = collect_entries(&src, &[]).unwrap();
            let victim = src.join(LONG);
            let original = fs::read(&victim).unwrap();
            match change {
                "shrink" => fs::write(&victim, &original[..10]).unwrap(),
                "grow" => fs::write(&victim, [&original[..], b"more"].concat()).unwrap(),
                _ => fs::remove_file(&victim).unwrap(),
            }
            for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
                let err = write_entries(&entries, &out, format, EPOCH, 2).unwrap_err();
                let text = err.to_string();
                assert!(
                    text.contains(LONG) && text.contains(want),
                    "{change}: {text}"
                );
                assert_eq!(fs::read(&out).unwrap(), b"old bundle");
                assert_eq!(
                    names(dir.path()),
                    vec!["b.tar.zst", "b.tar.zst.sha256", "src"]
                );
            }
            fs::write(&victim, &original).unwrap();
        }
        // A folder that does not exist.
        let err = write_bundle(
            &src,
            &dir.path().join("no/b.tgz"),
            BundleFormat::Tgz,
            EPOCH,
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("no"), "{err}");
        assert_eq!(
            names(dir.path()),
            vec!["b.tar.zst", "b.tar.zst.sha256", "src"]
        );
    }

    #[test]
    fn refuses_when_space_is_short() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_space(&dir.path().join("b.tgz"), u64::MAX / 2)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not enough free space")
                && err.contains("needs up to")
                && err.contains("(9223372036854775807 bytes)")
                && err.contains("available"),
            "{err}"
        );
        check_space(&dir.path().join("b.tgz"), 1).unwrap();
    }

    #[test]
    fn extras_make_their_folders_and_do_not_clash() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        make_tree(&src, false, 0);
        let extra = vec![("keys/pigsty.asc".to_string(), b"key".to_vec())];
        let entries = collect_entries(&src, &extra).unwrap();
        let paths: Vec<String> = entries.iter().map(|e| e.archive_path()).collect();
        assert!(
            paths.contains(&"pigsty/keys/".to_string())
                && paths.contains(&"pigsty/keys/pigsty.asc".to_string())
        );
        let clash = vec![("dists/bookworm/Release".to_string(), b"x".to_vec())];
        assert!(matches!(
            collect_entries(&src, &clash),
            Err(BundleError::DuplicateEntry { .. })
        ));
        let escape = vec![("../evil".to_string(), b"x".to_vec())];
        assert!(matches!(
            collect_entries(&src, &escape),
            Err(BundleError::BadExtra { .. })
        ));
        let under_file = vec![("empty.txt/x".to_string(), b"x".to_vec())];
        assert!(matches!(
            collect_entries(&src, &under_file),
            Err(BundleError::BadExtra { .. })
        ));
    }
}
