//! The target matrix: every OS x arch x PG major, with how many extensions each can serve,
//! and the same targets as the build matrix of the release workflow ([`github`]).

use pigsty_bundle::{check_pg, Arch, Family, Os, Target, PG_BETA, PG_SUPPORTED};
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
        probe: false,
        bootstrap: false,
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

/// The GitHub-hosted runner that builds a target's bundle: one of the target's own arch.
pub fn runner(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "ubuntu-24.04",
        Arch::Aarch64 => "ubuntu-24.04-arm",
    }
}

/// One job of the release workflow's build matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubJob {
    /// `OS.ARCH.pgPG`, e.g. `d12.x86_64.pg17`: unique, names the job's artifact.
    pub name: String,
    pub os: String,
    pub arch: String,
    pub pg: u32,
    pub family: Family,
    pub beta: bool,
    /// The `runs-on` label: see [`runner`].
    pub runner: &'static str,
}

/// A GitHub Actions matrix: `strategy.matrix: ${{ fromJSON(...) }}` takes it as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GithubMatrix {
    pub include: Vec<GithubJob>,
}

/// Every target as a job of the release workflow, in the order of [`targets`]. Needs no
/// catalog: a job builds the target's default package sets.
pub fn github(beta: bool) -> GithubMatrix {
    let include = targets(beta)
        .into_iter()
        .map(|t| GithubJob {
            name: format!("{}.{}.pg{}", t.os.code(), t.arch.as_str(), t.pg),
            os: t.os.code().to_string(),
            arch: t.arch.as_str().to_string(),
            pg: t.pg,
            family: t.family(),
            beta: PG_BETA.contains(&t.pg),
            runner: runner(t.arch),
        })
        .collect();
    GithubMatrix { include }
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

    #[test]
    fn github_jobs_run_on_their_arch() {
        let m = github(false);
        assert_eq!(m.include.len(), targets(false).len());
        let d12 = m
            .include
            .iter()
            .find(|j| j.name == "d12.aarch64.pg17")
            .unwrap();
        assert_eq!(d12.runner, "ubuntu-24.04-arm");
        assert_eq!(d12.family, Family::Deb);
        let el9 = m
            .include
            .iter()
            .find(|j| j.name == "el9.x86_64.pg17")
            .unwrap();
        assert_eq!(el9.runner, "ubuntu-24.04");
        assert_eq!(el9.family, Family::Rpm);
        assert!(github(true).include.iter().any(|j| j.pg == 19 && j.beta));
    }
}
