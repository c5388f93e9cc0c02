//! What a request names and the answer to it: the path decoded once and checked (no `..`, no
//! encoded `/` or NUL, nothing that resolves outside `DEST/pigsty`), then a file opened (never
//! a device or a FIFO), a folder listed, or a refusal; conditional requests and ranges.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use http::StatusCode;

use super::conn::{Body, Request, Response};
use super::listing::{content_type, listing, top_listing};
use super::range::{parse_range, Range};
use super::URL_TOP;

/// A request answered with an error status and a one-line reason.
#[derive(Debug)]
pub(super) struct Refusal {
    pub status: StatusCode,
    pub reason: String,
}

pub(super) fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

impl Refusal {
    pub fn response(self) -> Response {
        let text = format!("{}: {}\n", self.status, self.reason);
        let mut r = Response::new(self.status, Body::Bytes(text.into_bytes()))
            .header("Content-Type", "text/plain; charset=utf-8");
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            r = r.header("Allow", "GET, HEAD");
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r = r.header("Retry-After", "1");
        }
        r
    }
}

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Named {
    /// `/`: a listing with the one folder served.
    Top,
    /// A path under `DEST/pigsty`, as decoded segments (no `.`, `..` nor empty ones).
    Repo(Vec<Vec<u8>>),
}

/// The path of a request target: `/a/b` of `/a/b?q` or of `http://host/a/b` (the absolute
/// form a proxy is sent); the query is not used. Anything else (`*`, `host:port`) is refused.
pub(super) fn target_path(target: &str) -> Result<&str, Refusal> {
    let bad = || refuse(StatusCode::BAD_REQUEST, "the request target is not a path");
    let path = match target.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c)) =>
        {
            rest.find(['/', '?', '#']).map_or("/", |i| &rest[i..])
        }
        _ => target,
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    if path.is_empty() {
        return Ok("/");
    }
    if !path.starts_with('/') || !path.bytes().all(|c| c.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(path)
}

/// Decodes and checks a request path; see the module documentation.
pub(super) fn parse_path(path: &str) -> Result<Named, Refusal> {
    if !path.starts_with('/') {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "the request target is not a path",
        ));
    }
    let mut segments = Vec::new();
    for raw in path.split('/') {
        let seg = percent_decode(raw).ok_or_else(|| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("bad percent-encoding in `{}`", raw.escape_debug()),
            )
        })?;
        if seg.contains(&b'/') || seg.contains(&0) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("`{}` decodes to a `/` or a NUL", raw.escape_debug()),
            ));
        }
        match seg.as_slice() {
            b"" | b"." => {}
            b".." => {
                return Err(refuse(
                    StatusCode::FORBIDDEN,
                    "`..` in the path: only the repo is served",
                ))
            }
            _ => segments.push(seg),
        }
    }
    match segments.split_first() {
        None => Ok(Named::Top),
        Some((first, rest)) if first.as_slice() == URL_TOP.as_bytes() => {
            Ok(Named::Repo(rest.to_vec()))
        }
        Some(_) => Err(refuse(
            StatusCode::NOT_FOUND,
            format!("not found; the repo is under /{URL_TOP}/"),
        )),
    }
}

/// `%XX` decoded; `None` for a `%` not followed by two hex digits. The decoding is the
/// `percent-encoding` crate's; the check before it is ours: the crate passes a malformed
/// `%` through as it is, and a path with one is refused here (`400`), not looked up.
pub(super) fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let well_formed = b.iter().enumerate().all(|(i, &c)| {
        c != b'%'
            || b.get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    well_formed.then(|| percent_encoding::percent_decode(b).collect())
}

/// The answer to a request: the path resolved and the file opened (see `Conn::answer` for
/// why on the runtime's thread).
pub(super) fn respond(repo: &Path, req: &Request) -> Response {
    match answer(repo, req) {
        Ok(r) => r,
        Err(refusal) => refusal.response(),
    }
}

fn answer(repo: &Path, req: &Request) -> Result<Response, Refusal> {
    if req.method != "GET" && req.method != "HEAD" {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not served; GET and HEAD are", req.method),
        ));
    }
    let path = target_path(&req.target)?;
    let segments = match parse_path(path)? {
        Named::Top => return Ok(html(top_listing())),
        Named::Repo(segments) => segments,
    };
    if !path.ends_with('/') {
        if let Some(file) = open_beneath(repo, &segments)? {
            return send_file(file, segments.last().map_or(&[][..], Vec::as_slice), req);
        }
    }
    // Not decided by the kernel: a folder, something that is not a regular file, a link
    // `openat2` does not follow beneath a folder (an absolute one, or one through `..`), or
    // no `openat2` (Linux before 5.6). The same rule, checked on the resolved path.
    let root = match std::fs::canonicalize(repo) {
        Ok(r) => r,
        // Between the two renames of a new install, or removed.
        Err(e) => {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the repo is not there now ({e})"),
            ))
        }
    };
    let mut wanted = repo.to_path_buf();
    for s in &segments {
        wanted.push(std::ffi::OsStr::from_bytes(s));
    }
    let real = match std::fs::canonicalize(&wanted) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(refuse(StatusCode::FORBIDDEN, "not readable"))
        }
        Err(_) => return Err(refuse(StatusCode::NOT_FOUND, "not found")),
    };
    if !real.starts_with(&root) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "a link to outside the repo: only the repo is served",
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|_| refuse(StatusCode::NOT_FOUND, "not found"))?;
    if meta.is_dir() {
        if !path.ends_with('/') {
            // `path` is visible ASCII (target_path): safe in a header.
            return Ok(
                Response::new(StatusCode::MOVED_PERMANENTLY, Body::Bytes(Vec::new()))
                    .header("Location", format!("{path}/")),
            );
        }
        let shown = format!("/{URL_TOP}/{}", display_segments(&segments));
        let page = listing(&real, &root, &shown).map_err(|e| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot list the folder: {e}"),
            )
        })?;
        return Ok(html(page));
    }
    if !meta.is_file() {
        return Err(refuse(StatusCode::FORBIDDEN, "not a regular file"));
    }
    if path.ends_with('/') {
        return Err(refuse(StatusCode::NOT_FOUND, "a file, not a folder"));
    }
    // O_NONBLOCK: a FIFO put there since the check does not hang the open; O_NOFOLLOW: nor
    // does a link put there since (the path is resolved already).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&real)
        .map_err(|e| {
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot open the file: {e}"),
            )
        })?;
    send_file(file, segments.last().map_or(&[][..], Vec::as_slice), req)
}

