//! The corpora of the bundle crate's fuzz targets (`fuzz/corpus/NAME`: the seeds, what
//! `cargo +nightly fuzz run NAME` kept, and every input that once failed) replayed through the
//! same checks on stable Rust, with every test run: a finding fixed stays fixed.

use std::path::Path;

fn replay(name: &str, target: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let run = std::panic::catch_unwind(|| target(&data));
        assert!(run.is_ok(), "{} fails the checks of {name}", path.display());
        n += 1;
    }
    assert!(n >= at_least, "only {n} inputs in {}", dir.display());
}

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
