//! Our own catalog files: `extensions/<category>.toml`, one `[[extension]]` table per extension.
//!
//! The schema (every key but `id`, `name`, `package`, `category` and `pg` may be left out):
//!
//! ```toml
//! [[extension]]
//! id = 1500                       # upstream id, also the sort order
//! name = "postgis"                # extension name, as in CREATE EXTENSION
//! package = "postgis"             # package key: extensions sharing it ship together
//! lead = true                     # leads its package (default false)
//! lead_extension = "postgis"      # the lead of its package (default: itself)
//! category = "GIS"
//! license = "GPL-2.0"
//! version = "3.6.4"
//! origin = "PGDG"                 # PGDG, PIGSTY, CONTRIB or MIXED
//! contrib = false                 # part of PostgreSQL's contrib
//! pg = [18, 17, 16, 15, 14]       # PG majors supported
//! requires = ["postgis"]          # other extensions needed
//! os_exclude = ["el8.aarch64"]    # os.arch never built for
//! kernel = "orioledb"             # forked kernel needed
//! rpm = { package = "postgis36_$v", origin = "PGDG", version = "3.6.3", pg = [18, 17], deps = [] }
//! deb = { package = "postgresql-$v-postgis-3", origin = "PGDG", version = "3.6.4", pg = [18, 17] }
//! availability = { missing = ["el8.aarch64:14"], broken = [], hidden = [], thrown = [], fork = [] }
//! ```
//!
//! `availability` present means the upstream matrix is known: every cell it does not list is
//! available. Absent means unknown: availability follows from the packages and PG majors alone.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Deserialize;

