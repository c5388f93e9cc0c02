//! The plan: which packages a target needs, and why.
//!
//! A [`Plan`] is made from the target's [`Distro`] (aliases, default package sets) and the
//! [`Catalog`]: every `--packages` item is expanded (aliases, `$v`), every `--ext` extension is
//! mapped to its package for the target's family, its `requires` are followed transitively, and
//! its extra package dependencies are added. Extensions that cannot be served on the target are
//! reported with the reason; an extension whose requirement cannot be served cannot be either.
//!
//! The plan is what the resolver starts from: it does not look at any repository yet.
//!
//! # JSON schema (`pigsty-build plan --json`), version 1
//!
//! ```json
//! {
//!   "schema": 1,
//!   "target": { "os": "el9", "arch": "x86_64", "pg": 17, "family": "rpm", "codename": null },
//!   "packages": [
//!     { "name": "postgis36_17", "module": "pgsql",
//!       "wanted_by": [ { "kind": "extension", "name": "postgis" } ] }
//!   ],
//!   "unavailable": [
//!     { "extension": "pg_strom", "requested": true,
//!       "reason": { "reason": "no_package_for_family", "family": "deb" },
//!       "message": "no deb package" }
//!   ]
//! }
//! ```
//!
//! `packages` is sorted by name; a package has `"optional": true` when it is only for
//! extensions asked for by `all` or a category (a build goes on without it). `wanted_by` kinds: `alias` (a package alias, `name`),
//! `package` (named directly), `extension` (asked for with `--ext`), `requires` (an extension
//! pulled in by `required_by`'s `requires`), `deps` (an extra dependency of extension `name`),
//! `bootstrap` (the target's bootstrap set, which `pigsty-install` installs first).
//! `notes` (left out when empty) holds a sentence per `--packages` item that is no alias but
//! looks like a typo of one (or of an extension), e.g. `pgsql-mni`.
//! `reason.reason` is one of `no_package_for_family`, `no_package_for_pg`, `excluded_on_os`,
//! `matrix`, `requires`, `unknown_requirement`.

use std::collections::{BTreeMap, BTreeSet};

use pigsty_bundle::{Family, Target};
use serde::Serialize;

use crate::catalog::{expand_v, Catalog, Extension, Unavailable};
use crate::distro::{Distro, DistroError};

/// Why a package is in the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WantedBy {
    /// Part of a package alias.
    Alias { name: String },
    /// Named directly in `--packages`.
    Package,
    /// The package of an extension asked for with `--ext`.
    Extension { name: String },
    /// The package of an extension that another one requires.
    Requires { name: String, required_by: String },
    /// An extra package an extension depends on.
    Deps { name: String },
    /// Part of the bootstrap set (`[bootstrap]` of the manifests), which `pigsty-install`
    /// installs before it hands off to Pigsty.
    Bootstrap,
}

