#!/usr/bin/env bash
# End-to-end test of what an install leaves on a node when it is killed, replaced, rolled
# back or rerun, with the real apt in a debootstrap --variant=minbase bookworm chroot under
# `unshare -n`, and three small real bundles built from the archive the host's apt uses
# (v1: hello; v2: hello and tzdata; v3: tzdata, all signed by one key):
#  - kill -9 at every step of a replace: v3 over v2 (v1 kept as the previous repo) is run under
#    strace once per system call the installer makes that can change something (every
#    open, write, rename, unlink, mkdir, chmod, utime, sync and every child started; a call
#    made once per bundle file only at 5 of its times, PIGSTY_KILL_ALL=1 for all), killed
#    with SIGKILL on entering that call (`strace -e inject=SYSCALL:signal=KILL:when=N`, the
#    whole process tree in a PID namespace, so apt children die with it). After every kill:
#    /www/pigsty is the complete v2 or the complete v3, file for file, the kept previous repo
#    is complete, and `apt-get update` in the node works; then the same install run again
#    completes (sweeping what the kill left) and apt-get update works. strace rather than a
#    pause hook: no test-only code in the binary, and every system call is a kill point, not
#    only the steps someone thought of. The same for `pigsty-install rollback`.
#  - rollback: back to the kept repo in one step (signature and files checked, apt pointed at
#    it), and forward again;
#  - an older bundle is refused over a newer one, from a file and via --from (a real `serve`),
#    unless --allow-downgrade;
#  - a rerun with a damaged installed repo repairs it; one with a truncated copy of the bundle
#    is refused; an intact rerun is a no-op that still runs the hand-off asked for.
#
# Usage: tests/e2e-trust.sh [PIGSTY_BUILD] [PIGSTY_INSTALL]   (root; strace)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib/common.sh"

build=${1:-$here/../target/debug/pigsty-build}
inst=${2:-$here/../target/debug/pigsty-install}
build=$(realpath "$build")
inst=$(realpath "$inst")
command -v strace >/dev/null || { fail "strace is needed (apt-get install strace)"; summary; exit 1; }
mirror=$(host_debian_mirror) || exit 1
work=$(mktemp -d /tmp/pigsty-e2e-trust.XXXXXX)
node=$work/node
serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null
  umount_chroot "$node"
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

echo "# three small bundles from the archive"
"$build" key gen --out "$work/key" >/dev/null 2>&1
key=$work/key/pigsty.pub
for v in 1 2 3; do
  case $v in 1) pkgs=hello ;; 2) pkgs=hello,tzdata ;; 3) pkgs=tzdata ;; esac
  "$build" --os d12 --arch x86_64 --pg 15 --modules node --mirror "debian=$mirror" --packages "$pkgs" \
    --bundle-version "$v" --sign-key "$work/key/pigsty.key" --out "$work/out$v" \
    --cache "$cache_dir/pkgs" >"$work/build$v.log" 2>&1
  check "bundle v$v ($pkgs) builds" test $? -eq 0 || tail -20 "$work/build$v.log"
done
b1=$work/out1/pigsty-pkg-1.d12.x86_64.tgz
b2=$work/out2/pigsty-pkg-2.d12.x86_64.tgz
b3=$work/out3/pigsty-pkg-3.d12.x86_64.tgz

# A digest of every file under a folder with its path: "the complete repo", file for file.
tree_of() { [ -d "$1" ] && (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); }
t1=$(tree_of "$work/out1/pigsty"); t2=$(tree_of "$work/out2/pigsty"); t3=$(tree_of "$work/out3/pigsty")
which_repo() { case $(tree_of "$1") in "$t1") echo v1 ;; "$t2") echo v2 ;; "$t3") echo v3 ;; "") echo none ;; *) echo broken ;; esac; }
apt_ok() { unshare -n chroot "$node" apt-get update >"$work/apt.log" 2>&1 && ! grep -q '^[WE]:' "$work/apt.log"; }
install_b() { unshare -n "$inst" "$1" --key "$key" --root "$node" --no-handoff "${@:2}"; }

make_chroot bookworm "$node" || fail "debootstrap bookworm"
mount_chroot "$node"
install_b "$b1" >"$work/i1.log" 2>&1 && install_b "$b2" >"$work/i2.log" 2>&1
check "v1 then v2 install" test $? -eq 0 || tail -20 "$work/i1.log" "$work/i2.log"
check "the repo in place is v2, file for file" test "$(which_repo "$node/www/pigsty")" = v2
check "the repo it replaced (v1) is kept in /www/.pigsty-previous" test "$(which_repo "$node/www/.pigsty-previous")" = v1

