//! The drift check: before anything is installed, the node's own package manager simulates
//! installing the bootstrap set (or every bundle package) from the bundle. When a package
//! already installed on the node blocks a bundle package (the node's OS minor release is newer
//! or older than the bundle's, or a package is held), this says which installed package, at
//! which version, blocks which bundle package, and what to do.

use std::fmt;

use serde::Serialize;

/// One bundle package that cannot be installed, and what blocks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// The package from the bundle that cannot be installed.
    pub bundle_package: String,
    /// Its relation that cannot be met, as apt prints it (`libpq5 (>= 15.20)`).
    pub needs: String,
    /// The package on the node that is in the way, if apt names one.
    pub installed: Option<String>,
    /// Its version on the node.
    pub installed_version: Option<String>,
    /// Whether it is held (`apt-mark hold`).
    pub held: bool,
}

impl fmt::Display for Blocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.installed, &self.installed_version) {
            (Some(p), Some(v)) => write!(
                f,
                "installed {p} {v}{} blocks {} from the bundle, which needs {}",
                if self.held { " (held)" } else { "" },
                self.bundle_package,
                self.needs
            ),
            _ => write!(
                f,
                "{} from the bundle needs {}, which cannot be installed",
                self.bundle_package, self.needs
            ),
        }
    }
}

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

/// What to tell the user to do about blockers.
pub fn advice(
    blockers: &[Blocker],
    node_os: &str,
    bundle_target: &str,
    repo_format: &str,
) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "the node ({node_os}) has packages that block the bundle ({bundle_target}):\n"
    ));
    for b in blockers {
        s.push_str(&format!("  - {b}\n"));
    }
    s.push_str("what to do:\n");
    let mut items: Vec<&str> = Vec::new();
    if repo_format == "dnf" {
        items.push(
            "build the bundle from the same minor release as this node: on a connected machine, point \
             pigsty-build at that release's repos (`--mirror el=URL` of its vault or snapshot), so the \
             bundle's versions match what is installed",
        );
        items.push(
            "or, if the bundle's version is the one you want, change the blocking package yourself \
             (`dnf downgrade NAME` or `dnf remove NAME`) and run pigsty-install again",
        );
    } else {
        if blockers.iter().any(|b| b.held) {
            items.push(
                "release the held packages (`apt-mark unhold NAME`) so the bundle's versions can replace them",
            );
        }
        items.push(
            "build a bundle against this node's release: on a connected machine, \
             `pigsty-build --exclude-installed STATUS` with this node's /var/lib/dpkg/status, so the \
             bundle matches what is installed",
        );
    }
    for (i, item) in items.iter().enumerate() {
        let item = if i > 0 && !item.starts_with("or") {
            format!("or {item}")
        } else {
            item.to_string()
        };
        s.push_str(&format!("  - {item};\n"));
    }
    s.push_str("  - nothing was changed on this node.");
    s
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
