//! Tests of `pigsty_build::dnf::repo::write_repodata` against the real tools: the same folder of real
//! rpm files (built with the `rpm` crate, plus a binary and a source rpm from the host's real
//! `rpmbuild` with its dependency generator) indexed by `createrepo_c --no-database` 0.17.3
//! and by us, compared package by package, line by line (one field per line); and Debian's
//! dnf 4.14 reading both, gz and zst.
//!
//! What differs by design (see the `dnf` module documentation), and is not compared:
//! - `<time file=...>` in primary.xml: createrepo_c takes the rpm's mtime, we take
//!   `RepodataOptions::timestamp` (checked to be that);
//! - in repomd.xml: `revision` and every `timestamp` (createrepo_c: the clock; we:
//!   `timestamp`), the compressed files' checksums, sizes and names (another compressor),
//!   and primary's `open-checksum` / `open-size` (they cover the `time file` values).
//!
//! Everything else is asserted equal: every package, in the same order, with every line of
//! its primary, filelists and other entries (name, arch, epoch / version / release,
//! checksum, summary, description, packager, url, build time, sizes, location, license,
//! vendor, group, buildhost, sourcerpm, header range, provides, requires with `pre`,
//! conflicts, obsoletes, the four weak dependency lists, primary and full file lists with
//! their types, changelogs), and the `open-checksum` / `open-size` of filelists and other.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_build::dnf::repo::{
    write_repodata, Dialect, DnfRepoError, HeaderError, RepodataCompression, RepodataOptions,
    RpmFile,
};
use rpm::{BuildConfig, CompressionType, Dependency, DependencyFlags, FileOptions, PackageBuilder};
use sha2::{Digest, Sha256};

const TIMESTAMP: u64 = 1_700_000_000;

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(fs::read(path).unwrap()))
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn with_flags(mut d: Dependency, flags: DependencyFlags) -> Dependency {
    d.flags |= flags;
    d
}

