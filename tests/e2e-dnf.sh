#!/usr/bin/env bash
# End-to-end test of the dnf side. No EL mirror is reachable, so the EL world is made here:
# real rpms (signed with the real rpmsign) in upstream repos laid out as the manifests' mirror
# URLs expect (BaseOS, AppStream, EPEL, PGDG, Pigsty), with real createrepo_c metadata and
# signed repomd.xml, served over loopback HTTP. Then:
#  - pigsty-build --os el9 --pg 17 builds a signed bundle from them (excludepkgs, priority,
#    rich and file dependencies, never i686), that `pigsty-build verify`, `pigsty-install
#    verify` and gpgv accept;
#  - Debian's dnf, with --installroot, reposdir pointing only at our repo, gpgcheck and
#    repo_gpgcheck on with our keys, and no network, installs PostgreSQL and extensions from it;
#    a repomd.xml altered after signing is refused;
#  - pigsty-install lays the bundle out on an EL root (dnf --installroot), writes the signed
#    .repo, installs the bootstrap set, and a second run is a no-op; a node with a newer
#    PostgreSQL library is refused by the drift check, naming it;
#  - a delta bundle (--base the installed manifest) applied on top equals a full build of the
#    new set, file for file, and is refused on a node without its base;
#  - `pigsty-install serve` on that node, and another EL node installed `--from` it.
#
# Usage: tests/e2e-dnf.sh [PIGSTY_BUILD] [PIGSTY_INSTALL] [RPM_FIXTURE]   (root)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

build=${1:-$here/../target/debug/pigsty-build}
inst=${2:-$here/../target/debug/pigsty-install}
fixture=${3:-$here/../target/debug/rpm-fixture}
work=$(mktemp -d /tmp/pigsty-e2e-dnf.XXXXXX)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "# the EL world, served on loopback"
"$fixture" world "$work/world" --el 9 --arch x86_64 --sign-packages >"$work/world.log" 2>&1
check "the EL9 fixture world is made (rpmsign, createrepo_c)" test $? -eq 0 || cat "$work/world.log"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server "$port" --bind 127.0.0.1 --directory "$work/world" >/dev/null 2>&1 &
server=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/upstream.pub" >/dev/null && break; sleep 0.1; done
base="http://127.0.0.1:$port"
upkey="$work/world/upstream.pub"
keys=(--key "el=$upkey" --key "epel=$upkey" --key "pgdg=$upkey" --key "pigsty=$upkey")
mirrors=(--mirror "el=$base/el" --mirror "epel=$base/epel" --mirror "pgdg=$base/pgdg" --mirror "pigsty=$base/pigsty")
want=(--packages pgsql-mini,ansible-core,python3-jmespath,python3-requests,python3-cryptography
      --ext vector,pg_cron,postgis)

echo "# pigsty-build --os el9 --pg 17"
"$build" key gen --out "$work/key" >/dev/null 2>&1
out=$work/out
"$build" --os el9 --arch x86_64 --pg 17 --modules node,pgsql "${mirrors[@]}" "${keys[@]}" "${want[@]}" \
  --sign-key "$work/key/pigsty.key" --out "$out" --cache "$work/cache" --json >"$work/build.json" 2>"$work/build.log"
check "the el9 bundle builds from the fixture repos" test $? -eq 0 || tail -30 "$work/build.log"
bundle=$(ls "$out"/pigsty-pkg-*.el9.x86_64.tgz 2>/dev/null | head -1)
repo=$out/pigsty
check "one .tgz bundle" test -s "$bundle"
check "repodata with zst metadata (EL9 default)" bash -c "ls '$repo'/repodata/*-primary.xml.zst >/dev/null"
check "repomd.xml.asc verifies with gpgv and the bundle key" bash -c \
  "gpg --dearmor <'$work/key/pigsty.pub' >'$work/pigsty.gpg' && gpgv --keyring '$work/pigsty.gpg' '$repo/repodata/repomd.xml.asc' '$repo/repodata/repomd.xml' 2>/dev/null"
check "pigsty-build verify accepts the bundle" "$build" verify "$bundle" --key "$work/key/pigsty.pub"
check "pigsty-install verify accepts the bundle" "$inst" verify "$bundle" --key "$work/key/pigsty.pub"
have() { test -e "$repo/$1"; }
check "pg_cron_17 comes from the Pigsty repo (priority), not PGDG's newer one" have pg_cron_17-1.6.4-1PIGSTY.el9.x86_64.rpm
check "the highest PostgreSQL 17 (17.6)" have postgresql17-server-17.6-1PGDG.rhel9.x86_64.rpm
check "excludepkgs hides AppStream's libpq" bash -c "! ls '$repo' | grep -q '^libpq-'"
check "never i686" bash -c "! ls '$repo' | grep -q 'i686'"
check "the rich dependencies are followed (geos, sfcgal if contrib, gdal unless)" bash -c \
  "ls '$repo' | grep -q '^geos31[23]-' && have_s=\$(ls '$repo' | grep -c '^sfcgal-') && [ \$have_s = 1 ] && ls '$repo' | grep -q '^gdal39-libs-'"
