//! The packages an apt closure chooses from, and the order apt prefers them in: every
//! repository's packages for the target architecture and `all` (one per name and version),
//! each name's candidate as apt's policy picks it, and the targets of a relation sorted as
//! apt's `getAllPossibleSolutions` sorts them (`CompareProviders`, apt 2.6's `depcache.cc`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::cell::OnceCell;

use super::closure::Repo;
use super::index::{for_each_field, PackageEntry};
use super::relation::{parse_relations, Relation};
use super::version::DebVersion;

/// A package of the universe: its index in [`Universe::pkgs`].
pub(super) type Cand = u32;

/// One package (a name at one version).
pub(super) struct Pkg<'a> {
    pub(super) entry: &'a PackageEntry,
    /// The repository's index.
    pub(super) repo: usize,
}

/// Every repository's packages for one architecture.
pub(super) struct Universe<'a> {
    pub(super) repos: &'a [Repo],
    pub(super) target: &'a str,
    pub(super) pkgs: Vec<Pkg<'a>>,
    /// Per name: its versions, the candidate first (best repository priority, then highest
    /// version, then the earlier repository), as apt's policy orders them.
    by_name: HashMap<&'a str, Vec<Cand>>,
    /// Per provided name: the providers and the version provided.
    provides: HashMap<String, Vec<(Cand, Option<DebVersion>)>>,
    /// apt's package ids, made on first need (see [`apt_ids`]).
    ids: OnceCell<HashMap<&'a str, u32>>,
    /// The names of the installed packages (dpkg `status`), for apt's ids.
    installed: Vec<&'a str>,
}

/// The `Provides` of an entry as (name, version). Unparsable fields provide nothing.
pub(super) fn provides_of(entry: &PackageEntry) -> Vec<(String, Option<DebVersion>)> {
    let Some(field) = entry.provides() else {
        return Vec::new();
    };
    let Ok(groups) = parse_relations(field) else {
        return Vec::new();
    };
    groups
        .into_iter()
        .flatten()
        .map(|r| (r.name, r.constraint.map(|c| c.version)))
        .collect()
}

/// Whether an entry's architecture fits a relation's arch qualifier.
pub(super) fn arch_ok(qual: Option<&str>, entry: &PackageEntry, target: &str) -> bool {
    match qual {
        None | Some("native") => true,
        Some("any") => entry.multi_arch() == Some("allowed"),
        Some(a) => a == entry.architecture() || (a == target && entry.architecture() == "all"),
    }
}

/// Whether `entry` (a real package) satisfies `rel` by its own name and version.
pub(super) fn satisfies_real(rel: &Relation, entry: &PackageEntry, target: &str) -> bool {
    entry.package() == rel.name
        && rel
            .constraint
            .as_ref()
            .is_none_or(|c| c.satisfied_by(entry.version()))
        && arch_ok(rel.arch_qual.as_deref(), entry, target)
}

