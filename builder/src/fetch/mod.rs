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

mod cache;
mod download;
mod index;
mod progress;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use pigsty_bundle::fs::{is_sha256, with_suffix};
use pigsty_bundle::pace::Retry;

pub use download::Limits;
pub use index::MAX_SIGNED_INDEX;

use cache::{partial_path, CacheLock};
use download::remove_if_exists;
use progress::Progress;

/// The error type a transfer fails with: the client's own, or what we saw go wrong.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

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
    #[error("{url}: connection failed")]
    Connect {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The connection broke or the server misbehaved during the transfer.
    #[error("{url}: transfer failed")]
    Transfer {
        url: String,
        #[source]
        source: Cause,
    },
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
    #[error("{}", path.display())]
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
    /// Slower than the limits allow ([`Limits`]).
    #[error("too slow: {reason}")]
    TooSlow { reason: String },
    /// An index larger than it may be, refused before it is checked.
    #[error("{url}: more than {limit} bytes, larger than it may be; refused before it is checked")]
    TooLarge { url: String, limit: u64 },
    /// The HTTP client or the async runtime could not be set up, or a task of it failed.
    #[error("cannot {what}")]
    Setup {
        what: String,
        #[source]
        source: Cause,
    },
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
            // Each failure is its own error: its causes are said here, on its line.
            let _ = write!(out, "\n  {e}");
            let mut cause = std::error::Error::source(e);
            while let Some(c) = cause {
                let _ = write!(out, ": {c}");
                cause = c.source();
            }
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
            | FetchError::TooLarge { url, .. }
            | FetchError::NotTried { url, .. } => Some(url),
            FetchError::TooSlow { .. } => None,
            FetchError::Io { .. } | FetchError::Setup { .. } | FetchError::Failed { .. } => None,
        }
    }

    fn setup(what: impl Into<String>, source: impl Into<Cause>) -> FetchError {
        FetchError::Setup {
            what: what.into(),
            source: source.into(),
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

/// A failed request: a connection that could not be made, or a transfer that broke.
fn request_error(url: &str, e: reqwest::Error) -> FetchError {
    if e.is_connect() {
        FetchError::Connect {
            url: url.to_string(),
            source: e,
        }
    } else {
        FetchError::Transfer {
            url: url.to_string(),
            source: e.into(),
        }
    }
}

/// Downloads files into a content-addressed cache; see the module documentation.
pub struct Fetcher {
    cache_dir: PathBuf,
    jobs: usize,
    progress: bool,
    retry: Retry,
    limits: Limits,
    max_failures: usize,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("cache_dir", &self.cache_dir)
            .field("jobs", &self.jobs)
            .field("progress", &self.progress)
            .field("retry", &self.retry)
            .field("max_failures", &self.max_failures)
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
    builder
        .build()
        .map_err(|e| FetchError::setup("set up the HTTP client", e))
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
            .map_err(|e| FetchError::setup("start the async runtime", e))?;
        let client = build_client(&runtime, true)?;
        Ok(Fetcher {
            cache_dir: cache_dir.to_path_buf(),
            jobs: jobs.max(1),
            progress: false,
            retry: Retry::default(),
            limits: Limits::default(),
            max_failures: 16,
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
    /// A per-file deadline and a minimum speed other than [`Limits::default`].
    pub fn with_limits(mut self, limits: Limits) -> Fetcher {
        self.limits = limits;
        self
    }

    pub fn with_retries(mut self, retries: u32, base_delay: Duration) -> Fetcher {
        self.retry = Retry {
            retries,
            first_delay: base_delay,
        };
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

impl Fetcher {
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
                r.unwrap_or_else(|| {
                    Err(FetchError::setup(
                        format!("download {}", item.url),
                        "not attempted",
                    ))
                })
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
        let mut pauses = self.retry.pauses();
        let mut transient = 0u32;
        let mut from_scratch = false;
        loop {
            let before = shown;
            let result = self
                .download(item, &path, &partial, progress, &mut shown)
                .await;
            if shown > before {
                // Bytes came in: a broken transfer that made progress is not held against it.
                pauses = self.retry.pauses();
                transient = 0;
            }
            match result {
                Ok(()) => {
                    lock.remove().await;
                    progress.bytes(&mut shown, item.size);
                    progress.fetched(item);
                    return Ok(path);
                }
                Err(e) if e.is_transient() => {
                    let Some(delay) = pauses.next() else {
                        progress.bytes(&mut shown, 0);
                        return Err(e);
                    };
                    transient += 1;
                    progress.note(&format!(
                        "retrying {} in {} ms (retry {transient}/{}): {e}",
                        item.name,
                        delay.as_millis(),
                        self.retry.retries
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
}

#[cfg(test)]
mod tests {
    use super::download::parse_content_range;
    use super::index::{index_file_name, Validators};
    use super::progress::{fetched_line, BAR_TEMPLATE};
    use super::*;
    use indicatif::ProgressStyle;

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
