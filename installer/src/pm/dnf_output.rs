//! Reading dnf's own words: libsolv's problem report of a failed `dnf install --assumeno`.

use super::Blocker;

/// Reads libsolv's problem report from a failed `dnf install --assumeno --setopt=best=True`
/// (without `best`, dnf would rather plan a downgrade of the node's package):
///
/// ```text
///  Problem: cannot install both postgresql17-libs-17.6-1PGDG.rhel9.x86_64 and postgresql17-libs-17.7-1PGDG.rhel9.x86_64
///   - package postgresql17-server-17.6-1PGDG.rhel9.x86_64 requires postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9, but none of the providers can be installed
///   - cannot install the best candidate for the job
/// ```
///
/// `installed(nevra)` tells which side of "cannot install both" is on the node, with its name
/// and installed version.
pub fn parse_problems(
    output: &str,
    mut installed: impl FnMut(&str) -> Option<(String, String)>,
) -> Vec<Blocker> {
    let mut out: Vec<Blocker> = Vec::new();
    let mut needs: Vec<(String, String)> = Vec::new();
    let mut in_the_way: Vec<(String, String)> = Vec::new();
    for line in output.lines() {
        let mut l = line.trim().trim_start_matches("- ").trim();
        // `Problem: ...` or `Problem 2: ...` starts a block; its text is the first item.
        if let Some(rest) = l.strip_prefix("Problem") {
            flush(&mut out, &mut needs, &mut in_the_way);
            l = rest.split_once(": ").map_or("", |(_, r)| r.trim());
        }
        if let Some(rest) = l.strip_prefix("package ") {
            if let Some((pkg, rel)) = rest.split_once(" requires ") {
                let rel = rel
                    .split(", but none of the providers can be installed")
                    .next()
                    .unwrap_or(rel);
                needs.push((nevra(pkg).to_string(), rel.trim().to_string()));
            } else if let Some((pkg, rel)) = rest.split_once(" conflicts with ") {
                needs.push((
                    nevra(pkg).to_string(),
                    format!("no conflict with {}", rel.trim()),
                ));
            }
        } else if let Some(rest) = l.strip_prefix("cannot install both ") {
            if let Some((a, b)) = rest.split_once(" and ") {
                for nevra in [nevra(a), nevra(b)] {
                    if let Some((name, version)) = installed(nevra) {
                        in_the_way.push((name, version));
                    }
                }
            }
        } else if let Some(rest) = l.strip_prefix("nothing provides ") {
            if let Some((rel, pkg)) = rest.split_once(" needed by ") {
                needs.push((nevra(pkg).to_string(), rel.trim().to_string()));
            }
        } else if let Some(rest) = l.strip_prefix("problem with installed package ") {
            if let Some((name, version)) = installed(nevra(rest)) {
                in_the_way.push((name, version));
            }
        }
    }
    flush(&mut out, &mut needs, &mut in_the_way);
    out
}

/// A package as a problem names it: dnf 4.15 and later add ` from REPO` (`@System` for the
/// node's own) after the NEVRA, earlier ones do not.
fn nevra(s: &str) -> &str {
    let s = s.trim();
    s.split_once(" from ").map_or(s, |(nevra, _)| nevra.trim())
}

fn flush(
    out: &mut Vec<Blocker>,
    needs: &mut Vec<(String, String)>,
    in_the_way: &mut Vec<(String, String)>,
) {
    in_the_way.dedup();
    for (pkg, rel) in needs.drain(..) {
        let blocker = in_the_way.first().cloned();
        let b = Blocker {
            bundle_package: pkg,
            needs: rel,
            installed: blocker.as_ref().map(|(n, _)| n.clone()),
            installed_version: blocker.map(|(_, v)| v),
            held: false,
        };
        if !out.contains(&b) {
            out.push(b);
        }
    }
    in_the_way.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libsolv_problems() {
        // As dnf 4.14 prints it with best=True, a node with a newer library than the bundle's.
        let output = "Package postgresql17-libs-17.7-1PGDG.rhel9.x86_64 is already installed.\nError: \n Problem: cannot install both postgresql17-libs-17.6-1PGDG.rhel9.x86_64 and postgresql17-libs-17.7-1PGDG.rhel9.x86_64\n  - package postgresql17-server-17.6-1PGDG.rhel9.x86_64 requires postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9, but none of the providers can be installed\n  - cannot install the best candidate for the job\n(try to add '--allowerasing' to command line to replace conflicting packages or '--skip-broken' to skip uninstallable packages)\n";
        let b = parse_problems(output, |nevra| {
            (nevra == "postgresql17-libs-17.7-1PGDG.rhel9.x86_64")
                .then(|| ("postgresql17-libs".into(), "17.7-1PGDG.rhel9".into()))
        });
        assert_eq!(
            b,
            vec![Blocker {
                bundle_package: "postgresql17-server-17.6-1PGDG.rhel9.x86_64".into(),
                needs: "postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9".into(),
                installed: Some("postgresql17-libs".into()),
                installed_version: Some("17.7-1PGDG.rhel9".into()),
                held: false,
            }]
        );
        // dnf 4.23 (Debian 13; EL10's 4.20 alike) names each package's repo.
        let newer = "Package postgresql17-libs-17.7-1PGDG.rhel9.x86_64 is already installed.\nError: \n Problem: cannot install both postgresql17-libs-17.6-1PGDG.rhel9.x86_64 from pigsty-local and postgresql17-libs-17.7-1PGDG.rhel9.x86_64 from @System\n  - package postgresql17-server-17.6-1PGDG.rhel9.x86_64 from pigsty-local requires postgresql17-libs(x86-64) = 17.6-1PGDG.rhel9, but none of the providers can be installed\n  - cannot install the best candidate for the job\n  - conflicting requests\n";
        let newer = parse_problems(newer, |nevra| {
            (nevra == "postgresql17-libs-17.7-1PGDG.rhel9.x86_64")
                .then(|| ("postgresql17-libs".into(), "17.7-1PGDG.rhel9".into()))
        });
        assert_eq!(newer, b);
        let missing = parse_problems(
            " Problem: conflicting requests\n  - nothing provides libfoo.so.1()(64bit) needed by bar-1-1.x86_64 from pigsty-local\n",
            |_| None,
        );
        assert_eq!(missing[0].bundle_package, "bar-1-1.x86_64");
        assert_eq!(missing[0].needs, "libfoo.so.1()(64bit)");
        assert!(missing[0].installed.is_none());
    }
}
