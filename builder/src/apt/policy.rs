//! Which package the apt closure takes when several would do, and in which order it decides:
//! apt's, so that the closure holds what `apt-get install` installs.
//!
//! apt (2.6, `apt-get install` into an empty root: `TryToInstall`, then `MarkInstall` in
//! `depcache.cc`) first marks every requested package, then walks each one's dependencies
//! depth first, in field order (`Pre-Depends`, `Depends`, `Recommends`): a group a marked
//! package meets is left alone; otherwise the targets (see
//! [`super::universe::Universe::targets`]) are tried in turn, each marked and walked before
//! the next group, until one succeeds. [`AptPolicy::next_choice`] replays that walk over the
//! solver's decisions and hands it the first target left open: the solver installs it, and
//! when that leads to a conflict, learns why, and the next walk goes on to the next target.
//!
//! The walk keeps apt's own ways, even where a solver would not:
//! - It counts as marked only what it has reached itself: a package the solver already
//!   knows it must install, but that apt marks later, does not meet a group that comes
//!   earlier in apt's order (apt installs that group's first target, and the other later).
//! - A target is tried only if apt would try it: a dependency of it has a candidate at all
//!   (`IsInstallOk`), and nothing it conflicts with is marked and protected (the requests
//!   and what they need with no alternative; and, while a package's own dependencies are
//!   marked, that package: apt's `ScopedProtected`). A protected package's conflicts drop
//!   the candidates they hit for good.
//! - A target that cannot be installed is still walked as apt walks it: what its own
//!   dependencies marked before it failed stays marked (and meets later groups), and it is
//!   never tried again (apt drops its candidate).
//! - At the end apt drops what nothing marked needs (its autoremover, following
//!   `Recommends` and `Suggests` too), and with `Recommends` it puts some of that back: see
//!   [`AptPolicy::finish`].
//!
//! Where apt's marking goes on past a conflict, the closure does not follow it: apt marks a
//! target that conflicts with a marked package that is not protected by removing that
//! package (`MarkKeep`), or marks a package a marked one conflicts with, and leaves its
//! problem resolver to repair what breaks, by score, or to give up. The solver backtracks
//! instead. `builder/tests/apt_solver.rs` counts those worlds apart and checks that the
//! node's apt installs the closure's set from a repository of only that set.

use super::index::field;
use super::relation::parse_relations_for_arch;
use super::rules::{cand, id, DepGroup, Deps, TieBreak};
use super::universe::{Cand, Lookup, Universe};
use crate::closure::DepKind;
use crate::solver::{Family, Id, Mode, View};

/// apt's order over a [`Universe`], for the solver.
pub(super) struct AptPolicy<'p, 'a> {
    pub(super) u: &'p Universe<'a>,
    /// Per package, once the rules reached it.
    pub(super) deps: &'p [Option<Deps>],
    /// Per request: its candidates, best first.
    pub(super) jobs: &'p [Vec<Id>],
    /// apt installs `Recommends` (`APT::Install-Recommends`).
    pub(super) with_recommends: bool,
    /// apt's last key between equal providers.
    pub(super) ties: TieBreak<'p, 'a>,
}

/// A choice the walk went through: the package, its group, the target taken.
pub(super) type Taken = (Cand, usize, Cand);

impl Family for AptPolicy<'_, '_> {
    /// Never prunes: orders as a request's candidates are ordered (the candidate version
    /// first; for a name no package has, its providers by repository, then name).
    fn filter_unwanted(&self, _: &View<'_>, dq: &mut Vec<Id>, _: Mode) {
        dq.sort_by(|&a, &b| self.u.request_cmp(cand(a), cand(b)));
    }

    fn next_choice(&self, view: &View<'_>) -> Option<Vec<Id>> {
        let installed: Vec<Id> = view.installed_ids().collect();
        let value = |p| view.value(p);
        let mut w = Walk::new(self, &value, None);
        w.run(&installed).err()
    }

    fn minimizes(&self) -> bool {
        false
    }
}

/// What marking a package (or meeting a group) came to.
enum Step {
    Done,
    Failed,
    /// The solver has to decide this open target first (apt's next try).
    Open(Vec<Id>),
}

