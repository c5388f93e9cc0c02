//! The staging of bundles and of file-by-file repos: hostile archives refused by the one
//! verifier (and `verify` refusing them too), nothing changed on refusal, the swap into place.

use super::*;
use pigsty_bundle::archive::{
    file_entries, read_signed_manifest, verify_signed, write_bundle, BundleFormat,
};
use pigsty_bundle::manifest::{FileEntry, SCHEMA, SIGNATURE_NAME};
use pigsty_bundle::{Arch, Os, Target};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use tar::{EntryType, Header};

/// Where to extract, as the tests say it.
struct ExtractOptions {
    dest: PathBuf,
}

fn head(raw: &[u8], sig: Option<&[u8]>) -> SignedManifest {
    SignedManifest::parse(raw.to_vec(), sig.map(<[u8]>::to_vec)).unwrap()
}

/// [`super::extract_bundle`] with the signed manifest given as its parts.
fn extract_bundle(
    bundle: &Path,
    m: &Manifest,
    raw: &[u8],
    sig: Option<&[u8]>,
    opts: &ExtractOptions,
) -> Result<Placed, StageError> {
    let head = head(raw, sig);
    assert_eq!(head.manifest(), m, "the test's manifest is its raw bytes'");
    super::extract_bundle(bundle, &head, &opts.dest)
}

/// A [`FileStager`] with the signed manifest given as its parts.
fn file_stager(
    origin: &str,
    m: &Manifest,
    raw: &[u8],
    sig: Option<&[u8]>,
    opts: &ExtractOptions,
) -> Result<FileStager, StageError> {
    let head = head(raw, sig);
    assert_eq!(head.manifest(), m, "the test's manifest is its raw bytes'");
    FileStager::new(origin, &head, &opts.dest)
}

const EPOCH: u64 = 1_700_000_000;
const SIG: &[u8] = b"-----BEGIN PGP SIGNATURE-----\nfake\n-----END PGP SIGNATURE-----\n";
const DEB: &str = "pool/main/f/foo/foo_1.0_amd64.deb";
const LONG: &str = "pool/main/p/postgresql-17-some-extension-with-a-very-long-name/postgresql-17-some-extension-with-a-very-long-name_1.2.3-1.pgdg120+1_amd64.deb";

/// Incompressible bytes from a seed (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn manifest(files: Vec<FileEntry>) -> Manifest {
    Manifest {
        schema: SCHEMA,
        target: Target::new(Os::D12, Arch::X86_64, 17),
        version: "v4.0.0".into(),
        builder: "pigsty-build 0.1.0".into(),
        catalog: "test".into(),
        created: EPOCH,
        files,
        packages: vec![],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: None,
        family: pigsty_bundle::Family::Deb,
        package_keys: Vec::new(),
        base: None,
    }
}

fn file_entry(path: &str, data: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
    }
}

