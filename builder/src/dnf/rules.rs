//! The dnf closure's clauses: libsolv's package rules (`solver_addpkgrulesforsolvable`) for
//! every package the requests can reach, rich dependencies normalised into clauses as
//! libsolv's `cplxdeps.c` does, so that the solver sees what dnf's solver sees.
//!
//! - `Requires`: `-pkg | providers...`; nothing provides it: `-pkg` (not installable). A
//!   package providing its own requirement needs no rule. `rpmlib(...)` is rpm's own.
//! - `Conflicts`: `-pkg | -provider` for each other provider; `Obsoletes`: `-pkg | -other`
//!   for each package of that name and range (matched by name, never by provide); two
//!   versions of one name: `-a | -b`.
//! - Rich dependencies: `or` of plain dependencies, `with` and `without` are provider lists
//!   (union, intersection, difference); `and`, `if`, `unless`, `else` are normalised to
//!   clauses (conflicts: the negation of their normal form), e.g. `(G if H else I)` becomes
//!   `(G | -H) & (H | I)`: without H installed, H and I are the alternatives, and the policy
//!   may well take H (then G); `(A unless B)` becomes `A & -B`.

use std::collections::VecDeque;

use super::closure::FileLists;
use super::rich::{Dep, Simple};
use super::universe::{entry_hits, Cand, Universe};
use super::upstream::DnfUpstreamError;
use crate::solver::{Id, Lit, RuleInfo, RuleKind, RuleSet};

/// The solver's id of a package of the universe.
pub(super) fn id(c: Cand) -> Id {
    c + 1
}

/// The package of a solver id.
pub(super) fn cand(i: Id) -> Cand {
    i - 1
}

/// Provider look-ups that fetch the complete file lists the first time a path has no owner
/// in `primary.xml`.
pub(super) struct Lookup<'u, 'a> {
    pub(super) u: &'u mut Universe<'a>,
    source: &'u dyn FileLists,
    /// Paths asked for by requests, for the file list loading.
    request_paths: Vec<String>,
    /// Repositories whose file lists were read.
    pub(super) loaded: Vec<String>,
}

impl<'u, 'a> Lookup<'u, 'a> {
    pub(super) fn new(
        u: &'u mut Universe<'a>,
        source: &'u dyn FileLists,
        request_paths: Vec<String>,
    ) -> Self {
        Lookup {
            u,
            source,
            request_paths,
            loaded: Vec::new(),
        }
    }

    /// Providers of `s`, ascending.
    pub(super) fn providers(&mut self, s: &Simple) -> Result<Vec<Cand>, DnfUpstreamError> {
        let found = self.u.providers(s);
        if found.is_empty() && s.name.starts_with('/') && !self.u.filelists_loaded() {
            let mut extra: Vec<&str> = self.request_paths.iter().map(String::as_str).collect();
            extra.push(&s.name);
            let loaded = self.u.load_filelists(&extra, self.source)?;
            self.loaded.extend(loaded);
            return Ok(self.u.providers(s));
        }
        Ok(found)
    }

    /// Providers of a dependency that is a provider list (see [`is_complex`]), ascending.
    pub(super) fn dep_providers(&mut self, d: &Dep) -> Result<Vec<Cand>, DnfUpstreamError> {
        Ok(match d {
            Dep::Simple(s) => self.providers(s)?,
            Dep::Or(ds) => {
                let mut all = Vec::new();
                for d in ds {
                    all.extend(self.dep_providers(d)?);
                }
                all.sort_unstable();
                all.dedup();
                all
            }
            Dep::With(ds) => {
                let mut all: Option<Vec<Cand>> = None;
                for d in ds {
                    let these = self.dep_providers(d)?;
                    all = Some(match all {
                        None => these,
                        Some(a) => a.into_iter().filter(|c| these.contains(c)).collect(),
                    });
                }
                all.unwrap_or_default()
            }
            Dep::Without(a, b) => {
                let no = self.dep_providers(b)?;
                let mut yes = self.dep_providers(a)?;
                yes.retain(|c| !no.contains(c));
                yes
            }
            Dep::And(_) | Dep::If { .. } | Dep::Unless { .. } => Vec::new(),
        })
    }
}

