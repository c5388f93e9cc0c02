#!/usr/bin/env bash
# Serving the real d12 / PG 15 repo (the e2e build, ~230 files, ~160 MiB) to 50 clients at
# once on loopback: `pigsty-install serve` against nginx (sendfile, 2 workers) and
# `python3 -m http.server` on the same folder. Each client is one curl fetching every file of
# the repo in turn over one connection (to /dev/null), the 50 in parallel; hyperfine times the
# whole. Before timing, examples/fetch_repo checks every byte each server sends against the
# manifest. ROUNDS hyperfine runs one after the other, each timing ours and nginx (RUNS runs
# each), so that the two interleave and share whatever else the machine does; python3 runs
# once per round after them (it is far behind: a reference, not a peer). Prints the medians
# over every run, the ratio, each server's CPU time per run and peak RSS (VmHWM).
#
# Usage: bench/serve.sh [RUNS] [CLIENTS] [ROUNDS]   (needs hyperfine, nginx, curl; network on
# first run)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
runs=${1:-5}
clients=${2:-50}
rounds=${3:-3}
need hyperfine hyperfine
need nginx nginx-light
need curl curl
build_release
(cd "$bench_root" && nice -n 10 cargo build --release -q -p pigsty-install --bins --examples)
inst=$target_dir/release/pigsty-install
fetch=$examples/fetch_repo

work=$(mktemp -d /tmp/pigsty-bench-serve.XXXXXX)
chmod 755 "$work"   # nginx's workers run as www-data
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
bench_build "$work/build" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
dest=$work/build
files=$(python3 -c "import json; print(len(json.load(open('$dest/pigsty/MANIFEST.json'))['files']))")
echo "input: $dest/pigsty, $files files, $(du -sh "$dest/pigsty" | cut -f1); $clients clients"

ours=18601 nginx_port=18602 python_port=18603
"$inst" serve --listen 127.0.0.1:$ours --dest "$dest" --json >"$work/ours.json" 2>"$work/ours.log" &
pids+=($!)
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx.err;
events { worker_connections 4096; }
http {
  access_log $work/nginx.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$nginx_port; root $dest; autoindex on; }
}
EOF
nginx -c "$work/nginx.conf" &
pids+=($!)
python3 -m http.server --bind 127.0.0.1 --directory "$dest" $python_port >/dev/null 2>&1 &
pids+=($!)
sleep 1
ours_pid=$(python3 -c "import json; print(json.load(open('$work/ours.json'))['pid'])")
nginx_pids=$(pgrep -P "$(cat "$work/nginx.pid")" | tr '\n' ' ')
python_pid=${pids[2]}

# Every byte of every file, from each server, checked against the manifest.
for port in $ours $nginx_port $python_port; do
  "$fetch" "http://127.0.0.1:$port/pigsty" 4 >"$work/check-$port.json"
  echo "checked: port $port $(cat "$work/check-$port.json")"
done

# One client: every file in turn over one connection, to /dev/null.
for port in $ours $nginx_port $python_port; do
  python3 - "$dest/pigsty/MANIFEST.json" "http://127.0.0.1:$port/pigsty" >"$work/curl-$port.cfg" <<'EOF'
import json, sys
for f in json.load(open(sys.argv[1]))["files"]:
    print(f'url = "{sys.argv[2]}/{f["path"]}"\noutput = "/dev/null"')
EOF
done
client() { echo "seq $clients | xargs -P $clients -I{} curl -sf -K $work/curl-$1.cfg"; }
# CPU seconds (user + system) a server's processes have used so far: the wall-clock figures
# swing with whatever else runs on the machine; the servers' own CPU time less so.
ticks=$(getconf CLK_TCK)
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
cpu0_ours=$(cpu "$ours_pid"); cpu0_nginx=$(cpu $nginx_pids); cpu0_python=$(cpu "$python_pid")
echo "before: $(load_note)"
jsons=() pyjsons=()
for r in $(seq 1 "$rounds"); do
  echo "# round $r of $rounds"
  hyperfine --warmup 1 --runs "$runs" --export-json "$work/serve-$r.json" \
    --command-name ours "$(client $ours)" \
    --command-name nginx "$(client $nginx_port)"
  hyperfine --runs 1 --export-json "$work/python-$r.json" \
    --command-name "python3 -m http.server" "$(client $python_port)"
  jsons+=("$work/serve-$r.json") pyjsons+=("$work/python-$r.json")
done
echo "after: $(load_note)"

o=$(hf_median 0 "${jsons[@]}")
n=$(hf_median 1 "${jsons[@]}")
p=$(hf_median 0 "${pyjsons[@]}")
bytes=$(python3 -c "import json; print(sum(f['size'] for f in json.load(open('$dest/pigsty/MANIFEST.json'))['files']) * $clients)")
mbs() { python3 -c "import sys; print('%.0f' % (int(sys.argv[1]) / float(sys.argv[2]) / 2**20))" "$bytes" "$1"; }
echo "median: ours ${o}s ($(mbs "$o") MiB/s; $(hf_spread 0 "${jsons[@]}")), nginx ${n}s ($(mbs "$n") MiB/s; $(hf_spread 1 "${jsons[@]}")), python3 -m http.server ${p}s ($(mbs "$p") MiB/s)"
echo "ratio: ours / nginx = $(ratio2 "$o" "$n")x (goal <= 1x); python3 -m http.server / ours = $(ratio "$p" "$o")x"
per_run() { python3 -c "import sys; print('%.2f' % ((int(sys.argv[1]) - int(sys.argv[2])) / $ticks / float(sys.argv[3])))" "$1" "$2" "$3"; }
co=$(per_run "$(cpu "$ours_pid")" "$cpu0_ours" $((rounds * (runs + 1))))
cn=$(per_run "$(cpu $nginx_pids)" "$cpu0_nginx" $((rounds * (runs + 1))))
cpy=$(per_run "$(cpu "$python_pid")" "$cpu0_python" "$rounds")
echo "server CPU per run (user + system): ours ${co}s, nginx ${cn}s, python3 -m http.server ${cpy}s"
hwm() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
echo "peak RSS (VmHWM): ours $(hwm "$ours_pid") kB; nginx workers $(for w in $nginx_pids; do printf '%s ' "$(hwm "$w")"; done)kB; python3 $(hwm "$python_pid") kB"
