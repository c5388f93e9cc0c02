//! Upstream rpm repositories: fetch `repodata/repomd.xml`, check its detached signature
//! (`repomd.xml.asc`) with the keyring the manifest names, fetch `primary.xml` and check it
//! against the size and checksum `repomd.xml` gives, and keep the packages of the target arch
//! and `noarch` that the repository's `excludepkgs` do not hide. `filelists.xml` is fetched
//! only when the closure asks for it ([`DnfIndex::load_filelists`]).
//!
//! Repository options, as dnf applies them:
//! - `priority` (default [`DEFAULT_PRIORITY`], 99): lower wins; see [`super::closure`].
//! - `excludepkgs`: fnmatch(3) globs (`*`, `?`, `[...]`), several per entry separated by
//!   commas or spaces. As dnf does, a glob hides a package when it matches its name or one of
//!   its NEVRA forms: `name.arch`, `name-version`, `name-version-release`,
//!   `name-version-release.arch`, and the same with `epoch:` before the version.
//! - `module_hotfixes`: recorded only. dnf hides packages that belong to a module stream
//!   not enabled unless the repository sets `module_hotfixes=true`; this resolver never reads
//!   modular metadata and never filters by modules, so every repository behaves as if
//!   `module_hotfixes` were set.
//! - `$releasever` / `$basearch` in the URL are expanded by [`crate::mirrors`] before a
//!   [`DnfSource`] is made.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use pigsty_bundle::sign::PublicKeyring;
use sha2::Digest;

use super::chunks::{self, parse_chunks};
use super::filelists::{read_filelists, OwnedFile};
use super::primary::{decompress, PrimaryReader, RpmPackage};
use super::repomd::{Repomd, RepomdData};
use crate::distro::RepoDef;
use crate::fetch::{FetchError, FetchItem, Fetcher};
pub use crate::upstream::UpstreamError;

/// The upstream error of a dnf repository: the family-neutral [`UpstreamError`].
pub type DnfUpstreamError = UpstreamError;

/// dnf's priority of a repository that does not set one.
pub const DEFAULT_PRIORITY: u32 = 99;

/// One rpm repository, its URL expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnfSource {
    pub name: String,
    /// The repository root (where `repodata/` is), without a trailing `/`.
    pub baseurl: String,
    /// Lower wins.
    pub priority: u32,
    /// dnf `excludepkgs` globs; see the module documentation.
    pub excludepkgs: Vec<String>,
    /// Recorded only; see the module documentation.
    pub module_hotfixes: bool,
}

impl DnfSource {
    /// A repository with dnf's defaults: priority 99, nothing excluded.
    pub fn new(name: impl Into<String>, baseurl: impl Into<String>) -> DnfSource {
        DnfSource {
            name: name.into(),
            baseurl: baseurl.into().trim_end_matches('/').to_string(),
            priority: DEFAULT_PRIORITY,
            excludepkgs: Vec::new(),
            module_hotfixes: false,
        }
    }

    /// The source for a manifest repository whose URL `baseurl` is already expanded
    /// ([`crate::mirrors::Mirrors::expand`]).
    pub fn from_repo_def(def: &RepoDef, baseurl: &str) -> DnfSource {
        DnfSource {
            priority: def.priority.unwrap_or(DEFAULT_PRIORITY),
            excludepkgs: def.excludepkgs.clone(),
            module_hotfixes: def.module_hotfixes,
            ..DnfSource::new(&def.name, baseurl)
        }
    }

    /// The URL of a path relative to the repository root (`repodata/repomd.xml`).
    pub fn url(&self, href: &str) -> String {
        format!("{}/{}", self.baseurl, href.trim_start_matches('/'))
    }

