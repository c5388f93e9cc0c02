#!/usr/bin/env bash
# Writes the release binaries of pigsty-build and pigsty-install into dist/bin/: the `dist`
# profile (release, no debug info, stripped), linked against glibc 2.28, the oldest glibc of
# the target OSes (EL8), so that one binary runs on every target OS. Zig (PyPI's ziglang, in a
# virtualenv) links them and compiles the C code of the -sys crates (liblzma, zstd, ring) for
# that glibc, driven by cargo-zigbuild (crates.io); both are cached under ~/.cache/pigsty-dist.
#
#   bash tools/dist.sh [x86_64|aarch64]      (default: this machine's arch)
#
# PIGSTY_DIST_PROFILE picks another Cargo profile (default `dist`); the test of this script uses
# `dist-check`, the same settings with fewer optimizations, to link the same way in less time.
#
# The other arch goes to dist/bin/ARCH/ and needs the Rust standard library of its target: with
# rustup, `rustup target add aarch64-unknown-linux-gnu` (done here when rustup is present).
set -euo pipefail
cd "$(dirname "$0")/.."

glibc=2.28
zig_version=0.15.2
zigbuild_version=0.24.1
cache=${PIGSTY_DIST_CACHE:-$HOME/.cache/pigsty-dist}
arch=${1:-$(uname -m)}
case $arch in
  x86_64 | aarch64) ;;
  arm64) arch=aarch64 ;;
  *) echo "dist: no release binaries for arch $arch (x86_64 or aarch64)" >&2; exit 2 ;;
esac
triple=$arch-unknown-linux-gnu
profile=${PIGSTY_DIST_PROFILE:-dist}
die() { echo "dist: $*" >&2; exit 1; }
mkdir -p "$cache"

# Zig from PyPI, in a virtualenv (Debian's Python refuses pip: EXTERNALLY-MANAGED).
venv=$cache/venv
if [ "$("$venv/bin/python3" -m ziglang version 2>/dev/null)" != "$zig_version" ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null \
    || die "python3 -m venv does not work here: install Debian's python3-venv"
  echo "installing PyPI's ziglang $zig_version into $venv"
  { python3 -m venv --clear "$venv" && "$venv/bin/python3" -m pip install -q "ziglang==$zig_version"; } \
    >"$cache/venv.log" 2>&1 || { tail -20 "$cache/venv.log" >&2; die "ziglang did not install (see $cache/venv.log)"; }
fi

# cargo-zigbuild from crates.io, in its own folder.
zigbuild_root=$cache/cargo-zigbuild-$zigbuild_version
if [ ! -x "$zigbuild_root/bin/cargo-zigbuild" ]; then
  echo "installing cargo-zigbuild $zigbuild_version into $zigbuild_root"
  cargo install --quiet --locked "cargo-zigbuild@$zigbuild_version" --root "$zigbuild_root" \
    || die "cargo install cargo-zigbuild@$zigbuild_version failed"
fi

# The Rust standard library of the target.
if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$triple/lib" ]; then
  if command -v rustup >/dev/null 2>&1; then
    rustup target add "$triple" || die "rustup target add $triple failed"
  else
    die "this Rust has no standard library for $triple (with rustup: rustup target add $triple)"
  fi
fi

PATH=$zigbuild_root/bin:$PATH \
CARGO_ZIGBUILD_PYTHON_PATH=$venv/bin/python3 \
CARGO_ZIGBUILD_CACHE_DIR=$cache/zigbuild \
  cargo zigbuild --locked --profile "$profile" --target "$triple.$glibc" -p pigsty-build -p pigsty-install

# The output folder gets both binaries or, on a failure, keeps what it had.
out=dist/bin
[ "$arch" = "$(uname -m)" ] || out=dist/bin/$arch
mkdir -p "$out"
for bin in pigsty-build pigsty-install; do
  cp "target/$triple/$profile/$bin" "$out/.$bin.tmp"
done
for bin in pigsty-build pigsty-install; do
  mv "$out/.$bin.tmp" "$out/$bin"
  echo "$out/$bin: $triple, glibc >= $glibc, $(stat -c %s "$out/$bin") bytes"
done
