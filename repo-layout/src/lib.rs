//! What `pigsty-build` and `pigsty-install` share: build targets, apt and dnf repository
//! metadata, the bundle manifest, signatures and safe archive handling.

pub mod apt;
pub mod bundle;
pub mod dnf;
pub mod extract;
pub mod fsutil;
pub mod manifest;
pub mod sign;
pub mod target;

pub use target::{
    check_pg, Arch, Family, Os, Target, TargetError, PG_BETA, PG_DEFAULT, PG_SUPPORTED,
};
