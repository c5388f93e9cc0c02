#!/usr/bin/env bash
# End-to-end test of the internal mirror: two network namespaces joined by a veth pair
# (admin 10.77.0.1/24, node 10.77.0.2/24; the node has no route anywhere else). The admin
# installs the d12 / PostgreSQL 15 bundle (built as tests/e2e-install.sh builds it, from the
# same package cache) into its own chroot and serves it with `pigsty-install serve`; the node, a
# debootstrap --variant=minbase bookworm chroot entered from the node namespace, installs with
# `pigsty-install --from http://10.77.0.1:8080/pigsty --key ...`, then apt installs PostgreSQL
# and extensions from the repo it laid out and CREATE EXTENSION works. A mirror serving a
# tampered file is refused with the file named and nothing in place; apt pointed at the mirror
# URL directly (signed-by the bundle key) updates and downloads; 50 clients fetch the whole repo
# at once over the veth, every byte checked against the manifest, while the server's peak RSS
# (VmHWM) stays flat; 300 clients that never read add little to its RSS; SIGTERM lets a slow download finish, refuses new connections, exits 0.
#
# Usage: tests/e2e-serve.sh [PIGSTY_BUILD] [PIGSTY_INSTALL] [FETCH_REPO]   (root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

build=${1:-$here/../target/debug/pigsty-build}
inst=${2:-$here/../target/debug/pigsty-install}
fetch=${3:-$(dirname "$inst")/examples/fetch_repo}
mirror=$(host_debian_mirror) || exit 1
work=$(mktemp -d /tmp/pigsty-e2e-serve.XXXXXX)
ns_admin=pigsty-admin-$$
ns_node=pigsty-node-$$
url=http://10.77.0.1:8080/pigsty
chroots=()
servers=()
cleanup() {
  for p in "${servers[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${servers[@]}"; do wait "$p" 2>/dev/null; done
  for c in "${chroots[@]}"; do umount_chroot "$c"; done
  ip netns del "$ns_admin" 2>/dev/null
  ip netns del "$ns_node" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

in_node() { ip netns exec "$ns_node" "$@"; }
# A command in the node's chroot, from the node namespace, with a clean environment.
in_chroot() {
  ip netns exec "$ns_node" chroot "$node" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"
}
# The peak resident memory of a process, in kB.
hwm() { awk '/^VmHWM:/{print $2}' "/proc/$1/status"; }
# Waits (up to 10 s) for a server's JSON startup line in FILE.
wait_ready() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

echo "# the d12 bundle"
"$build" key gen --out "$work/key" >/dev/null 2>&1
"$build" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages pgsql-mini,ansible-core,python3-apt,python3-jmespath,python3-requests \
  --ext postgis,pg_cron,hypopg --sign-key "$work/key/pigsty.key" --out "$work/out" \
  --cache "$cache_dir/pkgs" >"$work/build.log" 2>&1
check "d12 bundle builds" test $? -eq 0 || tail -20 "$work/build.log"
bundle=$(ls "$work"/out/pigsty-pkg-*.d12.x86_64.tgz | head -1)
fpr=$(gpg --show-keys --with-colons "$work/key/pigsty.pub" 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')

echo "# the admin installs the bundle"
admin=$work/admin
make_chroot bookworm "$admin" || fail "debootstrap bookworm (admin)"
chroots+=("$admin")
mount_chroot "$admin"
unshare -n "$inst" "$bundle" --fingerprint "$fpr" --root "$admin" --no-bootstrap --no-handoff \
  >"$work/admin-install.log" 2>&1
check "pigsty-install BUNDLE lays out the admin's repo" test -s "$admin/www/pigsty/MANIFEST.json" \
  || tail -20 "$work/admin-install.log"
umount_chroot "$admin"
repo=$admin/www/pigsty

echo "# two namespaces, one veth"
ip netns add "$ns_admin" && ip netns add "$ns_node" \
  && ip link add "pga$$" type veth peer name "pgn$$" \
  && ip link set "pga$$" netns "$ns_admin" && ip link set "pgn$$" netns "$ns_node" \
  && ip -n "$ns_admin" addr add 10.77.0.1/24 dev "pga$$" && ip -n "$ns_node" addr add 10.77.0.2/24 dev "pgn$$" \
  && ip -n "$ns_admin" link set "pga$$" up && ip -n "$ns_node" link set "pgn$$" up \
  && ip -n "$ns_admin" link set lo up && ip -n "$ns_node" link set lo up
check "namespaces and veth set up" test $? -eq 0

# Started directly, not through a shell function: $! is then the server itself.
ip netns exec "$ns_admin" "$inst" serve --listen 10.77.0.1:8080 --dest "$admin/www" --json \
  >"$work/serve.json" 2>"$work/serve.log" &
server=$!
servers+=("$server")
wait_ready "$work/serve.json"
check "serve prints its startup line as JSON" python3 -c "
import json; s = json.load(open('$work/serve.json'))
assert s['url'] == '$url' and s['listen'] == '10.77.0.1:8080' and s['pid'] == $server, s"
check "the node reaches the admin" in_node curl -sf -o /dev/null "$url/MANIFEST.json"
check "the node has no route to the host's Debian mirror" bash -c "! ip netns exec '$ns_node' curl -s -o /dev/null --max-time 5 '$mirror/'"
check "the admin's repo is not served outside /pigsty/" bash -c \
  "test \"\$(ip netns exec '$ns_node' curl -s -o /dev/null -w '%{http_code}' --path-as-is '$url/../pigsty/../../etc/passwd')\" = 403"

echo "# the node installs from the mirror"
node=$work/node
make_chroot bookworm "$node" || fail "debootstrap bookworm (node)"
chroots+=("$node")
echo "deb http://unreachable.invalid/debian bookworm main" >"$node/etc/apt/sources.list"
mount_chroot "$node"
in_node "$inst" --from "$url" --key "$work/key/pigsty.pub" --root "$node" --local-only --no-handoff \
  --bootstrap ansible-core,python3-apt >"$work/install.log" 2>&1
rc=$?
check "pigsty-install --from exits 0" test $rc -eq 0 || tail -30 "$work/install.log"
check "it checked the signature with the given key" grep -q "signature: good, key $fpr" "$work/install.log"
check "it downloaded and verified every file" grep -q "downloaded and verified $(python3 -c "import json; print(len(json.load(open('$repo/MANIFEST.json'))['files']))") files" "$work/install.log"
check "the node's repo is the admin's, byte for byte" diff -r "$repo" "$node/www/pigsty"
check "no staging folder left" bash -c "! ls -d '$node'/www/.pigsty-* 2>/dev/null"
check "the local source uses signed-by with the bundle key" \
  grep -qx "deb \[signed-by=/etc/apt/keyrings/pigsty.asc\] file:/www/pigsty/ ./" "$node/etc/apt/sources.list.d/pigsty-local.list"
check "the bootstrap set is installed" bash -c "$(declare -f in_chroot); ns_node=$ns_node node=$node; in_chroot dpkg -s ansible-core python3-apt >/dev/null"
check "status names the mirror" bash -c "'$inst' status --root '$node' --json | grep '\"bundle\": \"$url\"' >/dev/null"
in_chroot apt-get install -y --no-install-recommends postgresql-15 postgresql-15-postgis-3 \
  postgresql-15-cron postgresql-15-hypopg >"$work/apt.log" 2>&1
check "apt installs PostgreSQL 15 and the extensions from the local repo" test $? -eq 0 || tail -20 "$work/apt.log"
echo "shared_preload_libraries = 'pg_cron'" >>"$node/etc/postgresql/15/main/postgresql.conf"
check "PostgreSQL 15 starts" in_chroot pg_ctlcluster 15 main start
for e in postgis pg_cron hypopg; do
  check "CREATE EXTENSION $e" in_chroot runuser -u postgres -- psql -qAt -v ON_ERROR_STOP=1 -c "CREATE EXTENSION IF NOT EXISTS $e CASCADE"
done
in_chroot pg_ctlcluster 15 main stop >/dev/null 2>&1
in_node "$inst" --from "$url" --key "$work/key/pigsty.pub" --root "$node" --local-only --no-handoff \
  >"$work/again.log" 2>&1
rc=$?
check "a second --from is a no-op that says so (exit $rc)" bash -c "test $rc -eq 0 && grep -q 'nothing to do' '$work/again.log'"

echo "# a mirror serving a tampered file"
mkdir -p "$work/bad"
cp -a "$repo" "$work/bad/pigsty"
victim=$(cd "$work/bad/pigsty" && ls | grep -m1 'hypopg.*\.deb$')
printf '\xff' | dd of="$work/bad/pigsty/$victim" bs=1 seek=2000 count=1 conv=notrunc status=none
ip netns exec "$ns_admin" "$inst" serve --listen 10.77.0.1:8081 --dest "$work/bad" --json >"$work/bad.json" 2>/dev/null &
servers+=($!)
wait_ready "$work/bad.json"
in_node "$inst" --from http://10.77.0.1:8081/pigsty --key "$work/key/pigsty.pub" --root "$node" \
  --dest /www2 --no-bootstrap --no-handoff >"$work/bad.log" 2>&1
rc=$?
check "the tampered file is refused and named (exit $rc)" bash -c "test $rc -ne 0 && grep -q 'pigsty/$victim: sha256 mismatch' '$work/bad.log'" || cat "$work/bad.log"
check "nothing was put in place" bash -c "test -z \"\$(ls -A '$node/www2' 2>/dev/null)\""

echo "# apt against the mirror URL directly"
cp "$work/key/pigsty.pub" "$node/etc/apt/keyrings/pigsty-mirror.asc"
printf 'Types: deb\nURIs: %s\nSuites: ./\nSigned-By: /etc/apt/keyrings/pigsty-mirror.asc\n' "$url" >"$node/etc/apt/mirror.sources"
mkdir -p "$node/tmp/mirror-lists/partial"
apt_mirror=(-o Dir::Etc::SourceList=/etc/apt/mirror.sources -o Dir::Etc::SourceParts=/nonexistent
  -o Dir::State::Lists=/tmp/mirror-lists -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
in_chroot apt-get "${apt_mirror[@]}" -o APT::Update::Error-Mode=any update >"$work/mirror-update.log" 2>&1
check "apt-get update from the mirror URL (signed-by the bundle key)" test $? -eq 0 || tail -20 "$work/mirror-update.log"
check "apt read the mirror's signed InRelease" grep -q "$url ./ InRelease" "$work/mirror-update.log"
check "no unauthenticated warning" bash -c "! grep -qi 'not signed\|unauthenticated\|NO_PUBKEY\|insecure' '$work/mirror-update.log'"
in_chroot sh -c "cd /tmp && apt-get $(printf '%q ' "${apt_mirror[@]}") download postgresql-15-hypopg" >"$work/download.log" 2>&1
deb=$(ls "$node"/tmp/postgresql-15-hypopg_*.deb 2>/dev/null | head -1)
check "apt-get download fetches a .deb from the mirror" test -s "$deb" || tail -5 "$work/download.log"
check "the downloaded .deb is the admin's" cmp -s "$deb" "$repo/$(basename "$deb")"

echo "# 50 clients at once, every byte checked"
before=$(hwm "$server")
in_node "$fetch" "$url" 50 >"$work/load.json" 2>"$work/load.err"
rc=$?
after=$(hwm "$server")
check "50 clients fetched the whole repo, nothing failed (exit $rc)" test $rc -eq 0 || head -20 "$work/load.err"
check "every byte arrived" python3 -c "
import json; r = json.load(open('$work/load.json'))
assert r['failures'] == 0 and r['bytes'] == r['expected_bytes'] > 0 and r['clients'] == 50, r"
echo "  ($(cat "$work/load.json"); server VmHWM ${before} kB before, ${after} kB after)"
check "the server's peak RSS stays under 64 MB (${after} kB)" test "$after" -lt 65536

big=$(python3 -c "
import json; m = json.load(open('$repo/MANIFEST.json'))
print(max(m['files'], key=lambda f: f['size'])['path'])")

echo "# 300 clients that ask for the largest file and never read it"
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
before=$(rss "$server")
# Each with a 4 KiB receive buffer, so that the server is stalled a few KiB in.
in_node python3 - "$big" >"$work/stalled.log" 2>&1 <<'EOF' &
import socket, sys, time
socks = []
for _ in range(300):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("10.77.0.1", 8080))
    s.sendall(f"GET /pigsty/{sys.argv[1]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    socks.append(s)
print("connected", len(socks), flush=True)
time.sleep(6)
EOF
stalled=$!
for _ in $(seq 100); do grep -q connected "$work/stalled.log" && break; sleep 0.1; done
sleep 3
during=$(rss "$server")
check "300 stalled readers add under 16 MB to the server's RSS (${before} kB -> ${during} kB)" \
  test $((during - before)) -lt 16384
check "a new client is served meanwhile" in_node curl -sf -o /dev/null --max-time 10 "$url/MANIFEST.json"
wait "$stalled"

echo "# SIGTERM: no new connections, the download under way finishes, exit 0"
ip netns exec "$ns_node" curl -s --limit-rate 2M -o "$work/slow" "$url/$big" &
slow=$!
for _ in $(seq 100); do [ -s "$work/slow" ] && break; sleep 0.1; done
kill -TERM "$server"
refused=1
for _ in $(seq 100); do
  in_node curl -s -o /dev/null --max-time 2 "$url/MANIFEST.json"
  [ $? -eq 7 ] && { refused=0; break; }
  sleep 0.1
done
check "new connections are refused after SIGTERM" test $refused -eq 0
wait "$slow"
check "the download under way finished" test $? -eq 0
check "and is whole (sha256 as in the manifest)" python3 -c "
import json, hashlib; m = json.load(open('$repo/MANIFEST.json'))
f = [f for f in m['files'] if f['path'] == '$big'][0]
assert hashlib.sha256(open('$work/slow', 'rb').read()).hexdigest() == f['sha256']"
wait "$server"
rc=$?
servers=("${servers[@]:1}")
check "the server exits 0 (exit $rc)" test $rc -eq 0
check "the access log shows the requests" grep -q "\"GET /pigsty/MANIFEST.json HTTP/1.1\" 200" "$work/serve.log"

umount_chroot "$node"
summary
