//! Why a dnf closure cannot be had, told as dnf tells it: the chain from the request to
//! what nothing provides, or the packages that conflict, obsolete each other or cannot be
//! installed together, each named by its NEVRA.

use std::collections::{HashMap, VecDeque};

use super::closure::{Problem, Requested};
use super::rich::{Dep, Simple};
use super::rules::cand;
use super::universe::{overlaps, Cand, Universe};
use crate::solver::{self, Id, Lit, RuleInfo, RuleKind};

/// What the problems are told with: the universe, the requests, and for each job its
/// request and candidates.
pub(super) struct Teller<'u, 'a> {
    pub(super) u: &'u Universe<'a>,
    pub(super) requested: &'u [Requested],
    /// Per job: the index of its request and its candidates.
    pub(super) jobs: &'u [(usize, Vec<Id>)],
}

impl Teller<'_, '_> {
    fn nevra(&self, p: Id) -> String {
        self.u.pkg(cand(p)).nevra()
    }

    fn requirement(&self, info: &RuleInfo) -> Option<Dep> {
        let e = self.u.pkg(cand(info.pkg)).requires.get(info.dep as usize)?;
        e.dep().ok()
    }

    fn requirement_text(&self, info: &RuleInfo) -> String {
        let p = self.u.pkg(cand(info.pkg));
        match p.requires.get(info.dep as usize) {
            Some(e) => e.dep().map_or_else(|_| e.name.clone(), |d| d.to_string()),
            None => String::new(),
        }
    }

    /// The head of a chain: the request's label and what it named (and the package, when the
    /// name is a provide or a path).
    fn head(&self, job: usize, p: Id) -> Vec<String> {
        let (ri, _) = &self.jobs[job];
        let req = &self.requested[*ri];
        let name = &self.u.pkg(cand(p)).name;
        let named = if *name == req.name {
            name.clone()
        } else {
            format!("{} ({name})", req.name)
        };
        vec![req.wanted_by.clone(), named]
    }

    /// Tells one problem; the key says what it comes down to, so that the same cause met
    /// from several requests is told once.
    pub(super) fn tell(&self, p: &solver::Problem) -> (String, Problem) {
        let job = p.jobs.first().map_or(0, |&j| j as usize);
        let roots: HashMap<(Id, u32), &RuleInfo> = p
            .proof
            .iter()
            .filter(|(i, _)| i.kind == RuleKind::NotInstallable)
            .map(|(i, _)| ((i.pkg, i.dep), i))
            .collect();
        if !roots.is_empty() {
            if let Some((chain, root)) = self.path(job, p, &roots) {
                let dep = self.requirement(root);
                let text = self.requirement_text(root);
                let mut chain = chain;
                chain.push(text.clone());
                let message = match &dep {
                    None => "cannot be read".to_string(),
                    Some(d) => {
                        let unmet = self.unmet(d);
                        let what = match unmet.as_slice() {
                            [one] if *one == text => "it".to_string(),
                            [] => "it".to_string(),
                            many => many.join(", "),
                        };
                        format!("nothing provides {what}{}", self.hints(d))
                    }
                };
                let key = format!("{}:{}", root.pkg, root.dep);
                return (key, Problem { chain, message });
            }
        }
        self.conflict(job, p)
    }