/// Builds the test rpms into `dir` and lists them as the builder would (sha256 and size
/// known from the download).
fn fixture(dir: &Path) -> Vec<RpmFile> {
    fs::create_dir_all(dir.join("sub")).unwrap();
    let cfg = BuildConfig::v4()
        .compression(CompressionType::Gzip)
        .source_date(1_690_000_000u32);
    let write = |b: &mut PackageBuilder, name: &str| {
        b.build().unwrap().write_file(dir.join(name)).unwrap();
    };

    // An extension with an epoch, file and rich deps, every list, XML-special text and more
    // changelog entries than the limit, some at the same time.
    let mut b = PackageBuilder::new(
        "pgvector_17",
        "0.8.0",
        "PostgreSQL & <MIT>",
        "x86_64",
        "vector <similarity> search & \"more\" 'quoted' é ✓ 😀 ]]>",
    );
    b.using_config(cfg)
        .epoch(1)
        .release("1PGDG.rhel9")
        .description(
            "Open-source vector similarity search.\n  <b>not a tag</b> & done\n\n\ttabbed ",
        )
        .url("https://example.org/pgvector?a=1&b=<2>")
        .vendor("PGDG \"vendor\"")
        .packager("Packager <p@example.org>")
        .group("Applications/Databases")
        .build_host("builder.example")
        .with_file_contents("so", FileOptions::new("/usr/pgsql-17/lib/vector.so"))
        .unwrap()
        .with_dir_entry(FileOptions::dir("/usr/pgsql-17/share/extension"))
        .unwrap()
        .with_file_contents(
            "sql",
            FileOptions::new("/usr/pgsql-17/share/extension/vector & <x>.sql"),
        )
        .unwrap()
        .requires(Dependency::greater_eq("postgresql17-server", "17.0"))
        .requires(Dependency::any("(pgvector_17-llvmjit if llvm)"))
        .requires(with_flags(
            Dependency::any("/bin/sh"),
            DependencyFlags::PREREQ,
        ))
        .requires(Dependency::rpmlib("CompressedFileNames", "3.0.4-1"))
        .requires(Dependency::greater_eq("bad-epoch", "x:1.0-1"))
        .requires(Dependency::greater_eq("two-dashes", "1.0-1-2"))
        .requires(Dependency::greater_eq("epoch-only", "2:"))
        .requires(with_flags(
            Dependency::any("old-style-weak"),
            DependencyFlags::MISSINGOK,
        ))
        .provides(Dependency::eq("vector", "0.8.0"))
        .provides(Dependency::eq("pgvector", "1:0.8.0-1"))
        .conflicts(Dependency::less("pgvector", "0.5"))
        .obsoletes(Dependency::less_eq("pgvector_17-old", "1:0.7-9"))
        .recommends(Dependency::any("pgvector_17-llvmjit"))
        .suggests(Dependency::greater("pg_docs", "1"))
        .supplements(Dependency::any("(postgresql17-server and pgvector)"))
        .enhances(Dependency::any("postgresql17-server"))
        .pre_install_script("true");
    for i in 0..12u32 {
        b.add_changelog_entry(
            format!("Dev {i} <dev{i}@example.org> & \"q\" \t é  "),
            format!("- change {i} <&>\n- second line"),
            1_680_000_000 - (i / 3) * 86_400,
        );
    }
    write(&mut b, "pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm");

    // A server: binaries, config, ghosts, requires of its own files and provides, libc.
    let mut b = PackageBuilder::new(
        "postgresql17-server",
        "17.2",
        "PostgreSQL",
        "x86_64",
        "the server",
    );
    b.using_config(cfg)
        .release("1PGDG.rhel9")
        .with_file_contents(
            "#!/bin/sh\n",
            FileOptions::new("/usr/pgsql-17/bin/postgres"),
        )
        .unwrap()
        .with_file_contents("x", FileOptions::new("/usr/pgsql-17/lib/libpq.so.5"))
        .unwrap()
        .with_file_contents(
            "conf",
            FileOptions::new("/etc/sysconfig/pgsql/postgresql-17").config(),
        )
        .unwrap()
        .with_file_contents("x", FileOptions::new("/usr/lib/sendmail"))
        .unwrap()
        .with_dir_entry(FileOptions::dir("/etc/postgresql"))
        .unwrap()
        .with_ghost(FileOptions::ghost("/var/run/postgresql/.s.PGSQL.5432"))
        .unwrap()
        .with_ghost(FileOptions::ghost("/etc/postgresql/ghost.conf"))
        .unwrap()
        .with_ghost(FileOptions::ghost_dir("/var/run/postgresql"))
        .unwrap()
        .with_symlink(FileOptions::symlink(
            "/usr/bin/postgres",
            "/usr/pgsql-17/bin/postgres",
        ))
        .unwrap()
        .requires(Dependency::any("/usr/pgsql-17/bin/postgres"))
        .requires(Dependency::any("/usr/pgsql-17/lib/libpq.so.5"))
        .requires(Dependency::any("/usr/lib/sendmail"))
        .requires(Dependency::eq("postgresql17-libs", "17.2-1PGDG.rhel9"))
        .requires(Dependency::greater_eq(
            "postgresql17-libs",
            "17.2-1PGDG.rhel9",
        ))
        .requires(Dependency::greater_eq("duplicate", "1.0"))
        .requires(Dependency::greater_eq("duplicate", "1.0"))
        .requires(Dependency::any("libc.so.6()(64bit)"))
        .requires(Dependency::any("libc.so.6(GLIBC_2.34)(64bit)"))
        .requires(Dependency::any("libc.so.6(GLIBC_2.4)(64bit)"))
        .requires(Dependency::any("libm.so.6(GLIBC_2.2.5)(64bit)"))
        .requires(Dependency::user("postgres"))
        .requires(Dependency::script_post("systemd"))
        .requires(Dependency::script_preun("preun-only"))
        .requires(with_flags(
            Dependency::any("posttrans-only"),
            DependencyFlags::POSTTRANS,
        ))
        .provides(Dependency::eq("postgresql17-libs", "17.2-1PGDG.rhel9"))
        .provides(Dependency::any("postgresql-server"))
        .add_changelog_entry("Author  ", "- one", 1_700_000_000u32);
    write(&mut b, "postgresql17-server-17.2-1PGDG.rhel9.x86_64.rpm");

    // noarch, `~` and `^` versions, a file requirement on another package.
    let mut b = PackageBuilder::new("pg_docs", "1.0~rc1", "MIT", "noarch", "docs");
    b.using_config(cfg)
        .release("0.1")
        .with_file_contents("doc", FileOptions::new("/usr/share/doc/pg_docs/README"))
        .unwrap()
        .requires(Dependency::any("/usr/pgsql-17/bin/postgres"));
    write(&mut b, "pg_docs-1.0~rc1-0.1.noarch.rpm");
    let mut b = PackageBuilder::new("pg_snapshot", "2.0^20240101git1", "MIT", "aarch64", "snap");
    b.using_config(cfg)
        .epoch(3)
        .with_file_contents("x", FileOptions::new("/opt/pg/sbin/snap"))
        .unwrap();
    write(&mut b, "pg_snapshot-2.0^20240101git1-1.aarch64.rpm");

    // Libraries: a directory tree, sonames provided, a weak reverse dependency.
    let mut b = PackageBuilder::new("postgresql17-libs", "17.2", "PostgreSQL", "x86_64", "libs");
    b.using_config(cfg)
        .release("1PGDG.rhel9")
        .with_dir_entry(FileOptions::dir("/usr/pgsql-17"))
        .unwrap()
        .with_dir_entry(FileOptions::dir("/usr/pgsql-17/lib"))
        .unwrap()
        .with_file_contents("x", FileOptions::new("/usr/pgsql-17/lib/libpq.so.5.17"))
        .unwrap()
        .with_symlink(FileOptions::symlink(
            "/usr/pgsql-17/lib/libpq.so.5",
            "libpq.so.5.17",
        ))
        .unwrap()
        .provides(Dependency::any("libpq.so.5()(64bit)"))
        .provides(Dependency::any("libpq.so.5(RHPG_17)(64bit)"))
        .supplements(Dependency::any("postgresql17-server"));
    write(&mut b, "postgresql17-libs-17.2-1PGDG.rhel9.x86_64.rpm");

    // The same package twice under two locations, and one in a subfolder: the order.
    for name in ["sub/a-pkg.rpm", "z-pkg.rpm", "a-pkg.rpm"] {
        let mut b = PackageBuilder::new("plain", "1", "MIT", "noarch", "plain");
        b.using_config(cfg);
        write(&mut b, name);
    }
    // Nothing but a name.
    let mut b = PackageBuilder::new("bare", "0", "", "x86_64", "");
    b.using_config(cfg);
    write(&mut b, "bare-0-1.x86_64.rpm");

    // A summary that is Latin-1, not UTF-8 (old packages have those).
    let mut b = PackageBuilder::new("latin", "1", "MIT", "noarch", "caf\u{e9}!");
    b.using_config(cfg);
    write(&mut b, "latin-1-1.noarch.rpm");
    let path = dir.join("latin-1-1.noarch.rpm");
    let bytes = fs::read(&path).unwrap();
    let at = bytes
        .windows(6)
        .position(|w| w == b"caf\xc3\xa9!")
        .expect("summary bytes");
    let mut patched = bytes.clone();
    patched[at..at + 6].copy_from_slice(b"caf\xe9!!");
    fs::write(&path, patched).unwrap();

    rpmbuild(dir);

    let mut files = Vec::new();
    list(dir, "", &mut files);
    files
}

