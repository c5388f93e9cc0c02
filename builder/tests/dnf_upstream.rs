//! Upstream rpm repositories served from a loopback HTTP server: the rpm-fixture EL world
//! (real rpms, real `createrepo_c` metadata in xz, bz2 and gz, `repomd.xml.asc` signed with a
//! fixture key). Signatures good, by another key, over an altered `repomd.xml`, missing;
//! `primary.xml` checked against `repomd.xml`; `excludepkgs`, priorities, arch; and the
//! closure over the whole world with the manifests' repo options, checked against the real
//! dnf 4 resolving the same request on the same repositories.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::Digest;

use pigsty_build::dnf::upstream::{self, DnfIndex, DnfSource, DnfUpstreamError};
use pigsty_build::dnf::{resolve, DnfClosureOptions, NoFileLists};
use pigsty_build::fetch::Fetcher;
use pigsty_build::mirrors::Mirrors;
use pigsty_build::{apt::Requested, Distro};
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use pigsty_bundle::{Arch, Os, Target};
use rpm_fixture::{el_world, WorldOptions};

mod common;
use common::serve;

struct World {
    _dir: tempfile::TempDir,
    _cache: tempfile::TempDir,
    w: rpm_fixture::World,
    base: String,
    fetcher: Fetcher,
}

fn world(unsigned: &[&str]) -> World {
    let dir = tempfile::tempdir().unwrap();
    let w = el_world(
        dir.path(),
        &WorldOptions {
            el: 9,
            arch: "x86_64".into(),
            unsigned: unsigned.iter().map(|s| s.to_string()).collect(),
            sign_packages: false,
        },
    )
    .unwrap();
    let base = serve(w.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2)
        .unwrap()
        .with_progress(false)
        .with_retries(0, std::time::Duration::from_millis(1));
    World {
        _dir: dir,
        _cache: cache,
        w,
        base,
        fetcher,
    }
}

fn target() -> Target {
    Target::new("el9".parse::<Os>().unwrap(), Arch::X86_64, 17)
}

/// The manifests' repos that the world has, as dnf sources pointing at the loopback server:
/// priorities, `excludepkgs` and `module_hotfixes` as the manifests set them.
fn sources(w: &World) -> Vec<DnfSource> {
    let distro = Distro::load(target(), None).unwrap();
    let flags: Vec<String> = ["el", "epel", "pgdg", "pigsty"]
        .iter()
        .map(|m| format!("{m}={}/{m}", w.base))
        .collect();
    let mirrors = Mirrors::new(&flags, &BTreeMap::new(), &BTreeMap::new()).unwrap();
    distro
        .repos
        .iter()
        .filter(|r| w.w.repo(&r.name).is_some())
        .map(|r| DnfSource::from_repo_def(r, &mirrors.expand(r, &target()).unwrap()))
        .collect()
}

fn source(w: &World, name: &str) -> DnfSource {
    sources(w)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no repo {name}"))
}

fn load_with(w: &World, name: &str, key: Option<&Path>) -> Result<DnfIndex, DnfUpstreamError> {
    let ring = key.map(|p| (PublicKeyring::load(p).unwrap(), p.to_path_buf()));
    upstream::load(
        &w.fetcher,
        &source(w, name),
        ring.as_ref().map(|(r, p)| (r, p.as_path())),
        "x86_64",
    )
}

fn repo_dir(w: &World, name: &str) -> PathBuf {
    w.w.root.join(&w.w.repo(name).unwrap().path)
}

