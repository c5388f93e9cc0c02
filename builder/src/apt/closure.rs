//! The apt dependency closure: which packages a set of requested ones pulls in from a list of
//! apt repositories, and why each one is there. The set is the one `apt-get install` (apt
//! 2.6) installs into an empty root, found by the solving core the dnf closure uses
//! ([`crate::solver`]) with apt's rules and apt's order of choices.
//!
//! - A name's candidate is its highest version over all repositories (ties: the earlier
//!   repository), except that packages of a repository with a better [`Repo::priority`] win
//!   regardless of version (as apt's pin priorities do). Only packages of the target
//!   architecture and `all` are considered. `name:any` needs a `Multi-Arch: allowed`
//!   package; `name:native` means the target architecture.
//! - `Pre-Depends` and `Depends` are requirements, `Recommends` are followed only on request
//!   and dropped when they cannot be installed. Virtual names are served through
//!   `Provides`: a versioned provide satisfies versioned and unversioned dependencies, an
//!   unversioned one only unversioned dependencies.
//! - `Conflicts` and `Breaks` (alike, for a fresh install) and one version per name are
//!   constraints ([`super::rules`]): a choice that leads to a conflict is undone and the next
//!   alternative taken, where apt would keep it and leave its problem resolver to remove
//!   packages or give up.
//! - Choices are apt's ([`super::policy`]): the requests are marked first, then their
//!   dependencies are walked depth first in field order; a group already met by a marked (or
//!   installed) package is left alone, otherwise its targets are tried in apt's order (the
//!   name's candidate, then providers by `Essential`, `Important`, `Priority` and, last, the
//!   order apt's cache met their names in the indexes, see [`super::universe`]) until one can
//!   be installed. apt's own ways are kept: what a target that fails had marked stays
//!   marked, a failed target is never tried again, and at the end what nothing needs is
//!   dropped, as apt's autoremover drops it.
//! - Only candidates first, as apt; a versioned dependency no candidate satisfies takes the
//!   best version that does, in a second round (apt itself gives up there; the bundle holds
//!   only the versions taken, so the node's apt finds them).
//! - A request is a package name: its candidate (another version only if the candidate
//!   cannot be installed); for a name no package has, its providers, the first by
//!   repository order, then name (apt asks the user to pick one).
//! - With a dpkg status file, a dependency an installed package already satisfies is not
//!   followed and conflicts with installed packages are not evaluated; requested packages
//!   are always selected.
//!
//! Every problem (a requested package that does not exist, a dependency nothing satisfies,
//! packages that conflict) is collected with the chain that led to it ([`super::problems`]).

use std::collections::HashSet;
use std::io::BufRead;

use super::index::{IndexError, PackageEntry, PackagesReader};
use super::policy::AptPolicy;
use super::problems::{doomed, Teller};
use super::relation::{group_to_string, parse_relations_for_arch};
use super::rules::{id, Deps, RuleBuilder, TieBreak, NOT_CANDIDATE};
use super::universe::{Cand, Lookup, Universe};
use super::version::DebVersion;
pub use crate::closure::{ClosureError, DepKind, Missing, Problem, Requested, Why};
use crate::solver::{self, Id, Lit, RuleInfo, RuleKind, RuleSet, Solution};

/// The priority of a repository that sets none.
pub const DEFAULT_PRIORITY: u32 = 500;

/// One repository's packages (for the target architecture and `all`; others are ignored).
#[derive(Debug, Clone)]
pub struct Repo {
    pub name: String,
    pub packages: Vec<PackageEntry>,
    /// Lower wins: a package from a repository with a lower priority is taken over any
    /// version from the others (as apt's pin priorities do); [`DEFAULT_PRIORITY`] for all by
    /// default, so the highest version wins.
    pub priority: u32,
}

/// The packages installed on a system, from its dpkg `status` file.
#[derive(Debug, Clone, Default)]
pub struct Installed {
    pub packages: Vec<PackageEntry>,
}

