//! Repository indexes (`InRelease`, `Packages.xz`, `repomd.xml`...), whose hash is not known
//! before they are read: kept under `<cache>/http/` with their `ETag` / `Last-Modified`, asked
//! for again with a conditional request.

use std::fmt::Write as _;
use std::path::PathBuf;

use backon::Retryable;
use futures_util::StreamExt;
use pigsty_bundle::fs::with_suffix;
use reqwest::header::{HeaderMap, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::cache::{partial_path, CacheLock};
use super::download::{commit, remove_if_exists, within_deadline, Pace, WRITE_BUFFER};
use super::{request_error, FetchError, Fetcher};

/// The most a signed index (`InRelease`, `Release`, `repomd.xml`) or a signature may be, as
/// apt caps `InRelease`: read before its signature is checked, so it is capped.
pub const MAX_SIGNED_INDEX: u64 = 10 << 20;

/// What the server said about an index, for conditional requests.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Validators {
    pub(super) etag: Option<String>,
    pub(super) last_modified: Option<String>,
}

impl Validators {
    pub(super) fn parse(text: &str) -> Validators {
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

    pub(super) fn render(&self) -> String {
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
pub(super) fn index_file_name(url: &str) -> String {
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

impl Fetcher {
    /// Where [`Fetcher::fetch_index`] keeps the body of `url`.
    pub fn index_path(&self, url: &str) -> PathBuf {
        self.cache_dir.join("http").join(index_file_name(url))
    }

    /// Where something made from the file at `url` is kept (`kind`: a folder of the cache,
    /// e.g. `apt-packages` for decompressed indexes). Whoever reads it back checks it.
    pub fn derived_path(&self, kind: &str, url: &str) -> PathBuf {
        self.cache_dir.join(kind).join(index_file_name(url))
    }

    /// Fetch a small file (an index: `InRelease`, `Packages.xz`) with conditional requests:
    /// keeps the body and its `ETag`/`Last-Modified` under `<cache>/http/`, sends
    /// `If-None-Match`/`If-Modified-Since`, and on 304 returns the cached copy. Returns the
    /// local path of the body.
    ///
    /// The body may be at most [`MAX_SIGNED_INDEX`] bytes, what a signed index (`InRelease`,
    /// `repomd.xml`, a signature) ever is: more is refused before it is checked, and not kept.
    pub fn fetch_index(&self, url: &str) -> Result<PathBuf, FetchError> {
        self.fetch_index_max(url, MAX_SIGNED_INDEX)
    }

    /// [`Fetcher::fetch_index`] of a file whose size the signed index gives (`Packages.xz`,
    /// `primary.xml.zst`): at most `max` bytes.
    pub fn fetch_index_max(&self, url: &str, max: u64) -> Result<PathBuf, FetchError> {
        self.runtime.block_on(
            (|| within_deadline(&self.limits, max, self.index_once(url, max)))
                .retry(self.retry.backoff())
                .when(FetchError::is_transient),
        )
    }

    async fn index_once(&self, url: &str, max: u64) -> Result<PathBuf, FetchError> {
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

        let cached = tokio::fs::metadata(&body_path)
            .await
            .is_ok_and(|m| m.len() <= max);
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
        let response = request.send().await.map_err(|e| request_error(url, e))?;
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

        let too_large = || FetchError::TooLarge {
            url: url.to_string(),
            limit: max,
        };
        if response.content_length().is_some_and(|n| n > max) {
            return Err(too_large());
        }
        let fresh = Validators::from_headers(response.headers());
        let partial = partial_path(&body_path);
        let file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| FetchError::io(&partial, e))?;
        let written = self.write_body(response, file, &partial, max, url).await;
        let file = match written {
            Ok(file) => file,
            Err(e) => {
                remove_if_exists(&partial).await?;
                return Err(e);
            }
        };
        // The old validators must not outlive the old body.
        remove_if_exists(&meta_path).await?;
        commit(file, &partial, &body_path).await?;
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

    /// Streams an index body into `partial`, never more than `max` bytes, never too slowly.
    async fn write_body(
        &self,
        response: reqwest::Response,
        file: tokio::fs::File,
        partial: &std::path::Path,
        max: u64,
        url: &str,
    ) -> Result<tokio::fs::File, FetchError> {
        let mut out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut body = response.bytes_stream();
        let mut pace = Pace::new(&self.limits);
        let mut total = 0u64;
        loop {
            let chunk = match tokio::time::timeout(pace.wait(), body.next()).await {
                Ok(Some(chunk)) => chunk.map_err(|e| request_error(url, e))?,
                Ok(None) => break,
                Err(_) => return Err(pace.too_slow(url)),
            };
            total += chunk.len() as u64;
            if total > max {
                return Err(FetchError::TooLarge {
                    url: url.to_string(),
                    limit: max,
                });
            }
            out.write_all(&chunk)
                .await
                .map_err(|e| FetchError::io(partial, e))?;
            pace.got(chunk.len() as u64)
                .map_err(|_| pace.too_slow(url))?;
        }
        out.flush().await.map_err(|e| FetchError::io(partial, e))?;
        Ok(out.into_inner())
    }
}