impl std::fmt::Display for WantedBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WantedBy::Alias { name } => write!(f, "alias {name}"),
            WantedBy::Package => write!(f, "named in --packages"),
            WantedBy::Extension { name } => write!(f, "ext {name}"),
            WantedBy::Requires { name, required_by } => {
                write!(f, "ext {name} (required by {required_by})")
            }
            WantedBy::Deps { name } => write!(f, "deps of {name}"),
            WantedBy::Bootstrap => write!(f, "bootstrap set"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedPackage {
    pub name: String,
    /// The repo module the package is expected from.
    pub module: String,
    pub wanted_by: Vec<WantedBy>,
    /// A build goes on without it if the repos lack it: it is only for extensions asked for
    /// by `all` or a category, or for one the availability matrix predicts missing.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// Why an extension cannot be served, in the plan.
pub type PlanReason = Unavailable;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnavailableExtension {
    pub extension: String,
    /// Asked for directly (else only pulled in by another's `requires`).
    pub requested: bool,
    /// Asked for by name (not by `all` or a category): a build fails without it.
    #[serde(skip)]
    pub named: bool,
    pub reason: PlanReason,
    /// The reason as a sentence.
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetInfo {
    pub os: String,
    pub arch: String,
    pub pg: u32,
    pub family: Family,
    pub codename: Option<String>,
}

impl From<&Target> for TargetInfo {
    fn from(t: &Target) -> Self {
        TargetInfo {
            os: t.os.code().to_string(),
            arch: t.arch.as_str().to_string(),
            pg: t.pg,
            family: t.family(),
            codename: t.os.codename().map(str::to_string),
        }
    }
}

/// The packages one target needs, with reasons, and the extensions it cannot serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub schema: u32,
    pub target: TargetInfo,
    pub packages: Vec<PlannedPackage>,
    pub unavailable: Vec<UnavailableExtension>,
    /// For a build ([`Request::probe`]): extensions the availability matrix predicts missing
    /// here, planned anyway (optional) so that the repos themselves decide.
    #[serde(skip)]
    pub predicted: Vec<Predicted>,
    /// `--packages` items that are no alias but close to one (or to an extension): each
    /// is taken as a package name, with what it may be a typo of.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// An extension the availability matrix predicts missing, left for the repos to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicted {
    pub extension: String,
    /// Its package on the target.
    pub package: String,
    /// What the matrix says.
    pub reason: PlanReason,
    /// Asked for by name.
    pub named: bool,
}

/// What to plan for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `--ext` items: extension names (or package keys), `all`, `category:NAME`.
    pub extensions: Vec<String>,
    /// `--packages` items: aliases or package names. `None`: the target's default sets.
    pub packages: Option<Vec<String>>,
    /// For a build: the availability matrix is a prediction, the repos decide; extensions it
    /// predicts missing are planned as optional packages ([`Plan::predicted`]).
    pub probe: bool,
    /// Add the target's bootstrap set (everything but `--no-bootstrap`).
    pub bootstrap: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("unknown extension `{name}`{suggestion}")]
    UnknownExtension { name: String, suggestion: String },
    #[error("unknown category `{name}`; categories: {known}")]
    UnknownCategory { name: String, known: String },
    #[error(transparent)]
    Distro(#[from] DistroError),
}

/// Splits repeated, comma-separated flag values into items.
pub fn items(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

impl Plan {
    pub fn make(catalog: &Catalog, distro: &Distro, request: &Request) -> Result<Plan, PlanError> {
        let target = distro.target;
        let mut packages: BTreeMap<String, PlannedPackage> = BTreeMap::new();
        let mut add = |name: String, module: &str, why: WantedBy, optional: bool| {
            let p = packages
                .entry(name.clone())
                .or_insert_with(|| PlannedPackage {
                    name,
                    module: module.to_string(),
                    wanted_by: Vec::new(),
                    optional,
                });
            // Needed by anything: needed.
            p.optional &= optional;
            if !p.wanted_by.contains(&why) {
                p.wanted_by.push(why);
            }
        };

        // 1. Packages and aliases.
        let package_items = match &request.packages {
            Some(p) => p.clone(),
            None => {
                let d = &distro.defaults;
                d.repo_packages
                    .iter()
                    .chain(&d.extra_packages)
                    .cloned()
                    .collect()
            }
        };
        let mut notes = Vec::new();
        for item in &package_items {
            let is_alias = distro.aliases.contains_key(item);
            if request.packages.is_some() {
                notes.extend(crate::suggest::for_package(catalog, distro, item));
            }
            let module = if is_alias {
                distro.alias_module(item)
            } else {
                "other".to_string()
            };
            for pkg in distro.expand(item)? {
                let why = if is_alias {
                    WantedBy::Alias { name: item.clone() }
                } else {
                    WantedBy::Package
                };
                add(pkg, &module, why, false);
            }
        }

        // The bootstrap set, whatever else is asked for: what `pigsty-install` installs
        // first must be in the bundle (its packages come from the base OS repos).
        if request.bootstrap {
            for name in &distro.bootstrap {
                add(
                    expand_v(name, target.pg),
                    "node",
                    WantedBy::Bootstrap,
                    false,
                );
            }
        }

        // 2. Extensions: the requested set, then the requires closure of each. For a build,
        //    the matrix does not decide (the repos do): extensions it alone rules out are
        //    planned as optional, and remembered as predicted missing.
        let (requested, named) = select(catalog, distro, &request.extensions)?;
        let mut unavailable: BTreeMap<String, UnavailableExtension> = BTreeMap::new();
        let mut verdicts: BTreeMap<String, Result<String, PlanReason>> = BTreeMap::new();
        let mut predictions: BTreeMap<String, Result<String, PlanReason>> = BTreeMap::new();
        let mut predicted = Vec::new();
        let matrix = !request.probe;
        for ext in &requested {
            let is_named = named.contains(ext.name.as_str());
            let verdict = check(
                catalog,
                ext,
                &target,
                matrix,
                &mut verdicts,
                &mut Vec::new(),
            );
            match verdict {
                Ok(package) => {
                    let prediction = match request.probe {
                        true => check(
                            catalog,
                            ext,
                            &target,
                            true,
                            &mut predictions,
                            &mut Vec::new(),
                        ),
                        false => Ok(package.clone()),
                    };
                    if let Err(reason) = &prediction {
                        predicted.push(Predicted {
                            extension: ext.name.clone(),
                            package,
                            reason: reason.clone(),
                            named: is_named,
                        });
                    }
                    let planning = Planning {
                        catalog,
                        target: &target,
                        verdicts: &verdicts,
                    };
                    let optional = !is_named || prediction.is_err();
                    planning.add_extension(ext, None, optional, &mut add, &mut BTreeSet::new());
                }
                Err(reason) => {
                    unavailable.insert(
                        ext.name.clone(),
                        UnavailableExtension {
                            extension: ext.name.clone(),
                            requested: true,
                            named: is_named,
                            message: reason.to_string(),
                            reason,
                        },
                    );
                }
            }
        }
        // Requirements that failed, for extensions that were requested.
        for (name, verdict) in &verdicts {
            if let Err(reason) = verdict {
                if !unavailable.contains_key(name) && catalog.get(name).is_some() {
                    let is_requirement = unavailable.values().any(|u| {
                        matches!(&u.reason, Unavailable::Requires { extension } if extension == name)
                    });
                    if is_requirement {
                        unavailable.insert(
                            name.clone(),
                            UnavailableExtension {
                                extension: name.clone(),
                                requested: false,
                                named: false,
                                message: reason.to_string(),
                                reason: reason.clone(),
                            },
                        );
                    }
                }
            }
        }
        Ok(Plan {
            schema: 1,
            target: TargetInfo::from(&target),
            packages: packages.into_values().collect(),
            unavailable: unavailable.into_values().collect(),
            predicted,
            notes,
        })
    }

    /// Package names only, sorted.
    pub fn package_names(&self) -> Vec<&str> {
        self.packages.iter().map(|p| p.name.as_str()).collect()
    }

    /// Packages grouped by expected repo module, modules in first-seen order of `order`.
    pub fn by_module(&self) -> BTreeMap<&str, Vec<&PlannedPackage>> {
        let mut out: BTreeMap<&str, Vec<&PlannedPackage>> = BTreeMap::new();
        for p in &self.packages {
            out.entry(p.module.as_str()).or_default().push(p);
        }
        out
    }
}

/// Resolves `--ext` items to catalog extensions, in catalog order, each once; and the names
/// of those asked for by name (not by `all` or a category).
fn select<'a>(
    catalog: &'a Catalog,
    distro: &Distro,
    items: &[String],
) -> Result<(Vec<&'a Extension>, BTreeSet<&'a str>), PlanError> {
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    let mut named: BTreeSet<&str> = BTreeSet::new();
    for item in items {
        if item == "all" {
            chosen.extend(catalog.extensions().iter().map(|e| e.name.as_str()));
        } else if let Some(cat) = item.strip_prefix("category:") {
            let matching: Vec<&str> = catalog
                .extensions()
                .iter()
                .filter(|e| e.category.eq_ignore_ascii_case(cat))
                .map(|e| e.name.as_str())
                .collect();
            if matching.is_empty() {
                return Err(PlanError::UnknownCategory {
                    name: cat.to_string(),
                    known: catalog.categories().join(", "),
                });
            }
            chosen.extend(matching);
        } else {
            let ext = catalog
                .find(item)
                .ok_or_else(|| PlanError::UnknownExtension {
                    name: item.clone(),
                    suggestion: crate::suggest::for_extension(
                        catalog,
                        &distro
                            .aliases
                            .keys()
                            .map(String::as_str)
                            .collect::<Vec<_>>(),
                        item,
                    ),
                })?;
            chosen.insert(ext.name.as_str());
            named.insert(ext.name.as_str());
        }
    }
    let list = catalog
        .extensions()
        .iter()
        .filter(|e| chosen.contains(e.name.as_str()))
        .collect();
    Ok((list, named))
}

/// Whether an extension and everything it requires can be served; memoized in `verdicts`.
fn check(
    catalog: &Catalog,
    ext: &Extension,
    target: &Target,
    matrix: bool,
    verdicts: &mut BTreeMap<String, Result<String, PlanReason>>,
    stack: &mut Vec<String>,
) -> Result<String, PlanReason> {
    if let Some(v) = verdicts.get(&ext.name) {
        return v.clone();
    }
    if stack.contains(&ext.name) {
        // A requires cycle: judge the members by their own packages.
        return catalog.resolve_with(ext, target, matrix);
    }
    stack.push(ext.name.clone());
    let mut verdict = catalog.resolve_with(ext, target, matrix);
    if verdict.is_ok() {
        for req in &ext.requires {
            let Some(r) = catalog.get(req) else {
                verdict = Err(Unavailable::UnknownRequirement {
                    extension: req.clone(),
                });
                break;
            };
            if check(catalog, r, target, matrix, verdicts, stack).is_err() {
                verdict = Err(Unavailable::Requires {
                    extension: req.clone(),
                });
                break;
            }
        }
    }
    stack.pop();
    verdicts.insert(ext.name.clone(), verdict.clone());
    verdict
}

/// What adding an extension to a plan reads.
struct Planning<'a> {
    catalog: &'a Catalog,
    target: &'a Target,
    verdicts: &'a BTreeMap<String, Result<String, PlanReason>>,
}

