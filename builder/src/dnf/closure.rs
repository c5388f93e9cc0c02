//! The dnf dependency closure: which packages a set of requested ones pulls in from a list of
//! rpm repositories, and why each one is there.
//!
//! Rules, close to what dnf (libsolv) does for `dnf install` into an empty root:
//! - A request is a package name; if no package has that name, a provide or a file path
//!   (as `dnf install NAME` takes them).
//! - `Requires` are followed transitively (`rpmlib(...)` ones are rpm's own and skipped).
//!   A requirement is matched against `Provides` with rpm's range overlap: versioned provides
//!   meet versioned requires when the ranges overlap, an unversioned provide meets any
//!   requirement of its name, and every package provides `NAME = EVR` of itself. A file
//!   requirement is met by a package owning the path: from `primary.xml`'s file lists first,
//!   and only when those have no owner, from `filelists.xml`, fetched on demand through
//!   [`FileLists`] once for all file requirements of all repositories.
//! - Rich dependencies: `and` needs all; `or` is met when an alternative already holds for
//!   the selection, else one package is chosen among the providers of all its (simple)
//!   alternatives together, as libsolv does, and the choice recorded (nested alternatives:
//!   the first that can be met); `with` / `without` need one provider that does (not)
//!   provide the other operand; `A if B [else C]` needs A when B holds for the selection (C
//!   otherwise), `A unless B [else C]` the reverse. Conditions are never installed for their
//!   own sake. Since a condition may come to hold only after later packages are selected,
//!   conditional requirements are evaluated again until nothing changes (a fixpoint). The
//!   selection only grows: a package taken for an `else` branch stays if the condition
//!   later holds.
//! - Choosing among providers follows libsolv's policy (`policy_filter_unwanted`), which is
//!   what dnf does: a provider already selected satisfies the requirement. Otherwise,
//!   packages whose name is selected at another version are out (one version per name; with
//!   only the target arch and `noarch` loaded, a name is a name.arch), and so are packages
//!   obsoleted by, obsoleting or conflicting with a selected one when others remain. Then
//!   only the best repository priority is kept (lower number wins), the highest EVR of each
//!   name (on a tie, the first in metadata order, whatever its arch), and packages another
//!   candidate obsoletes are dropped. If several names remain, the requirement waits until
//!   every requirement with a single candidate has been followed (one of those may meet it),
//!   then the first is taken in this order: by name (byte order), except that packages with
//!   a better build elsewhere (same name and arch, better priority or higher EVR) go last,
//!   and packages providing a lower version of something another candidate provides go
//!   after it (libsolv's `dislike_old_versions` and `sort_by_common_dep`). There is no
//!   preference for the package named like the requirement, as in libsolv.
//! - Weak dependencies (`Recommends`, `Supplements`) are not followed and do not steer
//!   choices (dnf with `install_weak_deps=False`).
//! - `Conflicts` and `Obsoletes` between selected packages are reported in
//!   [`DnfClosure::conflicts`]; they are not errors. There is no backtracking: a choice that
//!   later proves to conflict is reported, not undone.
//!
//! Every problem (a request nothing provides, a requirement nothing satisfies) is collected
//! with the chain that led to it, e.g.
//! `named in --packages -> pgvector_17 -> postgresql17-server >= 17.0: nothing provides it`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::filelists::OwnedFile;
use super::primary::{DepEntry, RpmPackage};
use super::rich::{Dep, Op, Simple};
use super::upstream::{DnfIndex, DnfUpstreamError};
use super::version::Evr;
use crate::fetch::{FetchItem, Fetcher};

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

/// Two selected packages that conflict, or one obsoleting the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// NEVRA of the package declaring it.
    pub package: String,
    /// `conflicts with X` or `obsoletes X`, the entry as written.
    pub relation: String,
    /// NEVRA of the selected package it hits.
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
    /// Warnings: conflicts and obsoletes between selected packages.
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
    #[error("while looking for the owner of a file")]
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

/// FxHash (as in rustc): much quicker than SipHash on the short names hashed here, and
/// nothing hashed comes from an adversary the closure must resist.
#[derive(Default, Clone, Copy)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x517c_c1b7_2722_0a95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// A package of the universe: an index into [`Universe::pkgs`].
type Cand = u32;