/// Every file and folder under `dir`, recursively, with the files' contents.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), String::new())];
    while let Some((d, rel)) = stack.pop() {
        for item in fs::read_dir(&d).unwrap() {
            let item = item.unwrap();
            let name = format!("{rel}{}", item.file_name().to_str().unwrap());
            let kind = item.file_type().unwrap();
            if kind.is_dir() {
                out.push((format!("{name}/"), Vec::new()));
                stack.push((item.path(), format!("{name}/")));
            } else {
                out.push((name, fs::read(item.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// A destination holding a previous `pigsty/` with a marker file, and another file.
fn dest_with_previous(dir: &Path) -> PathBuf {
    let dest = dir.join("www");
    fs::create_dir_all(dest.join("pigsty/pool")).unwrap();
    fs::write(dest.join("pigsty/marker"), b"previous install").unwrap();
    fs::write(dest.join("pigsty/pool/old.deb"), b"old").unwrap();
    fs::write(dest.join("other.txt"), b"keep me").unwrap();
    dest
}

// -----------------------------------------------------------------------------------------
// Hand-made (hostile) bundles
// -----------------------------------------------------------------------------------------

/// One archive entry: its header (checksum set when written) and data.
struct Item {
    header: Header,
    data: Vec<u8>,
}

/// A GNU header with the name bytes written in raw, bypassing the tar crate's checks.
fn header(name: &str, kind: EntryType, size: u64, mode: u32) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(mode);
    h.set_mtime(EPOCH);
    h.set_uid(0);
    h.set_gid(0);
    let slot = &mut h.as_old_mut().name;
    slot.fill(0);
    slot[..name.len()].copy_from_slice(name.as_bytes());
    h
}

fn file(name: &str, data: &[u8], mode: u32) -> Item {
    Item {
        header: header(name, EntryType::Regular, data.len() as u64, mode),
        data: data.to_vec(),
    }
}

fn special(name: &str, kind: EntryType, link: Option<&str>) -> Item {
    let mut h = header(name, kind, 0, 0o644);
    if let Some(link) = link {
        h.set_link_name_literal(link).unwrap();
    }
    if matches!(kind, EntryType::Char | EntryType::Block) {
        h.set_device_major(1).unwrap();
        h.set_device_minor(3).unwrap();
    }
    Item {
        header: h,
        data: Vec::new(),
    }
}

const FILES: &[(&str, &[u8], u32)] = &[
    ("a.txt", b"alpha\n", 0o644),
    ("bin/tool", b"#!/bin/sh\necho tool\n", 0o755),
    ("pool/b.deb", b"not really a deb", 0o644),
];

fn good_manifest() -> (Manifest, Vec<u8>) {
    let m = manifest(FILES.iter().map(|(p, d, _)| file_entry(p, d)).collect());
    let raw = m.to_json().unwrap().into_bytes();
    (m, raw)
}

/// `pigsty/`, the manifest `raw`, the signature, then [`FILES`].
fn standard(raw: &[u8]) -> Vec<Item> {
    let mut items = vec![
        Item {
            header: header("pigsty/", EntryType::Directory, 0, 0o755),
            data: Vec::new(),
        },
        file("pigsty/MANIFEST.json", raw, 0o644),
        file("pigsty/MANIFEST.json.asc", SIG, 0o644),
    ];
    for (path, data, mode) in FILES {
        items.push(file(&format!("pigsty/{path}"), data, *mode));
    }
    items
}

fn write_items(out: &Path, items: Vec<Item>, format: BundleFormat) {
    fn append<W: Write>(b: &mut tar::Builder<W>, items: Vec<Item>) {
        for mut item in items {
            item.header.set_cksum();
            b.append(&item.header, &item.data[..]).unwrap();
        }
    }
    let file = File::create(out).unwrap();
    match format {
        BundleFormat::Tgz => {
            let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
                file,
                flate2::Compression::fast(),
            ));
            append(&mut b, items);
            b.into_inner().unwrap().finish().unwrap();
        }
        BundleFormat::TarZst => {
            let mut b = tar::Builder::new(zstd::stream::Encoder::new(file, 3).unwrap());
            append(&mut b, items);
            b.into_inner().unwrap().finish().unwrap();
        }
    }
}

/// Extracts a bundle that must be refused; checks that the message holds every one of
/// `want` and that the destination is exactly as before. Returns the message.
fn refused_bundle(
    dir: &Path,
    bundle: &Path,
    m: &Manifest,
    raw: &[u8],
    sig: Option<&[u8]>,
    want: &[&str],
) -> String {
    let dest = dest_with_previous(dir);
    let before = snapshot(&dest);
    let opts = ExtractOptions { dest: dest.clone() };
    let err = extract_bundle(bundle, m, raw, sig, &opts).unwrap_err();
    let text = err.to_string();
    for w in want {
        assert!(text.contains(w), "`{w}` not in: {text}");
    }
    // One rule, one verdict: a bundle an install refuses, `verify` refuses too, naming the
    // same (a full disk is not the bundle's fault).
    if matches!(err, StageError::Bundle(_)) {
        let verdict = verify_signed(bundle, &head(raw, sig))
            .unwrap_err()
            .to_string();
        for w in want {
            assert!(verdict.contains(w), "verify: `{w}` not in: {verdict}");
        }
    }
    assert_eq!(snapshot(&dest), before, "{text}");
    assert_eq!(
        fs::read(dest.join("pigsty/marker")).unwrap(),
        b"previous install"
    );
    text
}

/// Writes `items` as a bundle of each format and checks it is refused.
fn refused(items: impl Fn() -> Vec<Item>, m: &Manifest, raw: &[u8], want: &[&str]) {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join(format!("bundle{}", format.extension()));
        write_items(&bundle, items(), format);
        refused_bundle(dir.path(), &bundle, m, raw, Some(SIG), want);
    }
}

#[test]
fn the_hand_made_bundle_is_fine() {
    let (m, raw) = good_manifest();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tgz");
    write_items(&bundle, standard(&raw), BundleFormat::Tgz);
    let dest = dest_with_previous(dir.path());
    let done = extract_bundle(
        &bundle,
        &m,
        &raw,
        Some(SIG),
        &ExtractOptions { dest: dest.clone() },
    )
    .unwrap();
    assert_eq!(done.files, 3);
    assert!(done.replaced_previous);
    let mode = |p: &str| fs::metadata(dest.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("pigsty/bin/tool"), 0o755);
    assert_eq!(mode("pigsty/a.txt"), 0o644);
    assert_eq!(mode("pigsty/pool"), 0o755);
}

#[test]
fn refuses_dotdot() {
    let (m, raw) = good_manifest();
    let items = || {
        let mut v = standard(&raw);
        v.push(file(
            "pigsty/../../etc/passwd",
            b"root::0:0::/:/bin/sh\n",
            0o644,
        ));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/../../etc/passwd: path escapes the bundle"],
    );
    let items = || {
        let mut v = standard(&raw);
        v.insert(3, file("../evil", b"x", 0o644));
        v
    };
    refused(items, &m, &raw, &["../evil: path escapes the bundle"]);
}

/// A GNU long-name entry or a pax header giving `path` to the entry after it.
fn long_name(path: &str, pax: bool) -> Item {
    if pax {
        let record = |len: usize| format!("{len} path={path}\n");
        let mut len = record(0).len();
        while record(len).len() != len {
            len = record(len).len();
        }
        let data = record(len).into_bytes();
        Item {
            header: header("pax", EntryType::XHeader, data.len() as u64, 0o644),
            data,
        }
    } else {
        let mut data = path.as_bytes().to_vec();
        data.push(0);
        Item {
            header: header(
                "././@LongLink",
                EntryType::GNULongName,
                data.len() as u64,
                0o644,
            ),
            data,
        }
    }
}

#[test]
fn refuses_escapes_in_long_names() {
    let (m, raw) = good_manifest();
    for pax in [false, true] {
        let long = format!("pigsty/{}/../../../etc/cron.d/evil", "d".repeat(120));
        let items = || {
            let mut v = standard(&raw);
            v.push(long_name(&long, pax));
            v.push(file("pigsty/harmless", b"* * * * * root sh\n", 0o644));
            v
        };
        refused(
            items,
            &m,
            &raw,
            &[&format!("{long}: path escapes the bundle")],
        );
    }
}

#[test]
fn refuses_absolute_and_outside_paths() {
    let (m, raw) = good_manifest();
    let items = || {
        let mut v = standard(&raw);
        v.push(file("/etc/passwd", b"x", 0o644));
        v
    };
    refused(items, &m, &raw, &["/etc/passwd: absolute path"]);
    let items = || {
        let mut v = standard(&raw);
        v.push(file("other/x", b"x", 0o644));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["other/x: outside the top folder `pigsty/`"],
    );
    let items = || {
        let mut v = standard(&raw);
        v.push(file("pigsty-evil/x", b"x", 0o644));
        v
    };
    refused(items, &m, &raw, &["pigsty-evil/x: outside the top folder"]);
}

#[test]
fn refuses_links_naming_their_target() {
    let (m, raw) = good_manifest();
    let items = || {
        let mut v = standard(&raw);
        v.push(special("pigsty/etc", EntryType::Symlink, Some("/etc")));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/etc: symbolic link to `/etc`; bundles hold no links"],
    );
    // A link first, then a file through it: the link is refused before anything else.
    let items = || {
        let mut v = standard(&raw);
        v.insert(
            3,
            special("pigsty/pool", EntryType::Symlink, Some("../../..")),
        );
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/pool: symbolic link to `../../..`"],
    );
    let items = || {
        let mut v = standard(&raw);
        v.push(special(
            "pigsty/passwd",
            EntryType::Link,
            Some("../../../etc/passwd"),
        ));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/passwd: hard link to `../../../etc/passwd`"],
    );
    let items = || {
        let mut v = standard(&raw);
        v.push(special(
            "pigsty/a2.txt",
            EntryType::Link,
            Some("pigsty/a.txt"),
        ));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/a2.txt: hard link to `pigsty/a.txt`"],
    );
}

#[test]
fn refuses_devices_and_fifos() {
    let (m, raw) = good_manifest();
    for (kind, why) in [
        (EntryType::Char, "character device"),
        (EntryType::Block, "block device"),
        (EntryType::Fifo, "FIFO"),
    ] {
        let items = || {
            let mut v = standard(&raw);
            v.push(special("pigsty/null", kind, None));
            v
        };
        refused(items, &m, &raw, &[&format!("pigsty/null: {why}")]);
    }
}

#[test]
fn refuses_setuid_setgid_and_sticky() {
    let (m, raw) = good_manifest();
    for (mode, why) in [
        (0o4755, "setuid bit (mode 4755)"),
        (0o2755, "setgid bit (mode 2755)"),
        (0o6755, "setuid and setgid bit (mode 6755)"),
    ] {
        let items = || {
            let mut v = standard(&raw);
            let tool = v.len() - 2;
            v[tool].header.set_mode(mode);
            v
        };
        refused(items, &m, &raw, &[&format!("pigsty/bin/tool: {why}")]);
    }
    let items = || {
        let mut v = standard(&raw);
        v.push(Item {
            header: header("pigsty/tmp/", EntryType::Directory, 0, 0o1777),
            data: Vec::new(),
        });
        v
    };
    refused(items, &m, &raw, &["pigsty/tmp/: sticky bit (mode 1777)"]);
}

#[test]
fn refuses_duplicates() {
    let (m, raw) = good_manifest();
    let items = || {
        let mut v = standard(&raw);
        v.push(file("pigsty/a.txt", b"alpha\n", 0o644));
        v
    };
    refused(items, &m, &raw, &["pigsty/a.txt: duplicate entry"]);
    let items = || {
        let mut v = standard(&raw);
        v.push(file("pigsty/MANIFEST.json", &raw, 0o644));
        v
    };
    refused(items, &m, &raw, &["pigsty/MANIFEST.json: duplicate entry"]);
    let items = || {
        let mut v = standard(&raw);
        v.push(Item {
            header: header("pigsty/a.txt/", EntryType::Directory, 0, 0o755),
            data: Vec::new(),
        });
        v
    };
    refused(items, &m, &raw, &["pigsty/a.txt/: duplicate entry"]);
}

#[test]
fn refuses_unlisted_missing_and_resized_files() {
    let (m, raw) = good_manifest();
    let items = || {
        let mut v = standard(&raw);
        v.push(file("pigsty/extra.txt", b"extra", 0o644));
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/extra.txt: not listed in the manifest"],
    );

    let mut m2 = m.clone();
    m2.files.push(file_entry("pool/gone.deb", b"gone"));
    let raw2 = m2.to_json().unwrap().into_bytes();
    let m2 = Manifest::from_json(&raw2).unwrap();
    refused(
        || standard(&raw2),
        &m2,
        &raw2,
        &["1 file(s) listed in the manifest are not in the archive: pigsty/pool/gone.deb"],
    );

    let items = || {
        let mut v = standard(&raw);
        v[3] = file("pigsty/a.txt", b"alpha!\n", 0o644);
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/a.txt: size mismatch (manifest 6 bytes, archive 7 bytes)"],
    );
    let items = || {
        let mut v = standard(&raw);
        v[3] = file("pigsty/a.txt", b"alphA\n", 0o644);
        v
    };
    refused(items, &m, &raw, &["pigsty/a.txt: sha256 mismatch"]);
}

#[test]
fn refuses_an_archive_manifest_that_is_not_the_signed_one() {
    let (m, raw) = good_manifest();
    // Same size, one byte different.
    let mut other = m.clone();
    other.version = "v4.0.1".into();
    let other_raw = other.to_json().unwrap().into_bytes();
    assert_eq!(other_raw.len(), raw.len());
    refused(
        || standard(&other_raw),
        &m,
        &raw,
        &["pigsty/MANIFEST.json: differs from the signed manifest given (first difference at byte"],
    );
    // Another size.
    other.version = "v4.0.1-longer".into();
    let other_raw = other.to_json().unwrap().into_bytes();
    refused(
        || standard(&other_raw),
        &m,
        &raw,
        &["pigsty/MANIFEST.json: differs from the signed manifest given"],
    );
    // Not there at all.
    let items = || {
        let mut v = standard(&raw);
        v.remove(1);
        v
    };
    refused(
        items,
        &m,
        &raw,
        &["pigsty/MANIFEST.json: differs from the signed manifest given (it is not in the archive)"],
    );
    // Another signature.
    let items = || {
        let mut v = standard(&raw);
        v[2] = file("pigsty/MANIFEST.json.asc", &SIG.to_ascii_lowercase(), 0o644);
        v
    };
    refused(items, &m, &raw, &["pigsty/MANIFEST.json.asc: differs"]);
    // A signature the caller did not pass.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b.tgz");
    write_items(&bundle, standard(&raw), BundleFormat::Tgz);
    refused_bundle(
        dir.path(),
        &bundle,
        &m,
        &raw,
        None,
        &["pigsty/MANIFEST.json.asc: differs from the signed manifest given (the bundle has a signature but none was given)"],
    );
    // A manifest that does not agree with its signed bytes cannot be passed at all: a
    // SignedManifest is made only by parsing those bytes.
    assert_eq!(head(&raw, None).manifest(), &m);
    assert_ne!(head(&raw, None).manifest(), &other);
}

// -----------------------------------------------------------------------------------------
// Bundles written by write_bundle
// -----------------------------------------------------------------------------------------

/// The files of the test tree: path, content, executable.
fn tree_files() -> Vec<(&'static str, Vec<u8>, bool)> {
    vec![
        (DEB, noise(1, 300_000), false),
        (LONG, noise(2, 70_000), false),
        (
            "dists/bookworm/Release",
            b"Origin: pigsty\n".to_vec(),
            false,
        ),
        ("bin/install.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
        ("empty.txt", Vec::new(), false),
        ("zz", noise(3, 200_000), false),
    ]
}

/// A source tree under `dir/src` and its manifest (computed before `tamper` runs on it).
fn tree(dir: &Path, tamper: impl FnOnce(&Path)) -> (PathBuf, Manifest) {
    let src = dir.join("src");
    fs::create_dir_all(src.join("empty-dir")).unwrap();
    for (path, data, exec) in tree_files() {
        let p = src.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &data).unwrap();
        let mode = if exec { 0o755 } else { 0o644 };
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    }
    let m = manifest(file_entries(&src).unwrap());
    tamper(&src);
    (src, m)
}

fn extras(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        (MANIFEST_NAME.into(), raw.to_vec()),
        (SIGNATURE_NAME.into(), SIG.to_vec()),
    ]
}

#[test]
fn extracts_a_real_bundle_and_replaces_the_previous_one() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join(format!("bundle{}", format.extension()));
        write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
        // What the installer does: read the signed manifest, check it, extract.
        let signed = read_signed_manifest(&bundle).unwrap();
        assert_eq!(signed.raw(), raw);

        let dest = dest_with_previous(dir.path());
        assert_ne!(installed_manifest(&dest).map(|(_, r)| r), Some(raw.clone()));
        let done = extract_bundle(
            &bundle,
            signed.manifest(),
            signed.raw(),
            signed.signature(),
            &ExtractOptions { dest: dest.clone() },
        )
        .unwrap();
        let total: usize = tree_files().iter().map(|(_, d, _)| d.len()).sum();
        assert_eq!(
            done,
            Placed {
                path: dest.join("pigsty"),
                files: tree_files().len(),
                bytes: total as u64,
                replaced_previous: true,
            }
        );
        let top = dest.join("pigsty");
        for (path, data, exec) in tree_files() {
            let p = top.join(path);
            assert_eq!(fs::read(&p).unwrap(), data, "{path}");
            let meta = fs::metadata(&p).unwrap();
            assert_eq!(meta.mode() & 0o7777, if exec { 0o755 } else { 0o644 });
            assert_eq!(meta.mtime(), EPOCH as i64, "{path}");
        }
        assert_eq!(fs::read(top.join(MANIFEST_NAME)).unwrap(), raw);
        assert_eq!(fs::read(top.join(SIGNATURE_NAME)).unwrap(), SIG);
        // By design, a folder with no file is no part of a bundle (the writer leaves it
        // out; readers refuse one): the source's empty folder is not there.
        assert!(!top.join("empty-dir").exists());
        let dir_meta = fs::metadata(top.join("dists/bookworm")).unwrap();
        assert!(dir_meta.is_dir());
        assert_eq!(dir_meta.mode() & 0o7777, 0o755);
        assert_eq!(
            fs::metadata(top.join("pool")).unwrap().mtime(),
            EPOCH as i64
        );
        // The previous repo is gone, nothing else is left beside the new one.
        assert!(!top.join("marker").exists());
        let names: Vec<String> = fs::read_dir(&dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        assert_eq!(names, vec!["other.txt", "pigsty"]);
        assert_eq!(fs::read(dest.join("other.txt")).unwrap(), b"keep me");
        let (installed, installed_raw) = installed_manifest(&dest).unwrap();
        assert_eq!(installed_raw, raw);
        assert_eq!(installed, m);

        // Into a destination that does not exist yet: created, nothing replaced.
        let fresh = dir.path().join("new/www");
        let done = extract_bundle(
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &ExtractOptions {
                dest: fresh.clone(),
            },
        )
        .unwrap();
        assert!(!done.replaced_previous);
        let mut replaced = snapshot(&dest);
        replaced.retain(|(name, _)| name != "other.txt");
        assert!(snapshot(&fresh) == replaced, "{format}: differ");
    }
}

