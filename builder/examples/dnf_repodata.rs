//! Writes `repodata/` for a folder of `.rpm` files with `pigsty_build::dnf::repo::write_repodata`, as
//! the builder does, for `bench/repodata.sh` and for trying the writer by hand.
//!
//! The builder knows each package's SHA-256 and size from the download; this example takes
//! them from a `sha256sum`-style list (`--sums FILE`, lines `HEX  LOCATION`) or, without one,
//! hashes every file itself first (what createrepo_c does too).
//!
//! `cargo run --release -p pigsty-build --example dnf_repodata -- DIR [--compress gz|zst]
//! [--workers N] [--sums FILE] [--timestamp SECS]`

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use pigsty_build::dnf::repo::{write_repodata, RepodataCompression, RepodataOptions, RpmFile};
use sha2::{Digest, Sha256};

type Error = Box<dyn std::error::Error>;

/// The `.rpm` files under `dir`, relative to it, skipping `repodata/` and hidden folders.
fn find_rpms(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<(), Error> {
    for entry in std::fs::read_dir(dir.join(rel))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if entry.file_type()?.is_dir() {
            if name != "repodata" && !name.starts_with('.') {
                find_rpms(dir, &path, out)?;
            }
        } else if name.ends_with(".rpm") {
            out.push(path);
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> Result<String, Error> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut compression = RepodataCompression::Gz;
    let mut workers = 2;
    let mut sums = None;
    let mut timestamp = 1_700_000_000;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--compress" => compression = value()?.parse()?,
            "--workers" => workers = value()?.parse()?,
            "--sums" => sums = Some(PathBuf::from(value()?)),
            "--timestamp" => timestamp = value()?.parse()?,
            _ if dir.is_none() => dir = Some(PathBuf::from(&arg)),
            _ => return Err(format!("unexpected argument {arg}").into()),
        }
    }
    let dir =
        dir.ok_or("usage: dnf_repodata DIR [--compress gz|zst] [--workers N] [--sums FILE]")?;

    let mut locations = Vec::new();
    find_rpms(&dir, "", &mut locations)?;
    let known: HashMap<String, String> = match &sums {
        Some(path) => std::fs::read_to_string(path)?
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(h, l)| (l.trim_start_matches("./").to_string(), h.to_string()))
            .collect(),
        None => {
            // Hash on `workers` threads, as the writer reads headers.
            let chunk = locations.len().div_ceil(workers.max(1)).max(1);
            std::thread::scope(|s| {
                let handles: Vec<_> = locations
                    .chunks(chunk)
                    .map(|part| {
                        let dir = &dir;
                        s.spawn(move || {
                            part.iter()
                                .map(|l| {
                                    let sum = sha256_file(&dir.join(l));
                                    Ok((l.clone(), sum.map_err(|e| format!("{l}: {e}"))?))
                                })
                                .collect::<Result<Vec<_>, String>>()
                        })
                    })
                    .collect();
                let mut all = HashMap::new();
                for h in handles {
                    all.extend(h.join().map_err(|_| "hashing thread panicked")??);
                }
                Ok::<_, Error>(all)
            })?
        }
    };
    let mut files = Vec::with_capacity(locations.len());
    for location in locations {
        let sha256 = known
            .get(&location)
            .ok_or(format!("no sha256 for {location}"))?
            .clone();
        let size = std::fs::metadata(dir.join(&location))?.len();
        files.push(RpmFile {
            location,
            sha256,
            size,
        });
    }
    // EL9's createrepo_c generation, the one the benchmark compares with.
    let opts = RepodataOptions {
        compression,
        timestamp,
        workers,
        dialect: Default::default(),
    };
    let info = write_repodata(&dir, &files, &opts)?;
    eprintln!("{} packages: {}", files.len(), info.files.join(" "));
    Ok(())
}
