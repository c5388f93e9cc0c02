//! Mirror settings: what `${mirror.NAME}` in a repository URL stands for.
//!
//! A mirror comes, first found wins, from `--mirror NAME=URL`, from `[mirrors]` in `--config`,
//! for the base OS the build host itself runs from the URL the host's own package manager is
//! configured with (apt's `sources.list`/`.sources`, dnf's `.repo` files), and last from the
//! region preset (`--region`: [`crate::regions`], read from Pigsty's own repo lists). The
//! base-OS mirrors of Debian and Ubuntu have no preset: they are settings. Every mirror a
//! build's repositories need and none of these sets is named in one error ([`Mirrors::check`]),
//! each with what sets it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use pigsty_bundle::{Arch, Os, Target};
use serde::Serialize;

use crate::distro::RepoDef;

/// Where a mirror URL came from, for `--json` and error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum MirrorSource {
    Flag,
    Config,
    HostSources,
    Region,
}

impl fmt::Display for MirrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MirrorSource::Flag => "--mirror",
            MirrorSource::Config => "--config",
            MirrorSource::HostSources => "host package sources",
            MirrorSource::Region => "--region preset",
        })
    }
}

/// A set of region presets (`--region`), as Pigsty's repo lists have them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Region {
    /// The upstreams themselves.
    #[default]
    Default,
    /// Mirrors in mainland China, where Pigsty's lists have them (else the default).
    China,
    /// Mirrors in Europe, where Pigsty's lists have them (else the default).
    Europe,
    /// No presets: every mirror from a flag, `--config` or the host's sources.
    None,
}

impl Region {
    pub const ALL: [Region; 4] = [Region::Default, Region::China, Region::Europe, Region::None];

    pub fn as_str(self) -> &'static str {
        match self {
            Region::Default => "default",
            Region::China => "china",
            Region::Europe => "europe",
            Region::None => "none",
        }
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Region {
    type Err = MirrorError;
    fn from_str(s: &str) -> Result<Region, MirrorError> {
        Region::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| MirrorError::BadRegion(s.to_string()))
    }
}

/// The base-OS mirrors of Debian and Ubuntu: settings only (the host's own sources or a
/// flag), never a region preset.
pub const SETTINGS_ONLY: [&str; 4] = ["debian", "debian-security", "ubuntu", "ubuntu-ports"];

/// The mirrors of the base OS, which a build host running that OS gives from its sources.
fn is_base_os(name: &str) -> bool {
    SETTINGS_ONLY.contains(&name) || matches!(name, "el" | "epel")
}

/// The mirrors known for one run.
#[derive(Debug, Clone, Default)]
pub struct Mirrors {
    map: BTreeMap<String, (String, MirrorSource)>,
    presets: Option<Presets>,
}

/// The region presets a run asked for, and whether Pigsty's source was there to give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presets {
    pub region: Region,
    /// Pigsty's source tree or tarball the presets were read from; none found: no presets.
    pub source: Option<std::path::PathBuf>,
}

/// A mirror that no setting gives, with the repos that need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnsetMirror {
    pub mirror: String,
    pub repos: Vec<String>,
    pub modules: Vec<String>,
}

impl UnsetMirror {
    /// What sets it.
    pub fn remedy(&self, presets: Option<&Presets>) -> String {
        let m = &self.mirror;
        let mut s = format!("--mirror {m}=URL, or `{m} = \"URL\"` under [mirrors] in --config");
        if is_base_os(m) {
            s.push_str("; a build host running this OS is read for it");
        } else if presets.is_some_and(|p| p.region == Region::None) {
            s.push_str("; or a --region preset (default, china, europe)");
        } else if presets.is_some_and(|p| p.source.is_none()) {
            s.push_str(
                "; or Pigsty's source as --pigsty DIR|TGZ (its repo lists give the --region presets)",
            );
        } else {
            s.push_str(&format!(
                "; or leave it out: --no-repo {} or --modules",
                self.repos.join(" --no-repo ")
            ));
        }
        s
    }
}

