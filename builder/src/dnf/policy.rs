//! Which candidate the dnf closure takes when several would do: libsolv's
//! `policy_filter_unwanted`, where dnf's choices come from.
//!
//! In order: the best repository priority (lower number wins); per name the highest EVR (on
//! a tie the first in repository and metadata order); candidates another candidate obsoletes
//! go; packages an installed one recommends or that supplement one are kept if any. To pick
//! (not only to see whether a choice is left): packages of which a better build exists go
//! last (`dislike_old_versions`), then those providing a lower version of something another
//! candidate provides (`sort_by_common_dep`), then suggested or enhancing ones go first;
//! otherwise by name, in byte order. Nothing prefers the package named like the
//! requirement, as in libsolv.

use std::cmp::Ordering;

use super::primary::DepEntry;
use super::rich::{Dep, Op};
use super::rules::{cand, id};
use super::universe::{entry_hits, Cand, Universe};
use super::version::Evr;
use crate::solver::{Family, Id, Mode, View};

/// libsolv's policy over a [`Universe`].
pub(super) struct Policy<'u, 'a> {
    pub(super) u: &'u Universe<'a>,
}

impl Family for Policy<'_, '_> {
    fn filter_unwanted(&self, view: &View<'_>, dq: &mut Vec<Id>, mode: Mode) {
        if dq.len() > 1 {
            self.prune_to_highest_prio(dq);
        }
        if dq.len() > 1 {
            self.prune_to_best_version(dq);
        }
        if dq.len() > 1 && self.u.weak {
            self.prune_to_recommended(view, dq);
        }
        if dq.len() > 1 && mode == Mode::Choose {
            self.dislike_old_versions(dq);
            self.sort_by_common_dep(dq);
            if self.u.weak {
                self.prefer_suggested(view, dq);
            }
        }
    }

    fn recommended(&self, view: &View<'_>, p: Id) -> bool {
        self.u.weak
            && (self.weakly_wanted(view, p, |q| &q.recommends) || self.supplementing(view, p))
    }
}

impl Policy<'_, '_> {
    fn prio(&self, p: Id) -> u32 {
        self.u.repo(cand(p)).source.priority
    }

    fn name(&self, p: Id) -> &str {
        &self.u.pkg(cand(p)).name
    }

    fn evr(&self, p: Id) -> &Evr {
        &self.u.pkg(cand(p)).evr
    }

    fn prune_to_highest_prio(&self, dq: &mut Vec<Id>) {
        if let Some(best) = dq.iter().map(|&p| self.prio(p)).min() {
            dq.retain(|&p| self.prio(p) == best);
        }
    }

    /// Sorted by name, the highest EVR of each; then what another candidate obsoletes goes.
    fn prune_to_best_version(&self, dq: &mut Vec<Id>) {
        dq.sort_by(|&a, &b| self.name(a).cmp(self.name(b)).then(a.cmp(&b)));
        let mut best: Vec<Id> = Vec::with_capacity(dq.len());
        for &p in dq.iter() {
            match best.last_mut() {
                Some(b) if self.name(*b) == self.name(p) => {
                    if self.evr(p) > self.evr(*b) {
                        *b = p;
                    }
                }
                _ => best.push(p),
            }
        }
        *dq = best;
        if dq.len() > 1 {
            self.prune_obsoleted(dq);
        }
    }

    fn obsoletes(&self, a: Id, b: Id) -> bool {
        let (pa, pb) = (self.u.pkg(cand(a)), self.u.pkg(cand(b)));
        pa.name != pb.name && pa.obsoletes.iter().any(|e| entry_hits(e, pb))
    }

    /// libsolv's `prune_obsoleted`: a candidate another one obsoletes goes, unless they
    /// obsolete each other (a cycle nothing outside obsoletes stays whole).
    fn prune_obsoleted(&self, dq: &mut Vec<Id>) {
        let n = dq.len();
        if !dq
            .iter()
            .any(|&p| !self.u.pkg(cand(p)).obsoletes.is_empty())
        {
            return;
        }
        // reach[i][j]: i obsoletes j, transitively.
        let mut reach = vec![vec![false; n]; n];
        for i in 0..n {
            for j in 0..n {
                reach[i][j] = i != j && self.obsoletes(dq[i], dq[j]);
            }
        }
        let direct = reach.clone();
        for k in 0..n {
            let via = reach[k].clone();
            for row in reach.iter_mut() {
                if row[k] {
                    for (to, &r) in row.iter_mut().zip(&via) {
                        *to |= r;
                    }
                }
            }
        }
        let gone: Vec<bool> = (0..n)
            .map(|j| (0..n).any(|i| direct[i][j] && !reach[j][i]))
            .collect();
        let mut k = 0;
        dq.retain(|_| {
            k += 1;
            !gone[k - 1]
        });
    }

    fn dislike_old_versions(&self, dq: &mut Vec<Id>) {
        let old = |p: Id| {
            let c = cand(p);
            let pk = self.u.pkg(c);
            let prio = self.prio(p);
            self.u.named(&pk.name).iter().any(|&o| {
                let q = self.u.pkg(o);
                let qprio = self.prio(id(o));
                o != c && q.arch == pk.arch && (qprio < prio || (qprio == prio && q.evr > pk.evr))
            })
        };
        let (good, bad): (Vec<Id>, Vec<Id>) = dq.iter().partition(|&&p| !old(p));
        *dq = good.into_iter().chain(bad).collect();
    }

