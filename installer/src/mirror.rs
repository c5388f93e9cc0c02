//! Installing from a mirror instead of a bundle file: a node that serves its installed repo
//! over HTTP (`pigsty-install serve`, or any web server serving the folder), given as
//! `--from http://ADMIN/pigsty`.
//!
//! [`Mirror::signed_manifest`] fetches `MANIFEST.json` and `MANIFEST.json.asc` first, so that
//! the installer checks the signature exactly as for a bundle before anything else is fetched;
//! [`Mirror::stage`] then downloads every file the manifest lists (a few at once) into the
//! staging folder a bundle is extracted into ([`crate::stage::FileStager`]), checking
//! each file's size and SHA-256 as it streams: a file the mirror sends with other bytes is
//! refused, named, and nothing is put in place. A broken transfer or a 5xx answer is retried
//! from the start of that file, as the builder retries ([`Retry`]). A server that sends too
//! slowly ([`Limits`]: fewer than `min_speed` bytes a second over a window, or a file not
//! done by its deadline), or that
//! announces a longer file than the manifest's, is given up at once, not retried: the same
//! server would do it again.

use std::time::Duration;

use futures_util::StreamExt;
use std::path::Path;

use backon::Retryable;
use pigsty_bundle::archive::{SignedManifest, MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE};
use pigsty_bundle::manifest::{FileEntry, ManifestError, MANIFEST_NAME, SIGNATURE_NAME};
pub use pigsty_bundle::pace::Limits;
use pigsty_bundle::pace::{Pace, Retry};
use tokio::time::Instant;

use crate::stage::{FileStager, StageError, Staged};

