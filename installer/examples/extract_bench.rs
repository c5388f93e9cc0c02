//! Verifies and extracts a bundle as `pigsty-install` does, for `bench/extract.sh`: the
//! manifest's signature with KEY, then every file streamed into DEST/pigsty with its size and
//! sha256 checked, fsynced, and swapped into place.
//!
//! `cargo run --release -p pigsty-install --example extract_bench -- BUNDLE KEY DEST`

use std::path::PathBuf;

use pigsty_bundle::archive::read_signed_manifest;
use pigsty_bundle::sign::PublicKeyring;
use pigsty_install::stage::extract_bundle;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(bundle), Some(key), Some(dest)) = (args.next(), args.next(), args.next()) else {
        return Err("usage: extract_bench BUNDLE KEY DEST".into());
    };
    let head = read_signed_manifest(&bundle)?;
    let sig = head.signature().ok_or("the bundle is not signed")?;
    PublicKeyring::load(&key)?.verify_detached(head.raw(), sig)?;
    extract_bundle(&bundle, &head, &dest)?;
    Ok(())
}
