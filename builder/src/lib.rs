//! `pigsty-build`: resolve the kernel, the extensions and the infra packages of one target into
//! a signed local package repository and one bundle file.
//!
//! The pieces, each in its own module: the extension [`catalog`], the per-OS [`distro`]
//! manifests, [`mirrors`] (what `${mirror.NAME}` stands for), and the [`plan`] that turns a
//! request into packages. [`matrix`] lists every target.

pub mod apt;
pub mod catalog;
pub mod distro;
pub mod matrix;
pub mod mirrors;
pub mod plan;

pub use catalog::Catalog;
pub use distro::Distro;
pub use plan::{Plan, Request};
