//! Where a repo comes from: a bundle file or a mirror (`--from URL`). Only reading the signed
//! manifest, the shipped key and staging the files differ between the two; the install flow
//! is the same.

use std::path::{Path, PathBuf};

use pigsty_bundle::archive::{self, SignedManifest};

use crate::mirror::{Limits, Mirror, MirrorError};
use crate::stage::{self, StageError, Staged};

/// Where the repo comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A bundle file (`.tgz` or `.tar.zst`).
    Bundle(PathBuf),
    /// The URL of a repo a mirror serves (`http://ADMIN/pigsty`, see `pigsty-install serve`).
    Mirror(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Bundle(p) => p.display().fmt(f),
            Source::Mirror(url) => url.fmt(f),
        }
    }
}

/// A [`Source`] opened: the bundle file, or a client for the mirror.
#[derive(Debug)]
pub enum Origin {
    Bundle(PathBuf),
    Mirror(Mirror),
}

#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error(transparent)]
    Bundle(#[from] pigsty_bundle::BundleError),
    #[error(transparent)]
    Mirror(#[from] MirrorError),
    #[error(transparent)]
    Stage(#[from] StageError),
}

impl Origin {
    pub fn open(source: &Source) -> Result<Origin, OriginError> {
        Origin::open_with(source, Limits::default())
    }

    /// As [`Origin::open`], a mirror's downloads keeping to `limits`.
    pub fn open_with(source: &Source, limits: Limits) -> Result<Origin, OriginError> {
        Ok(match source {
            Source::Bundle(p) => Origin::Bundle(p.clone()),
            Source::Mirror(url) => Origin::Mirror(Mirror::with_limits(url, limits)?),
        })
    }

    /// The bundle's path or the mirror's URL, for messages.
    pub fn shown(&self) -> String {
        match self {
            Origin::Bundle(p) => p.display().to_string(),
            Origin::Mirror(m) => m.url().to_string(),
        }
    }

    /// Whether the files come one by one (a mirror) rather than in one archive.
    pub fn is_mirror(&self) -> bool {
        matches!(self, Origin::Mirror(_))
    }

    /// `MANIFEST.json`, parsed, with its raw bytes and its signature if there is one.
    pub fn signed_manifest(&self) -> Result<SignedManifest, OriginError> {
        Ok(match self {
            Origin::Bundle(p) => archive::read_signed_manifest(p)?,
            Origin::Mirror(m) => m.signed_manifest()?,
        })
    }

    /// The public key shipped with the repo (`pigsty.pub`), and its name for messages.
    pub fn shipped_key(&self) -> Result<(Option<Vec<u8>>, String), OriginError> {
        Ok(match self {
            Origin::Bundle(p) => (
                archive::read_small_file(p, "pigsty.pub", 1 << 20)?,
                format!("{}: pigsty/pigsty.pub", p.display()),
            ),
            Origin::Mirror(m) => (
                m.get_small("pigsty.pub", 1 << 20)?,
                m.file_url("pigsty.pub"),
            ),
        })
    }

    /// Extracts or downloads every file of `head` into a staging folder beside
    /// `dest/pigsty`, each judged by the one verifier; nothing is in place yet.
    pub fn stage(&self, head: &SignedManifest, dest: &Path) -> Result<Staged, OriginError> {
        Ok(match self {
            Origin::Bundle(p) => stage::stage_bundle(p, head, dest)?,
            Origin::Mirror(m) => m.stage(head, dest)?,
        })
    }

    /// Checks every file of `head` without keeping anything: a bundle through the verifier
    /// alone, a mirror's files downloaded into a scratch folder and removed.
    pub fn verify(&self, head: &SignedManifest) -> Result<(), OriginError> {
        match self {
            Origin::Bundle(p) => archive::verify_signed(p, head)?,
            Origin::Mirror(m) => {
                let scratch = tempfile::Builder::new()
                    .prefix("pigsty-install-verify-")
                    .tempdir()
                    .map_err(|source| StageError::Write {
                        path: std::env::temp_dir(),
                        source,
                    })?;
                m.stage(head, scratch.path())?.discard();
            }
        }
        Ok(())
    }
}
