//! What a folder looks like over HTTP (an HTML listing, as nginx's `autoindex` shows one) and
//! the content type of a file, by its name.

use std::borrow::Cow;
use std::io;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;
use std::time::SystemTime;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use super::URL_TOP;

/// What a link to a file keeps as it is: the unreserved characters and the sub-delimiters,
/// `:` and `@` (RFC 3986 `pchar`); a Debian version's `+`, `:` and `~` stay readable.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'+')
    .remove(b':')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'*')
    .remove(b',')
    .remove(b';')
    .remove(b'=');

/// A name made safe for a URL path segment.
pub(super) fn percent_encode(name: &[u8]) -> String {
    percent_encoding::percent_encode(name, PATH_SEGMENT).to_string()
}

pub(super) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The content type of a file, by its name.
///
/// What a repo holds is named here first, because `mime_guess` (used for everything else)
/// says otherwise for most of it: `.rpm` is RealAudio there, `.pub` Microsoft Publisher,
/// `.key` Apple Keynote, `.xml` `text/xml`, `.deb` `application/x-debian-package`, and text
/// comes without a charset; apt's extensionless indexes (`Packages`, `InRelease`) it does
/// not know at all.
pub fn content_type(name: &str) -> Cow<'static, str> {
    let text = "text/plain; charset=utf-8";
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    Cow::Borrowed(match ext.to_ascii_lowercase().as_str() {
        "deb" | "udeb" => "application/vnd.debian.binary-package",
        "rpm" => "application/x-rpm",
        "xml" => "application/xml",
        "gz" | "tgz" => "application/gzip",
        "zst" => "application/zstd",
        "xz" => "application/x-xz",
        "bz2" => "application/x-bzip2",
        "json" => "application/json",
        "asc" | "sig" | "gpg" => "application/pgp-signature",
        "pub" | "key" => "application/pgp-keys",
        "sqlite" => "application/vnd.sqlite3",
        "sha256" | "repo" | "sources" | "list" | "conf" => text,
        "" => match name {
            "Packages" | "Sources" | "Release" | "InRelease" | "repo_complete" | "Contents" => text,
            _ => "application/octet-stream",
        },
        _ => {
            let Some(guess) = mime_guess::from_ext(ext).first_raw() else {
                return Cow::Borrowed("application/octet-stream");
            };
            if guess.starts_with("text/") {
                return Cow::Owned(format!("{guess}; charset=utf-8"));
            }
            guess
        }
    })
}

fn page(title: &str, rows: &str) -> String {
    let t = html_escape(title);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {t}</title></head>\n<body><h1>Index of {t}</h1><pre>\n{rows}</pre></body></html>\n"
    )
}

pub(super) fn top_listing() -> String {
    page("/", &format!("<a href=\"{URL_TOP}/\">{URL_TOP}/</a>\n"))
}

/// The HTML listing of `dir` (inside `root`): folders then files, by name, with size and
/// date; links that lead outside `root` or nowhere are left out.
pub(super) fn listing(dir: &Path, root: &Path, shown: &str) -> io::Result<String> {
    let mut entries: Vec<(bool, Vec<u8>, u64, SystemTime)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if e.file_type().is_ok_and(|t| t.is_symlink())
            && !std::fs::canonicalize(&path).is_ok_and(|p| p.starts_with(root))
        {
            continue;
        }
        if !meta.is_dir() && !meta.is_file() {
            continue;
        }
        entries.push((
            !meta.is_dir(),
            e.file_name().into_vec(),
            meta.len(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        ));
    }
    entries.sort();
    let mut rows = String::from("<a href=\"../\">../</a>\n");
    for (is_file, name, size, mtime) in entries {
        let text = String::from_utf8_lossy(&name);
        let slash = if is_file { "" } else { "/" };
        let shown_name = format!("{text}{slash}");
        let pad = 60usize.saturating_sub(shown_name.chars().count()).max(1);
        rows.push_str(&format!(
            "<a href=\"{}{slash}\">{}</a>{}{}  {}\n",
            html_escape(&percent_encode(&name)),
            html_escape(&shown_name),
            " ".repeat(pad),
            httpdate::fmt_http_date(mtime),
            if is_file {
                size.to_string()
            } else {
                "-".into()
            }
        ));
    }
    Ok(page(shown, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::files::percent_decode;

    #[test]
    fn content_types_and_escaping() {
        assert_eq!(
            content_type("postgresql-15_15.8-0+deb12u1_amd64.deb"),
            "application/vnd.debian.binary-package"
        );
        assert_eq!(content_type("pg_cron-1.6.rpm"), "application/x-rpm");
        assert_eq!(content_type("repomd.xml"), "application/xml");
        assert_eq!(content_type("Packages.gz"), "application/gzip");
        assert_eq!(content_type("primary.xml.zst"), "application/zstd");
        assert_eq!(content_type("MANIFEST.json"), "application/json");
        assert_eq!(
            content_type("MANIFEST.json.asc"),
            "application/pgp-signature"
        );
        assert_eq!(content_type("InRelease"), "text/plain; charset=utf-8");
        assert_eq!(content_type("Packages"), "text/plain; charset=utf-8");
        assert_eq!(content_type("blob"), "application/octet-stream");
        // The rest from mime_guess, text with a charset.
        assert_eq!(content_type("README.md"), "text/markdown; charset=utf-8");
        assert_eq!(content_type("notes.txt"), "text/plain; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("logo.png"), "image/png");
        assert_eq!(content_type("x.tar"), "application/x-tar");
        assert_eq!(content_type("x.unknown-ext"), "application/octet-stream");
        assert_eq!(percent_encode(b"a b%c+d:1.0~x"), "a%20b%25c+d:1.0~x");
        assert_eq!(
            percent_decode(&percent_encode(b"\xff<x>\"")),
            Some(b"\xff<x>\"".to_vec())
        );
        assert_eq!(
            html_escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
    }
}
