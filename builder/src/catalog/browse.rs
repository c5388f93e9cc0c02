//! Browsing the catalog: the rows of `ext list`, `ext info` and `ext search`.
//!
//! Our catalog carries facts, not prose (upstream descriptions are not copied), so a search
//! matches names, package keys, package names, categories and licences.

use pigsty_bundle::{Family, Target};
use serde::Serialize;

use super::{expand_v, Catalog, Extension, Unavailable};

/// One extension in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtRow {
    pub name: String,
    /// The package key (extensions sharing it ship in one package).
    pub package: String,
    pub category: String,
    pub version: String,
    pub license: String,
    /// Where its packages come from: PGDG, PIGSTY, CONTRIB or MIXED.
    pub origin: String,
    /// On a target: the package it needs there, if it can be served.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_package: Option<String>,
    /// On a target: why it cannot be served there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// For a search: which fields matched.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<&'static str>,
}

impl ExtRow {
    fn new(e: &Extension) -> ExtRow {
        ExtRow {
            name: e.name.clone(),
            package: e.package.clone(),
            category: e.category.clone(),
            version: e.version.clone(),
            license: e.license.clone(),
            origin: e.origin.clone(),
            target_package: None,
            unavailable: None,
            matched: Vec::new(),
        }
    }

    fn on(mut self, catalog: &Catalog, e: &Extension, target: Option<&Target>) -> ExtRow {
        if let Some(t) = target {
            match catalog.resolve(e, t) {
                Ok(p) => self.target_package = Some(p),
                Err(why) => self.unavailable = Some(why.to_string()),
            }
        }
        self
    }
}

/// What `ext list` filters on.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub category: Option<String>,
    /// Only extensions built for this PG major (in either family).
    pub pg: Option<u32>,
    /// Show each extension's package on this target (unavailable ones included, marked).
    pub target: Option<Target>,
}

/// An unknown `--category`.
#[derive(Debug, thiserror::Error)]
#[error("unknown category `{name}`; categories: {known}")]
pub struct UnknownCategory {
    pub name: String,
    pub known: String,
}

/// The extensions of `ext list`, in catalog order.
pub fn list(catalog: &Catalog, filter: &ListFilter) -> Result<Vec<ExtRow>, UnknownCategory> {
    if let Some(c) = &filter.category {
        let cats = catalog.categories();
        if !cats.iter().any(|k| k.eq_ignore_ascii_case(c)) {
            return Err(UnknownCategory {
                name: c.clone(),
                known: cats.join(", "),
            });
        }
    }
    Ok(catalog
        .extensions()
        .iter()
        .filter(|e| {
            filter
                .category
                .as_ref()
                .is_none_or(|c| e.category.eq_ignore_ascii_case(c))
        })
        .filter(|e| {
            filter
                .pg
                .is_none_or(|pg| e.rpm.pg.contains(&pg) || e.deb.pg.contains(&pg))
        })
        .map(|e| ExtRow::new(e).on(catalog, e, filter.target.as_ref()))
        .collect())
}

/// The packages of one family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FamilyInfo {
    pub family: Family,
    /// The package name pattern (`$v`: the PG major); empty if none.
    pub package: String,
    pub pg: Vec<u32>,
    pub deps: Vec<String>,
    pub origin: String,
    pub version: String,
}

/// One target's verdict for an extension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetCell {
    pub os: String,
    pub arch: String,
    pub pg: u32,
    /// The package with `$v` expanded, if the target can serve it.
    pub package: Option<String>,
    /// Why not, if it cannot.
    pub unavailable: Option<Unavailable>,
}

/// Everything `ext info` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtInfo {
    pub name: String,
    pub package: String,
    pub lead: bool,
    pub lead_extension: String,
    pub category: String,
    pub license: String,
    pub version: String,
    pub origin: String,
    pub contrib: bool,
    pub pg: Vec<u32>,
    pub requires: Vec<String>,
    /// Extensions that require this one.
    pub required_by: Vec<String>,
    /// Other extensions in the same package.
    pub siblings: Vec<String>,
    pub os_exclude: Vec<String>,
    pub kernel: Option<String>,
    pub families: Vec<FamilyInfo>,
    /// Every target (OS x arch x supported PG major).
    pub targets: Vec<TargetCell>,
}

