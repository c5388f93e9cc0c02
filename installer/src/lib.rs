//! `pigsty-install`: verify a bundle, lay out the local repo, point the package manager at it,
//! install the bootstrap set and hand off to the config applier.
//!
//! [`node`] is the system being installed (or `--root DIR`), [`install`] the flow,
//! [`aptconf`] apt's side of it and [`drift`] the check that the node's installed packages do
//! not block the bundle's. [`serve`] serves an installed repo to the other nodes over HTTP;
//! [`mirror`] installs from such a server instead of a bundle file.

pub mod aptconf;
pub mod dnfconf;
pub mod drift;
pub mod install;
pub mod mirror;
pub mod node;
pub mod serve;
