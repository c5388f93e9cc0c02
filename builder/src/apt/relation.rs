//! Package relation fields: `Depends`, `Pre-Depends`, `Recommends`, `Provides`, `Conflicts`,
//! `Breaks`.
//!
//! A field is comma-separated groups of `|` alternatives; each alternative is
//! `name[:archqual] [(op version)] [[arch list]] [<profiles>]`. Build profiles are dropped;
//! arch lists are kept and evaluated with [`Relation::applies_to`].

use std::fmt;

use super::version::{DebVersion, VersionError};

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionOp {
    /// `<<`
    Lt,
    /// `<=` (and the legacy `<`)
    Le,
    /// `=`
    Eq,
    /// `>=` (and the legacy `>`)
    Ge,
    /// `>>`
    Gt,
}

impl VersionOp {
    pub fn as_str(self) -> &'static str {
        match self {
            VersionOp::Lt => "<<",
            VersionOp::Le => "<=",
            VersionOp::Eq => "=",
            VersionOp::Ge => ">=",
            VersionOp::Gt => ">>",
        }
    }
}

/// `(op version)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraint {
    pub op: VersionOp,
    pub version: DebVersion,
}

impl Constraint {
    /// Whether `v` satisfies this constraint.
    pub fn satisfied_by(&self, v: &DebVersion) -> bool {
        let ord = v.cmp(&self.version);
        match self.op {
            VersionOp::Lt => ord.is_lt(),
            VersionOp::Le => ord.is_le(),
            VersionOp::Eq => ord.is_eq(),
            VersionOp::Ge => ord.is_ge(),
            VersionOp::Gt => ord.is_gt(),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.op.as_str(), self.version)
    }
}

/// One entry of an architecture restriction list: `amd64` or `!i386`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchSpec {
    pub negated: bool,
    pub arch: String,
}

/// One alternative: `name[:archqual] [(op version)] [[arch list]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub name: String,
    /// `any`, `native` or an architecture name.
    pub arch_qual: Option<String>,
    pub constraint: Option<Constraint>,
    /// Empty: applies to every architecture.
    pub arches: Vec<ArchSpec>,
}

/// Alternatives separated by `|`: any one satisfies the group.
pub type Group = Vec<Relation>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    #[error("empty package name in relation `{0}`")]
    EmptyName(String),
    #[error("bad version constraint in relation `{0}`")]
    BadConstraint(String),
    #[error("in relation `{relation}`")]
    Version {
        relation: String,
        #[source]
        source: VersionError,
    },
    #[error("unterminated `{1}` in relation `{0}`")]
    Unterminated(String, char),
}

/// Whether an arch wildcard or name from an arch list matches `arch` (a Debian arch like
/// `amd64`). Understands `any`, `linux-any`, `any-ARCH` and `linux-ARCH`.
fn arch_matches(spec: &str, arch: &str) -> bool {
    match spec {
        "any" | "linux-any" => true,
        _ => {
            spec == arch
                || spec.strip_prefix("any-").is_some_and(|a| a == arch)
                || spec.strip_prefix("linux-").is_some_and(|a| a == arch)
        }
    }
}

impl Relation {
    /// Whether this relation applies on `arch` according to its arch list.
    pub fn applies_to(&self, arch: &str) -> bool {
        if self.arches.is_empty() {
            return true;
        }
        if self.arches.iter().all(|a| a.negated) {
            !self.arches.iter().any(|a| arch_matches(&a.arch, arch))
        } else {
            self.arches
                .iter()
                .any(|a| !a.negated && arch_matches(&a.arch, arch))
        }
    }

    /// Parses one alternative.
    pub fn parse(text: &str) -> Result<Relation, RelationError> {
        let whole = text.trim();
        let mut rest = whole;
        // The name runs until whitespace or one of `(`, `[`, `<`.
        let end = rest
            .find(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '<'))
            .unwrap_or(rest.len());
        let (name_part, tail) = rest.split_at(end);
        rest = tail.trim_start();
        let (name, arch_qual) = match name_part.split_once(':') {
            Some((n, q)) => (n, Some(q.to_string())),
            None => (name_part, None),
        };
        if name.is_empty() {
            return Err(RelationError::EmptyName(whole.to_string()));
        }
        let mut constraint = None;
        let mut arches = Vec::new();
        while let Some(c) = rest.chars().next() {
            let close = match c {
                '(' => ')',
                '[' => ']',
                '<' => '>',
                _ => return Err(RelationError::BadConstraint(whole.to_string())),
            };
            let Some(end) = rest.find(close) else {
                return Err(RelationError::Unterminated(whole.to_string(), close));
            };
            let inner = rest[1..end].trim();
            rest = rest[end + 1..].trim_start();
            match c {
                '(' => constraint = Some(parse_constraint(inner, whole)?),
                '[' => {
                    arches.extend(inner.split_whitespace().map(|a| match a.strip_prefix('!') {
                        Some(a) => ArchSpec {
                            negated: true,
                            arch: a.to_string(),
                        },
                        None => ArchSpec {
                            negated: false,
                            arch: a.to_string(),
                        },
                    }));
                }
                _ => {} // build profiles: ignored
            }
        }
        Ok(Relation {
            name: name.to_string(),
            arch_qual,
            constraint,
            arches,
        })
    }
}

