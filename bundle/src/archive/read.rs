//! Reading a bundle: its decompressed tar stream, the signed manifest at its head, and the
//! walk over every entry that feeds the [`Verifier`] and a [`Sink`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::verify::{relative, Accepted, Entry, EntryType, FileCheck, Sink, Verifier};
use super::{escape, BundleError, Problem, MAX_MANIFEST_SIZE, MAX_SIGNATURE_SIZE, TOP};
use crate::manifest::{Manifest, MANIFEST_NAME, SIGNATURE_NAME};

const BUF_SIZE: usize = 1 << 20;

/// The manifest of a bundle (or of a mirror's repo) with the exact bytes its signature covers.
/// Made only by parsing those bytes, so that the two always agree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedManifest {
    manifest: Manifest,
    raw: Vec<u8>,
    signature: Option<Vec<u8>>,
}

impl SignedManifest {
    /// Parses and validates `raw` (`MANIFEST.json`); `signature` is `MANIFEST.json.asc` if
    /// there is one. The signature is not checked here.
    pub fn parse(
        raw: Vec<u8>,
        signature: Option<Vec<u8>>,
    ) -> Result<SignedManifest, crate::manifest::ManifestError> {
        let manifest = Manifest::from_json(&raw)?;
        Ok(SignedManifest {
            manifest,
            raw,
            signature,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// `MANIFEST.json` as stored: what the signature covers.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// `MANIFEST.json.asc`, if there is one.
    pub fn signature(&self) -> Option<&[u8]> {
        self.signature.as_deref()
    }
}

/// Opens a bundle and returns its decompressed tar stream; the format is told by the magic
/// bytes (gzip `1f 8b`, zstd `28 b5 2f fd`), not by the name.
pub(crate) fn open_bundle(bundle: &Path) -> Result<Box<dyn Read>, BundleError> {
    let file = File::open(bundle).map_err(|source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    })?;
    decompress(BufReader::with_capacity(BUF_SIZE, file), bundle)
}

/// The decompressed tar stream of a bundle's bytes, its format told by the magic bytes;
/// `bundle` names it in errors.
pub(crate) fn decompress<'a, R: BufRead + 'a>(
    mut reader: R,
    bundle: &Path,
) -> Result<Box<dyn Read + 'a>, BundleError> {
    let read_err = |source| BundleError::Read {
        path: bundle.to_path_buf(),
        source,
    };
    let head = reader.fill_buf().map_err(read_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(reader)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = zstd::stream::read::Decoder::with_buffer(reader).map_err(read_err)?;
        Ok(Box::new(decoder))
    } else {
        let magic = head
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        Err(BundleError::UnknownFormat {
            path: bundle.to_path_buf(),
            magic: if magic.is_empty() {
                "nothing".into()
            } else {
                magic
            },
        })
    }
}

fn stream_error(bundle: &Path, e: &io::Error) -> BundleError {
    match Problem::from_stream(e, "") {
        Problem::Truncated { detail } => BundleError::Truncated {
            path: bundle.to_path_buf(),
            detail,
        },
        other => BundleError::Corrupt {
            path: bundle.to_path_buf(),
            detail: other.to_string(),
        },
    }
}

/// Reads a small entry whole, refusing one larger than `max`.
fn read_small<R: Read>(
    entry: &mut tar::Entry<R>,
    max: u64,
    bundle: &Path,
    shown: &str,
) -> Result<Vec<u8>, BundleError> {
    let size = entry.header().entry_size().unwrap_or(u64::MAX);
    if size > max {
        return Err(BundleError::NoManifest {
            path: bundle.to_path_buf(),
            detail: format!("{shown} is {size} bytes, more than the {max} allowed"),
        });
    }
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    Read::take(&mut *entry, max)
        .read_to_end(&mut data)
        .map_err(|e| stream_error(bundle, &e))?;
    if (data.len() as u64) < size {
        return Err(BundleError::Truncated {
            path: bundle.to_path_buf(),
            detail: format!("{shown} stops after {} of its {size} bytes", data.len()),
        });
    }
    Ok(data)
}

/// The head of a bundle: the manifest and its signature, which the writer puts first (right
/// after `pigsty/`). Reads no further than the entry after them.
pub fn read_signed_manifest(bundle: &Path) -> Result<SignedManifest, BundleError> {
    signed_manifest_of(open_bundle(bundle)?, bundle)
}

/// [`read_signed_manifest`] over a decompressed tar stream; `bundle` names it in errors.
pub(crate) fn signed_manifest_of(
    stream: impl Read,
    bundle: &Path,
) -> Result<SignedManifest, BundleError> {
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    let mut raw: Option<Vec<u8>> = None;
    let mut signature = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(bundle, &e))?;
        let path = entry.path_bytes();
        let shown = escape(&path);
        let rel = std::str::from_utf8(&path).ok().and_then(relative);
        let is_file = entry.header().entry_type().is_file();
        match (rel, raw.is_some()) {
            (Some(""), false) if !is_file => continue,
            (Some(MANIFEST_NAME), false) if is_file => {
                raw = Some(read_small(&mut entry, MAX_MANIFEST_SIZE, bundle, &shown)?);
            }
            (Some(SIGNATURE_NAME), true) if is_file && signature.is_none() => {
                signature = Some(read_small(&mut entry, MAX_SIGNATURE_SIZE, bundle, &shown)?);
            }
            (_, true) => break,
            (_, false) => {
                return Err(BundleError::NoManifest {
                    path: bundle.to_path_buf(),
                    detail: format!(
                        "{shown} comes before {TOP}/{MANIFEST_NAME}, which must be first"
                    ),
                })
            }
        }
    }
    let Some(raw) = raw else {
        return Err(BundleError::NoManifest {
            path: bundle.to_path_buf(),
            detail: format!("no {TOP}/{MANIFEST_NAME}"),
        });
    };
    SignedManifest::parse(raw, signature).map_err(|source| BundleError::Manifest {
        path: bundle.to_path_buf(),
        source,
    })
}

