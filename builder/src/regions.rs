//! Region presets (`--region`): what `${mirror.NAME}` stands for, read from Pigsty's own repo lists.
//!
//! This project writes no package registry's host anywhere. The presets come from the source tree
//! of the Pigsty release being bundled (a directory or its tarball: `--pigsty`, else
//! `$PIGSTY_HOME`, else `~/pigsty`, where Pigsty's installer puts it): its per-OS repo lists,
//! `roles/node_id/vars/<os>.<arch>.yml`, give each repository a URL per region (`default`,
//! `china`, `europe`). A mirror's preset is the part of that URL before the path our own
//! `repos.toml` gives after `${mirror.NAME}`. A region keeps a mirror only where every repo of it
//! has a URL for the region and all agree on the root; elsewhere the default applies. Debian's
//! and Ubuntu's own mirrors have no preset: they stay settings (the host's sources or a flag).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use pigsty_bundle::{Family, Target};
use serde::Deserialize;

use crate::distro::RepoDef;
use crate::mirrors::{Region, SETTINGS_ONLY};

/// Where Pigsty's repo lists are, inside its source tree.
const VARS_DIR: &str = "roles/node_id/vars";
/// The largest repo list read (Pigsty's are about 20 KiB).
const MAX_VARS: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    #[error(
        "{0} is not Pigsty's source (no {VARS_DIR}/ in it): give --pigsty its directory or \
         its .tgz, or --region none"
    )]
    NotPigsty(PathBuf),
    #[error("cannot read Pigsty's source {0}")]
    Read(PathBuf, #[source] std::io::Error),
    #[error("{file} in Pigsty's source {src}: not a repo list Pigsty writes")]
    Parse {
        src: PathBuf,
        file: String,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error(
        "Pigsty's source {src} has no repo list for this target ({file}): is it an older \
         release? Give the mirrors with --mirror, or --region none"
    )]
    NoList { src: PathBuf, file: String },
}

/// A Pigsty source tree, unpacked or as its tarball.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PigstySource {
    path: PathBuf,
}

impl PigstySource {
    /// `--pigsty PATH`: a directory holding `roles/node_id/vars/` (or `pigsty/roles/...`), or a
    /// tarball of one (gzip or plain).
    pub fn open(path: &Path) -> Result<PigstySource, RegionError> {
        let meta = std::fs::metadata(path).map_err(|e| RegionError::Read(path.into(), e))?;
        if meta.is_file() {
            return Ok(PigstySource { path: path.into() });
        }
        for dir in [path.to_path_buf(), path.join("pigsty")] {
            if dir.join(VARS_DIR).is_dir() {
                return Ok(PigstySource { path: dir });
            }
        }
        Err(RegionError::NotPigsty(path.into()))
    }

    /// The source a run uses: `--pigsty`, else `$PIGSTY_HOME`, else `~/pigsty`. A flag that
    /// does not name Pigsty's source is an error; the other two are only looked at.
    pub fn locate(flag: Option<&Path>) -> Result<Option<PigstySource>, RegionError> {
        if let Some(path) = flag {
            return PigstySource::open(path).map(Some);
        }
        let home = std::env::var_os("HOME").map(|h| PathBuf::from(h).join("pigsty"));
        let found = std::env::var_os("PIGSTY_HOME")
            .map(PathBuf::from)
            .into_iter()
            .chain(home)
            .find(|dir| dir.join(VARS_DIR).is_dir())
            .map(|path| PigstySource { path });
        Ok(found)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The presets of a region for a target whose repositories are `repos`: mirror -> root.
    pub fn presets(
        &self,
        target: &Target,
        region: Region,
        repos: &[RepoDef],
    ) -> Result<BTreeMap<String, String>, RegionError> {
        if region == Region::None {
            return Ok(BTreeMap::new());
        }
        let file = format!("{}.{}.yml", target.os.code(), target.arch.as_str());
        let lists = self.lists()?;
        let text = lists.get(&file).ok_or_else(|| RegionError::NoList {
            src: self.path.clone(),
            file: format!("{VARS_DIR}/{file}"),
        })?;
        let vars: Vars = serde_yaml_ng::from_str(text).map_err(|source| RegionError::Parse {
            src: self.path.clone(),
            file: format!("{VARS_DIR}/{file}"),
            source,
        })?;
        Ok(roots(&vars, target, region, repos))
    }

    /// Every repo list of the source, file name -> text, read once per process (a tarball is
    /// read through once for all targets of a matrix).
    fn lists(&self) -> Result<Arc<BTreeMap<String, String>>, RegionError> {
        type Cache = Mutex<BTreeMap<PathBuf, Arc<BTreeMap<String, String>>>>;
        static CACHE: OnceLock<Cache> = OnceLock::new();
        let cache = CACHE.get_or_init(Default::default);
        let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(lists) = cache.get(&self.path) {
            return Ok(lists.clone());
        }
        let read = |e| RegionError::Read(self.path.clone(), e);
        let lists = if self.path.is_dir() {
            read_dir_lists(&self.path.join(VARS_DIR)).map_err(read)?
        } else {
            read_tar_lists(&self.path).map_err(read)?
        };
        if lists.is_empty() {
            return Err(RegionError::NotPigsty(self.path.clone()));
        }
        let lists = Arc::new(lists);
        cache.insert(self.path.clone(), lists.clone());
        Ok(lists)
    }
}

fn read_dir_lists(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".yml") && entry.file_type()?.is_file() {
            let file = std::fs::File::open(entry.path())?;
            out.insert(name, read_capped(file)?);
        }
    }
    Ok(out)
}

