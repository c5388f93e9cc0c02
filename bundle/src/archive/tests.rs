//! Tests of the bundle writer and reader: reproducibility, the real tar, gzip and zstd
//! reading what we write, and the verifier naming what is wrong.

use super::*;
use crate::archive::{read_manifest, verify_bundle, Problem};
use crate::fs as bfs;
use crate::fs::with_suffix;
use crate::manifest::{PackageEntry, SCHEMA};
use crate::target::{Arch, Os, Target};
use std::fs;
use std::process::Command;
use std::time::{Duration, SystemTime};

const EPOCH: u64 = 1_700_000_000;
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
        (
            "dists/bookworm/main/binary-amd64/Packages",
            b"Package: foo\n".to_vec(),
            false,
        ),
        ("bin/install.sh", b"#!/bin/sh\necho hi\n".to_vec(), true),
        ("empty.txt", Vec::new(), false),
        ("pool-notes", b"x".to_vec(), false),
    ]
}

/// Creates the test tree under `root`, in creation order `reverse` or not, with on-disk
/// modes and mtimes that depend on `variant`.
fn make_tree(root: &Path, reverse: bool, variant: u32) {
    let mut files = tree_files();
    if reverse {
        files.reverse();
    }
    fs::create_dir_all(root.join("empty-dir")).unwrap();
    for (i, (path, data, exec)) in files.iter().enumerate() {
        let p = root.join(path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
        let mode = match (exec, variant) {
            (true, 0) => 0o755,
            (true, _) => 0o700,
            (false, 0) => 0o644,
            (false, _) => 0o600,
        };
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        let when = SystemTime::UNIX_EPOCH
            + Duration::from_secs(1_600_000_000 + (i as u64) * 7 + variant as u64 * 1000);
        File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    if variant != 0 {
        fs::set_permissions(root.join("dists"), fs::Permissions::from_mode(0o700)).unwrap();
    }
}

fn manifest_for(root: &Path) -> Manifest {
    Manifest {
        schema: SCHEMA,
        target: Target::new(Os::D12, Arch::X86_64, 17),
        version: "v4.0.0".into(),
        builder: "pigsty-build 0.1.0".into(),
        catalog: "test".into(),
        created: EPOCH,
        files: file_entries(root).unwrap(),
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: DEB.into(),
            repo: "pigsty".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec!["foo".into()],
        handoff: None,
        key_fingerprint: None,
        family: crate::Family::Deb,
        package_keys: Vec::new(),
        base: None,
    }
}

fn extras(m: &Manifest) -> Vec<(String, Vec<u8>)> {
    vec![
        (
            "pigsty/MANIFEST.json".into(),
            m.to_json().unwrap().into_bytes(),
        ),
        (
            "MANIFEST.json.asc".into(),
            b"-----BEGIN PGP SIGNATURE-----\n".to_vec(),
        ),
    ]
}

/// A tree with its manifest, written as a bundle of `format` in `dir`.
fn bundle_in(dir: &Path, format: BundleFormat) -> (PathBuf, PathBuf, BundleInfo) {
    let src = dir.join("src");
    make_tree(&src, false, 0);
    let m = manifest_for(&src);
    let out = dir.join(format!("bundle{}", format.extension()));
    let info = write_bundle(&src, &out, format, EPOCH, &extras(&m)).unwrap();
    (src, out, info)
}

fn problems(err: BundleError) -> Vec<Problem> {
    match err {
        BundleError::Verify { problems, .. } => problems,
        other => panic!("expected a verification failure, got {other}"),
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file extracted under `dir/pigsty` equals the source tree or the extras.
fn same_as_source(extracted: &Path, src: &Path, m: &Manifest) {
    let top = extracted.join(TOP);
    for (path, data, _) in tree_files() {
        assert_eq!(fs::read(top.join(path)).unwrap(), data, "{path}");
        assert_eq!(fs::read(src.join(path)).unwrap(), data);
    }
    assert_eq!(
        fs::read(top.join(MANIFEST_NAME)).unwrap(),
        m.to_json().unwrap().as_bytes()
    );
    // By design, a folder with no file in it is no part of a bundle.
    assert!(!top.join("empty-dir").exists());
    assert!(top.join("dists/bookworm").is_dir());
    let mode = |p: &str| fs::metadata(top.join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("bin/install.sh"), 0o755);
    assert_eq!(mode(DEB), 0o644);
    let mtime = fs::metadata(top.join(DEB)).unwrap().modified().unwrap();
    assert_eq!(mtime, SystemTime::UNIX_EPOCH + Duration::from_secs(EPOCH));
}

#[test]
fn formats_from_names() {
    assert_eq!(
        BundleFormat::from_path_name(Path::new("/x/a.tgz")),
        Some(BundleFormat::Tgz)
    );
    assert_eq!(
        BundleFormat::from_path_name(Path::new("a.tar.gz")),
        Some(BundleFormat::Tgz)
    );
    assert_eq!(
        BundleFormat::from_path_name(Path::new("a.TAR.ZST")),
        Some(BundleFormat::TarZst)
    );
    assert_eq!(BundleFormat::from_path_name(Path::new("a.tar")), None);
    assert_eq!(BundleFormat::TarZst.extension(), ".tar.zst");
}

#[test]
fn byte_identical_from_any_copy_of_the_tree() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        make_tree(&a, false, 0);
        make_tree(&b, true, 1);
        let m = manifest_for(&a);
        assert_eq!(m, manifest_for(&b));
        let ext = format.extension();
        let outs = [
            write_bundle(
                &a,
                &dir.path().join(format!("1{ext}")),
                format,
                EPOCH,
                &extras(&m),
            )
            .unwrap(),
            write_bundle(
                &a,
                &dir.path().join(format!("2{ext}")),
                format,
                EPOCH,
                &extras(&m),
            )
            .unwrap(),
            write_bundle(
                &b,
                &dir.path().join(format!("3{ext}")),
                format,
                EPOCH,
                &extras(&m),
            )
            .unwrap(),
        ];
        let first = fs::read(&outs[0].path).unwrap();
        assert_eq!(first.len() as u64, outs[0].size);
        assert_eq!(hex::encode(Sha256::digest(&first)), outs[0].sha256);
        for o in &outs[1..] {
            assert_eq!(
                fs::read(&o.path).unwrap(),
                first,
                "{format}: {}",
                o.path.display()
            );
            assert_eq!(o.sha256, outs[0].sha256);
        }
        // Another mtime gives another bundle.
        let other = write_bundle(
            &a,
            &dir.path().join(format!("4{ext}")),
            format,
            EPOCH + 1,
            &extras(&m),
        )
        .unwrap();
        assert_ne!(other.sha256, outs[0].sha256);
    }
}

/// An error and its causes, as the binaries print them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Packing options with no extras and no manifest check.
fn pack(format: BundleFormat) -> Pack<'static> {
    Pack {
        format,
        mtime: EPOCH,
        extra: &[],
        skip: &[],
        expect: None,
    }
}

#[test]
fn zstd_output_does_not_depend_on_the_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let m = manifest_for(&src);
    let extra = extras(&m);
    let entries = collect_entries(&src, &extra).unwrap();
    let one = write_entries(
        &entries,
        &dir.path().join("1.tar.zst"),
        &pack(BundleFormat::TarZst),
        1,
    )
    .unwrap();
    let four = write_entries(
        &entries,
        &dir.path().join("4.tar.zst"),
        &pack(BundleFormat::TarZst),
        4,
    )
    .unwrap();
    assert_eq!(one.sha256, four.sha256);
}

