//! `pigsty-install`: verify a bundle, lay out the local repo, point the package manager at it,
//! install the bootstrap set and hand off to the config applier.
