//! Upstream apt repositories served from a loopback HTTP server: signature good, bad and
//! missing; index hashes checked against Release; and a whole `pigsty-build` run with
//! `--only-repo`, `--key` and `--insecure-upstream` against such a repository.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use pigsty_build::apt::upstream::{self, AptSource, UpstreamError};
use pigsty_build::fetch::Fetcher;
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use sha2::{Digest, Sha256};

mod common;
use common::serve;

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    key: SecretKey,
    keyring: PathBuf,
    secret_path: PathBuf,
}

/// A repository `dists/test` with component `main`, two packages, signed InRelease.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("www");
    let pool = root.join("pool");
    std::fs::create_dir_all(&pool).unwrap();
    let mut packages = String::new();
    for (name, deps) in [("alpha", "beta (>= 1.0)"), ("beta", "")] {
        let body = format!("not really a deb: {name}\n").repeat(100);
        let file = format!("{name}_1.0_amd64.deb");
        std::fs::write(pool.join(&file), &body).unwrap();
        if !packages.is_empty() {
            packages.push('\n');
        }
        packages.push_str(&format!(
            "Package: {name}\nVersion: 1.0\nArchitecture: amd64\nMaintainer: Test <t@example.invalid>\n{}Filename: pool/{file}\nSize: {}\nSHA256: {}\nDescription: test package\n",
            if deps.is_empty() { String::new() } else { format!("Depends: {deps}\n") },
            body.len(),
            sha(body.as_bytes())
        ));
    }
    let bin = root.join("dists/test/main/binary-amd64");
    std::fs::create_dir_all(&bin).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(packages.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(bin.join("Packages.gz"), &gz).unwrap();
    let release = format!(
        "Origin: Test\nSuite: test\nCodename: test\nArchitectures: amd64\nComponents: main\nSHA256:\n {} {} main/binary-amd64/Packages.gz\n",
        sha(&gz),
        gz.len()
    );
    std::fs::write(root.join("dists/test/Release"), &release).unwrap();
    let key = SecretKey::generate("Upstream <up@example.invalid>").unwrap();
    std::fs::write(
        root.join("dists/test/InRelease"),
        key.clearsign(&release).unwrap(),
    )
    .unwrap();
    let keyring = dir.path().join("upstream.asc");
    std::fs::write(&keyring, key.public().to_armored().unwrap()).unwrap();
    let secret_path = dir.path().join("pigsty.key");
    let ours = SecretKey::generate("Bundle <b@example.invalid>").unwrap();
    std::fs::write(&secret_path, ours.to_armored().unwrap()).unwrap();
    Fixture {
        root,
        key,
        keyring,
        secret_path,
        _dir: dir,
    }
}

fn load(
    f: &Fixture,
    base: &str,
    keyring: Option<&Path>,
) -> Result<upstream::RepoIndex, UpstreamError> {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2).unwrap().with_progress(false);
    let source = AptSource::parse("fixture", &format!("{base} test main")).unwrap();
    let ring = keyring.map(|p| (PublicKeyring::load(p).unwrap(), p.to_path_buf()));
    let _ = f;
    upstream::load(
        &fetcher,
        &source,
        ring.as_ref().map(|(r, p)| (r, p.as_path())),
        "amd64",
    )
}

#[test]
fn good_signature_loads_the_index() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let idx = load(&f, &base, Some(&f.keyring)).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some(f.key.fingerprint().as_str()));
    let names: Vec<&str> = idx.repo.packages.iter().map(|p| p.package()).collect();
    assert_eq!(names, vec!["alpha", "beta"]);
}

#[test]
fn signature_by_another_key_is_refused() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let other = tempfile::NamedTempFile::new().unwrap();
    let stranger = SecretKey::generate("Stranger <s@example.invalid>").unwrap();
    std::fs::write(other.path(), stranger.public().to_armored().unwrap()).unwrap();
    let err = load(&f, &base, Some(other.path())).unwrap_err().to_string();
    assert!(
        err.contains("repo `fixture`") && err.contains("does not verify"),
        "{err}"
    );
    assert!(err.contains("--insecure-upstream fixture"), "{err}");
}

#[test]
fn altered_inrelease_is_refused() {
    let f = fixture();
    let path = f.root.join("dists/test/InRelease");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("Origin: Test", "Origin: Evil");
    std::fs::write(&path, text).unwrap();
    let base = serve(f.root.clone()).unwrap();
    let err = load(&f, &base, Some(&f.keyring)).unwrap_err();
    assert!(matches!(err, UpstreamError::BadSignature { .. }), "{err}");
}

