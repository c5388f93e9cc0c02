//! The phases of a build, told as they start: what the command line shows as a line per
//! phase, or a spinner on a terminal.

use std::fmt;
use std::sync::Arc;

/// Who is told of each phase; nobody by default.
#[derive(Clone, Default)]
pub struct Phases(Option<Arc<dyn Fn(Phase) + Send + Sync>>);

/// A phase of a build, with what it works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Fetching and checking the upstream indexes of a target, then solving its closure.
    Resolve { target: String, repos: usize },
    /// Downloading (or finding in the cache) the packages of every target.
    Download { packages: usize, bytes: u64 },
    /// Laying out a target's local repo: packages and metadata.
    WriteRepo { target: String },
    /// Signing a target's manifest.
    Sign { target: String },
    /// Packing a target's bundle: reading (and hashing) `bytes` of files.
    Pack { target: String, bytes: u64 },
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Phase::Resolve { target, repos } => write!(
                f,
                "{target}: fetching the indexes of {repos} repos and resolving"
            ),
            Phase::Download { packages, bytes } => write!(
                f,
                "downloading {packages} packages ({:.1} MB, cached ones skipped)",
                *bytes as f64 / 1e6
            ),
            Phase::WriteRepo { target } => write!(f, "{target}: writing the repo"),
            Phase::Sign { target } => write!(f, "{target}: signing the manifest"),
            Phase::Pack { target, bytes } => write!(
                f,
                "{target}: packing the bundle ({:.1} MB)",
                *bytes as f64 / 1e6
            ),
        }
    }
}

impl Phases {
    pub fn new(tell: impl Fn(Phase) + Send + Sync + 'static) -> Phases {
        Phases(Some(Arc::new(tell)))
    }

    pub(crate) fn tell(&self, phase: Phase) {
        if let Some(f) = &self.0 {
            f(phase);
        }
    }
}

impl fmt::Debug for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Phases(told)"
        } else {
            "Phases(none)"
        })
    }
}
