//! The extension catalog: every PostgreSQL extension Pigsty ships, with its packages per
//! family, the PG majors it is built for, what it requires, and where it is available.
//!
//! The catalog is compiled into the binary from `extensions/*.toml` (our own schema, see
//! [`store`]). `--catalog FILE` replaces it with a catalog in the upstream 41-column CSV
//! format (see [`upstream`]); [`diff`] compares the two.

pub mod browse;
pub mod diff;
pub mod store;
pub mod upstream;

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use pigsty_bundle::{Family, Target};
use serde::Serialize;

/// Where an extension's packages come from.
pub type Origin = String;

/// The availability states of Pigsty's matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// `A`: built and published.
    Available,
    /// `M`: no package for this OS, arch and PG major.
    Missing,
    /// `H`: hidden from listings.
    Hidden,
    /// `B`: a package exists but is known broken.
    Broken,
    /// `T`: thrown away (withdrawn).
    Thrown,
    /// `F`: only in a forked PostgreSQL kernel.
    Fork,
}

impl State {
    /// All states but `Available`, in the order our catalog files list them.
    pub const UNAVAILABLE: [State; 5] = [
        State::Missing,
        State::Hidden,
        State::Broken,
        State::Thrown,
        State::Fork,
    ];

    pub fn from_letter(c: &str) -> Option<State> {
        Some(match c {
            "A" => State::Available,
            "M" => State::Missing,
            "H" => State::Hidden,
            "B" => State::Broken,
            "T" => State::Thrown,
            "F" => State::Fork,
            _ => return None,
        })
    }

    /// The key our catalog files use: `missing`, `broken`, ...
    pub fn key(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Missing => "missing",
            State::Hidden => "hidden",
            State::Broken => "broken",
            State::Thrown => "thrown",
            State::Fork => "fork",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One cell of the availability matrix: `el9.x86_64` and a PG major.
pub type Cell = (String, u32);

/// Availability per OS, arch and PG major, as far as the upstream matrix knows it. Cells not
/// listed are available.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Availability {
    pub unavailable: BTreeMap<Cell, State>,
}

impl Availability {
    pub fn state(&self, os_arch: &str, pg: u32) -> State {
        self.unavailable
            .get(&(os_arch.to_string(), pg))
            .copied()
            .unwrap_or(State::Available)
    }
}

/// The package of an extension in one family (rpm or deb).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FamilyPackage {
    /// Package name pattern; `$v` is the PG major. Empty: no package in this family.
    pub package: String,
    pub origin: Origin,
    pub version: String,
    /// PG majors this family's package is built for.
    pub pg: Vec<u32>,
    /// Extra packages to install with it (patterns with `$v`).
    pub deps: Vec<String>,
}

impl FamilyPackage {
    pub fn is_empty(&self) -> bool {
        self.package.is_empty()
            && self.origin.is_empty()
            && self.version.is_empty()
            && self.pg.is_empty()
            && self.deps.is_empty()
    }
}

/// One extension of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extension {
    pub id: u32,
    pub name: String,
    /// The package key: extensions sharing it ship in one package.
    pub package: String,
    /// Whether this extension leads its package.
    pub lead: bool,
    /// The extension that leads this one's package.
    pub lead_extension: String,
    pub category: String,
    pub license: String,
    pub version: String,
    /// PGDG, PIGSTY, CONTRIB or MIXED.
    pub origin: Origin,
    /// Part of PostgreSQL's own contrib.
    pub contrib: bool,
    /// PG majors the extension supports at all.
    pub pg: Vec<u32>,
    /// Other extensions that must be installed too.
    pub requires: Vec<String>,
    pub rpm: FamilyPackage,
    pub deb: FamilyPackage,
    /// `os.arch` pairs the extension is never built for.
    pub os_exclude: Vec<String>,
    /// A forked PostgreSQL kernel the extension needs, if any.
    pub kernel: Option<String>,
    /// The upstream availability matrix, when known.
    pub availability: Option<Availability>,
}

impl Extension {
    pub fn family(&self, family: Family) -> &FamilyPackage {
        match family {
            Family::Rpm => &self.rpm,
            Family::Deb => &self.deb,
        }
    }
}

