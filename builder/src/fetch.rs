//! The fetcher: concurrent, verified, resumable HTTP downloads into a content-addressed cache.
//!
//! Every package file is stored once, under its sha256, in a cache shared by all targets:
//! `<cache>/sha256/<first 2 hex>/<full hex>`. A download is streamed to `<final>.partial` while
//! its sha256 and size are computed; only a file whose hash and size match is fsynced and
//! renamed into place, so a file under a final name is always good. An interrupted download is
//! continued with an HTTP `Range` request on the next try or the next run. A `.lock` file
//! beside an entry (`flock`, on Unix) keeps two processes sharing the cache from writing the
//! same entry at once: the second one waits, then finds the file in place.
//!
//! Connection failures, broken transfers and 5xx answers are retried with exponential backoff;
//! a 404 is not. A checksum or size mismatch is retried once from scratch, then reported.
//! All failures of one [`Fetcher::fetch_all`] are collected and reported together.
//!
//! Repository indexes (`InRelease`, `Packages.xz`, `repomd.xml`, ...) have no known hash
//! before they are read: [`Fetcher::fetch_index`] keeps them under `<cache>/http/` with their
//! `ETag` / `Last-Modified` and asks the server with a conditional request.
//!
//! The API is blocking: the fetcher owns a tokio runtime, so it must not be called from async
//! code.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{HeaderMap, CONTENT_RANGE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH};
use reqwest::header::{LAST_MODIFIED, RANGE};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// One file to download: where from, and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchItem {
    /// The URL to download from.
    pub url: String,
    /// The expected sha256 of the file, lower-case hex.
    pub sha256: String,
    /// The expected size in bytes.
    pub size: u64,
    /// A name for messages, e.g. the package file name.
    pub name: String,
}

/// What went wrong while fetching; every variant names the URL or the file.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The server answered with an error status (404, 500, ...).
    #[error("{url}: HTTP {status}")]
    Status { url: String, status: u16 },
    /// The server could not be reached (refused, unknown host, TLS, timeout on connect).
    #[error("{url}: connection failed: {message}")]
    Connect { url: String, message: String },
    /// The connection broke or the server misbehaved during the transfer.
    #[error("{url}: transfer failed: {message}")]
    Transfer { url: String, message: String },
    /// The downloaded file does not have the expected sha256.
    #[error("{url}: checksum mismatch for {name}: expected sha256 {expected}, got {actual}")]
    Checksum {
        url: String,
        name: String,
        expected: String,
        actual: String,
    },
    /// The downloaded file does not have the expected size.
    #[error("{url}: size mismatch for {name}: expected {expected} bytes, got {actual}")]
    Size {
        url: String,
        name: String,
        expected: u64,
        actual: u64,
    },
    /// The expected sha256 of an item is not 64 lower-case hex digits.
    #[error("{url}: invalid sha256 {sha256:?} for {name}")]
    InvalidHash {
        url: String,
        name: String,
        sha256: String,
    },
    /// Reading or writing a local file failed.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not fetched: an item with the same sha256 was fetched instead, and failed.
    #[error("{url}: {name} not fetched: {other} has the same sha256 and failed")]
    SameHashFailed {
        url: String,
        name: String,
        other: String,
    },
    /// Not tried: too many other downloads had already failed on connection or server errors.
    #[error("{url}: {name} not tried: too many downloads failed before it")]
    NotTried { url: String, name: String },
    /// The HTTP client or the async runtime could not be set up.
    #[error("cannot set up the downloader: {0}")]
    Setup(String),
    /// Some downloads of a batch failed; each one is listed.
    #[error("{} of {total} downloads failed:{}", errors.len(), list(errors))]
    Failed {
        total: usize,
        errors: Vec<FetchError>,
    },
}

/// One line per error; the items not tried are only counted.
fn list(errors: &[FetchError]) -> String {
    let mut out = String::new();
    let mut not_tried = 0;
    for e in errors {
        if matches!(e, FetchError::NotTried { .. }) {
            not_tried += 1;
        } else {
            let _ = write!(out, "\n  {e}");
        }
    }
    if not_tried > 0 {
        let _ = write!(
            out,
            "\n  {not_tried} more not tried: too many connection or server failures"
        );
    }
    out
}

