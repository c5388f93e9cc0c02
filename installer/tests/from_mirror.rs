//! `pigsty-install --from URL` against the real mirror server on loopback: the repo
//! downloaded file by file is the one a bundle gives; a mirror whose files or manifest are not
//! the signed ones, that lacks a file, is unsigned, signed by another key, built for another
//! target or not there at all is refused by the real binary with the file or URL named, and the
//! node (a root made for the test, `--root`) is left byte for byte as it was, with no
//! temporary folder behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};
use pigsty_install::mirror::Mirror;
use pigsty_install::stage;
use pigsty_install::{check_trust, Origin, Source, Trust};

mod common;
use common::{noise, sha, start};

const DEB: &str = "pool/foo_1.0+b1_amd64.deb";

/// The files of the test repo (besides the manifest, its signature and the key).
fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (DEB, noise(1, 700_000)),
        ("pool/bar_2:1.0~rc1_all.deb", noise(2, 65_536)),
        ("Packages", b"Package: foo\nVersion: 1.0+b1\n".to_vec()),
        ("Packages.gz", noise(3, 900)),
        (
            "InRelease",
            b"-----BEGIN PGP SIGNED MESSAGE-----\n".to_vec(),
        ),
        ("empty", Vec::new()),
    ]
}

/// A signed repo at `<dir>/<name>/pigsty` as `pigsty-install BUNDLE` lays it out, for
/// `target`, signed by `key` (or not); returns its `dest` folder.
fn repo(dir: &Path, name: &str, target: Target, key: &SecretKey, signed: bool) -> PathBuf {
    let dest = dir.join(name);
    let top = dest.join("pigsty");
    let mut listed = files();
    listed.push((
        "pigsty.pub",
        key.public().to_armored().unwrap().into_bytes(),
    ));
    for (rel, data) in &listed {
        let p = top.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let mut entries: Vec<FileEntry> = listed
        .iter()
        .map(|(p, d)| FileEntry {
            path: p.to_string(),
            size: d.len() as u64,
            sha256: sha(d),
        })
        .collect();
    entries.sort_by(|a, b| a.path.cmp(&b.path));
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
            version: "1.0+b1".into(),
            arch: "amd64".into(),
            file: DEB.into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: Some(key.fingerprint()),
        family: target.family(),
        package_keys: Vec::new(),
        base: None,
    };
    let json = m.to_json().unwrap();
    std::fs::write(top.join(MANIFEST_NAME), &json).unwrap();
    if signed {
        std::fs::write(
            top.join(SIGNATURE_NAME),
            key.sign_detached(json.as_bytes()).unwrap(),
        )
        .unwrap();
    }
    dest
}

fn d12() -> Target {
    Target::new(Os::D12, Arch::X86_64, 15)
}