/// Whether a provide (`name (= version)` or unversioned) satisfies `rel`: a versioned provide
/// satisfies versioned and unversioned dependencies, an unversioned one only unversioned.
pub(super) fn satisfies_provide(
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

/// apt skips a package's provide of its own name at its own version (or unversioned).
fn self_provide(entry: &PackageEntry, name: &str, v: &Option<DebVersion>) -> bool {
    entry.package() == name && v.as_ref().is_none_or(|v| v == entry.version())
}

impl<'a> Universe<'a> {
    /// The packages of `repos` for `target` (and `all`); a name and version in several
    /// repositories is kept once, from the best priority, then the earliest repository.
    pub(super) fn new(repos: &'a [Repo], target: &'a str, installed: &[&'a PackageEntry]) -> Self {
        let mut order: Vec<usize> = (0..repos.len()).collect();
        order.sort_by_key(|&r| (repos[r].priority, r));
        let mut seen: HashMap<(&str, &str), ()> = HashMap::new();
        let mut keep: Vec<(usize, usize)> = Vec::new();
        for &r in &order {
            for (e, entry) in repos[r].packages.iter().enumerate() {
                let arch = entry.architecture();
                if (arch == target || arch == "all")
                    && seen
                        .insert((entry.package(), entry.version().as_str()), ())
                        .is_none()
                {
                    keep.push((r, e));
                }
            }
        }
        keep.sort_unstable();
        let pkgs: Vec<Pkg<'a>> = keep
            .into_iter()
            .map(|(r, e)| Pkg {
                entry: &repos[r].packages[e],
                repo: r,
            })
            .collect();
        let mut by_name: HashMap<&'a str, Vec<Cand>> = HashMap::new();
        let mut provides: HashMap<String, Vec<(Cand, Option<DebVersion>)>> = HashMap::new();
        for (c, p) in pkgs.iter().enumerate() {
            by_name.entry(p.entry.package()).or_default().push(c as Cand);
            if p.entry.provides().is_some() {
                for (name, v) in provides_of(p.entry) {
                    if !self_provide(p.entry, &name, &v) {
                        provides.entry(name).or_default().push((c as Cand, v));
                    }
                }
            }
        }
        let mut u = Universe {
            repos,
            target,
            pkgs,
            by_name: HashMap::new(),
            provides,
            ids: OnceCell::new(),
            installed: installed.iter().map(|e| e.package()).collect(),
        };
        for cands in by_name.values_mut() {
            cands.sort_by(|&a, &b| u.policy_cmp(a, b));
        }
        u.by_name = by_name;
        u
    }

    pub(super) fn entry(&self, c: Cand) -> &'a PackageEntry {
        self.pkgs[c as usize].entry
    }

    pub(super) fn name(&self, c: Cand) -> &'a str {
        self.pkgs[c as usize].entry.package()
    }

    pub(super) fn priority(&self, c: Cand) -> u32 {
        self.repos[self.pkgs[c as usize].repo].priority
    }

    pub(super) fn repo_index(&self, c: Cand) -> usize {
        self.pkgs[c as usize].repo
    }

    pub(super) fn repo_name(&self, c: Cand) -> &'a str {
        &self.repos[self.pkgs[c as usize].repo].name
    }

    /// apt's policy between two versions of one name: the better priority, then the higher
    /// version, then the earlier repository.
    fn policy_cmp(&self, a: Cand, b: Cand) -> Ordering {
        self.priority(a)
            .cmp(&self.priority(b))
            .then_with(|| self.entry(b).version().cmp(self.entry(a).version()))
            .then(self.pkgs[a as usize].repo.cmp(&self.pkgs[b as usize].repo))
    }

    /// The versions of a name, the candidate first.
    pub(super) fn named(&self, name: &str) -> &[Cand] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The order of a request's candidates: by the name's candidate (its priority, then its
    /// repository), then name, then the name's own order. For a name no package has, that
    /// is its providers by repository, then name.
    pub(super) fn request_cmp(&self, a: Cand, b: Cand) -> Ordering {
        let key = |c: Cand| {
            let named = self.named(self.name(c));
            let first = named.first().copied().unwrap_or(c);
            let pos = named.iter().position(|&x| x == c).unwrap_or(usize::MAX);
            (self.priority(first), self.repo_index(first), self.name(c), pos)
        };
        key(a).cmp(&key(b))
    }

    /// What `apt-get install NAME` can mean here: the versions of the name, the candidate
    /// first; for a name no package has, every package providing it.
    pub(super) fn request_candidates(&self, name: &str) -> Vec<Cand> {
        let named = self.named(name);
        if !named.is_empty() {
            return named.to_vec();
        }
        let mut out: Vec<Cand> = self.providers(name).iter().map(|(c, _)| *c).collect();
        out.sort_by(|&a, &b| self.request_cmp(a, b));
        out.dedup();
        out
    }

    /// Whether `c` is its name's candidate.
    pub(super) fn is_candidate(&self, c: Cand) -> bool {
        self.named(self.name(c)).first() == Some(&c)
    }

    /// The providers of a name (other packages' `Provides`), with the version provided.
    pub(super) fn providers(&self, name: &str) -> &[(Cand, Option<DebVersion>)] {
        self.provides.get(name).map_or(&[], Vec::as_slice)
    }

    /// Every package meeting `rel`, by its own name or through a provide, any version.
    pub(super) fn meeting(&self, rel: &Relation) -> Vec<Cand> {
        let mut out: Vec<Cand> = self
            .named(&rel.name)
            .iter()
            .copied()
            .filter(|&c| satisfies_real(rel, self.entry(c), self.target))
            .collect();
        for (c, v) in self.providers(&rel.name) {
            if satisfies_provide(rel, v, self.entry(*c), self.target) {
                out.push(*c);
            }
        }
        out
    }

    /// The packages meeting `rel` as apt would try them: `(candidates, others)`. The first
    /// are apt's own solutions: the name's candidate if it meets `rel`, then the providers
    /// whose candidate version meets it, sorted by `CompareProviders`. The others are
    /// versions that are not their name's candidate (apt never takes them; the closure does
    /// when nothing else will do), best first.
    pub(super) fn targets(&self, rel: &Relation) -> (Vec<Cand>, Vec<Cand>) {
        let (mut cands, mut others) = (Vec::new(), Vec::new());
        for (i, &c) in self.named(&rel.name).iter().enumerate() {
            if satisfies_real(rel, self.entry(c), self.target) {
                if i == 0 { &mut cands } else { &mut others }.push(c);
            }
        }
        let real = cands.len();
        for (c, v) in self.providers(&rel.name) {
            if satisfies_provide(rel, v, self.entry(*c), self.target) {
                if self.is_candidate(*c) {
                    &mut cands
                } else {
                    &mut others
                }
                .push(*c);
            }
        }
        cands[real..].sort_by(|&a, &b| self.compare_providers(a, b));
        cands.dedup();
        others.sort_by(|&a, &b| self.fallback_cmp(a, b));
        others.dedup();
        (cands, others)
    }

    /// Versions that are not candidates: the better priority, the higher version, the
    /// earlier repository, then by name.
    fn fallback_cmp(&self, a: Cand, b: Cand) -> Ordering {
        self.policy_cmp(a, b)
            .then_with(|| self.name(a).cmp(self.name(b)))
    }

    /// apt's `CompareProviders` for packages of other names than the dependency's, none of
    /// them installed: `Essential: yes` first, then `Important: yes`, then the better
    /// `Priority` (`required` first; a package without one sorts before all of them, as apt
    /// stores 0 for it), then the higher apt package id: the name apt's cache met later when
    /// it read the indexes. apt ranks by that id, not by name or repository, so among equal
    /// providers the one whose name appears last in the indexes wins; the closure does the
    /// same, so that it picks what `apt-get install` picks.
    fn compare_providers(&self, a: Cand, b: Cand) -> Ordering {
        let (ea, eb) = (self.entry(a), self.entry(b));
        let flag = |e: &PackageEntry, f: &str| {
            super::index::field(e.raw(), f).is_some_and(|v| v.eq_ignore_ascii_case("yes"))
        };
        flag(eb, "Essential")
            .cmp(&flag(ea, "Essential"))
            .then_with(|| flag(eb, "Important").cmp(&flag(ea, "Important")))
            .then_with(|| priority_rank(ea).cmp(&priority_rank(eb)))
            .then_with(|| {
                let ids = self.apt_ids();
                let id = |c: Cand| ids.get(self.name(c)).copied().unwrap_or(0);
                id(b).cmp(&id(a))
            })
            .then(a.cmp(&b))
    }

    /// apt's package ids by name: the order in which its cache generator first meets each
    /// name reading the indexes (sources in order, paragraphs in order: the package, then
    /// the names in its `Pre-Depends`, `Depends`, `Conflicts`, `Breaks`, `Recommends`,
    /// `Suggests`, `Replaces`, `Enhances`, then `Provides`), then the dpkg status file.
    fn apt_ids(&self) -> &HashMap<&'a str, u32> {
        self.ids.get_or_init(|| {
            let mut ids: HashMap<&'a str, u32> = HashMap::new();
            let mut meet = |name: &'a str| {
                let n = ids.len() as u32;
                ids.entry(name).or_insert(n);
            };
            for repo in self.repos {
                for entry in &repo.packages {
                    let arch = entry.architecture();
                    if arch != self.target && arch != "all" {
                        continue;
                    }
                    meet(entry.package());
                    for name in relation_names(entry.raw(), self.target) {
                        meet(name);
                    }
                }
            }
            for &name in &self.installed {
                meet(name);
            }
            ids
        })
    }
}