use super::{Availability, Catalog, CatalogError, Extension, FamilyPackage, State};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    #[serde(default)]
    extension: Vec<ExtToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtToml {
    id: u32,
    name: String,
    package: String,
    #[serde(default)]
    lead: bool,
    lead_extension: Option<String>,
    category: String,
    #[serde(default)]
    license: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    contrib: bool,
    pg: Vec<u32>,
    #[serde(default)]
    requires: Vec<String>,
    #[serde(default)]
    os_exclude: Vec<String>,
    kernel: Option<String>,
    rpm: Option<FamToml>,
    deb: Option<FamToml>,
    availability: Option<AvailToml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FamToml {
    #[serde(default)]
    package: String,
    #[serde(default)]
    origin: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    pg: Vec<u32>,
    #[serde(default)]
    deps: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AvailToml {
    #[serde(default)]
    missing: Vec<String>,
    #[serde(default)]
    hidden: Vec<String>,
    #[serde(default)]
    broken: Vec<String>,
    #[serde(default)]
    thrown: Vec<String>,
    #[serde(default)]
    fork: Vec<String>,
}

/// Loads the catalog compiled into the binary.
pub fn load_builtin() -> Result<Catalog, CatalogError> {
    let mut all = Vec::new();
    for (name, text) in CATALOG_FILES {
        all.extend(parse(text, &format!("extensions/{name}"))?);
    }
    Catalog::new(all, "extensions/")
}

/// Parses one of our catalog files.
pub fn parse(text: &str, path: &str) -> Result<Vec<Extension>, CatalogError> {
    let err = |reason: String| CatalogError::Parse {
        path: path.to_string(),
        reason,
    };
    let file: FileToml = toml::from_str(text).map_err(|e| err(e.to_string()))?;
    file.extension
        .into_iter()
        .map(|e| {
            let availability = match e.availability {
                None => None,
                Some(a) => {
                    Some(parse_availability(&a).map_err(|r| err(format!("{}: {r}", e.name)))?)
                }
            };
            let fam = |f: Option<FamToml>| {
                f.map(|f| FamilyPackage {
                    package: f.package,
                    origin: f.origin,
                    version: f.version,
                    pg: sorted_desc(f.pg),
                    deps: f.deps,
                })
                .unwrap_or_default()
            };
            Ok(Extension {
                id: e.id,
                lead_extension: e.lead_extension.unwrap_or_else(|| e.name.clone()),
                name: e.name,
                package: e.package,
                lead: e.lead,
                category: e.category,
                license: e.license,
                version: e.version,
                origin: e.origin,
                contrib: e.contrib,
                pg: sorted_desc(e.pg),
                requires: e.requires,
                rpm: fam(e.rpm),
                deb: fam(e.deb),
                os_exclude: e.os_exclude,
                kernel: e.kernel,
                availability,
            })
        })
        .collect()
}

fn sorted_desc(mut v: Vec<u32>) -> Vec<u32> {
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.dedup();
    v
}

fn parse_availability(a: &AvailToml) -> Result<Availability, String> {
    let mut out = Availability::default();
    for (state, cells) in [
        (State::Missing, &a.missing),
        (State::Hidden, &a.hidden),
        (State::Broken, &a.broken),
        (State::Thrown, &a.thrown),
        (State::Fork, &a.fork),
    ] {
        for cell in cells {
            let (os_arch, pg) = cell
                .rsplit_once(':')
                .ok_or_else(|| format!("bad availability cell `{cell}` (want os.arch:pg)"))?;
            let pg = pg
                .parse::<u32>()
                .map_err(|_| format!("bad PG major in availability cell `{cell}`"))?;
            out.unavailable.insert((os_arch.to_string(), pg), state);
        }
    }
    Ok(out)
}

/// Writes a catalog as our files: file name (`gis.toml`) to contents, one per category.
pub fn render(catalog: &Catalog) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    for ext in catalog.extensions() {
        let file = format!("{}.toml", ext.category.to_lowercase());
        let out = files.entry(file).or_insert_with(|| {
            format!(
                "# {} extensions of the catalog, in pigsty-build's schema (see extensions/README.md).\n",
                ext.category
            )
        });
        render_extension(out, ext);
    }
    files
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

fn list_str(v: &[String]) -> String {
    format!(
        "[{}]",
        v.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
    )
}

fn list_u32(v: &[u32]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn render_family(f: &FamilyPackage) -> String {
    let mut parts = vec![format!("package = {}", q(&f.package))];
    if !f.origin.is_empty() {
        parts.push(format!("origin = {}", q(&f.origin)));
    }
    if !f.version.is_empty() {
        parts.push(format!("version = {}", q(&f.version)));
    }
    parts.push(format!("pg = {}", list_u32(&f.pg)));
    if !f.deps.is_empty() {
        parts.push(format!("deps = {}", list_str(&f.deps)));
    }
    format!("{{ {} }}", parts.join(", "))
}

fn render_extension(out: &mut String, e: &Extension) {
    // Writing to a String cannot fail.
    let _ = writeln!(out, "\n[[extension]]");
    let _ = writeln!(out, "id = {}", e.id);
    let _ = writeln!(out, "name = {}", q(&e.name));
    let _ = writeln!(out, "package = {}", q(&e.package));
    if e.lead {
        let _ = writeln!(out, "lead = true");
    }
    if e.lead_extension != e.name {
        let _ = writeln!(out, "lead_extension = {}", q(&e.lead_extension));
    }
    let _ = writeln!(out, "category = {}", q(&e.category));
    if !e.license.is_empty() {
        let _ = writeln!(out, "license = {}", q(&e.license));
    }
    if !e.version.is_empty() {
        let _ = writeln!(out, "version = {}", q(&e.version));
    }
    if !e.origin.is_empty() {
        let _ = writeln!(out, "origin = {}", q(&e.origin));
    }
    if e.contrib {
        let _ = writeln!(out, "contrib = true");
    }
    let _ = writeln!(out, "pg = {}", list_u32(&e.pg));
    if !e.requires.is_empty() {
        let _ = writeln!(out, "requires = {}", list_str(&e.requires));
    }
    if !e.os_exclude.is_empty() {
        let _ = writeln!(out, "os_exclude = {}", list_str(&e.os_exclude));
    }
    if let Some(k) = &e.kernel {
        let _ = writeln!(out, "kernel = {}", q(k));
    }
    if !e.rpm.is_empty() {
        let _ = writeln!(out, "rpm = {}", render_family(&e.rpm));
    }
    if !e.deb.is_empty() {
        let _ = writeln!(out, "deb = {}", render_family(&e.deb));
    }
    if let Some(a) = &e.availability {
        let mut parts = Vec::new();
        for state in State::UNAVAILABLE {
            let cells: Vec<String> = a
                .unavailable
                .iter()
                .filter(|(_, s)| **s == state)
                .map(|((os_arch, pg), _)| format!("{os_arch}:{pg}"))
                .collect();
            if !cells.is_empty() {
                parts.push(format!("{} = {}", state.key(), list_str(&cells)));
            }
        }
        if parts.is_empty() {
            let _ = writeln!(out, "availability = {{}}");
        } else {
            let _ = writeln!(out, "availability = {{ {} }}", parts.join(", "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_then_parse_is_lossless() {
        let cat = Catalog::builtin().unwrap();
        let files = render(&cat);
        let mut back = Vec::new();
        for (name, text) in &files {
            back.extend(parse(text, name).unwrap());
        }
        let back = Catalog::new(back, "rendered").unwrap();
        assert_eq!(back.extensions(), cat.extensions());
    }

    #[test]
    fn builtin_files_are_in_canonical_form() {
        // The compiled-in files are exactly what `catalog import` writes, so a re-import shows
        // real changes only.
        let cat = Catalog::builtin().unwrap();
        let files = render(&cat);
        let builtin: BTreeMap<String, String> = CATALOG_FILES
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            builtin.keys().collect::<Vec<_>>()
        );
        for (name, text) in &files {
            assert_eq!(
                text, &builtin[name],
                "extensions/{name} is not in canonical form"
            );
        }
    }

    #[test]
    fn rejects_unknown_keys_and_bad_cells() {
        let bad = "[[extension]]\nid = 1\nname = \"x\"\npackage = \"x\"\ncategory = \"FEAT\"\npg = [18]\ncolour = \"red\"\n";
        assert!(parse(bad, "bad.toml")
            .unwrap_err()
            .to_string()
            .contains("colour"));
        let bad = "[[extension]]\nid = 1\nname = \"x\"\npackage = \"x\"\ncategory = \"FEAT\"\npg = [18]\navailability = { missing = [\"el9\"] }\n";
        assert!(parse(bad, "bad.toml")
            .unwrap_err()
            .to_string()
            .contains("el9"));
    }
}
