//! The bundle manifest, `pigsty/MANIFEST.json`: what a bundle is for, which files it holds
//! (with their sizes and SHA-256 digests) and which packages those files are.
//!
//! The builder writes it with [`Manifest::to_json`], which sorts and validates it so that the
//! same content always gives the same bytes; the installer reads it with
//! [`Manifest::from_json`], which refuses anything that could escape the bundle's folder or
//! that lists a file twice. Paths are relative to the bundle's top folder `pigsty/` and use
//! `/` as separator. The manifest never lists itself nor its signature
//! ([`MANIFEST_NAME`], [`SIGNATURE_NAME`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::fs::is_sha256;
use crate::target::{Family, Target};

/// The manifest schema this program writes and reads.
pub const SCHEMA: u32 = 1;
/// The manifest's path relative to the bundle's top folder.
pub const MANIFEST_NAME: &str = "MANIFEST.json";
/// The detached signature of the manifest, relative to the bundle's top folder.
pub const SIGNATURE_NAME: &str = "MANIFEST.json.asc";

/// One file of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to `pigsty/`, `/`-separated: `pool/foo_1.0_amd64.deb`.
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the file's bytes, 64 characters.
    pub sha256: String,
}

/// One package of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// The package file, relative to `pigsty/`; it is listed in [`Manifest::files`].
    pub file: String,
    /// The repository it was downloaded from.
    pub repo: String,
    /// The extensions or roles that asked for it (empty for plain dependencies).
    #[serde(default)]
    pub wanted_by: Vec<String>,
}

/// The content of `pigsty/MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: u32,
    pub target: Target,
    /// The bundle's version.
    pub version: String,
    /// The program that built it, with its version: `pigsty-build 0.1.0`.
    pub builder: String,
    /// The extension catalog's version or id.
    pub catalog: String,
    /// When it was built: SOURCE_DATE_EPOCH, in seconds.
    pub created: u64,
    /// Every file of the bundle but the manifest and its signature, sorted by path.
    pub files: Vec<FileEntry>,
    pub packages: Vec<PackageEntry>,
    /// Package names the installer installs first.
    #[serde(default)]
    pub bootstrap: Vec<String>,
    /// The default command the installer hands over to once the repo is set up.
    #[serde(default)]
    pub handoff: Option<String>,
    /// The fingerprint of the key that signed the repo metadata and the manifest.
    #[serde(default)]
    pub key_fingerprint: Option<String>,
    /// The package family of the repo: written `"repo_format": "apt"` or `"dnf"`; always the
    /// target's family.
    #[serde(rename = "repo_format", with = "repo_format")]
    pub family: Family,
    /// dnf: the public keys (paths in the repo) that signed every package of the bundle, for
    /// the installer's `gpgcheck`. Empty when some package is unsigned (insecure upstreams)
    /// and for apt, whose packages are checked through the signed indexes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub package_keys: Vec<String>,
    /// A delta bundle: the installed repo it applies to, and which of `files` it does not
    /// carry because that repo already has them, identical.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<DeltaBase>,
}

/// What a delta bundle is made for: a full repo installed from the base bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaBase {
    /// The base bundle's version.
    pub version: String,
    /// SHA-256 of the base bundle's `MANIFEST.json`, byte for byte: the installed repo must
    /// have exactly this manifest.
    pub manifest_sha256: String,
    /// Paths of `files` taken from the base repo (same path, same SHA-256), sorted.
    pub carried: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// serde's message, escaped: it may quote the manifest's own (untrusted) text.
    #[error("the manifest is not valid JSON: {0}")]
    Json(String),
    #[error("manifest schema {found} is not supported (this program reads schema {SCHEMA})")]
    Schema { found: u32 },
    #[error("manifest file entry `{path}`: {reason}")]
    BadPath { path: String, reason: String },
    #[error("manifest lists `{path}` twice")]
    Duplicate { path: String },
    #[error("manifest file entry `{path}`: sha256 `{sha256}` is not 64 lowercase hex digits")]
    BadSha256 { path: String, sha256: String },
    #[error("manifest package `{name}`: {reason}")]
    BadPackage { name: String, reason: String },
    #[error("manifest field {field} `{value}`: holds a control character")]
    Control { field: &'static str, value: String },
    #[error("manifest bootstrap package `{name}` is not among the bundle's packages")]
    UnknownBootstrap { name: String },
    #[error(
        "manifest repo_format `{found}` is not the format of its target {target} (`{wanted}`)"
    )]
    RepoFormat {
        found: &'static str,
        wanted: &'static str,
        target: Target,
    },
}

