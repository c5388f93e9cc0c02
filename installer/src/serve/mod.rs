//! `pigsty-install serve`: the installed local repo (`DEST/pigsty`) served over HTTP, so that
//! the other nodes of a site install from this one (`pigsty-install --from
//! http://ADMIN/pigsty`) or point apt or dnf at it (`URIs: http://ADMIN/pigsty`, `Suites: ./`;
//! `baseurl=http://ADMIN/pigsty`).
//!
//! The repo is served under `/pigsty/`, as a web server serving `DEST` would (and Pigsty's
//! nginx does); nothing else of `DEST` is. GET and HEAD over HTTP/1.1 (keep-alive, pipelining)
//! and 1.0; one byte range per request (`206`; `416` with `Content-Range: bytes */SIZE` when
//! it starts past the end; a request for several ranges, or one that does not parse, gets the
//! whole file, as RFC 9110 allows); `ETag`, `Last-Modified` and the conditional requests that
//! use them (`If-None-Match`, `If-Modified-Since`, `If-Range`); content types for what a repo
//! holds; folders as an HTML listing. apt and dnf need nothing more: they fetch the files
//! their indexes name.
//!
//! A path is decoded once, then refused if a segment is `..` (`403`), if it decodes to a `/`
//! or a NUL (`400`), or if the file it names resolves (symlinks followed) to anywhere outside
//! `DEST/pigsty` (`403`); devices and FIFOs are never opened (`files.rs`).
//!
//! Files go from the page cache to the socket with `sendfile(2)`: no copy through the
//! server's memory, no buffer per connection while it sends (`conn.rs`). A server's memory
//! does not grow with the files it sends, nor with clients that stop reading: a client that
//! takes no byte for [`ServeOptions::write_timeout`] is dropped (its socket reset). At most
//! [`ServeOptions::max_connections`] connections are served at once; more wait in the
//! listening socket's backlog until one ends (see [`Server::run`] for why not `503`). The
//! binary raises its soft descriptor limit to the hard one at start ([`serve`]).
//!
//! [`serve`] runs until SIGTERM or SIGINT, then stops accepting (new connections are refused),
//! lets the requests under way finish (at most [`ServeOptions::grace`]) and returns.
//! [`Server`] is the same for a caller with its own tokio runtime and shutdown signal.

mod conn;
mod files;
mod listing;
mod range;

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::TcpListener;

pub use listing::content_type;

/// The URL path the repo is served under (`DEST/pigsty` is `/pigsty/`).
pub const URL_TOP: &str = pigsty_bundle::archive::TOP;
/// How long a client that takes no byte of an answer is waited for, unless told otherwise
/// (nginx's `send_timeout` is the same).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// How many connections are served at once, unless told otherwise (and the descriptor limit
/// allows: see [`Server::bind`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// How many connections may wait to be accepted.
const LISTEN_BACKLOG: u32 = 4096;
/// Descriptors a connection holds at most: its socket and, while it sends, the file.
const FDS_PER_CONNECTION: u64 = 2;
/// Descriptors kept for the rest: the listener, the runtime, folders being listed, stdio.
const FDS_RESERVED: u64 = 64;

/// What to serve, where.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The folder holding the repo (`/www`); `DEST/pigsty` is served.
    pub dest: PathBuf,
    /// The address to listen on (`0.0.0.0:80`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// How long requests under way may take to finish once a shutdown is asked for.
    pub grace: Duration,
    /// A client that takes no byte of an answer for this long is dropped.
    pub write_timeout: Duration,
    /// The most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            dest: PathBuf::from("/www"),
            listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            grace: Duration::from_secs(30),
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{}: no repo to serve ({reason}); install one first (pigsty-install BUNDLE --dest {}) or pass --dest DIR", repo.display(), repo.parent().unwrap_or(Path::new("/")).display())]
    NoRepo { repo: PathBuf, reason: String },
    #[error("cannot listen on {addr}{}", bind_hint(source))]
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
    /// The line is made whole first and written in one piece: written field by field (and
    /// character by character for the escaped ones) to an unbuffered stderr, it took a system
    /// call per character, 15% of the server's time under load.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format!(
            "{} \"{} {} {}\" {} {}",
            self.peer,
            self.method.escape_debug(),
            self.target.escape_debug(),
            self.version,
            self.status,
            self.bytes
        ))
    }
}

/// What the server reports while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    /// A request was answered.
    Access(Access),
    /// Something went wrong that did not stop the server (a client went away mid-answer or
    /// took nothing for too long, a file could not be read, accept failed).
    Problem(String),
    /// The server's own news (a signal came, it stops, a limit it set).
    Notice(String),
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Access(a) => a.fmt(f),
            Event::Problem(p) => f.write_str(&format!("problem: {p}")),
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

/// What every connection shares.
struct Shared {
    /// `DEST/pigsty` as given (resolved again for every request: a new install replaces it).
    repo: PathBuf,
    log: EventLog,
    requests: AtomicU64,
    write_timeout: Duration,
}

