//! The dnf dependency closure: which packages a set of requested ones pulls in from a list of
//! rpm repositories, and why each one is there. The set is the one dnf (libsolv) installs for
//! `dnf install` into an empty root with `install_weak_deps=False`, found the way libsolv
//! finds it.
//!
//! - A request is a package name, as `dnf install NAME` takes it: every package of that name
//!   and every package obsoleting one of them are its candidates (so an obsoleted package
//!   gives way to its obsoleter); if no package has the name, its providers (a provide or a
//!   file path).
//! - `Requires` are followed transitively (`rpmlib(...)` ones are rpm's own and skipped),
//!   matched against `Provides` with rpm's range overlap; file requirements against the
//!   packages owning the path: `primary.xml`'s file lists first, and only when those have
//!   no owner, `filelists.xml`, fetched on demand through [`FileLists`] once for all file
//!   requirements of all repositories.
//! - Everything is a constraint, as in libsolv: requirements, `Conflicts`, `Obsoletes`
//!   (matched by name and range), one version per name, rich dependencies (see
//!   [`super::rules`] for how `and`/`or`/`if`/`unless`/`else`/`with`/`without` become
//!   clauses). A choice that later conflicts is undone ([`crate::solver`]: conflict-driven
//!   learning and backjumping), never reported as a conflict of the result.
//! - Choosing among candidates is libsolv's policy ([`super::policy`]): repository priority,
//!   highest version, obsoleted candidates out, then name order with a few reorderings;
//!   requirements with several candidates wait until those with one are followed, and a
//!   choice made redundant by a later one is taken back (libsolv's minimisation).
//! - Weak dependencies are not followed (`install_weak_deps=False`); as in libsolv they still
//!   steer a choice among candidates.
//!
//! Every problem is collected: a request nothing provides, a requirement nothing satisfies
//! (with the chain that led to it, e.g. `named in --packages -> pgvector_17 ->
//! postgresql17-server >= 17.0: nothing provides it`), or requests that cannot be installed
//! together, naming the packages that conflict or obsolete each other by NEVRA.

use std::collections::HashSet;
use std::fmt;

use super::filelists::OwnedFile;
use super::policy::Policy;
use super::primary::RpmPackage;
use super::problems::{excluded_hints, met_by, Teller};
use super::rich::{Dep, Simple};
use super::rules::{cand, id, Lookup, RuleBuilder};
use super::universe::{entry_hits, Cand, Universe};
use super::upstream::{DnfIndex, DnfUpstreamError};
use super::version::Evr;
use crate::fetch::{FetchItem, Fetcher};
use crate::solver::{self, Id, RuleKind};

pub use crate::closure::{DepKind, Missing, Problem, Requested, Why};

/// What to resolve with.
#[derive(Debug, Clone, Default)]
pub struct DnfClosureOptions {
    /// Requests nothing provides become [`DnfClosure::missing`] entries instead of errors.
    /// Unsatisfiable requirements are errors regardless.
    pub allow_missing: bool,
}

/// Where the closure gets complete file lists when `primary.xml`'s are not enough.
pub trait FileLists {
    /// The owners, in repository `repo`, of the `wanted` paths.
    fn owners(
        &self,
        repo: &DnfIndex,
        wanted: &HashSet<String>,
    ) -> Result<Vec<OwnedFile>, DnfUpstreamError>;
}

/// Fetches `filelists.xml` from the repository ([`DnfIndex::load_filelists`]).
impl FileLists for Fetcher {
    fn owners(
        &self,
        repo: &DnfIndex,
        wanted: &HashSet<String>,
    ) -> Result<Vec<OwnedFile>, DnfUpstreamError> {
        repo.load_filelists(self, wanted)
    }
}

/// No file lists beyond `primary.xml`'s.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFileLists;

impl FileLists for NoFileLists {
    fn owners(
        &self,
        _: &DnfIndex,
        _: &HashSet<String>,
    ) -> Result<Vec<OwnedFile>, DnfUpstreamError> {
        Ok(Vec::new())
    }
}

/// One selected package.
#[derive(Debug, Clone)]
pub struct Selected {
    pub name: String,
    pub evr: Evr,
    pub arch: String,
    /// The repository's name.
    pub repo: String,
    /// The repository's position in the list given to [`resolve`].
    pub repo_index: usize,
    /// The `primary.xml` entry: location, checksum, size, dependencies.
    pub package: RpmPackage,
    pub why: Vec<Why>,
}

impl Selected {
    pub fn nevra(&self) -> String {
        self.package.nevra()
    }
}

/// An alternative taken for an `or`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The package whose requirement it is.
    pub package: String,
    /// The whole requirement as written.
    pub requirement: String,
    /// The alternative taken.
    pub chosen: String,
    /// The packages that alternative brought in (directly).
    pub selected: Vec<String>,
}

