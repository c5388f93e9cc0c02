//! Writing a bundle: the tree of the local repo plus in-memory files (the manifest and its
//! signature) as one reproducible compressed tar, hashed as it is written, put in place only
//! when complete.

use std::collections::{BTreeMap, HashSet};
use std::fs::{self as stdfs, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use super::gzip::{GzWriter, Levels, GZIP_LEVEL};
use super::{BundleError, BundleFormat, TOP};
use crate::fs;
use crate::manifest::{check_rel_path, FileEntry, Manifest, MANIFEST_NAME, SIGNATURE_NAME};

/// File extensions whose content is compressed already (packages, compressed metadata): in a
/// `.tgz` they are stored (deflate level 0), since compressing them again is wasted work.
pub const PRECOMPRESSED: &[&str] = &[
    "deb", "udeb", "ddeb", "rpm", "gz", "tgz", "xz", "zst", "bz2", "lz4", "lzma", "zip",
];
/// zstd level for `.tar.zst`: packages are compressed already, so level 1 loses nothing in
/// size (measured: smaller than `tar | zstd -T0` at its level 3) and is quicker.
pub const ZSTD_LEVEL: i32 = 1;

const BUF_SIZE: usize = 1 << 20;
const BLOCK: u64 = 512;

/// What [`write_bundle`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleInfo {
    pub path: PathBuf,
    /// Size of the compressed bundle in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the compressed bundle.
    pub sha256: String,
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
    let meta = stdfs::symlink_metadata(src_dir).map_err(|source| BundleError::Read {
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
        for item in stdfs::read_dir(&dir).map_err(read_err)? {
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
            let meta = stdfs::symlink_metadata(&path).map_err(|source| BundleError::Read {
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

/// How to pack a tree into a bundle.
#[derive(Debug, Clone, Copy)]
pub struct Pack<'a> {
    pub format: BundleFormat,
    /// Every entry's mtime (SOURCE_DATE_EPOCH).
    pub mtime: u64,
    /// In-memory files (paths relative to `pigsty/`; a leading `pigsty/` is accepted too),
    /// e.g. `MANIFEST.json` and `MANIFEST.json.asc`.
    pub extra: &'a [(String, Vec<u8>)],
    /// Files of the tree left out (relative to it): a delta's carried files.
    pub skip: &'a [String],
    /// When given, every file packed from the tree must be listed here, and is hashed as it
    /// is packed: a file whose bytes are not the listed ones, a file not listed and a listed
    /// file absent are refused. Never sign what was not hashed.
    pub expect: Option<&'a Manifest>,
}

/// Writes `src_dir` as the bundle `out`, its contents under `pigsty/`, plus the in-memory
/// files of `extra`, every entry dated `mtime`, with no check against a manifest (see
/// [`pack_bundle`]). Also writes `<out>.sha256`.
pub fn write_bundle(
    src_dir: &Path,
    out: &Path,
    format: BundleFormat,
    mtime: u64,
    extra: &[(String, Vec<u8>)],
) -> Result<BundleInfo, BundleError> {
    pack_bundle(
        src_dir,
        out,
        &Pack {
            format,
            mtime,
            extra,
            skip: &[],
            expect: None,
        },
    )
}

/// Writes `src_dir` as the bundle `out` as `pack` says, and `<out>.sha256` beside it. On
/// error, `out` is left as it was and nothing else remains.
pub fn pack_bundle(src_dir: &Path, out: &Path, pack: &Pack) -> Result<BundleInfo, BundleError> {
    let mut entries = collect_entries(src_dir, pack.extra)?;
    if !pack.skip.is_empty() {
        let skip: HashSet<&str> = pack.skip.iter().map(String::as_str).collect();
        entries.retain(|e| !skip.contains(e.rel.as_str()));
    }
    drop_empty_dirs(&mut entries);
    if let Some(m) = pack.expect {
        check_listed(src_dir, &entries, m, pack.skip)?;
    }
    // Incompressible data grows a little: ~0.03% for deflate, less for zstd.
    let raw = tar_size(&entries);
    let needed = raw + raw / 256 + (1 << 20);
    fs::check_space(&fs::parent_dir(out), needed, "the bundle needs up to")?;
    write_entries(&entries, out, pack, zstd_workers())
}

/// Leaves out the folders that hold no file (the top folder stays): the signed manifest lists
/// files, and readers refuse a folder that none of them needs.
fn drop_empty_dirs(entries: &mut Vec<Entry>) {
    let needed: HashSet<String> = entries
        .iter()
        .filter(|e| !matches!(e.source, Source::Dir))
        .flat_map(|e| {
            e.rel
                .match_indices('/')
                .map(|(i, _)| e.rel[..i].to_string())
        })
        .collect();
    entries.retain(|e| {
        !matches!(e.source, Source::Dir) || e.rel.is_empty() || needed.contains(&e.rel)
    });
}

/// Every file of the tree is listed in `m`, and every listed file not skipped is in the tree.
fn check_listed(
    src_dir: &Path,
    entries: &[Entry],
    m: &Manifest,
    skip: &[String],
) -> Result<(), BundleError> {
    let mut in_tree = HashSet::new();
    for e in entries {
        if let Source::File { path, .. } = &e.source {
            if m.file(&e.rel).is_none() {
                return Err(BundleError::NotInManifest {
                    path: path.clone(),
                    what: "not listed in the manifest being signed".into(),
                });
            }
            in_tree.insert(e.rel.as_str());
        }
    }
    let skipped: HashSet<&str> = skip.iter().map(String::as_str).collect();
    let extra: HashSet<&str> = entries
        .iter()
        .filter(|e| matches!(e.source, Source::Data(_)))
        .map(|e| e.rel.as_str())
        .collect();
    for f in &m.files {
        let p = f.path.as_str();
        if !in_tree.contains(p) && !skipped.contains(p) && !extra.contains(p) {
            return Err(BundleError::NotInManifest {
                path: src_dir.join(p),
                what: "listed in the manifest, but not in the tree being packed".into(),
            });
        }
    }
    Ok(())
}

/// The zstd worker count: one per CPU. Any count from one up gives the same bytes.
fn zstd_workers() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 64) as u32
}

/// Reads exactly `expected` bytes of a file, failing if it is shorter, hashing them;
/// records whether an error came from the file (rather than from the output).
struct FileReader {
    inner: BufReader<File>,
    remaining: u64,
    sha256: Sha256,
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
                self.sha256.update(&buf[..n]);
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

/// One file of the tree to pack: where it is, its size and mode, what it must be.
struct TreeFile<'a> {
    file: &'a Path,
    exec: bool,
    size: u64,
    want: Option<&'a FileEntry>,
}

/// Appends one file of the tree, its bytes hashed on the way and checked against `want`.
fn append_file<W: Write>(
    tar: &mut tar::Builder<W>,
    header: &mut tar::Header,
    archive_path: &str,
    tf: TreeFile,
    out: &Path,
) -> Result<(), BundleError> {
    let TreeFile {
        file,
        exec,
        size,
        want,
    } = tf;
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(if exec { 0o755 } else { 0o644 });
    header.set_size(size);
    let read_err = |source| BundleError::Read {
        path: file.to_path_buf(),
        source,
    };
    let opened = File::open(file).map_err(read_err)?;
    let mut reader = FileReader {
        inner: BufReader::with_capacity(BUF_SIZE, opened),
        remaining: size,
        sha256: Sha256::new(),
        failed: None,
    };
    if let Err(e) = tar.append_data(header, archive_path, &mut reader) {
        return Err(match reader.failed.take() {
            Some(source) if source.kind() == io::ErrorKind::UnexpectedEof => {
                BundleError::FileChanged {
                    path: file.to_path_buf(),
                    reason: source.to_string(),
                }
            }
            Some(source) => read_err(source),
            None => BundleError::Write {
                path: out.to_path_buf(),
                source: e,
            },
        });
    }
    let mut probe = [0u8; 1];
    if reader.inner.read(&mut probe).map_err(read_err)? != 0 {
        return Err(BundleError::FileChanged {
            path: file.to_path_buf(),
            reason: format!("it grew past {size} bytes"),
        });
    }
    if let Some(want) = want {
        let found = hex::encode(reader.sha256.finalize());
        if want.size != size || want.sha256 != found {
            return Err(BundleError::FileChanged {
                path: file.to_path_buf(),
                reason: format!(
                    "its bytes are not the ones the manifest lists: {size} bytes, sha256 {found}; the manifest says {} bytes, sha256 {}",
                    want.size, want.sha256
                ),
            });
        }
    }
    Ok(())
}

/// Writes the tar stream of `entries` into `w` and hands `w` back.
fn write_tar<W: Write + Levels>(
    w: W,
    entries: &[Entry],
    pack: &Pack,
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
        header.set_mtime(pack.mtime);
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
                let tf = TreeFile {
                    file,
                    exec: *exec,
                    size: *size,
                    want: pack.expect.and_then(|m| m.file(&e.rel)),
                };
                append_file(&mut tar, &mut header, &path, tf, out)?;
            }
        }
    }
    let buffered = tar.into_inner().map_err(werr)?;
    buffered.into_inner().map_err(|e| werr(e.into_error()))
}