fn list(dir: &Path, rel: &str, out: &mut Vec<RpmFile>) {
    for entry in fs::read_dir(dir.join(rel)).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let rel = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.file_type().unwrap().is_dir() {
            if name != "repodata" && !name.starts_with('.') {
                list(dir, &rel, out);
            }
        } else if name.ends_with(".rpm") {
            out.push(RpmFile {
                sha256: sha256_file(&entry.path()),
                size: entry.metadata().unwrap().len(),
                location: rel,
            });
        }
    }
}

/// A binary rpm with an ELF file (so rpmbuild's generator adds `libc.so.6(...)` and
/// `rtld(...)` requires and `rpmlib(...)` ones), scriptlets, `%config`, `%ghost`, and its
/// source rpm, built by the host's real rpmbuild.
fn rpmbuild(dir: &Path) {
    if !have("rpmbuild") {
        eprintln!("rpmbuild not found: no rpmbuild-made packages in the fixture");
        return;
    }
    let top = tempfile::tempdir().unwrap();
    let spec = top.path().join("rbtest.spec");
    fs::write(
        &spec,
        "Name: rbtest\nVersion: 1.2\nRelease: 3\nEpoch: 2\nSummary: rpmbuild & <test>\n\
         License: MIT\nRequires(pre): /bin/sh\nRequires(post): coreutils\n\
         Requires: postgresql17-server >= 17.0\nRecommends: pg_docs\n\
         %description\nReal rpmbuild output.\n\
         %install\nmkdir -p %{buildroot}/usr/bin %{buildroot}/etc/rbtest %{buildroot}/usr/lib/rbtest\n\
         cp /bin/true %{buildroot}/usr/bin/rbtrue\necho c > %{buildroot}/etc/rbtest/rb.conf\n\
         echo d > %{buildroot}/usr/lib/rbtest/data\n\
         %pre\ntrue\n%post\ntrue\n\
         %files\n/usr/bin/rbtrue\n%config(noreplace) /etc/rbtest/rb.conf\n%dir /usr/lib/rbtest\n\
         /usr/lib/rbtest/data\n%ghost /var/log/rbtest.log\n\
         %changelog\n* Mon Jan 01 2024 Tester <t@example.org> - 2:1.2-3\n- first & <only> entry\n",
    )
    .unwrap();
    let out = Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", top.path().display()))
        .args(["--define", "__os_install_post %{nil}", "-ba"])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rpmbuild: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for sub in ["RPMS/x86_64", "SRPMS"] {
        for e in fs::read_dir(top.path().join(sub)).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), dir.join(e.file_name())).unwrap();
        }
    }
}

/// A copy of the fixture's rpm files (same bytes) in a new folder.
fn copy_rpms(from: &Path, files: &[RpmFile]) -> tempfile::TempDir {
    let to = tempfile::tempdir().unwrap();
    for f in files {
        let dest = to.path().join(&f.location);
        fs::create_dir_all(dest.parent().unwrap()).unwrap();
        fs::copy(from.join(&f.location), dest).unwrap();
    }
    to
}

fn opts(compression: RepodataCompression, workers: usize) -> RepodataOptions {
    RepodataOptions {
        compression,
        timestamp: TIMESTAMP,
        workers,
        dialect: host_dialect(),
    }
}

/// The dialect of the createrepo_c on this host, which the comparisons run: Debian 12 has
/// 0.20 (EL9's generation), Debian 13 1.2 (EL10's). `Requires(posttrans)` and
/// `Requires(pretrans)` are `pre="1"` from 1.0 on.
fn host_dialect() -> Dialect {
    let out = Command::new("createrepo_c")
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let major: u32 = text
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("createrepo_c --version: {text}"));
    if major >= 1 {
        Dialect::Current
    } else {
        Dialect::Legacy
    }
}

fn createrepo_c(dir: &Path) {
    let out = Command::new("createrepo_c")
        .args(["--quiet", "--no-database", "--workers", "2"])
        .arg(dir)
        .output()
        .expect("run createrepo_c");
    assert!(
        out.status.success(),
        "createrepo_c: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One `<data>` of repomd.xml: (location, checksum, open-checksum, size, open-size, timestamp).
#[derive(Debug)]
struct Record {
    location: String,
    checksum: String,
    open_checksum: String,
    size: u64,
    open_size: u64,
    timestamp: u64,
}

/// The text between `<tag` ... `>` and `</tag>` after `from`.
fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).unwrap_or_else(|| panic!("no {open} in {s}")) + open.len();
    let start = start + s[start..].find('>').unwrap() + 1;
    let end = start + s[start..].find(close).unwrap();
    &s[start..end]
}

