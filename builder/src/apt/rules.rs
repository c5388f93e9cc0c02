//! The apt closure's clauses, for every package the requests can reach, from apt's fields:
//!
//! - `Pre-Depends`, `Depends`: `-pkg | targets...`, the targets of each alternative in
//!   turn: those apt tries, in its order ([`Universe::targets`]; equal providers are put in
//!   apt's order only when a choice gets to them, [`TieBreak`]), then that alternative's
//!   versions that are not their name's candidate (taken only where apt gives up, see
//!   [`super::closure`]). A group nothing meets: `-pkg` (not installable); a group an
//!   installed package meets, or the package itself: no rule.
//! - `Recommends` (with `--with-recommends`): no rule, apt drops what it cannot install;
//!   their targets are reached, for the choices ([`super::policy`]) to take.
//! - `Conflicts`, `Breaks` (as `Conflicts` for a fresh install): `-pkg | -other` for every
//!   version (real, or through a provide) they hit, except the package's own name.
//! - One version per name: `-a | -b`.
//!
//! A field that does not parse makes its package not installable.

use std::collections::VecDeque;

use super::relation::{group_to_string, parse_relations_for_arch, Group};
use super::universe::{Cand, Lookup, Mention, Universe};
use crate::closure::DepKind;
use crate::solver::{Id, Lit, RuleInfo, RuleKind, RuleSet};

/// The solver's id of a package of the universe.
pub(super) fn id(c: Cand) -> Id {
    c + 1
}

/// The package of a solver id.
pub(super) fn cand(i: Id) -> Cand {
    i - 1
}

/// `dep` of a not-installable rule for a field that does not parse.
pub(super) const UNPARSABLE: u32 = u32::MAX;

/// `dep` of a not-installable rule for a version that is not its name's candidate.
pub(super) const NOT_CANDIDATE: u32 = u32::MAX - 1;

/// One group of alternatives to install.
pub(super) struct DepGroup {
    pub(super) kind: DepKind,
    /// As written, e.g. `a (>= 1) | b`.
    pub(super) text: String,
    /// Its alternatives: (name, as written).
    pub(super) alternatives: Vec<(String, String)>,
    /// The packages meeting it: apt's solutions in apt's order, then the fallbacks.
    pub(super) cands: Vec<Cand>,
    /// Per package of `cands`: the first alternative it meets.
    pub(super) via: Vec<u16>,
    /// Runs of `cands` apt orders by its package ids ([`TieBreak`]), left as they are here.
    pub(super) ties: Vec<(u32, u32)>,
}

/// What the closure knows of one reached package.
#[derive(Default)]
pub(super) struct Deps {
    /// `Pre-Depends`, `Depends` (then `Recommends`, when followed), groups in field order;
    /// groups an installed package meets are left out.
    pub(super) groups: Vec<DepGroup>,
    /// `Conflicts` and `Breaks` relations, as (field, relation).
    pub(super) negative: Vec<(&'static str, String)>,
    /// The packages they hit.
    pub(super) conflicts: Vec<Cand>,
    /// Fields that do not parse, as `Field: error`.
    pub(super) unparsable: Vec<String>,
    /// Not installable for a field that does not parse (any but `Recommends`).
    pub(super) broken: bool,
}

/// Builds the rules of everything reachable from the job candidates.
pub(super) struct RuleBuilder<'r, 'a> {
    u: &'r Universe<'a>,
    installed: &'r Lookup<'r>,
    with_recommends: bool,
    pub(super) rules: RuleSet,
    /// Per package, once reached.
    pub(super) deps: Vec<Option<Deps>>,
    work: VecDeque<Cand>,
}

impl<'r, 'a> RuleBuilder<'r, 'a> {
    pub(super) fn new(
        u: &'r Universe<'a>,
        installed: &'r Lookup<'r>,
        with_recommends: bool,
    ) -> Self {
        RuleBuilder {
            u,
            installed,
            with_recommends,
            rules: RuleSet::default(),
            deps: (0..u.pkgs.len()).map(|_| None).collect(),
            work: VecDeque::new(),
        }
    }

    /// Adds the rules of `c` and of everything its dependencies can pull in.
    pub(super) fn add(&mut self, c: Cand) {
        self.work.push_back(c);
        while let Some(n) = self.work.pop_front() {
            if self.deps[n as usize].is_some() {
                continue;
            }
            let deps = self.package(n);
            self.deps[n as usize] = Some(deps);
        }
    }

    /// The rules of one package, and its [`Deps`].
    fn package(&mut self, n: Cand) -> Deps {
        let u = self.u;
        let entry = u.entry(n);
        let me = id(n) as Lit;
        let mut deps = Deps::default();
        let mut fields = vec![
            (DepKind::PreDepends, entry.pre_depends()),
            (DepKind::Depends, entry.depends()),
        ];
        if self.with_recommends {
            fields.push((DepKind::Recommends, entry.recommends()));
        }
        for (kind, field) in fields {
            let Some(field) = field else { continue };
            match parse_relations_for_arch(field, u.target) {
                Ok(groups) => {
                    for group in groups {
                        self.group(n, kind, &group, &mut deps);
                    }
                }
                Err(e) => {
                    deps.unparsable.push(format!("{}: {e}", kind.as_str()));
                    if kind != DepKind::Recommends {
                        deps.broken = true;
                        self.not_installable(n, UNPARSABLE);
                    }
                }
            }
        }
        for (name, field) in [("Conflicts", entry.conflicts()), ("Breaks", entry.breaks())] {
            let Some(field) = field else { continue };
            let groups = match parse_relations_for_arch(field, u.target) {
                Ok(groups) => groups,
                Err(e) => {
                    deps.unparsable.push(format!("{name}: {e}"));
                    deps.broken = true;
                    self.not_installable(n, UNPARSABLE);
                    continue;
                }
            };
            for rel in groups.into_iter().flatten() {
                let k = deps.negative.len() as u32;
                for o in u.meeting(&rel) {
                    if u.name(o) != entry.package() {
                        deps.conflicts.push(o);
                        let info = RuleInfo::new(RuleKind::Conflicts, id(n), id(o), k);
                        self.rules.push_pkg(&[-me, -(id(o) as Lit)], info);
                    }
                }
                deps.negative.push((name, rel.to_string()));
            }
        }
        for &o in u.named(entry.package()) {
            if o != n {
                let info = RuleInfo::new(RuleKind::SameName, id(n), id(o), 0);
                self.rules.push_pkg(&[-me, -(id(o) as Lit)], info);
            }
        }
        deps
    }