    /// Whether `excludepkgs` hides the package.
    pub fn is_excluded(&self, pkg: &RpmPackage) -> bool {
        if self.excludepkgs.is_empty() {
            return false;
        }
        let evr = &pkg.evr;
        let (n, v, r, a) = (&pkg.name, &evr.version, &evr.release, &pkg.arch);
        let mut forms = vec![
            n.clone(),
            format!("{n}.{a}"),
            format!("{n}-{v}"),
            format!("{n}-{v}-{r}"),
            format!("{n}-{v}-{r}.{a}"),
        ];
        if evr.epoch != 0 {
            let e = evr.epoch;
            forms.extend([
                format!("{n}-{e}:{v}"),
                format!("{n}-{e}:{v}-{r}"),
                format!("{n}-{e}:{v}-{r}.{a}"),
            ]);
        }
        self.excludepkgs
            .iter()
            .flat_map(|e| e.split(|c: char| c == ',' || c.is_whitespace()))
            .filter(|g| !g.is_empty())
            .any(|g| forms.iter().any(|f| fnmatch(g, f)))
    }
}

/// The packages of one upstream repository, ready for the closure.
#[derive(Debug, Clone)]
pub struct DnfIndex {
    pub source: DnfSource,
    /// Fingerprint of the key that signed `repomd.xml` (None when insecure).
    pub signed_by: Option<String>,
    pub repomd: Repomd,
    /// Packages of the target arch and `noarch` not hidden by `excludepkgs`.
    pub packages: Vec<RpmPackage>,
    /// Packages hidden by `excludepkgs` (of the target arch and `noarch`), for messages.
    pub excluded: Vec<RpmPackage>,
}

impl DnfIndex {
    /// An index from packages already read: keeps those of `arch` and `noarch`, applies
    /// `excludepkgs`. For tests and benchmarks; [`load`] does the same with fetched metadata.
    pub fn from_packages(
        source: DnfSource,
        packages: impl IntoIterator<Item = RpmPackage>,
        arch: &str,
    ) -> DnfIndex {
        let mut index = DnfIndex {
            source,
            signed_by: None,
            repomd: Repomd::default(),
            packages: Vec::new(),
            excluded: Vec::new(),
        };
        for p in packages {
            index.add(p, arch);
        }
        index
    }

    fn add(&mut self, p: RpmPackage, arch: &str) {
        if p.arch != arch && p.arch != "noarch" {
            return;
        }
        if self.source.is_excluded(&p) {
            self.excluded.push(p);
        } else {
            self.packages.push(p);
        }
    }

    /// Where a package is downloaded from: its `xml:base` or the repository, then its href.
    pub fn package_url(&self, pkg: &RpmPackage) -> String {
        match &pkg.location_base {
            Some(base) => format!(
                "{}/{}",
                base.trim_end_matches('/'),
                pkg.location.trim_start_matches('/')
            ),
            None => self.source.url(&pkg.location),
        }
    }

    /// What the fetcher needs to download a package and check it: URL, sha256, size, and the
    /// file name. Packages whose checksum is not sha256 are refused.
    pub fn fetch_item(&self, pkg: &RpmPackage) -> Result<FetchItem, DnfUpstreamError> {
        if pkg.checksum.kind != "sha256" {
            return Err(DnfUpstreamError::PackageChecksum {
                repo: self.source.name.clone(),
                package: pkg.nevra(),
                kind: pkg.checksum.kind.clone(),
            });
        }
        let name = pkg
            .location
            .rsplit('/')
            .next()
            .unwrap_or(&pkg.location)
            .to_string();
        Ok(FetchItem {
            url: self.package_url(pkg),
            sha256: pkg.checksum.value.to_ascii_lowercase(),
            size: pkg.size,
            name,
        })
    }

    /// Fetches `filelists.xml` (checked against `repomd.xml`) and returns the owners of the
    /// `wanted` paths. A repository without filelists has nothing more to say: empty.
    pub fn load_filelists(
        &self,
        fetcher: &Fetcher,
        wanted: &HashSet<String>,
    ) -> Result<Vec<OwnedFile>, DnfUpstreamError> {
        let Some(data) = self.repomd.get("filelists") else {
            return Ok(Vec::new());
        };
        let path = fetch_checked(fetcher, &self.source, data)?;
        let reader = open(&path, &data.location, &self.source.name)?;
        parse_chunks(reader, chunks::threads(), |chunk| {
            read_filelists(chunk, wanted)
        })
        .map_err(|e| DnfUpstreamError::Parse {
            repo: self.source.name.clone(),
            path: self.source.url(&data.location),
            source: e.into(),
        })
    }
}

