//! Upstream apt repositories: fetch `InRelease` (or `Release` + `Release.gpg`), check its
//! signature with the keyring the manifest names, check every index against the hashes in
//! `Release`, and parse `Packages` for the target arch (and `all` where the archive splits it).

mod cache;
mod stream;

use std::collections::HashMap;
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pigsty_bundle::sign::PublicKeyring;

use crate::apt::index::{self, PackageEntry, Release, ReleaseFile};
use crate::apt::Repo;
use crate::fetch::{FetchError, Fetcher};
pub use crate::upstream::UpstreamError;
use cache::PackagesCache;

/// One apt source in Pigsty's one-line form: `URL SUITE COMPONENT...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub name: String,
    pub base: String,
    pub suite: String,
    pub components: Vec<String>,
}

impl AptSource {
    /// Parses `URL SUITE COMPONENT...`; a suite ending in `/` is a flat repository.
    pub fn parse(name: &str, line: &str) -> Result<AptSource, UpstreamError> {
        let mut words = line.split_whitespace();
        let (Some(base), Some(suite)) = (words.next(), words.next()) else {
            return Err(UpstreamError::BadSource {
                repo: name.to_string(),
                line: line.to_string(),
            });
        };
        Ok(AptSource {
            name: name.to_string(),
            base: base.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components: words.map(str::to_string).collect(),
        })
    }

    pub fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// URL of a file of the distribution: `BASE/dists/SUITE/FILE`, or `BASE/SUITE/FILE` if flat.
    pub fn dist_url(&self, file: &str) -> String {
        if self.is_flat() {
            let suite = self.suite.trim_end_matches('/').trim_start_matches("./");
            if suite.is_empty() || suite == "." {
                format!("{}/{file}", self.base)
            } else {
                format!("{}/{suite}/{file}", self.base)
            }
        } else {
            format!("{}/dists/{}/{file}", self.base, self.suite)
        }
    }

    /// URL of a package file named by a `Filename:` field.
    pub fn pool_url(&self, filename: &str) -> String {
        let f = filename.trim_start_matches("./");
        if self.is_flat() {
            self.dist_url(f)
        } else {
            format!("{}/{f}", self.base)
        }
    }
}

/// The parsed index of one upstream repository.
#[derive(Debug)]
pub struct RepoIndex {
    pub source: AptSource,
    pub release: Release,
    /// Fingerprint of the key that signed it (None when insecure).
    pub signed_by: Option<String>,
    /// Its packages for the target arch and `all`, ready for the closure.
    pub repo: Repo,
}

/// Loads one repository's index for a Debian arch (`amd64`): its `Release` (signature
/// checked), then each component's `Packages`, checked against it.
pub fn load(
    fetcher: &Fetcher,
    source: &AptSource,
    keyring: Option<(&PublicKeyring, &Path)>,
    arch: &str,
) -> Result<RepoIndex, UpstreamError> {
    // The kept copies are read and parsed while InRelease is fetched and checked; nothing of
    // them is used before Release says what they must be.
    let early = early_parses(fetcher, source, arch);
    let (release_text, signed_by) = signed_release(fetcher, source, keyring)?;
    let release = index::parse_release(&release_text).map_err(|e| UpstreamError::Parse {
        repo: source.name.clone(),
        path: source.dist_url("InRelease"),
        source: e.into(),
    })?;
    // Debian keeps arch-all packages in the per-arch indexes and says so.
    let all_in_arch_indexes = release_text
        .lines()
        .any(|l| l.starts_with("No-Support-for-Architecture-all:"));
    let reader = IndexReader {
        fetcher,
        source,
        release: &release,
        arch,
        by_hash: release_text
            .lines()
            .any(|l| l.trim().eq_ignore_ascii_case("Acquire-By-Hash: yes")),
        early: Mutex::new(early),
    };
    let packages = if source.is_flat() {
        reader.packages("")?
    } else {
        // The components are fetched and parsed side by side: a small index's round trip
        // waits beside the large one's decompression, not after it.
        let per_component = super::on_threads(&source.components, |c| {
            component(&reader, c, all_in_arch_indexes)
        });
        // In the components' order, and the first error in that order.
        let per_component = per_component.into_iter().collect::<Result<Vec<_>, _>>()?;
        per_component.into_iter().flatten().collect()
    };
    Ok(RepoIndex {
        source: source.clone(),
        release,
        signed_by,
        repo: Repo {
            name: source.name.clone(),
            packages,
            priority: super::closure::DEFAULT_PRIORITY,
        },
    })
}

