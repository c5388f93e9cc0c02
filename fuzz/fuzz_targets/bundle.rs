//! A bundle file: its signed head and the tar walk through the one verifier, with its invariants
//! checked (`pigsty_bundle::fuzzing::bundle`).
//!
//! `cargo +nightly fuzz run bundle` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/bundle/` and replayed by `bundle/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_bundle::fuzzing::bundle(data);
});
