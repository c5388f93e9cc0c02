//! `pigsty-build`: resolve the kernel, the extensions and the infra packages of one target into
//! a signed local package repository and one bundle file.
//!
//! The pieces, each in its own module: the extension [`catalog`], the per-OS [`distro`]
//! manifests, [`mirrors`] (what `${mirror.NAME}` stands for), the [`plan`] that turns a
//! request into packages, and the [`fetch`]er that downloads them into a shared cache.
//! [`matrix`] lists every target; [`sign`] signs release files; [`solver`] is the solving core
//! of the closures.

pub mod apt;
pub mod build;
pub mod catalog;
mod closure;
mod date;
pub mod distro;
pub mod dnf;
mod family;
pub mod fetch;
#[doc(hidden)]
pub mod fuzzing;
pub mod matrix;
pub mod mirrors;
pub mod plan;
pub mod regions;
mod sbom;
pub mod sign;
mod solver;
pub mod suggest;
mod upstream;

pub use catalog::Catalog;
pub use distro::Distro;
pub use fetch::{FetchError, FetchItem, Fetcher};
pub use plan::{Plan, Request};
