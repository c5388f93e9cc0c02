//! Per-OS defaults from `manifests/`: upstream repositories, signing keys, package aliases and
//! default package sets, merged for one target and overlaid with the user's `--config FILE`.
//!
//! Layering, later wins: `manifests/<family>/packages.toml` (family defaults and aliases),
//! `manifests/<family>/<os>.toml`, `manifests/<family>/<os>.<arch>.toml`, then the user file.
//! Repositories come from `manifests/<family>/repos.toml`, filtered by the target's release and
//! arch; a user `[[repo]]` with the name of an existing one changes the fields it gives, any
//! other name adds a repository.

use std::collections::BTreeMap;
use std::path::Path;

use pigsty_bundle::{Arch, Family, Target};
use serde::{Deserialize, Serialize};

include!(concat!(env!("OUT_DIR"), "/manifests.rs"));

/// One upstream repository of a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepoDef {
    pub name: String,
    /// The repo module (`node`, `infra`, `pgsql`, `extra`, ...): what `--modules` selects.
    pub module: String,
    /// URL template. For apt, Pigsty's one-line form `URL SUITE COMPONENT...`; for dnf, a baseurl.
    /// May hold `${mirror.NAME}`, `${codename}`, `${distro}`, `$releasever`, `$basearch`.
    pub url: String,
    /// Name of the key in `[keys]` that signs this repo.
    pub key: String,
    /// dnf priority (lower wins); apt repos use list order.
    pub priority: Option<u32>,
    /// dnf `excludepkgs` globs.
    pub excludepkgs: Vec<String>,
    pub module_hotfixes: bool,
    /// Pigsty's `skip_if_unavailable`: an unreachable optional repo is a warning, not an error.
    pub optional: bool,
}

/// Where to find the public key(s) a repo is signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyDef {
    /// A keyring or armored key file (may hold `$releasever`).
    pub keyring: String,
}

/// The default package sets of a target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Aliases downloaded by default (Pigsty's `repo_packages_default`).
    #[serde(default)]
    pub repo_packages: Vec<String>,
    /// PostgreSQL packages downloaded by default (`repo_extra_packages_default`).
    #[serde(default)]
    pub extra_packages: Vec<String>,
    /// Packages installed on every node (`node_packages_default`).
    #[serde(default)]
    pub node_packages: Vec<String>,
    /// Packages installed on infra nodes (`infra_packages_default`).
    #[serde(default)]
    pub infra_packages: Vec<String>,
    /// The repo modules a build uses unless `--modules` says otherwise (Pigsty's
    /// `repo_modules`); empty: every module the target defines.
    #[serde(default)]
    pub repo_modules: Vec<String>,
}

/// `[bootstrap]`: what `pigsty-install` installs before it hands off to Pigsty. Kept apart
/// from `[defaults]` (Pigsty's package sets, checked against its per-OS vars): an OS file may
/// change it alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct BootstrapToml {
    packages: Vec<String>,
}