fn unset_list(missing: &[UnsetMirror], presets: Option<&Presets>) -> String {
    missing
        .iter()
        .map(|u| {
            format!(
                "\n  {} (repo{} {}; module {}): {}",
                u.mirror,
                if u.repos.len() == 1 { "" } else { "s" },
                u.repos.join(", "),
                u.modules.join(", "),
                u.remedy(presets)
            )
        })
        .collect()
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorError {
    #[error("bad --mirror `{0}`: want NAME=URL, for example debian=http://HOST/debian")]
    BadFlag(String),
    #[error("unknown --region `{0}`: default, china, europe or none")]
    BadRegion(String),
    #[error(
        "repo `{repo}` (module {module}) needs the mirror `{mirror}`, which is not set: pass \
         --mirror {mirror}=URL, or set `{mirror} = \"URL\"` under [mirrors] in --config FILE{hint}"
    )]
    Unset {
        repo: String,
        module: String,
        mirror: String,
        hint: String,
    },
    #[error(
        "{target} needs {} mirror{} that no flag, --config, host package source or region preset sets:{}",
        missing.len(),
        if missing.len() == 1 { "" } else { "s" },
        unset_list(missing, presets.as_ref())
    )]
    Missing {
        target: String,
        missing: Vec<UnsetMirror>,
        presets: Option<Presets>,
    },
    #[error("repo `{repo}`: unknown placeholder `{placeholder}` in `{url}`")]
    BadTemplate {
        repo: String,
        placeholder: String,
        url: String,
    },
}

impl Mirrors {
    /// Builds the mirror table: flags over config over the host's own sources.
    pub fn new(
        flags: &[String],
        config: &BTreeMap<String, String>,
        host: &BTreeMap<String, String>,
    ) -> Result<Mirrors, MirrorError> {
        let mut m = Mirrors::default();
        for (k, v) in host {
            m.map
                .insert(k.clone(), (trim(v), MirrorSource::HostSources));
        }
        for (k, v) in config {
            m.map.insert(k.clone(), (trim(v), MirrorSource::Config));
        }
        for flag in flags {
            for item in flag.split(',').filter(|s| !s.trim().is_empty()) {
                let (k, v) = item
                    .split_once('=')
                    .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
                    .ok_or_else(|| MirrorError::BadFlag(item.to_string()))?;
                m.map
                    .insert(k.trim().to_string(), (trim(v), MirrorSource::Flag));
            }
        }
        Ok(m)
    }

    /// Adds a region's presets (mirror -> root, from [`crate::regions`]) under everything else.
    pub fn with_presets(mut self, presets: Presets, table: BTreeMap<String, String>) -> Mirrors {
        for (k, v) in table {
            self.map
                .entry(k)
                .or_insert_with(|| (trim(&v), MirrorSource::Region));
        }
        self.presets = Some(presets);
        self
    }

    /// Logs (`-v`) where each mirror of the table comes from.
    pub fn log(&self) {
        for (name, (url, source)) in &self.map {
            tracing::info!(mirror = %name, %url, from = %source, "mirror");
        }
    }

    pub fn get(&self, name: &str) -> Option<(&str, MirrorSource)> {
        self.map.get(name).map(|(u, s)| (u.as_str(), *s))
    }

    /// Expands a repo's URL template for a target.
    pub fn expand(&self, repo: &RepoDef, target: &Target) -> Result<String, MirrorError> {
        expand_url(&repo.url, target, |name| {
            self.get(name)
                .map(|(u, _)| u.to_string())
                .ok_or_else(|| MirrorError::Unset {
                    repo: repo.name.clone(),
                    module: repo.module.clone(),
                    mirror: name.to_string(),
                    hint: if is_base_os(name) {
                        " (a build host running this OS is read for it automatically)".to_string()
                    } else {
                        format!(
                            ", or leave the module out with --modules / --no-repo {}",
                            repo.name
                        )
                    },
                })
        })
    }

    /// A repo's URL, with the mirrors it needs that are not set: those stay `${mirror.NAME}`
    /// in the URL.
    pub fn try_expand(
        &self,
        repo: &RepoDef,
        target: &Target,
    ) -> Result<(String, Vec<String>), MirrorError> {
        let mut unset = Vec::new();
        let url = expand_url(&repo.url, target, |name| {
            Ok(match self.get(name) {
                Some((u, _)) => u.to_string(),
                None => {
                    if !unset.iter().any(|n| n == name) {
                        unset.push(name.to_string());
                    }
                    format!("${{mirror.{name}}}")
                }
            })
        })?;
        Ok((url, unset))
    }