/// The packages of component `c` for the arch, and its `binary-all` index where the archive
/// keeps arch-all packages apart.
fn component(
    reader: &IndexReader,
    c: &str,
    all_in_arch_indexes: bool,
) -> Result<Vec<PackageEntry>, UpstreamError> {
    let mut packages = reader.packages(&format!("{c}/binary-{}/", reader.arch))?;
    // Archives that keep arch-all packages apart list binary-all; Debian's own archives put
    // them in the per-arch indexes too (and binary-all may lag behind).
    let all = format!("{c}/binary-all/");
    let has_all = packages.iter().any(|p| p.architecture() == "all");
    if !has_all
        && !all_in_arch_indexes
        && reader
            .release
            .sha256
            .iter()
            .any(|f| f.path.starts_with(&all))
    {
        packages.extend(reader.packages(&all)?);
    }
    Ok(packages)
}

/// Where the decompressed `Packages` of index folder `dir` (`main/binary-amd64/`) is kept.
fn kept_path(fetcher: &Fetcher, source: &AptSource, dir: &str) -> PathBuf {
    fetcher.derived_path("apt-packages", &source.dist_url(&format!("{dir}Packages")))
}

/// A kept copy being read and parsed, by index folder.
type Early = HashMap<String, std::thread::JoinHandle<Option<cache::Parsed>>>;

/// Starts reading and parsing the kept copy of each index folder the source may have.
fn early_parses(fetcher: &Fetcher, source: &AptSource, arch: &str) -> Early {
    let dirs: Vec<String> = if source.is_flat() {
        vec![String::new()]
    } else {
        source
            .components
            .iter()
            .flat_map(|c| [format!("{c}/binary-{arch}/"), format!("{c}/binary-all/")])
            .collect()
    };
    dirs.into_iter()
        .filter_map(|dir| {
            let path = kept_path(fetcher, source, &dir);
            path.is_file().then(|| {
                let parse = std::thread::spawn(move || cache::parse_kept(&path, cache::MAX_KEPT));
                (dir, parse)
            })
        })
        .collect()
}

/// The repo's `Release` text, its signature checked with `keyring` (`InRelease`, else
/// `Release` and `Release.gpg`), and the signer's fingerprint; unchecked when insecure.
fn signed_release(
    fetcher: &Fetcher,
    source: &AptSource,
    keyring: Option<(&PublicKeyring, &Path)>,
) -> Result<(String, Option<String>), UpstreamError> {
    let repo = source.name.clone();
    let fetch_err = |source| UpstreamError::Fetch {
        repo: repo.clone(),
        source,
    };
    let bad_signature = |url: &str, ring_path: &Path, e| UpstreamError::BadSignature {
        repo: repo.clone(),
        url: url.to_string(),
        keyring: ring_path.display().to_string(),
        source: Box::new(e),
    };
    let inrelease_url = source.dist_url("InRelease");
    match fetcher.fetch_index(&inrelease_url) {
        Ok(path) => {
            let text = read_string(&path, &repo)?;
            Ok(match keyring {
                Some((ring, ring_path)) => {
                    let (content, fpr) = ring
                        .verify_clearsigned(&text)
                        .map_err(|e| bad_signature(&inrelease_url, ring_path, e))?;
                    (content, Some(fpr))
                }
                None => (strip_clearsign(&text), None),
            })
        }
        Err(e) if e.is_not_found() => {
            let path = fetcher
                .fetch_index(&source.dist_url("Release"))
                .map_err(fetch_err)?;
            let text = read_string(&path, &repo)?;
            let Some((ring, ring_path)) = keyring else {
                return Ok((text, None));
            };
            let sig_url = source.dist_url("Release.gpg");
            let sig = match fetcher.fetch_index(&sig_url) {
                Ok(p) => std::fs::read(&p).map_err(|e| UpstreamError::Parse {
                    repo: repo.clone(),
                    path: p.display().to_string(),
                    source: e.into(),
                })?,
                Err(e) if e.is_not_found() => {
                    return Err(UpstreamError::Unsigned {
                        repo: repo.clone(),
                        missing: format!("InRelease or Release.gpg at {sig_url}"),
                    })
                }
                Err(e) => return Err(fetch_err(e)),
            };
            let fpr = ring
                .verify_detached(text.as_bytes(), &sig)
                .map_err(|e| bad_signature(&sig_url, ring_path, e))?;
            Ok((text, Some(fpr)))
        }
        Err(e) => Err(fetch_err(e)),
    }
}

