//! The dependency closure: which packages a set of requested ones pulls in from a list of
//! apt repositories, and why each one is there.
//!
//! Rules, close to what apt does for a fresh install:
//! - A name's candidate is its highest version over all repositories (ties: the earlier
//!   repository), except that packages of a repository with a better [`Repo::priority`] win regardless
//!   of version. A versioned dependency the candidate does not satisfy takes the best version
//!   that does.
//! - `Pre-Depends` and `Depends` are followed transitively, `Recommends` only on request. For
//!   `a | b`, a group already satisfied by a selected (or installed) package is left alone;
//!   otherwise the first alternative with a satisfying candidate is taken and the choice
//!   recorded.
//! - Virtual names are served through `Provides`: a versioned provide satisfies versioned and
//!   unversioned dependencies, an unversioned one only unversioned dependencies. Among
//!   several providers the first by repository order, then name, is taken.
//! - Only packages of the target architecture and `all` are considered. `name:any` needs a
//!   `Multi-Arch: allowed` package; `name:native` means the target architecture.
//! - With a dpkg status file, a dependency an installed package already satisfies is not
//!   followed; requested packages are always selected.
//!
//! Every problem (a requested package that does not exist, a dependency nothing satisfies) is
//! collected with the chain that led to it. `Conflicts` and `Breaks` are not evaluated.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::BufRead;

use super::index::{IndexError, PackageEntry, PackagesReader};
use super::relation::{
    group_to_string, parse_relations, parse_relations_for_arch, Group, Relation,
};
use super::version::DebVersion;
pub use crate::closure::{ClosureError, DepKind, Missing, Problem, Requested, Why};

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
    /// In the order they were made.
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

/// Whether an entry's architecture fits a relation's arch qualifier.
fn arch_ok(qual: Option<&str>, entry: &PackageEntry, target: &str) -> bool {
    match qual {
        None | Some("native") => true,
        Some("any") => entry.multi_arch() == Some("allowed"),
        Some(a) => a == entry.architecture() || (a == target && entry.architecture() == "all"),
    }
}

/// Whether `entry` (a real package) satisfies `rel` by its own name and version.
fn satisfies_real(rel: &Relation, entry: &PackageEntry, target: &str) -> bool {
    entry.package() == rel.name
        && rel
            .constraint
            .as_ref()
            .is_none_or(|c| c.satisfied_by(entry.version()))
        && arch_ok(rel.arch_qual.as_deref(), entry, target)
}

/// Whether a provide (`name (= version)` or unversioned) satisfies `rel`.
fn satisfies_provide(
    rel: &Relation,
    provided: &Option<DebVersion>,
    entry: &PackageEntry,
    target: &str,
) -> bool {
    let version_ok = match (&rel.constraint, provided) {
        (None, _) => true,
        (Some(c), Some(v)) => c.satisfied_by(v),
        (Some(_), None) => false,
    };
    version_ok && arch_ok(rel.arch_qual.as_deref(), entry, target)
}

/// The `Provides` of an entry as (name, version). Unparsable fields provide nothing.
fn provides_of(entry: &PackageEntry) -> Vec<(String, Option<DebVersion>)> {
    let Some(field) = entry.provides() else {
        return Vec::new();
    };
    let Ok(groups) = parse_relations(field) else {
        return Vec::new();
    };
    groups
        .into_iter()
        .flatten()
        .map(|r| {
            let v = r.constraint.map(|c| c.version);
            (r.name, v)
        })
        .collect()
}

/// A set of entries searchable by name and by provided name.
struct Lookup<'e> {
    entries: Vec<&'e PackageEntry>,
    by_name: HashMap<&'e str, Vec<usize>>,
    provides: HashMap<String, Vec<(usize, Option<DebVersion>)>>,
}

impl<'e> Lookup<'e> {
    fn new() -> Self {
        Lookup {
            entries: Vec::new(),
            by_name: HashMap::new(),
            provides: HashMap::new(),
        }
    }

    fn add(&mut self, entry: &'e PackageEntry) -> usize {
        let i = self.entries.len();
        self.entries.push(entry);
        self.by_name.entry(entry.package()).or_default().push(i);
        for (name, v) in provides_of(entry) {
            self.provides.entry(name).or_default().push((i, v));
        }
        i
    }

    /// The first entry (in insertion order) satisfying `rel`, really or through a provide.
    fn find(&self, rel: &Relation, target: &str) -> Option<usize> {
        let real = self.by_name.get(rel.name.as_str()).into_iter().flatten();
        if let Some(&i) = real
            .into_iter()
            .find(|&&i| satisfies_real(rel, self.entries[i], target))
        {
            return Some(i);
        }
        self.provides
            .get(&rel.name)
            .into_iter()
            .flatten()
            .find(|(i, v)| satisfies_provide(rel, v, self.entries[*i], target))
            .map(|(i, _)| *i)
    }
}

