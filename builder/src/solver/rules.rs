//! The clauses a [`super::Solver`] works on: one flat list of literals per rule, with what
//! each rule stands for, ordered as libsolv orders its package rules.

use std::cmp::Ordering;

/// A package of the universe: 1-based, in the order the family loaded them (libsolv's
/// solvable ids: repository order, then metadata order). The order matters: libsolv sorts
/// its rules by these ids, and the solver visits rules in that order.
pub type Id = u32;

/// `+id`: the package is installed; `-id`: it is not.
pub type Lit = i32;

/// What a rule stands for, so that problems can be told in the family's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RuleKind {
    /// `-pkg | providers...`: a requirement of `pkg` (the family's dependency `dep`).
    Requires,
    /// `-pkg`: `pkg` cannot be installed, nothing meets its dependency `dep`.
    NotInstallable,
    /// `-pkg | -other`, or a complex conflict of `pkg` (`other` 0).
    Conflicts,
    /// `-pkg | -other`: `pkg` obsoletes `other`.
    Obsoletes,
    /// `-pkg | -other`: two versions of one name.
    SameName,
    /// A request: one of the candidates (`dep` is the request's index).
    Job,
    /// Learnt from a conflict (`dep` indexes the solver's proofs).
    Learnt,
}

/// A rule's origin: see [`RuleKind`] for what `pkg`, `other` and `dep` mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleInfo {
    pub kind: RuleKind,
    pub pkg: Id,
    pub other: Id,
    pub dep: u32,
}

impl RuleInfo {
    pub fn new(kind: RuleKind, pkg: Id, other: Id, dep: u32) -> RuleInfo {
        RuleInfo {
            kind,
            pkg,
            other,
            dep,
        }
    }
}

/// Rules as libsolv stores them: the first literal (`p`) then the rest (`d`, or the second
/// literal of a binary rule). Rule 0 is a placeholder, as in libsolv, so that a rule index is
/// never 0.
#[derive(Debug, Clone)]
pub struct RuleSet {
    lits: Vec<Lit>,
    start: Vec<u32>,
    info: Vec<RuleInfo>,
}

impl Default for RuleSet {
    fn default() -> Self {
        RuleSet {
            lits: Vec::new(),
            start: vec![0, 0],
            info: vec![RuleInfo::new(RuleKind::Learnt, 0, 0, 0)],
        }
    }
}

impl RuleSet {
    /// How many rules there are (rule 0, the empty one, counted).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.info.len()
    }

    pub fn lits(&self, r: usize) -> &[Lit] {
        &self.lits[self.start[r] as usize..self.start[r + 1] as usize]
    }

    pub fn info(&self, r: usize) -> RuleInfo {
        self.info[r]
    }

    /// Appends a rule as given (job and learnt rules).
    pub fn push(&mut self, lits: &[Lit], info: RuleInfo) -> usize {
        self.lits.extend_from_slice(lits);
        self.start.push(self.lits.len() as u32);
        self.info.push(info);
        self.info.len() - 1
    }

    /// Appends a package rule as libsolv's `solver_addrule` does: a binary rule gets its
    /// smaller literal first, a rule holding both `x` and `-x` is dropped (it always holds),
    /// and so is a repeat of the rule just added.
    pub fn push_pkg(&mut self, lits: &[Lit], info: RuleInfo) {
        let swapped;
        let lits = if lits.len() == 2 && lits[0] > lits[1] {
            swapped = [lits[1], lits[0]];
            &swapped[..]
        } else {
            lits
        };
        if lits.len() >= 2 {
            let first = lits[0];
            if lits[1..].iter().any(|&l| l == -first) {
                return;
            }
        }
        let last = self.len() - 1;
        if last > 0 && self.lits(last) == lits {
            return;
        }
        self.push(lits, info);
    }

    /// libsolv's `solver_unifyrules`: sorts the package rules (`unifyrules_sortcmp`) and drops
    /// duplicates. The solver decides open rules in this order.
    pub fn unify(&mut self) {
        let n = self.len();
        let mut order: Vec<usize> = (1..n).collect();
        order.sort_by(|&a, &b| cmp_rules(self.lits(a), self.lits(b)));
        let mut out = RuleSet::default();
        for r in order {
            let last = out.len() - 1;
            if last > 0 && cmp_rules(out.lits(last), self.lits(r)) == Ordering::Equal {
                continue;
            }
            out.push(self.lits(r), self.info(r));
        }
        *self = out;
    }
}

/// libsolv's `unifyrules_sortcmp` over `[p, d...]` literal lists.
fn cmp_rules(a: &[Lit], b: &[Lit]) -> Ordering {
    let p = |r: &[Lit]| i64::from(r[0]);
    let w2 = |r: &[Lit]| i64::from(r.get(1).copied().unwrap_or(0));
    let x = p(a) - p(b);
    if x != 0 {
        return x.cmp(&0);
    }
    let (ad, bd) = (a.len() >= 3, b.len() >= 3);
    match (ad, bd) {
        (false, false) => (w2(a) - w2(b)).cmp(&0),
        (false, true) => match w2(a) - i64::from(b[1]) {
            0 => Ordering::Less,
            x => x.cmp(&0),
        },
        (true, false) => match i64::from(a[1]) - w2(b) {
            0 => Ordering::Greater,
            x => x.cmp(&0),
        },
        (true, true) => {
            for (i, &y) in b[1..].iter().enumerate() {
                let x = a.get(i + 1).copied().unwrap_or(0);
                if x != y {
                    return (i64::from(x) - i64::from(y)).cmp(&0);
                }
            }
            a.get(b.len()).copied().unwrap_or(0).cmp(&0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_rules_sort_as_libsolv() {
        let info = RuleInfo::new(RuleKind::Requires, 0, 0, 0);
        let mut r = RuleSet::default();
        r.push_pkg(&[-2, 5, 6], info);
        r.push_pkg(&[-2, 5, 6], info);
        r.push_pkg(&[-7, 3], info);
        r.push_pkg(&[-2, 5], info);
        r.push_pkg(&[-2, 2, 9], info);
        r.push_pkg(&[4, -3], info);
        r.push_pkg(&[-2, 3, 4], info);
        r.unify();
        let all: Vec<&[Lit]> = (1..r.len()).map(|i| r.lits(i)).collect();
        // Higher ids first (p = -id ascending); a binary rule before a longer one with the
        // same second literal; a self-fulfilling rule dropped; duplicates dropped.
        let want: [&[Lit]; 4] = [&[-7, 3], &[-3, 4], &[-2, 3, 4], &[-2, 5]];
        assert_eq!(&all[..4], &want);
        assert_eq!(all[4], &[-2, 5, 6]);
        assert_eq!(all.len(), 5);
    }
}
