//! Entry points of the cargo-fuzz targets in `fuzz/` (and of the replay of their corpora on
//! stable Rust, `builder/tests/fuzz_corpus.rs`): each parser of bytes that come from an
//! upstream (`Packages`, `Release` / `InRelease`, `repomd.xml`, `primary.xml`,
//! `filelists.xml`, rpm headers) run over any input, with what must hold checked by
//! assertions: a panic is a finding. Not an API: hidden, and nothing else uses it.

use std::collections::HashSet;

/// `Packages`: every paragraph parsed, its relation fields too.
pub fn apt_packages(data: &[u8]) {
    let reader = crate::apt::index::PackagesReader::new(data);
    for entry in reader.take(10_000) {
        let Ok(entry) = entry else { continue };
        // What a paragraph was read from holds it whole, and reads back alone as the same
        // paragraph: the local repo's `Packages` is these texts one after the other.
        assert!(entry.raw().ends_with('\n'));
        let mut again = crate::apt::index::PackagesReader::new(entry.raw().as_bytes());
        match (again.next(), again.next()) {
            (Some(Ok(back)), None) => {
                assert_eq!(back.raw(), entry.raw());
                assert_eq!(back.package(), entry.package());
                assert_eq!(back.version(), entry.version());
            }
            (first, second) => panic!(
                "{:?} reads back as {:?} then {:?}",
                entry.raw(),
                first.map(|e| e.map(|e| e.raw().to_string())),
                second.map(|e| e.map(|e| e.raw().to_string()))
            ),
        }
        let _ = entry.version().to_string();
        for field in [
            entry.depends(),
            entry.pre_depends(),
            entry.recommends(),
            entry.provides(),
            entry.conflicts(),
            entry.breaks(),
        ]
        .into_iter()
        .flatten()
        {
            let _ = crate::apt::parse_relations(field);
        }
    }
}

/// `Release` or `InRelease` (its clear-signed wrapper stripped, as the builder does after
/// checking the signature): every `SHA256` entry has a 64-hex digest and a path.
pub fn apt_release(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(release) = crate::apt::index::parse_release(&text) {
        for f in &release.sha256 {
            assert!(!f.path.is_empty(), "{f:?}");
            let _ = release.file(&f.path);
        }
    }
}

/// `repomd.xml`: parsed, its primary entry looked up.
pub fn dnf_repomd(data: &[u8]) {
    if let Ok(repomd) = crate::dnf::Repomd::parse(data) {
        let _ = repomd.get("primary");
        let _ = repomd.get("filelists");
    }
}

/// `primary.xml`: every package read, its dependencies parsed into expressions.
pub fn dnf_primary(data: &[u8]) {
    let mut reader = crate::dnf::PrimaryReader::new(data);
    for _ in 0..10_000 {
        match reader.next_package() {
            Ok(Some(p)) => {
                let _ = p.nevra();
                for d in p.provides.iter().chain(&p.requires).chain(&p.conflicts) {
                    let _ = d.dep();
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// `filelists.xml`: read, keeping the paths a dependency could ask for.
pub fn dnf_filelists(data: &[u8]) {
    let wanted: HashSet<String> = ["/usr/bin/sh", "/usr/share/zoneinfo", "/etc/x"]
        .into_iter()
        .map(String::from)
        .collect();
    if let Ok(files) = crate::dnf::read_filelists(data, &wanted) {
        for f in files {
            assert!(wanted.contains(&f.path), "{f:?}");
        }
    }
}

/// An rpm's lead, signature header and header, indexed as the repodata writer indexes it;
/// what it writes must read back.
pub fn rpm_header(data: &[u8]) {
    crate::dnf::repo::fuzz_rpm(data);
}
