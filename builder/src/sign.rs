//! Detached signatures over release files (`SHA256SUMS`, a bundle): `FILE.asc`, armored,
//! made with the same key that signs the bundles, checkable with `gpgv --keyring KEY FILE.asc
//! FILE`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use pigsty_bundle::sign::{SecretKey, SignError};

/// What went wrong while signing a file.
#[derive(Debug, thiserror::Error)]
pub enum SignFileError {
    /// The file to sign cannot be opened.
    #[error("cannot read {}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Signing failed (the key, or reading the file part way).
    #[error("cannot sign {}", path.display())]
    Sign { path: PathBuf, source: SignError },
    /// The signature cannot be written beside the file.
    #[error("cannot write {} (is its folder writable?)", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The name of `file`'s detached signature: `file` with `.asc` added.
pub fn signature_path(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".asc");
    PathBuf::from(name)
}

/// Sign `file` (streamed, never held in memory) and write its armored detached signature to
/// [`signature_path`] atomically, replacing an older one. Returns the signature's path.
pub fn sign_file(key: &SecretKey, file: &Path) -> Result<PathBuf, SignFileError> {
    let input = File::open(file).map_err(|source| SignFileError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let armored =
        key.sign_detached(BufReader::new(input))
            .map_err(|source| SignFileError::Sign {
                path: file.to_path_buf(),
                source,
            })?;
    let out = signature_path(file);
    pigsty_bundle::fs::write_atomic(&out, armored.as_bytes(), 0o644).map_err(|source| {
        SignFileError::Write {
            path: out.clone(),
            source,
        }
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_verifies_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("SHA256SUMS");
        std::fs::write(&file, "abc  x.tgz\n").unwrap();
        let key = SecretKey::generate("t <t@pigsty.test>").unwrap();
        let sig = sign_file(&key, &file).unwrap();
        assert_eq!(sig, dir.path().join("SHA256SUMS.asc"));
        let text = std::fs::read(&sig).unwrap();
        assert!(text.starts_with(b"-----BEGIN PGP SIGNATURE-----"));
        let fpr = key
            .public()
            .verify_detached(File::open(&file).unwrap(), &text)
            .unwrap();
        assert_eq!(fpr, key.fingerprint());
        assert!(key
            .public()
            .verify_detached(&b"abc  y.tgz\n"[..], &text)
            .is_err());

        let missing = dir.path().join("nope");
        let err = sign_file(&key, &missing).unwrap_err().to_string();
        assert!(err.contains("cannot read") && err.contains("nope"), "{err}");
    }
}
