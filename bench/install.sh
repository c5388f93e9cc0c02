#!/usr/bin/env bash
# The full node install against Pigsty's own `bootstrap`, on the same bundle, in the same run,
# each in a fresh air-gapped `debootstrap --variant=minbase` bookworm chroot (`unshare -n`: no
# network but a loopback that is down):
#   ours:   pigsty-install BUNDLE --key KEY --root NODE -y --no-handoff --bootstrap P...:
#           the signed manifest checked, every file's size and SHA-256 checked as it is
#           extracted (durable: syncfs before the rename into place), the node's apt configured
#           for the repo (signed-by our key), the drift check, then the bootstrap set installed
#           with the node's apt.
#   pigsty: Pigsty's `bootstrap -p /tmp/pkg.tgz` (its source from
#           ../shared/reference/pigsty-src.tgz unpacked into the node's /root/pigsty, used
#           unchanged; never copied into this project): tar -xf of the bundle into /www, its
#           `deb [trusted=yes] file:/www/pigsty/ ./` list, apt update, `apt install -y unzip
#           wget sshpass acl`, `apt install -y ansible python3-jmespath`. No check of anything.
# P... is the same package list Pigsty's bootstrap installs, so both install the same packages.
# The bundle: the d12 / PG 15 build of tests/e2e-pigsty.sh (default package sets,
# --allow-missing, four extensions, Pigsty's source included), made once per run, untimed.
# Pigsty's bootstrap calls sudo, which a minbase system lacks: both nodes get the real sudo
# .deb (apt-get download on the host, dpkg -i in the node) before timing; both run dpkg with
# force-unsafe-io (as tests/e2e-pigsty.sh does: ansible alone is ~20,000 files); the chroot
# set-up and the copy of the bundle to the node's /tmp/pkg.tgz are not timed. ROUNDS rounds,
# the order of the two alternating; medians.
#
# Usage: bench/install.sh [ROUNDS]   (root; needs debootstrap, unshare; network for the build)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
rounds=${1:-3}
[ "$(id -u)" -eq 0 ] || { echo "run as root (chroots)" >&2; exit 1; }
need debootstrap debootstrap
need unshare util-linux
build_release
inst=$target_dir/release/pigsty-install
reference=${PIGSTY_REFERENCE:-$bench_root/../shared/reference}
pigsty_src=$reference/pigsty-src.tgz
[ -s "$pigsty_src" ] || { echo "no Pigsty source at $pigsty_src (set PIGSTY_REFERENCE)" >&2; exit 1; }
# what Pigsty's bootstrap installs on a deb system (check_utils), in its order
boot_pkgs=(unzip wget sshpass acl ansible python3-jmespath)

