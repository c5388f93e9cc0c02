//! `--root` sees the arch of the root, not the host's: from the `dpkg` package in
//! `var/lib/dpkg/status` (a fresh debootstrap has no `var/lib/dpkg/arch`), and from the rpm
//! database of an EL root (made with the real `rpm --root`). The root is of the other arch
//! than this host's (arm64 on x86_64): a bundle for the root's arch is taken (`--dry-run`), one
//! for the host's is refused naming the root's.

use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};
use sha2::{Digest, Sha256};

/// The arch that is not this host's.
fn other_arch() -> Arch {
    match Arch::host().unwrap() {
        Arch::X86_64 => Arch::Aarch64,
        Arch::Aarch64 => Arch::X86_64,
    }
}

fn deb_arch(a: Arch) -> &'static str {
    match a {
        Arch::X86_64 => "amd64",
        Arch::Aarch64 => "arm64",
    }
}

/// A signed bundle for `target` in `dir`; returns it and the key file.
fn bundle(dir: &Path, target: Target) -> (PathBuf, PathBuf) {
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let data = b"not a package".to_vec();
    let src = dir.join(format!("src-{target}").replace('/', "-"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("foo.pkg"), &data).unwrap();
    let m = Manifest {
        schema: SCHEMA,
        target,
        version: "1".into(),
        builder: "test".into(),
        catalog: "test".into(),
        created: 1_700_000_000,
        files: vec![FileEntry {
            path: "foo.pkg".into(),
            size: data.len() as u64,
            sha256: hex::encode(Sha256::digest(&data)),
        }],
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1".into(),
            arch: "noarch".into(),
            file: "foo.pkg".into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
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
    let out = dir.join(format!("{}.{}.tgz", target.os, target.arch));
    archive::write_bundle(&src, &out, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    let keyfile = dir.join(format!("{}.{}.pub", target.os, target.arch));
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    (out, keyfile)
}

/// `pigsty-install BUNDLE --key KEY --root ROOT --dry-run`: exit code and output.
fn dry_run(root: &Path, bundle: &Path, key: &Path) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .arg(bundle)
        .arg("--key")
        .arg(key)
        .arg("--root")
        .arg(root)
        .args(["--dry-run", "--no-handoff"])
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

fn check_root(dir: &Path, root: &Path, os: Os, what: &str) {
    let there = other_arch();
    let here = Arch::host().unwrap();
    let pg = if os.family() == pigsty_bundle::Family::Deb {
        15
    } else {
        17
    };
    let (ok, ok_key) = bundle(dir, Target::new(os, there, pg));
    let (code, out) = dry_run(root, &ok, &ok_key);
    assert_eq!(
        code, 0,
        "{what}: a bundle for the root's arch is refused:\n{out}"
    );
    assert!(out.contains(&format!("node {os}.{there}")), "{what}: {out}");
    let (wrong, wrong_key) = bundle(dir, Target::new(os, here, pg));
    let (code, out) = dry_run(root, &wrong, &wrong_key);
    assert_ne!(
        code, 0,
        "{what}: a bundle for the host's arch is taken:\n{out}"
    );
    assert!(
        out.contains(&format!("but this node is {os}.{there}")),
        "{what}: {out}"
    );
}

/// A Debian 12 root as debootstrap --variant=minbase leaves it: `etc/os-release`, a dpkg
/// status file whose packages are of the root's arch (and `all`), no `var/lib/dpkg/arch`.
#[test]
fn a_debian_root_is_its_dpkg_arch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("var/lib/dpkg")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nID=debian\n",
    )
    .unwrap();
    let arch = deb_arch(other_arch());
    // Stanzas as a fresh bookworm minbase has them (trimmed), in its order: an `all` package
    // and others before dpkg's.
    let status = format!(
        "Package: adduser\nStatus: install ok installed\nPriority: important\nSection: admin\nInstalled-Size: 849\nMaintainer: Debian Adduser Developers <adduser@packages.debian.org>\nArchitecture: all\nMulti-Arch: foreign\nVersion: 3.134\nDepends: passwd\nDescription: add and remove users and groups\n\n\
         Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 340\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: {arch}\nMulti-Arch: foreign\nVersion: 12.4+deb12u11\nDescription: Debian base system miscellaneous files\n\n\
         Package: dpkg\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 6409\nMaintainer: Dpkg Developers <debian-dpkg@lists.debian.org>\nArchitecture: {arch}\nMulti-Arch: foreign\nVersion: 1.21.23\nDepends: tar (>= 1.28-1)\nDescription: Debian package management system\n Multi-line description.\n\n\
         Package: dpkg-dev\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1.21.23\n\n"
    );
    std::fs::write(root.join("var/lib/dpkg/status"), status).unwrap();
    assert!(!root.join("var/lib/dpkg/arch").exists());
    check_root(dir.path(), &root, Os::D12, "dpkg status");
}

/// An EL 9 root whose rpm database (made by the real rpm) holds glibc of the other arch.
#[test]
fn an_el_root_is_its_rpm_arch() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "NAME=\"Rocky Linux\"\nVERSION=\"9.4 (Blue Onyx)\"\nID=\"rocky\"\nVERSION_ID=\"9.4\"\n",
    )
    .unwrap();
    let arch = other_arch().to_string();
    let pkg = rpm::PackageBuilder::new("glibc", "2.34", "LGPLv2+", &arch, "The GNU libc")
        .using_config(rpm::BuildConfig::v4().compression(rpm::CompressionType::Gzip))
        .release("100.el9")
        .build()
        .unwrap();
    let file = dir.path().join(format!("glibc-2.34-100.el9.{arch}.rpm"));
    pkg.write_file(&file).unwrap();
    let rpm = |args: &[&str]| {
        let o = Command::new("rpm")
            .arg("--root")
            .arg(&root)
            .args(args)
            .output()
            .expect("the real rpm (Debian's package `rpm`) is needed by this test");
        assert!(
            o.status.success(),
            "rpm {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    rpm(&["--initdb"]);
    rpm(&[
        "-i",
        "--justdb",
        "--nodeps",
        "--ignorearch",
        "--noscripts",
        file.to_str().unwrap(),
    ]);
    check_root(dir.path(), &root, Os::El9, "rpm database");
}