/// One replay of apt's marking over the solver's decisions.
struct Walk<'w, 'p, 'a> {
    p: &'w AptPolicy<'p, 'a>,
    value: &'w dyn Fn(Id) -> Option<bool>,
    /// Per solver id: marked for installation.
    marked: Vec<bool>,
    /// Per solver id: its dependencies walked.
    walked: Vec<bool>,
    /// Per solver id: tried and failed (apt drops its candidate).
    dropped: Vec<bool>,
    /// Per solver id: protected as apt protects (the requests, and what they need with no
    /// alternative, however deep): what conflicts with them cannot be marked.
    protected: Vec<bool>,
    /// Per solver id: being marked (its dependencies under way); apt protects it meanwhile
    /// (`ScopedProtected`).
    marking: Vec<bool>,
    taken: Option<&'w mut Vec<Taken>>,
}

impl<'w, 'p, 'a> Walk<'w, 'p, 'a> {
    fn new(
        p: &'w AptPolicy<'p, 'a>,
        value: &'w dyn Fn(Id) -> Option<bool>,
        taken: Option<&'w mut Vec<Taken>>,
    ) -> Self {
        let n = p.u.pkgs.len() + 1;
        Walk {
            p,
            value,
            marked: vec![false; n],
            walked: vec![false; n],
            dropped: vec![false; n],
            protected: vec![false; n],
            marking: vec![false; n],
            taken,
        }
    }

    fn groups(&self, c: Cand) -> &'w [DepGroup] {
        let deps: &'w [Option<Deps>] = self.p.deps;
        deps[c as usize].as_ref().map_or(&[], |d| &d.groups)
    }

    /// The requests (each the installed one of its candidates) are marked, then walked in
    /// order, then anything `installed` the walk has not reached (in that order). `Err`:
    /// the open target apt tries next, for the solver to decide.
    fn run(&mut self, installed: &[Id]) -> Result<(), Vec<Id>> {
        let value = self.value;
        let roots: Vec<Id> = self
            .p
            .jobs
            .iter()
            .filter_map(|c| c.iter().copied().find(|&p| value(p) == Some(true)))
            .collect();
        for &r in &roots {
            self.marked[r as usize] = true;
        }
        self.protect(&roots);
        for start in roots.into_iter().chain(installed.iter().copied()) {
            if self.walked[start as usize] {
                continue;
            }
            self.marked[start as usize] = true;
            self.walked[start as usize] = true;
            self.drop_conflicting(cand(start));
            // A request stays marked whatever its dependencies come to, as apt's does.
            for (gi, g) in self.groups(cand(start)).iter().enumerate() {
                if let Step::Open(open) = self.meet(cand(start), gi, g) {
                    return Err(open);
                }
            }
        }
        Ok(())
    }

    /// apt's protection (`MarkProtected`, propagated by `MarkInstall` of a protected
    /// package): the requests, then every package that is the one candidate meeting a
    /// `Pre-Depends` or `Depends` of a protected one.
    fn protect(&mut self, roots: &[Id]) {
        let mut work: Vec<Cand> = roots.iter().map(|&r| cand(r)).collect();
        while let Some(c) = work.pop() {
            if std::mem::replace(&mut self.protected[id(c) as usize], true) {
                continue;
            }
            for g in self.groups(c) {
                if g.kind == DepKind::Recommends {
                    continue;
                }
                let mut apts = g.cands.iter().filter(|&&t| self.p.u.is_candidate(t));
                if let (Some(&t), None) = (apts.next(), apts.next()) {
                    work.push(t);
                }
            }
        }
    }

    /// A protected package's conflicts: apt drops the candidates of what it hits, for good.
    fn drop_conflicting(&mut self, c: Cand) {
        if !self.protected[id(c) as usize] {
            return;
        }
        let deps: &'w [Option<Deps>] = self.p.deps;
        for &o in deps[c as usize].iter().flat_map(|d| &d.conflicts) {
            if !self.marked[id(o) as usize] {
                self.dropped[id(o) as usize] = true;
            }
        }
    }

    /// apt's `IsInstallOk`: every `Pre-Depends` and `Depends` group has a target that is
    /// marked, or that apt could still try (a candidate not dropped; in the second round
    /// any version the solver has not ruled out).
    fn install_ok(&self, c: Cand) -> bool {
        self.groups(c)
            .iter()
            .filter(|g| g.kind != DepKind::Recommends)
            .all(|g| g.cands.iter().any(|&t| self.available(t)))
    }

    fn available(&self, t: Cand) -> bool {
        let i = id(t) as usize;
        self.marked[i]
            || (!self.dropped[i]
                && (self.p.u.is_candidate(t) || (self.value)(id(t)) != Some(false)))
    }

    /// Whether apt would try `c` at all (and drops it if not for good): not dropped before,
    /// its `IsInstallOk`, and nothing it conflicts with marked and protected (or being
    /// marked itself, which apt protects meanwhile: `ScopedProtected`); apt removes what
    /// else it conflicts with first, and cannot remove those.
    fn may_try(&mut self, c: Cand) -> bool {
        let i = id(c) as usize;
        if self.dropped[i] || !self.install_ok(c) {
            self.dropped[i] = true;
            return false;
        }
        let deps: &'w [Option<Deps>] = self.p.deps;
        let hit = |&o: &Cand| {
            let o = id(o) as usize;
            self.marked[o] && (self.protected[o] || self.marking[o])
        };
        !deps[c as usize].iter().flat_map(|d| &d.conflicts).any(hit)
    }

    /// apt's `MarkInstall` of `c`, not yet marked: marked, then its groups met in order. A
    /// package the solver installs succeeds; one it has ruled out is marked only to see
    /// what its dependencies leave marked, then fails (a `Pre-Depends` or `Depends`
    /// nothing meets fails it earlier, as in apt).
    fn mark(&mut self, c: Cand) -> Step {
        let i = id(c) as usize;
        if self.marked[i] {
            return Step::Done;
        }
        self.marked[i] = true;
        self.walked[i] = true;
        self.drop_conflicting(c);
        self.marking[i] = true;
        let installs = (self.value)(id(c)) == Some(true);
        for (gi, g) in self.groups(c).iter().enumerate() {
            match self.meet(c, gi, g) {
                Step::Done => {}
                Step::Open(open) => return Step::Open(open),
                Step::Failed if installs || g.kind == DepKind::Recommends => {}
                Step::Failed => break,
            }
        }
        self.marking[i] = false;
        if !installs {
            self.marked[i] = false;
            self.dropped[i] = true;
            return Step::Failed;
        }
        Step::Done
    }

    /// Group `gi` (`g`) of `owner`: met by a marked package, or by the first target whose
    /// marking succeeds.
    fn meet(&mut self, owner: Cand, gi: usize, g: &DepGroup) -> Step {
        if g.cands.iter().any(|&t| self.marked[id(t) as usize]) {
            return Step::Done;
        }
        let mut k = 0;
        while k < g.cands.len() {
            // A run apt orders by package id is ordered only when the walk gets to it.
            let run = match g.ties.iter().find(|r| r.0 as usize == k) {
                Some(&(i, j)) => self.p.ties.order(&g.cands[i as usize..j as usize]),
                None => vec![g.cands[k]],
            };
            for &t in &run {
                match self.target(t) {
                    Step::Failed => continue,
                    Step::Open(open) => return Step::Open(open),
                    Step::Done => {
                        if g.alternatives.len() > 1 {
                            if let Some(taken) = self.taken.as_deref_mut() {
                                taken.push((owner, gi, t));
                            }
                        }
                        return Step::Done;
                    }
                }
            }
            k += run.len();
        }
        Step::Failed
    }

    /// One target of a group, as apt tries it: `Open` (the solver decides it first),
    /// marked (`Done`), or not (`Failed`).
    fn target(&mut self, t: Cand) -> Step {
        let value = (self.value)(id(t));
        // apt never tries a version that is not its name's candidate.
        if value == Some(false) && !self.p.u.is_candidate(t) {
            return Step::Failed;
        }
        if value != Some(true) && !self.may_try(t) {
            return Step::Failed;
        }
        if value.is_none() {
            return Step::Open(vec![id(t)]);
        }
        self.mark(t)
    }
}

