//! Safe, verified and atomic extraction of a bundle into `<dest>/pigsty` ([`extract_bundle`]),
//! and the manifest of what is installed there ([`installed_manifest`]).
//!
//! The bundle is streamed once. Every regular file is written into a temporary folder beside
//! the destination (`<dest>/.pigsty-extract-<pid>-<random>/pigsty`), hashed as it is written
//! and checked against its manifest entry; `MANIFEST.json` and `MANIFEST.json.asc` must be
//! byte for byte the signed ones the caller passes. Anything a bundle never holds is refused:
//! paths that are absolute, hold `..` or lie outside `pigsty/`, links, devices, FIFOs,
//! setuid/setgid/sticky bits, duplicates, files the manifest does not list or lists with
//! another size or digest, listed files that never come, and a damaged or cut stream. Only
//! when everything checked out and is on disk (each file's writeback started as it is closed,
//! then one `syncfs` for them all) does the new folder replace `<dest>/pigsty`
//! with renames; on any failure before that the temporary folder is removed and nothing else
//! under `<dest>` changes.
//!
//! A repo that comes file by file instead of as one archive (the installer's `--from URL`,
//! a mirror) goes through [`FileStager`] into the same kind of temporary folder, with the same
//! checks (every listed file, with its size and digest, nothing else), and ends in the same
//! [`Staged`].

use std::collections::{HashMap, HashSet};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};

use crate::bundle::{
    available_space, human, open_bundle, stream_problem, BundleError, Problem, MAX_MANIFEST_SIZE,
    TOP,
};
use crate::manifest::DeltaBase;
use crate::manifest::{check_rel_path, Manifest, MANIFEST_NAME, SIGNATURE_NAME};

const BUF_SIZE: usize = 1 << 20;
const DIR_MODE: u32 = 0o755;

/// Where to extract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractOptions {
    /// The folder the repo goes in, e.g. `/www`; the repo lands at `<dest>/pigsty`. Created
    /// (0755) if missing.
    pub dest: PathBuf,
}

/// What [`extract_bundle`] put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extracted {
    /// `<dest>/pigsty`.
    pub path: PathBuf,
    /// How many files the manifest lists (all extracted; the manifest and its signature are
    /// not counted).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Whether a previous `<dest>/pigsty` was replaced.
    pub replaced_previous: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error("the manifest given does not match the raw manifest bytes given: {detail}")]
    ManifestArgs { detail: String },
    #[error("{}: {entry}: {reason}", bundle.display())]
    BadEntry {
        bundle: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("{}: {entry}: not listed in the manifest", bundle.display())]
    Unlisted { bundle: PathBuf, entry: String },
    #[error("{}: {entry}: duplicate entry", bundle.display())]
    Duplicate { bundle: PathBuf, entry: String },
    #[error("{}: {entry}: size mismatch (manifest {expected} bytes, archive {found} bytes)", bundle.display())]
    SizeMismatch {
        bundle: PathBuf,
        entry: String,
        expected: u64,
        found: u64,
    },
    #[error("{}: {entry}: sha256 mismatch (manifest {expected}, archive {found})", bundle.display())]
    Sha256Mismatch {
        bundle: PathBuf,
        entry: String,
        expected: String,
        found: String,
    },
    /// `MANIFEST.json` or `MANIFEST.json.asc` in the archive is not the signed one.
    #[error("{}: {entry}: differs from the signed manifest given ({detail})", bundle.display())]
    NotSigned {
        bundle: PathBuf,
        entry: String,
        detail: String,
    },
    #[error("{}: {} file(s) listed in the manifest are not in the archive: {}", bundle.display(), paths.len(), shorten(paths))]
    Missing { bundle: PathBuf, paths: Vec<String> },
    #[error("{}: truncated archive {at}: {detail}", bundle.display())]
    Truncated {
        bundle: PathBuf,
        at: String,
        detail: String,
    },
    #[error("{}: corrupt archive {at}: {detail}", bundle.display())]
    Corrupt {
        bundle: PathBuf,
        at: String,
        detail: String,
    },
    #[error("not enough free space in {}: extracting needs {} ({needed} bytes), {} ({available} bytes) available", dest.display(), human(*needed), human(*available))]
    NoSpace {
        dest: PathBuf,
        needed: u64,
        available: u64,
    },
    #[error("{}: not a directory", path.display())]
    NotADir { path: PathBuf },
    /// A delta bundle whose base is not what is installed, or a base file that changed.
    #[error("{}: this delta applies to the repo of bundle {version} only: {detail}", repo.display())]
    DeltaBase {
        repo: PathBuf,
        version: String,
        detail: String,
    },
    /// A file staged by a [`FileStager`] that the manifest does not list, or that is staged
    /// twice at once.
    #[error("{origin}: {entry}: {reason}")]
    BadFile {
        origin: String,
        entry: String,
        reason: String,
    },
    /// A file staged by a [`FileStager`] with another size than its manifest entry's; `found`
    /// is what came before the transfer stopped or the manifest's size was passed.
    #[error("{origin}: {entry}: size mismatch (manifest {expected} bytes, received {found}{})", if *over { " and more" } else { "" })]
    FileSize {
        origin: String,
        entry: String,
        expected: u64,
        found: u64,
        over: bool,
    },
    /// A file staged by a [`FileStager`] whose bytes do not have the manifest's digest.
    #[error("{origin}: {entry}: sha256 mismatch (manifest {expected}, received {found})")]
    FileSha256 {
        origin: String,
        entry: String,
        expected: String,
        found: String,
    },
    /// Listed files a [`FileStager`] never received.
    #[error("{origin}: {} file(s) listed in the manifest were not received: {}", paths.len(), shorten(paths))]
    NotReceived { origin: String, paths: Vec<String> },
    #[error("reading {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("moving {} to {}: {source}{note}", from.display(), to.display())]
    Install {
        from: PathBuf,
        to: PathBuf,
        source: io::Error,
        /// What state that leaves things in, if not the one before.
        note: String,
    },
}