    /// The shortest chain of requirements in the proof from the job's candidates to a
    /// package nothing can be installed for, best candidates first.
    fn path<'p>(
        &self,
        job: usize,
        p: &'p solver::Problem,
        roots: &HashMap<(Id, u32), &'p RuleInfo>,
    ) -> Option<(Vec<String>, &'p RuleInfo)> {
        let mut requires: HashMap<Id, Vec<(&RuleInfo, Vec<Id>)>> = HashMap::new();
        for (info, lits) in &p.proof {
            if info.kind == RuleKind::Requires {
                let provs = self.rank(lits.iter().filter(|&&l| l > 0).map(|&l| l as Id).collect());
                requires.entry(info.pkg).or_default().push((info, provs));
            }
        }
        let starts = self.rank(self.jobs.get(job).map_or_else(Vec::new, |(_, c)| c.clone()));
        let mut from: HashMap<Id, (Id, String)> = HashMap::new();
        let mut queue: VecDeque<Id> = VecDeque::new();
        for &s in &starts {
            from.entry(s).or_insert((0, String::new()));
            queue.push_back(s);
        }
        while let Some(n) = queue.pop_front() {
            let root = p.proof.iter().map(|(i, _)| i).find(|i| {
                i.kind == RuleKind::NotInstallable
                    && i.pkg == n
                    && roots.contains_key(&(i.pkg, i.dep))
            });
            if let Some(root) = root {
                let mut steps = Vec::new();
                let mut at = n;
                while let Some((prev, step)) = from.get(&at) {
                    if *prev == 0 {
                        break;
                    }
                    steps.push(step.clone());
                    at = *prev;
                }
                steps.reverse();
                let mut chain = self.head(job, at);
                chain.extend(steps);
                return Some((chain, root));
            }
            for (info, provs) in requires.get(&n).into_iter().flatten() {
                for &q in provs {
                    if from.contains_key(&q) {
                        continue;
                    }
                    let text = self.requirement_text(info);
                    let name = &self.u.pkg(cand(q)).name;
                    let named = self.requirement(info).and_then(|d| match d {
                        Dep::Simple(s) => Some(s.name),
                        Dep::With(ds) => match ds.first() {
                            Some(Dep::Simple(s)) => Some(s.name.clone()),
                            _ => None,
                        },
                        Dep::Without(a, _) => match *a {
                            Dep::Simple(s) => Some(s.name),
                            _ => None,
                        },
                        _ => None,
                    });
                    let step = if named.as_deref() == Some(name.as_str()) {
                        text
                    } else {
                        format!("{text} ({name})")
                    };
                    from.insert(q, (n, step));
                    queue.push_back(q);
                }
            }
        }
        None
    }

    /// Best first: repository priority, then name, then the highest EVR.
    fn rank(&self, mut ids: Vec<Id>) -> Vec<Id> {
        ids.sort_by(|&a, &b| {
            let (pa, pb) = (self.u.pkg(cand(a)), self.u.pkg(cand(b)));
            let prio = |c: Id| self.u.repo(cand(c)).source.priority;
            prio(a)
                .cmp(&prio(b))
                .then_with(|| pa.name.cmp(&pb.name))
                .then_with(|| pb.evr.cmp(&pa.evr))
        });
        ids
    }

    /// A problem without a missing dependency: what conflicts, obsoletes or cannot go
    /// together, by NEVRA.
    fn conflict(&self, job: usize, p: &solver::Problem) -> (String, Problem) {
        let mut lines: Vec<String> = Vec::new();
        let mut later: Vec<String> = Vec::new();
        for (info, lits) in &p.proof {
            let line = match info.kind {
                RuleKind::Conflicts => {
                    let e = self.u.pkg(cand(info.pkg)).conflicts.get(info.dep as usize);
                    let text = e.map_or_else(String::new, |e| {
                        e.dep().map_or_else(|_| e.name.clone(), |d| d.to_string())
                    });
                    if info.other != 0 {
                        format!(
                            "package {} conflicts with {text} provided by {}",
                            self.nevra(info.pkg),
                            self.nevra(info.other)
                        )
                    } else {
                        self.rich_conflict(info.pkg, &text, lits)
                    }
                }
                RuleKind::Obsoletes => {
                    let e = &self.u.pkg(cand(info.pkg)).obsoletes[info.dep as usize];
                    let text = e.dep().map_or_else(|_| e.name.clone(), |d| d.to_string());
                    format!(
                        "package {} obsoletes {text} provided by {}",
                        self.nevra(info.pkg),
                        self.nevra(info.other)
                    )
                }
                RuleKind::SameName => format!(
                    "cannot install both {} and {}",
                    self.nevra(info.pkg.min(info.other)),
                    self.nevra(info.pkg.max(info.other))
                ),
                RuleKind::Requires => {
                    later.push(format!(
                        "package {} requires {}, but none of the providers can be installed",
                        self.nevra(info.pkg),
                        self.requirement_text(info)
                    ));
                    continue;
                }
                _ => continue,
            };
            lines.push(line);
        }
        lines.sort();
        lines.dedup();
        later.sort();
        later.dedup();
        let key = lines.join("; ");
        lines.extend(later);
        let start = self
            .jobs
            .get(job)
            .and_then(|(_, c)| self.rank(c.clone()).first().copied())
            .unwrap_or(1);
        let chain = self.head(job, start);
        let others: Vec<&str> = p
            .jobs
            .iter()
            .skip(1)
            .filter_map(|&j| self.jobs.get(j as usize))
            .map(|(ri, _)| self.requested[*ri].wanted_by.as_str())
            .collect();
        let mut message = String::new();
        if !others.is_empty() {
            message.push_str(&format!(
                "conflicting requests (with {}): ",
                others.join(", ")
            ));
        }
        message.push_str(&lines.join("; "));
        let key = if key.is_empty() { message.clone() } else { key };
        (key, Problem { chain, message })
    }

    /// A rich conflict's rule: the packages that make it hold (its negative literals) and
    /// those that would escape it (its positive ones).
    fn rich_conflict(&self, pkg: Id, text: &str, lits: &[Lit]) -> String {
        let hit: Vec<String> = lits
            .iter()
            .filter(|&&l| l < 0 && l.unsigned_abs() != pkg)
            .map(|&l| self.nevra(l.unsigned_abs()))
            .collect();
        let escape: Vec<String> = lits
            .iter()
            .filter(|&&l| l > 0)
            .map(|&l| self.nevra(l as Id))
            .collect();
        let mut s = format!("package {} conflicts with {text}", self.nevra(pkg));
        if !hit.is_empty() {
            s.push_str(&format!(" provided by {}", hit.join(", ")));
        }
        if !escape.is_empty() {
            s.push_str(&format!(" unless {} is installed", escape.join(" or ")));
        }
        s
    }

    /// The parts of `dep` nothing provides (the whole of an `or`, `with`, `without`).
    fn unmet(&self, dep: &Dep) -> Vec<String> {
        let none = |s: &Simple| self.u.providers(s).is_empty();
        match dep {
            Dep::Simple(s) if none(s) => vec![s.to_string()],
            Dep::Simple(_) => Vec::new(),
            Dep::And(ds) => ds.iter().flat_map(|d| self.unmet(d)).collect(),
            Dep::Or(ds) if ds.iter().all(|d| !self.unmet(d).is_empty()) => vec![dep.to_string()],
            Dep::Or(_) => Vec::new(),
            _ => vec![dep.to_string()],
        }
    }

    /// Packages hidden by `excludepkgs` that would have met `dep`.
    pub(super) fn hints(&self, dep: &Dep) -> String {
        excluded_hints(self.u, dep)
    }
}

