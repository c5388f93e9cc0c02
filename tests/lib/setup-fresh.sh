#!/usr/bin/env bash
# By hand (root; not part of tests/run.sh, it installs about a gigabyte): checks that
# tests/lib/setup.sh provides every tool the tests use on a fresh Debian. It makes a
# `debootstrap --variant=minbase SUITE` chroot (bookworm or trixie) whose apt uses the host's
# mirror (SUITE, SUITE-updates, SUITE-security: a default Debian install), puts the committed
# tree in /src, and runs `bash tests/lib/setup.sh` there with a bare environment and the
# network on (apt, PyPI, npm). With --build it then builds both tools in it with the Rust the
# setup installed (Debian's cargo-web), as the README's "Getting Rust" says, and runs the
# README's main command (a d12 / PG 15 bundle from the mirror the chroot's apt uses). With
# --test it runs the README's test command there instead (every test, nested chroots and
# network namespaces included), the reference data bound read-only at /shared/reference.
#
#   bash tests/lib/setup-fresh.sh bookworm|trixie [--build|--test]
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/lib/common.sh
suite=${1:?usage: setup-fresh.sh bookworm|trixie [--build|--test]}
build=${2:-}

# The URI the host's apt uses for the security archive.
host_security_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ for (i=2;i<=NF;i++) if ($i ~ /-security$/) { print u; exit } }' "$f")
    if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
  done
  uri=$(awk '$1=="deb" && $3 ~ /-security$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
  echo "cannot find the host's Debian security mirror in its apt sources" >&2
  return 1
}

root=$(mktemp -d "/tmp/pigsty-setup-fresh-$suite.XXXXXX")
# Every mount under the chroot (a test that died may leave its own), deepest first, then the
# tree, never crossing into a mount that would not go.
cleanup() {
  local m
  umount_chroot "$root"
  for m in $(findmnt -rn -o TARGET | grep -F "$root/" | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
  umount -l "$root" 2>/dev/null || true
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
make_chroot "$suite" "$root"
mirror=$(host_debian_mirror)
security=$(host_security_mirror)
printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: %s\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" "$suite" "$suite" "$security" "$suite" >"$root/etc/apt/sources.list.d/debian.sources"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# A network that inspects TLS with its own CA (as some CI machines do): the chroot trusts the
# host's local CAs (ca-certificates adds them when setup.sh installs it) and gets the host's
# variables that point the clients (pip, npm, curl) at the CA bundle.
if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
fi
ca_env=()
for v in PIP_CERT REQUESTS_CA_BUNDLE SSL_CERT_FILE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS; do
  [ -n "${!v:-}" ] && ca_env+=("$v=${!v}")
done
mkdir -p "$root/src"
git archive HEAD | tar -x -C "$root/src"
# The chroot's / a mount point of its own, as on any machine (unshare -m makes / private).
mount --bind "$root" "$root"
mount_chroot "$root"
in_root() {
  chroot "$root" env -i HOME=/root TERM=dumb LANG=C.UTF-8 "${ca_env[@]}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin bash -c "$1"
}
# check WHAT in_root CMD, with the seconds it took.
timed_check() {
  local start
  start=$(date +%s)
  check "$@"
  echo "  took $(($(date +%s) - start)) s"
}
# The README's Nth sh block under "The two commands": 1 the main command, 2 the test command.
readme_command() {
  awk -v want="$1" '/^## The two commands/{s=1} s && /^```sh/{n++; if (n == want) {getline; print; exit}}' README.md
}
echo "# $suite: bash tests/lib/setup.sh"
timed_check "$suite: tests/lib/setup.sh provides every tool" in_root 'cd /src && bash tests/lib/setup.sh'
check "$suite: rustc is Debian's, at least the rust-version" \
  in_root 'rustc --version && dpkg -S "$(command -v rustc)" && cargo fmt --version && cargo clippy --version'
check "$suite: the SPDX validator and actionlint run from the test cache" \
  in_root 'cd /src && source tests/lib/setup.sh && setup_spdx_validator && setup_actionlint && "$PYSPDXTOOLS" --help >/dev/null && lint_workflows .github/workflows/*.yml'
if [ "$build" = --build ]; then
  echo "# $suite: cargo build --release -p pigsty-build -p pigsty-install"
  timed_check "$suite: Debian's Rust builds both tools" \
    in_root 'cd /src && nice -n 10 cargo build --locked --release -p pigsty-build -p pigsty-install 2>&1 | tail -3 && target/release/pigsty-build --version && target/release/pigsty-install --version'
  # The README's main command, as the README has it, against the mirror the chroot's apt uses.
  main_cmd=$(readme_command 1)
  [ -n "$main_cmd" ] || fail "no main command found in README.md"
  echo "# $suite: the README's main command: $main_cmd"
  timed_check "$suite: the README's main command writes a signed bundle into dist/" \
    in_root "cd /src && $main_cmd && ls -l dist/pigsty-pkg-*.tgz"
fi
if [ "$build" = --test ]; then
  reference=${PIGSTY_REFERENCE:-../shared/reference}
  [ -d "$reference" ] || { echo "no reference data at $reference (set PIGSTY_REFERENCE)" >&2; exit 1; }
  mkdir -p "$root/shared/reference"
  mount --bind "$reference" "$root/shared/reference"
  mount -o remount,bind,ro "$root/shared/reference"
  test_cmd=$(readme_command 2)
  [ -n "$test_cmd" ] || fail "no test command found in README.md"
  echo "# $suite: the README's test command: $test_cmd"
  timed_check "$suite: the README's test command passes in the fresh chroot" \
    in_root "cd /src && $test_cmd"
fi
summary
