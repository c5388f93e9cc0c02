//! `pigsty-install serve`: the installed local repo (`DEST/pigsty`) served over HTTP, so that
//! the other nodes of a site install from this one (`pigsty-install --from
//! http://ADMIN/pigsty`) or point apt or dnf at it (`URIs: http://ADMIN/pigsty`, `Suites: ./`;
//! `baseurl=http://ADMIN/pigsty`).
//!
//! The repo is served under `/pigsty/`, as a web server serving `DEST` would (and Pigsty's
//! nginx does); nothing else of `DEST` is. GET and HEAD; one byte range per request (`206`;
//! `416` with `Content-Range: bytes */SIZE` when it starts past the end; a request for several
//! ranges, or one that does not parse, gets the whole file, as RFC 9110 allows); `ETag`,
//! `Last-Modified` and the conditional requests that use them (`If-None-Match`,
//! `If-Modified-Since`, `If-Range`); content types for what a repo holds; folders as an HTML
//! listing. apt and dnf need nothing more: they fetch the files their indexes name.
//!
//! A path is decoded once, then refused if a segment is `..` (`403`), if it decodes to a `/`
//! or a NUL (`400`), or if the file it names resolves (symlinks followed) to anywhere outside
//! `DEST/pigsty` (`403`); devices and FIFOs are never opened. Files are streamed from disk in
//! 256 KiB pieces, with the socket's back-pressure: a server's memory does not grow with the
//! files it sends nor with the number of clients beyond a few buffers each.
//!
//! [`serve`] runs until SIGTERM or SIGINT, then stops accepting (new connections are refused),
//! lets the requests under way finish (at most [`ServeOptions::grace`]) and returns.
//! [`Server`] is the same for a caller with its own tokio runtime and shutdown signal.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio::net::TcpListener;
use tokio_util::io::ReaderStream;

/// The URL path the repo is served under (`DEST/pigsty` is `/pigsty/`).
pub const URL_TOP: &str = repo_layout::bundle::TOP;
/// The piece a file is read and sent in. Against 64 KiB pieces: about two thirds of the
/// server's CPU for the same transfer, for about 0.5 MB per busy connection (50 clients
/// fetching at once: about 30 MB peak RSS, against 16 MB).
const CHUNK: usize = 256 * 1024;
/// The most threads reading files at once (tokio's blocking pool).
const BLOCKING_THREADS: usize = 64;
/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// What to serve, where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The folder holding the repo (`/www`); `DEST/pigsty` is served.
    pub dest: PathBuf,
    /// The address to listen on (`0.0.0.0:80`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// How long requests under way may take to finish once a shutdown is asked for.
    pub grace: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: no repo to serve ({reason}); install one first (pigsty-install BUNDLE --dest {}) or pass --dest DIR", repo.display(), repo.parent().unwrap_or(Path::new("/")).display())]
    NoRepo { repo: PathBuf, reason: String },
    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot start the server: {0}")]
    Setup(String),
}

fn bind_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (ports below 1024 need root or CAP_NET_BIND_SERVICE; or pick another with --listen ADDR:PORT)"
        }
        io::ErrorKind::AddrInUse => " (another program listens there; pick another with --listen)",
        io::ErrorKind::AddrNotAvailable => " (this host has no such address)",
        _ => "",
    }
}

/// One request served, as the access log shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Access {
    pub peer: SocketAddr,
    pub method: String,
    /// The request target as sent (not decoded).
    pub target: String,
    pub version: String,
    pub status: u16,
    /// The body bytes the response carries (0 for HEAD and bodiless answers).
    pub bytes: u64,
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} \"{} {} {}\" {} {}",
            self.peer,
            self.method,
            self.target.escape_debug(),
            self.version,
            self.status,
            self.bytes
        )
    }
}

/// What the server reports while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request was answered.
    Access(Access),
    /// Something went wrong that did not stop the server (a client went away mid-answer, a
    /// file could not be read, accept failed).
    Problem(String),
    /// The server's own news (a signal came, it stops).
    Notice(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Access(a) => a.fmt(f),
            Event::Problem(p) => write!(f, "problem: {p}"),
            Event::Notice(n) => f.write_str(n),
        }
    }
}

/// Where events go (the binary prints them on stderr).
pub type EventLog = Arc<dyn Fn(&Event) + Send + Sync>;