/// Reads the `Packages` indexes a checked `Release` lists.
struct IndexReader<'a> {
    fetcher: &'a Fetcher,
    source: &'a AptSource,
    release: &'a Release,
    arch: &'a str,
    /// Fetch indexes by their hash (`Acquire-By-Hash`): a mirror sync cannot race us.
    by_hash: bool,
    early: Mutex<Early>,
}

impl IndexReader<'_> {
    /// The packages of one index folder (`main/binary-amd64/`) for the arch and `all`: from
    /// the kept decompressed copy if it is the `Packages` that `Release` lists, else from the
    /// compressed index, fetched (never more than `Release` says it is; not at all when the
    /// cached copy is already the one `Release` lists) and checked against `Release`.
    fn packages(&self, dir: &str) -> Result<Vec<PackageEntry>, UpstreamError> {
        let repo = &self.source.name;
        // gzip before xz where Release lists both (Debian's archive does): the xz of
        // bookworm's main is 8.8 MB against 12.1 MB, but decoding its 50 MB takes ~0.46 s of
        // CPU against ~0.2 s, on the critical path of every build whose index changed; the
        // 3.3 MB more cost less than that above ~10 MB/s. Both are checked against Release.
        let (entry, compression) = ["Packages.gz", "Packages.xz", "Packages"]
            .iter()
            .find_map(|name| {
                self.release
                    .file(&format!("{dir}{name}"))
                    .map(|f| (f.clone(), *name))
            })
            .ok_or_else(|| UpstreamError::NotListed {
                repo: repo.clone(),
                what: format!("{dir}Packages"),
                url: self.source.dist_url("InRelease"),
            })?;
        // The uncompressed index's size and hash, when Release lists them (Debian's do): a
        // decompressed copy is kept, checked against them.
        let kept = self
            .release
            .file(&format!("{dir}Packages"))
            .filter(|plain| plain.path != entry.path)
            .map(|plain| {
                PackagesCache::new(kept_path(self.fetcher, self.source, dir), plain.clone())
            });
        let early = self.take_early(dir).and_then(|parse| {
            parse
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        });
        if let Some(packages) = kept.as_ref().and_then(|k| k.load(early)) {
            return Ok(self.for_arch(packages));
        }
        let (file, path) = self.checked_index(dir, &entry)?;
        let parse_err = |e: Box<dyn std::error::Error + Send + Sync>| UpstreamError::Parse {
            repo: repo.clone(),
            path: path.display().to_string(),
            source: e,
        };
        let compressed = std::io::BufReader::with_capacity(1 << 16, file);
        let parsed = stream::read_packages(compressed, compression, kept.as_ref())
            .map_err(|e| parse_err(e.into()))?;
        Ok(self.for_arch(parsed))
    }

    /// The parse of the kept copy of `dir` started before `Release` was read, if any.
    fn take_early(&self, dir: &str) -> Option<std::thread::JoinHandle<Option<cache::Parsed>>> {
        // A thread that panicked while holding the lock left the map whole.
        let mut early = self.early.lock().unwrap_or_else(|p| p.into_inner());
        early.remove(dir)
    }

    fn for_arch(&self, parsed: Vec<PackageEntry>) -> Vec<PackageEntry> {
        parsed
            .into_iter()
            .filter(|p| p.architecture() == self.arch || p.architecture() == "all")
            .collect()
    }

    /// The index `entry` of `Release` in folder `dir`, open at its start, with its local path: the cached
    /// copy when it is already the one `Release` lists, else downloaded (never more than
    /// `Release` says it is) and checked. Opened once, so that the bytes checked are the
    /// bytes read.
    fn checked_index(
        &self,
        dir: &str,
        entry: &ReleaseFile,
    ) -> Result<(std::fs::File, PathBuf), UpstreamError> {
        let repo = &self.source.name;
        // By-hash paths never change under a mirror sync, as apt knows.
        let url = if self.by_hash {
            self.source
                .dist_url(&format!("{dir}by-hash/SHA256/{}", entry.sha256))
        } else {
            self.source.dist_url(&entry.path)
        };
        let mismatch = |what, expected: String, actual: String| UpstreamError::Mismatch {
            repo: repo.clone(),
            url: url.clone(),
            what,
            index: "Release",
            expected: expected.into(),
            actual: actual.into(),
        };
        let cached = self.fetcher.index_path(&url);
        if let Some(file) = open_if_listed(&cached, entry) {
            return Ok((file, cached));
        }
        let path =
            self.fetcher
                .fetch_index_max(&url, entry.size)
                .map_err(|source| match source {
                    FetchError::TooLarge { .. } => mismatch(
                        "size",
                        entry.size.to_string(),
                        format!("more than {}", entry.size),
                    ),
                    source => UpstreamError::Fetch {
                        repo: repo.clone(),
                        source,
                    },
                })?;
        let read_err = |e: std::io::Error| UpstreamError::Parse {
            repo: repo.clone(),
            path: path.display().to_string(),
            source: e.into(),
        };
        let mut file = std::fs::File::open(&path).map_err(read_err)?;
        let (size, sha) = pigsty_bundle::fs::hash_reader(&mut file).map_err(read_err)?;
        if size != entry.size {
            return Err(mismatch("size", entry.size.to_string(), size.to_string()));
        }
        if sha != entry.sha256 {
            return Err(mismatch("sha256", entry.sha256.clone(), sha));
        }
        file.seek(SeekFrom::Start(0)).map_err(read_err)?;
        Ok((file, path))
    }
}

