//! Streaming parser of an rpm repository's `primary.xml` (the package list dnf resolves
//! against), and the `.gz` / `.xz` / `.zst` / `.bz2` readers it comes in.
//!
//! [`PrimaryReader`] pulls events from `quick-xml`'s streaming reader and yields one
//! [`RpmPackage`] per `<package type="rpm">`, so a 100 MB primary is never held whole: only the
//! fields the resolver needs are kept (name, arch, EVR, checksum, size, location, the
//! `rpm:provides` / `requires` / `conflicts` / `obsoletes` entries, the weak ones, and the
//! `<file>` list);
//! summary, description and the rest are skipped.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use super::rich::{Dep, Op, RichError, Simple};
use super::version::Evr;

#[derive(Debug, thiserror::Error)]
pub enum PrimaryError {
    #[error("reading repodata")]
    Io(#[from] io::Error),
    #[error("repodata XML")]
    Xml(#[from] quick_xml::Error),
    #[error("package {index} (`{name}`): missing {field}")]
    Missing {
        index: usize,
        name: String,
        field: &'static str,
    },
    #[error("package {index} (`{name}`): bad {field} `{value}`")]
    Bad {
        index: usize,
        name: String,
        field: &'static str,
        value: String,
    },
}

impl From<quick_xml::events::attributes::AttrError> for PrimaryError {
    fn from(e: quick_xml::events::attributes::AttrError) -> Self {
        PrimaryError::Xml(e.into())
    }
}

impl From<quick_xml::encoding::EncodingError> for PrimaryError {
    fn from(e: quick_xml::encoding::EncodingError) -> Self {
        PrimaryError::Xml(e.into())
    }
}

/// A package checksum: its type (`sha256`, ...) and hex value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Checksum {
    pub kind: String,
    pub value: String,
}

/// One `rpm:entry` of a provides / requires / conflicts / obsoletes list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepEntry {
    /// The name, or a whole rich dependency such as `(a if b)`.
    pub name: String,
    pub constraint: Option<(Op, Evr)>,
    /// `pre="1"`: needed before the package's scriptlets run (requires only).
    pub pre: bool,
}

impl DepEntry {
    /// The entry as a dependency expression: rich if the name is parenthesised.
    pub fn dep(&self) -> Result<Dep, RichError> {
        if self.name.starts_with('(') {
            Dep::parse(&self.name)
        } else {
            Ok(Dep::Simple(Simple {
                name: self.name.clone(),
                constraint: self.constraint.clone(),
            }))
        }
    }
}

/// What a `<file>` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Ghost,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    pub path: String,
    pub kind: FileKind,
}

/// One `<package type="rpm">` of `primary.xml`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RpmPackage {
    pub name: String,
    pub arch: String,
    pub evr: Evr,
    pub checksum: Checksum,
    /// `pkgid="YES"`: the checksum identifies the package.
    pub pkgid: bool,
    /// `<size package=...>`: the size of the `.rpm` file.
    pub size: u64,
    /// `<location href=...>`, relative to the repository (or to `location_base`).
    pub location: String,
    /// `<location xml:base=...>`, when the package lives elsewhere.
    pub location_base: Option<String>,
    pub provides: Vec<DepEntry>,
    pub requires: Vec<DepEntry>,
    pub conflicts: Vec<DepEntry>,
    pub obsoletes: Vec<DepEntry>,
    /// Weak dependencies: never followed (`install_weak_deps=False`), but, as in libsolv,
    /// they steer a choice among candidates.
    pub recommends: Vec<DepEntry>,
    pub suggests: Vec<DepEntry>,
    pub supplements: Vec<DepEntry>,
    pub enhances: Vec<DepEntry>,
    pub files: Vec<FileEntry>,
}