#[test]
fn installed_manifest_is_none_without_a_valid_one() {
    let dir = tempfile::tempdir().unwrap();
    assert!(installed_manifest(dir.path()).is_none());
    fs::create_dir(dir.path().join("pigsty")).unwrap();
    fs::write(dir.path().join("pigsty/MANIFEST.json"), b"{").unwrap();
    assert!(installed_manifest(dir.path()).is_none());
}

#[test]
fn refuses_truncated_bundles() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join(format!("bundle{}", format.extension()));
        write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
        let full = fs::read(&bundle).unwrap();
        for cut in [1usize, 8 << 10, 100 << 10, 400 << 10] {
            let short = dir
                .path()
                .join(format!("short-{cut}{}", format.extension()));
            fs::write(&short, &full[..full.len() - cut]).unwrap();
            let text = refused_bundle(
                dir.path(),
                &short,
                &m,
                &raw,
                Some(SIG),
                &["truncated archive"],
            );
            if cut > 1 {
                // Cut inside a file: the message names it.
                assert!(text.contains("in pigsty/"), "{format} cut {cut}: {text}");
            }
            let _ = fs::remove_dir_all(dir.path().join("www"));
        }
    }
}

#[test]
fn refuses_a_flipped_byte_in_a_file() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |src| {
            let mut data = fs::read(src.join(DEB)).unwrap();
            data[1000] ^= 1;
            fs::write(src.join(DEB), &data).unwrap();
        });
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join(format!("bundle{}", format.extension()));
        write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
        refused_bundle(
            dir.path(),
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &[&format!("pigsty/{DEB}: sha256 mismatch (manifest ")],
        );
    }
}

