//! One rpm's headers turned into what its repodata entries say, by createrepo_c 0.17.3's rules
//! (`cr_package_from_header`, checked against the real tool by the tests):
//!
//! - `arch` is `src` for source packages; a package with neither `SOURCERPM` nor
//!   `SOURCEPACKAGE` gets librpm's retrofit (source if its only directory name is empty,
//!   else `sourcerpm` `(none)`).
//! - Files: all of them in filelists, type `dir` for directories (even ghost ones), else
//!   `ghost` for `%ghost`; primary keeps only [`is_primary`] ones.
//! - Requires drop `rpmlib(...)`, the package's own primary files, entries spelled exactly
//!   like one of its provides, and exact duplicates; `pre="1"` for `PREREQ`, `%pre` and `%post`
//!   requires; of the `libc.so.6...` requires only the highest glibc version stays, moved
//!   last; `MISSINGOK` requires (old-style weak deps) become recommends, and the old
//!   suggests / enhances tags go to recommends / suggests / supplements / enhances by their
//!   `STRONG` flag.
//! - A dependency whose version has a non-numeric epoch (`x:1.0`) is left out, as
//!   createrepo_c does (with a warning there).
//! - Changelogs: the newest [`CHANGELOG_LIMIT`], oldest first, entries with the same time
//!   made one second apart; authors lose trailing spaces.

use std::collections::{HashMap, HashSet};

use super::header::{tag, HeaderError, RpmHeaders};

/// createrepo_c's default `--changelog-limit`.
pub const CHANGELOG_LIMIT: usize = 10;

/// Which createrepo_c the metadata follows where its versions differ: which requirements are
/// `pre="1"` (libsolv orders a `pre` requirement's provider before the package).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// createrepo_c before 1.0, EL8's and EL9's own: `Requires(pre)`, `Requires(post)` and
    /// the legacy PreReq.
    #[default]
    Legacy,
    /// createrepo_c 1.0 and later, EL10's (and Fedora's): `Requires(pretrans)` and
    /// `Requires(posttrans)` as well.
    Current,
}

impl Dialect {
    /// The dialect of the createrepo_c an EL release ships.
    pub fn for_release(release: u32) -> Dialect {
        if release >= 10 {
            Dialect::Current
        } else {
            Dialect::Legacy
        }
    }

    fn pre_mask(self) -> u64 {
        let legacy = SENSE_PREREQ | SENSE_SCRIPT_PRE | SENSE_SCRIPT_POST;
        match self {
            Dialect::Legacy => legacy,
            Dialect::Current => legacy | SENSE_PRETRANS | SENSE_POSTTRANS,
        }
    }
}

// Dependency flag bits (rpmds.h).
const SENSE_LESS: u64 = 1 << 1;
const SENSE_GREATER: u64 = 1 << 2;
const SENSE_EQUAL: u64 = 1 << 3;
const SENSE_POSTTRANS: u64 = 1 << 5;
const SENSE_PREREQ: u64 = 1 << 6;
const SENSE_PRETRANS: u64 = 1 << 7;
const SENSE_SCRIPT_PRE: u64 = 1 << 9;
const SENSE_SCRIPT_POST: u64 = 1 << 10;
const SENSE_MISSINGOK: u64 = 1 << 19;
const SENSE_STRONG: u64 = 1 << 27;
/// `%ghost` in `FILEFLAGS`.
const FILE_GHOST: u64 = 1 << 6;
const MODE_TYPE: u64 = 0o170000;
const MODE_DIR: u64 = 0o040000;

/// What a `<file>` entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    File,
    Dir,
    Ghost,
}

/// One file of the package: directory name (with its trailing `/`) and base name.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PkgFile<'h> {
    pub dir: &'h [u8],
    pub base: &'h [u8],
    pub kind: FileKind,
}

impl PkgFile<'_> {
    fn is(&self, path: &[u8]) -> bool {
        path.len() == self.dir.len() + self.base.len()
            && path.starts_with(self.dir)
            && path.ends_with(self.base)
    }
}

