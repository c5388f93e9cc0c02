//! A dnf `primary.xml`: packages and their dependency expressions, with its invariants checked
//! (`pigsty_build::fuzzing::dnf_primary`).
//!
//! `cargo +nightly fuzz run dnf_primary` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/dnf_primary/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::dnf_primary(data);
});
