#!/usr/bin/env bash
# End-to-end test of the APT pipeline against the real Debian archive the host's apt uses:
# build a signed d12 / PostgreSQL 15 bundle, then, in a debootstrap --variant=minbase bookworm
# chroot with no network (unshare -n), point apt at the bundle's repo with signed-by, install
# PostgreSQL and ten extensions, start PostgreSQL and CREATE EXTENSION each. Then tamper with a
# .deb and check that apt and `pigsty-build verify` refuse it, and that gpgv accepts InRelease.
# Also builds a d13 / PostgreSQL 17 repo and checks that apt-get update accepts it in a trixie
# chroot.
#
# Usage: tests/e2e-apt.sh [PIGSTY_BUILD_BINARY]   (root; caches under ~/.cache/pigsty-build-test)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

bin=${1:-$here/../target/debug/pigsty-build}
mirror=$(host_debian_mirror) || exit 1
work=$(mktemp -d /tmp/pigsty-e2e-apt.XXXXXX)
chroots=()
cleanup() {
  for c in "${chroots[@]}"; do umount_chroot "$c"; done
  rm -rf "$work"
}
trap cleanup EXIT

EXTS=postgis,pg_cron,pg_repack,pg_partman,hypopg,pgaudit,wal2json,orafce,ip4r,pgrouting
# Extension names as CREATE EXTENSION knows them.
SQL_EXTS="postgis pg_cron pg_repack pg_partman hypopg pgaudit orafce ip4r pgrouting"
PACKAGES=pgsql-mini,postgresql-plpython3-15,patroni,pgbouncer,pgbackrest,haproxy,etcd-server

echo "# key"
"$bin" key gen --out "$work/key" >"$work/keygen.out" 2>&1
check "key gen writes pigsty.key and pigsty.pub" test -s "$work/key/pigsty.key" -a -s "$work/key/pigsty.pub"

echo "# build d12 / pg15 from the real archive"
SOURCE_DATE_EPOCH=1700000000 "$bin" --os d12 --arch x86_64 --pg 15 --modules node \
  --mirror "debian=$mirror" --ext "$EXTS" --packages "$PACKAGES" \
  --sign-key "$work/key/pigsty.key" --out "$work/out" --cache "$cache_dir/pkgs" --json \
  >"$work/build.json" 2>"$work/build.err"
rc=$?
check "build d12 exits 0" test $rc -eq 0 || { tail -30 "$work/build.err"; }
bundle=$(ls "$work"/out/pigsty-pkg-*.d12.x86_64.tgz 2>/dev/null | head -1)
check "bundle file written" test -s "$bundle"
check "bundle .sha256 beside it" bash -c "cd '$work/out' && sha256sum -c --quiet '$(basename "$bundle").sha256'"
check "plain tar reads the bundle" bash -c "mkdir -p '$work/x' && tar -C '$work/x' -xzf '$bundle' && test -f '$work/x/pigsty/MANIFEST.json'"
repo=$work/x/pigsty
check "local repo has Packages, Release, InRelease, Release.gpg, pigsty.pub, repo_complete, sbom" \
  bash -c "cd '$repo' && test -s Packages -a -s Packages.gz -a -s Release -a -s InRelease -a -s Release.gpg -a -s pigsty.pub -a -s repo_complete -a -s sbom.spdx.json"
