//! Compares two catalogs fact by fact: `pigsty-build catalog diff FILE`.
//!
//! Lists every extension missing on either side and every fact on which the two differ:
//! package key, lead, category, license, version, origin, PG majors, requires, the rpm and deb
//! package names, origins, versions, PG majors and extra dependencies, excluded OS, kernel,
//! and, where the other side carries an availability matrix, every cell whose state differs.
//! Lists are compared as sets: order is not a fact.

use std::collections::BTreeSet;

use serde::Serialize;

use super::{Catalog, Extension, FamilyPackage};

/// One fact on which the two catalogs differ.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub extension: String,
    pub fact: String,
    /// Our value (empty when we lack the extension).
    pub ours: String,
    /// Their value (empty when they lack the extension).
    pub theirs: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {}: ours {}, theirs {}",
            self.extension,
            self.fact,
            show(&self.ours),
            show(&self.theirs)
        )
    }
}

fn show(s: &str) -> String {
    if s.is_empty() {
        "(none)".to_string()
    } else {
        format!("`{s}`")
    }
}

fn set_str(v: &[String]) -> String {
    v.iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(",")
}

fn set_u32(v: &[u32]) -> String {
    let s: BTreeSet<u32> = v.iter().copied().collect();
    s.iter()
        .rev()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Compares `ours` with `theirs`; an empty result means they agree on every fact.
pub fn diff(ours: &Catalog, theirs: &Catalog) -> Vec<Difference> {
    let mut out = Vec::new();
    for t in theirs.extensions() {
        match ours.get(&t.name) {
            None => out.push(Difference {
                extension: t.name.clone(),
                fact: "extension".into(),
                ours: String::new(),
                theirs: "present".into(),
            }),
            Some(o) => diff_extension(o, t, &mut out),
        }
    }
    for o in ours.extensions() {
        if theirs.get(&o.name).is_none() {
            out.push(Difference {
                extension: o.name.clone(),
                fact: "extension".into(),
                ours: "present".into(),
                theirs: String::new(),
            });
        }
    }
    out
}

fn diff_extension(o: &Extension, t: &Extension, out: &mut Vec<Difference>) {
    let mut check = |fact: &str, ours: String, theirs: String| {
        if ours != theirs {
            out.push(Difference {
                extension: o.name.clone(),
                fact: fact.to_string(),
                ours,
                theirs,
            });
        }
    };
    check("package key", o.package.clone(), t.package.clone());
    check("lead", o.lead.to_string(), t.lead.to_string());
    check(
        "lead extension",
        o.lead_extension.clone(),
        t.lead_extension.clone(),
    );
    check("category", o.category.clone(), t.category.clone());
    check("license", o.license.clone(), t.license.clone());
    check("version", o.version.clone(), t.version.clone());
    check("origin", o.origin.clone(), t.origin.clone());
    check("contrib", o.contrib.to_string(), t.contrib.to_string());
    check("PG majors", set_u32(&o.pg), set_u32(&t.pg));
    check("requires", set_str(&o.requires), set_str(&t.requires));
    check("os_exclude", set_str(&o.os_exclude), set_str(&t.os_exclude));
    check(
        "kernel",
        o.kernel.clone().unwrap_or_default(),
        t.kernel.clone().unwrap_or_default(),
    );
    for (fam, of, tf) in [("rpm", &o.rpm, &t.rpm), ("deb", &o.deb, &t.deb)] {
        let facts = |f: &FamilyPackage| {
            [
                ("package", f.package.clone()),
                ("origin", f.origin.clone()),
                ("version", f.version.clone()),
                ("PG majors", set_u32(&f.pg)),
                ("deps", set_str(&f.deps)),
            ]
        };
        for ((name, ov), (_, tv)) in facts(of).into_iter().zip(facts(tf)) {
            check(&format!("{fam} {name}"), ov, tv);
        }
    }
    // Availability: compared only where the other side knows its matrix.
    if let Some(ta) = &t.availability {
        match &o.availability {
            None => check("availability", "unknown".into(), "known".into()),
            Some(oa) => {
                let cells: BTreeSet<_> =
                    oa.unavailable.keys().chain(ta.unavailable.keys()).collect();
                for (os_arch, pg) in cells {
                    let os = oa.state(os_arch, *pg);
                    let ts = ta.state(os_arch, *pg);
                    check(
                        &format!("availability {os_arch} PG {pg}"),
                        os.to_string(),
                        ts.to_string(),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::State;

    #[test]
    fn identical_catalogs_agree() {
        let cat = Catalog::builtin().unwrap();
        assert!(diff(&cat, &cat).is_empty());
    }

    #[test]
    fn every_kind_of_change_is_reported() {
        let cat = Catalog::builtin().unwrap();
        let mut exts = cat.extensions().to_vec();
        let i = exts.iter().position(|e| e.name == "postgis").unwrap();
        exts[i].rpm.package = "postgis99_$v".into();
        exts[i].deb.pg.retain(|p| *p != 14);
        let j = exts.iter().position(|e| e.name == "pg_partman").unwrap();
        exts[j].requires.push("pg_cron".into());
        let k = exts.iter().position(|e| e.name == "timescaledb").unwrap();
        exts[k]
            .availability
            .get_or_insert_with(Default::default)
            .unavailable
            .insert(("d12.x86_64".into(), 17), State::Broken);
        exts.retain(|e| e.name != "hypopg");
        let theirs = Catalog::new(exts, "t").unwrap();
        let d = diff(&cat, &theirs);
        let facts: Vec<String> = d
            .iter()
            .map(|x| format!("{} {}", x.extension, x.fact))
            .collect();
        assert!(
            facts.contains(&"postgis rpm package".to_string()),
            "{facts:?}"
        );
        assert!(
            facts.contains(&"postgis deb PG majors".to_string()),
            "{facts:?}"
        );
        assert!(
            facts.contains(&"pg_partman requires".to_string()),
            "{facts:?}"
        );
        assert!(
            facts.contains(&"timescaledb availability d12.x86_64 PG 17".to_string()),
            "{facts:?}"
        );
        assert!(facts.contains(&"hypopg extension".to_string()), "{facts:?}");
        assert_eq!(d.len(), 5, "{facts:?}");
    }
}
