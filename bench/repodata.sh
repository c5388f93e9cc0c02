#!/usr/bin/env bash
# dnf repository metadata for a folder of rpms: `pigsty_bundle::dnf::write_repodata` (through
# examples/dnf_repodata) against `createrepo_c --workers 2 --no-database`, on the same N
# made-up but real rpms (examples/make_rpms: varied sizes, file lists, dependencies,
# changelogs; ~190 MiB for 1000). Ours runs twice: as the builder does, with each rpm's
# SHA-256 known from its download (`--sums`), and hashing every file itself first as
# createrepo_c must (equal work). All gz (createrepo_c 0.17.3 cannot write zst); ours with zst
# is timed too. Checks that ours and createrepo_c's XML are the same but for `<time file>`,
# then prints the ratios.
#
# Usage: bench/repodata.sh [RUNS] [N]   (needs hyperfine, createrepo-c; no network)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-10}
n=${2:-1000}
need hyperfine hyperfine
need createrepo_c createrepo-c
# Only the builder's examples are needed, not the whole build_release.
(cd "$bench_root" && cargo build --release -q -p pigsty-build --examples)

work=$(mktemp -d /tmp/pigsty-bench-repodata.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
"$examples/make_rpms" "$repo" "$n"
# What the builder knows from the downloads, made outside the timed runs.
(cd "$repo" && sha256sum -- *.rpm > "$work/sums")
echo "input: $(ls "$repo"/*.rpm | wc -l) rpms, $(du -sh "$repo" | cut -f1) in $repo"

ours="$examples/dnf_repodata $repo --workers 2"
hyperfine -N --warmup 1 --runs "$runs" --export-json "$work/repodata.json" \
  --command-name "ours (sha256 known)" "$ours --sums $work/sums" \
  --command-name "ours (hashing too)" "$ours" \
  --command-name "ours zst (sha256 known)" "$ours --sums $work/sums --compress zst" \
  --command-name "createrepo_c" "createrepo_c --quiet --workers 2 --no-database $repo"

# Same XML? createrepo_c's metadata is the last written; ours goes beside it for the check.
mkdir -p "$work/c" && mv "$repo/repodata" "$work/c/repodata"
$ours --sums "$work/sums" 2>/dev/null
python3 - "$repo/repodata" "$work/c/repodata" <<'EOF'
import gzip, re, sys, pathlib
def docs(d):
    out = {}
    for f in pathlib.Path(d).glob("*.xml.gz"):
        kind = f.name.split("-", 1)[1].split(".")[0]
        text = gzip.open(f).read().decode()
        out[kind] = re.sub(r'<time file="\d+"', '<time file="*"', text)
    return out
ours, theirs = docs(sys.argv[1]), docs(sys.argv[2])
ok = True
for kind in ("primary", "filelists", "other"):
    same = ours[kind] == theirs[kind]
    ok &= same
    n = ours[kind].count("<package ")
    print(f"{kind}: {n} packages, {len(ours[kind])} bytes, {'same as createrepo_c' if same else 'DIFFERENT from createrepo_c'}")
sys.exit(0 if ok else 1)
EOF

o=$(hf_mean "$work/repodata.json" 0)
h=$(hf_mean "$work/repodata.json" 1)
z=$(hf_mean "$work/repodata.json" 2)
c=$(hf_mean "$work/repodata.json" 3)
echo "mean: ours ${o}s (sha256 known), ${h}s (hashing too), ${z}s (zst); createrepo_c ${c}s"
echo "ratio: createrepo_c / ours = $(ratio "$c" "$o")x (goal >= 2x), / ours hashing too = $(ratio "$c" "$h")x, / ours zst = $(ratio "$c" "$z")x"