/// The first few paths, comma-separated.
fn shorten(paths: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

/// Checks that `<dest>/pigsty` holds exactly the repo a delta was made against: its
/// `MANIFEST.json` has the base's SHA-256.
fn check_base(dest: &Path, base: &DeltaBase) -> Result<(), ExtractError> {
    let repo = dest.join(TOP);
    let bad = |detail: String| ExtractError::DeltaBase {
        repo: repo.clone(),
        version: base.version.clone(),
        detail,
    };
    let Some((installed, raw)) = installed_manifest(dest) else {
        return Err(bad(
            "no bundle is installed there; install the full bundle first".into(),
        ));
    };
    let (_, sha256) =
        crate::manifest::hash_reader(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
    if sha256 != base.manifest_sha256 {
        return Err(bad(format!(
            "the installed repo is bundle {} (manifest sha256 {sha256}), not the base (manifest sha256 {}); install the full bundle, or a delta made with --base of the installed MANIFEST.json",
            installed.version, base.manifest_sha256
        )));
    }
    Ok(())
}

/// The manifest installed at `<dest>/pigsty/MANIFEST.json`, with its raw bytes, if there is
/// a readable and valid one (so that the same bundle again can be a no-op: compare the bytes).
pub fn installed_manifest(dest: &Path) -> Option<(Manifest, Vec<u8>)> {
    let file = File::open(dest.join(TOP).join(MANIFEST_NAME)).ok()?;
    let mut raw = Vec::new();
    file.take(MAX_MANIFEST_SIZE + 1)
        .read_to_end(&mut raw)
        .ok()?;
    if raw.len() as u64 > MAX_MANIFEST_SIZE {
        return None;
    }
    let manifest = Manifest::from_json(&raw).ok()?;
    Some((manifest, raw))
}

/// Extracts `bundle` to `<opts.dest>/pigsty`, replacing what is there, after checking every
/// entry as described in the module documentation. `manifest` is the bundle's manifest whose
/// signature the caller has checked: `raw_manifest` are the bytes the signature covers and
/// `signature` the signature (`MANIFEST.json.asc`); the archive's copies of both must be the
/// same bytes (a bundle with a signature needs `signature`, and the other way round).
pub fn extract_bundle(
    bundle: &Path,
    manifest: &Manifest,
    raw_manifest: &[u8],
    signature: Option<&[u8]>,
    opts: &ExtractOptions,
) -> Result<Extracted, ExtractError> {
    let staged = stage_bundle(bundle, manifest, raw_manifest, signature, opts)?;
    let (dest, created_dest) = (staged.dest.clone(), staged.created_dest);
    let result = staged.commit();
    if result.is_err() && created_dest {
        // Only removes it if still empty.
        let _ = fs::remove_dir(&dest);
    }
    result
}

/// Makes sure `dest` is a directory, creating it if missing; whether it was created.
fn prepare_dest(dest: &Path) -> Result<bool, ExtractError> {
    match fs::metadata(dest) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(_) => Err(ExtractError::NotADir {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dest)
                .map_err(|source| ExtractError::Write {
                    path: dest.to_path_buf(),
                    source,
                })?;
            Ok(true)
        }
        Err(source) => Err(ExtractError::Read {
            path: dest.to_path_buf(),
            source,
        }),
    }
}

/// A bundle extracted and verified in a temporary folder beside the destination, not yet in
/// place: [`Staged::commit`] puts it there in one step, [`Staged::discard`] (or dropping it)
/// removes it and leaves the destination as it was.
pub struct Staged {
    dest: PathBuf,
    temp: TempDir,
    created_dest: bool,
    /// The staged repo folder (`<dest>/.pigsty-extract-.../pigsty`), complete and verified.
    pub repo: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

impl Staged {
    /// Moves the staged repo to `<dest>/pigsty`, replacing the previous one.
    pub fn commit(self) -> Result<Extracted, ExtractError> {
        let Staged {
            dest,
            temp,
            repo,
            files,
            bytes,
            ..
        } = self;
        let replaced_previous = install(&dest, &repo, temp)?;
        Ok(Extracted {
            path: dest.join(TOP),
            files,
            bytes,
            replaced_previous,
        })
    }

    /// Removes the staged folder (and the destination, if staging created it empty).
    pub fn discard(self) {
        let dest = self.dest.clone();
        let created = self.created_dest;
        drop(self.temp);
        if created {
            let _ = fs::remove_dir(&dest);
        }
    }
}

/// Like [`extract_bundle`], but stops before putting the repo in place: the caller can check
/// the staged repo (the installer's drift check) and then commit or discard it.
pub fn stage_bundle(
    bundle: &Path,
    manifest: &Manifest,
    raw_manifest: &[u8],
    signature: Option<&[u8]>,
    opts: &ExtractOptions,
) -> Result<Staged, ExtractError> {
    check_manifest_args(manifest, raw_manifest)?;
    let dest = opts.dest.as_path();
    let created_dest = prepare_dest(dest)?;
    let result = stage_into(
        bundle,
        manifest,
        raw_manifest,
        signature,
        dest,
        created_dest,
    );
    if result.is_err() && created_dest {
        let _ = fs::remove_dir(dest);
    }
    result
}

/// `manifest` must be what `raw_manifest` (the signed bytes) parses to.
fn check_manifest_args(manifest: &Manifest, raw_manifest: &[u8]) -> Result<(), ExtractError> {
    match Manifest::from_json(raw_manifest) {
        Ok(parsed) if parsed == *manifest => Ok(()),
        Ok(_) => Err(ExtractError::ManifestArgs {
            detail: "they are different manifests".into(),
        }),
        Err(e) => Err(ExtractError::ManifestArgs {
            detail: e.to_string(),
        }),
    }
}

/// Checks that `dest` has room for the repo, then makes the temporary folder beside
/// `<dest>/pigsty` and its `pigsty/` inside; returns both.
fn make_staging(
    dest: &Path,
    manifest: &Manifest,
    raw_manifest: &[u8],
    signature: Option<&[u8]>,
) -> Result<(TempDir, PathBuf), ExtractError> {
    let needed = manifest
        .total_size()
        .saturating_add(raw_manifest.len() as u64)
        .saturating_add(signature.map_or(0, |s| s.len() as u64));
    let available = available_space(dest).map_err(|source| ExtractError::Read {
        path: dest.to_path_buf(),
        source,
    })?;
    if available < needed {
        return Err(ExtractError::NoSpace {
            dest: dest.to_path_buf(),
            needed,
            available,
        });
    }
    let temp = TempDir::create(dest.join(format!(
        ".pigsty-extract-{}-{:016x}",
        std::process::id(),
        rand::random::<u64>()
    )))?;
    let root = temp.path.join(TOP);
    make_dir(&root)?;
    Ok((temp, root))
}

fn stage_into(
    bundle: &Path,
    manifest: &Manifest,
    raw_manifest: &[u8],
    signature: Option<&[u8]>,
    dest: &Path,
    created_dest: bool,
) -> Result<Staged, ExtractError> {
    // A delta applies to exactly the repo it was made against.
    if let Some(base) = &manifest.base {
        check_base(dest, base)?;
    }
    // Opened before anything is created, so that a missing or foreign file leaves no trace.
    let stream = open_bundle(bundle)?;
    let (temp, root) = make_staging(dest, manifest, raw_manifest, signature)?;

    let mut x = Extractor {
        bundle,
        root: root.clone(),
        manifest,
        index: manifest
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| (f.path.as_str(), i))
            .collect(),
        seen: vec![false; manifest.files.len()],
        raw_manifest,
        signature,
        manifest_seen: false,
        signature_seen: false,
        top_seen: false,
        entries: HashSet::new(),
        dirs: HashSet::new(),
        dir_mtimes: Vec::new(),
        last: None,
        buf: vec![0u8; BUF_SIZE],
    };
    x.run(stream)?;
    if let Some(base) = &manifest.base {
        x.carry_over(&dest.join(TOP), base)?;
    }
    x.finish_dirs()?;
    // Every file's writeback was started as it was closed; wait for all of it at once.
    sync_filesystem(&temp.path)?;
    sync_dir(&temp.path)?;
    Ok(Staged {
        dest: dest.to_path_buf(),
        temp,
        created_dest,
        repo: root,
        files: manifest.files.len(),
        bytes: manifest.total_size(),
    })
}

/// The temporary folder; removed with everything in it unless [`TempDir::disarm`]ed.
struct TempDir {
    path: PathBuf,
    armed: bool,
}

impl TempDir {
    fn create(path: PathBuf) -> Result<TempDir, ExtractError> {
        make_dir(&path)?;
        Ok(TempDir { path, armed: true })
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Creates one directory with mode 0755, whatever the umask.
fn make_dir(path: &Path) -> Result<(), ExtractError> {
    let werr = |source| ExtractError::Write {
        path: path.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .mode(DIR_MODE)
        .create(path)
        .map_err(werr)?;
    fs::set_permissions(path, fs::Permissions::from_mode(DIR_MODE)).map_err(werr)
}

/// Starts writing a file's data to disk without waiting (Linux `sync_file_range`), so that
/// the disk works while the next files are extracted; [`sync_filesystem`] waits for it all at
/// the end. Elsewhere, a plain fsync.
fn start_writeback(file: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor; offset 0 and length 0 mean the whole file.
        let rc =
            unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
        if rc == 0 {
            return Ok(());
        }
    }
    file.sync_all()
}

/// Makes everything written under `path` durable: one `syncfs` of its filesystem on Linux
/// (data and metadata of every file extracted, in one journal commit, instead of one fsync
/// per file), else `sync`.
fn sync_filesystem(path: &Path) -> Result<(), ExtractError> {
    let dir = File::open(path).map_err(|source| ExtractError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a valid open descriptor.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(ExtractError::Write {
                path: path.to_path_buf(),
                source: io::Error::last_os_error(),
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        // SAFETY: sync(2) takes no arguments and cannot fail.
        unsafe { libc::sync() };
    }
    Ok(())
}

fn sync_dir(path: &Path) -> Result<(), ExtractError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|source| ExtractError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// Moves the extracted `staged` folder to `<dest>/pigsty`, the previous one aside first and
/// removed after; whether there was a previous one.
fn install(dest: &Path, staged: &Path, temp: TempDir) -> Result<bool, ExtractError> {
    let target = dest.join(TOP);
    let previous = match fs::symlink_metadata(&target) {
        Ok(meta) => {
            let aside = dest.join(format!(
                ".pigsty-previous-{}-{:016x}",
                std::process::id(),
                rand::random::<u64>()
            ));
            fs::rename(&target, &aside).map_err(|source| ExtractError::Install {
                from: target.clone(),
                to: aside.clone(),
                source,
                note: String::new(),
            })?;
            Some((aside, meta.is_dir()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ExtractError::Read {
                path: target,
                source,
            })
        }
    };
    if let Err(source) = fs::rename(staged, &target) {
        let note = match &previous {
            Some((aside, _)) => match fs::rename(aside, &target) {
                Ok(()) => String::new(),
                Err(e) => format!(
                    "; the previous {} is left at {} (moving it back failed: {e})",
                    target.display(),
                    aside.display()
                ),
            },
            None => String::new(),
        };
        return Err(ExtractError::Install {
            from: staged.to_path_buf(),
            to: target,
            source,
            note,
        });
    }
    // The temporary folder is empty now.
    let _ = fs::remove_dir(&temp.path);
    temp.disarm();
    let _ = File::open(dest).and_then(|d| d.sync_all());
    if let Some((aside, is_dir)) = &previous {
        // The new repo is in place; a failure here only leaves the old one aside.
        let _ = if *is_dir {
            fs::remove_dir_all(aside)
        } else {
            fs::remove_file(aside)
        };
    }
    Ok(previous.is_some())
}

/// What an archive file must be.
enum Expect<'a> {
    /// A file of the manifest, by index.
    Listed(usize),
    /// Exactly these bytes (the signed manifest or its signature).
    Exact(&'a [u8]),
}

/// The state of one extraction.
struct Extractor<'a> {
    bundle: &'a Path,
    /// `<temp>/pigsty`.
    root: PathBuf,
    manifest: &'a Manifest,
    index: HashMap<&'a str, usize>,
    seen: Vec<bool>,
    raw_manifest: &'a [u8],
    signature: Option<&'a [u8]>,
    manifest_seen: bool,
    signature_seen: bool,
    top_seen: bool,
    /// The paths (relative to `pigsty/`) of the entries met so far.
    entries: HashSet<String>,
    /// The directories created under `root`, by relative path.
    dirs: HashSet<String>,
    /// The directory entries' mtimes, set once all files are written.
    dir_mtimes: Vec<(PathBuf, SystemTime)>,
    /// The last entry met, for messages.
    last: Option<String>,
    buf: Vec<u8>,
}

impl Extractor<'_> {
    fn bad(&self, entry: &str, reason: impl Into<String>) -> ExtractError {
        ExtractError::BadEntry {
            bundle: self.bundle.to_path_buf(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// A damaged stream: truncated or corrupt, `at` saying where.
    fn stream_err(&self, e: &io::Error, at: String) -> ExtractError {
        let bundle = self.bundle.to_path_buf();
        match stream_problem(e) {
            Problem::Truncated { detail } => ExtractError::Truncated { bundle, at, detail },
            Problem::Corrupt { detail } => ExtractError::Corrupt { bundle, at, detail },
            other => ExtractError::Corrupt {
                bundle,
                at,
                detail: other.to_string(),
            },
        }
    }

    fn after_last(&self) -> String {
        match &self.last {
            Some(last) => format!("after {last}"),
            None => "at its start".into(),
        }
    }

    fn run(&mut self, stream: Box<dyn Read>) -> Result<(), ExtractError> {
        let mut archive = tar::Archive::new(stream);
        {
            let mut entries = archive
                .entries()
                .map_err(|e| self.stream_err(&e, self.after_last()))?;
            loop {
                let entry = match entries.next() {
                    None => break,
                    Some(Ok(entry)) => entry,
                    Some(Err(e)) => return Err(self.stream_err(&e, self.after_last())),
                };
                self.entry(entry)?;
            }
        }
        // Read to the end, so that the decompressor checks its trailer (gzip CRC and length,
        // zstd checksum) and a cut-off stream shows.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| {
            self.stream_err(
                &e,
                match &self.last {
                    Some(last) => format!("at its end, after {last}"),
                    None => "at its end".into(),
                },
            )
        })?;

        // A delta's carried files come from the installed repo afterwards.
        let carried: HashSet<&str> = self
            .manifest
            .base
            .iter()
            .flat_map(|b| b.carried.iter().map(String::as_str))
            .collect();
        let missing: Vec<String> = self
            .manifest
            .files
            .iter()
            .zip(&self.seen)
            .filter(|(f, seen)| !**seen && !carried.contains(f.path.as_str()))
            .map(|(f, _)| format!("{TOP}/{}", f.path))
            .collect();
        if !self.manifest_seen {
            return Err(ExtractError::NotSigned {
                bundle: self.bundle.to_path_buf(),
                entry: format!("{TOP}/{MANIFEST_NAME}"),
                detail: "it is not in the archive".into(),
            });
        }
        if self.signature.is_some() && !self.signature_seen {
            return Err(ExtractError::NotSigned {
                bundle: self.bundle.to_path_buf(),
                entry: format!("{TOP}/{SIGNATURE_NAME}"),
                detail: "it is not in the archive".into(),
            });
        }
        if !missing.is_empty() {
            return Err(ExtractError::Missing {
                bundle: self.bundle.to_path_buf(),
                paths: missing,
            });
        }
        Ok(())
    }

    /// Checks one entry and writes it if it is a file or a directory.
    fn entry<R: Read>(&mut self, mut entry: tar::Entry<R>) -> Result<(), ExtractError> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        self.last = Some(shown.clone());
        let Ok(name) = std::str::from_utf8(&raw) else {
            return Err(self.bad(&shown, "path is not UTF-8"));
        };
        if name.starts_with('/') {
            return Err(self.bad(&shown, "absolute path"));
        }
        if name.split('/').any(|c| c == "..") {
            return Err(self.bad(&shown, "path escapes the bundle (`..` component)"));
        }
        let header = entry.header();
        let kind = header.entry_type();
        let link = || {
            entry
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default()
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::Directory => {}
            tar::EntryType::Symlink => {
                return Err(self.bad(
                    &shown,
                    format!("symbolic link to `{}`; bundles hold no links", link()),
                ))
            }
            tar::EntryType::Link => {
                return Err(self.bad(
                    &shown,
                    format!("hard link to `{}`; bundles hold no links", link()),
                ))
            }
            tar::EntryType::Char => return Err(self.bad(&shown, "character device")),
            tar::EntryType::Block => return Err(self.bad(&shown, "block device")),
            tar::EntryType::Fifo => return Err(self.bad(&shown, "FIFO")),
            other => return Err(self.bad(&shown, format!("unexpected entry type {other:?}"))),
        }
        let mode = header
            .mode()
            .map_err(|e| self.bad(&shown, format!("bad mode field: {e}")))?;
        if mode & 0o7000 != 0 {
            let bits: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
                .iter()
                .filter(|(bit, _)| mode & bit != 0)
                .map(|(_, name)| *name)
                .collect();
            return Err(self.bad(
                &shown,
                format!("{} bit (mode {:o})", bits.join(" and "), mode & 0o7777),
            ));
        }
        let mtime = header
            .mtime()
            .ok()
            .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .ok_or_else(|| self.bad(&shown, "bad mtime field"))?;
        let is_dir = kind == tar::EntryType::Directory;

        let name = name.strip_prefix("./").unwrap_or(name);
        let rel = match name.strip_prefix(TOP) {
            Some("") | Some("/") => {
                if !is_dir {
                    return Err(self.bad(&shown, "the top folder is not a directory"));
                }
                if self.top_seen {
                    return Err(self.duplicate(&shown));
                }
                self.top_seen = true;
                self.dir_mtimes.push((self.root.clone(), mtime));
                return Ok(());
            }
            Some(rest) => match rest.strip_prefix('/') {
                Some(rel) => rel,
                None => return Err(self.bad(&shown, format!("outside the top folder `{TOP}/`"))),
            },
            None => return Err(self.bad(&shown, format!("outside the top folder `{TOP}/`"))),
        };
        let rel = if is_dir {
            rel.strip_suffix('/').unwrap_or(rel)
        } else {
            rel
        };
        check_rel_path(rel).map_err(|reason| self.bad(&shown, reason))?;
        if self.entries.contains(rel) {
            return Err(self.duplicate(&shown));
        }
        if is_dir {
            self.make_dirs(rel, &shown)?;
            self.entries.insert(rel.to_string());
            self.dir_mtimes.push((self.root.join(rel), mtime));
            return Ok(());
        }
        if self.dirs.contains(rel) {
            return Err(self.bad(&shown, "a file where the bundle has a folder"));
        }
        let expect = if rel == MANIFEST_NAME {
            self.manifest_seen = true;
            Expect::Exact(self.raw_manifest)
        } else if rel == SIGNATURE_NAME {
            self.signature_seen = true;
            match self.signature {
                Some(sig) => Expect::Exact(sig),
                None => {
                    return Err(ExtractError::NotSigned {
                        bundle: self.bundle.to_path_buf(),
                        entry: shown,
                        detail: "the bundle has a signature but none was given".into(),
                    })
                }
            }
        } else {
            match self.index.get(rel) {
                Some(&i) => Expect::Listed(i),
                None => {
                    return Err(ExtractError::Unlisted {
                        bundle: self.bundle.to_path_buf(),
                        entry: shown,
                    })
                }
            }
        };
        self.entries.insert(rel.to_string());
        if let Some((parent, _)) = rel.rsplit_once('/') {
            self.make_dirs(parent, &shown)?;
        }
        let exec = mode & 0o111 != 0;
        self.write_file(&mut entry, rel, &shown, expect, exec, mtime)
    }

    /// A delta's carried files, from the installed repo `base_repo` into the staged one:
    /// hard links where the filesystem allows (else copies), each checked against the new
    /// manifest's size and SHA-256 first.
    fn carry_over(&mut self, base_repo: &Path, base: &DeltaBase) -> Result<(), ExtractError> {
        for rel in &base.carried {
            if self.entries.contains(rel.as_str()) {
                continue; // the delta carries it after all, checked as it came
            }
            let Some(&i) = self.index.get(rel.as_str()) else {
                continue; // validate() makes this impossible
            };
            let want = &self.manifest.files[i];
            let from = base_repo.join(rel);
            let bad = |detail: String| ExtractError::DeltaBase {
                repo: base_repo.to_path_buf(),
                version: base.version.clone(),
                detail,
            };
            let (size, sha256) = File::open(&from)
                .and_then(crate::manifest::hash_reader)
                .map_err(|e| bad(format!("{rel}: {e}")))?;
            if size != want.size || sha256 != want.sha256 {
                return Err(bad(format!(
                    "{rel} changed since it was installed (sha256 {sha256}, expected {})",
                    want.sha256
                )));
            }
            let shown = format!("{TOP}/{rel}");
            if let Some((parent, _)) = rel.rsplit_once('/') {
                self.make_dirs(parent, &shown)?;
            }
            let to = self.root.join(rel);
            if fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).map_err(|source| ExtractError::Write {
                    path: to.clone(),
                    source,
                })?;
                File::open(&to)
                    .and_then(|f| f.sync_all())
                    .map_err(|source| ExtractError::Write {
                        path: to.clone(),
                        source,
                    })?;
            }
            self.entries.insert(rel.clone());
            self.seen[i] = true;
        }
        Ok(())
    }

    fn duplicate(&self, shown: &str) -> ExtractError {
        ExtractError::Duplicate {
            bundle: self.bundle.to_path_buf(),
            entry: shown.to_string(),
        }
    }

    /// Creates `rel` and its missing parents under the root, 0755.
    fn make_dirs(&mut self, rel: &str, shown: &str) -> Result<(), ExtractError> {
        let mut end = 0;
        while end < rel.len() {
            end = rel[end..].find('/').map_or(rel.len(), |i| end + i);
            let prefix = &rel[..end];
            end += 1;
            if self.dirs.contains(prefix) {
                continue;
            }
            if self.entries.contains(prefix) {
                return Err(self.bad(shown, format!("`{TOP}/{prefix}` is a file, not a folder")));
            }
            make_dir(&self.root.join(prefix))?;
            self.dirs.insert(prefix.to_string());
        }
        Ok(())
    }

    /// Streams a file entry to disk, checking it against `expect` on the way.
    fn write_file<R: Read>(
        &mut self,
        entry: &mut tar::Entry<R>,
        rel: &str,
        shown: &str,
        expect: Expect,
        exec: bool,
        mtime: SystemTime,
    ) -> Result<(), ExtractError> {
        let size = entry.size();
        let bundle = self.bundle.to_path_buf();
        let expected_size = match &expect {
            Expect::Listed(i) => self.manifest.files[*i].size,
            Expect::Exact(bytes) => bytes.len() as u64,
        };
        if size != expected_size {
            return Err(match expect {
                Expect::Listed(_) => ExtractError::SizeMismatch {
                    bundle,
                    entry: shown.to_string(),
                    expected: expected_size,
                    found: size,
                },
                Expect::Exact(_) => ExtractError::NotSigned {
                    bundle,
                    entry: shown.to_string(),
                    detail: format!("{size} bytes, the signed one has {expected_size}"),
                },
            });
        }
        let path = self.root.join(rel);
        let werr = |source| ExtractError::Write {
            path: path.clone(),
            source,
        };
        let mode = if exec { 0o755 } else { 0o644 };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(werr)?;
        let mut hasher = Sha256::new();
        let mut done = 0u64;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.stream_err(&e, format!("in {shown}"))),
            };
            let chunk = &self.buf[..n];
            if let Expect::Exact(bytes) = &expect {
                let start = done as usize;
                if bytes.get(start..start + n) != Some(chunk) {
                    let at = chunk
                        .iter()
                        .zip(bytes.get(start..).unwrap_or_default())
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    return Err(ExtractError::NotSigned {
                        bundle,
                        entry: shown.to_string(),
                        detail: format!("first difference at byte {}", done + at as u64),
                    });
                }
            }
            hasher.update(chunk);
            file.write_all(chunk).map_err(werr)?;
            done += n as u64;
        }
        if done < size {
            return Err(ExtractError::Truncated {
                bundle,
                at: format!("in {shown}"),
                detail: format!("{shown} stops after {done} of its {size} bytes"),
            });
        }
        if let Expect::Listed(i) = expect {
            let want = &self.manifest.files[i];
            let found = hex::encode(hasher.finalize());
            if found != want.sha256 {
                return Err(ExtractError::Sha256Mismatch {
                    bundle,
                    entry: shown.to_string(),
                    expected: want.sha256.clone(),
                    found,
                });
            }
            self.seen[i] = true;
        }
        file.set_permissions(fs::Permissions::from_mode(mode))
            .and_then(|()| file.set_modified(mtime))
            .and_then(|()| start_writeback(&file))
            .map_err(werr)
    }

    /// Gives the directory entries their mtimes (now that nothing more is written in them)
    /// and fsyncs every directory.
    fn finish_dirs(&self) -> Result<(), ExtractError> {
        for (path, mtime) in &self.dir_mtimes {
            File::open(path)
                .and_then(|d| d.set_modified(*mtime))
                .map_err(|source| ExtractError::Write {
                    path: path.clone(),
                    source,
                })?;
        }
        for rel in &self.dirs {
            sync_dir(&self.root.join(rel))?;
        }
        sync_dir(&self.root)
    }
}

