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

/// A bundle of the manifest `json` (signed with `sig`) whose entries are `pigsty/`, the
/// manifest, its signature, then `files`, then whatever `more` appends (hostile entries after
/// good ones: the same manifest, other content).
fn raw_bundle(
    c: &Case,
    name: &str,
    json: &str,
    sig: &str,
    files: &[(&str, &[u8])],
    more: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) -> PathBuf {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    dir.set_path("pigsty/").unwrap();
    dir.set_cksum();
    b.append(&dir, &[][..]).unwrap();
    let add = |b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_path(path).unwrap();
        h.set_cksum();
        b.append(&h, data).unwrap();
    };
    add(&mut b, "pigsty/MANIFEST.json", json.as_bytes());
    add(&mut b, "pigsty/MANIFEST.json.asc", sig.as_bytes());
    for (p, d) in files {
        add(&mut b, &format!("pigsty/{p}"), d);
    }
    more(&mut b);
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

/// The signature covers files only: 20,000 folders no listed file is in are content nobody
/// signed. `verify` refuses them as the install does, naming them, and nothing lands on the
/// node.
#[test]
fn folders_no_listed_file_needs_are_refused_by_install_and_verify() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let bundle = hostile_bundle(&c, "dirs", |b| {
        for i in 0..20_000 {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            h.set_path(format!("pigsty/d{i:05}/")).unwrap();
            h.set_cksum();
            b.append(&h, &[][..]).unwrap();
        }
    });
    refused(
        &c,
        &bundle,
        &["--key", &key],
        "pigsty/d00000/: a folder that holds none of the manifest's files",
    );
    let (code, out) = run(&["verify", bundle.to_str().unwrap(), "--key", &key]);
    assert_ne!(code, 0, "verify passes 20,000 unsigned folders:\n{out}");
    assert!(
        out.contains("holds none of the manifest's files") && out.contains("stopped reading"),
        "{out}"
    );
}

/// Whether `text` holds a control character other than a newline or a tab: a C0 byte, DEL,
/// or a C1 character (U+0080 to U+009F) that terminals read as escapes.
fn has_control(text: &str) -> bool {
    text.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
}

/// Names from a bundle reach the messages escaped: a manifest path or version holding ESC,
/// BEL, NUL or a C1 CSI, an archive entry named with them, a link to such a name, a header
/// whose damaged mode field the tar reader reports with the entry's name.
#[test]
fn untrusted_names_reach_messages_escaped() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let trust = ["--key", key.as_str()];
    // A manifest path with a terminal escape (set the window title) and BEL.
    let evil = "pool/\u{1b}]0;owned\u{7}x.deb";
    let listed: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB), (evil, DEB)];
    let json = serde_json::to_string(&manifest(d12(), &listed)).unwrap();
    let sig = c.key.sign_detached(json.as_bytes()).unwrap();
    let b = raw_bundle(&c, "evil-path", &json, &sig, &listed, |_| {});
    let (code, out) = install(&c, &b, &trust);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("control character") && out.contains("\\u{1b}]0;owned\\u{7}"),
        "{out}"
    );
    assert!(!has_control(&out), "raw control characters in:\n{out:?}");
    // A version that clears the screen, a package name with NUL and C1 CSI.
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB)];
    let mut m = manifest(d12(), &files);
    m.version = "1.0\u{1b}[2J".into();
    m.packages[0].name = "foo\u{0}\u{9b}31m".into();
    let json = serde_json::to_string(&m).unwrap();
    let sig = c.key.sign_detached(json.as_bytes()).unwrap();
    let b = raw_bundle(&c, "evil-version", &json, &sig, &files, |_| {});
    let (code, out) = install(&c, &b, &trust);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("control character"), "{out}");
    assert!(!has_control(&out), "raw control characters in:\n{out:?}");
    // Archive entries: a name with ESC and C1, a link to such a name, a damaged mode field.
    for (name, bundle) in [
        (
            "entry",
            hostile_bundle(&c, "evil-entry", |b| {
                raw_entry(
                    b,
                    "pigsty/\u{1b}[31mred\u{9b}",
                    tar::EntryType::Regular,
                    0o644,
                    None,
                    b"x",
                )
            }),
        ),
        (
            "link",
            hostile_bundle(&c, "evil-link", |b| {
                raw_entry(
                    b,
                    "pigsty/l",
                    tar::EntryType::Symlink,
                    0o777,
                    Some("\u{1b}[8m/etc/shadow"),
                    b"",
                )
            }),
        ),
        (
            "mode",
            hostile_bundle(&c, "evil-mode", |b| {
                let mut h = tar::Header::new_old();
                let name = "pigsty/\u{1b}[5mblink";
                h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(1);
                h.as_old_mut().mode = *b"\x1b[2Jzzz\0";
                h.set_cksum();
                b.append(&h, &b"x"[..]).unwrap();
            }),
        ),
    ] {
        let (code, out) = install(&c, &bundle, &trust);
        assert_ne!(code, 0, "{name}: {out}");
        assert!(out.contains("\\u{1b}"), "{name}: {out}");
        assert!(
            !has_control(&out),
            "{name}: raw control characters in:\n{out:?}"
        );
        let (code, out) = run(&["verify", bundle.to_str().unwrap(), "--key", &key]);
        assert_ne!(code, 0, "{name}: {out}");
        assert!(
            !has_control(&out),
            "{name}: verify: raw control characters in:\n{out:?}"
        );
    }
}