/// The repo lists inside a tarball of Pigsty's source (gzip-compressed or not), streamed.
fn read_tar_lists(path: &Path) -> std::io::Result<BTreeMap<String, String>> {
    let mut file = std::fs::File::open(path)?;
    let mut magic = [0u8; 2];
    let gz = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::MultiGzDecoder::new(std::io::BufReader::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let mut out = BTreeMap::new();
    for entry in tar::Archive::new(reader).entries()? {
        let entry = entry?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry.path()?.into_owned();
        let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let in_vars = path
            .parent()
            .is_some_and(|p| p.ends_with(VARS_DIR) && p.components().count() <= 5);
        if in_vars && name.ends_with(".yml") {
            out.insert(name, read_capped(entry)?);
        }
    }
    Ok(out)
}

fn read_capped(reader: impl Read) -> std::io::Result<String> {
    let mut text = String::new();
    reader.take(MAX_VARS + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_VARS {
        return Err(std::io::Error::other(format!(
            "a repo list over {} MiB",
            MAX_VARS >> 20
        )));
    }
    Ok(text)
}

/// The part of Pigsty's per-OS defaults read here.
#[derive(Deserialize)]
struct Vars {
    #[serde(default)]
    repo_upstream_default: Vec<Upstream>,
}

#[derive(Deserialize)]
struct Upstream {
    name: String,
    #[serde(default)]
    releases: Vec<u32>,
    #[serde(default)]
    baseurl: BTreeMap<String, String>,
}

/// The roots one mirror's repos give, for the region and for the default.
#[derive(Default)]
struct Roots {
    region: BTreeSet<String>,
    region_lacking: bool,
    default: BTreeSet<String>,
    default_lacking: bool,
}

fn roots(
    vars: &Vars,
    target: &Target,
    region: Region,
    repos: &[RepoDef],
) -> BTreeMap<String, String> {
    let family = target.family();
    let mut by_mirror: BTreeMap<&str, Roots> = BTreeMap::new();
    for repo in repos {
        let Some((mirror, suffix)) = repo
            .url
            .strip_prefix("${mirror.")
            .and_then(|rest| rest.split_once('}'))
        else {
            continue;
        };
        if SETTINGS_ONLY.contains(&mirror) {
            continue;
        }
        let Some(theirs) = vars
            .repo_upstream_default
            .iter()
            .find(|u| u.name == repo.name && u.releases.contains(&target.os.release()))
        else {
            continue;
        };
        let root = |region: &str| {
            let url = normalize(theirs.baseurl.get(region)?, family);
            let root = url.strip_suffix(suffix)?.trim_end_matches('/');
            (root.contains("://") && !root.contains(char::is_whitespace)).then(|| root.to_string())
        };
        let acc = by_mirror.entry(mirror).or_default();
        match root(region.as_str()) {
            Some(r) => drop(acc.region.insert(r)),
            None => acc.region_lacking = true,
        }
        match root("default") {
            Some(r) => drop(acc.default.insert(r)),
            None => acc.default_lacking = true,
        }
    }
    let one = |set: &BTreeSet<String>, lacking: bool| match set.first() {
        Some(root) if !lacking && set.len() == 1 => Some(root.clone()),
        _ => None,
    };
    by_mirror
        .into_iter()
        .filter_map(|(mirror, r)| {
            let root = one(&r.region, r.region_lacking).or_else(|| {
                let default = one(&r.default, r.default_lacking);
                if default.is_none() {
                    tracing::warn!(mirror, "Pigsty's repo lists give no single root for it");
                }
                default
            })?;
            Some((mirror.to_string(), root))
        })
        .collect()
}

/// A URL of Pigsty's lists, its whitespace normalized and its variable names mapped to ours;
/// for dnf, the first of the mirrors a baseurl may list.
pub fn normalize(url: &str, family: Family) -> String {
    let mut words = url.split_whitespace();
    let url = match family {
        Family::Rpm => words.next().unwrap_or("").to_string(),
        Family::Deb => words.collect::<Vec<_>>().join(" "),
    };
    url.replace("${distro_codename}", "${codename}")
        .replace("${distro_name}", "${distro}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::{Arch, Os};

    const VARS: &str = r#"
repo_upstream_default:
  - { name: pgdg17, module: pgsql, releases: [8,9,10], arch: [x86_64], baseurl: { default: 'https://pg.invalid/pub/repos/yum/17/redhat/rhel-$releasever-$basearch', china: 'https://cn.invalid/pg/yum/17/redhat/rhel-$releasever-$basearch https://cn2.invalid/yum/17/redhat/rhel-$releasever-$basearch' }}
  - { name: pgdg18, module: pgsql, releases: [8,9,10], arch: [x86_64], baseurl: { default: 'https://pg.invalid/pub/repos/yum/18/redhat/rhel-$releasever-$basearch' }}
  - { name: grafana, module: infra, releases: [8,9,10], arch: [x86_64], baseurl: { default: 'https://gf.invalid/rpm/', china: 'https://cn.invalid/grafana/rpm/' }}
  - { name: odd, module: extra, releases: [9], arch: [x86_64], baseurl: { default: 'https://a.invalid/x/odd' }}
  - { name: odd2, module: extra, releases: [9], arch: [x86_64], baseurl: { default: 'https://b.invalid/y/odd' }}
  - { name: old, module: extra, releases: [7], arch: [x86_64], baseurl: { default: 'https://old.invalid/old' }}
"#;

    fn repo(name: &str, url: &str) -> RepoDef {
        RepoDef {
            name: name.into(),
            module: "pgsql".into(),
            url: url.into(),
            key: "k".into(),
            priority: None,
            excludepkgs: vec![],
            module_hotfixes: false,
            optional: false,
        }
    }

    fn ours() -> Vec<RepoDef> {
        vec![
            repo(
                "pgdg17",
                "${mirror.pgdg}/yum/17/redhat/rhel-$releasever-$basearch",
            ),
            repo(
                "pgdg18",
                "${mirror.pgdg}/yum/18/redhat/rhel-$releasever-$basearch",
            ),
            repo("grafana", "${mirror.grafana}/rpm/"),
            repo("odd", "${mirror.odd}/odd"),
            repo("odd2", "${mirror.odd}/odd"),
            repo("old", "${mirror.old}/old"),
            repo("base", "${mirror.debian}/ ${codename} main"),
        ]
    }

    fn presets(region: Region) -> BTreeMap<String, String> {
        let vars: Vars = serde_yaml_ng::from_str(VARS).unwrap();
        roots(
            &vars,
            &Target::new(Os::El9, Arch::X86_64, 17),
            region,
            &ours(),
        )
    }

    #[test]
    fn a_region_keeps_a_mirror_only_where_every_repo_agrees() {
        let d = presets(Region::Default);
        assert_eq!(d["pgdg"], "https://pg.invalid/pub/repos");
        assert_eq!(d["grafana"], "https://gf.invalid");
        // Two roots for one mirror: no preset, and a release it is not listed for: none.
        assert!(!d.contains_key("odd") && !d.contains_key("old"), "{d:?}");
        assert!(!d.contains_key("debian"));
        let cn = presets(Region::China);
        // pgdg18 has no china URL: the whole mirror keeps the default.
        assert_eq!(cn["pgdg"], "https://pg.invalid/pub/repos");
        // A dnf baseurl listing several mirrors: the first.
        assert_eq!(cn["grafana"], "https://cn.invalid/grafana");
        // No europe URL anywhere: the default.
        assert_eq!(presets(Region::Europe), d);
    }

    #[test]
    fn reads_a_tree_and_a_tarball_alike() {
        let dir = tempfile::tempdir().unwrap();
        let vars = dir.path().join("pigsty").join(VARS_DIR);
        std::fs::create_dir_all(&vars).unwrap();
        std::fs::write(vars.join("el9.x86_64.yml"), VARS).unwrap();
        let t = Target::new(Os::El9, Arch::X86_64, 17);
        let tree = PigstySource::open(dir.path()).unwrap();
        let want = tree.presets(&t, Region::China, &ours()).unwrap();
        assert_eq!(want["grafana"], "https://cn.invalid/grafana");
        assert!(tree.presets(&t, Region::None, &ours()).unwrap().is_empty());

        let tgz = dir.path().join("pigsty.tgz");
        let status = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(dir.path())
            .arg("pigsty")
            .status()
            .unwrap();
        assert!(status.success());
        let tarball = PigstySource::open(&tgz).unwrap();
        assert_eq!(tarball.presets(&t, Region::China, &ours()).unwrap(), want);
        // A target the source has no list for, and a folder that is no Pigsty source.
        let el8 = Target::new(Os::El8, Arch::X86_64, 17);
        let err = tarball.presets(&el8, Region::Default, &ours()).unwrap_err();
        assert!(err.to_string().contains("el8.x86_64.yml"), "{err}");
        let err = PigstySource::open(&vars).unwrap_err();
        assert!(matches!(err, RegionError::NotPigsty(_)), "{err}");
        let bad = dir.path().join("bad.tgz");
        std::fs::write(&bad, b"\x1f\x8bnot gzip").unwrap();
        assert!(PigstySource::open(&bad)
            .unwrap()
            .presets(&t, Region::Default, &ours())
            .is_err());
    }
}
