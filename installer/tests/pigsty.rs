//! The Pigsty hand-off on the command line: what it needs (`--ip`), what it excludes
//! (`--then`, `--no-handoff`), and what a dry run says it would do. The hand-off itself runs
//! for real in `tests/e2e-pigsty.sh` (Pigsty's configure and playbooks in an air-gapped node).

use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};
use sha2::{Digest, Sha256};

/// A d12 bundle with one package, signed by `key`, and a node root that says it is d12.
fn bundle_and_node(dir: &Path, key: &SecretKey) -> (PathBuf, PathBuf) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let deb = b"!<arch>\nnot a real deb\n";
    std::fs::write(src.join("foo_1.0_amd64.deb"), deb).unwrap();
    let target = Target::new(Os::D12, Arch::X86_64, 15);
    let m = Manifest {
        schema: SCHEMA,
        target,
        version: "test".into(),
        builder: "test".into(),
        catalog: "test".into(),
        created: 1_700_000_000,
        files: vec![FileEntry {
            path: "foo_1.0_amd64.deb".into(),
            size: deb.len() as u64,
            sha256: hex::encode(Sha256::digest(deb)),
        }],
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: "foo_1.0_amd64.deb".into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec!["foo".into()],
        handoff: None,
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
            key.sign_detached(json.as_bytes()).unwrap().into_bytes(),
        ),
    ];
    let out = dir.join("b.tgz");
    archive::write_bundle(&src, &out, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\n",
    )
    .unwrap();
    (out, root)
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
fn the_pigsty_handoff_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::generate("Builder <b@example.invalid>").unwrap();
    let keyfile = dir.path().join("pigsty.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let (b, root) = bundle_and_node(dir.path(), &key);
    let base = [
        b.to_str().unwrap(),
        "--key",
        keyfile.to_str().unwrap(),
        "--root",
        root.to_str().unwrap(),
        "--dry-run",
        "-y",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend(extra);
        run(&args)
    };
    // configure needs the node's address
    let (code, out) = with(&["--pigsty"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("--ip"), "{out}");
    // one hand-off at a time
    let (code, out) = with(&["--pigsty", "--ip", "10.10.10.10", "--then", "true"]);
    assert_eq!(code, 2, "{out}");
    let (code, out) = with(&["--pigsty", "--ip", "10.10.10.10", "--no-handoff"]);
    assert_eq!(code, 2, "{out}");
    // --pigsty alone: the bundle's source; the playbooks in order, with the offline vars
    let (code, out) = with(&[
        "--pigsty",
        "--playbook",
        "node.yml -t node_repo,node_pkg",
        "--playbook",
        "pgsql.yml -t pg_install",
        "--ip",
        "10.10.10.10",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would hand off to Pigsty from the bundle in /root/pigsty"),
        "{out}"
    );
    assert!(
        out.contains("`./configure -i 10.10.10.10 -n -v 15`"),
        "the bundle's PG major: {out}"
    );
    assert!(
        out.contains("`ansible-playbook node.yml -t node_repo,node_pkg -e @pigsty-offline.yml`, then `ansible-playbook pgsql.yml -t pg_install -e @pigsty-offline.yml`"),
        "{out}"
    );
    // a tarball or folder of the user's, another folder on the node
    let (code, out) = with(&[
        "--pigsty",
        "/srv/pigsty-v4.5.0.tgz",
        "--pigsty-dir",
        "/opt/pigsty",
        "--ip",
        "10.10.10.10",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("from /srv/pigsty-v4.5.0.tgz in /opt/pigsty"),
        "{out}"
    );
    // nothing was changed by the dry runs
    assert!(!root.join("www").exists() && !root.join("root").exists());
}
