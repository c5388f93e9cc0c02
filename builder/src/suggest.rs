//! Typo suggestions: the known names closest to an unknown `--ext` or `--packages` item.
//!
//! Candidates are extension names, package keys, the extensions' rpm and deb package names
//! and the manifests' package aliases; the distance is `strsim`'s optimal string alignment
//! (Damerau-Levenshtein without repeated edits: a swapped pair of letters counts one).

use pigsty_bundle::PG_DEFAULT;

use crate::catalog::{expand_v, Catalog};
use crate::distro::Distro;

/// A close candidate: how far, how preferred at equal distance (lower first), what to say.
struct Hit {
    distance: usize,
    rank: u8,
    suggestion: String,
}

/// Edits tolerated for a word of `len` characters: a third of it, at least one, at most 3.
fn budget(len: usize) -> usize {
    (len / 3).clamp(1, 3)
}

/// The suggestions of the closest candidates (all at the smallest distance, at most 3).
/// Candidates: (name, rank, suggestion).
fn closest(word: &str, candidates: impl Iterator<Item = (String, u8, String)>) -> Vec<String> {
    let w = word.to_lowercase();
    let mut hits: Vec<Hit> = candidates
        .filter_map(|(name, rank, suggestion)| {
            let d = strsim::osa_distance(&w, &name.to_lowercase());
            (d > 0 && d <= budget(w.chars().count())).then_some(Hit {
                distance: d,
                rank,
                suggestion,
            })
        })
        .collect();
    hits.sort_by(|a, b| {
        (a.distance, a.rank, &a.suggestion).cmp(&(b.distance, b.rank, &b.suggestion))
    });
    let best = hits.first().map(|h| h.distance);
    let mut out: Vec<String> = Vec::new();
    for h in hits.into_iter().filter(|h| Some(h.distance) == best) {
        if !out.contains(&h.suggestion) {
            out.push(h.suggestion);
        }
    }
    out.truncate(3);
    out
}

/// The extension-side candidates: names, package keys and package names (for the PG majors
/// the package is built for, and the pattern itself).
fn extension_candidates(catalog: &Catalog) -> impl Iterator<Item = (String, u8, String)> + '_ {
    catalog.extensions().iter().flat_map(|e| {
        let mut c = vec![(e.name.clone(), 0, format!("`{}`", e.name))];
        if e.lead && e.package != e.name {
            c.push((
                e.package.clone(),
                1,
                format!("`{}` (package key `{}`)", e.name, e.package),
            ));
        }
        for f in [&e.rpm, &e.deb] {
            if f.package.is_empty() {
                continue;
            }
            let pgs = if f.pg.is_empty() {
                vec![PG_DEFAULT]
            } else {
                f.pg.clone()
            };
            for pg in pgs {
                let p = expand_v(&f.package, pg);
                c.push((p.clone(), 2, format!("`{}` (package {p})", e.name)));
            }
        }
        c
    })
}

fn phrase(found: &[String]) -> String {
    match found {
        [] => String::new(),
        [one] => format!("; did you mean {one}?"),
        [rest @ .., last] => format!("; did you mean {} or {last}?", rest.join(", ")),
    }
}

/// `; did you mean ...?` for an unknown `--ext` item, or nothing. `aliases`: the target's
/// package aliases, suggested as `--packages` items when no extension is close.
pub fn for_extension(catalog: &Catalog, aliases: &[&str], word: &str) -> String {
    let mut found = closest(word, extension_candidates(catalog));
    if found.is_empty() {
        let alias = aliases
            .iter()
            .map(|a| (a.to_string(), 0, format!("`--packages {a}` (an alias)")));
        found = closest(word, alias);
    }
    phrase(&found)
}

/// For a `--packages` item that is no alias of the target and no package of any extension:
/// a note with the aliases (and extensions) it may be a typo of. `None` when nothing is
/// close: the item is then a package name as it stands.
pub fn for_package(catalog: &Catalog, distro: &Distro, item: &str) -> Option<String> {
    if distro.aliases.contains_key(item) {
        return None;
    }
    let pg = distro.target.pg;
    let known = catalog.extensions().iter().any(|e| {
        [&e.rpm, &e.deb]
            .iter()
            .any(|f| !f.package.is_empty() && expand_v(&f.package, pg) == item)
    });
    if known {
        return None;
    }
    let alias = distro
        .aliases
        .keys()
        .map(|a| (a.clone(), 0, format!("the alias `{a}`")));
    let ext = catalog
        .extensions()
        .iter()
        .map(|e| (e.name.clone(), 1, format!("`--ext {}`", e.name)));
    let found = closest(item, alias.chain(ext));
    (!found.is_empty()).then(|| {
        format!(
            "`{item}` is no alias of {}, so it is taken as a package name{}",
            distro.target,
            phrase(&found)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::{Arch, Os, Target};

    #[test]
    fn suggests_vector_for_pgvectr() {
        let c = Catalog::builtin().unwrap();
        let s = for_extension(&c, &[], "pgvectr");
        assert!(s.contains("`vector`"), "{s}");
        assert!(for_extension(&c, &[], "zzzzzzzzqqq").is_empty());
    }

    #[test]
    fn suggests_an_alias_for_a_package_typo() {
        let c = Catalog::builtin().unwrap();
        let d = Distro::load(Target::new(Os::D12, Arch::X86_64, 17), None).unwrap();
        let s = for_package(&c, &d, "pgsql-mni").unwrap();
        assert!(s.contains("`pgsql-mini`"), "{s}");
        assert!(for_package(&c, &d, "pgsql-mini").is_none());
        assert!(for_package(&c, &d, "postgresql-17-pgvector").is_none());
    }
}
