//! An rpm's own signature, checked as dnf's `gpgcheck` does: the OpenPGP signature in the
//! signature header (`RSAHEADER`, or `DSAHEADER`) over the package's main header, verified
//! with the upstream repo's keyring.
//!
//! Only the lead and the two headers are read (the header holds every file's digest, so a
//! good header signature plus the download's sha256 from signed metadata covers the payload);
//! the payload is never read here.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use repo_layout::sign::PublicKeyring;

/// RPMSIGTAG_DSA and RPMSIGTAG_RSA: header-only OpenPGP signatures (rpm >= 4.0; rpm 4.18's
/// `rpmsign` puts EdDSA signatures in the RSA tag too).
const TAG_DSA: u32 = 267;
const TAG_RSA: u32 = 268;
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// No real header comes near this; a larger one is a hostile or broken file.
const MAX_HEADER: usize = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PkgSigError {
    #[error("{path}: {source}")]
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

/// The OpenPGP signature over the main header, and the main header's bytes.
#[derive(Debug, Clone)]
pub struct HeaderSignature {
    pub signature: Option<Vec<u8>>,
    pub header: Vec<u8>,
}

/// Reads the lead, the signature header and the main header of the rpm at `path`.
pub fn read(path: &Path) -> Result<HeaderSignature, PkgSigError> {
    let file = File::open(path).map_err(|source| PkgSigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_from(BufReader::new(file)).map_err(|e| match e.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => PkgSigError::NotRpm {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        _ => PkgSigError::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}

fn bad(reason: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason.to_string())
}

/// One header structure as read: its index entries (tag, type, offset, count), its data store,
/// and all of its bytes (what a header signature covers).
struct RawHeader {
    entries: Vec<[u32; 4]>,
    store: Vec<u8>,
    whole: Vec<u8>,
}

fn read_header(r: &mut impl Read) -> io::Result<RawHeader> {
    let mut intro = [0u8; 16];
    r.read_exact(&mut intro)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(bad("bad header magic"));
    }
    let n = u32::from_be_bytes([intro[8], intro[9], intro[10], intro[11]]) as usize;
    let size = u32::from_be_bytes([intro[12], intro[13], intro[14], intro[15]]) as usize;
    let len = n
        .checked_mul(16)
        .and_then(|i| i.checked_add(size))
        .filter(|l| *l <= MAX_HEADER)
        .ok_or_else(|| bad("header too large"))?;
    let mut rest = vec![0u8; len];
    r.read_exact(&mut rest)?;
    let entries = rest[..n * 16]
        .chunks_exact(16)
        .map(|c| {
            let w = |i: usize| u32::from_be_bytes([c[i], c[i + 1], c[i + 2], c[i + 3]]);
            [w(0), w(4), w(8), w(12)]
        })
        .collect();
    let store = rest[n * 16..].to_vec();
    let mut whole = intro.to_vec();
    whole.extend_from_slice(&rest);
    Ok(RawHeader {
        entries,
        store,
        whole,
    })
}

fn read_from(mut r: impl Read) -> io::Result<HeaderSignature> {
    let mut lead = [0u8; 96];
    r.read_exact(&mut lead)?;
    if lead[..4] != [0xed, 0xab, 0xee, 0xdb] {
        return Err(bad("bad lead magic"));
    }
    let RawHeader {
        entries,
        store,
        whole,
    } = read_header(&mut r)?;
    // The signature header is padded to a multiple of 8 bytes.
    let pad = (8 - whole.len() % 8) % 8;
    let mut skip = vec![0u8; pad];
    r.read_exact(&mut skip)?;
    let mut signature = None;
    for tag in [TAG_RSA, TAG_DSA] {
        if let Some([_, kind, offset, count]) = entries.iter().find(|e| e[0] == tag) {
            // BIN (7): `count` bytes at `offset`.
            let (o, c) = (*offset as usize, *count as usize);
            if *kind != 7 || o.checked_add(c).is_none_or(|end| end > store.len()) {
                return Err(bad("bad signature entry"));
            }
            signature = Some(store[o..o + c].to_vec());
            break;
        }
    }
    let header = read_header(&mut r)?.whole;
    Ok(HeaderSignature { signature, header })
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