/// Loads one repository for an rpm arch (`x86_64`, `aarch64`). With a keyring,
/// `repomd.xml.asc` must be a good signature by one of its keys; without one (the user said
/// `--insecure-upstream`), no signature is looked at.
pub fn load(
    fetcher: &Fetcher,
    source: &DnfSource,
    keyring: Option<(&PublicKeyring, &Path)>,
    arch: &str,
) -> Result<DnfIndex, DnfUpstreamError> {
    let repo = &source.name;
    let fetch_err = |source| DnfUpstreamError::Fetch {
        repo: repo.clone(),
        source,
    };
    let repomd_url = source.url("repodata/repomd.xml");
    let repomd_path = fetcher.fetch_index(&repomd_url).map_err(fetch_err)?;
    let repomd_bytes = read_all(&repomd_path, repo)?;
    let signed_by = match keyring {
        None => None,
        Some((ring, ring_path)) => {
            let sig_url = source.url("repodata/repomd.xml.asc");
            let sig = match fetcher.fetch_index(&sig_url) {
                Ok(p) => read_all(&p, repo)?,
                Err(e) if e.is_not_found() => {
                    return Err(DnfUpstreamError::Unsigned {
                        repo: repo.clone(),
                        missing: sig_url,
                    })
                }
                Err(e) => return Err(fetch_err(e)),
            };
            let fpr = ring.verify_detached(&repomd_bytes[..], &sig).map_err(|e| {
                DnfUpstreamError::BadSignature {
                    repo: repo.clone(),
                    url: sig_url.clone(),
                    keyring: ring_path.display().to_string(),
                    source: Box::new(e),
                }
            })?;
            Some(fpr)
        }
    };
    let repomd = Repomd::parse(&repomd_bytes[..]).map_err(|e| DnfUpstreamError::Parse {
        repo: repo.clone(),
        path: repomd_url.clone(),
        source: e.into(),
    })?;
    let primary = repomd
        .get("primary")
        .ok_or_else(|| DnfUpstreamError::NotListed {
            repo: repo.clone(),
            what: "`primary` metadata".into(),
            url: repomd_url.clone(),
        })?;
    let path = fetch_checked(fetcher, source, primary)?;
    let reader = open(&path, &primary.location, repo)?;
    let mut index = DnfIndex {
        source: source.clone(),
        signed_by,
        repomd: Repomd::default(),
        packages: Vec::new(),
        excluded: Vec::new(),
    };
    // Parsed on several threads; the arch filter runs there too.
    let packages = parse_chunks(reader, chunks::threads(), |chunk| {
        PrimaryReader::fragment(chunk)
            .filter(|p| !matches!(p, Ok(p) if p.arch != arch && p.arch != "noarch"))
            .collect()
    })
    .map_err(|e| DnfUpstreamError::Parse {
        repo: repo.clone(),
        path: source.url(&primary.location),
        source: e.into(),
    })?;
    index.packages.reserve(packages.len());
    for p in packages {
        index.add(p, arch);
    }
    index.repomd = repomd;
    Ok(index)
}

fn read_all(path: &Path, repo: &str) -> Result<Vec<u8>, DnfUpstreamError> {
    std::fs::read(path).map_err(|e| DnfUpstreamError::Parse {
        repo: repo.to_string(),
        path: path.display().to_string(),
        source: e.into(),
    })
}

/// Opens a fetched metadata file, decompressing by the extension of its repository name.
fn open(
    path: &Path,
    location: &str,
    repo: &str,
) -> Result<Box<dyn std::io::BufRead>, DnfUpstreamError> {
    let err = |e: std::io::Error| DnfUpstreamError::Parse {
        repo: repo.to_string(),
        path: path.display().to_string(),
        source: e.into(),
    };
    let file = File::open(path).map_err(err)?;
    decompress(BufReader::with_capacity(1 << 16, file), location).map_err(err)
}