# What an install or a rollback may change, saved and put back between kills.
state=(www etc/apt var/lib/pigsty-install var/lib/apt/lists var/cache/apt)
save() { tar -C "$node" -cf "$work/$1.tar" "${state[@]}"; }
restore() { (cd "$node" && rm -rf "${state[@]}") && tar -C "$node" -xf "$work/$1.tar"; }
syscalls=(openat open creat write pwrite64 writev ftruncate truncate fchmod fchmodat chmod utimensat
          rename renameat renameat2 unlink unlinkat rmdir mkdir mkdirat link linkat symlink symlinkat
          fsync fdatasync syncfs sync_file_range fchown fchownat clone clone3 vfork fork)

# kill_every_step NAME ALLOWED RECOVER CMD...: runs CMD (from the saved state NAME, under
# `unshare -n`) once per kill point; after each kill, /www/pigsty must be one of ALLOWED (e.g. "v2 v3") and whole,
# the kept repo whole, apt-get update must work; then RECOVER (a command) must succeed with a
# whole repo and no staging folder left, and apt-get update work again.
kill_every_step() {
  local name=$1 allowed=$2 recover=$3; shift 3
  save "$name"
  unshare -n strace -o "$work/$name.trace" -e trace="$(IFS=,; echo "${syscalls[*]}")" "$@" >"$work/$name.clean.log" 2>&1
  check "$name runs to its end under strace" test $? -eq 0 || tail "$work/$name.clean.log"
  local points=0 killed=0 whole=0 kept_whole=0 apt_good=0 recovered=0 swept=0 bad=()
  local -A seen=()
  local calls=0
  for s in "${syscalls[@]}"; do
    local n picks
    n=$(grep -c "^$s(" "$work/$name.trace")
    calls=$((calls + n))
    # A call made once per file of the bundle (openat, write, fchmod, ...: a hundred times
    # each) is killed at its first, its last and evenly between (PIGSTY_KILL_PER_CALL, 5);
    # every other call at each time it is made. PIGSTY_KILL_ALL=1 kills at every one.
    picks=$(awk -v n="$n" -v k="${PIGSTY_KILL_PER_CALL:-5}" -v all="${PIGSTY_KILL_ALL:-}" 'BEGIN {
      if (all != "" || n <= 16) { for (j = 1; j <= n; j++) print j; exit }
      for (j = 0; j < k; j++) print 1 + int(j * (n - 1) / (k - 1)) }' | uniq)
    for i in $picks; do
      points=$((points + 1))
      restore "$name"
      unshare -n --pid --fork --kill-child strace -o /dev/null -e trace="$s" -e inject="$s:signal=KILL:when=$i" \
        "$@" >"$work/kill.log" 2>&1
      local rc=$? at="$s #$i"
      [ $rc -eq 137 ] && killed=$((killed + 1))
      local repo kept
      repo=$(which_repo "$node/www/pigsty"); kept=$(which_repo "$node/www/.pigsty-previous")
      seen[$repo]=1
      if [[ " $allowed " == *" $repo "* ]]; then whole=$((whole + 1)); else bad+=("$at: /www/pigsty is $repo"); fi
      if [[ $kept =~ ^(v1|v2|v3|none)$ ]]; then kept_whole=$((kept_whole + 1)); else bad+=("$at: the kept repo is $kept"); fi
      if apt_ok; then apt_good=$((apt_good + 1)); else bad+=("$at: apt-get update fails: $(grep '^[WE]:' "$work/apt.log" | head -2)"); fi
      if eval "$recover" >"$work/recover.log" 2>&1 && [[ $(which_repo "$node/www/pigsty") =~ ^v[123]$ ]] \
         && ! ls -d "$node"/www/.pigsty-extract-* >/dev/null 2>&1 && apt_ok; then
        recovered=$((recovered + 1))
        grep -q "left by an install that was stopped" "$work/recover.log" && swept=$((swept + 1))
      else
        bad+=("$at: the recovery failed: $(tail -3 "$work/recover.log")")
      fi
    done
  done
  echo "  ($name: $points kill points of its $calls system calls that can change something, $killed killed by SIGKILL; repos seen: ${!seen[*]}; $swept staging folders swept by the rerun)"
  check "$name: killed at each of its $points kill points" test "$killed" -eq "$points" -a "$points" -gt 20
  check "$name: after every kill /www/pigsty is whole ($allowed)" test "$whole" -eq "$points"
  check "$name: after every kill the kept repo is whole or absent" test "$kept_whole" -eq "$points"
  check "$name: after every kill apt-get update works" test "$apt_good" -eq "$points"
  check "$name: after every kill the run again completes and leaves no staging folder" test "$recovered" -eq "$points"
  for b in "${bad[@]:0:5}"; do echo "    $b"; done
}

echo "# kill -9 at every step of a replace (v3 over v2)"
kill_every_step replace "v2 v3" \
  "install_b '$b3' && test \$(which_repo '$node/www/pigsty') = v3" \
  "$inst" "$b3" --key "$key" --root "$node" --no-handoff
restore replace

