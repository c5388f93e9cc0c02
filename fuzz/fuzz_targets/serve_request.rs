//! `pigsty-install serve`'s parsing of what a client sends: the request head (httparse and
//! the fields the server reads), the target's path (decoding, `..`, encoded `/` and NUL, the
//! repo prefix) and the `Range` header, with their invariants checked
//! (`pigsty_install::serve::fuzz_request`).
//!
//! `cargo +nightly fuzz run serve_request` (from the workspace root); the corpus is kept in
//! `fuzz/corpus/serve_request/` and replayed by `installer/tests/serve.rs` on stable.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pigsty_install::serve::fuzz_request(data);
});
