//! An rpm's own signature, checked as dnf's `gpgcheck` does: the OpenPGP signature in the
//! signature header over the package's main header, verified with the upstream repo's
//! keyring. The headers are read by [`crate::dnf::repo::read_signed_header`]; the payload
//! never is (the header holds every file's digest, so a good header signature plus the
//! download's sha256 from signed metadata covers the payload).

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use crate::dnf::repo::{read_signed_header, HeaderError, SignedHeader};
use pigsty_bundle::sign::PublicKeyring;

#[derive(Debug, thiserror::Error)]
pub enum PkgSigError {
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not an rpm package ({reason})")]
    NotRpm { path: PathBuf, reason: String },
    #[error("{path}: the package is not signed; its repo `{repo}` has a key, so its packages must be (or pass --insecure-upstream {repo})")]
    Unsigned { path: PathBuf, repo: String },
    #[error("{path}: the package's signature does not verify with repo `{repo}`'s key: {reason} (or pass --insecure-upstream {repo})")]
    Bad {
        path: PathBuf,
        repo: String,
        reason: String,
    },
}

/// Reads the signature and the main header of the rpm at `path`.
pub fn read(path: &Path) -> Result<SignedHeader, PkgSigError> {
    let io_err = |source| PkgSigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io_err)?;
    read_signed_header(&mut file).map_err(|e| match e {
        HeaderError::Io(source) => io_err(source),
        other => PkgSigError::NotRpm {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })
}

/// Verifies the package's header signature with `ring`; returns the signer's fingerprint.
pub fn verify(path: &Path, repo: &str, ring: &PublicKeyring) -> Result<String, PkgSigError> {
    let h = read(path)?;
    let sig = h.signature.ok_or_else(|| PkgSigError::Unsigned {
        path: path.to_path_buf(),
        repo: repo.to_string(),
    })?;
    ring.verify_detached(h.header.as_slice(), &sig)
        .map_err(|e| PkgSigError::Bad {
            path: path.to_path_buf(),
            repo: repo.to_string(),
            reason: e.to_string(),
        })
}