impl RpmPackage {
    /// `name-[epoch:]version-release.arch`, as dnf prints it.
    pub fn nevra(&self) -> String {
        format!("{}-{}.{}", self.name, self.evr, self.arch)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    Provides,
    Requires,
    Conflicts,
    Obsoletes,
    Recommends,
    Suggests,
    Supplements,
    Enhances,
}

/// Streams the packages of a `primary.xml`.
pub struct PrimaryReader<R: BufRead> {
    reader: Reader<R>,
    buf: Vec<u8>,
    text: String,
    /// Whether text is being collected (inside `name`, `arch`, `checksum`, `file`).
    capture: bool,
    index: usize,
    done: bool,
}

impl<R: BufRead> PrimaryReader<R> {
    pub fn new(reader: R) -> Self {
        PrimaryReader {
            reader: Reader::from_reader(reader),
            buf: Vec::new(),
            text: String::new(),
            capture: false,
            index: 0,
            done: false,
        }
    }

    /// A reader of a run of whole `<package>` elements cut out of a document (see
    /// [`super::chunks`]): the document's closing tag may come without its opening one.
    pub fn fragment(reader: R) -> Self {
        let mut r = PrimaryReader::new(reader);
        r.reader.config_mut().allow_unmatched_ends = true;
        r
    }

    /// The next package, or `None` at the end of the document.
    pub fn next_package(&mut self) -> Result<Option<RpmPackage>, PrimaryError> {
        let mut pkg: Option<RpmPackage> = None;
        let mut list: Option<List> = None;
        let mut file_kind = FileKind::File;
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf)?;
            match event {
                Event::Eof => {
                    if let Some(p) = pkg {
                        return Err(missing(self.index, &p, "</package>"));
                    }
                    return Ok(None);
                }
                Event::Start(ref e) | Event::Empty(ref e) => {
                    let local = e.local_name();
                    let name = local.as_ref();
                    self.capture = pkg.is_some()
                        && matches!(event, Event::Start(_))
                        && matches!(name, b"name" | b"arch" | b"checksum" | b"file");
                    if self.capture {
                        self.text.clear();
                    }
                    if name == b"package" {
                        if matches!(event, Event::Start(_)) {
                            self.index += 1;
                            pkg = Some(RpmPackage::default());
                            list = None;
                        }
                        continue;
                    }
                    let Some(p) = pkg.as_mut() else { continue };
                    let start = matches!(event, Event::Start(_));
                    on_field(e, start, p, self.index, &mut list, &mut file_kind)?;
                }
                Event::Text(t) if self.capture => self.text.push_str(&t.decode()?),
                Event::CData(t) if self.capture => self.text.push_str(&t.decode()?),
                Event::GeneralRef(r) if self.capture => push_ref(&mut self.text, &r)?,
                Event::End(ref e) => {
                    self.capture = false;
                    let Some(p) = pkg.as_mut() else { continue };
                    match e.local_name().as_ref() {
                        b"name" => p.name = std::mem::take(&mut self.text),
                        b"arch" => p.arch = std::mem::take(&mut self.text),
                        b"checksum" => p.checksum.value = std::mem::take(&mut self.text),
                        b"file" => p.files.push(FileEntry {
                            path: std::mem::take(&mut self.text),
                            kind: file_kind,
                        }),
                        b"provides" | b"requires" | b"conflicts" | b"obsoletes" | b"recommends"
                        | b"suggests" | b"supplements" | b"enhances" => list = None,
                        b"package" => {
                            let Some(p) = pkg.take() else { continue };
                            for (field, empty) in [
                                ("name", p.name.is_empty()),
                                ("arch", p.arch.is_empty()),
                                ("version", p.evr.version.is_empty()),
                                ("location", p.location.is_empty()),
                            ] {
                                if empty {
                                    return Err(missing(self.index, &p, field));
                                }
                            }
                            return Ok(Some(p));
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
}

fn missing(index: usize, p: &RpmPackage, field: &'static str) -> PrimaryError {
    PrimaryError::Missing {
        index,
        name: p.name.clone(),
        field,
    }
}

impl<R: BufRead> Iterator for PrimaryReader<R> {
    type Item = Result<RpmPackage, PrimaryError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let item = self.next_package().transpose();
        if !matches!(item, Some(Ok(_))) {
            self.done = true;
        }
        item
    }
}

/// Reads a whole `primary.xml`.
#[cfg(test)]
pub fn read_primary(reader: impl BufRead) -> Result<Vec<RpmPackage>, PrimaryError> {
    PrimaryReader::new(reader).collect()
}

/// The value of attribute `key` (matched by local name, so `xml:base` is `base`), unescaped.
pub(crate) fn attr<'a>(
    e: &'a BytesStart<'_>,
    key: &[u8],
) -> Result<Option<Cow<'a, str>>, quick_xml::Error> {
    for a in e.attributes().with_checks(false) {
        let a = a?;
        if a.key.local_name().as_ref() == key {
            return Ok(Some(value(&a)?));
        }
    }
    Ok(None)
}

/// An attribute's value: borrowed when there is nothing to unescape.
fn value<'a>(
    a: &quick_xml::events::attributes::Attribute<'a>,
) -> Result<Cow<'a, str>, quick_xml::Error> {
    if a.value.contains(&b'&') {
        return Ok(Cow::Owned(a.unescape_value()?.into_owned()));
    }
    match &a.value {
        Cow::Borrowed(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| quick_xml::Error::Encoding(e.into())),
        Cow::Owned(b) => std::str::from_utf8(b)
            .map(|s| Cow::Owned(s.to_string()))
            .map_err(|e| quick_xml::Error::Encoding(e.into())),
    }
}

