//! What `pigsty-build` and `pigsty-install` share, and only that: build targets ([`target`]),
//! the bundle manifest ([`manifest`]), signatures ([`sign`]), the bundle file itself
//! ([`archive`]: writer, reader, and the one verifier every reader goes through) and the
//! filesystem primitives both sides build on ([`fs`]), how long a download may take
//! ([`pace`]), and what both command lines share ([`cli`]: errors as JSON, completions, man
//! pages, logging, progress).

pub mod archive;
pub mod cli;
pub mod fs;
#[doc(hidden)]
pub mod fuzzing;
pub mod manifest;
pub mod pace;
pub mod sign;
mod target;

pub use archive::{BundleError, BundleFormat, SignedManifest};
pub use manifest::Manifest;
pub use target::{
    check_pg, Arch, Family, Os, Target, TargetError, PG_BETA, PG_DEFAULT, PG_SUPPORTED,
};