#[test]
fn entry_order_owner_and_modes() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, _) = bundle_in(dir.path(), BundleFormat::Tgz);
    let listing = run(Command::new("tar").arg("-tzf").arg(&out));
    let names: Vec<&str> = listing.lines().collect();
    assert_eq!(
        &names[..3],
        &[
            "pigsty/",
            "pigsty/MANIFEST.json",
            "pigsty/MANIFEST.json.asc"
        ]
    );
    let rest = &names[3..];
    let mut sorted = rest.to_vec();
    sorted.sort_by(|a, b| a.trim_end_matches('/').cmp(b.trim_end_matches('/')));
    assert_eq!(rest, &sorted[..]);
    assert!(names.contains(&format!("pigsty/{LONG}").as_str()));
    // Folders with files come with their own entries; an empty one is left out (a reader
    // refuses a folder no listed file needs).
    assert!(names.contains(&"pigsty/dists/bookworm/"));
    assert!(!names.contains(&"pigsty/empty-dir/"));
    let verbose = run(Command::new("tar")
        .args(["--numeric-owner", "-tvzf"])
        .arg(&out));
    for line in verbose.lines() {
        assert!(line.contains(" 0/0 "), "{line}");
        assert!(
            line.starts_with("drwxr-xr-x")
                || line.starts_with("-rw-r--r--")
                || line.starts_with("-rwxr-xr-x"),
            "{line}"
        );
        assert!(line.contains("2023-11-14"), "{line}");
    }
}