/// How many files are downloaded at once.
pub const JOBS: usize = 4;
/// How a broken transfer or a 5xx answer is retried: as the builder retries (3 retries, after
/// 200, 400 and 800 ms).
const RETRY: Retry = Retry {
    retries: 3,
    first_delay: Duration::from_millis(200),
};

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("{0}: not an http:// or https:// URL (give the repo's URL, e.g. http://ADMIN/pigsty)")]
    BadUrl(String),
    #[error("{url}")]
    Fetch {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{url}: HTTP {status}{hint}")]
    Status {
        url: String,
        status: u16,
        hint: &'static str,
    },
    #[error("{url}: more than {limit} bytes, too large for what it should be")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: size mismatch (manifest {expected} bytes, received a Content-Length of {announced}): not the signed file")]
    WrongLength {
        url: String,
        announced: u64,
        expected: u64,
    },
    #[error("{url}: too slow ({reason}); given up (--min-speed, --speed-window and --file-deadline set the limits)")]
    TooSlow { url: String, reason: String },
    #[error("{url}")]
    Manifest {
        url: String,
        #[source]
        source: ManifestError,
    },
    #[error(transparent)]
    Stage(#[from] StageError),
    #[error("cannot start the HTTP client")]
    Setup(#[source] std::io::Error),
    #[error("cannot start the HTTP client")]
    Client(#[source] reqwest::Error),
}

impl MirrorError {
    /// Worth another try: the connection broke or the server had a passing problem.
    fn transient(&self) -> bool {
        match self {
            // A server that stopped sending would stop again.
            MirrorError::Fetch { source, .. } => !source.is_timeout(),
            MirrorError::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

/// A repo on a mirror, and the HTTP client that reads it. Blocking: it owns a small tokio
/// runtime, so it must not be used from async code.
pub struct Mirror {
    /// The repo's URL, without a trailing `/`.
    url: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    limits: Limits,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror").field("url", &self.url).finish()
    }
}

impl Mirror {
    /// A client for the repo at `url` (`http://ADMIN/pigsty`; https works too).
    pub fn new(url: &str) -> Result<Mirror, MirrorError> {
        Mirror::with_limits(url, Limits::default())
    }

    /// A client for the repo at `url` whose downloads keep to `limits`.
    pub fn with_limits(url: &str, limits: Limits) -> Result<Mirror, MirrorError> {
        let lower = url.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("http://")
            .or_else(|| lower.strip_prefix("https://"));
        if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
            return Err(MirrorError::BadUrl(url.to_string()));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(MirrorError::Setup)?;
        let client = {
            let _guard = runtime.enter();
            // TLS through rustls with ring, as the builder; installing fails harmlessly if
            // the process has a default provider already.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("pigsty-install/", env!("CARGO_PKG_VERSION")))
                .connect_timeout(Duration::from_secs(30))
                // No byte for two windows is too slow whatever the rule says (the rule
                // itself, over the body, says so after one).
                .read_timeout(limits.window.max(Duration::from_secs(1)) * 2)
                .build()
                .map_err(MirrorError::Client)?
        };
        Ok(Mirror {
            url: url.trim_end_matches('/').to_string(),
            client,
            runtime,
            limits,
        })
    }

    /// The repo's URL, as given (without a trailing `/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL of a file of the repo (`rel` relative to `pigsty/`, `/`-separated).
    pub fn file_url(&self, rel: &str) -> String {
        let mut url = self.url.clone();
        for seg in rel.split('/') {
            url.push('/');
            for &c in seg.as_bytes() {
                if c.is_ascii_alphanumeric() || b"-._~+:@!$&'()*,;=".contains(&c) {
                    url.push(c as char);
                } else {
                    url.push_str(&format!("%{c:02X}"));
                }
            }
        }
        url
    }

    /// Reads a small file of the repo, at most `limit` bytes; `None` if the mirror does not
    /// have it (404).
    pub fn get_small(&self, rel: &str, limit: u64) -> Result<Option<Vec<u8>>, MirrorError> {
        let url = self.file_url(rel);
        self.runtime.block_on(
            self.deadline(
                &url,
                0,
                (|| self.get_small_once(&url, limit))
                    .retry(RETRY.backoff())
                    .when(MirrorError::transient),
            ),
        )
    }

    async fn get_small_once(&self, url: &str, limit: u64) -> Result<Option<Vec<u8>>, MirrorError> {
        let fetch = |source: reqwest::Error| MirrorError::Fetch {
            url: url.to_string(),
            source,
        };
        let resp = self.client.get(url).send().await.map_err(fetch)?;
        let status = resp.status().as_u16();
        if status == 404 {
            return Ok(None);
        }
        if status != 200 {
            return Err(MirrorError::Status {
                url: url.to_string(),
                status,
                hint: "",
            });
        }
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(MirrorError::TooLarge {
                url: url.to_string(),
                limit,
            });
        }
        let mut out = Vec::new();
        let mut body = Paced::new(resp, &self.limits, url);
        while let Some(chunk) = body.next().await? {
            if out.len() as u64 + chunk.len() as u64 > limit {
                return Err(MirrorError::TooLarge {
                    url: url.to_string(),
                    limit,
                });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    /// `MANIFEST.json` (required) and `MANIFEST.json.asc` (if the mirror has it), the manifest
    /// parsed and validated. The signature is not checked here.
    pub fn signed_manifest(&self) -> Result<SignedManifest, MirrorError> {
        let url = self.file_url(MANIFEST_NAME);
        let raw = self
            .get_small(MANIFEST_NAME, MAX_MANIFEST_SIZE)?
            .ok_or_else(|| MirrorError::Status {
                url: url.clone(),
                status: 404,
                hint: " (no MANIFEST.json there: give the URL of an installed repo, e.g. http://ADMIN/pigsty, as `pigsty-install serve` serves it)",
            })?;
        let signature = self.get_small(SIGNATURE_NAME, MAX_SIGNATURE_SIZE)?;
        SignedManifest::parse(raw, signature)
            .map_err(|source| MirrorError::Manifest { url, source })
    }

    /// Downloads every file `head` lists into a staging folder beside `<dest>/pigsty` (the
    /// caller has checked `head`'s signature), each checked as it streams; see the module
    /// documentation. On any failure the staging folder is removed.
    pub fn stage(&self, head: &SignedManifest, dest: &Path) -> Result<Staged, MirrorError> {
        let stager = FileStager::new(&self.url, head, dest)?;
        self.runtime.block_on(async {
            let mut downloads = futures_util::stream::iter(
                head.manifest()
                    .files
                    .iter()
                    .map(|f| self.download(&stager, f)),
            )
            .buffer_unordered(JOBS);
            while let Some(done) = downloads.next().await {
                done?;
            }
            Ok::<(), MirrorError>(())
        })?;
        Ok(stager.finish()?)
    }

    async fn download(&self, stager: &FileStager, entry: &FileEntry) -> Result<(), MirrorError> {
        let url = self.file_url(&entry.path);
        let tries = (|| self.download_once(stager, entry, &url))
            .retry(RETRY.backoff())
            .when(MirrorError::transient);
        self.deadline(&url, entry.size, tries).await
    }

    /// Runs the fetch of `url` (a file of `size` bytes, its tries included) within its
    /// deadline.
    async fn deadline<T>(
        &self,
        url: &str,
        size: u64,
        work: impl std::future::Future<Output = Result<T, MirrorError>>,
    ) -> Result<T, MirrorError> {
        let limit = self.limits.deadline_for(size);
        tokio::time::timeout(limit, work).await.unwrap_or_else(|_| {
            Err(MirrorError::TooSlow {
                url: url.to_string(),
                reason: format!("not done after {} s, its deadline", limit.as_secs()),
            })
        })
    }

    async fn download_once(
        &self,
        stager: &FileStager,
        entry: &FileEntry,
        url: &str,
    ) -> Result<(), MirrorError> {
        let fetch = |source: reqwest::Error| MirrorError::Fetch {
            url: url.to_string(),
            source,
        };
        let resp = self.client.get(url).send().await.map_err(fetch)?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(MirrorError::Status {
                url: url.to_string(),
                status,
                hint: if status == 404 {
                    " (the manifest lists it, the mirror does not have it: is the mirror's repo complete?)"
                } else {
                    ""
                },
            });
        }
        // Longer than the manifest's: not the file, whatever follows (a shorter one ends
        // early, and is named when it does).
        if let Some(announced) = resp.content_length().filter(|n| *n > entry.size) {
            return Err(MirrorError::WrongLength {
                url: url.to_string(),
                announced,
                expected: entry.size,
            });
        }
        // Dropped on any failure below: the partial file is removed.
        let mut file = stager.file(&entry.path)?;
        let mut body = Paced::new(resp, &self.limits, url);
        while let Some(chunk) = body.next().await? {
            file.write(&chunk)?;
        }
        file.finish()?;
        Ok(())
    }
}

/// A response body read under the minimum-speed rule ([`Pace`]).
struct Paced<'a> {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    pace: Pace,
    limits: &'a Limits,
    url: &'a str,
}

impl<'a> Paced<'a> {
    fn new(resp: reqwest::Response, limits: &'a Limits, url: &'a str) -> Paced<'a> {
        Paced {
            body: resp.bytes_stream().boxed(),
            pace: Pace::new(limits, Instant::now().into_std()),
            limits,
            url,
        }
    }

    /// The next bytes, `None` at the end; too slow is an error.
    async fn next(&mut self) -> Result<Option<bytes::Bytes>, MirrorError> {
        let too_slow = || MirrorError::TooSlow {
            url: self.url.to_string(),
            reason: self.limits.too_slow(),
        };
        let wait = self.pace.wait(Instant::now().into_std());
        let chunk = match tokio::time::timeout(wait, self.body.next()).await {
            Ok(Some(chunk)) => chunk.map_err(|source| MirrorError::Fetch {
                url: self.url.to_string(),
                source,
            })?,
            Ok(None) => return Ok(None),
            Err(_) => return Err(too_slow()),
        };
        self.pace
            .got(chunk.len() as u64, Instant::now().into_std())
            .map_err(|_| too_slow())?;
        Ok(Some(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for bad in [
            "",
            "ftp://x/pigsty",
            "http://",
            "http:///pigsty",
            "/www/pigsty",
        ] {
            assert!(
                matches!(Mirror::new(bad), Err(MirrorError::BadUrl(_))),
                "{bad}"
            );
        }
        let m = Mirror::new("http://10.77.0.1:8080/pigsty/").unwrap();
        assert_eq!(m.url(), "http://10.77.0.1:8080/pigsty");
        assert_eq!(
            m.file_url("pool/libpq5_15.8-0+deb12u1_amd64.deb"),
            "http://10.77.0.1:8080/pigsty/pool/libpq5_15.8-0+deb12u1_amd64.deb"
        );
        assert_eq!(
            m.file_url("a b/%x#?.deb"),
            "http://10.77.0.1:8080/pigsty/a%20b/%25x%23%3F.deb"
        );
    }
}
