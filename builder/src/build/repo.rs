//! The local repo and the bundle of a build: the downloaded packages linked from the cache
//! into a staging folder, the family's metadata, the key, `repo_complete`, the SBOM and the
//! signed manifest beside them, then the bundle packed (every file hashed as it is packed and
//! checked against the manifest being signed) and the repo swapped into `OUT/pigsty`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use pigsty_bundle::archive::{self, Pack};
use pigsty_bundle::fs::{self as bfs, Staging};
use pigsty_bundle::manifest::{
    DeltaBase, FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};

use super::{io, write_small, BuildError, BuildReport, Phase, Prepared};
use crate::catalog::Catalog;
use crate::family::Chosen;
use crate::plan::WantedBy;

/// The SBOM's file name in the repo and the bundle.
pub const SBOM_NAME: &str = "sbom.spdx.json";
/// Where `--include` files go in the repo (and so in the bundle, as `pigsty/include/NAME`).
pub const INCLUDE_DIR: &str = "include";

/// Writes the repo and the bundle of a prepared target whose packages are in the cache
/// (`cached`, in `chosen` order).
pub(super) fn finish(
    catalog: &Catalog,
    prepared: &Prepared,
    cached: &[PathBuf],
) -> Result<BuildReport, BuildError> {
    let Prepared {
        opts,
        resolved,
        availability,
        secret,
        ..
    } = prepared;
    std::fs::create_dir_all(&opts.out).map_err(io("cannot create", &opts.out))?;
    let staging =
        Staging::new_in(&opts.out, ".staging-").map_err(io("cannot create", &opts.out))?;
    let repo_dir = staging.path().join("pigsty");
    std::fs::create_dir(&repo_dir).map_err(io("cannot create", &repo_dir))?;

    let target = opts.target.to_string();
    opts.phases.tell(Phase::WriteRepo {
        target: target.clone(),
    });
    let manifest = write_repo(catalog, prepared, cached, &repo_dir)?;
    opts.phases.tell(Phase::Sign {
        target: target.clone(),
    });
    let json = manifest.to_json()?;
    let sig = secret.sign_detached(json.as_bytes())?;
    opts.phases.tell(Phase::Pack {
        target,
        bytes: manifest.files.iter().map(|f| f.size).sum(),
    });
    let info = pack(prepared, &repo_dir, &manifest, &json, &sig)
        .map_err(|e| damaged_cache(e, &repo_dir, &resolved.chosen, cached))?;
    // The local repo carries the manifest too, for the installer and mirrors.
    write_small(&repo_dir.join(MANIFEST_NAME), json.as_bytes())?;
    write_small(&repo_dir.join(SIGNATURE_NAME), sig.as_bytes())?;
    // The repo folder replaces the previous one in one step; the previous one goes with the
    // staging folder.
    let final_repo = opts.out.join("pigsty");
    bfs::swap_into_place(&repo_dir, &final_repo).map_err(io("cannot put in place", &final_repo))?;
    drop(staging);

    Ok(BuildReport {
        target: (&opts.target).into(),
        bundle: info.path,
        bundle_sha256: info.sha256,
        bundle_size: info.size,
        repo: final_repo,
        packages: manifest.packages.len(),
        packages_size: resolved.chosen.iter().map(|c| c.item.size).sum(),
        key_fingerprint: secret.fingerprint(),
        repos: resolved.repos.clone(),
        unavailable: availability.unavailable.clone(),
        disagreements: availability.disagreements.clone(),
        missing: availability.missing.clone(),
        choices: resolved.choices.clone(),
        warnings: resolved.warnings.clone(),
    })
}

/// Lays the repo out in `repo_dir`: the packages, the family's metadata, the key,
/// `repo_complete` and the SBOM. Returns the manifest that lists it all.
fn write_repo(
    catalog: &Catalog,
    prepared: &Prepared,
    cached: &[PathBuf],
    repo_dir: &Path,
) -> Result<Manifest, BuildError> {
    let Prepared {
        opts,
        distro,
        resolved,
        secret,
        ..
    } = prepared;
    let (files, packages, complete) = link_packages(repo_dir, &resolved.chosen, cached)?;
    let written = resolved
        .writer
        .write(repo_dir, &resolved.chosen, cached, secret, opts)?;
    write_small(
        &repo_dir.join("pigsty.pub"),
        secret.public().to_armored()?.as_bytes(),
    )?;
    write_small(&repo_dir.join("repo_complete"), complete.as_bytes())?;
    let bootstrap = if opts.request.bootstrap {
        bootstrap_names(&distro.bootstrap, opts.target.pg, &packages)
    } else {
        Vec::new()
    };
    let included = include_files(repo_dir, &opts.include)?;
    let mut manifest = Manifest {
        schema: SCHEMA,
        target: opts.target,
        version: opts.version.clone(),
        builder: format!("pigsty-build {}", env!("CARGO_PKG_VERSION")),
        catalog: format!("builtin-{}", catalog.extensions().len()),
        created: opts.epoch,
        files,
        packages,
        bootstrap,
        handoff: None,
        key_fingerprint: Some(secret.fingerprint()),
        family: opts.target.family(),
        package_keys: written.package_keys,
        base: None,
    };
    write_small(
        &repo_dir.join(super::SBOM_NAME),
        sbom(catalog, prepared, &manifest).as_bytes(),
    )?;
    let meta = written
        .files
        .into_iter()
        .chain(["pigsty.pub", "repo_complete", super::SBOM_NAME].map(String::from))
        .chain(included);
    for name in meta {
        let p = repo_dir.join(&name);
        let (size, sha256) = bfs::hash_file(&p).map_err(io("cannot read", &p))?;
        manifest.files.push(FileEntry {
            path: name,
            size,
            sha256,
        });
    }
    manifest.files.sort_by(|a, b| a.path.cmp(&b.path));
    if let Some(base_path) = &opts.base {
        manifest.base = Some(delta_base(base_path, &manifest)?);
    }
    Ok(manifest)
}

