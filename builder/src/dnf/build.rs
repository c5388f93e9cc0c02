//! The dnf side of a build: each upstream's `repomd.xml` checked against its signature, its
//! packages read, the closure run over them; then every downloaded package's own signature
//! checked with its repo's key (as dnf's `gpgcheck` would), those keys shipped, and the local
//! `repodata/` written with a signed `repomd.xml.asc`.

use std::path::{Path, PathBuf};

use pigsty_bundle::sign::{PublicKeyring, SecretKey};

use super::closure::{self, DnfClosureOptions};
use super::pkgsig;
use super::repo::{self as dnfrepo, RepodataCompression, RepodataOptions, RpmFile};
use super::upstream::{self, DnfSource};
use crate::build::{write_small, BuildError, BuildOptions, RepoReport};
use crate::family::{Chosen, PackageFamily, RepoFiles, RepoWriter, Resolution, ResolveInput};

/// dnf repositories: EL targets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Dnf;

impl PackageFamily for Dnf {
    fn resolve(&self, input: &ResolveInput) -> Result<Resolution, BuildError> {
        let opts = input.opts;
        let arch = opts.target.arch.as_str();
        let mut indexes = Vec::new();
        let mut keyrings = Vec::new();
        for r in input.repos {
            let url = input.mirrors.expand(r, &opts.target)?;
            let source = DnfSource::from_repo_def(r, &url);
            let keyring = input.keyring_for(r)?;
            let ring = keyring.as_ref().map(|(k, p)| (k, p.as_path()));
            indexes.push(upstream::load(input.fetcher, &source, ring, arch)?);
            keyrings.push((r.name.clone(), keyring));
        }
        let options = DnfClosureOptions {
            allow_missing: opts.allow_missing,
        };
        let result = closure::resolve(&indexes, &input.requests(), &options, input.fetcher)?;
        let mut chosen = Vec::new();
        for sel in &result.packages {
            let index = &indexes[sel.repo_index];
            chosen.push(Chosen {
                name: sel.name.clone(),
                version: sel.evr.to_string(),
                arch: sel.arch.clone(),
                repo: sel.repo.clone(),
                item: index.fetch_item(&sel.package)?,
                upstream_path: sel.package.location.clone(),
                why: sel.why.iter().map(|w| w.label()).collect(),
            });
        }
        Ok(Resolution {
            repos: indexes
                .iter()
                .map(|i| RepoReport {
                    name: i.source.name.clone(),
                    url: i.source.baseurl.clone(),
                    signed_by: i.signed_by.clone(),
                    packages: result
                        .packages
                        .iter()
                        .filter(|p| p.repo == i.source.name)
                        .count(),
                })
                .collect(),
            missing: result.missing.clone(),
            choices: result
                .choices
                .iter()
                .map(|c| format!("{}: {} -> {}", c.package, c.requirement, c.chosen))
                .collect(),
            warnings: result.conflicts.iter().map(|c| c.to_string()).collect(),
            chosen,
            writer: Box::new(DnfWriter { keyrings }),
        })
    }
}

/// Writes `repodata/` for the chosen rpms, after checking each one's signature with the
/// keyring of the repo it came from (`None`: an insecure upstream).
struct DnfWriter {
    keyrings: Vec<(String, Option<(PublicKeyring, PathBuf)>)>,
}

impl DnfWriter {
    /// Every package's own signature checked with its repo's keyring, before anything
    /// ships; the keys that did, written to `keys/`. Returns the key files, and those the
    /// node is to check packages with: all of them, or none if a package came unsigned from
    /// an insecure upstream.
    fn package_keys(
        &self,
        repo_dir: &Path,
        chosen: &[Chosen],
        cached: &[PathBuf],
    ) -> Result<(Vec<String>, Vec<String>), BuildError> {
        // The keyrings that verified packages, once each (by file), with a repo using them.
        let mut used: Vec<(&str, &Path, &PublicKeyring)> = Vec::new();
        let mut all_signed = true;
        for (c, path) in chosen.iter().zip(cached) {
            let ring = self
                .keyrings
                .iter()
                .find(|(repo, _)| *repo == c.repo)
                .and_then(|(_, k)| k.as_ref());
            match ring {
                Some((ring, ring_path)) => {
                    pkgsig::verify(path, &c.repo, ring)?;
                    if !used.iter().any(|(_, p, _)| p == ring_path) {
                        used.push((&c.repo, ring_path, ring));
                    }
                }
                None => all_signed = false,
            }
        }
        let mut keys = Vec::new();
        for (i, (repo, _, ring)) in used.iter().enumerate() {
            let name = format!("keys/{:02}-{repo}.asc", i + 1);
            write_small(&repo_dir.join(&name), ring.to_armored()?.as_bytes())?;
            keys.push(name);
        }
        let checked = if all_signed { keys.clone() } else { Vec::new() };
        Ok((keys, checked))
    }
}

impl RepoWriter for DnfWriter {
    fn write(
        &self,
        repo_dir: &Path,
        chosen: &[Chosen],
        cached: &[PathBuf],
        secret: &SecretKey,
        opts: &BuildOptions,
    ) -> Result<RepoFiles, BuildError> {
        let (mut written, package_keys) = self.package_keys(repo_dir, chosen, cached)?;
        let files: Vec<RpmFile> = chosen
            .iter()
            .map(|c| RpmFile {
                location: c.item.name.clone(),
                sha256: c.item.sha256.clone(),
                size: c.item.size,
            })
            .collect();
        let compression = opts
            .repodata_compression
            .unwrap_or(if opts.target.os.release() <= 8 {
                RepodataCompression::Gz
            } else {
                RepodataCompression::Zst
            });
        let info = dnfrepo::write_repodata(
            repo_dir,
            &files,
            &RepodataOptions {
                compression,
                timestamp: opts.epoch,
                workers: 2,
                dialect: dnfrepo::Dialect::for_release(opts.target.os.release()),
            },
        )?;
        let repomd = std::fs::read(&info.repomd).map_err(|source| BuildError::Io {
            what: "cannot read",
            path: info.repomd.clone(),
            source,
        })?;
        write_small(
            &repo_dir.join("repodata/repomd.xml.asc"),
            secret.sign_detached(repomd.as_slice())?.as_bytes(),
        )?;
        written.extend(info.files);
        written.push("repodata/repomd.xml.asc".to_string());
        Ok(RepoFiles {
            files: written,
            package_keys,
        })
    }
}
