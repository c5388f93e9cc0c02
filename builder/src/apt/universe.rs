//! The packages an apt closure chooses from, and the order apt prefers them in: every
//! repository's packages for the target architecture and `all` (one per name and version),
//! each name's candidate as apt's policy picks it, and the targets of a relation sorted as
//! apt's `getAllPossibleSolutions` sorts them (`CompareProviders`, apt 2.6's `depcache.cc`).

use std::cmp::Ordering;
use std::collections::HashSet;

// rustc's hasher (`rustc-hash`): the keys are package names from signed indexes, and SipHash
// on them was 4% of a warm build.
use rustc_hash::FxHashMap as HashMap;

use super::closure::Repo;
use super::index::{for_each_field, PackageEntry};
use super::relation::{parse_relations, Relation};
use super::version::DebVersion;

/// A package of the universe: its index in [`Universe::pkgs`].
pub(super) type Cand = u32;

/// One package (a name at one version).
pub(super) struct Pkg<'a> {
    pub(super) entry: &'a PackageEntry,
    /// The repository's index.
    pub(super) repo: usize,
}

/// Every repository's packages for one architecture.
pub(super) struct Universe<'a> {
    pub(super) repos: &'a [Repo],
    pub(super) target: &'a str,
    pub(super) pkgs: Vec<Pkg<'a>>,
    /// Per name: its versions, the candidate first (best repository priority, then highest
    /// version, then the earlier repository), as apt's policy orders them.
    by_name: HashMap<&'a str, Vec<Cand>>,
    /// Per provided name: the packages providing it (their `Provides` are parsed when
    /// asked for: most are never needed).
    provides: HashMap<&'a str, Vec<Cand>>,
    /// The installed packages (dpkg `status`), read by apt after the indexes.
    installed: Vec<&'a PackageEntry>,
}

/// The `Provides` of an entry as (name, version). Unparsable fields provide nothing.
pub(super) fn provides_of(entry: &PackageEntry) -> Vec<(String, Option<DebVersion>)> {
    let Some(field) = entry.provides() else {
        return Vec::new();
    };
    let Ok(groups) = parse_relations(field) else {
        return Vec::new();
    };
    groups
        .into_iter()
        .flatten()
        .map(|r| (r.name, r.constraint.map(|c| c.version)))
        .collect()
}

/// Whether an entry's architecture fits a relation's arch qualifier.
pub(super) fn arch_ok(qual: Option<&str>, entry: &PackageEntry, target: &str) -> bool {
    match qual {
        None | Some("native") => true,
        Some("any") => entry.multi_arch() == Some("allowed"),
        Some(a) => a == entry.architecture() || (a == target && entry.architecture() == "all"),
    }
}

/// Whether `entry` (a real package) satisfies `rel` by its own name and version.
pub(super) fn satisfies_real(rel: &Relation, entry: &PackageEntry, target: &str) -> bool {
    entry.package() == rel.name
        && rel
            .constraint
            .as_ref()
            .is_none_or(|c| c.satisfied_by(entry.version()))
        && arch_ok(rel.arch_qual.as_deref(), entry, target)
}

/// Whether a provide (`name (= version)` or unversioned) satisfies `rel`: a versioned provide
/// satisfies versioned and unversioned dependencies, an unversioned one only unversioned.
pub(super) fn satisfies_provide(
    rel: &Relation,
    provided: &Option<DebVersion>,
    entry: &PackageEntry,
    target: &str,
) -> bool {
    let version_ok = match (&rel.constraint, provided) {
        (None, _) => true,
        (Some(c), Some(v)) => c.satisfied_by(v),
        (Some(_), None) => false,
    };
    version_ok && arch_ok(rel.arch_qual.as_deref(), entry, target)
}

/// apt skips a package's provide of its own name at its own version (or unversioned).
fn self_provide(entry: &PackageEntry, name: &str, v: &Option<DebVersion>) -> bool {
    entry.package() == name && v.as_ref().is_none_or(|v| v == entry.version())
}

