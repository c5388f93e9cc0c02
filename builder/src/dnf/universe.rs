//! The packages a dnf closure chooses from: every repository's packages indexed by name,
//! provide, obsoleted name and file (complete file lists fetched on demand), and rpm's rule
//! for whether a provide meets a requirement.

use std::collections::{HashMap, HashSet};

use super::closure::FileLists;
use super::primary::{DepEntry, RpmPackage};
use super::rich::{Op, Simple};
use super::upstream::{DnfIndex, DnfUpstreamError};
use super::version::Evr;

/// FxHash (rustc's hasher, from `rustc-hash`): much quicker than SipHash on the short names
/// hashed here. The names come from signed repository metadata; a hostile upstream could at
/// worst slow its own closure down, not change it.
type FxMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// A package of the universe: an index into [`Universe::pkgs`].
pub(super) type Cand = u32;

/// A package providing a name, with the version it provides.
pub(super) type Provided<'a> = (Cand, Option<&'a (Op, Evr)>);

/// All repositories' packages, indexed by name, provide and file.
pub(super) struct Universe<'a> {
    pub(super) repos: &'a [DnfIndex],
    /// (repository index, package), repository by repository (best priority first) in
    /// metadata order: libsolv's solvable order.
    pub(super) pkgs: Vec<(usize, &'a RpmPackage)>,
    by_name: FxMap<&'a str, Vec<Cand>>,
    provides: FxMap<&'a str, Vec<Provided<'a>>>,
    /// Packages with an `Obsoletes` entry, by the name it names.
    obsoleters: FxMap<&'a str, Vec<(Cand, &'a DepEntry)>>,
    files: FxMap<&'a str, Vec<Cand>>,
    /// Owners found in `filelists.xml`.
    more_files: FxMap<String, Vec<Cand>>,
    filelists_loaded: bool,
    /// Whether any package has weak dependencies (they steer choices, as in libsolv).
    pub(super) weak: bool,
}

impl<'a> Universe<'a> {
    pub(super) fn new(repos: &'a [DnfIndex]) -> Self {
        let total: usize = repos.iter().map(|r| r.packages.len()).sum();
        let mut u = Universe {
            repos,
            pkgs: Vec::with_capacity(total),
            by_name: FxMap::with_capacity_and_hasher(total, Default::default()),
            provides: FxMap::with_capacity_and_hasher(total * 3, Default::default()),
            files: FxMap::with_capacity_and_hasher(total, Default::default()),
            obsoleters: FxMap::default(),
            more_files: FxMap::default(),
            filelists_loaded: false,
            weak: false,
        };
        // dnf loads repositories best priority first (its RepoDict iterates them sorted by
        // priority, then in the order they were added): that order is libsolv's solvable
        // order, which decides the order of its rules.
        let mut order: Vec<usize> = (0..repos.len()).collect();
        order.sort_by_key(|&r| repos[r].source.priority);
        for r in order {
            let repo = &repos[r];
            for p in &repo.packages {
                let c = u.pkgs.len() as Cand;
                u.pkgs.push((r, p));
                u.by_name.entry(&p.name).or_default().push(c);
                for e in &p.provides {
                    // Every package provides `NAME = EVR` of itself; not needed twice.
                    let own = e.name == p.name
                        && e.constraint
                            .as_ref()
                            .is_some_and(|(op, v)| *op == Op::Eq && *v == p.evr);
                    if !own {
                        u.provides
                            .entry(&e.name)
                            .or_default()
                            .push((c, e.constraint.as_ref()));
                    }
                }
                for e in &p.obsoletes {
                    u.obsoleters.entry(&e.name).or_default().push((c, e));
                }
                for f in &p.files {
                    u.files.entry(&f.path).or_default().push(c);
                }
                u.weak |= !(p.recommends.is_empty()
                    && p.supplements.is_empty()
                    && p.suggests.is_empty()
                    && p.enhances.is_empty());
            }
        }
        u
    }