check "the conditional pgvector_17-llvmjit is left out" bash -c "! ls '$repo' | grep -q 'pgvector_17-llvmjit'"
check "the file dependency /usr/share/zoneinfo brings tzdata (filelists)" bash -c "ls '$repo' | grep -q '^tzdata-'"
check "the manifest names the key that signed the packages" bash -c "grep -q '\"package_keys\"' '$repo/MANIFEST.json'"

echo "# Debian's dnf installs from our repo, gpgcheck and repo_gpgcheck on, no network"
mkdir -p "$work/dnfroot" "$work/repos"
gpgkeys="file://$repo/pigsty.pub"
for k in "$repo"/keys/*; do gpgkeys="$gpgkeys file://$k"; done
cat >"$work/repos/local.repo" <<EOF
[pigsty-local]
name=pigsty local
baseurl=file://$repo
gpgcheck=1
repo_gpgcheck=1
gpgkey=$gpgkeys
EOF
# Debian's dnf stands in for EL9's. EL9's dnf (4.14) reads filelists for file dependencies
# (/usr/share/zoneinfo); dnf 4.19 and later (Debian 13's 4.23, EL10's) only when
# optional_metadata_types has them: set so where the option exists, on the command line and in
# each EL node's own dnf.conf (dnf reads the one inside --installroot).
el9_dnf=()
if /usr/bin/python3 -c 'import dnf, sys; sys.exit(not hasattr(dnf.Base().conf, "optional_metadata_types"))' 2>/dev/null; then
  el9_dnf=(--setopt=optional_metadata_types=filelists)
fi
dnf_local() {
  unshare -n dnf -y --installroot="$1" --releasever=9 --forcearch=x86_64 "${el9_dnf[@]}" \
    --setopt=reposdir="$work/repos" --setopt=cachedir="$1.cache" "${@:2}"
}
dnf_local "$work/dnfroot" install postgresql17-server pgvector_17 postgis36_17 >"$work/dnf.log" 2>&1
check "dnf installs postgresql17-server, pgvector_17 and postgis36_17" test $? -eq 0 || tail -20 "$work/dnf.log"
check "rpm sees them in the root" rpm --root "$work/dnfroot" -q postgresql17-server pgvector_17 postgis36_17
check "the files are there" test -f "$work/dnfroot/usr/pgsql-17/lib/vector.so"

cp -a "$repo" "$work/tampered"
sed -i 's|<revision>|<revision>1|' "$work/tampered/repodata/repomd.xml"
sed "s|$repo|$work/tampered|g" "$work/repos/local.repo" >"$work/tampered.repo"
mkdir -p "$work/repos2" && mv "$work/tampered.repo" "$work/repos2/local.repo"
unshare -n dnf -y --installroot="$work/dnfroot2" --releasever=9 --forcearch=x86_64 \
  --setopt=reposdir="$work/repos2" --setopt=cachedir="$work/dnfroot2.cache" \
  install postgresql17-server >"$work/tampered.log" 2>&1
check "dnf refuses a repomd.xml altered after signing" test $? -ne 0
check "... because of the signature" grep -qi "signature\|gpg" "$work/tampered.log"

echo "# pigsty-install on an EL9 root (dnf --installroot), no network"
# The node's own OS, from the world's BaseOS: rocky-release (os-release), glibc, bash.
mkdir -p "$work/osrepos"
cat >"$work/osrepos/os.repo" <<EOF
[baseos]
name=baseos
baseurl=file://$work/world/el/9/BaseOS/x86_64/os
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$upkey
[drift]
name=drift
baseurl=file://$work/world/drift/el9.x86_64
gpgcheck=1
repo_gpgcheck=1
gpgkey=file://$upkey
EOF
make_el_node() {
  if [ ${#el9_dnf[@]} -gt 0 ]; then
    mkdir -p "$1/etc/dnf"
    printf '[main]\noptional_metadata_types=filelists\n' >"$1/etc/dnf/dnf.conf"
  fi
  dnf -y -q --installroot="$1" --releasever=9 --forcearch=x86_64 "${el9_dnf[@]}" \
    --setopt=reposdir="$work/osrepos" --setopt=cachedir="$work/oscache" install "${@:2}" \
    >>"$work/os.log" 2>&1
}
node=$work/elnode
make_el_node "$node" rocky-release bash glibc
check "an EL9 node root with rocky-release" grep -q 'ID="rocky"' "$node/etc/os-release"
mkdir -p "$node/etc/yum.repos.d"
printf '[baseos]\nname=Rocky\nbaseurl=http://unreachable.invalid/rocky/9/BaseOS/x86_64/os/\n' >"$node/etc/yum.repos.d/rocky.repo"
unshare -n "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node" --local-only --no-handoff \
  >"$work/install.log" 2>&1
check "pigsty-install exits 0 on the EL node" test $? -eq 0 || tail -30 "$work/install.log"
repofile=$node/etc/yum.repos.d/pigsty-local.repo
check "the .repo checks metadata and packages (repo_gpgcheck=1, gpgcheck=1, module_hotfixes=1)" \
  bash -c "grep -qx 'repo_gpgcheck=1' '$repofile' && grep -qx 'gpgcheck=1' '$repofile' && grep -qx 'module_hotfixes=1' '$repofile'"
check "never gpgcheck=0" bash -c "! grep -q 'gpgcheck=0' '$repofile'"
check "the installed key is the bundle's" cmp -s "$node/etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local" "$work/key/pigsty.pub"
check "the packages' signing key is installed beside it" test -s "$node/etc/pki/rpm-gpg/RPM-GPG-KEY-pigsty-local-1"
check "--local-only moved rocky.repo aside" bash -c "test ! -e '$node/etc/yum.repos.d/rocky.repo' && test -e '$node/etc/pigsty-backup/yum.repos.d/rocky.repo'"
check "the bootstrap set (Pigsty's: ansible python3-jmespath) is installed from the local repo" \
  rpm --root "$node" -q ansible python3-jmespath ansible-core python3-cryptography
check "status shows the el9 bundle" bash -c "'$inst' status --root '$node' --json | grep -q '\"target\": \"el9.x86_64\"'"
check "dnf left nothing at ROOT/ROOT (what it makes under the root for its private folder is removed)" test ! -e "$node$node"
check "the drift check's private dnf state is gone" bash -c "! find '$node' -name '.dnf-state' | grep -q ."
check "the install's dnf cache is the node's own" test -d "$node/var/cache/dnf"
unshare -n "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node" --local-only --no-handoff >"$work/again.log" 2>&1
rc=$?
check "a second run is a no-op" bash -c "test $rc -eq 0 && grep -q 'nothing to do' '$work/again.log'"
check "restore-repos puts rocky.repo back" bash -c "'$inst' restore-repos --root '$node' >/dev/null && test -e '$node/etc/yum.repos.d/rocky.repo'"

echo "# drift: a node with a newer PostgreSQL library than the bundle's"
node2=$work/elnode2
make_el_node "$node2" rocky-release bash glibc postgresql17-libs
check "the drift node has postgresql17-libs 17.7" bash -c "rpm --root '$node2' -q postgresql17-libs | grep -q 17.7"
# The whole node: a refused drift check writes nothing anywhere in it (no dnf cache, log or
# state, no ROOT/ROOT/...).
snapshot() { (cd "$node2" && find . -printf '%p %s\n' 2>/dev/null | sort); }
snapshot >"$work/before.txt"
unshare -n "$inst" "$bundle" --key "$work/key/pigsty.pub" --root "$node2" --check-all --no-handoff >"$work/drift.log" 2>&1
rc=$?
check "pigsty-install refuses (non-zero exit)" test $rc -ne 0
check "it names the installed package and its version" grep -q "postgresql17-libs 17.7" "$work/drift.log" || cat "$work/drift.log"
check "it names the bundle package it blocks and what it needs" grep -q "from the bundle, which needs postgresql17-libs(x86-64) = 17.6" "$work/drift.log"
check "it says what to do, for dnf" grep -q "dnf downgrade" "$work/drift.log"
snapshot >"$work/after.txt"
check "nothing changed anywhere in the node (no repo, no dnf cache, log or state)" cmp -s "$work/before.txt" "$work/after.txt" \
  || diff "$work/before.txt" "$work/after.txt" | head

echo "# delta bundles: base + delta installed equals a full build of the new set"
v2=(--packages pgsql-mini,ansible-core,python3-jmespath,python3-requests,python3-cryptography,sshpass
    --ext vector,pg_cron,postgis --bundle-version 2)
SOURCE_DATE_EPOCH=1700000000 "$build" --os el9 --arch x86_64 --pg 17 --modules node,pgsql "${mirrors[@]}" "${keys[@]}" \
  "${v2[@]}" --sign-key "$work/key/pigsty.key" --out "$work/full2" --cache "$work/cache" >"$work/full2.log" 2>&1
check "a full build of the new set" test $? -eq 0 || tail -20 "$work/full2.log"
SOURCE_DATE_EPOCH=1700000000 "$build" --os el9 --arch x86_64 --pg 17 --modules node,pgsql "${mirrors[@]}" "${keys[@]}" \
  "${v2[@]}" --base "$node/www/pigsty/MANIFEST.json" --sign-key "$work/key/pigsty.key" --out "$work/delta" \
  --cache "$work/cache" >"$work/delta.log" 2>&1
check "a delta against the installed repo" test $? -eq 0 || tail -20 "$work/delta.log"
delta=$(ls "$work"/delta/pigsty-pkg-2.el9.x86_64.delta.tgz 2>/dev/null)
check "the delta is much smaller than the full bundle" bash -c \
  "[ \$(stat -c %s '$delta') -lt \$(( \$(stat -c %s '$work'/full2/pigsty-pkg-2.el9.x86_64.tgz) / 2 )) ]"
check "the delta carries the new package, not the old ones" bash -c \
  "tar -tzf '$delta' | grep -q 'pigsty/sshpass-' && ! tar -tzf '$delta' | grep -q 'pigsty/glibc-'"
check "pigsty-install verify accepts the delta" "$inst" verify "$delta" --key "$work/key/pigsty.pub"
# A node whose repo is not the base: refused, nothing changed.
unshare -n "$inst" "$delta" --key "$work/key/pigsty.pub" --root "$node2" --no-handoff >"$work/delta-wrong.log" 2>&1
check "the delta is refused on a node without its base" test $? -ne 0
check "... saying it applies to the base only" grep -q "applies to the repo of bundle" "$work/delta-wrong.log"
unshare -n "$inst" "$delta" --key "$work/key/pigsty.pub" --root "$node" --no-handoff >"$work/delta-install.log" 2>&1
check "the delta installs on top of its base" test $? -eq 0 || tail -20 "$work/delta-install.log"
tree_sums() { (cd "$1" && find . -type f ! -name 'MANIFEST.json*' -print0 | sort -z | xargs -0 sha256sum); }
tree_sums "$node/www/pigsty" >"$work/delta-tree.txt"
tree_sums "$work/full2/pigsty" >"$work/full-tree.txt"
check "base + delta equals the full build, file for file" cmp -s "$work/delta-tree.txt" "$work/full-tree.txt" \
  || diff "$work/delta-tree.txt" "$work/full-tree.txt" | head
check "status shows version 2" bash -c "'$inst' status --root '$node' --json | grep -q '\"version\": \"2\"'"

echo "# --from: an EL node installed from another's served repo, no network but loopback"
sport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$inst" serve --listen "127.0.0.1:$sport" --dest "$node/www" >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$sport/pigsty/MANIFEST.json" >/dev/null && break; sleep 0.1; done
node3=$work/elnode3
make_el_node "$node3" rocky-release bash glibc
"$inst" --from "http://127.0.0.1:$sport/pigsty" --key "$work/key/pigsty.pub" --root "$node3" --no-handoff \
  >"$work/from.log" 2>&1
check "pigsty-install --from installs an EL node from the served repo" test $? -eq 0 || tail -20 "$work/from.log"
check "... the same repo, file for file" bash -c \
  "diff <(cd '$node/www/pigsty' && find . -type f -print0 | sort -z | xargs -0 sha256sum) <(cd '$node3/www/pigsty' && find . -type f -print0 | sort -z | xargs -0 sha256sum) >/dev/null"
check "... with the bootstrap set from it" rpm --root "$node3" -q ansible-core
check "pigsty-install verify --from checks the mirror" \
  "$inst" verify --from "http://127.0.0.1:$sport/pigsty" --key "$work/key/pigsty.pub"
victim=$(ls "$node/www/pigsty"/sshpass-*.rpm)
printf 'X' | dd of="$victim" bs=1 seek=200 conv=notrunc status=none
"$inst" verify --from "http://127.0.0.1:$sport/pigsty" --key "$work/key/pigsty.pub" >"$work/verify-bad.log" 2>&1
check "... and names a file altered on the mirror" bash -c "test $? -ne 0 && grep -q 'sshpass-' '$work/verify-bad.log'"
kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null

summary