    /// Every mirror these repos need that is not set, in one error.
    pub fn check<'a>(
        &self,
        repos: impl IntoIterator<Item = &'a RepoDef>,
        target: &Target,
    ) -> Result<(), MirrorError> {
        let mut missing: Vec<UnsetMirror> = Vec::new();
        for r in repos {
            for name in self.try_expand(r, target)?.1 {
                let i = match missing.iter().position(|u| u.mirror == name) {
                    Some(i) => i,
                    None => {
                        missing.push(UnsetMirror {
                            mirror: name,
                            repos: Vec::new(),
                            modules: Vec::new(),
                        });
                        missing.len() - 1
                    }
                };
                let u = &mut missing[i];
                u.repos.push(r.name.clone());
                if !u.modules.contains(&r.module) {
                    u.modules.push(r.module.clone());
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(MirrorError::Missing {
                target: target.to_string(),
                missing,
                presets: self.presets.clone(),
            })
        }
    }
}

fn trim(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// Replaces `${mirror.NAME}`, `${codename}`, `${distro}`, `$releasever`, `$basearch` and
/// `${arch}` (the Debian arch name) in a URL template.
pub fn expand_url(
    template: &str,
    target: &Target,
    mut mirror: impl FnMut(&str) -> Result<String, MirrorError>,
) -> Result<String, MirrorError> {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').ok_or_else(|| MirrorError::BadTemplate {
                repo: String::new(),
                placeholder: rest[start..].to_string(),
                url: template.to_string(),
            })?;
            let name = &inner[..end];
            let value = if let Some(m) = name.strip_prefix("mirror.") {
                mirror(m)?
            } else {
                var(name, target).ok_or_else(|| MirrorError::BadTemplate {
                    repo: String::new(),
                    placeholder: format!("${{{name}}}"),
                    url: template.to_string(),
                })?
            };
            out.push_str(&value);
            rest = &inner[end + 1..];
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..len];
            match var(name, target) {
                Some(v) => out.push_str(&v),
                None => {
                    out.push('$');
                    out.push_str(name);
                }
            }
            rest = &after[len..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn var(name: &str, t: &Target) -> Option<String> {
    Some(match name {
        "codename" => t.os.codename().unwrap_or("").to_string(),
        "distro" => t.os.distro().to_string(),
        "releasever" => t.os.release().to_string(),
        "basearch" => t.arch.as_str().to_string(),
        "arch" => t.arch.deb().to_string(),
        _ => return None,
    })
}

/// Reads the base-OS mirrors the host's own package manager uses, under `root` (`/` normally).
/// Only the mirrors of the host's own distribution are taken: a Debian host tells `debian` and
/// `debian-security`, an Ubuntu host `ubuntu` or `ubuntu-ports`, an EL host `el` and `epel`.
pub fn host_mirrors(root: &Path) -> BTreeMap<String, String> {
    let Ok(os) = Os::detect(&root.join("etc/os-release")) else {
        return BTreeMap::new();
    };
    match os.distro() {
        "debian" | "ubuntu" => apt_mirrors(root, os, Arch::host().unwrap_or(Arch::X86_64)),
        _ => dnf_mirrors(root),
    }
}

/// One `deb` source: a URI and its suites.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
}

/// Parses apt's one-line `sources.list` format and the deb822 `.sources` format.
pub fn parse_apt_sources(text: &str, deb822: bool) -> Vec<AptSource> {
    let mut out = Vec::new();
    if deb822 {
        // deb822-fast reads the paragraphs (comments, continuation lines); field names are
        // matched case-insensitively, as apt does. A file it cannot read gives no sources:
        // the host's mirrors are a convenience, a flag sets any of them.
        let Ok(doc) = text.parse::<deb822_fast::Deb822>() else {
            return out;
        };
        for para in doc.iter() {
            let field = |name: &str| {
                para.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
            };
            let enabled = field("Enabled").is_none_or(|e| !e.trim().eq_ignore_ascii_case("no"));
            let deb = field("Types").is_some_and(|t| t.split_whitespace().any(|t| t == "deb"));
            if !enabled || !deb {
                continue;
            }
            let suites: Vec<String> = field("Suites")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            for uri in field("URIs")
                .map(str::split_whitespace)
                .into_iter()
                .flatten()
            {
                out.push(AptSource {
                    uri: uri.to_string(),
                    suites: suites.clone(),
                });
            }
        }
    } else {
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let mut words = line.split_whitespace().peekable();
            if words.next() != Some("deb") {
                continue;
            }
            if words.peek().is_some_and(|w| w.starts_with('[')) {
                for w in words.by_ref() {
                    if w.ends_with(']') {
                        break;
                    }
                }
            }
            if let (Some(uri), Some(suite)) = (words.next(), words.next()) {
                out.push(AptSource {
                    uri: uri.to_string(),
                    suites: vec![suite.to_string()],
                });
            }
        }
    }
    out
}