impl FetchError {
    /// Whether the server said the file does not exist (404 or 410).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::Status {
                status: 404 | 410,
                ..
            }
        )
    }

    /// The URL the error is about, if it is about one.
    pub fn url(&self) -> Option<&str> {
        match self {
            FetchError::Status { url, .. }
            | FetchError::Connect { url, .. }
            | FetchError::Transfer { url, .. }
            | FetchError::Checksum { url, .. }
            | FetchError::Size { url, .. }
            | FetchError::InvalidHash { url, .. }
            | FetchError::SameHashFailed { url, .. }
            | FetchError::NotTried { url, .. } => Some(url),
            FetchError::Io { .. } | FetchError::Setup(_) | FetchError::Failed { .. } => None,
        }
    }

    fn io(path: &Path, source: std::io::Error) -> FetchError {
        FetchError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Worth trying again after a pause: connection trouble and server-side errors.
    fn is_transient(&self) -> bool {
        match self {
            FetchError::Connect { .. } | FetchError::Transfer { .. } => true,
            FetchError::Status { status, .. } => *status >= 500 || *status == 408 || *status == 429,
            _ => false,
        }
    }

    /// The bytes were wrong: worth one more try from scratch.
    fn is_corrupt(&self) -> bool {
        matches!(self, FetchError::Checksum { .. } | FetchError::Size { .. })
    }
}

/// A reqwest error with its causes, e.g. `error sending request: tcp connect error: refused`.
fn describe(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(msg, ": {s}");
        source = s.source();
    }
    msg
}

fn request_error(url: &str, e: &reqwest::Error) -> FetchError {
    if e.is_connect() {
        FetchError::Connect {
            url: url.to_string(),
            message: describe(e),
        }
    } else {
        FetchError::Transfer {
            url: url.to_string(),
            message: describe(e),
        }
    }
}

/// Downloads files into a content-addressed cache; see the module documentation.
pub struct Fetcher {
    cache_dir: PathBuf,
    jobs: usize,
    progress: bool,
    retries: u32,
    max_failures: usize,
    base_delay: Duration,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache_dir", &self.cache_dir)
            .field("jobs", &self.jobs)
            .field("progress", &self.progress)
            .field("retries", &self.retries)
            .field("max_failures", &self.max_failures)
            .field("base_delay", &self.base_delay)
            .finish_non_exhaustive()
    }
}