impl<'a> Universe<'a> {
    /// The packages of `repos` for `target` (and `all`); a name and version in several
    /// repositories is kept once, from the best priority, then the earliest repository.
    pub(super) fn new(repos: &'a [Repo], target: &'a str, installed: &[&'a PackageEntry]) -> Self {
        let mut pkgs: Vec<Pkg<'a>> = Vec::new();
        let mut by_name: HashMap<&'a str, Vec<Cand>> = HashMap::default();
        for (r, repo) in repos.iter().enumerate() {
            for entry in &repo.packages {
                let arch = entry.architecture();
                if arch == target || arch == "all" {
                    by_name
                        .entry(entry.package())
                        .or_default()
                        .push(pkgs.len() as Cand);
                    pkgs.push(Pkg { entry, repo: r });
                }
            }
        }
        let mut u = Universe {
            repos,
            target,
            pkgs,
            by_name: HashMap::default(),
            provides: HashMap::default(),
            installed: installed.to_vec(),
        };
        // One package per name and version: the first by policy (best priority, then the
        // earlier repository); the others are left out of every look-up.
        let mut shadowed = vec![false; u.pkgs.len()];
        for cands in by_name.values_mut() {
            if cands.len() > 1 {
                cands.sort_by(|&a, &b| u.policy_cmp(a, b));
                let mut k = 1;
                while k < cands.len() {
                    let (a, b) = (u.entry(cands[k - 1]), u.entry(cands[k]));
                    if a.version().as_str() == b.version().as_str() {
                        shadowed[cands[k] as usize] = true;
                        cands.remove(k);
                    } else {
                        k += 1;
                    }
                }
            }
        }
        let mut names = Vec::new();
        for (c, p) in u.pkgs.iter().enumerate() {
            let Some(field) = p.entry.provides() else {
                continue;
            };
            if shadowed[c] {
                continue;
            }
            names.clear();
            field_names(field, "", &mut names);
            for &name in &names {
                let list = u.provides.entry(name).or_default();
                if list.last() != Some(&(c as Cand)) {
                    list.push(c as Cand);
                }
            }
        }
        u.by_name = by_name;
        u
    }

    pub(super) fn entry(&self, c: Cand) -> &'a PackageEntry {
        self.pkgs[c as usize].entry
    }

