//! Filesystem primitives both binaries build on: atomic writes, staging folders swapped into
//! place in one step, locks, hashing on the way through, free space, and durability.
//!
//! - [`write_atomic`]: a small file written under a temporary name beside its target,
//!   fsynced, then renamed, so that a reader never sees a half-written file.
//! - [`Staging`]: a temporary folder beside a target folder, removed unless put in place with
//!   [`swap_into_place`], which exchanges the two in one `renameat2(RENAME_EXCHANGE)`: there is
//!   no moment at which the target is missing. [`remove_staging_now`] removes the live ones
//!   when the process is told to stop; [`sweep_stale`] removes those a killed process left.
//! - [`Lock`]: an exclusive `flock` that leaves no file behind.
//! - [`HashingWriter`], [`hash_file`], [`hash_reader`], [`is_sha256`]: SHA-256 as data passes.
//! - [`available_space`], [`check_space`]: what a write may still use.
//! - [`start_writeback`], [`start_writeback_range`], [`sync_filesystem`], [`sync_dir`]:
//!   durability, cheaply.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use sha2::{Digest, Sha256};

/// The temporary name a file is written under before it is renamed to `path`.
pub fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
}

/// `path` with `suffix` appended to its last component: `a.tgz` + `.sha256`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// The folder `path` is in (`.` for a bare name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Writes `data` to `path` atomically with `mode` (from the start: a secret key is never
/// readable by others, not even for a moment), creating the parent folder if needed.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let tmp = tmp_name(path);
    let result = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// A temporary folder beside a target, named `<prefix><pid>-<random>`: removed with all it
/// holds when dropped, unless [`Staging::keep`] or [`swap_into_place`] took it. Every live one
/// is known to [`remove_staging_now`], which a signal handler calls before the process ends.
#[derive(Debug)]
pub struct Staging {
    dir: Option<tempfile::TempDir>,
}

/// The staging folders alive in this process. Held while a folder is made, removed or
/// swapped, so that [`remove_staging_now`] never meets one half done.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn live() -> MutexGuard<'static, Vec<PathBuf>> {
    // A panic while it was held leaves a plain list behind: still usable.
    LIVE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// For a process that is told to stop (SIGTERM, SIGINT): waits for any swap or removal under
/// way to end, removes every live staging folder, and keeps every other staging operation of
/// the process from starting again; the caller then ends the process. Returns what was
/// removed. A folder already swapped into place is no staging folder any more, and stays.
pub fn remove_staging_now() -> Vec<PathBuf> {
    let mut guard = live();
    let removed: Vec<PathBuf> = guard
        .drain(..)
        .filter(|p| fs::remove_dir_all(p).is_ok())
        .collect();
    // Never released: the process ends with it held.
    std::mem::forget(guard);
    removed
}

impl Drop for Staging {
    fn drop(&mut self) {
        let mut guard = live();
        if let Some(dir) = self.dir.take() {
            let path = dir.path().to_path_buf();
            drop(dir);
            guard.retain(|p| *p != path);
        }
    }
}

impl Staging {
    /// Creates the folder in `parent` (which must exist), mode 0755 whatever the umask.
    pub fn new_in(parent: &Path, prefix: &str) -> io::Result<Staging> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("{prefix}{}-", std::process::id()))
            .permissions(fs::Permissions::from_mode(0o755))
            .tempdir_in(parent)?;
        // The mode asked for is filtered by the umask: set it again.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        live().push(dir.path().to_path_buf());
        Ok(Staging { dir: Some(dir) })
    }

    pub fn path(&self) -> &Path {
        match &self.dir {
            Some(d) => d.path(),
            None => Path::new(""),
        }
    }

    /// Leaves the folder where it is, for good; returns its path.
    pub fn keep(mut self) -> PathBuf {
        let mut guard = live();
        match self.dir.take() {
            Some(d) => {
                let path = d.keep();
                guard.retain(|p| *p != path);
                path
            }
            None => PathBuf::new(),
        }
    }
}

