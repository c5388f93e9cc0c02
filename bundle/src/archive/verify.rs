//! The one set of rules a bundle meets, whoever reads it: [`Verifier`] judges every entry of
//! an archive (or every file of a repo that comes file by file), and a [`Sink`] receives what
//! it accepts. `pigsty-build verify` and `pigsty-install verify` feed [`Discard`]; an install
//! feeds the disk; a mirror download feeds one file at a time. One rule, one verdict.
//!
//! What a bundle never holds: paths that are absolute, hold `..` or lie outside `pigsty/`,
//! links, devices, FIFOs, setuid/setgid/sticky bits, duplicates, files the manifest does not
//! list or lists with another size or digest, folders that hold none of the listed files,
//! listed files that never come, a `MANIFEST.json` or signature other than the signed ones,
//! and a damaged or cut stream.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::read::{read_signed_manifest, walk, SignedManifest};
use super::{escape, BundleError, Problem, TOP};

/// How many problems are collected before reading stops.
pub const MAX_PROBLEMS: usize = 1000;
use crate::manifest::{check_rel_path, FileEntry, Manifest, MANIFEST_NAME, SIGNATURE_NAME};

/// What an archive entry is, as the walk saw it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The path as stored (any bytes).
    pub path: Vec<u8>,
    pub entry_type: EntryType,
    /// The mode field, or why it could not be read.
    pub mode: Result<u32, String>,
    /// The mtime field, seconds, or why it could not be read.
    pub mtime: Result<u64, String>,
    /// The size of its data.
    pub size: u64,
    /// A link's target, escaped; empty for others.
    pub link: String,
}

/// The kinds of archive entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryType {
    File,
    Dir,
    Symlink,
    HardLink,
    CharDevice,
    BlockDevice,
    Fifo,
    Other(String),
}

/// An entry the verifier accepts, and what the sink is to do with it.
#[derive(Debug)]
pub enum Accepted {
    /// A folder (`rel` empty: `pigsty/` itself); `create` lists the folders to make first,
    /// parents first (it may hold `rel` itself).
    Dir {
        rel: String,
        mtime: u64,
        create: Vec<String>,
    },
    /// A file to stream through `check`; its folders in `create`.
    File {
        check: Box<FileCheck>,
        exec: bool,
        mtime: u64,
        create: Vec<String>,
    },
}

/// Receives what the [`Verifier`] accepts, a file's bytes only as they are checked.
pub trait Sink {
    /// Whether to go on after a problem, to report them all, rather than stop at the first.
    fn keep_going(&self) -> bool {
        false
    }
    /// Makes these folders (relative to `pigsty/`, parents first).
    fn make_dirs(&mut self, rels: &[String]) -> Result<(), BundleError>;
    /// A folder's own entry: its mtime (`rel` empty: the top folder).
    fn dir_mtime(&mut self, rel: &str, mtime: u64) -> Result<(), BundleError>;
    /// A file begins.
    fn file(&mut self, rel: &str, exec: bool, mtime: u64) -> Result<(), BundleError>;
    /// The file's next bytes.
    fn write(&mut self, chunk: &[u8]) -> Result<(), BundleError>;
    /// The file is complete and checked: keep it.
    fn keep(&mut self) -> Result<(), BundleError>;
    /// The file is refused: drop what was written of it.
    fn discard(&mut self);
}

/// A sink that keeps nothing: for checking only, reporting every problem.
#[derive(Debug, Default, Clone, Copy)]
pub struct Discard;

impl Sink for Discard {
    fn keep_going(&self) -> bool {
        true
    }
    fn make_dirs(&mut self, _: &[String]) -> Result<(), BundleError> {
        Ok(())
    }
    fn dir_mtime(&mut self, _: &str, _: u64) -> Result<(), BundleError> {
        Ok(())
    }
    fn file(&mut self, _: &str, _: bool, _: u64) -> Result<(), BundleError> {
        Ok(())
    }
    fn write(&mut self, _: &[u8]) -> Result<(), BundleError> {
        Ok(())
    }
    fn keep(&mut self) -> Result<(), BundleError> {
        Ok(())
    }
    fn discard(&mut self) {}
}

/// What a file's bytes must be.
#[derive(Debug, Clone)]
enum Expect {
    /// A file of the manifest, by index.
    Listed(usize),
    /// Exactly these bytes (the signed manifest or its signature).
    Exact(Arc<Vec<u8>>),
}