/// A bound server, not yet accepting.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    grace: Duration,
    max_connections: usize,
}

impl Server {
    /// Checks that `DEST/pigsty` is a folder and binds the listening socket. The connection
    /// cap is lowered, with a notice, to what the soft descriptor limit allows (two
    /// descriptors a connection).
    pub async fn bind(opts: &ServeOptions, log: EventLog) -> Result<Server, ServeError> {
        let repo = opts.dest.join(URL_TOP);
        match std::fs::metadata(&repo) {
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
        let listener = listen(opts.listen).map_err(|source| ServeError::Bind {
            addr: opts.listen,
            source,
        })?;
        let max_connections = connection_cap(opts.max_connections, &log);
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                repo,
                log,
                requests: AtomicU64::new(0),
                write_timeout: opts.write_timeout,
            }),
            grace: opts.grace,
            max_connections,
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
    ///
    /// With the connection cap reached, the server stops accepting: new connections wait in
    /// the kernel's listen backlog and are served as soon as one ends. Not `503`: apt, dnf and
    /// `--from` would then fail an install that waiting a moment lets succeed, answering would
    /// take the very descriptor that is short, and the slots free themselves in bounded time
    /// (the header timeout for idle connections, the write timeout for stalled readers).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Summary {
        let Server {
            listener,
            shared,
            grace,
            max_connections,
        } = self;
        let slots = Arc::new(tokio::sync::Semaphore::new(max_connections));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut connections = 0u64;
        let mut tasks = tokio::task::JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            let slot = tokio::select! {
                biased;
                () = &mut shutdown => break,
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
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
            let conn = conn::Conn::new(stream, peer, shared.clone(), stop_rx.clone());
            tasks.spawn(async move {
                conn.serve().await;
                drop(slot);
            });
        }
        // New connections are refused from here on.
        drop(listener);
        stop_tx.send_replace(true);
        let finished =
            tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
        let cut = if finished.is_ok() { 0 } else { tasks.len() };
        tasks.abort_all();
        Summary {
            connections,
            requests: shared.requests.load(Ordering::Relaxed),
            cut,
        }
    }
}

/// The listening socket, with a backlog deep enough for the clients that wait while the
/// connection cap is reached (the kernel clamps it to `net.core.somaxconn`, 4,096 by default;
/// the standard library's listeners ask for 128).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As the standard library's listeners: a restart binds at once despite connections of
    // the previous run in TIME_WAIT (another listener on the port still fails).
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// `wanted`, or fewer if the soft descriptor limit cannot hold that many connections.
fn connection_cap(wanted: usize, log: &EventLog) -> usize {
    let wanted = wanted.max(1);
    let Some(soft) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current else {
        return wanted;
    };
    let room = soft.saturating_sub(FDS_RESERVED) / FDS_PER_CONNECTION;
    let room = usize::try_from(room).unwrap_or(usize::MAX).max(1);
    if room < wanted {
        log(&Event::Notice(format!(
            "at most {room} connections at once: {soft} file descriptors allowed \
             ({FDS_PER_CONNECTION} a connection; raise the hard limit, e.g. LimitNOFILE=, for more)"
        )));
        return room;
    }
    wanted
}

/// Raises the soft limit on open descriptors to the hard one (each connection holds a socket
/// and, while it sends, a file; the soft default of 1,024 would cap the server at about 500
/// clients). Says so, or why not.
fn raise_descriptor_limit(log: &EventLog) {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    // No hard limit: the kernel still caps descriptors at fs.nr_open (1,048,576 by default).
    let target = lim.maximum.unwrap_or(1 << 20);
    if lim.current.is_some_and(|soft| soft >= target) {
        return;
    }
    let raised = Rlimit {
        current: Some(target),
        maximum: lim.maximum,
    };
    if let Err(e) = setrlimit(Resource::Nofile, raised) {
        log(&Event::Problem(format!(
            "cannot raise the descriptor limit to {target}: {e}"
        )));
    }
}

/// Serves `opts.dest/pigsty` on `opts.listen` until SIGTERM or SIGINT, then shuts down
/// gracefully (see [`Server::run`]). First raises the process's soft descriptor limit to the
/// hard one. `ready` is called once the socket listens, with its address and the repo folder.
pub fn serve(
    opts: &ServeOptions,
    log: EventLog,
    ready: impl FnOnce(SocketAddr, &Path),
) -> Result<Summary, ServeError> {
    raise_descriptor_limit(&log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("pigsty-serve")
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

/// For the fuzz target (`fuzz/fuzz_targets/serve_request.rs`) and the corpus replay test:
/// feeds `data` to the request-head parser, the path resolver's decoding and containment
/// rules, and the range parser, and panics if an answer breaks their invariants (a path
/// segment `..`, a range outside the file, ...).
#[doc(hidden)]
pub fn fuzz_request(data: &[u8]) {
    conn::fuzz_head(data);
    files::fuzz_path(data);
    range::fuzz_range(data);
}