/// libsolv's `pool_is_complex_dep`: `and`, `if`, `unless`, and `or` over those. The others
/// are plain provider lists.
pub(super) fn is_complex(d: &Dep) -> bool {
    match d {
        Dep::And(_) | Dep::If { .. } | Dep::Unless { .. } => true,
        Dep::Or(ds) => ds.iter().any(is_complex),
        Dep::Simple(_) | Dep::With(_) | Dep::Without(..) => false,
    }
}

/// A normal form: never holds, always holds, or blocks of literals (clauses of a CNF, or
/// conjunctions of a DNF), each ascending.
#[derive(Debug, Clone, PartialEq)]
enum Norm {
    False,
    True,
    Blocks(Vec<Vec<Lit>>),
}

fn invert(n: Norm) -> Norm {
    match n {
        Norm::False => Norm::True,
        Norm::True => Norm::False,
        Norm::Blocks(bs) => Norm::Blocks(
            bs.into_iter()
                .map(|b| b.into_iter().rev().map(|l| -l).collect())
                .collect(),
        ),
    }
}

/// Each block of `a` with each of `b` (merged, ascending); blocks holding `x` and `-x` go.
fn distribute(a: Vec<Vec<Lit>>, b: Vec<Vec<Lit>>, dnf: bool) -> Norm {
    let mut out = Vec::new();
    for x in &a {
        for y in &b {
            let mut m: Vec<Lit> = x.iter().chain(y).copied().collect();
            m.sort_unstable();
            m.dedup();
            if !m.iter().any(|&l| l > 0 && m.binary_search(&-l).is_ok()) {
                out.push(m);
            }
        }
    }
    match (out.is_empty(), dnf) {
        (true, true) => Norm::False,
        (true, false) => Norm::True,
        (false, _) => Norm::Blocks(out),
    }
}

fn or(a: Norm, b: Norm, dnf: bool) -> Norm {
    match (a, b) {
        (Norm::True, _) | (_, Norm::True) => Norm::True,
        (Norm::False, x) | (x, Norm::False) => x,
        (Norm::Blocks(a), Norm::Blocks(b)) if !dnf => distribute(a, b, dnf),
        (Norm::Blocks(mut a), Norm::Blocks(b)) => {
            a.extend(b);
            Norm::Blocks(a)
        }
    }
}

fn and(a: Norm, b: Norm, dnf: bool) -> Norm {
    match (a, b) {
        (Norm::False, _) | (_, Norm::False) => Norm::False,
        (Norm::True, x) | (x, Norm::True) => x,
        (Norm::Blocks(a), Norm::Blocks(b)) if dnf => distribute(a, b, dnf),
        (Norm::Blocks(mut a), Norm::Blocks(b)) => {
            a.extend(b);
            Norm::Blocks(a)
        }
    }
}

