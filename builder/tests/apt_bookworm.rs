//! The apt closure over the real bookworm `main` index for amd64.
//!
//! The mirror is read from the host's apt sources (`/etc/apt/sources.list.d/debian.sources`);
//! the index is downloaded once with `curl` into `~/.cache/pigsty-build-test/`. Without the
//! sources file or the network the test says so and passes.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use pigsty_build::apt::closure::{resolve, unmet_depends, ClosureOptions, Repo, Requested};
use pigsty_build::apt::index::{open_index, read_packages};

/// The first `URIs:` of the host's deb822 sources, and whether it lists `bookworm`.
fn host_mirror() -> Option<String> {
    let text = std::fs::read_to_string("/etc/apt/sources.list.d/debian.sources").ok()?;
    for para in text.split("\n\n") {
        let field = |name: &str| {
            para.lines()
                .find_map(|l| l.strip_prefix(name).map(|v| v.trim().to_string()))
        };
        let (Some(uris), Some(suites)) = (field("URIs:"), field("Suites:")) else {
            continue;
        };
        if suites.split_whitespace().any(|s| s == "bookworm") {
            return uris.split_whitespace().next().map(str::to_string);
        }
    }
    None
}

fn bookworm_index() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let dir = PathBuf::from(home).join(".cache/pigsty-build-test");
    let path = dir.join("bookworm-main-amd64-Packages.xz");
    if path.exists() {
        return Some(path);
    }
    let Some(mirror) = host_mirror() else {
        eprintln!("no bookworm mirror in the host's apt sources; skipping");
        return None;
    };
    std::fs::create_dir_all(&dir).ok()?;
    let tmp = dir.join("bookworm-main-amd64-Packages.xz.part");
    let url = format!(
        "{}/dists/bookworm/main/binary-amd64/Packages.xz",
        mirror.trim_end_matches('/')
    );
    let ok = Command::new("curl")
        .args(["-sfL", "-o"])
        .arg(&tmp)
        .arg(&url)
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("could not download {url}; skipping");
        return None;
    }
    std::fs::rename(&tmp, &path).ok()?;
    Some(path)
}

#[test]
fn bookworm_postgis_closure() {
    let Some(path) = bookworm_index() else { return };
    // Decompress first so the parse is timed on its own.
    let mut text = Vec::new();
    std::io::copy(&mut open_index(&path).unwrap(), &mut text).unwrap();
    let t = Instant::now();
    let packages = read_packages(std::io::Cursor::new(&text)).unwrap();
    let parse = t.elapsed();
    assert!(packages.len() > 50_000, "{} paragraphs", packages.len());
    let repos = vec![Repo {
        name: "bookworm".into(),
        packages,
        priority: pigsty_build::apt::closure::DEFAULT_PRIORITY,
    }];

    let requested: Vec<Requested> = [
        "postgresql-15",
        "postgresql-15-postgis-3",
        "postgresql-15-cron",
    ]
    .iter()
    .map(|n| Requested::new(*n, format!("test {n}")))
    .collect();
    let t = Instant::now();
    let closure = resolve(&repos, "amd64", &requested, &ClosureOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let resolve_time = t.elapsed();
    eprintln!(
        "bookworm: {} MB parsed in {parse:?}; closure of {} packages in {resolve_time:?}",
        text.len() >> 20,
        closure.packages.len()
    );

    for name in [
        "libc6",
        "postgresql-common",
        "libgeos-c1v5",
        "libproj25",
        "postgresql-client-15",
        "libpq5",
    ] {
        assert!(
            closure.get(name).is_some(),
            "{name} missing from the closure"
        );
    }
    for p in &closure.packages {
        assert!(
            p.arch == "amd64" || p.arch == "all",
            "{} is {}",
            p.name,
            p.arch
        );
        assert!(
            p.entry.filename().is_some() && p.entry.sha256().is_some() && p.entry.size().is_some()
        );
        assert!(!p.why.is_empty(), "{} has no reason", p.name);
    }
    let unmet = unmet_depends(&closure.packages, "amd64", None);
    assert!(
        unmet.is_empty(),
        "unmet dependencies:\n{}",
        unmet.join("\n")
    );

    // With Recommends the set only grows, and stays closed.
    let opts = ClosureOptions {
        with_recommends: true,
        ..Default::default()
    };
    let with = resolve(&repos, "amd64", &requested, &opts).unwrap_or_else(|e| panic!("{e}"));
    assert!(with.packages.len() > closure.packages.len());
    assert!(unmet_depends(&with.packages, "amd64", None).is_empty());
}
