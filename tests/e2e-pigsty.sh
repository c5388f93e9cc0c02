#!/usr/bin/env bash
# End-to-end test of the hand-off to Pigsty itself (issue 13): a d12 / PostgreSQL 15 bundle built
# from the real archive the host's apt uses, with the default package sets (--allow-missing for
# the names only Pigsty's or PGDG's repos carry) and four extensions Debian ships, installed with
# `pigsty-install --pigsty` into a fresh debootstrap --variant=minbase bookworm chroot whose only
# network is `lo` with 10.10.10.10 in its own network namespace. The installer unpacks Pigsty's
# own source (../shared/reference/pigsty-src.tgz, never copied into the project: the build puts
# it into the bundle with `pigsty-build --include`, listed and signed like every file) and runs,
# unchanged and air-gapped, its `./configure -i 10.10.10.10 -n` and the playbooks `node.yml -t
# node_repo,node_pkg` and `pgsql.yml -t pg_install`, with the offline vars file it writes from
# the bundle; `pigsty-install serve` stands in for Pigsty's nginx at http://10.10.10.10/pigsty.
# Then: the node's own apt (not the installer's private one) updates with no `Conflicting
# values`, no NO_PUBKEY, no E:/W:/Err:; PostgreSQL 15 starts in Pigsty's /pg/data and the four
# extensions are created; a second install of the same bundle exits 0, runs the hand-off again
# and leaves apt clean. A variant: Pigsty's bootstrap-style `deb [trusted=yes] file:/www/pigsty/
# ./` list is on the node before our install, which must end with one source for the repo and a
# working apt (also when `bootstrap` writes its line again afterwards); another file naming only
# the repo is moved aside, and a file that mixes it with other sources, which apt then refuses,
# makes the install fail, naming apt's error.
#
# Usage: tests/e2e-pigsty.sh [PIGSTY_BUILD] [PIGSTY_INSTALL]   (root; PIGSTY_E2E_LOGS=DIR keeps logs)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

build=${1:-$here/../target/debug/pigsty-build}
inst=${2:-$here/../target/debug/pigsty-install}
reference=${PIGSTY_REFERENCE:-$here/../../shared/reference}
pigsty_src=$reference/pigsty-src.tgz
[ -s "$pigsty_src" ] || { echo "no Pigsty source at $pigsty_src (set PIGSTY_REFERENCE)" >&2; exit 1; }
mirror=$(host_debian_mirror) || exit 1
work=$(mktemp -d /tmp/pigsty-e2e-pigsty.XXXXXX)
ns=pigsty-e2e-pigsty-$$
ip=10.10.10.10
# The hand-off, as a user types it: Pigsty's source (`--pigsty` alone: the one the bundle
# carries), its playbooks (what follows `ansible-playbook`, verbatim; `-c local`: the node has no
# sshd), the address for configure.
handoff=(--pigsty --playbook 'node.yml -c local -t node_repo,node_pkg'
         --playbook 'pgsql.yml -c local -t pg_install' --ip "$ip")
