//! The decompressed `Packages` kept between builds (`<cache>/apt-packages/`), attacked: it is
//! used only when it is exactly the `Packages` the verified `Release` lists; a copy that is
//! altered (same size), cut, grown, stale, or not a file is never trusted: the index is
//! downloaded and checked again and the copy made anew.

use std::io::Write;
use std::path::{Path, PathBuf};

use pigsty_build::apt::upstream::{self, AptSource, RepoIndex, UpstreamError};
use pigsty_build::fetch::Fetcher;
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use sha2::{Digest, Sha256};

mod common;
use common::serve;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// A served repository `dists/test`, component `main`, whose signed `Release` lists
/// `Packages.gz` and, as Debian's do, the uncompressed `Packages` (which is not served).
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: SecretKey,
    keyring: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let key = SecretKey::generate("Upstream <up@example.invalid>").unwrap();
        let keyring = dir.path().join("upstream.asc");
        std::fs::write(&keyring, key.public().to_armored().unwrap()).unwrap();
        let repo = Repo {
            root: dir.path().join("www"),
            _dir: dir,
            key,
            keyring,
        };
        repo.publish(&packages(&[("alpha", "1.0"), ("beta", "1.0")]), None);
        repo
    }

    /// Publishes `text` as `Packages.gz`; `Release` lists the uncompressed `Packages` as
    /// `listed` (default: `text` itself).
    fn publish(&self, text: &str, listed: Option<&str>) {
        self.publish_listing(text, listed, "");
    }

    /// [`Repo::publish`], with `more` (lines of ` SHA256 SIZE PATH`) listed in `Release` too.
    fn publish_listing(&self, text: &str, listed: Option<&str>, more: &str) {
        let bin = self.root.join("dists/test/main/binary-amd64");
        std::fs::create_dir_all(&bin).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        std::fs::write(bin.join("Packages.gz"), &gz).unwrap();
        let plain = listed.unwrap_or(text);
        let release = format!(
            "Origin: Test\nSuite: test\nCodename: test\nArchitectures: amd64\nComponents: main\nSHA256:\n {} {} main/binary-amd64/Packages\n {} {} main/binary-amd64/Packages.gz\n{more}",
            sha(plain.as_bytes()),
            plain.len(),
            sha(&gz),
            gz.len()
        );
        std::fs::write(
            self.root.join("dists/test/InRelease"),
            self.key.clearsign(&release).unwrap(),
        )
        .unwrap();
    }

    fn unserve_index(&self) {
        std::fs::remove_file(self.root.join("dists/test/main/binary-amd64/Packages.gz")).unwrap();
    }
}

