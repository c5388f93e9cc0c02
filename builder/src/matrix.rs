//! The target matrix: every OS x arch x PG major, with how many extensions each can serve.
//! This is the input of the release CI matrix.

use repo_layout::{check_pg, Arch, Family, Os, Target, PG_BETA, PG_SUPPORTED};
use serde::Serialize;

use crate::catalog::Catalog;
use crate::distro::{Distro, DistroError};
use crate::plan::{Plan, PlanError, Request};

/// One target of the matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatrixRow {
    pub os: String,
    pub arch: String,
    pub pg: u32,
    pub family: Family,
    pub beta: bool,
    /// Extensions of the catalog this target can serve.
    pub extensions: usize,
    /// Packages a `plan --ext all` with no other packages needs.
    pub extension_packages: usize,
}

/// Every target, PG majors highest first; beta majors only when asked.
pub fn targets(beta: bool) -> Vec<Target> {
    let mut pgs: Vec<u32> = PG_SUPPORTED.collect();
    if beta {
        pgs.extend(PG_BETA);
    }
    pgs.sort_unstable_by(|a, b| b.cmp(a));
    let mut out = Vec::new();
    for os in Os::ALL {
        for arch in Arch::ALL {
            for &pg in &pgs {
                if check_pg(pg, beta).is_ok() {
                    out.push(Target::new(os, arch, pg));
                }
            }
        }
    }
    out
}

/// Plans `--ext all` for every target and counts what each can serve.
pub fn matrix(catalog: &Catalog, beta: bool) -> Result<Vec<MatrixRow>, PlanError> {
    let request = Request {
        extensions: vec!["all".to_string()],
        packages: Some(Vec::new()),
    };
    let mut rows = Vec::new();
    for target in targets(beta) {
        let distro = Distro::load(target, None).map_err(|e: DistroError| PlanError::Distro(e))?;
        let plan = Plan::make(catalog, &distro, &request)?;
        rows.push(MatrixRow {
            os: target.os.code().to_string(),
            arch: target.arch.as_str().to_string(),
            pg: target.pg,
            family: target.family(),
            beta: PG_BETA.contains(&target.pg),
            extensions: catalog.extensions().len()
                - plan.unavailable.iter().filter(|u| u.requested).count(),
            extension_packages: plan.packages.len(),
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_is_listed() {
        let t = targets(false);
        assert_eq!(t.len(), 8 * 2 * 6);
        assert!(!t.iter().any(|t| t.pg == 19));
        assert_eq!(targets(true).len(), 8 * 2 * 7);
    }

    #[test]
    fn counts_follow_the_catalog() {
        let cat = Catalog::builtin().unwrap();
        let rows = matrix(&cat, false).unwrap();
        let get = |os: &str, arch: &str, pg: u32| {
            rows.iter()
                .find(|r| r.os == os && r.arch == arch && r.pg == pg)
                .unwrap()
                .extensions
        };
        // Pigsty serves 400+ extensions on a mainstream target, and almost none on PG 13.
        assert!(
            get("el9", "x86_64", 17) > 400,
            "{}",
            get("el9", "x86_64", 17)
        );
        assert!(get("d12", "x86_64", 17) > 400);
        assert!(get("el9", "x86_64", 13) < 10);
        // pg_strom is EL x86_64 only, so aarch64 serves fewer
        assert!(get("el9", "aarch64", 17) < get("el9", "x86_64", 17));
    }
}