/// The regular file `segments` names under `repo`, opened for reading, with the kernel
/// checking containment: `openat2(RESOLVE_BENEATH)` refuses any step of the resolution (a
/// `..` in a link, an absolute link) that leaves the folder, and nothing can be swapped in
/// between a check and the open. The path is first opened `O_PATH` (which opens nothing) and
/// only a regular file is then opened for reading, so a device or a FIFO is never opened.
/// `None`: not decided here (see [`answer`]).
fn open_beneath(repo: &Path, segments: &[Vec<u8>]) -> Result<Option<File>, Refusal> {
    use rustix::fs::{openat2, Mode, OFlags, ResolveFlags};
    use rustix::io::Errno;
    if segments.is_empty() {
        return Ok(None);
    }
    let rel: PathBuf = segments.iter().map(|s| OsStr::from_bytes(s)).collect();
    let root = rustix::fs::open(
        repo,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        // Between the two renames of a new install, or removed.
        refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the repo is not there now ({e})"),
        )
    })?;
    let beneath = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
    let open =
        |flags: OFlags| match openat2(&root, &rel, flags | OFlags::CLOEXEC, Mode::empty(), beneath)
        {
            Ok(fd) => Ok(Some(File::from(fd))),
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP | Errno::NAMETOOLONG) => {
                Err(refuse(StatusCode::NOT_FOUND, "not found"))
            }
            Err(Errno::ACCESS) => Err(refuse(StatusCode::FORBIDDEN, "not readable")),
            // EXDEV (a link this rule does not follow), ENOSYS (no openat2), EPERM (a seccomp
            // filter that does not know openat2, as older container runtimes have), others.
            Err(_) => Ok(None),
        };
    let Some(node) = open(OFlags::PATH)? else {
        return Ok(None);
    };
    if !node.metadata().is_ok_and(|m| m.is_file()) {
        return Ok(None);
    }
    // O_NONBLOCK: a FIFO swapped in since does not hang the open (send_file refuses it).
    open(OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
}

fn display_segments(segments: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for seg in segments {
        s.push_str(&String::from_utf8_lossy(seg));
        s.push('/');
    }
    s
}

fn html(page: String) -> Response {
    Response::new(StatusCode::OK, Body::Bytes(page.into_bytes()))
        .header("Content-Type", "text/html; charset=utf-8")
}

/// `If-None-Match` holds `etag` (weak comparison) or `*`.
pub(super) fn none_match(value: &str, etag: &str) -> bool {
    value.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

/// The answer for `file` (opened inside the repo; `name` is its last path segment): `304`,
/// `416`, `206` with its range or `200`; the body is the open file, sent by the connection.
fn send_file(file: File, name: &[u8], req: &Request) -> Result<Response, Refusal> {
    let meta = file.metadata().map_err(|e| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot stat the file: {e}"),
        )
    })?;
    if !meta.is_file() {
        return Err(refuse(StatusCode::FORBIDDEN, "not a regular file"));
    }
    let len = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.mtime(), len);
    let last_modified = httpdate::fmt_http_date(mtime);

    let not_modified = match &req.if_none_match {
        Some(v) => none_match(v, &etag),
        None => req
            .if_modified_since
            .as_deref()
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                mtime
                    .duration_since(since)
                    .map_or(true, |d| d < Duration::from_secs(1))
            }),
    };
    let name = String::from_utf8_lossy(name);
    let headed = |status, body| {
        Response::new(status, body)
            .header("ETag", etag.clone())
            .header("Last-Modified", last_modified.clone())
            .header("Accept-Ranges", "bytes")
    };
    if not_modified {
        return Ok(headed(StatusCode::NOT_MODIFIED, Body::None));
    }
    let if_range_ok = match &req.if_range {
        None => true,
        Some(v) => v.trim() == etag || v.trim() == last_modified,
    };
    let range = match &req.range {
        Some(v) if req.method == "GET" && if_range_ok => parse_range(v, len),
        _ => Range::Whole,
    };
    let (status, start, count) = match range {
        Range::Whole => (StatusCode::OK, 0, len),
        Range::Part(start, end) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        Range::Unsatisfiable => {
            return Ok(refuse(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the file has {len} bytes"),
            )
            .response()
            .header("Content-Range", format!("bytes */{len}")));
        }
    };
    let mut r = headed(
        status,
        Body::File {
            file,
            start,
            len: count,
        },
    )
    .header("Content-Type", content_type(&name));
    if status == StatusCode::PARTIAL_CONTENT {
        r = r.header(
            "Content-Range",
            format!("bytes {start}-{}/{len}", start + count - 1),
        );
    }
    Ok(r)
}