const NONE: u32 = u32::MAX;

/// A package providing a name, with the version it provides.
type Provided<'a> = (Cand, Option<&'a (Op, Evr)>);

/// All repositories' packages, indexed by name, provide and file.
struct Universe<'a> {
    repos: &'a [DnfIndex],
    pkgs: Vec<(usize, &'a RpmPackage)>,
    by_name: FxMap<&'a str, Vec<Cand>>,
    provides: FxMap<&'a str, Vec<Provided<'a>>>,
    files: FxMap<&'a str, Vec<Cand>>,
    /// Owners found in `filelists.xml`.
    more_files: FxMap<String, Vec<Cand>>,
    filelists_loaded: bool,
}

impl<'a> Universe<'a> {
    fn new(repos: &'a [DnfIndex]) -> Self {
        let total: usize = repos.iter().map(|r| r.packages.len()).sum();
        let mut u = Universe {
            repos,
            pkgs: Vec::with_capacity(total),
            by_name: FxMap::with_capacity_and_hasher(total, Default::default()),
            provides: FxMap::with_capacity_and_hasher(total * 3, Default::default()),
            files: FxMap::with_capacity_and_hasher(total, Default::default()),
            more_files: FxMap::default(),
            filelists_loaded: false,
        };
        for (r, repo) in repos.iter().enumerate() {
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
                for f in &p.files {
                    u.files.entry(&f.path).or_default().push(c);
                }
            }
        }
        u
    }

    fn pkg(&self, c: Cand) -> &'a RpmPackage {
        self.pkgs[c as usize].1
    }

    fn repo(&self, c: Cand) -> &'a DnfIndex {
        &self.repos[self.pkgs[c as usize].0]
    }

    /// Every package meeting `s` with what is loaded (file lists included once fetched).
    fn providers(&self, s: &Simple) -> Vec<Cand> {
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
    fn provides_simple(&self, c: Cand, s: &Simple) -> bool {
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
    fn load_filelists(
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
fn overlaps(provide: Option<&(Op, Evr)>, require: Option<&(Op, Evr)>) -> bool {
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
fn entry_hits(e: &DepEntry, p: &RpmPackage) -> bool {
    let own = (Op::Eq, p.evr.clone());
    e.name == p.name && overlaps(Some(&own), e.constraint.as_ref())
}

fn has_conditional(dep: &Dep) -> bool {
    match dep {
        Dep::Simple(_) => false,
        Dep::If { .. } | Dep::Unless { .. } => true,
        Dep::And(d) | Dep::Or(d) | Dep::With(d) => d.iter().any(has_conditional),
        Dep::Without(a, b) => has_conditional(a) || has_conditional(b),
    }
}

struct Node {
    cand: Cand,
    why: Vec<Why>,
    chain: Vec<String>,
}

/// What [`Solver::ensure`] made of a requirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It holds.
    Met,
    /// Nothing can satisfy it.
    Unmet,
    /// Several packages could; the choice waits until the requirements with one candidate
    /// are followed.
    Postponed,
}

impl Outcome {
    fn and(self, other: Outcome) -> Outcome {
        match (self, other) {
            (Outcome::Unmet, _) | (_, Outcome::Unmet) => Outcome::Unmet,
            (Outcome::Postponed, _) | (_, Outcome::Postponed) => Outcome::Postponed,
            _ => Outcome::Met,
        }
    }
}

/// A requirement of a selected package: its node, the expression, the text as written.
type Requirement = (usize, Dep, String);

/// The resolution in progress.
struct Solver<'u, 'a> {
    u: &'u mut Universe<'a>,
    filelists: &'u dyn FileLists,
    /// Node of each selected candidate, [`NONE`] if not selected.
    node_of: Vec<u32>,
    by_name: FxMap<&'a str, usize>,
    nodes: Vec<Node>,
    queue: VecDeque<usize>,
    /// Requirements with several candidates, decided once the queue is empty.
    postponed: VecDeque<Requirement>,
    /// Obsoletes and conflicts of selected packages, by the name they name.
    obsoletes: FxMap<&'a str, Vec<&'a DepEntry>>,
    conflicts: FxMap<&'a str, Vec<&'a DepEntry>>,
    problems: Vec<Problem>,
    seen_problems: HashSet<String>,
    choices: Vec<Choice>,
    filelists_loaded: Vec<String>,
    /// Paths asked for by requests, for the file list loading.
    request_paths: Vec<&'a str>,
}

impl<'a> Solver<'_, 'a> {
    fn selected(&self, c: Cand) -> bool {
        self.node_of[c as usize] != NONE
    }

    fn blocked(&self, c: Cand) -> bool {
        self.by_name
            .get(self.u.pkg(c).name.as_str())
            .is_some_and(|&n| self.nodes[n].cand != c)
    }

    /// Providers of `s`, fetching the file lists first if `s` is a path nothing in
    /// `primary.xml` owns.
    fn providers(&mut self, s: &Simple) -> Result<Vec<Cand>, DnfUpstreamError> {
        let found = self.u.providers(s);
        if found.is_empty() && s.name.starts_with('/') && !self.u.filelists_loaded {
            let mut extra: Vec<&str> = self.request_paths.to_vec();
            extra.push(&s.name);
            let loaded = self.u.load_filelists(&extra, self.filelists)?;
            self.filelists_loaded.extend(loaded);
            return Ok(self.u.providers(s));
        }
        Ok(found)
    }

    /// Whether `dep` holds for the selection as it is.
    fn holds(&self, dep: &Dep) -> bool {
        dep.eval(&mut |s: &Simple| self.u.providers(s).iter().any(|&c| self.selected(c)))
    }

    /// Whether a package is unwelcome next to the selection: obsoleted by or obsoleting a
    /// selected package, or conflicting with one either way.
    fn unwelcome(&self, c: Cand) -> bool {
        let p = self.u.pkg(c);
        if self
            .obsoletes
            .get(p.name.as_str())
            .is_some_and(|es| es.iter().any(|e| entry_hits(e, p)))
        {
            return true;
        }
        for e in &p.obsoletes {
            if let Some(&n) = self.by_name.get(e.name.as_str()) {
                if entry_hits(e, self.u.pkg(self.nodes[n].cand)) {
                    return true;
                }
            }
        }
        for e in &p.conflicts {
            if let Ok(Dep::Simple(s)) = e.dep() {
                if self
                    .u
                    .providers(&s)
                    .iter()
                    .any(|&o| o != c && self.selected(o))
                {
                    return true;
                }
            }
        }
        let own = (Op::Eq, p.evr.clone());
        let provided = std::iter::once((p.name.as_str(), Some(&own))).chain(
            p.provides
                .iter()
                .map(|e| (e.name.as_str(), e.constraint.as_ref())),
        );
        for (name, range) in provided {
            if let Some(es) = self.conflicts.get(name) {
                if es.iter().any(|e| overlaps(range, e.constraint.as_ref())) {
                    return true;
                }
            }
        }
        false
    }

    /// libsolv's pruning of the candidates of one requirement (`policy_filter_unwanted`
    /// without reordering): packages whose name is selected at another version are out, so
    /// are unwelcome ones if others remain; then the best repository priority, the highest
    /// EVR of each name (the first in metadata order on a tie), and packages obsoleted by
    /// another candidate are out. Sorted by name (byte order).
    fn prune(&self, cands: &[Cand]) -> Vec<Cand> {
        let mut free: Vec<Cand> = cands
            .iter()
            .copied()
            .filter(|&c| !self.blocked(c))
            .collect();
        if free.len() > 1 {
            let welcome: Vec<Cand> = free
                .iter()
                .copied()
                .filter(|&c| !self.unwelcome(c))
                .collect();
            if !welcome.is_empty() {
                free = welcome;
            }
        }
        let Some(top) = free.iter().map(|&c| self.u.repo(c).source.priority).min() else {
            return free;
        };
        free.retain(|&c| self.u.repo(c).source.priority == top);
        free.sort_by(|&a, &b| self.u.pkg(a).name.cmp(&self.u.pkg(b).name).then(a.cmp(&b)));
        let mut best: Vec<Cand> = Vec::with_capacity(free.len());
        for c in free {
            match best.last_mut() {
                Some(last) if self.u.pkg(*last).name == self.u.pkg(c).name => {
                    if self.u.pkg(c).evr > self.u.pkg(*last).evr {
                        *last = c;
                    }
                }
                _ => best.push(c),
            }
        }
        if best.len() > 1 {
            let kept: Vec<Cand> = best
                .iter()
                .copied()
                .filter(|&c| {
                    let p = self.u.pkg(c);
                    !best.iter().any(|&o| {
                        let q = self.u.pkg(o);
                        q.name != p.name && q.obsoletes.iter().any(|e| entry_hits(e, p))
                    })
                })
                .collect();
            if !kept.is_empty() {
                best = kept;
            }
        }
        best
    }

    /// libsolv's reordering of pruned candidates, best first: packages of which a better
    /// build (same name and arch, better priority or higher EVR) exists go last
    /// (`dislike_old_versions`), then those that provide a lower version of something
    /// another candidate provides too (`sort_by_common_dep`); otherwise by name.
    fn order(&self, mut cands: Vec<Cand>) -> Vec<Cand> {
        if cands.len() < 2 {
            return cands;
        }
        let old = |c: Cand| {
            let p = self.u.pkg(c);
            let prio = self.u.repo(c).source.priority;
            self.u.by_name[p.name.as_str()].iter().any(|&o| {
                let q = self.u.pkg(o);
                let qprio = self.u.repo(o).source.priority;
                o != c && q.arch == p.arch && (qprio < prio || (qprio == prio && q.evr > p.evr))
            })
        };
        cands.sort_by_key(|&c| old(c));
        // (candidate position, provided name, version, is `<`/`<=`)
        let mut entries: Vec<(usize, &str, &Evr, bool)> = Vec::new();
        for (i, &c) in cands.iter().enumerate() {
            for e in &self.u.pkg(c).provides {
                let Some((op, evr)) = &e.constraint else {
                    continue;
                };
                let less = match op {
                    Op::Eq => {
                        if looks_like_hash(&evr.to_string()) {
                            continue;
                        }
                        false
                    }
                    Op::Le | Op::Lt => true,
                    _ => continue,
                };
                entries.push((i, e.name.as_str(), evr, less));
            }
        }
        // Highest version first; on a tie a `=` before a `<`.
        let cmp = |a: &(usize, &str, &Evr, bool), b: &(usize, &str, &Evr, bool)| {
            a.1.cmp(b.1)
                .then_with(|| b.2.cmp_dep(a.2))
                .then_with(|| a.3.cmp(&b.3))
        };
        entries.sort_by(cmp);
        let mut badness = vec![0usize; cands.len()];
        let mut bad = 0;
        for k in 0..entries.len() {
            if k > 0 && entries[k - 1].1 == entries[k].1 {
                if entries[k - 1].0 != entries[k].0
                    && cmp(&entries[k - 1], &entries[k]) == std::cmp::Ordering::Less
                {
                    bad += 1;
                }
            } else {
                bad = 0;
            }
            badness[entries[k].0] += bad;
        }
        let mut ranked: Vec<(usize, Cand)> = cands
            .iter()
            .enumerate()
            .map(|(i, &c)| (badness[i], c))
            .collect();
        ranked.sort_by_key(|&(b, _)| b);
        ranked.into_iter().map(|(_, c)| c).collect()
    }

    /// The candidate libsolv would choose.
    fn best(&self, cands: &[Cand]) -> Option<Cand> {
        self.order(self.prune(cands)).first().copied()
    }

    fn select(&mut self, c: Cand, why: Why, chain: Vec<String>) {
        let i = self.nodes.len();
        let p = self.u.pkg(c);
        self.node_of[c as usize] = i as u32;
        self.by_name.insert(&p.name, i);
        for e in &p.obsoletes {
            self.obsoletes.entry(&e.name).or_default().push(e);
        }
        for e in &p.conflicts {
            if !e.name.starts_with('(') {
                self.conflicts.entry(&e.name).or_default().push(e);
            }
        }
        self.nodes.push(Node {
            cand: c,
            why: vec![why],
            chain,
        });
        self.queue.push_back(i);
    }

    fn add_why(&mut self, c: Cand, why: Why) {
        let n = self.node_of[c as usize] as usize;
        if !self.nodes[n].why.contains(&why) {
            self.nodes[n].why.push(why);
        }
    }

    fn problem(&mut self, chain: Vec<String>, message: String) {
        let p = Problem { chain, message };
        if self.seen_problems.insert(p.to_string()) {
            self.problems.push(p);
        }
    }

    /// Whether `dep` could be made to hold: each simple part it needs has a candidate.
    fn possible(&mut self, dep: &Dep) -> Result<bool, DnfUpstreamError> {
        Ok(match dep {
            Dep::Simple(s) => {
                let provs = self.providers(s)?;
                provs.iter().any(|&c| self.selected(c)) || !self.prune(&provs).is_empty()
            }
            Dep::And(ds) | Dep::With(ds) => {
                for d in ds {
                    if !self.possible(d)? {
                        return Ok(false);
                    }
                }
                true
            }
            Dep::Or(ds) => {
                for d in ds {
                    if self.possible(d)? {
                        return Ok(true);
                    }
                }
                false
            }
            Dep::Without(a, _) => self.possible(a)?,
            Dep::If {
                then,
                cond,
                otherwise,
            } => match (self.holds(cond), otherwise) {
                (true, _) => self.possible(then)?,
                (false, Some(o)) => self.possible(o)?,
                (false, None) => true,
            },
            Dep::Unless {
                then,
                cond,
                otherwise,
            } => match (self.holds(cond), otherwise) {
                (false, _) => self.possible(then)?,
                (true, Some(o)) => self.possible(o)?,
                (true, None) => true,
            },
        })
    }

    /// Meets a requirement of node `owner` (written `text`) with one of `cands`, all known
    /// to satisfy it: nothing to do if one is selected; else the only candidate left after
    /// pruning, or, with several, the best one when `decide`, else postponed. `dep_name`:
    /// the simple requirement's name, to say in the chain which package met it.
    fn take(
        &mut self,
        cands: &[Cand],
        dep_name: Option<&str>,
        owner: usize,
        text: &str,
        decide: bool,
    ) -> Outcome {
        let why = Why::Dependency {
            of: self.u.pkg(self.nodes[owner].cand).name.clone(),
            kind: DepKind::Requires,
            relation: text.to_string(),
        };
        if let Some(&c) = cands.iter().find(|&&c| self.selected(c)) {
            if self.node_of[c as usize] as usize != owner {
                self.add_why(c, why);
            }
            return Outcome::Met;
        }
        let pruned = self.prune(cands);
        if pruned.len() > 1 && !decide {
            return Outcome::Postponed;
        }
        let Some(&c) = self.order(pruned).first() else {
            return Outcome::Unmet;
        };
        let name = &self.u.pkg(c).name;
        let mut chain = self.nodes[owner].chain.clone();
        chain.push(if dep_name == Some(name.as_str()) {
            text.to_string()
        } else {
            format!("{text} ({name})")
        });
        self.select(c, why, chain);
        Outcome::Met
    }

    /// Makes `dep`, a requirement (or part of one) of node `owner` written `text`, hold,
    /// selecting packages as needed (choosing among several only when `decide`). `unmet`
    /// gets the parts nothing satisfies.
    fn ensure(
        &mut self,
        dep: &Dep,
        owner: usize,
        text: &str,
        decide: bool,
        unmet: &mut Vec<String>,
    ) -> Result<Outcome, DnfUpstreamError> {
        let outcome = match dep {
            Dep::Simple(s) => {
                let provs = self.providers(s)?;
                self.take(&provs, Some(&s.name), owner, text, decide)
            }
            Dep::And(ds) => {
                let mut all = Outcome::Met;
                for d in ds {
                    all = all.and(self.ensure(d, owner, text, decide, unmet)?);
                }
                return Ok(all);
            }
            Dep::With(_) | Dep::Without(..) => {
                let Some((first, with, without)) = dep_simples(dep) else {
                    // Rich operands: checked each on its own.
                    return match dep {
                        Dep::With(ds) => {
                            let mut all = Outcome::Met;
                            for d in ds {
                                all = all.and(self.ensure(d, owner, text, decide, unmet)?);
                            }
                            Ok(all)
                        }
                        Dep::Without(a, _) => self.ensure(a, owner, text, decide, unmet),
                        _ => Ok(Outcome::Met),
                    };
                };
                let mut cands = self.providers(first)?;
                cands.retain(|&c| {
                    with.iter().all(|s| self.u.provides_simple(c, s))
                        && !without.iter().any(|s| self.u.provides_simple(c, s))
                });
                self.take(&cands, Some(&first.name), owner, text, decide)
            }
            Dep::Or(ds) => {
                if ds.iter().any(|d| self.holds(d)) {
                    return Ok(Outcome::Met);
                }
                let before = self.nodes.len();
                let (outcome, chosen) = if let Some(simples) = all_simple(ds) {
                    // As libsolv: one choice among the providers of every alternative.
                    let mut cands = Vec::new();
                    for s in &simples {
                        cands.extend(self.providers(s)?);
                    }
                    cands.sort_unstable();
                    cands.dedup();
                    let outcome = self.take(&cands, None, owner, text, decide);
                    let chosen = self.nodes[before..].first().and_then(|n| {
                        simples
                            .iter()
                            .find(|s| self.u.provides_simple(n.cand, s))
                            .map(|s| s.to_string())
                    });
                    (outcome, chosen)
                } else {
                    // Nested expressions: the first alternative that can be met.
                    let mut found = None;
                    for d in ds {
                        if self.possible(d)? {
                            found = Some(d);
                            break;
                        }
                    }
                    match found {
                        Some(d) => (
                            self.ensure(d, owner, text, decide, unmet)?,
                            Some(d.to_string()),
                        ),
                        None => (Outcome::Unmet, None),
                    }
                };
                if self.nodes.len() > before {
                    let selected = self.nodes[before..]
                        .iter()
                        .map(|n| self.u.pkg(n.cand).name.clone())
                        .collect();
                    self.choices.push(Choice {
                        package: self.u.pkg(self.nodes[owner].cand).name.clone(),
                        requirement: text.to_string(),
                        chosen: chosen.unwrap_or_default(),
                        selected,
                    });
                }
                outcome
            }
            Dep::If {
                then,
                cond,
                otherwise,
            } => {
                return match (self.holds(cond), otherwise) {
                    (true, _) => self.ensure(then, owner, text, decide, unmet),
                    (false, Some(o)) => self.ensure(o, owner, text, decide, unmet),
                    (false, None) => Ok(Outcome::Met),
                }
            }
            Dep::Unless {
                then,
                cond,
                otherwise,
            } => {
                return match (self.holds(cond), otherwise) {
                    (false, _) => self.ensure(then, owner, text, decide, unmet),
                    (true, Some(o)) => self.ensure(o, owner, text, decide, unmet),
                    (true, None) => Ok(Outcome::Met),
                }
            }
        };
        if outcome == Outcome::Unmet {
            unmet.push(dep.to_string());
        }
        Ok(outcome)
    }

    /// Makes requirement `dep` of node `owner` hold, postpones it, or records the problem.
    fn require(
        &mut self,
        dep: &Dep,
        owner: usize,
        text: &str,
        decide: bool,
    ) -> Result<(), DnfUpstreamError> {
        let mut unmet = Vec::new();
        match self.ensure(dep, owner, text, decide, &mut unmet)? {
            Outcome::Met => Ok(()),
            Outcome::Postponed => {
                self.postponed
                    .push_back((owner, dep.clone(), text.to_string()));
                Ok(())
            }
            Outcome::Unmet => {
                let mut chain = self.nodes[owner].chain.clone();
                chain.push(text.to_string());
                let message = match unmet.as_slice() {
                    [one] if one == text => format!("nothing provides it{}", self.hints(dep)),
                    _ => format!("nothing provides {}{}", unmet.join(", "), self.hints(dep)),
                };
                self.problem(chain, message);
                Ok(())
            }
        }
    }

    /// Why a requirement may be unmet: a name selected at another version, a package hidden
    /// by `excludepkgs`.
    fn hints(&self, dep: &Dep) -> String {
        let mut out = String::new();
        for s in dep.simples() {
            if let Some(&n) = self.by_name.get(s.name.as_str()) {
                let p = self.u.pkg(self.nodes[n].cand);
                if !s.version_matches(&p.evr) {
                    out.push_str(&format!(" ({} is selected at {})", s.name, p.evr));
                }
            }
            for repo in self.u.repos {
                for p in &repo.excluded {
                    let own = (Op::Eq, p.evr.clone());
                    let provides = (p.name == s.name
                        && overlaps(Some(&own), s.constraint.as_ref()))
                        || p.provides.iter().any(|e| {
                            e.name == s.name
                                && overlaps(e.constraint.as_ref(), s.constraint.as_ref())
                        });
                    if provides {
                        out.push_str(&format!(
                            " ({} of repo `{}` is hidden by its excludepkgs)",
                            p.nevra(),
                            repo.source.name
                        ));
                    }
                }
            }
        }
        out
    }
}

/// libsolv ignores `=` provides whose version looks like a hash (4 or more hex digits and
/// nothing else) when ordering candidates.
fn looks_like_hash(v: &str) -> bool {
    v.len() >= 4 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The operands, if all are simple.
fn all_simple(ds: &[Dep]) -> Option<Vec<&Simple>> {
    ds.iter()
        .map(|d| match d {
            Dep::Simple(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// For a `with` / `without` of simple operands: the first, those that must be provided by
/// the same package, and those that must not.
type OneProvider<'d> = (&'d Simple, Vec<&'d Simple>, Vec<&'d Simple>);

fn dep_simples(dep: &Dep) -> Option<OneProvider<'_>> {
    match dep {
        Dep::With(ds) => {
            let simples = all_simple(ds)?;
            let (&first, rest) = simples.split_first()?;
            Some((first, rest.to_vec(), Vec::new()))
        }
        Dep::Without(a, b) => match (a.as_ref(), b.as_ref()) {
            (Dep::Simple(a), Dep::Simple(b)) => Some((a, Vec::new(), vec![b])),
            _ => None,
        },
        _ => None,
    }
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
    let total = universe.pkgs.len();
    let mut s = Solver {
        u: &mut universe,
        filelists,
        node_of: vec![NONE; total],
        by_name: FxMap::default(),
        nodes: Vec::new(),
        queue: VecDeque::new(),
        postponed: VecDeque::new(),
        obsoletes: FxMap::default(),
        conflicts: FxMap::default(),
        problems: Vec::new(),
        seen_problems: HashSet::new(),
        choices: Vec::new(),
        filelists_loaded: Vec::new(),
        request_paths: requested
            .iter()
            .map(|r| r.name.as_str())
            .filter(|n| n.starts_with('/'))
            .collect(),
    };
    let mut missing = Vec::new();

    for req in requested {
        let label = req.wanted_by.clone();
        let why = Why::Requested {
            label: label.clone(),
        };
        let simple = Simple {
            name: req.name.clone(),
            constraint: None,
        };
        // By name first; only when no package has the name, by provide or file.
        let named =
            s.u.by_name
                .get(req.name.as_str())
                .cloned()
                .unwrap_or_default();
        let cands = if named.is_empty() {
            s.providers(&simple)?
        } else {
            named
        };
        if let Some(&c) = cands.iter().find(|&&c| s.selected(c)) {
            s.add_why(c, why);
            continue;
        }
        match s.best(&cands) {
            Some(c) => {
                let name = &s.u.pkg(c).name;
                let head = if *name == req.name {
                    name.clone()
                } else {
                    format!("{} ({name})", req.name)
                };
                s.select(c, why, vec![label, head]);
            }
            None if opts.allow_missing && cands.is_empty() => missing.push(Missing {
                name: req.name.clone(),
                wanted_by: label,
            }),
            None => {
                let hints = s.hints(&Dep::Simple(simple));
                s.problem(vec![label], format!("nothing provides {}{hints}", req.name));
            }
        }
    }

    // Requirements with one candidate are followed first (the queue), those with several
    // wait (postponed) and are decided one at a time, each decision followed before the
    // next, as libsolv does. Requirements with `if` / `unless` are evaluated again until
    // nothing changes.
    let mut conditional: Vec<Requirement> = Vec::new();
    loop {
        while let Some(i) = s.queue.pop_front() {
            let p = s.u.pkg(s.nodes[i].cand);
            for e in &p.requires {
                if e.name.starts_with("rpmlib(") {
                    continue;
                }
                let dep = match e.dep() {
                    Ok(d) => d,
                    Err(err) => {
                        let chain = s.nodes[i].chain.clone();
                        s.problem(chain, format!("unreadable requirement: {err}"));
                        continue;
                    }
                };
                let text = dep.to_string();
                s.require(&dep, i, &text, false)?;
                if has_conditional(&dep) {
                    conditional.push((i, dep, text));
                }
            }
        }
        if let Some((i, dep, text)) = s.postponed.pop_front() {
            s.require(&dep, i, &text, true)?;
            continue;
        }
        let before = s.nodes.len();
        for (i, dep, text) in &conditional {
            s.require(dep, *i, text, false)?;
        }
        if s.nodes.len() == before && s.postponed.is_empty() {
            break;
        }
    }

    if !s.problems.is_empty() {
        return Err(DnfClosureError::Unresolvable {
            problems: s.problems,
        });
    }
    let conflicts = find_conflicts(&s);
    let choices = std::mem::take(&mut s.choices);
    let filelists_loaded = std::mem::take(&mut s.filelists_loaded);
    let u = &*s.u;
    let mut packages: Vec<Selected> = s
        .nodes
        .into_iter()
        .map(|n| {
            let (r, p) = u.pkgs[n.cand as usize];
            let mut why = n.why;
            why.sort();
            why.dedup();
            Selected {
                name: p.name.clone(),
                evr: p.evr.clone(),
                arch: p.arch.clone(),
                repo: repos[r].source.name.clone(),
                repo_index: r,
                package: p.clone(),
                why,
            }
        })
        .collect();
    packages.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.arch.cmp(&b.arch)));
    Ok(DnfClosure {
        packages,
        choices,
        missing,
        conflicts,
        filelists_loaded,
    })
}

/// Conflicts and obsoletes between selected packages.
fn find_conflicts(s: &Solver<'_, '_>) -> Vec<Conflict> {
    let mut out = Vec::new();
    for n in &s.nodes {
        let p = s.u.pkg(n.cand);
        for e in &p.conflicts {
            let Ok(dep) = e.dep() else { continue };
            let hit: Vec<Cand> = match &dep {
                Dep::Simple(simple) => {
                    s.u.providers(simple)
                        .into_iter()
                        .filter(|&o| o != n.cand && s.selected(o))
                        .collect()
                }
                rich => {
                    let holds = rich.eval(&mut |x: &Simple| {
                        s.u.providers(x)
                            .iter()
                            .any(|&o| o != n.cand && s.selected(o))
                    });
                    if holds {
                        out.push(Conflict {
                            package: p.nevra(),
                            relation: format!("conflicts with {rich}"),
                            with: String::new(),
                        });
                    }
                    Vec::new()
                }
            };
            for o in hit {
                out.push(Conflict {
                    package: p.nevra(),
                    relation: format!("conflicts with {dep}"),
                    with: s.u.pkg(o).nevra(),
                });
            }
        }
        for e in &p.obsoletes {
            if let Some(&m) = s.by_name.get(e.name.as_str()) {
                let o = s.nodes[m].cand;
                // A package obsoleting its own name (older versions) is routine.
                if o != n.cand && entry_hits(e, s.u.pkg(o)) {
                    let dep = e.dep().map(|d| d.to_string()).unwrap_or(e.name.clone());
                    out.push(Conflict {
                        package: p.nevra(),
                        relation: format!("obsoletes {dep}"),
                        with: s.u.pkg(o).nevra(),
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
    use crate::dnf::primary::{Checksum, FileEntry, FileKind};
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
        assert_eq!(
            problems(&[a], &["x", "y"]),
            ["ext y -> y -> lib >= 2: nothing provides it (lib is selected at 1-1)"]
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
        // unless / else.
        assert_eq!(names(&run(std::slice::from_ref(&a), &["u"])), ["tiny", "u"]);
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
    fn obsoleted_provider_avoided_and_conflicts_reported() {
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
        // Unavoidable conflicts are reported, not errors.
        let c = run(
            std::slice::from_ref(&a),
            &["x", "y", "new-thing", "aa-old-mta"],
        );
        let got: Vec<String> = c.conflicts.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "x-1-1.x86_64 conflicts with y < 2 (y-1-1.x86_64)",
                "new-thing-2-1.x86_64 obsoletes aa-old-mta < 2 (aa-old-mta-1-1.x86_64)",
            ]
        );
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