/// Compresses the entries into a temporary file beside `out`, then moves it and its
/// `.sha256` into place.
fn write_entries(
    entries: &[Entry],
    out: &Path,
    pack: &Pack,
    workers: u32,
) -> Result<BundleInfo, BundleError> {
    let dir = fs::parent_dir(out);
    let werr = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BundleError::Write { path, source }
    };
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}.tmp-"))
        .tempfile_in(&dir)
        .map_err(werr(out))?;
    let (full, to_write) = mpsc::sync_channel(BEHIND);
    let (written, empty) = mpsc::channel();
    let (stream, behind) = std::thread::scope(|s| {
        let writer = s.spawn(move || write_behind(tmp, &to_write, &written));
        let sink = Behind {
            buf: Vec::with_capacity(BUF_SIZE),
            full,
            empty,
        };
        let stream = match pack.format {
            BundleFormat::Tgz => GzWriter::new(sink, GZIP_LEVEL)
                .map_err(werr(out))
                .and_then(|gz| write_tar(gz, entries, pack, out))
                .and_then(|gz| gz.finish().map_err(werr(out))),
            BundleFormat::TarZst => zstd::stream::Encoder::new(sink, ZSTD_LEVEL)
                .and_then(|mut zst| {
                    zst.multithread(workers.max(1))?;
                    zst.include_checksum(true)?;
                    Ok(zst)
                })
                .map_err(werr(out))
                .and_then(|zst| write_tar(zst, entries, pack, out))
                .and_then(|zst| zst.finish().map_err(werr(out))),
        };
        // Hands over the last bytes; the writer ends when the sink is gone.
        let stream = stream.and_then(|sink| sink.finish().map_err(werr(out)));
        let behind = writer
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        (stream, behind)
    });
    // The writer's own failure (no space, say) is the cause of the stream's.
    let (tmp, size, sha256) = behind.map_err(werr(out))?;
    stream?;
    tmp.as_file().sync_all().map_err(werr(out))?;

    let sum_path = fs::with_suffix(out, ".sha256");
    let mut sum = tempfile::Builder::new()
        .prefix(&format!(".{name}.sha256.tmp-"))
        .tempfile_in(&dir)
        .map_err(werr(&sum_path))?;
    sum.write_all(format!("{sha256}  {name}\n").as_bytes())
        .and_then(|()| sum.as_file().sync_all())
        .map_err(werr(&sum_path))?;
    tmp.persist(out).map_err(|e| werr(out)(e.error))?;
    sum.persist(&sum_path)
        .map_err(|e| werr(&sum_path)(e.error))?;
    // Make the renames durable; a failure here loses nothing that was asked for.
    let _ = fs::sync_dir(&dir);
    Ok(BundleInfo {
        path: out.to_path_buf(),
        size,
        sha256,
    })
}

