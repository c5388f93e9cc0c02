//! What can go wrong reading an upstream repository, whatever its family: it cannot be
//! fetched, its signed index is unsigned or does not verify, a file is not what the signed
//! index says, or it cannot be read. The apt and dnf readers both report with these.

use crate::fetch::FetchError;

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("repo `{repo}`: `{line}` is not `URL SUITE [COMPONENT...]`")]
    BadSource { repo: String, line: String },
    #[error("repo `{repo}`")]
    Fetch {
        repo: String,
        #[source]
        source: FetchError,
    },
    #[error("repo `{repo}`: the signature {url} does not verify with {keyring} (if you trust this repo without a signature, pass --insecure-upstream {repo})")]
    BadSignature {
        repo: String,
        url: String,
        keyring: String,
        /// Boxed: the largest of the variants, and every `Result` here carries its size.
        #[source]
        source: Box<pigsty_bundle::sign::SignError>,
    },
    #[error("repo `{repo}` is not signed (no {missing}); pass --insecure-upstream {repo} to use it anyway")]
    Unsigned {
        repo: String,
        /// What is missing: `InRelease or Release.gpg at URL`, `URL`.
        missing: String,
    },
    #[error("repo `{repo}`: {what} is not listed in {url}")]
    NotListed {
        repo: String,
        what: String,
        url: String,
    },
    #[error("repo `{repo}`: {url}: {what} mismatch: {index} says {expected}, got {actual}; the mirror may be syncing, try again later")]
    Mismatch {
        repo: String,
        url: String,
        /// `size`, `sha256`...
        what: &'static str,
        /// The signed index that says what it must be: `Release`, `repomd.xml`.
        index: &'static str,
        /// Boxed strings: this variant would be the largest.
        expected: Box<str>,
        actual: Box<str>,
    },
    #[error("repo `{repo}`: {url}: unsupported checksum type `{kind}` (want sha256, sha512, sha384, sha224 or sha1)")]
    UnsupportedChecksum {
        repo: String,
        url: String,
        kind: String,
    },
    #[error("repo `{repo}`: package {package} has a `{kind}` checksum; only sha256 can be checked while downloading")]
    PackageChecksum {
        repo: String,
        package: String,
        kind: String,
    },
    #[error("repo `{repo}`: cannot read {path}")]
    Parse {
        repo: String,
        path: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}
