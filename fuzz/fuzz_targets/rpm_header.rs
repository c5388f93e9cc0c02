//! An rpm's lead, signature header and header, and the repodata written from them, with its
//! invariants checked (`pigsty_build::fuzzing::rpm_header`).
//!
//! `cargo +nightly fuzz run rpm_header` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/rpm_header/` and replayed by `builder/tests/fuzz_corpus.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_build::fuzzing::rpm_header(data);
});
