//! Measures `write_bundle` and `verify_bundle` on incompressible files, like a folder of
//! `.deb`/`.rpm` packages: `cargo run --release -p pigsty-bundle --example bundle_bench [MB] [DIR]`.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::Instant;

use pigsty_bundle::archive::{file_entries, verify_bundle, write_bundle, BundleFormat};
use pigsty_bundle::manifest::{Manifest, SCHEMA};
use pigsty_bundle::{Arch, Os, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let total_mb: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(500);
    let base = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base)?;
    let src = dir.path().join("src");
    let pool = src.join("pool");
    fs::create_dir_all(&pool)?;
    // Files from 64 KiB to 16 MiB, like a package pool.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut written = 0u64;
    let mut n = 0;
    let sizes = [64 << 10, 300 << 10, 1 << 20, 4 << 20, 16 << 20];
    while written < total_mb << 20 {
        let size = sizes[n % sizes.len()];
        let mut out = BufWriter::new(File::create(
            pool.join(format!("pkg-{n:05}_1.0_amd64.deb")),
        )?);
        let mut chunk = vec![0u8; 64 << 10];
        let mut left = size as usize;
        while left > 0 {
            for word in chunk.chunks_exact_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                word.copy_from_slice(&x.to_le_bytes());
            }
            let take = left.min(chunk.len());
            out.write_all(&chunk[..take])?;
            left -= take;
        }
        out.flush()?;
        written += size;
        n += 1;
    }
    println!("{n} files, {} MiB", written >> 20);
    let t = Instant::now();
    let manifest = Manifest {
        schema: SCHEMA,
        target: Target::new(Os::D12, Arch::X86_64, 17),
        version: "bench".into(),
        builder: "bundle_bench".into(),
        catalog: "bench".into(),
        created: 1_700_000_000,
        files: file_entries(&src)?,
        packages: vec![],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: None,
        family: pigsty_bundle::Family::Deb,
        package_keys: Vec::new(),
        base: None,
    };
    println!("hash for manifest: {:.2}s", t.elapsed().as_secs_f64());
    let extra = vec![(
        "MANIFEST.json".to_string(),
        manifest.to_json()?.into_bytes(),
    )];
    for format in [BundleFormat::Tgz, BundleFormat::TarZst] {
        let out = dir.path().join(format!("bundle{}", format.extension()));
        let t = Instant::now();
        let info = write_bundle(&src, &out, format, 1_700_000_000, &extra)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{format}: write {secs:.2}s, {:.0} MiB/s in, {} MiB out",
            written as f64 / 1048576.0 / secs,
            info.size >> 20
        );
        let t = Instant::now();
        verify_bundle(&out)?;
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{format}: verify {secs:.2}s, {:.0} MiB/s",
            written as f64 / 1048576.0 / secs
        );
        fs::remove_file(&out)?;
    }
    Ok(())
}
