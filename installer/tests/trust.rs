//! Who the installer trusts: with `--fingerprint`, only the key with that fingerprint may have
//! signed, whatever else the bundle's shipped keyring holds; and a command a bundle proposes
//! is never run without the user's word.

use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use pigsty_bundle::{Arch, Os, Target};
use pigsty_install::{check_trust, Origin, Source, Trust};
use sha2::{Digest, Sha256};

const DEB: &[u8] = b"!<arch>\nnot a real deb\n";

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A bundle holding `pigsty.pub` = `shipped` and a .deb, its manifest (with `handoff`) signed
/// by `signer`.
fn bundle(
    dir: &Path,
    name: &str,
    shipped: &str,
    signer: &SecretKey,
    handoff: Option<&str>,
) -> PathBuf {
    let src = dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    let files: Vec<(&str, &[u8])> = vec![
        ("foo_1.0_amd64.deb", DEB),
        ("pigsty.pub", shipped.as_bytes()),
    ];
    for (p, d) in &files {
        std::fs::write(src.join(p), d).unwrap();
    }
    let mut entries: Vec<FileEntry> = files
        .iter()
        .map(|(p, d)| FileEntry {
            path: p.to_string(),
            size: d.len() as u64,
            sha256: sha(d),
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    let target = Target::new(Os::D12, Arch::X86_64, 15);
    let m = Manifest {
        schema: SCHEMA,
        target,
        version: "test".into(),
        builder: "test".into(),
        catalog: "test".into(),
        created: 1_700_000_000,
        files: entries,
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: "foo_1.0_amd64.deb".into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
        handoff: handoff.map(str::to_string),
        key_fingerprint: None,
        family: target.family(),
        package_keys: Vec::new(),
        base: None,
    };
    let json = m.to_json().unwrap();
    let extra = vec![
        (MANIFEST_NAME.to_string(), json.clone().into_bytes()),
        (
            SIGNATURE_NAME.to_string(),
            signer.sign_detached(json.as_bytes()).unwrap().into_bytes(),
        ),
    ];
    let out = dir.join(format!("{name}.tgz"));
    archive::write_bundle(&src, &out, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    out
}

fn run(args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn a_shipped_keyring_with_the_trusted_key_and_another_does_not_lend_trust() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = SecretKey::generate("Trusted <t@example.invalid>").unwrap();
    let attacker = SecretKey::generate("Attacker <a@example.invalid>").unwrap();
    let fpr = trusted.fingerprint();
    // Both public keys in the shipped keyring: the trusted one is public knowledge.
    let both = format!(
        "{}{}",
        trusted.public().to_armored().unwrap(),
        attacker.public().to_armored().unwrap()
    );
    assert_eq!(
        PublicKeyring::from_bytes(both.as_bytes())
            .unwrap()
            .fingerprints()
            .len(),
        2
    );

    // Re-signed by the attacker: refused by verify and by an install, naming the key.
    let evil = bundle(dir.path(), "evil", &both, &attacker, Some("touch /pwned"));
    let (code, out) = run(&["verify", evil.to_str().unwrap(), "--fingerprint", &fpr]);
    assert_ne!(code, 0, "verify accepted the attacker's signature:\n{out}");
    assert!(out.contains("signature does not verify"), "{out}");
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    let (code, out) = run(&[
        evil.to_str().unwrap(),
        "--fingerprint",
        &fpr,
        "--root",
        root.to_str().unwrap(),
        "--dry-run",
    ]);
    assert_ne!(code, 0, "install accepted the attacker's signature:\n{out}");
    assert!(out.contains("signature does not verify"), "{out}");

    // Signed by the trusted key: accepted, and the key the node is told to trust is that one
    // alone, never the other key the bundle carries.
    let good = bundle(dir.path(), "good", &both, &trusted, None);
    let (code, out) = run(&["verify", good.to_str().unwrap(), "--fingerprint", &fpr]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("good signature by {fpr}")), "{out}");
    let origin = Origin::open(&Source::Bundle(good)).unwrap();
    let head = origin.signed_manifest().unwrap();
    let t = check_trust(&origin, &head, &Trust::Fingerprint(fpr.to_lowercase())).unwrap();
    assert_eq!(t.fingerprint.as_deref(), Some(fpr.as_str()));
    let installed = PublicKeyring::from_bytes(&t.key.unwrap()).unwrap();
    assert_eq!(installed.fingerprints(), vec![fpr.clone()]);
}

#[test]
fn a_command_the_bundle_proposes_is_not_run_without_the_user() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate("Builder <b@example.invalid>").unwrap();
    let keyfile = dir.path().join("pigsty.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let shipped = key.public().to_armored().unwrap();
    let b = bundle(dir.path(), "proposes", &shipped, &key, Some("touch /pwned"));
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    let base = [
        b.to_str().unwrap(),
        "--key",
        keyfile.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--dry-run",
        "-y",
    ];
    let (code, out) = run(&base);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would not run the hand-off the bundle proposes, `touch /pwned`"),
        "{out}"
    );
    assert!(!out.contains("would hand off to `touch /pwned`"), "{out}");
    // The user's own command runs instead.
    let mut with_then = base.to_vec();
    with_then.extend(["--then", "echo mine"]);
    let (code, out) = run(&with_then);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would hand off to `echo mine`"), "{out}");
}