#[test]
fn signed_repos_load_with_their_key() {
    let w = world(&[]);
    let fpr = PublicKeyring::load(&w.w.key).unwrap().fingerprints()[0].clone();
    // BaseOS is xz, AppStream bz2, the rest gz.
    let baseos = load_with(&w, "baseos", Some(&w.w.key)).unwrap();
    assert_eq!(baseos.signed_by.as_deref(), Some(fpr.as_str()));
    assert!(baseos.source.baseurl.ends_with("/el/9/BaseOS/x86_64/os"));
    let glibc: Vec<String> = baseos
        .packages
        .iter()
        .filter(|p| p.name == "glibc")
        .map(|p| p.nevra())
        .collect();
    assert_eq!(
        glibc.len(),
        2,
        "two x86_64 builds, never the i686 one: {glibc:?}"
    );
    assert!(glibc.iter().all(|n| n.ends_with(".x86_64")));
    assert!(baseos.packages.iter().any(|p| p.arch == "noarch"));
    let appstream = load_with(&w, "appstream", Some(&w.w.key)).unwrap();
    let mut hidden: Vec<&str> = appstream.excluded.iter().map(|p| p.name.as_str()).collect();
    hidden.sort();
    assert_eq!(hidden, ["libpq", "postgresql-server"]);
    assert!(!appstream
        .packages
        .iter()
        .any(|p| p.name.starts_with("libpq")));
    let pg = load_with(&w, "pgdg17", Some(&w.w.key)).unwrap();
    assert!(pg.source.module_hotfixes);
    assert_eq!(pg.source.priority, upstream::DEFAULT_PRIORITY);
    assert_eq!(source(&w, "pigsty-pgsql").priority, 11);
    // A package's URL, checksum and size are what the file served is.
    let p = &pg.packages[0];
    let item = pg.fetch_item(p).unwrap();
    let fetched = w.fetcher.fetch_all(std::slice::from_ref(&item)).unwrap();
    assert_eq!(std::fs::metadata(&fetched[0]).unwrap().len(), p.size);
}