impl AptPolicy<'_, '_> {
    /// What apt installs given the solver's final decisions (`installed`, all decided): the
    /// packages apt's marking reaches, less what its autoremover drops (see
    /// [`AptPolicy::kept`]); and the choices among alternatives apt made for them, in
    /// order.
    pub(super) fn finish(&self, installed: &[Id]) -> (Vec<bool>, Vec<Taken>) {
        let mut is = vec![false; self.u.pkgs.len() + 1];
        for &p in installed {
            is[p as usize] = true;
        }
        let mut taken = Vec::new();
        let marked = {
            let value = |p: Id| Some(is[p as usize]);
            let mut w = Walk::new(self, &value, Some(&mut taken));
            // Complete decisions leave nothing open.
            let _ = w.run(installed);
            w.marked
        };
        let kept = self.kept(&marked);
        taken.retain(|&(p, _, _)| kept[id(p) as usize]);
        (kept, taken)
    }

    /// apt's autoremover on a fresh install (`MarkAndSweep`, then `DoAutomaticRemove`
    /// drops new packages nothing needs): from the requests, every marked package meeting a
    /// `Pre-Depends`, `Depends`, `Recommends` or `Suggests` of a kept one (every
    /// alternative), whether or not `Recommends` are installed.
    fn kept(&self, marked: &[bool]) -> Vec<bool> {
        let u = self.u;
        let mut set = Lookup::new();
        let mut of_entry: Vec<Cand> = Vec::new();
        for c in (0..u.pkgs.len() as Cand).filter(|&c| marked[id(c) as usize]) {
            set.add(u.entry(c));
            of_entry.push(c);
        }
        let mut kept = vec![false; marked.len()];
        let mut work: Vec<Cand> = Vec::new();
        for cands in self.jobs {
            if let Some(&r) = cands.iter().find(|&&p| marked[p as usize]) {
                work.push(cand(r));
            }
        }
        while let Some(c) = work.pop() {
            if std::mem::replace(&mut kept[id(c) as usize], true) {
                continue;
            }
            let e = u.entry(c);
            let suggests = field(e.raw(), "Suggests");
            let fields = [e.pre_depends(), e.depends(), e.recommends(), suggests];
            for f in fields.into_iter().flatten() {
                let Ok(groups) = parse_relations_for_arch(f, u.target) else {
                    continue;
                };
                for rel in groups.iter().flatten() {
                    for k in set.find_all(rel, u.target) {
                        work.push(of_entry[k]);
                    }
                }
            }
        }
        if self.with_recommends {
            let mut saved = kept.clone();
            self.save_garbage(marked, &mut saved);
            // apt fails where that leaves a dependency unmet; the closure keeps what it needs.
            if self.closed(&saved) {
                kept = saved;
            }
        }
        kept
    }

