//! An rpm's own signature, checked as rpm (and dnf's `gpgcheck`) checks it: the OpenPGP
//! signature in the signature header over the package's main header, verified with the
//! upstream repo's keyring, the key judged as it was when the package was signed (rpm does
//! not apply a key's later expiry to signatures made before it). A package from rpm 4.0 or
//! older, with only a signature over header and payload, is checked that way, reading the
//! payload. The headers are read by [`crate::dnf::repo::read_signed_header`]; the payload is
//! otherwise never read (the header holds every file's digest, so a good header signature
//! plus the download's sha256 from signed metadata covers the payload).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
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
    #[error("{path}: the package's {what} signature does not verify with repo `{repo}`'s key (or pass --insecure-upstream {repo})")]
    Bad {
        path: PathBuf,
        repo: String,
        /// `header`, or `header+payload` (rpm 4.0 and older).
        what: &'static str,
        #[source]
        source: pigsty_bundle::sign::SignError,
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

/// Verifies the package's signature with `ring` as rpm does; returns the signer's
/// fingerprint.
pub fn verify(path: &Path, repo: &str, ring: &PublicKeyring) -> Result<String, PkgSigError> {
    let h = read(path)?;
    let bad = |what, source| PkgSigError::Bad {
        path: path.to_path_buf(),
        repo: repo.to_string(),
        what,
        source,
    };
    if let Some(sig) = &h.signature {
        return ring
            .verify_detached_at_signing(h.header.as_slice(), sig)
            .map_err(|e| bad("header", e));
    }
    verify_header_and_payload(path, repo, &h, ring)
}

/// rpm 4.0's signature: over the header and the payload, as they follow in the file.
fn verify_header_and_payload(
    path: &Path,
    repo: &str,
    h: &SignedHeader,
    ring: &PublicKeyring,
) -> Result<String, PkgSigError> {
    let Some(sig) = &h.payload_signature else {
        return Err(PkgSigError::Unsigned {
            path: path.to_path_buf(),
            repo: repo.to_string(),
        });
    };
    let mut file = File::open(path).map_err(|source| PkgSigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    file.seek(SeekFrom::Start(h.payload_start))
        .map_err(|source| PkgSigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let data = h.header.as_slice().chain(io::BufReader::new(file));
    ring.verify_detached_at_signing(data, sig)
        .map_err(|source| PkgSigError::Bad {
            path: path.to_path_buf(),
            repo: repo.to_string(),
            what: "header+payload",
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// The real rpms of the reference data (`PIGSTY_REFERENCE`, else `../shared/reference`
    /// beside the project).
    pub(crate) fn real_rpms() -> PathBuf {
        std::env::var_os("PIGSTY_REFERENCE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
            })
            .join("real-rpms")
    }

    /// A real package re-signed by the real `rpmsign --rpmv3` (header and header+payload
    /// signatures) with a fresh RSA key; the key, armored.
    fn v3_signed(dir: &Path) -> (PathBuf, PublicKeyring) {
        let home = dir.join("gnupg");
        std::fs::create_dir(&home).unwrap();
        let gpg = |args: &[&str]| {
            let o = Command::new("gpg")
                .env("GNUPGHOME", &home)
                .args([
                    "--batch",
                    "--quiet",
                    "--pinentry-mode",
                    "loopback",
                    "--passphrase",
                    "",
                ])
                .args(args)
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            o.stdout
        };
        gpg(&[
            "--quick-gen-key",
            "V3 <v3@example.invalid>",
            "rsa2048",
            "sign",
            "never",
        ]);
        let key = gpg(&["--export", "--armor"]);
        let ring = PublicKeyring::from_bytes(&key).unwrap();
        let rpm = dir.join("c6.rpm");
        std::fs::copy(
            real_rpms().join("c6/centos-release-6-0.el6.centos.5.x86_64.rpm"),
            &rpm,
        )
        .unwrap();
        let o = Command::new("rpmsign")
            .env("GNUPGHOME", &home)
            .args(["--define", "__gpg /usr/bin/gpg"])
            .arg("--define")
            .arg(format!("_gpg_path {}", home.display()))
            .arg("--define")
            .arg(format!("_gpg_name {}", ring.fingerprints()[0]))
            .args(["--addsign", "--rpmv3"])
            .arg(&rpm)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        (rpm, ring)
    }

    #[test]
    fn a_header_and_payload_signature_covers_the_payload() {
        let dir = tempfile::tempdir().unwrap();
        let (rpm, ring) = v3_signed(dir.path());
        let h = read(&rpm).unwrap();
        assert!(h.signature.is_some() && h.payload_signature.is_some());
        let fpr = ring.fingerprints()[0].clone();
        assert_eq!(
            verify_header_and_payload(&rpm, "r", &h, &ring).unwrap(),
            fpr
        );
        // One payload byte changed: the header signature still holds, this one does not.
        let mut bytes = std::fs::read(&rpm).unwrap();
        let last = bytes.len() - 100;
        bytes[last] ^= 0x01;
        std::fs::write(&rpm, &bytes).unwrap();
        assert_eq!(verify(&rpm, "r", &ring).unwrap(), fpr);
        let e = verify_header_and_payload(&rpm, "r", &h, &ring).unwrap_err();
        assert!(
            matches!(
                e,
                PkgSigError::Bad {
                    what: "header+payload",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn real_packages_are_judged_as_rpmkeys_judges_them() {
        let r = real_rpms();
        // Signed in 2011 by a key that expired in 2021: good for rpm, good here.
        let centos6 = PublicKeyring::load(&r.join("keys/RPM-GPG-KEY-CentOS-6")).unwrap();
        let c6 = r.join("c6/centos-release-6-0.el6.centos.5.x86_64.rpm");
        let fpr = verify(&c6, "centos", &centos6).unwrap();
        assert!(fpr.ends_with("0946FCA2C105B9DE"), "{fpr}");
        // rpmkeys -K agrees.
        let db = tempfile::tempdir().unwrap();
        let rpmkeys = |args: &[&std::ffi::OsStr]| {
            Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(db.path())
                .args(args)
                .output()
                .unwrap()
        };
        let key = r.join("keys/RPM-GPG-KEY-CentOS-6");
        let imported = rpmkeys(&["--import".as_ref(), key.as_os_str()]);
        let k = rpmkeys(&["-K".as_ref(), c6.as_os_str()]);
        if imported.status.success() {
            assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stdout));
        } else {
            // rpm >= 4.19 (Debian 13: Sequoia's policy) refuses the key itself, its
            // self-signatures being SHA-1: then it cannot vouch for the package either.
            assert!(rpm_refuses_sha1_keys(), "{imported:?}");
            assert!(
                !k.status.success(),
                "{}",
                String::from_utf8_lossy(&k.stdout)
            );
        }
        // rpm 4.0: only a header+payload signature, by a key not given: what rpm calls
        // NOKEY, not "unsigned".
        let c21 = r.join("c21/centos-release-as-2.1AS-4.noarch.rpm");
        let e = verify(&c21, "centos", &centos6).unwrap_err();
        assert!(
            matches!(
                e,
                PkgSigError::Bad {
                    what: "header+payload",
                    ..
                }
            ),
            "{e}"
        );
        let chain = format!("{e}: {}", std::error::Error::source(&e).unwrap());
        assert!(
            chain.contains("2802E89216FF0E46") && chain.contains("not in the keyring"),
            "{chain}"
        );
        let k = rpmkeys(&["-Kv".as_ref(), c21.as_os_str()]);
        assert!(String::from_utf8_lossy(&k.stdout).contains("NOKEY"));
    }

    /// Whether this rpm judges keys with Sequoia's policy (rpm >= 4.19, Debian 13), which
    /// refuses SHA-1 self-signatures; Debian 12's rpm 4.18 does not.
    fn rpm_refuses_sha1_keys() -> bool {
        let v = Command::new("rpm").arg("--version").output().unwrap();
        let v = String::from_utf8_lossy(&v.stdout);
        let mut parts = v
            .trim()
            .rsplit(' ')
            .next()
            .unwrap()
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap(), parts.next().unwrap_or(0)) >= (4, 19)
    }

    /// Every real rpm of the reference data, checked with every real key this rpm imports:
    /// our verdict is `rpmkeys -K`'s, package by package.
    #[test]
    fn every_real_rpm_is_judged_as_rpmkeys_judges_it() {
        let r = real_rpms();
        let db = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        // Keys Debian's rpm cannot import are left out of our keyring too, so that both
        // judge with the same keys; which ones is asserted, not skipped silently.
        let mut refused = Vec::new();
        for k in std::fs::read_dir(r.join("keys")).unwrap().flatten() {
            let imported = Command::new("rpmkeys")
                .arg("--dbpath")
                .arg(db.path())
                .arg("--import")
                .arg(k.path())
                .output()
                .unwrap();
            if !imported.status.success() {
                refused.push(k.file_name().to_string_lossy().into_owned());
                continue;
            }
            keys.extend(std::fs::read(k.path()).unwrap());
            keys.push(b'\n');
        }
        refused.sort();
        // Which keys depends on rpm's crypto backend: Debian 12's rpm 4.18 (libgcrypt) cannot
        // read the ECDSA and Ed25519 test keys; Debian 13's rpm 4.20 (Sequoia) reads those
        // and refuses the keys whose self-signatures are SHA-1 (CentOS 6/7, EPEL 7, Fedora 31).
        let expected: &[&str] = if rpm_refuses_sha1_keys() {
            &[
                "RPM-GPG-KEY-CentOS-6",
                "RPM-GPG-KEY-CentOS-7",
                "RPM-GPG-KEY-EPEL-7",
                "RPM-GPG-KEY-fedora-31-primary",
            ]
        } else {
            &["rpm-rs-v4-ecdsa-nistp256.asc", "rpm.org-alice.asc"]
        };
        assert_eq!(refused, expected, "keys this rpm refuses");
        let ring = PublicKeyring::from_bytes(&keys).unwrap();
        let mut checked = 0;
        let mut good = 0;
        for dir in std::fs::read_dir(&r).unwrap().flatten() {
            if dir.file_name() == "keys" || !dir.path().is_dir() {
                continue;
            }
            for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
                let rpm = f.path();
                if rpm.extension().is_none_or(|e| e != "rpm") {
                    continue;
                }
                let theirs = Command::new("rpmkeys")
                    .arg("--dbpath")
                    .arg(db.path())
                    .arg("-K")
                    .arg(&rpm)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&theirs.stdout).into_owned();
                // rpm 4.18 judges a package with no signature "digests OK": that is unsigned.
                let rpm_good = theirs.status.success() && text.contains("signatures OK");
                let ours = verify(&rpm, "r", &ring);
                assert_eq!(
                    ours.is_ok(),
                    rpm_good,
                    "{}: rpmkeys -K says {text:?}, we say {ours:?}",
                    rpm.display()
                );
                checked += 1;
                good += usize::from(rpm_good);
            }
        }
        assert_eq!(checked, 79);
        // Debian 12's rpm verifies 10 or more of them, Debian 13's 6 (see `expected`).
        assert!(good >= 6, "{good} of {checked} verified");
    }
}
