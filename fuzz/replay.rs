//! The replay of a fuzz target's corpus on stable Rust, shared by the crates' `fuzz_corpus`
//! tests (included with `#[path]`): every input under `fuzz/corpus/NAME` runs through the
//! target's checks; a panic fails the test naming the input.

use std::path::Path;

pub fn replay(name: &str, target: fn(&[u8]), at_least: usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(name);
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let run = std::panic::catch_unwind(|| target(&data));
        assert!(run.is_ok(), "{} fails the checks of {name}", path.display());
        n += 1;
    }
    assert!(n >= at_least, "only {n} inputs in {}", dir.display());
}