/// Everything the manifests say about one target.
#[derive(Debug, Clone)]
pub struct Distro {
    pub target: Target,
    pub repos: Vec<RepoDef>,
    pub keys: BTreeMap<String, KeyDef>,
    pub aliases: BTreeMap<String, String>,
    /// Alias name to the repo module it is expected from.
    pub alias_modules: BTreeMap<String, String>,
    pub defaults: Defaults,
    /// The bootstrap set: always resolved into the bundle with its closure (unless
    /// `--no-bootstrap`), installed first by `pigsty-install`.
    pub bootstrap: Vec<String>,
    /// Mirror URLs the user set in `--config` (`[mirrors]`).
    pub config_mirrors: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DistroError {
    #[error("manifest {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("cannot read config file {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path}: repo `{name}` is new and needs a `url`")]
    RepoWithoutUrl { path: String, name: String },
    #[error("alias `{alias}` expands into itself ({chain})")]
    AliasCycle { alias: String, chain: String },
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct ReposFile {
    #[serde(default)]
    keys: BTreeMap<String, KeyDef>,
    #[serde(default)]
    repo: Vec<RepoToml>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RepoToml {
    name: String,
    module: Option<String>,
    releases: Option<Vec<u32>>,
    arch: Option<Vec<Arch>>,
    url: Option<String>,
    key: Option<String>,
    priority: Option<u32>,
    excludepkgs: Option<Vec<String>>,
    module_hotfixes: Option<bool>,
    optional: Option<bool>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct PackagesFile {
    defaults: Option<Defaults>,
    bootstrap: Option<BootstrapToml>,
    #[serde(default)]
    modules: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
}

/// A user's `--config FILE`: mirrors, keys, repositories, aliases and default sets.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserConfig {
    #[serde(default)]
    mirrors: BTreeMap<String, String>,
    #[serde(default)]
    keys: BTreeMap<String, KeyDef>,
    #[serde(default)]
    repo: Vec<RepoToml>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    modules: BTreeMap<String, Vec<String>>,
    defaults: Option<Defaults>,
    bootstrap: Option<BootstrapToml>,
}

/// The embedded manifests, each parsed once per process (the matrix loads 96 targets).
struct Parsed {
    repos: BTreeMap<String, Result<ReposFile, String>>,
    packages: BTreeMap<String, Result<PackagesFile, String>>,
}

fn parsed() -> &'static Parsed {
    static PARSED: std::sync::OnceLock<Parsed> = std::sync::OnceLock::new();
    PARSED.get_or_init(|| {
        let mut p = Parsed {
            repos: BTreeMap::new(),
            packages: BTreeMap::new(),
        };
        for (path, text) in MANIFEST_FILES {
            let shown = format!("manifests/{path}");
            if path.ends_with("/repos.toml") {
                p.repos.insert(
                    path.to_string(),
                    parse(text, &shown).map_err(|e| e.to_string()),
                );
            } else {
                p.packages.insert(
                    path.to_string(),
                    parse(text, &shown).map_err(|e| e.to_string()),
                );
            }
        }
        p
    })
}

fn cached<T: Clone>(
    map: &BTreeMap<String, Result<T, String>>,
    path: &str,
) -> Result<Option<T>, DistroError> {
    match map.get(path) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v.clone())),
        Some(Err(reason)) => Err(DistroError::Parse {
            path: format!("manifests/{path}"),
            reason: reason.clone(),
        }),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(text: &str, path: &str) -> Result<T, DistroError> {
    toml::from_str(text).map_err(|e| DistroError::Parse {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

impl Distro {
    /// Loads the manifests for a target, overlaid with a user config file if given.
    pub fn load(target: Target, config: Option<&Path>) -> Result<Distro, DistroError> {
        let fam = target.family().as_str();
        let repos_path = format!("{fam}/repos.toml");
        let repos_file: ReposFile = cached(&parsed().repos, &repos_path)?.unwrap_or_default();
        let mut distro = Distro {
            target,
            repos: Vec::new(),
            keys: repos_file.keys,
            aliases: BTreeMap::new(),
            alias_modules: BTreeMap::new(),
            defaults: Defaults::default(),
            bootstrap: Vec::new(),
            config_mirrors: BTreeMap::new(),
        };
        for r in repos_file.repo {
            if r.releases
                .as_ref()
                .is_some_and(|rel| !rel.contains(&target.os.release()))
                || r.arch.as_ref().is_some_and(|a| !a.contains(&target.arch))
            {
                continue;
            }
            distro.upsert_repo(r, &format!("manifests/{repos_path}"))?;
        }
        let layers = [
            format!("{fam}/packages.toml"),
            format!("{fam}/{}.toml", target.os.code()),
            format!("{fam}/{}.{}.toml", target.os.code(), target.arch.as_str()),
        ];
        for layer in &layers {
            if let Some(file) = cached(&parsed().packages, layer)? {
                distro.apply_packages(file.defaults, file.bootstrap, file.modules, file.aliases);
            }
        }
        if let Some(path) = config {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| DistroError::Io {
                path: shown.clone(),
                source,
            })?;
            let user: UserConfig = parse(&text, &shown)?;
            distro.config_mirrors = user.mirrors;
            distro.keys.extend(user.keys);
            for r in user.repo {
                if r.releases
                    .as_ref()
                    .is_some_and(|rel| !rel.contains(&target.os.release()))
                    || r.arch.as_ref().is_some_and(|a| !a.contains(&target.arch))
                {
                    continue;
                }
                distro.upsert_repo(r, &shown)?;
            }
            distro.apply_packages(user.defaults, user.bootstrap, user.modules, user.aliases);
        }
        Ok(distro)
    }

    fn apply_packages(
        &mut self,
        defaults: Option<Defaults>,
        bootstrap: Option<BootstrapToml>,
        modules: BTreeMap<String, Vec<String>>,
        aliases: BTreeMap<String, String>,
    ) {
        if let Some(d) = defaults {
            self.defaults = d;
        }
        if let Some(b) = bootstrap {
            self.bootstrap = b.packages;
        }
        for (module, names) in modules {
            for n in names {
                self.alias_modules.insert(n, module.clone());
            }
        }
        self.aliases.extend(aliases);
    }

    fn upsert_repo(&mut self, r: RepoToml, path: &str) -> Result<(), DistroError> {
        if let Some(existing) = self.repos.iter_mut().find(|x| x.name == r.name) {
            if let Some(v) = r.module {
                existing.module = v;
            }
            if let Some(v) = r.url {
                existing.url = v;
            }
            if let Some(v) = r.key {
                existing.key = v;
            }
            if r.priority.is_some() {
                existing.priority = r.priority;
            }
            if let Some(v) = r.excludepkgs {
                existing.excludepkgs = v;
            }
            if let Some(v) = r.module_hotfixes {
                existing.module_hotfixes = v;
            }
            if let Some(v) = r.optional {
                existing.optional = v;
            }
            return Ok(());
        }
        let url = r.url.ok_or_else(|| DistroError::RepoWithoutUrl {
            path: path.to_string(),
            name: r.name.clone(),
        })?;
        self.repos.push(RepoDef {
            key: r.key.unwrap_or_else(|| r.name.clone()),
            name: r.name,
            module: r.module.unwrap_or_else(|| "extra".to_string()),
            url,
            priority: r.priority,
            excludepkgs: r.excludepkgs.unwrap_or_default(),
            module_hotfixes: r.module_hotfixes.unwrap_or(false),
            optional: r.optional.unwrap_or(false),
        });
        Ok(())
    }

    pub fn family(&self) -> Family {
        self.target.family()
    }

    /// The repo modules this target defines, in manifest order.
    pub fn modules(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.repos {
            if !out.contains(&r.module.as_str()) {
                out.push(&r.module);
            }
        }
        out
    }

    /// The module an alias's packages are expected from.
    pub fn alias_module(&self, alias: &str) -> String {
        if let Some(m) = self.alias_modules.get(alias) {
            return m.clone();
        }
        match self.aliases.get(alias) {
            Some(v) if v.contains("$v") || v.contains("${v}") => "pgsql".to_string(),
            _ => "extra".to_string(),
        }
    }

    /// Expands one `--packages` item: an alias becomes its packages (aliases inside aliases
    /// are expanded too), anything else is a package name. `$v` becomes the PG major.
    pub fn expand(&self, item: &str) -> Result<Vec<String>, DistroError> {
        let mut out = Vec::new();
        let mut chain = Vec::new();
        self.expand_into(item, &mut chain, &mut out)?;
        Ok(out)
    }

    fn expand_into(
        &self,
        item: &str,
        chain: &mut Vec<String>,
        out: &mut Vec<String>,
    ) -> Result<(), DistroError> {
        let Some(value) = self.aliases.get(item) else {
            let name = crate::catalog::expand_v(item, self.target.pg);
            if !out.contains(&name) {
                out.push(name);
            }
            return Ok(());
        };
        if chain.iter().any(|c| c == item) {
            chain.push(item.to_string());
            return Err(DistroError::AliasCycle {
                alias: item.to_string(),
                chain: chain.join(" -> "),
            });
        }
        chain.push(item.to_string());
        for word in split_list(value) {
            // An alias may name itself as a package (`pgbouncer = "pgbouncer"`).
            if word == item {
                let name = crate::catalog::expand_v(&word, self.target.pg);
                if !out.contains(&name) {
                    out.push(name);
                }
            } else {
                self.expand_into(&word, chain, out)?;
            }
        }
        chain.pop();
        Ok(())
    }
}

/// Splits a package list as Pigsty writes them: spaces and/or commas.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::Os;
    use std::io::Write;

    fn d(os: Os, arch: Arch, pg: u32) -> Distro {
        Distro::load(Target::new(os, arch, pg), None).unwrap()
    }

    #[test]
    fn alias_expansion_with_pg_major() {
        let el9 = d(Os::El9, Arch::X86_64, 17);
        assert_eq!(
            el9.expand("pgsql-mini").unwrap(),
            vec![
                "postgresql17",
                "postgresql17-server",
                "postgresql17-libs",
                "postgresql17-contrib"
            ]
        );
        let d12 = d(Os::D12, Arch::X86_64, 15);
        assert_eq!(
            d12.expand("pgsql-mini").unwrap(),
            vec!["postgresql-15", "postgresql-client-15"]
        );
        // not an alias: taken as a package name, with $v expanded
        assert_eq!(d12.expand("htop").unwrap(), vec!["htop"]);
        assert_eq!(
            d12.expand("postgresql-$v-cron").unwrap(),
            vec!["postgresql-15-cron"]
        );
    }

    #[test]
    fn os_and_arch_layers_override_the_family() {
        let el9 = d(Os::El9, Arch::X86_64, 17);
        let el9a = d(Os::El9, Arch::Aarch64, 17);
        assert!(el9
            .expand("patroni")
            .unwrap()
            .contains(&"patroni".to_string()));
        assert!(el9a
            .expand("patroni")
            .unwrap()
            .contains(&"patroni.noarch".to_string()));
        let d12 = d(Os::D12, Arch::X86_64, 17);
        let d13 = d(Os::D13, Arch::X86_64, 17);
        assert_ne!(
            d12.aliases.get("java-runtime"),
            d13.aliases.get("java-runtime")
        );
    }

    #[test]
    fn repos_follow_release_and_arch() {
        let d12 = d(Os::D12, Arch::X86_64, 17);
        let base = d12.repos.iter().find(|r| r.name == "base").unwrap();
        assert!(base.url.starts_with("${mirror.debian}/"), "{}", base.url);
        assert!(d12.repos.iter().any(|r| r.name == "haproxyd"));
        let d13 = d(Os::D13, Arch::X86_64, 17);
        assert!(!d13.repos.iter().any(|r| r.name == "haproxyd"));
        let u24a = d(Os::U24, Arch::Aarch64, 17);
        let base = u24a.repos.iter().find(|r| r.name == "base").unwrap();
        assert!(
            base.url.starts_with("${mirror.ubuntu-ports}/"),
            "{}",
            base.url
        );
        let el8 = d(Os::El8, Arch::X86_64, 17);
        assert!(el8.repos.iter().any(|r| r.name == "powertools"));
        assert!(!el8.repos.iter().any(|r| r.name == "crb"));
        let appstream = el8.repos.iter().find(|r| r.name == "appstream").unwrap();
        assert_eq!(appstream.excludepkgs, vec!["postgresql*", "libpq*"]);
        let el9a = d(Os::El9, Arch::Aarch64, 17);
        assert!(!el9a.repos.iter().any(|r| r.name == "pgdg17-nonfree"));
    }

    #[test]
    fn bootstrap_set_is_pigstys_per_os_and_a_config_may_change_it() {
        let boot = |os| d(os, Arch::X86_64, 17).bootstrap;
        assert_eq!(
            boot(Os::D12),
            ["ansible", "python3-jmespath", "python3-apt"]
        );
        assert_eq!(
            boot(Os::U24),
            ["ansible", "python3-jmespath", "python3-apt"]
        );
        assert_eq!(boot(Os::El9), ["ansible", "python3-jmespath"]);
        assert_eq!(
            boot(Os::El8),
            ["ansible", "python3.12-jmespath", "python3-cryptography"]
        );
        // the OS layer changed the bootstrap set alone: el8's defaults are the family's
        assert_eq!(
            d(Os::El8, Arch::X86_64, 17).defaults,
            d(Os::El9, Arch::X86_64, 17).defaults
        );
        assert_eq!(
            d(Os::D12, Arch::X86_64, 17).defaults.repo_modules,
            ["infra", "node", "pgsql"]
        );
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[bootstrap]\npackages = [\"ansible-core\"]").unwrap();
        let t = Target::new(Os::D12, Arch::X86_64, 16);
        let dist = Distro::load(t, Some(f.path())).unwrap();
        assert_eq!(dist.bootstrap, ["ansible-core"]);
        // the old place is refused by name, not silently ignored
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[defaults]\nbootstrap = [\"ansible-core\"]").unwrap();
        let err = Distro::load(t, Some(f.path())).unwrap_err().to_string();
        assert!(err.contains("bootstrap"), "{err}");
    }

    #[test]
    fn user_config_overrides_and_adds() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            r#"
[mirrors]
pgdg = "http://mirror.invalid/pg"

[[repo]]
name = "pgdg"
url = "${{mirror.pgdg}}/apt/ bookworm-pgdg main"

[[repo]]
name = "site"
module = "site"
url = "http://mirror.invalid/site ./"

[aliases]
my-stack = "pgsql-mini htop"
"#
        )
        .unwrap();
        let t = Target::new(Os::D12, Arch::X86_64, 16);
        let dist = Distro::load(t, Some(f.path())).unwrap();
        assert_eq!(dist.config_mirrors["pgdg"], "http://mirror.invalid/pg");
        let pgdg = dist.repos.iter().find(|r| r.name == "pgdg").unwrap();
        assert_eq!(pgdg.url, "${mirror.pgdg}/apt/ bookworm-pgdg main");
        assert_eq!(pgdg.module, "pgsql");
        assert!(dist
            .repos
            .iter()
            .any(|r| r.name == "site" && r.module == "site"));
        assert_eq!(
            dist.expand("my-stack").unwrap(),
            vec!["postgresql-16", "postgresql-client-16", "htop"]
        );
    }

    #[test]
    fn alias_cycles_are_errors() {
        let mut dist = d(Os::D12, Arch::X86_64, 16);
        dist.aliases.insert("a".into(), "b x".into());
        dist.aliases.insert("b".into(), "a".into());
        let err = dist.expand("a").unwrap_err().to_string();
        assert!(err.contains("a -> b -> a"), "{err}");
    }
}