/// Why an extension cannot be served on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Unavailable {
    /// No package at all for this package family.
    NoPackageForFamily { family: Family },
    /// A package exists, but not for this PG major.
    NoPackageForPg { pg: u32, majors: Vec<u32> },
    /// The extension is never built for this OS and arch.
    ExcludedOnOs { os_arch: String },
    /// The upstream matrix marks this cell unavailable.
    Matrix {
        os_arch: String,
        pg: u32,
        state: State,
    },
    /// It requires an extension that cannot be served here.
    Requires { extension: String },
    /// It requires an extension the catalog does not know.
    UnknownRequirement { extension: String },
    /// A build found its package in none of the configured repos.
    NotInRepos { package: String },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let majors = |m: &[u32]| {
            m.iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Unavailable::NoPackageForFamily { family } => write!(f, "no {family} package"),
            Unavailable::NoPackageForPg { pg, majors: m } if m.is_empty() => {
                write!(f, "no package for PG {pg}")
            }
            Unavailable::NoPackageForPg { pg, majors: m } => {
                write!(f, "no package for PG {pg} (built for PG {})", majors(m))
            }
            Unavailable::ExcludedOnOs { os_arch } => write!(f, "not built for {os_arch}"),
            Unavailable::Matrix { os_arch, pg, state } => {
                let what = match state {
                    State::Missing => "missing",
                    State::Hidden => "hidden",
                    State::Broken => "broken",
                    State::Thrown => "withdrawn",
                    State::Fork => "only in a forked kernel",
                    State::Available => "available",
                };
                write!(f, "{what} on {os_arch} for PG {pg}")
            }
            Unavailable::Requires { extension } => {
                write!(f, "requires `{extension}`, which is unavailable here")
            }
            Unavailable::UnknownRequirement { extension } => {
                write!(f, "requires `{extension}`, which the catalog does not know")
            }
            Unavailable::NotInRepos { package } => {
                write!(
                    f,
                    "its package {package} is in none of the configured repos"
                )
            }
        }
    }
}

/// The whole catalog, in id order, with a name index.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    extensions: Vec<Extension>,
    by_name: HashMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read catalog {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("catalog {path}: {reason}")]
    Parse { path: String, reason: String },
    #[error("catalog {path}: extension `{name}` is listed twice")]
    Duplicate { path: String, name: String },
}

impl Catalog {
    pub fn new(mut extensions: Vec<Extension>, origin: &str) -> Result<Catalog, CatalogError> {
        extensions.sort_by(|a, b| (a.id, &a.name).cmp(&(b.id, &b.name)));
        let mut by_name = HashMap::with_capacity(extensions.len());
        for (i, e) in extensions.iter().enumerate() {
            if by_name.insert(e.name.clone(), i).is_some() {
                return Err(CatalogError::Duplicate {
                    path: origin.to_string(),
                    name: e.name.clone(),
                });
            }
        }
        Ok(Catalog {
            extensions,
            by_name,
        })
    }

    /// The catalog compiled into this binary.
    pub fn builtin() -> Result<Catalog, CatalogError> {
        store::load_builtin()
    }

