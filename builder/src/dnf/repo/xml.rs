//! The XML of primary.xml, filelists.xml, other.xml and repomd.xml, written byte for byte
//! as createrepo_c 0.17.3 (through libxml2) writes them, the `<time file=...>` value aside.
//!
//! Escaping, as libxml2 serialises a node without a document encoding:
//! - text: `&` `<` `>` as entities and carriage return as `&#13;`; all else as is (UTF-8);
//! - attributes: `&` `<` `>` `"` as entities, tab / newline / carriage return as `&#9;`
//!   `&#10;` `&#13;`, every non-ASCII character as a hex character reference (`&#xE9;`).
//!
//! Header strings that are not UTF-8 are taken as Latin-1 (createrepo_c's
//! `cr_latin1_to_utf8`: C1 controls and other control characters dropped).

use std::borrow::Cow;
use std::io::Write;

use super::package::{is_primary, Dep, FileKind, Package};

/// A header string as createrepo_c puts it into XML: as is if UTF-8, else from Latin-1.
pub(super) fn utf8(s: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(s) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(
            s.iter()
                .filter(|&&b| b >= 32 || matches!(b, b'\t' | b'\n' | b'\r'))
                .filter(|&&b| !(0x80..0xc0).contains(&b))
                .map(|&b| char::from(b))
                .collect(),
        ),
    }
}

/// Appends `s` escaped as element text.
pub(crate) fn text(out: &mut Vec<u8>, s: &[u8]) {
    let s = utf8(s);
    let mut rest = s.as_bytes();
    while let Some(i) = rest
        .iter()
        .position(|b| matches!(b, b'&' | b'<' | b'>' | b'\r'))
    {
        out.extend_from_slice(&rest[..i]);
        out.extend_from_slice(match rest[i] {
            b'&' => b"&amp;",
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            _ => b"&#13;",
        });
        rest = &rest[i + 1..];
    }
    out.extend_from_slice(rest);
}

/// Appends `s` escaped as an attribute value (without the quotes).
pub(crate) fn attr(out: &mut Vec<u8>, s: &[u8]) {
    let s = utf8(s);
    let plain =
        |b: &u8| b.is_ascii() && !matches!(b, b'&' | b'<' | b'>' | b'"' | b'\t' | b'\n' | b'\r');
    if s.bytes().all(|b| plain(&b)) {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '"' => out.extend_from_slice(b"&quot;"),
            '\t' => out.extend_from_slice(b"&#9;"),
            '\n' => out.extend_from_slice(b"&#10;"),
            '\r' => out.extend_from_slice(b"&#13;"),
            c if c.is_ascii() => out.push(c as u8),
            c => {
                let _ = write!(out, "&#x{:X};", u32::from(c));
            }
        }
    }
}

fn elem(out: &mut Vec<u8>, indent: &str, name: &str, value: &[u8]) {
    out.extend_from_slice(indent.as_bytes());
    out.push(b'<');
    out.extend_from_slice(name.as_bytes());
    out.push(b'>');
    text(out, value);
    out.extend_from_slice(b"</");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b">\n");
}

fn version_elem(out: &mut Vec<u8>, p: &Package) {
    let _ = write!(out, "  <version epoch=\"{}\" ver=\"", p.epoch);
    attr(out, p.version);
    out.extend_from_slice(b"\" rel=\"");
    attr(out, p.release);
    out.extend_from_slice(b"\"/>\n");
}

/// The facts about one package that come from outside its headers.
pub(crate) struct FileFacts<'a> {
    pub sha256: &'a str,
    pub location: &'a str,
    pub size: u64,
    /// `<time file=...>`.
    pub time_file: u64,
}