// ---------------------------------------------------------------------------------------------
// Staging file by file
// ---------------------------------------------------------------------------------------------

/// The write buffer of one [`StagedFile`].
const FILE_BUF_SIZE: usize = 256 * 1024;

/// A staging folder filled one file at a time, from anything but a bundle (the installer's
/// `--from URL`), checked like [`stage_bundle`] checks an archive: only files the manifest
/// lists, each once, each with its size (a byte past it is refused as it comes) and its SHA-256;
/// [`FileStager::finish`] refuses if a listed file never came, writes the signed manifest and
/// its signature and gives the same [`Staged`] as [`stage_bundle`]. Files and folders get the
/// manifest's `created` time as their mtime and mode 0644 / 0755 (a file's mode is not in the
/// manifest). Dropping the stager before `finish` removes the folder. Several files may be
/// written at once (`&self`), from threads or tasks.
pub struct FileStager {
    /// Where the files come from, for messages (a URL).
    origin: String,
    dest: PathBuf,
    temp: Option<TempDir>,
    created_dest: bool,
    root: PathBuf,
    manifest: Manifest,
    raw_manifest: Vec<u8>,
    signature: Option<Vec<u8>>,
    mtime: SystemTime,
    index: HashMap<String, usize>,
    state: std::sync::Mutex<StagerState>,
}

