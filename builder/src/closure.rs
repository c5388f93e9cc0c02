//! What a dependency closure is made of, whatever the package family: the packages asked for
//! ([`Requested`]), why each selected package is there ([`Why`]), what could not be had
//! ([`Missing`], [`Problem`]). The apt and dnf closures fill these in.

use std::fmt;

/// A package asked for, with a label saying why (for reports and error chains).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub name: String,
    pub wanted_by: String,
    /// If no repository has it, it is [`Missing`], not a problem.
    pub optional: bool,
}

impl Requested {
    pub fn new(name: impl Into<String>, wanted_by: impl Into<String>) -> Self {
        Requested {
            name: name.into(),
            wanted_by: wanted_by.into(),
            optional: false,
        }
    }

    /// A package the build goes on without if no repository has it.
    pub fn optional(mut self, optional: bool) -> Self {
        self.optional = optional;
        self
    }
}

/// Which field of a package a dependency came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DepKind {
    /// apt `Pre-Depends`.
    PreDepends,
    /// apt `Depends`.
    Depends,
    /// apt `Recommends`.
    Recommends,
    /// rpm `Requires`.
    Requires,
}

impl DepKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DepKind::PreDepends => "Pre-Depends",
            DepKind::Depends => "Depends",
            DepKind::Recommends => "Recommends",
            DepKind::Requires => "Requires",
        }
    }
}

/// Why a package is in the closure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Why {
    /// Asked for; the label of the request.
    Requested { label: String },
    /// Needed by package `of` through `relation` (as written, e.g. `a (>= 1) | b`).
    Dependency {
        of: String,
        kind: DepKind,
        relation: String,
    },
}

impl Why {
    /// How the manifest says it: the request's label, or `dependency of NAME`.
    pub fn label(&self) -> String {
        match self {
            Why::Requested { label } => label.clone(),
            Why::Dependency { of, .. } => format!("dependency of {of}"),
        }
    }
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Requested { label } => write!(f, "requested by {label}"),
            // As rpm says it.
            Why::Dependency {
                of,
                kind: DepKind::Requires,
                relation,
            } => write!(f, "required by {of}: {relation}"),
            Why::Dependency { of, kind, relation } => {
                write!(f, "{} of {of}: {relation}", kind.as_str())
            }
        }
    }
}

/// A requested package no repository has (only when missing packages are allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub name: String,
    pub wanted_by: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (wanted by {})", self.name, self.wanted_by)
    }
}

/// One thing that cannot be resolved, with how it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The request label, then the requested package, then each relation followed.
    pub chain: Vec<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.chain.join(" -> "), self.message)
    }
}

/// Every problem found while resolving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ClosureError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ClosureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} unresolvable:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {p}")?;
        }
        Ok(())
    }
}