fn apt_mirrors(root: &Path, os: Os, arch: Arch) -> BTreeMap<String, String> {
    let mut sources = Vec::new();
    if let Ok(t) = std::fs::read_to_string(root.join("etc/apt/sources.list")) {
        sources.extend(parse_apt_sources(&t, false));
    }
    if let Ok(dir) = std::fs::read_dir(root.join("etc/apt/sources.list.d")) {
        let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            let Ok(t) = std::fs::read_to_string(&p) else {
                continue;
            };
            match p.extension().and_then(|e| e.to_str()) {
                Some("list") => sources.extend(parse_apt_sources(&t, false)),
                Some("sources") => sources.extend(parse_apt_sources(&t, true)),
                _ => {}
            }
        }
    }
    mirrors_from_apt_sources(&sources, os, arch)
}

/// Picks the base-OS mirrors out of a host's apt sources.
pub fn mirrors_from_apt_sources(
    sources: &[AptSource],
    os: Os,
    arch: Arch,
) -> BTreeMap<String, String> {
    let codename = os.codename().unwrap_or("");
    let (main, security) = match os.distro() {
        "debian" => ("debian", Some("debian-security")),
        _ if arch == Arch::Aarch64 => ("ubuntu-ports", None),
        _ => ("ubuntu", None),
    };
    let mut out = BTreeMap::new();
    for s in sources {
        for suite in &s.suites {
            let name = if suite.ends_with("-security") {
                match security {
                    Some(n) => n,
                    None => continue,
                }
            } else if suite == codename || suite.starts_with(&format!("{codename}-")) {
                main
            } else {
                continue;
            };
            out.entry(name.to_string()).or_insert_with(|| trim(&s.uri));
        }
    }
    out
}

fn dnf_mirrors(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(root.join("etc/yum.repos.d")) else {
        return out;
    };
    let mut paths: Vec<_> = dir.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.extension().is_none_or(|e| e != "repo") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        for (k, v) in mirrors_from_dnf_repo(&text) {
            out.entry(k).or_insert(v);
        }
    }
    out
}