/// A node root whose `/www/pigsty` holds the bundle `head` was made from, laid out as an
/// install does, with its record and its apt source: what a rerun finds.
fn installed(c: &Case, bundle: &Path) {
    let head = archive::read_signed_manifest(bundle).unwrap();
    let www = c.root.join("www");
    std::fs::remove_dir_all(www.join("pigsty")).unwrap();
    pigsty_install::stage::extract_bundle(bundle, &head, &www).unwrap();
    let m = head.manifest();
    let status = serde_json::json!({
        "target": format!("{}.{}", m.target.os, m.target.arch),
        "version": m.version,
        "fingerprint": c.key.fingerprint(),
        "bundle": bundle.display().to_string(),
        "repo": "/www/pigsty",
        "installed_at": 1_700_000_000u64,
        "packages": m.packages.len(),
        "bootstrap": [],
    });
    let st = c.root.join("var/lib/pigsty-install/status.json");
    std::fs::create_dir_all(st.parent().unwrap()).unwrap();
    std::fs::write(st, serde_json::to_vec(&status).unwrap()).unwrap();
    std::fs::write(
        c.root.join("etc/apt/sources.list.d/pigsty-local.list"),
        "deb [signed-by=/etc/apt/keyrings/pigsty.asc] file:/www/pigsty/ ./\n",
    )
    .unwrap();
}