# Where the installer unpacks Pigsty on the node, and the offline vars file it writes there.
pigsty_dir=/root/pigsty
offline_vars=$pigsty_dir/pigsty-offline.yml
chroots=()
serve_pid=
cleanup() {
  local t0=$SECONDS
  [ -n "$serve_pid" ] && { kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; }
  for c in "${chroots[@]}"; do
    in_node "$c" /usr/pgsql/bin/pg_ctl -D /pg/data -m immediate stop >/dev/null 2>&1
    umount_chroot "$c"
  done
  ip netns del "$ns" 2>/dev/null
  # PIGSTY_E2E_LOGS=DIR keeps the logs (build, install, playbooks, apt, serve) for a look
  [ -n "${PIGSTY_E2E_LOGS:-}" ] && mkdir -p "$PIGSTY_E2E_LOGS" && cp "$work"/*.log "$PIGSTY_E2E_LOGS"/
  rm -rf "$work"
  echo "(cleanup: $((SECONDS - t0)) s)"
}
trap cleanup EXIT

# How long each phase takes (printed at the end; never asserted).
times=()
phase_name=
phase_start=$(date +%s)
phase() {
  local now
  now=$(date +%s)
  [ -n "$phase_name" ] && times+=("$(printf '%4d s  %s' $((now - phase_start)) "$phase_name")")
  phase_name=$1
  phase_start=$now
  [ -n "$1" ] && echo "# $1"
}

# A command in the chroot ROOT, from the node's namespace, with a clean environment.
in_node() {
  local root=$1
  shift
  ip netns exec "$ns" chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}
# The node's own apt configuration updates cleanly: exit 0, no conflicting sources, every
# signature checked with a known key, no error, warning or failed fetch, and the bundle's repo
# was read (so a node with no sources at all does not pass).
apt_clean() {
  local root=$1 log=$2
  in_node "$root" apt-get update >"$log" 2>&1 || return 1
  ! grep -Eq 'Conflicting values|NO_PUBKEY|^(E|W|Err):' "$log" \
    && grep -Eq "^(Get|Hit):[0-9]+ (file:/www/pigsty|http://$ip/pigsty) \./ InRelease" "$log"
}
quiet() { "$@" >/dev/null 2>&1; }
# check_or_show LOG WHAT CMD...: check, and on failure show the end of LOG.
check_or_show() {
  local log=$1 what=$2
  shift 2
  if "$@"; then pass "$what"; else fail "$what"; [ -s "$log" ] && tail -40 "$log" | cut -c1-400; fi
  return 0
}
psql_node() {
  in_node "$node" runuser -u postgres -- /usr/pgsql/bin/psql -X -h /var/run/postgresql \
    -v ON_ERROR_STOP=1 -qAt "$@"
}
# Every PLAY RECAP line of LOG has failed=0 and unreachable=0, and there are N of them.
recaps_ok() {
  local log=$1 n=$2
  [ "$(grep -c '^PLAY RECAP' "$log")" -eq "$n" ] \
    && ! grep -A2 '^PLAY RECAP' "$log" | grep -E 'unreachable=|failed=' | grep -Evq 'unreachable=0 +failed=0'
}

phase "build: d12 / PG 15, default package sets, four extensions"
"$build" key gen --out "$work/key" >/dev/null 2>&1
"$build" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" --allow-missing \
  --ext postgis,pg_cron,pg_repack,hypopg --include "$pigsty_src" --sign-key "$work/key/pigsty.key" \
  --out "$work/out" --cache "$cache_dir/pkgs" >"$work/build.log" 2>&1
rc=$?
check_or_show "$work/build.log" \
  "the bundle builds with the default package sets (nothing named for the bootstrap)" test $rc -eq 0
bundle=$(ls "$work"/out/pigsty-pkg-*.d12.x86_64.tgz 2>/dev/null | head -1)
for p in ansible python3-jmespath python3-apt; do
  check "the bundle holds $p with its closure" grep -qx "Package: $p" "$work/out/pigsty/Packages"
done
check "the manifest's bootstrap set is Pigsty's (ansible python3-jmespath)" python3 -c '
import json, sys
boot = set(json.load(open(sys.argv[1]))["bootstrap"])
sys.exit(0 if {"ansible", "python3-jmespath"} <= boot else 1)' "$work/out/pigsty/MANIFEST.json"
check "the bundle carries Pigsty's source, listed in its signed manifest" python3 -c '
import hashlib, json, sys
m = json.load(open(sys.argv[1]))
f = [e for e in m["files"] if e["path"] == "include/pigsty-src.tgz"]
sys.exit(0 if f and f[0]["sha256"] == hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest() else 1)' \
  "$work/out/pigsty/MANIFEST.json" "$pigsty_src"

phase "node: a fresh bookworm minbase chroot, 10.10.10.10 on lo, no other network"
node=$work/node
make_chroot bookworm "$node" || fail "debootstrap bookworm"
chroots+=("$node")
mount_chroot "$node"
# speed only: dpkg in the node without an fsync per unpacked file (as debootstrap does); ansible
# alone is nearly 20,000 files. What dpkg installs is the same.
echo force-unsafe-io >"$node/etc/dpkg/dpkg.cfg.d/e2e-unsafe-io"
ip netns add "$ns" && ip -n "$ns" addr add "$ip/8" dev lo && ip -n "$ns" link set lo up
check "the node's namespace has 10.10.10.10 on lo and no route out" \
  bash -c "ip -n '$ns' -br addr | grep -q '$ip/8' && ! ip -n '$ns' route | grep -q default"
# `pigsty-install serve` stands in for the nginx of Pigsty's infra node at http://IP/pigsty (what
# Pigsty's node_repo points the node at with node_repo_modules: local). It serves DEST/pigsty,
# which the install puts in place before the bootstrap and the hand-off: it starts as soon as
# that exists, and serves whatever repo is in place for each request (also after a rerun).
(
  for _ in $(seq 6000); do [ -e "$node/www/pigsty/repo_complete" ] && break; sleep 0.1; done
  exec ip netns exec "$ns" "$inst" serve --listen "$ip:80" --dest "$node/www"
) >"$work/serve.log" 2>&1 &
serve_pid=$!

phase "install with the Pigsty hand-off: configure, node.yml, pgsql.yml (air-gapped)"
ip netns exec "$ns" "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node" -y \
  "${handoff[@]}" >"$work/install.log" 2>&1 </dev/null
rc=$?
check_or_show "$work/install.log" "pigsty-install with the hand-off exits 0 (exit $rc)" test $rc -eq 0
check_or_show "$work/serve.log" "serve answered Pigsty's apt at http://$ip/pigsty" \
  grep -Eq '"GET /pigsty/(\./)?InRelease' "$work/serve.log"
check "the installer's bootstrap left the full ansible (Pigsty's collections) on the node" \
  quiet in_node "$node" dpkg -s ansible python3-jmespath python3-apt
check "Pigsty's configure wrote pigsty.yml for $ip and PG 15" bash -c \
  "grep -sq 'admin_ip: $ip' '$node$pigsty_dir/pigsty.yml' && grep -sEq '^ +pg_version: 15 ' '$node$pigsty_dir/pigsty.yml'"
check "the offline vars file points node_repo at the local repo only" \
  grep -sqx 'node_repo_modules: local' "$node$offline_vars"
# Only what Debian lacks is taken out of Pigsty's lists, each removal listed: etcd and
# node-exporter (node_default_packages: Pigsty's infra repo), pg-exporter (pg_packages:
# pgsql-common, Pigsty's repo), postgresql-15-pgvector (pg_packages: pgsql-main; and the
# pgvector of meta.yml's pg_extensions: PGDG only on bookworm).
for p in etcd node-exporter pg-exporter postgresql-15-pgvector; do
  check "the offline vars file lists the removal of $p" grep -sEq "^#.*\\b$p\\b" "$node$offline_vars"
done
check_or_show "$work/install.log" "node.yml and pgsql.yml ran to the end with nothing failed" \
  recaps_ok "$work/install.log" 2
check "Pigsty's node_repo wrote its local source for http://$ip/pigsty" \
  grep -sq "http://$ip/pigsty ./" "$node/etc/apt/sources.list.d/local.list"
check "no apt source of the node points outside the node" bash -c "! cat '$node'/etc/apt/sources.list \
  '$node'/etc/apt/sources.list.d/*.list '$node'/etc/apt/sources.list.d/*.sources 2>/dev/null \
  | grep -E '^[[:space:]]*(deb|URIs:)' | grep -Ev 'http://$ip/|file:/www/pigsty'"
check "node_pkg installed Pigsty's node packages from the bundle" \
  quiet in_node "$node" dpkg -s chrony haproxy keepalived sysstat tuned vim-tiny
check "pg_install installed PostgreSQL 15 and the four extensions" quiet in_node "$node" dpkg -s \
  postgresql-15 postgresql-15-postgis-3 postgresql-15-cron postgresql-15-repack postgresql-15-hypopg
pg_layout() { [ "$(readlink "$node/usr/pgsql")" = /usr/lib/postgresql/15 ] && chroot "$node" test -d /pg/data; }
check "pg_install linked /usr/pgsql to PostgreSQL 15 and made /pg/data" pg_layout

phase "the node's apt after the hand-off"
check_or_show "$work/apt1.log" \
  "apt-get update on the node is clean (no Conflicting values, NO_PUBKEY, E:, W:, Err:)" \
  apt_clean "$node" "$work/apt1.log"
# the candidate of a package the node does not have yet comes from the bundle's repo
apt_candidate() { in_node "$node" apt-cache policy pgbadger 2>&1 | grep -Eq "http://$ip/pigsty|file:/www/pigsty"; }
check "the node's apt sees the bundle's packages" apt_candidate

phase "PostgreSQL 15 in Pigsty's /pg/data, four extensions"
# pg_install installs; launching is pg_bootstrap's (Patroni + etcd, not in this bundle), so the
# test starts PostgreSQL itself with the binaries and the directory Pigsty laid out.
in_node "$node" runuser -u postgres -- /usr/pgsql/bin/initdb -D /pg/data -A trust -E UTF8 \
  >"$work/initdb.log" 2>&1 \
  && in_node "$node" runuser -u postgres -- /usr/pgsql/bin/pg_ctl -D /pg/data -w -l /pg/log/e2e.log \
    -o "-c shared_preload_libraries=pg_cron -c listen_addresses=127.0.0.1 -c unix_socket_directories=/var/run/postgresql" \
    start >>"$work/initdb.log" 2>&1
pg_is_15() { psql_node -c 'SHOW server_version' | grep -q '^15\.'; }
check_or_show "$work/initdb.log" "PostgreSQL 15 starts" pg_is_15
psql_node -c 'CREATE EXTENSION postgis' -c 'CREATE EXTENSION pg_cron' -c 'CREATE EXTENSION pg_repack' \
  -c 'CREATE EXTENSION hypopg' >"$work/ext.log" 2>&1
extensions() { psql_node -c "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"; }
check_or_show "$work/ext.log" "postgis, pg_cron, pg_repack and hypopg are created" \
  test "$(extensions)" = hypopg,pg_cron,pg_repack,plpgsql,postgis
postgis_answers() { psql_node -c 'SELECT ST_AsText(ST_MakePoint(1, 2))' | grep -qx 'POINT(1 2)'; }
check "postgis answers" postgis_answers
in_node "$node" runuser -u postgres -- /usr/pgsql/bin/pg_ctl -D /pg/data -m fast -w stop >/dev/null 2>&1

phase "a second install of the same bundle"
ip netns exec "$ns" "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node" -y \
  "${handoff[@]}" >"$work/again.log" 2>&1 </dev/null
rc=$?
check_or_show "$work/again.log" "the second pigsty-install exits 0 (exit $rc)" test $rc -eq 0
check_or_show "$work/again.log" "it ran the hand-off again (both playbooks, nothing failed)" \
  recaps_ok "$work/again.log" 2
check_or_show "$work/apt2.log" "apt-get update on the node is still clean" apt_clean "$node" "$work/apt2.log"

phase "variant: Pigsty's bootstrap list on the node before our install"
node2=$work/node2
make_chroot bookworm "$node2" || fail "debootstrap bookworm (variant)"
chroots+=("$node2")
mount_chroot "$node2"
# exactly what Pigsty's `bootstrap` (add_local_repo) and infra.yml's repo_prepare write
boot_line="deb [trusted=yes] file:/www/pigsty/ ./"
echo "$boot_line" >"$node2/etc/apt/sources.list.d/pigsty-local.list"
# no bootstrap set and no hand-off: the conflict is between source files, and the bootstrap and
# the playbooks are proven above (this keeps the variant short)
ip netns exec "$ns" "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node2" -y \
  --no-bootstrap --no-handoff >"$work/variant.log" 2>&1
rc=$?
check_or_show "$work/variant.log" "pigsty-install over a bootstrap-style list exits 0 (exit $rc)" \
  test $rc -eq 0
count_sources() {
  grep -rlE '^[[:space:]]*deb .*file:/?/www/pigsty/? |^URIs:[[:space:]]*file:/?/www/pigsty/?$' \
    "$1/etc/apt/sources.list" "$1/etc/apt/sources.list.d" 2>/dev/null | wc -l
}
check "one source file names the repo, not two" test "$(count_sources "$node2")" -eq 1
check_or_show "$work/apt3.log" "apt-get update on the node is clean" apt_clean "$node2" "$work/apt3.log"
install_jq() { in_node "$node2" apt-get install -y -q jq >"$work/jq.log" 2>&1 && quiet chroot "$node2" jq --version; }
check_or_show "$work/jq.log" "the node's own apt installs a package of the bundle" install_jq
# `bootstrap` run again afterwards writes its trusted=yes line over ours: the key must still be
# known to apt for that line (no NO_PUBKEY), and there must still be one source
echo "$boot_line" >"$node2/etc/apt/sources.list.d/pigsty-local.list"
check_or_show "$work/apt4.log" "after bootstrap rewrites its line, apt-get update is still clean" \
  apt_clean "$node2" "$work/apt4.log"
# node.yml's node_repo moves our list aside (to /etc/apt/backup) and may write its own for the
# repo under another name (a repo_upstream pointing at file:/www/pigsty/): the next install puts
# ours back and moves the other aside, leaving one source
mv "$node2/etc/apt/sources.list.d/pigsty-local.list" "$work/moved-aside.list"
echo "$boot_line" >"$node2/etc/apt/sources.list.d/local.list"
ip netns exec "$ns" "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node2" -y \
  --no-bootstrap --no-handoff >"$work/variant2.log" 2>&1
rc=$?
check_or_show "$work/variant2.log" "over another file naming only the repo: exit 0, that file moved aside" \
  bash -c "test $rc -eq 0 && test ! -e '$node2/etc/apt/sources.list.d/local.list' && test -e '$node2/etc/apt/pigsty-replaced/sources.list.d/local.list'"
check "... one source file names the repo" test "$(count_sources "$node2")" -eq 1
check_or_show "$work/apt5.log" "... and apt-get update is clean" apt_clean "$node2" "$work/apt5.log"
# a file that names the repo among other sources is not ours to move: apt refuses the node's
# sources, and the install must say so rather than succeed
rm "$node2/etc/apt/sources.list.d/pigsty-local.list"
printf 'deb http://unreachable.invalid/debian bookworm main\n%s\n' "$boot_line" >"$node2/etc/apt/sources.list"
ip netns exec "$ns" "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node2" -y \
  --no-bootstrap --no-handoff >"$work/variant3.log" 2>&1
rc=$?
check_or_show "$work/variant3.log" "a mixed file naming the repo with other options fails the install, naming apt's error and the files (exit $rc)" \
  bash -c "test $rc -ne 0 && grep -q 'Conflicting values' '$work/variant3.log' \
    && grep -q '/etc/apt/sources.list and /etc/apt/sources.list.d/pigsty-local.list name one repo' '$work/variant3.log'"

phase ""
echo "# run times"
printf '%s\n' "${times[@]}"
summary