/// Picks the `el` (BaseOS root) and `epel` mirrors out of a `.repo` file's baseurls.
pub fn mirrors_from_dnf_repo(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() != "baseurl" {
            continue;
        }
        let url = v.split_whitespace().next().unwrap_or("");
        let root = |marker: &str| -> Option<String> {
            let i = url.find(marker)?;
            let head = &url[..i];
            // strip the release part: `/$releasever` or `/9` or `/9.4`
            let cut = head.rfind('/')?;
            Some(trim(&head[..cut]))
        };
        if url.contains("/BaseOS/") {
            if let Some(r) = root("/BaseOS/") {
                out.entry("el".to_string()).or_insert(r);
            }
        } else if url.contains("/Everything/") {
            if let Some(r) = root("/Everything/") {
                out.entry("epel".to_string()).or_insert(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(url: &str) -> RepoDef {
        RepoDef {
            name: "r".into(),
            module: "node".into(),
            url: url.into(),
            key: "k".into(),
            priority: None,
            excludepkgs: vec![],
            module_hotfixes: false,
            optional: false,
        }
    }

    #[test]
    fn expands_templates() {
        let host = BTreeMap::from([("debian".to_string(), "http://m.invalid/debian/".to_string())]);
        let m = Mirrors::new(&[], &BTreeMap::new(), &host).unwrap();
        let t = Target::new(Os::D12, Arch::X86_64, 17);
        assert_eq!(
            m.expand(&repo("${mirror.debian}/ ${codename}-updates main"), &t)
                .unwrap(),
            "http://m.invalid/debian/ bookworm-updates main"
        );
        let el = Target::new(Os::El9, Arch::Aarch64, 17);
        let m = Mirrors::new(
            &["el=http://e.invalid/rocky".into()],
            &BTreeMap::new(),
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(
            m.expand(&repo("${mirror.el}/$releasever/BaseOS/$basearch/os/"), &el)
                .unwrap(),
            "http://e.invalid/rocky/9/BaseOS/aarch64/os/"
        );
    }

    #[test]
    fn flags_beat_config_beat_host() {
        let host = BTreeMap::from([(
            "debian".to_string(),
            "http://host.invalid/debian".to_string(),
        )]);
        let config = BTreeMap::from([(
            "debian".to_string(),
            "http://config.invalid/debian".to_string(),
        )]);
        let m = Mirrors::new(&[], &config, &host).unwrap();
        assert_eq!(
            m.get("debian"),
            Some(("http://config.invalid/debian", MirrorSource::Config))
        );
        let m = Mirrors::new(
            &["debian=http://flag.invalid/debian".into()],
            &config,
            &host,
        )
        .unwrap();
        assert_eq!(
            m.get("debian"),
            Some(("http://flag.invalid/debian", MirrorSource::Flag))
        );
        assert!(matches!(
            Mirrors::new(&["debian".into()], &config, &host),
            Err(MirrorError::BadFlag(_))
        ));
    }

    #[test]
    fn unset_mirror_names_the_flag() {
        let m = Mirrors::default();
        let t = Target::new(Os::D12, Arch::X86_64, 17);
        let mut r = repo("${mirror.pgdg}/apt/ ${codename}-pgdg main");
        r.name = "pgdg".into();
        r.module = "pgsql".into();
        let err = m.expand(&r, &t).unwrap_err().to_string();
        assert!(
            err.contains("--mirror pgdg=URL") && err.contains("repo `pgdg`"),
            "{err}"
        );
    }

    #[test]
    fn reads_host_apt_sources() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://a.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://a.invalid/debian-security\nSuites: bookworm-security\nComponents: main\n\nTypes: deb\nURIs: http://other.invalid/x\nSuites: nodistro\nEnabled: yes\n";
        let mut s = parse_apt_sources(deb822, true);
        s.extend(parse_apt_sources(
            "deb [arch=amd64 signed-by=/k.gpg] http://b.invalid/debian bookworm main\n",
            false,
        ));
        let m = mirrors_from_apt_sources(&s, Os::D12, Arch::X86_64);
        assert_eq!(m["debian"], "http://a.invalid/debian");
        assert_eq!(m["debian-security"], "http://a.invalid/debian-security");
        assert_eq!(m.len(), 2);
        let off = "Types: deb\nURIs: http://c.invalid/debian\nSuites: bookworm\nEnabled: no\n";
        assert!(
            mirrors_from_apt_sources(&parse_apt_sources(off, true), Os::D12, Arch::X86_64)
                .is_empty()
        );
    }

    #[test]
    fn check_names_every_unset_mirror_once() {
        let t = Target::new(Os::D12, Arch::X86_64, 17);
        let mut a = repo("${mirror.pgdg}/apt/ ${codename}-pgdg main");
        a.name = "pgdg".into();
        let mut b = repo("${mirror.debian}/ ${codename} main");
        b.name = "base".into();
        let mut c = repo("${mirror.debian}/ ${codename}-updates main");
        c.name = "updates".into();
        let m = Mirrors::default();
        match m.check([&a, &b, &c], &t).unwrap_err() {
            MirrorError::Missing { missing, .. } => {
                assert_eq!(missing.len(), 2);
                assert_eq!(missing[1].mirror, "debian");
                assert_eq!(missing[1].repos, ["base", "updates"]);
            }
            e => panic!("{e}"),
        }
        // A preset for pgdg (crate::regions never gives Debian's own mirror one).
        let presets = Presets {
            region: Region::Default,
            source: Some("pigsty".into()),
        };
        let table = BTreeMap::from([("pgdg".to_string(), "http://pg.invalid/".to_string())]);
        let m = Mirrors::default().with_presets(presets, table);
        assert_eq!(m.get("pgdg").map(|(_, s)| s), Some(MirrorSource::Region));
        assert!(m.get("debian").is_none());
        let err = m.check([&a, &b, &c], &t).unwrap_err().to_string();
        assert!(
            err.contains("needs 1 mirror ") && err.contains("--mirror debian=URL"),
            "{err}"
        );
        let (url, unset) = m.try_expand(&b, &t).unwrap();
        assert_eq!(
            (url.as_str(), unset),
            (
                "${mirror.debian}/ bookworm main",
                vec!["debian".to_string()]
            )
        );
    }

    #[test]
    fn region_parses_any_case() {
        assert!("mars".parse::<Region>().is_err());
        assert_eq!("China".parse::<Region>().unwrap(), Region::China);
    }

    #[test]
    fn reads_host_dnf_repos() {
        let repo = "[baseos]\nname=Rocky\nbaseurl=http://r.invalid/pub/rocky/$releasever/BaseOS/$basearch/os/\n[epel]\nbaseurl=http://r.invalid/epel/9/Everything/x86_64/\n";
        let m = mirrors_from_dnf_repo(repo);
        assert_eq!(m["el"], "http://r.invalid/pub/rocky");
        assert_eq!(m["epel"], "http://r.invalid/epel");
    }
}
