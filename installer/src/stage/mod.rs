//! Laying a verified repo out on the node: a bundle extracted ([`stage_bundle`]) or a mirror's
//! files downloaded ([`FileStager`]) into a staging folder beside `<dest>/pigsty`, every byte
//! judged by the bundle crate's one [`Verifier`] on the way, then swapped into place in one
//! step ([`Staged::commit`]).
//!
//! The staging folder is `<dest>/.pigsty-extract-<pid>-<random>/pigsty`. Files are written
//! `O_NOFOLLOW`, each file's writeback started as it is closed and one `syncfs` made at the
//! end. Only when everything checked out and is on disk does the staged repo replace
//! `<dest>/pigsty`, by `renameat2(RENAME_EXCHANGE)`: at no moment is there no repo. On any
//! failure before that the staging folder is removed and nothing else under `<dest>` changes;
//! after a kill, [`sweep_stale`] (under the install lock) removes what was left.

mod by_file;
mod disk;

use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use pigsty_bundle::archive::{self, walk, SignedManifest, Verifier, MAX_MANIFEST_SIZE, TOP};
use pigsty_bundle::fs::{self as bfs, Previous, SpaceError, Staging};
use pigsty_bundle::manifest::{DeltaBase, Manifest, MANIFEST_NAME};
use pigsty_bundle::BundleError;

pub use by_file::{FileStager, StagedFile};
use disk::DiskSink;

/// The name prefix of staging folders beside `<dest>/pigsty`.
pub const STAGING_PREFIX: &str = ".pigsty-extract-";
/// The repo an install replaced, kept beside `<dest>/pigsty` (one generation) for `rollback`.
pub const PREVIOUS: &str = ".pigsty-previous";
/// What older versions left beside `<dest>/pigsty` while swapping (two renames).
const OLD_PREVIOUS_PREFIX: &str = ".pigsty-previous-";

#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The bundle (or the mirror's files) is not what its signed manifest says.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Space(#[from] SpaceError),
    #[error("{}: not a directory", path.display())]
    NotADir { path: PathBuf },
    /// A delta bundle whose base is not what is installed, or a base file that changed.
    #[error("{}: this delta applies to the repo of bundle {version} only: {detail}", repo.display())]
    DeltaBase {
        repo: PathBuf,
        version: String,
        detail: String,
    },
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("putting {} in place of {}", from.display(), to.display())]
    Install {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> StageError + '_ {
    move |source| StageError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// What [`Staged::commit`] put in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// `<dest>/pigsty`.
    pub path: PathBuf,
    /// How many files the manifest lists (the manifest and its signature not counted).
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
    /// Whether a previous `<dest>/pigsty` was replaced.
    pub replaced_previous: bool,
}

/// A repo verified and complete in a staging folder beside the destination, not yet in
/// place: [`Staged::commit`] puts it there in one step, [`Staged::discard`] (or dropping it)
/// removes it and leaves the destination as it was.
#[derive(Debug)]
pub struct Staged {
    dest: PathBuf,
    staging: Option<Staging>,
    created_dest: bool,
    /// The staged repo folder (`<dest>/.pigsty-extract-.../pigsty`).
    pub repo: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

impl Staged {
    /// Puts the staged repo at `<dest>/pigsty` in one step, replacing the previous one (which
    /// is removed with the staging folder).
    pub fn commit(self) -> Result<Placed, StageError> {
        self.put_in_place(false)
    }

    /// As [`Staged::commit`], but the repo it replaces is kept at `<dest>/.pigsty-previous`
    /// (for `rollback`), in place of the one kept there before: that exchange is one
    /// `renameat2(RENAME_EXCHANGE)` too, so a previous repo is always whole. Killed between
    /// the two exchanges, the repo just replaced is left in the staging folder, which the next
    /// install sweeps: `<dest>/pigsty` is whole all along, and `.pigsty-previous` is then the
    /// generation before.
    pub fn commit_keeping_previous(self) -> Result<Placed, StageError> {
        self.put_in_place(true)
    }