/// See [`super::fuzz_request`]: the target's path, decoded and checked; a path it accepts
/// has no segment that is empty, `.` or `..`, or holds a `/` or a NUL, so that joined to the
/// repo folder it stays inside it (before links, which [`answer`] resolves and checks).
pub(super) fn fuzz_path(data: &[u8]) {
    let target = String::from_utf8_lossy(data);
    let Ok(path) = target_path(&target) else {
        return;
    };
    assert!(path.starts_with('/') && path.bytes().all(|c| c.is_ascii_graphic()));
    let Ok(Named::Repo(segments)) = parse_path(path) else {
        return;
    };
    if let Some(last) = segments.last() {
        let _ = content_type(&String::from_utf8_lossy(last));
    }
    let root = Path::new("/srv/repo");
    let mut joined = root.to_path_buf();
    for s in &segments {
        assert!(
            !s.is_empty() && s != b"." && s != b"..",
            "{s:?} from {path:?}"
        );
        assert!(!s.contains(&b'/') && !s.contains(&0), "{s:?} from {path:?}");
        joined.push(std::ffi::OsStr::from_bytes(s));
    }
    assert!(
        joined.starts_with(root)
            && joined.components().all(|c| matches!(
                c,
                std::path::Component::RootDir | std::path::Component::Normal(_)
            )),
        "{path:?} -> {joined:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_decoded_once_and_dotdot_is_refused() {
        let repo = |segs: &[&str]| {
            Ok::<_, ()>(Named::Repo(
                segs.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ))
        };
        let ok = |p: &str| parse_path(p).map_err(|_| ());
        assert_eq!(ok("/"), Ok(Named::Top));
        assert_eq!(ok("//./"), Ok(Named::Top));
        assert_eq!(ok("/pigsty"), repo(&[]));
        assert_eq!(ok("/pigsty/./InRelease"), repo(&["InRelease"]));
        assert_eq!(ok("/pigsty//pool/a%2Bb.deb"), repo(&["pool", "a+b.deb"]));
        assert_eq!(ok("/pigsty/a%252e%252e"), repo(&["a%2e%2e"]));
        assert_eq!(ok("/%70igsty/x"), repo(&["x"]));
        for (p, status) in [
            ("/pigsty/../etc/passwd", 403),
            ("/pigsty/%2e%2e/etc/passwd", 403),
            ("/pigsty/.%2E/x", 403),
            ("/pigsty/pool/../../x", 403),
            ("/pigsty/..", 403),
            ("/pigsty/%2fetc%2fpasswd", 400),
            ("/pigsty/a%00b", 400),
            ("/pigsty/%zz", 400),
            ("/pigsty/%2", 400),
            ("/pigsty/%", 400),
            ("/pigsty/%%32%65", 400),
            ("/etc/passwd", 404),
            ("/pigstyx/a", 404),
            ("*", 400),
        ] {
            let r = parse_path(p).unwrap_err();
            assert_eq!(r.status.as_u16(), status, "{p}: {}", r.reason);
        }
    }

    #[test]
    fn targets_in_origin_and_absolute_form() {
        for (t, want) in [
            ("/pigsty/x?y=1", Ok("/pigsty/x")),
            ("/pigsty/x#frag", Ok("/pigsty/x")),
            ("http://host/pigsty/../x", Ok("/pigsty/../x")),
            ("HTTP://host:80/a?b", Ok("/a")),
            ("http://host", Ok("/")),
            ("http://host?x", Ok("/")),
            ("*", Err(400)),
            ("host:80", Err(400)),
            ("pigsty/x", Err(400)),
            ("/a\u{7f}", Err(400)),
            ("/caf\u{e9}", Err(400)),
        ] {
            assert_eq!(target_path(t).map_err(|r| r.status.as_u16()), want, "{t:?}");
        }
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b%2B"), Some(b"a b+".to_vec()));
        assert_eq!(percent_decode("%ff%FF"), Some(vec![0xff, 0xff]));
        for bad in ["%", "%2", "%zz", "a%g0", "%%41"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert!(none_match("\"a\", W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"b\""));
        assert!(!none_match("\"a\"", "\"b\""));
    }
}
