#!/usr/bin/env bash
# End-to-end test of pigsty-install: a d12 / PostgreSQL 15 bundle (built from the real archive
# the host's apt uses) installed with --root into a debootstrap --variant=minbase bookworm
# chroot under `unshare -n` (no network): the signed local source is written, apt reads only
# the local repo, the bootstrap set (ansible-core) installs, the Ansible hand-off installs and
# starts PostgreSQL and creates extensions; a second run is a no-op for the repo (the bundle
# read whole, every installed file checked) that still runs a hand-off asked for. Then the
# drift test: a chroot with a package of the bundle's closure held at another version is
# refused with the blocking package named, and nothing changes.
#
# Usage: tests/e2e-install.sh [PIGSTY_BUILD] [PIGSTY_INSTALL]   (root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

build=${1:-$here/../target/debug/pigsty-build}
inst=${2:-$here/../target/debug/pigsty-install}
mirror=$(host_debian_mirror) || exit 1
work=$(mktemp -d /tmp/pigsty-e2e-install.XXXXXX)
chroots=()
cleanup() {
  for c in "${chroots[@]}"; do umount_chroot "$c"; done
  rm -rf "$work"
}
trap cleanup EXIT

"$build" key gen --out "$work/key" >/dev/null 2>&1
"$build" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" \
  --packages pgsql-mini,ansible-core,python3-apt,python3-jmespath,python3-requests \
  --ext postgis,pg_cron,hypopg --sign-key "$work/key/pigsty.key" --out "$work/out" \
  --cache "$cache_dir/pkgs" >"$work/build.log" 2>&1
check "d12 bundle with the bootstrap set builds" test $? -eq 0 || tail -20 "$work/build.log"
check "the manifest's bootstrap set is Pigsty's, always in the bundle" python3 -c "
import json; m = json.load(open('$work/out/pigsty/MANIFEST.json'))
names = {p['name'] for p in m['packages']}
assert m['bootstrap'] == ['ansible', 'python3-jmespath', 'python3-apt'] and set(m['bootstrap']) <= names, m['bootstrap']"
bundle=$(ls "$work"/out/pigsty-pkg-*.d12.x86_64.tgz | head -1)
fpr=$(gpg --show-keys --with-colons "$work/key/pigsty.pub" 2>/dev/null | awk -F: '/^fpr/{print $10; exit}')

echo "# install into an air-gapped bookworm chroot"
root=$work/node
make_chroot bookworm "$root" || fail "debootstrap bookworm"
chroots+=("$root")
# the node had network sources once: --local-only must move them aside
echo "deb http://unreachable.invalid/debian bookworm main" >"$root/etc/apt/sources.list"
mount_chroot "$root"
cp "$here/applier/site.yml" "$root/root/site.yml"
apply="ansible-playbook -i localhost, -c local /root/site.yml -e pg=15"
# the bundle's bootstrap set is Pigsty's (the full ansible): this applier needs ansible-core only
unshare -n "$inst" "$bundle" --fingerprint "$fpr" --root "$root" --local-only \
  --bootstrap ansible-core,python3-apt --then "$apply" >"$work/install.log" 2>&1
rc=$?
check "pigsty-install exits 0 (hand-off included)" test $rc -eq 0 || tail -40 "$work/install.log"
check "it printed the key's fingerprint" grep -q "$fpr" "$work/install.log"
check "the local source uses signed-by with the bundle key, in Pigsty's file" \
  grep -qx "deb \[signed-by=/etc/apt/keyrings/pigsty.asc\] file:/www/pigsty/ ./" "$root/etc/apt/sources.list.d/pigsty-local.list"