echo "# rollback"
install_b "$b3" >"$work/i3.log" 2>&1
check "v3 installs over v2" test "$(which_repo "$node/www/pigsty")" = v3 || tail "$work/i3.log"
check "apt sees tzdata from the local repo" bash -c "unshare -n chroot '$node' apt-get update >/dev/null 2>&1 && chroot '$node' apt-cache policy tzdata | grep -q 'file:/www/pigsty'"
"$inst" rollback --root "$node" >"$work/rb.log" 2>&1
check "rollback exits 0" test $? -eq 0 || cat "$work/rb.log"
check "... /www/pigsty is v2 again, file for file" test "$(which_repo "$node/www/pigsty")" = v2
check "... v3 is kept in its turn" test "$(which_repo "$node/www/.pigsty-previous")" = v3
check "... it checked the kept repo's signature and files" grep -q "signature and every file checked" "$work/rb.log"
check "... apt-get update works and reads the repo" apt_ok
check "... status says version 2" bash -c "'$inst' status --root '$node' --json | grep -q '\"version\": \"2\"'"
"$inst" rollback --root "$node" >"$work/rb2.log" 2>&1
check "rollback again returns to v3" test "$(which_repo "$node/www/pigsty")" = v3 || cat "$work/rb2.log"
echo "# kill -9 at every step of a rollback (v3 back to v2)"
kill_every_step rollback "v2 v3" \
  "'$inst' rollback --root '$node'" \
  "$inst" rollback --root "$node"
restore rollback

echo "# an older bundle is refused"
snap() { (cd "$node" && find www etc/apt var/lib/pigsty-install -printf '%p %s %T@\n' | sort | sha256sum); }
before=$(snap)
install_b "$b2" >"$work/down.log" 2>&1
rc=$?
check "v2 over v3 is refused (exit $rc)" test $rc -ne 0
check "... saying which is older and what to do" bash -c "grep -q 'bundle 2 (built .*) is older than bundle 3' '$work/down.log' && grep -q -- '--allow-downgrade' '$work/down.log'"
check "... and nothing changed" test "$before" = "$(snap)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/admin" && cp -a "$work/out1/pigsty" "$work/admin/pigsty"
"$inst" serve --listen "127.0.0.1:$port" --dest "$work/admin" >"$work/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/pigsty/MANIFEST.json" >/dev/null && break; sleep 0.1; done
"$inst" --from "http://127.0.0.1:$port/pigsty" --key "$key" --root "$node" --no-handoff >"$work/down-from.log" 2>&1
rc=$?
check "v1 from a mirror over v3 is refused (exit $rc)" bash -c "test $rc -ne 0 && grep -q 'bundle 1 (built .*) is older than bundle 3' '$work/down-from.log'"
check "... and nothing changed" test "$before" = "$(snap)"
"$inst" --from "http://127.0.0.1:$port/pigsty" --key "$key" --root "$node" --no-handoff --allow-downgrade >"$work/down-ok.log" 2>&1
check "--allow-downgrade installs v1 from the mirror" test "$(which_repo "$node/www/pigsty")" = v1 || tail "$work/down-ok.log"
kill "$serve_pid" 2>/dev/null; wait "$serve_pid" 2>/dev/null; serve_pid=

echo "# reruns"
install_b "$b3" >"$work/i3b.log" 2>&1
check "v3 installs again" test "$(which_repo "$node/www/pigsty")" = v3 || tail "$work/i3b.log"
kept_before=$(which_repo "$node/www/.pigsty-previous")
deb=$(ls "$node"/www/pigsty/tzdata_*.deb)
printf 'X' | dd of="$deb" bs=1 seek=100 conv=notrunc status=none
echo stray >"$node/www/pigsty/stray"
install_b "$b3" >"$work/repair.log" 2>&1
rc=$?
check "a rerun over a damaged repo exits 0 (exit $rc)" test $rc -eq 0 || tail "$work/repair.log"
check "... naming what differed" bash -c "grep -q 'repairing it' '$work/repair.log' && grep -q 'tzdata_.*sha256 mismatch' '$work/repair.log' && grep -q 'pigsty/stray: not listed' '$work/repair.log'"
check "... and the repo is v3 again, file for file" test "$(which_repo "$node/www/pigsty")" = v3
check "... the kept repo is still the one before ($kept_before), not the damaged copy" test "$(which_repo "$node/www/.pigsty-previous")" = "$kept_before"
check "... apt-get update works" apt_ok
head -c -100 "$b3" >"$work/cut.tgz"
install_b "$work/cut.tgz" >"$work/cut.log" 2>&1
rc=$?
check "a truncated copy of the installed bundle is refused (exit $rc), never 'nothing to do'" \
  bash -c "test $rc -ne 0 && grep -q truncated '$work/cut.log' && ! grep -q 'nothing to do' '$work/cut.log'"
unshare -n "$inst" "$b3" --key "$key" --root "$node" --then 'touch /root/handed-off' >"$work/again.log" 2>&1
rc=$?
check "an intact rerun is a no-op (exit $rc)" bash -c "test $rc -eq 0 && grep -q 'every file checked: nothing to do' '$work/again.log'"
check "... that still runs the hand-off asked for" test -e "$node/root/handed-off"

summary