/// Fetches a metadata file `repomd.xml` lists and checks its size and checksum. A file that
/// does not match is dropped from the cache, so the next run fetches it again.
fn fetch_checked(
    fetcher: &Fetcher,
    source: &DnfSource,
    data: &RepomdData,
) -> Result<PathBuf, DnfUpstreamError> {
    let repo = &source.name;
    let url = source.url(&data.location);
    // Never more than repomd.xml says it is (2 GiB where it does not say).
    let max = data.size.unwrap_or(2 << 30);
    let path = fetcher.fetch_index_max(&url, max).map_err(|e| match e {
        FetchError::TooLarge { .. } => DnfUpstreamError::Mismatch {
            repo: repo.clone(),
            url: url.clone(),
            what: "size",
            index: "repomd.xml",
            expected: max.to_string().into(),
            actual: format!("more than {max}").into(),
        },
        e => DnfUpstreamError::Fetch {
            repo: repo.clone(),
            source: e,
        },
    })?;
    let Some(kind) = known_kind(&data.checksum.kind) else {
        return Err(DnfUpstreamError::UnsupportedChecksum {
            repo: repo.clone(),
            url,
            kind: data.checksum.kind.clone(),
        });
    };
    let (size, actual) = match hash_file(&path, kind) {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Err(DnfUpstreamError::UnsupportedChecksum {
                repo: repo.clone(),
                url,
                kind: kind.to_string(),
            })
        }
        Err(e) => {
            return Err(DnfUpstreamError::Parse {
                repo: repo.clone(),
                path: path.display().to_string(),
                source: e.into(),
            })
        }
    };
    let mismatch = |what: &'static str, expected: String, actual: String| {
        let _ = std::fs::remove_file(&path);
        let mut meta = path.clone().into_os_string();
        meta.push(".meta");
        let _ = std::fs::remove_file(meta);
        DnfUpstreamError::Mismatch {
            repo: repo.clone(),
            url: url.clone(),
            what,
            index: "repomd.xml",
            expected: expected.into(),
            actual: actual.into(),
        }
    };
    if let Some(want) = data.size {
        if want != size {
            return Err(mismatch("size", want.to_string(), size.to_string()));
        }
    }
    if !actual.eq_ignore_ascii_case(data.checksum.value.trim()) {
        return Err(mismatch(kind, data.checksum.value.clone(), actual));
    }
    Ok(path)
}

/// The checksum types repodata may name, by their usual name; `sha` is yum's old name of
/// sha1.
fn known_kind(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "sha" | "sha1" => "sha1",
        "sha224" => "sha224",
        "sha256" => "sha256",
        "sha384" => "sha384",
        "sha512" => "sha512",
        _ => return None,
    })
}

/// Streams a file through the hash repodata names `kind`: its size and lower-case hex
/// digest, or `None` for a kind we do not know. `sha` is yum's old name of sha1.
pub fn hash_file(path: &Path, kind: &str) -> std::io::Result<Option<(u64, String)>> {
    enum Hasher {
        Sha1(sha1::Sha1),
        Sha224(sha2::Sha224),
        Sha256(sha2::Sha256),
        Sha384(sha2::Sha384),
        Sha512(sha2::Sha512),
    }
    let mut hasher = match kind {
        "sha" | "sha1" => Hasher::Sha1(sha1::Digest::new()),
        "sha224" => Hasher::Sha224(sha2::Sha224::new()),
        "sha256" => Hasher::Sha256(sha2::Sha256::new()),
        "sha384" => Hasher::Sha384(sha2::Sha384::new()),
        "sha512" => Hasher::Sha512(sha2::Sha512::new()),
        _ => return Ok(None),
    };
    let mut file = File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        match &mut hasher {
            Hasher::Sha1(h) => sha1::Digest::update(h, chunk),
            Hasher::Sha224(h) => h.update(chunk),
            Hasher::Sha256(h) => h.update(chunk),
            Hasher::Sha384(h) => h.update(chunk),
            Hasher::Sha512(h) => h.update(chunk),
        }
        size += n as u64;
    }
    let digest = match hasher {
        Hasher::Sha1(h) => hex::encode(sha1::Digest::finalize(h)),
        Hasher::Sha224(h) => hex::encode(h.finalize()),
        Hasher::Sha256(h) => hex::encode(h.finalize()),
        Hasher::Sha384(h) => hex::encode(h.finalize()),
        Hasher::Sha512(h) => hex::encode(h.finalize()),
    };
    Ok(Some((size, digest)))
}