fn dep_list(out: &mut Vec<u8>, name: &str, deps: &[Dep], requires: bool) {
    if deps.is_empty() {
        return;
    }
    if deps.iter().all(|d| d.name.is_empty()) {
        let _ = writeln!(out, "    <rpm:{name}/>");
        return;
    }
    let _ = writeln!(out, "    <rpm:{name}>");
    for d in deps.iter().filter(|d| !d.name.is_empty()) {
        out.extend_from_slice(b"      <rpm:entry name=\"");
        attr(out, d.name);
        out.push(b'"');
        if let Some(flags) = d.flags {
            let _ = write!(out, " flags=\"{flags}\"");
            for (key, value) in [("epoch", d.epoch), ("ver", d.version), ("rel", d.release)] {
                if let Some(v) = value.filter(|v| !v.is_empty()) {
                    let _ = write!(out, " {key}=\"");
                    attr(out, v);
                    out.push(b'"');
                }
            }
        }
        if requires && d.pre {
            out.extend_from_slice(b" pre=\"1\"");
        }
        out.extend_from_slice(b"/>\n");
    }
    let _ = writeln!(out, "    </rpm:{name}>");
}

fn file_list(out: &mut Vec<u8>, indent: &str, p: &Package, primary_only: bool) {
    let mut path = Vec::new();
    for f in &p.files {
        path.clear();
        path.extend_from_slice(f.dir);
        path.extend_from_slice(f.base);
        if primary_only && !is_primary(&path) {
            continue;
        }
        out.extend_from_slice(indent.as_bytes());
        out.extend_from_slice(match f.kind {
            FileKind::File => b"<file>",
            FileKind::Dir => b"<file type=\"dir\">",
            FileKind::Ghost => b"<file type=\"ghost\">",
        });
        text(out, &path);
        out.extend_from_slice(b"</file>\n");
    }
}

/// Appends the package's `<package>` element of primary.xml.
pub(crate) fn primary(out: &mut Vec<u8>, p: &Package, facts: &FileFacts) {
    out.extend_from_slice(b"<package type=\"rpm\">\n");
    elem(out, "  ", "name", p.name);
    elem(out, "  ", "arch", p.arch);
    version_elem(out, p);
    let _ = writeln!(
        out,
        "  <checksum type=\"sha256\" pkgid=\"YES\">{}</checksum>",
        facts.sha256
    );
    elem(out, "  ", "summary", p.summary);
    elem(out, "  ", "description", p.description);
    elem(out, "  ", "packager", p.packager);
    elem(out, "  ", "url", p.url);
    let _ = writeln!(
        out,
        "  <time file=\"{}\" build=\"{}\"/>",
        facts.time_file, p.build_time
    );
    let _ = writeln!(
        out,
        "  <size package=\"{}\" installed=\"{}\" archive=\"{}\"/>",
        facts.size, p.installed_size, p.archive_size
    );
    out.extend_from_slice(b"  <location href=\"");
    attr(out, facts.location.as_bytes());
    out.extend_from_slice(b"\"/>\n  <format>\n");
    elem(out, "    ", "rpm:license", p.license);
    elem(out, "    ", "rpm:vendor", p.vendor);
    elem(out, "    ", "rpm:group", p.group);
    elem(out, "    ", "rpm:buildhost", p.buildhost);
    elem(out, "    ", "rpm:sourcerpm", p.sourcerpm);
    let _ = writeln!(
        out,
        "    <rpm:header-range start=\"{}\" end=\"{}\"/>",
        p.header_start, p.header_end
    );
    dep_list(out, "provides", &p.provides, false);
    dep_list(out, "requires", &p.requires, true);
    dep_list(out, "conflicts", &p.conflicts, false);
    dep_list(out, "obsoletes", &p.obsoletes, false);
    dep_list(out, "suggests", &p.suggests, false);
    dep_list(out, "enhances", &p.enhances, false);
    dep_list(out, "recommends", &p.recommends, false);
    dep_list(out, "supplements", &p.supplements, false);
    file_list(out, "    ", p, true);
    out.extend_from_slice(b"  </format>\n</package>\n");
}