/// A rerun with the bundle that is installed never takes it on trust: a truncated copy, or
/// one with hostile entries appended after the very same signed manifest, is refused (never
/// "nothing to do"); an intact copy over an intact repo is a no-op that says every file was
/// checked, and still runs the hand-off asked for; a repo whose files changed is named and
/// repaired (here the repair stops at the drift check: the test's root has no apt; the e2e
/// test repairs a real one).
#[test]
fn a_rerun_reads_every_byte() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let trust = ["--key", key.as_str()];
    let pub_bytes = c.key.public().to_armored().unwrap().into_bytes();
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB), ("pigsty.pub", &pub_bytes)];
    let json = manifest(d12(), &files).to_json().unwrap();
    let sig = c.key.sign_detached(json.as_bytes()).unwrap();
    let good = raw_bundle(&c, "good", &json, &sig, &files, |_| {});
    installed(&c, &good);

    let data = std::fs::read(&good).unwrap();
    let cut = c.dir.join("cut.tgz");
    std::fs::write(&cut, &data[..data.len() - 30]).unwrap();
    refused(&c, &cut, &trust, "truncated");
    let (_, out) = install(&c, &cut, &trust);
    assert!(!out.contains("nothing to do"), "{out}");

    let appended = raw_bundle(&c, "appended", &json, &sig, &files, |b| {
        raw_entry(
            b,
            "pigsty/../../etc/cron.d/evil",
            tar::EntryType::Regular,
            0o644,
            None,
            b"x",
        );
        raw_entry(
            b,
            "pigsty/extra",
            tar::EntryType::Regular,
            0o644,
            None,
            b"x",
        );
    });
    refused(&c, &appended, &trust, "pigsty/../../etc/cron.d/evil");
    let (_, out) = install(&c, &appended, &trust);
    assert!(!out.contains("nothing to do"), "{out}");

    // Intact: a no-op that read everything.
    let before = snapshot(&c.root);
    let (code, out) = install(&c, &good, &trust);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("verified every file of") && out.contains("every file checked: nothing to do"),
        "{out}"
    );
    assert_eq!(snapshot(&c.root), before);
    // The hand-off asked for runs on a rerun too (here it cannot start: no shell in the
    // test's root, so chroot fails with 127).
    let (code, out) = run(&[
        good.to_str().unwrap(),
        "--key",
        &key,
        "--root",
        c.root.to_str().unwrap(),
        "--no-bootstrap",
        "--then",
        "true",
    ]);
    assert!(
        out.contains("nothing to do") && out.contains("handing off to `true`"),
        "{out}"
    );
    assert_ne!(code, 0, "{out}");

    // A file of the installed repo changed, one added: named, and the repo is laid out again.
    let deb = c.root.join("www/pigsty/foo_1.0_amd64.deb");
    std::fs::write(&deb, b"changed").unwrap();
    std::fs::write(c.root.join("www/pigsty/added"), b"x").unwrap();
    let (_, out) = install(&c, &good, &trust);
    assert!(
        out.contains("repairing it")
            && out.contains("pigsty/foo_1.0_amd64.deb: size mismatch")
            && out.contains("pigsty/added: not listed"),
        "{out}"
    );
    assert!(!out.contains("nothing to do"), "{out}");
}

/// A validly signed bundle older than the installed one (by version, then by build time) is
/// refused, saying what to do; nothing changes. `--allow-downgrade` lets it through.
#[test]
fn an_older_bundle_is_refused() {
    let c = node();
    let key = c.pubkey.to_str().unwrap().to_string();
    let trust = ["--key", key.as_str()];
    let files: Vec<(&str, &[u8])> = vec![("foo_1.0_amd64.deb", DEB)];
    let bundle = |name: &str, version: &str, created: u64| {
        let mut m = manifest(d12(), &files);
        m.version = version.into();
        m.created = created;
        let json = m.to_json().unwrap();
        let sig = c.key.sign_detached(json.as_bytes()).unwrap();
        raw_bundle(&c, name, &json, &sig, &files, |_| {})
    };
    // 0.1.0 built in 2023 is installed.
    installed(&c, &bundle("new", "0.1.0", 1_700_000_000));
    let old = bundle("old", "0.0.9", 1_600_000_000);
    refused(
        &c,
        &old,
        &trust,
        "bundle 0.0.9 (built 2020-09-13) is older than bundle 0.1.0 (built 2023-11-14)",
    );
    let (_, out) = install(&c, &old, &trust);
    assert!(
        out.contains("--allow-downgrade") && out.contains("rollback"),
        "{out}"
    );
    // The same version built earlier.
    refused(
        &c,
        &bundle("rebuilt-earlier", "0.1.0", 1_690_000_000),
        &trust,
        "is older than bundle 0.1.0",
    );
    // Allowed: past the check (the test's root has no apt, so the drift check stops it).
    let (_, out) = install(&c, &old, &["--key", &key, "--allow-downgrade"]);
    assert!(out.contains("--allow-downgrade: "), "{out}");
    // A newer one is no downgrade.
    let (_, out) = install(&c, &bundle("newer", "0.2.0", 1_600_000_000), &trust);
    assert!(!out.contains("older than"), "{out}");
}