fn parse_epoch(s: &str) -> Option<u32> {
    if s.is_empty() {
        Some(0)
    } else {
        s.parse().ok()
    }
}

enum EntryError {
    Xml(PrimaryError),
    Bad(&'static str, String),
}

impl From<quick_xml::Error> for EntryError {
    fn from(e: quick_xml::Error) -> Self {
        EntryError::Xml(e.into())
    }
}

fn dep_entry(e: &BytesStart<'_>) -> Result<DepEntry, EntryError> {
    // One pass over the attributes: entries are most of primary.xml.
    let (mut name, mut flags, mut epoch, mut ver, mut rel) = (None, None, None, None, None);
    let mut pre = false;
    for a in e.attributes().with_checks(false) {
        let a = a.map_err(quick_xml::Error::from)?;
        let v = value(&a)?;
        match a.key.local_name().as_ref() {
            b"name" => name = Some(v),
            b"flags" => flags = Some(v),
            b"epoch" => epoch = Some(v),
            b"ver" => ver = Some(v),
            b"rel" => rel = Some(v),
            b"pre" => pre = v == "1" || v == "true",
            _ => {}
        }
    }
    let name = name.unwrap_or_default().into_owned();
    if name.is_empty() {
        return Err(EntryError::Bad("entry name", name));
    }
    let constraint = match flags {
        None => None,
        Some(flags) => {
            let op = Op::from_flags(&flags)
                .ok_or_else(|| EntryError::Bad("entry flags", flags.to_string()))?;
            let epoch = epoch.unwrap_or_default();
            let epoch = parse_epoch(&epoch)
                .ok_or_else(|| EntryError::Bad("entry epoch", epoch.to_string()))?;
            let ver = ver.unwrap_or_default().into_owned();
            let rel = rel.unwrap_or_default().into_owned();
            Some((op, Evr::new(epoch, ver, rel)))
        }
    };
    Ok(DepEntry {
        name,
        constraint,
        pre,
    })
}

/// A decompressing reader chosen by the file name's extension (`.gz`, `.xz`, `.zst`, `.bz2`,
/// else plain).
pub fn decompress<'a>(
    reader: impl BufRead + 'a,
    file_name: &str,
) -> io::Result<Box<dyn BufRead + 'a>> {
    const BUF: usize = 1 << 16;
    let boxed = |r: Box<dyn Read + 'a>| -> Box<dyn BufRead + 'a> {
        Box::new(BufReader::with_capacity(BUF, r))
    };
    Ok(if file_name.ends_with(".gz") {
        boxed(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if file_name.ends_with(".xz") {
        boxed(Box::new(liblzma::bufread::XzDecoder::new_multi_decoder(
            reader,
        )))
    } else if file_name.ends_with(".zst") {
        boxed(Box::new(zstd::stream::read::Decoder::with_buffer(reader)?))
    } else if file_name.ends_with(".bz2") {
        boxed(Box::new(bzip2::bufread::MultiBzDecoder::new(reader)))
    } else {
        Box::new(reader)
    })
}

/// Opens a repodata file, decompressing by extension.
pub fn open_metadata(path: &Path) -> io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    decompress(BufReader::with_capacity(1 << 16, file), &name)
}