#[test]
fn refuses_a_bundle_whose_manifest_is_not_the_signed_one() {
    let dir = tempfile::tempdir().unwrap();
    let (src, m) = tree(dir.path(), |_| {});
    let raw = m.to_json().unwrap().into_bytes();
    let mut other = m.clone();
    other.catalog = "another".into();
    let other_raw = other.to_json().unwrap().into_bytes();
    let bundle = dir.path().join("bundle.tgz");
    write_bundle(&src, &bundle, BundleFormat::Tgz, EPOCH, &extras(&other_raw)).unwrap();
    refused_bundle(
        dir.path(),
        &bundle,
        &m,
        &raw,
        Some(SIG),
        &["pigsty/MANIFEST.json: differs from the signed manifest given"],
    );
}

#[test]
fn refuses_corrupt_and_foreign_files() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (src, m) = tree(dir.path(), |_| {});
        let raw = m.to_json().unwrap().into_bytes();
        let bundle = dir.path().join(format!("bundle{}", format.extension()));
        write_bundle(&src, &bundle, format, EPOCH, &extras(&raw)).unwrap();
        let mut bad = fs::read(&bundle).unwrap();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        fs::write(&bundle, &bad).unwrap();
        refused_bundle(dir.path(), &bundle, &m, &raw, Some(SIG), &["bundle"]);
    }
    let dir = tempfile::tempdir().unwrap();
    let (m, raw) = good_manifest();
    let junk = dir.path().join("junk.tgz");
    fs::write(&junk, b"PK\x03\x04 not a bundle").unwrap();
    refused_bundle(
        dir.path(),
        &junk,
        &m,
        &raw,
        Some(SIG),
        &["not a gzip or zstd bundle (starts with 50 4b 03 04)"],
    );
    refused_bundle(
        dir.path(),
        &dir.path().join("nowhere.tgz"),
        &m,
        &raw,
        Some(SIG),
        &["nowhere.tgz"],
    );
}

