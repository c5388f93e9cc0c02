//! What the apt closure says when it cannot be had: every requested package that does not
//! exist, every dependency nothing satisfies, each with the chain that led to it, and, when
//! the dependencies exist but cannot be installed together, the conflicts that stop them.
//!
//! The chains come from a walk like the one the closure made before it had a solver:
//! requests first, then breadth first, the first target of each group that can be
//! installed at all (another if its name is taken at another version), so that a missing
//! dependency is told where it is missing, e.g. `ext postgis -> postgresql-15-postgis-3 ->
//! libgdal32 (>= 3.6): no package provides libfoo (>= 2)`. Requests the solver failed on
//! that the walk finds nothing wrong with (conflicts) are told from the solver's proof.

use std::collections::{HashMap, VecDeque};

use super::rules::{cand, id, DepGroup, Deps, UNPARSABLE};
use super::universe::{Cand, Universe};
use crate::closure::{DepKind, Problem, Requested};
use crate::solver::{self, RuleKind};

/// Packages (by solver id) that can never be installed: a field that does not parse, a
/// dependency nothing meets, or one only such packages meet, however deep.
pub(super) fn doomed(deps: &[Option<Deps>]) -> Vec<bool> {
    let mut doomed = vec![false; deps.len() + 1];
    let critical = |g: &&DepGroup| g.kind != DepKind::Recommends;
    for (c, d) in deps.iter().enumerate() {
        if let Some(d) = d {
            if d.broken || d.groups.iter().filter(critical).any(|g| g.cands.is_empty()) {
                doomed[id(c as Cand) as usize] = true;
            }
        }
    }
    let mut changed = true;
    while changed {
        changed = false;
        for (c, d) in deps.iter().enumerate() {
            let me = id(c as Cand) as usize;
            let Some(d) = d else { continue };
            if doomed[me] {
                continue;
            }
            let stuck = d.groups.iter().filter(critical).any(|g| {
                !g.cands.contains(&(c as Cand)) && g.cands.iter().all(|&o| doomed[id(o) as usize])
            });
            if stuck {
                doomed[me] = true;
                changed = true;
            }
        }
    }
    doomed
}

/// A package the walk took, how it got there, and for which request.
struct Node {
    cand: Cand,
    chain: Vec<String>,
    request: usize,
}

/// The explaining walk.
pub(super) struct Teller<'t, 'a> {
    pub(super) u: &'t Universe<'a>,
    pub(super) deps: &'t [Option<Deps>],
    pub(super) doomed: &'t [bool],
    pub(super) requested: &'t [Requested],
    /// Per request: its candidates, best first (empty: no package has the name).
    pub(super) candidates: &'t [Vec<Cand>],
    /// Requests no repository has that are not problems (optional, or missing allowed).
    pub(super) forgiven: &'t [bool],
}

impl Teller<'_, '_> {
    /// Every problem: those the walk finds, then, for the solver's problems (`found`,
    /// their jobs indexes into `jobs`, the requests) whose requests the walk found nothing
    /// wrong with, what their proof says.
    pub(super) fn tell(&self, found: &[solver::Problem], jobs: &[usize]) -> Vec<Problem> {
        let (mut problems, blamed) = self.walk();
        for p in found {
            let mut requests = p.jobs.iter().filter_map(|&j| jobs.get(j as usize));
            if !requests.any(|&r| blamed[r]) {
                problems.push(self.tell_proof(p, jobs));
            }
        }
        problems
    }

