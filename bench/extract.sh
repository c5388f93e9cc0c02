#!/usr/bin/env bash
# Verify + extract of a real bundle (signature, then every file's size and sha256 checked while
# it is written, fsync, rename into place), as pigsty-install does, vs plain `tar -xzf` of the
# same bundle (no checks, no fsync), and `tar -xzf` followed by `sync`.
# Usage: bench/extract.sh [RUNS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
need hyperfine hyperfine
build_release
work=$(mktemp -d /tmp/pigsty-bench-extract.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench_build "$work/out" >/dev/null
bundle=$(ls "$work"/out/pigsty-pkg-*.tgz | head -1)
key=$bench_cache/bench-key/pigsty.pub
echo "bundle: $bundle ($(du -h "$bundle" | cut -f1))"
mkdir -p "$work/ours" "$work/tar"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/extract.json" \
  -n "ours (verify + extract)" "$examples/extract_bench $bundle $key $work/ours" \
  -n "tar -xzf" "tar -C $work/tar -xzf $bundle" \
  -n "tar -xzf + sync" "sh -c 'tar -C $work/tar -xzf $bundle && sync'"
python3 - "$work/extract.json" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
ours = r["ours (verify + extract)"]
print(f"ours / tar -xzf = {ours / r['tar -xzf']:.2f}x  (goal: at most 1.3x)")
print(f"ours / (tar -xzf + sync) = {ours / r['tar -xzf + sync']:.2f}x")
PY
