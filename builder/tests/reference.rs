//! Checks our manifests against Pigsty's per-OS defaults in `../shared/reference/pigsty-vars/`:
//! every alias, every default package set and every upstream repository must carry the same
//! facts (mirror hosts excepted: ours are `${mirror.NAME}` placeholders).

use std::collections::BTreeMap;
use std::path::PathBuf;

use pigsty_build::Distro;
use pigsty_bundle::{Arch, Os, Target};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vars {
    package_map: BTreeMap<String, String>,
    repo_packages_default: Vec<String>,
    repo_extra_packages_default: Vec<String>,
    node_packages_default: Vec<String>,
    infra_packages_default: Vec<String>,
    repo_upstream_default: Vec<Upstream>,
}

#[derive(Deserialize)]
struct Upstream {
    name: String,
    module: String,
    releases: Vec<u32>,
    arch: Vec<String>,
    baseurl: BTreeMap<String, String>,
    #[serde(default)]
    meta: Option<BTreeMap<String, serde_yaml_ng::Value>>,
}

fn reference() -> Option<PathBuf> {
    let dir = std::env::var_os("PIGSTY_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference")
        });
    if dir.join("pigsty-vars").is_dir() {
        Some(dir)
    } else {
        eprintln!("reference data not found at {}: skipped", dir.display());
        None
    }
}

/// A reference URL with its whitespace normalized and Pigsty's variable names mapped to ours.
fn normalize(url: &str) -> String {
    url.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("${distro_codename}", "${codename}")
        .replace("${distro_name}", "${distro}")
}

