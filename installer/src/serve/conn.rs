//! One client connection: request heads read and parsed (by `httparse`, the parser hyper
//! uses), each answered by [`files::respond`], the answers written with a write timeout and
//! file bodies sent with `sendfile(2)`; keep-alive and pipelining; how a connection ends.
//!
//! Why not hyper: it owns the socket and takes a body as a stream of buffers, so every piece
//! of a file was read into memory on the blocking pool and copied into the socket (a thread
//! hop and two copies per piece, 0.5-0.9 MB held by a client that stops reading, and no write
//! timeout). A repo server needs little of HTTP: GET and HEAD, no request bodies, no chunked
//! answers (every answer has a Content-Length). That much is written here; the head parsing
//! that is the delicate part is httparse's.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use rustix::net::SendFlags;
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{files, Access, Event, Shared};

/// How long a client may take to send a request head, or stay idle between requests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head read (nginx: 1 KiB, then up to 4 x 8 KiB): `431` beyond.
const MAX_HEAD: usize = 16 * 1024;
/// The most header fields in a request head: `431` beyond.
const MAX_HEADERS: usize = 64;
/// How much is read from the socket at a time while a head is incomplete.
const READ_CHUNK: usize = 4096;
/// A request body (which no request served here needs) up to this size is read and dropped;
/// a larger one, or one without a length, ends the connection after the answer.
const MAX_DISCARD: u64 = 64 * 1024;
/// The most one `sendfile` call is asked to send: the socket takes what fits anyway; this
/// bounds the time one call may spend reading from a cold disk.
const SENDFILE_MAX: u64 = 4 << 20;
/// After an answer that closes the connection: how long (and how much) the server still
/// reads what the client sends, so that unread bytes do not turn the close into a reset that
/// could destroy the answer before the client has read it.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 256 * 1024;

/// A request head, as far as serving files needs it.
#[derive(Debug, Clone)]
pub(super) struct Request {
    pub method: String,
    /// The request target as sent (origin form `/path?query`, or absolute form).
    pub target: String,
    pub http10: bool,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    /// The client wants (and may have) the connection kept open after the answer.
    keep_alive: bool,
    body: BodyLen,
}

/// What follows a request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyLen {
    /// `Content-Length` bytes (small): read and dropped.
    Discard(u64),
    /// A body that is not read (chunked, too large, or awaiting `100 Continue`): the
    /// connection ends after the answer, so that it is never taken for a request.
    Unread,
}