impl Manifest {
    /// The manifest as pretty JSON with a trailing newline: files sorted by path, packages by
    /// name, version, arch and file. Validated first, so that what is written can be read.
    pub fn to_json(&self) -> Result<String, ManifestError> {
        let mut sorted = self.clone();
        sorted.files.sort_by(|a, b| a.path.cmp(&b.path));
        sorted.packages.sort_by(|a, b| {
            (&a.name, &a.version, &a.arch, &a.file).cmp(&(&b.name, &b.version, &b.arch, &b.file))
        });
        sorted.validate()?;
        let mut text = serde_json::to_string_pretty(&sorted).map_err(json_error)?;
        text.push('\n');
        Ok(text)
    }

    /// Parses and validates a manifest.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(json_error)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Checks what [`Manifest::from_json`] checks: the schema, every path (relative, no `..`,
    /// no duplicate), every digest, that every package's file is listed and that every
    /// bootstrap package is a package of the bundle.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.schema != SCHEMA {
            return Err(ManifestError::Schema { found: self.schema });
        }
        if self.family != self.target.family() {
            return Err(ManifestError::RepoFormat {
                found: self.family.repo_format(),
                wanted: self.target.family().repo_format(),
                target: self.target,
            });
        }
        let mut paths = HashSet::with_capacity(self.files.len());
        for f in &self.files {
            check_rel_path(&f.path).map_err(|reason| ManifestError::BadPath {
                path: shown(&f.path),
                reason,
            })?;
            if f.path == MANIFEST_NAME || f.path == SIGNATURE_NAME {
                return Err(ManifestError::BadPath {
                    path: shown(&f.path),
                    reason: "the manifest and its signature are not listed in the manifest".into(),
                });
            }
            if !is_sha256(&f.sha256) {
                return Err(ManifestError::BadSha256 {
                    path: shown(&f.path),
                    sha256: shown(&f.sha256),
                });
            }
            if !paths.insert(f.path.as_str()) {
                return Err(ManifestError::Duplicate {
                    path: shown(&f.path),
                });
            }
        }
        if let Some(base) = &self.base {
            if !is_sha256(&base.manifest_sha256) {
                return Err(ManifestError::BadSha256 {
                    path: "base manifest".into(),
                    sha256: shown(&base.manifest_sha256),
                });
            }
            for c in &base.carried {
                if !paths.contains(c.as_str()) {
                    return Err(ManifestError::BadPath {
                        path: shown(c),
                        reason: "carried over from the base but not among the files".into(),
                    });
                }
            }
        }
        let mut package_files = HashSet::with_capacity(self.packages.len());
        let mut names = HashSet::with_capacity(self.packages.len());
        for p in &self.packages {
            let bad = |reason: String| ManifestError::BadPackage {
                name: shown(&p.name),
                reason,
            };
            let file = shown(&p.file);
            if p.name.is_empty() {
                return Err(bad(format!("empty name (file `{file}`)")));
            }
            if !paths.contains(p.file.as_str()) {
                return Err(bad(format!("its file `{file}` is not listed in files")));
            }
            if !package_files.insert(p.file.as_str()) {
                return Err(bad(format!(
                    "its file `{file}` belongs to another package too"
                )));
            }
            names.insert(p.name.as_str());
        }
        for b in &self.bootstrap {
            if !names.contains(b.as_str()) {
                return Err(ManifestError::UnknownBootstrap { name: shown(b) });
            }
        }
        self.check_text()
    }

    /// No string of the manifest holds a control character (a terminal escape, NUL...): each
    /// may be printed. The hand-off command may span lines (newlines and tabs).
    fn check_text(&self) -> Result<(), ManifestError> {
        let check = |field: &'static str, value: &str, allowed: &[char]| {
            if value
                .chars()
                .any(|c| c.is_control() && !allowed.contains(&c))
            {
                return Err(ManifestError::Control {
                    field,
                    value: shown(value),
                });
            }
            Ok(())
        };
        check("version", &self.version, &[])?;
        check("builder", &self.builder, &[])?;
        check("catalog", &self.catalog, &[])?;
        for p in &self.packages {
            for (field, value) in [
                ("package name", &p.name),
                ("package version", &p.version),
                ("package arch", &p.arch),
                ("package repo", &p.repo),
            ] {
                check(field, value, &[])?;
            }
            for w in &p.wanted_by {
                check("package wanted_by", w, &[])?;
            }
        }
        for b in &self.bootstrap {
            check("bootstrap", b, &[])?;
        }
        if let Some(h) = &self.handoff {
            check("handoff", h, &['\n', '\t'])?;
        }
        if let Some(k) = &self.key_fingerprint {
            check("key_fingerprint", k, &[])?;
        }
        if let Some(b) = &self.base {
            check("base version", &b.version, &[])?;
        }
        Ok(())
    }

    /// Whether this bundle is older than `other`: by version ([`compare_versions`]), then,
    /// for equal versions, by build time.
    pub fn is_older_than(&self, other: &Manifest) -> bool {
        compare_versions(&self.version, &other.version)
            .then(self.created.cmp(&other.created))
            .is_lt()
    }

    /// The sum of the listed files' sizes.
    pub fn total_size(&self) -> u64 {
        self.files
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.size))
    }

    /// The entry of a file, by its path relative to `pigsty/`.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        match self.files.binary_search_by(|f| f.path.as_str().cmp(path)) {
            Ok(i) => self.files.get(i),
            // Not sorted (built by hand): fall back to a scan.
            Err(_) => self.files.iter().find(|f| f.path == path),
        }
    }
}