impl Installed {
    /// Reads a dpkg `status` file, keeping paragraphs with `Status: install ok installed`.
    pub fn from_status(reader: impl BufRead) -> Result<Installed, IndexError> {
        let mut packages = Vec::new();
        for entry in PackagesReader::new(reader) {
            match entry {
                Ok(e)
                    if e.status().is_some_and(|s| {
                        s.split_whitespace().eq(["install", "ok", "installed"])
                    }) =>
                {
                    packages.push(e)
                }
                Ok(_) => {}
                // Paragraphs of packages not installed may lack a version.
                Err(IndexError::MissingField {
                    field: "Version", ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Installed { packages })
    }
}

/// What to resolve with.
#[derive(Debug, Clone, Default)]
pub struct ClosureOptions {
    pub with_recommends: bool,
    pub installed: Option<Installed>,
    /// Requested packages that no repository has become [`Closure::missing`] entries instead
    /// of errors. Unsatisfiable dependencies are errors regardless.
    pub allow_missing: bool,
}

/// One selected package.
#[derive(Debug, Clone)]
pub struct Selected {
    pub name: String,
    pub version: DebVersion,
    pub arch: String,
    /// The repository's name.
    pub repo: String,
    /// The index entry: `Filename`, `Size`, `SHA256`, the raw paragraph.
    pub entry: PackageEntry,
    pub why: Vec<Why>,
}

/// An alternative picked for a `a | b` group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The package whose dependency it is.
    pub package: String,
    /// The group as written.
    pub group: String,
    /// The package chosen to satisfy it.
    pub chosen: String,
}

/// The result of [`resolve`].
#[derive(Debug, Clone)]
pub struct Closure {
    /// Sorted by name.
    pub packages: Vec<Selected>,
    /// In the order apt makes them.
    pub choices: Vec<Choice>,
    pub missing: Vec<Missing>,
}

impl Closure {
    pub fn get(&self, name: &str) -> Option<&Selected> {
        self.packages
            .binary_search_by(|p| p.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.packages[i])
    }
}

/// Resolves the dependency closure of `requested` over `repos` for architecture `arch`
/// (e.g. `amd64`).
pub fn resolve(
    repos: &[Repo],
    arch: &str,
    requested: &[Requested],
    opts: &ClosureOptions,
) -> Result<Closure, ClosureError> {
    let inst: Vec<&PackageEntry> = opts.installed.iter().flat_map(|i| &i.packages).collect();
    let mut installed = Lookup::new();
    for e in &inst {
        installed.add(e);
    }
    let u = Universe::new(repos, arch, &inst);
    let candidates: Vec<Vec<Cand>> = requested
        .iter()
        .map(|r| u.request_candidates(&r.name))
        .collect();
    let forgiven: Vec<bool> = requested
        .iter()
        .zip(&candidates)
        .map(|(r, c)| c.is_empty() && (opts.allow_missing || r.optional))
        .collect();
    let mut builder = RuleBuilder::new(&u, &installed, opts.with_recommends);
    for &c in candidates.iter().flatten() {
        builder.add(c);
    }
    let RuleBuilder { rules, deps, .. } = builder;
    // Per job: its request.
    let jobs: Vec<usize> = (0..requested.len())
        .filter(|&r| !candidates[r].is_empty())
        .collect();
    let job_cands: Vec<Vec<Id>> = jobs
        .iter()
        .map(|&r| candidates[r].iter().map(|&c| id(c)).collect())
        .collect();
    let tell = |found: &[solver::Problem]| {
        let doomed = doomed(&deps);
        let teller = Teller {
            u: &u,
            deps: &deps,
            doomed: &doomed,
            requested,
            candidates: &candidates,
            forgiven: &forgiven,
        };
        ClosureError {
            problems: teller.tell(found, &jobs),
        }
    };
    if jobs.len() + forgiven.iter().filter(|&&f| f).count() < requested.len() {
        return Err(tell(&[]));
    }
    let policy = AptPolicy {
        u: &u,
        deps: &deps,
        jobs: &job_cands,
        with_recommends: opts.with_recommends,
        ties: TieBreak::new(&u, &deps),
    };
    let solution = solve_as_apt(&policy, rules, &job_cands);
    if !solution.problems.is_empty() {
        return Err(tell(&solution.problems));
    }
    let (is, taken) = policy.finish(&solution.installed);
    let choices: Vec<Choice> = taken
        .into_iter()
        .map(|(p, g, c)| Choice {
            package: u.name(p).to_string(),
            group: deps[p as usize]
                .as_ref()
                .map_or_else(String::new, |d| d.groups[g].text.clone()),
            chosen: u.name(c).to_string(),
        })
        .collect();
    let missing = requested
        .iter()
        .zip(&forgiven)
        .filter(|(_, &f)| f)
        .map(|(r, _)| Missing {
            name: r.name.clone(),
            wanted_by: r.wanted_by.clone(),
        })
        .collect();
    Ok(Closure {
        packages: selected(&u, &deps, requested, &candidates, &is),
        choices,
        missing,
    })
}

/// Solves as apt would: apt only ever installs candidates, so first without the other
/// versions; only if that fails, with them (where apt gives up).
fn solve_as_apt(policy: &AptPolicy<'_, '_>, rules: RuleSet, jobs: &[Vec<Id>]) -> Solution {
    let u = policy.u;
    let mut only_candidates = rules.clone();
    for c in (0..u.pkgs.len() as Cand).filter(|&c| policy.deps[c as usize].is_some()) {
        if !u.is_candidate(c) {
            let info = RuleInfo::new(RuleKind::NotInstallable, id(c), 0, NOT_CANDIDATE);
            only_candidates.push_pkg(&[-(id(c) as Lit)], info);
        }
    }
    let solution = solver::solve(policy, u.pkgs.len(), only_candidates, jobs);
    if solution.problems.is_empty() {
        return solution;
    }
    solver::solve(policy, u.pkgs.len(), rules, jobs)
}

/// The selected packages, each with why it is there: the requests it meets, and every
/// group of a selected package it is the first selected target of.
fn selected(
    u: &Universe<'_>,
    deps: &[Option<Deps>],
    requested: &[Requested],
    candidates: &[Vec<Cand>],
    is: &[bool],
) -> Vec<Selected> {
    let on = |c: Cand| is[id(c) as usize];
    let mut why: Vec<Vec<Why>> = vec![Vec::new(); u.pkgs.len()];
    for (req, cands) in requested.iter().zip(candidates) {
        if let Some(&c) = cands.iter().find(|&&c| on(c)) {
            why[c as usize].push(Why::Requested {
                label: req.wanted_by.clone(),
            });
        }
    }
    for p in (0..u.pkgs.len() as Cand).filter(|&p| on(p)) {
        let Some(d) = &deps[p as usize] else { continue };
        for g in &d.groups {
            if let Some(&c) = g.cands.iter().find(|&&c| on(c)) {
                if c != p {
                    why[c as usize].push(Why::Dependency {
                        of: u.name(p).to_string(),
                        kind: g.kind,
                        relation: g.text.clone(),
                    });
                }
            }
        }
    }
    let mut packages: Vec<Selected> = (0..u.pkgs.len() as Cand)
        .filter(|&c| on(c))
        .map(|c| {
            let entry = u.entry(c);
            let mut why = std::mem::take(&mut why[c as usize]);
            why.sort();
            why.dedup();
            Selected {
                name: entry.package().to_string(),
                version: entry.version().clone(),
                arch: entry.architecture().to_string(),
                repo: u.repo_name(c).to_string(),
                entry: entry.clone(),
                why,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    packages
}

/// Checks that every `Pre-Depends` and `Depends` of every package in `packages` is
/// satisfied by a package in `packages` (or by `installed`). Returns one line per unmet
/// dependency; empty when the set is closed.
pub fn unmet_depends(
    packages: &[Selected],
    arch: &str,
    installed: Option<&Installed>,
) -> Vec<String> {
    let mut set = Lookup::new();
    for p in packages {
        set.add(&p.entry);
    }
    let mut inst = Lookup::new();
    for e in installed.into_iter().flat_map(|i| &i.packages) {
        inst.add(e);
    }
    let mut unmet = Vec::new();
    for p in packages {
        for field in [p.entry.pre_depends(), p.entry.depends()]
            .into_iter()
            .flatten()
        {
            let groups = match parse_relations_for_arch(field, arch) {
                Ok(g) => g,
                Err(e) => {
                    unmet.push(format!("{}: {e}", p.name));
                    continue;
                }
            };
            for g in groups {
                if !g
                    .iter()
                    .any(|r| set.find(r, arch).is_some() || inst.find(r, arch).is_some())
                {
                    unmet.push(format!("{} {}: {}", p.name, p.version, group_to_string(&g)));
                }
            }
        }
    }
    unmet
}

/// The names in a closure, for tests and reports.
pub fn names(closure: &Closure) -> HashSet<&str> {
    closure.packages.iter().map(|p| p.name.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apt::index::read_packages;
    use std::io::Cursor;

    /// A `Packages` text from compact lines: `name version arch [Field: value]...` separated by `;`.
    fn repo(name: &str, pinned: bool, text: &str) -> Repo {
        let mut out = String::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.split(';').map(str::trim);
            let head: Vec<&str> = parts.next().unwrap().split_whitespace().collect();
            out.push_str(&format!(
                "Package: {}\nVersion: {}\nArchitecture: {}\n",
                head[0], head[1], head[2]
            ));
            for f in parts {
                out.push_str(f);
                out.push('\n');
            }
            out.push_str(&format!(
                "Filename: pool/{}_{}.deb\nSize: 1\nSHA256: 00\n\n",
                head[0], head[1]
            ));
        }
        Repo {
            name: name.to_string(),
            packages: read_packages(Cursor::new(out)).unwrap(),
            priority: if pinned { 1 } else { DEFAULT_PRIORITY },
        }
    }

    fn req(names: &[&str]) -> Vec<Requested> {
        names
            .iter()
            .map(|n| Requested::new(*n, format!("ext {n}")))
            .collect()
    }

    fn run(repos: &[Repo], names: &[&str], opts: &ClosureOptions) -> Closure {
        let c = resolve(repos, "amd64", &req(names), opts).unwrap_or_else(|e| panic!("{e}"));
        let unmet = unmet_depends(&c.packages, "amd64", opts.installed.as_ref());
        assert!(unmet.is_empty(), "unmet: {unmet:?}");
        c
    }

    fn versions(c: &Closure) -> Vec<String> {
        c.packages
            .iter()
            .map(|p| format!("{}={}@{}", p.name, p.version, p.repo))
            .collect()
    }

    #[test]
    fn highest_version_and_pins() {
        let a = repo(
            "a",
            false,
            "foo 1.0-1 amd64; Depends: libc6 (>= 2.30)\nlibc6 2.36-9 amd64\nlibc6 2.31 i386",
        );
        let b = repo("b", false, "foo 1:0.9 amd64\nlibc6 2.36-9 amd64\nbar 1 all");
        let c = run(
            &[a.clone(), b.clone()],
            &["foo"],
            &ClosureOptions::default(),
        );
        // The epoch wins; tie on libc6 goes to the earlier repo (not needed here: 1:0.9 has no deps).
        assert_eq!(versions(&c), ["foo=1:0.9@b"]);
        let c = run(
            &[a.clone(), b.clone()],
            &["foo", "libc6"],
            &ClosureOptions::default(),
        );
        assert_eq!(versions(&c), ["foo=1:0.9@b", "libc6=2.36-9@a"]);
        let pinned = Repo { priority: 1, ..a };
        let c = run(&[b, pinned], &["foo"], &ClosureOptions::default());
        assert_eq!(versions(&c), ["foo=1.0-1@a", "libc6=2.36-9@a"]);
        assert_eq!(
            c.get("libc6").unwrap().why,
            [Why::Dependency {
                of: "foo".into(),
                kind: DepKind::Depends,
                relation: "libc6 (>= 2.30)".into()
            }]
        );
        assert_eq!(
            c.get("foo").unwrap().why,
            [Why::Requested {
                label: "ext foo".into()
            }]
        );
        assert_eq!(
            c.get("foo").unwrap().entry.filename(),
            Some("pool/foo_1.0-1.deb")
        );
    }

    #[test]
    fn versioned_dep_takes_best_satisfying_version() {
        let a = repo(
            "a",
            false,
            "app 1 amd64; Depends: lib (<< 2~)\nlib 2.1 amd64\nlib 1.5 amd64\nlib 1.9 amd64; Pre-Depends: dpkg (>= 1.15~)\ndpkg 1.21 amd64",
        );
        let c = run(&[a], &["app"], &ClosureOptions::default());
        assert_eq!(versions(&c), ["app=1@a", "dpkg=1.21@a", "lib=1.9@a"]);
        assert_eq!(
            c.get("dpkg").unwrap().why[0],
            Why::Dependency {
                of: "lib".into(),
                kind: DepKind::PreDepends,
                relation: "dpkg (>= 1.15~)".into()
            }
        );
    }

    #[test]
    fn virtuals_and_alternatives() {
        let a = repo(
            "a",
            false,
            "app 1 amd64; Depends: mail-transport-agent, debconf (>= 0.5) | debconf-2.0, awk, libjpeg-dev (>= 2)
             postfix 3 amd64; Provides: mail-transport-agent
             exim4 4 amd64; Provides: mail-transport-agent
             cdebconf 0.2 amd64; Provides: debconf-2.0
             mawk 1.3 amd64; Provides: awk
             gawk 5 amd64; Provides: awk
             libjpeg62-turbo-dev 1:2.1 amd64; Provides: libjpeg-dev (= 1:2.1)
             libjpeg8-dev 8 amd64; Provides: libjpeg-dev",
        );
        let c = run(
            std::slice::from_ref(&a),
            &["app"],
            &ClosureOptions::default(),
        );
        // debconf does not exist: the second alternative; providers: by name in one repo;
        // versioned deps only through versioned provides.
        assert_eq!(
            versions(&c),
            [
                "app=1@a",
                "cdebconf=0.2@a",
                "exim4=4@a",
                "gawk=5@a",
                "libjpeg62-turbo-dev=1:2.1@a"
            ]
        );
        assert_eq!(
            c.choices,
            [Choice {
                package: "app".into(),
                group: "debconf (>= 0.5) | debconf-2.0".into(),
                chosen: "cdebconf".into()
            }]
        );
        // A provider already selected is preferred.
        let c = run(
            &[a],
            &["postfix", "mawk", "app"],
            &ClosureOptions::default(),
        );
        let names: Vec<_> = c.packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            ["app", "cdebconf", "libjpeg62-turbo-dev", "mawk", "postfix"]
        );
    }

    #[test]
    fn first_satisfiable_alternative_and_arch() {
        let a = repo(
            "a",
            false,
            "app 1 amd64; Depends: nope | libb (>= 3) | libc, py:any, tool [i386] | libc, data:native, only-i386 [i386]
             libb 2 amd64
             libc 1 amd64
             libc 9 i386
             py 3.11 amd64; Multi-Arch: allowed
             data 1 all
             other 1 arm64",
        );
        let c = run(
            std::slice::from_ref(&a),
            &["app"],
            &ClosureOptions::default(),
        );
        assert_eq!(
            versions(&c),
            ["app=1@a", "data=1@a", "libc=1@a", "py=3.11@a"]
        );
        let err = resolve(&[a], "amd64", &req(&["other"]), &ClosureOptions::default()).unwrap_err();
        assert_eq!(
            err.problems[0].to_string(),
            "ext other: no package named other"
        );
        // :any needs Multi-Arch: allowed.
        let b = repo("b", false, "app 1 amd64; Depends: py:any\npy 3 amd64");
        assert!(resolve(&[b], "amd64", &req(&["app"]), &ClosureOptions::default()).is_err());
    }

    #[test]
    fn all_problems_with_chains() {
        let a = repo(
            "a",
            false,
            "postgresql-15-postgis-3 3.3 amd64; Depends: libgdal32 (>= 3.6), libproj25
             libgdal32 3.6.2 amd64; Depends: libfoo (>= 2), libc6
             libfoo 1.0 amd64
             libc6 2.36 amd64
             other 1 amd64; Depends: libbar | libbaz (>= 1)",
        );
        let r = vec![
            Requested::new("postgresql-15-postgis-3", "ext postgis"),
            Requested::new("other", "ext other"),
            Requested::new("ghost", "ext ghost"),
        ];
        let err = resolve(
            std::slice::from_ref(&a),
            "amd64",
            &r,
            &ClosureOptions::default(),
        )
        .unwrap_err();
        let lines: Vec<String> = err.problems.iter().map(ToString::to_string).collect();
        assert_eq!(lines, [
            "ext ghost: no package named ghost",
            "ext postgis -> postgresql-15-postgis-3: no package provides libproj25",
            "ext other -> other: no package provides libbar | libbaz (>= 1)",
            "ext postgis -> postgresql-15-postgis-3 -> libgdal32 (>= 3.6): no package provides libfoo (>= 2)",
        ]);
        assert!(err.to_string().starts_with("4 unresolvable:"));
        // A name selected at a version that does not fit is named.
        let b = repo("b", false, "x 1 amd64; Depends: lib (= 1)\ny 1 amd64; Depends: lib (>= 2)\nlib 1 amd64\nlib 2 amd64");
        let err =
            resolve(&[b], "amd64", &req(&["x", "y"]), &ClosureOptions::default()).unwrap_err();
        assert_eq!(
            err.problems[0].to_string(),
            "ext y -> y: no package provides lib (>= 2) (lib is selected at 1)"
        );
        // allow_missing forgives only the absent request.
        let opts = ClosureOptions {
            allow_missing: true,
            ..Default::default()
        };
        let err = resolve(std::slice::from_ref(&a), "amd64", &r, &opts).unwrap_err();
        assert_eq!(err.problems.len(), 3);
        let c = resolve(&[a], "amd64", &req(&["libgdal32", "ghost"][1..]), &opts).unwrap();
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
    fn installed_packages_are_not_added() {
        let a = repo(
            "a",
            false,
            "app 1 amd64; Depends: libc6 (>= 2.36), libssl3 (>= 3), mta
             libc6 2.36-9 amd64
             libssl3 3.0.15 amd64
             postfix 3 amd64; Provides: mta",
        );
        let status = "Package: libc6\nStatus: install ok installed\nVersion: 2.36-9\nArchitecture: amd64\n\n\
                      Package: libssl3\nStatus: install ok installed\nVersion: 2.0\nArchitecture: amd64\n\n\
                      Package: exim4\nStatus: install ok installed\nVersion: 4\nArchitecture: amd64\nProvides: mta\n\n\
                      Package: old\nStatus: deinstall ok config-files\nArchitecture: amd64\n\n\
                      Package: app\nStatus: install ok installed\nVersion: 0.5\nArchitecture: amd64\n";
        let installed = Installed::from_status(Cursor::new(status)).unwrap();
        assert_eq!(installed.packages.len(), 4);
        let opts = ClosureOptions {
            installed: Some(installed),
            ..Default::default()
        };
        let c = run(&[a], &["app"], &opts);
        // libssl3 is installed too old; requested app is added although installed.
        assert_eq!(versions(&c), ["app=1@a", "libssl3=3.0.15@a"]);
    }

    #[test]
    fn recommends_only_on_request() {
        let a = repo(
            "a",
            false,
            "app 1 amd64; Recommends: extra, absent\nextra 1 all",
        );
        assert_eq!(
            versions(&run(
                std::slice::from_ref(&a),
                &["app"],
                &ClosureOptions::default()
            )),
            ["app=1@a"]
        );
        let opts = ClosureOptions {
            with_recommends: true,
            ..Default::default()
        };
        assert_eq!(
            versions(&run(&[a], &["app"], &opts)),
            ["app=1@a", "extra=1@a"]
        );
    }
}