work=$(mktemp -d /tmp/pigsty-bench-install.XXXXXX)
nodes=()
cleanup() {
  for n in "${nodes[@]}"; do umount_chroot "$n"; done
  # PIGSTY_BENCH_LOGS=DIR keeps the logs of each run
  [ -n "${PIGSTY_BENCH_LOGS:-}" ] && mkdir -p "$PIGSTY_BENCH_LOGS" && cp "$work"/*.log "$PIGSTY_BENCH_LOGS"/
  rm -rf "$work"
}
trap cleanup EXIT

echo "# the bundle (untimed): d12 / PG 15, default package sets, Pigsty's source included"
mirror=$(host_debian_mirror)
bench_key "$bench_cache/bench-key"
SOURCE_DATE_EPOCH=1700000000 "$bin" --os d12 --arch x86_64 --pg 15 --modules node \
  --mirror "debian=$mirror" --allow-missing --ext postgis,pg_cron,pg_repack,hypopg \
  --include "$pigsty_src" --sign-key "$bench_cache/bench-key/pigsty.key" --out "$work/out" \
  --cache "$bench_cache/pkgs" >"$work/build.log" 2>&1 || { tail -20 "$work/build.log"; exit 1; }
bundle=$(ls "$work"/out/pigsty-pkg-*.d12.x86_64.tgz | head -1)
key=$bench_cache/bench-key/pigsty.pub
echo "bundle: $(basename "$bundle"), $(stat -c %s "$bundle") bytes, $(grep -c '^Package:' "$work/out/pigsty/Packages") packages"
for p in "${boot_pkgs[@]}"; do
  grep -qx "Package: $p" "$work/out/pigsty/Packages" || { echo "the bundle lacks $p" >&2; exit 1; }
done
# Pigsty's check_repo takes /tmp/pkg.tgz only above 409,600,000 bytes ("exists but invalid":
# it removes it and installs from no repo at all)
if [ "$(stat -c %s "$bundle")" -le 409600000 ]; then
  echo "note: the bundle is under the 409,600,000 bytes Pigsty's bootstrap takes as a pkg.tgz;" \
    "its tar -xf step is then run as bootstrap runs it (sudo tar -xf pkg -C /www), before it"
  small=1
else
  small=
fi
mkdir -p "$bench_cache/sudo"
ls "$bench_cache"/sudo/sudo_*.deb >/dev/null 2>&1 || (cd "$bench_cache/sudo" && apt-get download -q sudo)
sudo_deb=$(ls "$bench_cache"/sudo/sudo_*.deb | head -1)

# node SIDE ROUND: a fresh minbase chroot with sudo, ready for SIDE; prints its path.
node() {
  local n=$work/node-$1-$2
  make_chroot bookworm "$n" >&2
  mount_chroot "$n"
  echo force-unsafe-io >"$n/etc/dpkg/dpkg.cfg.d/bench-unsafe-io"
  cp "$sudo_deb" "$n/tmp/sudo.deb"
  chroot "$n" dpkg -i /tmp/sudo.deb >"$work/sudo-$1-$2.log" 2>&1 || { tail "$work/sudo-$1-$2.log" >&2; return 1; }
  rm "$n/tmp/sudo.deb"
  if [ "$1" = pigsty ]; then
    tar -C "$n/root" -xzf "$pigsty_src"
    cp "$bundle" "$n/tmp/pkg.tgz"
  fi
  echo "$n"
}
in_node() {
  unshare -n chroot "$1" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${@:2}"
}
run_ours() {
  local args=()
  for p in "${boot_pkgs[@]}"; do args+=(--bootstrap "$p"); done
  unshare -n "$inst" "$bundle" --key "$key" --root "$1" -y --no-handoff "${args[@]}"
}
run_pigsty() {
  if [ -n "$small" ]; then
    # check_repo's own steps for /tmp/pkg.tgz, verbatim but for the size test
    in_node "$1" bash -c 'mkdir -p /data /data/nginx && ln -sf /data/nginx /www && tar -xf /tmp/pkg.tgz -C /www'
  fi
  in_node "$1" bash -c 'cd /root/pigsty && ./bootstrap -p /tmp/pkg.tgz'
}
installed() {
  chroot "$1" dpkg-query -W -f '${db:Status-Status}\n' "${boot_pkgs[@]}" 2>/dev/null | grep -c '^installed$'
}

times_ours=()
times_pigsty=()
echo "before: $(load_note)"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then order=(ours pigsty); else order=(pigsty ours); fi
  for side in "${order[@]}"; do
    n=$(node "$side" "$r")
    nodes+=("$n")
    sync
    t0=$(date +%s.%N)
    rc=0
    "run_$side" "$n" >"$work/$side-$r.log" 2>&1 || rc=$?
    t1=$(date +%s.%N)
    t=$(python3 -c "print('%.2f' % ($t1 - $t0))")
    ok=$(installed "$n")
    all=$(chroot "$n" dpkg-query -W -f '${db:Status-Status}\n' | grep -c '^installed$')
    echo "round $r, $side: ${t} s (exit $rc, $ok of ${#boot_pkgs[@]} packages installed," \
      "$all in the node, ansible-playbook $(chroot "$n" sh -c 'command -v ansible-playbook' || echo absent))"
    if [ "$ok" -ne ${#boot_pkgs[@]} ] || ! chroot "$n" sh -c 'command -v ansible-playbook' >/dev/null; then
      tail -30 "$work/$side-$r.log"
      exit 1
    fi
    # Pigsty's bootstrap ends with this line (sic) only when it got to the end
    if [ "$side" = pigsty ] && ! grep -q 'boostrap pigsty complete' "$work/$side-$r.log"; then
      tail -30 "$work/$side-$r.log"
      exit 1
    fi
    if [ "$side" = ours ]; then times_ours+=("$t"); else times_pigsty+=("$t"); fi
    umount_chroot "$n"
    rm -rf "$n"
  done
done
echo "after: $(load_note)"
python3 - "${times_ours[*]}" "${times_pigsty[*]}" <<'PY'
import statistics, sys
o = [float(x) for x in sys.argv[1].split()]
p = [float(x) for x in sys.argv[2].split()]
mo, mp = statistics.median(o), statistics.median(p)
print(f"median: ours {mo:.2f} s ({min(o):.2f}-{max(o):.2f}), Pigsty's bootstrap {mp:.2f} s ({min(p):.2f}-{max(p):.2f}), {len(o)} runs each")
print(f"ratio: ours / Pigsty's bootstrap = {mo / mp:.2f}x")
PY