/// One element's attributes, inside a package: what they say about it.
fn on_field(
    e: &quick_xml::events::BytesStart,
    start: bool,
    p: &mut RpmPackage,
    index: usize,
    list: &mut Option<List>,
    file_kind: &mut FileKind,
) -> Result<(), PrimaryError> {
    let local = e.local_name();
    let name = local.as_ref();
    let bad = |p: &RpmPackage, field, value: &str| PrimaryError::Bad {
        index,
        name: p.name.clone(),
        field,
        value: value.to_string(),
    };
    match name {
        b"version" => {
            let epoch = attr(e, b"epoch")?.unwrap_or_default();
            p.evr.epoch = parse_epoch(&epoch).ok_or_else(|| bad(p, "epoch", &epoch))?;
            p.evr.version = attr(e, b"ver")?.unwrap_or_default().into_owned();
            p.evr.release = attr(e, b"rel")?.unwrap_or_default().into_owned();
        }
        b"checksum" => {
            p.checksum.kind = attr(e, b"type")?.unwrap_or_default().into_owned();
            p.pkgid = attr(e, b"pkgid")?.is_some_and(|v| v == "YES");
        }
        b"size" => {
            let size = attr(e, b"package")?.unwrap_or_default();
            p.size = size.parse().map_err(|_| bad(p, "size", &size))?;
        }
        b"location" => {
            p.location = attr(e, b"href")?.unwrap_or_default().into_owned();
            p.location_base = attr(e, b"base")?.map(Cow::into_owned);
        }
        b"provides" | b"requires" | b"conflicts" | b"obsoletes" | b"recommends" | b"suggests"
        | b"supplements" | b"enhances"
            if start =>
        {
            *list = Some(match name {
                b"provides" => List::Provides,
                b"requires" => List::Requires,
                b"conflicts" => List::Conflicts,
                b"obsoletes" => List::Obsoletes,
                b"recommends" => List::Recommends,
                b"suggests" => List::Suggests,
                b"supplements" => List::Supplements,
                _ => List::Enhances,
            });
        }
        b"entry" => {
            if let Some(l) = *list {
                let entry = dep_entry(e).map_err(|e| match e {
                    EntryError::Xml(x) => x,
                    EntryError::Bad(field, value) => bad(p, field, &value),
                })?;
                match l {
                    List::Provides => p.provides.push(entry),
                    List::Requires => p.requires.push(entry),
                    List::Conflicts => p.conflicts.push(entry),
                    List::Obsoletes => p.obsoletes.push(entry),
                    List::Recommends => p.recommends.push(entry),
                    List::Suggests => p.suggests.push(entry),
                    List::Supplements => p.supplements.push(entry),
                    List::Enhances => p.enhances.push(entry),
                }
            }
        }
        b"file" => {
            *file_kind = match attr(e, b"type")?.as_deref() {
                Some("dir") => FileKind::Dir,
                Some("ghost") => FileKind::Ghost,
                _ => FileKind::File,
            };
        }
        _ => {}
    }
    Ok(())
}

