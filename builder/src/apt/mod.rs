//! The apt side of dependency resolution: Debian versions, relation fields, `Packages` /
//! `Release` indexes, and the dependency closure over a list of repositories.
//!
//! - [`version`]: [`DebVersion`], ordered as dpkg orders versions.
//! - [`relation`]: `Depends`-style fields into groups of alternatives.
//! - [`index`]: streaming `Packages` parser, `Release` parser, `.xz`/`.gz` readers.
//! - [`closure`]: which packages a set of requested ones pulls in, and why; solved by
//!   [`crate::solver`] over the [`universe`]'s packages, with apt's [`rules`] and the order
//!   of choices of apt's [`policy`], problems told by [`problems`].

mod build;
pub mod closure;
pub mod index;
mod policy;
mod problems;
mod relation;
pub mod repo;
mod rules;
mod universe;
pub mod upstream;
mod version;

pub use build::Apt;
pub use closure::{
    resolve, unmet_depends, Closure, ClosureError, ClosureOptions, Installed, Repo, Requested,
    Selected, Why,
};
pub use index::{PackageEntry, Release};
pub(crate) use relation::parse_relations;
pub use relation::{Constraint, Relation, VersionOp};
pub use version::DebVersion;

/// `f` of each item, each on a thread of its own, in the items' order; a panic in one is
/// resumed here. The repos of a build, and the components of a repo, are read this way.
fn on_threads<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    std::thread::scope(|s| {
        let f = &f;
        let tasks: Vec<_> = items.iter().map(|item| s.spawn(move || f(item))).collect();
        tasks
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}
