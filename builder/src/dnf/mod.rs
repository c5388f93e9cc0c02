//! The dnf side of dependency resolution: rpm versions, dependency expressions, and the
//! `repomd.xml` / `primary.xml` metadata of an rpm repository.
//!
//! - [`version`]: [`Evr`], ordered as rpm's `rpmvercmp` orders versions.

pub mod version;

pub use version::{rpmvercmp, Evr, EvrError};