/// One file being checked as its bytes come: size, then SHA-256 or the exact bytes.
#[derive(Debug)]
pub struct FileCheck {
    rel: String,
    shown: String,
    expect: Expect,
    size: u64,
    sha256: Option<String>,
    hasher: Sha256,
    done: u64,
    /// Bytes came past `size` (file by file only).
    over: bool,
    /// The first byte where an exact file differs.
    differs_at: Option<u64>,
}

impl FileCheck {
    /// The path relative to `pigsty/`.
    pub fn rel(&self) -> &str {
        &self.rel
    }

    /// The path as messages show it (`pigsty/...`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// How many bytes came so far.
    pub fn received(&self) -> u64 {
        self.done
    }

    /// The next bytes; refused at once when they pass the expected size.
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), Problem> {
        let total = self.done.saturating_add(chunk.len() as u64);
        if total > self.size {
            self.over = true;
            return Err(Problem::SizeMismatch {
                path: self.shown.clone(),
                expected: self.size,
                found: total,
            });
        }
        if let Expect::Exact(bytes) = &self.expect {
            if self.differs_at.is_none() {
                let start = self.done as usize;
                let want = bytes.get(start..start + chunk.len()).unwrap_or_default();
                if let Some(at) = chunk.iter().zip(want).position(|(a, b)| a != b) {
                    self.differs_at = Some(self.done + at as u64);
                }
            }
        }
        self.hasher.update(chunk);
        self.done = total;
        Ok(())
    }
}

/// Judges the entries of one bundle against its signed manifest; see the module
/// documentation. Collects the problems it finds; [`Verifier::into_result`] gives the verdict.
#[derive(Debug)]
pub struct Verifier {
    origin: String,
    /// File by file (a mirror): no archive entries, no `MANIFEST.json` among the files.
    by_file: bool,
    files: Vec<FileEntry>,
    index: HashMap<String, usize>,
    carried: HashSet<String>,
    raw: Arc<Vec<u8>>,
    signature: Option<Arc<Vec<u8>>>,
    seen: Vec<bool>,
    open: Vec<bool>,
    manifest_seen: bool,
    signature_seen: bool,
    top_seen: bool,
    /// Paths (relative to `pigsty/`) of the entries met so far.
    entries: HashSet<String>,
    /// Folders made so far.
    dirs: HashSet<String>,
    /// The folders the listed files are in (and their parents): the only folders a bundle
    /// may have. The signature covers files only; a folder no file needs is content nobody
    /// signed (thousands of them would eat the node's inodes).
    implied: HashSet<String>,
    last: Option<String>,
    problems: Vec<Problem>,
    fatal: bool,
}

