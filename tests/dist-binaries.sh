#!/usr/bin/env bash
# The release binaries: `bash tools/dist.sh` (the README's command) writes dist/bin/pigsty-build
# and dist/bin/pigsty-install; each runs, is stripped, needs no GLIBC symbol version above 2.28
# (EL8's glibc, the oldest of the target OSes; `objdump -T`) and no shared library beyond glibc's
# own and libgcc_s, so that it runs on every target OS.
set -uo pipefail
cd "$(dirname "$0")/.."
source tests/lib/common.sh

max_glibc=2.28
work=$(mktemp -d /tmp/pigsty-dist-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The `dist-check` profile is `dist` (stripped, glibc 2.28, same link) at opt-level 1: the
# checks below are about linking, not speed, and it builds in a fraction of the time.
echo "# PIGSTY_DIST_PROFILE=dist-check bash tools/dist.sh"
rm -f dist/bin/pigsty-build dist/bin/pigsty-install
PIGSTY_DIST_PROFILE=dist-check bash tools/dist.sh >"$work/dist.log" 2>&1
check "tools/dist.sh writes the release binaries" test $? -eq 0 || tail -30 "$work/dist.log"
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)

for bin in pigsty-build pigsty-install; do
  f=dist/bin/$bin
  check "$f is written" test -x "$f" || continue
  check "$f --version prints $bin $version" bash -c "'$f' --version | grep -qx '$bin $version'"
  # the highest GLIBC_x.y the binary's dynamic symbols need
  objdump -T "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV >"$work/$bin.glibc"
  highest=$(tail -1 "$work/$bin.glibc")
  echo "  $f: $(stat -c %s "$f") bytes, highest GLIBC symbol version ${highest:-none}"
  check "$f needs GLIBC symbols (objdump -T reads it)" test -n "$highest"
  check "$f needs at most GLIBC_$max_glibc (has GLIBC_$highest)" \
    bash -c "[ \"\$(printf '%s\n' '$highest' '$max_glibc' | sort -V | tail -1)\" = '$max_glibc' ]"
  objdump -p "$f" | awk '$1 == "NEEDED" {print $2}' >"$work/$bin.needed"
  check "$f links only glibc's libraries and libgcc_s ($(tr '\n' ' ' <"$work/$bin.needed"))" \
    bash -c "! grep -vE '^(libc|libm|libdl|libpthread|librt|libutil|libgcc_s)\.so\.[0-9]+\$|^ld-linux-(x86-64|aarch64)\.so\.[0-9]+\$' '$work/$bin.needed'"
  check "$f is stripped (no symbol table, no debug info)" \
    bash -c "! readelf -SW '$f' | grep -qE '\] \.(symtab|debug_info|debug_line) '"
done
summary