/// Orders two bundle versions as dpkg orders upstream versions (a leading `v` ignored):
/// alternating runs of non-digits, compared by character (`~` before everything, even the
/// end; letters before other characters), and of digits, compared as numbers. So `0.0.9` <
/// `0.1.0` < `0.1.0-pg15` < `0.10`, `1.0~rc1` < `1.0`, `v2` = `2`. Bundle versions are free text
/// (`--bundle-version`); this rule orders every scheme in use (dotted numbers, suffixes,
/// plain integers). The builder's dpkg and rpm comparisons are its own; this one is the
/// shared crate's, which cannot depend on the builder.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn order(c: Option<u8>) -> i32 {
        match c {
            Some(b'~') => -1,
            None => 0,
            Some(c) if c.is_ascii_digit() => 0,
            Some(c) if c.is_ascii_alphabetic() => i32::from(c),
            Some(c) => i32::from(c) + 256,
        }
    }
    let strip = |s: &str| s.strip_prefix(['v', 'V']).unwrap_or(s).as_bytes().to_vec();
    let (a, b) = (strip(a), strip(b));
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // Non-digits.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ca = a.get(i).copied().filter(|c| !c.is_ascii_digit());
            let cb = b.get(j).copied().filter(|c| !c.is_ascii_digit());
            let (oa, ob) = (order(ca), order(cb));
            if oa != ob {
                return oa.cmp(&ob);
            }
            i += usize::from(ca.is_some());
            j += usize::from(cb.is_some());
        }
        // Digits, as numbers: leading zeros skipped, then the longer run is the larger.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let (si, sj) = (i, j);
        while a.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        while b.get(j).is_some_and(u8::is_ascii_digit) {
            j += 1;
        }
        let by_len = (i - si).cmp(&(j - sj));
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = a[si..i].cmp(&b[sj..j]);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
    }
    Ordering::Equal
}

