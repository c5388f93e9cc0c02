//! Reading apt indexes: `Packages` files (streaming, fast), `Release` files, and the `.xz` /
//! `.gz` compressions they come in.
//!
//! The `Packages` parser is hand-written rather than built on `deb822-fast`: we need each
//! paragraph's raw text verbatim (to write our own index later) plus a dozen fields, so the
//! cheapest form is one `String` per paragraph with the fields kept as byte ranges into it.
//! It reads line by line from any `BufRead`, so a 90 MB index is never held whole; only the
//! version is parsed up front.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::version::{DebVersion, VersionError};

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("reading index")]
    Io(#[from] io::Error),
    #[error("paragraph {paragraph} has no `{field}` field")]
    MissingField {
        paragraph: usize,
        field: &'static str,
    },
    #[error("package `{package}`")]
    Version {
        package: String,
        #[source]
        source: VersionError,
    },
    #[error("package `{package}`: bad Size `{size}`")]
    Size { package: String, size: String },
    #[error("Release file: bad SHA256 line `{0}`")]
    ReleaseLine(String),
}

/// Calls `f(name, value_start, value_end)` for each field of a deb822 paragraph. The value
/// range covers continuation lines (without the final newline) and starts after the colon's
/// whitespace.
pub fn for_each_field(raw: &str, mut f: impl FnMut(&str, usize, usize)) {
    let bytes = raw.as_bytes();
    let mut pos = 0;
    let mut current: Option<(usize, usize, usize)> = None; // name start, name end, value start
    let mut value_end = 0;
    while pos < bytes.len() {
        let line_end = memchr_nl(bytes, pos);
        let line = &bytes[pos..line_end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            value_end = line_end;
        } else if line.first() != Some(&b'#') && !line.is_empty() {
            if let Some((ns, ne, vs)) = current.take() {
                f(&raw[ns..ne], vs, value_end.max(vs));
            }
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let mut vs = pos + colon + 1;
                while vs < line_end && matches!(bytes[vs], b' ' | b'\t') {
                    vs += 1;
                }
                let mut ve = line_end;
                while ve > vs && matches!(bytes[ve - 1], b' ' | b'\t' | b'\r') {
                    ve -= 1;
                }
                current = Some((pos, pos + colon, vs));
                value_end = ve;
            }
        }
        pos = line_end + 1;
    }
    if let Some((ns, ne, vs)) = current {
        f(&raw[ns..ne], vs, value_end.max(vs));
    }
}

fn memchr_nl(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |i| from + i)
}

/// The value of one field of a paragraph (first occurrence, case-insensitive name).
pub fn field<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    let mut found = None;
    for_each_field(raw, |n, s, e| {
        if found.is_none() && n.eq_ignore_ascii_case(name) {
            found = Some((s, e));
        }
    });
    found.map(|(s, e)| &raw[s..e])
}

/// The fields an entry keeps, in [`PackageEntry`]'s span table order.
const FIELDS: [&str; 14] = [
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Depends",
    "Pre-Depends",
    "Recommends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Filename",
    "Size",
    "SHA256",
    "Status",
];
const PACKAGE: usize = 0;
const VERSION: usize = 1;
const ARCHITECTURE: usize = 2;
const MULTI_ARCH: usize = 3;
const DEPENDS: usize = 4;
const PRE_DEPENDS: usize = 5;
const RECOMMENDS: usize = 6;
const PROVIDES: usize = 7;
const CONFLICTS: usize = 8;
const BREAKS: usize = 9;
const FILENAME: usize = 10;
const SIZE: usize = 11;
const SHA256: usize = 12;
const STATUS: usize = 13;

/// One paragraph of a `Packages` (or dpkg `status`) file.
#[derive(Debug, Clone)]
pub struct PackageEntry {
    raw: String,
    version: DebVersion,
    size: Option<u64>,
    spans: [(u32, u32); FIELDS.len()],
}

