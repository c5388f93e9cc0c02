//! The corpora of the bundle crate's fuzz targets (`fuzz/corpus/NAME`: the seeds, what
//! `cargo +nightly fuzz run NAME` kept, and every input that once failed) replayed through the
//! same checks on stable Rust, with every test run: a finding fixed stays fixed.

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn manifest() {
    replay("manifest", pigsty_bundle::fuzzing::manifest, 2);
}

#[test]
fn bundle() {
    replay("bundle", pigsty_bundle::fuzzing::bundle, 4);
}

#[test]
fn keyring() {
    replay("keyring", pigsty_bundle::fuzzing::keyring, 3);
}

#[test]
fn signature() {
    replay("signature", pigsty_bundle::fuzzing::signature, 4);
}
