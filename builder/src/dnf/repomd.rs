//! Parser of an rpm repository's `repodata/repomd.xml`: where each metadata file (primary,
//! filelists, modules, ...) is, its checksum and size.

use std::io::BufRead;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::primary::{attr, Checksum, PrimaryError};

/// One `<data type=...>` of `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RepomdData {
    /// `primary`, `filelists`, `other`, `modules`, `primary_db`, ...
    pub kind: String,
    /// `<location href=...>`, relative to the repository root.
    pub location: String,
    /// Checksum of the file as stored (compressed).
    pub checksum: Checksum,
    /// Checksum of the decompressed content, when given.
    pub open_checksum: Option<Checksum>,
    pub size: Option<u64>,
    pub open_size: Option<u64>,
    pub timestamp: Option<u64>,
}

/// A parsed `repomd.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Repomd {
    pub revision: Option<String>,
    pub data: Vec<RepomdData>,
}

impl Repomd {
    /// Parses `repomd.xml`.
    pub fn parse(reader: impl BufRead) -> Result<Repomd, PrimaryError> {
        let mut xml = Reader::from_reader(reader);
        let mut buf = Vec::new();
        let mut text = String::new();
        let mut out = Repomd::default();
        let mut current: Option<RepomdData> = None;
        let mut checksum_kind = String::new();
        loop {
            buf.clear();
            match xml.read_event_into(&mut buf)? {
                Event::Eof => {
                    if current.is_some() {
                        return Err(PrimaryError::Missing {
                            index: out.data.len() + 1,
                            name: "repomd.xml".to_string(),
                            field: "</data>",
                        });
                    }
                    break;
                }
                Event::Start(e) => {
                    text.clear();
                    match e.local_name().as_ref() {
                        b"data" => {
                            current = Some(RepomdData {
                                kind: attr(&e, b"type")?.unwrap_or_default().into_owned(),
                                ..RepomdData::default()
                            })
                        }
                        b"checksum" | b"open-checksum" => {
                            checksum_kind = attr(&e, b"type")?.unwrap_or_default().into_owned()
                        }
                        _ => {}
                    }
                }
                Event::Empty(e) => {
                    text.clear();
                    if let (b"location", Some(d)) = (e.local_name().as_ref(), current.as_mut()) {
                        d.location = attr(&e, b"href")?.unwrap_or_default().into_owned();
                    }
                }
                Event::Text(t) => text.push_str(&t.decode()?),
                Event::GeneralRef(r) => {
                    if let Some(c) = r.resolve_char_ref()? {
                        text.push(c);
                    }
                }
                Event::End(e) => {
                    let value = std::mem::take(&mut text);
                    let value = value.trim();
                    let index = out.data.len() + 1;
                    let number = |field: &'static str| {
                        value.parse::<u64>().map_err(|_| PrimaryError::Bad {
                            index,
                            name: "repomd.xml".to_string(),
                            field,
                            value: value.to_string(),
                        })
                    };
                    let name = e.local_name();
                    if name.as_ref() == b"data" {
                        if let Some(d) = current.take() {
                            out.data.push(d);
                        }
                        continue;
                    }
                    match (name.as_ref(), current.as_mut()) {
                        (b"revision", _) => out.revision = Some(value.to_string()),
                        (b"checksum", Some(d)) => {
                            d.checksum = Checksum {
                                kind: std::mem::take(&mut checksum_kind),
                                value: value.to_string(),
                            }
                        }
                        (b"open-checksum", Some(d)) => {
                            d.open_checksum = Some(Checksum {
                                kind: std::mem::take(&mut checksum_kind),
                                value: value.to_string(),
                            })
                        }
                        (b"size", Some(d)) => d.size = Some(number("size")?),
                        (b"open-size", Some(d)) => d.open_size = Some(number("open-size")?),
                        (b"timestamp", Some(d)) => d.timestamp = Some(number("timestamp")?),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The entry of type `kind` (`primary`, ...).
    pub fn get(&self, kind: &str) -> Option<&RepomdData> {
        self.data.iter().find(|d| d.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnf::primary::{open_metadata, read_primary, DepEntry, RpmPackage};
    use crate::dnf::rich::Op;
    use crate::dnf::version::Evr;
    use sha2::{Digest, Sha256};
    use std::io::Read;
    use std::path::Path;
    use std::process::Command;

    const REPOMD: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="primary">
    <checksum type="sha256">c0ffee</checksum>
    <open-checksum type="sha256">beef</open-checksum>
    <location href="repodata/c0ffee-primary.xml.gz"/>
    <timestamp>1700000001</timestamp>
    <size>1234</size>
    <open-size>5678</open-size>
  </data>
  <data type="modules">
    <checksum type="sha1">abcd</checksum>
    <location href="repodata/abcd-modules.yaml.xz"/>
  </data>
</repomd>
"#;

    #[test]
    fn parses_fixture() {
        let md = Repomd::parse(REPOMD.as_bytes()).unwrap();
        assert_eq!(md.revision.as_deref(), Some("1700000000"));
        assert_eq!(md.data.len(), 2);
        let p = md.get("primary").unwrap();
        assert_eq!(p.location, "repodata/c0ffee-primary.xml.gz");
        assert_eq!(
            p.checksum,
            Checksum {
                kind: "sha256".into(),
                value: "c0ffee".into()
            }
        );
        assert_eq!(
            p.open_checksum.as_ref().map(|c| c.value.as_str()),
            Some("beef")
        );
        assert_eq!(
            (p.size, p.open_size, p.timestamp),
            (Some(1234), Some(5678), Some(1700000001))
        );
        let m = md.get("modules").unwrap();
        assert_eq!(m.checksum.kind, "sha1");
        assert_eq!((m.open_checksum.as_ref(), m.size), (None, None));
        assert!(md.get("filelists").is_none());
        let bad = REPOMD.replace("<size>1234", "<size>many");
        assert!(Repomd::parse(bad.as_bytes()).is_err());
        assert!(Repomd::parse(&REPOMD.as_bytes()[..300]).is_err());
    }

    fn sha256_file(path: &Path) -> String {
        let mut file = std::fs::File::open(path).unwrap();
        let mut hasher = Sha256::new();
        let mut buf = vec![0; 1 << 16];
        loop {
            let n = file.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        hex::encode(hasher.finalize())
    }

    fn build_rpms(dir: &Path) {
        let config = rpm::BuildConfig::v4().compression(rpm::CompressionType::Gzip);
        let mut pre = rpm::Dependency::any("/bin/sh");
        pre.flags |= rpm::DependencyFlags::SCRIPT_PRE;
        let pgvector = rpm::PackageBuilder::new(
            "pgvector_17",
            "0.8.0",
            "PostgreSQL",
            "x86_64",
            "vector similarity search",
        )
        .using_config(config)
        .epoch(1)
        .release("1PGDG.rhel9")
        .with_file_contents(
            "not really a library",
            rpm::FileOptions::new("/usr/pgsql-17/lib/vector.so"),
        )
        .unwrap()
        .requires(rpm::Dependency::greater_eq("postgresql17-server", "17.0"))
        .requires(rpm::Dependency::any("(pgvector_17-llvmjit if llvm)"))
        .requires(pre)
        .provides(rpm::Dependency::eq("vector", "0.8.0"))
        .conflicts(rpm::Dependency::less("pgvector", "0.5"))
        .obsoletes(rpm::Dependency::less_eq("pgvector_17-old", "1:0.7-9"))
        .pre_install_script("true")
        .build()
        .unwrap();
        pgvector
            .write_file(dir.join("pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm"))
            .unwrap();
        let server = rpm::PackageBuilder::new(
            "postgresql17-server",
            "17.2",
            "PostgreSQL",
            "x86_64",
            "the server",
        )
        .using_config(config)
        .release("1PGDG.rhel9")
        .with_file_contents(
            "#!/bin/sh\n",
            rpm::FileOptions::new("/usr/pgsql-17/bin/postgres"),
        )
        .unwrap()
        .build()
        .unwrap();
        server
            .write_file(dir.join("postgresql17-server-17.2-1PGDG.rhel9.x86_64.rpm"))
            .unwrap();
    }

    fn find<'a>(entries: &'a [DepEntry], name: &str) -> &'a DepEntry {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("no entry `{name}` in {entries:?}"))
    }

    fn check_packages(dir: &Path, pkgs: &[RpmPackage]) {
        assert_eq!(pkgs.len(), 2, "{pkgs:?}");
        let v = pkgs.iter().find(|p| p.name == "pgvector_17").unwrap();
        assert_eq!(v.arch, "x86_64");
        assert_eq!(v.evr, Evr::new(1, "0.8.0", "1PGDG.rhel9"));
        let file = dir.join(&v.location);
        assert_eq!(v.checksum.kind, "sha256");
        assert_eq!(v.checksum.value, sha256_file(&file));
        assert!(v.pkgid);
        assert_eq!(v.size, std::fs::metadata(&file).unwrap().len());
        assert_eq!(
            find(&v.requires, "postgresql17-server").constraint,
            Some((Op::Ge, Evr::new(0, "17.0", "")))
        );
        assert!(find(&v.requires, "(pgvector_17-llvmjit if llvm)")
            .dep()
            .unwrap()
            .is_rich());
        assert!(find(&v.requires, "/bin/sh").pre);
        assert!(!find(&v.requires, "postgresql17-server").pre);
        assert_eq!(
            find(&v.provides, "vector").constraint,
            Some((Op::Eq, Evr::new(0, "0.8.0", "")))
        );
        assert_eq!(
            find(&v.conflicts, "pgvector").constraint,
            Some((Op::Lt, Evr::new(0, "0.5", "")))
        );
        assert_eq!(
            find(&v.obsoletes, "pgvector_17-old").constraint,
            Some((Op::Le, Evr::new(1, "0.7", "9")))
        );
        // primary lists only the files under `*bin/` and `/etc/` (the rest is in filelists).
        assert!(!v.files.iter().any(|f| f.path.ends_with("vector.so")));
        let s = pkgs
            .iter()
            .find(|p| p.name == "postgresql17-server")
            .unwrap();
        assert_eq!(s.evr, Evr::new(0, "17.2", "1PGDG.rhel9"));
        assert_eq!(s.checksum.value, sha256_file(&dir.join(&s.location)));
        assert!(s
            .files
            .iter()
            .any(|f| f.path == "/usr/pgsql-17/bin/postgres"));
    }

    /// Builds two real rpm files, runs the real `createrepo_c` over them with each compression
    /// it supports, and parses `repomd.xml` and `primary.xml` back.
    #[test]
    fn reads_what_createrepo_c_writes() {
        if Command::new("createrepo_c")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("createrepo_c not found; skipping");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        build_rpms(dir.path());
        let mut tested = Vec::new();
        for (compress, suffix) in [
            ("gz", ".gz"),
            ("xz", ".xz"),
            ("bz2", ".bz2"),
            ("zstd", ".zst"),
        ] {
            let out = Command::new("createrepo_c")
                .args([
                    "--quiet",
                    "--no-database",
                    "--general-compress-type",
                    compress,
                ])
                .arg(dir.path())
                .output()
                .unwrap();
            if !out.status.success() {
                eprintln!(
                    "createrepo_c cannot write {compress}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                continue;
            }
            let repomd_path = dir.path().join("repodata/repomd.xml");
            let md = Repomd::parse(open_metadata(&repomd_path).unwrap()).unwrap();
            let primary = md.get("primary").unwrap();
            assert!(primary.location.ends_with(suffix), "{}", primary.location);
            let path = dir.path().join(&primary.location);
            assert_eq!(primary.checksum.value, sha256_file(&path));
            assert_eq!(primary.size, Some(std::fs::metadata(&path).unwrap().len()));
            let mut xml = Vec::new();
            open_metadata(&path).unwrap().read_to_end(&mut xml).unwrap();
            let open = primary.open_checksum.as_ref().unwrap();
            assert_eq!(open.value, hex::encode(Sha256::digest(&xml)));
            assert_eq!(primary.open_size, Some(xml.len() as u64));
            check_packages(
                dir.path(),
                &read_primary(open_metadata(&path).unwrap()).unwrap(),
            );
            tested.push(compress);
        }
        assert!(tested.contains(&"gz"), "createrepo_c failed for gz");
        eprintln!("checked createrepo_c output compressed with {tested:?}");
    }
}
