//! Writes the metadata of a flat apt repository (`deb [signed-by=KEY] file:/www/pigsty ./`):
//! `Packages`, `Packages.gz` and the unsigned `Release` that lists their hashes.
//!
//! The package paragraphs are the upstream ones, verbatim but for `Filename`, so every field
//! apt knows (Depends, Provides, Multi-Arch, SHA256, ...) stays as the archive published it.
//! Nothing is read back from the `.deb` files: the builder already knows every size and hash
//! from the index it downloaded them against. Signing `Release` into `InRelease` and
//! `Release.gpg` is the caller's job.

use std::io::Write;
use std::path::Path;

use pigsty_bundle::fs::write_atomic;
use sha2::{Digest, Sha256};

/// One package of the repository: its control paragraph and where its file lies in the repo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptPackage {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The control paragraph as the upstream index has it (no trailing blank line needed).
    pub paragraph: String,
    /// Path of the `.deb` relative to the repo root, `/`-separated.
    pub filename: String,
}

/// What `Release` says about the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseMeta {
    pub origin: String,
    pub label: String,
    /// Codename of the OS release the packages are for (`bookworm`).
    pub codename: String,
    /// Debian architectures, e.g. `["amd64", "all"]`.
    pub architectures: Vec<String>,
    pub description: String,
    /// Seconds since the epoch for the `Date` field (`SOURCE_DATE_EPOCH` for reproducibility).
    pub date: u64,
}

/// One index file written, with what `Release` lists about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// Path relative to the repo root.
    pub path: String,
    pub size: u64,
    pub sha256: String,
    pub md5: String,
}

#[derive(Debug, thiserror::Error)]
pub enum AptRepoError {
    #[error("cannot write {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("package {name} {version}: its paragraph has no `Package:` field")]
    BadParagraph { name: String, version: String },
}

/// A paragraph with its `Filename` field replaced (or added) and surrounding blank lines gone.
pub fn rewrite_paragraph(paragraph: &str, filename: &str) -> String {
    let mut out = String::with_capacity(paragraph.len() + filename.len());
    let mut replaced = false;
    for line in paragraph.trim_matches('\n').lines() {
        if line.starts_with("Filename:") {
            out.push_str("Filename: ");
            out.push_str(filename);
            replaced = true;
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    if !replaced {
        out.push_str("Filename: ");
        out.push_str(filename);
        out.push('\n');
    }
    out
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AptRepoError + '_ {
    move |source| AptRepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// What [`write_indexes`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indexes {
    /// `Packages` and `Packages.gz`, as `Release` lists them.
    pub files: Vec<IndexFile>,
    /// The text of `Release`, to sign.
    pub release: String,
}

/// An index file's size and digests.
fn index_file(path: &str, data: &[u8]) -> IndexFile {
    IndexFile {
        path: path.to_string(),
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
        md5: format!("{:x}", md5::compute(data)),
    }
}

/// Writes `Packages`, `Packages.gz` and `Release` into `dir`, packages sorted by name,
/// version and arch, each file atomically. The indexes are metadata (a few hundred bytes a
/// package), made in memory.
pub fn write_indexes(
    dir: &Path,
    packages: &[AptPackage],
    meta: &ReleaseMeta,
) -> Result<Indexes, AptRepoError> {
    let mut sorted: Vec<&AptPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.version, &a.arch).cmp(&(&b.name, &b.version, &b.arch)));
    let mut plain = Vec::new();
    for (i, p) in sorted.iter().enumerate() {
        if !p.paragraph.lines().any(|l| l.starts_with("Package:")) {
            return Err(AptRepoError::BadParagraph {
                name: p.name.clone(),
                version: p.version.clone(),
            });
        }
        if i > 0 {
            plain.push(b'\n');
        }
        plain.extend_from_slice(rewrite_paragraph(&p.paragraph, &p.filename).as_bytes());
    }
    // mtime 0 and no file name: the gzip stream depends only on its content
    let gz_path = dir.join("Packages.gz");
    let mut enc = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    let gz = enc
        .write_all(&plain)
        .and_then(|()| enc.finish())
        .map_err(io(&gz_path))?;
    let files = vec![
        index_file("Packages", &plain),
        index_file("Packages.gz", &gz),
    ];
    let release = render_release(meta, &files);
    for (name, data) in [
        ("Packages", plain.as_slice()),
        ("Packages.gz", gz.as_slice()),
        ("Release", release.as_bytes()),
    ] {
        let path = dir.join(name);
        write_atomic(&path, data, 0o644).map_err(io(&path))?;
    }
    Ok(Indexes { files, release })
}

