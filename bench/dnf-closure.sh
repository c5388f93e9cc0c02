#!/usr/bin/env bash
# The dnf resolution on a generated repository of 50 000 packages (builder/examples/
# dnf_closure_bench.rs: primary.xml.gz, filelists.xml.gz, a signed repomd.xml; no rpm files):
# ours, `dnf_closure_bench resolve` (serve the folder on loopback HTTP, fetch repomd.xml and
# verify its signature, fetch primary.xml.gz and check its sha256, parse it, resolve the
# closure of the 300 names of request.txt, fetching filelists.xml.gz on demand), against
# dnf 4 resolving the same request on the same folder: `dnf install --assumeno` into an
# empty --installroot, cold (no dnf cache: dnf first turns the XML into its .solv cache) and
# warm (the .solv cache from the previous run). Checks that ours and dnf select the same
# NEVRAs (dnf's own Python API lists them), then prints the ratios.
#
# Usage: bench/dnf-closure.sh [RUNS] [PACKAGES]   (needs hyperfine and dnf)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
packages=${2:-50000}
need hyperfine hyperfine
need dnf dnf
build_release

work=$(mktemp -d /tmp/pigsty-bench-dnf.XXXXXX)
trap 'rm -rf "$work"' EXIT
repo=$work/repo
"$examples/dnf_closure_bench" generate "$repo" "$packages"
echo "input: $(du -sh "$repo/repodata" | cut -f1) of metadata in $repo"

request=$(tr '\n' ' ' <"$repo/request.txt")
dnf_cmd="dnf -q --installroot=$work/root --setopt=reposdir=/dev/null --setopt=cachedir=$work/dnfcache \
--repofrompath=bench,file://$repo --repo=bench --releasever=9 --nogpgcheck \
--setopt=install_weak_deps=False install --assumeno $request"

# `install --assumeno` exits 1 ("Operation aborted") after resolving: -i. The warm-up run
# makes dnf's cache; cold runs go in a second hyperfine run, whose --prepare removes it (one
# --prepare would apply to every command of a run).
hyperfine -N -i --warmup 1 --runs "$runs" --export-json "$work/dnf.json" \
  --command-name ours "$examples/dnf_closure_bench resolve $repo" \
  --command-name "dnf warm" "$dnf_cmd"
hyperfine -N -i --runs "$runs" --export-json "$work/cold.json" \
  --command-name "dnf cold" --prepare "rm -rf $work/dnfcache" "$dnf_cmd"

# Same selection?
"$examples/dnf_closure_bench" resolve "$repo" --list >"$work/ours.list"
/usr/bin/python3 - "$work/root" "$work/pycache" "$repo" >"$work/dnf.list" <<'EOF'
import dnf, sys
base = dnf.Base()
c = base.conf
c.installroot, c.cachedir, c.reposdir = sys.argv[1], sys.argv[2], []
c.substitutions["releasever"] = "9"
c.gpgcheck = False
c.install_weak_deps = False
base.repos.add_new_repo("bench", c, baseurl=["file://" + sys.argv[3]])
base.fill_sack(load_system_repo=False)
for n in open(sys.argv[3] + "/request.txt").read().split():
    base.install(n)
base.resolve()
for p in sorted(str(p) for p in base.transaction.install_set):
    print(p)
EOF
if cmp -s "$work/ours.list" "$work/dnf.list"; then
  echo "same selection as dnf: $(wc -l <"$work/ours.list") packages"
else
  echo "DIFFERENT from dnf: ours $(wc -l <"$work/ours.list"), dnf $(wc -l <"$work/dnf.list")"
  diff "$work/ours.list" "$work/dnf.list" | head -20
  exit 1
fi

o=$(hf_mean "$work/dnf.json" 0)
w=$(hf_mean "$work/dnf.json" 1)
c=$(hf_mean "$work/cold.json" 0)
echo "mean: ours ${o}s (goal < 1 s), dnf warm ${w}s, dnf cold ${c}s"
echo "ratio: dnf cold / ours = $(ratio "$c" "$o")x, dnf warm / ours = $(ratio "$w" "$o")x"
