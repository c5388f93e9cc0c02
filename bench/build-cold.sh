#!/usr/bin/env bash
# A whole d12 / PG 15 build from an empty cache against the raw parallel download of the same
# files, in one hyperfine run per round (ROUNDS rounds one after the other, so the two
# interleave; medians over every run):
#   ours: pigsty-build (the shared setup's build) with a fresh, empty --cache and --out: the
#         upstream InRelease files fetched and their signatures checked, the Packages indexes
#         fetched, checked against Release, decompressed and parsed, the closure resolved, every
#         .deb downloaded (8 at a time, the default --jobs) with its size and SHA-256 checked,
#         the repo written, signed, packed into the .tgz bundle, fsynced.
#   curl: `curl --parallel --parallel-max 8` of the same URLs (each InRelease and compressed
#         Packages the build reads, and every .deb of the bundle) into an empty folder: no
#         check, no fsync, nothing else. This is the issue's baseline.
#   chain: the same downloads in the order any resolver must take them, and the one step
#         between them that no reader of an index can skip: curl of the InRelease and Packages
#         files (--parallel), then each Packages decompressed to /dev/null (side by side;
#         `pigz -dc`, zlib's inflate with the read, write and CRC on threads of their own: 0.13 s
#         for bookworm main here, where `gzip -dc` takes 0.23 s), then curl of the .debs
#         (--parallel --parallel-max 8). No signature, hash, parse, solve, repo, pack or fsync.
#         A resolver cannot know a .deb's URL before it has read the index that lists it, so
#         this is a floor for any build from an empty cache, and the ratio chain / curl says
#         how far above curl that floor lies on the machine and the mirror of the run.
# Every timed run writes into a new folder and nothing is deleted until the end: on a
# journal-less ext4 (this machine's root) each new inode is checked against the inodes deleted
# in the last ~30 s, and deleting the last run's ~1,500 files just before a run made each file
# a run creates cost more, the more files it creates (ext4_create was 23% of the build's CPU
# samples). A cold cache on a user's machine has no such past. Needs about 0.85 GB free per
# run and round.
#
# The URLs are made before timing from a build with the shared cache: each .deb's Filename,
# found by its SHA-256 in the upstream Packages the build kept, under the mirror that index
# came from (the host's mirrors, read from its apt sources, never written here). The script
# checks that there is one URL per .deb and that curl's download has the bundle's byte count.
#
# Usage: bench/build-cold.sh [RUNS] [ROUNDS]   (needs hyperfine, curl, pigz, xz, network)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-2}
rounds=${2:-3}
need hyperfine hyperfine
need curl curl
need xz xz-utils
need pigz pigz
build_release

