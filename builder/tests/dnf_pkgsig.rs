//! rpm header signatures, made by the real `rpmsign`, checked by ours: good, other key,
//! unsigned, altered header, not an rpm.

use pigsty_build::dnf::pkgsig::{self, PkgSigError};
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use rpm_fixture::{el_world, WorldOptions};

fn world(sign: bool) -> (tempfile::TempDir, rpm_fixture::World) {
    let dir = tempfile::tempdir().unwrap();
    let w = el_world(
        dir.path(),
        &WorldOptions {
            el: 9,
            arch: "x86_64".into(),
            unsigned: Vec::new(),
            sign_packages: sign,
        },
    )
    .unwrap();
    (dir, w)
}

fn rpms(w: &rpm_fixture::World) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for r in &w.repos {
        for p in &r.packages {
            out.push(w.root.join(&r.path).join("Packages").join(p.file_name()));
        }
    }
    out
}

#[test]
fn signed_packages_verify_with_the_repo_key_only() {
    let (_d, w) = world(true);
    let ring = PublicKeyring::load(&w.key).unwrap();
    let fpr = ring.fingerprints()[0].clone();
    let all = rpms(&w);
    assert!(all.len() > 25);
    for p in &all {
        assert_eq!(pkgsig::verify(p, "baseos", &ring).unwrap(), fpr, "{p:?}");
    }
    let other = SecretKey::generate("Other <o@x.invalid>").unwrap().public();
    let e = pkgsig::verify(&all[0], "baseos", &other).unwrap_err();
    assert!(matches!(e, PkgSigError::Bad { .. }), "{e}");
    assert!(e.to_string().contains("--insecure-upstream baseos"), "{e}");

    // One byte of the header changed (inside the summary): the signature no longer holds.
    let victim = &all[3];
    let mut bytes = std::fs::read(victim).unwrap();
    let h = pkgsig::read(victim).unwrap();
    let at = bytes
        .windows(h.header.len())
        .position(|w| w == h.header.as_slice())
        .unwrap();
    let summary = b"a fixture package";
    let off = h
        .header
        .windows(summary.len())
        .position(|w| w == summary)
        .unwrap();
    bytes[at + off] ^= 0x20;
    std::fs::write(victim, &bytes).unwrap();
    let e = pkgsig::verify(victim, "appstream", &ring).unwrap_err();
    assert!(matches!(e, PkgSigError::Bad { .. }), "{e}");

    let junk = w.root.join("junk.rpm");
    std::fs::write(&junk, b"not an rpm at all").unwrap();
    assert!(matches!(
        pkgsig::verify(&junk, "x", &ring).unwrap_err(),
        PkgSigError::NotRpm { .. }
    ));
}

#[test]
fn unsigned_packages_are_named() {
    let (_d, w) = world(false);
    let ring = PublicKeyring::load(&w.key).unwrap();
    let p = &rpms(&w)[0];
    assert!(pkgsig::read(p).unwrap().signature.is_none());
    let e = pkgsig::verify(p, "pgdg17", &ring).unwrap_err();
    assert!(matches!(e, PkgSigError::Unsigned { .. }), "{e}");
    assert!(e.to_string().contains(&p.display().to_string()));
}