    fn not_installable(&mut self, n: Cand, dep: u32) {
        let info = RuleInfo::new(RuleKind::NotInstallable, id(n), 0, dep);
        self.rules.push_pkg(&[-(id(n) as Lit)], info);
    }

    /// One group: its requirement rule (none for `Recommends`), and its entry in `deps`.
    fn group(&mut self, n: Cand, kind: DepKind, group: &Group, deps: &mut Deps) {
        let u = self.u;
        if group
            .iter()
            .any(|r| self.installed.find(r, u.target).is_some())
        {
            return;
        }
        // Per alternative: apt's solutions, then the other versions. The others can only be
        // installed when apt's own choices fail ([`super::closure`]); then they come where
        // the node's apt, seeing only the versions the bundle holds, would take them.
        let mut found: Vec<(Cand, u16)> = Vec::new();
        for (a, rel) in group.iter().enumerate() {
            let (c, o) = u.targets(rel);
            found.extend(c.into_iter().chain(o).map(|c| (c, a as u16)));
        }
        let mut seen = std::collections::HashSet::new();
        found.retain(|(c, _)| seen.insert(*c));
        let (cands, via): (Vec<Cand>, Vec<u16>) = found.into_iter().unzip();
        let k = deps.groups.len() as u32;
        if kind != DepKind::Recommends {
            if cands.is_empty() {
                self.not_installable(n, k);
            } else if !cands.contains(&n) {
                let mut lits = vec![-(id(n) as Lit)];
                lits.extend(cands.iter().map(|&c| id(c) as Lit));
                let info = RuleInfo::new(RuleKind::Requires, id(n), 0, k);
                self.rules.push_pkg(&lits, info);
            }
        }
        self.work.extend(cands.iter().copied());
        let mut g = DepGroup {
            kind,
            text: group_to_string(group),
            alternatives: group
                .iter()
                .map(|r| (r.name.clone(), r.to_string()))
                .collect(),
            cands,
            via,
            ties: Vec::new(),
        };
        g.ties = tie_runs(u, &g);
        deps.groups.push(g);
    }
}

/// The runs of a group's targets apt's `CompareProviders` leaves equal before its last key
/// (see [`Universe::provider_key`]): consecutive candidates of one alternative, providers
/// with equal keys.
fn tie_runs(u: &Universe<'_>, g: &DepGroup) -> Vec<(u32, u32)> {
    let key = |k: usize| {
        let c = g.cands[k];
        let name = &g.alternatives[g.via[k] as usize].0;
        (u.is_candidate(c) && u.name(c) != name).then(|| (g.via[k], u.provider_key(c, name)))
    };
    let mut runs = Vec::new();
    let mut i = 0;
    while i < g.cands.len() {
        let mut j = i + 1;
        if let Some(k) = key(i) {
            while j < g.cands.len() && key(j) == Some(k) {
                j += 1;
            }
        }
        if j - i > 1 {
            runs.push((i as u32, j as u32));
        }
        i = j;
    }
    runs
}

/// apt's last key between equal providers: the higher package id, that is the name its
/// cache met later reading the indexes ([`Universe::first_mentions`]). apt ranks by that,
/// not by name or repository, so among equal providers the one whose name appears last in
/// the indexes wins; the closure does the same, so that it picks what `apt-get install`
/// picks. Made when a choice first needs it (most runs are never reached: a group is met
/// before), for every run at once: one pass over the indexes, as far as the names need.
pub(super) struct TieBreak<'t, 'a> {
    u: &'t Universe<'a>,
    deps: &'t [Option<Deps>],
    first: std::cell::OnceCell<rustc_hash::FxHashMap<&'a str, Mention>>,
}

impl<'t, 'a> TieBreak<'t, 'a> {
    pub(super) fn new(u: &'t Universe<'a>, deps: &'t [Option<Deps>]) -> Self {
        TieBreak {
            u,
            deps,
            first: std::cell::OnceCell::new(),
        }
    }

    /// The run `cands` (one of [`DepGroup::ties`]) in apt's order.
    pub(super) fn order(&self, run: &[Cand]) -> Vec<Cand> {
        let u = self.u;
        let first = self.first.get_or_init(|| {
            let mut names = std::collections::HashSet::new();
            for g in self.deps.iter().flatten().flat_map(|d| &d.groups) {
                for &(i, j) in &g.ties {
                    names.extend(g.cands[i as usize..j as usize].iter().map(|&x| u.name(x)));
                }
            }
            u.first_mentions(&names)
        });
        let at = |c: Cand| first.get(u.name(c)).copied().unwrap_or((u32::MAX, 0));
        let mut run = run.to_vec();
        run.sort_by(|&a, &b| at(b).cmp(&at(a)).then(a.cmp(&b)));
        run
    }
}