/// Removes every folder or file directly in `parent` whose name starts with one of
/// `prefixes` (what killed processes left behind). The caller holds the lock that keeps other
/// processes from staging there at the same time. Returns what was removed.
pub fn sweep_stale(parent: &Path, prefixes: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !prefixes.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            fs::remove_dir_all(&path)?;
        } else {
            fs::remove_file(&path)?;
        }
        removed.push(path);
    }
    Ok(removed)
}

/// What [`swap_into_place`] did with the folder that was at the target.
#[derive(Debug)]
pub enum Previous {
    /// There was nothing at the target.
    None,
    /// The previous content, now at this path (the staging folder's old name); the caller
    /// removes or keeps it.
    At(PathBuf),
}

/// Puts the folder `staged` at `target` in one step: `renameat2(RENAME_EXCHANGE)` when
/// `target` exists (the old content is then at `staged`'s path), a rename that never replaces
/// when it does not. At every moment `target` is either the complete old folder or the
/// complete new one. Where the filesystem cannot exchange (rare: some network filesystems),
/// the old folder is moved aside first: a moment without `target`, said in the error if the
/// second rename fails. `target`'s folder is fsynced afterwards.
pub fn swap_into_place(staged: &Path, target: &Path) -> io::Result<Previous> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    // No staging folder is removed on a signal while its content is being swapped.
    let _guard = live();
    let previous = match renameat_with(CWD, staged, CWD, target, RenameFlags::NOREPLACE) {
        Ok(()) => Previous::None,
        Err(e) if e == rustix::io::Errno::EXIST || e == rustix::io::Errno::NOTEMPTY => {
            match renameat_with(CWD, staged, CWD, target, RenameFlags::EXCHANGE) {
                Ok(()) => Previous::At(staged.to_path_buf()),
                Err(e) if unsupported(e) => two_renames(staged, target)?,
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) if unsupported(e) => {
            if target.exists() {
                two_renames(staged, target)?
            } else {
                fs::rename(staged, target)?;
                Previous::None
            }
        }
        Err(e) => return Err(e.into()),
    };
    let _ = sync_dir(&parent_dir(target));
    Ok(previous)
}

fn unsupported(e: rustix::io::Errno) -> bool {
    use rustix::io::Errno;
    e == Errno::INVAL || e == Errno::NOSYS || e == Errno::OPNOTSUPP
}

/// The fallback of [`swap_into_place`]: the old folder aside, the new one in.
fn two_renames(staged: &Path, target: &Path) -> io::Result<Previous> {
    let aside = with_suffix(staged, ".previous");
    fs::rename(target, &aside)?;
    if let Err(e) = fs::rename(staged, target) {
        let back = fs::rename(&aside, target);
        return Err(io::Error::new(
            e.kind(),
            match back {
                Ok(()) => e.to_string(),
                Err(b) => format!(
                    "{e}; the previous {} is left at {} (moving it back failed: {b})",
                    target.display(),
                    aside.display()
                ),
            },
        ));
    }
    Ok(Previous::At(aside))
}

/// An exclusive `flock` on a file or folder, released when dropped or when the process ends,
/// however it ends. Locking a folder that exists leaves no file behind.
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

impl Lock {
    /// Takes the lock on `path` (opened read-only; a folder works), or `Ok(None)` if another
    /// holder has it and `wait` is false.
    pub fn take(path: &Path, wait: bool) -> io::Result<Option<Lock>> {
        let file = File::open(path)?;
        Lock::take_file(file, wait)
    }