    /// Whether every `Pre-Depends` and `Depends` of every package in `set` is met in it.
    fn closed(&self, set: &[bool]) -> bool {
        (0..self.u.pkgs.len() as Cand)
            .filter(|&c| set[id(c) as usize])
            .all(|c| {
                let groups = self.deps[c as usize].iter().flat_map(|d| &d.groups);
                groups
                    .filter(|g| g.kind != DepKind::Recommends)
                    .all(|g| g.cands.iter().any(|&t| set[id(t) as usize]))
            })
    }

    /// `DoAutomaticRemove`'s second thoughts: when a kept package is left with a
    /// `Recommends` nothing kept meets (apt counts it "policy broken"), apt puts back every
    /// dropped package that a kept one names in a `Pre-Depends`, `Depends` or `Recommends`
    /// (by its name or a name it provides), whatever the version asked for, again and
    /// again, without installing their own dependencies.
    fn save_garbage(&self, marked: &[bool], kept: &mut [bool]) {
        let u = self.u;
        let in_kept = |kept: &[bool]| {
            (0..u.pkgs.len() as Cand)
                .filter(|&c| kept[id(c) as usize])
                .collect::<Vec<_>>()
        };
        let mut set = Lookup::new();
        for c in in_kept(kept) {
            set.add(u.entry(c));
        }
        let policy_broken = in_kept(kept).into_iter().any(|c| {
            let recommends = u
                .entry(c)
                .recommends()
                .map(|f| parse_relations_for_arch(f, u.target));
            let Some(Ok(groups)) = recommends else {
                return false;
            };
            groups
                .iter()
                .any(|g| g.iter().all(|r| set.find(r, u.target).is_none()))
        });
        if !policy_broken {
            return;
        }
        // The names kept packages ask for, as apt's reverse dependencies see them.
        let mut named: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut work = in_kept(kept);
        let mut garbage: Vec<Cand> = (0..u.pkgs.len() as Cand)
            .filter(|&c| marked[id(c) as usize] && !kept[id(c) as usize])
            .collect();
        while let Some(c) = work.pop() {
            let e = u.entry(c);
            for f in [e.pre_depends(), e.depends(), e.recommends()]
                .into_iter()
                .flatten()
            {
                if let Ok(groups) = parse_relations_for_arch(f, u.target) {
                    named.extend(groups.into_iter().flatten().map(|r| r.name));
                }
            }
            let (saved, rest): (Vec<Cand>, Vec<Cand>) = garbage.iter().partition(|&&g| {
                let e = u.entry(g);
                named.contains(e.package())
                    || super::universe::provides_of(e)
                        .iter()
                        .any(|(n, _)| named.contains(n))
            });
            for g in saved {
                kept[id(g) as usize] = true;
                work.push(g);
            }
            garbage = rest;
        }
    }
}
