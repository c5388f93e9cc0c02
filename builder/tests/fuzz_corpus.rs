//! The corpora of the builder's fuzz targets (`fuzz/corpus/NAME`: the seeds, what
//! `cargo +nightly fuzz run NAME` kept, and every input that once failed) replayed through the
//! same checks on stable Rust, with every test run: a finding fixed stays fixed.

#[path = "../../fuzz/replay.rs"]
mod replay;
use replay::replay;

#[test]
fn apt_packages() {
    replay("apt_packages", pigsty_build::fuzzing::apt_packages, 2);
}

#[test]
fn apt_release() {
    replay("apt_release", pigsty_build::fuzzing::apt_release, 2);
}

#[test]
fn dnf_repomd() {
    replay("dnf_repomd", pigsty_build::fuzzing::dnf_repomd, 1);
}

#[test]
fn dnf_primary() {
    replay("dnf_primary", pigsty_build::fuzzing::dnf_primary, 1);
}

#[test]
fn dnf_filelists() {
    replay("dnf_filelists", pigsty_build::fuzzing::dnf_filelists, 1);
}

#[test]
fn rpm_header() {
    replay("rpm_header", pigsty_build::fuzzing::rpm_header, 4);
}
