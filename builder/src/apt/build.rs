//! The apt side of a build: upstream `InRelease` and `Packages` checked and read, the closure
//! run over them, then the local repo's `Packages`, `Release`, `InRelease` and `Release.gpg`
//! written from the upstream paragraphs and signed.

use std::path::{Path, PathBuf};

use pigsty_bundle::sign::SecretKey;

use super::closure::{self, ClosureOptions, Installed};
use super::repo::{self as aptrepo, AptPackage, ReleaseMeta};
use super::upstream::{self, AptSource};
use crate::build::{BuildError, BuildOptions, RepoReport};
use crate::family::{Chosen, PackageFamily, RepoFiles, RepoWriter, Resolution, ResolveInput};
use crate::fetch::FetchItem;

/// apt repositories: Debian and Ubuntu targets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Apt;

impl PackageFamily for Apt {
    fn resolve(&self, input: &ResolveInput) -> Result<Resolution, BuildError> {
        let opts = input.opts;
        let arch = opts.target.arch.deb();
        // The repos are read at once: one's index is parsed while another's is on the way.
        let loaded = super::on_threads(input.repos, |r| load_repo(input, r, arch));
        // The first error in the repos' order, as when they were read one by one.
        let indexes = loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
        let installed = match &opts.exclude_installed {
            Some(p) => {
                let f = std::fs::File::open(p).map_err(|source| BuildError::Io {
                    what: "cannot read",
                    path: p.clone(),
                    source,
                })?;
                Some(
                    Installed::from_status(std::io::BufReader::new(f)).map_err(|source| {
                        BuildError::Status {
                            path: p.clone(),
                            source,
                        }
                    })?,
                )
            }
            None => None,
        };
        let (sources, closure_repos): (Vec<_>, Vec<_>) = indexes
            .into_iter()
            .map(|i| ((i.source, i.signed_by), i.repo))
            .unzip();
        let options = ClosureOptions {
            with_recommends: opts.with_recommends,
            allow_missing: opts.allow_missing,
            installed,
        };
        let result = closure::resolve(&closure_repos, arch, &input.requests(), &options)?;
        // Freeing some 60 000 parsed paragraphs takes a while: done beside the rest.
        std::thread::spawn(move || drop(closure_repos));
        let mut chosen = Vec::new();
        let mut paragraphs = Vec::new();
        for sel in &result.packages {
            let source = sources
                .iter()
                .map(|(s, _)| s)
                .find(|s| s.name == sel.repo)
                .ok_or_else(|| BuildError::UnknownRepo(sel.repo.clone(), String::new()))?;
            let incomplete = |field: &'static str| BuildError::IncompleteIndex {
                repo: sel.repo.clone(),
                package: format!("{} {}", sel.name, sel.version),
                field,
            };
            let filename = sel.entry.filename().ok_or_else(|| incomplete("Filename"))?;
            chosen.push(Chosen {
                name: sel.name.clone(),
                version: sel.version.to_string(),
                arch: sel.arch.clone(),
                repo: sel.repo.clone(),
                item: FetchItem {
                    url: source.pool_url(filename),
                    sha256: sel
                        .entry
                        .sha256()
                        .ok_or_else(|| incomplete("SHA256"))?
                        .to_string(),
                    size: sel.entry.size().ok_or_else(|| incomplete("Size"))?,
                    name: deb_file_name(filename),
                },
                upstream_path: filename.to_string(),
                why: sel.why.iter().map(|w| w.label()).collect(),
            });
            paragraphs.push(sel.entry.raw().to_string());
        }
        Ok(Resolution {
            repos: sources
                .iter()
                .map(|(s, signed_by)| RepoReport {
                    name: s.name.clone(),
                    url: format!("{} {} {}", s.base, s.suite, s.components.join(" ")),
                    signed_by: signed_by.clone(),
                    packages: result.packages.iter().filter(|p| p.repo == s.name).count(),
                })
                .collect(),
            missing: result.missing.clone(),
            choices: result
                .choices
                .iter()
                .map(|c| format!("{}: {} -> {}", c.package, c.group, c.chosen))
                .collect(),
            chosen,
            warnings: Vec::new(),
            writer: Box::new(AptWriter { paragraphs }),
        })
    }
}

/// One upstream repo's index, read and checked, with the priority the build gives it.
fn load_repo(
    input: &ResolveInput,
    r: &crate::distro::RepoDef,
    arch: &str,
) -> Result<upstream::RepoIndex, BuildError> {
    let line = input.mirrors.expand(r, &input.opts.target)?;
    let source = AptSource::parse(&r.name, &line)?;
    let keyring = input.keyring_for(r)?;
    let keyring = keyring.as_ref().map(|(k, p)| (k, p.as_path()));
    let mut index = upstream::load(input.fetcher, &source, keyring, arch)?;
    index.repo.priority = r.priority.unwrap_or(super::closure::DEFAULT_PRIORITY);
    Ok(index)
}

/// `pool/main/p/postgresql-15/postgresql-15_15.8-0+deb12u1_amd64.deb` -> its file name.
fn deb_file_name(filename: &str) -> String {
    filename.rsplit('/').next().unwrap_or(filename).to_string()
}

/// Writes the flat repo's indexes from the upstream paragraphs of the chosen packages (in
/// the same order), never reading the `.deb`s.
struct AptWriter {
    paragraphs: Vec<String>,
}

impl RepoWriter for AptWriter {
    /// `Packages`, `Packages.gz`, `Release`, and `InRelease` / `Release.gpg` signed with the
    /// bundle key.
    fn write(
        &self,
        repo_dir: &Path,
        chosen: &[Chosen],
        _cached: &[PathBuf],
        secret: &SecretKey,
        opts: &BuildOptions,
    ) -> Result<RepoFiles, BuildError> {
        let target = opts.target;
        let packages: Vec<AptPackage> = chosen
            .iter()
            .zip(&self.paragraphs)
            .map(|(c, paragraph)| AptPackage {
                name: c.name.clone(),
                version: c.version.clone(),
                arch: c.arch.clone(),
                paragraph: paragraph.clone(),
                filename: c.item.name.clone(),
            })
            .collect();
        let meta = ReleaseMeta {
            origin: "Pigsty".into(),
            label: "Pigsty".into(),
            codename: target.os.codename().unwrap_or_default().to_string(),
            architectures: vec![target.arch.deb().to_string(), "all".to_string()],
            description: format!("Pigsty local repository for {target}"),
            date: opts.epoch,
        };
        let release = aptrepo::write_indexes(repo_dir, &packages, &meta)?.release;
        crate::build::write_small(
            &repo_dir.join("InRelease"),
            secret.clearsign(&release)?.as_bytes(),
        )?;
        crate::build::write_small(
            &repo_dir.join("Release.gpg"),
            secret.sign_detached(release.as_bytes())?.as_bytes(),
        )?;
        let files = [
            "Packages",
            "Packages.gz",
            "Release",
            "InRelease",
            "Release.gpg",
        ];
        Ok(RepoFiles {
            files: files.map(String::from).to_vec(),
            package_keys: Vec::new(),
        })
    }
}