#[test]
fn refuses_when_space_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = good_manifest().0;
    m.files[0].size = u64::MAX / 2;
    let raw = m.to_json().unwrap().into_bytes();
    let bundle = dir.path().join("b.tgz");
    write_items(&bundle, standard(&raw), BundleFormat::Tgz);
    refused_bundle(
        dir.path(),
        &bundle,
        &m,
        &raw,
        Some(SIG),
        &[
            "not enough free space in",
            "available",
            "needs 8388608.0 TiB (9223372036854776",
        ],
    );
}

// -----------------------------------------------------------------------------------------
// File by file (FileStager)
// -----------------------------------------------------------------------------------------

/// Stages every file of the test tree through a FileStager, in `chunk`-byte writes.
fn stage_tree(m: &Manifest, raw: &[u8], dest: &Path, chunk: usize) -> Staged {
    let stager = file_stager(
        "http://mirror.invalid/pigsty",
        m,
        raw,
        Some(SIG),
        &ExtractOptions {
            dest: dest.to_path_buf(),
        },
    )
    .unwrap();
    // In reverse order, and one file started, dropped and started again.
    let mut first = stager.file(DEB).unwrap();
    first.write(b"partial").unwrap();
    drop(first);
    for (path, data, _) in tree_files().into_iter().rev() {
        let mut f = stager.file(path).unwrap();
        for piece in data.chunks(chunk) {
            f.write(piece).unwrap();
        }
        assert_eq!(f.received(), data.len() as u64);
        f.finish().unwrap();
    }
    assert_eq!(stager.received(), tree_files().len());
    stager.finish().unwrap()
}