impl Planning<'_> {
    /// Adds an extension's package, its extra dependencies and (recursively) the extensions
    /// it requires; all `optional` if it is.
    fn add_extension(
        &self,
        ext: &Extension,
        required_by: Option<&str>,
        optional: bool,
        add: &mut impl FnMut(String, &str, WantedBy, bool),
        seen: &mut BTreeSet<String>,
    ) {
        let Some(Ok(package)) = self
            .verdicts
            .get(&ext.name)
            .cloned()
            .or_else(|| Some(self.catalog.resolve(ext, self.target)))
        else {
            return;
        };
        let why = match required_by {
            None => WantedBy::Extension {
                name: ext.name.clone(),
            },
            Some(by) => WantedBy::Requires {
                name: ext.name.clone(),
                required_by: by.to_string(),
            },
        };
        add(package, "pgsql", why, optional);
        if !seen.insert(ext.name.clone()) {
            return;
        }
        for dep in &ext.family(self.target.family()).deps {
            let why = WantedBy::Deps {
                name: ext.name.clone(),
            };
            add(expand_v(dep, self.target.pg), "pgsql", why, optional);
        }
        for req in &ext.requires {
            if let Some(r) = self.catalog.get(req) {
                self.add_extension(r, Some(&ext.name), optional, add, seen);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::{Arch, Os};

    fn plan(os: Os, pg: u32, ext: &[&str], packages: Option<&[&str]>) -> Plan {
        let catalog = Catalog::builtin().unwrap();
        let distro = Distro::load(Target::new(os, Arch::X86_64, pg), None).unwrap();
        let req = Request {
            extensions: ext.iter().map(|s| s.to_string()).collect(),
            packages: packages.map(|p| p.iter().map(|s| s.to_string()).collect()),
            probe: false,
            bootstrap: false,
        };
        Plan::make(&catalog, &distro, &req).unwrap()
    }

    fn has(p: &Plan, name: &str) -> bool {
        p.packages.iter().any(|x| x.name == name)
    }

    fn probed(os: Os, pg: u32, ext: &[&str]) -> Plan {
        let catalog = Catalog::builtin().unwrap();
        let distro = Distro::load(Target::new(os, Arch::X86_64, pg), None).unwrap();
        let req = Request {
            extensions: ext.iter().map(|s| s.to_string()).collect(),
            packages: Some(Vec::new()),
            probe: true,
            bootstrap: false,
        };
        Plan::make(&catalog, &distro, &req).unwrap()
    }

    #[test]
    fn a_build_leaves_the_matrix_prediction_to_the_repos() {
        // The matrix predicts pgagent missing on Debian: a plan says so...
        let p = plan(Os::D12, 15, &["pgagent"], Some(&[]));
        assert!(!has(&p, "pgagent"));
        assert!(p
            .unavailable
            .iter()
            .any(|u| u.extension == "pgagent" && u.named));
        // ...a build plans it, optional, and remembers the prediction.
        let b = probed(Os::D12, 15, &["pgagent"]);
        let pkg = b.packages.iter().find(|x| x.name == "pgagent").unwrap();
        assert!(pkg.optional);
        assert!(b.unavailable.is_empty(), "{:?}", b.unavailable);
        assert_eq!(b.predicted.len(), 1);
        assert!(b.predicted[0].named && b.predicted[0].package == "pgagent");
        // Facts stand: no package for PG 15 is no package, build or not.
        let t = probed(Os::D12, 15, &["timescaledb"]);
        assert!(t
            .unavailable
            .iter()
            .any(|u| u.extension == "timescaledb" && u.named));
        assert!(t.predicted.is_empty());
        // Asked for by name: needed; by a category: optional.
        let named = probed(Os::D12, 15, &["pg_cron"]);
        assert!(
            named.packages.iter().all(|x| !x.optional),
            "{:?}",
            named.packages
        );
        let cat = probed(Os::D12, 15, &["category:GIS"]);
        assert!(
            cat.packages.iter().all(|x| x.optional),
            "{:?}",
            cat.packages
        );
        assert!(cat.unavailable.iter().all(|u| !u.named));
    }

    #[test]
    fn reference_examples() {
        assert!(has(
            &plan(Os::El9, 17, &["postgis"], Some(&[])),
            "postgis36_17"
        ));
        assert!(has(
            &plan(Os::D12, 17, &["postgis"], Some(&[])),
            "postgresql-17-postgis-3"
        ));
        assert!(has(
            &plan(Os::D12, 15, &["vector"], Some(&[])),
            "postgresql-15-pgvector"
        ));
    }

    #[test]
    fn requires_pull_in_the_required_package() {
        // pgrouting requires postgis: both packages, postgis marked as required by pgrouting.
        let p = plan(Os::D12, 16, &["pgrouting"], Some(&[]));
        assert!(has(&p, "postgresql-16-pgrouting"));
        let postgis = p
            .packages
            .iter()
            .find(|x| x.name == "postgresql-16-postgis-3")
            .unwrap();
        assert!(postgis.wanted_by.contains(&WantedBy::Requires {
            name: "postgis".into(),
            required_by: "pgrouting".into()
        }));
    }

    #[test]
    fn extra_deps_are_added() {
        let catalog = Catalog::builtin().unwrap();
        let ext = catalog
            .extensions()
            .iter()
            .find(|e| {
                !e.deb.deps.is_empty()
                    && e.deb.pg.contains(&17)
                    && catalog
                        .resolve(e, &Target::new(Os::D12, Arch::X86_64, 17))
                        .is_ok()
            })
            .unwrap();
        let p = plan(Os::D12, 17, &[&ext.name], Some(&[]));
        let dep = expand_v(&ext.deb.deps[0], 17);
        let pkg = p
            .packages
            .iter()
            .find(|x| x.name == dep)
            .unwrap_or_else(|| panic!("{dep} not in plan"));
        assert!(pkg
            .wanted_by
            .iter()
            .any(|w| matches!(w, WantedBy::Deps { .. } | WantedBy::Requires { .. })));
    }

    #[test]
    fn unavailable_extensions_have_reasons() {
        let p = plan(Os::D12, 17, &["pg_strom", "postgis"], Some(&[]));
        let u = p
            .unavailable
            .iter()
            .find(|u| u.extension == "pg_strom")
            .unwrap();
        assert_eq!(u.message, "no deb package");
        assert!(u.requested);
        // PG 13: nothing in the catalog is built for it
        let p = plan(Os::El9, 13, &["postgis"], Some(&[]));
        assert!(p.packages.is_empty());
        assert!(
            p.unavailable[0].message.starts_with("no package for PG 13"),
            "{}",
            p.unavailable[0].message
        );
    }

    #[test]
    fn unavailable_requirement_makes_the_dependent_unavailable() {
        let catalog = Catalog::builtin().unwrap();
        let distro = Distro::load(Target::new(Os::D12, Arch::X86_64, 17), None).unwrap();
        let mut exts = catalog.extensions().to_vec();
        let i = exts.iter().position(|e| e.name == "pgrouting").unwrap();
        exts[i].requires = vec!["pg_strom".into()];
        let catalog = Catalog::new(exts, "t").unwrap();
        let req = Request {
            extensions: vec!["pgrouting".into()],
            packages: Some(vec![]),
            probe: false,
            bootstrap: false,
        };
        let p = Plan::make(&catalog, &distro, &req).unwrap();
        assert!(p.packages.is_empty());
        let names: Vec<_> = p
            .unavailable
            .iter()
            .map(|u| (u.extension.as_str(), u.requested))
            .collect();
        assert_eq!(names, vec![("pg_strom", false), ("pgrouting", true)]);
        assert!(p.unavailable[1].message.contains("requires `pg_strom`"));
    }

    #[test]
    fn aliases_and_defaults() {
        let p = plan(Os::D12, 15, &[], Some(&["pgsql-mini", "htop"]));
        assert_eq!(
            p.package_names(),
            vec!["htop", "postgresql-15", "postgresql-client-15"]
        );
        let pg = p
            .packages
            .iter()
            .find(|x| x.name == "postgresql-15")
            .unwrap();
        assert_eq!(
            pg.wanted_by,
            vec![WantedBy::Alias {
                name: "pgsql-mini".into()
            }]
        );
        assert_eq!(pg.module, "pgsql");
        // no --packages: the default sets, which include pgsql-main
        let p = plan(Os::El9, 17, &[], None);
        assert!(has(&p, "postgresql17-server") && has(&p, "pgvector_17") && has(&p, "patroni"));
        let ans = p.packages.iter().find(|x| x.name == "ansible").unwrap();
        assert_eq!(ans.module, "node");
    }

    #[test]
    fn the_bootstrap_set_is_always_planned_unless_left_out() {
        let catalog = Catalog::builtin().unwrap();
        let distro = Distro::load(Target::new(Os::D12, Arch::X86_64, 15), None).unwrap();
        let mut req = Request {
            extensions: vec!["postgis".into()],
            packages: Some(vec!["pgsql-mini".into()]),
            probe: false,
            bootstrap: true,
        };
        let p = Plan::make(&catalog, &distro, &req).unwrap();
        for name in ["ansible", "python3-jmespath", "python3-apt"] {
            let pkg = p.packages.iter().find(|x| x.name == name).unwrap();
            assert_eq!(pkg.wanted_by, vec![WantedBy::Bootstrap], "{name}");
            assert_eq!(pkg.module, "node");
        }
        // with the default sets, ansible is wanted by its alias and by the bootstrap set
        req.packages = None;
        let p = Plan::make(&catalog, &distro, &req).unwrap();
        let ansible = p.packages.iter().find(|x| x.name == "ansible").unwrap();
        assert_eq!(
            ansible.wanted_by,
            vec![
                WantedBy::Alias {
                    name: "node-bootstrap".into()
                },
                WantedBy::Bootstrap
            ]
        );
        req.bootstrap = false;
        req.packages = Some(vec![]);
        let p = Plan::make(&catalog, &distro, &req).unwrap();
        assert!(!has(&p, "ansible") && !has(&p, "python3-apt"));
    }

    #[test]
    fn categories_all_and_unknown_names() {
        let p = plan(Os::El9, 17, &["category:gis"], Some(&[]));
        assert!(has(&p, "postgis36_17"));
        let all = plan(Os::El9, 17, &["all"], Some(&[]));
        assert!(all.packages.len() > 200, "{}", all.packages.len());
        let catalog = Catalog::builtin().unwrap();
        let distro = Distro::load(Target::new(Os::El9, Arch::X86_64, 17), None).unwrap();
        let err = Plan::make(
            &catalog,
            &distro,
            &Request {
                extensions: vec!["postgiss".into()],
                packages: None,
                probe: false,
                bootstrap: true,
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, "unknown extension `postgiss`; did you mean `postgis`?");
        let err = Plan::make(
            &catalog,
            &distro,
            &Request {
                extensions: vec!["category:nope".into()],
                packages: None,
                probe: false,
                bootstrap: true,
            },
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("GIS"), "{err}");
    }
}