check "never trusted=yes" bash -c "! grep -rqi trusted '$root/etc/apt/sources.list.d/'"
check "the installed key is the bundle's" cmp -s "$root/etc/apt/keyrings/pigsty.asc" "$work/key/pigsty.pub"
check "--local-only moved the other sources aside" bash -c "test ! -e '$root/etc/apt/sources.list' && test -e '$root/etc/apt/pigsty-backup/sources.list'"
check "apt-get update reads only the local repo" bash -c "unshare -n chroot '$root' apt-get update 2>&1 | grep -v 'file:/www/pigsty' | grep -q '^\(Get\|Hit\|Ign\|Err\)' && exit 1 || exit 0"
check "the bootstrap set is installed" bash -c "chroot '$root' dpkg -s ansible-core python3-apt >/dev/null"
check "the hand-off ran the playbook and PostgreSQL answers" bash -c \
  "chroot '$root' runuser -u postgres -- psql -qAt -c \"SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension\" | grep -q 'hypopg,pg_cron,plpgsql,postgis'"
check "status shows the bundle" bash -c "'$inst' status --root '$root' --json | grep -q '\"target\": \"d12.x86_64\"'"
start=$(date +%s%N)
unshare -n "$inst" "$bundle" --fingerprint "$fpr" --root "$root" --local-only --no-handoff >"$work/again.log" 2>&1
rc=$?
check "a second run is a no-op for the repo that says so (exit $rc)" bash -c "test $rc -eq 0 && grep -q 'nothing to do' '$work/again.log'"
check "... having read the whole bundle and checked every installed file" \
  grep -q "verified every file of .* against its manifest" "$work/again.log"
echo "  (second run took $(( ($(date +%s%N) - start) / 1000000 )) ms)"
# A rerun still runs the hand-off asked for (after a failed applier, say): here one that fails.
unshare -n "$inst" "$bundle" --fingerprint "$fpr" --root "$root" --local-only --then "false" >"$work/again2.log" 2>&1
rc=$?
check "a rerun with --then runs the hand-off again, and exits with its status (exit $rc)" \
  bash -c "test $rc -eq 1 && grep -q 'nothing to do' '$work/again2.log' && grep -q 'handing off to \`false\`' '$work/again2.log'"
check "restore-repos puts the sources back" bash -c "'$inst' restore-repos --root '$root' >/dev/null && test -e '$root/etc/apt/sources.list'"
chroot "$root" pg_ctlcluster 15 main stop >/dev/null 2>&1
umount_chroot "$root"

echo "# drift: a package of the closure held at another version"
drift=$work/drift
make_chroot bookworm "$drift" || fail "debootstrap bookworm"
chroots+=("$drift")
mkdir -p "$work/fake/DEBIAN"
cat >"$work/fake/DEBIAN/control" <<EOF
Package: libpq5
Version: 1.0-1
Architecture: amd64
Maintainer: Test <test@example.invalid>
Description: an old libpq5 standing in for a node of another minor release
EOF
dpkg-deb --build "$work/fake" "$work/libpq5_1.0-1_amd64.deb" >/dev/null
cp "$work/libpq5_1.0-1_amd64.deb" "$drift/tmp/"
mount_chroot "$drift"
chroot "$drift" dpkg -i /tmp/libpq5_1.0-1_amd64.deb >/dev/null
chroot "$drift" apt-mark hold libpq5 >/dev/null
before=$(cd "$drift" && find etc/apt www -printf '%p %s %T@\n' 2>/dev/null | sort | sha256sum)
unshare -n "$inst" "$bundle" --fingerprint "$fpr" --root "$drift" --check-all --no-handoff >"$work/drift.log" 2>&1
rc=$?
check "the drift check refuses (exit $rc)" test $rc -ne 0
check "it names the installed package, its version and the bundle package it blocks" \
  grep -q "installed libpq5 1.0-1 (held) blocks postgresql-client-15 from the bundle" "$work/drift.log" || cat "$work/drift.log"
check "it says what to do" grep -q "apt-mark unhold" "$work/drift.log"
after=$(cd "$drift" && find etc/apt www -printf '%p %s %T@\n' 2>/dev/null | sort | sha256sum)
check "nothing changed on the node (apt config, /www)" test "$before" = "$after"
umount_chroot "$drift"

summary