fn repomd(dir: &Path) -> (String, BTreeMap<String, Record>) {
    let text = fs::read_to_string(dir.join("repodata/repomd.xml")).unwrap();
    let revision = between(&text, "<revision", "</revision>").to_string();
    let mut out = BTreeMap::new();
    for part in text.split("<data type=\"").skip(1) {
        let kind = part[..part.find('"').unwrap()].to_string();
        let href = part.find("href=\"").unwrap() + 6;
        out.insert(
            kind,
            Record {
                location: part[href..href + part[href..].find('"').unwrap()].to_string(),
                checksum: between(part, "<checksum", "</checksum>").to_string(),
                open_checksum: between(part, "<open-checksum", "</open-checksum>").to_string(),
                size: between(part, "<size", "</size>").parse().unwrap(),
                open_size: between(part, "<open-size", "</open-size>").parse().unwrap(),
                timestamp: between(part, "<timestamp", "</timestamp>").parse().unwrap(),
            },
        );
    }
    (revision, out)
}

/// The decompressed content of a metadata file.
fn decompress(path: &Path) -> String {
    let file = fs::File::open(path).unwrap();
    let mut text = String::new();
    let name = path.to_string_lossy();
    if name.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap();
    } else if name.ends_with(".zst") {
        zstd::stream::read::Decoder::new(file)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
    } else {
        panic!("unknown compression: {name}");
    }
    text
}

/// The documents of a repository, by kind, with the repomd record checked against the file.
fn documents(dir: &Path) -> BTreeMap<String, String> {
    let (_, records) = repomd(dir);
    let mut out = BTreeMap::new();
    for (kind, r) in &records {
        let path = dir.join(&r.location);
        assert_eq!(r.checksum, sha256_file(&path), "{kind} checksum");
        assert_eq!(r.size, fs::metadata(&path).unwrap().len(), "{kind} size");
        assert!(
            r.location
                .starts_with(&format!("repodata/{}-{kind}.xml.", r.checksum)),
            "{kind}: {}",
            r.location
        );
        let text = decompress(&path);
        assert_eq!(
            r.open_checksum,
            hex::encode(Sha256::digest(&text)),
            "{kind}"
        );
        assert_eq!(r.open_size, text.len() as u64, "{kind}");
        out.insert(kind.clone(), text);
    }
    out
}

/// A document split into its prologue, its `<package` elements and its closing tag.
fn split_packages(doc: &str) -> (String, Vec<String>, String) {
    let mut parts = doc.split("\n<package ");
    let head = parts.next().unwrap().to_string();
    let mut packages: Vec<String> = parts.map(|p| format!("<package {p}")).collect();
    let tail = match packages.last_mut() {
        Some(last) => {
            let cut = last.rfind("</package>\n").unwrap() + "</package>\n".len();
            last.split_off(cut)
        }
        None => String::new(),
    };
    (head, packages, tail)
}

/// `<time file="...">` replaced: the one field that differs by design.
fn without_time_file(package: &str) -> String {
    let Some(at) = package.find("<time file=\"") else {
        return package.to_string();
    };
    let start = at + "<time file=\"".len();
    let end = start + package[start..].find('"').unwrap();
    format!("{}*{}", &package[..start], &package[end..])
}

fn compare_documents(kind: &str, ours: &str, theirs: &str) {
    let (oh, op, ot) = split_packages(ours);
    let (th, tp, tt) = split_packages(theirs);
    assert_eq!(oh, th, "{kind}: document start");
    assert_eq!(ot, tt, "{kind}: document end");
    let names = |ps: &[String]| -> Vec<String> {
        ps.iter()
            .map(|p| p.lines().take(3).collect::<Vec<_>>().join(" "))
            .collect()
    };
    assert_eq!(
        op.len(),
        tp.len(),
        "{kind}: packages {:#?} vs {:#?}",
        names(&op),
        names(&tp)
    );
    for (o, t) in op.iter().zip(&tp) {
        if kind == "primary" {
            assert!(
                o.contains(&format!("<time file=\"{TIMESTAMP}\"")),
                "our time file: {o}"
            );
        }
        let (o, t) = (without_time_file(o), without_time_file(t));
        let package = t.lines().take(3).collect::<Vec<_>>().join(" ");
        let (ol, tl): (Vec<_>, Vec<_>) = (o.lines().collect(), t.lines().collect());
        for (i, (a, b)) in ol.iter().zip(&tl).enumerate() {
            assert_eq!(a, b, "{kind}, {package}, line {i}");
        }
        assert_eq!(
            ol.len(),
            tl.len(),
            "{kind}, {package}: line count\n{o}\nvs\n{t}"
        );
    }
}

