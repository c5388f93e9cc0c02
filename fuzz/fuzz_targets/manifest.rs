//! A bundle's `MANIFEST.json`, with its invariants checked (`pigsty_bundle::fuzzing::manifest`).
//!
//! `cargo +nightly fuzz run manifest` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/manifest/` and replayed by `bundle/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_bundle::fuzzing::manifest(data);
});