    fn put_in_place(mut self, keep: bool) -> Result<Placed, StageError> {
        let target = self.dest.join(TOP);
        let previous =
            bfs::swap_into_place(&self.repo, &target).map_err(|source| StageError::Install {
                from: self.repo.clone(),
                to: target.clone(),
                source,
            })?;
        let replaced_previous = match previous {
            Previous::None => false,
            Previous::At(old) if keep => {
                let kept = self.dest.join(PREVIOUS);
                // The one kept before ends in the staging folder (or beside it), removed below.
                let older =
                    bfs::swap_into_place(&old, &kept).map_err(|source| StageError::Install {
                        from: old.clone(),
                        to: kept.clone(),
                        source,
                    })?;
                if let Previous::At(older) = older {
                    self.remove_unless_staged(&older);
                }
                true
            }
            Previous::At(old) => {
                self.remove_unless_staged(&old);
                true
            }
        };
        // In place: the destination stays, whoever made it.
        self.created_dest = false;
        self.staging = None;
        Ok(Placed {
            path: target,
            files: self.files,
            bytes: self.bytes,
            replaced_previous,
        })
    }

    /// Removes a folder a swap left, unless it is inside the staging folder (which goes as a
    /// whole).
    fn remove_unless_staged(&self, old: &Path) {
        if self
            .staging
            .as_ref()
            .is_none_or(|s| !old.starts_with(s.path()))
        {
            let _ = fs::remove_dir_all(old);
        }
    }