/// How a server run ended.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub connections: u64,
    pub requests: u64,
    /// Connections still busy when the grace period ended, closed without finishing.
    pub cut: usize,
}

struct Shared {
    /// `DEST/pigsty` as given (resolved again for every request: a new install replaces it).
    repo: PathBuf,
    log: EventLog,
    requests: AtomicU64,
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    grace: Duration,
}

impl Server {
    /// Checks that `DEST/pigsty` is a folder and binds the listening socket.
    pub async fn bind(opts: &ServeOptions, log: EventLog) -> Result<Server, ServeError> {
        let repo = opts.dest.join(URL_TOP);
        match tokio::fs::metadata(&repo).await {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(ServeError::NoRepo {
                    repo,
                    reason: "not a folder".into(),
                })
            }
            Err(e) => {
                return Err(ServeError::NoRepo {
                    repo,
                    reason: e.to_string(),
                })
            }
        }
        let listener = TcpListener::bind(opts.listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: opts.listen,
                source,
            })?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                repo,
                log,
                requests: AtomicU64::new(0),
            }),
            grace: opts.grace,
        })
    }

    /// The address it listens on (with the port picked, when 0 was asked).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The repo folder served (`DEST/pigsty`).
    pub fn repo(&self) -> &Path {
        &self.shared.repo
    }

    /// Serves until `shutdown` completes; then closes the listening socket, lets the requests
    /// under way finish (idle keep-alive connections are closed) for at most the grace period
    /// and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Summary {
        let Server {
            listener,
            shared,
            grace,
        } = self;
        let graceful = GracefulShutdown::new();
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .keep_alive(true);
        let mut connections = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            // Forget the connections that are over.
            while tasks.try_join_next().is_some() {}
            let (stream, peer) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the server goes on.
                    (shared.log)(&Event::Problem(format!("accept: {e}")));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            connections += 1;
            let _ = stream.set_nodelay(true);
            let conn_shared = shared.clone();
            let service = hyper::service::service_fn(move |req| {
                let shared = conn_shared.clone();
                async move { Ok::<_, Infallible>(handle(&shared, peer, req).await) }
            });
            let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
            let log = shared.log.clone();
            tasks.spawn(async move {
                if let Err(e) = conn.await {
                    log(&Event::Problem(format!("{peer}: {e}")));
                }
            });
        }
        // New connections are refused from here on.
        drop(listener);
        let finished = tokio::time::timeout(grace, graceful.shutdown()).await;
        while tasks.try_join_next().is_some() {}
        let cut = if finished.is_ok() { 0 } else { tasks.len() };
        tasks.abort_all();
        Summary {
            connections,
            requests: shared.requests.load(Ordering::Relaxed),
            cut,
        }
    }
}

/// Serves `opts.dest/pigsty` on `opts.listen` until SIGTERM or SIGINT, then shuts down
/// gracefully (see [`Server::run`]). `ready` is called once the socket listens, with its
/// address and the repo folder.
pub fn serve(
    opts: &ServeOptions,
    log: EventLog,
    ready: impl FnOnce(SocketAddr, &Path),
) -> Result<Summary, ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("pigsty-serve")
        // File reads run on the blocking pool; a bound keeps the thread count (and memory)
        // flat under many clients, who then wait their turn.
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .map_err(|e| ServeError::Setup(format!("tokio runtime: {e}")))?;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        // The handlers first: a signal right after `ready` must not find the default action.
        let mut term = signal(SignalKind::terminate())
            .map_err(|e| ServeError::Setup(format!("SIGTERM handler: {e}")))?;
        let mut int = signal(SignalKind::interrupt())
            .map_err(|e| ServeError::Setup(format!("SIGINT handler: {e}")))?;
        let server = Server::bind(opts, log.clone()).await?;
        let addr = server
            .local_addr()
            .map_err(|e| ServeError::Setup(e.to_string()))?;
        ready(addr, server.repo());
        let summary = server
            .run(async {
                tokio::select! {
                    _ = term.recv() => log(&Event::Notice("SIGTERM: no new connections; finishing the requests under way".into())),
                    _ = int.recv() => log(&Event::Notice("SIGINT: no new connections; finishing the requests under way".into())),
                }
            })
            .await;
        Ok(summary)
    })
}

