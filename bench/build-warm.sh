#!/usr/bin/env bash
# A whole d12 / PG 15 build from a warm cache against (1) the physical baseline of the issue:
# the bytes of the same repo folder read, hashed and durably written once, and (2) the shell
# pipeline people use today, on the same package list (the packages the build was asked for,
# as its MANIFEST.json names them). All three in one hyperfine run per round; ROUNDS rounds
# one after the other, so the commands interleave; medians over every run.
#   ours:     pigsty-build into a fresh --out, its download cache (~/.cache/pigsty-build)
#             warmed by one build before timing: the .debs and the kept indexes come from the
#             cache; the upstream InRelease files are fetched and verified every run.
#   baseline: tar -cf - pigsty | tee x.tar | openssl dgst -sha256; sync x.tar, on the repo
#             folder the warming build produced (the bytes of the bundle read, hashed and
#             written durably once).
#   shell:    a private apt configuration in a temp dir (sources: the host's mirror, bookworm,
#             bookworm-updates, bookworm-security main; lists warmed by one `apt-get update`
#             before timing), then, timed: apt-get update, apt-cache depends --recurse ... |
#             grep '^\w' | sort -u, apt-get download of those, dpkg-scanpackages, tar | gzip -9.
#             apt-get download has no cache: every run downloads every .deb again.
# The mirror URIs are read from the host's apt sources, never written here.
#
# Usage: bench/build-warm.sh [RUNS] [ROUNDS]   (needs hyperfine, dpkg-dev, openssl, network)
#        NO_SHELL=1 leaves the shell pipeline out (it takes ~25 s a run).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-3}
rounds=${2:-3}
need hyperfine hyperfine
need dpkg-scanpackages dpkg-dev
need openssl openssl
build_release

mirror=$(host_debian_mirror)
security=$(host_debian_security_mirror)
work=$(mktemp -d /tmp/pigsty-bench-warm.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "# warming our cache: one build"
bench_build "$work/warm" >"$work/warm.log" 2>&1 || { tail -20 "$work/warm.log"; exit 1; }
pkgs=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(' '.join(sorted({p['name'] for p in m['packages'] if any(not w.startswith('dependency') for w in p['wanted_by'])})))" "$work/warm/pigsty/MANIFEST.json")
echo "asked-for packages ($(wc -w <<<"$pkgs")): $pkgs"
ours_cmd="env SOURCE_DATE_EPOCH=1700000000 $(bench_build_cmd "$work/out-ours")"

cat >"$work/baseline.sh" <<'SH'
#!/usr/bin/env bash
# baseline.sh DIR OUT: DIR/pigsty read, hashed and durably written once.
set -euo pipefail
tar -C "$1" -cf - pigsty | tee "$2" | openssl dgst -sha256 >/dev/null
sync "$2"
SH

# The shell side, as a script of its own.
apt=$work/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt/sources.list" <<SRC
deb [signed-by=$keyring] $mirror bookworm main
deb [signed-by=$keyring] $mirror bookworm-updates main
deb [signed-by=$keyring] $security bookworm-security main
SRC
cat >"$work/pipeline.sh" <<'SH'
#!/usr/bin/env bash
# pipeline.sh APT_DIR OUT PKGS...
set -euo pipefail
apt=$1 out=$2; shift 2
o=(-o Dir::Etc::SourceList="$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
   -o Dir::State="$apt" -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache"
   -o APT::Architectures=amd64 -o APT::Sandbox::User=root)
apt-get -qq "${o[@]}" update
mkdir -p "$out/pigsty"
apt-cache "${o[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances "$@" | grep '^\w' | sort -u >"$out/list"
(cd "$out/pigsty" && apt-get -qq "${o[@]}" download $(cat "$out/list") >/dev/null)
(cd "$out/pigsty" && dpkg-scanpackages . >Packages 2>/dev/null && gzip -9k Packages)
tar -C "$out" -cf - pigsty | gzip -9 >"$out/pigsty.tgz"
SH
chmod +x "$work/pipeline.sh"
shell=()
if [ -z "${NO_SHELL:-}" ]; then
  echo "# warming the shell side: apt-get update once, one pipeline run"
  bash "$work/pipeline.sh" "$apt" "$work/shell-warm" $pkgs
  echo "shell: $(wc -l <"$work/shell-warm/list") packages, $(du -sm "$work/shell-warm/pigsty" | cut -f1) MiB"
  shell=(--command-name "shell pipeline" "bash $work/pipeline.sh $apt $work/out-shell $pkgs")
fi
echo "ours: $(ls "$work"/warm/pigsty/*.deb | wc -l) packages, $(du -sm "$work/warm/pigsty" | cut -f1) MiB in the repo folder"

echo "before: $(load_note)"
jsons=()
for r in $(seq 1 "$rounds"); do
  echo "# round $r of $rounds"
  hyperfine -N --runs "$runs" --export-json "$work/warm-$r.json" \
    --prepare "rm -rf $work/out-ours $work/out-shell $work/x.tar" \
    --command-name "ours (warm cache)" "$ours_cmd" \
    --command-name "baseline: tar | tee | openssl sha256; sync" \
    "bash $work/baseline.sh $work/warm $work/x.tar" \
    "${shell[@]}"
  jsons+=("$work/warm-$r.json")
done
echo "after: $(load_note)"

o=$(hf_median 0 "${jsons[@]}")
b=$(hf_median 1 "${jsons[@]}")
echo "median: ours ${o}s ($(hf_spread 0 "${jsons[@]}")), baseline ${b}s ($(hf_spread 1 "${jsons[@]}"))"
echo "ratio: ours / baseline = $(ratio2 "$o" "$b")x (goal <= 1.5x)"
if [ ${#shell[@]} -gt 0 ]; then
  s=$(hf_median 2 "${jsons[@]}")
  echo "median: shell pipeline ${s}s ($(hf_spread 2 "${jsons[@]}"))"
  echo "ratio: shell / ours = $(ratio "$s" "$o")x (goal >= 5x)"
fi
