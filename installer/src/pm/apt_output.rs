//! Reading apt's own words: the unmet dependencies of a failed `apt-get -s install`, the held
//! packages it would change, and which bundle packages depend on those.

use super::Blocker;

/// Reads the "unmet dependencies" part of a failed `apt-get -s install`.
pub fn parse_unmet(output: &str) -> Vec<Blocker> {
    let mut out = Vec::new();
    let mut in_section = false;
    let mut current: Option<String> = None;
    for line in output.lines() {
        if line.contains("have unmet dependencies") {
            in_section = true;
            continue;
        }
        if !in_section {
            continue;
        }
        if line.starts_with("E:") || line.trim().is_empty() {
            if line.starts_with("E:") {
                break;
            }
            continue;
        }
        // " pkg : Depends: rel but X is to be installed" or a continuation "       Depends: ..."
        let rest = if let Some((pkg, rest)) = line.split_once(" : ") {
            current = Some(pkg.trim().to_string());
            rest
        } else {
            line.trim()
        };
        let Some(pkg) = current.clone() else { continue };
        let rest = rest.trim();
        let Some((_kind, rel)) = rest.split_once(": ") else {
            continue;
        };
        let (needs, tail) = match rel.split_once(" but ") {
            Some((n, t)) => (n.trim().to_string(), Some(t.trim())),
            None => (rel.trim().to_string(), None),
        };
        let dep_name = needs.split([' ', '(']).next().unwrap_or("").to_string();
        let version = tail.and_then(|t| {
            let t = t
                .strip_suffix(" is to be installed")
                .or_else(|| t.strip_suffix(" is installed"))?;
            (!t.contains(' ')).then(|| t.to_string())
        });
        out.push(Blocker {
            bundle_package: pkg,
            needs,
            installed: version.as_ref().map(|_| dep_name),
            installed_version: version,
            held: false,
        });
    }
    out
}

/// The held packages a simulated install would have to change ("The following held packages
/// will be changed:").
pub fn parse_held_changes(output: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_section = false;
    for line in output.lines() {
        if line.starts_with("The following held packages will be changed") {
            in_section = true;
            continue;
        }
        if in_section {
            if !line.starts_with(' ') {
                break;
            }
            out.extend(line.split_whitespace().map(str::to_string));
        }
    }
    out
}

/// Blockers for held packages that must change: which bundle packages depend on each (from
/// the bundle's `Packages` text) and with which relation.
pub fn held_blockers(
    held: &[String],
    installed_version: impl Fn(&str) -> Option<String>,
    packages: &str,
) -> Vec<Blocker> {
    let mut out = Vec::new();
    for h in held {
        let mut found = false;
        for para in packages.split("\n\n") {
            let name = field(para, "Package").unwrap_or_default();
            for f in ["Pre-Depends", "Depends"] {
                let Some(deps) = field(para, f) else { continue };
                for group in deps.split(',') {
                    if group
                        .split('|')
                        .any(|alt| alt.trim().split([' ', '(', ':']).next() == Some(h.as_str()))
                    {
                        out.push(Blocker {
                            bundle_package: name.clone(),
                            needs: group.trim().to_string(),
                            installed: Some(h.clone()),
                            installed_version: installed_version(h),
                            held: true,
                        });
                        found = true;
                    }
                }
            }
        }
        if !found {
            out.push(Blocker {
                bundle_package: h.clone(),
                needs: format!("{h} from the bundle"),
                installed: Some(h.clone()),
                installed_version: installed_version(h),
                held: true,
            });
        }
    }
    out
}

fn field(para: &str, name: &str) -> Option<String> {
    let mut value: Option<String> = None;
    for line in para.lines() {
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            break;
        }
        if let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix(':')) {
            value = Some(rest.trim().to_string());
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_packages_that_must_change_are_blockers() {
        let out = "The following held packages will be changed:\n  libpq5\nThe following NEW packages will be installed:\n  postgresql-client-15\n";
        let held = parse_held_changes(out);
        assert_eq!(held, vec!["libpq5"]);
        let packages = "Package: postgresql-client-15\nVersion: 15.20\nDepends: libpq5 (>= 15.20), libc6\n\nPackage: other\nDepends: libc6\n";
        let b = held_blockers(&held, |_| Some("1.0-1".into()), packages);
        assert_eq!(b.len(), 1);
        assert_eq!(
            b[0].to_string(),
            "installed libpq5 1.0-1 (held) blocks postgresql-client-15 from the bundle, which needs libpq5 (>= 15.20)"
        );
    }

    #[test]
    fn parses_apt_unmet_dependencies() {
        let out = "Reading package lists...\nSome packages could not be installed. This may mean that you have\nrequested an impossible situation.\n\nThe following information may help to resolve the situation:\n\nThe following packages have unmet dependencies:\n postgresql-client-15 : Depends: libpq5 (>= 15.20) but 15.14-0+deb12u1 is to be installed\n                        Depends: foo but it is not going to be installed\n ansible-core : Depends: python3-jinja2 (= 3.1.2-1) but 3.1.6-1 is installed\nE: Unable to correct problems, you have held broken packages.\n";
        let b = parse_unmet(out);
        assert_eq!(b.len(), 3);
        assert_eq!(b[0].bundle_package, "postgresql-client-15");
        assert_eq!(b[0].needs, "libpq5 (>= 15.20)");
        assert_eq!(b[0].installed.as_deref(), Some("libpq5"));
        assert_eq!(b[0].installed_version.as_deref(), Some("15.14-0+deb12u1"));
        assert_eq!(b[1].bundle_package, "postgresql-client-15");
        assert_eq!(b[1].installed, None);
        assert_eq!(b[2].installed.as_deref(), Some("python3-jinja2"));
        assert_eq!(
            b[0].to_string(),
            "installed libpq5 15.14-0+deb12u1 blocks postgresql-client-15 from the bundle, which needs libpq5 (>= 15.20)"
        );
    }
}