check "sbom.spdx.json lists every package of the manifest" python3 -c "
import json,sys
m=json.load(open('$repo/MANIFEST.json')); s=json.load(open('$repo/sbom.spdx.json'))
assert s['spdxVersion']=='SPDX-2.3' and len(s['packages'])==len(m['packages'])>0
p=[x for x in s['packages'] if x['name']=='postgresql-15-postgis-3'][0]
assert p['licenseDeclared']=='GPL-2.0' and p['checksums'][0]['algorithm']=='SHA256'
"
check "the SPDX validator (${PYSPDXTOOLS:-pyspdxtools}) accepts sbom.spdx.json" "${PYSPDXTOOLS:-pyspdxtools}" -i "$repo/sbom.spdx.json"
check "the secret key is not in the bundle" bash -c "! tar -tzf '$bundle' | grep -q 'pigsty.key'"
gpg --dearmor <"$work/key/pigsty.pub" >"$work/pub.gpg" 2>/dev/null
check "gpgv accepts InRelease with the bundle key" gpgv --keyring "$work/pub.gpg" "$repo/InRelease"
check "gpgv accepts Release.gpg with the bundle key" gpgv --keyring "$work/pub.gpg" "$repo/Release.gpg" "$repo/Release"
check "gpgv accepts MANIFEST.json.asc" gpgv --keyring "$work/pub.gpg" "$repo/MANIFEST.json.asc" "$repo/MANIFEST.json"
check "pigsty-build verify accepts the bundle" "$bin" verify "$bundle" --key "$work/key/pigsty.pub"

echo "# reproducible: same inputs and SOURCE_DATE_EPOCH, byte-identical bundle"
SOURCE_DATE_EPOCH=1700000000 "$bin" --os d12 --arch x86_64 --pg 15 --modules node \
  --mirror "debian=$mirror" --ext "$EXTS" --packages "$PACKAGES" \
  --sign-key "$work/key/pigsty.key" --out "$work/out2" --cache "$cache_dir/pkgs" >/dev/null 2>"$work/build2.err"
bundle2=$(ls "$work"/out2/pigsty-pkg-*.d12.x86_64.tgz 2>/dev/null | head -1)
check "second build is byte-identical" cmp -s "$bundle" "$bundle2"

echo "# errors: a missing package names its chain and fails; --allow-missing reports it"
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages pgsql-mini,no-such-package-xyz --sign-key "$work/key/pigsty.key" --out "$work/outm" \
  --cache "$cache_dir/pkgs" >/dev/null 2>"$work/missing.err"
rc=$?
check "a missing package fails the build and is named" bash -c "test $rc -ne 0 && grep -q 'no-such-package-xyz' '$work/missing.err'"
check "nothing is written for a failed build" bash -c "! ls '$work'/outm/*.tgz >/dev/null 2>&1 && ! ls -d '$work'/outm/.staging-* >/dev/null 2>&1"
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages pgsql-mini,no-such-package-xyz --allow-missing --sign-key "$work/key/pigsty.key" \
  --out "$work/outm" --cache "$cache_dir/pkgs" --json >"$work/allow.json" 2>"$work/allow.err"
check "--allow-missing builds and reports the missing package" bash -c "grep -q 'no-such-package-xyz' '$work/allow.json'"

echo "# availability from the repos, not the catalog's matrix"
# pgagent: the matrix predicts it missing on Debian, Debian's archive ships it.
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages none --ext pgagent --sign-key "$work/key/pigsty.key" --out "$work/outa" \
  --cache "$cache_dir/pkgs" --json >"$work/avail.json" 2>"$work/avail.err"
rc=$?
check "--ext pgagent builds on d12/pg15 (exit $rc)" test $rc -eq 0 || tail -5 "$work/avail.err"
check "pgagent is in the bundle" python3 -c "
import json; r=json.load(open('$work/avail.json'))
m=json.load(open(r['repo']+'/MANIFEST.json'))
assert any(p['name']=='pgagent' for p in m['packages']), 'no pgagent'
assert not any(u['extension']=='pgagent' for u in r['unavailable']), r['unavailable']
"
check "the report says the catalog's prediction was wrong" grep -q "pgagent: the catalog predicts it unavailable" "$work/avail.json"
# timescaledb: no package for PG 15 at all; asked for by name, the build fails saying why.
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages none --ext timescaledb --sign-key "$work/key/pigsty.key" --out "$work/outt" \
  --cache "$cache_dir/pkgs" >/dev/null 2>"$work/tsdb.err"
