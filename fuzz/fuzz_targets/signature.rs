//! A detached or clear-signed OpenPGP signature, with its invariants checked
//! (`pigsty_bundle::fuzzing::signature`).
//!
//! `cargo +nightly fuzz run signature` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/signature/` and replayed by `bundle/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_bundle::fuzzing::signature(data);
});