/// A `Packages` text: each package with a SHA256 of the same length as any other.
fn packages(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(name, version)| {
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: pool/{name}_{version}_amd64.deb\nSize: 100\nSHA256: {}\nDescription: test\n",
                sha(format!("{name} {version}").as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn load(repo: &Repo, base: &str, cache: &Path) -> Result<RepoIndex, UpstreamError> {
    let fetcher = Fetcher::new(cache, 2).unwrap();
    let source = AptSource::parse("fixture", &format!("{base} test main")).unwrap();
    let ring = PublicKeyring::load(&repo.keyring).unwrap();
    upstream::load(&fetcher, &source, Some((&ring, &repo.keyring)), "amd64")
}

/// Where the decompressed `Packages` of the served repo is kept.
fn kept(base: &str, cache: &Path) -> PathBuf {
    let source = AptSource::parse("fixture", &format!("{base} test main")).unwrap();
    Fetcher::new(cache, 1).unwrap().derived_path(
        "apt-packages",
        &source.dist_url("main/binary-amd64/Packages"),
    )
}

/// (package, SHA256) of each package of a loaded index.
fn hashes(index: &RepoIndex) -> Vec<(String, String)> {
    index
        .repo
        .packages
        .iter()
        .map(|p| (p.package().to_string(), p.sha256().unwrap().to_string()))
        .collect()
}

fn expected() -> Vec<(String, String)> {
    ["alpha", "beta"]
        .iter()
        .map(|n| (n.to_string(), sha(format!("{n} 1.0").as_bytes())))
        .collect()
}

#[test]
fn the_kept_copy_is_the_listed_packages_and_spares_the_download() {
    let repo = Repo::new();
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
    let copy = std::fs::read_to_string(kept(&base, cache.path())).unwrap();
    assert_eq!(copy, packages(&[("alpha", "1.0"), ("beta", "1.0")]));
    // The compressed index is no longer served: the kept copy is what is read.
    repo.unserve_index();
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
}

#[test]
fn where_release_lists_gz_and_xz_the_gz_is_read() {
    // Both listed, as in Debian's archive: the .gz is read (its decode costs less than half
    // the CPU of the .xz). Here the listed .xz is not served, so reading it would fail.
    let repo = Repo::new();
    let text = packages(&[("alpha", "1.0"), ("beta", "1.0")]);
    let xz = format!(
        " {} 1234 main/binary-amd64/Packages.xz\n",
        sha(b"not served")
    );
    repo.publish_listing(&text, None, &xz);
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
}

/// Replaces `alpha`'s SHA256 with `beta`'s in the kept copy: same size, other bytes.
fn swap_hashes(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap();
    let (a, b) = (sha(b"alpha 1.0"), sha(b"beta 1.0"));
    let altered = text.replace(&a, &b);
    assert_ne!(altered, text);
    assert_eq!(altered.len(), text.len());
    std::fs::write(path, altered).unwrap();
}

#[test]
fn an_altered_copy_of_the_same_size_is_never_trusted() {
    let repo = Repo::new();
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    load(&repo, &base, cache.path()).unwrap();
    let path = kept(&base, cache.path());
    swap_hashes(&path);
    // Read again from upstream, checked; the copy made anew.
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        packages(&[("alpha", "1.0"), ("beta", "1.0")])
    );
    // Altered again, the downloaded Packages.gz in the cache altered too, and the upstream
    // index gone: a failure naming the index, never the altered hashes.
    swap_hashes(&path);
    let source = AptSource::parse("fixture", &format!("{base} test main")).unwrap();
    let gz = Fetcher::new(cache.path(), 1)
        .unwrap()
        .index_path(&source.dist_url("main/binary-amd64/Packages.gz"));
    let mut data = std::fs::read(&gz).unwrap();
    let last = data.len() - 1;
    data[last] ^= 1;
    std::fs::write(&gz, data).unwrap();
    repo.unserve_index();
    let err = load(&repo, &base, cache.path()).unwrap_err();
    let mut text = err.to_string();
    let mut cause = std::error::Error::source(&err);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    assert!(
        text.contains("Packages.gz") && text.contains("404"),
        "{text}"
    );
    assert!(!path.exists(), "the altered copy is removed");
}

#[test]
fn a_cut_grown_or_garbage_copy_is_made_again() {
    let repo = Repo::new();
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    load(&repo, &base, cache.path()).unwrap();
    let path = kept(&base, cache.path());
    let good = std::fs::read(&path).unwrap();
    let cut = good[..good.len() / 2].to_vec();
    let mut grown = good.clone();
    grown.extend_from_slice(&packages(&[("evil", "9.9")]).into_bytes());
    let garbage = vec![0xffu8; good.len()];
    for bad in [cut, grown, garbage, Vec::new()] {
        std::fs::write(&path, &bad).unwrap();
        assert_eq!(
            hashes(&load(&repo, &base, cache.path()).unwrap()),
            expected()
        );
        assert_eq!(std::fs::read(&path).unwrap(), good);
    }
}

#[test]
fn a_stale_copy_is_not_used_after_the_repo_changes() {
    let repo = Repo::new();
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    load(&repo, &base, cache.path()).unwrap();
    let newer = packages(&[("alpha", "2.0"), ("beta", "1.0")]);
    repo.publish(&newer, None);
    let index = load(&repo, &base, cache.path()).unwrap();
    let versions: Vec<String> = index
        .repo
        .packages
        .iter()
        .map(|p| format!("{} {}", p.package(), p.version()))
        .collect();
    assert_eq!(versions, ["alpha 2.0", "beta 1.0"]);
    assert_eq!(
        std::fs::read_to_string(kept(&base, cache.path())).unwrap(),
        newer
    );
}

#[test]
fn a_folder_in_place_of_the_copy_does_not_stop_the_build() {
    let repo = Repo::new();
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let path = kept(&base, cache.path());
    std::fs::create_dir_all(path.join("inside")).unwrap();
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
    assert!(
        path.join("inside").is_dir(),
        "left alone, not written through"
    );
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
}

#[test]
fn no_copy_is_kept_when_release_lists_other_bytes_for_packages() {
    let repo = Repo::new();
    // The compressed index is the one Release lists; the uncompressed entry is not its text.
    repo.publish(
        &packages(&[("alpha", "1.0"), ("beta", "1.0")]),
        Some("Package: other\n"),
    );
    let base = serve(repo.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    assert_eq!(
        hashes(&load(&repo, &base, cache.path()).unwrap()),
        expected()
    );
    let path = kept(&base, cache.path());
    assert!(!path.exists());
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        0,
        "no temporary file left"
    );
}