/// Whether an archive entry is a folder (else a plain file), and its mode: links, devices,
/// FIFOs and setuid, setgid or sticky bits are refused, with the reason.
fn kind_and_mode(e: &Entry) -> Result<(bool, u32), String> {
    let is_dir = match &e.entry_type {
        EntryType::File => false,
        EntryType::Dir => true,
        EntryType::Symlink => {
            return Err(format!(
                "symbolic link to `{}`; bundles hold no links",
                e.link
            ))
        }
        EntryType::HardLink => {
            return Err(format!("hard link to `{}`; bundles hold no links", e.link))
        }
        EntryType::CharDevice => return Err("character device".into()),
        EntryType::BlockDevice => return Err("block device".into()),
        EntryType::Fifo => return Err("FIFO".into()),
        EntryType::Other(t) => return Err(format!("unexpected entry type {t}")),
    };
    let mode = e
        .mode
        .clone()
        .map_err(|why| format!("bad mode field: {why}"))?;
    if mode & 0o7000 != 0 {
        let bits: Vec<&str> = [(0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky")]
            .iter()
            .filter(|(bit, _)| mode & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        return Err(format!(
            "{} bit (mode {:o})",
            bits.join(" and "),
            mode & 0o7777
        ));
    }
    Ok((is_dir, mode))
}

impl Verifier {
    /// A verifier of an archive whose manifest is `head` (signature checked by the caller);
    /// `origin` names the bundle in messages.
    pub fn new(head: &SignedManifest, origin: &str) -> Verifier {
        let m = head.manifest();
        Verifier {
            origin: origin.to_string(),
            by_file: false,
            files: m.files.clone(),
            index: m
                .files
                .iter()
                .enumerate()
                .map(|(i, f)| (f.path.clone(), i))
                .collect(),
            carried: m
                .base
                .iter()
                .flat_map(|b| b.carried.iter().cloned())
                .collect(),
            raw: Arc::new(head.raw().to_vec()),
            signature: head.signature().map(|s| Arc::new(s.to_vec())),
            seen: vec![false; m.files.len()],
            open: vec![false; m.files.len()],
            manifest_seen: false,
            signature_seen: false,
            top_seen: false,
            entries: HashSet::new(),
            dirs: HashSet::new(),
            implied: m.files.iter().flat_map(|f| parents(&f.path)).collect(),
            last: None,
            problems: Vec::new(),
            fatal: false,
        }
    }

    /// A verifier of a repo that comes file by file (only the listed files, each once).
    pub fn by_file(head: &SignedManifest, origin: &str) -> Verifier {
        let mut v = Verifier::new(head, origin);
        v.by_file = true;
        v.manifest_seen = true;
        v.signature_seen = true;
        v
    }

    pub fn manifest_files(&self) -> &[FileEntry] {
        &self.files
    }

    /// Records a problem. After [`MAX_PROBLEMS`] the verdict is clear: reading stops there
    /// (a hostile archive of millions of bad entries costs no more than its first ones).
    pub fn problem(&mut self, p: Problem) {
        if self.fatal {
            return;
        }
        self.fatal |= p.is_fatal();
        self.problems.push(p);
        if self.problems.len() >= MAX_PROBLEMS && !self.fatal {
            self.fatal = true;
            self.problems.push(Problem::TooMany {
                after: self.after_last(),
            });
        }
    }

    /// Whether reading must stop: the stream broke, or there are too many problems.
    pub fn stopped(&self) -> bool {
        self.fatal
    }

    pub fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The last entry met, for messages.
    pub fn last(&self) -> Option<&str> {
        self.last.as_deref()
    }

    /// Where the stream is, for messages: `after pigsty/x` or `at its start`.
    pub fn after_last(&self) -> String {
        match &self.last {
            Some(last) => format!("after {last}"),
            None => "at its start".into(),
        }
    }

    /// Judges one archive entry.
    pub fn entry(&mut self, e: &Entry) -> Result<Accepted, Problem> {
        let shown = escape(&e.path);
        self.last = Some(shown.clone());
        let bad = |reason: String| Problem::BadEntry {
            path: shown.clone(),
            reason,
        };
        let Ok(name) = std::str::from_utf8(&e.path) else {
            return Err(bad("path is not UTF-8".into()));
        };
        if name.starts_with('/') {
            return Err(bad("absolute path".into()));
        }
        if name.split('/').any(|c| c == "..") {
            return Err(bad("path escapes the bundle (`..` component)".into()));
        }
        let (is_dir, mode) = kind_and_mode(e).map_err(bad)?;
        let mtime = e.mtime.clone().map_err(|_| bad("bad mtime field".into()))?;
        let Some(rel) = relative(name) else {
            return Err(bad(format!("outside the top folder `{TOP}/`")));
        };
        if rel.is_empty() {
            if !is_dir {
                return Err(bad("the top folder is not a directory".into()));
            }
            if std::mem::replace(&mut self.top_seen, true) {
                return Err(Problem::Duplicate { path: shown });
            }
            return Ok(Accepted::Dir {
                rel: String::new(),
                mtime,
                create: Vec::new(),
            });
        }
        let rel = if is_dir {
            rel.strip_suffix('/').unwrap_or(rel)
        } else {
            rel
        };
        check_rel_path(rel).map_err(bad)?;
        if self.entries.contains(rel) {
            return Err(Problem::Duplicate { path: shown });
        }
        if is_dir {
            if !self.implied.contains(rel) {
                return Err(bad(
                    "a folder that holds none of the manifest's files (bundles hold only the listed files and their folders)".into(),
                ));
            }
            let create = self.new_dirs(rel, &shown)?;
            self.entries.insert(rel.to_string());
            return Ok(Accepted::Dir {
                rel: rel.to_string(),
                mtime,
                create,
            });
        }
        if self.dirs.contains(rel) {
            return Err(bad("a file where the bundle has a folder".into()));
        }
        let expect = self.expect(rel, &shown)?;
        if let Expect::Listed(i) = expect {
            // It came, whatever its bytes prove to be: not missing.
            self.seen[i] = true;
        }
        let check = self.check_for(rel, shown.clone(), expect);
        if check.size != e.size {
            return Err(match check.expect {
                Expect::Listed(_) => Problem::SizeMismatch {
                    path: shown,
                    expected: check.size,
                    found: e.size,
                },
                Expect::Exact(_) => Problem::NotSigned {
                    path: shown,
                    detail: format!("{} bytes, the signed one has {}", e.size, check.size),
                },
            });
        }
        self.entries.insert(rel.to_string());
        let create = match rel.rsplit_once('/') {
            Some((parent, _)) => self.new_dirs(parent, &shown)?,
            None => Vec::new(),
        };
        Ok(Accepted::File {
            check: Box::new(check),
            exec: mode & 0o111 != 0,
            mtime,
            create,
        })
    }

    /// What the file `rel` of an archive must be.
    fn expect(&mut self, rel: &str, shown: &str) -> Result<Expect, Problem> {
        if rel == MANIFEST_NAME {
            self.manifest_seen = true;
            return Ok(Expect::Exact(self.raw.clone()));
        }
        if rel == SIGNATURE_NAME {
            self.signature_seen = true;
            return match &self.signature {
                Some(sig) => Ok(Expect::Exact(sig.clone())),
                None => Err(Problem::NotSigned {
                    path: shown.to_string(),
                    detail: "the bundle has a signature but none was given".into(),
                }),
            };
        }
        match self.index.get(rel) {
            Some(&i) => Ok(Expect::Listed(i)),
            None => Err(Problem::Unlisted {
                path: shown.to_string(),
            }),
        }
    }

    fn check_for(&self, rel: &str, shown: String, expect: Expect) -> FileCheck {
        let (size, sha256) = match &expect {
            Expect::Listed(i) => (self.files[*i].size, Some(self.files[*i].sha256.clone())),
            Expect::Exact(bytes) => (bytes.len() as u64, None),
        };
        FileCheck {
            rel: rel.to_string(),
            shown,
            expect,
            size,
            sha256,
            hasher: Sha256::new(),
            done: 0,
            over: false,
            differs_at: None,
        }
    }

    /// The folders `rel` and its parents need that are not made yet, parents first; refused
    /// where one of them is a file.
    fn new_dirs(&mut self, rel: &str, shown: &str) -> Result<Vec<String>, Problem> {
        let mut create = Vec::new();
        let mut end = 0;
        while end < rel.len() {
            end = rel[end..].find('/').map_or(rel.len(), |i| end + i);
            let prefix = &rel[..end];
            end += 1;
            if self.dirs.contains(prefix) {
                continue;
            }
            if self.entries.contains(prefix) || (self.by_file && self.index.contains_key(prefix)) {
                return Err(Problem::BadEntry {
                    path: shown.to_string(),
                    reason: format!("`{TOP}/{prefix}` is a file, not a folder"),
                });
            }
            self.dirs.insert(prefix.to_string());
            create.push(prefix.to_string());
        }
        Ok(create)
    }

    /// File by file: starts the listed file `rel`; refused if it is not listed, or came
    /// already, or is coming now. Returns its check and the folders to make first.
    pub fn begin_file(&mut self, rel: &str) -> Result<(FileCheck, Vec<String>), Problem> {
        let shown = format!("{TOP}/{}", escape(rel.as_bytes()));
        let Some(&i) = self.index.get(rel) else {
            return Err(Problem::Unlisted { path: shown });
        };
        if self.seen[i] || self.open[i] {
            return Err(Problem::Duplicate { path: shown });
        }
        let create = match rel.rsplit_once('/') {
            Some((parent, _)) => self.new_dirs(parent, &shown)?,
            None => Vec::new(),
        };
        self.open[i] = true;
        Ok((self.check_for(rel, shown, Expect::Listed(i)), create))
    }

    /// File by file: a file that will not be finished (its transfer failed) may come again.
    pub fn abandon(&mut self, check: FileCheck) {
        if let Expect::Listed(i) = check.expect {
            self.open[i] = false;
        }
    }

    /// Ends a file: all its bytes came, with the right digest (or exactly the signed bytes).
    pub fn end_file(&mut self, check: FileCheck) -> Result<(), Problem> {
        if let Expect::Listed(i) = check.expect {
            self.open[i] = false;
        }
        if check.over {
            return Err(Problem::SizeMismatch {
                path: check.shown,
                expected: check.size,
                found: check.done,
            });
        }
        if check.done < check.size {
            if !self.by_file {
                return Err(Problem::Truncated {
                    detail: format!(
                        "{} stops after {} of its {} bytes",
                        check.shown, check.done, check.size
                    ),
                });
            }
            return Err(Problem::SizeMismatch {
                path: check.shown,
                expected: check.size,
                found: check.done,
            });
        }
        match check.expect {
            Expect::Exact(_) => match check.differs_at {
                None => Ok(()),
                Some(at) => Err(Problem::NotSigned {
                    path: check.shown,
                    detail: format!("first difference at byte {at}"),
                }),
            },
            Expect::Listed(i) => {
                let found = hex::encode(check.hasher.finalize());
                if Some(&found) != check.sha256.as_ref() {
                    return Err(Problem::Sha256Mismatch {
                        path: check.shown,
                        expected: check.sha256.unwrap_or_default(),
                        found,
                    });
                }
                self.seen[i] = true;
                Ok(())
            }
        }
    }

    /// How many listed files came, checked.
    pub fn received(&self) -> usize {
        self.seen.iter().filter(|s| **s).count()
    }

    /// Whether the listed file `rel` came, checked.
    pub fn has(&self, rel: &str) -> bool {
        self.index.get(rel).is_some_and(|&i| self.seen[i])
    }

    /// After the last entry: every listed file must have come (a delta's carried files
    /// aside), and the signed manifest and signature. Nothing is added after a broken stream.
    pub fn finish(&mut self) {
        if self.fatal {
            return;
        }
        let missing: Vec<Problem> = self
            .files
            .iter()
            .zip(&self.seen)
            .filter(|(f, seen)| !**seen && !self.carried.contains(&f.path))
            .map(|(f, _)| Problem::Missing {
                path: format!("{TOP}/{}", escape(f.path.as_bytes())),
            })
            .collect();
        if !self.manifest_seen {
            self.problems.push(Problem::NotSigned {
                path: format!("{TOP}/{MANIFEST_NAME}"),
                detail: "it is not in the archive".into(),
            });
        }
        if self.signature.is_some() && !self.signature_seen {
            self.problems.push(Problem::NotSigned {
                path: format!("{TOP}/{SIGNATURE_NAME}"),
                detail: "it is not in the archive".into(),
            });
        }
        self.problems.extend(missing);
    }

    /// The verdict: every problem found, or none.
    pub fn into_result(self) -> Result<(), BundleError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(BundleError::Verify {
                origin: self.origin,
                received: self.by_file,
                problems: self.problems,
            })
        }
    }
}

/// The folders a relative path is in, outermost first: `a/b/c` gives `a`, `a/b`.
fn parents(path: &str) -> impl Iterator<Item = String> + '_ {
    path.match_indices('/').map(|(i, _)| path[..i].to_string())
}

/// An entry's path relative to `pigsty/`: `Some("")` for the top folder itself, `None`
/// outside it.
pub(crate) fn relative(name: &str) -> Option<&str> {
    let name = name.strip_prefix("./").unwrap_or(name);
    match name.strip_prefix(TOP)? {
        "" | "/" => Some(""),
        rest => rest.strip_prefix('/'),
    }
}

/// Checks a bundle fully against `head`, the manifest whose signature the caller checked
/// (read from the bundle's head by [`read_signed_manifest`]): every entry as the module
/// documentation says, the stream to its end. Returns every problem found.
pub fn verify_signed(bundle: &Path, head: &SignedManifest) -> Result<(), BundleError> {
    let mut v = Verifier::new(head, &bundle.display().to_string());
    walk(bundle, &mut v, &mut Discard)?;
    v.finish();
    v.into_result()
}

/// Reads a bundle's manifest and checks the bundle against it ([`verify_signed`]), without
/// looking at any signature. Returns the manifest.
pub fn verify_bundle(bundle: &Path) -> Result<Manifest, BundleError> {
    let head = read_signed_manifest(bundle)?;
    verify_signed(bundle, &head)?;
    Ok(head.manifest().clone())
}