/// What a [`FileStager`] has received so far.
struct StagerState {
    /// A [`StagedFile`] is open for the file.
    open: Vec<bool>,
    /// The file is complete and checked.
    done: Vec<bool>,
    /// The folders created under the root, by relative path.
    dirs: HashSet<String>,
}

impl FileStager {
    /// Creates the staging folder beside `<opts.dest>/pigsty` (checking there is room for the
    /// manifest's files) for the repo described by `manifest`, whose signature the caller has
    /// checked over `raw_manifest` (see [`extract_bundle`]). `origin` names the source in
    /// messages.
    pub fn new(
        origin: &str,
        manifest: &Manifest,
        raw_manifest: &[u8],
        signature: Option<&[u8]>,
        opts: &ExtractOptions,
    ) -> Result<FileStager, ExtractError> {
        check_manifest_args(manifest, raw_manifest)?;
        let dest = opts.dest.as_path();
        let created_dest = prepare_dest(dest)?;
        let (temp, root) = match make_staging(dest, manifest, raw_manifest, signature) {
            Ok(made) => made,
            Err(e) => {
                if created_dest {
                    let _ = fs::remove_dir(dest);
                }
                return Err(e);
            }
        };
        let n = manifest.files.len();
        Ok(FileStager {
            origin: origin.to_string(),
            dest: dest.to_path_buf(),
            temp: Some(temp),
            created_dest,
            root,
            manifest: manifest.clone(),
            raw_manifest: raw_manifest.to_vec(),
            signature: signature.map(<[u8]>::to_vec),
            mtime: SystemTime::UNIX_EPOCH + Duration::from_secs(manifest.created),
            index: manifest
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.clone(), i))
                .collect(),
            state: std::sync::Mutex::new(StagerState {
                open: vec![false; n],
                done: vec![false; n],
                dirs: HashSet::new(),
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, StagerState> {
        // A panic while the lock was held leaves plain flags behind: still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn bad(&self, entry: &str, reason: impl Into<String>) -> ExtractError {
        ExtractError::BadFile {
            origin: self.origin.clone(),
            entry: entry.to_string(),
            reason: reason.into(),
        }
    }

    /// Starts writing the listed file `rel` (relative to `pigsty/`). A file not listed, one
    /// already received or one being written is refused.
    pub fn file(&self, rel: &str) -> Result<StagedFile<'_>, ExtractError> {
        let Some(&index) = self.index.get(rel) else {
            return Err(self.bad(rel, "not listed in the manifest"));
        };
        let path = self.root.join(rel);
        {
            let mut st = self.state();
            if st.done[index] || st.open[index] {
                return Err(self.bad(rel, "received twice"));
            }
            // The manifest's paths are checked (relative, no `..`); create the missing folders.
            if let Some((parent, _)) = rel.rsplit_once('/') {
                let mut end = 0;
                while end < parent.len() {
                    end = parent[end..].find('/').map_or(parent.len(), |i| end + i);
                    let prefix = &parent[..end];
                    end += 1;
                    if st.dirs.contains(prefix) {
                        continue;
                    }
                    if self.index.contains_key(prefix) {
                        return Err(
                            self.bad(rel, format!("`{TOP}/{prefix}` is a file, not a folder"))
                        );
                    }
                    make_dir(&self.root.join(prefix))?;
                    st.dirs.insert(prefix.to_string());
                }
            }
            st.open[index] = true;
        }
        let opened = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path);
        match opened {
            Ok(file) => Ok(StagedFile {
                stager: self,
                index,
                path,
                out: Some(io::BufWriter::with_capacity(FILE_BUF_SIZE, file)),
                hasher: Sha256::new(),
                received: 0,
            }),
            Err(source) => {
                self.state().open[index] = false;
                Err(ExtractError::Write { path, source })
            }
        }
    }

    /// How many of the listed files are complete and checked.
    pub fn received(&self) -> usize {
        self.state().done.iter().filter(|d| **d).count()
    }

    /// Checks that every listed file came, writes `MANIFEST.json` and its signature, fsyncs
    /// the folders and returns the staged repo, ready to [`Staged::commit`].
    pub fn finish(mut self) -> Result<Staged, ExtractError> {
        let (missing, dirs) = {
            let st = self.state();
            let missing: Vec<String> = self
                .manifest
                .files
                .iter()
                .zip(&st.done)
                .filter(|(_, done)| !**done)
                .map(|(f, _)| format!("{TOP}/{}", f.path))
                .collect();
            (missing, st.dirs.iter().cloned().collect::<Vec<_>>())
        };
        if !missing.is_empty() {
            return Err(ExtractError::NotReceived {
                origin: self.origin.clone(),
                paths: missing,
            });
        }
        let mut extra = vec![(MANIFEST_NAME, self.raw_manifest.as_slice())];
        if let Some(sig) = &self.signature {
            extra.push((SIGNATURE_NAME, sig.as_slice()));
        }
        for (name, data) in extra {
            let path = self.root.join(name);
            let werr = |source| ExtractError::Write {
                path: path.clone(),
                source,
            };
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&path)
                .map_err(werr)?;
            f.write_all(data)
                .and_then(|()| f.set_permissions(fs::Permissions::from_mode(0o644)))
                .and_then(|()| f.set_modified(self.mtime))
                .and_then(|()| start_writeback(&f))
                .map_err(werr)?;
        }
        for rel in &dirs {
            let path = self.root.join(rel);
            File::open(&path)
                .and_then(|d| d.set_modified(self.mtime))
                .map_err(|source| ExtractError::Write {
                    path: path.clone(),
                    source,
                })?;
            sync_dir(&path)?;
        }
        File::open(&self.root)
            .and_then(|d| d.set_modified(self.mtime))
            .map_err(|source| ExtractError::Write {
                path: self.root.clone(),
                source,
            })?;
        sync_dir(&self.root)?;
        let Some(temp) = self.temp.take() else {
            return Err(ExtractError::NotADir {
                path: self.root.clone(),
            });
        };
        // Every file's writeback was started as it was closed; wait for all of it at once.
        sync_filesystem(&temp.path)?;
        sync_dir(&temp.path)?;
        Ok(Staged {
            dest: self.dest.clone(),
            temp,
            created_dest: std::mem::take(&mut self.created_dest),
            repo: self.root.clone(),
            files: self.manifest.files.len(),
            bytes: self.manifest.total_size(),
        })
    }
}