    /// libsolv's `sort_by_common_dep`: a candidate providing something at a lower version
    /// than another candidate provides it goes after, by how often that happens.
    fn sort_by_common_dep(&self, dq: &mut Vec<Id>) {
        // (candidate index, provided name, version, `<` entry)
        let mut entries: Vec<(usize, &str, &Evr, bool)> = Vec::new();
        for (i, &p) in dq.iter().enumerate() {
            let pk = self.u.pkg(cand(p));
            let own = pk.provides.iter().any(|e| is_own(e, &pk.name, &pk.evr));
            if !own {
                entries.push((i, &pk.name, &pk.evr, false));
            }
            for e in &pk.provides {
                let Some((op, evr)) = &e.constraint else {
                    continue;
                };
                let lt = match op {
                    Op::Eq if looks_like_hash(&evr.to_string()) => continue,
                    Op::Eq | Op::Le => false,
                    Op::Lt => true,
                    _ => continue,
                };
                entries.push((i, &e.name, evr, lt));
            }
        }
        if entries.len() < 2 {
            return;
        }
        let cmp = |a: &(usize, &str, &Evr, bool), b: &(usize, &str, &Evr, bool)| {
            a.1.cmp(b.1).then_with(|| {
                if a.3 == b.3 && a.2.to_string() == b.2.to_string() {
                    return Ordering::Equal;
                }
                match b.2.cmp_dep(a.2) {
                    Ordering::Equal if a.3 != b.3 => a.3.cmp(&b.3),
                    r => r,
                }
            })
        };
        entries.sort_by(cmp);
        let mut badness = vec![0usize; dq.len()];
        let mut bad = 0;
        for k in 0..entries.len() {
            if k > 0 && entries[k - 1].1 == entries[k].1 {
                if entries[k - 1].0 != entries[k].0
                    && cmp(&entries[k - 1], &entries[k]) == Ordering::Less
                {
                    bad += 1;
                }
            } else {
                bad = 0;
            }
            badness[entries[k].0] += bad;
        }
        if badness.iter().all(|&b| b == 0) {
            return;
        }
        let mut ranked: Vec<(usize, Id)> = dq
            .iter()
            .enumerate()
            .map(|(i, &p)| (badness[i], p))
            .collect();
        ranked.sort_by_key(|&(b, _)| b);
        *dq = ranked.into_iter().map(|(_, p)| p).collect();
    }

    fn prune_to_recommended(&self, view: &View<'_>, dq: &mut Vec<Id>) {
        let keep: Vec<Id> = dq
            .iter()
            .copied()
            .filter(|&p| self.recommended(view, p))
            .collect();
        if !keep.is_empty() {
            *dq = keep;
        }
    }

    fn prefer_suggested(&self, view: &View<'_>, dq: &mut Vec<Id>) {
        let (good, rest): (Vec<Id>, Vec<Id>) = dq.iter().partition(|&&p| {
            self.weakly_wanted(view, p, |q| &q.suggests) || self.enhancing(view, p)
        });
        *dq = good.into_iter().chain(rest).collect();
    }

    /// Whether an installed package names `p` in the weak dependency list `list` picks.
    fn weakly_wanted(
        &self,
        view: &View<'_>,
        p: Id,
        list: fn(&super::primary::RpmPackage) -> &Vec<DepEntry>,
    ) -> bool {
        view.installed_ids().any(|i| {
            list(self.u.pkg(cand(i))).iter().any(|e| match e.dep() {
                Ok(d) => self.targets(view, &d).contains(&cand(p)),
                Err(_) => false,
            })
        })
    }

    /// The packages a weak dependency points at, given what is installed.
    fn targets(&self, view: &View<'_>, d: &Dep) -> Vec<Cand> {
        match d {
            Dep::Simple(s) => self.u.providers(s),
            Dep::And(ds) | Dep::Or(ds) | Dep::With(ds) => {
                ds.iter().flat_map(|d| self.targets(view, d)).collect()
            }
            Dep::Without(a, _) => self.targets(view, a),
            Dep::If {
                then,
                cond,
                otherwise,
            } => {
                if self.holds(view, cond) {
                    self.targets(view, then)
                } else {
                    otherwise
                        .as_ref()
                        .map_or_else(Vec::new, |o| self.targets(view, o))
                }
            }
            Dep::Unless {
                then,
                cond,
                otherwise,
            } => {
                if self.holds(view, cond) {
                    otherwise
                        .as_ref()
                        .map_or_else(Vec::new, |o| self.targets(view, o))
                } else {
                    self.targets(view, then)
                }
            }
        }
    }

    fn holds(&self, view: &View<'_>, d: &Dep) -> bool {
        d.eval(&mut |s| self.u.providers(s).iter().any(|&c| view.installed(id(c))))
    }

    /// `p` supplements something installed.
    fn supplementing(&self, view: &View<'_>, p: Id) -> bool {
        let deps = &self.u.pkg(cand(p)).supplements;
        deps.iter()
            .any(|e| e.dep().is_ok_and(|d| self.holds(view, &d)))
    }

    fn enhancing(&self, view: &View<'_>, p: Id) -> bool {
        let deps = &self.u.pkg(cand(p)).enhances;
        deps.iter()
            .any(|e| e.dep().is_ok_and(|d| self.holds(view, &d)))
    }
}

fn is_own(e: &DepEntry, name: &str, evr: &Evr) -> bool {
    e.name == name && matches!(&e.constraint, Some((Op::Eq, v)) if v == evr)
}

/// libsolv ignores `=` provides whose version looks like a hash (4 or more hex digits and
/// nothing else) when ordering candidates.
fn looks_like_hash(v: &str) -> bool {
    v.len() >= 4 && v.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