#[test]
fn stages_file_by_file_like_a_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let (src, m) = tree(dir.path(), |_| {});
    let raw = m.to_json().unwrap().into_bytes();
    let bundle = dir.path().join("bundle.tgz");
    write_bundle(&src, &bundle, BundleFormat::Tgz, EPOCH, &extras(&raw)).unwrap();
    let from_bundle = dir.path().join("a");
    extract_bundle(
        &bundle,
        &m,
        &raw,
        Some(SIG),
        &ExtractOptions {
            dest: from_bundle.clone(),
        },
    )
    .unwrap();

    let dest = dest_with_previous(dir.path());
    let staged = stage_tree(&m, &raw, &dest, 4096);
    // Nothing in place before the commit.
    assert_eq!(
        fs::read(dest.join("pigsty/marker")).unwrap(),
        b"previous install"
    );
    let done = staged.commit().unwrap();
    assert!(done.replaced_previous);
    assert_eq!(done.files, tree_files().len());
    let top = dest.join("pigsty");
    // The same files and folders as the bundle gives.
    let want = snapshot(&from_bundle);
    let mut got = snapshot(&dest);
    got.retain(|(name, _)| name != "other.txt");
    assert!(got == want, "file by file and from the bundle differ");
    for (path, _, _) in tree_files() {
        let meta = fs::metadata(top.join(path)).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o644, "{path}");
        assert_eq!(meta.mtime(), EPOCH as i64, "{path}");
    }
    assert_eq!(
        fs::metadata(top.join("pool")).unwrap().mtime(),
        EPOCH as i64
    );
    assert_eq!(installed_manifest(&dest).unwrap().1, raw);
    let names: Vec<String> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(names, vec!["other.txt", "pigsty"]);
}

