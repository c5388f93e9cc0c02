//! Writes the metadata of a flat apt repository (`deb [signed-by=KEY] file:/www/pigsty ./`):
//! `Packages`, `Packages.gz` and the unsigned `Release` that lists their hashes.
//!
//! The package paragraphs are the upstream ones, verbatim but for `Filename`, so every field
//! apt knows (Depends, Provides, Multi-Arch, SHA256, ...) stays as the archive published it.
//! Nothing is read back from the `.deb` files: the builder already knows every size and hash
//! from the index it downloaded them against. Signing `Release` into `InRelease` and
//! `Release.gpg` is the caller's job.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::fsutil::tmp_name;

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
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("package {name} {version}: its paragraph has no `Package:` field")]
    BadParagraph { name: String, version: String },
}

/// A writer that hashes what passes through it.
struct Hashing<W: Write> {
    inner: W,
    sha256: Sha256,
    md5: md5::Context,
    size: u64,
}

impl<W: Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            sha256: Sha256::new(),
            md5: md5::Context::new(),
            size: 0,
        }
    }
    fn finish(self) -> (W, u64, String, String) {
        (
            self.inner,
            self.size,
            hex::encode(self.sha256.finalize()),
            format!("{:x}", self.md5.finalize()),
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.md5.consume(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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

/// A UTC date and time from seconds since the epoch: (year, month, day, hour, minute,
/// second, weekday with 0 = Sunday). Howard Hinnant's civil-from-days.
pub fn civil(secs: u64) -> (i64, u32, u32, u32, u32, u32, u32) {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    let weekday = ((days + 4) % 7) as u32;
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
        weekday,
    )
}

/// Formats seconds since the epoch as an RFC 2822 date in UTC, as `Release` wants it.
pub fn release_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d, hh, mm, ss, wd) = civil(secs);
    format!(
        "{}, {d:02} {} {y} {hh:02}:{mm:02}:{ss:02} UTC",
        DAYS[wd as usize],
        MONTHS[(m - 1) as usize]
    )
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> AptRepoError + '_ {
    move |source| AptRepoError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a file through a temporary name: fsync, then rename.
fn write_atomic(
    path: &Path,
    f: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), AptRepoError> {
    let tmp = tmp_name(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        f(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io(path))
}

/// Writes `Packages`, `Packages.gz` and `Release` into `dir`, packages sorted by name,
/// version and arch. Returns the index files as `Release` lists them.
pub fn write_indexes(
    dir: &Path,
    packages: &[AptPackage],
    meta: &ReleaseMeta,
) -> Result<Vec<IndexFile>, AptRepoError> {
    let mut sorted: Vec<&AptPackage> = packages.iter().collect();
    sorted.sort_by(|a, b| (&a.name, &a.version, &a.arch).cmp(&(&b.name, &b.version, &b.arch)));
    for p in &sorted {
        if !p.paragraph.lines().any(|l| l.starts_with("Package:")) {
            return Err(AptRepoError::BadParagraph {
                name: p.name.clone(),
                version: p.version.clone(),
            });
        }
    }

    let plain_path = dir.join("Packages");
    let gz_path = dir.join("Packages.gz");
    let mut plain_info = None;
    let mut gz_info = None;
    // Packages and Packages.gz in one pass.
    write_atomic(&plain_path, |plain| {
        let gz_tmp = tmp_name(&gz_path);
        let result = (|| {
            let gz_file = File::create(&gz_tmp)?;
            let mut gz_hash = Hashing::new(BufWriter::new(gz_file));
            let mut plain_hash = Hashing::new(&mut *plain);
            {
                // mtime 0 and no file name: the gzip stream depends only on its content
                let mut enc = flate2::GzBuilder::new()
                    .mtime(0)
                    .write(&mut gz_hash, flate2::Compression::best());
                for (i, p) in sorted.iter().enumerate() {
                    if i > 0 {
                        plain_hash.write_all(b"\n")?;
                        enc.write_all(b"\n")?;
                    }
                    let para = rewrite_paragraph(&p.paragraph, &p.filename);
                    plain_hash.write_all(para.as_bytes())?;
                    enc.write_all(para.as_bytes())?;
                }
                enc.finish()?;
            }
            let (_, size, sha, md5) = plain_hash.finish();
            plain_info = Some((size, sha, md5));
            let (w, size, sha, md5) = gz_hash.finish();
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&gz_tmp, &gz_path)?;
            gz_info = Some((size, sha, md5));
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&gz_tmp);
        }
        result
    })?;
    let mut files = Vec::new();
    for (path, info) in [("Packages", plain_info), ("Packages.gz", gz_info)] {
        if let Some((size, sha256, md5)) = info {
            files.push(IndexFile {
                path: path.to_string(),
                size,
                sha256,
                md5,
            });
        }
    }
    let release = render_release(meta, &files);
    write_atomic(&dir.join("Release"), |w| w.write_all(release.as_bytes()))?;
    Ok(files)
}

/// The text of a `Release` file listing `files`.
pub fn render_release(meta: &ReleaseMeta, files: &[IndexFile]) -> String {
    let mut out = String::new();
    out.push_str(&format!("Origin: {}\n", meta.origin));
    out.push_str(&format!("Label: {}\n", meta.label));
    out.push_str(&format!("Codename: {}\n", meta.codename));
    out.push_str(&format!("Date: {}\n", release_date(meta.date)));
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
        assert_eq!(release_date(0), "Thu, 01 Jan 1970 00:00:00 UTC");
        assert_eq!(release_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 UTC");
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
        let files = write_indexes(dir.path(), &pkgs, &meta).unwrap();
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
