//! Hostile bundles given to the real `pigsty-install` binary, against a node root made for the
//! test (`--root`): each is refused with a clear message and a non-zero exit, nothing outside
//! the installer's temporary folder is written (the destination and the apt configuration are
//! byte for byte as before), and no temporary folder is left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};
use sha2::{Digest, Sha256};

struct Case {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    root: PathBuf,
    key: SecretKey,
    pubkey: PathBuf,
}

/// A node root (Debian 12) with an apt configuration and a previous repo under /www.
fn node() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
    std::fs::create_dir_all(root.join("www/pigsty")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/apt/sources.list"),
        "deb http://mirror.invalid/debian bookworm main\n",
    )
    .unwrap();
    std::fs::write(root.join("www/pigsty/marker"), "the previous repo\n").unwrap();
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let pubkey = dir.path().join("pigsty.pub");
    std::fs::write(&pubkey, key.public().to_armored().unwrap()).unwrap();
    Case {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        root,
        key,
        pubkey,
    }
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every file under `root` with its bytes' hash: what "nothing changed" compares.
fn snapshot(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                out.push((rel, "dir".into()));
                stack.push(p);
            } else {
                out.push((rel, sha(&std::fs::read(&p).unwrap_or_default())));
            }
        }
    }
    out.sort();
    out
}

fn manifest(target: Target, files: &[(&str, &[u8])]) -> Manifest {
    Manifest {
        schema: SCHEMA,
        target,
        version: "test".into(),
        builder: "test".into(),
        catalog: "test".into(),
        created: 1_700_000_000,
        files: files
            .iter()
            .map(|(p, d)| FileEntry {
                path: p.to_string(),
                size: d.len() as u64,
                sha256: sha(d),
            })
            .collect(),
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: "foo_1.0_amd64.deb".into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: None,
        family: target.family(),
        package_keys: Vec::new(),
        base: None,
    }
}

const DEB: &[u8] = b"!<arch>\nnot a real deb, but the installer only checks hashes here\n";

fn d12() -> Target {
    Target::new(Os::D12, Arch::X86_64, 15)
}

/// A well-formed bundle of `files`, its manifest describing `listed` (normally the same).
fn good_bundle(
    c: &Case,
    name: &str,
    target: Target,
    listed: &[(&str, &[u8])],
    files: &[(&str, &[u8])],
    sign_with: Option<&SecretKey>,
) -> PathBuf {
    let src = c.dir.join(format!("src-{name}"));
    std::fs::create_dir_all(&src).unwrap();
    for (p, d) in files {
        std::fs::write(src.join(p), d).unwrap();
    }
    let m = manifest(target, listed);
    let json = m.to_json().unwrap();
    let mut extra = vec![(MANIFEST_NAME.to_string(), json.clone().into_bytes())];
    if let Some(k) = sign_with {
        extra.push((
            SIGNATURE_NAME.to_string(),
            k.sign_detached(json.as_bytes()).unwrap().into_bytes(),
        ));
    }
    let out = c.dir.join(format!("{name}.tgz"));
    archive::write_bundle(&src, &out, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    out
}

/// A bundle whose head (manifest + signature) is good, followed by one raw tar entry built by
/// `entry`; written with the tar crate so that names the crate itself refuses can be forced.
fn hostile_bundle(c: &Case, name: &str, entry: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> PathBuf {
    let pub_bytes = c.key.public().to_armored().unwrap().into_bytes();
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB), ("pigsty.pub", &pub_bytes)];
    let m = manifest(d12(), &files);
    let json = m.to_json().unwrap();
    let sig = c.key.sign_detached(json.as_bytes()).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(path).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_path("pigsty/").unwrap();
    dir.set_cksum();
    b.append(&dir, &[][..]).unwrap();
    add(&mut b, "pigsty/MANIFEST.json", json.as_bytes());
    add(&mut b, "pigsty/MANIFEST.json.asc", sig.as_bytes());
    add(&mut b, "pigsty/foo_1.0_amd64.deb", DEB);
    entry(&mut b);
    add(&mut b, "pigsty/pigsty.pub", &pub_bytes);
    let data = b.into_inner().unwrap();
    let out = c.dir.join(format!("{name}.tgz"));
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&out).unwrap(),
        flate2::Compression::fast(),
    );
    gz.write_all(&data).unwrap();
    gz.finish().unwrap();
    out
}