#[test]
fn manifests_match_pigsty_vars() {
    let Some(dir) = reference() else { return };
    let mut checked = 0;
    for os in Os::ALL {
        for arch in Arch::ALL {
            let path = dir.join(format!("pigsty-vars/{}.{}.yml", os.code(), arch.as_str()));
            let vars: Vars =
                serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let distro = Distro::load(Target::new(os, arch, 17), None).unwrap();
            let label = format!("{}.{}", os.code(), arch.as_str());

            // aliases: exactly the same keys and values
            assert_eq!(
                distro.aliases, vars.package_map,
                "{label}: package aliases differ"
            );
            // default package sets
            let d = &distro.defaults;
            assert_eq!(d.repo_packages, vars.repo_packages_default, "{label}");
            assert_eq!(
                d.extra_packages, vars.repo_extra_packages_default,
                "{label}"
            );
            assert_eq!(d.node_packages, vars.node_packages_default, "{label}");
            assert_eq!(d.infra_packages, vars.infra_packages_default, "{label}");

            // repositories: the same names, modules and URL paths for this release and arch
            let theirs: Vec<&Upstream> = vars
                .repo_upstream_default
                .iter()
                .filter(|r| r.module != "local")
                .filter(|r| {
                    r.releases.contains(&os.release()) && r.arch.iter().any(|a| a == arch.as_str())
                })
                .collect();
            assert_eq!(
                distro
                    .repos
                    .iter()
                    .map(|r| (&r.name, &r.module))
                    .collect::<Vec<_>>(),
                theirs
                    .iter()
                    .map(|r| (&r.name, &r.module))
                    .collect::<Vec<_>>(),
                "{label}: repositories differ"
            );
            for (o, t) in distro.repos.iter().zip(&theirs) {
                let their_url = normalize(&t.baseurl["default"]);
                // ours: `${mirror.NAME}` then the rest, which must end their URL
                assert!(
                    o.url.starts_with("${mirror."),
                    "{label} {}: {}",
                    o.name,
                    o.url
                );
                let (_, rest) = o.url.split_once('}').unwrap();
                assert!(
                    their_url.ends_with(rest),
                    "{label} {}: ours {} vs theirs {}",
                    o.name,
                    o.url,
                    their_url
                );
                let meta = t.meta.clone().unwrap_or_default();
                let prio = meta
                    .get("priority")
                    .and_then(|v| v.as_u64())
                    .map(|p| p as u32);
                assert_eq!(o.priority, prio, "{label} {} priority", o.name);
                let excl: Vec<String> = meta
                    .get("excludepkgs")
                    .and_then(|v| v.as_str())
                    .map(|s| s.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default();
                assert_eq!(o.excludepkgs, excl, "{label} {} excludepkgs", o.name);
                let hotfix = meta.get("module_hotfixes").and_then(|v| v.as_u64()) == Some(1);
                assert_eq!(
                    o.module_hotfixes, hotfix,
                    "{label} {} module_hotfixes",
                    o.name
                );
                let optional = meta.get("skip_if_unavailable").and_then(|v| v.as_u64()) == Some(1);
                assert_eq!(o.optional, optional, "{label} {} optional", o.name);
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}

/// One file of Pigsty's source tree (`pigsty-src.tgz`, unpacking to `pigsty/`), as text.
fn pigsty_source_file(dir: &std::path::Path, path: &str) -> String {
    use std::io::Read;
    let tgz = std::fs::File::open(dir.join("pigsty-src.tgz")).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap().to_str() == Some(&format!("pigsty/{path}")) {
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            return text;
        }
    }
    panic!("pigsty-src.tgz has no pigsty/{path}");
}

/// What is not in the per-OS vars but in Pigsty's source: the default repo modules
/// (`repo_modules` of the repo role) and the bootstrap set (what its `bootstrap` script
/// installs: `apt install -y ansible ...`, `dnf install -y ansible ...` per EL major; ours
/// adds python3-apt on Debian and Ubuntu, which Ansible's apt module needs).
#[test]
fn repo_modules_and_bootstrap_set_match_pigsty_source() {
    let Some(dir) = reference() else { return };
    if !dir.join("pigsty-src.tgz").exists() {
        eprintln!("no pigsty-src.tgz in {}: skipped", dir.display());
        return;
    }
    let defaults: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&pigsty_source_file(&dir, "roles/repo/defaults/main.yml")).unwrap();
    let modules: Vec<String> = defaults["repo_modules"]
        .as_str()
        .unwrap()
        .split(',')
        .map(|m| m.trim().to_string())
        .collect();
    assert_eq!(modules, ["infra", "node", "pgsql"]);

    let script = pigsty_source_file(&dir, "bootstrap");
    let mut deb: Option<Vec<String>> = None;
    let mut rpm: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut el: Option<u32> = None;
    for line in script.lines().map(str::trim) {
        if let Some((_, rest)) = line.split_once("OS_VERSION == \"") {
            el = rest.split('"').next().and_then(|v| v.parse().ok());
        }
        let words = |prefix: &str| -> Option<Vec<String>> {
            line.strip_prefix(prefix)
                .map(|rest| rest.split_whitespace().map(str::to_string).collect())
        };
        if let Some(w) = words("sudo apt install -y ansible") {
            deb = Some(std::iter::once("ansible".to_string()).chain(w).collect());
        }
        if let (Some(w), Some(v)) = (words("sudo dnf install -y ansible"), el) {
            rpm.insert(v, std::iter::once("ansible".to_string()).chain(w).collect());
        }
    }
    let deb = deb.expect("the bootstrap script installs ansible with apt");
    let mut checked = 0;
    for os in Os::ALL {
        for arch in Arch::ALL {
            let distro = Distro::load(Target::new(os, arch, 17), None).unwrap();
            let label = format!("{}.{}", os.code(), arch.as_str());
            assert_eq!(distro.defaults.repo_modules, modules, "{label}");
            let theirs: Vec<String> = match os.family() {
                pigsty_bundle::Family::Deb => deb
                    .iter()
                    .cloned()
                    .chain(["python3-apt".to_string()])
                    .collect(),
                pigsty_bundle::Family::Rpm => rpm[&os.release()].clone(),
            };
            assert_eq!(distro.bootstrap, theirs, "{label}: bootstrap set");
            checked += 1;
        }
    }
    assert_eq!(checked, 16);
}

/// A URL with the slash before a suite and at the end dropped (a mirror root is kept without
/// its trailing slash; apt and dnf read both alike).
fn slash(url: &str) -> String {
    url.replace("/ ", " ").trim_end_matches('/').to_string()
}

/// The region presets read from Pigsty's real source tarball (`pigsty-src.tgz`): under each
/// `--region`, every repo whose mirror has a preset expands to the URL Pigsty's list gives for
/// that region (its first, where a dnf baseurl lists several), or, where the presets keep the
/// default for that mirror, to the default URL; every repo of the default modules has one.
/// Debian's and Ubuntu's own mirrors have no preset at all.
#[test]
fn region_presets_match_pigsty_vars() {
    use pigsty_build::mirrors::{expand_url, Mirrors, Presets, Region};
    use pigsty_build::regions::PigstySource;
    let Some(dir) = reference() else { return };
    let source = PigstySource::open(&dir.join("pigsty-src.tgz")).unwrap();
    let mut checked = 0;
    for os in Os::ALL {
        for arch in Arch::ALL {
            let path = dir.join(format!("pigsty-vars/{}.{}.yml", os.code(), arch.as_str()));
            let vars: Vars =
                serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let target = Target::new(os, arch, 17);
            let distro = Distro::load(target, None).unwrap();
            let family = target.family();
            let default = source
                .presets(&target, Region::Default, &distro.repos)
                .unwrap();
            for region in [Region::Default, Region::China, Region::Europe] {
                let presets = source.presets(&target, region, &distro.repos).unwrap();
                let setting = Presets {
                    region,
                    source: Some(source.path().into()),
                };
                let mirrors = Mirrors::default().with_presets(setting, presets.clone());
                for ours in &distro.repos {
                    let mirror = ours
                        .url
                        .strip_prefix("${mirror.")
                        .and_then(|r| r.split_once('}'))
                        .map(|(m, _)| m)
                        .unwrap();
                    if pigsty_build::mirrors::SETTINGS_ONLY.contains(&mirror) {
                        assert!(!presets.contains_key(mirror), "{mirror} has a preset");
                        continue;
                    }
                    let Some(theirs) = vars
                        .repo_upstream_default
                        .iter()
                        .find(|u| u.name == ours.name && u.releases.contains(&os.release()))
                    else {
                        continue;
                    };
                    let first = |url: &str| {
                        let url = pigsty_build::regions::normalize(url, family);
                        slash(
                            &expand_url(&url, &target, |m| panic!("reference has ${{mirror.{m}}}"))
                                .unwrap(),
                        )
                    };
                    let (url, unset) = mirrors.try_expand(ours, &target).unwrap();
                    let url = slash(&url);
                    assert!(unset.is_empty(), "{}: {unset:?}", ours.name);
                    let want_region = theirs.baseurl.get(region.as_str()).map(|u| first(u));
                    let want_default = first(&theirs.baseurl["default"]);
                    let kept_default = presets.get(mirror) == default.get(mirror);
                    assert!(
                        Some(&url) == want_region.as_ref()
                            || (kept_default && url == want_default),
                        "{}.{} {region} {}: ours {url}, Pigsty's {want_region:?} (default {want_default})",
                        os.code(),
                        arch.as_str(),
                        ours.name
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 500, "{checked}");
}