#[test]
fn real_tar_and_zstd_extract_tgz_and_tar_zst() {
    let dir = tempfile::tempdir().unwrap();
    let (src, tgz, _) = bundle_in(dir.path(), BundleFormat::Tgz);
    let m = manifest_for(&src);
    let zst = dir.path().join("b.tar.zst");
    write_bundle(&src, &zst, BundleFormat::TarZst, EPOCH, &extras(&m)).unwrap();

    let x1 = dir.path().join("x1");
    fs::create_dir(&x1).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&tgz).arg("-C").arg(&x1));
    same_as_source(&x1, &src, &m);

    let x2 = dir.path().join("x2");
    fs::create_dir(&x2).unwrap();
    run(Command::new("tar")
        .arg("--zstd")
        .arg("-xf")
        .arg(&zst)
        .arg("-C")
        .arg(&x2));
    same_as_source(&x2, &src, &m);

    let x3 = dir.path().join("x3");
    fs::create_dir(&x3).unwrap();
    let script = "zstd -dc \"$1\" | tar -x -C \"$2\"";
    run(Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&zst)
        .arg(&x3));
    same_as_source(&x3, &src, &m);

    let x4 = dir.path().join("x4");
    fs::create_dir(&x4).unwrap();
    let script = "gzip -dc \"$1\" | tar -x -C \"$2\"";
    run(Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&tgz)
        .arg(&x4));
    same_as_source(&x4, &src, &m);
}

#[test]
fn tgz_stores_packages_and_compresses_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("pool")).unwrap();
    let text: Vec<u8> = (0..20_000)
        .flat_map(|i| format!("Package: pkg-{i}\nVersion: 1.{i}\n\n").into_bytes())
        .collect();
    let files = [
        ("Packages", text.clone()),
        ("pool/a_1.0_amd64.deb", noise(7, 200_000)),
        ("pool/b.txt", text.clone()),
        ("pool/c_1.0_amd64.DEB", noise(8, 200_000)),
        ("zz.txt", text.clone()),
    ];
    for (path, data) in &files {
        fs::write(src.join(path), data).unwrap();
    }
    let out = dir.path().join("b.tgz");
    let info = write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap();
    assert!(
        info.size > 400_000 && info.size < 400_000 + 3 * text.len() as u64 / 5,
        "{} for {}",
        info.size,
        3 * text.len()
    );
    run(Command::new("gzip").arg("-t").arg(&out));
    let x = dir.path().join("x");
    fs::create_dir(&x).unwrap();
    run(Command::new("tar").arg("-xzf").arg(&out).arg("-C").arg(&x));
    for (path, data) in &files {
        assert_eq!(&fs::read(x.join(TOP).join(path)).unwrap(), data, "{path}");
    }
}

#[test]
fn sha256sum_accepts_the_checksum_file() {
    let dir = tempfile::tempdir().unwrap();
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let (_, out, info) = bundle_in(&dir.path().join(format.to_string()), format);
        let sum_file = with_suffix(&out, ".sha256");
        let text = fs::read_to_string(&sum_file).unwrap();
        assert_eq!(
            text,
            format!("{}  bundle{}\n", info.sha256, format.extension())
        );
        let ok = run(Command::new("sha256sum")
            .arg("-c")
            .arg(sum_file.file_name().unwrap())
            .current_dir(out.parent().unwrap()));
        assert!(ok.contains(": OK"), "{ok}");
    }
}