impl PackageEntry {
    /// Parses one paragraph (its raw text, fields as `Name: value` lines). `index` is the
    /// paragraph's position, for errors.
    pub fn from_paragraph(raw: String, index: usize) -> Result<PackageEntry, IndexError> {
        let mut spans = [(u32::MAX, 0u32); FIELDS.len()];
        for_each_field(&raw, |name, s, e| {
            // Common fields first; compare by first byte before the full name.
            for (i, f) in FIELDS.iter().enumerate() {
                if f.len() == name.len() && f.eq_ignore_ascii_case(name) {
                    if spans[i].0 == u32::MAX {
                        spans[i] = (s as u32, e as u32);
                    }
                    break;
                }
            }
        });
        let get = |i: usize| {
            let (s, e) = spans[i];
            (s != u32::MAX).then(|| &raw[s as usize..e as usize])
        };
        let package = get(PACKAGE).ok_or(IndexError::MissingField {
            paragraph: index,
            field: "Package",
        })?;
        let version = get(VERSION)
            .ok_or(IndexError::MissingField {
                paragraph: index,
                field: "Version",
            })?
            .parse()
            .map_err(|source| IndexError::Version {
                package: package.to_string(),
                source,
            })?;
        let size = match get(SIZE) {
            None => None,
            Some(s) => Some(s.parse().map_err(|_| IndexError::Size {
                package: package.to_string(),
                size: s.to_string(),
            })?),
        };
        Ok(PackageEntry {
            raw,
            version,
            size,
            spans,
        })
    }

    fn get(&self, i: usize) -> Option<&str> {
        let (s, e) = self.spans[i];
        (s != u32::MAX).then(|| &self.raw[s as usize..e as usize])
    }

    /// The paragraph exactly as read (ends with a newline, no blank line after).
    pub fn raw(&self) -> &str {
        &self.raw
    }
    pub fn package(&self) -> &str {
        self.get(PACKAGE).unwrap_or_default()
    }
    pub fn version(&self) -> &DebVersion {
        &self.version
    }
    /// `Architecture`; empty if absent.
    pub fn architecture(&self) -> &str {
        self.get(ARCHITECTURE).unwrap_or_default()
    }
    pub fn multi_arch(&self) -> Option<&str> {
        self.get(MULTI_ARCH)
    }
    pub fn depends(&self) -> Option<&str> {
        self.get(DEPENDS)
    }
    pub fn pre_depends(&self) -> Option<&str> {
        self.get(PRE_DEPENDS)
    }
    pub fn recommends(&self) -> Option<&str> {
        self.get(RECOMMENDS)
    }
    pub fn provides(&self) -> Option<&str> {
        self.get(PROVIDES)
    }
    pub fn conflicts(&self) -> Option<&str> {
        self.get(CONFLICTS)
    }
    pub fn breaks(&self) -> Option<&str> {
        self.get(BREAKS)
    }
    pub fn filename(&self) -> Option<&str> {
        self.get(FILENAME)
    }
    pub fn size(&self) -> Option<u64> {
        self.size
    }
    pub fn sha256(&self) -> Option<&str> {
        self.get(SHA256)
    }
    /// dpkg `status` files only: `install ok installed` and the like.
    pub fn status(&self) -> Option<&str> {
        self.get(STATUS)
    }
}

/// Splits a deb822 stream into raw paragraphs, streaming.
pub struct Paragraphs<R> {
    reader: R,
    buf: Vec<u8>,
}

impl<R: BufRead> Paragraphs<R> {
    pub fn new(reader: R) -> Self {
        Paragraphs {
            reader,
            buf: Vec::with_capacity(4096),
        }
    }
}

impl<R: BufRead> Iterator for Paragraphs<R> {
    type Item = io::Result<String>;

    fn next(&mut self) -> Option<io::Result<String>> {
        self.buf.clear();
        loop {
            let start = self.buf.len();
            match self.reader.read_until(b'\n', &mut self.buf) {
                Err(e) => return Some(Err(e)),
                Ok(0) => break,
                Ok(_) => {}
            }
            if self.buf[start..].iter().all(|b| b.is_ascii_whitespace()) {
                self.buf.truncate(start);
                if !self.buf.is_empty() {
                    break;
                }
            }
        }
        if self.buf.is_empty() {
            return None;
        }
        if self.buf.last() != Some(&b'\n') {
            self.buf.push(b'\n');
        }
        let bytes = std::mem::take(&mut self.buf);
        Some(Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }))
    }
}

/// Streams [`PackageEntry`]s from a `Packages` file.
pub struct PackagesReader<R> {
    paragraphs: Paragraphs<R>,
    index: usize,
}

impl<R: BufRead> PackagesReader<R> {
    pub fn new(reader: R) -> Self {
        PackagesReader {
            paragraphs: Paragraphs::new(reader),
            index: 0,
        }
    }
}

