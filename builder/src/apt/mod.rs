//! The apt side of dependency resolution: Debian versions, relation fields, `Packages` /
//! `Release` indexes, and the dependency closure over a list of repositories.
//!
//! - [`version`]: [`DebVersion`], ordered as dpkg orders versions.
//! - [`relation`]: `Depends`-style fields into groups of alternatives.
//! - [`index`]: streaming `Packages` parser, `Release` parser, `.xz`/`.gz` readers.
//! - [`closure`]: which packages a set of requested ones pulls in, and why.

mod build;
pub mod closure;
pub mod index;
mod relation;
pub mod repo;
pub mod upstream;
mod version;

pub use build::Apt;
pub use closure::{
    resolve, unmet_depends, Closure, ClosureError, ClosureOptions, Installed, Repo, Requested,
    Selected, Why,
};
pub use index::{PackageEntry, Release};
pub use relation::{Constraint, Relation, VersionOp};
pub use version::DebVersion;
