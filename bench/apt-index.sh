#!/usr/bin/env bash
# Indexing a flat apt repo of real .debs (the d12 / PG 15 build of tests/e2e-apt.sh, ~220
# packages, ~160 MB): dpkg-scanpackages and apt-ftparchive (which open every .deb, read its
# control file and hash it) against ours, `pigsty_bundle::apt::write_indexes` fed the paragraphs
# the builder already has (the upstream ones, sizes and hashes known from the download), as
# examples/apt_index_bench.rs does from the repo's Packages. Checks that ours and apt-ftparchive
# list the same package / version / SHA256 set, then prints the ratios.
#
# Usage: bench/apt-index.sh [RUNS]   (needs hyperfine, dpkg-dev, apt-utils; network on first run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-10}
need hyperfine hyperfine
need dpkg-scanpackages dpkg-dev
need apt-ftparchive apt-utils
build_release

work=$(mktemp -d /tmp/pigsty-bench-index.XXXXXX)
trap 'rm -rf "$work"' EXIT
bench_build "$work/build" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
repo=$work/repo
mkdir -p "$repo"
cp "$work"/build/pigsty/*.deb "$repo/"
# the paragraphs the builder had, kept outside the indexed folder
cp "$work/build/pigsty/Packages" "$work/upstream.Packages"
n=$(ls "$repo"/*.deb | wc -l)
echo "input: $n .debs, $(du -sh "$repo" | cut -f1) in $repo"

cd "$repo"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/index.json" \
  --command-name ours "$examples/apt_index_bench $work/upstream.Packages $work/ours" \
  --command-name apt-ftparchive "bash -c 'apt-ftparchive packages . > $work/ftp.Packages'" \
  --command-name dpkg-scanpackages "bash -c 'dpkg-scanpackages . > $work/scan.Packages 2>/dev/null'"

# Same package / version / SHA256 set?
python3 - "$work/ours/Packages" "$work/ftp.Packages" "$work/scan.Packages" <<'EOF'
import sys
def keys(path):
    out = set()
    for para in open(path).read().split("\n\n"):
        f = dict(l.split(": ", 1) for l in para.splitlines() if ": " in l and not l.startswith(" "))
        if "Package" in f:
            out.add((f["Package"], f["Version"], f["SHA256"]))
    return out
ours, ftp, scan = (keys(p) for p in sys.argv[1:4])
print(f"packages listed: ours {len(ours)}, apt-ftparchive {len(ftp)}, dpkg-scanpackages {len(scan)}")
ok = True
for name, other in (("apt-ftparchive", ftp), ("dpkg-scanpackages", scan)):
    if ours == other:
        print(f"same package/version/SHA256 set as {name}")
    else:
        ok = False
        print(f"DIFFERENT from {name}: only ours {sorted(ours - other)[:5]}, only {name} {sorted(other - ours)[:5]}")
sys.exit(0 if ok else 1)
EOF

o=$(hf_mean "$work/index.json" 0)
f=$(hf_mean "$work/index.json" 1)
s=$(hf_mean "$work/index.json" 2)
echo "mean: ours ${o}s (Packages + Packages.gz + Release), apt-ftparchive ${f}s, dpkg-scanpackages ${s}s"
echo "ratio: apt-ftparchive / ours = $(ratio "$f" "$o")x (goal >= 4x), dpkg-scanpackages / ours = $(ratio "$s" "$o")x"
