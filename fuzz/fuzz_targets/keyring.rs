//! An OpenPGP public keyring (`pigsty.pub`, an upstream's key), with its invariants checked
//! (`pigsty_bundle::fuzzing::keyring`).
//!
//! `cargo +nightly fuzz run keyring` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/keyring/` and replayed by `bundle/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_bundle::fuzzing::keyring(data);
});