    /// Every problem the walk finds, and which requests they belong to.
    fn walk(&self) -> (Vec<Problem>, Vec<bool>) {
        let mut problems = Vec::new();
        let mut blamed = vec![false; self.requested.len()];
        let mut nodes: Vec<Node> = Vec::new();
        let mut by_name: HashMap<&str, Cand> = HashMap::new();
        let mut queue = VecDeque::new();
        for (ri, req) in self.requested.iter().enumerate() {
            if by_name.contains_key(req.name.as_str()) {
                continue;
            }
            let cands = &self.candidates[ri];
            let free = |c: &&Cand| !by_name.contains_key(self.u.name(**c));
            let pick = cands
                .iter()
                .filter(free)
                .find(|&&c| !self.doomed[id(c) as usize])
                .or_else(|| cands.iter().find(free));
            match pick {
                Some(&c) => {
                    by_name.insert(self.u.name(c), c);
                    queue.push_back(nodes.len());
                    nodes.push(Node {
                        cand: c,
                        chain: vec![req.wanted_by.clone(), req.name.clone()],
                        request: ri,
                    });
                }
                None if self.forgiven[ri] => {}
                None => {
                    blamed[ri] = true;
                    problems.push(Problem {
                        chain: vec![req.wanted_by.clone()],
                        message: format!("no package named {}", req.name),
                    });
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let Some(deps) = &self.deps[nodes[i].cand as usize] else {
                continue;
            };
            for message in &deps.unparsable {
                blamed[nodes[i].request] = true;
                problems.push(Problem {
                    chain: nodes[i].chain.clone(),
                    message: message.clone(),
                });
            }
            for g in &deps.groups {
                if g.cands
                    .iter()
                    .any(|&c| by_name.get(self.u.name(c)) == Some(&c))
                {
                    continue;
                }
                let free = |k: &usize| !by_name.contains_key(self.u.name(g.cands[*k]));
                let pick = (0..g.cands.len())
                    .filter(free)
                    .find(|&k| !self.doomed[id(g.cands[k]) as usize])
                    .or_else(|| (0..g.cands.len()).find(free));
                match pick {
                    Some(k) => {
                        let c = g.cands[k];
                        by_name.insert(self.u.name(c), c);
                        let mut chain = nodes[i].chain.clone();
                        chain.push(g.alternatives[g.via[k] as usize].1.clone());
                        let request = nodes[i].request;
                        queue.push_back(nodes.len());
                        nodes.push(Node {
                            cand: c,
                            chain,
                            request,
                        });
                    }
                    None if g.kind == DepKind::Recommends => {}
                    None => {
                        blamed[nodes[i].request] = true;
                        problems.push(self.unsatisfied(&nodes[i].chain, g, &by_name));
                    }
                }
            }
        }
        (problems, blamed)
    }

    /// The problem for a group nothing satisfies, saying so when a name is selected at a
    /// version that does not fit.
    fn unsatisfied(
        &self,
        chain: &[String],
        g: &DepGroup,
        by_name: &HashMap<&str, Cand>,
    ) -> Problem {
        let mut message = format!("no package provides {}", g.text);
        for (name, _) in &g.alternatives {
            if let Some(&c) = by_name.get(name.as_str()) {
                message.push_str(&format!(
                    " ({name} is selected at {})",
                    self.u.entry(c).version()
                ));
            }
        }
        Problem {
            chain: chain.to_vec(),
            message,
        }
    }

    /// A problem of the solver's, told from its proof: the packages that cannot be
    /// installed together and the relation that stops them.
    fn tell_proof(&self, p: &solver::Problem, jobs: &[usize]) -> Problem {
        let u = self.u;
        let nv = |i: u32| {
            let c = cand(i);
            format!("{} {}", u.name(c), u.entry(c).version())
        };
        let mut why: Vec<String> = Vec::new();
        for (info, _) in &p.proof {
            let line = match info.kind {
                RuleKind::Conflicts => {
                    let deps = self.deps[cand(info.pkg) as usize].as_ref();
                    let (field, rel) = deps
                        .and_then(|d| d.negative.get(info.dep as usize))
                        .map_or(("Conflicts", String::new()), |(f, r)| (*f, r.clone()));
                    format!("{} {field}: {rel} ({})", nv(info.pkg), nv(info.other))
                }
                RuleKind::SameName => {
                    format!("{} and {} are one package", nv(info.pkg), nv(info.other))
                }
                RuleKind::NotInstallable if info.dep == UNPARSABLE => {
                    format!("{} has a field that does not parse", nv(info.pkg))
                }
                _ => continue,
            };
            if !why.contains(&line) {
                why.push(line);
            }
        }
        let first = p
            .jobs
            .first()
            .and_then(|&j| jobs.get(j as usize))
            .and_then(|&r| self.requested.get(r));
        let chain = first.map_or_else(Vec::new, |r| vec![r.wanted_by.clone(), r.name.clone()]);
        let names: Vec<&str> = p
            .jobs
            .iter()
            .filter_map(|&j| jobs.get(j as usize))
            .map(|&r| self.requested[r].name.as_str())
            .collect();
        let message = if why.is_empty() {
            format!("cannot be installed together: {}", names.join(", "))
        } else {
            format!("cannot be installed: {}", why.join("; "))
        };
        Problem { chain, message }
    }
}
