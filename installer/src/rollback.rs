//! `pigsty-install rollback`: back to the repo the last install replaced, in one step. An
//! install keeps the repo it replaces at `DEST/.pigsty-previous` (one generation) and its
//! record (key, manifest digest) in the install record; rollback checks that kept repo as a
//! bundle is checked (its manifest's signature with the key recorded for it, then every file
//! by the one verifier), exchanges it with `DEST/pigsty` in one `renameat2(RENAME_EXCHANGE)`,
//! points the package manager at it and refreshes. The repo it replaces is kept in turn: a
//! second rollback returns to where the first started. Installed packages are not changed:
//! that is the config applier's work, from the repo now in place.

use std::io::Read;
use std::path::{Path, PathBuf};

use pigsty_bundle::archive::{self, SignedManifest, MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, TOP};
use pigsty_bundle::fs as bfs;
use pigsty_bundle::manifest::{MANIFEST_NAME, SIGNATURE_NAME};
use pigsty_bundle::sign::{PublicKeyring, SignError};

use crate::install::{self, manifest_sha256, InstallError, Report, Status};
use crate::node::Node;
use crate::pm;
use crate::stage::{self, StageError, PREVIOUS};

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    #[error("{0}: no previous repo to return to (an install keeps the repo it replaces there, and none did on this node)")]
    NothingKept(String),
    #[error("{kept}: cannot read its manifest: {detail}")]
    Manifest { kept: String, detail: String },
    #[error("{kept}: the install record has no entry for this repo (its manifest has sha256 {sha256}); it cannot be trusted for a rollback: install the bundle you want instead")]
    Unrecorded { kept: String, sha256: String },
    #[error("{kept}: its manifest's signature does not verify with the key {fingerprint} recorded when it was installed")]
    BadSignature {
        kept: String,
        fingerprint: String,
        #[source]
        source: SignError,
    },
    #[error("{kept} is built for {built}, but this node is {node}")]
    WrongTarget {
        kept: String,
        built: String,
        node: String,
    },
}

/// `<dest>/.pigsty-previous`.
fn kept_dir(dest: &Path) -> PathBuf {
    dest.join(PREVIOUS)
}

/// Reads a file of the kept repo, at most `max` bytes; `None` if it is not there.
fn read_capped(path: &Path, max: u64) -> Result<Option<Vec<u8>>, String> {
    let file = match archive::open_no_follow(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let mut data = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut data)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if data.len() as u64 > max {
        return Err(format!("{}: larger than {max} bytes", path.display()));
    }
    Ok(Some(data))
}

/// SHA-256 of the kept repo's `MANIFEST.json`, if there is a kept repo.
pub(crate) fn kept_manifest_sha256(dest: &Path) -> Option<String> {
    let raw = read_capped(&kept_dir(dest).join(MANIFEST_NAME), MAX_MANIFEST_SIZE).ok()??;
    Some(manifest_sha256(&raw))
}

/// The kept repo's signed manifest.
fn kept_manifest(kept: &Path) -> Result<SignedManifest, RollbackError> {
    let shown = kept.display().to_string();
    let bad = |detail: String| RollbackError::Manifest {
        kept: shown.clone(),
        detail,
    };
    let raw = read_capped(&kept.join(MANIFEST_NAME), MAX_MANIFEST_SIZE)
        .map_err(bad)?
        .ok_or_else(|| RollbackError::NothingKept(shown.clone()))?;
    let sig = read_capped(&kept.join(SIGNATURE_NAME), MAX_SIGNATURE_SIZE).map_err(bad)?;
    SignedManifest::parse(raw, sig).map_err(|e| bad(e.to_string()))
}

/// Checks the kept repo's manifest signature with the key recorded for it (none was
/// checked for an `--insecure` install, and none is now).
fn check_signature(
    kept: &Path,
    head: &SignedManifest,
    record: &Status,
) -> Result<(), RollbackError> {
    let (Some(fingerprint), Some(key), Some(sig)) =
        (&record.fingerprint, &record.key, head.signature())
    else {
        return Ok(());
    };
    let bad = |source| RollbackError::BadSignature {
        kept: kept.display().to_string(),
        fingerprint: fingerprint.clone(),
        source,
    };
    let ring = PublicKeyring::from_bytes(key.as_bytes()).map_err(bad)?;
    let ring = ring.only(fingerprint).ok_or_else(|| {
        bad(SignError::UnknownSigner {
            key_ids: fingerprint.clone(),
        })
    })?;
    let signer = ring.verify_detached(head.raw(), sig).map_err(bad)?;
    if &signer != fingerprint {
        return Err(bad(SignError::UnknownSigner { key_ids: signer }));
    }
    Ok(())
}