/// One `rpm:entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dep<'h> {
    pub name: &'h [u8],
    /// `EQ`, `LT`, ...; `None` for no (or a nonsensical) comparison.
    pub flags: Option<&'static str>,
    pub epoch: Option<&'h [u8]>,
    pub version: Option<&'h [u8]>,
    pub release: Option<&'h [u8]>,
    pub pre: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Changelog<'h> {
    pub author: &'h [u8],
    pub date: u64,
    pub text: &'h [u8],
}

/// What the three metadata files say about one package, borrowed from its headers. Strings
/// are raw header bytes (absent tags are empty); the XML writer converts them.
#[derive(Debug, Default)]
pub(crate) struct Package<'h> {
    pub name: &'h [u8],
    pub arch: &'h [u8],
    pub epoch: u64,
    pub version: &'h [u8],
    pub release: &'h [u8],
    pub summary: &'h [u8],
    pub description: &'h [u8],
    pub packager: &'h [u8],
    pub url: &'h [u8],
    pub license: &'h [u8],
    pub vendor: &'h [u8],
    pub group: &'h [u8],
    pub buildhost: &'h [u8],
    pub sourcerpm: &'h [u8],
    pub build_time: u64,
    pub installed_size: u64,
    pub archive_size: u64,
    pub header_start: u64,
    pub header_end: u64,
    pub files: Vec<PkgFile<'h>>,
    pub provides: Vec<Dep<'h>>,
    pub requires: Vec<Dep<'h>>,
    pub conflicts: Vec<Dep<'h>>,
    pub obsoletes: Vec<Dep<'h>>,
    pub suggests: Vec<Dep<'h>>,
    pub enhances: Vec<Dep<'h>>,
    pub recommends: Vec<Dep<'h>>,
    pub supplements: Vec<Dep<'h>>,
    pub changelogs: Vec<Changelog<'h>>,
}

/// Whether a file is listed in primary.xml too: createrepo_c's (and yum's) rule.
pub(crate) fn is_primary(path: &[u8]) -> bool {
    path.starts_with(b"/etc/") || path == b"/usr/lib/sendmail" || contains(path, b"bin/")
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The comparison of a dependency flag word, as createrepo_c names it.
fn flag_str(flags: u64) -> Option<&'static str> {
    match flags & 0xf {
        f if f == SENSE_LESS => Some("LT"),
        f if f == SENSE_GREATER => Some("GT"),
        f if f == SENSE_EQUAL => Some("EQ"),
        f if f == SENSE_LESS | SENSE_EQUAL => Some("LE"),
        f if f == SENSE_GREATER | SENSE_EQUAL => Some("GE"),
        _ => None,
    }
}