fn build_client(
    runtime: &tokio::runtime::Runtime,
    proxy: bool,
) -> Result<reqwest::Client, FetchError> {
    let _guard = runtime.enter();
    // TLS through rustls with ring (quick to build). Installing fails harmlessly if the
    // process already has a default provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("pigsty-build/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(60));
    if !proxy {
        builder = builder.no_proxy();
    }
    builder.build().map_err(|e| FetchError::Setup(describe(&e)))
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `<path><suffix>`
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// `<path>.partial`
fn partial_path(path: &Path) -> PathBuf {
    with_suffix(path, ".partial")
}

/// An exclusive lock on a `.lock` file beside a cache entry, held while it is written: two
/// processes sharing the cache never write the same partial file. Released when dropped.
struct CacheLock {
    path: PathBuf,
    _file: std::fs::File,
}

/// Takes (or, unless `wait`, tries to take) an exclusive `flock` on `file`.
#[cfg(unix)]
fn flock(file: &std::fs::File, wait: bool) -> std::io::Result<bool> {
    use rustix::fs::FlockOperation;
    let op = if wait {
        FlockOperation::LockExclusive
    } else {
        FlockOperation::NonBlockingLockExclusive
    };
    loop {
        match rustix::fs::flock(file, op) {
            Ok(()) => return Ok(true),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => return Ok(false),
            Err(e) if e == rustix::io::Errno::INTR => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// No locking where there is no `flock`: one process at a time must use a cache.
#[cfg(not(unix))]
fn flock(_file: &std::fs::File, _wait: bool) -> std::io::Result<bool> {
    Ok(true)
}

impl CacheLock {
    /// Locks `path`, calling `waiting` first if another process holds the lock.
    async fn acquire(path: PathBuf, waiting: impl FnOnce()) -> Result<CacheLock, FetchError> {
        let take = |path: PathBuf, wait: bool| async move {
            let joined = tokio::task::spawn_blocking(move || {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| FetchError::io(&path, e))?;
                match flock(&file, wait) {
                    Ok(true) => Ok(Some(CacheLock { path, _file: file })),
                    Ok(false) => Ok(None),
                    Err(e) => Err(FetchError::io(&path, e)),
                }
            })
            .await;
            joined.map_err(|e| FetchError::Setup(format!("locking: {e}")))?
        };
        if let Some(lock) = take(path.clone(), false).await? {
            return Ok(lock);
        }
        waiting();
        take(path.clone(), true)
            .await?
            .ok_or_else(|| FetchError::io(&path, std::io::ErrorKind::WouldBlock.into()))
    }

    /// Removes the lock file, then releases the lock. Only after the entry is in place: a
    /// process that then locks the removed file finds the entry done.
    async fn remove(self) {
        let _ = tokio::fs::remove_file(&self.path).await;
    }
}

impl Fetcher {
    /// A fetcher storing into `cache_dir` (created if missing), with up to `jobs` downloads at
    /// once (at least one).
    pub fn new(cache_dir: &Path, jobs: usize) -> Result<Fetcher, FetchError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| FetchError::io(cache_dir, e))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(jobs.clamp(1, 4))
            .thread_name("pigsty-fetch")
            .enable_all()
            .build()
            .map_err(|e| FetchError::Setup(format!("tokio runtime: {e}")))?;
        let client = build_client(&runtime, true)?;
        Ok(Fetcher {
            cache_dir: cache_dir.to_path_buf(),
            jobs: jobs.max(1),
            progress: false,
            retries: 3,
            max_failures: 16,
            base_delay: Duration::from_millis(200),
            client,
            runtime,
        })
    }

    /// Show progress on stderr: a bar (bytes, packages done/total, rate, ETA) on a terminal,
    /// one plain line per fetched file otherwise; nothing when `on` is false (the default).
    pub fn with_progress(mut self, on: bool) -> Fetcher {
        self.progress = on;
        self
    }

    /// How often to retry a connection failure or a 5xx answer (default 3), and the pause
    /// before the first retry (default 200 ms), doubled before each next one.
    pub fn with_retries(mut self, retries: u32, base_delay: Duration) -> Fetcher {
        self.retries = retries;
        self.base_delay = base_delay;
        self
    }

    /// After this many items failed for good on connection or server errors (default 16), the
    /// items not started yet are not tried: a dead mirror fails fast. 404s and checksum
    /// mismatches do not count.
    pub fn with_max_failures(mut self, max_failures: usize) -> Fetcher {
        self.max_failures = max_failures.max(1);
        self
    }

    /// Ignore the `*_proxy` environment variables.
    pub fn without_proxy(mut self) -> Result<Fetcher, FetchError> {
        self.client = build_client(&self.runtime, false)?;
        Ok(self)
    }

    /// The cache directory.
    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    /// Where the file with this sha256 is kept: `<cache>/sha256/<first 2 hex>/<full hex>`.
    pub fn cache_path(&self, sha256: &str) -> PathBuf {
        let prefix = sha256.get(..2).unwrap_or("__");
        self.cache_dir.join("sha256").join(prefix).join(sha256)
    }

    /// Downloads every item not already in the cache, verifying sha256 AND size while
    /// streaming; returns the cache path of each item, same order. On any failure, the error
    /// is [`FetchError::Failed`] listing every item that failed.
    pub fn fetch_all(&self, items: &[FetchItem]) -> Result<Vec<PathBuf>, FetchError> {
        let results = self.fetch_each(items);
        let total = results.len();
        let mut paths = Vec::with_capacity(total);
        let mut errors = Vec::new();
        for r in results {
            match r {
                Ok(p) => paths.push(p),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(paths)
        } else {
            Err(FetchError::Failed { total, errors })
        }
    }

    /// Like [`Fetcher::fetch_all`], with the outcome of each item, same order. Items with the
    /// same sha256 are downloaded once.
    pub fn fetch_each(&self, items: &[FetchItem]) -> Vec<Result<PathBuf, FetchError>> {
        // One download per distinct hash: two tasks must never write the same partial file.
        let mut unique: Vec<&FetchItem> = Vec::new();
        let mut slot_of: HashMap<&str, usize> = HashMap::new();
        let slots: Vec<usize> = items
            .iter()
            .map(|item| {
                *slot_of.entry(item.sha256.as_str()).or_insert_with(|| {
                    unique.push(item);
                    unique.len() - 1
                })
            })
            .collect();

        let mut outcomes: Vec<Option<Result<PathBuf, FetchError>>> = self
            .runtime
            .block_on(self.fetch_unique(&unique))
            .into_iter()
            .map(Some)
            .collect();
        items
            .iter()
            .zip(slots)
            .map(|(item, slot)| match outcomes[slot].take() {
                Some(r) => {
                    if let Ok(p) = &r {
                        outcomes[slot] = Some(Ok(p.clone()));
                    }
                    r
                }
                None => Err(FetchError::SameHashFailed {
                    url: item.url.clone(),
                    name: item.name.clone(),
                    other: unique[slot].name.clone(),
                }),
            })
            .collect()
    }
}

/// The progress bar: packages done/total, bytes, rate, ETA.
const BAR_TEMPLATE: &str =
    "{spinner} {msg} [{wide_bar}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta}";

/// Progress on stderr: a bar, plain lines, or nothing.
struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    done: AtomicUsize,
    total: usize,
}

impl Progress {
    fn new(on: bool, total: usize, done: usize, bytes: u64) -> Progress {
        let terminal = on && std::io::stderr().is_terminal();
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(bytes), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(BAR_TEMPLATE) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("{done}/{total}"));
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            lines: on && !terminal,
            done: AtomicUsize::new(done),
            total,
        }
    }

    /// Moves the byte count of one download from `shown` to `now`.
    fn bytes(&self, shown: &mut u64, now: u64) {
        if let Some(bar) = &self.bar {
            if now >= *shown {
                bar.inc(now - *shown);
            } else {
                bar.dec(*shown - now);
            }
        }
        *shown = now;
    }

    fn fetched(&self, item: &FetchItem) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{done}/{}", self.total));
        } else if self.lines {
            eprintln!("{}", fetched_line(done, self.total, item));
        }
    }

    fn note(&self, msg: &str) {
        if let Some(bar) = &self.bar {
            bar.println(msg);
        } else if self.lines {
            eprintln!("{msg}");
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The plain progress line: `fetched 12/340 NAME (1.20 MB)`.
fn fetched_line(done: usize, total: usize, item: &FetchItem) -> String {
    format!(
        "fetched {done}/{total} {} ({})",
        item.name,
        DecimalBytes(item.size)
    )
}

/// The start offset and the total size of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range(headers: &HeaderMap) -> Option<(u64, u64)> {
    parse_content_range(headers.get(CONTENT_RANGE)?.to_str().ok()?)
}

fn parse_content_range(value: &str) -> Option<(u64, u64)> {
    let range = value.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = range.split_once('/')?;
    let (start, _) = span.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()?))
}