#[test]
fn verifies_and_reads_the_manifest() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (src, out, _) = bundle_in(dir.path(), format);
        let want = manifest_for(&src);
        let (m, asc) = read_manifest(&out).unwrap();
        assert_eq!(m, want);
        assert_eq!(
            asc.as_deref(),
            Some(&b"-----BEGIN PGP SIGNATURE-----\n"[..])
        );
        assert_eq!(verify_bundle(&out).unwrap(), want);
    }
}

#[test]
fn names_a_changed_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let m = manifest_for(&src);
    let mut data = fs::read(src.join(DEB)).unwrap();
    data[1000] ^= 1;
    fs::write(src.join(DEB), &data).unwrap();
    let out = dir.path().join("b.tgz");
    write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &extras(&m)).unwrap();
    let err = verify_bundle(&out).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("pigsty/pool/main/f/foo/foo_1.0_amd64.deb: sha256 mismatch"),
        "{text}"
    );
    let want = m.file(DEB).unwrap().sha256.clone();
    assert!(
        matches!(&problems(err)[..], [Problem::Sha256Mismatch { path, expected, found }]
            if *path == format!("pigsty/{DEB}") && *expected == want && *found != want),
        "{text}"
    );
}

#[test]
fn names_missing_unlisted_and_resized_files() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let m = manifest_for(&src);
    fs::remove_file(src.join("dists/bookworm/Release")).unwrap();
    fs::write(src.join("pool/stray.rpm"), b"stray").unwrap();
    fs::write(src.join("pool-notes"), b"longer").unwrap();
    let out = dir.path().join("b.tar.zst");
    write_bundle(&src, &out, BundleFormat::TarZst, EPOCH, &extras(&m)).unwrap();
    let mut found = problems(verify_bundle(&out).unwrap_err());
    found.sort_by_key(|p| p.to_string());
    assert_eq!(
        found,
        vec![
            Problem::Missing {
                path: "pigsty/dists/bookworm/Release".into()
            },
            Problem::SizeMismatch {
                path: "pigsty/pool-notes".into(),
                expected: 1,
                found: 6
            },
            Problem::Unlisted {
                path: "pigsty/pool/stray.rpm".into()
            },
        ]
    );
}

#[test]
fn reports_truncated_and_corrupt_bundles() {
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let dir = tempfile::tempdir().unwrap();
        let (_, out, _) = bundle_in(dir.path(), format);
        let full = fs::read(&out).unwrap();
        for cut in [1usize, 8 << 10, 100 << 10] {
            let short = dir
                .path()
                .join(format!("short-{cut}{}", format.extension()));
            fs::write(&short, &full[..full.len() - cut]).unwrap();
            let err = verify_bundle(&short).unwrap_err();
            let text = err.to_string();
            let found = problems(err);
            assert!(
                matches!(found.last(), Some(Problem::Truncated { .. })),
                "{format} cut {cut}: {text}"
            );
            assert!(text.contains("truncated archive"), "{text}");
            // The manifest, at the start, still reads.
            assert!(read_manifest(&short).is_ok());
        }
        // A byte flipped in the middle of the compressed stream.
        let mut bad = full.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        let flipped = dir.path().join(format!("flipped{}", format.extension()));
        fs::write(&flipped, &bad).unwrap();
        let err = verify_bundle(&flipped).unwrap_err();
        assert!(matches!(err, BundleError::Verify { .. }), "{format}: {err}");
        // Cut inside the manifest.
        let head = dir.path().join(format!("head{}", format.extension()));
        fs::write(&head, &full[..600]).unwrap();
        let err = read_manifest(&head).unwrap_err();
        assert!(
            matches!(err, BundleError::Truncated { .. }),
            "{format}: {err}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.tgz");
    fs::write(&junk, b"PK\x03\x04 not a bundle").unwrap();
    let err = verify_bundle(&junk).unwrap_err().to_string();
    assert!(
        err.contains("not a gzip or zstd bundle (starts with 50 4b 03 04)"),
        "{err}"
    );
}

