//! The package family as a build sees it, the one seam between the build's steps and apt or
//! dnf: [`PackageFamily::resolve`] turns a plan into the packages to download (reading and
//! checking the family's upstream indexes, running its closure), and the [`RepoWriter`] it
//! hands back writes the family's signed repository metadata for them. [`for_family`] picks
//! the implementation; the build never asks which one it has.

use std::path::{Path, PathBuf};

use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use pigsty_bundle::Family;

use crate::build::{BuildError, BuildOptions, RepoReport};
use crate::closure::{Missing, Requested};
use crate::distro::{Distro, RepoDef};
use crate::fetch::{FetchItem, Fetcher};
use crate::mirrors::Mirrors;
use crate::plan::Plan;

/// The implementation of a family.
pub fn for_family(family: Family) -> &'static dyn PackageFamily {
    match family {
        Family::Deb => &crate::apt::Apt,
        Family::Rpm => &crate::dnf::Dnf,
    }
}

/// What a family needs to resolve one target.
pub struct ResolveInput<'a> {
    pub distro: &'a Distro,
    pub plan: &'a Plan,
    /// The upstream repositories to use, in priority order.
    pub repos: &'a [RepoDef],
    pub mirrors: &'a Mirrors,
    pub fetcher: &'a Fetcher,
    pub opts: &'a BuildOptions,
}

impl ResolveInput<'_> {
    /// The plan's packages as closure requests, each with why it is wanted.
    pub fn requests(&self) -> Vec<Requested> {
        self.plan
            .packages
            .iter()
            .map(|p| {
                let why: Vec<String> = p.wanted_by.iter().map(|w| w.to_string()).collect();
                Requested::new(p.name.clone(), why.join(", "))
            })
            .collect()
    }

    /// The keyring a repo's signatures are checked with and its file (`None`:
    /// `--insecure-upstream`): `--key NAME=FILE` for the repo or its key name, else the key the
    /// manifests name.
    pub fn keyring_for(
        &self,
        repo: &RepoDef,
    ) -> Result<Option<(PublicKeyring, PathBuf)>, BuildError> {
        let opts = self.opts;
        if opts.insecure_upstream.contains(&repo.name) {
            return Ok(None);
        }
        let path = if let Some((_, p)) = opts
            .keys
            .iter()
            .find(|(k, _)| *k == repo.key || *k == repo.name)
        {
            p.clone()
        } else if let Some(k) = self.distro.keys.get(&repo.key) {
            PathBuf::from(
                k.keyring
                    .replace("$releasever", &opts.target.os.release().to_string()),
            )
        } else {
            return Err(BuildError::NoKey {
                repo: repo.name.clone(),
                key: repo.key.clone(),
            });
        };
        let ring = PublicKeyring::load(&path)?;
        Ok(Some((ring, path)))
    }
}

/// How one family builds: see the module documentation.
pub trait PackageFamily: Sync {
    /// The packages `input.plan` needs from `input.repos`, each upstream index checked
    /// against its signature first.
    fn resolve(&self, input: &ResolveInput) -> Result<Resolution, BuildError>;
}

/// One package of the closure, ready to download and put in the local repo.
#[derive(Debug, Clone)]
pub struct Chosen {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub repo: String,
    /// Where it comes from, its sha256 and size from signed metadata, and its file name in
    /// the local repo.
    pub item: FetchItem,
    /// Its path in its upstream repo (`pool/main/p/pkg/pkg_1.0_amd64.deb`), for messages.
    pub upstream_path: String,
    /// Why it is there: the plan's reasons, or `dependency of NAME`.
    pub why: Vec<String>,
}

/// What resolution found, whatever the family, and how to write the family's metadata.
pub struct Resolution {
    pub chosen: Vec<Chosen>,
    pub repos: Vec<RepoReport>,
    /// Requested packages absent upstream (only with `--allow-missing`).
    pub missing: Vec<Missing>,
    /// Alternatives chosen: `package: requirement -> choice`.
    pub choices: Vec<String>,
    /// What the node's package manager may object to.
    pub warnings: Vec<String>,
    pub writer: Box<dyn RepoWriter>,
}

/// Writes a family's repository metadata for the packages a resolution chose.
pub trait RepoWriter: Send + Sync {
    /// Writes the index files into `repo_dir`, which holds the chosen packages already
    /// (`cached`: the same files in the download cache, same order), signed with `secret`.
    fn write(
        &self,
        repo_dir: &Path,
        chosen: &[Chosen],
        cached: &[PathBuf],
        secret: &SecretKey,
        opts: &BuildOptions,
    ) -> Result<RepoFiles, BuildError>;
}

/// What a [`RepoWriter`] wrote.
#[derive(Debug, Clone, Default)]
pub struct RepoFiles {
    /// The metadata files, relative to the repo.
    pub files: Vec<String>,
    /// dnf: the public keys (paths in the repo) that signed every package, for the node's
    /// `gpgcheck`; empty when some package is unsigned, and for apt.
    pub package_keys: Vec<String>,
}
