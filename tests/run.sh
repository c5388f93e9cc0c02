#!/usr/bin/env bash
# Runs every test of the project: format, lints, unit and end-to-end tests, and the catalog
# check against the reference catalog, and the end-to-end apt test (root: chroots, unshare). Installs the system tools the tests need when they are
# missing (Debian; needs root): debootstrap, createrepo-c, dnf, rpm, gnupg, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in debootstrap:debootstrap createrepo_c:createrepo-c dnf:dnf rpm:rpm gpg:gnupg gpgv:gpgv \
            curl:curl unshare:util-linux dpkg-scanpackages:dpkg-dev zstd:zstd; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
if ((${#need[@]})); then
  echo "installing test tools: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The SPDX validator (PyPI's spdx-tools) checks the bundles' SBOM in the e2e test.
command -v pyspdxtools >/dev/null 2>&1 || python3 -m pip install -q spdx-tools >/dev/null 2>&1 \
  || echo "spdx-tools not installed: the SBOM is checked without the SPDX validator"

reference=${PIGSTY_REFERENCE:-../shared/reference}

cargo fmt --all --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace
cargo build --quiet -p pigsty-build -p pigsty-install -p rpm-fixture
target/debug/pigsty-build catalog diff "$reference/extension-newest.csv"
# End to end against the real Debian archive the host's apt uses, in air-gapped chroots.
bash tests/e2e-apt.sh target/debug/pigsty-build
bash tests/e2e-install.sh target/debug/pigsty-build target/debug/pigsty-install
# The dnf side against a generated EL world (no EL mirror is reachable): real rpms, createrepo_c,
# rpmsign, and Debian's dnf installing from our signed repodata with no network.
bash tests/e2e-dnf.sh target/debug/pigsty-build target/debug/pigsty-install target/debug/rpm-fixture
