#!/usr/bin/env bash
# A whole d12 / PG 15 build from a warm cache against the shell pipeline people use today, on
# the same package list (the packages the build was asked for, as its MANIFEST.json names
# them), in one hyperfine run:
#   ours:  pigsty-build into a fresh --out, its download cache (~/.cache/pigsty-build) warmed
#          by one build before timing; upstream InRelease/Packages come from that cache too.
#   shell: a private apt configuration in a temp dir (sources: the host's mirror, bookworm,
#          bookworm-updates, bookworm-security main; lists warmed by one `apt-get update`
#          before timing), then, timed: apt-get update, apt-cache depends --recurse ... |
#          grep '^\w' | sort -u, apt-get download of those, dpkg-scanpackages, tar | gzip -9.
#          apt-get download has no cache: every run downloads every .deb again from the mirror.
# The mirror URIs are read from the host's apt sources, never written here.
#
# Usage: bench/build-warm.sh [RUNS]   (needs hyperfine, dpkg-dev, network)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-3}
need hyperfine hyperfine
need dpkg-scanpackages dpkg-dev
build_release

mirror=$(host_debian_mirror)
security=$(host_debian_security_mirror)
work=$(mktemp -d /tmp/pigsty-bench-warm.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "# warming our cache: one build"
bench_build "$work/warm" >"$work/warm.log" 2>&1 || { tail -20 "$work/warm.log"; exit 1; }
pkgs=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(' '.join(sorted({p['name'] for p in m['packages'] if any(not w.startswith('dependency') for w in p['wanted_by'])})))" "$work/warm/pigsty/MANIFEST.json")
echo "asked-for packages ($(wc -w <<<"$pkgs")): $pkgs"

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
echo "# warming the shell side: apt-get update once, one pipeline run"
bash "$work/pipeline.sh" "$apt" "$work/shell-warm" $pkgs
echo "shell: $(wc -l <"$work/shell-warm/list") packages, $(du -sm "$work/shell-warm/pigsty" | cut -f1) MiB; ours: $(ls "$work"/warm/pigsty/*.deb | wc -l) packages, $(du -sm "$work/warm/pigsty" | cut -f1) MiB"

hyperfine -N --runs "$runs" --export-json "$work/warm.json" \
  --prepare "rm -rf $work/out-ours $work/out-shell" \
  --command-name "ours (warm cache)" \
  "bash -c 'source $bench_root/bench/lib.sh; bench_build $work/out-ours >/dev/null 2>&1'" \
  --command-name "shell pipeline" \
  "bash $work/pipeline.sh $apt $work/out-shell $pkgs"

o=$(hf_mean "$work/warm.json" 0)
s=$(hf_mean "$work/warm.json" 1)
echo "mean: ours ${o}s, shell pipeline ${s}s"
echo "ratio: shell / ours = $(ratio "$s" "$o")x (goal >= 5x)"