/// A character or entity reference in text: the character it stands for.
fn push_ref(text: &mut String, r: &quick_xml::events::BytesRef) -> Result<(), PrimaryError> {
    if let Some(c) = r.resolve_char_ref()? {
        text.push(c);
        return Ok(());
    }
    let name = r.decode()?;
    let c = match name.as_ref() {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => {
            return Err(PrimaryError::Xml(quick_xml::Error::Escape(
                quick_xml::escape::EscapeError::UnrecognizedEntity(0..0, name.into_owned()),
            )))
        }
    };
    text.push(c);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) const PRIMARY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>pgvector_17</name>
  <arch>x86_64</arch>
  <version epoch="1" ver="0.8.0" rel="1PGDG.rhel9"/>
  <checksum type="sha256" pkgid="YES">aa11</checksum>
  <summary>vector &amp; similarity &lt;search&gt;</summary>
  <description>Open-source vector similarity search for Postgres.
  <b>not</b> a real tag</description>
  <packager></packager>
  <url>https://github.com/pgvector/pgvector</url>
  <time file="1700000000" build="1699999999"/>
  <size package="123456" installed="400000" archive="400500"/>
  <location xml:base="https://example.org/repo/" href="Packages/p/pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm"/>
  <format>
    <rpm:license>PostgreSQL</rpm:license>
    <rpm:sourcerpm>pgvector_17-0.8.0-1PGDG.rhel9.src.rpm</rpm:sourcerpm>
    <rpm:header-range start="4504" end="9000"/>
    <rpm:provides>
      <rpm:entry name="pgvector_17" flags="EQ" epoch="1" ver="0.8.0" rel="1PGDG.rhel9"/>
      <rpm:entry name="pgvector_17(x86-64)" flags="EQ" epoch="1" ver="0.8.0" rel="1PGDG.rhel9"/>
    </rpm:provides>
    <rpm:requires>
      <rpm:entry name="/bin/sh" pre="1"/>
      <rpm:entry name="postgresql17-server" flags="GE" epoch="0" ver="17.0"/>
      <rpm:entry name="(pgvector_17-llvmjit if llvm)"/>
      <rpm:entry name="libc.so.6(GLIBC_2.34)(64bit)"/>
    </rpm:requires>
    <rpm:conflicts>
      <rpm:entry name="pgvector" flags="LT" epoch="0" ver="0.5"/>
    </rpm:conflicts>
    <rpm:obsoletes>
      <rpm:entry name="pgvector_17-old" flags="LE" epoch="0" ver="0.7" rel="9"/>
    </rpm:obsoletes>
    <rpm:recommends>
      <rpm:entry name="not-collected"/>
    </rpm:recommends>
    <file>/usr/pgsql-17/lib/vector.so</file>
    <file type="dir">/usr/pgsql-17/share/extension</file>
    <file type="ghost">/var/run/x &amp; y</file>
  </format>
</package>
<package type="rpm">
  <name>postgresql17-server</name>
  <arch>x86_64</arch>
  <version epoch="0" ver="17.2" rel="1PGDG.rhel9"/>
  <checksum type="sha256" pkgid="YES">bb22</checksum>
  <size package="7000000" installed="1" archive="1"/>
  <location href="Packages/postgresql17-server-17.2-1PGDG.rhel9.x86_64.rpm"/>
  <format>
    <rpm:provides>
      <rpm:entry name="postgresql17-server" flags="EQ" epoch="0" ver="17.2" rel="1PGDG.rhel9"/>
    </rpm:provides>
    <rpm:requires/>
  </format>