/// The text of a `Release` file listing `files`.
pub fn render_release(meta: &ReleaseMeta, files: &[IndexFile]) -> String {
    let mut out = String::new();
    out.push_str(&format!("Origin: {}\n", meta.origin));
    out.push_str(&format!("Label: {}\n", meta.label));
    out.push_str(&format!("Codename: {}\n", meta.codename));
    out.push_str(&format!("Date: {}\n", crate::date::rfc2822(meta.date)));
    out.push_str(&format!(
        "Architectures: {}\n",
        meta.architectures.join(" ")
    ));
    out.push_str(&format!("Description: {}\n", meta.description));
    out.push_str("MD5Sum:\n");
    for f in files {
        out.push_str(&format!(" {} {:>16} {}\n", f.md5, f.size, f.path));
    }
    out.push_str("SHA256:\n");
    for f in files {
        out.push_str(&format!(" {} {:>16} {}\n", f.sha256, f.size, f.path));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(crate::date::rfc2822(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(
            crate::date::rfc2822(951_782_400),
            "Tue, 29 Feb 2000 00:00:00 UTC"
        );
    }

    #[test]
    fn rewrites_filename() {
        let p = "Package: a\nVersion: 1\nFilename: pool/main/a/a_1_all.deb\nSize: 3\n\n";
        assert_eq!(
            rewrite_paragraph(p, "a_1_all.deb"),
            "Package: a\nVersion: 1\nFilename: a_1_all.deb\nSize: 3\n"
        );
    }

    #[test]
    fn writes_indexes_that_dpkg_tools_read() {
        let dir = tempfile::tempdir().unwrap();
        let pkgs = vec![
            AptPackage {
                name: "zed".into(),
                version: "1.0".into(),
                arch: "amd64".into(),
                paragraph: "Package: zed\nVersion: 1.0\nArchitecture: amd64\nFilename: pool/z/zed.deb\nSize: 10\n".into(),
                filename: "zed_1.0_amd64.deb".into(),
            },
            AptPackage {
                name: "abc".into(),
                version: "2:0.1~rc1".into(),
                arch: "all".into(),
                paragraph: "Package: abc\nVersion: 2:0.1~rc1\nArchitecture: all\nDepends: zed (>= 1.0)\nFilename: x\n".into(),
                filename: "abc_0.1~rc1_all.deb".into(),
            },
        ];
        let meta = ReleaseMeta {
            origin: "Pigsty".into(),
            label: "Pigsty".into(),
            codename: "bookworm".into(),
            architectures: vec!["amd64".into(), "all".into()],
            description: "test".into(),
            date: 1_700_000_000,
        };
        let files = write_indexes(dir.path(), &pkgs, &meta).unwrap().files;
        let packages = std::fs::read_to_string(dir.path().join("Packages")).unwrap();
        assert!(packages.starts_with("Package: abc\n"), "{packages}");
        assert!(packages.contains("Filename: zed_1.0_amd64.deb\n"));
        assert!(packages.contains("\n\nPackage: zed\n"));
        // Packages.gz holds the same text
        let gz = std::fs::File::open(dir.path().join("Packages.gz")).unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(gz), &mut text).unwrap();
        assert_eq!(text, packages);
        // Release lists both with the real sizes and hashes
        let release = std::fs::read_to_string(dir.path().join("Release")).unwrap();
        for f in &files {
            let bytes = std::fs::read(dir.path().join(&f.path)).unwrap();
            assert_eq!(f.size, bytes.len() as u64);
            assert_eq!(f.sha256, hex::encode(Sha256::digest(&bytes)));
            assert!(release.contains(&format!(" {} {:>16} {}\n", f.sha256, f.size, f.path)));
        }
        // writing again gives the same bytes (reproducible)
        let again = tempfile::tempdir().unwrap();
        write_indexes(again.path(), &pkgs, &meta).unwrap();
        for name in ["Packages", "Packages.gz", "Release"] {
            assert_eq!(
                std::fs::read(dir.path().join(name)).unwrap(),
                std::fs::read(again.path().join(name)).unwrap(),
                "{name}"
            );
        }
        // no temporary files left
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }
}