    /// The packages whose `Obsoletes` hit package `c` (by name and range).
    pub(super) fn obsoleters_of(&self, c: Cand) -> impl Iterator<Item = Cand> + '_ {
        let p = self.pkg(c);
        self.obsoleters
            .get(p.name.as_str())
            .into_iter()
            .flatten()
            .filter(move |(o, e)| *o != c && entry_hits(e, p))
            .map(|(o, _)| *o)
    }

    /// The packages of a name.
    pub(super) fn named(&self, name: &str) -> &[Cand] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub(super) fn filelists_loaded(&self) -> bool {
        self.filelists_loaded
    }

    pub(super) fn pkg(&self, c: Cand) -> &'a RpmPackage {
        self.pkgs[c as usize].1
    }

    pub(super) fn repo(&self, c: Cand) -> &'a DnfIndex {
        &self.repos[self.pkgs[c as usize].0]
    }

    /// Every package meeting `s` with what is loaded (file lists included once fetched).
    pub(super) fn providers(&self, s: &Simple) -> Vec<Cand> {
        let mut out = Vec::new();
        if s.name.starts_with('/') {
            out.extend(self.files.get(s.name.as_str()).into_iter().flatten());
            out.extend(self.more_files.get(&s.name).into_iter().flatten());
        }
        for &c in self.by_name.get(s.name.as_str()).into_iter().flatten() {
            let own = (Op::Eq, self.pkg(c).evr.clone());
            if overlaps(Some(&own), s.constraint.as_ref()) {
                out.push(c);
            }
        }
        for &(c, provided) in self.provides.get(s.name.as_str()).into_iter().flatten() {
            if overlaps(provided, s.constraint.as_ref()) {
                out.push(c);
            }
        }
        if out.len() > 1 {
            out.sort_unstable();
            out.dedup();
        }
        out
    }

    /// Whether package `c` provides `s` (by name, provide or primary file).
    pub(super) fn provides_simple(&self, c: Cand, s: &Simple) -> bool {
        let p = self.pkg(c);
        let own = (Op::Eq, p.evr.clone());
        (p.name == s.name && overlaps(Some(&own), s.constraint.as_ref()))
            || p.provides
                .iter()
                .any(|e| e.name == s.name && overlaps(e.constraint.as_ref(), s.constraint.as_ref()))
            || (s.name.starts_with('/')
                && (p.files.iter().any(|f| f.path == s.name)
                    || self.more_files.get(&s.name).is_some_and(|v| v.contains(&c))))
    }

    /// Reads the complete file lists of every repository, keeping the owners of every file
    /// any package requires (and of `extra` paths). Once.
    pub(super) fn load_filelists(
        &mut self,
        extra: &[&str],
        source: &dyn FileLists,
    ) -> Result<Vec<String>, DnfUpstreamError> {
        if self.filelists_loaded {
            return Ok(Vec::new());
        }
        self.filelists_loaded = true;
        let mut wanted: HashSet<String> = extra.iter().map(|s| s.to_string()).collect();
        for (_, p) in &self.pkgs {
            for e in &p.requires {
                if e.name.starts_with('/') {
                    wanted.insert(e.name.clone());
                } else if e.name.starts_with('(') {
                    if let Ok(dep) = e.dep() {
                        for s in dep.simples() {
                            if s.name.starts_with('/') {
                                wanted.insert(s.name.clone());
                            }
                        }
                    }
                }
            }
        }
        let mut loaded = Vec::new();
        for (r, repo) in self.repos.iter().enumerate() {
            if repo.packages.is_empty() {
                continue;
            }
            let owners = source.owners(repo, &wanted)?;
            loaded.push(repo.source.name.clone());
            if owners.is_empty() {
                continue;
            }
            let by_id: HashMap<&str, Cand> = self
                .pkgs
                .iter()
                .enumerate()
                .filter(|(_, (pr, _))| *pr == r)
                .map(|(c, (_, p))| (p.checksum.value.as_str(), c as Cand))
                .collect();
            for f in owners {
                if let Some(&c) = by_id.get(f.pkgid.as_str()) {
                    let list = self.more_files.entry(f.path).or_default();
                    if !list.contains(&c) {
                        list.push(c);
                    }
                }
            }
        }
        Ok(loaded)
    }
}

/// rpm's `rpmdsCompare`: whether a provide's range and a requirement's range overlap. No
/// version on either side matches everything.
pub(super) fn overlaps(provide: Option<&(Op, Evr)>, require: Option<&(Op, Evr)>) -> bool {
    let (Some((pop, pevr)), Some((rop, revr))) = (provide, require) else {
        return true;
    };
    let (pl, pe, pg) = senses(*pop);
    let (rl, re, rg) = senses(*rop);
    match pevr.cmp_dep(revr) {
        std::cmp::Ordering::Less => pg || rl,
        std::cmp::Ordering::Greater => pl || rg,
        std::cmp::Ordering::Equal => (pe && re) || (pl && rl) || (pg && rg),
    }
}

/// (less, equal, greater) of an operator.
fn senses(op: Op) -> (bool, bool, bool) {
    match op {
        Op::Lt => (true, false, false),
        Op::Le => (true, true, false),
        Op::Eq => (false, true, false),
        Op::Ge => (false, true, true),
        Op::Gt => (false, false, true),
    }
}

/// Whether an obsoletes (or conflicts) entry, matched by name, hits package `p`.
pub(super) fn entry_hits(e: &DepEntry, p: &RpmPackage) -> bool {
    let own = (Op::Eq, p.evr.clone());
    e.name == p.name && overlaps(Some(&own), e.constraint.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dnf::rich::Dep;

    #[test]
    fn range_overlap_is_rpms() {
        let r = |s: &str| {
            Dep::parse(s).map(|d| match d {
                Dep::Simple(s) => s.constraint,
                _ => unreachable!(),
            })
        };
        let ov = |p: &str, q: &str| {
            overlaps(
                r(&format!("x {p}")).unwrap().as_ref(),
                r(&format!("x {q}")).unwrap().as_ref(),
            )
        };
        assert!(ov("= 2.0", ">= 1.5"));
        assert!(!ov("= 1.0", ">= 1.5"));
        assert!(
            ov("= 17.2-1PGDG", "= 17.2"),
            "a missing release matches any"
        );
        assert!(!ov("= 17.2-1", "= 17.2-2"));
        assert!(ov(">= 2", "< 3"));
        assert!(!ov("> 3", "< 3"));
        assert!(!ov("< 3", "> 3"));
        assert!(ov("<= 3", ">= 3"));
        assert!(!ov("< 3", ">= 3"));
        assert!(ov("= 1:1.0", "> 2.0"), "epoch wins");
        assert!(overlaps(None, r("x >= 9").unwrap().as_ref()));
        assert!(overlaps(r("x = 1").unwrap().as_ref(), None));
    }
}