/// fnmatch(3) without flags, as dnf matches `excludepkgs`: `*` any run, `?` any one
/// character, `[abc]` / `[a-z]` / `[!x]` / `[^x]` a class, `\` escapes; anything else is
/// itself. A `[` without its `]` is a plain character.
///
/// Kept rather than `globset` or `glob`: both differ from fnmatch(3) where dnf's users lean on
/// it (globset reads `{a,b}` as alternatives and refuses an unclosed `[`; glob has no `\`
/// escape and no `[^x]`), and calling libc's fnmatch would need `unsafe` for 40 lines of
/// matching. The test compares it with libc's fnmatch on every case.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` is, and the text position it currently stands for up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            pi += 1;
            star = Some((pi, ti));
            continue;
        }
        if let Some(next) = (pi < p.len()).then(|| step(&p, pi, t[ti])).flatten() {
            pi = next;
            ti += 1;
            continue;
        }
        match star {
            Some((sp, st)) => {
                pi = sp;
                ti = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// If the pattern element at `pi` (not `*`) matches `c`, the index after it.
fn step(p: &[char], pi: usize, c: char) -> Option<usize> {
    match p[pi] {
        '?' => Some(pi + 1),
        '\\' if pi + 1 < p.len() => (p[pi + 1] == c).then_some(pi + 2),
        '[' => match class(p, pi, c) {
            Some((true, next)) => Some(next),
            Some((false, _)) => None,
            None => (c == '[').then_some(pi + 1),
        },
        x => (x == c).then_some(pi + 1),
    }
}

/// Matches `c` against the class opening at `p[pi] == '['`: whether it matched and the index
/// after the `]`, or `None` if the class is not closed.
fn class(p: &[char], pi: usize, c: char) -> Option<(bool, usize)> {
    let mut i = pi + 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let &x = p.get(i)?;
        if x == ']' && !first {
            return Some((matched != negate, i + 1));
        }
        first = false;
        let (lo, after) = if x == '\\' {
            (*p.get(i + 1)?, i + 2)
        } else {
            (x, i + 1)
        };
        if p.get(after) == Some(&'-') && p.get(after + 1).is_some_and(|&h| h != ']') {
            let hi = p[after + 1];
            matched |= lo <= c && c <= hi;
            i = after + 2;
        } else {
            matched |= lo == c;
            i = after;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnf::version::Evr;

    #[test]
    fn fnmatch_like_libc() {
        let yes = [
            ("postgresql*", "postgresql"),
            ("postgresql*", "postgresql16-server"),
            ("libpq*", "libpq5"),
            ("*", ""),
            ("a?c", "abc"),
            ("*-devel", "foo-devel"),
            ("*x*y*", "axbxcy"),
            ("[a-c]x", "bx"),
            ("[!a-c]x", "dx"),
            ("[^a]x", "bx"),
            ("[]]", "]"),
            ("[a-]", "-"),
            ("\\*", "*"),
            ("[", "["),
            ("foo[", "foo["),
            ("python3.1[0-9]", "python3.12"),
        ];
        for (p, t) in yes {
            assert!(fnmatch(p, t), "`{p}` should match `{t}`");
        }
        let no = [
            ("postgresql*", "libpq"),
            ("postgresql", "postgresql16"),
            ("a?c", "ac"),
            ("*-devel", "foo-devel-x"),
            ("[a-c]x", "dx"),
            ("[!a-c]x", "ax"),
            ("\\*", "a"),
            ("", "a"),
            ("x*y", "xay-"),
        ];
        for (p, t) in no {
            assert!(!fnmatch(p, t), "`{p}` should not match `{t}`");
        }
        // The same verdicts as the C library's fnmatch(3) without flags, which dnf uses.
        for (p, t) in yes.iter().chain(no.iter()) {
            let (cp, ct) = (
                std::ffi::CString::new(*p).unwrap(),
                std::ffi::CString::new(*t).unwrap(),
            );
            // SAFETY: two NUL-terminated strings that outlive the call.
            let libc_match = unsafe { libc::fnmatch(cp.as_ptr(), ct.as_ptr(), 0) } == 0;
            assert_eq!(
                fnmatch(p, t),
                libc_match,
                "`{p}` against `{t}`: libc says {libc_match}"
            );
        }
    }

    fn pkg(name: &str, evr: &str, arch: &str) -> RpmPackage {
        RpmPackage {
            name: name.into(),
            arch: arch.into(),
            evr: evr.parse::<Evr>().unwrap(),
            location: format!("Packages/{name}.rpm"),
            ..RpmPackage::default()
        }
    }

    #[test]
    fn excludepkgs_name_and_nevra_forms() {
        let mut s = DnfSource::new("appstream", "http://m.invalid/9/AppStream/x86_64/os/");
        assert_eq!(s.baseurl, "http://m.invalid/9/AppStream/x86_64/os");
        assert_eq!(
            s.url("repodata/repomd.xml"),
            "http://m.invalid/9/AppStream/x86_64/os/repodata/repomd.xml"
        );
        s.excludepkgs = vec!["postgresql*, libpq*".into(), "foo-1.2-*".into()];
        let ex = |n: &str, v: &str| s.is_excluded(&pkg(n, v, "x86_64"));
        assert!(ex("postgresql", "13.20-1.el9"));
        assert!(ex("postgresql-server", "13.20-1.el9"));
        assert!(ex("libpq", "13.20-1.el9"));
        assert!(!ex("python3-libs", "3.9-1"));
        assert!(ex("foo", "1.2-3"));
        assert!(!ex("foo", "1.3-3"));
        s.excludepkgs = vec!["bar.x86_64".into(), "baz-2:*".into()];
        assert!(s.is_excluded(&pkg("bar", "1-1", "x86_64")));
        assert!(!s.is_excluded(&pkg("bar", "1-1", "noarch")));
        assert!(s.is_excluded(&pkg("baz", "2:1-1", "noarch")));
        assert!(!s.is_excluded(&pkg("baz", "1-1", "noarch")));
    }

    #[test]
    fn index_keeps_target_arch_and_noarch() {
        let mut s = DnfSource::new("r", "http://m.invalid/r");
        s.excludepkgs = vec!["hidden".into()];
        let idx = DnfIndex::from_packages(
            s,
            [
                pkg("a", "1-1", "x86_64"),
                pkg("a", "1-1", "i686"),
                pkg("b", "1-1", "noarch"),
                pkg("a", "1-1", "src"),
                pkg("c", "1-1", "aarch64"),
                pkg("hidden", "1-1", "x86_64"),
            ],
            "x86_64",
        );
        let got: Vec<String> = idx.packages.iter().map(RpmPackage::nevra).collect();
        assert_eq!(got, ["a-1-1.x86_64", "b-1-1.noarch"]);
        assert_eq!(idx.excluded[0].nevra(), "hidden-1-1.x86_64");
        assert_eq!(idx.excluded.len(), 1);
        let mut p = idx.packages[0].clone();
        p.checksum.kind = "sha256".into();
        p.checksum.value = "AB".repeat(32);
        p.size = 7;
        let item = idx.fetch_item(&p).unwrap();
        assert_eq!(item.url, "http://m.invalid/r/Packages/a.rpm");
        assert_eq!(item.sha256, "ab".repeat(32));
        assert_eq!((item.size, item.name.as_str()), (7, "a.rpm"));
        p.location_base = Some("http://other.invalid/base/".into());
        assert_eq!(
            idx.package_url(&p),
            "http://other.invalid/base/Packages/a.rpm"
        );
        p.checksum.kind = "sha1".into();
        let err = idx.fetch_item(&p).unwrap_err().to_string();
        assert!(
            err.contains("a-1-1.x86_64") && err.contains("sha1"),
            "{err}"
        );
    }

    #[test]
    fn hashes_each_kind() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x");
        std::fs::write(&f, b"abc").unwrap();
        let h = |k| hash_file(&f, k).unwrap().map(|(_, d)| d);
        assert_eq!(
            h("sha256").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            h("sha1").unwrap(),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(h("sha").unwrap(), h("sha1").unwrap());
        assert!(h("sha512").unwrap().starts_with("ddaf35a193617aba"));
        assert_eq!(h("md5"), None);
        assert_eq!(hash_file(&f, "sha256").unwrap().unwrap().0, 3);
    }
}