type Body = BoxBody<Bytes, io::Error>;

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn full(data: impl Into<Bytes>) -> Body {
    Full::new(data.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Answers one request and logs it.
async fn handle(shared: &Shared, peer: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let head = req.method() == Method::HEAD;
    let mut resp = match respond(shared, &req).await {
        Ok(r) => r,
        Err(refusal) => refusal.response(),
    };
    resp.headers_mut().insert(
        header::SERVER,
        HeaderValue::from_static(concat!("pigsty-install/", env!("CARGO_PKG_VERSION"))),
    );
    let bytes = if head {
        0
    } else {
        resp.headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (shared.log)(&Event::Access(Access {
        peer,
        method: req.method().to_string(),
        target: req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().to_string(), |p| p.to_string()),
        version: format!("{:?}", req.version()),
        status: resp.status().as_u16(),
        bytes,
    }));
    if head {
        *resp.body_mut() = empty();
    }
    resp
}

/// A request answered with an error status and a one-line reason.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    reason: String,
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Refusal {
    Refusal {
        status,
        reason: reason.into(),
    }
}

impl Refusal {
    fn response(self) -> Response<Body> {
        let text = format!("{}: {}\n", self.status, self.reason);
        let mut r = Response::new(full(text.clone()));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(text.len()));
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            h.insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

/// What a request path names.
#[derive(Debug, PartialEq, Eq)]
enum Named {
    /// `/`: a listing with the one folder served.
    Top,
    /// A path under `DEST/pigsty`, as decoded segments (no `.`, `..` nor empty ones).
    Repo(Vec<Vec<u8>>),
}

/// Decodes and checks a request path; see the module documentation.
fn parse_path(path: &str) -> Result<Named, Refusal> {
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
                format!("bad percent-encoding in `{raw}`"),
            )
        })?;
        if seg.contains(&b'/') || seg.contains(&0) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                format!("`{raw}` decodes to a `/` or a NUL"),
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

/// `%XX` decoded; `None` for a `%` not followed by two hex digits.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A name made safe for a URL path segment.
fn percent_encode(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &c in name {
        if c.is_ascii_alphanumeric() || b"-._~+:@!$&'()*,;=".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

fn html_escape(s: &str) -> String {
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
pub fn content_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
    match ext.to_ascii_lowercase().as_str() {
        "deb" | "udeb" => "application/vnd.debian.binary-package",
        "rpm" => "application/x-rpm",
        "xml" => "application/xml",
        "gz" | "tgz" => "application/gzip",
        "zst" => "application/zstd",
        "xz" => "application/x-xz",
        "bz2" => "application/x-bzip2",
        "tar" => "application/x-tar",
        "json" => "application/json",
        "asc" | "sig" | "gpg" => "application/pgp-signature",
        "pub" | "key" => "application/pgp-keys",
        "sqlite" => "application/vnd.sqlite3",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" | "sha256" | "md" | "csv" | "yml" | "yaml" | "toml" | "conf" | "repo" | "sources"
        | "list" | "sh" => "text/plain; charset=utf-8",
        _ => match name {
            "Packages" | "Sources" | "Release" | "InRelease" | "repo_complete" | "Contents" => {
                "text/plain; charset=utf-8"
            }
            _ => "application/octet-stream",
        },
    }
}

/// The answer to a GET or HEAD, or why not.
async fn respond(shared: &Shared, req: &Request<Incoming>) -> Result<Response<Body>, Refusal> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Err(refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} is not served; GET and HEAD are", req.method()),
        ));
    }
    let path = req.uri().path();
    let segments = match parse_path(path)? {
        Named::Top => return Ok(html(top_listing())),
        Named::Repo(segments) => segments,
    };
    let root = match tokio::fs::canonicalize(&shared.repo).await {
        Ok(r) => r,
        // Between the two renames of a new install, or removed.
        Err(e) => {
            return Err(refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the repo is not there now ({e})"),
            ))
        }
    };
    let mut wanted = shared.repo.clone();
    for s in &segments {
        wanted.push(std::ffi::OsStr::from_bytes(s));
    }
    let real = match tokio::fs::canonicalize(&wanted).await {
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
    let meta = tokio::fs::metadata(&real)
        .await
        .map_err(|_| refuse(StatusCode::NOT_FOUND, "not found"))?;
    if meta.is_dir() {
        if !path.ends_with('/') {
            let mut r = Response::new(empty());
            *r.status_mut() = StatusCode::MOVED_PERMANENTLY;
            let location = HeaderValue::from_str(&format!("{path}/"))
                .map_err(|_| refuse(StatusCode::BAD_REQUEST, "bad path"))?;
            r.headers_mut().insert(header::LOCATION, location);
            r.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(0));
            return Ok(r);
        }
        let shown = format!("/{URL_TOP}/{}", display_segments(&segments));
        let listing = tokio::task::spawn_blocking(move || listing(&real, &root, &shown))
            .await
            .map_err(|e| refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(|e| {
                refuse(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("cannot list the folder: {e}"),
                )
            })?;
        return Ok(html(listing));
    }
    if !meta.is_file() {
        return Err(refuse(StatusCode::FORBIDDEN, "not a regular file"));
    }
    if path.ends_with('/') {
        return Err(refuse(StatusCode::NOT_FOUND, "a file, not a folder"));
    }
    send_file(&real, req.method() == Method::GET, req.headers()).await
}

