//! The solving core of the closures: a CDCL SAT solver over package literals that decides
//! the way libsolv (dnf's solver) decides, so that a closure holds what the node's package
//! manager would install, not merely some set that installs.
//!
//! A family (dnf, apt) turns its packages into [`RuleSet`] clauses (requirements,
//! conflicts, obsoletes, one version per name) and its requests into jobs, and supplies the
//! preference among candidates ([`Family::filter_unwanted`], libsolv's
//! `policy_filter_unwanted`). The solver then follows libsolv's `solver_run_sat` step by step:
//! assertions and unit propagation (two watched literals), jobs in order, then every open
//! rule in rule order (rules whose candidates the policy cannot narrow to one wait for a
//! second pass), conflicts analysed into learnt rules with a backjump (first UIP), each free
//! choice kept as a branch, and at the end libsolv's minimisation: a choice whose unchosen
//! alternative got installed anyway is taken back in favour of that alternative. A conflict at
//! the top level makes the jobs involved a problem: they are set aside, with the rules that
//! prove it, and solving goes on with the others.
//!
//! A family whose package manager decides in another order (apt marks depth first, see
//! `apt::policy`) hands the solver its choices one by one instead ([`Family::next_choice`])
//! and may do without the minimisation ([`Family::minimizes`]); conflicts, learning and
//! backjumping stay the same. The dnf closure leaves both at their defaults.
//!
//! Why not `resolvo` (the CDCL solver of rattler/pixi, also modelled on libsolv): evaluated,
//! not taken. resolvo 0.12.2 (rust-version 1.85.1: builds with our rustc 1.95, though above
//! the workspace's declared 1.85) models one candidate per *name*, chosen from version sets
//! of that name, plus "constrains" on other names and conditional requirements on version
//! sets. rpm's virtual provides (a soname offered by packages of many names), obsoletes
//! matched by name and range, conflicts on provides and the rich-dependency algebra
//! (`if`/`else`/`unless` become clauses with negative literals, see `dnf::rules`) would all
//! have to be encoded around that model, and above all its decision order (its own
//! candidate sorting and requirement order, async `DependencyProvider` callbacks) is not
//! libsolv's, so wherever there is a choice it can pick a different, equally valid set than
//! dnf: the very property the closure exists for (the bundle holds what the node's dnf
//! installs). It would also bring ahash, elsa, event-listener, futures, indexmap,
//! itertools 0.15, petgraph 0.8 and tracing into the lock file. This core is ~800 lines,
//! follows libsolv's `solver.c`/`policy.c`/`rules.c` function by function, and is measured
//! against real dnf by `builder/tests/dnf_solver.rs`: on 3,000 random worlds (about 200
//! packages each, two repositories) it picks dnf's set, or fails where dnf fails, on every
//! one; the greedy closure it replaced disagreed with dnf on 489 of the first 600.

mod rules;

pub use rules::{Id, Lit, RuleInfo, RuleKind, RuleSet};

/// libsolv's policy modes used when choosing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `POLICY_MODE_CHOOSE`: prune and reorder, the first is taken.
    Choose,
    /// `POLICY_MODE_CHOOSE_NOREORDER`: prune only (to see whether a rule is ambiguous).
    ChooseNoReorder,
}

/// What the family sees of the solver's state when it chooses.
#[derive(Clone, Copy)]
pub struct View<'a> {
    decisionmap: &'a [i32],
    trail: &'a [Lit],
}

impl View<'_> {
    /// Whether `p` is decided installed.
    pub fn installed(&self, p: Id) -> bool {
        self.decisionmap[p as usize] > 0
    }

    /// The packages decided installed, in decision order.
    pub fn installed_ids(&self) -> impl Iterator<Item = Id> + '_ {
        self.trail.iter().filter(|&&l| l > 0).map(|&l| l as Id)
    }

    /// `p`'s decision: installed (`Some(true)`), not installed (`Some(false)`), or open.
    pub fn value(&self, p: Id) -> Option<bool> {
        match self.decisionmap[p as usize] {
            0 => None,
            d => Some(d > 0),
        }
    }
}