/// Hashes an existing partial download: its hasher and length. A partial longer than `size`
/// cannot be a prefix of the file and is removed.
async fn hash_prefix(partial: &Path, size: u64) -> Result<(Sha256, u64), FetchError> {
    let path = partial.to_path_buf();
    let joined = tokio::task::spawn_blocking(move || -> Result<(Sha256, u64), FetchError> {
        use std::io::Read;
        let mut hasher = Sha256::new();
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
            Err(e) => return Err(FetchError::io(&path, e)),
        };
        let len = file.metadata().map_err(|e| FetchError::io(&path, e))?.len();
        if len > size {
            drop(file);
            std::fs::remove_file(&path).map_err(|e| FetchError::io(&path, e))?;
            return Ok((hasher, 0));
        }
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| FetchError::io(&path, e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
        }
        Ok((hasher, total))
    })
    .await;
    joined.map_err(|e| FetchError::Setup(format!("hashing {}: {e}", partial.display())))?
}

async fn remove_if_exists(path: &Path) -> Result<(), FetchError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FetchError::io(path, e)),
    }
}

/// Fsyncs `file` and renames `from` to `to`, then fsyncs the directory (best effort).
async fn commit(file: tokio::fs::File, from: &Path, to: &Path) -> Result<(), FetchError> {
    file.sync_all().await.map_err(|e| FetchError::io(from, e))?;
    drop(file);
    tokio::fs::rename(from, to)
        .await
        .map_err(|e| FetchError::io(to, e))?;
    if let Some(dir) = to.parent() {
        if let Ok(d) = tokio::fs::File::open(dir).await {
            let _ = d.sync_all().await;
        }
    }
    Ok(())
}