#[test]
fn signature_by_another_key_is_refused() {
    let w = world(&[]);
    let other = tempfile::NamedTempFile::new().unwrap();
    let stranger = SecretKey::generate("Stranger <s@example.invalid>").unwrap();
    std::fs::write(other.path(), stranger.public().to_armored().unwrap()).unwrap();
    let err = load_with(&w, "baseos", Some(other.path())).unwrap_err();
    assert!(
        matches!(err, DnfUpstreamError::BadSignature { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("repo `baseos`")
            && msg.contains("repomd.xml.asc")
            && msg.contains("--insecure-upstream baseos"),
        "{msg}"
    );
}

#[test]
fn repomd_altered_after_signing_is_refused() {
    let w = world(&[]);
    let path = repo_dir(&w, "epel").join("repodata/repomd.xml");
    let text = std::fs::read_to_string(&path).unwrap();
    // Still valid metadata, only the revision changed.
    let altered = text.replacen("<revision>", "<revision>1", 1);
    assert_ne!(text, altered);
    std::fs::write(&path, altered).unwrap();
    let err = load_with(&w, "epel", Some(&w.w.key)).unwrap_err();
    assert!(
        matches!(err, DnfUpstreamError::BadSignature { .. }),
        "{err}"
    );
    // Trusted without a signature (--insecure-upstream), it loads.
    let idx = load_with(&w, "epel", None).unwrap();
    assert_eq!(idx.signed_by, None);
    assert!(idx.packages.iter().any(|p| p.name == "sshpass"));
}

#[test]
fn missing_signature_is_refused_unless_insecure() {
    let w = world(&["epel"]);
    assert!(!repo_dir(&w, "epel")
        .join("repodata/repomd.xml.asc")
        .exists());
    let err = load_with(&w, "epel", Some(&w.w.key)).unwrap_err();
    assert!(matches!(err, DnfUpstreamError::Unsigned { .. }), "{err}");
    assert!(
        err.to_string().contains("--insecure-upstream epel"),
        "{err}"
    );
    let idx = load_with(&w, "epel", None).unwrap();
    assert_eq!(idx.signed_by, None);
    let mut names: Vec<&str> = idx.packages.iter().map(|p| p.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["ansible", "sshpass"], "EPEL's two packages");
}

#[test]
fn primary_altered_after_repomd_is_refused() {
    let w = world(&[]);
    let repodata = repo_dir(&w, "pgdg17").join("repodata");
    let primary = std::fs::read_dir(&repodata)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .unwrap();
    let name = primary.file_name().unwrap().to_string_lossy().into_owned();
    // Same size, one byte of the gzip trailer changed.
    let mut data = std::fs::read(&primary).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0xff;
    std::fs::write(&primary, &data).unwrap();
    let err = load_with(&w, "pgdg17", Some(&w.w.key)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(&err, DnfUpstreamError::Mismatch { what, .. } if *what == "sha256"),
        "{msg}"
    );
    assert!(
        msg.contains(&name) && msg.contains("repo `pgdg17`"),
        "{msg}"
    );
    // Shorter: the size is wrong.
    std::fs::write(&primary, &data[..last]).unwrap();
    let err = load_with(&w, "pgdg17", Some(&w.w.key)).unwrap_err();
    assert!(
        matches!(&err, DnfUpstreamError::Mismatch { what, .. } if *what == "size"),
        "{err}"
    );
}

/// Loads every repo of the world the manifests know, verified.
fn load_all(w: &World) -> Vec<DnfIndex> {
    sources(w)
        .iter()
        .map(|s| {
            upstream::load(
                &w.fetcher,
                s,
                Some((&PublicKeyring::load(&w.w.key).unwrap(), &w.w.key)),
                "x86_64",
            )
            .unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

const REQUEST: &[&str] = &[
    "pgvector_17",
    "postgis36_17",
    "pg_cron_17",
    "postgresql17-contrib",
    "ansible-core",
    "python3-requests",
    "sshpass",
];

#[test]
fn closure_over_the_world() {
    let w = world(&[]);
    let repos = load_all(&w);
    let requests: Vec<Requested> = REQUEST
        .iter()
        .map(|n| Requested::new(*n, "named in --packages"))
        .collect();
    let c = resolve(&repos, &requests, &DnfClosureOptions::default(), &w.fetcher)
        .unwrap_or_else(|e| panic!("{e}"));
    let get = |n: &str| c.get(n).unwrap_or_else(|| panic!("{n} not selected"));
    // Priority: Pigsty's older pg_cron_17 over PGDG's newer one.
    assert_eq!(get("pg_cron_17").repo, "pigsty-pgsql");
    assert_eq!(get("pg_cron_17").evr.version, "1.6.4");
    // excludepkgs: libpq.so.5 comes from PGDG, AppStream's libpq is hidden.
    assert!(c.get("libpq").is_none());
    assert_eq!(get("postgresql17-libs").repo, "pgdg17");
    assert_eq!(get("postgresql17-libs").evr.version, "17.6");
    // Highest version; never i686.
    assert_eq!(get("glibc").evr.to_string(), "2.34-100.el9");
    assert!(c.packages.iter().all(|p| p.arch != "i686"));
    // /usr/share/zoneinfo is only in filelists: fetched on demand, and tzdata owns it.
    assert!(!c.filelists_loaded.is_empty());
    assert_eq!(
        get("tzdata").why[0].to_string(),
        "required by postgresql17-libs: /usr/share/zoneinfo"
    );
    // Rich dependencies.
    assert!(
        c.get("sfcgal").is_some(),
        "(sfcgal if postgresql17-contrib)"
    );
    assert!(c.get("pgvector_17-llvmjit").is_none());
    assert_eq!(get("python3-resolvelib").evr.version, "0.5.4");
    // Every package can be downloaded and is what primary.xml says.
    let items = c.fetch_items(&repos).unwrap();
    let files = w.fetcher.fetch_all(&items).unwrap();
    assert_eq!(files.len(), c.packages.len());

    // Without the fetcher as file list source, /usr/share/zoneinfo has no owner.
    let err = resolve(
        &repos,
        &requests,
        &DnfClosureOptions::default(),
        &NoFileLists,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        "1 unresolvable:\n  named in --packages -> pgvector_17 -> postgresql17-server -> \
         postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9 (postgresql17-libs) -> \
         /usr/share/zoneinfo: nothing provides it"
    );

    // The real dnf resolves the same request on the same repositories to the same set.
    let dnf = dnf_resolve(&w, &sources(&w), REQUEST);
    let mut ours: Vec<String> = c.packages.iter().map(|p| p.nevra()).collect();
    ours.sort();
    assert_eq!(ours, dnf);
}

/// Runs dnf 4's own resolver (its Python API, as `dnf install` does into an empty root) over
/// the sources; the NEVRAs it would install, sorted.
fn dnf_resolve(w: &World, sources: &[DnfSource], names: &[&str]) -> Vec<String> {
    let python = "/usr/bin/python3";
    let ok = Command::new(python)
        .args(["-c", "import dnf"])
        .output()
        .is_ok_and(|o| o.status.success());
    // tests/lib/setup.sh installs Debian's dnf (and its python3-dnf): never skipped.
    assert!(
        ok,
        "dnf's Python module is missing: install Debian's dnf (bash tests/lib/setup.sh)"
    );
    let root = tempfile::tempdir().unwrap();
    let mut repos = String::new();
    for s in sources {
        repos.push_str(&format!(
            "    ({:?}, {:?}, {}, {:?}),\n",
            s.name, s.baseurl, s.priority, s.excludepkgs
        ));
    }
    let script = format!(
        r#"
import dnf, sys
base = dnf.Base()
c = base.conf
c.installroot = {root:?}
c.cachedir = {root:?} + "/cache"
c.reposdir = []
c.substitutions["releasever"] = "9"
c.gpgcheck = False
c.install_weak_deps = False
# EL8's and EL9's dnf read filelists for file dependencies; dnf 4.19 and later (Debian 13's)
# only when asked.
if hasattr(c, "optional_metadata_types") and "filelists" not in c.optional_metadata_types:
    c.optional_metadata_types = list(c.optional_metadata_types) + ["filelists"]
for name, url, prio, excl in [
{repos}]:
    r = base.repos.add_new_repo(name, c, baseurl=[url])
    r.priority = prio
    r.excludepkgs = excl
    r.module_hotfixes = True
base.fill_sack(load_system_repo=False)
for n in {names:?}:
    base.install(n)
base.resolve()
for p in base.transaction.install_set:
    print(str(p))
"#,
        root = root.path().display().to_string(),
        names = names,
    );
    let out = Command::new(python).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "dnf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = w;
    let mut got: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    got.sort();
    got
}

/// createrepo_c 0.17 cannot write zstd: the test recompresses pgdg17's primary.xml itself,
/// rewrites repomd.xml (location, checksum, size) and signs it again.
#[test]
fn zstd_primary_loads() {
    let w = world(&[]);
    let before = load_with(&w, "pgdg17", Some(&w.w.key)).unwrap();
    let dir = repo_dir(&w, "pgdg17");
    let repodata = dir.join("repodata");
    let gz = std::fs::read_dir(&repodata)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-primary.xml.gz"))
        .unwrap();
    let mut xml = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&gz).unwrap()),
        &mut xml,
    )
    .unwrap();
    let zst = zstd::stream::encode_all(&xml[..], 3).unwrap();
    let sha = hex::encode(sha2::Sha256::digest(&zst));
    let name = format!("{sha}-primary.xml.zst");
    std::fs::write(repodata.join(&name), &zst).unwrap();
    std::fs::remove_file(&gz).unwrap();
    let repomd_path = repodata.join("repomd.xml");
    let repomd = std::fs::read_to_string(&repomd_path).unwrap();
    let start = repomd.find("<data type=\"primary\">").unwrap();
    let end = start + repomd[start..].find("</data>").unwrap();
    let block = &repomd[start..end];
    let old = |open: &str, close: &str| {
        let a = block.find(open).unwrap() + open.len();
        block[a..a + block[a..].find(close).unwrap()].to_string()
    };
    // The location first: the old checksum is part of the old file name.
    let new_block = block
        .replace(&old("<location href=\"", "\""), &format!("repodata/{name}"))
        .replace(&old("<checksum type=\"sha256\">", "<"), &sha)
        .replace(
            &format!("<size>{}</size>", old("<size>", "<")),
            &format!("<size>{}</size>", zst.len()),
        );
    std::fs::write(
        &repomd_path,
        format!("{}{new_block}{}", &repomd[..start], &repomd[end..]),
    )
    .unwrap();
    let key = rpm_fixture::fixture_key(&w.w.root).unwrap();
    rpm_fixture::sign_repomd(&dir, &key).unwrap();
    let after = load_with(&w, "pgdg17", Some(&w.w.key)).unwrap();
    assert!(after
        .repomd
        .get("primary")
        .unwrap()
        .location
        .ends_with(".zst"));
    let nevras = |i: &DnfIndex| i.packages.iter().map(|p| p.nevra()).collect::<Vec<_>>();
    assert_eq!(nevras(&after), nevras(&before));
    assert!(after.packages.len() > 10);
}
