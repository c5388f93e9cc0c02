//! The offline bundle file: a reproducible `.tgz` or `.tar.zst` of one top folder `pigsty/`.
//!
//! - [`write`]: the writer ([`write_bundle`]). The same input tree and the same
//!   SOURCE_DATE_EPOCH give byte-identical bundles: entries sorted by path, owners 0/0, modes
//!   0755 or 0644, every mtime the epoch, `pigsty/MANIFEST.json` and its signature first.
//! - [`read`]: the manifest at the head of a bundle ([`read_signed_manifest`]) and the tar
//!   walk over the rest.
//! - [`verify`]: the one set of rules a bundle must meet ([`Verifier`]) and the [`Sink`] the
//!   walk feeds: nothing for `verify` ([`verify_bundle`]), the disk for an install (the
//!   installer's staging), a file at a time for a mirror.
//! - [`tree`]: a repo laid out on disk judged by the same rules ([`verify_tree`]).
//!
//! Nothing is held whole in memory: files are copied through buffers and hashed as they go.

mod gzip;
pub(crate) mod read;
mod tree;
mod verify;
mod write;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::fs::SpaceError;
use crate::manifest::ManifestError;

pub use read::{read_manifest, read_signed_manifest, read_small_file, walk, SignedManifest};
pub use tree::{open_no_follow, verify_tree, walk_tree};
pub use verify::{verify_bundle, verify_signed, Discard, FileCheck, Sink, Verifier, MAX_PROBLEMS};
pub use write::{file_entries, pack_bundle, write_bundle, BundleInfo, Pack};

/// The bundle's top folder.
pub const TOP: &str = "pigsty";
/// The largest `MANIFEST.json` a reader accepts.
pub const MAX_MANIFEST_SIZE: u64 = 64 << 20;
/// The largest `MANIFEST.json.asc` a reader accepts.
pub const MAX_SIGNATURE_SIZE: u64 = 1 << 20;

/// How a bundle is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BundleFormat {
    /// gzip: `.tgz`, readable by any `tar -xzf`.
    Tgz,
    /// zstd: `.tar.zst`, faster; `tar --zstd -xf`.
    TarZst,
}

impl BundleFormat {
    /// The format a file name asks for: `.tgz`/`.tar.gz` or `.tar.zst`/`.tzst`.
    pub fn from_path_name(path: &Path) -> Option<BundleFormat> {
        let name = path.file_name()?.to_str()?.to_ascii_lowercase();
        if name.ends_with(".tgz") || name.ends_with(".tar.gz") {
            Some(BundleFormat::Tgz)
        } else if name.ends_with(".tar.zst") || name.ends_with(".tzst") {
            Some(BundleFormat::TarZst)
        } else {
            None
        }
    }

    /// The usual file extension, with its dot: `.tgz` or `.tar.zst`.
    pub fn extension(self) -> &'static str {
        match self {
            BundleFormat::Tgz => ".tgz",
            BundleFormat::TarZst => ".tar.zst",
        }
    }
}

impl fmt::Display for BundleFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BundleFormat::Tgz => "tgz",
            BundleFormat::TarZst => "tar.zst",
        })
    }
}

/// One thing wrong with a bundle. Paths are archive paths (`pigsty/pool/foo_1.0_amd64.deb`),
/// escaped for the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Listed in the manifest, absent from the archive.
    Missing { path: String },
    /// In the archive, not listed in the manifest.
    Unlisted { path: String },
    /// In the archive more than once.
    Duplicate { path: String },
    SizeMismatch {
        path: String,
        expected: u64,
        found: u64,
    },
    Sha256Mismatch {
        path: String,
        expected: String,
        found: String,
    },
    /// `MANIFEST.json` or its signature is not the one whose signature was checked.
    NotSigned { path: String, detail: String },
    /// An entry that has no place in a bundle (link, device, setuid bit, path outside
    /// `pigsty/`...).
    BadEntry { path: String, reason: String },
    /// The archive stops early; what follows it was not checked.
    Truncated { detail: String },
    /// The compressed stream or the tar structure is damaged; what follows was not checked.
    Corrupt { detail: String },
    /// So many problems that reading stopped (`after`: where).
    TooMany { after: String },
}

impl Problem {
    /// Whether reading can go on after it (the stream itself is intact).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Problem::Truncated { .. } | Problem::Corrupt { .. } | Problem::TooMany { .. }
        )
    }

    /// A stream error as a problem: early end of data is truncation, the rest corruption.
    pub(crate) fn from_stream(e: &io::Error, at: &str) -> Problem {
        // The tar reader's messages may name the entry: escaped.
        let text = escape(e.to_string().as_bytes());
        let truncated = e.kind() == io::ErrorKind::UnexpectedEof
            || text.contains("incomplete frame")
            || text.contains("unexpected end")
            || text.contains("failed to read entire block");
        let detail = if at.is_empty() {
            text
        } else {
            format!("{at}: {text}")
        };
        if truncated {
            Problem::Truncated { detail }
        } else {
            Problem::Corrupt { detail }
        }
    }
}