#[test]
fn missing_signature_is_refused_unless_insecure() {
    let f = fixture();
    std::fs::remove_file(f.root.join("dists/test/InRelease")).unwrap();
    let base = serve(f.root.clone()).unwrap();
    let err = load(&f, &base, Some(&f.keyring)).unwrap_err();
    assert!(matches!(err, UpstreamError::Unsigned { .. }), "{err}");
    assert!(err.to_string().contains("--insecure-upstream fixture"));
    // with no keyring (the user said --insecure-upstream) it loads, unsigned
    let idx = load(&f, &base, None).unwrap();
    assert_eq!(idx.signed_by, None);
    assert_eq!(idx.repo.packages.len(), 2);
}

#[test]
fn release_with_detached_signature_loads() {
    let f = fixture();
    std::fs::remove_file(f.root.join("dists/test/InRelease")).unwrap();
    let release = std::fs::read(f.root.join("dists/test/Release")).unwrap();
    std::fs::write(
        f.root.join("dists/test/Release.gpg"),
        f.key.sign_detached(&release[..]).unwrap(),
    )
    .unwrap();
    let base = serve(f.root.clone()).unwrap();
    let idx = load(&f, &base, Some(&f.keyring)).unwrap();
    assert_eq!(idx.signed_by.as_deref(), Some(f.key.fingerprint().as_str()));
}

#[test]
fn index_altered_after_release_is_refused() {
    let f = fixture();
    let p = f.root.join("dists/test/main/binary-amd64/Packages.gz");
    let mut data = std::fs::read(&p).unwrap();
    data.push(0);
    std::fs::write(&p, data).unwrap();
    let base = serve(f.root.clone()).unwrap();
    let err = load(&f, &base, Some(&f.keyring)).unwrap_err().to_string();
    assert!(
        err.contains("main/binary-amd64/Packages.gz") && err.contains("mismatch"),
        "{err}"
    );
}