    pub(super) fn name(&self, c: Cand) -> &'a str {
        self.pkgs[c as usize].entry.package()
    }

    pub(super) fn priority(&self, c: Cand) -> u32 {
        self.repos[self.pkgs[c as usize].repo].priority
    }

    pub(super) fn repo_index(&self, c: Cand) -> usize {
        self.pkgs[c as usize].repo
    }

    pub(super) fn repo_name(&self, c: Cand) -> &'a str {
        &self.repos[self.pkgs[c as usize].repo].name
    }

    /// apt's policy between two versions of one name: the better priority, then the higher
    /// version, then the earlier repository.
    fn policy_cmp(&self, a: Cand, b: Cand) -> Ordering {
        self.priority(a)
            .cmp(&self.priority(b))
            .then_with(|| self.entry(b).version().cmp(self.entry(a).version()))
            .then(self.pkgs[a as usize].repo.cmp(&self.pkgs[b as usize].repo))
    }

    /// The versions of a name, the candidate first.
    pub(super) fn named(&self, name: &str) -> &[Cand] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// The order of a request's candidates: by the name's candidate (its priority, then its
    /// repository), then name, then the name's own order. For a name no package has, that
    /// is its providers by repository, then name.
    pub(super) fn request_cmp(&self, a: Cand, b: Cand) -> Ordering {
        let key = |c: Cand| {
            let named = self.named(self.name(c));
            let first = named.first().copied().unwrap_or(c);
            let pos = named.iter().position(|&x| x == c).unwrap_or(usize::MAX);
            (
                self.priority(first),
                self.repo_index(first),
                self.name(c),
                pos,
            )
        };
        key(a).cmp(&key(b))
    }

    /// What `apt-get install NAME` can mean here: the versions of the name, the candidate
    /// first; for a name no package has, every package providing it.
    pub(super) fn request_candidates(&self, name: &str) -> Vec<Cand> {
        let named = self.named(name);
        if !named.is_empty() {
            return named.to_vec();
        }
        let mut out: Vec<Cand> = self.providers(name).into_iter().map(|(c, _)| c).collect();
        out.sort_by(|&a, &b| self.request_cmp(a, b));
        out.dedup();
        out
    }

    /// Whether `c` is its name's candidate.
    pub(super) fn is_candidate(&self, c: Cand) -> bool {
        self.named(self.name(c)).first() == Some(&c)
    }

    /// The providers of a name (other packages' `Provides`), with the version provided
    /// (one entry per provide: a package may provide a name at several versions).
    pub(super) fn providers(&self, name: &str) -> Vec<(Cand, Option<DebVersion>)> {
        let mut out = Vec::new();
        for &c in self.provides.get(name).map_or(&[][..], Vec::as_slice) {
            let e = self.entry(c);
            for (n, v) in provides_of(e) {
                if n == name && !self_provide(e, &n, &v) {
                    out.push((c, v));
                }
            }
        }
        out
    }

    /// Every package meeting `rel`, by its own name or through a provide, any version.
    pub(super) fn meeting(&self, rel: &Relation) -> Vec<Cand> {
        let mut out: Vec<Cand> = self
            .named(&rel.name)
            .iter()
            .copied()
            .filter(|&c| satisfies_real(rel, self.entry(c), self.target))
            .collect();
        for (c, v) in self.providers(&rel.name) {
            if satisfies_provide(rel, &v, self.entry(c), self.target) {
                out.push(c);
            }
        }
        out
    }

    /// The packages meeting `rel` as apt would try them: `(candidates, others)`. The first
    /// are apt's own solutions: the name's candidate if it meets `rel`, then the providers
    /// whose candidate version meets it, sorted by `CompareProviders`. The others are
    /// versions that are not their name's candidate (apt never takes them; the closure does
    /// when nothing else will do), best first.
    pub(super) fn targets(&self, rel: &Relation) -> (Vec<Cand>, Vec<Cand>) {
        let (mut cands, mut others) = (Vec::new(), Vec::new());
        for (i, &c) in self.named(&rel.name).iter().enumerate() {
            if satisfies_real(rel, self.entry(c), self.target) {
                if i == 0 { &mut cands } else { &mut others }.push(c);
            }
        }
        let real = cands.len();
        for (c, v) in self.providers(&rel.name) {
            if satisfies_provide(rel, &v, self.entry(c), self.target) {
                if self.is_candidate(c) {
                    &mut cands
                } else {
                    &mut others
                }
                .push(c);
            }
        }
        self.sort_providers(&mut cands[real..], &rel.name);
        cands.dedup();
        others.sort_by(|&a, &b| self.fallback_cmp(a, b));
        others.dedup();
        (cands, others)
    }

    /// Versions that are not candidates: the better priority, the higher version, the
    /// earlier repository, then by name.
    fn fallback_cmp(&self, a: Cand, b: Cand) -> Ordering {
        self.policy_cmp(a, b)
            .then_with(|| self.name(a).cmp(self.name(b)))
    }

    /// Sorts providers as apt's `CompareProviders` does for packages none of which is
    /// installed: a package of the dependency's own name first, then `Essential: yes`, then
    /// `Important: yes`, then the better `Priority` (`required` first; a package without
    /// one sorts before all of them, as apt stores 0 for it). apt then prefers the higher
    /// package id: that last key needs the whole index and is applied by
    /// [`super::rules::TieBreak`] to the runs left equal ([`Universe::provider_key`]).
    fn sort_providers(&self, cands: &mut [Cand], name: &str) {
        cands.sort_by_cached_key(|&c| (self.provider_key(c, name), c));
    }

    /// `CompareProviders`' keys before the package id, for a dependency on `name`.
    pub(super) fn provider_key(&self, c: Cand, name: &str) -> (bool, bool, bool, u8) {
        let (essential, important, priority) = provider_flags(self.entry(c));
        (self.name(c) != name, !essential, !important, priority)
    }

    /// Where apt's cache generator first meets each of `names`: apt's package ids follow
    /// that order. It reads the indexes (sources in order, paragraphs in order: the package,
    /// then the names in its `Pre-Depends`, `Depends`, `Conflicts`, `Breaks`, `Recommends`,
    /// `Suggests`, `Replaces`, `Enhances`, then `Provides`), then the dpkg status file. One
    /// pass, stopping when every name is met.
    pub(super) fn first_mentions(&self, names: &HashSet<&str>) -> HashMap<&'a str, Mention> {
        let mut found: HashMap<&'a str, Mention> = HashMap::default();
        let target = self.target;
        let paragraphs = self
            .repos
            .iter()
            .flat_map(|r| &r.packages)
            .filter(|e| e.architecture() == target || e.architecture() == "all")
            .chain(self.installed.iter().copied());
        // A cheap test before hashing: the names' lengths and first bytes.
        let (mut lens, mut firsts) = ([false; 256], [false; 256]);
        for n in names {
            lens[n.len().min(255)] = true;
            firsts[usize::from(n.as_bytes().first().copied().unwrap_or(0))] = true;
        }
        let maybe = |n: &str| {
            lens[n.len().min(255)]
                && firsts[usize::from(n.as_bytes().first().copied().unwrap_or(0))]
        };
        let mut met = Vec::new();
        for (k, entry) in paragraphs.enumerate() {
            if found.len() == names.len() {
                break;
            }
            met.clear();
            met.push(entry.package());
            relation_names(entry, target, &mut met);
            for (pos, name) in met.iter().enumerate() {
                if maybe(name) && names.contains(name) {
                    found.entry(name).or_insert((k as u32, pos as u32));
                }
            }
        }
        found
    }
}

