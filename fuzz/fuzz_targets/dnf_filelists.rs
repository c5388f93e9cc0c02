//! A dnf `filelists.xml`, with its invariants checked (`pigsty_build::fuzzing::dnf_filelists`).
//!
//! `cargo +nightly fuzz run dnf_filelists` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/dnf_filelists/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::dnf_filelists(data);
});