impl Drop for FileStager {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            drop(temp);
            if self.created_dest {
                let _ = fs::remove_dir(&self.dest);
            }
        }
    }
}

/// One file being written into a [`FileStager`]: [`StagedFile::write`] the bytes as they come,
/// then [`StagedFile::finish`]. Dropped before `finish` (a failed transfer), the partial file
/// is removed and the file can be started again.
pub struct StagedFile<'a> {
    stager: &'a FileStager,
    index: usize,
    path: PathBuf,
    out: Option<io::BufWriter<File>>,
    hasher: Sha256,
    received: u64,
}

impl StagedFile<'_> {
    /// The manifest's entry of the file.
    fn entry(&self) -> &crate::manifest::FileEntry {
        &self.stager.manifest.files[self.index]
    }

    /// Appends the next bytes; refused as soon as they pass the manifest's size.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ExtractError> {
        let expected = self.entry().size;
        let total = self.received.saturating_add(chunk.len() as u64);
        if total > expected {
            return Err(ExtractError::FileSize {
                origin: self.stager.origin.clone(),
                entry: format!("{TOP}/{}", self.entry().path),
                expected,
                found: total,
                over: true,
            });
        }
        let Some(out) = self.out.as_mut() else {
            return Err(ExtractError::Write {
                path: self.path.clone(),
                source: io::ErrorKind::BrokenPipe.into(),
            });
        };
        out.write_all(chunk).map_err(|source| ExtractError::Write {
            path: self.path.clone(),
            source,
        })?;
        self.hasher.update(chunk);
        self.received = total;
        Ok(())
    }

    /// How many bytes were written so far.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Checks the size and the SHA-256, then starts the file's writeback ([`FileStager::finish`]
    /// waits for all of it).
    pub fn finish(mut self) -> Result<(), ExtractError> {
        let entry = self.entry().clone();
        let origin = self.stager.origin.clone();
        if self.received != entry.size {
            return Err(ExtractError::FileSize {
                origin,
                entry: format!("{TOP}/{}", entry.path),
                expected: entry.size,
                found: self.received,
                over: false,
            });
        }
        let found = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if found != entry.sha256 {
            return Err(ExtractError::FileSha256 {
                origin,
                entry: format!("{TOP}/{}", entry.path),
                expected: entry.sha256,
                found,
            });
        }
        let werr = |source| ExtractError::Write {
            path: self.path.clone(),
            source,
        };
        let out = self
            .out
            .take()
            .ok_or_else(|| werr(io::ErrorKind::BrokenPipe.into()))?;
        let file = out.into_inner().map_err(|e| werr(e.into_error()))?;
        file.set_modified(self.stager.mtime)
            .and_then(|()| start_writeback(&file))
            .map_err(werr)?;
        let mut st = self.stager.state();
        st.done[self.index] = true;
        st.open[self.index] = false;
        Ok(())
    }
}