/// Every file and folder under `dir` with its bytes (what "the same repo" compares).
fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                out.insert(format!("{rel}/"), Vec::new());
                stack.push(p);
            } else {
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

#[test]
fn a_repo_from_the_mirror_is_the_one_the_bundle_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let served = repo(tmp.path(), "admin", d12(), &key, true);
    let s = start(&served, Duration::from_secs(5));
    let url = format!("http://{}/pigsty", s.addr);

    // Signature first, as for a bundle.
    let origin = Origin::open(&Source::Mirror(url.clone())).unwrap();
    let head = origin.signed_manifest().unwrap();
    let keyfile = tmp.path().join("pigsty.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let fpr = check_trust(&origin, &head, &Trust::Key(keyfile))
        .unwrap()
        .fingerprint;
    assert_eq!(fpr, Some(key.fingerprint()));
    let fpr = check_trust(&origin, &head, &Trust::Fingerprint(key.fingerprint()))
        .unwrap()
        .fingerprint;
    assert_eq!(fpr, Some(key.fingerprint()));

    // Downloaded, staged, put in place.
    let node = tmp.path().join("node/www");
    let mirror = Mirror::new(&url).unwrap();
    let staged = mirror.stage(&head, &node).unwrap();
    assert!(!node.join("pigsty").exists());
    staged.commit().unwrap();
    assert!(tree(&node.join("pigsty")) == tree(&served.join("pigsty")));

    // The same repo packed as a bundle and extracted: the same files.
    let bundle_path = tmp.path().join("b.tgz");
    let top = served.join("pigsty");
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    for (rel, _) in tree(&top) {
        if rel.ends_with('/') || rel == MANIFEST_NAME || rel == SIGNATURE_NAME {
            continue;
        }
        let to = src.join(&rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(top.join(&rel), to).unwrap();
    }
    let extra = vec![
        (MANIFEST_NAME.to_string(), head.raw().to_vec()),
        (
            SIGNATURE_NAME.to_string(),
            head.signature().unwrap().to_vec(),
        ),
    ];
    archive::write_bundle(&src, &bundle_path, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    let from_bundle = tmp.path().join("b/www");
    stage::extract_bundle(&bundle_path, &head, &from_bundle).unwrap();
    assert!(tree(&from_bundle) == tree(&node));
    let summary = s.stop();
    // The manifest, its signature, the key (for the fingerprint), then every listed file.
    assert_eq!(summary.requests as usize, 2 + 1 + files().len() + 1);
}

/// A node root (Debian 12) with an apt configuration and a previous repo under /www.
fn node(dir: &Path) -> PathBuf {
    let root = dir.join("root");
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
    root
}

fn install(root: &Path, args: &[&str]) -> (i32, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(args)
        .args(["--no-handoff", "--no-bootstrap", "--root"])
        .arg(root)
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
fn bad_mirrors_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let other = SecretKey::generate("Other <o@example.invalid>").unwrap();
    let keyfile = tmp.path().join("trusted.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let keyfile = keyfile.to_str().unwrap().to_string();
    let root = node(tmp.path());
    let before = tree(&root);

    // name, the served dest, trust arguments, what the message must say
    let mut cases: Vec<(&str, PathBuf, Vec<String>, String)> = Vec::new();
    let by_key = || vec!["--key".to_string(), keyfile.clone()];

    let d = repo(tmp.path(), "tampered", d12(), &key, true);
    let mut bytes = std::fs::read(d.join("pigsty").join(DEB)).unwrap();
    bytes[300_000] ^= 0x20;
    std::fs::write(d.join("pigsty").join(DEB), bytes).unwrap();
    cases.push((
        "tampered",
        d,
        by_key(),
        format!("pigsty/{DEB}: sha256 mismatch"),
    ));

    let d = repo(tmp.path(), "longer", d12(), &key, true);
    std::fs::write(
        d.join("pigsty/Packages"),
        "Package: foo\nVersion: 1.0+b1\nX: y\n",
    )
    .unwrap();
    cases.push((
        "longer",
        d,
        by_key(),
        "pigsty/Packages: size mismatch (manifest 29 bytes, received".into(),
    ));

    let d = repo(tmp.path(), "shorter", d12(), &key, true);
    std::fs::write(d.join("pigsty/InRelease"), "cut").unwrap();
    cases.push((
        "shorter",
        d,
        by_key(),
        "pigsty/InRelease: size mismatch (manifest 35 bytes, received 3)".into(),
    ));

    let d = repo(tmp.path(), "missing", d12(), &key, true);
    std::fs::remove_file(d.join("pigsty/pool/bar_2:1.0~rc1_all.deb")).unwrap();
    cases.push((
        "missing",
        d,
        by_key(),
        "/pigsty/pool/bar_2:1.0~rc1_all.deb: HTTP 404".into(),
    ));

    let d = repo(tmp.path(), "manifest-changed", d12(), &key, true);
    let m = std::fs::read_to_string(d.join("pigsty/MANIFEST.json")).unwrap();
    std::fs::write(
        d.join("pigsty/MANIFEST.json"),
        m.replace("\"test\"", "\"evil\""),
    )
    .unwrap();
    cases.push((
        "manifest-changed",
        d,
        by_key(),
        "signature does not verify".into(),
    ));

    let d = repo(tmp.path(), "unsigned", d12(), &key, true);
    std::fs::remove_file(d.join("pigsty/MANIFEST.json.asc")).unwrap();
    cases.push(("unsigned", d, by_key(), "is not signed".into()));

    let d = repo(tmp.path(), "other-key", d12(), &other, true);
    cases.push((
        "other-key",
        d.clone(),
        by_key(),
        "signature does not verify".into(),
    ));
    cases.push((
        "other-fingerprint",
        d,
        vec!["--fingerprint".into(), key.fingerprint()],
        format!("not the trusted {}", key.fingerprint()),
    ));

    let d = repo(
        tmp.path(),
        "el9",
        Target::new(Os::El9, Arch::X86_64, 15),
        &key,
        true,
    );
    cases.push((
        "el9",
        d,
        by_key(),
        "is built for el9.x86_64, but this node is d12.x86_64".into(),
    ));

    for (name, dest, trust, want) in cases {
        let s = start(&dest, Duration::from_secs(5));
        let url = format!("http://{}/pigsty", s.addr);
        let mut args = vec!["--from".to_string(), url.clone()];
        args.extend(trust);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, out) = install(&root, &args);
        assert_ne!(code, 0, "{name}: accepted:\n{out}");
        assert!(
            out.contains(&want),
            "{name}: message lacks `{want}`:\n{out}"
        );
        assert!(
            out.contains(&url),
            "{name}: the mirror is not named:\n{out}"
        );
        assert!(tree(&root) == before, "{name}: the node changed");
        s.stop();
    }

    // Not a repo's URL, and nobody there.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("pigsty")).unwrap();
    let s = start(&empty, Duration::from_secs(5));
    let (code, out) = install(
        &root,
        &[
            "--from",
            &format!("http://{}/pigsty", s.addr),
            "--key",
            &keyfile,
        ],
    );
    assert!(code != 0 && out.contains("no MANIFEST.json there"), "{out}");
    let gone = s.addr;
    s.stop();
    let (code, out) = install(
        &root,
        &[
            "--from",
            &format!("http://{gone}/pigsty"),
            "--key",
            &keyfile,
        ],
    );
    assert!(
        code != 0 && out.contains(&format!("http://{gone}/pigsty/MANIFEST.json")),
        "{out}"
    );
    let (code, out) = install(&root, &["--from", "ftp://x/pigsty", "--key", &keyfile]);
    assert!(
        code != 0 && out.contains("not an http:// or https:// URL"),
        "{out}"
    );
    let (code, out) = install(
        &root,
        &["x.tgz", "--from", "http://x/pigsty", "--key", &keyfile],
    );
    assert!(code != 0 && out.contains("cannot be used with"), "{out}");
    assert!(tree(&root) == before, "the node changed");

    // A good mirror, dry run: says what it would do, changes nothing.
    let good = repo(tmp.path(), "good", d12(), &key, true);
    let s = start(&good, Duration::from_secs(5));
    let url = format!("http://{}/pigsty", s.addr);
    let (code, out) = install(&root, &["--from", &url, "--key", &keyfile, "--dry-run"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("good, key {}", key.fingerprint())),
        "{out}"
    );
    assert!(out.contains("would download and verify 7 files"), "{out}");
    assert!(tree(&root) == before, "the dry run changed the node");
    s.stop();
}