/// libsolv's `normalize_dep`: `dep` as a CNF (or, `dnf`, a DNF) over package literals.
fn normalize(lk: &mut Lookup<'_, '_>, dep: &Dep, dnf: bool) -> Result<Norm, DnfUpstreamError> {
    let fold = |lk: &mut Lookup<'_, '_>,
                ds: &[Dep],
                op: fn(Norm, Norm, bool) -> Norm|
     -> Result<Norm, DnfUpstreamError> {
        let mut acc: Option<Norm> = None;
        for d in ds.iter().rev() {
            let n = normalize(lk, d, dnf)?;
            acc = Some(match acc {
                None => n,
                Some(rest) => op(n, rest, dnf),
            });
        }
        Ok(acc.unwrap_or(Norm::True))
    };
    Ok(match dep {
        _ if !is_complex(dep) => {
            let lits: Vec<Lit> = lk
                .dep_providers(dep)?
                .into_iter()
                .map(|c| id(c) as Lit)
                .collect();
            if lits.is_empty() {
                Norm::False
            } else if dnf {
                Norm::Blocks(lits.into_iter().map(|l| vec![l]).collect())
            } else {
                Norm::Blocks(vec![lits])
            }
        }
        Dep::Or(ds) => fold(lk, ds, or)?,
        Dep::And(ds) => fold(lk, ds, and)?,
        Dep::If {
            then,
            cond,
            otherwise,
        } => {
            let a_or_not_b = or(
                normalize(lk, then, dnf)?,
                invert(normalize(lk, cond, !dnf)?),
                dnf,
            );
            match otherwise {
                None => a_or_not_b,
                Some(c) => {
                    let b_or_c = or(normalize(lk, cond, dnf)?, normalize(lk, c, dnf)?, dnf);
                    and(a_or_not_b, b_or_c, dnf)
                }
            }
        }
        Dep::Unless {
            then,
            cond,
            otherwise,
        } => {
            let a_and_not_b = and(
                normalize(lk, then, dnf)?,
                invert(normalize(lk, cond, !dnf)?),
                dnf,
            );
            match otherwise {
                None => a_and_not_b,
                Some(c) => {
                    let b_and_c = and(normalize(lk, cond, dnf)?, normalize(lk, c, dnf)?, dnf);
                    or(a_and_not_b, b_and_c, dnf)
                }
            }
        }
        Dep::Simple(_) | Dep::With(_) | Dep::Without(..) => Norm::True,
    })
}

/// Builds the package rules of everything reachable from the job candidates.
pub(super) struct RuleBuilder<'l, 'u, 'a> {
    pub(super) lk: &'l mut Lookup<'u, 'a>,
    pub(super) rules: RuleSet,
    visited: Vec<bool>,
    work: VecDeque<Cand>,
}

impl<'l, 'u, 'a> RuleBuilder<'l, 'u, 'a> {
    pub(super) fn new(lk: &'l mut Lookup<'u, 'a>) -> Self {
        let n = lk.u.pkgs.len();
        RuleBuilder {
            lk,
            rules: RuleSet::default(),
            visited: vec![false; n],
            work: VecDeque::new(),
        }
    }

    /// Adds the rules of `c` and of everything its dependencies can pull in.
    pub(super) fn add(&mut self, c: Cand) -> Result<(), DnfUpstreamError> {
        self.work.push_back(c);
        while let Some(n) = self.work.pop_front() {
            if std::mem::replace(&mut self.visited[n as usize], true) {
                continue;
            }
            self.requires(n)?;
            self.conflicts(n)?;
            self.obsoletes(n);
        }
        Ok(())
    }

    fn push_work(&mut self, lits: &[Lit]) {
        for &l in lits {
            if l > 0 && !self.visited[cand(l as Id) as usize] {
                self.work.push_back(cand(l as Id));
            }
        }
    }

    fn requires(&mut self, n: Cand) -> Result<(), DnfUpstreamError> {
        let p = self.lk.u.pkg(n);
        let me = id(n) as Lit;
        for (k, e) in p.requires.iter().enumerate() {
            if e.name.starts_with("rpmlib(") {
                continue;
            }
            let info = |kind| RuleInfo::new(kind, id(n), 0, k as u32);
            let Ok(dep) = e.dep() else {
                self.rules.push_pkg(&[-me], info(RuleKind::NotInstallable));
                continue;
            };
            if is_complex(&dep) {
                let norm = normalize(self.lk, &dep, false)?;
                self.blocks(me, norm, info(RuleKind::Requires));
                continue;
            }
            let provs = self.lk.dep_providers(&dep)?;
            if provs.is_empty() {
                self.rules.push_pkg(&[-me], info(RuleKind::NotInstallable));
            } else if !provs.contains(&n) {
                let mut lits = vec![-me];
                lits.extend(provs.iter().map(|&c| id(c) as Lit));
                self.rules.push_pkg(&lits, info(RuleKind::Requires));
                self.push_work(&lits);
            }
        }
        Ok(())
    }