/// A raw header with a name the tar crate would refuse.
fn raw_entry(
    b: &mut tar::Builder<Vec<u8>>,
    name: &str,
    kind: tar::EntryType,
    mode: u32,
    link: Option<&str>,
    data: &[u8],
) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(l) = link {
            old.linkname[..l.len()].copy_from_slice(l.as_bytes());
        }
    }
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn install(c: &Case, bundle: &Path, trust: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pigsty-install"));
    cmd.arg(bundle).args(trust).args([
        "--root",
        c.root.to_str().unwrap(),
        "--no-handoff",
        "--no-bootstrap",
    ]);
    let o = cmd.output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

fn refused(c: &Case, bundle: &Path, trust: &[&str], want: &str) {
    let before = snapshot(&c.root);
    let (code, out) = install(c, bundle, trust);
    assert_ne!(code, 0, "{}: accepted:\n{out}", bundle.display());
    assert!(
        out.contains(want),
        "{}: message lacks `{want}`:\n{out}",
        bundle.display()
    );
    assert_eq!(
        snapshot(&c.root),
        before,
        "{}: the node changed",
        bundle.display()
    );
}

#[test]
fn hostile_archives_are_refused_and_change_nothing() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let trust = ["--key", key.as_str()];
    let cases: Vec<(&str, PathBuf, &str)> = vec![
        (
            "dotdot",
            hostile_bundle(&c, "dotdot", |b| {
                raw_entry(
                    b,
                    "pigsty/../../etc/evil",
                    tar::EntryType::Regular,
                    0o644,
                    None,
                    b"x",
                )
            }),
            "pigsty/../../etc/evil",
        ),
        (
            "absolute",
            hostile_bundle(&c, "absolute", |b| {
                raw_entry(b, "/etc/evil", tar::EntryType::Regular, 0o644, None, b"x")
            }),
            "/etc/evil",
        ),
        (
            "symlink",
            hostile_bundle(&c, "symlink", |b| {
                raw_entry(
                    b,
                    "pigsty/etc",
                    tar::EntryType::Symlink,
                    0o777,
                    Some("/etc"),
                    b"",
                )
            }),
            "symbolic link",
        ),
        (
            "hardlink",
            hostile_bundle(&c, "hardlink", |b| {
                raw_entry(
                    b,
                    "pigsty/passwd",
                    tar::EntryType::Link,
                    0o644,
                    Some("../../../etc/passwd"),
                    b"",
                )
            }),
            "hard link",
        ),
        (
            "device",
            hostile_bundle(&c, "device", |b| {
                raw_entry(b, "pigsty/null", tar::EntryType::Char, 0o644, None, b"")
            }),
            "character device",
        ),
        (
            "setuid",
            hostile_bundle(&c, "setuid", |b| {
                raw_entry(
                    b,
                    "pigsty/tool",
                    tar::EntryType::Regular,
                    0o4755,
                    None,
                    b"x",
                )
            }),
            "setuid",
        ),
        (
            "unlisted",
            hostile_bundle(&c, "unlisted", |b| {
                raw_entry(
                    b,
                    "pigsty/extra.txt",
                    tar::EntryType::Regular,
                    0o644,
                    None,
                    b"x",
                )
            }),
            "not listed in the manifest",
        ),
        (
            "duplicate",
            hostile_bundle(&c, "duplicate", |b| {
                raw_entry(
                    b,
                    "pigsty/foo_1.0_amd64.deb",
                    tar::EntryType::Regular,
                    0o644,
                    None,
                    DEB,
                )
            }),
            "duplicate",
        ),
    ];
    for (name, bundle, want) in &cases {
        eprintln!("case {name}");
        refused(&c, bundle, &trust, want);
    }
}