/// The family's side of solving.
pub trait Family {
    /// libsolv's `policy_filter_unwanted`: prunes `dq` (never to empty) and, in
    /// [`Mode::Choose`], puts the best candidate first.
    fn filter_unwanted(&self, view: &View<'_>, dq: &mut Vec<Id>, mode: Mode);

    /// Whether an installed package recommends `p` or `p` supplements one (libsolv's
    /// `recommendsmap` / `solver_is_supplementing`), for the minimisation step.
    fn recommended(&self, _view: &View<'_>, _p: Id) -> bool {
        false
    }

    /// The family's own order of choices, asked after the jobs and again after every choice:
    /// the candidates of the next one (all open, the one to take first, the others its
    /// alternatives), or `None` to leave what is still open to libsolv's rule order (the
    /// default, all of it). A family choosing in the order its package manager marks
    /// packages (apt's depth-first `MarkInstall`) gets that manager's picks, while
    /// conflicts still undo choices as libsolv's would.
    fn next_choice(&self, _view: &View<'_>) -> Option<Vec<Id>> {
        None
    }

    /// Whether libsolv's minimisation runs at the end (a choice whose alternative got
    /// installed anyway is taken back). apt has no such step.
    fn minimizes(&self) -> bool {
        true
    }
}

/// Jobs that cannot be had together, and the rules that prove it.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The jobs set aside (indexes into the jobs given to [`solve`]).
    pub jobs: Vec<u32>,
    /// The rules of the proof (what they stand for, their literals), learnt rules replaced by
    /// the rules they came from.
    pub proof: Vec<(RuleInfo, Vec<Lit>)>,
}

/// The result of [`solve`].
#[derive(Debug, Clone)]
pub struct Solution {
    /// Installed packages, in the order they were decided.
    pub installed: Vec<Id>,
    /// Free decisions that stand: the package and the rule it was chosen for.
    pub choices: Vec<(Id, RuleInfo)>,
    pub problems: Vec<Problem>,
}

/// Solves: `ids` packages (ids `1..=ids`), `rules` the package rules (in any order; they are
/// sorted as libsolv sorts them), `jobs` the candidates of each request (ids ascending, none
/// empty).
pub fn solve<F: Family>(family: &F, ids: usize, mut rules: RuleSet, jobs: &[Vec<Id>]) -> Solution {
    rules.unify();
    let pkg_end = rules.len();
    for (j, cands) in jobs.iter().enumerate() {
        let lits: Vec<Lit> = cands.iter().map(|&c| c as Lit).collect();
        rules.push(&lits, RuleInfo::new(RuleKind::Job, 0, 0, j as u32));
    }
    let mut s = Solver::new(family, ids, rules, pkg_end);
    s.run();
    s.solution()
}

/// The solver's state, in libsolv's terms.
struct Solver<'f, F: Family> {
    fam: &'f F,
    rules: RuleSet,
    /// The two watched literals of each rule (unused for unary rules).
    watch: Vec<[Lit; 2]>,
    /// Rules watching each literal ([`slot`]); the end of a list is its front.
    watches: Vec<Vec<u32>>,
    disabled: Vec<bool>,
    pkg_end: usize,
    jobs_end: usize,
    /// For each learnt rule, the rules it was learnt from.
    learnt_why: Vec<Vec<u32>>,
    /// Unary rules, in rule order.
    assertions: Vec<usize>,
    /// Per id: the level it was decided at, negative when decided not installed, 0 undecided.
    decisionmap: Vec<i32>,
    trail: Vec<Lit>,
    /// Per trail entry: the rule that forced it (> 0), or minus the rule it was chosen for.
    why: Vec<i64>,
    propagate_index: usize,
    /// libsolv's branch records: `-chosen, others..., 0, rule, len + 4, level`.
    branches: Vec<i32>,
    problems: Vec<Problem>,
    scratch: Vec<u32>,
}

fn slot(l: Lit) -> usize {
    if l > 0 {
        2 * l as usize
    } else {
        2 * l.unsigned_abs() as usize + 1
    }
}