#[test]
fn file_stager_refuses_wrong_files_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_, m) = tree(dir.path(), |_| {});
    let raw = m.to_json().unwrap().into_bytes();
    let dest = dest_with_previous(dir.path());
    let before = snapshot(&dest);
    let opts = ExtractOptions { dest: dest.clone() };
    let stager = file_stager("http://mirror.invalid/pigsty", &m, &raw, Some(SIG), &opts).unwrap();
    let data = |p: &str| tree_files().into_iter().find(|f| f.0 == p).unwrap().1;

    let err = stager.file("pool/extra.deb").err().unwrap().to_string();
    assert!(
        err.contains("pool/extra.deb") && err.contains("not listed"),
        "{err}"
    );
    let err = stager.file("../escape").err().unwrap().to_string();
    assert!(err.contains("not listed"), "{err}");

    // A byte past the manifest's size is refused as it comes.
    let mut f = stager.file("zz").unwrap();
    let mut long = data("zz");
    long.push(0);
    let err = f.write(&long).unwrap_err().to_string();
    assert!(
        err.contains("http://mirror.invalid/pigsty: pigsty/zz: size mismatch")
            && err.contains("and more"),
        "{err}"
    );
    drop(f);
    // Being written already: refused; short: refused at the end.
    let mut f = stager.file("zz").unwrap();
    assert!(stager
        .file("zz")
        .err()
        .unwrap()
        .to_string()
        .contains("twice"));
    f.write(&data("zz")[..10]).unwrap();
    let err = f.finish().unwrap_err().to_string();
    assert!(
        err.contains("pigsty/zz: size mismatch (manifest 200000 bytes, received 10)"),
        "{err}"
    );
    // A flipped byte: refused naming the file and both digests.
    let mut f = stager.file(DEB).unwrap();
    let mut bad = data(DEB);
    bad[1000] ^= 1;
    f.write(&bad).unwrap();
    let err = f.finish().unwrap_err().to_string();
    assert!(
        err.contains(&format!("pigsty/{DEB}: sha256 mismatch"))
            && err.contains(&m.file(DEB).unwrap().sha256),
        "{err}"
    );
    // A good one, then a second time.
    let mut f = stager.file("empty.txt").unwrap();
    f.write(b"").unwrap();
    f.finish().unwrap();
    assert!(stager
        .file("empty.txt")
        .err()
        .unwrap()
        .to_string()
        .contains("twice"));
    // Files never received.
    let err = stager.finish().err().unwrap().to_string();
    assert!(
        err.contains("5 file(s) listed in the manifest were not received")
            && err.contains(&format!("pigsty/{DEB}")),
        "{err}"
    );
    assert!(snapshot(&dest) == before, "the destination changed");

    // Dropped half way: nothing left; a destination it created is removed again.
    let fresh = dir.path().join("new/www");
    let stager = file_stager(
        "x",
        &m,
        &raw,
        None,
        &ExtractOptions {
            dest: fresh.clone(),
        },
    )
    .unwrap();
    let mut f = stager.file(DEB).unwrap();
    f.write(&data(DEB)).unwrap();
    f.finish().unwrap();
    drop(stager);
    assert!(!fresh.exists());
    // The manifest given is always the raw one: a SignedManifest is made only by parsing it.
    let _ = opts;
}