/// The file at `path`, open at its start, if it has the size and SHA-256 `entry` lists.
fn open_if_listed(path: &Path, entry: &ReleaseFile) -> Option<std::fs::File> {
    let mut file = std::fs::File::open(path).ok()?;
    if !file
        .metadata()
        .is_ok_and(|m| m.is_file() && m.len() == entry.size)
    {
        return None;
    }
    let (size, sha) = pigsty_bundle::fs::hash_reader(&mut file).ok()?;
    (size == entry.size && sha == entry.sha256).then_some(())?;
    file.seek(SeekFrom::Start(0)).ok()?;
    Some(file)
}

fn read_string(path: &Path, repo: &str) -> Result<String, UpstreamError> {
    std::fs::read_to_string(path).map_err(|e| UpstreamError::Parse {
        repo: repo.to_string(),
        path: path.display().to_string(),
        source: e.into(),
    })
}

/// The signed text of a clearsigned message, without checking the signature.
fn strip_clearsign(text: &str) -> String {
    let Some(start) = text.find("-----BEGIN PGP SIGNED MESSAGE-----") else {
        return text.to_string();
    };
    let body = &text[start..];
    let after_headers = body.find("\n\n").map(|i| &body[i + 2..]).unwrap_or("");
    let end = after_headers
        .find("\n-----BEGIN PGP SIGNATURE-----")
        .unwrap_or(after_headers.len());
    after_headers[..end]
        .lines()
        .map(|l| l.strip_prefix("- ").unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_urls() {
        let s = AptSource::parse(
            "base",
            "http://m.invalid/debian/ bookworm main non-free-firmware",
        )
        .unwrap();
        assert_eq!(
            s.dist_url("InRelease"),
            "http://m.invalid/debian/dists/bookworm/InRelease"
        );
        assert_eq!(
            s.pool_url("pool/main/a/a.deb"),
            "http://m.invalid/debian/pool/main/a/a.deb"
        );
        assert_eq!(s.components, vec!["main", "non-free-firmware"]);
        let flat = AptSource::parse("local", "http://m.invalid/pigsty ./").unwrap();
        assert!(flat.is_flat());
        assert_eq!(
            flat.dist_url("InRelease"),
            "http://m.invalid/pigsty/InRelease"
        );
        assert_eq!(flat.pool_url("./a.deb"), "http://m.invalid/pigsty/a.deb");
        let kube = AptSource::parse("k", "http://m.invalid/core/deb/ /").unwrap();
        assert_eq!(
            kube.dist_url("InRelease"),
            "http://m.invalid/core/deb/InRelease"
        );
        assert!(AptSource::parse("x", "http://only-url").is_err());
    }

    #[test]
    fn strips_clearsign() {
        let t = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: X\n- -dash\n-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n";
        assert_eq!(strip_clearsign(t), "Origin: X\n-dash\n");
    }
}