/// Two selected packages that conflict, or one obsoleting the other. The solver never lets
/// that happen; [`DnfClosure::conflicts`] is a check of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// NEVRA of the package declaring it.
    pub package: String,
    /// `conflicts with X` or `obsoletes X`, the entry as written.
    pub relation: String,
    /// NEVRAs of the selected packages it hits.
    pub with: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.package, self.relation, self.with)
    }
}

/// The result of [`resolve`].
#[derive(Debug, Clone)]
pub struct DnfClosure {
    /// Sorted by name, then arch.
    pub packages: Vec<Selected>,
    /// In the order they were made.
    pub choices: Vec<Choice>,
    pub missing: Vec<Missing>,
    /// Conflicts and obsoletes between selected packages: always empty, as the solver
    /// treats them as constraints (kept as a check of the result, and for reports).
    pub conflicts: Vec<Conflict>,
    /// Repositories whose `filelists.xml` was read.
    pub filelists_loaded: Vec<String>,
}

impl DnfClosure {
    /// The selected package of a name.
    pub fn get(&self, name: &str) -> Option<&Selected> {
        let i = self.packages.partition_point(|p| p.name.as_str() < name);
        self.packages.get(i).filter(|p| p.name == name)
    }

    /// What the fetcher needs to download every selected package, in order.
    pub fn fetch_items(&self, repos: &[DnfIndex]) -> Result<Vec<FetchItem>, DnfUpstreamError> {
        self.packages
            .iter()
            .map(|s| repos[s.repo_index].fetch_item(&s.package))
            .collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DnfClosureError {
    #[error("{} unresolvable:{}", problems.len(), list(problems))]
    Unresolvable { problems: Vec<Problem> },
    #[error("while looking for the owner of a file: {0}")]
    FileLists(Box<DnfUpstreamError>),
}

impl From<DnfUpstreamError> for DnfClosureError {
    fn from(e: DnfUpstreamError) -> Self {
        DnfClosureError::FileLists(Box::new(e))
    }
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("\n  {p}")).collect()
}

/// The candidates of a request: every package of the name and its obsoleters (dnf's
/// `install NAME` with `obsoletes=True`), else the providers of the name or path.
fn job_candidates(lk: &mut Lookup<'_, '_>, name: &str) -> Result<Vec<Cand>, DnfUpstreamError> {
    let named: Vec<Cand> = lk.u.named(name).to_vec();
    if named.is_empty() {
        return lk.providers(&Simple {
            name: name.to_string(),
            constraint: None,
        });
    }
    let mut out = named.clone();
    for &c in &named {
        out.extend(lk.u.obsoleters_of(c));
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

/// Resolves the closure of `requested` over `repos` (each already filtered to the target arch
/// and `noarch`, see [`super::upstream::load`]). `filelists` is asked for complete file
/// lists only when a file requirement has no owner in `primary.xml`.
pub fn resolve(
    repos: &[DnfIndex],
    requested: &[Requested],
    opts: &DnfClosureOptions,
    filelists: &dyn FileLists,
) -> Result<DnfClosure, DnfClosureError> {
    let mut universe = Universe::new(repos);
    let paths = requested
        .iter()
        .filter(|r| r.name.starts_with('/'))
        .map(|r| r.name.clone())
        .collect();
    let mut lk = Lookup::new(&mut universe, filelists, paths);
    let mut missing = Vec::new();
    let mut problems = Vec::new();
    // Per job: its request and candidates.
    let mut jobs: Vec<(usize, Vec<Id>)> = Vec::new();
    for (ri, req) in requested.iter().enumerate() {
        let cands = job_candidates(&mut lk, &req.name)?;
        if !cands.is_empty() {
            jobs.push((ri, cands.into_iter().map(id).collect()));
        } else if opts.allow_missing || req.optional {
            missing.push(Missing {
                name: req.name.clone(),
                wanted_by: req.wanted_by.clone(),
            });
        } else {
            let simple = Dep::Simple(Simple {
                name: req.name.clone(),
                constraint: None,
            });
            let hints = excluded_hints(lk.u, &simple);
            problems.push(Problem {
                chain: vec![req.wanted_by.clone()],
                message: format!("nothing provides {}{hints}", req.name),
            });
        }
    }
    let mut builder = RuleBuilder::new(&mut lk);
    for (_, cands) in &jobs {
        for &c in cands {
            builder.add(cand(c))?;
        }
    }
    let rules = std::mem::take(&mut builder.rules);
    let filelists_loaded = std::mem::take(&mut lk.loaded);
    let u = &universe;
    let candidates: Vec<Vec<Id>> = jobs.iter().map(|(_, c)| c.clone()).collect();
    let solution = solver::solve(&Policy { u }, u.pkgs.len(), rules, &candidates);

    let teller = Teller {
        u,
        requested,
        jobs: &jobs,
    };
    let mut told = HashSet::new();
    for p in &solution.problems {
        let (key, problem) = teller.tell(p);
        if told.insert(key) {
            problems.push(problem);
        }
    }
    if !problems.is_empty() {
        return Err(DnfClosureError::Unresolvable { problems });
    }
    let installed: Vec<Cand> = solution.installed.iter().map(|&i| cand(i)).collect();
    let mut closure = DnfClosure {
        packages: selected(u, requested, &jobs, &installed),
        choices: choices(u, &solution),
        missing,
        conflicts: Vec::new(),
        filelists_loaded,
    };
    closure.conflicts = find_conflicts(u, &installed);
    Ok(closure)
}

/// The selected packages, each with why it is there: the requests it meets, and every
/// selected package whose requirement it meets.
fn selected(
    u: &Universe<'_>,
    requested: &[Requested],
    jobs: &[(usize, Vec<Id>)],
    installed: &[Cand],
) -> Vec<Selected> {
    let mut is = vec![false; u.pkgs.len()];
    for &c in installed {
        is[c as usize] = true;
    }
    let mut why: Vec<Vec<Why>> = vec![Vec::new(); u.pkgs.len()];
    for (ri, cands) in jobs {
        for &c in cands {
            if is[cand(c) as usize] {
                why[cand(c) as usize].push(Why::Requested {
                    label: requested[*ri].wanted_by.clone(),
                });
            }
        }
    }
    for &c in installed {
        let p = u.pkg(c);
        for e in &p.requires {
            if e.name.starts_with("rpmlib(") {
                continue;
            }
            let Ok(dep) = e.dep() else { continue };
            let w = Why::Dependency {
                of: p.name.clone(),
                kind: DepKind::Requires,
                relation: dep.to_string(),
            };
            for o in met_by(u, &dep, &is, c) {
                why[o as usize].push(w.clone());
            }
        }
    }
    let mut packages: Vec<Selected> = installed
        .iter()
        .map(|&c| {
            let (r, p) = u.pkgs[c as usize];
            let mut why = std::mem::take(&mut why[c as usize]);
            why.sort();
            why.dedup();
            Selected {
                name: p.name.clone(),
                evr: p.evr.clone(),
                arch: p.arch.clone(),
                repo: u.repos[r].source.name.clone(),
                repo_index: r,
                package: p.clone(),
                why,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.arch.cmp(&b.arch)));
    packages
}

/// The choices that stand, for rich requirements: which alternative was taken.
fn choices(u: &Universe<'_>, solution: &solver::Solution) -> Vec<Choice> {
    let mut out = Vec::new();
    for &(p, info) in &solution.choices {
        if info.kind != RuleKind::Requires {
            continue;
        }
        let owner = u.pkg(cand(info.pkg));
        let Some(dep) = owner
            .requires
            .get(info.dep as usize)
            .and_then(|e| e.dep().ok())
        else {
            continue;
        };
        if !dep.is_rich() {
            continue;
        }
        let chosen = u.pkg(cand(p));
        let alternative = dep
            .simples()
            .into_iter()
            .find(|s| u.provides_simple(cand(p), s))
            .map_or_else(|| chosen.name.clone(), |s| s.to_string());
        out.push(Choice {
            package: owner.name.clone(),
            requirement: dep.to_string(),
            chosen: alternative,
            selected: vec![chosen.name.clone()],
        });
    }
    out
}

/// Conflicts and obsoletes between selected packages (none, unless the solver is wrong).
fn find_conflicts(u: &Universe<'_>, installed: &[Cand]) -> Vec<Conflict> {
    let mut is = vec![false; u.pkgs.len()];
    for &c in installed {
        is[c as usize] = true;
    }
    let mut out = Vec::new();
    for &c in installed {
        let p = u.pkg(c);
        for e in &p.conflicts {
            let Ok(dep) = e.dep() else { continue };
            let mut hit: Vec<String> = Vec::new();
            let holds = dep.eval(&mut |s: &Simple| {
                let found: Vec<Cand> = u
                    .providers(s)
                    .into_iter()
                    .filter(|&o| o != c && is[o as usize])
                    .collect();
                hit.extend(found.iter().map(|&o| u.pkg(o).nevra()));
                !found.is_empty()
            });
            if holds {
                hit.sort();
                hit.dedup();
                out.push(Conflict {
                    package: p.nevra(),
                    relation: format!("conflicts with {dep}"),
                    with: hit.join(", "),
                });
            }
        }
        for e in &p.obsoletes {
            for &o in u.named(&e.name) {
                if o != c && is[o as usize] && entry_hits(e, u.pkg(o)) {
                    let dep = e.dep().map(|d| d.to_string()).unwrap_or(e.name.clone());
                    out.push(Conflict {
                        package: p.nevra(),
                        relation: format!("obsoletes {dep}"),
                        with: u.pkg(o).nevra(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnf::primary::{Checksum, DepEntry, FileEntry, FileKind};
    use crate::dnf::rich::Op;
    use crate::dnf::upstream::DnfSource;
    use std::cell::RefCell;

    /// A package from a compact spec: `name evr arch`, then `;`-separated `R: dep`,
    /// `P: provide`, `F: /path`, `C: conflict`, `O: obsolete`.
    fn pkg(spec: &str) -> RpmPackage {
        let mut parts = spec.split(';').map(str::trim);
        let head: Vec<&str> = parts.next().unwrap().split_whitespace().collect();
        let mut p = RpmPackage {
            name: head[0].into(),
            evr: head[1].parse().unwrap(),
            arch: head.get(2).unwrap_or(&"x86_64").to_string(),
            ..RpmPackage::default()
        };
        p.checksum = Checksum {
            kind: "sha256".into(),
            value: format!("id-{}-{}", p.name, p.evr),
        };
        p.location = format!("Packages/{}.rpm", p.nevra());
        p.provides.push(DepEntry {
            name: p.name.clone(),
            constraint: Some((Op::Eq, p.evr.clone())),
            pre: false,
        });
        for part in parts.filter(|s| !s.is_empty()) {
            let (kind, text) = part.split_once(": ").unwrap();
            let entry = if text.starts_with('(') {
                DepEntry {
                    name: text.into(),
                    constraint: None,
                    pre: false,
                }
            } else {
                let Dep::Simple(s) = Dep::parse(text).unwrap() else {
                    unreachable!()
                };
                DepEntry {
                    name: s.name,
                    constraint: s.constraint,
                    pre: false,
                }
            };
            match kind {
                "R" => p.requires.push(entry),
                "P" => p.provides.push(entry),
                "C" => p.conflicts.push(entry),
                "O" => p.obsoletes.push(entry),
                "F" => p.files.push(FileEntry {
                    path: text.into(),
                    kind: FileKind::File,
                }),
                _ => panic!("bad spec {part}"),
            }
        }
        p
    }

    fn repo(name: &str, priority: u32, specs: &str) -> DnfIndex {
        let mut source = DnfSource::new(name, format!("http://m.invalid/{name}"));
        source.priority = priority;
        DnfIndex::from_packages(
            source,
            specs
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(pkg),
            "x86_64",
        )
    }

    fn req(names: &[&str]) -> Vec<Requested> {
        names
            .iter()
            .map(|n| Requested::new(*n, format!("ext {n}")))
            .collect()
    }

    fn run(repos: &[DnfIndex], names: &[&str]) -> DnfClosure {
        resolve(
            repos,
            &req(names),
            &DnfClosureOptions::default(),
            &NoFileLists,
        )
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn problems(repos: &[DnfIndex], names: &[&str]) -> Vec<String> {
        match resolve(
            repos,
            &req(names),
            &DnfClosureOptions::default(),
            &NoFileLists,
        ) {
            Ok(c) => panic!("resolved: {:?}", nevras(&c)),
            Err(DnfClosureError::Unresolvable { problems }) => {
                problems.iter().map(ToString::to_string).collect()
            }
            Err(e) => panic!("{e}"),
        }
    }

    fn nevras(c: &DnfClosure) -> Vec<String> {
        c.packages
            .iter()
            .map(|p| format!("{}@{}", p.nevra(), p.repo))
            .collect()
    }

    fn names(c: &DnfClosure) -> Vec<&str> {
        c.packages.iter().map(|p| p.name.as_str()).collect()
    }

    #[test]
    fn requires_and_versioned_provides() {
        let a = repo(
            "a",
            99,
            "app 1-1; R: libfoo >= 2; R: bar >= 9; R: pg-server = 17.2; R: rpmlib(PayloadIsZstd) <= 5.4.18-1
             libfoo1 1.5-1; P: libfoo = 1.5
             libfoo2 2.1-1; P: libfoo = 2.1
             libfoo3 3.0-1; P: libfoo
             barpkg 1-1; P: bar
             pg-server 17.2-1PGDG
             pg-server 17.1-1PGDG",
        );
        let c = run(&[a], &["app"]);
        // libfoo >= 2: libfoo2 (2.1) and libfoo3 (unversioned provide: any version) qualify,
        // libfoo1 (1.5) does not; alphabetical among names picks libfoo2.
        assert_eq!(
            names(&c),
            ["app", "barpkg", "libfoo2", "pg-server"],
            "{:?}",
            nevras(&c)
        );
        assert_eq!(c.get("pg-server").unwrap().evr.to_string(), "17.2-1PGDG");
        assert_eq!(
            c.get("libfoo2").unwrap().why,
            [Why::Dependency {
                of: "app".into(),
                kind: DepKind::Requires,
                relation: "libfoo >= 2".into()
            }]
        );
        assert_eq!(
            c.get("app").unwrap().why,
            [Why::Requested {
                label: "ext app".into()
            }]
        );
        // Without the unversioned provider, only 2.1 qualifies; with 1.5 alone, nothing does.
        let b = repo(
            "b",
            99,
            "app 1-1; R: libfoo >= 2
             libfoo1 1.5-1; P: libfoo = 1.5",
        );
        assert_eq!(
            problems(&[b], &["app"]),
            ["ext app -> app -> libfoo >= 2: nothing provides it"]
        );
    }

    #[test]
    fn provider_preference_is_libsolvs() {
        // Priority (lower wins) over a higher version; then the highest EVR.
        let low = repo(
            "pigsty",
            10,
            "tool 1.0-1
             lib 2.0-1
             web 1-1; P: webserver",
        );
        let high = repo(
            "appstream",
            99,
            "tool 9.0-1
             lib 3.0-1
             lib 2.5-1
             aaa-httpd 1-1; P: webserver",
        );
        let repos = [high, low];
        assert_eq!(
            nevras(&run(&repos, &["tool"])),
            ["tool-1.0-1.x86_64@pigsty"]
        );
        assert_eq!(nevras(&run(&repos, &["lib"])), ["lib-2.0-1.x86_64@pigsty"]);
        let with = |extra: &str| {
            let mut r = repos.to_vec();
            r.push(repo("x", 99, extra));
            r
        };
        // A versioned requirement the priority repo cannot meet goes to the other repo, to
        // its highest version that fits.
        let c = run(&with("app 1-1; R: tool >= 2; R: lib < 3"), &["app"]);
        assert_eq!(
            nevras(&c),
            [
                "app-1-1.x86_64@x",
                "lib-2.0-1.x86_64@pigsty",
                "tool-9.0-1.x86_64@appstream"
            ]
        );
        // Priority first across names too: `web` (10) over `aaa-httpd` (99).
        assert_eq!(
            names(&run(&with("site 1-1; R: webserver"), &["site"])),
            ["site", "web"]
        );

        // Same priority: by name in byte order, not the package named like the requirement,
        // and regardless of version or arch.
        let same = repo(
            "s",
            99,
            "site 1-1; R: webserver; R: mta; R: cap
             nginx 1-1; P: webserver
             webserver 1-1
             sendmail 9-1; P: mta
             exim 1-1 noarch; P: mta
             Zeta 1-1; P: cap
             alpha 1-1; P: cap",
        );
        let c = run(std::slice::from_ref(&same), &["site"]);
        assert_eq!(names(&c), ["Zeta", "exim", "nginx", "site"]);
        // An already selected provider is kept.
        let c = run(
            std::slice::from_ref(&same),
            &["sendmail", "webserver", "site"],
        );
        assert_eq!(names(&c), ["Zeta", "sendmail", "site", "webserver"]);
        assert!(c.get("webserver").unwrap().why.contains(&Why::Dependency {
            of: "site".into(),
            kind: DepKind::Requires,
            relation: "webserver".into()
        }));

        // A higher provided version wins over the name order (sort_by_common_dep), except
        // for versions that look like hashes; a candidate of which a newer build exists goes
        // last (dislike_old_versions).
        let v = repo(
            "v",
            99,
            "t1 1-1; R: vv
             va 1-1; P: vv = 2
             vz 1-1; P: vv = 3
             t2 1-1; R: cc
             ab 1-1; P: cc = 0001
             za 1-1; P: cc = 2.0
             t3 1-1; R: cap
             aaa 1-1; P: cap
             aaa 2-1
             bbb 1-1; P: cap",
        );
        let c = run(std::slice::from_ref(&v), &["t1", "t2", "t3"]);
        assert_eq!(names(&c), ["ab", "bbb", "t1", "t2", "t3", "vz"]);

        // The highest EVR, epochs included; the same EVR in two arches: the first listed.
        let e = repo(
            "e",
            99,
            "z 2.0-1
             z 1:1.0-1
             z 1:1.0-1 noarch
             n 1-1 noarch
             n 1-1",
        );
        assert_eq!(
            nevras(&run(&[e], &["z", "n"])),
            ["n-1-1.noarch@e", "z-1:1.0-1.x86_64@e"]
        );
    }

    #[test]
    fn single_candidates_are_followed_before_choices() {
        // x1 needs an mta (two candidates); t23b needs pf2, which is one: as libsolv, the
        // choice waits, and pf2 then meets it. Whatever the request order.
        let a = repo(
            "a",
            99,
            "t23 1-1; R: x1
             x1 1-1; R: mta2
             t23b 1-1; R: pf2
             ex2 1-1; P: mta2
             pf2 1-1; P: mta2",
        );
        for order in [["t23", "t23b"], ["t23b", "t23"]] {
            assert_eq!(
                names(&run(std::slice::from_ref(&a), &order)),
                ["pf2", "t23", "t23b", "x1"]
            );
        }
        // Alone, the choice is ex2 (name order).
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["t23"])),
            ["ex2", "t23", "x1"]
        );
    }

    #[test]
    fn i686_and_source_packages_are_never_candidates() {
        let a = repo(
            "a",
            99,
            "app 1-1; R: libx
             libx 9-1 i686
             libx 1-1
             only32 1-1 i686
             app 1-1 src",
        );
        let c = run(std::slice::from_ref(&a), &["app"]);
        assert_eq!(nevras(&c), ["app-1-1.x86_64@a", "libx-1-1.x86_64@a"]);
        assert_eq!(
            problems(&[a], &["only32"]),
            ["ext only32: nothing provides only32"]
        );
    }

    #[test]
    fn one_version_per_name() {
        let a = repo(
            "a",
            99,
            "x 1-1; R: lib = 1
             y 1-1; R: lib >= 2
             lib 1-1
             lib 2-1",
        );
        // As dnf: "cannot install both lib-2-1.x86_64 and lib-1-1.x86_64 - package y-1-1.x86_64
        // requires lib >= 2, but none of the providers can be installed - ...".
        assert_eq!(
            problems(&[a], &["x", "y"]),
            [
                "ext x -> x: conflicting requests (with ext y): cannot install both \
              lib-1-1.x86_64 and lib-2-1.x86_64; package x-1-1.x86_64 requires lib = 1, but \
              none of the providers can be installed; package y-1-1.x86_64 requires lib >= 2, \
              but none of the providers can be installed"
            ]
        );
    }

    #[test]
    fn file_requires_use_primary_first_then_filelists_on_demand() {
        struct Lists {
            calls: RefCell<Vec<(String, Vec<String>)>>,
            owners: Vec<(&'static str, OwnedFile)>,
        }
        impl FileLists for Lists {
            fn owners(
                &self,
                repo: &DnfIndex,
                wanted: &HashSet<String>,
            ) -> Result<Vec<OwnedFile>, DnfUpstreamError> {
                let mut w: Vec<String> = wanted.iter().cloned().collect();
                w.sort();
                self.calls.borrow_mut().push((repo.source.name.clone(), w));
                Ok(self
                    .owners
                    .iter()
                    .filter(|(r, f)| *r == repo.source.name && wanted.contains(&f.path))
                    .map(|(_, f)| f.clone())
                    .collect())
            }
        }
        let a = repo(
            "a",
            99,
            "app 1-1; R: /usr/bin/tool
             tools 1-1; F: /usr/bin/tool
             big 1-1; R: /usr/share/big/data.bin; R: (/usr/lib64/libz.so.1 or zlib)
             data 1-1
             zlib 1-1
             other 1-1; R: /usr/share/never-needed",
        );
        let owner = |path: &str, name: &str| OwnedFile {
            pkgid: format!("id-{name}-1-1"),
            name: name.into(),
            path: path.into(),
        };
        let lists = Lists {
            calls: RefCell::default(),
            owners: vec![("a", owner("/usr/share/big/data.bin", "data"))],
        };
        let opts = DnfClosureOptions::default();
        // Primary owns /usr/bin/tool: no file lists.
        let c = resolve(std::slice::from_ref(&a), &req(&["app"]), &opts, &lists).unwrap();
        assert_eq!(names(&c), ["app", "tools"]);
        assert!(lists.calls.borrow().is_empty());
        assert!(c.filelists_loaded.is_empty());
        // data.bin is only in filelists: fetched once, for every file requirement at once.
        let c = resolve(std::slice::from_ref(&a), &req(&["big"]), &opts, &lists).unwrap();
        assert_eq!(names(&c), ["big", "data", "zlib"], "{:?}", c.choices);
        assert_eq!(c.filelists_loaded, ["a"]);
        assert_eq!(
            *lists.calls.borrow(),
            [(
                "a".to_string(),
                vec![
                    "/usr/bin/tool".to_string(),
                    "/usr/lib64/libz.so.1".into(),
                    "/usr/share/big/data.bin".into(),
                    "/usr/share/never-needed".into()
                ]
            )]
        );
        // Without file lists it cannot be met.
        assert_eq!(
            problems(std::slice::from_ref(&a), &["big"]),
            ["ext big -> big -> /usr/share/big/data.bin: nothing provides it"]
        );
    }

    #[test]
    fn rich_and_or_with_without() {
        let a = repo(
            "a",
            99,
            "app 1-1; R: (liba and libb); R: (nope or alt3 or alt2)
             liba 1-1
             libb 1-1
             alt2 1-1
             alt3 1-1
             w 1-1; R: (perl(Foo) >= 1.2 with perl(Foo) < 2)
             foo-new 2.5-1; P: perl(Foo) = 2.5
             foo-old 1.5-1; P: perl(Foo) = 1.5
             wo 1-1; R: (mta without sendmail)
             aa-sendmail 1-1; P: mta; P: sendmail
             postfix 1-1; P: mta
             k 1-1; R: (kk or jj)
             kk 1-1
             jj 1-1; P: kk = 5",
        );
        // One choice among the providers of all alternatives, by libsolv's order (the name
        // here), not the first alternative.
        let c = run(std::slice::from_ref(&a), &["app"]);
        assert_eq!(names(&c), ["alt2", "app", "liba", "libb"]);
        assert_eq!(
            c.choices,
            [Choice {
                package: "app".into(),
                requirement: "(nope or alt3 or alt2)".into(),
                chosen: "alt2".into(),
                selected: vec!["alt2".into()],
            }]
        );
        // jj provides kk at a higher version than kk itself: jj, as dnf does.
        assert_eq!(names(&run(std::slice::from_ref(&a), &["k"])), ["jj", "k"]);
        // An alternative already selected holds: no new choice.
        let c = run(std::slice::from_ref(&a), &["alt3", "app"]);
        assert_eq!(names(&c), ["alt3", "app", "liba", "libb"]);
        assert!(c.choices.is_empty());
        // Priority across alternatives.
        let prio = repo("p", 10, "alt3 1-1");
        let c = run(&[a.clone(), prio], &["app"]);
        assert_eq!(c.get("alt3").unwrap().repo, "p");
        // `with`: one provider in range (not the highest, 2.5).
        let c = run(std::slice::from_ref(&a), &["w"]);
        assert_eq!(names(&c), ["foo-old", "w"]);
        // `without`: a provider of mta that does not provide sendmail, though it sorts later.
        let c = run(std::slice::from_ref(&a), &["wo"]);
        assert_eq!(names(&c), ["postfix", "wo"]);
        let b = repo(
            "b",
            99,
            "x 1-1; R: (a or b)\ny 1-1; R: (foo with bar)\nz 1-1; R: (foo and nope1 and (nope2 or nope3))\nfoo 1-1\nbar 1-1",
        );
        assert_eq!(
            problems(&[b], &["x", "y", "z"]),
            [
                "ext x -> x -> (a or b): nothing provides it",
                "ext y -> y -> (foo with bar): nothing provides it",
                "ext z -> z -> (foo and nope1 and (nope2 or nope3)): nothing provides nope1, (nope2 or nope3)",
            ]
        );
    }

    #[test]
    fn conditionals_follow_the_closure_to_a_fixpoint() {
        let a = repo(
            "a",
            99,
            "pgvector_17 0.8.0-1; R: (pgvector_17-llvmjit if llvm)
             pgvector_17-llvmjit 0.8.0-1
             llvm 17-1
             jit 1-1; R: llvm
             u 1-1; R: (tiny unless big else bigext)
             tiny 1-1
             big 1-1
             bigext 1-1
             e 1-1; R: (a if cond else b)
             a 1-1
             b 1-1
             cond 1-1",
        );
        // The condition is not in the closure: nothing pulled, the condition not installed.
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["pgvector_17"])),
            ["pgvector_17"]
        );
        // The condition is requested: the extension's jit part comes along.
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["pgvector_17", "llvm"])),
            ["llvm", "pgvector_17", "pgvector_17-llvmjit"]
        );
        // The condition arrives later, as a dependency of a later request: fixpoint.
        let c = run(std::slice::from_ref(&a), &["pgvector_17", "jit"]);
        assert_eq!(
            names(&c),
            ["jit", "llvm", "pgvector_17", "pgvector_17-llvmjit"]
        );
        assert_eq!(
            c.get("pgvector_17-llvmjit").unwrap().why,
            [Why::Dependency {
                of: "pgvector_17".into(),
                kind: DepKind::Requires,
                relation: "(pgvector_17-llvmjit if llvm)".into()
            }]
        );
        // unless / else: libsolv reads `(tiny unless big else bigext)` as
        // `(tiny | bigext) & (tiny | big) & (-big | bigext)`; by name, bigext then big are
        // taken, not tiny. Real dnf 4.14 installs big, bigext, u (the cross-check in
        // tests/dnf_solver.rs runs the same world through dnf).
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["u"])),
            ["big", "bigext", "u"]
        );
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["big", "u"])),
            ["big", "bigext", "u"]
        );
        // if / else.
        assert_eq!(names(&run(std::slice::from_ref(&a), &["e"])), ["b", "e"]);
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["cond", "e"])),
            ["a", "cond", "e"]
        );
    }

    #[test]
    fn obsoleted_provider_avoided_and_conflicts_refused() {
        let a = repo(
            "a",
            99,
            "new-thing 2-1; O: aa-old-mta < 2
             aa-old-mta 1-1; P: mta
             zz-mta 1-1; P: mta
             app 1-1; R: mta
             x 1-1; C: y < 2
             y 1-1
             z 1-1; R: tool
             tool-a 1-1; P: tool; C: x
             tool-b 1-1; P: tool
             m 1-1; R: mm
             a-old 1-1; P: mm
             b-new 1-1; P: mm; O: a-old",
        );
        // A candidate another candidate obsoletes is dropped, though it sorts first.
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["m"])),
            ["b-new", "m"]
        );
        // aa-old-mta sorts first but new-thing (selected) obsoletes it: the other provider.
        let c = run(std::slice::from_ref(&a), &["new-thing", "app"]);
        assert_eq!(names(&c), ["app", "new-thing", "zz-mta"]);
        // Without new-thing selected, alphabetical order picks aa-old-mta.
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["app"])),
            ["aa-old-mta", "app"]
        );
        // tool-a conflicts with selected x: tool-b is taken.
        assert_eq!(
            names(&run(std::slice::from_ref(&a), &["x", "z"])),
            ["tool-b", "x", "z"]
        );
        // Conflicting requests are refused, naming both packages as dnf does ("package
        // x-1-1.x86_64 conflicts with y < 2 provided by y-1-1.x86_64 - conflicting requests").
        // Asking for aa-old-mta, which new-thing obsoletes, gets new-thing (dnf installs the
        // obsoleter): no second problem.
        assert_eq!(
            problems(
                std::slice::from_ref(&a),
                &["x", "y", "new-thing", "aa-old-mta"]
            ),
            [
                "ext x -> x: conflicting requests (with ext y): package x-1-1.x86_64 conflicts \
              with y < 2 provided by y-1-1.x86_64"
            ]
        );
        let c = run(std::slice::from_ref(&a), &["new-thing", "aa-old-mta"]);
        assert_eq!(names(&c), ["new-thing"]);
        assert!(c.get("new-thing").unwrap().why.contains(&Why::Requested {
            label: "ext aa-old-mta".into()
        }));
        // A result never holds a conflict.
        assert!(c.conflicts.is_empty());
    }

    #[test]
    fn all_problems_with_chains() {
        let mut src = DnfSource::new("appstream", "http://m.invalid/as");
        src.excludepkgs = vec!["postgresql*".into()];
        let appstream = DnfIndex::from_packages(
            src,
            [pkg(
                "postgresql-server 13.20-1.el9; P: postgresql17-server = 13.20",
            )],
            "x86_64",
        );
        let pg = repo(
            "pgdg",
            99,
            "pgvector_17 0.8.0-1; R: postgresql17-server >= 17.0; R: libc
             postgis35_17 3.5-1; R: gdal-libs >= 3.6
             gdal-libs 3.6-1; R: libfoo >= 2; R: libc
             libfoo 1-1
             libc 2.34-1
             x 1-1; R: (a or b)",
        );
        let repos = [appstream, pg];
        let r = vec![
            Requested::new("pgvector_17", "named in --packages"),
            Requested::new("postgis35_17", "ext postgis"),
            Requested::new("ghost", "ext ghost"),
        ];
        let err = resolve(&repos, &r, &DnfClosureOptions::default(), &NoFileLists).unwrap_err();
        let lines: Vec<String> = match &err {
            DnfClosureError::Unresolvable { problems } => {
                problems.iter().map(ToString::to_string).collect()
            }
            e => panic!("{e}"),
        };
        assert_eq!(lines, [
            "ext ghost: nothing provides ghost",
            "named in --packages -> pgvector_17 -> postgresql17-server >= 17.0: nothing provides it",
            "ext postgis -> postgis35_17 -> gdal-libs >= 3.6 -> libfoo >= 2: nothing provides it",
        ]);
        assert!(err.to_string().starts_with("3 unresolvable:"), "{err}");
        // An excluded package that would have done is named.
        let err = resolve(
            &repos,
            &[Requested::new("postgresql-server", "ext pg")],
            &DnfClosureOptions::default(),
            &NoFileLists,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("nothing provides postgresql-server (postgresql-server-13.20-1.el9.x86_64 of repo `appstream` is hidden by its excludepkgs)"),
            "{err}"
        );
        // allow_missing forgives only the absent request.
        let opts = DnfClosureOptions {
            allow_missing: true,
        };
        let err = resolve(&repos, &r, &opts, &NoFileLists).unwrap_err();
        assert!(matches!(&err, DnfClosureError::Unresolvable { problems } if problems.len() == 2));
        let c = resolve(&repos, &r[2..], &opts, &NoFileLists).unwrap();
        assert!(c.packages.is_empty());
        assert_eq!(
            c.missing,
            [Missing {
                name: "ghost".into(),
                wanted_by: "ext ghost".into()
            }]
        );
    }

    #[test]
    fn requests_by_provide_and_path_and_fetch_items() {
        let a = repo(
            "a",
            99,
            "postgresql17 17.2-1; P: postgresql(x86-64) = 17.2; F: /usr/pgsql-17/bin/psql
             postgresql17-libs 17.2-1; P: libpq.so.5()(64bit)
             tool 1-1; R: libpq.so.5()(64bit)",
        );
        let c = run(
            std::slice::from_ref(&a),
            &["postgresql(x86-64)", "/usr/pgsql-17/bin/psql", "tool"],
        );
        assert_eq!(names(&c), ["postgresql17", "postgresql17-libs", "tool"]);
        assert_eq!(c.get("postgresql17").unwrap().why.len(), 2);
        let mut repos = [a];
        for p in &mut repos[0].packages {
            p.checksum.value = "0".repeat(64);
        }
        let c = run(&repos, &["tool"]);
        let items = c.fetch_items(&repos).unwrap();
        assert_eq!(
            items[1].url,
            "http://m.invalid/a/Packages/tool-1-1.x86_64.rpm"
        );
        assert_eq!(items[1].name, "tool-1-1.x86_64.rpm");
        // The chain names the provider when it is not the requirement's name.
        let b = repo(
            "b",
            99,
            "tool 1-1; R: libpq.so.5()(64bit)\nlibs 1-1; P: libpq.so.5()(64bit); R: missing",
        );
        assert_eq!(
            problems(&[b], &["tool"]),
            ["ext tool -> tool -> libpq.so.5()(64bit) (libs) -> missing: nothing provides it"]
        );
    }
}