    /// One rule per block of a normal form, with `-me` added (libsolv's
    /// `add_complex_deprules`).
    fn blocks(&mut self, me: Lit, norm: Norm, info: RuleInfo) {
        match norm {
            Norm::True => {}
            Norm::False => {
                let kind = if info.kind == RuleKind::Requires {
                    RuleKind::NotInstallable
                } else {
                    info.kind
                };
                self.rules
                    .push_pkg(&[-me], RuleInfo::new(kind, info.pkg, 0, info.dep));
            }
            Norm::Blocks(bs) => {
                for mut b in bs {
                    if b.contains(&me) {
                        continue;
                    }
                    if let Err(at) = b.binary_search(&-me) {
                        b.insert(at, -me);
                    }
                    if b == [-me] && info.kind == RuleKind::Conflicts {
                        continue;
                    }
                    self.rules.push_pkg(&b, info);
                    self.push_work(&b);
                }
            }
        }
    }

    fn conflicts(&mut self, n: Cand) -> Result<(), DnfUpstreamError> {
        let p = self.lk.u.pkg(n);
        let me = id(n) as Lit;
        for (k, e) in p.conflicts.iter().enumerate() {
            let Ok(dep) = e.dep() else { continue };
            if is_complex(&dep) {
                let norm = invert(normalize(self.lk, &dep, true)?);
                self.blocks(
                    me,
                    norm,
                    RuleInfo::new(RuleKind::Conflicts, id(n), 0, k as u32),
                );
                continue;
            }
            for o in self.lk.dep_providers(&dep)? {
                if o != n {
                    self.rules.push_pkg(
                        &[-me, -(id(o) as Lit)],
                        RuleInfo::new(RuleKind::Conflicts, id(n), id(o), k as u32),
                    );
                }
            }
        }
        Ok(())
    }

    fn obsoletes(&mut self, n: Cand) {
        let u = &*self.lk.u;
        let p = u.pkg(n);
        let me = id(n) as Lit;
        for (k, e) in p.obsoletes.iter().enumerate() {
            for &o in u.named(&e.name) {
                if o != n && entry_hits(e, u.pkg(o)) {
                    self.rules.push_pkg(
                        &[-me, -(id(o) as Lit)],
                        RuleInfo::new(RuleKind::Obsoletes, id(n), id(o), k as u32),
                    );
                }
            }
        }
        for &o in u.named(&p.name) {
            if o != n {
                self.rules.push_pkg(
                    &[-me, -(id(o) as Lit)],
                    RuleInfo::new(RuleKind::SameName, id(n), id(o), 0),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(v: &[&[Lit]]) -> Norm {
        Norm::Blocks(v.iter().map(|x| x.to_vec()).collect())
    }

    #[test]
    fn normal_forms_combine_as_libsolvs() {
        // CNF: (1 | 2) or (3) -> (1 | 2 | 3); and concatenates.
        assert_eq!(or(b(&[&[1, 2]]), b(&[&[3]]), false), b(&[&[1, 2, 3]]));
        assert_eq!(and(b(&[&[1, 2]]), b(&[&[3]]), false), b(&[&[1, 2], &[3]]));
        // A tautology block goes; all gone: always true.
        assert_eq!(or(b(&[&[1]]), b(&[&[-1]]), false), Norm::True);
        // DNF: and distributes, x & -x is impossible.
        assert_eq!(and(b(&[&[1]]), b(&[&[-1]]), true), Norm::False);
        // Inverting a CNF clause (1 | 2) gives the conjunction -2 & -1, ascending.
        assert_eq!(invert(b(&[&[1, 2]])), b(&[&[-2, -1]]));
        assert_eq!(invert(Norm::False), Norm::True);
    }
}