/// Checks a path relative to the bundle's top folder: not empty, not absolute, `/`-separated
/// normal components only (no `.`, `..`, empty component, backslash, NUL or other control
/// character).
pub fn check_rel_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.starts_with('/') {
        return Err("absolute path".into());
    }
    if path.contains('\0') {
        return Err("NUL in path".into());
    }
    if path.chars().any(char::is_control) {
        return Err("control character in path".into());
    }
    if path.contains('\\') {
        return Err("backslash in path (paths are `/`-separated)".into());
    }
    for component in path.split('/') {
        match component {
            "" => return Err("empty path component (`//` or trailing `/`)".into()),
            "." => return Err("`.` component".into()),
            ".." => return Err("`..` component".into()),
            _ => {}
        }
    }
    Ok(())
}

/// An untrusted string fit for a message.
fn shown(s: &str) -> String {
    crate::archive::escape(s.as_bytes())
}

/// serde's message, escaped.
fn json_error(e: serde_json::Error) -> ManifestError {
    ManifestError::Json(shown(&e.to_string()))
}

/// `"repo_format"` in the JSON: `apt` or `dnf`, the package family's repository format.
mod repo_format {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::target::Family;

    pub fn serialize<S: Serializer>(family: &Family, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(family.repo_format())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Family, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "apt" => Ok(Family::Deb),
            "dnf" => Ok(Family::Rpm),
            other => Err(serde::de::Error::custom(format!(
                "repo_format `{other}` is neither `apt` nor `dnf`"
            ))),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::target::{Arch, Family, Os};

    pub(crate) fn sample() -> Manifest {
        let sha = |c: char| c.to_string().repeat(64);
        Manifest {
            schema: SCHEMA,
            target: Target::new(Os::D12, Arch::X86_64, 17),
            version: "v4.0.0".into(),
            builder: "pigsty-build 0.1.0".into(),
            catalog: "2025-01".into(),
            created: 1_700_000_000,
            files: vec![
                FileEntry {
                    path: "pool/foo_1.0_amd64.deb".into(),
                    size: 10,
                    sha256: sha('b'),
                },
                FileEntry {
                    path: "dists/Release".into(),
                    size: 3,
                    sha256: sha('a'),
                },
            ],
            packages: vec![PackageEntry {
                name: "foo".into(),
                version: "1.0".into(),
                arch: "amd64".into(),
                file: "pool/foo_1.0_amd64.deb".into(),
                repo: "pgdg".into(),
                wanted_by: vec!["postgis".into()],
            }],
            bootstrap: vec!["foo".into()],
            handoff: Some("./configure".into()),
            key_fingerprint: None,
            family: Family::Deb,
            package_keys: Vec::new(),
            base: None,
        }
    }

    #[test]
    fn json_round_trip_is_sorted_and_deterministic() {
        let m = sample();
        let text = m.to_json().unwrap();
        assert!(text.ends_with("}\n"));
        let back = Manifest::from_json(text.as_bytes()).unwrap();
        assert_eq!(back.files[0].path, "dists/Release");
        assert_eq!(back.to_json().unwrap(), text);
        assert_eq!(back.total_size(), 13);
        assert_eq!(back.file("pool/foo_1.0_amd64.deb").unwrap().size, 10);
        assert!(back.file("pool/bar.deb").is_none());
        // An unsorted manifest still finds its files.
        assert_eq!(m.file("dists/Release").unwrap().size, 3);
    }

    fn refused(m: &Manifest) -> String {
        let text = serde_json::to_string(m).unwrap();
        let err = Manifest::from_json(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(m.to_json().is_err());
        err
    }

    #[test]
    fn refuses_bad_paths() {
        for (path, why) in [
            ("/etc/passwd", "absolute"),
            ("pool/../../etc/passwd", "`..`"),
            ("pool//x.deb", "empty path component"),
            ("./x.deb", "`.`"),
            ("", "empty path"),
            ("MANIFEST.json", "not listed"),
        ] {
            let mut m = sample();
            m.files[1].path = path.into();
            let err = refused(&m);
            assert!(
                err.contains(&format!("`{path}`")) && err.contains(why),
                "{path}: {err}"
            );
        }
    }

    #[test]
    fn refuses_duplicates_bad_digests_and_dangling_packages() {
        let mut m = sample();
        m.files[1].path = "pool/foo_1.0_amd64.deb".into();
        let err = refused(&m);
        assert!(err.contains("`pool/foo_1.0_amd64.deb` twice"), "{err}");

        let mut m = sample();
        m.files[0].sha256 = "ABC".into();
        let err = refused(&m);
        assert!(
            err.contains("pool/foo_1.0_amd64.deb") && err.contains("sha256"),
            "{err}"
        );
        m.files[0].sha256 = "B".repeat(64);
        assert!(refused(&m).contains("lowercase"));

        let mut m = sample();
        m.packages[0].file = "pool/gone.deb".into();
        let err = refused(&m);
        assert!(
            err.contains("`foo`") && err.contains("pool/gone.deb"),
            "{err}"
        );

        let mut m = sample();
        m.bootstrap.push("bar".into());
        assert!(refused(&m).contains("`bar`"));

        let mut m = sample();
        m.schema = 2;
        assert!(refused(&m).contains("schema 2"));

        let mut m = sample();
        m.family = Family::Rpm;
        assert!(refused(&m).contains("`dnf`"));
        let text = sample().to_json().unwrap().replace("\"apt\"", "\"yum\"");
        let err = Manifest::from_json(text.as_bytes()).unwrap_err();
        // serde's message, escaped, is part of the error's own (it has no source).
        let text = err.to_string();
        assert!(text.contains("`yum`"), "{text}");

        assert!(matches!(
            Manifest::from_json(b"{"),
            Err(ManifestError::Json(_))
        ));
    }

    #[test]
    fn versions_order_as_dpkg_does() {
        use std::cmp::Ordering::*;
        for (a, b, want) in [
            ("0.0.9", "0.1.0", Less),
            ("0.1.0", "0.1.0-pg15", Less),
            ("0.1.0-pg15", "0.10", Less),
            ("0.1.0-pg15", "0.1.0-pg17", Less),
            ("1.0~rc1", "1.0", Less),
            ("v2", "2", Equal),
            ("9", "10", Less),
            ("2.0a", "2.0.1", Less),
            ("007", "7", Equal),
            ("test", "test", Equal),
            ("", "0", Equal),
            ("1.0", "1.0.0", Less),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
            assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
        }
        let mut old = sample();
        old.version = "0.0.9".into();
        old.created = 1_600_000_000;
        let new = sample();
        assert!(old.is_older_than(&new) && !new.is_older_than(&old));
        // Same version: the build time decides.
        let mut rebuilt = sample();
        rebuilt.created += 1;
        assert!(new.is_older_than(&rebuilt) && !new.is_older_than(&new));
    }

    #[test]
    fn control_characters_never_pass() {
        let mut m = sample();
        m.files[1].path = "dists/\u{1b}[2JRelease".into();
        let err = refused(&m);
        assert!(
            err.contains("control character")
                && err.contains("\\u{1b}[2J")
                && !err.contains('\u{1b}'),
            "{err}"
        );
        let mut m = sample();
        m.version = "1.0\u{1b}]0;owned\u{7}".into();
        let err = refused(&m);
        assert!(
            err.contains("version") && !err.contains('\u{1b}') && !err.contains('\u{7}'),
            "{err}"
        );
        let mut m = sample();
        m.packages[0].name = "foo\u{0}".into();
        let err = refused(&m);
        assert!(!err.contains('\u{0}'), "{err}");
        // serde's messages quote the manifest: escaped too.
        let text = sample().to_json().unwrap().replace(
            "\"repo_format\": \"apt\"",
            "\"repo_format\": \"\\u001b[31mapt\"",
        );
        let err = Manifest::from_json(text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("\\u{1b}[31m") && !err.contains('\u{1b}'),
            "{err}"
        );
        // A hand-off may span lines, but holds no escape.
        let mut m = sample();
        m.handoff = Some("a\n\tb".into());
        assert!(m.to_json().is_ok());
        m.handoff = Some("a\u{1b}[8mhidden".into());
        assert!(refused(&m).contains("handoff"));
    }
}