/// Where a name is first met: (paragraph, position among the names it mentions).
pub(super) type Mention = (u32, u32);

/// `Essential: yes`, `Important: yes`, apt's `Priority` number.
fn provider_flags(e: &PackageEntry) -> (bool, bool, u8) {
    let (mut essential, mut important, mut priority) = (false, false, None);
    for_each_field(e.raw(), |name, s, end| {
        let v = &e.raw()[s..end];
        if name.eq_ignore_ascii_case("Essential") {
            essential = v.eq_ignore_ascii_case("yes");
        } else if name.eq_ignore_ascii_case("Important") {
            important = v.eq_ignore_ascii_case("yes");
        } else if name.eq_ignore_ascii_case("Priority") {
            priority = Some(priority_rank(v));
        }
    });
    (essential, important, priority.unwrap_or(0))
}

/// apt's `Priority` number: `required` 1 to `extra` 5, an unknown word 5 (apt stores 0 when
/// there is none).
fn priority_rank(p: &str) -> u8 {
    match p.to_ascii_lowercase().as_str() {
        "required" => 1,
        "important" => 2,
        "standard" => 3,
        "optional" => 4,
        _ => 5,
    }
}

/// The names in an entry's relation fields, in the order apt's list parser reads them
/// (`Pre-Depends`, `Depends`, `Conflicts`, `Breaks`, `Recommends`, `Suggests`, `Replaces`,
/// `Enhances`, `Provides`), without those qualified for another architecture (`:any`,
/// `:i386`: other packages in apt's cache).
fn relation_names<'e>(entry: &'e PackageEntry, target: &str, out: &mut Vec<&'e str>) {
    let raw = entry.raw();
    // The three fields the entry does not keep, found by their lines.
    let (mut suggests, mut replaces, mut enhances) = (None, None, None);
    for line in raw.split('\n') {
        let slot = match line.as_bytes().first() {
            Some(b'S') => &mut suggests,
            Some(b'R') => &mut replaces,
            Some(b'E') => &mut enhances,
            _ => continue,
        };
        let name = ["Suggests:", "Replaces:", "Enhances:"]
            .into_iter()
            .find(|f| line.starts_with(f));
        if let Some(f) = name {
            slot.get_or_insert(&line[f.len()..]);
        }
    }
    let fields = [
        entry.pre_depends(),
        entry.depends(),
        entry.conflicts(),
        entry.breaks(),
        entry.recommends(),
        suggests,
        replaces,
        enhances,
        entry.provides(),
    ];
    for field in fields.into_iter().flatten() {
        field_names(field, target, out);
    }
}