fn display_segments(segments: &[Vec<u8>]) -> String {
    let mut s = String::new();
    for seg in segments {
        s.push_str(&String::from_utf8_lossy(seg));
        s.push('/');
    }
    s
}

fn html(page: String) -> Response<Body> {
    let len = page.len();
    let mut r = Response::new(full(page));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

fn page(title: &str, rows: &str) -> String {
    let t = html_escape(title);
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {t}</title></head>\n<body><h1>Index of {t}</h1><pre>\n{rows}</pre></body></html>\n"
    )
}

fn top_listing() -> String {
    page("/", &format!("<a href=\"{URL_TOP}/\">{URL_TOP}/</a>\n"))
}

/// The HTML listing of `dir` (inside `root`): folders then files, by name, with size and
/// date; links that lead outside `root` or nowhere are left out.
fn listing(dir: &Path, root: &Path, shown: &str) -> io::Result<String> {
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

/// A byte range asked for.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// No range, or one to ignore: the whole file.
    Whole,
    /// Bytes `start..=end` (within the file).
    Part(u64, u64),
    /// A range starting at or past the end: 416.
    Unsatisfiable,
}

/// Reads a `Range` header for a file of `len` bytes (RFC 9110 §14.1.2): one `bytes=` range;
/// several ranges or anything that does not parse: the whole file.
fn parse_range(value: &str, len: u64) -> Range {
    let Some(spec) = value
        .trim()
        .split_once('=')
        .filter(|(unit, _)| unit.trim().eq_ignore_ascii_case("bytes"))
        .map(|(_, spec)| spec.trim())
    else {
        return Range::Whole;
    };
    if spec.contains(',') {
        return Range::Whole;
    }
    let Some((a, b)) = spec.split_once('-') else {
        return Range::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match (a.is_empty(), b.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match num(b) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Part(len.saturating_sub(n), len - 1),
            None => Range::Whole,
        },
        // bytes=A-: from A to the end.
        (false, true) => match num(a) {
            Some(start) if start >= len => Range::Unsatisfiable,
            Some(start) => Range::Part(start, len - 1),
            None => Range::Whole,
        },
        (false, false) => match (num(a), num(b)) {
            (Some(start), Some(end)) if start <= end => {
                if start >= len {
                    Range::Unsatisfiable
                } else {
                    Range::Part(start, end.min(len - 1))
                }
            }
            _ => Range::Whole,
        },
        (true, true) => Range::Whole,
    }
}