/// What the server said about an index, for conditional requests.
#[derive(Debug, Default, PartialEq, Eq)]
struct Validators {
    etag: Option<String>,
    last_modified: Option<String>,
}

impl Validators {
    fn parse(text: &str) -> Validators {
        let mut v = Validators::default();
        for line in text.lines() {
            if let Some(x) = line.strip_prefix("etag: ") {
                v.etag = Some(x.to_string());
            } else if let Some(x) = line.strip_prefix("last-modified: ") {
                v.last_modified = Some(x.to_string());
            }
        }
        v
    }

    fn from_headers(headers: &HeaderMap) -> Validators {
        let get = |name| {
            headers
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        Validators {
            etag: get(ETAG),
            last_modified: get(LAST_MODIFIED),
        }
    }

    fn render(&self) -> String {
        let mut out = String::new();
        if let Some(x) = &self.etag {
            let _ = writeln!(out, "etag: {x}");
        }
        if let Some(x) = &self.last_modified {
            let _ = writeln!(out, "last-modified: {x}");
        }
        out
    }
}

/// A file name for a URL: its readable part, then a hash of the whole URL so that two URLs
/// never share a file.
fn index_file_name(url: &str) -> String {
    let readable = url.split_once("://").map_or(url, |(_, rest)| rest);
    let mut name: String = readable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(150)
        .collect();
    let digest = hex::encode(Sha256::digest(url.as_bytes()));
    name.push('-');
    name.push_str(&digest[..16]);
    name
}

const WRITE_BUFFER: usize = 256 * 1024;

impl Fetcher {
    fn delay(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
    }

