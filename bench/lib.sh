#!/usr/bin/env bash
# Shared by the bench scripts: release binaries, the host's Debian mirror (read from the host's
# own apt sources through tests/lib/common.sh, never written here), and one real d12 / PG 15
# repo of about 300 .debs built with a cache under ~/.cache/pigsty-build, so reruns are quick.

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# common.sh wants a cache dir of its own; the bench only uses host_debian_mirror from it.
PIGSTY_TEST_CACHE=${PIGSTY_TEST_CACHE:-$HOME/.cache/pigsty-build-test}
source "$bench_root/tests/lib/common.sh"

target_dir=${CARGO_TARGET_DIR:-$bench_root/target}
bin=$target_dir/release/pigsty-build
examples=$target_dir/release/examples
bench_cache=${PIGSTY_BENCH_CACHE:-$HOME/.cache/pigsty-build}

BENCH_EXTS=postgis,pg_cron,pg_repack,pg_partman,hypopg,pgaudit,wal2json,orafce,ip4r,pgrouting
BENCH_PACKAGES=pgsql-mini,postgresql-plpython3-15,patroni,pgbouncer,pgbackrest,haproxy,etcd-server

build_release() {
  (cd "$bench_root" && nice -n 10 cargo build --release -q -p pigsty-build -p pigsty-bundle -p pigsty-install --bins --examples)
}

need() {
  command -v "$1" >/dev/null || { echo "needs $1 (apt-get install -y $2)" >&2; exit 1; }
}

# bench_key DIR: a signing key in DIR (made once).
bench_key() {
  [ -s "$1/pigsty.key" ] || "$bin" key gen --out "$1" >/dev/null
}

# bench_build OUT [extra args]: the d12 / PG 15 build of the e2e test into OUT (OUT/pigsty is
# the repo folder), downloads cached under $bench_cache/pkgs.
bench_build() {
  local out=$1 cmd; shift
  cmd=$(bench_build_cmd "$out") || return 1
  # shellcheck disable=SC2086 # the words of the command line, none with a space
  SOURCE_DATE_EPOCH=1700000000 $cmd "$@"
}

# bench_build_cmd OUT [CACHE]: the command line of bench_build (no word has a space), for
# hyperfine -N (prefix it with `env SOURCE_DATE_EPOCH=1700000000`); CACHE defaults to
# $bench_cache/pkgs.
bench_build_cmd() {
  local mirror
  mirror=$(host_debian_mirror) || return 1
  bench_key "$bench_cache/bench-key"
  echo "$bin --os d12 --arch x86_64 --pg 15 --modules node --mirror debian=$mirror" \
    "--ext $BENCH_EXTS --packages $BENCH_PACKAGES" \
    "--sign-key $bench_cache/bench-key/pigsty.key --out $1 --cache ${2:-$bench_cache/pkgs}"
}

# hf_mean JSON N: mean seconds of command N (0-based) in a hyperfine --export-json file.
hf_mean() {
  python3 -c "import json,sys; print('%.4f' % json.load(open(sys.argv[1]))['results'][int(sys.argv[2])]['mean'])" "$1" "$2"
}
ratio() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
ratio2() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }

# hf_median N JSON...: median seconds of command N (0-based) over every run of several
# hyperfine --export-json files (rounds run one after another, so the commands interleave).
hf_median() {
  local n=$1; shift
  python3 -c "
import json, statistics, sys
t = [x for f in sys.argv[2:] for x in json.load(open(f))['results'][int(sys.argv[1])]['times']]
print('%.4f' % statistics.median(t))" "$n" "$@"
}

# hf_spread N JSON...: min-max seconds of command N over the same runs.
hf_spread() {
  local n=$1; shift
  python3 -c "
import json, sys
t = [x for f in sys.argv[2:] for x in json.load(open(f))['results'][int(sys.argv[1])]['times']]
print('%.3f-%.3f s over %d runs' % (min(t), max(t), len(t)))" "$n" "$@"
}

# load_note: the machine's load average, for the figures' context (the machine is shared).
load_note() { echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) CPUs)"; }

# The URI the host's apt uses for Debian security updates (the source whose suite ends in
# -security), read from the host's own apt sources like host_debian_mirror.
host_debian_security_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ for (i=2;i<=NF;i++) if ($i ~ /-security$/) { print u; exit } }' "$f")
    if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
  done
  uri=$(awk '$1=="deb" && $3 ~ /-security$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
  echo "cannot find the host's Debian security mirror in the host's apt sources" >&2
  return 1
}