impl<R: BufRead> Iterator for PackagesReader<R> {
    type Item = Result<PackageEntry, IndexError>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.paragraphs.next()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e.into())),
        };
        self.index += 1;
        Some(PackageEntry::from_paragraph(raw, self.index - 1))
    }
}

/// Reads a whole `Packages` file.
pub fn read_packages(reader: impl BufRead) -> Result<Vec<PackageEntry>, IndexError> {
    PackagesReader::new(reader).collect()
}

/// A decompressing reader chosen by the file name's extension (`.xz`, `.gz`, else plain).
pub fn decompress<'a>(reader: impl Read + 'a, file_name: &str) -> Box<dyn BufRead + 'a> {
    const BUF: usize = 1 << 16;
    if file_name.ends_with(".xz") {
        Box::new(BufReader::with_capacity(
            BUF,
            liblzma::read::XzDecoder::new_multi_decoder(reader),
        ))
    } else if file_name.ends_with(".gz") {
        Box::new(BufReader::with_capacity(
            BUF,
            flate2::read::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(BufReader::with_capacity(BUF, reader))
    }
}

/// Opens an index file, decompressing by extension.
pub fn open_index(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(decompress(BufReader::with_capacity(1 << 16, file), &name))
}

/// One `hash size path` line of a Release file's `SHA256` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseFile {
    pub sha256: String,
    pub size: u64,
    pub path: String,
}

/// The parts of a `Release` file we use. Signatures are checked elsewhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub architectures: Vec<String>,
    pub components: Vec<String>,
    pub date: Option<String>,
    pub sha256: Vec<ReleaseFile>,
}

impl Release {
    /// The `SHA256` entry for `path` (e.g. `main/binary-amd64/Packages.xz`).
    pub fn file(&self, path: &str) -> Option<&ReleaseFile> {
        self.sha256.iter().find(|f| f.path == path)
    }
}

/// Strips a clear-signed (`InRelease`) wrapper, if any: returns the signed text.
fn strip_clearsign(text: &str) -> String {
    if !text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        return text.to_string();
    }
    let mut out = String::new();
    let mut in_body = false;
    for line in text.lines() {
        if !in_body {
            in_body = line.trim().is_empty();
            continue;
        }
        if line.starts_with("-----BEGIN PGP SIGNATURE-----") {
            break;
        }
        out.push_str(line.strip_prefix("- ").unwrap_or(line));
        out.push('\n');
    }
    out
}