/// Packages hidden by `excludepkgs` that would have met `dep`.
pub(super) fn excluded_hints(u: &Universe<'_>, dep: &Dep) -> String {
    let mut out = String::new();
    for s in dep.simples() {
        for repo in u.repos {
            for p in &repo.excluded {
                let own = (super::rich::Op::Eq, p.evr.clone());
                let provides = (p.name == s.name && overlaps(Some(&own), s.constraint.as_ref()))
                    || p.provides.iter().any(|e| {
                        e.name == s.name && overlaps(e.constraint.as_ref(), s.constraint.as_ref())
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

/// The packages a requirement of an installed package is met by, for [`super::Why`]: the
/// installed providers of what the expression needs given what is installed (never its
/// conditions).
pub(super) fn met_by(u: &Universe<'_>, dep: &Dep, installed: &[bool], me: Cand) -> Vec<Cand> {
    let holds = |d: &Dep| d.eval(&mut |s| u.providers(s).iter().any(|&c| installed[c as usize]));
    let mut out = Vec::new();
    let mut stack = vec![dep];
    while let Some(d) = stack.pop() {
        match d {
            Dep::Simple(s) => out.extend(
                u.providers(s)
                    .into_iter()
                    .filter(|&c| c != me && installed[c as usize]),
            ),
            Dep::And(ds) | Dep::Or(ds) | Dep::With(ds) => stack.extend(ds.iter()),
            Dep::Without(a, _) => stack.push(a),
            Dep::If {
                then,
                cond,
                otherwise,
            } => {
                if holds(cond) {
                    stack.push(then);
                } else if let Some(o) = otherwise {
                    stack.push(o);
                }
            }
            Dep::Unless {
                then,
                cond,
                otherwise,
            } => {
                if !holds(cond) {
                    stack.push(then);
                } else if let Some(o) = otherwise {
                    stack.push(o);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}