/// A package in the repositories: (repo index, entry index).
type Cand = (usize, usize);

/// All repositories' packages for one architecture, with candidates in preference order.
struct Universe<'a> {
    repos: &'a [Repo],
    target: &'a str,
    by_name: HashMap<&'a str, Vec<Cand>>,
    provides: HashMap<String, Vec<(Cand, Option<DebVersion>)>>,
}

impl<'a> Universe<'a> {
    fn new(repos: &'a [Repo], target: &'a str) -> Self {
        let mut by_name: HashMap<&'a str, Vec<Cand>> = HashMap::new();
        let mut provides: HashMap<String, Vec<(Cand, Option<DebVersion>)>> = HashMap::new();
        for (r, repo) in repos.iter().enumerate() {
            for (e, entry) in repo.packages.iter().enumerate() {
                let arch = entry.architecture();
                if arch != target && arch != "all" {
                    continue;
                }
                by_name.entry(entry.package()).or_default().push((r, e));
                if entry.provides().is_some() {
                    for (name, v) in provides_of(entry) {
                        provides.entry(name).or_default().push(((r, e), v));
                    }
                }
            }
        }
        let u = Universe {
            repos,
            target,
            by_name: HashMap::new(),
            provides: HashMap::new(),
        };
        for cands in by_name.values_mut() {
            cands.sort_by(|a, b| {
                u.priority(*a)
                    .cmp(&u.priority(*b))
                    .then_with(|| u.entry(*b).version().cmp(u.entry(*a).version()))
                    .then(a.cmp(b))
            });
        }
        for provs in provides.values_mut() {
            provs.sort_by(|(a, _), (b, _)| {
                u.priority(*a)
                    .cmp(&u.priority(*b))
                    .then(a.0.cmp(&b.0))
                    .then_with(|| u.entry(*a).package().cmp(u.entry(*b).package()))
                    .then_with(|| u.entry(*b).version().cmp(u.entry(*a).version()))
            });
        }
        Universe {
            by_name,
            provides,
            ..u
        }
    }

    fn entry(&self, c: Cand) -> &'a PackageEntry {
        &self.repos[c.0].packages[c.1]
    }

    fn priority(&self, c: Cand) -> u32 {
        self.repos[c.0].priority
    }

    /// The best package satisfying `rel`: a real one first, else a provider. Packages whose
    /// name is in `blocked` (already selected at another version) are skipped.
    fn find(&self, rel: &Relation, blocked: &impl Fn(&str) -> bool) -> Option<Cand> {
        let real = self.by_name.get(rel.name.as_str()).into_iter().flatten();
        if let Some(&c) = real
            .into_iter()
            .find(|&&c| satisfies_real(rel, self.entry(c), self.target))
        {
            if !blocked(&rel.name) {
                return Some(c);
            }
        }
        self.provides
            .get(&rel.name)
            .into_iter()
            .flatten()
            .find(|(c, v)| {
                let e = self.entry(*c);
                !blocked(e.package()) && satisfies_provide(rel, v, e, self.target)
            })
            .map(|(c, _)| *c)
    }
}

/// A selected package and how it was reached.
struct Node {
    cand: Cand,
    why: Vec<Why>,
    chain: Vec<String>,
}

/// One resolution under way: what is selected, what is left to follow, what went wrong.
struct Walk<'a, 'o> {
    universe: Universe<'a>,
    arch: &'a str,
    opts: &'o ClosureOptions,
    installed: Lookup<'o>,
    selected: Lookup<'a>,
    nodes: Vec<Node>,
    queue: VecDeque<usize>,
    problems: Vec<Problem>,
    missing: Vec<Missing>,
    choices: Vec<Choice>,
}