#[test]
fn corrupt_unsigned_and_foreign_bundles_are_refused() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let trust = ["--key", key.as_str()];
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB)];

    // one byte flipped in the .deb after the manifest was made
    let mut flipped = DEB.to_vec();
    flipped[10] ^= 0xff;
    let b = good_bundle(
        &c,
        "flipped",
        d12(),
        &files,
        &[("foo_1.0_amd64.deb", &flipped)],
        Some(&c.key),
    );
    refused(&c, &b, &trust, "foo_1.0_amd64.deb: sha256 mismatch");

    // truncated
    let good = good_bundle(&c, "good", d12(), &files, &files, Some(&c.key));
    let data = std::fs::read(&good).unwrap();
    let cut = c.dir.join("truncated.tgz");
    std::fs::write(&cut, &data[..data.len() - 40]).unwrap();
    refused(&c, &cut, &trust, "truncated");

    // signed by another key
    let stranger = SecretKey::generate("Stranger <s@example.invalid>").unwrap();
    let b = good_bundle(&c, "stranger", d12(), &files, &files, Some(&stranger));
    refused(&c, &b, &trust, "signature does not verify");

    // unsigned
    let b = good_bundle(&c, "unsigned", d12(), &files, &files, None);
    refused(&c, &b, &trust, "not signed");

    // for another OS, and another arch: both named
    let b = good_bundle(
        &c,
        "el9",
        Target::new(Os::El9, Arch::X86_64, 17),
        &files,
        &files,
        Some(&c.key),
    );
    refused(
        &c,
        &b,
        &trust,
        "built for el9.x86_64, but this node is d12.",
    );
    let b = good_bundle(
        &c,
        "arm",
        Target::new(Os::D12, Arch::Aarch64, 15),
        &files,
        &files,
        Some(&c.key),
    );
    let host_arch = Arch::host().unwrap();
    if host_arch != Arch::Aarch64 {
        refused(&c, &b, &trust, "built for d12.aarch64");
    }

    // no trusted key at all
    refused(&c, &good, &[], "no trusted key given");
    // --fingerprint that does not match the shipped key
    let b = good_bundle(
        &c,
        "fpr",
        d12(),
        &[
            ("foo_1.0_amd64.deb", DEB),
            (
                "pigsty.pub",
                c.key.public().to_armored().unwrap().as_bytes(),
            ),
        ],
        &[
            ("foo_1.0_amd64.deb", DEB),
            (
                "pigsty.pub",
                c.key.public().to_armored().unwrap().as_bytes(),
            ),
        ],
        Some(&c.key),
    );
    refused(
        &c,
        &b,
        &["--fingerprint", &stranger.fingerprint()],
        "not the trusted",
    );
}

#[test]
fn verify_subcommand_and_dry_run() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB)];
    let good = good_bundle(&c, "good", d12(), &files, &files, Some(&c.key));
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(["verify", good.to_str().unwrap(), "--key", &key])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains(&c.key.fingerprint()));
    // --dry-run prints the steps and changes nothing
    let before = snapshot(&c.root);
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args([
            good.to_str().unwrap(),
            "--key",
            &key,
            "--root",
            c.root.to_str().unwrap(),
            "--dry-run",
            "--local-only",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("would write /etc/apt/keyrings/pigsty.asc")
            && err.contains("would move 1 other apt sources"),
        "{err}"
    );
    assert_eq!(snapshot(&c.root), before);
}

/// While another install holds the node (a lock on its root folder), a second one is refused
/// before it touches anything, and says why.
#[test]
fn one_install_at_a_time() {
    use std::os::fd::AsRawFd;
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB)];
    let good = good_bundle(&c, "good", d12(), &files, &files, Some(&c.key));
    let held = std::fs::File::open(&c.root).unwrap();
    // SAFETY: a valid descriptor.
    assert_eq!(
        unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
    refused(
        &c,
        &good,
        &["--key", &key],
        "another pigsty-install is working",
    );
    drop(held);
}
