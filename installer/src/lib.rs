//! `pigsty-install`: verify a bundle, lay out the local repo, point the package manager at it,
//! install the bootstrap set and hand off to the config applier.
//!
//! The pipeline, a module a step: where the repo comes from ([`origin`]: a bundle file or a
//! mirror, [`mirror`]), whether it is trusted ([`trust`]), laying it out verified and swapping
//! it into place ([`stage`]), the node's package manager (`pm`: apt or dnf behind one seam),
//! and the flow that runs them in order ([`install`]); [`rollback`] returns to the repo the
//! last install replaced. [`node`] is the system being installed (or `--root DIR`);
//! [`pigsty`] hands off to Pigsty itself (configure, offline vars, playbooks); [`serve`]
//! serves an installed repo to the other nodes over HTTP; [`kind`] says which kind of failure
//! an error is, for the JSON error envelope.

pub mod install;
pub mod kind;
pub mod mirror;
pub mod node;
mod origin;
pub mod pigsty;
mod pm;
pub mod rollback;
pub mod serve;
pub mod stage;
mod trust;

pub use install::{install, InstallError, InstallOptions, Report, Status, Ui};
pub use node::Node;
pub use origin::{Origin, Source};
pub use trust::{check_trust, Trust};