    /// Loads a catalog file: the upstream CSV format (`.csv`) or one of our TOML files.
    pub fn load(path: &Path) -> Result<Catalog, CatalogError> {
        let text = std::fs::read_to_string(path).map_err(|source| CatalogError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let name = path.display().to_string();
        if path.extension().is_some_and(|e| e == "toml") {
            Catalog::new(store::parse(&text, &name)?, &name)
        } else {
            Catalog::new(upstream::parse(&text, &name)?, &name)
        }
    }

    pub fn extensions(&self) -> &[Extension] {
        &self.extensions
    }

    pub fn get(&self, name: &str) -> Option<&Extension> {
        self.by_name.get(name).map(|&i| &self.extensions[i])
    }

    /// Finds an extension by name, else by package key (its lead extension).
    pub fn find(&self, name: &str) -> Option<&Extension> {
        self.get(name).or_else(|| {
            self.extensions
                .iter()
                .find(|e| e.lead && e.package == name)
                .or_else(|| self.extensions.iter().find(|e| e.package == name))
        })
    }

    /// All categories, in catalog order.
    pub fn categories(&self) -> Vec<&str> {
        let mut seen = Vec::new();
        for e in &self.extensions {
            if !seen.contains(&e.category.as_str()) {
                seen.push(e.category.as_str());
            }
        }
        seen
    }

    /// The availability matrix that applies to an extension: its own, else its lead's.
    pub fn availability_of<'a>(&'a self, ext: &'a Extension) -> Option<&'a Availability> {
        ext.availability.as_ref().or_else(|| {
            self.get(&ext.lead_extension)
                .filter(|lead| lead.name != ext.name)
                .and_then(|lead| lead.availability.as_ref())
        })
    }

    /// The package an extension needs on a target (with `$v` expanded), or why there is none.
    pub fn resolve(&self, ext: &Extension, target: &Target) -> Result<String, Unavailable> {
        self.resolve_with(ext, target, true)
    }

    /// [`Catalog::resolve`], the availability matrix (a prediction of what the upstream
    /// repos carry) consulted only if `matrix`: a build asks the repos themselves.
    pub fn resolve_with(
        &self,
        ext: &Extension,
        target: &Target,
        matrix: bool,
    ) -> Result<String, Unavailable> {
        let fam = ext.family(target.family());
        if fam.package.is_empty() {
            return Err(Unavailable::NoPackageForFamily {
                family: target.family(),
            });
        }
        if !fam.pg.contains(&target.pg) {
            return Err(Unavailable::NoPackageForPg {
                pg: target.pg,
                majors: fam.pg.clone(),
            });
        }
        let os_arch = target.os_arch();
        if ext.os_exclude.contains(&os_arch) {
            return Err(Unavailable::ExcludedOnOs { os_arch });
        }
        if let Some(avail) = self.availability_of(ext).filter(|_| matrix) {
            let state = avail.state(&os_arch, target.pg);
            if state != State::Available && state != State::Hidden {
                return Err(Unavailable::Matrix {
                    os_arch,
                    pg: target.pg,
                    state,
                });
            }
        }
        Ok(expand_v(&fam.package, target.pg))
    }
}

/// Replaces the PG major placeholder `$v` (and `${v}`) in a package pattern.
pub fn expand_v(pattern: &str, pg: u32) -> String {
    let v = pg.to_string();
    pattern.replace("${v}", &v).replace("$v", &v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pigsty_bundle::{Arch, Os};

    #[test]
    fn expand() {
        assert_eq!(
            expand_v("postgresql-$v-postgis-3", 17),
            "postgresql-17-postgis-3"
        );
        assert_eq!(expand_v("postgis36_${v}", 16), "postgis36_16");
        assert_eq!(expand_v("patroni", 16), "patroni");
    }

    #[test]
    fn builtin_catalog_loads_and_resolves_reference_examples() {
        let cat = Catalog::builtin().unwrap();
        assert!(cat.extensions().len() >= 440, "{}", cat.extensions().len());
        let postgis = cat.get("postgis").unwrap();
        let el9 = Target::new(Os::El9, Arch::X86_64, 17);
        let d12 = Target::new(Os::D12, Arch::X86_64, 17);
        assert_eq!(cat.resolve(postgis, &el9).unwrap(), "postgis36_17");
        assert_eq!(
            cat.resolve(postgis, &d12).unwrap(),
            "postgresql-17-postgis-3"
        );
        let vector = cat.get("vector").unwrap();
        let d12_15 = Target::new(Os::D12, Arch::X86_64, 15);
        assert_eq!(
            cat.resolve(vector, &d12_15).unwrap(),
            "postgresql-15-pgvector"
        );
        // found by package key too
        assert_eq!(cat.find("pgvector").unwrap().name, "vector");
    }

    #[test]
    fn unavailability_reasons() {
        let cat = Catalog::builtin().unwrap();
        // pg_strom has no deb package at all
        let strom = cat.get("pg_strom").unwrap();
        let d12 = Target::new(Os::D12, Arch::X86_64, 17);
        assert_eq!(
            cat.resolve(strom, &d12),
            Err(Unavailable::NoPackageForFamily {
                family: Family::Deb
            })
        );
        // and is excluded on EL aarch64
        let el9a = Target::new(Os::El9, Arch::Aarch64, 17);
        assert_eq!(
            cat.resolve(strom, &el9a),
            Err(Unavailable::ExcludedOnOs {
                os_arch: "el9.aarch64".into()
            })
        );
        // no extension is built for PG 13
        let postgis = cat.get("postgis").unwrap();
        let pg13 = Target::new(Os::El9, Arch::X86_64, 13);
        assert!(matches!(
            cat.resolve(postgis, &pg13),
            Err(Unavailable::NoPackageForPg { pg: 13, .. })
        ));
        // a matrix cell: orioledb is only in a forked kernel
        let oriole = cat.get("orioledb").unwrap();
        let el9 = Target::new(Os::El9, Arch::X86_64, 17);
        assert!(matches!(
            cat.resolve(oriole, &el9),
            Err(Unavailable::Matrix {
                state: State::Fork,
                ..
            })
        ));
    }
}