/// The manifest of a bundle (validated) and the bytes of `MANIFEST.json.asc` if it has one,
/// reading no further than them. The signature is not checked here.
pub fn read_manifest(bundle: &Path) -> Result<(Manifest, Option<Vec<u8>>), BundleError> {
    let head = read_signed_manifest(bundle)?;
    Ok((head.manifest, head.signature))
}

/// Reads one small file of a bundle (path relative to `pigsty/`, e.g. `pigsty.pub`), streaming
/// only as far as it; `None` if the bundle does not have it. Its hash is not checked here.
pub fn read_small_file(bundle: &Path, rel: &str, max: u64) -> Result<Option<Vec<u8>>, BundleError> {
    let stream = open_bundle(bundle)?;
    let mut archive = tar::Archive::new(stream);
    let entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| stream_error(bundle, &e))?;
        let path = entry.path_bytes().into_owned();
        if entry.header().entry_type().is_file()
            && std::str::from_utf8(&path).ok().and_then(relative) == Some(rel)
        {
            return read_small(&mut entry, max, bundle, &escape(&path)).map(Some);
        }
    }
    Ok(None)
}

/// What the walk saw of one tar entry, for the [`Verifier`].
fn entry_of<R: Read>(entry: &tar::Entry<R>) -> Entry {
    let header = entry.header();
    let entry_type = match header.entry_type() {
        tar::EntryType::Regular | tar::EntryType::Continuous => EntryType::File,
        tar::EntryType::Directory => EntryType::Dir,
        tar::EntryType::Symlink => EntryType::Symlink,
        tar::EntryType::Link => EntryType::HardLink,
        tar::EntryType::Char => EntryType::CharDevice,
        tar::EntryType::Block => EntryType::BlockDevice,
        tar::EntryType::Fifo => EntryType::Fifo,
        other => EntryType::Other(format!("{other:?}")),
    };
    Entry {
        path: entry.path_bytes().into_owned(),
        entry_type,
        mode: header.mode().map_err(|e| e.to_string()),
        mtime: header.mtime().map_err(|e| e.to_string()),
        size: entry.size(),
        link: entry
            .link_name_bytes()
            .map(|l| escape(&l))
            .unwrap_or_default(),
    }
}