impl<'a> Walk<'a, '_> {
    /// Selects a candidate, to be followed.
    fn select(&mut self, cand: Cand, why: Why, chain: Vec<String>) {
        let i = self.selected.add(self.universe.entry(cand));
        self.nodes.push(Node {
            cand,
            why: vec![why],
            chain,
        });
        self.queue.push_back(i);
    }

    /// A package asked for: selected, unless it is already.
    fn request(&mut self, req: &Requested) {
        let label = req.wanted_by.clone();
        let why = Why::Requested {
            label: label.clone(),
        };
        let rel = Relation {
            name: req.name.clone(),
            arch_qual: None,
            constraint: None,
            arches: Vec::new(),
        };
        if let Some(&i) = self
            .selected
            .by_name
            .get(req.name.as_str())
            .and_then(|v| v.first())
        {
            self.nodes[i].why.push(why);
            return;
        }
        let selected = &self.selected;
        let blocked = |n: &str| selected.by_name.contains_key(n);
        match self.universe.find(&rel, &blocked) {
            Some(c) => self.select(c, why, vec![label, req.name.clone()]),
            None if self.opts.allow_missing || req.optional => self.missing.push(Missing {
                name: req.name.clone(),
                wanted_by: label,
            }),
            None => self.problems.push(Problem {
                chain: vec![label],
                message: format!("no package named {}", req.name),
            }),
        }
    }

    /// Follows the dependencies of selected package `i`.
    fn follow(&mut self, i: usize) {
        let entry = self.universe.entry(self.nodes[i].cand);
        let mut fields = vec![
            (DepKind::PreDepends, entry.pre_depends()),
            (DepKind::Depends, entry.depends()),
        ];
        if self.opts.with_recommends {
            fields.push((DepKind::Recommends, entry.recommends()));
        }
        for (kind, field) in fields {
            let Some(field) = field else { continue };
            match parse_relations_for_arch(field, self.arch) {
                Ok(groups) => {
                    for group in groups {
                        self.group(i, entry, kind, &group);
                    }
                }
                Err(e) => self.problems.push(Problem {
                    chain: self.nodes[i].chain.clone(),
                    message: format!("{}: {e}", kind.as_str()),
                }),
            }
        }
    }

    /// One group of alternatives of package `i` (`entry`): left alone when a selected or
    /// installed package meets it, else the first alternative with a candidate is taken.
    fn group(&mut self, i: usize, entry: &'a PackageEntry, kind: DepKind, group: &Group) {
        let arch = self.arch;
        let text = group_to_string(group);
        let why = Why::Dependency {
            of: entry.package().to_string(),
            kind,
            relation: text.clone(),
        };
        // Already satisfied by a selected package?
        if let Some(j) = group.iter().find_map(|r| self.selected.find(r, arch)) {
            if j != i && !self.nodes[j].why.contains(&why) {
                self.nodes[j].why.push(why);
            }
            return;
        }
        if group.iter().any(|r| self.installed.find(r, arch).is_some()) {
            return;
        }
        let selected = &self.selected;
        let blocked = |n: &str| selected.by_name.contains_key(n);
        let found = group
            .iter()
            .find_map(|r| self.universe.find(r, &blocked).map(|c| (r, c)));
        match found {
            Some((rel, c)) => {
                if group.len() > 1 {
                    self.choices.push(Choice {
                        package: entry.package().to_string(),
                        group: text,
                        chosen: self.universe.entry(c).package().to_string(),
                    });
                }
                let mut chain = self.nodes[i].chain.clone();
                chain.push(rel.to_string());
                self.select(c, why, chain);
            }
            None if kind == DepKind::Recommends => {}
            None => {
                let problem = unsatisfied(&self.nodes[i].chain, group, &text, &self.selected);
                self.problems.push(problem);
            }
        }
    }
}

/// Resolves the dependency closure of `requested` over `repos` (highest priority first) for
/// architecture `arch` (e.g. `amd64`).
pub fn resolve(
    repos: &[Repo],
    arch: &str,
    requested: &[Requested],
    opts: &ClosureOptions,
) -> Result<Closure, ClosureError> {
    let mut installed = Lookup::new();
    if let Some(inst) = &opts.installed {
        for e in &inst.packages {
            installed.add(e);
        }
    }
    let mut walk = Walk {
        universe: Universe::new(repos, arch),
        arch,
        opts,
        installed,
        selected: Lookup::new(),
        nodes: Vec::new(),
        queue: VecDeque::new(),
        problems: Vec::new(),
        missing: Vec::new(),
        choices: Vec::new(),
    };
    for req in requested {
        walk.request(req);
    }
    while let Some(i) = walk.queue.pop_front() {
        walk.follow(i);
    }
    if !walk.problems.is_empty() {
        return Err(ClosureError {
            problems: walk.problems,
        });
    }
    let universe = &walk.universe;
    let mut packages: Vec<Selected> = walk
        .nodes
        .into_iter()
        .map(|n| {
            let entry = universe.entry(n.cand);
            let mut why = n.why;
            why.sort();
            why.dedup();
            Selected {
                name: entry.package().to_string(),
                version: entry.version().clone(),
                arch: entry.architecture().to_string(),
                repo: repos[n.cand.0].name.clone(),
                entry: entry.clone(),
                why,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Closure {
        packages,
        choices: walk.choices,
        missing: walk.missing,
    })
}

/// The problem for a group nothing satisfies, saying so when a name is selected at a
/// version that does not fit.
fn unsatisfied(chain: &[String], group: &Group, text: &str, selected: &Lookup<'_>) -> Problem {
    let mut message = format!("no package provides {text}");
    for r in group {
        if let Some(&j) = selected
            .by_name
            .get(r.name.as_str())
            .and_then(|v| v.first())
        {
            message.push_str(&format!(
                " ({} is selected at {})",
                r.name,
                selected.entries[j].version()
            ));
        }
    }
    Problem {
        chain: chain.to_vec(),
        message,
    }
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