/// apt's `Priority` number: `required` 1 to `extra` 5, an unknown word 5, none 0.
fn priority_rank(e: &PackageEntry) -> u8 {
    match super::index::field(e.raw(), "Priority") {
        None => 0,
        Some(p) => match p.to_ascii_lowercase().as_str() {
            "required" => 1,
            "important" => 2,
            "standard" => 3,
            "optional" => 4,
            _ => 5,
        },
    }
}

/// The relation fields in the order apt's list parser reads them.
const RELATION_FIELDS: [&str; 9] = [
    "Pre-Depends",
    "Depends",
    "Conflicts",
    "Breaks",
    "Recommends",
    "Suggests",
    "Replaces",
    "Enhances",
    "Provides",
];

/// The package names a paragraph's relation fields mention, in apt's reading order, without
/// those qualified for another architecture (`:any`, `:i386`: other packages in apt's cache).
fn relation_names<'r>(raw: &'r str, target: &str) -> Vec<&'r str> {
    let mut spans: [Option<(usize, usize)>; RELATION_FIELDS.len()] = [None; RELATION_FIELDS.len()];
    for_each_field(raw, |name, s, e| {
        if let Some(i) = RELATION_FIELDS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(name))
        {
            spans[i].get_or_insert((s, e));
        }
    });
    let mut out = Vec::new();
    for (s, e) in spans.into_iter().flatten() {
        for alt in raw[s..e].split([',', '|']) {
            let alt = alt.trim_start();
            let end = alt
                .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
                .unwrap_or(alt.len());
            let word = &alt[..end];
            let name = match word.split_once(':') {
                None => word,
                Some((n, "native")) => n,
                Some((n, a)) if a == target => n,
                Some(_) => continue,
            };
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// A set of entries searchable by name and by provided name (the selected or the installed
/// packages).
pub(super) struct Lookup<'e> {
    pub(super) entries: Vec<&'e PackageEntry>,
    pub(super) by_name: HashMap<&'e str, Vec<usize>>,
    provides: HashMap<String, Vec<(usize, Option<DebVersion>)>>,
}

impl<'e> Lookup<'e> {
    pub(super) fn new() -> Self {
        Lookup {
            entries: Vec::new(),
            by_name: HashMap::new(),
            provides: HashMap::new(),
        }
    }

    pub(super) fn add(&mut self, entry: &'e PackageEntry) -> usize {
        let i = self.entries.len();
        self.entries.push(entry);
        self.by_name.entry(entry.package()).or_default().push(i);
        for (name, v) in provides_of(entry) {
            self.provides.entry(name).or_default().push((i, v));
        }
        i
    }

    /// The first entry (in insertion order) satisfying `rel`, really or through a provide.
    pub(super) fn find(&self, rel: &Relation, target: &str) -> Option<usize> {
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