/// `ext info`: an extension found by name or package key, with its verdict on `targets`.
pub fn info(catalog: &Catalog, name: &str, targets: &[Target]) -> Option<ExtInfo> {
    let e = catalog.find(name)?;
    let others = |f: &dyn Fn(&Extension) -> bool| -> Vec<String> {
        catalog
            .extensions()
            .iter()
            .filter(|o| o.name != e.name && f(o))
            .map(|o| o.name.clone())
            .collect()
    };
    let family = |family: Family| {
        let f = e.family(family);
        FamilyInfo {
            family,
            package: f.package.clone(),
            pg: f.pg.clone(),
            deps: f.deps.clone(),
            origin: f.origin.clone(),
            version: f.version.clone(),
        }
    };
    Some(ExtInfo {
        name: e.name.clone(),
        package: e.package.clone(),
        lead: e.lead,
        lead_extension: e.lead_extension.clone(),
        category: e.category.clone(),
        license: e.license.clone(),
        version: e.version.clone(),
        origin: e.origin.clone(),
        contrib: e.contrib,
        pg: e.pg.clone(),
        requires: e.requires.clone(),
        required_by: others(&|o| o.requires.contains(&e.name)),
        siblings: others(&|o| o.package == e.package),
        os_exclude: e.os_exclude.clone(),
        kernel: e.kernel.clone(),
        families: vec![family(Family::Rpm), family(Family::Deb)],
        targets: targets
            .iter()
            .map(|t| {
                let r = catalog.resolve(e, t);
                TargetCell {
                    os: t.os.code().to_string(),
                    arch: t.arch.as_str().to_string(),
                    pg: t.pg,
                    package: r.as_ref().ok().cloned(),
                    unavailable: r.err(),
                }
            })
            .collect(),
    })
}

/// `ext search`: extensions whose name, package key, package names (any PG major), category
/// or licence contain `word` (case-insensitive); exact name matches first.
pub fn search(catalog: &Catalog, word: &str) -> Vec<ExtRow> {
    let w = word.to_lowercase();
    let has = |s: &str| s.to_lowercase().contains(&w);
    let mut rows: Vec<(bool, ExtRow)> = Vec::new();
    for e in catalog.extensions() {
        let mut matched = Vec::new();
        if has(&e.name) {
            matched.push("name");
        }
        if has(&e.package) {
            matched.push("package");
        }
        let pkg_hit = |f: &super::FamilyPackage| {
            !f.package.is_empty()
                && (has(&f.package) || f.pg.iter().any(|pg| has(&expand_v(&f.package, *pg))))
        };
        if pkg_hit(&e.rpm) {
            matched.push("rpm");
        }
        if pkg_hit(&e.deb) {
            matched.push("deb");
        }
        if has(&e.category) {
            matched.push("category");
        }
        if has(&e.license) {
            matched.push("license");
        }
        if !matched.is_empty() {
            let mut row = ExtRow::new(e);
            row.matched = matched;
            rows.push((!e.name.eq_ignore_ascii_case(word), row));
        }
    }
    rows.sort_by_key(|(not_exact, _)| *not_exact);
    rows.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::{Arch, Os};

    #[test]
    fn lists_searches_and_tells() {
        let c = Catalog::builtin().unwrap();
        let gis = list(
            &c,
            &ListFilter {
                category: Some("GIS".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert!(gis.iter().any(|r| r.name == "postgis"));
        assert!(gis.iter().all(|r| r.category == "GIS"));
        assert!(list(
            &c,
            &ListFilter {
                category: Some("nope".into()),
                ..Default::default()
            }
        )
        .is_err());
        let hits = search(&c, "vector");
        assert_eq!(hits[0].name, "vector");
        let t = Target::new(Os::El9, Arch::X86_64, 17);
        let i = info(&c, "pgvector", &[t]).unwrap();
        assert_eq!(i.name, "vector");
        assert_eq!(i.targets[0].package.as_deref(), Some("pgvector_17"));
    }
}
