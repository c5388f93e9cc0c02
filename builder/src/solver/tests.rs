//! The solver on small hand-made problems, with a policy that prefers the lower id.

use super::*;

struct ByName;

impl Family for ByName {
    fn filter_unwanted(&self, _: &View<'_>, dq: &mut Vec<Id>, _: Mode) {
        dq.sort_unstable();
    }
}

fn req(pkg: Id, provs: &[Id]) -> (Vec<Lit>, RuleInfo) {
    let mut l = vec![-(pkg as Lit)];
    l.extend(provs.iter().map(|&p| p as Lit));
    (l, RuleInfo::new(RuleKind::Requires, pkg, 0, 0))
}

fn conflict(a: Id, b: Id) -> (Vec<Lit>, RuleInfo) {
    (
        vec![-(a as Lit), -(b as Lit)],
        RuleInfo::new(RuleKind::Conflicts, a, b, 0),
    )
}

fn run(ids: usize, rules: &[(Vec<Lit>, RuleInfo)], jobs: &[Vec<Id>]) -> Solution {
    let mut rs = RuleSet::default();
    for (l, i) in rules {
        rs.push_pkg(l, *i);
    }
    solve(&ByName, ids, rs, jobs)
}

fn sorted(mut v: Vec<Id>) -> Vec<Id> {
    v.sort_unstable();
    v
}

#[test]
fn a_choice_that_conflicts_later_is_undone() {
    // 1 needs 2 or 3; 1 needs 6 or 4, both of which need 5; 5 conflicts with 2. The policy
    // takes 2 first, then 4 and 5: the conflict is learnt and 3 taken instead of 2.
    let rules = [
        req(1, &[2, 3]),
        req(1, &[6, 4]),
        req(6, &[5]),
        req(4, &[5]),
        conflict(5, 2),
    ];
    let s = run(6, &rules, &[vec![1]]);
    assert!(s.problems.is_empty());
    assert_eq!(sorted(s.installed), [1, 3, 4, 5]);
}

#[test]
fn requests_that_cannot_go_together_are_a_problem_naming_both() {
    let rules = [req(1, &[3]), req(2, &[4]), conflict(3, 4)];
    let s = run(4, &rules, &[vec![1], vec![2]]);
    assert_eq!(s.problems.len(), 1);
    assert_eq!(s.problems[0].jobs, [0, 1]);
    assert!(s.problems[0]
        .proof
        .iter()
        .any(|(i, _)| i.kind == RuleKind::Conflicts && i.pkg == 3 && i.other == 4));
}

#[test]
fn an_alternative_installed_anyway_replaces_the_choice() {
    // 1 needs 2 or 3 (2 preferred), and needs 4 or 5 (4 preferred); 4 needs 3. Minimisation
    // takes 3 for the first requirement, so 2 is not installed.
    let rules = [req(1, &[2, 3]), req(1, &[4, 5]), req(4, &[3])];
    let s = run(5, &rules, &[vec![1]]);
    assert_eq!(sorted(s.installed), [1, 3, 4]);
}

/// Choices in the family's own order (the lowest id of the first rule whose owner is
/// installed and that no installed package meets), without minimisation.
struct InOrder<'r>(&'r [(Vec<Lit>, RuleInfo)]);

impl Family for InOrder<'_> {
    fn filter_unwanted(&self, _: &View<'_>, dq: &mut Vec<Id>, _: Mode) {
        dq.sort_unstable();
    }

    fn next_choice(&self, view: &View<'_>) -> Option<Vec<Id>> {
        for (lits, info) in self.0 {
            if info.kind != RuleKind::Requires || !view.installed(info.pkg) {
                continue;
            }
            let provs = lits.iter().filter(|&&l| l > 0).map(|&l| l as Id);
            if provs.clone().any(|p| view.installed(p)) {
                continue;
            }
            let open: Vec<Id> = provs.filter(|&p| view.value(p).is_none()).collect();
            if !open.is_empty() {
                return Some(open);
            }
        }
        None
    }

    fn minimizes(&self) -> bool {
        false
    }
}

#[test]
fn the_familys_order_of_choices_and_no_minimisation() {
    // As an_alternative_installed_anyway_replaces_the_choice, but choosing in rule order and
    // keeping every choice (apt's way): 2 stays although 3 got installed for 4.
    let rules = [req(1, &[2, 3]), req(1, &[4, 5]), req(4, &[3])];
    let mut rs = RuleSet::default();
    for (l, i) in &rules {
        rs.push_pkg(l, *i);
    }
    let s = solve(&InOrder(&rules), 5, rs, &[vec![1]]);
    assert_eq!(sorted(s.installed), [1, 2, 3, 4]);
    // A choice of the family's that conflicts later is undone: 1 needs 2 or 3 and 4; 4
    // conflicts with 2.
    let rules = [req(1, &[2, 3]), req(1, &[4]), conflict(4, 2)];
    let mut rs = RuleSet::default();
    for (l, i) in &rules {
        rs.push_pkg(l, *i);
    }
    let s = solve(&InOrder(&rules), 4, rs, &[vec![1]]);
    assert!(s.problems.is_empty());
    assert_eq!(sorted(s.installed), [1, 3, 4]);
    // A family that sees the conflict only after choosing: 1 needs 2 or 3, then 5; 5 needs 6;
    // 6 conflicts with 2. The choice of 2 comes first; the conflict is learnt and 3 taken.
    let rules = [
        req(1, &[2, 3]),
        req(1, &[5, 7]),
        req(5, &[6]),
        req(7, &[6]),
        conflict(6, 2),
    ];
    let mut rs = RuleSet::default();
    for (l, i) in &rules {
        rs.push_pkg(l, *i);
    }
    let s = solve(&InOrder(&rules), 7, rs, &[vec![1]]);
    assert!(s.problems.is_empty());
    assert_eq!(sorted(s.installed), [1, 3, 5, 6]);
}