/// The package names of one relation field, read byte by byte (this runs over the whole
/// index: no iterator adaptors, which cost in unoptimised builds).
fn field_names<'e>(field: &'e str, target: &str, out: &mut Vec<&'e str>) {
    let b = field.as_bytes();
    let n = b.len();
    let mut i = 0;
    while i < n {
        while i < n && matches!(b[i], b' ' | b'\t' | b'\n' | b',' | b'|') {
            i += 1;
        }
        let start = i;
        while i < n
            && !matches!(
                b[i],
                b' ' | b'\t' | b'\n' | b',' | b'|' | b'(' | b'[' | b'<' | b':'
            )
        {
            i += 1;
        }
        let name = &field[start..i];
        let mut keep = true;
        if i < n && b[i] == b':' {
            let q = i + 1;
            i = q;
            while i < n
                && !matches!(
                    b[i],
                    b' ' | b'\t' | b'\n' | b',' | b'|' | b'(' | b'[' | b'<'
                )
            {
                i += 1;
            }
            let qual = &field[q..i];
            keep = qual == "native" || qual == target;
        }
        if keep && !name.is_empty() {
            out.push(name);
        }
        while i < n && !matches!(b[i], b',' | b'|') {
            i += 1;
        }
    }
}

/// A set of entries searchable by name and by provided name (the selected or the installed
/// packages).
pub(super) struct Lookup<'e> {
    pub(super) entries: Vec<&'e PackageEntry>,
    pub(super) by_name: HashMap<&'e str, Vec<usize>>,
    provides: HashMap<String, Vec<(usize, Option<DebVersion>)>>,
}

impl<'e> Lookup<'e> {
    pub(super) fn new() -> Self {
        Lookup {
            entries: Vec::new(),
            by_name: HashMap::default(),
            provides: HashMap::default(),
        }
    }

    pub(super) fn add(&mut self, entry: &'e PackageEntry) -> usize {
        let i = self.entries.len();
        self.entries.push(entry);
        self.by_name.entry(entry.package()).or_default().push(i);
        for (name, v) in provides_of(entry) {
            self.provides.entry(name).or_default().push((i, v));
        }
        i
    }

    /// Every entry satisfying `rel`, really or through a provide (possibly twice).
    pub(super) fn find_all(&self, rel: &Relation, target: &str) -> Vec<usize> {
        let real = self.by_name.get(rel.name.as_str()).into_iter().flatten();
        let mut out: Vec<usize> = real
            .copied()
            .filter(|&i| satisfies_real(rel, self.entries[i], target))
            .collect();
        for (i, v) in self.provides.get(&rel.name).into_iter().flatten() {
            if satisfies_provide(rel, v, self.entries[*i], target) {
                out.push(*i);
            }
        }
        out
    }

    /// The first entry (in insertion order) satisfying `rel`, really or through a provide.
    pub(super) fn find(&self, rel: &Relation, target: &str) -> Option<usize> {
        let real = self.by_name.get(rel.name.as_str()).into_iter().flatten();
        if let Some(&i) = real
            .into_iter()
            .find(|&&i| satisfies_real(rel, self.entries[i], target))
        {
            return Some(i);
        }
        self.provides
            .get(&rel.name)
            .into_iter()
            .flatten()
            .find(|(i, v)| satisfies_provide(rel, v, self.entries[*i], target))
            .map(|(i, _)| *i)
    }
}