impl Problem {
    /// The problem in words; `received`: the files came one by one (from a mirror), not in
    /// an archive.
    pub fn describe(&self, received: bool) -> String {
        let came = if received { "received" } else { "archive" };
        let line = match self {
            Problem::Missing { path } => format!("{path}: listed in the manifest but missing"),
            Problem::Unlisted { path } => format!("{path}: not listed in the manifest"),
            Problem::Duplicate { path } if received => format!("{path}: received twice"),
            Problem::Duplicate { path } => format!("{path}: duplicate entry"),
            Problem::SizeMismatch {
                path,
                expected,
                found,
            } if received => {
                let more = if found > expected { " and more" } else { "" };
                format!("{path}: size mismatch (manifest {expected} bytes, received {found}{more})")
            }
            Problem::SizeMismatch {
                path,
                expected,
                found,
            } => {
                format!("{path}: size mismatch (manifest {expected} bytes, archive {found} bytes)")
            }
            Problem::Sha256Mismatch {
                path,
                expected,
                found,
            } => format!("{path}: sha256 mismatch (manifest {expected}, {came} {found})"),
            Problem::NotSigned { path, detail } => {
                format!("{path}: differs from the signed manifest given ({detail})")
            }
            Problem::BadEntry { path, reason } => format!("{path}: {reason}"),
            Problem::Truncated { detail } => format!("truncated archive: {detail}"),
            Problem::Corrupt { detail } => format!("corrupt archive: {detail}"),
            Problem::TooMany { after } => format!(
                "more than {} problems: stopped reading {after}",
                verify::MAX_PROBLEMS
            ),
        };
        // Paths are escaped already; what else a line holds may come from the archive too
        // (the tar reader's messages name entries): no control character reaches a terminal.
        escape(line.as_bytes())
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe(false))
    }
}

/// The problems of a bundle, one a line, at most 50; files missing are said on one line.
/// `received`: see [`Problem::describe`].
pub struct Problems<'a> {
    pub problems: &'a [Problem],
    pub received: bool,
}

impl fmt::Display for Problems<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 50;
        let missing: Vec<&str> = self
            .problems
            .iter()
            .filter_map(|p| match p {
                Problem::Missing { path } => Some(path.as_str()),
                _ => None,
            })
            .collect();
        // What stopped the reading first: it says what the rest is worth.
        let mut lines: Vec<String> = self
            .problems
            .iter()
            .filter(|p| p.is_fatal())
            .chain(
                self.problems
                    .iter()
                    .filter(|p| !p.is_fatal() && !matches!(p, Problem::Missing { .. })),
            )
            .map(|p| p.describe(self.received))
            .collect();
        if !missing.is_empty() {
            lines.push(format!(
                "{} file(s) listed in the manifest {}: {}",
                missing.len(),
                if self.received {
                    "were not received"
                } else {
                    "are not in the archive"
                },
                shorten(&missing)
            ));
        }
        if let [one] = lines.as_slice() {
            return write!(f, " {one}");
        }
        write!(f, " {} problems:", lines.len())?;
        for line in lines.iter().take(SHOWN) {
            write!(f, "\n  - {line}")?;
        }
        if lines.len() > SHOWN {
            write!(f, "\n  ... and {} more", lines.len() - SHOWN)?;
        }
        Ok(())
    }
}

/// The first few paths, comma-separated.
pub fn shorten(paths: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut text = paths
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        text.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    text
}

/// A name from an archive (or from anywhere not trusted) fit for a message: valid UTF-8, with
/// control characters (NUL, terminal escapes) written as `\u{..}` escapes.
pub fn escape(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{}: not a directory", path.display())]
    NotADir { path: PathBuf },
    #[error("{}: is a symbolic link; bundles hold only files and directories", path.display())]
    Symlink { path: PathBuf },
    #[error("{}: not a regular file or directory", path.display())]
    Special { path: PathBuf },
    #[error("{}: file name is not UTF-8", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("extra bundle file `{path}`: {reason}")]
    BadExtra { path: String, reason: String },
    #[error("`{path}` would be in the bundle twice")]
    DuplicateEntry { path: String },
    #[error("{}: changed while being written to the bundle ({reason})", path.display())]
    FileChanged { path: PathBuf, reason: String },
    #[error("{}: {what}", path.display())]
    NotInManifest { path: PathBuf, what: String },
    #[error(transparent)]
    Space(#[from] SpaceError),
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: not a gzip or zstd bundle (starts with {magic})", path.display())]
    UnknownFormat { path: PathBuf, magic: String },
    #[error("{}: {detail}; not a bundle made by pigsty-build?", path.display())]
    NoManifest { path: PathBuf, detail: String },
    #[error("{}", path.display())]
    Manifest {
        path: PathBuf,
        #[source]
        source: ManifestError,
    },
    #[error("{}: truncated archive: {detail}", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: corrupt archive: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// What a bundle (or a file-by-file copy of its repo: `received`) fails; `origin`
    /// names it.
    #[error("{origin}:{}", Problems { problems, received: *received })]
    Verify {
        origin: String,
        received: bool,
        problems: Vec<Problem>,
    },
}

impl BundleError {
    /// The problems of a [`BundleError::Verify`], else none.
    pub fn problems(&self) -> &[Problem] {
        match self {
            BundleError::Verify { problems, .. } => problems,
            _ => &[],
        }
    }
}