    async fn fetch_unique(&self, unique: &[&FetchItem]) -> Vec<Result<PathBuf, FetchError>> {
        let mut results: Vec<Option<Result<PathBuf, FetchError>>> =
            (0..unique.len()).map(|_| None).collect();
        let mut todo = Vec::new();
        for (i, item) in unique.iter().enumerate() {
            if !is_sha256(&item.sha256) {
                results[i] = Some(Err(FetchError::InvalidHash {
                    url: item.url.clone(),
                    name: item.name.clone(),
                    sha256: item.sha256.clone(),
                }));
                continue;
            }
            let path = self.cache_path(&item.sha256);
            match std::fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() == item.size => results[i] = Some(Ok(path)),
                Ok(_) => {
                    // Not what it should be: never trust it, fetch it again.
                    match std::fs::remove_file(&path) {
                        Ok(()) => todo.push(i),
                        Err(e) => results[i] = Some(Err(FetchError::io(&path, e))),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => todo.push(i),
                Err(e) => results[i] = Some(Err(FetchError::io(&path, e))),
            }
        }

        let bytes = todo.iter().map(|&i| unique[i].size).sum();
        let progress = Progress::new(
            self.progress,
            unique.len(),
            unique.len() - todo.len(),
            bytes,
        );
        let progress = &progress;
        let failures = &AtomicUsize::new(0);
        let fetched: Vec<(usize, Result<PathBuf, FetchError>)> = futures_util::stream::iter(todo)
            .map(|i| async move {
                let item = unique[i];
                if failures.load(Ordering::Relaxed) >= self.max_failures {
                    return (
                        i,
                        Err(FetchError::NotTried {
                            url: item.url.clone(),
                            name: item.name.clone(),
                        }),
                    );
                }
                let result = self.fetch_one(item, progress).await;
                if matches!(&result, Err(e) if e.is_transient()) {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                (i, result)
            })
            .buffer_unordered(self.jobs)
            .collect()
            .await;
        progress.finish();
        for (i, r) in fetched {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .zip(unique)
            .map(|(r, item)| {
                r.unwrap_or_else(|| Err(FetchError::Setup(format!("{}: not attempted", item.url))))
            })
            .collect()
    }

    /// Downloads one item, with retries.
    async fn fetch_one(
        &self,
        item: &FetchItem,
        progress: &Progress,
    ) -> Result<PathBuf, FetchError> {
        let path = self.cache_path(&item.sha256);
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| FetchError::io(dir, e))?;
        }
        let lock = CacheLock::acquire(with_suffix(&path, ".lock"), || {
            progress.note(&format!(
                "waiting for another process downloading {}",
                item.name
            ))
        })
        .await?;
        // Another process may have fetched it while we waited.
        if let Ok(m) = tokio::fs::metadata(&path).await {
            if m.is_file() && m.len() == item.size {
                lock.remove().await;
                progress.fetched(item);
                return Ok(path);
            }
        }
        let partial = partial_path(&path);
        let mut shown = 0u64;
        let mut transient = 0u32;
        let mut from_scratch = false;
        loop {
            let before = shown;
            let result = self
                .download(item, &path, &partial, progress, &mut shown)
                .await;
            if shown > before {
                // Bytes came in: a broken transfer that made progress is not held against it.
                transient = 0;
            }
            match result {
                Ok(()) => {
                    lock.remove().await;
                    progress.bytes(&mut shown, item.size);
                    progress.fetched(item);
                    return Ok(path);
                }
                Err(e) if e.is_transient() && transient < self.retries => {
                    let delay = self.delay(transient);
                    transient += 1;
                    progress.note(&format!(
                        "retrying {} in {} ms (retry {transient}/{}): {e}",
                        item.name,
                        delay.as_millis(),
                        self.retries
                    ));
                    tokio::time::sleep(delay).await;
                }
                Err(e) if e.is_corrupt() && !from_scratch => {
                    from_scratch = true;
                    remove_if_exists(&partial).await?;
                    progress.bytes(&mut shown, 0);
                    progress.note(&format!("{e}; downloading {} again", item.name));
                }
                Err(e) => {
                    progress.bytes(&mut shown, 0);
                    return Err(e);
                }
            }
        }
    }

    /// One try: resumes `partial` if it exists, verifies, and renames it to `path`.
    async fn download(
        &self,
        item: &FetchItem,
        path: &Path,
        partial: &Path,
        progress: &Progress,
        shown: &mut u64,
    ) -> Result<(), FetchError> {
        let url = item.url.as_str();
        let (mut hasher, mut have) = hash_prefix(partial, item.size).await?;
        progress.bytes(shown, have);

        let file = if have == item.size {
            // A complete partial from an interrupted run: only the check and the rename remain.
            tokio::fs::OpenOptions::new()
                .append(true)
                .open(partial)
                .await
                .map_err(|e| FetchError::io(partial, e))?
        } else {
            let mut request = self.client.get(url);
            if have > 0 {
                request = request.header(RANGE, format!("bytes={have}-"));
            }
            let response = request.send().await.map_err(|e| request_error(url, &e))?;
            let status = response.status();
            let append = if status == StatusCode::PARTIAL_CONTENT && have > 0 {
                let range = content_range(response.headers());
                if let Some((_, total)) = range.filter(|(_, total)| *total != item.size) {
                    return Err(FetchError::Size {
                        url: url.to_string(),
                        name: item.name.clone(),
                        expected: item.size,
                        actual: total,
                    });
                }
                let start = range.map(|(start, _)| start);
                if start != Some(have) {
                    remove_if_exists(partial).await?;
                    return Err(FetchError::Transfer {
                        url: url.to_string(),
                        message: format!(
                            "asked for bytes from {have}, got a range starting at {start:?}"
                        ),
                    });
                }
                true
            } else if status == StatusCode::OK {
                if have > 0 {
                    // The server does not do ranges: start over.
                    hasher = Sha256::new();
                    have = 0;
                    progress.bytes(shown, 0);
                }
                if let Some(len) = response.content_length() {
                    if len != item.size {
                        return Err(FetchError::Size {
                            url: url.to_string(),
                            name: item.name.clone(),
                            expected: item.size,
                            actual: len,
                        });
                    }
                }
                false
            } else if status == StatusCode::RANGE_NOT_SATISFIABLE && have > 0 {
                remove_if_exists(partial).await?;
                return Err(FetchError::Transfer {
                    url: url.to_string(),
                    message: format!("cannot resume from byte {have} (HTTP 416), starting over"),
                });
            } else {
                return Err(FetchError::Status {
                    url: url.to_string(),
                    status: status.as_u16(),
                });
            };

            let file = if append {
                tokio::fs::OpenOptions::new()
                    .append(true)
                    .open(partial)
                    .await
            } else {
                tokio::fs::File::create(partial).await
            };
            let file = file.map_err(|e| FetchError::io(partial, e))?;
            let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut body = response.bytes_stream();
            let streamed: Result<(), FetchError> = async {
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| request_error(url, &e))?;
                    let len = chunk.len() as u64;
                    if have + len > item.size {
                        return Err(FetchError::Size {
                            url: url.to_string(),
                            name: item.name.clone(),
                            expected: item.size,
                            actual: have + len,
                        });
                    }
                    hasher.update(&chunk);
                    out.write_all(&chunk)
                        .await
                        .map_err(|e| FetchError::io(partial, e))?;
                    have += len;
                    progress.bytes(shown, have);
                }
                Ok(())
            }
            .await;
            // Keep what was received, for resuming, whatever happened.
            let flushed = out.flush().await.map_err(|e| FetchError::io(partial, e));
            match (streamed, flushed) {
                (Err(e), _) => {
                    if e.is_corrupt() {
                        remove_if_exists(partial).await?;
                    }
                    return Err(e);
                }
                (Ok(()), Err(e)) => return Err(e),
                (Ok(()), Ok(())) => {}
            }
            if have < item.size {
                return Err(FetchError::Transfer {
                    url: url.to_string(),
                    message: format!(
                        "connection closed after {have} of {} bytes of {}",
                        item.size, item.name
                    ),
                });
            }
            out.into_inner()
        };

