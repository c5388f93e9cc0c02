//! Verifies and extracts a bundle as `pigsty-install` does, for `bench/extract.sh`: the
//! manifest's signature with KEY, then every file streamed into DEST/pigsty with its size and
//! sha256 checked, fsynced, and renamed into place.
//!
//! `cargo run --release -p pigsty-bundle --example extract_bench -- BUNDLE KEY DEST`

use std::path::PathBuf;

use pigsty_bundle::bundle::read_signed_manifest;
use pigsty_bundle::extract::{extract_bundle, ExtractOptions};
use pigsty_bundle::sign::PublicKeyring;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(bundle), Some(key), Some(dest)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: extract_bench BUNDLE KEY DEST".into());
    };
    let head = read_signed_manifest(&bundle)?;
    let sig = head
        .signature
        .as_deref()
        .ok_or("the bundle is not signed")?;
    PublicKeyring::load(&key)?.verify_detached(head.raw.as_slice(), sig)?;
    extract_bundle(
        &bundle,
        &head.manifest,
        &head.raw,
        Some(sig),
        &ExtractOptions { dest },
    )?;
    Ok(())
}
