#!/usr/bin/env bash
# Times `plan --ext all` for every target of the matrix (96 targets: 8 OS x 2 arch x PG 13-18),
# in one process (`pigsty-build matrix`), and one single plan for comparison.
# Usage: bench/plan-matrix.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
cargo build --release -q -p pigsty-build
bin=target/release/pigsty-build
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 2 --runs "$runs" \
    "$bin matrix" \
    "$bin plan --os el9 --arch x86_64 --pg 17 --ext all --json"
else
  for cmd in "$bin matrix" "$bin plan --os el9 --arch x86_64 --pg 17 --ext all --json"; do
    start=$(date +%s%N)
    for _ in $(seq "$runs"); do $cmd >/dev/null; done
    end=$(date +%s%N)
    echo "$cmd: $(( (end - start) / runs / 1000000 )) ms mean over $runs runs"
  done
fi