/// An answer.
#[derive(Debug)]
pub(super) struct Response {
    pub status: StatusCode,
    /// Header fields besides Server, Date, Content-Length and Connection.
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

#[derive(Debug)]
pub(super) enum Body {
    /// No body and no `Content-Length` (`304`).
    None,
    Bytes(Vec<u8>),
    /// `len` bytes of `file` from `start`.
    File {
        file: File,
        start: u64,
        len: u64,
    },
}

impl Response {
    pub fn new(status: StatusCode, body: Body) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The `Content-Length` of the answer to a GET.
    fn content_length(&self) -> Option<u64> {
        match &self.body {
            Body::None => None,
            Body::Bytes(b) => Some(b.len() as u64),
            Body::File { len, .. } => Some(*len),
        }
    }
}

/// A request head parsed off the front of a buffer, or why not.
#[derive(Debug)]
enum Head {
    /// The request and the bytes its head took.
    Complete(Request, usize),
    Partial,
    /// A head that cannot be served: the status and reason.
    Bad(StatusCode, String),
}

/// Parses the request head at the start of `buf`.
fn parse_head(buf: &[u8]) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let used = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Bad(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!("more than {MAX_HEADERS} header fields"),
            )
        }
        Err(e) => return Head::Bad(StatusCode::BAD_REQUEST, format!("a malformed request: {e}")),
    };
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Head::Bad(StatusCode::BAD_REQUEST, "an incomplete request line".into());
    };
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        http10: version == 0,
        range: None,
        if_range: None,
        if_none_match: None,
        if_modified_since: None,
        keep_alive: false,
        body: BodyLen::Discard(0),
    };
    let (mut close, mut keep_alive, mut length, mut unread) = (false, false, None, false);
    for f in parsed.headers.iter() {
        let name = f.name;
        let first = |slot: &mut Option<String>| {
            if slot.is_none() {
                *slot = text(f.value).map(str::to_string);
            }
        };
        if name.eq_ignore_ascii_case("range") {
            first(&mut req.range);
        } else if name.eq_ignore_ascii_case("if-range") {
            first(&mut req.if_range);
        } else if name.eq_ignore_ascii_case("if-none-match") {
            first(&mut req.if_none_match);
        } else if name.eq_ignore_ascii_case("if-modified-since") {
            first(&mut req.if_modified_since);
        } else if name.eq_ignore_ascii_case("connection") {
            for token in text(f.value).unwrap_or("").split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep_alive |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = text(f.value).map(str::trim).and_then(|v| {
                (!v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()))
                    .then(|| v.parse::<u64>().ok())
                    .flatten()
            });
            match (n, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Head::Bad(StatusCode::BAD_REQUEST, "a bad Content-Length".into()),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("expect")
        {
            unread = true;
        }
    }
    req.body = match length {
        _ if unread => BodyLen::Unread,
        Some(n) if n > MAX_DISCARD => BodyLen::Unread,
        n => BodyLen::Discard(n.unwrap_or(0)),
    };
    req.keep_alive = req.body != BodyLen::Unread && !close && (!req.http10 || keep_alive);
    Head::Complete(req, used)
}

/// A header value as text: visible ASCII, spaces and tabs only (as `http::HeaderValue::to_str`).
fn text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&c| c == b'\t' || (b' '..=b'~').contains(&c))
        .then(|| std::str::from_utf8(value).ok())
        .flatten()
}

/// What comes next on a connection.
enum Next {
    Request(Request),
    /// A head that cannot be served: answered, then the connection ends.
    Bad(StatusCode, String),
    /// The client closed, went idle for too long, or the server stops.
    End,
}

/// Why an answer was not sent whole.
enum SendError {
    /// The client went away (reset, closed), or the file changed under the server.
    Failed(io::Error),
    /// The client took no byte for the write timeout.
    Stalled,
}

