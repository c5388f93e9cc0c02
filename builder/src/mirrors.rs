//! Mirror settings: what `${mirror.NAME}` in a repository URL stands for.
//!
//! No registry host is written in this project. A mirror comes, first found wins, from
//! `--mirror NAME=URL`, from `[mirrors]` in `--config`, or, for the base OS the build host
//! itself runs, from the URL the host's own package manager is configured with (apt's
//! `sources.list`/`.sources`, dnf's `.repo` files). A repository whose mirror is known by none
//! of these is an error that names the flag to pass.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

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
}

impl fmt::Display for MirrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MirrorSource::Flag => "--mirror",
            MirrorSource::Config => "--config",
            MirrorSource::HostSources => "host package sources",
        })
    }
}

/// The mirrors known for one run.
#[derive(Debug, Clone, Default)]
pub struct Mirrors {
    map: BTreeMap<String, (String, MirrorSource)>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MirrorError {
    #[error("bad --mirror `{0}`: want NAME=URL, for example debian=http://HOST/debian")]
    BadFlag(String),
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
                    hint: if matches!(
                        name,
                        "debian" | "debian-security" | "ubuntu" | "ubuntu-ports" | "el" | "epel"
                    ) {
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
        for para in text.split("\n\n") {
            let mut fields: BTreeMap<String, String> = BTreeMap::new();
            let mut last: Option<String> = None;
            for line in para.lines() {
                if line.trim_start().starts_with('#') {
                    continue;
                }
                if line.starts_with([' ', '\t']) {
                    if let Some(k) = &last {
                        if let Some(v) = fields.get_mut(k) {
                            v.push(' ');
                            v.push_str(line.trim());
                        }
                    }
                    continue;
                }
                if let Some((k, v)) = line.split_once(':') {
                    let k = k.trim().to_lowercase();
                    fields.insert(k.clone(), v.trim().to_string());
                    last = Some(k);
                }
            }
            let types = fields.get("types").cloned().unwrap_or_default();
            let enabled = fields
                .get("enabled")
                .is_none_or(|e| !e.eq_ignore_ascii_case("no"));
            if !enabled || !types.split_whitespace().any(|t| t == "deb") {
                continue;
            }
            let suites: Vec<String> = fields
                .get("suites")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default();
            for uri in fields
                .get("uris")
                .map(|s| s.split_whitespace())
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
    fn reads_host_dnf_repos() {
        let repo = "[baseos]\nname=Rocky\nbaseurl=http://r.invalid/pub/rocky/$releasever/BaseOS/$basearch/os/\n[epel]\nbaseurl=http://r.invalid/epel/9/Everything/x86_64/\n";
        let m = mirrors_from_dnf_repo(repo);
        assert_eq!(m["el"], "http://r.invalid/pub/rocky");
        assert_eq!(m["epel"], "http://r.invalid/epel");
    }
}