/// The signature covers files only: a folder that holds none of the listed files is content
/// nobody signed. One such folder is refused by install and verify alike; 20,000 of them
/// (hostile: millions would eat the node's inodes) too, reading stopping after the first
/// thousand problems; the folders the listed files need are fine with their own entries.
#[test]
fn refuses_folders_no_listed_file_needs() {
    let (m, raw) = good_manifest();
    let dir_item = |name: &str| Item {
        header: header(name, EntryType::Directory, 0, 0o755),
        data: Vec::new(),
    };
    let with_dirs = |names: &[&str]| {
        let mut v = standard(&raw);
        v.extend(names.iter().map(|n| dir_item(n)));
        v
    };
    // The folders of listed files, as entries of their own: accepted.
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ok.tgz");
    write_items(
        &bundle,
        with_dirs(&["pigsty/pool/", "pigsty/bin/"]),
        BundleFormat::Tgz,
    );
    verify_signed(&bundle, &head(&raw, Some(SIG))).unwrap();
    // One folder nobody lists a file in; one inside a listed file's folder; a parent of one.
    for extra in ["pigsty/empty/", "pigsty/pool/sub/", "pigsty/a/b/c/"] {
        refused(
            || with_dirs(&[extra]),
            &m,
            &raw,
            &[extra, "holds none of the manifest's files"],
        );
    }
    // 20,000 of them.
    let many: Vec<String> = (0..20_000).map(|i| format!("pigsty/d{i:05}/")).collect();
    let names: Vec<&str> = many.iter().map(String::as_str).collect();
    let text = {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("many.tgz");
        write_items(&bundle, with_dirs(&names), BundleFormat::Tgz);
        refused_bundle(
            dir.path(),
            &bundle,
            &m,
            &raw,
            Some(SIG),
            &["pigsty/d00000/", "holds none of the manifest's files"],
        )
    };
    let verdict = {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("many.tgz");
        write_items(&bundle, with_dirs(&names), BundleFormat::Tgz);
        verify_signed(&bundle, &head(&raw, Some(SIG))).unwrap_err()
    };
    assert!(
        verdict.problems().len() <= pigsty_bundle::archive::MAX_PROBLEMS + 1
            && verdict.to_string().contains("stopped reading"),
        "{verdict}"
    );
    assert!(text.contains("holds none"), "{text}");
}

/// The installed repo checked against its manifest by the same rules as the bundle: a file
/// with other bytes, one gone, one added, a folder added, a link, a setuid bit are each named.
#[test]
fn an_installed_repo_is_checked_as_its_bundle() {
    let (_, raw) = good_manifest();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tgz");
    write_items(&bundle, standard(&raw), BundleFormat::Tgz);
    let dest = dir.path().join("www");
    let h = head(&raw, Some(SIG));
    super::extract_bundle(&bundle, &h, &dest).unwrap();
    check_installed(&dest, &h).unwrap();
    let top = dest.join("pigsty");
    fs::write(top.join("a.txt"), b"ALPHA\n").unwrap();
    fs::remove_file(top.join("pool/b.deb")).unwrap();
    fs::write(top.join("extra.txt"), b"x").unwrap();
    fs::create_dir(top.join("newdir")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", top.join("bin/link")).unwrap();
    fs::set_permissions(top.join("bin/tool"), fs::Permissions::from_mode(0o4755)).unwrap();
    let text = check_installed(&dest, &h).unwrap_err().to_string();
    for want in [
        "pigsty/a.txt: sha256 mismatch",
        "pigsty/pool/b.deb",
        "pigsty/extra.txt: not listed",
        "pigsty/newdir/: a folder that holds none",
        "pigsty/bin/link: symbolic link to `/etc/passwd`",
        "pigsty/bin/tool: setuid bit",
    ] {
        assert!(text.contains(want), "`{want}` not in: {text}");
    }
}

/// `commit_keeping_previous` keeps the repo it replaces at `.pigsty-previous`, one
/// generation: the one kept before goes.
#[test]
fn keeps_one_previous_generation() {
    let (_, raw) = good_manifest();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("bundle.tgz");
    write_items(&bundle, standard(&raw), BundleFormat::Tgz);
    let dest = dest_with_previous(dir.path());
    let h = head(&raw, Some(SIG));
    let placed = stage_bundle(&bundle, &h, &dest)
        .unwrap()
        .commit_keeping_previous()
        .unwrap();
    assert!(placed.replaced_previous);
    assert_eq!(
        fs::read(dest.join(PREVIOUS).join("marker")).unwrap(),
        b"previous install"
    );
    // Again: the repo just replaced (this bundle) is kept, the older one is gone.
    stage_bundle(&bundle, &h, &dest)
        .unwrap()
        .commit_keeping_previous()
        .unwrap();
    assert!(!dest.join(PREVIOUS).join("marker").exists());
    archive::verify_tree(&dest.join(PREVIOUS), &h).unwrap();
    let mut names: Vec<String> = fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec![".pigsty-previous", "other.txt", "pigsty"]);
}
