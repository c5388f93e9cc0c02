//! An apt `Packages` index: paragraphs, versions, relation fields, with its invariants checked
//! (`pigsty_build::fuzzing::apt_packages`).
//!
//! `cargo +nightly fuzz run apt_packages` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/apt_packages/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::apt_packages(data);
});