rc=$?
check "--ext timescaledb on pg15 fails naming it and why (exit $rc)" bash -c \
  "test $rc -ne 0 && grep -q 'timescaledb: no package for PG 15' '$work/tsdb.err' && grep -q -- '--allow-missing' '$work/tsdb.err'"
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages none --ext pgagent,timescaledb --allow-missing --sign-key "$work/key/pigsty.key" \
  --out "$work/outt" --cache "$cache_dir/pkgs" --json >"$work/tsdb.json" 2>"$work/tsdb2.err"
check "with --allow-missing it builds and reports it unavailable" python3 -c "
import json; r=json.load(open('$work/tsdb.json'))
assert any(u['extension']=='timescaledb' for u in r['unavailable']), r['unavailable']
"

echo "# air-gapped bookworm chroot"
root=$work/d12
make_chroot bookworm "$root" || fail "debootstrap bookworm"
chroots+=("$root")
"$bin" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages "$PACKAGES" --ext "$EXTS" --exclude-installed "$root/var/lib/dpkg/status" \
  --sign-key "$work/key/pigsty.key" --out "$work/outx" --cache "$cache_dir/pkgs" --json >"$work/excl.json" 2>"$work/excl.err"
full=$(python3 -c "import json; print(json.load(open('$work/build.json'))['packages'])")
excl=$(python3 -c "import json; print(json.load(open('$work/excl.json'))['packages'])" 2>/dev/null || echo 0)
check "--exclude-installed leaves out what the minbase image has ($excl of $full)" bash -c "test '$excl' -gt 0 && test '$excl' -lt '$full' && ! tar -tzf '$work'/outx/*.tgz | grep -q '/libc6_'"
mkdir -p "$root/www" "$root/etc/apt/keyrings"
tar -C "$root/www" -xzf "$bundle"
cp "$work/key/pigsty.pub" "$root/etc/apt/keyrings/pigsty.asc"
cat >"$root/etc/apt/sources.list.d/pigsty-local.sources" <<EOF
Types: deb
URIs: file:/www/pigsty
Suites: ./
Signed-By: /etc/apt/keyrings/pigsty.asc
EOF
check "the chroot's source uses signed-by, never trusted=yes" bash -c "! grep -rq 'trusted' '$root/etc/apt/sources.list.d/'"
mount_chroot "$root"
in_chroot() { unshare -n chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 "$@"; }
check "apt-get update reads the signed local repo (no network)" bash -c "$(declare -f in_chroot); root='$root'; in_chroot apt-get update -o APT::Update::Error-Mode=any >'$work/update.log' 2>&1"
check "no unauthenticated warning" bash -c "! grep -qi 'not signed\|unauthenticated\|NO_PUBKEY' '$work/update.log'"
pkgs=$(python3 -c "import json,sys; m=json.load(open('$repo/MANIFEST.json')); print(' '.join(sorted({p['name'] for p in m['packages'] if any(not w.startswith('dependency') for w in p['wanted_by'])})))")
check "every planned package installs" bash -c "$(declare -f in_chroot); root='$root'; in_chroot apt-get install -y --no-install-recommends $pkgs >'$work/install.log' 2>&1" || tail -20 "$work/install.log"
check "patroni, pgbouncer, pgbackrest, haproxy, etcd are installed" bash -c "$(declare -f in_chroot); root='$root'; in_chroot dpkg -s patroni pgbouncer pgbackrest haproxy etcd-server >/dev/null"
cat >>"$root/etc/postgresql/15/main/postgresql.conf" <<EOF
shared_preload_libraries = 'pg_cron,pgaudit'
cron.database_name = 'postgres'
wal_level = logical
output_plugin_libraries = 'wal2json'
EOF
check "PostgreSQL 15 starts" bash -c "$(declare -f in_chroot); root='$root'; in_chroot pg_ctlcluster 15 main start"
for e in $SQL_EXTS; do
  check "CREATE EXTENSION $e" bash -c "$(declare -f in_chroot); root='$root'; in_chroot su postgres -s /bin/sh -c \"psql -qAt -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION IF NOT EXISTS $e CASCADE'\" >/dev/null"