    /// Removes the staged folder (and the destination, if staging created it empty); the
    /// same as dropping it.
    pub fn discard(self) {}
}

impl Drop for Staged {
    fn drop(&mut self) {
        drop(self.staging.take());
        if self.created_dest {
            // Only removes it if still empty.
            let _ = fs::remove_dir(&self.dest);
        }
    }
}

/// Removes staging folders that a killed install left beside `<dest>/pigsty`. The caller
/// holds the install lock. Returns what was removed.
pub fn sweep_stale(dest: &Path) -> Result<Vec<PathBuf>, StageError> {
    bfs::sweep_stale(dest, &[STAGING_PREFIX, OLD_PREVIOUS_PREFIX]).map_err(|source| {
        StageError::Write {
            path: dest.to_path_buf(),
            source,
        }
    })
}

/// The manifest installed at `<dest>/pigsty/MANIFEST.json`, with its raw bytes, if there is
/// a readable and valid one.
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

/// Checks the repo installed at `<dest>/pigsty` against `head` (the manifest it was installed
/// from) by the same rules as the bundle: every listed file there with its size and SHA-256,
/// nothing else (no other file, folder or link). The problems found, or none.
pub fn check_installed(dest: &Path, head: &SignedManifest) -> Result<(), StageError> {
    archive::verify_tree(&dest.join(TOP), head)?;
    Ok(())
}

/// Extracts `bundle` to `<dest>/pigsty`, replacing what is there: [`stage_bundle`], then
/// [`Staged::commit`].
pub fn extract_bundle(
    bundle: &Path,
    head: &SignedManifest,
    dest: &Path,
) -> Result<Placed, StageError> {
    stage_bundle(bundle, head, dest)?.commit()
}

/// Extracts and verifies `bundle` into a staging folder beside `<dest>/pigsty`; `head` is the
/// manifest whose signature the caller checked (the archive's copy must be those bytes).
/// Nothing is in place yet: the caller can check the staged repo (the installer's drift
/// check), then commit or discard it.
pub fn stage_bundle(
    bundle: &Path,
    head: &SignedManifest,
    dest: &Path,
) -> Result<Staged, StageError> {
    let created_dest = prepare_dest(dest)?;
    let result = stage_into(bundle, head, dest, created_dest);
    if result.is_err() && created_dest {
        let _ = fs::remove_dir(dest);
    }
    result
}

fn stage_into(
    bundle: &Path,
    head: &SignedManifest,
    dest: &Path,
    created_dest: bool,
) -> Result<Staged, StageError> {
    let m = head.manifest();
    // A delta applies to exactly the repo it was made against.
    if let Some(base) = &m.base {
        check_base(dest, base)?;
    }
    let (staging, root) = make_staging(dest, head)?;
    let mut v = Verifier::new(head, &bundle.display().to_string());
    let mut sink = DiskSink::new(root.clone());
    walk(bundle, &mut v, &mut sink)?;
    if let (Some(base), false) = (&m.base, v.has_problems()) {
        carry_over(&mut v, &mut sink, &dest.join(TOP), base)?;
    }
    v.finish();
    v.into_result()?;
    sink.finish_dirs(None)?;
    // Every file's writeback was started as it was closed; wait for all of it at once.
    bfs::sync_filesystem(staging.path()).map_err(write_err(staging.path()))?;
    bfs::sync_dir(staging.path()).map_err(write_err(staging.path()))?;
    Ok(Staged {
        dest: dest.to_path_buf(),
        staging: Some(staging),
        created_dest,
        repo: root,
        files: m.files.len(),
        bytes: m.total_size(),
    })
}

/// Makes sure `dest` is a directory, creating it if missing; whether it was created.
fn prepare_dest(dest: &Path) -> Result<bool, StageError> {
    match fs::metadata(dest) {
        Ok(meta) if meta.is_dir() => Ok(false),
        Ok(_) => Err(StageError::NotADir {
            path: dest.to_path_buf(),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(dest)
                .map_err(write_err(dest))?;
            Ok(true)
        }
        Err(source) => Err(StageError::Read {
            path: dest.to_path_buf(),
            source,
        }),
    }
}

/// Checks that `dest` has room for the repo, then makes the staging folder beside
/// `<dest>/pigsty` and its `pigsty/` inside; returns both.
fn make_staging(dest: &Path, head: &SignedManifest) -> Result<(Staging, PathBuf), StageError> {
    let needed = head
        .manifest()
        .total_size()
        .saturating_add(head.raw().len() as u64)
        .saturating_add(head.signature().map_or(0, |s| s.len() as u64));
    bfs::check_space(dest, needed, "extracting needs")?;
    let staging = Staging::new_in(dest, STAGING_PREFIX).map_err(write_err(dest))?;
    let root = staging.path().join(TOP);
    disk::make_dir(&root)?;
    Ok((staging, root))
}

/// Checks that `<dest>/pigsty` holds exactly the repo a delta was made against: its
/// `MANIFEST.json` has the base's SHA-256.
fn check_base(dest: &Path, base: &DeltaBase) -> Result<(), StageError> {
    let repo = dest.join(TOP);
    let bad = |detail: String| StageError::DeltaBase {
        repo: repo.clone(),
        version: base.version.clone(),
        detail,
    };
    let Some((installed, raw)) = installed_manifest(dest) else {
        return Err(bad(
            "no bundle is installed there; install the full bundle first".into(),
        ));
    };
    let (_, sha256) = bfs::hash_reader(raw.as_slice()).map_err(|e| bad(e.to_string()))?;
    if sha256 != base.manifest_sha256 {
        return Err(bad(format!(
            "the installed repo is bundle {} (manifest sha256 {sha256}), not the base (manifest sha256 {}); install the full bundle, or a delta made with --base of the installed MANIFEST.json",
            installed.version, base.manifest_sha256
        )));
    }
    Ok(())
}

/// A delta's carried files, from the installed repo `base_repo` into the staged one, each
/// judged by the same verifier as the bundle's own files (size and SHA-256 of the new
/// manifest), then hard-linked where the filesystem allows (else copied).
fn carry_over(
    v: &mut Verifier,
    sink: &mut DiskSink,
    base_repo: &Path,
    base: &DeltaBase,
) -> Result<(), StageError> {
    for rel in &base.carried {
        if v.has(rel) {
            continue; // the delta carries it after all, checked as it came
        }
        let bad = |detail: String| StageError::DeltaBase {
            repo: base_repo.to_path_buf(),
            version: base.version.clone(),
            detail,
        };
        let (mut check, create) = v.begin_file(rel).map_err(|p| bad(p.to_string()))?;
        let from = base_repo.join(rel);
        let mut file = File::open(&from).map_err(|e| bad(format!("{rel}: {e}")))?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(|e| bad(format!("{rel}: {e}")))?;
            if n == 0 {
                break;
            }
            check
                .update(&buf[..n])
                .map_err(|_| bad(format!("{rel} changed since it was installed")))?;
        }
        v.end_file(check)
            .map_err(|p| bad(format!("{rel} changed since it was installed ({p})")))?;
        sink.link(&create, rel, &from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
