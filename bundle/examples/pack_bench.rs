//! Packs a folder as the builder packs its repo, for `bench/pack.sh`: `write_bundle` of SRC to
//! OUT, the format taken from OUT's name (`.tgz` or `.tar.zst`), every mtime 1700000000. Like
//! the builder, it also writes `OUT.sha256` and fsyncs the bundle before renaming it in place.
//!
//! `cargo run --release -p pigsty-bundle --example pack_bench -- SRC OUT`

use std::path::PathBuf;

use pigsty_bundle::archive::{write_bundle, BundleFormat};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(src), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: pack_bench SRC OUT.tgz|OUT.tar.zst".into());
    };
    let out = PathBuf::from(out);
    let format = BundleFormat::from_path_name(&out).ok_or("OUT must end in .tgz or .tar.zst")?;
    write_bundle(&PathBuf::from(src), &out, format, 1_700_000_000, &[])?;
    Ok(())
}
