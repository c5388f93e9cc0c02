//! A dnf `repomd.xml`, with its invariants checked (`pigsty_build::fuzzing::dnf_repomd`).
//!
//! `cargo +nightly fuzz run dnf_repomd` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/dnf_repomd/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::dnf_repomd(data);
});