/// The repo to return to: where it is now, its signed manifest, its record, and whether it
/// is still to be swapped into place.
struct Target {
    dir: PathBuf,
    head: SignedManifest,
    record: Box<Status>,
    swap: bool,
}

/// Finds the repo to return to: the kept one, if the record of the previous install has its
/// manifest; or, when a rollback was stopped after its swap (the record of the previous
/// install has the manifest now in place, and the current record the kept one's), the one
/// in place, to finish that rollback.
fn target(
    dest: &Path,
    kept_shown: &str,
    current: &mut Option<Status>,
) -> Result<Target, RollbackError> {
    let kept = kept_dir(dest);
    let kept_head = kept_manifest(&kept)?;
    let kept_sha = manifest_sha256(kept_head.raw());
    let previous = current.as_mut().and_then(|c| c.previous.take());
    let current_sha = current.as_ref().and_then(|c| c.manifest_sha256.clone());
    let unrecorded = || RollbackError::Unrecorded {
        kept: kept_shown.to_string(),
        sha256: kept_sha.clone(),
    };
    let record = previous.ok_or_else(unrecorded)?;
    if record.manifest_sha256.as_deref() == Some(kept_sha.as_str()) {
        return Ok(Target {
            dir: kept,
            head: kept_head,
            record,
            swap: true,
        });
    }
    let repo = dest.join(TOP);
    let in_place = kept_manifest(&repo)?;
    if record.manifest_sha256.as_deref() == Some(manifest_sha256(in_place.raw()).as_str())
        && current_sha.as_deref() == Some(kept_sha.as_str())
    {
        return Ok(Target {
            dir: repo,
            head: in_place,
            record,
            swap: false,
        });
    }
    Err(unrecorded())
}

/// Returns the node to the repo the last install replaced; see the module documentation.
/// `dest` as the node sees it (`/www`).
pub fn rollback(
    node: &Node,
    dest: &str,
    log: &mut dyn FnMut(&str),
) -> Result<Report, InstallError> {
    let mut report = Report::default();
    let mut step = |s: String| {
        log(&s);
        report.steps.push(s);
    };
    let _lock = install::lock(node)?;
    let dest_here = node.path(dest);
    for stale in stage::sweep_stale(&dest_here)? {
        step(format!(
            "removed {}, left by an install that was stopped",
            stale.display()
        ));
    }
    let kept = kept_dir(&dest_here);
    let kept_shown = format!("{}/{PREVIOUS}", dest.trim_end_matches('/'));
    if !kept.is_dir() {
        return Err(RollbackError::NothingKept(kept_shown).into());
    }
    let mut current = install::status(node);
    let Target {
        dir,
        head,
        record,
        swap,
    } = target(&dest_here, &kept_shown, &mut current)?;
    let m = head.manifest().clone();
    let shown = if swap {
        kept_shown.clone()
    } else {
        format!("{}/{TOP}", dest.trim_end_matches('/'))
    };
    let (built, here) = (
        format!("{}.{}", m.target.os, m.target.arch),
        format!("{}.{}", node.os, node.arch),
    );
    if built != here && built != record.target {
        return Err(RollbackError::WrongTarget {
            kept: shown,
            built,
            node: here,
        }
        .into());
    }
    let key = record.key.clone().unwrap_or_default().into_bytes();
    if key.is_empty() {
        return Err(RollbackError::Unrecorded {
            kept: shown,
            sha256: manifest_sha256(head.raw()),
        }
        .into());
    }
    check_signature(&dir, &head, &record)?;
    archive::verify_tree(&dir, &head).map_err(StageError::from)?;
    step(format!(
        "{shown}: bundle {} for {built}, signature and every file checked",
        m.version
    ));
    let repo = dest_here.join(TOP);
    let repo_on_node = format!("{}/{TOP}", dest.trim_end_matches('/'));
    if swap {
        bfs::swap_into_place(&kept, &repo).map_err(|source| StageError::Install {
            from: kept.clone(),
            to: repo.clone(),
            source,
        })?;
    } else {
        step("a rollback stopped after its swap: finishing it".into());
    }
    step(format!(
        "{repo_on_node} is bundle {} again; the repo it replaced is kept in {kept_shown} (rollback again to return to it)",
        m.version
    ));
    let pm = pm::for_family(m.family);
    for s in pm.configure(node, &repo, &repo_on_node, &m, &key)? {
        step(s);
    }
    for s in pm.install(node, &repo_on_node, &m, &[])? {
        step(s);
    }
    let mut back = *record;
    back.previous = current.map(Box::new);
    back.installed_at = install::now();
    install::write_status(node, &back)?;
    step("installed packages are unchanged: run your config applier to bring them to this repo's versions".into());
    report.fingerprint = back.fingerprint;
    Ok(report)
}
