//! An apt `Release` / `InRelease` file, with its invariants checked
//! (`pigsty_build::fuzzing::apt_release`).
//!
//! `cargo +nightly fuzz run apt_release` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/apt_release/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::apt_release(data);
});