/// The manifest's bootstrap set: each name of the set that is a package of the bundle, and
/// where a name was resolved through another package that provides it, the packages the
/// closure chose for the set.
fn bootstrap_names(set: &[String], pg: u32, packages: &[PackageEntry]) -> Vec<String> {
    let label = WantedBy::Bootstrap.to_string();
    let mut names: Vec<String> = Vec::new();
    for name in set.iter().map(|b| crate::catalog::expand_v(b, pg)) {
        let found: Vec<&PackageEntry> = if packages.iter().any(|p| p.name == name) {
            packages.iter().filter(|p| p.name == name).collect()
        } else {
            packages
                .iter()
                .filter(|p| {
                    !set.contains(&p.name)
                        && p.wanted_by
                            .iter()
                            .any(|w| w.split(", ").any(|l| l == label))
                })
                .collect()
        };
        for p in found {
            if !names.contains(&p.name) {
                names.push(p.name.clone());
            }
        }
    }
    names
}

/// Copies each `--include` file into `include/` of the repo (a new file, streamed); returns
/// their paths relative to the repo, for the manifest. Two files with one name are refused.
fn include_files(repo_dir: &Path, files: &[PathBuf]) -> Result<Vec<String>, BuildError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let dir = repo_dir.join(INCLUDE_DIR);
    std::fs::create_dir(&dir).map_err(io("cannot create", &dir))?;
    let mut out = Vec::new();
    for path in files {
        let bad = |reason: String| BuildError::Include {
            path: path.clone(),
            reason,
        };
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| bad("not a file name in UTF-8".into()))?;
        let rel = format!("{INCLUDE_DIR}/{name}");
        pigsty_bundle::manifest::check_rel_path(&rel).map_err(bad)?;
        if out.contains(&rel) {
            return Err(bad(format!(
                "another --include has the name {name}; each goes into the bundle as {INCLUDE_DIR}/NAME"
            )));
        }
        let meta = std::fs::metadata(path).map_err(io("cannot read", path))?;
        if !meta.is_file() {
            return Err(bad("not a regular file".into()));
        }
        let mut src = std::fs::File::open(path).map_err(io("cannot read", path))?;
        let dest = dir.join(name);
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dest)
            .map_err(io("cannot create", &dest))?;
        std::io::copy(&mut src, &mut dst).map_err(io("cannot copy into", &dest))?;
        dst.sync_all().map_err(io("cannot write", &dest))?;
        out.push(rel);
    }
    Ok(out)
}

/// Links each chosen package from the cache into the flat repo under its file name (copies
/// into a new file where the cache is on another filesystem; never written through an
/// existing name). Two packages with one file name are refused, naming both. Returns the
/// manifest entries of the packages and the text of `repo_complete`.
fn link_packages(
    repo_dir: &Path,
    chosen: &[Chosen],
    cached: &[PathBuf],
) -> Result<(Vec<FileEntry>, Vec<PackageEntry>, String), BuildError> {
    let mut names: HashMap<&str, &Chosen> = HashMap::new();
    for c in chosen {
        if let Some(first) = names.insert(&c.item.name, c) {
            return Err(BuildError::SameFileName {
                repo: c.repo.clone(),
                name: c.item.name.clone(),
                first: format!("{} ({})", first.upstream_path, first.repo),
                second: format!("{} ({})", c.upstream_path, c.repo),
            });
        }
    }
    let mut files = Vec::with_capacity(chosen.len());
    let mut packages = Vec::with_capacity(chosen.len());
    let mut complete = String::new();
    for (c, path) in chosen.iter().zip(cached) {
        let item = &c.item;
        let dest = repo_dir.join(&item.name);
        link_or_copy(path, &dest)?;
        files.push(FileEntry {
            path: item.name.clone(),
            size: item.size,
            sha256: item.sha256.clone(),
        });
        complete.push_str(&format!("{}  {}\n", item.sha256, item.name));
        packages.push(PackageEntry {
            name: c.name.clone(),
            version: c.version.clone(),
            arch: c.arch.clone(),
            file: item.name.clone(),
            repo: c.repo.clone(),
            wanted_by: c.why.clone(),
        });
    }
    Ok((files, packages, complete))
}