done
check "wal2json decodes" bash -c "$(declare -f in_chroot); root='$root'; in_chroot su postgres -s /bin/sh -c \"psql -qAt -c \\\"SELECT 'init' FROM pg_create_logical_replication_slot('t', 'wal2json')\\\"\" | grep -q init"
in_chroot pg_ctlcluster 15 main stop >/dev/null 2>&1

echo "# tampering"
victim=$(cd "$root/www/pigsty" && ls *.deb | grep '^hypopg\|postgresql-15-hypopg' | head -1)
[ -n "$victim" ] || victim=$(cd "$root/www/pigsty" && ls *.deb | head -1)
printf '\xff' | dd of="$root/www/pigsty/$victim" bs=1 seek=2000 count=1 conv=notrunc status=none
pkg=${victim%%_*}
check "apt refuses a .deb altered after signing" bash -c "$(declare -f in_chroot); root='$root'; ! in_chroot apt-get install -y --reinstall $pkg >'$work/tamper.log' 2>&1 && grep -qi 'hash sum mismatch\|size mismatch' '$work/tamper.log'"
mkdir -p "$work/tampered"
tar -C "$work/tampered" -xzf "$bundle"
printf '\xff' | dd of="$work/tampered/pigsty/$victim" bs=1 seek=2000 count=1 conv=notrunc status=none
# repacked as the builder packs: the manifest and its signature first
(cd "$work/tampered" && tar -czf ../tampered.tgz pigsty/MANIFEST.json pigsty/MANIFEST.json.asc \
  $(ls pigsty | grep -v '^MANIFEST' | sed 's,^,pigsty/,'))
"$bin" verify "$work/tampered.tgz" --key "$work/key/pigsty.pub" >"$work/verify.log" 2>&1
rc=$?
check "pigsty-build verify refuses the altered bundle and names the file" bash -c "test $rc -ne 0 && grep -q '$victim' '$work/verify.log'"
umount_chroot "$root"

echo "# d13 / pg17: a signed repo apt-get update accepts in a trixie chroot"
"$bin" --os d13 --arch x86_64 --pg 17 --modules node --mirror "debian=$mirror" \
  --packages pgsql-mini --ext pg_cron --sign-key "$work/key/pigsty.key" --out "$work/out13" \
  --cache "$cache_dir/pkgs" >/dev/null 2>"$work/build13.err"
check "build d13 exits 0" test $? -eq 0 || tail -20 "$work/build13.err"
bundle13=$(ls "$work"/out13/pigsty-pkg-*.d13.x86_64.tgz 2>/dev/null | head -1)
root13=$work/d13
make_chroot trixie "$root13" || fail "debootstrap trixie"
chroots+=("$root13")
mkdir -p "$root13/www" "$root13/etc/apt/keyrings"
tar -C "$root13/www" -xzf "$bundle13"
cp "$work/key/pigsty.pub" "$root13/etc/apt/keyrings/pigsty.asc"
printf 'Types: deb\nURIs: file:/www/pigsty\nSuites: ./\nSigned-By: /etc/apt/keyrings/pigsty.asc\n' >"$root13/etc/apt/sources.list.d/pigsty-local.sources"
mount_chroot "$root13"
check "trixie apt-get update accepts the d13 repo" bash -c "unshare -n chroot '$root13' apt-get update -o APT::Update::Error-Mode=any >'$work/update13.log' 2>&1"
check "trixie apt sees postgresql-17" bash -c "unshare -n chroot '$root13' apt-cache policy postgresql-17 | grep -q 'file:/www/pigsty'"
umount_chroot "$root13"

summary