fn parse_constraint(inner: &str, whole: &str) -> Result<Constraint, RelationError> {
    let op_len = inner
        .find(|c: char| !matches!(c, '<' | '>' | '='))
        .unwrap_or(inner.len());
    let op = match &inner[..op_len] {
        "<<" => VersionOp::Lt,
        "<=" | "<" => VersionOp::Le,
        "=" => VersionOp::Eq,
        ">=" | ">" => VersionOp::Ge,
        ">>" => VersionOp::Gt,
        _ => return Err(RelationError::BadConstraint(whole.to_string())),
    };
    let version = inner[op_len..]
        .trim()
        .parse()
        .map_err(|source| RelationError::Version {
            relation: whole.to_string(),
            source,
        })?;
    Ok(Constraint { op, version })
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(q) = &self.arch_qual {
            write!(f, ":{q}")?;
        }
        if let Some(c) = &self.constraint {
            write!(f, " ({c})")?;
        }
        if !self.arches.is_empty() {
            let list: Vec<String> = self
                .arches
                .iter()
                .map(|a| format!("{}{}", if a.negated { "!" } else { "" }, a.arch))
                .collect();
            write!(f, " [{}]", list.join(" "))?;
        }
        Ok(())
    }
}

/// Formats a group as `a (>= 1) | b`.
pub fn group_to_string(group: &[Relation]) -> String {
    group
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Parses a whole relation field into groups of alternatives. Empty groups (e.g. a trailing
/// comma) are skipped.
pub fn parse_relations(field: &str) -> Result<Vec<Group>, RelationError> {
    let mut groups = Vec::new();
    for group in field.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let alts = group
            .split('|')
            .map(Relation::parse)
            .collect::<Result<Vec<_>, _>>()?;
        groups.push(alts);
    }
    Ok(groups)
}

/// Parses a relation field and keeps only what applies on `arch`: alternatives whose arch list
/// excludes `arch` are dropped, and so are groups left empty.
pub fn parse_relations_for_arch(field: &str, arch: &str) -> Result<Vec<Group>, RelationError> {
    let mut groups = parse_relations(field)?;
    for g in &mut groups {
        g.retain(|r| r.applies_to(arch));
    }
    groups.retain(|g| !g.is_empty());
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_depends() {
        let f = "libc6 (>= 2.34), libgcc-s1 (>= 3.0), postgresql-common (>= 252~), debconf (>= 0.5) | debconf-2.0, python3:any (>= 3.6~)";
        let g = parse_relations(f).unwrap();
        assert_eq!(g.len(), 5);
        assert_eq!(g[0][0].name, "libc6");
        let c = g[0][0].constraint.as_ref().unwrap();
        assert_eq!(c.op, VersionOp::Ge);
        assert_eq!(c.version.as_str(), "2.34");
        assert_eq!(g[3].len(), 2);
        assert_eq!(g[3][1].name, "debconf-2.0");
        assert!(g[3][1].constraint.is_none());
        assert_eq!(g[4][0].name, "python3");
        assert_eq!(g[4][0].arch_qual.as_deref(), Some("any"));
        assert_eq!(group_to_string(&g[3]), "debconf (>= 0.5) | debconf-2.0");
    }

    #[test]
    fn ops_and_legacy() {
        let g = parse_relations(
            "a (<< 1), b (<= 1), c (= 1:1.0-2), d (>>1), e(>= 2), f (< 3), g (> 4)",
        )
        .unwrap();
        let ops: Vec<_> = g
            .iter()
            .map(|g| g[0].constraint.as_ref().unwrap().op)
            .collect();
        use VersionOp::*;
        assert_eq!(ops, [Lt, Le, Eq, Gt, Ge, Le, Ge]);
        assert_eq!(g[4][0].name, "e");
        assert!(parse_relations("a (~~ 1)").is_err());
        assert!(parse_relations("a (>= 1").is_err());
    }

    #[test]
    fn arch_lists_and_profiles() {
        let f = "libnuma-dev [amd64 arm64 ppc64el], libc6-dev [!i386] <!nocheck>, gcc-multilib [any-amd64] <cross> | gcc, dh-exec <!stage1>";
        let g = parse_relations_for_arch(f, "amd64").unwrap();
        assert_eq!(g.len(), 4);
        assert_eq!(g[2].len(), 2);
        let g = parse_relations_for_arch(f, "i386").unwrap();
        let names: Vec<_> = g.iter().map(|g| g[0].name.as_str()).collect();
        assert_eq!(names, ["gcc", "dh-exec"]);
        let g = parse_relations_for_arch("foo [linux-any]", "arm64").unwrap();
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn provides_and_multiline() {
        let g = parse_relations(
            "libmysqlclient-dev (= 1.2), default-libmysqlclient-dev,\n perl-base:native",
        )
        .unwrap();
        assert_eq!(g.len(), 3);
        assert_eq!(g[0][0].constraint.as_ref().unwrap().op, VersionOp::Eq);
        assert_eq!(g[2][0].arch_qual.as_deref(), Some("native"));
        assert!(parse_relations("").unwrap().is_empty());
        assert!(parse_relations("a, , b,").unwrap().len() == 2);
    }

    #[test]
    fn constraint_satisfaction() {
        let c = Relation::parse("x (>= 1.0~)").unwrap().constraint.unwrap();
        assert!(c.satisfied_by(&"1.0~rc1".parse().unwrap()));
        assert!(!c.satisfied_by(&"1.0~~".parse().unwrap()));
        let c = Relation::parse("x (<< 2:0)").unwrap().constraint.unwrap();
        assert!(c.satisfied_by(&"1:99".parse().unwrap()));
    }
}