    /// Takes the lock on an open file (e.g. a lock file created beside what it guards).
    pub fn take_file(file: File, wait: bool) -> io::Result<Option<Lock>> {
        use rustix::fs::{flock, FlockOperation};
        let op = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        loop {
            match flock(&file, op) {
                Ok(()) => return Ok(Some(Lock { _file: file })),
                Err(rustix::io::Errno::WOULDBLOCK) if !wait => return Ok(None),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// A writer that hashes (SHA-256) and counts the bytes on their way out, and shows them to
/// `also` (e.g. a second digest).
pub struct HashingWriter<W: Write, F: FnMut(&[u8]) = fn(&[u8])> {
    inner: W,
    sha256: Sha256,
    size: u64,
    also: F,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter::with_also(inner, |_| {})
    }
}

impl<W: Write, F: FnMut(&[u8])> HashingWriter<W, F> {
    pub fn with_also(inner: W, also: F) -> Self {
        HashingWriter {
            inner,
            sha256: Sha256::new(),
            size: 0,
            also,
        }
    }

    /// How many bytes went through so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// The writer, the byte count and the lowercase hex SHA-256.
    pub fn finish(self) -> (W, u64, String) {
        (self.inner, self.size, hex::encode(self.sha256.finalize()))
    }
}

impl<W: Write, F: FnMut(&[u8])> Write for HashingWriter<W, F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        (self.also)(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streams a file through SHA-256: its size and lowercase hex digest.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    hash_reader(File::open(path)?)
}

/// Streams a reader through SHA-256: the number of bytes read and their lowercase hex digest.
pub fn hash_reader(mut reader: impl Read) -> io::Result<(u64, String)> {
    let mut sink = HashingWriter::new(io::sink());
    io::copy(&mut reader, &mut sink)?;
    let (_, size, sha256) = sink.finish();
    Ok((size, sha256))
}

/// Whether `s` is a SHA-256 in lowercase hex, as manifests and caches spell them.
pub fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The bytes an unprivileged user may still write on the filesystem of `dir`.
pub fn available_space(dir: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(dir)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Not enough room for a write.
#[derive(Debug, thiserror::Error)]
#[error("not enough free space in {}: {what} {} ({needed} bytes), {} ({available} bytes) available", dir.display(), human(*needed), human(*available))]
pub struct NoSpace {
    pub dir: PathBuf,
    /// What needs the room, with its verb: `extracting needs`, `the bundle needs up to`.
    pub what: &'static str,
    pub needed: u64,
    pub available: u64,
}

/// Why [`check_space`] refused.
#[derive(Debug, thiserror::Error)]
pub enum SpaceError {
    #[error(transparent)]
    NoSpace(#[from] NoSpace),
    #[error("cannot read the free space of {}", dir.display())]
    Stat {
        dir: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Fails if the filesystem of `dir` has less than `needed` bytes available for `what`
/// (see [`NoSpace::what`]).
pub fn check_space(dir: &Path, needed: u64, what: &'static str) -> Result<(), SpaceError> {
    let available = available_space(dir).map_err(|source| SpaceError::Stat {
        dir: dir.to_path_buf(),
        source,
    })?;
    if available < needed {
        return Err(NoSpace {
            dir: dir.to_path_buf(),
            what,
            needed,
            available,
        }
        .into());
    }
    Ok(())
}

/// Bytes as a short human size: `1.5 GiB`.
pub fn human(bytes: u64) -> String {
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

/// Starts writing a file's data to disk without waiting (Linux `sync_file_range`), so that
/// the disk works while the next files are written; [`sync_filesystem`] waits for it all at
/// the end. Elsewhere, a plain fsync.
pub fn start_writeback(file: &File) -> io::Result<()> {
    start_writeback_range(file, 0, 0)
}

/// [`start_writeback`] of the `len` bytes at `offset` (`0, 0`: the whole file): a long file
/// written in steps is on disk, or on its way, by the time its final fsync comes.
pub fn start_writeback_range(file: &File, offset: u64, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) {
            // rustix has no sync_file_range.
            // SAFETY: a valid open descriptor and a range of it (length 0: to the end).
            let rc = unsafe {
                libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE)
            };
            if rc == 0 {
                return Ok(());
            }
        }
    }
    file.sync_all()
}

/// Makes everything written under `path` durable: one `syncfs` of its filesystem (data and
/// metadata of every file, in one journal commit, instead of one fsync per file).
pub fn sync_filesystem(path: &Path) -> io::Result<()> {
    let dir = File::open(path)?;
    rustix::fs::syncfs(&dir)?;
    Ok(())
}

/// fsyncs a folder, making the names in it durable.
pub fn sync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_with_mode_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/secret.key");
        write_atomic(&p, b"one", 0o600).unwrap();
        write_atomic(&p, b"two", 0o600).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(std::fs::read_dir(p.parent().unwrap()).unwrap().count(), 1);
        // a target that cannot be renamed onto (a folder) fails and leaves no temp file
        let d = dir.path().join("adir");
        std::fs::create_dir_all(d.join("x")).unwrap();
        assert!(write_atomic(&d, b"x", 0o644).is_err());
        assert!(!tmp_name(&d).exists());
    }

    #[test]
    fn swaps_folders_with_no_gap() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("repo");
        // Nothing there yet: a plain move.
        let first = Staging::new_in(dir.path(), ".stage-").unwrap();
        fs::write(first.path().join("v"), b"1").unwrap();
        let staged = first.keep();
        assert!(matches!(
            swap_into_place(&staged, &target).unwrap(),
            Previous::None
        ));
        assert_eq!(fs::read(target.join("v")).unwrap(), b"1");
        // A second one: exchanged; the old content is where the staging folder was.
        let second = Staging::new_in(dir.path(), ".stage-").unwrap();
        fs::write(second.path().join("v"), b"2").unwrap();
        let staged = second.keep();
        let Previous::At(old) = swap_into_place(&staged, &target).unwrap() else {
            panic!("the previous folder was not kept")
        };
        assert_eq!(fs::read(target.join("v")).unwrap(), b"2");
        assert_eq!(fs::read(old.join("v")).unwrap(), b"1");
        // A stale staging folder is swept; other names stay.
        fs::create_dir(dir.path().join(".stage-999-x")).unwrap();
        let swept = sweep_stale(dir.path(), &[".stage-"]).unwrap();
        assert_eq!(swept.len(), 2, "{swept:?}");
        assert!(target.join("v").exists());
    }

    #[test]
    fn a_dropped_staging_folder_goes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Staging::new_in(dir.path(), ".x-").unwrap();
        let p = s.path().to_path_buf();
        fs::write(p.join("f"), b"x").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
        drop(s);
        assert!(!p.exists());
    }

    #[test]
    fn locks_exclude_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let held = Lock::take(dir.path(), false).unwrap().unwrap();
        assert!(Lock::take(dir.path(), false).unwrap().is_none());
        drop(held);
        assert!(Lock::take(dir.path(), false).unwrap().is_some());
    }

    #[test]
    fn hashes_streams() {
        let (size, sha) = hash_reader(&b"abc"[..]).unwrap();
        assert_eq!(size, 3);
        assert_eq!(
            sha,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(is_sha256(&sha));
        assert!(!is_sha256(&sha.to_uppercase()));
        assert!(!is_sha256(&sha[1..]));
        let mut seen = 0usize;
        let mut w = HashingWriter::with_also(Vec::new(), |b: &[u8]| seen += b.len());
        w.write_all(b"abc").unwrap();
        let (out, n, digest) = w.finish();
        assert_eq!(
            (out.as_slice(), n, digest.as_str()),
            (&b"abc"[..], 3, sha.as_str())
        );
        assert_eq!(seen, 3);
    }

    #[test]
    fn space_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        assert!(available_space(dir.path()).unwrap() > 0);
        let err = check_space(dir.path(), u64::MAX / 2, "the test needs").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("not enough free space") && text.contains("the test needs"),
            "{text}"
        );
        assert_eq!(human(1536), "1.5 KiB");
    }
}