/// Parses a `Release` (or `InRelease`) file's text.
pub fn parse_release(text: &str) -> Result<Release, IndexError> {
    let text = strip_clearsign(text);
    let mut release = Release::default();
    let mut sha_range = None;
    let words = |v: &str| v.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    for_each_field(&text, |name, s, e| {
        let value = &text[s..e];
        match name {
            "Suite" => release.suite = Some(value.to_string()),
            "Codename" => release.codename = Some(value.to_string()),
            "Architectures" => release.architectures = words(value),
            "Components" => release.components = words(value),
            "Date" => release.date = Some(value.to_string()),
            "SHA256" => sha_range = Some((s, e)),
            _ => {}
        }
    });
    if let Some((s, e)) = sha_range {
        for line in text[s..e].lines() {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [] => {}
                [hash, size, path] => release.sha256.push(ReleaseFile {
                    sha256: hash.to_string(),
                    size: size
                        .parse()
                        .map_err(|_| IndexError::ReleaseLine(line.to_string()))?,
                    path: path.to_string(),
                }),
                _ => return Err(IndexError::ReleaseLine(line.to_string())),
            }
        }
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    const PACKAGES: &str = "Package: libfoo1
Version: 1:2.0-1
Architecture: amd64
Multi-Arch: same
Depends: libc6 (>= 2.34),
 libbar
Description: foo
 long text
 .
 more
Filename: pool/main/f/foo/libfoo1_2.0-1_amd64.deb
Size: 1234
SHA256: abcd

Package: foo-data
Version: 2.0-1
Architecture: all
Provides: foo-virtual (= 2.0)
Filename: pool/main/f/foo/foo-data_2.0-1_all.deb
Size: 99
SHA256: ef01


";

    #[test]
    fn parses_paragraphs() {
        let entries = read_packages(Cursor::new(PACKAGES)).unwrap();
        assert_eq!(entries.len(), 2);
        let e = &entries[0];
        assert_eq!(e.package(), "libfoo1");
        assert_eq!(e.version().as_str(), "1:2.0-1");
        assert_eq!(e.architecture(), "amd64");
        assert_eq!(e.multi_arch(), Some("same"));
        assert_eq!(e.depends(), Some("libc6 (>= 2.34),\n libbar"));
        assert_eq!(
            e.filename(),
            Some("pool/main/f/foo/libfoo1_2.0-1_amd64.deb")
        );
        assert_eq!(e.size(), Some(1234));
        assert_eq!(e.sha256(), Some("abcd"));
        assert!(e.raw().starts_with("Package: libfoo1\n") && e.raw().ends_with("SHA256: abcd\n"));
        assert_eq!(entries[1].provides(), Some("foo-virtual (= 2.0)"));
        assert_eq!(entries[1].pre_depends(), None);
        // Raw paragraphs joined by blank lines give back the file.
        let joined: Vec<&str> = entries.iter().map(PackageEntry::raw).collect();
        assert_eq!(joined.join("\n"), PACKAGES.trim_end().to_string() + "\n");
    }

    #[test]
    fn errors_name_the_field() {
        let err = read_packages(Cursor::new("Package: x\n\nPackage: y\nVersion: 1\n")).unwrap_err();
        assert!(
            matches!(
                err,
                IndexError::MissingField {
                    paragraph: 0,
                    field: "Version"
                }
            ),
            "{err}"
        );
        let err = read_packages(Cursor::new("Package: x\nVersion: 1\nSize: lots\n")).unwrap_err();
        assert!(err.to_string().contains("bad Size"), "{err}");
    }

    #[test]
    fn decompresses_xz_and_gz() {
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(PACKAGES.as_bytes()).unwrap();
        let xz = xz.finish().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(PACKAGES.as_bytes()).unwrap();
        let gz = gz.finish().unwrap();
        for (bytes, name) in [
            (xz, "Packages.xz"),
            (gz, "Packages.gz"),
            (PACKAGES.as_bytes().to_vec(), "Packages"),
        ] {
            let entries = read_packages(decompress(Cursor::new(bytes), name)).unwrap();
            assert_eq!(entries.len(), 2, "{name}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("Packages.gz");
        let mut gz = flate2::write::GzEncoder::new(
            File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        gz.write_all(PACKAGES.as_bytes()).unwrap();
        gz.finish().unwrap();
        assert_eq!(read_packages(open_index(&path).unwrap()).unwrap().len(), 2);
    }

    #[test]
    fn parses_release() {
        let text = "-----BEGIN PGP SIGNED MESSAGE-----
Hash: SHA256

Origin: Debian
Suite: stable
Codename: bookworm
Date: Sat, 10 May 2025 08:52:15 UTC
Architectures: all amd64 arm64
Components: main contrib non-free-firmware
Description: Debian 12.11 Released 17 May 2025
MD5Sum:
 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 contrib/Contents-all
SHA256:
 d6c9c82f4e61b4662f9ba16b9ebb379c57b4943f2b7ad2a6c2ec2be4a5d1f90d   1484322 contrib/Contents-all
 b2b1e5a2d2d6e4c2ac2c6a7c1e1c5e8b1d4d0d9c54bd44dd17ea2a4b2dcdbdfe  8790396 main/binary-amd64/Packages.xz
-----BEGIN PGP SIGNATURE-----

abc
-----END PGP SIGNATURE-----
";
        let r = parse_release(text).unwrap();
        assert_eq!(r.suite.as_deref(), Some("stable"));
        assert_eq!(r.codename.as_deref(), Some("bookworm"));
        assert_eq!(r.architectures, ["all", "amd64", "arm64"]);
        assert_eq!(r.components, ["main", "contrib", "non-free-firmware"]);
        assert_eq!(r.date.as_deref(), Some("Sat, 10 May 2025 08:52:15 UTC"));
        assert_eq!(r.sha256.len(), 2);
        let f = r.file("main/binary-amd64/Packages.xz").unwrap();
        assert_eq!(f.size, 8790396);
        assert!(f.sha256.starts_with("b2b1e5"));
        assert!(parse_release("SHA256:\n abc 12\n").is_err());
    }
}
