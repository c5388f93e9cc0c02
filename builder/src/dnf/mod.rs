//! The dnf side of dependency resolution: rpm versions, dependency expressions, and the
//! `repomd.xml` / `primary.xml` metadata of an rpm repository.
//!
//! - [`version`]: [`Evr`], ordered as rpm's `rpmvercmp` orders versions.
//! - [`rich`]: dependency expressions, simple and rich, into a [`Dep`] tree.
//! - [`primary`]: streaming `primary.xml` parser, `.gz`/`.xz`/`.zst`/`.bz2` readers.
//! - [`repomd`]: `repomd.xml`, where the metadata files are.
//! - [`filelists`]: streaming `filelists.xml` parser, keeping only wanted paths.
//! - [`chunks`]: either document parsed on several threads, in document order.
//! - [`upstream`]: one verified upstream repository, its packages for the target arch.
//! - [`closure`]: which packages a set of requested ones pulls in, and why; solved by
//!   [`crate::solver`] over the [`universe`]'s packages, with the [`rules`] and [`policy`]
//!   of libsolv, problems told by [`problems`].
//! - [`pkgsig`]: an rpm's own header signature, checked with its repo's keyring.

mod build;
mod chunks;
mod closure;
mod filelists;
pub mod pkgsig;
mod policy;
mod primary;
mod problems;
pub mod repo;
mod repomd;
mod rich;
mod rules;
mod universe;
pub mod upstream;
mod version;

pub use build::Dnf;
pub use closure::{
    resolve, Choice, Conflict, DnfClosure, DnfClosureError, DnfClosureOptions, FileLists,
    NoFileLists, Selected, Why,
};
pub(crate) use filelists::read_filelists;
pub use primary::{
    open_metadata, Checksum, DepEntry, FileEntry, FileKind, PrimaryError, PrimaryReader, RpmPackage,
};
pub use repomd::{Repomd, RepomdData};
pub use rich::{Dep, Op, RichError, Simple};
pub use upstream::{DnfIndex, DnfSource, DnfUpstreamError};
pub use version::{rpmvercmp, Evr, EvrError};