/// A hard link to the cache entry, or, where links cannot be made (another filesystem), a
/// copy into a new file. Never opens an existing path for writing: a cache entry is never
/// written through a link.
fn link_or_copy(from: &Path, to: &Path) -> Result<(), BuildError> {
    match std::fs::hard_link(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(io("will not overwrite", to)(e))
        }
        Err(_) => {
            let mut src = std::fs::File::open(from).map_err(io("cannot read", from))?;
            let mut dst = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(to)
                .map_err(io("cannot create", to))?;
            std::io::copy(&mut src, &mut dst).map_err(io("cannot copy into", to))?;
            dst.sync_all().map_err(io("cannot write", to))
        }
    }
}

/// The SPDX document, with licences from the catalog where a package is an extension's.
fn sbom(catalog: &Catalog, prepared: &Prepared, manifest: &Manifest) -> String {
    let target = prepared.opts.target;
    let licenses: HashMap<String, String> = catalog
        .extensions()
        .iter()
        .filter_map(|e| {
            catalog
                .resolve(e, &target)
                .ok()
                .map(|p| (p, e.license.clone()))
        })
        .filter(|(_, l)| !l.is_empty())
        .collect();
    crate::sbom::render(
        manifest,
        &format!(
            "pigsty-pkg-{}.{}.{}",
            prepared.opts.version,
            target.os.code(),
            target.arch.as_str()
        ),
        |name| licenses.get(name).cloned(),
    )
}

/// Packs `repo_dir` with the manifest and its signature into the bundle, every file hashed
/// as it is packed and refused if it is not what the manifest says.
fn pack(
    prepared: &Prepared,
    repo_dir: &Path,
    manifest: &Manifest,
    json: &str,
    sig: &str,
) -> Result<archive::BundleInfo, BuildError> {
    let opts = &prepared.opts;
    let target = opts.target;
    let name = format!(
        "pigsty-pkg-{}.{}.{}{}{}",
        opts.version,
        target.os.code(),
        target.arch.as_str(),
        if manifest.base.is_some() {
            ".delta"
        } else {
            ""
        },
        opts.format.extension()
    );
    let extra = [
        (MANIFEST_NAME.to_string(), json.as_bytes().to_vec()),
        (SIGNATURE_NAME.to_string(), sig.as_bytes().to_vec()),
    ];
    let skip: &[String] = manifest.base.as_ref().map_or(&[], |b| &b.carried);
    let pack = Pack {
        format: opts.format,
        mtime: opts.epoch,
        extra: &extra,
        skip,
        expect: Some(manifest),
    };
    Ok(archive::pack_bundle(repo_dir, &opts.out.join(name), &pack)?)
}

/// A package that changed between its download and the pack is a damaged cache entry: it is
/// removed from the cache (the next build downloads it again) and named.
fn damaged_cache(
    e: BuildError,
    repo_dir: &Path,
    chosen: &[Chosen],
    cached: &[PathBuf],
) -> BuildError {
    let BuildError::Bundle(pigsty_bundle::BundleError::FileChanged { path, reason }) = &e else {
        return e;
    };
    let Some(i) = chosen
        .iter()
        .position(|c| repo_dir.join(&c.item.name) == *path)
    else {
        return e;
    };
    let _ = std::fs::remove_file(&cached[i]);
    BuildError::CacheDamaged {
        name: chosen[i].item.name.clone(),
        cache: cached[i].clone(),
        reason: reason.clone(),
    }
}

/// What a delta against the base manifest at `path` carries over: every file of `manifest`
/// the base has with the same path and SHA-256. The base must be for the same target; it may
/// itself be a delta's manifest (it still lists the whole repo it leaves installed).
fn delta_base(path: &Path, manifest: &Manifest) -> Result<DeltaBase, BuildError> {
    let bad = |reason: String| BuildError::Base {
        path: path.to_path_buf(),
        reason,
    };
    let raw = std::fs::read(path).map_err(io("cannot read the --base manifest", path))?;
    let base = Manifest::from_json(&raw).map_err(|source| BuildError::BaseManifest {
        path: path.to_path_buf(),
        source,
    })?;
    if base.target != manifest.target {
        return Err(bad(format!(
            "it is a manifest for {}, this build is for {}",
            base.target, manifest.target
        )));
    }
    let old: HashMap<&str, &str> = base
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.sha256.as_str()))
        .collect();
    let carried = manifest
        .files
        .iter()
        .filter(|f| old.get(f.path.as_str()) == Some(&f.sha256.as_str()))
        .map(|f| f.path.clone())
        .collect();
    Ok(DeltaBase {
        version: base.version,
        manifest_sha256: bfs::hash_reader(raw.as_slice())
            .map_err(io("cannot hash", path))?
            .1,
        carried,
    })
}