        let actual = hex::encode(hasher.finalize());
        if actual != item.sha256 {
            drop(file);
            remove_if_exists(partial).await?;
            return Err(FetchError::Checksum {
                url: url.to_string(),
                name: item.name.clone(),
                expected: item.sha256.clone(),
                actual,
            });
        }
        commit(file, partial, path).await
    }

    /// Where [`Fetcher::fetch_index`] keeps the body of `url`.
    pub fn index_path(&self, url: &str) -> PathBuf {
        self.cache_dir.join("http").join(index_file_name(url))
    }

    /// Fetch a small file (an index: `InRelease`, `Packages.xz`) with conditional requests:
    /// keeps the body and its `ETag`/`Last-Modified` under `<cache>/http/`, sends
    /// `If-None-Match`/`If-Modified-Since`, and on 304 returns the cached copy. Returns the
    /// local path of the body.
    pub fn fetch_index(&self, url: &str) -> Result<PathBuf, FetchError> {
        self.runtime.block_on(async {
            let mut attempt = 0u32;
            loop {
                match self.index_once(url).await {
                    Err(e) if e.is_transient() && attempt < self.retries => {
                        tokio::time::sleep(self.delay(attempt)).await;
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        })
    }

    async fn index_once(&self, url: &str) -> Result<PathBuf, FetchError> {
        let body_path = self.index_path(url);
        let mut meta_path = body_path.clone().into_os_string();
        meta_path.push(".meta");
        let meta_path = PathBuf::from(meta_path);
        if let Some(dir) = body_path.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| FetchError::io(dir, e))?;
        }
        // Kept: removing it would let a waiting process and a new one both write the body.
        let _lock = CacheLock::acquire(with_suffix(&body_path, ".lock"), || {}).await?;

        let cached = tokio::fs::metadata(&body_path).await.is_ok();
        let known = if cached {
            match tokio::fs::read_to_string(&meta_path).await {
                Ok(text) => Validators::parse(&text),
                Err(_) => Validators::default(),
            }
        } else {
            Validators::default()
        };

        let mut request = self.client.get(url);
        if let Some(etag) = &known.etag {
            request = request.header(IF_NONE_MATCH, etag.as_str());
        }
        if let Some(date) = &known.last_modified {
            request = request.header(IF_MODIFIED_SINCE, date.as_str());
        }
        let response = request.send().await.map_err(|e| request_error(url, &e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && cached && known != Validators::default() {
            return Ok(body_path);
        }
        if status != StatusCode::OK {
            return Err(FetchError::Status {
                url: url.to_string(),
                status: status.as_u16(),
            });
        }

        let fresh = Validators::from_headers(response.headers());
        let partial = partial_path(&body_path);
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| FetchError::io(&partial, e))?;
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut body = response.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| request_error(url, &e))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| FetchError::io(&partial, e))?;
        }
        out.flush().await.map_err(|e| FetchError::io(&partial, e))?;
        // The old validators must not outlive the old body.
        remove_if_exists(&meta_path).await?;
        commit(out.into_inner(), &partial, &body_path).await?;
        let text = fresh.render();
        if !text.is_empty() {
            let tmp = partial_path(&meta_path);
            tokio::fs::write(&tmp, text)
                .await
                .map_err(|e| FetchError::io(&tmp, e))?;
            tokio::fs::rename(&tmp, &meta_path)
                .await
                .map_err(|e| FetchError::io(&meta_path, e))?;
        }
        Ok(body_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_template_is_valid() {
        assert!(ProgressStyle::with_template(BAR_TEMPLATE).is_ok());
    }

    #[test]
    fn plain_progress_line() {
        let item = FetchItem {
            url: "http://127.0.0.1/x".into(),
            sha256: "ab".repeat(32),
            size: 1_200_000,
            name: "x_1.0_amd64.deb".into(),
        };
        assert_eq!(
            fetched_line(12, 340, &item),
            "fetched 12/340 x_1.0_amd64.deb (1.20 MB)"
        );
    }

    #[test]
    fn content_ranges() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, 200)));
        assert_eq!(parse_content_range(" bytes  0-0/1 "), Some((0, 1)));
        assert_eq!(parse_content_range("bytes */200"), None);
        assert_eq!(parse_content_range("bytes 1-2/*"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn hashes_are_checked() {
        assert!(is_sha256(&"ab".repeat(32)));
        assert!(!is_sha256(&"AB".repeat(32)));
        assert!(!is_sha256(&"ab".repeat(31)));
        assert!(!is_sha256(&format!("../{}", "a".repeat(61))));
    }

    #[test]
    fn cache_layout() {
        let dir = tempfile::tempdir().unwrap();
        let f = Fetcher::new(dir.path(), 2).unwrap();
        let hash = "0f".repeat(32);
        assert_eq!(
            f.cache_path(&hash),
            dir.path().join("sha256").join("0f").join(&hash)
        );
        assert_eq!(
            partial_path(&f.cache_path(&hash)),
            dir.path().join("sha256/0f").join(format!("{hash}.partial"))
        );
    }

    #[test]
    fn index_names_are_safe_and_distinct() {
        let a = index_file_name("http://127.0.0.1:8080/dists/a_b/InRelease");
        let b = index_file_name("http://127.0.0.1:8080/dists/a/b/InRelease");
        assert_ne!(a, b);
        assert!(a.starts_with("127.0.0.1_8080_dists_a_b_InRelease-"), "{a}");
        assert!(!a.contains('/'));
        let long = index_file_name(&format!("http://127.0.0.1/{}", "x".repeat(1000)));
        assert!(long.len() <= 150 + 17);
    }

    #[test]
    fn validators_round_trip() {
        let v = Validators {
            etag: Some("\"abc\"".into()),
            last_modified: Some("Mon, 01 Jan 2024 00:00:00 GMT".into()),
        };
        assert_eq!(Validators::parse(&v.render()), v);
        assert_eq!(Validators::parse(""), Validators::default());
    }

    #[test]
    fn failures_list_every_item_and_count_the_rest() {
        let err = FetchError::Failed {
            total: 5,
            errors: vec![
                FetchError::Status {
                    url: "http://127.0.0.1/a".into(),
                    status: 404,
                },
                FetchError::NotTried {
                    url: "http://127.0.0.1/b".into(),
                    name: "b".into(),
                },
                FetchError::NotTried {
                    url: "http://127.0.0.1/c".into(),
                    name: "c".into(),
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "3 of 5 downloads failed:\n  http://127.0.0.1/a: HTTP 404\n  \
             2 more not tried: too many connection or server failures"
        );
    }
}