/// How many buffers of the bundle may wait for its writer.
const BEHIND: usize = 2;

/// The bundle's bytes on their way out, in buffers of [`BUF_SIZE`] handed to the thread of
/// [`write_behind`]: it hashes and writes them while this thread reads, hashes and packs
/// the next files, so the two SHA-256 passes (of the files packed and of the bundle) and the
/// copies run on two cores.
struct Behind {
    buf: Vec<u8>,
    full: mpsc::SyncSender<Vec<u8>>,
    /// Buffers written, for reuse.
    empty: mpsc::Receiver<Vec<u8>>,
}

impl Behind {
    fn pass(&mut self) -> io::Result<()> {
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUF_SIZE));
        let full = std::mem::replace(&mut self.buf, next);
        // The writer stops only on an error, which it reports itself.
        self.full
            .send(full)
            .map_err(|_| io::Error::other("the bundle's writer stopped"))
    }

    /// Hands over what is left; the writer finishes once this is dropped.
    fn finish(mut self) -> io::Result<()> {
        self.flush()
    }
}

impl Write for Behind {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BUF_SIZE - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == BUF_SIZE {
            self.pass()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.pass()
    }
}

/// Hashes and writes the buffers [`Behind`] hands over into `tmp`, and sends them back;
/// returns the file, the byte count and the SHA-256 once the sender is gone.
fn write_behind(
    tmp: tempfile::NamedTempFile,
    full: &mpsc::Receiver<Vec<u8>>,
    written: &mpsc::Sender<Vec<u8>>,
) -> io::Result<(tempfile::NamedTempFile, u64, String)> {
    let mut sink = fs::HashingWriter::new(tmp);
    let mut synced = 0;
    for mut buf in full {
        sink.write_all(&buf)?;
        buf.clear();
        let _ = written.send(buf);
        // The disk takes each step as the next is packed, so the final fsync finds little
        // left to write.
        let at = sink.size();
        if at - synced >= WRITEBACK_STEP {
            fs::start_writeback_range(sink.get_mut().as_file(), synced, at - synced)?;
            synced = at;
        }
    }
    Ok(sink.finish())
}

/// How much of the bundle is written before its writeback is started.
const WRITEBACK_STEP: u64 = 16 << 20;

/// The files of a bundle source tree as manifest entries (sizes and SHA-256 streamed from
/// disk), sorted by path, leaving out a top-level `MANIFEST.json` and `MANIFEST.json.asc`.
pub fn file_entries(src_dir: &Path) -> Result<Vec<FileEntry>, BundleError> {
    let mut files = Vec::new();
    for (rel, source) in scan_tree(src_dir)? {
        if let Source::File { path, .. } = source {
            if rel == MANIFEST_NAME || rel == SIGNATURE_NAME {
                continue;
            }
            let (size, sha256) = fs::hash_file(&path).map_err(|source| BundleError::Read {
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

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
