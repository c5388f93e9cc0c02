#!/usr/bin/env bash
# Packing the same repo folder (the real d12 / PG 15 repo of bench/apt-index.sh, ~160 MB of
# .debs plus the indexes) with our bundle writer (examples/pack_bench.rs: write_bundle, .tgz
# and .tar.zst) and with `tar | gzip -9`, `tar | gzip -1` and `tar | zstd -T0`, in one
# hyperfine run; prints times, sizes and ratios. Our writer fsyncs the bundle and writes
# OUT.sha256; `tar | zstd -T0, sync` adds the fsync (coreutils `sync FILE`) to the pipeline.
# Then the same on a larger folder: the .debs copied (real copies, not hard links, which tar
# would store as links) up to LARGE_MB.
#
# Usage: bench/pack.sh [RUNS] [LARGE_MB]   (LARGE_MB 0 skips the large input; default 1024)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
large_mb=${2:-1024}
need hyperfine hyperfine
need zstd zstd
build_release

work=$(mktemp -d /tmp/pigsty-bench-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench_build "$work/build" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }

# pack_one DIR RUNS: DIR holds the folder `pigsty`.
pack_one() {
  local d=$1 n=$2
  echo "input: $(find "$d/pigsty" -type f | wc -l) files, $(du -sm "$d/pigsty" | cut -f1) MiB"
  hyperfine -N --warmup 1 --runs "$n" --export-json "$d/pack.json" \
    --command-name "ours .tgz" "$examples/pack_bench $d/pigsty $d/ours.tgz" \
    --command-name "ours .tar.zst" "$examples/pack_bench $d/pigsty $d/ours.tar.zst" \
    --command-name "tar | gzip -9" "bash -c 'tar -C $d -cf - pigsty | gzip -9 > $d/gz9.tgz'" \
    --command-name "tar | gzip -1" "bash -c 'tar -C $d -cf - pigsty | gzip -1 > $d/gz1.tgz'" \
    --command-name "tar | zstd -T0" "bash -c 'tar -C $d -cf - pigsty | zstd -q -T0 > $d/zstd.tar.zst'" \
    --command-name "tar | zstd -T0, sync" "bash -c 'tar -C $d -cf - pigsty | zstd -q -T0 > $d/zsync.tar.zst && sync $d/zsync.tar.zst'"
  python3 - "$d" <<'PY'
import json, os, sys
d = sys.argv[1]
res = {r["command"]: r["mean"] for r in json.load(open(f"{d}/pack.json"))["results"]}
files = {"ours .tgz": "ours.tgz", "ours .tar.zst": "ours.tar.zst", "tar | gzip -9": "gz9.tgz",
         "tar | gzip -1": "gz1.tgz", "tar | zstd -T0": "zstd.tar.zst", "tar | zstd -T0, sync": "zsync.tar.zst"}
print(f"{'command':21} {'mean s':>8} {'size bytes':>12}")
for c, f in files.items():
    print(f"{c:21} {res[c]:8.3f} {os.path.getsize(os.path.join(d, f)):12d}")
z = res["tar | zstd -T0"]
print(f"ratio: (tar | gzip -9) / (ours .tgz) = {res['tar | gzip -9'] / res['ours .tgz']:.1f}x")
print(f"ratio: (tar | gzip -1) / (ours .tgz) = {res['tar | gzip -1'] / res['ours .tgz']:.1f}x")
print(f"ratio: (tar | zstd -T0) / (ours .tar.zst) = {z / res['ours .tar.zst']:.2f}x (goal >= 1)")
print(f"ratio: (tar | zstd -T0) / (ours .tgz) = {z / res['ours .tgz']:.2f}x")
zs = res["tar | zstd -T0, sync"]
print(f"ratio: (tar | zstd -T0, sync) / (ours .tar.zst) = {zs / res['ours .tar.zst']:.2f}x (both fsync the bundle)")
PY
}

mkdir -p "$work/small"
cp -r "$work/build/pigsty" "$work/small/pigsty"
echo "# the repo folder"
pack_one "$work/small" "$runs"
rm -f "$work"/small/*.tgz "$work"/small/*.tar.zst

if [ "$large_mb" -gt 0 ]; then
  echo "# the .debs copied up to $large_mb MiB"
  mkdir -p "$work/large"
  cp -r "$work/build/pigsty" "$work/large/pigsty"
  i=1
  while [ "$(du -sm "$work/large/pigsty" | cut -f1)" -lt "$large_mb" ]; do
    for f in "$work"/build/pigsty/*.deb; do
      b=$(basename "$f" .deb)
      cp "$f" "$work/large/pigsty/${b}+copy$i.deb"
    done
    i=$((i + 1))
  done
  pack_one "$work/large" "$(( runs < 3 ? runs : 3 ))"
fi
