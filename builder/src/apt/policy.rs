//! Which package the apt closure takes when several would do, and in which order it decides:
//! apt's, so that the closure holds what `apt-get install` installs.
//!
//! apt (2.6, `apt-get install` into an empty root: `TryToInstall`, then `MarkInstall` in
//! `depcache.cc`) first marks every requested package, then walks each one's dependencies
//! depth first, in field order (`Pre-Depends`, `Depends`, `Recommends`): a group a marked
//! package meets is left alone; otherwise the first of its targets (see
//! [`super::universe::Universe::targets`]) that can be installed is marked and walked in
//! turn, before the next group. [`AptPolicy::next_choice`] replays that walk over the
//! solver's decisions and hands it the first group left open: the solver takes the first
//! open target, and when that leads to a conflict, learns why and takes the next one. The
//! walk counts as marked only what it has reached itself, as apt does: a package the
//! solver already knows it must install, but that the walk has not reached yet, does not
//! meet a group that comes earlier in apt's order (apt installs the group's first target
//! there, and the other one later). apt keeps no choice once made when a later conflict
//! shows it was wrong (its problem resolver then removes packages or gives up, see
//! `builder/tests/apt_solver.rs`); the solver backtracks instead.

use super::rules::{cand, id, Deps};
use super::universe::{Cand, Universe};
use crate::solver::{Family, Id, Mode, View};

/// apt's order over a [`Universe`], for the solver.
pub(super) struct AptPolicy<'p, 'a> {
    pub(super) u: &'p Universe<'a>,
    /// Per package, once the rules reached it.
    pub(super) deps: &'p [Option<Deps>],
    /// Per request: its candidates, best first.
    pub(super) jobs: &'p [Vec<Id>],
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
        self.walk(&|p| view.value(p), &installed, None)
    }

    fn minimizes(&self) -> bool {
        false
    }
}

impl AptPolicy<'_, '_> {
    fn deps(&self, c: Cand) -> &[super::rules::DepGroup] {
        self.deps[c as usize].as_ref().map_or(&[], |d| &d.groups)
    }

    /// Replays apt's marking over the decisions (`value`: installed, not, or open): the
    /// requests (each the installed one of its candidates) are marked, then walked in order,
    /// then anything `installed` the walk has not reached (in that order). Returns the open
    /// targets of the first group that needs a choice, from the one apt would take on;
    /// `None` when every group is met. `taken` receives every choice among alternatives the
    /// walk goes through.
    pub(super) fn walk(
        &self,
        value: &dyn Fn(Id) -> Option<bool>,
        installed: &[Id],
        mut taken: Option<&mut Vec<Taken>>,
    ) -> Option<Vec<Id>> {
        let n = self.u.pkgs.len() + 1;
        let mut marked = vec![false; n];
        let mut walked = vec![false; n];
        let roots: Vec<Id> = self
            .jobs
            .iter()
            .filter_map(|c| c.iter().copied().find(|&p| value(p) == Some(true)))
            .collect();
        for &r in &roots {
            marked[r as usize] = true;
        }
        for start in roots.into_iter().chain(installed.iter().copied()) {
            if walked[start as usize] {
                continue;
            }
            marked[start as usize] = true;
            walked[start as usize] = true;
            let mut stack: Vec<(Cand, usize)> = vec![(cand(start), 0)];
            while let Some(top) = stack.last_mut() {
                let (p, gi) = *top;
                let Some(g) = self.deps(p).get(gi) else {
                    stack.pop();
                    continue;
                };
                top.1 += 1;
                if g.cands.iter().any(|&c| marked[id(c) as usize]) {
                    continue;
                }
                let Some(k) = g
                    .cands
                    .iter()
                    .position(|&c| value(id(c)) != Some(false))
                else {
                    // Only a `Recommends` can be left unmet.
                    continue;
                };
                let c = g.cands[k];
                if value(id(c)).is_none() {
                    let open = g.cands[k..].iter().map(|&c| id(c));
                    return Some(open.filter(|&p| value(p).is_none()).collect());
                }
                if g.alternatives.len() > 1 {
                    if let Some(t) = taken.as_deref_mut() {
                        t.push((p, gi, c));
                    }
                }
                marked[id(c) as usize] = true;
                walked[id(c) as usize] = true;
                stack.push((c, 0));
            }
        }
        None
    }
}