/// Where C's `strtol(s, &end, 10)` stops: after optional white space, a sign and digits; at 0
/// when there are no digits.
fn strtol_end(s: &[u8]) -> usize {
    let mut i = s
        .iter()
        .take_while(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .count();
    if matches!(s.get(i), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = s[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        0
    } else {
        i + digits
    }
}

/// A dependency's `[epoch:]version[-release]` split like createrepo_c's `cr_str_to_evr`:
/// (epoch, version, release), or `None` when the epoch is not a number.
#[allow(clippy::type_complexity)]
fn split_evr(s: &[u8]) -> Option<(Option<&[u8]>, Option<&[u8]>, Option<&[u8]>)> {
    if s.is_empty() {
        return Some((None, None, None));
    }
    let (epoch, rest) = match s.iter().position(|&b| b == b':') {
        Some(colon) => {
            if strtol_end(s) != colon {
                return None;
            }
            let epoch = if colon > 0 { &s[..colon] } else { &b"0"[..] };
            (epoch, &s[colon + 1..])
        }
        None => (&b"0"[..], s),
    };
    let (version, release) = match rest.iter().position(|&b| b == b'-') {
        Some(dash) => {
            let release = &rest[dash + 1..];
            (&rest[..dash], (!release.is_empty()).then_some(release))
        }
        None => (rest, None),
    };
    Some((Some(epoch), Some(version), release))
}

/// rpm's version comparison (`rpmvercmp`), for the `libc.so.6(GLIBC_x)` choice only.
fn rpmvercmp(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    if a == b {
        return Equal;
    }
    let sep = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    let (mut a, mut b) = (a, b);
    loop {
        while a.first().is_some_and(sep) {
            a = &a[1..];
        }
        while b.first().is_some_and(sep) {
            b = &b[1..];
        }
        // `~` sorts before everything, even the end.
        match (a.first() == Some(&b'~'), b.first() == Some(&b'~')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return Less,
            (false, true) => return Greater,
            _ => {}
        }
        // `^` sorts after the end, before anything else.
        match (a.first() == Some(&b'^'), b.first() == Some(&b'^')) {
            (true, true) => {
                a = &a[1..];
                b = &b[1..];
                continue;
            }
            (true, false) => return if b.is_empty() { Greater } else { Less },
            (false, true) => return if a.is_empty() { Less } else { Greater },
            _ => {}
        }
        if a.is_empty() || b.is_empty() {
            break;
        }
        let numeric = a[0].is_ascii_digit();
        let seg = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (la, lb) = (seg(a), seg(b));
        if lb == 0 {
            // Numbers are newer than letters.
            return if numeric { Greater } else { Less };
        }
        let (sa, sb) = (&a[..la], &b[..lb]);
        a = &a[la..];
        b = &b[lb..];
        let ord = if numeric {
            let trim = |s: &[u8]| {
                let z = s.iter().take_while(|&&c| c == b'0').count();
                s[z..].to_vec()
            };
            let (ta, tb) = (trim(sa), trim(sb));
            ta.len().cmp(&tb.len()).then_with(|| ta.cmp(&tb))
        } else {
            sa.cmp(sb)
        };
        if ord != Equal {
            return ord;
        }
    }
    match (a.is_empty(), b.is_empty()) {
        (true, true) => Equal,
        (true, false) => Less,
        _ => Greater,
    }
}

/// createrepo_c's `cr_compare_dependency(kept, new) == 2` for two `libc.so.6...` names: true
/// when `new` has the higher glibc version and replaces `kept`.
fn libc_higher(kept: &[u8], new: &[u8]) -> bool {
    // How far a name gets through the checks (no `(`, no `)`, empty parentheses, no digit
    // inside them), or its version: from the first digit after `(` up to the `)`.
    fn stage(s: &[u8]) -> Result<&[u8], u8> {
        let open = s.iter().position(|&b| b == b'(').ok_or(1u8)?;
        let close = open + s[open..].iter().position(|&b| b == b')').ok_or(2u8)?;
        let inner = &s[open + 1..close];
        if inner.is_empty() {
            return Err(3);
        }
        let digit = inner.iter().position(u8::is_ascii_digit).ok_or(4u8)?;
        Ok(&inner[digit..])
    }
    match (stage(kept), stage(new)) {
        (Ok(k), Ok(n)) => rpmvercmp(k, n) == std::cmp::Ordering::Less,
        // The name failing a check first loses; failing the same one is a tie.
        (Err(k), Err(n)) => k < n,
        (Err(_), Ok(_)) => true,
        (Ok(_), Err(_)) => false,
    }
}

/// What createrepo_c remembers of a kept require: (flags, version, pre).
type Required<'h> = (Option<&'static str>, &'h [u8], bool);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DepKind {
    Provides,
    Conflicts,
    Obsoletes,
    Requires,
    Suggests,
    Enhances,
    Recommends,
    Supplements,
    OldSuggests,
    OldEnhances,
}

/// The dependency tags in the order createrepo_c reads them (provides before requires:
/// requires spelled like a provide are dropped).
const DEP_TAGS: [(DepKind, u32, u32, u32); 10] = [
    (
        DepKind::Provides,
        tag::PROVIDENAME,
        tag::PROVIDEFLAGS,
        tag::PROVIDEVERSION,
    ),
    (
        DepKind::Conflicts,
        tag::CONFLICTNAME,
        tag::CONFLICTFLAGS,
        tag::CONFLICTVERSION,
    ),
    (
        DepKind::Obsoletes,
        tag::OBSOLETENAME,
        tag::OBSOLETEFLAGS,
        tag::OBSOLETEVERSION,
    ),
    (
        DepKind::Requires,
        tag::REQUIRENAME,
        tag::REQUIREFLAGS,
        tag::REQUIREVERSION,
    ),
    (
        DepKind::Suggests,
        tag::SUGGESTNAME,
        tag::SUGGESTFLAGS,
        tag::SUGGESTVERSION,
    ),
    (
        DepKind::Enhances,
        tag::ENHANCENAME,
        tag::ENHANCEFLAGS,
        tag::ENHANCEVERSION,
    ),
    (
        DepKind::Recommends,
        tag::RECOMMENDNAME,
        tag::RECOMMENDFLAGS,
        tag::RECOMMENDVERSION,
    ),
    (
        DepKind::Supplements,
        tag::SUPPLEMENTNAME,
        tag::SUPPLEMENTFLAGS,
        tag::SUPPLEMENTVERSION,
    ),
    (
        DepKind::OldSuggests,
        tag::OLDSUGGESTSNAME,
        tag::OLDSUGGESTSFLAGS,
        tag::OLDSUGGESTSVERSION,
    ),
    (
        DepKind::OldEnhances,
        tag::OLDENHANCESNAME,
        tag::OLDENHANCESFLAGS,
        tag::OLDENHANCESVERSION,
    ),
];

impl<'h> Package<'h> {
    /// The package as its headers describe it, its requirements marked as `dialect` does.
    pub fn from_headers(h: &'h RpmHeaders, dialect: Dialect) -> Result<Package<'h>, HeaderError> {
        let m = &h.main;
        let s = |t| m.string(t).map(Option::unwrap_or_default);
        let mut p = Package {
            name: s(tag::NAME)?,
            arch: s(tag::ARCH)?,
            epoch: m.number(tag::EPOCH)?.unwrap_or(0),
            version: s(tag::VERSION)?,
            release: s(tag::RELEASE)?,
            summary: s(tag::SUMMARY)?,
            description: s(tag::DESCRIPTION)?,
            packager: s(tag::PACKAGER)?,
            url: s(tag::URL)?,
            license: s(tag::LICENSE)?,
            vendor: s(tag::VENDOR)?,
            group: s(tag::GROUP)?,
            buildhost: s(tag::BUILDHOST)?,
            sourcerpm: s(tag::SOURCERPM)?,
            build_time: m.number(tag::BUILDTIME)?.unwrap_or(0),
            installed_size: match m.number(tag::LONGSIZE)? {
                Some(n) => n,
                None => m.number(tag::SIZE)?.unwrap_or(0),
            },
            archive_size: archive_size(h)?,
            header_start: h.start,
            header_end: h.end,
            ..Package::default()
        };
        let dirnames = m.strings(tag::DIRNAMES)?;
        // librpm's retrofit when a package says neither what it is built from nor that it
        // is a source package.
        let mut source = m.number(tag::SOURCEPACKAGE)?.unwrap_or(0) != 0;
        if !m.has(tag::SOURCERPM) && !m.has(tag::SOURCEPACKAGE) {
            match dirnames.as_deref() {
                Some([b""]) => source = true,
                _ => p.sourcerpm = b"(none)",
            }
        }
        if source {
            p.arch = b"src";
        }
        // What rpm itself will not take (no name, version, release or arch) is no package:
        // its metadata would not read back (found by the fuzz target `rpm_header`), nor
        // would one whose field is nothing once written as XML text (blanks, or bytes the
        // Latin-1 conversion drops).
        for (field, value) in [
            ("NAME", p.name),
            ("VERSION", p.version),
            ("RELEASE", p.release),
            ("ARCH", p.arch),
        ] {
            if super::xml::utf8(value).trim().is_empty() {
                return Err(HeaderError::Corrupt(format!("header (no {field})")));
            }
        }
        p.files = files(h, dirnames.as_deref())?;
        p.read_deps(h, dialect)?;
        p.changelogs = changelogs(h)?;
        Ok(p)
    }

    fn read_deps(&mut self, h: &'h RpmHeaders, dialect: Dialect) -> Result<(), HeaderError> {
        let m = &h.main;
        // Provides as `name + flags + version`, the key createrepo_c matches requires with.
        let mut provided: HashSet<Vec<u8>> = HashSet::new();
        // Requires kept so far, by name: (flags, version, pre) of the last one.
        let mut required: HashMap<&[u8], Required> = HashMap::new();
        for (kind, name_tag, flags_tag, version_tag) in DEP_TAGS {
            let (Some(names), Some(flags), Some(versions)) = (
                m.strings(name_tag)?,
                m.numbers(flags_tag)?,
                m.strings(version_tag)?,
            ) else {
                continue;
            };
            let mut libc: Option<Dep<'h>> = None;
            for ((&name, &num_flags), &full_version) in names.iter().zip(&flags).zip(&versions) {
                // A dependency on nothing: written, it is `name=""`, which no reader takes
                // (found by the fuzz target `rpm_header`).
                if super::xml::utf8(name).trim().is_empty() {
                    return Err(HeaderError::Corrupt(format!(
                        "header (a dependency with no name among its {})",
                        format!("{kind:?}").to_lowercase()
                    )));
                }
                let flags = flag_str(num_flags);
                let nfv = [name, flags.unwrap_or("").as_bytes(), full_version].concat();
                let mut pre = false;
                if kind == DepKind::Requires {
                    if name.starts_with(b"rpmlib(") {
                        continue;
                    }
                    if name.first() == Some(&b'/')
                        && is_primary(name)
                        && self.files.iter().any(|f| f.is(name))
                    {
                        continue;
                    }
                    if provided.contains(&nfv) {
                        continue;
                    }
                    pre = num_flags & dialect.pre_mask() != 0;
                    if required.get(name) == Some(&(flags, full_version, pre)) {
                        continue;
                    }
                }
                let Some((epoch, version, release)) = split_evr(full_version) else {
                    continue;
                };
                let mut dep = Dep {
                    name,
                    flags,
                    epoch,
                    version,
                    release,
                    pre: false,
                };
                match kind {
                    DepKind::Provides => {
                        provided.insert(nfv);
                        self.provides.push(dep);
                    }
                    DepKind::Conflicts => self.conflicts.push(dep),
                    DepKind::Obsoletes => self.obsoletes.push(dep),
                    DepKind::Requires => {
                        if num_flags & SENSE_MISSINGOK != 0 {
                            self.recommends.push(dep);
                            continue;
                        }
                        dep.pre = pre;
                        if name.starts_with(b"libc.so.6") {
                            match &libc {
                                Some(kept) if !libc_higher(kept.name, name) => {}
                                _ => libc = Some(dep),
                            }
                            continue;
                        }
                        self.requires.push(dep);
                        required.insert(name, (flags, full_version, pre));
                    }
                    DepKind::Suggests => self.suggests.push(dep),
                    DepKind::Enhances => self.enhances.push(dep),
                    DepKind::Recommends => self.recommends.push(dep),
                    DepKind::Supplements => self.supplements.push(dep),
                    DepKind::OldSuggests if num_flags & SENSE_STRONG != 0 => {
                        self.recommends.push(dep)
                    }
                    DepKind::OldSuggests => self.suggests.push(dep),
                    DepKind::OldEnhances if num_flags & SENSE_STRONG != 0 => {
                        self.supplements.push(dep)
                    }
                    DepKind::OldEnhances => self.enhances.push(dep),
                }
            }
            if let Some(dep) = libc {
                self.requires.push(dep);
            }
        }
        Ok(())
    }

    /// The first field holding an ASCII control character other than tab, newline and
    /// carriage return, which XML 1.0 cannot carry (createrepo_c leaves such packages out).
    /// Changelog entries with one are left out when they are read (see `changelogs`).
    pub fn control_char_field(&self, location: &str) -> Option<&'static str> {
        let bad = forbidden_control;
        let fields: [(&'static str, &[u8]); 14] = [
            ("name", self.name),
            ("arch", self.arch),
            ("version", self.version),
            ("release", self.release),
            ("summary", self.summary),
            ("description", self.description),
            ("url", self.url),
            ("license", self.license),
            ("vendor", self.vendor),
            ("group", self.group),
            ("buildhost", self.buildhost),
            ("sourcerpm", self.sourcerpm),
            ("packager", self.packager),
            ("location", location.as_bytes()),
        ];
        if let Some((field, _)) = fields.iter().find(|(_, s)| bad(s)) {
            return Some(field);
        }
        for (field, deps) in [
            ("provides", &self.provides),
            ("requires", &self.requires),
            ("conflicts", &self.conflicts),
            ("obsoletes", &self.obsoletes),
            ("suggests", &self.suggests),
            ("enhances", &self.enhances),
            ("recommends", &self.recommends),
            ("supplements", &self.supplements),
        ] {
            let dep_bad = |d: &Dep| {
                bad(d.name)
                    || [d.epoch, d.version, d.release]
                        .iter()
                        .any(|s| s.is_some_and(bad))
            };
            if deps.iter().any(dep_bad) {
                return Some(field);
            }
        }
        if self.files.iter().any(|f| bad(f.dir) || bad(f.base)) {
            return Some("file list");
        }
        if self.changelogs.iter().any(|c| bad(c.author) || bad(c.text)) {
            return Some("changelog");
        }
        None
    }
}

/// Whether `s` holds an ASCII control character other than tab, newline and carriage return:
/// what XML 1.0 cannot carry and createrepo_c refuses.
fn forbidden_control(s: &[u8]) -> bool {
    s.iter()
        .any(|&b| b < 32 && !matches!(b, b'\t' | b'\n' | b'\r'))
}

/// The uncompressed payload size as librpm reports `LONGARCHIVESIZE` after merging the
/// signature header into the main one: the 64-bit tag, else the 32-bit one.
fn archive_size(h: &RpmHeaders) -> Result<u64, HeaderError> {
    for (header, t) in [
        (&h.main, tag::LONGARCHIVESIZE),
        (&h.signature, tag::LONGARCHIVESIZE),
        (&h.main, tag::ARCHIVESIZE),
        (&h.signature, tag::SIG_PAYLOADSIZE),
    ] {
        if let Some(n) = header.number(t)? {
            return Ok(n);
        }
    }
    Ok(0)
}

fn files<'h>(
    h: &'h RpmHeaders,
    dirnames: Option<&[&'h [u8]]>,
) -> Result<Vec<PkgFile<'h>>, HeaderError> {
    let m = &h.main;
    let (Some(flags), Some(modes)) = (m.numbers(tag::FILEFLAGS)?, m.numbers(tag::FILEMODES)?)
    else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    if let Some(bases) = m.strings(tag::BASENAMES)? {
        let (Some(dirs), Some(indexes)) = (dirnames, m.numbers(tag::DIRINDEXES)?) else {
            return Ok(out);
        };
        out.reserve(bases.len());
        for (((&base, &index), &fl), &mode) in bases.iter().zip(&indexes).zip(&flags).zip(&modes) {
            let dir = dirs.get(index as usize).copied().ok_or_else(|| {
                HeaderError::Corrupt(format!(
                    "header (file {} in directory {index} of {})",
                    String::from_utf8_lossy(base),
                    dirs.len()
                ))
            })?;
            out.push(file(dir, base, fl, mode));
        }
    } else if let Some(paths) = m.strings(tag::OLDFILENAMES)? {
        // Pre-rpm-4 packages list full paths; librpm splits them into directory and base.
        for ((path, &fl), &mode) in paths.into_iter().zip(&flags).zip(&modes) {
            let cut = path.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
            out.push(file(&path[..cut], &path[cut..], fl, mode));
        }
    }
    Ok(out)
}

fn file<'h>(dir: &'h [u8], base: &'h [u8], flags: u64, mode: u64) -> PkgFile<'h> {
    let kind = if mode & MODE_TYPE == MODE_DIR {
        FileKind::Dir
    } else if flags & FILE_GHOST != 0 {
        FileKind::Ghost
    } else {
        FileKind::File
    };
    PkgFile { dir, base, kind }
}

fn changelogs(h: &RpmHeaders) -> Result<Vec<Changelog<'_>>, HeaderError> {
    let m = &h.main;
    let (Some(times), Some(names), Some(texts)) = (
        m.numbers(tag::CHANGELOGTIME)?,
        m.strings(tag::CHANGELOGNAME)?,
        m.strings(tag::CHANGELOGTEXT)?,
    ) else {
        return Ok(Vec::new());
    };
    // The header lists the newest first; the metadata the other way round.
    let mut out: Vec<Changelog> = Vec::new();
    let mut last_time = 0;
    // An entry with a control character XML cannot carry is left out, as createrepo_c leaves
    // it out with a changelog limit below it (openSUSE's repos hold such packages; dnf
    // installs them: changelogs are for reading only). Any other field with one still fails.
    let entries = times
        .iter()
        .zip(&names)
        .zip(&texts)
        .filter(|((_, &author), &text)| !forbidden_control(author) && !forbidden_control(text))
        .take(CHANGELOG_LIMIT);
    for ((&date, &author), &text) in entries {
        let mut author = author;
        while author.len() > 1 && author.ends_with(b" ") {
            author = &author[..author.len() - 1];
        }
        out.push(Changelog { author, date, text });
        // Entries of the same time: the ones read before (newer) move up a second each.
        if date == last_time {
            for (t, prev) in (date..).zip(out.iter_mut().rev().skip(1)) {
                if prev.date != t {
                    break;
                }
                prev.date += 1;
            }
        } else {
            last_time = date;
        }
    }
    out.reverse();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering::*;

    #[test]
    fn evr_like_createrepo_c() {
        let s = |v: &str| {
            split_evr(v.as_bytes()).map(|(e, v, r)| {
                let f = |x: Option<&[u8]>| x.map(|x| String::from_utf8_lossy(x).into_owned());
                (f(e), f(v), f(r))
            })
        };
        let t = |e: &str, v: &str, r: Option<&str>| {
            Some((Some(e.into()), Some(v.into()), r.map(Into::into)))
        };
        assert_eq!(s(""), Some((None, None, None)));
        assert_eq!(s("1.0"), t("0", "1.0", None));
        assert_eq!(s("2:1.0-3.el9"), t("2", "1.0", Some("3.el9")));
        assert_eq!(s("1.0-1-2"), t("0", "1.0", Some("1-2")));
        assert_eq!(s("2:"), t("2", "", None));
        assert_eq!(s(":1.0"), t("0", "1.0", None));
        assert_eq!(s(" 7:1.0"), t(" 7", "1.0", None));
        assert_eq!(s("-1:1.0-"), t("-1", "1.0", None));
        assert_eq!(s("x:1.0"), None);
        assert_eq!(s("1x:1.0"), None);
    }

    #[test]
    fn flags_and_primary_files() {
        assert_eq!(flag_str(8), Some("EQ"));
        assert_eq!(flag_str(12 | SENSE_PREREQ), Some("GE"));
        assert_eq!(flag_str(10), Some("LE"));
        assert_eq!(flag_str(6), None);
        assert_eq!(flag_str(0), None);
        assert!(is_primary(b"/etc/x"));
        assert!(is_primary(b"/opt/sbin/x"));
        assert!(is_primary(b"/usr/lib/sendmail"));
        assert!(!is_primary(b"/usr/lib/sendmail2"));
        assert!(!is_primary(b"/etc"));
        assert!(!is_primary(b"/usr/lib/x.so"));
    }

    #[test]
    fn vercmp() {
        let c = |a: &str, b: &str| rpmvercmp(a.as_bytes(), b.as_bytes());
        assert_eq!(c("2.34", "2.4"), Greater);
        assert_eq!(c("2.2.5", "2.3"), Less);
        assert_eq!(c("1.0", "1.0"), Equal);
        assert_eq!(c("1.0~rc1", "1.0"), Less);
        assert_eq!(c("1.0^git1", "1.0"), Greater);
        assert_eq!(c("1.0^git1", "1.0.1"), Less);
        assert_eq!(c("1a", "1.1"), Less);
        assert_eq!(c("001", "1"), Equal);
        assert!(libc_higher(
            b"libc.so.6(GLIBC_2.4)(64bit)",
            b"libc.so.6(GLIBC_2.34)(64bit)"
        ));
        assert!(!libc_higher(
            b"libc.so.6(GLIBC_2.34)(64bit)",
            b"libc.so.6(GLIBC_2.4)(64bit)"
        ));
        assert!(libc_higher(
            b"libc.so.6()(64bit)",
            b"libc.so.6(GLIBC_2.2.5)"
        ));
        assert!(!libc_higher(
            b"libc.so.6(GLIBC_2.2.5)",
            b"libc.so.6()(64bit)"
        ));
        assert!(libc_higher(b"libc.so.6", b"libc.so.6(GLIBC_2.2.5)"));
    }
}
