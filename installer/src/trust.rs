//! Whether a repo's signed manifest is trusted: by a key file the user gives, by the
//! fingerprint of the key shipped with it, or not at all (`--insecure`). With a fingerprint,
//! only that key (and the subkeys bound to it) may have signed: whatever else the shipped
//! keyring holds is never used.

use std::path::PathBuf;

use pigsty_bundle::archive::SignedManifest;
use pigsty_bundle::sign::{normalize_fingerprint, PublicKeyring, SignError};

use crate::origin::{Origin, OriginError};

/// How the bundle's signature is trusted.
#[derive(Debug, Clone)]
pub enum Trust {
    /// A public key file the user trusts.
    Key(PathBuf),
    /// The fingerprint of the key shipped in the bundle (`pigsty.pub`).
    Fingerprint(String),
    /// No check (the fingerprint is still printed when there is a signature).
    Insecure,
}

/// A manifest whose signature checked out, and the key that made it.
#[derive(Debug, Clone)]
pub struct Trusted {
    /// The signer's primary fingerprint; `None` with `--insecure`.
    pub fingerprint: Option<String>,
    /// The signing key alone, armored: what the node is told to trust for the repo. With
    /// `--insecure`, the key the repo ships (if any).
    pub key: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    #[error(transparent)]
    Origin(#[from] OriginError),
    #[error("{0}: the bundle is not signed (no MANIFEST.json.asc); pass --insecure to install it anyway")]
    Unsigned(String),
    #[error("{bundle}: the manifest's signature does not verify with {key}")]
    BadSignature {
        bundle: String,
        key: String,
        #[source]
        source: SignError,
    },
    #[error("{bundle}: the bundle's key has fingerprint {found}, not the trusted {wanted}")]
    WrongFingerprint {
        bundle: String,
        found: String,
        wanted: String,
    },
    #[error("{path}: cannot read the key")]
    Key {
        path: String,
        #[source]
        source: SignError,
    },
    #[error("{0}: the bundle ships no public key (pigsty.pub); pass --key FILE")]
    NoShippedKey(String),
}

/// Checks the manifest's signature as `trust` says.
pub fn check_trust(
    origin: &Origin,
    head: &SignedManifest,
    trust: &Trust,
) -> Result<Trusted, TrustError> {
    let shown = origin.shown();
    let Some(sig) = head.signature() else {
        return match trust {
            Trust::Insecure => Ok(Trusted {
                fingerprint: None,
                key: origin.shipped_key()?.0,
            }),
            _ => Err(TrustError::Unsigned(shown)),
        };
    };
    let (ring, key_shown) = match trust {
        Trust::Key(path) => (
            PublicKeyring::load(path).map_err(|source| TrustError::Key {
                path: path.display().to_string(),
                source,
            })?,
            path.display().to_string(),
        ),
        Trust::Fingerprint(wanted) => {
            let (ring, key_shown) = shipped_ring(origin)?;
            let wanted = normalize_fingerprint(wanted);
            let only = ring
                .only(&wanted)
                .ok_or_else(|| TrustError::WrongFingerprint {
                    bundle: shown.clone(),
                    found: ring.fingerprints().join(", "),
                    wanted: wanted.clone(),
                })?;
            (only, key_shown)
        }
        Trust::Insecure => {
            let key = origin.shipped_key()?.0;
            let fingerprint = key
                .as_deref()
                .and_then(|k| PublicKeyring::from_bytes(k).ok())
                .and_then(|ring| ring.verify_detached(head.raw(), sig).ok());
            return Ok(Trusted { fingerprint, key });
        }
    };
    let fpr = ring
        .verify_detached(head.raw(), sig)
        .map_err(|source| TrustError::BadSignature {
            bundle: shown.clone(),
            key: key_shown.clone(),
            source,
        })?;
    if let Trust::Fingerprint(wanted) = trust {
        // `ring` holds the wanted key alone; say so loudly should that ever change.
        if fpr != normalize_fingerprint(wanted) {
            return Err(TrustError::WrongFingerprint {
                bundle: shown,
                found: fpr,
                wanted: normalize_fingerprint(wanted),
            });
        }
    }
    let key = ring
        .only(&fpr)
        .and_then(|k| k.to_armored().ok())
        .map(String::into_bytes);
    Ok(Trusted {
        fingerprint: Some(fpr),
        key,
    })
}

/// The keyring the repo ships, and its name for messages.
fn shipped_ring(origin: &Origin) -> Result<(PublicKeyring, String), TrustError> {
    let (data, key_shown) = origin.shipped_key()?;
    let data = data.ok_or_else(|| TrustError::NoShippedKey(key_shown.clone()))?;
    let ring = PublicKeyring::from_bytes(&data).map_err(|source| TrustError::Key {
        path: key_shown.clone(),
        source,
    })?;
    Ok((ring, key_shown))
}