mirror=$(host_debian_mirror)
security=$(host_debian_security_mirror)
work=$(mktemp -d /tmp/pigsty-bench-cold.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Nothing is deleted between runs: each run of ours (cache, bundle), curl and the chain keeps
# its ~0.85 GB until the end. Refuse to start rather than fill the disk.
need_mb=$(( (runs * rounds + 2) * 870 + 1024 ))
have_mb=$(df -Pm "$work" | awk 'NR == 2 {print $4}')
if [ "$have_mb" -lt "$need_mb" ]; then
  echo "needs ${need_mb} MB free under /tmp for $runs runs x $rounds rounds; $have_mb MB are" >&2
  exit 1
fi

echo "# one build with the shared cache, for the URL list"
bench_build "$work/warm" >"$work/warm.log" 2>&1 || { tail -20 "$work/warm.log"; exit 1; }
python3 - "$work/warm/pigsty/MANIFEST.json" "$bench_cache/pkgs/apt-packages" "$mirror" "$security" \
  dl "$work/urls-idx.cfg" "$work/urls-deb.cfg" >"$work/urls.cfg" <<'PY'
import json, os, re, sys
manifest, kept, mirror, security, dl, idx_cfg, deb_cfg = sys.argv[1:8]
http = os.path.join(os.path.dirname(kept), "http")
want = {f["sha256"]: f for f in json.load(open(manifest))["files"] if f["path"].endswith(".deb")}
urls, found = [], {}
for name in sorted(os.listdir(kept)):
    # kept copies are named after their URL: HOST_PATH_dists_SUITE_COMP_binary-ARCH_Packages-HASH
    m = re.search(r"_dists_([^_]+)_([^_]+)_(binary-[^_]+)_Packages-[0-9a-f]+$", name)
    if not m:
        sys.exit(f"unexpected kept index name {name}")
    suite, comp, arch = m.groups()
    base = security if suite.endswith("-security") else mirror
    # the compressed index the build reads: .gz where its Release lists one, else .xz
    release = [f for f in os.listdir(http) if re.search(rf"_dists_{re.escape(suite)}_InRelease-[0-9a-f]+$", f)]
    listed = open(os.path.join(http, release[0])).read() if release else ""
    ext = "gz" if f" {comp}/{arch}/Packages.gz\n" in listed else "xz"
    urls.append(f"{base}/dists/{suite}/{comp}/{arch}/Packages.{ext}")
    if f"{base}/dists/{suite}/InRelease" not in urls:
        urls.append(f"{base}/dists/{suite}/InRelease")
    text = open(os.path.join(kept, name), encoding="utf-8", errors="replace").read()
    for para in text.split("\n\n"):
        fields = dict(re.findall(r"^(Filename|SHA256): (\S+)$", para, re.M))
        sha = fields.get("SHA256")
        if sha in want and sha not in found:
            found[sha] = f"{base}/{fields['Filename']}"
missing = [want[s]["path"] for s in want if s not in found]
if missing:
    sys.exit(f"no upstream URL for {len(missing)} .debs, e.g. {missing[:3]}")
indexes = len(urls)
urls += sorted(found.values())
lines = [f'url = "{u}"\noutput = "{dl}/{i}-{os.path.basename(u)}"' for i, u in enumerate(urls)]
print("\n".join(lines))
open(idx_cfg, "w").write("\n".join(lines[:indexes]) + "\n")
open(deb_cfg, "w").write("\n".join(lines[indexes:]) + "\n")
print(f"{len(found)} .debs, {sum(want[s]['size'] for s in found)} bytes, {len(urls) - len(found)} index files",
      file=sys.stderr)
PY
debs=$(ls "$work"/warm/pigsty/*.deb | wc -l)
deb_bytes=$(cat "$work"/warm/pigsty/*.deb | wc -c)

mkdir -p "$work/runs"
# Each script runs in a new folder under runs/ (or in DIR, its argument).
cat >"$work/curl.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
d=\${1:-\$(mktemp -d "$work/runs/curl.XXXXXX")}
cd "\$d" && mkdir dl
curl -sf --no-progress-meter --parallel --parallel-max 8 -K "$work/urls.cfg"
SH
cat >"$work/chain.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
d=\${1:-\$(mktemp -d "$work/runs/chain.XXXXXX")}
cd "\$d" && mkdir dl
curl -sf --no-progress-meter --parallel -K "$work/urls-idx.cfg"
# Side by side; a decompression that fails fails the run (a bare wait would not).
pids=()
for f in dl/*Packages.gz; do [ -e "\$f" ] || continue; pigz -dc "\$f" >/dev/null & pids+=(\$!); done
for f in dl/*Packages.xz; do [ -e "\$f" ] || continue; xz -dc "\$f" >/dev/null & pids+=(\$!); done
for p in "\${pids[@]}"; do wait "\$p"; done
curl -sf --no-progress-meter --parallel --parallel-max 8 -K "$work/urls-deb.cfg"
SH
cat >"$work/ours.sh" <<SH
#!/usr/bin/env bash
set -euo pipefail
d=\$(mktemp -d "$work/runs/ours.XXXXXX")
exec env SOURCE_DATE_EPOCH=1700000000 $(bench_build_cmd '"$d/out"' '"$d/cache"')
SH
for peer in chain curl; do
  mkdir "$work/check-$peer"
  bash "$work/$peer.sh" "$work/check-$peer"
  got=$(find "$work/check-$peer/dl" -name '*.deb' -exec cat {} + | wc -c)
  echo "$peer check: $(find "$work/check-$peer/dl" -name '*.deb' | wc -l) .debs, $got bytes (the bundle: $debs .debs, $deb_bytes bytes)"
  [ "$got" -eq "$deb_bytes" ] || { echo "$peer's download differs from the bundle's .debs" >&2; exit 1; }
done

echo "before: $(load_note)"
jsons=()
for r in $(seq 1 "$rounds"); do
  echo "# round $r of $rounds"
  hyperfine -N --runs "$runs" --export-json "$work/cold-$r.json" \
    --prepare "sync" \
    --command-name "ours (empty cache)" "bash $work/ours.sh" \
    --command-name "curl --parallel --parallel-max 8, same URLs" "bash $work/curl.sh" \
    --command-name "chain: curl indexes; pigz -dc; curl .debs" "bash $work/chain.sh"
  jsons+=("$work/cold-$r.json")
done
echo "after: $(load_note)"
o=$(hf_median 0 "${jsons[@]}")
c=$(hf_median 1 "${jsons[@]}")
k=$(hf_median 2 "${jsons[@]}")
echo "median: ours ${o}s ($(hf_spread 0 "${jsons[@]}")), curl ${c}s ($(hf_spread 1 "${jsons[@]}")), chain ${k}s ($(hf_spread 2 "${jsons[@]}"))"
echo "ratio: ours / curl = $(ratio2 "$o" "$c")x (goal <= 1.2x)"
echo "ratio: ours / chain = $(ratio2 "$o" "$k")x; chain / curl = $(ratio2 "$k" "$c")x"