#[test]
fn a_bundle_without_manifest_first_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let out = dir.path().join("b.tgz");
    write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap();
    let err = read_manifest(&out).unwrap_err().to_string();
    assert!(
        err.contains("pigsty/bin/ comes before pigsty/MANIFEST.json"),
        "{err}"
    );
    assert!(verify_bundle(&out).is_err());
}

/// The names in `dir`, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[cfg(unix)]
#[test]
fn refuses_symlinks_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    std::os::unix::fs::symlink("foo_1.0_amd64.deb", src.join("pool/main/f/foo/foo.deb")).unwrap();
    let out = dir.path().join("b.tgz");
    let err = write_bundle(&src, &out, BundleFormat::Tgz, EPOCH, &[]).unwrap_err();
    assert!(matches!(err, BundleError::Symlink { .. }));
    assert!(
        err.to_string()
            .contains("pool/main/f/foo/foo.deb: is a symbolic link"),
        "{err}"
    );
    assert_eq!(names(dir.path()), vec!["src"]);
}

#[test]
fn a_file_changing_mid_way_leaves_the_old_bundle_alone() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let out = dir.path().join("b.tar.zst");
    fs::write(&out, b"old bundle").unwrap();
    fs::write(with_suffix(&out, ".sha256"), b"old sum").unwrap();
    for (change, want) in [
        ("shrink", "shorter"),
        ("grow", "grew"),
        ("remove", "No such file"),
    ] {
        let entries = collect_entries(&src, &[]).unwrap();
        let victim = src.join(LONG);
        let original = fs::read(&victim).unwrap();
        match change {
            "shrink" => fs::write(&victim, &original[..10]).unwrap(),
            "grow" => fs::write(&victim, [&original[..], b"more"].concat()).unwrap(),
            _ => fs::remove_file(&victim).unwrap(),
        }
        for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
            let err = write_entries(&entries, &out, &pack(format), 2).unwrap_err();
            let text = chain(&err);
            assert!(
                text.contains(LONG) && text.contains(want),
                "{change}: {text}"
            );
            assert_eq!(fs::read(&out).unwrap(), b"old bundle");
            assert_eq!(
                names(dir.path()),
                vec!["b.tar.zst", "b.tar.zst.sha256", "src"]
            );
        }
        fs::write(&victim, &original).unwrap();
    }
    // A folder that does not exist.
    let err = write_bundle(
        &src,
        &dir.path().join("no/b.tgz"),
        BundleFormat::Tgz,
        EPOCH,
        &[],
    )
    .unwrap_err();
    assert!(err.to_string().contains("no"), "{err}");
    assert_eq!(
        names(dir.path()),
        vec!["b.tar.zst", "b.tar.zst.sha256", "src"]
    );
}

#[test]
fn refuses_when_space_is_short() {
    let dir = tempfile::tempdir().unwrap();
    let err = bfs::check_space(dir.path(), u64::MAX / 2, "the bundle needs up to")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("not enough free space")
            && err.contains("needs up to")
            && err.contains("(9223372036854775807 bytes)")
            && err.contains("available"),
        "{err}"
    );
    bfs::check_space(dir.path(), 1, "the bundle needs up to").unwrap();
}

#[test]
fn extras_make_their_folders_and_do_not_clash() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    make_tree(&src, false, 0);
    let extra = vec![("keys/pigsty.asc".to_string(), b"key".to_vec())];
    let entries = collect_entries(&src, &extra).unwrap();
    let paths: Vec<String> = entries.iter().map(|e| e.archive_path()).collect();
    assert!(
        paths.contains(&"pigsty/keys/".to_string())
            && paths.contains(&"pigsty/keys/pigsty.asc".to_string())
    );
    let clash = vec![("dists/bookworm/Release".to_string(), b"x".to_vec())];
    assert!(matches!(
        collect_entries(&src, &clash),
        Err(BundleError::DuplicateEntry { .. })
    ));
    let escape = vec![("../evil".to_string(), b"x".to_vec())];
    assert!(matches!(
        collect_entries(&src, &escape),
        Err(BundleError::BadExtra { .. })
    ));
    let under_file = vec![("empty.txt/x".to_string(), b"x".to_vec())];
    assert!(matches!(
        collect_entries(&src, &under_file),
        Err(BundleError::BadExtra { .. })
    ));
}
