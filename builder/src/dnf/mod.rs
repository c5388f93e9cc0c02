//! The dnf side of dependency resolution: rpm versions, dependency expressions, and the
//! `repomd.xml` / `primary.xml` metadata of an rpm repository.
//!
//! - [`version`]: [`Evr`], ordered as rpm's `rpmvercmp` orders versions.
//! - [`rich`]: dependency expressions, simple and rich, into a [`Dep`] tree.

pub mod rich;
pub mod version;

pub use rich::{Dep, Op, RichError, Simple};
pub use version::{rpmvercmp, Evr, EvrError};