/// Streams `bundle` once, every entry judged by `v` (made for the manifest whose signature the
/// caller checked: the archive's `MANIFEST.json` and signature must be those very bytes),
/// every accepted folder and file fed to `sink`, a file's bytes checked as they pass. Reads
/// the stream to its end, so that the decompressor checks its trailer, unless a problem stops
/// it: the first one, unless the sink [`Sink::keep_going`]. Problems are left in `v` (then
/// [`Verifier::finish`] and [`Verifier::into_result`]); the error is for what is not the
/// bundle's fault: it cannot be opened, or the sink fails (a disk error).
pub fn walk(bundle: &Path, v: &mut Verifier, sink: &mut dyn Sink) -> Result<(), BundleError> {
    walk_stream(open_bundle(bundle)?, bundle, v, sink)
}

/// [`walk`] over a decompressed tar stream; `bundle` names it in errors.
pub(crate) fn walk_stream(
    stream: impl Read,
    bundle: &Path,
    v: &mut Verifier,
    sink: &mut dyn Sink,
) -> Result<(), BundleError> {
    let mut archive = tar::Archive::new(stream);
    let mut buf = vec![0u8; BUF_SIZE];
    let entries = archive.entries().map_err(|e| stream_error(bundle, &e))?;
    for entry in entries {
        if v.stopped() || (v.has_problems() && !sink.keep_going()) {
            return Ok(());
        }
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                v.problem(Problem::from_stream(&e, &v.after_last()));
                return Ok(());
            }
        };
        let info = entry_of(&entry);
        if !feed(v, sink, &info, &mut entry, &mut buf)? {
            return Ok(());
        }
    }
    if v.has_problems() && !sink.keep_going() {
        return Ok(());
    }
    // Read to the end, so that the decompressor checks its trailer (gzip CRC and length,
    // zstd checksum) and a cut-off stream shows.
    if let Err(e) = io::copy(&mut archive.into_inner(), &mut io::sink()) {
        let at = match v.last() {
            Some(last) => format!("at its end, after {last}"),
            None => "at its end".into(),
        };
        v.problem(Problem::from_stream(&e, &at));
    }
    Ok(())
}

/// One entry (`info`, its bytes read from `data`) judged by `v` and, if accepted, given to
/// `sink`. Whether reading may go on (false after a problem that breaks the stream).
pub(crate) fn feed(
    v: &mut Verifier,
    sink: &mut dyn Sink,
    info: &Entry,
    data: &mut dyn Read,
    buf: &mut [u8],
) -> Result<bool, BundleError> {
    match v.entry(info) {
        Err(p) => v.problem(p),
        Ok(Accepted::Dir { rel, mtime, create }) => {
            sink.make_dirs(&create)?;
            sink.dir_mtime(&rel, mtime)?;
        }
        Ok(Accepted::File {
            mut check,
            exec,
            mtime,
            create,
        }) => {
            sink.make_dirs(&create)?;
            sink.file(check.rel(), exec, mtime)?;
            let outcome = match stream_file(data, &mut check, sink, buf) {
                Err(StreamFailure::Sink(e)) => return Err(e),
                Err(StreamFailure::Problem(p)) => Err(p),
                Ok(()) => v.end_file(*check),
            };
            match outcome {
                Ok(()) => sink.keep()?,
                Err(p) => {
                    sink.discard();
                    let fatal = p.is_fatal();
                    v.problem(p);
                    if fatal {
                        return Ok(false);
                    }
                }
            }
        }
    }
    Ok(true)
}

enum StreamFailure {
    /// The sink could not take the bytes: the walk ends with this error.
    Sink(BundleError),
    /// The stream broke, or the bytes are not what they must be.
    Problem(Problem),
}

/// Streams one file's bytes through its check and the sink.
fn stream_file(
    entry: &mut dyn Read,
    check: &mut FileCheck,
    sink: &mut dyn Sink,
    buf: &mut [u8],
) -> Result<(), StreamFailure> {
    loop {
        let n = match entry.read(buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(StreamFailure::Problem(Problem::from_stream(
                    &e,
                    &format!("in {}", check.shown()),
                )))
            }
        };
        let chunk = &buf[..n];
        check.update(chunk).map_err(StreamFailure::Problem)?;
        sink.write(chunk).map_err(StreamFailure::Sink)?;
    }
}