/// One accepted connection.
pub(super) struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    /// Becomes true when the server stops: idle connections end, busy ones after the answer.
    stop: watch::Receiver<bool>,
    /// Bytes read and not yet used (a head being received, pipelined requests); freed when
    /// empty, so that a connection holds no buffer while it sends.
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        shared: Arc<Shared>,
        stop: watch::Receiver<bool>,
    ) -> Conn {
        Conn {
            stream,
            peer,
            shared,
            stop,
            buf: Vec::new(),
        }
    }

    /// Serves requests until the client closes, a request ends the connection, or the server
    /// stops.
    pub async fn serve(mut self) {
        loop {
            let req = match self.next_request().await {
                Next::Request(r) => r,
                Next::Bad(status, reason) => {
                    (self.shared.log)(&Event::Problem(format!("{}: {reason}", self.peer)));
                    let answer = files::refuse(status, reason).response();
                    if self.send(false, false, answer, false).await.is_ok() {
                        self.linger().await;
                    }
                    return;
                }
                Next::End => return,
            };
            if let BodyLen::Discard(n) = req.body {
                if n > 0 && !self.discard(n).await {
                    return;
                }
            }
            self.shared.requests.fetch_add(1, Ordering::Relaxed);
            let keep = req.keep_alive && !*self.stop.borrow();
            let (req, answer) = self.answer(req);
            self.log_access(&req, &answer);
            let head_only = req.method == "HEAD";
            match self.send(req.http10, head_only, answer, keep).await {
                Ok(()) if keep => {}
                Ok(()) => return self.linger().await,
                Err(SendError::Failed(e)) => {
                    let what = format!("{} {}", req.method, req.target.escape_debug());
                    (self.shared.log)(&Event::Problem(format!("{} {what}: {e}", self.peer)));
                    return;
                }
                Err(SendError::Stalled) => {
                    (self.shared.log)(&Event::Problem(format!(
                        "{} {} {}: accepted no bytes for {}: connection reset",
                        self.peer,
                        req.method,
                        req.target.escape_debug(),
                        seconds(self.shared.write_timeout)
                    )));
                    // A reset frees the socket's buffers at once, rather than leaving the
                    // kernel to retry sending them to a client that does not read.
                    let _ =
                        rustix::net::sockopt::set_socket_linger(&self.stream, Some(Duration::ZERO));
                    return;
                }
            }
        }
    }

    /// Reads until a whole request head is in the buffer.
    async fn next_request(&mut self) -> Next {
        let deadline = Instant::now() + HEADER_TIMEOUT;
        loop {
            if !self.buf.is_empty() {
                match parse_head(&self.buf) {
                    Head::Complete(req, used) => {
                        self.buf.drain(..used);
                        if self.buf.is_empty() {
                            self.buf = Vec::new();
                        }
                        return Next::Request(req);
                    }
                    Head::Bad(status, reason) => return Next::Bad(status, reason),
                    Head::Partial if self.buf.len() >= MAX_HEAD => {
                        return Next::Bad(
                            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                            format!("a request head over {MAX_HEAD} bytes"),
                        )
                    }
                    Head::Partial => {}
                }
            } else if *self.stop.borrow() {
                return Next::End;
            }
            self.buf.reserve(READ_CHUNK);
            let idle = self.buf.is_empty();
            let read = tokio::select! {
                r = self.stream.read_buf(&mut self.buf) => r,
                () = tokio::time::sleep_until(deadline) => return Next::End,
                _ = self.stop.changed(), if idle => return Next::End,
            };
            match read {
                Ok(0) | Err(_) => return Next::End,
                Ok(_) => {}
            }
        }
    }

    /// Reads and drops `n` bytes of request body; false if the client did not send them.
    async fn discard(&mut self, mut n: u64) -> bool {
        let deadline = Instant::now() + HEADER_TIMEOUT;
        loop {
            let have = self.buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.buf.drain(..have);
            n -= have as u64;
            if n == 0 {
                return true;
            }
            self.buf.reserve(READ_CHUNK);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(read)) if read > 0 => {}
                _ => return false,
            }
        }
    }

    /// The answer to `req`, worked out here on the runtime's thread: resolving and opening
    /// a file is a handful of system calls on cached metadata (openat2, statx), as nginx does
    /// in its event loop; handing each request to the blocking pool cost more (a thread hop,
    /// five futex calls, some 40 threads under the 50-client load: 20% more CPU). A slow disk
    /// then holds one worker thread for the time of a read, not the server.
    fn answer(&self, req: Request) -> (Request, Response) {
        let answer = files::respond(&self.shared.repo, &req);
        (req, answer)
    }

    fn log_access(&self, req: &Request, answer: &Response) {
        let bytes = match req.method.as_str() {
            "HEAD" => 0,
            _ => answer.content_length().unwrap_or(0),
        };
        (self.shared.log)(&Event::Access(Access {
            peer: self.peer,
            method: req.method.clone(),
            target: req.target.clone(),
            version: if req.http10 { "HTTP/1.0" } else { "HTTP/1.1" }.into(),
            status: answer.status.as_u16(),
            bytes,
        }));
    }

    /// Writes `answer` (its head only for HEAD).
    async fn send(
        &self,
        http10: bool,
        head_only: bool,
        answer: Response,
        keep: bool,
    ) -> Result<(), SendError> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nServer: pigsty-install/{}\r\nDate: {}\r\n",
            answer.status.as_u16(),
            answer.status.canonical_reason().unwrap_or(""),
            env!("CARGO_PKG_VERSION"),
            httpdate::fmt_http_date(SystemTime::now())
        );
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if let Some(len) = answer.content_length() {
            head.push_str(&format!("Content-Length: {len}\r\n"));
        }
        head.push_str(match (keep, http10) {
            (false, _) => "Connection: close\r\n\r\n",
            (true, true) => "Connection: keep-alive\r\n\r\n",
            (true, false) => "\r\n",
        });
        match answer.body {
            Body::File { file, start, len } if !head_only && len > 0 => {
                // Corked (as nginx's tcp_nopush): the head and the file leave in full-sized
                // segments, not one short segment per write; the clients' kernels then handle
                // fewer (their system time: 6% less under the 50-client load).
                let _ = rustix::net::sockopt::set_tcp_cork(&self.stream, true);
                let sent = async {
                    self.write_all(head.as_bytes()).await?;
                    self.send_file(&file, start, len).await
                }
                .await;
                let _ = rustix::net::sockopt::set_tcp_cork(&self.stream, false);
                sent
            }
            Body::Bytes(bytes) if !head_only => {
                let mut all = head.into_bytes();
                all.extend_from_slice(&bytes);
                self.write_all(&all).await
            }
            _ => self.write_all(head.as_bytes()).await,
        }
    }

    /// Writes all of `data`.
    async fn write_all(&self, mut data: &[u8]) -> Result<(), SendError> {
        while !data.is_empty() {
            let n = self
                .timed(|| Ok(rustix::net::send(&self.stream, data, SendFlags::NOSIGNAL)?))
                .await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Sends `len` bytes of `file` from `start`, from the page cache to the socket.
    async fn send_file(&self, file: &File, start: u64, len: u64) -> Result<(), SendError> {
        let (mut offset, end) = (start, start + len);
        while offset < end {
            let count = usize::try_from((end - offset).min(SENDFILE_MAX)).unwrap_or(1 << 20);
            let n = self
                .timed(|| {
                    Ok(rustix::fs::sendfile(
                        &self.stream,
                        file,
                        Some(&mut offset),
                        count,
                    )?)
                })
                .await?;
            if n == 0 {
                return Err(SendError::Failed(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ended at byte {offset} of {end}: it changed while it was sent"
                    ),
                )));
            }
        }
        Ok(())
    }

    /// Runs a non-blocking write `op` once the socket takes bytes; gives up when it has taken
    /// none for the write timeout.
    async fn timed(&self, mut op: impl FnMut() -> io::Result<usize>) -> Result<usize, SendError> {
        let deadline = Instant::now() + self.shared.write_timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.writable()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(SendError::Failed(e)),
                Err(_) => return Err(SendError::Stalled),
            }
            match self.stream.try_io(Interest::WRITABLE, &mut op) {
                Ok(n) => return Ok(n),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(SendError::Failed(e)),
            }
        }
    }

    /// Ends the connection after an answer that said `Connection: close`: no more bytes from
    /// the server, and what the client still sends is read and dropped for a moment.
    async fn linger(mut self) {
        let _ = self.stream.shutdown().await;
        let mut seen = 0usize;
        let _ = tokio::time::timeout(LINGER, async {
            while seen < LINGER_BYTES {
                self.buf.clear();
                self.buf.reserve(READ_CHUNK);
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen += n,
                }
            }
        })
        .await;
    }
}

/// `60 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

/// See [`super::fuzz_request`]: heads parsed one after the other off `data`, as a pipelining
/// client would send them, each taking at least one byte and no more than are there; each
/// one's target and range go through the path and range checks too.
pub(super) fn fuzz_head(data: &[u8]) {
    let mut rest = data;
    while let Head::Complete(req, used) = parse_head(rest) {
        assert!(
            used > 0 && used <= rest.len(),
            "head of {used} bytes in {}",
            rest.len()
        );
        assert!(!req.method.is_empty() && !req.target.is_empty());
        assert!(!(req.keep_alive && req.body == BodyLen::Unread));
        super::files::fuzz_path(req.target.as_bytes());
        if let Some(range) = &req.range {
            super::range::fuzz_range(range.as_bytes());
        }
        rest = &rest[used..];
    }
}
