//! Streaming parser of an rpm repository's `filelists.xml`: every file of every package, of
//! which only the paths a caller asks for are kept.
//!
//! `primary.xml` lists only the files under `/etc/`, those with `bin/` in their path and
//! `/usr/lib/sendmail` (createrepo's rule); a dependency on any other path needs the complete
//! lists. They are large (hundreds of MB for an EL AppStream), so [`read_filelists`] streams
//! the document and keeps only the wanted paths, each with the `pkgid` of its package; it
//! also reads a run of whole `<package>` elements cut out of the document
//! ([`super::chunks`]).

use std::collections::HashSet;
use std::io::BufRead;

use quick_xml::events::Event;
use quick_xml::Reader;

use super::primary::{attr, PrimaryError};

/// One wanted path and the package (by `pkgid`, its checksum in `primary.xml`) that owns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedFile {
    pub pkgid: String,
    /// The package's name, for messages.
    pub name: String,
    pub path: String,
}

/// Reads a `filelists.xml`, returning the entries whose path is in `wanted`.
pub fn read_filelists(
    reader: impl BufRead,
    wanted: &HashSet<String>,
) -> Result<Vec<OwnedFile>, PrimaryError> {
    let mut xml = Reader::from_reader(reader);
    // Also used on chunks of the document, whose closing tag has no opening one.
    xml.config_mut().allow_unmatched_ends = true;
    let mut buf = Vec::new();
    let mut text = String::new();
    let mut pkgid = String::new();
    let mut name = String::new();
    let mut in_file = false;
    let mut out = Vec::new();
    let mut index = 0usize;
    loop {
        buf.clear();
        match xml.read_event_into(&mut buf)? {
            Event::Eof => break,
            Event::Start(e) => match e.local_name().as_ref() {
                b"package" => {
                    index += 1;
                    pkgid = attr(&e, b"pkgid")?.unwrap_or_default().into_owned();
                    name = attr(&e, b"name")?.unwrap_or_default().into_owned();
                    if pkgid.is_empty() {
                        return Err(PrimaryError::Missing {
                            index,
                            name: name.clone(),
                            field: "pkgid",
                        });
                    }
                }
                b"file" => {
                    in_file = true;
                    text.clear();
                }
                _ => {}
            },
            Event::Text(t) if in_file => text.push_str(&t.decode()?),
            Event::CData(t) if in_file => text.push_str(&t.decode()?),
            Event::GeneralRef(r) if in_file => {
                if let Some(c) = r.resolve_char_ref()? {
                    text.push(c);
                } else {
                    text.push(match r.decode()?.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        _ => '"',
                    });
                }
            }
            Event::End(e) if e.local_name().as_ref() == b"file" => {
                in_file = false;
                if wanted.contains(text.as_str()) {
                    out.push(OwnedFile {
                        pkgid: pkgid.clone(),
                        name: name.clone(),
                        path: std::mem::take(&mut text),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILELISTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="2">
<package pkgid="aa11" name="pgvector_17" arch="x86_64">
  <version epoch="1" ver="0.8.0" rel="1PGDG.rhel9"/>
  <file>/usr/pgsql-17/lib/vector.so</file>
  <file type="dir">/usr/pgsql-17/share/extension</file>
  <file>/usr/share/doc/a &amp; b</file>
</package>
<package pkgid="bb22" name="postgresql17-server" arch="x86_64">
  <version epoch="0" ver="17.2" rel="1PGDG.rhel9"/>
  <file>/usr/pgsql-17/bin/postgres</file>
  <file>/usr/pgsql-17/lib/vector.so</file>
</package>
</filelists>
"#;

    #[test]
    fn keeps_only_wanted_paths() {
        let wanted: HashSet<String> = ["/usr/pgsql-17/lib/vector.so", "/usr/share/doc/a & b"]
            .into_iter()
            .map(String::from)
            .collect();
        let got = read_filelists(FILELISTS.as_bytes(), &wanted).unwrap();
        let got: Vec<(&str, &str)> = got
            .iter()
            .map(|f| (f.pkgid.as_str(), f.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("aa11", "/usr/pgsql-17/lib/vector.so"),
                ("aa11", "/usr/share/doc/a & b"),
                ("bb22", "/usr/pgsql-17/lib/vector.so"),
            ]
        );
        assert!(read_filelists(FILELISTS.as_bytes(), &HashSet::new())
            .unwrap()
            .is_empty());
        let no_id = FILELISTS.replace("pkgid=\"bb22\" ", "");
        assert!(read_filelists(no_id.as_bytes(), &wanted).is_err());
    }
}