impl<'f, F: Family> Solver<'f, F> {
    fn new(fam: &'f F, ids: usize, rules: RuleSet, pkg_end: usize) -> Self {
        let n = rules.len();
        let mut s = Solver {
            fam,
            watch: vec![[0, 0]; n],
            watches: vec![Vec::new(); 2 * ids + 4],
            disabled: vec![false; n],
            pkg_end,
            jobs_end: n,
            learnt_why: Vec::new(),
            assertions: Vec::new(),
            decisionmap: vec![0; ids + 1],
            trail: Vec::new(),
            why: Vec::new(),
            propagate_index: 0,
            branches: Vec::new(),
            problems: Vec::new(),
            scratch: Vec::new(),
            rules,
        };
        // As libsolv's makewatches: the lowest rule ends up at the front of each list.
        for r in (1..n).rev() {
            let lits = s.rules.lits(r);
            if lits.len() < 2 {
                s.assertions.push(r);
                continue;
            }
            let w = [lits[0], lits[1]];
            s.watch[r] = w;
            s.watches[slot(w[0])].push(r as u32);
            s.watches[slot(w[1])].push(r as u32);
        }
        s.assertions.reverse();
        s
    }

    fn view(&self) -> View<'_> {
        View {
            decisionmap: &self.decisionmap,
            trail: &self.trail,
        }
    }

    fn dm(&self, l: Lit) -> i32 {
        self.decisionmap[l.unsigned_abs() as usize]
    }

    fn is_true(&self, l: Lit) -> bool {
        let d = self.dm(l);
        if l > 0 {
            d > 0
        } else {
            d < 0
        }
    }

    fn is_false(&self, l: Lit) -> bool {
        let d = self.dm(l);
        if l > 0 {
            d < 0
        } else {
            d > 0
        }
    }

    fn decide(&mut self, l: Lit, level: i32, why: i64) {
        self.decisionmap[l.unsigned_abs() as usize] = if l > 0 { level } else { -level };
        self.trail.push(l);
        self.why.push(why);
    }

    /// Unit propagation of every decision not yet propagated; the rule in conflict, if any.
    fn propagate(&mut self, level: i32) -> Option<usize> {
        while self.propagate_index < self.trail.len() {
            let f = -self.trail[self.propagate_index];
            self.propagate_index += 1;
            let list = std::mem::take(&mut self.watches[slot(f)]);
            let mut kept = std::mem::take(&mut self.scratch);
            kept.clear();
            let mut conflict = None;
            let mut i = list.len();
            while i > 0 {
                i -= 1;
                let r = list[i] as usize;
                if self.disabled[r] {
                    kept.push(r as u32);
                    continue;
                }
                let [w1, w2] = self.watch[r];
                let (other, first) = if w1 == f { (w2, true) } else { (w1, false) };
                if self.is_true(other) {
                    kept.push(r as u32);
                    continue;
                }
                let lits = self.rules.lits(r);
                if lits.len() >= 3 {
                    let p = lits[0];
                    let found = if p != other && !self.is_false(p) {
                        Some(p)
                    } else {
                        lits[1..]
                            .iter()
                            .copied()
                            .find(|&l| l != other && !self.is_false(l))
                    };
                    if let Some(l) = found {
                        self.watch[r][if first { 0 } else { 1 }] = l;
                        self.watches[slot(l)].push(r as u32);
                        continue;
                    }
                }
                kept.push(r as u32);
                if self.is_false(other) {
                    conflict = Some(r);
                    break;
                }
                self.decide(other, level, r as i64);
            }
            let mut rebuilt = list[..i].to_vec();
            rebuilt.extend(kept.iter().rev());
            self.watches[slot(f)] = rebuilt;
            self.scratch = kept;
            if conflict.is_some() {
                return conflict;
            }
        }
        None
    }

    /// libsolv's `analyze`: learns a rule from conflict `c` at `level` (first UIP), reverts
    /// to the level it asserts at and adds it. Returns that level and the rule.
    fn analyze(&mut self, level: i32, mut c: usize) -> (i32, usize) {
        let mut seen = vec![false; self.decisionmap.len()];
        let mut q: Vec<Lit> = Vec::new();
        let mut rlevel = 1;
        let (mut num, mut l1num) = (0u32, 0u32);
        let mut idx = self.trail.len();
        let mut used: Vec<u32> = Vec::new();
        let mut p: Lit = 0;
        'outer: loop {
            used.push(c as u32);
            for &v in self.rules.lits(c) {
                if self.is_true(v) {
                    continue;
                }
                let vv = v.unsigned_abs() as usize;
                if seen[vv] {
                    continue;
                }
                seen[vv] = true;
                let l = self.decisionmap[vv].abs();
                if l == 1 {
                    l1num += 1;
                } else if l == level {
                    num += 1;
                } else {
                    q.push(v);
                    rlevel = rlevel.max(l);
                }
            }
            loop {
                if num == 0 {
                    l1num = l1num.saturating_sub(1);
                    if l1num == 0 {
                        break 'outer;
                    }
                }
                let v = loop {
                    if idx == 0 {
                        break 'outer;
                    }
                    idx -= 1;
                    let v = self.trail[idx];
                    if seen[v.unsigned_abs() as usize] {
                        break v;
                    }
                };
                seen[v.unsigned_abs() as usize] = false;
                if num > 0 {
                    num -= 1;
                    if num == 0 {
                        p = -v;
                        if l1num == 0 {
                            break 'outer;
                        }
                        for &x in &q {
                            seen[x.unsigned_abs() as usize] = false;
                        }
                        l1num += 1;
                        continue;
                    }
                }
                let why = self.why[idx];
                if why <= 0 {
                    continue;
                }
                c = why as usize;
                continue 'outer;
            }
        }
        self.revert(rlevel);
        let mut lits = vec![p];
        lits.extend(&q);
        let r = self.rules.push(
            &lits,
            RuleInfo::new(RuleKind::Learnt, 0, 0, self.learnt_why.len() as u32),
        );
        self.learnt_why.push(used);
        self.watch.push([0, 0]);
        self.disabled.push(false);
        if lits.len() >= 2 {
            // watch2onhighest
            let mut w2 = lits[1];
            if lits.len() >= 3 {
                let mut wl = 0;
                for &v in &lits[1..] {
                    let l = self.dm(v).abs();
                    if l > wl {
                        w2 = v;
                        wl = l;
                    }
                }
            }
            self.watch[r] = [p, w2];
            self.watches[slot(p)].push(r as u32);
            self.watches[slot(w2)].push(r as u32);
        } else {
            self.assertions.push(r);
        }
        (rlevel, r)
    }

    /// A conflict at level 1: records the problem (the jobs involved and the proof), sets
    /// those jobs aside and starts again (0), or -1 if no job is involved.
    fn analyze_unsolvable(&mut self, c: usize) -> i32 {
        let mut involved = vec![false; self.decisionmap.len()];
        let mut proof: Vec<usize> = vec![c];
        for &v in self.rules.lits(c) {
            if !self.is_true(v) {
                involved[v.unsigned_abs() as usize] = true;
            }
        }
        for idx in (0..self.trail.len()).rev() {
            let vv = self.trail[idx].unsigned_abs() as usize;
            if !involved[vv] {
                continue;
            }
            let why = self.why[idx];
            if why <= 0 {
                continue;
            }
            let r = why as usize;
            proof.push(r);
            for &v in self.rules.lits(r) {
                if !self.is_true(v) {
                    involved[v.unsigned_abs() as usize] = true;
                }
            }
        }
        let mut infos = Vec::new();
        let mut jobs = Vec::new();
        let mut seen = std::collections::HashSet::new();
        while let Some(r) = proof.pop() {
            if !seen.insert(r) {
                continue;
            }
            let info = self.rules.info(r);
            match info.kind {
                RuleKind::Learnt => proof.extend(
                    self.learnt_why[info.dep as usize]
                        .iter()
                        .map(|&x| x as usize),
                ),
                RuleKind::Job => {
                    jobs.push(r);
                    infos.push((info, self.rules.lits(r).to_vec()));
                }
                _ => infos.push((info, self.rules.lits(r).to_vec())),
            }
        }
        infos.reverse();
        jobs.sort_unstable();
        self.problems.push(Problem {
            jobs: jobs.iter().map(|&r| self.rules.info(r).dep).collect(),
            proof: infos,
        });
        if jobs.is_empty() {
            return -1;
        }
        for r in jobs {
            self.disabled[r] = true;
        }
        self.reset();
        0
    }

    fn reset(&mut self) {
        for &l in &self.trail {
            self.decisionmap[l.unsigned_abs() as usize] = 0;
        }
        self.trail.clear();
        self.why.clear();
        self.propagate_index = 0;
        self.branches.clear();
        // Learnt rules stand only while every rule they came from is enabled.
        for k in 0..self.learnt_why.len() {
            let off = self.learnt_why[k]
                .iter()
                .any(|&u| self.disabled[u as usize]);
            self.disabled[self.jobs_end + k] = off;
        }
    }

    fn revert(&mut self, level: i32) {
        while let Some(&v) = self.trail.last() {
            let vv = v.unsigned_abs() as usize;
            if self.decisionmap[vv].abs() <= level {
                break;
            }
            self.decisionmap[vv] = 0;
            self.trail.pop();
            self.why.pop();
            self.propagate_index = self.trail.len();
        }
        while let [.., count, last] = self.branches[..] {
            if last < level {
                break;
            }
            let keep = self.branches.len() - count as usize;
            self.branches.truncate(keep);
        }
    }

    /// Decides `decision` (chosen for rule `rule`) at a new level and propagates, learning
    /// from conflicts. The level reached, 0 after a problem was set aside, -1 if hopeless.
    fn setpropagatelearn(&mut self, mut level: i32, decision: Lit, rule: usize) -> i32 {
        if decision != 0 {
            level += 1;
            self.decide(decision, level, -(rule as i64));
        }
        while let Some(r) = self.propagate(level) {
            if level == 1 {
                return self.analyze_unsolvable(r);
            }
            let (l, lr) = self.analyze(level, r);
            level = l;
            let d = self.rules.lits(lr)[0];
            self.decide(d, level, lr as i64);
        }
        level
    }

    fn select_and_install(&mut self, level: i32, dq: &mut Vec<Id>, rule: usize) -> i32 {
        if dq.len() > 1 {
            self.fam.filter_unwanted(&self.view(), dq, Mode::Choose);
        }
        if dq.len() > 1 {
            self.branches.push(-(dq[0] as i32));
            self.branches.extend(dq[1..].iter().map(|&p| p as i32));
            self.branches
                .extend([0, rule as i32, dq.len() as i32 + 4, level]);
        }
        self.setpropagatelearn(level, dq[0] as Lit, rule)
    }

    /// libsolv's `makeruledecisions`: unary rules decided at level 1; two that disagree make a
    /// problem of the jobs among them.
    fn make_rule_decisions(&mut self) {
        'again: loop {
            for &l in &self.trail {
                self.decisionmap[l.unsigned_abs() as usize] = 0;
            }
            self.trail.clear();
            self.why.clear();
            self.propagate_index = 0;
            for k in 0..self.assertions.len() {
                let ri = self.assertions[k];
                if self.disabled[ri] {
                    continue;
                }
                let v = self.rules.lits(ri)[0];
                if self.dm(v) == 0 {
                    self.decide(v, 1, ri as i64);
                    continue;
                }
                if self.is_true(v) {
                    continue;
                }
                if ri >= self.jobs_end {
                    self.disabled[ri] = true;
                    continue;
                }
                let Some(i) = self.trail.iter().position(|&x| x == -v) else {
                    continue;
                };
                let other = self.why[i] as usize;
                let mut jobs: Vec<usize> = Vec::new();
                if other < self.pkg_end {
                    jobs.push(ri);
                } else {
                    for &a in &self.assertions {
                        let lit = self.rules.lits(a)[0];
                        if a >= self.pkg_end
                            && a < self.jobs_end
                            && !self.disabled[a]
                            && lit.unsigned_abs() == v.unsigned_abs()
                        {
                            jobs.push(a);
                        }
                    }
                }
                jobs.retain(|&r| r >= self.pkg_end && r < self.jobs_end);
                self.problems.push(Problem {
                    jobs: jobs.iter().map(|&r| self.rules.info(r).dep).collect(),
                    proof: [ri, other]
                        .iter()
                        .map(|&r| (self.rules.info(r), self.rules.lits(r).to_vec()))
                        .collect(),
                });
                if jobs.is_empty() {
                    self.disabled[ri] = true;
                }
                for r in jobs {
                    self.disabled[r] = true;
                }
                continue 'again;
            }
            break;
        }
    }

    fn resolve_jobrules(&mut self, mut level: i32, dq: &mut Vec<Id>) -> i32 {
        let oldlevel = level;
        let mut i = self.pkg_end;
        while i < self.jobs_end {
            if self.disabled[i] || !self.open_candidates(i, dq) {
                i += 1;
                continue;
            }
            let olevel = level;
            level = self.select_and_install(level, dq, i);
            if level <= olevel {
                if level == olevel {
                    continue;
                }
                if level < oldlevel {
                    return level;
                }
                i = self.pkg_end;
                continue;
            }
            i += 1;
        }
        level
    }

    /// The undecided literals of a job rule, false if it holds already.
    fn open_candidates(&self, r: usize, dq: &mut Vec<Id>) -> bool {
        dq.clear();
        for &l in self.rules.lits(r) {
            if l < 0 {
                if self.dm(l) <= 0 {
                    return false;
                }
            } else {
                if self.dm(l) > 0 {
                    return false;
                }
                if self.dm(l) == 0 {
                    dq.push(l as Id);
                }
            }
        }
        !dq.is_empty()
    }

    /// The open positive literals of rule `r` if it is a choice to make (every negative
    /// literal's package installed, no positive one), as libsolv's `resolve_dependencies`.
    fn choice_candidates(&self, r: usize, dq: &mut Vec<Id>) -> bool {
        let lits = self.rules.lits(r);
        let p = lits[0];
        let nary = lits.len() >= 3;
        if p < 0 && (!nary || self.dm(p) <= 0) {
            return false;
        }
        dq.clear();
        if !nary {
            let w2 = lits.get(1).copied().unwrap_or(0);
            if w2 <= 0 || self.dm(p) != 0 || self.dm(w2) != 0 {
                return false;
            }
            dq.extend([p as Id, w2 as Id]);
            return true;
        }
        if p >= 0 {
            if self.dm(p) > 0 {
                return false;
            }
            if self.dm(p) == 0 {
                dq.push(p as Id);
            }
        }
        for &l in &lits[1..] {
            if l < 0 {
                if self.dm(l) <= 0 {
                    return false;
                }
            } else {
                if self.dm(l) > 0 {
                    return false;
                }
                if self.dm(l) == 0 {
                    dq.push(l as Id);
                }
            }
        }
        !dq.is_empty()
    }

    fn resolve_dependencies(&mut self, mut level: i32, dq: &mut Vec<Id>) -> i32 {
        let origlevel = level;
        let mut postponed: i64 = 0;
        let (mut i, mut n) = (0usize, 0usize);
        loop {
            i += 1;
            n += 1;
            let nrules = self.rules.len();
            if n >= nrules {
                if postponed <= 0 {
                    break;
                }
                i = postponed as usize;
                postponed = -1;
                n = 1;
            }
            if i >= nrules {
                i = 1;
            }
            if self.disabled[i] || !self.choice_candidates(i, dq) {
                continue;
            }
            if dq.len() > 1 && postponed >= 0 {
                self.fam
                    .filter_unwanted(&self.view(), dq, Mode::ChooseNoReorder);
                if dq.len() > 1 {
                    if postponed == 0 {
                        postponed = i as i64;
                    }
                    continue;
                }
            }
            level = self.select_and_install(level, dq, i);
            if level < origlevel {
                break;
            }
            n = 0;
        }
        level
    }

    /// The family's choices ([`Family::next_choice`]), each a decision of its own level (made
    /// for no rule) kept as a branch, until the family has none. The level reached, lower
    /// than `level` after a backjump below it.
    fn resolve_family(&mut self, mut level: i32) -> i32 {
        let origlevel = level;
        while let Some(mut dq) = self.fam.next_choice(&self.view()) {
            // Only open candidates can be chosen; a family's slip must not corrupt the trail.
            dq.retain(|&p| self.decisionmap[p as usize] == 0);
            let Some(&first) = dq.first() else { break };
            if dq.len() > 1 {
                self.branches.push(-(first as i32));
                self.branches.extend(dq[1..].iter().map(|&p| p as i32));
                self.branches.extend([0, 0, dq.len() as i32 + 4, level]);
            }
            level = self.setpropagatelearn(level, first as Lit, 0);
            if level < origlevel {
                break;
            }
        }
        level
    }

    /// libsolv's minimisation: the first branch one of whose other alternatives got
    /// installed later anyway (or, failing that, was recommended when the choice was not).
    fn minimize(&self) -> Option<(usize, usize)> {
        let view = self.view();
        let mut found = None;
        let mut endi = self.branches.len();
        while endi > 0 {
            let l = self.branches[endi - 1];
            let starti = endi - self.branches[endi - 2] as usize;
            let mut lastsi = None;
            for i in starti..endi - 4 {
                let p = self.branches[i];
                if p <= 0 {
                    continue;
                }
                if self.decisionmap[p as usize] > l {
                    found = Some((i, endi));
                    lastsi = None;
                    break;
                }
                if lastsi.is_none() && self.fam.recommended(&view, p as Id) {
                    lastsi = Some(i);
                }
            }
            if let Some(si) = lastsi {
                for i in starti..endi - 4 {
                    let p = -self.branches[i];
                    if p <= 0 || self.decisionmap[p as usize] != l + 1 {
                        continue;
                    }
                    if !self.fam.recommended(&view, p as Id) {
                        found = Some((si, endi));
                        break;
                    }
                }
            }
            endi = starti;
        }
        found
    }

    fn take_branch(&mut self, pos: usize, end: usize) -> i32 {
        let level = self.branches[end - 1];
        let p = self.branches[pos];
        self.branches[pos] = -p;
        let k = self
            .trail
            .iter()
            .position(|&l| self.dm(l).abs() > level)
            .unwrap_or(self.trail.len());
        let rule = self.why.get(k).map_or(0, |&w| (-w).max(0) as usize);
        self.branches[end - 1] = 0;
        self.revert(level);
        self.branches[end - 1] = level;
        self.setpropagatelearn(level, p, rule)
    }

    /// libsolv's `solver_run_sat`, for an install into an empty root without weak deps.
    fn run(&mut self) {
        let mut dq = Vec::new();
        let mut level = 0;
        let mut systemlevel = 1;
        loop {
            if level <= 0 {
                if level < 0 {
                    break;
                }
                self.make_rule_decisions();
                level = 1;
                if let Some(r) = self.propagate(1) {
                    level = self.analyze_unsolvable(r);
                    continue;
                }
                systemlevel = level + 1;
            }
            if level < systemlevel {
                let olevel = level;
                level = self.resolve_jobrules(level, &mut dq);
                if level < olevel {
                    continue;
                }
                systemlevel = level + 1;
            }
            let olevel = level;
            level = self.resolve_family(level);
            if level < olevel {
                continue;
            }
            level = self.resolve_dependencies(level, &mut dq);
            if level < olevel {
                continue;
            }
            if !self.fam.minimizes() {
                break;
            }
            if let Some((pos, end)) = self.minimize() {
                level = self.take_branch(pos, end);
                continue;
            }
            break;
        }
    }

    fn solution(self) -> Solution {
        let mut choices = Vec::new();
        for (k, &l) in self.trail.iter().enumerate() {
            let w = self.why[k];
            if l > 0 && w < 0 {
                choices.push((l as Id, self.rules.info((-w) as usize)));
            }
        }
        Solution {
            installed: self
                .trail
                .iter()
                .filter(|&&l| l > 0)
                .map(|&l| l as Id)
                .collect(),
            choices,
            problems: self.problems,
        }
    }
}

#[cfg(test)]
mod tests;