fn package_open(out: &mut Vec<u8>, p: &Package, facts: &FileFacts) {
    let _ = write!(out, "<package pkgid=\"{}\" name=\"", facts.sha256);
    attr(out, p.name);
    out.extend_from_slice(b"\" arch=\"");
    attr(out, p.arch);
    out.extend_from_slice(b"\">\n");
    version_elem(out, p);
}

/// Appends the package's `<package>` element of filelists.xml.
pub(crate) fn filelists(out: &mut Vec<u8>, p: &Package, facts: &FileFacts) {
    package_open(out, p, facts);
    file_list(out, "  ", p, false);
    out.extend_from_slice(b"</package>\n");
}

/// Appends the package's `<package>` element of other.xml.
pub(crate) fn other(out: &mut Vec<u8>, p: &Package, facts: &FileFacts) {
    package_open(out, p, facts);
    for c in &p.changelogs {
        out.extend_from_slice(b"  <changelog author=\"");
        attr(out, c.author);
        let _ = write!(out, "\" date=\"{}\">", c.date);
        text(out, c.text);
        out.extend_from_slice(b"</changelog>\n");
    }
    out.extend_from_slice(b"</package>\n");
}

/// The three metadata documents: (kind, opening up to the first package, closing tag).
pub(crate) fn document(kind: &str, packages: usize) -> (String, &'static str) {
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    match kind {
        "primary" => (
            format!(
                "{head}<metadata xmlns=\"http://linux.duke.edu/metadata/common\" \
                 xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{packages}\">\n"
            ),
            "</metadata>",
        ),
        "filelists" => (
            format!(
                "{head}<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" \
                 packages=\"{packages}\">\n"
            ),
            "</filelists>",
        ),
        _ => (
            format!(
                "{head}<otherdata xmlns=\"http://linux.duke.edu/metadata/other\" \
                 packages=\"{packages}\">\n"
            ),
            "</otherdata>",
        ),
    }
}

/// One `<data>` entry of repomd.xml.
pub(crate) struct RepomdRecord {
    pub kind: &'static str,
    pub location: String,
    pub sha256: String,
    pub open_sha256: String,
    pub size: u64,
    pub open_size: u64,
}

/// The text of repomd.xml.
pub(crate) fn repomd(revision: u64, timestamp: u64, records: &[RepomdRecord]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <repomd xmlns=\"http://linux.duke.edu/metadata/repo\" \
         xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    out.push_str(&format!("  <revision>{revision}</revision>\n"));
    for r in records {
        out.push_str(&format!(
            "  <data type=\"{}\">\n    <checksum type=\"sha256\">{}</checksum>\n    \
             <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{}\"/>\n    \
             <timestamp>{timestamp}</timestamp>\n    <size>{}</size>\n    \
             <open-size>{}</open-size>\n  </data>\n",
            r.kind, r.sha256, r.open_sha256, r.location, r.size, r.open_size
        ));
    }
    out.push_str("</repomd>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &[u8]) -> String {
        let mut out = Vec::new();
        text(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    fn a(s: &[u8]) -> String {
        let mut out = Vec::new();
        attr(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_like_libxml2() {
        assert_eq!(
            t("sum <b>&\"q\"' é ✓ 😀 ]]> \t\r\n".as_bytes()),
            "sum &lt;b&gt;&amp;\"q\"' é ✓ 😀 ]]&gt; \t&#13;\n"
        );
        assert_eq!(
            a("A <a@x> & \"q\"' \t\n\ré✓😀".as_bytes()),
            "A &lt;a@x&gt; &amp; &quot;q&quot;' &#9;&#10;&#13;&#xE9;&#x2713;&#x1F600;"
        );
        assert_eq!(a(b"plain-1.0"), "plain-1.0");
        // Latin-1 bytes become UTF-8; C1 and C0 controls are dropped.
        assert_eq!(t(b"caf\xe9 \x85\x01!"), "café !");
        assert_eq!(a(b"caf\xe9"), "caf&#xE9;");
    }
}