impl Drop for StagedFile<'_> {
    fn drop(&mut self) {
        let mut st = self.stager.state();
        if !st.done[self.index] {
            drop(self.out.take());
            let _ = fs::remove_file(&self.path);
            st.open[self.index] = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{file_entries, read_signed_manifest, write_bundle, BundleFormat};
    use crate::manifest::{FileEntry, SCHEMA};
    use crate::target::{Arch, Os, Target};
    use std::os::unix::fs::MetadataExt;
    use tar::{EntryType, Header};

    const EPOCH: u64 = 1_700_000_000;
    const SIG: &[u8] = b"-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n";
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

    fn manifest(files: Vec<FileEntry>) -> Manifest {
        Manifest {
            schema: SCHEMA,
            target: Target::new(Os::D12, Arch::X86_64, 17),
            version: "v4.0.0".into(),
            builder: "pigsty-build 0.1.0".into(),
            catalog: "test".into(),
            created: EPOCH,
            files,
            packages: vec![],
            bootstrap: vec![],
            handoff: None,
            key_fingerprint: None,
            repo_format: "apt".into(),
            package_keys: Vec::new(),
            base: None,
        }
    }

    fn file_entry(path: &str, data: &[u8]) -> FileEntry {
        FileEntry {
            path: path.into(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(data)),
        }
    }

    /// Every file and folder under `dir`, recursively, with the files' contents.
    fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![(dir.to_path_buf(), String::new())];
        while let Some((d, rel)) = stack.pop() {
            for item in fs::read_dir(&d).unwrap() {
                let item = item.unwrap();
                let name = format!("{rel}{}", item.file_name().to_str().unwrap());
                let kind = item.file_type().unwrap();
                if kind.is_dir() {
                    out.push((format!("{name}/"), Vec::new()));
                    stack.push((item.path(), format!("{name}/")));
                } else {
                    out.push((name, fs::read(item.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    /// A destination holding a previous `pigsty/` with a marker file, and another file.
    fn dest_with_previous(dir: &Path) -> PathBuf {
        let dest = dir.join("www");
        fs::create_dir_all(dest.join("pigsty/pool")).unwrap();
        fs::write(dest.join("pigsty/marker"), b"previous install").unwrap();
        fs::write(dest.join("pigsty/pool/old.deb"), b"old").unwrap();
        fs::write(dest.join("other.txt"), b"keep me").unwrap();
        dest
    }

    // -----------------------------------------------------------------------------------------
    // Hand-made (hostile) bundles
    // -----------------------------------------------------------------------------------------

    /// One archive entry: its header (checksum set when written) and data.
    struct Item {
        header: Header,
        data: Vec<u8>,
    }

    /// A GNU header with the name bytes written in raw, bypassing the tar crate's checks.
    fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(EPOCH);
        h.set_uid(0);
        h.set_gid(0);
        let slot = &mut h.as_old_mut().name;
        slot.fill(0);
        slot[..name.len()].copy_from_slice(name.as_bytes());
        h
    }

    fn file(name: &str, data: &[u8], mode: u32) -> Item {
        Item {
            header: header(name, EntryType::Regular, data.len() as u64, mode),
            data: data.to_vec(),
        }
    }

    fn special(name: &str, kind: EntryType, link: Option<&str>) -> Item {
        let mut h = header(name, kind, 0, 0o644);
        if let Some(link) = link {
            h.set_link_name_literal(link).unwrap();
        }
        if matches!(kind, EntryType::Char | EntryType::Block) {
            h.set_device_major(1).unwrap();
            h.set_device_minor(3).unwrap();
        }
        Item {
            header: h,
            data: Vec::new(),
        }
    }

    const FILES: &[(&str, &[u8], u32)] = &[
        ("a.txt", b"alpha\n", 0o644),
        ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("pool/b.deb", b"not really a deb", 0o644),
    ];

    fn good_manifest() -> (Manifest, Vec<u8>) {
        let m = manifest(FILES.iter().map(|(p, d, _)| file_entry(p, d)).collect());
        let raw = m.to_json().unwrap().into_bytes();
        (m, raw)
    }

    /// `pigsty/`, the manifest `raw`, the signature, then [`FILES`].
    fn standard(raw: &[u8]) -> Vec<Item> {
        let mut items = vec![
            Item {
                header: header("pigsty/", EntryType::Directory, 0, 0o755),
                data: Vec::new(),
            },
            file("pigsty/MANIFEST.json", raw, 0o644),
            file("pigsty/MANIFEST.json.asc", SIG, 0o644),
        ];
        for (path, data, mode) in FILES {
            items.push(file(&format!("pigsty/{path}"), data, *mode));
        }
        items
    }

    fn write_items(out: &Path, items: Vec<Item>, format: BundleFormat) {
        fn append<W: Write>(b: &mut tar::Builder<W>, items: Vec<Item>) {
            for mut item in items {
                item.header.set_cksum();
                b.append(&item.header, &item.data[..]).unwrap();
            }
        }
        let file = File::create(out).unwrap();
        match format {
            BundleFormat::Tgz => {
                let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                    file,
                    flate2::Compression::fast(),
                ));
                append(&mut b, items);
                b.into_inner().unwrap().finish().unwrap();
            }
            BundleFormat::TarZst => {
                let mut b = tar::Builder::new(zstd::stream::Encoder::new(file, 3).unwrap());
                append(&mut b, items);
                b.into_inner().unwrap().finish().unwrap();
            }
        }
    }

    /// Extracts a bundle that must be refused; checks that the message holds every one of
    /// `want` and that the destination is exactly as before. Returns the message.
    fn refused_bundle(
        dir: &Path,
        bundle: &Path,
        m: &Manifest,
        raw: &[u8],
        sig: Option<&[u8]>,
        want: &[&str],
    ) -> String {
        let dest = dest_with_previous(dir);
        let before = snapshot(&dest);
        let opts = ExtractOptions { dest: dest.clone() };
        let err = extract_bundle(bundle, m, raw, sig, &opts).unwrap_err();
        let text = err.to_string();
        for w in want {
            assert!(text.contains(w), "`{w}` not in: {text}");
        }
        assert_eq!(snapshot(&dest), before, "{text}");
        assert_eq!(
            fs::read(dest.join("pigsty/marker")).unwrap(),
            b"previous install"
        );
        text
    }

    /// Writes `items` as a bundle of each format and checks it is refused.
    fn refused(items: impl Fn() -> Vec<Item>, m: &Manifest, raw: &[u8], want: &[&str]) {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let bundle = dir.path().join(format!("bundle{}", format.extension()));
            write_items(&bundle, items(), format);
            refused_bundle(dir.path(), &bundle, m, raw, Some(SIG), want);
        }
    }

    #[test]
    fn the_hand_made_bundle_is_fine() {
        let (m, raw) = good_manifest();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle.tgz");
        write_items(&bundle, standard(&raw), BundleFormat::Tgz);
        let dest = dest_with_previous(dir.path());
        let done = extract_bundle(
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &ExtractOptions { dest: dest.clone() },
        )
        .unwrap();
        assert_eq!(done.files, 3);
        assert!(done.replaced_previous);
        let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().mode() & 0o7777;
        assert_eq!(mode("pigsty/bin/tool"), 0o755);
        assert_eq!(mode("pigsty/a.txt"), 0o644);
        assert_eq!(mode("pigsty/pool"), 0o755);
    }

    #[test]
    fn refuses_dotdot() {
        let (m, raw) = good_manifest();
        let items = || {
            let mut v = standard(&raw);
            v.push(file(
                "pigsty/../../etc/passwd",
                b"root::0:0::/:/bin/sh\n",
                0o644,
            ));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/../../etc/passwd: path escapes the bundle"],
        );
        let items = || {
            let mut v = standard(&raw);
            v.insert(3, file("../evil", b"x", 0o644));
            v
        };
        refused(items, &m, &raw, &["../evil: path escapes the bundle"]);
    }

    /// A GNU long-name entry or a pax header giving `path` to the entry after it.
    fn long_name(path: &str, pax: bool) -> Item {
        if pax {
            let record = |len: usize| format!("{len} path={path}\n");
            let mut len = record(0).len();
            while record(len).len() != len {
                len = record(len).len();
            }
            let data = record(len).into_bytes();
            Item {
                header: header("pax", EntryType::XHeader, data.len() as u64, 0o644),
                data,
            }
        } else {
            let mut data = path.as_bytes().to_vec();
            data.push(0);
            Item {
                header: header(
                    "././@LongLink",
                    EntryType::GNULongName,
                    data.len() as u64,
                    0o644,
                ),
                data,
            }
        }
    }

    #[test]
    fn refuses_escapes_in_long_names() {
        let (m, raw) = good_manifest();
        for pax in [false, true] {
            let long = format!("pigsty/{}/../../../etc/cron.d/evil", "d".repeat(120));
            let items = || {
                let mut v = standard(&raw);
                v.push(long_name(&long, pax));
                v.push(file("pigsty/harmless", b"* * * * * root sh\n", 0o644));
                v
            };
            refused(
                items,
                &m,
                &raw,
                &[&format!("{long}: path escapes the bundle")],
            );
        }
    }

    #[test]
    fn refuses_absolute_and_outside_paths() {
        let (m, raw) = good_manifest();
        let items = || {
            let mut v = standard(&raw);
            v.push(file("/etc/passwd", b"x", 0o644));
            v
        };
        refused(items, &m, &raw, &["/etc/passwd: absolute path"]);
        let items = || {
            let mut v = standard(&raw);
            v.push(file("other/x", b"x", 0o644));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["other/x: outside the top folder `pigsty/`"],
        );
        let items = || {
            let mut v = standard(&raw);
            v.push(file("pigsty-evil/x", b"x", 0o644));
            v
        };
        refused(items, &m, &raw, &["pigsty-evil/x: outside the top folder"]);
    }

    #[test]
    fn refuses_links_naming_their_target() {
        let (m, raw) = good_manifest();
        let items = || {
            let mut v = standard(&raw);
            v.push(special("pigsty/etc", EntryType::Symlink, Some("/etc")));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/etc: symbolic link to `/etc`; bundles hold no links"],
        );
        // A link first, then a file through it: the link is refused before anything else.
        let items = || {
            let mut v = standard(&raw);
            v.insert(
                3,
                special("pigsty/pool", EntryType::Symlink, Some("../../..")),
            );
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/pool: symbolic link to `../../..`"],
        );
        let items = || {
            let mut v = standard(&raw);
            v.push(special(
                "pigsty/passwd",
                EntryType::Link,
                Some("../../../etc/passwd"),
            ));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/passwd: hard link to `../../../etc/passwd`"],
        );
        let items = || {
            let mut v = standard(&raw);
            v.push(special(
                "pigsty/a2.txt",
                EntryType::Link,
                Some("pigsty/a.txt"),
            ));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/a2.txt: hard link to `pigsty/a.txt`"],
        );
    }

    #[test]
    fn refuses_devices_and_fifos() {
        let (m, raw) = good_manifest();
        for (kind, why) in [
            (EntryType::Char, "character device"),
            (EntryType::Block, "block device"),
            (EntryType::Fifo, "FIFO"),
        ] {
            let items = || {
                let mut v = standard(&raw);
                v.push(special("pigsty/null", kind, None));
                v
            };
            refused(items, &m, &raw, &[&format!("pigsty/null: {why}")]);
        }
    }

    #[test]
    fn refuses_setuid_setgid_and_sticky() {
        let (m, raw) = good_manifest();
        for (mode, why) in [
            (0o4755, "setuid bit (mode 4755)"),
            (0o2755, "setgid bit (mode 2755)"),
            (0o6755, "setuid and setgid bit (mode 6755)"),
        ] {
            let items = || {
                let mut v = standard(&raw);
                let tool = v.len() - 2;
                v[tool].header.set_mode(mode);
                v
            };
            refused(items, &m, &raw, &[&format!("pigsty/bin/tool: {why}")]);
        }
        let items = || {
            let mut v = standard(&raw);
            v.push(Item {
                header: header("pigsty/tmp/", EntryType::Directory, 0, 0o1777),
                data: Vec::new(),
            });
            v
        };
        refused(items, &m, &raw, &["pigsty/tmp/: sticky bit (mode 1777)"]);
    }

    #[test]
    fn refuses_duplicates() {
        let (m, raw) = good_manifest();
        let items = || {
            let mut v = standard(&raw);
            v.push(file("pigsty/a.txt", b"alpha\n", 0o644));
            v
        };
        refused(items, &m, &raw, &["pigsty/a.txt: duplicate entry"]);
        let items = || {
            let mut v = standard(&raw);
            v.push(file("pigsty/MANIFEST.json", &raw, 0o644));
            v
        };
        refused(items, &m, &raw, &["pigsty/MANIFEST.json: duplicate entry"]);
        let items = || {
            let mut v = standard(&raw);
            v.push(Item {
                header: header("pigsty/a.txt/", EntryType::Directory, 0, 0o755),
                data: Vec::new(),
            });
            v
        };
        refused(items, &m, &raw, &["pigsty/a.txt/: duplicate entry"]);
    }

    #[test]
    fn refuses_unlisted_missing_and_resized_files() {
        let (m, raw) = good_manifest();
        let items = || {
            let mut v = standard(&raw);
            v.push(file("pigsty/extra.txt", b"extra", 0o644));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/extra.txt: not listed in the manifest"],
        );

        let mut m2 = m.clone();
        m2.files.push(file_entry("pool/gone.deb", b"gone"));
        let raw2 = m2.to_json().unwrap().into_bytes();
        let m2 = Manifest::from_json(&raw2).unwrap();
        refused(
            || standard(&raw2),
            &m2,
            &raw2,
            &["1 file(s) listed in the manifest are not in the archive: pigsty/pool/gone.deb"],
        );

        let items = || {
            let mut v = standard(&raw);
            v[3] = file("pigsty/a.txt", b"alpha!\n", 0o644);
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/a.txt: size mismatch (manifest 6 bytes, archive 7 bytes)"],
        );
        let items = || {
            let mut v = standard(&raw);
            v[3] = file("pigsty/a.txt", b"alphA\n", 0o644);
            v
        };
        refused(items, &m, &raw, &["pigsty/a.txt: sha256 mismatch"]);
    }

    #[test]
    fn refuses_an_archive_manifest_that_is_not_the_signed_one() {
        let (m, raw) = good_manifest();
        // Same size, one byte different.
        let mut other = m.clone();
        other.version = "v4.0.1".into();
        let other_raw = other.to_json().unwrap().into_bytes();
        assert_eq!(other_raw.len(), raw.len());
        refused(
            || standard(&other_raw),
            &m,
            &raw,
            &["pigsty/MANIFEST.json: differs from the signed manifest given (first difference at byte"],
        );
        // Another size.
        other.version = "v4.0.1-longer".into();
        let other_raw = other.to_json().unwrap().into_bytes();
        refused(
            || standard(&other_raw),
            &m,
            &raw,
            &["pigsty/MANIFEST.json: differs from the signed manifest given"],
        );
        // Not there at all.
        let items = || {
            let mut v = standard(&raw);
            v.remove(1);
            v
        };
        refused(
            items,
            &m,
            &raw,
            &["pigsty/MANIFEST.json: differs from the signed manifest given (it is not in the archive)"],
        );
        // Another signature.
        let items = || {
            let mut v = standard(&raw);
            v[2] = file("pigsty/MANIFEST.json.asc", &SIG.to_ascii_lowercase(), 0o644);
            v
        };
        refused(items, &m, &raw, &["pigsty/MANIFEST.json.asc: differs"]);
        // A signature the caller did not pass.
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("b.tgz");
        write_items(&bundle, standard(&raw), BundleFormat::Tgz);
        refused_bundle(
            dir.path(),
            &bundle,
            &m,
            &raw,
            None,
            &["pigsty/MANIFEST.json.asc: differs from the signed manifest given (the bundle has a signature but none was given)"],
        );
        // Arguments that do not agree with each other.
        let err = extract_bundle(
            &bundle,
            &other,
            &raw,
            Some(SIG),
            &ExtractOptions {
                dest: dir.path().join("www"),
            },
        )
        .unwrap_err();
        assert!(matches!(err, ExtractError::ManifestArgs { .. }), "{err}");
    }

    // -----------------------------------------------------------------------------------------
    // Bundles written by write_bundle
    // -----------------------------------------------------------------------------------------

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
            ("bin/install.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
            ("empty.txt", Vec::new(), false),
            ("zz", noise(3, 200_000), false),
        ]
    }

    /// A source tree under `dir/src` and its manifest (computed before `tamper` runs on it).
    fn tree(dir: &Path, tamper: impl FnOnce(&Path)) -> (PathBuf, Manifest) {
        let src = dir.join("src");
        fs::create_dir_all(src.join("empty-dir")).unwrap();
        for (path, data, exec) in tree_files() {
            let p = src.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, &data).unwrap();
            let mode = if exec { 0o755 } else { 0o644 };
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        let m = manifest(file_entries(&src).unwrap());
        tamper(&src);
        (src, m)
    }

    fn extras(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
        vec![
            (MANIFEST_NAME.into(), raw.to_vec()),
            (SIGNATURE_NAME.into(), SIG.to_vec()),
        ]
    }

    #[test]
    fn extracts_a_real_bundle_and_replaces_the_previous_one() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (src, m) = tree(dir.path(), |_| {});
            let raw = m.to_json().unwrap().into_bytes();
            let bundle = dir.path().join(format!("bundle{}", format.extension()));
            write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
            // What the installer does: read the signed manifest, check it, extract.
            let signed = read_signed_manifest(&bundle).unwrap();
            assert_eq!(signed.raw, raw);

            let dest = dest_with_previous(dir.path());
            assert_ne!(installed_manifest(&dest).map(|(_, r)| r), Some(raw.clone()));
            let done = extract_bundle(
                &bundle,
                &signed.manifest,
                &signed.raw,
                signed.signature.as_deref(),
                &ExtractOptions { dest: dest.clone() },
            )
            .unwrap();
            let total: usize = tree_files().iter().map(|(_, d, _)| d.len()).sum();
            assert_eq!(
                done,
                Extracted {
                    path: dest.join("pigsty"),
                    files: tree_files().len(),
                    bytes: total as u64,
                    replaced_previous: true,
                }
            );
            let top = dest.join("pigsty");
            for (path, data, exec) in tree_files() {
                let p = top.join(path);
                assert_eq!(fs::read(&p).unwrap(), data, "{path}");
                let meta = fs::metadata(&p).unwrap();
                assert_eq!(meta.mode() & 0o7777, if exec { 0o755 } else { 0o644 });
                assert_eq!(meta.mtime(), EPOCH as i64, "{path}");
            }
            assert_eq!(fs::read(top.join(MANIFEST_NAME)).unwrap(), raw);
            assert_eq!(fs::read(top.join(SIGNATURE_NAME)).unwrap(), SIG);
            let dir_meta = fs::metadata(top.join("empty-dir")).unwrap();
            assert!(dir_meta.is_dir());
            assert_eq!(dir_meta.mode() & 0o7777, 0o755);
            assert_eq!(
                fs::metadata(top.join("pool")).unwrap().mtime(),
                EPOCH as i64
            );
            // The previous repo is gone, nothing else is left beside the new one.
            assert!(!top.join("marker").exists());
            let names: Vec<String> = fs::read_dir(&dest)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            assert_eq!(names, vec!["other.txt", "pigsty"]);
            assert_eq!(fs::read(dest.join("other.txt")).unwrap(), b"keep me");
            let (installed, installed_raw) = installed_manifest(&dest).unwrap();
            assert_eq!(installed_raw, raw);
            assert_eq!(installed, m);

            // Into a destination that does not exist yet: created, nothing replaced.
            let fresh = dir.path().join("new/www");
            let done = extract_bundle(
                &bundle,
                &m,
                &raw,
                Some(SIG),
                &ExtractOptions {
                    dest: fresh.clone(),
                },
            )
            .unwrap();
            assert!(!done.replaced_previous);
            let mut replaced = snapshot(&dest);
            replaced.retain(|(name, _)| name != "other.txt");
            assert!(snapshot(&fresh) == replaced, "{format}: differ");
        }
    }

    #[test]
    fn installed_manifest_is_none_without_a_valid_one() {
        let dir = tempfile::tempdir().unwrap();
        assert!(installed_manifest(dir.path()).is_none());
        fs::create_dir(dir.path().join("pigsty")).unwrap();
        fs::write(dir.path().join("pigsty/MANIFEST.json"), b"{").unwrap();
        assert!(installed_manifest(dir.path()).is_none());
    }

    #[test]
    fn refuses_truncated_bundles() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (src, m) = tree(dir.path(), |_| {});
            let raw = m.to_json().unwrap().into_bytes();
            let bundle = dir.path().join(format!("bundle{}", format.extension()));
            write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
            let full = fs::read(&bundle).unwrap();
            for cut in [1usize, 8 << 10, 100 << 10, 400 << 10] {
                let short = dir
                    .path()
                    .join(format!("short-{cut}{}", format.extension()));
                fs::write(&short, &full[..full.len() - cut]).unwrap();
                let text = refused_bundle(
                    dir.path(),
                    &short,
                    &m,
                    &raw,
                    Some(SIG),
                    &["truncated archive"],
                );
                if cut > 1 {
                    // Cut inside a file: the message names it.
                    assert!(text.contains("in pigsty/"), "{format} cut {cut}: {text}");
                }
                let _ = fs::remove_dir_all(dir.path().join("www"));
            }
        }
    }

    #[test]
    fn refuses_a_flipped_byte_in_a_file() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (src, m) = tree(dir.path(), |src| {
                let mut data = fs::read(src.join(DEB)).unwrap();
                data[1000] ^= 1;
                fs::write(src.join(DEB), &data).unwrap();
            });
            let raw = m.to_json().unwrap().into_bytes();
            let bundle = dir.path().join(format!("bundle{}", format.extension()));
            write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
            refused_bundle(
                dir.path(),
                &bundle,
                &m,
                &raw,
                Some(SIG),
                &[&format!("pigsty/{DEB}: sha256 mismatch (manifest ")],
            );
        }
    }

    #[test]
    fn refuses_a_bundle_whose_manifest_is_not_the_signed_one() {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let mut other = m.clone();
        other.catalog = "another".into();
        let other_raw = other.to_json().unwrap().into_bytes();
        let bundle = dir.path().join("bundle.tgz");
        write_bundle(&src, &bundle, BundleFormat::Tgz, EPOCH, &extras(&other_raw)).unwrap();
        refused_bundle(
            dir.path(),
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &["pigsty/MANIFEST.json: differs from the signed manifest given"],
        );
    }

    #[test]
    fn refuses_corrupt_and_foreign_files() {
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let dir = tempfile::tempdir().unwrap();
            let (src, m) = tree(dir.path(), |_| {});
            let raw = m.to_json().unwrap().into_bytes();
            let bundle = dir.path().join(format!("bundle{}", format.extension()));
            write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
            let mut bad = fs::read(&bundle).unwrap();
            let mid = bad.len() / 2;
            bad[mid] ^= 0x55;
            fs::write(&bundle, &bad).unwrap();
            refused_bundle(dir.path(), &bundle, &m, &raw, Some(SIG), &["bundle"]);
        }
        let dir = tempfile::tempdir().unwrap();
        let (m, raw) = good_manifest();
        let junk = dir.path().join("junk.tgz");
        fs::write(&junk, b"PK\x03\x04 not a bundle").unwrap();
        refused_bundle(
            dir.path(),
            &junk,
            &m,
            &raw,
            Some(SIG),
            &["not a gzip or zstd bundle (starts with 50 4b 03 04)"],
        );
        refused_bundle(
            dir.path(),
            &dir.path().join("nowhere.tgz"),
            &m,
            &raw,
            Some(SIG),
            &["nowhere.tgz"],
        );
    }

    #[test]
    fn refuses_when_space_is_short() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = good_manifest().0;
        m.files[0].size = u64::MAX / 2;
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join("b.tgz");
        write_items(&bundle, standard(&raw), BundleFormat::Tgz);
        refused_bundle(
            dir.path(),
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &[
                "not enough free space in",
                "available",
                "needs 8388608.0 TiB (9223372036854776",
            ],
        );
    }

    // -----------------------------------------------------------------------------------------
    // File by file (FileStager)
    // -----------------------------------------------------------------------------------------

    /// Stages every file of the test tree through a FileStager, in `chunk`-byte writes.
    fn stage_tree(m: &Manifest, raw: &[u8], dest: &Path, chunk: usize) -> Staged {
        let stager = FileStager::new(
            "http://mirror.invalid/pigsty",
            m,
            raw,
            Some(SIG),
            &ExtractOptions {
                dest: dest.to_path_buf(),
            },
        )
        .unwrap();
        // In reverse order, and one file started, dropped and started again.
        let mut first = stager.file(DEB).unwrap();
        first.write(b"partial").unwrap();
        drop(first);
        for (path, data, _) in tree_files().into_iter().rev() {
            let mut f = stager.file(path).unwrap();
            for piece in data.chunks(chunk) {
                f.write(piece).unwrap();
            }
            assert_eq!(f.received(), data.len() as u64);
            f.finish().unwrap();
        }
        assert_eq!(stager.received(), tree_files().len());
        stager.finish().unwrap()
    }

    #[test]
    fn stages_file_by_file_like_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join("bundle.tgz");
        write_bundle(&src, &bundle, BundleFormat::Tgz, EPOCH, &extras(&raw)).unwrap();
        let from_bundle = dir.path().join("a");
        extract_bundle(
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &ExtractOptions {
                dest: from_bundle.clone(),
            },
        )
        .unwrap();

        let dest = dest_with_previous(dir.path());
        let staged = stage_tree(&m, &raw, &dest, 4096);
        // Nothing in place before the commit.
        assert_eq!(
            fs::read(dest.join("pigsty/marker")).unwrap(),
            b"previous install"
        );
        let done = staged.commit().unwrap();
        assert!(done.replaced_previous);
        assert_eq!(done.files, tree_files().len());
        let top = dest.join("pigsty");
        // The same files as the bundle gives (a bundle's empty folders aside).
        let mut want = snapshot(&from_bundle);
        want.retain(|(name, _)| name != "pigsty/empty-dir/");
        let mut got = snapshot(&dest);
        got.retain(|(name, _)| name != "other.txt");
        assert!(got == want, "file by file and from the bundle differ");
        for (path, _, _) in tree_files() {
            let meta = fs::metadata(top.join(path)).unwrap();
            assert_eq!(meta.mode() & 0o7777, 0o644, "{path}");
            assert_eq!(meta.mtime(), EPOCH as i64, "{path}");
        }
        assert_eq!(
            fs::metadata(top.join("pool")).unwrap().mtime(),
            EPOCH as i64
        );
        assert_eq!(installed_manifest(&dest).unwrap().1, raw);
        let names: Vec<String> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names, vec!["other.txt", "pigsty"]);
    }

    #[test]
    fn file_stager_refuses_wrong_files_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let dest = dest_with_previous(dir.path());
        let before = snapshot(&dest);
        let opts = ExtractOptions { dest: dest.clone() };
        let stager =
            FileStager::new("http://mirror.invalid/pigsty", &m, &raw, Some(SIG), &opts).unwrap();
        let data = |p: &str| tree_files().into_iter().find(|f| f.0 == p).unwrap().1;

        let err = stager.file("pool/extra.deb").err().unwrap().to_string();
        assert!(
            err.contains("pool/extra.deb") && err.contains("not listed"),
            "{err}"
        );
        let err = stager.file("../escape").err().unwrap().to_string();
        assert!(err.contains("not listed"), "{err}");

        // A byte past the manifest's size is refused as it comes.
        let mut f = stager.file("zz").unwrap();
        let mut long = data("zz");
        long.push(0);
        let err = f.write(&long).unwrap_err().to_string();
        assert!(
            err.contains("http://mirror.invalid/pigsty: pigsty/zz: size mismatch")
                && err.contains("and more"),
            "{err}"
        );
        drop(f);
        // Being written already: refused; short: refused at the end.
        let mut f = stager.file("zz").unwrap();
        assert!(stager
            .file("zz")
            .err()
            .unwrap()
            .to_string()
            .contains("twice"));
        f.write(&data("zz")[..10]).unwrap();
        let err = f.finish().unwrap_err().to_string();
        assert!(
            err.contains("pigsty/zz: size mismatch (manifest 200000 bytes, received 10)"),
            "{err}"
        );
        // A flipped byte: refused naming the file and both digests.
        let mut f = stager.file(DEB).unwrap();
        let mut bad = data(DEB);
        bad[1000] ^= 1;
        f.write(&bad).unwrap();
        let err = f.finish().unwrap_err().to_string();
        assert!(
            err.contains(&format!("pigsty/{DEB}: sha256 mismatch"))
                && err.contains(&m.file(DEB).unwrap().sha256),
            "{err}"
        );
        // A good one, then a second time.
        let mut f = stager.file("empty.txt").unwrap();
        f.write(b"").unwrap();
        f.finish().unwrap();
        assert!(stager
            .file("empty.txt")
            .err()
            .unwrap()
            .to_string()
            .contains("twice"));
        // Files never received.
        let err = stager.finish().err().unwrap().to_string();
        assert!(
            err.contains("5 file(s) listed in the manifest were not received")
                && err.contains(&format!("pigsty/{DEB}")),
            "{err}"
        );
        assert!(snapshot(&dest) == before, "the destination changed");

        // Dropped half way: nothing left; a destination it created is removed again.
        let fresh = dir.path().join("new/www");
        let stager = FileStager::new(
            "x",
            &m,
            &raw,
            None,
            &ExtractOptions {
                dest: fresh.clone(),
            },
        )
        .unwrap();
        let mut f = stager.file(DEB).unwrap();
        f.write(&data(DEB)).unwrap();
        f.finish().unwrap();
        drop(stager);
        assert!(!fresh.exists());
        // The manifest given must be the raw one.
        let mut other = m.clone();
        other.version = "other".into();
        assert!(matches!(
            FileStager::new("x", &other, &raw, None, &opts),
            Err(ExtractError::ManifestArgs { .. })
        ));
    }
}