/// `If-None-Match` holds `etag` (weak comparison) or `*`.
fn none_match(value: &str, etag: &str) -> bool {
    value.split(',').map(str::trim).any(|tag| {
        tag == "*"
            || tag.strip_prefix("W/").unwrap_or(tag) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

async fn send_file(path: &Path, get: bool, headers: &HeaderMap) -> Result<Response<Body>, Refusal> {
    let server_error = |what: &str, e: io::Error| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot {what} the file: {e}"),
        )
    };
    // O_NONBLOCK: a FIFO put there since the check does not hang the open; O_NOFOLLOW: nor
    // does a link put there since (the path is resolved already).
    let mut file = tokio::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .await
        .map_err(|e| server_error("open", e))?;
    let meta = file.metadata().await.map_err(|e| server_error("stat", e))?;
    if !meta.is_file() {
        return Err(refuse(StatusCode::FORBIDDEN, "not a regular file"));
    }
    let len = meta.len();
    let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let etag = format!("\"{:x}-{:x}-{:x}\"", meta.ino(), meta.mtime(), len);
    let last_modified = httpdate::fmt_http_date(mtime);
    let header_str = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };

    let not_modified = match header_str(header::IF_NONE_MATCH) {
        Some(v) => none_match(v, &etag),
        None => header_str(header::IF_MODIFIED_SINCE)
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .is_some_and(|since| {
                mtime
                    .duration_since(since)
                    .map_or(true, |d| d < Duration::from_secs(1))
            }),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = Response::new(empty());
    {
        let h = r.headers_mut();
        h.insert(header::ETAG, header_value(&etag));
        h.insert(header::LAST_MODIFIED, header_value(&last_modified));
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&name)),
        );
    }
    if not_modified {
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r.headers_mut().remove(header::CONTENT_TYPE);
        return Ok(r);
    }
    let if_range_ok = match header_str(header::IF_RANGE) {
        None => true,
        Some(v) => v.trim() == etag || v.trim() == last_modified,
    };
    let range = match header_str(header::RANGE) {
        Some(v) if get && if_range_ok => parse_range(v, len),
        _ => Range::Whole,
    };
    let (start, count) = match range {
        Range::Whole => (0, len),
        Range::Part(start, end) => {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes {start}-{end}/{len}")),
            );
            (start, end - start + 1)
        }
        Range::Unsatisfiable => {
            let mut r = refuse(
                StatusCode::RANGE_NOT_SATISFIABLE,
                format!("the file has {len} bytes"),
            )
            .response();
            r.headers_mut().insert(
                header::CONTENT_RANGE,
                header_value(&format!("bytes */{len}")),
            );
            return Ok(r);
        }
    };
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    if get && count > 0 {
        if start > 0 {
            file.seek(io::SeekFrom::Start(start))
                .await
                .map_err(|e| server_error("seek in", e))?;
        }
        let stream = ReaderStream::with_capacity(file.take(count), CHUNK).map_ok(Frame::data);
        *r.body_mut() = BodyExt::boxed(StreamBody::new(stream));
    }
    Ok(r)
}

/// A header value from text we made (always visible ASCII).
fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("-"))
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
            ("/etc/passwd", 404),
            ("/pigstyx/a", 404),
            ("*", 400),
        ] {
            let r = parse_path(p).unwrap_err();
            assert_eq!(r.status.as_u16(), status, "{p}: {}", r.reason);
        }
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use Range::*;
        for (h, len, want) in [
            ("bytes=0-0", 10, Part(0, 0)),
            ("bytes=2-5", 10, Part(2, 5)),
            ("bytes=2-100", 10, Part(2, 9)),
            ("bytes=9-", 10, Part(9, 9)),
            ("bytes=-3", 10, Part(7, 9)),
            ("bytes=-30", 10, Part(0, 9)),
            ("Bytes = 1 - 2", 10, Part(1, 2)),
            ("bytes=10-", 10, Unsatisfiable),
            ("bytes=10-20", 10, Unsatisfiable),
            ("bytes=-0", 10, Unsatisfiable),
            ("bytes=-1", 0, Unsatisfiable),
            ("bytes=0-", 0, Unsatisfiable),
            ("bytes=5-2", 10, Whole),
            ("bytes=0-1,3-4", 10, Whole),
            ("bytes=a-b", 10, Whole),
            ("bytes=-", 10, Whole),
            ("items=0-1", 10, Whole),
            ("bytes=+1-2", 10, Whole),
            ("", 10, Whole),
        ] {
            assert_eq!(parse_range(h, len), want, "{h} of {len}");
        }
    }

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
        assert_eq!(percent_encode(b"a b%c+d:1.0~x"), "a%20b%25c+d:1.0~x");
        assert_eq!(
            percent_decode(&percent_encode(b"\xff<x>\"")),
            Some(b"\xff<x>\"".to_vec())
        );
        assert_eq!(
            html_escape("<a href=\"x\">&"),
            "&lt;a href=&quot;x&quot;&gt;&amp;"
        );
        assert!(none_match("\"a\", W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"b\""));
        assert!(!none_match("\"a\"", "\"b\""));
    }
}