/// The fixture, indexed by createrepo_c and by us: every package line equal, but the fields
/// that differ by design (module documentation).
#[test]
fn same_as_createrepo_c() {
    let src = tempfile::tempdir().unwrap();
    let files = fixture(src.path());
    assert!(files.len() >= 12, "{files:?}");
    let theirs = copy_rpms(src.path(), &files);
    createrepo_c(theirs.path());
    let ours = copy_rpms(src.path(), &files);
    let info = write_repodata(ours.path(), &files, &opts(RepodataCompression::Gz, 2)).unwrap();

    let (revision, records) = repomd(ours.path());
    assert_eq!(revision, TIMESTAMP.to_string());
    assert_eq!(
        info.files,
        [
            "repodata/repomd.xml".to_string(),
            records["primary"].location.clone(),
            records["filelists"].location.clone(),
            records["other"].location.clone(),
        ]
    );
    assert!(records.values().all(|r| r.timestamp == TIMESTAMP));
    assert_eq!(info.repomd, ours.path().join("repodata/repomd.xml"));
    let mut names: Vec<_> = fs::read_dir(ours.path().join("repodata"))
        .unwrap()
        .map(|e| format!("repodata/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    names.sort();
    let mut listed = info.files.clone();
    listed.sort();
    assert_eq!(names, listed, "nothing else in repodata/");

    let (_, their_records) = repomd(theirs.path());
    assert_eq!(
        records.keys().collect::<Vec<_>>(),
        their_records.keys().collect::<Vec<_>>()
    );
    for kind in ["filelists", "other"] {
        assert_eq!(
            records[kind].open_checksum, their_records[kind].open_checksum,
            "{kind}: same XML, byte for byte"
        );
        assert_eq!(records[kind].open_size, their_records[kind].open_size);
    }
    let our_docs = documents(ours.path());
    let their_docs = documents(theirs.path());
    for kind in ["primary", "filelists", "other"] {
        compare_documents(kind, &our_docs[kind], &their_docs[kind]);
    }

    // Spot checks of what the comparison covered, so a createrepo_c that changed would not
    // leave the rules untested.
    let primary = &our_docs["primary"];
    let (_, pkgs, _) = split_packages(primary);
    let pkg = |name: &str| {
        pkgs.iter()
            .find(|p| p.contains(&format!("<name>{name}</name>")))
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let v = pkg("pgvector_17");
    assert!(v.contains("<version epoch=\"1\" ver=\"0.8.0\" rel=\"1PGDG.rhel9\"/>"));
    assert!(v.contains(
        "<summary>vector &lt;similarity&gt; search &amp; \"more\" 'quoted' é ✓ 😀 ]]&gt;</summary>"
    ));
    assert!(v.contains("<rpm:entry name=\"/bin/sh\" pre=\"1\"/>"));
    assert!(v.contains(
        "<rpm:entry name=\"two-dashes\" flags=\"GE\" epoch=\"0\" ver=\"1.0\" rel=\"1-2\"/>"
    ));
    assert!(v.contains("<rpm:entry name=\"epoch-only\" flags=\"GE\" epoch=\"2\"/>"));
    assert!(!v.contains("rpmlib(") && !v.contains("bad-epoch"));
    assert!(v.contains("<rpm:recommends>\n      <rpm:entry name=\"old-style-weak\"/>"));
    let s = pkg("postgresql17-server");
    assert!(
        !s.contains("name=\"/usr/pgsql-17/bin/postgres\""),
        "own primary file required"
    );
    assert!(s.contains("name=\"/usr/pgsql-17/lib/libpq.so.5\""));
    assert!(s.contains("<rpm:entry name=\"user(postgres)\" pre=\"1\"/>"));
    assert!(s.contains("<rpm:entry name=\"systemd\" pre=\"1\"/>"));
    assert!(s.contains("<rpm:entry name=\"preun-only\"/>"));
    // Requires(posttrans) is pre="1" from createrepo_c 1.0 on (EL10's), not before (EL9's):
    // the host's createrepo_c checked one dialect above, both are written here.
    let posttrans_pre = |dialect: Dialect| {
        let dir = copy_rpms(src.path(), &files);
        let opts = RepodataOptions {
            dialect,
            ..opts(RepodataCompression::Gz, 2)
        };
        write_repodata(dir.path(), &files, &opts).unwrap();
        documents(dir.path())["primary"].contains("<rpm:entry name=\"posttrans-only\" pre=\"1\"/>")
    };
    assert!(!posttrans_pre(Dialect::Legacy));
    assert!(posttrans_pre(Dialect::Current));
    assert_eq!(s.matches("name=\"duplicate\"").count(), 1);
    assert!(s.contains("<rpm:entry name=\"libc.so.6(GLIBC_2.34)(64bit)\"/>\n    </rpm:requires>"));
    assert!(s.contains("<file type=\"ghost\">/etc/postgresql/ghost.conf</file>"));
    assert!(s.contains("<file type=\"dir\">/etc/postgresql</file>"));
    assert!(s.contains("<rpm:sourcerpm>(none)</rpm:sourcerpm>"));
    assert!(pkg("latin").contains("<summary>café!!</summary>"));
    let other = &our_docs["other"];
    assert_eq!(other.matches("<changelog author=\"Dev ").count(), 10);
    assert!(
        other.contains("author=\"Dev 9 &lt;dev9@example.org&gt; &amp; &quot;q&quot; &#9; &#xE9;\"")
    );
    assert!(other.contains("author=\"Author\""));
    let filelists = &our_docs["filelists"];
    assert!(filelists.contains("<file type=\"dir\">/var/run/postgresql</file>"));
    assert!(
        filelists.contains("<file>/usr/pgsql-17/share/extension/vector &amp; &lt;x&gt;.sql</file>")
    );
    let order: Vec<&str> = pkgs
        .iter()
        .filter_map(|p| p.split("<location href=\"").nth(1)?.split('"').next())
        .collect();
    let a = order.iter().position(|l| *l == "a-pkg.rpm").unwrap();
    assert_eq!(order[a + 1], "sub/a-pkg.rpm");
    if have("rpmbuild") {
        let rb = pkgs
            .iter()
            .find(|p| p.contains("<location href=\"rbtest-1.2-3.x86_64.rpm\"/>"))
            .unwrap();
        assert!(rb.contains("<rpm:entry name=\"coreutils\" pre=\"1\"/>"));
        assert!(rb.contains("rtld(GNU_HASH)"));
        assert!(primary.contains("<arch>src</arch>"));
    }
}

/// Runs Debian's dnf on a repository, with nothing of the host's configuration.
fn dnf(repo: &Path, args: &[&str]) -> String {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new("dnf")
        .args([
            "-q",
            "--setopt=reposdir=/dev/null",
            "--releasever=9",
            "--repo=t",
        ])
        .arg(format!("--repofrompath=t,file://{}", repo.display()))
        .arg(format!("--installroot={}", root.path().display()))
        .arg("repoquery")
        .args(args)
        .output()
        .expect("run dnf");
    assert!(
        out.status.success(),
        "dnf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

const QUERY: &str = "%{name}|%{epoch}|%{version}|%{release}|%{arch}|%{sourcerpm}|%{size}|\
                     %{installsize}|%{buildtime}|%{packager}|%{license}|%{url}|%{summary}|\
                     %{description}|%{provides}|%{requires}|%{conflicts}|%{obsoletes}|\
                     %{recommends}|%{suggests}|%{supplements}|%{enhances}|%{files}";

/// dnf reads our gz and zst repodata and sees what it sees in createrepo_c's.
#[test]
fn dnf_reads_it() {
    if !have("dnf") {
        eprintln!("dnf not found; skipping");
        return;
    }
    let src = tempfile::tempdir().unwrap();
    let files = fixture(src.path());
    let theirs = copy_rpms(src.path(), &files);
    createrepo_c(theirs.path());
    let queries: [&[&str]; 4] = [
        &["--qf", QUERY],
        &["--changelogs", "pgvector_17"],
        &[
            "--whatprovides",
            "/usr/pgsql-17/bin/postgres",
            "--qf",
            "%{name}",
        ],
        &["--whatrequires", "postgresql17-server", "--qf", "%{name}"],
    ];
    let expected: Vec<String> = queries.iter().map(|q| dnf(theirs.path(), q)).collect();
    assert!(expected[0].contains("pgvector_17|1|0.8.0|1PGDG.rhel9|x86_64|"));
    assert!(expected[0].contains("postgresql17-server >= 17.0"));
    assert!(expected[0].contains("vector = 0.8.0"));
    assert!(expected[1].contains("- change 0 <&>"));
    assert_eq!(expected[2], "postgresql17-server\n");
    assert!(expected[3].contains("pgvector_17"));
    for compression in [RepodataCompression::Gz, RepodataCompression::Zst] {
        let ours = copy_rpms(src.path(), &files);
        write_repodata(ours.path(), &files, &opts(compression, 2)).unwrap();
        for (q, want) in queries.iter().zip(&expected) {
            assert_eq!(
                &dnf(ours.path(), q),
                want,
                "{compression}: dnf repoquery {q:?}"
            );
        }
    }
}

/// zst and gz hold the same XML; the same input gives the same bytes, whatever the number of
/// workers; writing again replaces the old metadata and leaves nothing else behind.
#[test]
fn deterministic_and_replaces() {
    let src = tempfile::tempdir().unwrap();
    let files = fixture(src.path());
    let gz = documents(&{
        write_repodata(src.path(), &files, &opts(RepodataCompression::Gz, 1)).unwrap();
        src.path().to_path_buf()
    });
    let snapshot = |dir: &Path| -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir.join("repodata"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    };
    let first = snapshot(src.path());
    for workers in [1, 3, 64] {
        let again = copy_rpms(src.path(), &files);
        write_repodata(
            again.path(),
            &files,
            &opts(RepodataCompression::Gz, workers),
        )
        .unwrap();
        assert_eq!(snapshot(again.path()), first, "{workers} workers");
    }

    // Over the existing gz metadata: zst, then zst again.
    let mut zst_runs = Vec::new();
    for _ in 0..2 {
        let info = write_repodata(src.path(), &files, &opts(RepodataCompression::Zst, 2)).unwrap();
        let snap = snapshot(src.path());
        assert_eq!(snap.len(), 4, "old files gone: {:?}", snap.keys());
        assert!(info.files[1..].iter().all(|f| f.ends_with(".zst")));
        zst_runs.push(snap);
    }
    assert_eq!(zst_runs[0], zst_runs[1]);
    assert_eq!(documents(src.path()), gz, "zst and gz hold the same XML");
    let hidden: Vec<_> = fs::read_dir(src.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "temporary folders left: {hidden:?}");
    let mtime = fs::metadata(src.path().join("repodata/repomd.xml"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(
        mtime,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(TIMESTAMP)
    );
}

fn write_err(dir: &Path, files: &[RpmFile]) -> DnfRepoError {
    write_repodata(dir, files, &opts(RepodataCompression::Gz, 2)).unwrap_err()
}

/// Broken input: an error naming the file, and the existing metadata left as it was.
#[test]
fn errors_name_the_file() {
    let src = tempfile::tempdir().unwrap();
    let mut files = fixture(src.path());
    files.sort_by(|a, b| a.location.cmp(&b.location));
    write_repodata(src.path(), &files, &opts(RepodataCompression::Gz, 2)).unwrap();
    let before = fs::read(src.path().join("repodata/repomd.xml")).unwrap();
    let victim = "pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm";
    let index = files.iter().position(|f| f.location == victim).unwrap();
    let path: PathBuf = src.path().join(victim);
    let good = fs::read(&path).unwrap();
    let check = |err: DnfRepoError, what: &str| {
        let text = err.to_string();
        assert!(text.contains(victim), "{what}: {text}");
        assert_eq!(
            fs::read(src.path().join("repodata/repomd.xml")).unwrap(),
            before,
            "{what}: old metadata kept"
        );
        let left = fs::read_dir(src.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with('.')
            })
            .count();
        assert_eq!(left, 0, "{what}: temporary folder removed");
        text
    };

    // Size from the download differs from the file's.
    let mut wrong = files.clone();
    wrong[index].size += 1;
    let err = write_err(src.path(), &wrong);
    assert!(matches!(err, DnfRepoError::SizeMismatch { .. }), "{err}");
    check(err, "size mismatch");

    // Truncated inside the header (sizes as the download said, so only the header tells).
    for cut in [50, 200, 3000] {
        fs::write(&path, &good[..cut]).unwrap();
        let mut cut_files = files.clone();
        cut_files[index].size = cut as u64;
        let err = write_err(src.path(), &cut_files);
        assert!(
            matches!(
                err,
                DnfRepoError::BadRpm {
                    source: HeaderError::Truncated(_),
                    ..
                }
            ),
            "cut at {cut}: {err}"
        );
        check(err, "truncated");
    }

    // Not an rpm at all.
    fs::write(&path, b"<html>not found</html>").unwrap();
    let mut html = files.clone();
    html[index].size = 22;
    let err = write_err(src.path(), &html);
    assert!(
        matches!(
            err,
            DnfRepoError::BadRpm {
                source: HeaderError::NotRpm,
                ..
            }
        ),
        "{err}"
    );
    check(err, "not an rpm");

    // Missing file, bad checksum text, a location outside the repo, a duplicate.
    fs::remove_file(&path).unwrap();
    let err = write_err(src.path(), &files);
    assert!(matches!(err, DnfRepoError::Read { .. }), "{err}");
    check(err, "missing");
    fs::write(&path, &good).unwrap();
    let mut bad = files.clone();
    bad[index].sha256 = "xyz".into();
    check(write_err(src.path(), &bad), "bad sha256");
    let mut dup = files.clone();
    dup.push(files[index].clone());
    check(write_err(src.path(), &dup), "duplicate");
    let mut outside = files.clone();
    outside[index].location = format!("../{victim}");
    let err = write_err(src.path(), &outside);
    assert!(matches!(err, DnfRepoError::BadLocation { .. }), "{err}");

    // A control character XML cannot carry, in a field dnf reads (the summary): createrepo_c
    // leaves the package out, we stop.
    let at = good
        .windows(12)
        .position(|w| w == b"<similarity>")
        .expect("summary text");
    let mut ctrl = good.clone();
    ctrl[at] = 0x01;
    fs::write(&path, &ctrl).unwrap();
    let err = write_err(src.path(), &files_with_sum(&files, index, &ctrl));
    assert!(matches!(err, DnfRepoError::ControlChars { .. }), "{err}");
    check(err, "control character");
    // In a changelog entry: the entry is left out, the package stays.
    let at = good
        .windows(8)
        .position(|w| w == b"- change")
        .expect("changelog text");
    let mut ctrl = good.clone();
    ctrl[at] = 0x01;
    fs::write(&path, &ctrl).unwrap();
    write_repodata(
        src.path(),
        &files_with_sum(&files, index, &ctrl),
        &opts(RepodataCompression::Gz, 2),
    )
    .unwrap();
    let other = documents(src.path()).remove("other").unwrap();
    assert!(other.contains("pgvector_17") && !other.contains('\u{1}'));

    // Repaired, it works again.
    fs::write(&path, &good).unwrap();
    write_repodata(src.path(), &files, &opts(RepodataCompression::Gz, 2)).unwrap();
}

fn files_with_sum(files: &[RpmFile], index: usize, bytes: &[u8]) -> Vec<RpmFile> {
    let mut out = files.to_vec();
    out[index].sha256 = hex::encode(Sha256::digest(bytes));
    out[index].size = bytes.len() as u64;
    out
}

/// An empty repository is valid too.
#[test]
fn empty_repository() {
    let dir = tempfile::tempdir().unwrap();
    let theirs = tempfile::tempdir().unwrap();
    write_repodata(dir.path(), &[], &opts(RepodataCompression::Gz, 2)).unwrap();
    createrepo_c(theirs.path());
    let (ours, theirs) = (documents(dir.path()), documents(theirs.path()));
    assert_eq!(ours, theirs);
    assert!(ours["primary"].ends_with("packages=\"0\">\n</metadata>"));
}

/// A real openSUSE package with a control byte (0x04) in its second changelog entry: the
/// entry is left out, the package is in the repodata, dnf reads it, and the primary metadata
/// is what createrepo_c writes when its changelog limit stops before that entry.
#[test]
fn a_control_byte_in_a_real_changelog_leaves_out_that_entry() {
    let reference = std::env::var_os("PIGSTY_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
        });
    let name = "ruby2.6-rubygem-fast_gettext-2.0.1-1.1.x86_64.rpm";
    let rpm = reference.join("real-rpms/suse-ctrl").join(name);
    let bytes = fs::read(&rpm).unwrap();
    let files = vec![RpmFile {
        location: name.to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        size: bytes.len() as u64,
    }];
    let ours = tempfile::tempdir().unwrap();
    fs::copy(&rpm, ours.path().join(name)).unwrap();
    write_repodata(ours.path(), &files, &opts(RepodataCompression::Gz, 2)).unwrap();
    let docs = documents(ours.path());
    assert!(!docs["other"].contains('\u{4}'));
    assert!(docs["other"].contains("<changelog"));
    // createrepo_c refuses the package unless its limit leaves the entry out.
    let theirs = tempfile::tempdir().unwrap();
    fs::copy(&rpm, theirs.path().join(name)).unwrap();
    let out = Command::new("createrepo_c")
        .args(["--quiet", "--no-database", "--changelog-limit", "1"])
        .arg(theirs.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, ours_pkgs, _) = split_packages(&docs["primary"]);
    let (_, theirs_pkgs, _) = split_packages(&documents(theirs.path())["primary"]);
    assert_eq!(ours_pkgs.len(), 1);
    assert_eq!(
        without_time_file(&ours_pkgs[0]),
        without_time_file(&theirs_pkgs[0])
    );
    let listed = dnf(ours.path(), &["--qf", "%{name}"]);
    assert_eq!(listed, "ruby2.6-rubygem-fast_gettext\n");
}

/// The 79 real rpms of the reference data, as `RpmFile`s relative to `root` (copied there
/// under their folders).
fn real_rpms(root: &Path) -> Vec<RpmFile> {
    let reference = std::env::var_os("PIGSTY_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference"))
        .join("real-rpms");
    let mut out = Vec::new();
    for dir in fs::read_dir(&reference).unwrap().flatten() {
        if !dir.path().is_dir() || dir.file_name() == "keys" {
            continue;
        }
        for f in fs::read_dir(dir.path()).unwrap().flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".rpm") {
                continue;
            }
            let location = format!("{}/{name}", dir.file_name().to_string_lossy());
            let to = root.join(&location);
            fs::create_dir_all(to.parent().unwrap()).unwrap();
            fs::copy(f.path(), &to).unwrap();
            let bytes = fs::read(&to).unwrap();
            out.push(RpmFile {
                location,
                sha256: hex::encode(Sha256::digest(&bytes)),
                size: bytes.len() as u64,
            });
        }
    }
    out.sort_by(|a, b| a.location.cmp(&b.location));
    out
}

/// Each package of a document by its key: the `pkgid` (filelists, other) or the location.
fn packages_by_key(doc: &str) -> BTreeMap<String, String> {
    let (_, packages, _) = split_packages(doc);
    packages
        .into_iter()
        .map(|p| {
            let after = |open: &str, close: char| {
                let start = p.find(open).unwrap() + open.len();
                p[start..start + p[start..].find(close).unwrap()].to_string()
            };
            let key = if p.starts_with("<package pkgid=\"") {
                after("<package pkgid=\"", '"')
            } else {
                after("<checksum type=\"sha256\" pkgid=\"YES\">", '<')
            };
            (key, without_time_file(&p))
        })
        .collect()
}

/// Every header of the 79 real rpms parses, and the repodata we write for them is what
/// createrepo_c writes (at the same changelog limit), package for package; the one package
/// createrepo_c refuses at that limit (a control byte in a changelog entry) we keep.
#[test]
fn the_real_rpms_index_as_createrepo_c_indexes_them() {
    let ours = tempfile::tempdir().unwrap();
    let files = real_rpms(ours.path());
    assert_eq!(files.len(), 79, "the reference's real rpms");
    write_repodata(ours.path(), &files, &opts(RepodataCompression::Gz, 2)).unwrap();
    let theirs = tempfile::tempdir().unwrap();
    real_rpms(theirs.path());
    let out = Command::new("createrepo_c")
        .args([
            "--quiet",
            "--no-database",
            "--workers",
            "2",
            "--changelog-limit",
        ])
        .arg(pigsty_build::dnf::repo::CHANGELOG_LIMIT.to_string())
        .arg(theirs.path())
        .output()
        .unwrap();
    let refused = String::from_utf8_lossy(&out.stderr).into_owned();
    let (ours_docs, theirs_docs) = (documents(ours.path()), documents(theirs.path()));
    for kind in ["primary", "filelists", "other"] {
        let o = packages_by_key(&ours_docs[kind]);
        let t = packages_by_key(&theirs_docs[kind]);
        assert_eq!(o.len(), 79, "{kind}: ours");
        let only_ours: Vec<&String> = o.keys().filter(|k| !t.contains_key(*k)).collect();
        assert_eq!(only_ours.len(), 79 - t.len(), "{kind}");
        for k in &only_ours {
            assert!(
                o[*k].contains("fast_gettext"),
                "{kind}: createrepo_c left out {}:\n{refused}",
                o[*k]
            );
        }
        for (k, theirs_pkg) in &t {
            let ours_pkg = &o[k];
            let (ol, tl): (Vec<_>, Vec<_>) =
                (ours_pkg.lines().collect(), theirs_pkg.lines().collect());
            for (i, (a, b)) in ol.iter().zip(&tl).enumerate() {
                assert_eq!(
                    a,
                    b,
                    "{kind}, {}, line {i}",
                    tl[..3.min(tl.len())].join(" ")
                );
            }
            assert_eq!(ol.len(), tl.len(), "{kind}: {ours_pkg}\nvs\n{theirs_pkg}");
        }
    }
}