</package>
</metadata>
"#;

    #[test]
    fn parses_fixture() {
        let pkgs = read_primary(PRIMARY.as_bytes()).unwrap();
        assert_eq!(pkgs.len(), 2);
        let p = &pkgs[0];
        assert_eq!(p.name, "pgvector_17");
        assert_eq!(p.arch, "x86_64");
        assert_eq!(p.evr, Evr::new(1, "0.8.0", "1PGDG.rhel9"));
        assert_eq!(p.nevra(), "pgvector_17-1:0.8.0-1PGDG.rhel9.x86_64");
        assert_eq!(
            p.checksum,
            Checksum {
                kind: "sha256".into(),
                value: "aa11".into()
            }
        );
        assert!(p.pkgid);
        assert_eq!(p.size, 123456);
        assert_eq!(
            p.location,
            "Packages/p/pgvector_17-0.8.0-1PGDG.rhel9.x86_64.rpm"
        );
        assert_eq!(
            p.location_base.as_deref(),
            Some("https://example.org/repo/")
        );
        assert_eq!(p.provides.len(), 2);
        assert_eq!(
            p.provides[1].constraint,
            Some((Op::Eq, Evr::new(1, "0.8.0", "1PGDG.rhel9")))
        );
        assert_eq!(p.requires.len(), 4);
        assert!(p.requires[0].pre && p.requires[0].constraint.is_none());
        assert!(!p.requires[1].pre);
        assert_eq!(
            p.requires[1].constraint,
            Some((Op::Ge, Evr::new(0, "17.0", "")))
        );
        assert!(p.requires[2].dep().unwrap().is_rich());
        assert!(!p.requires[3].dep().unwrap().is_rich());
        assert_eq!(
            p.conflicts[0].constraint.as_ref().map(|c| c.0),
            Some(Op::Lt)
        );
        assert_eq!(
            p.obsoletes[0].constraint,
            Some((Op::Le, Evr::new(0, "0.7", "9")))
        );
        assert_eq!(
            p.files,
            vec![
                FileEntry {
                    path: "/usr/pgsql-17/lib/vector.so".into(),
                    kind: FileKind::File
                },
                FileEntry {
                    path: "/usr/pgsql-17/share/extension".into(),
                    kind: FileKind::Dir
                },
                FileEntry {
                    path: "/var/run/x & y".into(),
                    kind: FileKind::Ghost
                },
            ]
        );
        let q = &pkgs[1];
        assert_eq!(q.name, "postgresql17-server");
        assert_eq!(q.location_base, None);
        assert!(q.requires.is_empty() && q.files.is_empty());
    }

    #[test]
    fn rejects_broken_input() {
        let no_name = PRIMARY.replace("<name>pgvector_17</name>", "");
        let err = read_primary(no_name.as_bytes()).unwrap_err();
        assert!(
            matches!(err, PrimaryError::Missing { field: "name", .. }),
            "{err}"
        );
        let bad_flags = PRIMARY.replace("flags=\"GE\"", "flags=\"XX\"");
        let err = read_primary(bad_flags.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("entry flags"), "{err}");
        let bad_size = PRIMARY.replace("package=\"123456\"", "package=\"big\"");
        assert!(read_primary(bad_size.as_bytes()).is_err());
        let truncated = &PRIMARY[..PRIMARY.len() / 2];
        assert!(read_primary(truncated.as_bytes()).is_err());
        // An iterator stops after its first error.
        let mut it = PrimaryReader::new(bad_flags.as_bytes());
        assert!(it.next().is_some_and(|r| r.is_err()));
        assert!(it.next().is_none());
    }

    #[test]
    fn decompresses_by_extension() {
        let data = PRIMARY.as_bytes();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(data).unwrap();
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 6);
        xz.write_all(data).unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::default());
        bz.write_all(data).unwrap();
        let zst = zstd::stream::encode_all(data, 3).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for (bytes, name) in [
            (gz.finish().unwrap(), "x-primary.xml.gz"),
            (xz.finish().unwrap(), "x-primary.xml.xz"),
            (bz.finish().unwrap(), "x-primary.xml.bz2"),
            (zst, "x-primary.xml.zst"),
            (data.to_vec(), "x-primary.xml"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let pkgs = read_primary(open_metadata(&path).unwrap()).unwrap();
            assert_eq!(pkgs.len(), 2, "{name}");
            assert_eq!(pkgs[1].name, "postgresql17-server", "{name}");
        }
    }
}