fn pigsty_build(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_pigsty-build"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn only_repo_build_makes_a_verified_bundle() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("fixture={base} test main");
    let key = format!("fixture={}", f.keyring.display());
    let common = [
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--pg",
        "15",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &repo,
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
        "--json",
    ];
    // without a key for the repo: refused, naming the flag (under --json as the envelope)
    let o = pigsty_build(&common);
    assert_eq!(o.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("--key fixture=FILE"),
        "{err}"
    );
    // with its key: built
    let mut args = common.to_vec();
    args.extend(["--key", &key]);
    let o = pigsty_build(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["packages"], 2, "alpha and its dependency beta");
    // Without --json, a line per phase on stderr (no terminal here); with -q, none.
    let text_out = tempfile::tempdir().unwrap();
    let mut text = args.clone();
    text.retain(|a| *a != "--json");
    let pos = text.iter().position(|a| *a == "--out").unwrap();
    text[pos + 1] = text_out.path().to_str().unwrap();
    let o = pigsty_build(&text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let err = String::from_utf8_lossy(&o.stderr);
    for phase in [
        "d12.x86_64/pg15: fetching the indexes of 1 repos and resolving",
        "downloading 2 packages",
        "d12.x86_64/pg15: writing the repo",
        "d12.x86_64/pg15: signing the manifest",
        "d12.x86_64/pg15: packing the bundle",
    ] {
        assert!(err.contains(phase), "{phase}: {err}");
    }
    text.push("-q");
    let o = pigsty_build(&text);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(report["repos"][0]["signed_by"], f.key.fingerprint());
    let bundle = report["bundle"].as_str().unwrap().to_string();
    let pubkey = out.path().join("pigsty/pigsty.pub");
    let o = pigsty_build(&["verify", &bundle, "--key", pubkey.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the repo's own Packages lists both, with the local file names
    let packages = std::fs::read_to_string(out.path().join("pigsty/Packages")).unwrap();
    assert!(
        packages.contains("Filename: alpha_1.0_amd64.deb") && packages.contains("Package: beta"),
        "{packages}"
    );
    // the SBOM lists both packages with their checksums
    let sbom: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("pigsty/sbom.spdx.json")).unwrap())
            .unwrap();
    let names: Vec<&str> = sbom["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alpha", "beta"]);
    assert_eq!(sbom["packages"][0]["checksums"][0]["algorithm"], "SHA256");
    // a bundle verified with another key is refused
    let stranger = out.path().join("stranger.pub");
    std::fs::write(
        &stranger,
        SecretKey::generate("S <s@example.invalid>")
            .unwrap()
            .public()
            .to_armored()
            .unwrap(),
    )
    .unwrap();
    let o = pigsty_build(&["verify", &bundle, "--key", stranger.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("signature"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // unsigned upstream: refused, then accepted with --insecure-upstream
    std::fs::remove_file(f.root.join("dists/test/InRelease")).unwrap();
    let o = pigsty_build(&args);
    assert_eq!(o.status.code(), Some(1));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "trust", "{err}");
    assert!(err.to_string().contains("not signed"), "{err}");
    let mut insecure = common.to_vec();
    insecure.extend(["--insecure-upstream", "fixture"]);
    let o = pigsty_build(&insecure);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn unsatisfiable_dependency_prints_the_chain() {
    let f = fixture();
    // drop beta from the index: alpha's dependency cannot be met
    let packages = "Package: alpha\nVersion: 1.0\nArchitecture: amd64\nDepends: beta (>= 1.0)\nFilename: pool/alpha_1.0_amd64.deb\nSize: 1\nSHA256: 00\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(packages.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(f.root.join("dists/test/main/binary-amd64/Packages.gz"), &gz).unwrap();
    let release = format!(
        "Origin: Test\nSHA256:\n {} {} main/binary-amd64/Packages.gz\n",
        sha(&gz),
        gz.len()
    );
    std::fs::write(
        f.root.join("dists/test/InRelease"),
        f.key.clearsign(&release).unwrap(),
    )
    .unwrap();
    let base = serve(f.root.clone()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("fixture={base} test main");
    let key = format!("fixture={}", f.keyring.display());
    let o = pigsty_build(&[
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--pg",
        "15",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &repo,
        "--key",
        &key,
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("named in --packages -> alpha: no package provides beta (>= 1.0)"),
        "{err}"
    );
    assert!(!out.path().join("pigsty").exists());
}

/// `--os d12,d13 --pg 15,17`: four targets in one run, each in its own folder with its own
/// verified bundle, every package downloaded once into the shared cache.
#[test]
fn several_targets_in_one_run() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let repo = format!("fixture={base} test main");
    let key = format!("fixture={}", f.keyring.display());
    let o = pigsty_build(&[
        "--os",
        "d12,d13",
        "--arch",
        "x86_64",
        "--pg",
        "15,17",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &repo,
        "--key",
        &key,
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
        "--json",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let reports: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let reports = reports.as_array().unwrap();
    assert_eq!(reports.len(), 4);
    let mut bundles = Vec::new();
    for (r, dir) in reports.iter().zip([
        "d12.x86_64.pg15",
        "d12.x86_64.pg17",
        "d13.x86_64.pg15",
        "d13.x86_64.pg17",
    ]) {
        let bundle = r["bundle"].as_str().unwrap().to_string();
        assert!(
            bundle.starts_with(out.path().join(dir).to_str().unwrap()),
            "{bundle} not in {dir}"
        );
        assert!(out.path().join(dir).join("pigsty/Packages").exists());
        let pubkey = out.path().join(dir).join("pigsty/pigsty.pub");
        let o = pigsty_build(&["verify", &bundle, "--key", pubkey.to_str().unwrap()]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        bundles.push(bundle);
    }
    bundles.sort();
    bundles.dedup();
    assert_eq!(bundles.len(), 4, "four distinct bundles");
    // The cache holds each .deb once.
    let mut debs = 0;
    for e in walk(cache.path()) {
        if e.extension().is_some_and(|x| x == "deb") {
            debs += 1;
        }
    }
    assert!(
        debs <= 2,
        "alpha and beta cached once each, found {debs} .debs"
    );
    // One target that cannot be built stops the run, naming it.
    let o = pigsty_build(&[
        "--os",
        "d12,el9",
        "--arch",
        "x86_64",
        "--pg",
        "15",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &repo,
        "--key",
        &key,
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--out",
        out.path().join("mixed").to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("target el9.x86_64/pg15"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// `--base OLD/MANIFEST.json`: a delta bundle carries only what is new or changed, lists the
/// rest as carried over from the base, and verifies; a base for another target is refused.
#[test]
fn delta_bundle_carries_only_new_files() {
    let f = fixture();
    let base_url = serve(f.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let old = tempfile::tempdir().unwrap();
    let new = tempfile::tempdir().unwrap();
    let repo = format!("fixture={base_url} test main");
    let key = format!("fixture={}", f.keyring.display());
    let run = |packages: &str, out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "--os",
            "d12",
            "--arch",
            "x86_64",
            "--pg",
            "15",
            "--no-bootstrap",
            "--packages",
            packages,
            "--only-repo",
            &repo,
            "--key",
            &key,
            "--sign-key",
            f.secret_path.to_str().unwrap(),
            "--cache",
            cache.path().to_str().unwrap(),
            "--json",
        ];
        let out = out.to_str().unwrap().to_string();
        args.extend(["--out", &out]);
        args.extend(extra);
        pigsty_build(&args)
    };
    let o = run("beta", old.path(), &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let base = old.path().join("pigsty/MANIFEST.json");
    let o = run("alpha", new.path(), &["--base", base.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let bundle = report["bundle"].as_str().unwrap().to_string();
    assert!(bundle.ends_with(".d12.x86_64.delta.tgz"), "{bundle}");
    let pubkey = new.path().join("pigsty/pigsty.pub");
    let o = pigsty_build(&["verify", &bundle, "--key", pubkey.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (manifest, _) =
        pigsty_bundle::archive::read_manifest(std::path::Path::new(&bundle)).unwrap();
    let delta = manifest.base.expect("a delta manifest");
    assert_eq!(
        delta.manifest_sha256,
        pigsty_bundle::fs::hash_file(&base).unwrap().1
    );
    assert!(
        delta.carried.iter().any(|c| c.starts_with("beta_")),
        "{:?}",
        delta.carried
    );
    assert!(!delta.carried.iter().any(|c| c.starts_with("alpha_")));
    // The archive has alpha's .deb and the new metadata, not beta's .deb.
    let names = tar_names(&bundle);
    assert!(
        names.iter().any(|n| n.starts_with("pigsty/alpha_")),
        "{names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("pigsty/beta_")),
        "{names:?}"
    );
    assert!(names.contains(&"pigsty/Packages".to_string()), "{names:?}");
    // The whole manifest still lists beta: the repo it leaves installed is complete.
    assert!(manifest.files.iter().any(|f| f.path.starts_with("beta_")));

    let o = pigsty_build(&[
        "--os",
        "d13",
        "--arch",
        "x86_64",
        "--pg",
        "15",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &repo,
        "--key",
        &key,
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--cache",
        cache.path().to_str().unwrap(),
        "--out",
        new.path().join("other").to_str().unwrap(),
        "--base",
        base.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--base") && err.contains("d12.x86_64/pg15"),
        "{err}"
    );
}

fn tar_names(bundle: &str) -> Vec<String> {
    let file = std::fs::File::open(bundle).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The build arguments for `--packages alpha` from the fixture, into `out` with `cache`.
fn alpha_build(f: &Fixture, base: &str, out: &Path, cache: &Path) -> Vec<String> {
    [
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--pg",
        "15",
        "--no-bootstrap",
        "--packages",
        "alpha",
        "--only-repo",
        &format!("fixture={base} test main"),
        "--key",
        &format!("fixture={}", f.keyring.display()),
        "--sign-key",
        f.secret_path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--cache",
        cache.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec()
}

/// The fixture's index replaced by `packages`, signed again.
fn republish(f: &Fixture, packages: &str) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(packages.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(f.root.join("dists/test/main/binary-amd64/Packages.gz"), &gz).unwrap();
    let release = format!(
        "Origin: Test\nSHA256:\n {} {} main/binary-amd64/Packages.gz\n",
        sha(&gz),
        gz.len()
    );
    std::fs::write(
        f.root.join("dists/test/InRelease"),
        f.key.clearsign(&release).unwrap(),
    )
    .unwrap();
}

#[test]
fn two_packages_with_one_file_name_are_refused_and_the_cache_stays_whole() {
    let f = fixture();
    // beta's file has alpha's name (another folder, other bytes of the same size).
    let alpha = std::fs::read(f.root.join("pool/alpha_1.0_amd64.deb")).unwrap();
    let mut other = alpha.clone();
    other[0] ^= 0x20;
    std::fs::create_dir_all(f.root.join("pool/other")).unwrap();
    std::fs::write(f.root.join("pool/other/alpha_1.0_amd64.deb"), &other).unwrap();
    let packages = format!(
        "Package: alpha\nVersion: 1.0\nArchitecture: amd64\nDepends: beta\nFilename: pool/alpha_1.0_amd64.deb\nSize: {}\nSHA256: {}\n\nPackage: beta\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/other/alpha_1.0_amd64.deb\nSize: {}\nSHA256: {}\n",
        alpha.len(),
        sha(&alpha),
        other.len(),
        sha(&other)
    );
    republish(&f, &packages);
    let base = serve(f.root.clone()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let args = alpha_build(&f, &base, out.path(), cache.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = pigsty_build(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("two packages with the file name alpha_1.0_amd64.deb")
            && err.contains("pool/alpha_1.0_amd64.deb")
            && err.contains("pool/other/alpha_1.0_amd64.deb"),
        "{err}"
    );
    // Neither cache entry was written through the other's name.
    for data in [&alpha, &other] {
        let h = sha(data);
        let entry = cache.path().join("sha256").join(&h[..2]).join(&h);
        assert_eq!(
            sha(&std::fs::read(&entry).unwrap()),
            h,
            "{}",
            entry.display()
        );
    }
    assert!(std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".tgz")));
}

#[test]
fn a_damaged_cache_entry_is_never_signed() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let first = tempfile::tempdir().unwrap();
    let args = alpha_build(&f, &base, first.path(), cache.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = pigsty_build(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Bad luck (or a write through a link) changes a cached package, same size.
    let alpha = std::fs::read(f.root.join("pool/alpha_1.0_amd64.deb")).unwrap();
    let h = sha(&alpha);
    let entry = cache.path().join("sha256").join(&h[..2]).join(&h);
    let mut bytes = std::fs::read(&entry).unwrap();
    bytes[10] ^= 1;
    std::fs::remove_file(&entry).unwrap();
    std::fs::write(&entry, &bytes).unwrap();
    let second = tempfile::tempdir().unwrap();
    let args = alpha_build(&f, &base, second.path(), cache.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = pigsty_build(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a bundle was signed over bytes not checked:\n{err}"
    );
    assert!(
        err.contains("alpha_1.0_amd64.deb") && err.contains("not the ones the manifest lists"),
        "{err}"
    );
    assert!(err.contains(&entry.display().to_string()), "{err}");
    assert!(!second.path().join("pigsty").exists());
    // The damaged entry is gone: the next build downloads it again, and signs good bytes.
    assert!(!entry.exists());
    let third = tempfile::tempdir().unwrap();
    let args = alpha_build(&f, &base, third.path(), cache.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = pigsty_build(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(sha(&std::fs::read(&entry).unwrap()), h);
    assert!(std::fs::read_dir(second.path())
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".tgz")));
}

#[test]
fn only_repo_first_one_has_the_highest_priority() {
    // Two repos with alpha: the first at 1.0, the second at 2.0.
    let a = fixture();
    let b = fixture();
    let alpha = std::fs::read(b.root.join("pool/alpha_1.0_amd64.deb")).unwrap();
    let beta = std::fs::read(b.root.join("pool/beta_1.0_amd64.deb")).unwrap();
    let packages = format!(
        "Package: alpha\nVersion: 2.0\nArchitecture: amd64\nDepends: beta\nFilename: pool/alpha_1.0_amd64.deb\nSize: {}\nSHA256: {}\n\nPackage: beta\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/beta_1.0_amd64.deb\nSize: {}\nSHA256: {}\n",
        alpha.len(),
        sha(&alpha),
        beta.len(),
        sha(&beta)
    );
    republish(&b, &packages);
    let (base_a, base_b) = (
        serve(a.root.clone()).unwrap(),
        serve(b.root.clone()).unwrap(),
    );
    let cache = tempfile::tempdir().unwrap();
    let version_of_alpha = |order: [(&str, &str, &Fixture); 2]| {
        let out = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = [
            "--os",
            "d12",
            "--arch",
            "x86_64",
            "--pg",
            "15",
            "--packages",
            "alpha",
            "--no-bootstrap",
            "--json",
        ]
        .map(String::from)
        .to_vec();
        for (name, base, f) in order {
            args.extend([
                "--only-repo".into(),
                format!("{name}={base} test main"),
                "--key".into(),
                format!("{name}={}", f.keyring.display()),
            ]);
        }
        args.extend([
            "--sign-key".into(),
            a.secret_path.display().to_string(),
            "--out".into(),
            out.path().display().to_string(),
            "--cache".into(),
            cache.path().display().to_string(),
        ]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = pigsty_build(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let m: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out.path().join("pigsty/MANIFEST.json")).unwrap(),
        )
        .unwrap();
        let p = m["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "alpha")
            .unwrap()
            .clone();
        (
            p["version"].as_str().unwrap().to_string(),
            p["repo"].as_str().unwrap().to_string(),
        )
    };
    // The first repo wins although the second has the higher version; and the other way.
    assert_eq!(
        version_of_alpha([("one", &base_a, &a), ("two", &base_b, &b)]),
        ("1.0".to_string(), "one".to_string())
    );
    assert_eq!(
        version_of_alpha([("two", &base_b, &b), ("one", &base_a, &a)]),
        ("2.0".to_string(), "two".to_string())
    );
}

/// The bootstrap set is resolved into the bundle with its closure whatever `--packages` says,
/// recorded in the manifest; one of its packages that no repository has is an error naming
/// it, even with `--allow-missing`; `--no-bootstrap` leaves it out. `--include FILE` puts a
/// file into the bundle as `pigsty/include/NAME`, listed and signed with the rest.
#[test]
fn bootstrap_set_is_always_in_the_bundle_and_include_adds_signed_files() {
    let f = fixture();
    let base = serve(f.root.clone()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("boot.toml");
    let extra = work.path().join("pigsty-v4.5.0.tgz");
    std::fs::write(&extra, b"not really Pigsty's source\n".repeat(50)).unwrap();
    // `--packages alpha` -> `--packages none` (the bootstrap set alone asks for alpha), or
    // `--packages PACKAGES`
    let build_with = |out: &Path, packages: &str, extra_args: &[&str]| {
        let mut args: Vec<String> = alpha_build(&f, &base, out, cache.path())
            .into_iter()
            .filter(|a| a != "--no-bootstrap")
            .collect();
        let i = args.iter().position(|a| a == "alpha").unwrap();
        args[i] = packages.into();
        args.extend(["--config".to_string(), config.display().to_string()]);
        args.extend(extra_args.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        pigsty_build(&args)
    };
    let build = |out: &Path, extra_args: &[&str]| build_with(out, "none", extra_args);

    // a package of the set no repository has: refused by name, --allow-missing or not
    std::fs::write(&config, "[bootstrap]\npackages = [\"alpha\", \"ghost\"]\n").unwrap();
    let refused = work.path().join("refused");
    for extra_args in [&[][..], &["--allow-missing"][..]] {
        let o = build(&refused, extra_args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{extra_args:?}: {err}");
        assert!(err.contains("ghost"), "{err}");
        assert!(err.contains("bootstrap set"), "{err}");
        assert!(!refused.join("pigsty").exists());
    }
    let o = build(&refused, &["--allow-missing"]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--no-bootstrap"),
        "says what to do"
    );

    // the set alone, with its closure, and an included file
    std::fs::write(&config, "[bootstrap]\npackages = [\"alpha\"]\n").unwrap();
    let out = work.path().join("out");
    let o = build(&out, &["--include", extra.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("pigsty/MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["bootstrap"], serde_json::json!(["alpha"]));
    let names: Vec<&str> = manifest["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"], "the set with its closure");
    assert_eq!(
        manifest["packages"][0]["wanted_by"],
        serde_json::json!(["bootstrap set"])
    );
    let listed = manifest["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "include/pigsty-v4.5.0.tgz")
        .expect("the included file is listed");
    assert_eq!(listed["sha256"], sha(&std::fs::read(&extra).unwrap()));
    let bundle = report["bundle"].as_str().unwrap().to_string();
    assert!(tar_names(&bundle).contains(&"pigsty/include/pigsty-v4.5.0.tgz".to_string()));
    let pubkey = out.join("pigsty/pigsty.pub");
    let o = pigsty_build(&["verify", &bundle, "--key", pubkey.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // two includes with one name: refused, naming it
    let twin_dir = work.path().join("twin");
    std::fs::create_dir(&twin_dir).unwrap();
    let twin = twin_dir.join("pigsty-v4.5.0.tgz");
    std::fs::write(&twin, b"other").unwrap();
    let o = build(
        &work.path().join("twice"),
        &[
            "--include",
            extra.to_str().unwrap(),
            "--include",
            twin.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("pigsty-v4.5.0.tgz"), "{err}");

    // --no-bootstrap: the set is neither resolved nor recorded
    let lean = work.path().join("lean");
    let o = build_with(&lean, "beta", &["--no-bootstrap"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lean.join("pigsty/MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest["bootstrap"], serde_json::json!([]));
    assert_eq!(manifest["packages"].as_array().unwrap().len(), 1);
}
