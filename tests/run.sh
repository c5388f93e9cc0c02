#!/usr/bin/env bash
# Runs every test of the project: format, lints, unit and end-to-end tests, and the catalog
# check against the reference catalog, the end-to-end apt, install, mirror, dnf and Pigsty
# hand-off tests (root: chroots, unshare, network namespaces), and the release binaries' check.
# First installs or provides every tool they use, on a fresh Debian 12 or 13
# (tests/lib/setup.sh: Debian's packages, a Rust new enough, PyPI's spdx-tools in a virtualenv,
# actionlint); a tool that cannot be had stops the run, no check is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

source tests/lib/setup.sh
setup_all

reference=${PIGSTY_REFERENCE:-../shared/reference}

cargo fmt --all --check
# No registry host written anywhere in the project (hosts from Pigsty's lists and this host's apt).
bash tests/no-registry-hosts.sh
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
cargo build --quiet -p pigsty-build -p pigsty-install -p rpm-fixture
cargo build --quiet -p pigsty-install --example fetch_repo
target/debug/pigsty-build catalog diff "$reference/extension-newest.csv"

# The release workflow, linted with actionlint (tests/lib/setup.sh provides it); findings fail.
lint_workflows .github/workflows/*.yml

# The sandbox Vagrantfile: Ruby syntax, then `vagrant validate` with no provider installed
# (--ignore-provider; see vagrant/README.md). Debian's ruby and vagrant (tests/lib/setup.sh).
ruby -c vagrant/Vagrantfile
vagrant_dot=$(mktemp -d)
(cd vagrant && VAGRANT_DEFAULT_PROVIDER=virtualbox VAGRANT_DOTFILE_PATH="$vagrant_dot" \
  vagrant validate --ignore-provider)
rm -rf "$vagrant_dot"
# End to end against the real Debian archive the host's apt uses, in air-gapped chroots.
bash tests/e2e-apt.sh target/debug/pigsty-build
bash tests/e2e-install.sh target/debug/pigsty-build target/debug/pigsty-install
# kill -9 at every system call of a replace and of a rollback (strace), rollback, downgrade, reruns.
bash tests/e2e-trust.sh target/debug/pigsty-build target/debug/pigsty-install
bash tests/e2e-serve.sh target/debug/pigsty-build target/debug/pigsty-install target/debug/examples/fetch_repo
# The dnf side against a generated EL world (no EL mirror is reachable): real rpms, createrepo_c,
# rpmsign, and Debian's dnf installing from our signed repodata with no network.
bash tests/e2e-dnf.sh target/debug/pigsty-build target/debug/pigsty-install target/debug/rpm-fixture
# Pigsty itself takes over an air-gapped node: its configure and playbooks, unchanged, from the
# bundle (the reference copy of Pigsty's source, ../shared/reference/pigsty-src.tgz).
bash tests/e2e-pigsty.sh target/debug/pigsty-build target/debug/pigsty-install

# The fuzz targets (fuzz/, cargo-fuzz on nightly). `cargo test` above replays every kept input
# of every target (seeds, what the fuzzer kept, each past finding) through the same checks on
# stable: that is the smoke run of each run of this script. Fuzzing itself is opt-in,
# PIGSTY_FUZZ_SECONDS=N runs each target for N seconds: the sanitizer build alone takes about
# 13 minutes on two cores, which would take the suite past its 30 minutes.
if [ -n "${PIGSTY_FUZZ_SECONDS:-}" ]; then
  for target in $(cargo +nightly fuzz list); do
    cargo +nightly fuzz run "$target" -- -max_total_time="$PIGSTY_FUZZ_SECONDS" -malloc_limit_mb=256
  done
fi
# The release binaries: `bash tools/dist.sh` builds them for glibc 2.28 into dist/bin/.
bash tests/dist-binaries.sh
