#!/usr/bin/env bash
# Shared helpers of the end-to-end tests: the host's Debian mirror (read from its own apt
# sources, never written here), cached debootstrap chroots, and a tiny pass/fail counter.

cache_dir=${PIGSTY_TEST_CACHE:-$HOME/.cache/pigsty-build-test}
mkdir -p "$cache_dir"

# The URI the host's apt uses for the Debian archive (suite $1, default bookworm).
host_debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/{u=$2} /^Suites:/{ for (i=2;i<=NF;i++) if ($i ~ /^[a-z]+$/) { print u; exit } }' "$f")
    if [ -n "$uri" ]; then echo "${uri%/}"; return 0; fi
  done
  uri=$(awk '$1=="deb" && $3 !~ /-security$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] && { echo "${uri%/}"; return 0; }
  echo "cannot find the host's Debian mirror in /etc/apt/sources.list.d/*.sources or sources.list" >&2
  return 1
}

# make_chroot SUITE DIR: a debootstrap --variant=minbase chroot of SUITE in DIR, from a tarball
# cached under $cache_dir (made once, from the host's mirror).
make_chroot() {
  local suite=$1 dir=$2 tarball="$cache_dir/$1-minbase.tar"
  if [ ! -s "$tarball" ]; then
    local tmp
    tmp=$(mktemp -d "$cache_dir/debootstrap.XXXXXX")
    debootstrap --variant=minbase "$suite" "$tmp/root" "$(host_debian_mirror)" >"$tmp/log" 2>&1 \
      || { tail -20 "$tmp/log" >&2; rm -rf "$tmp"; return 1; }
    # the chroot must not know any network source: the tests point it at our bundle only
    rm -f "$tmp/root/etc/apt/sources.list" "$tmp/root"/etc/apt/sources.list.d/*
    rm -rf "$tmp/root/var/lib/apt/lists"/* "$tmp/root/var/cache/apt"/*.bin
    tar -C "$tmp/root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
    rm -rf "$tmp"
  fi
  mkdir -p "$dir"
  tar -C "$dir" -xf "$tarball"
}

# Mount what a chroot needs to run apt and PostgreSQL; umount_chroot undoes it.
mount_chroot() {
  local d=$1
  mount -t proc proc "$d/proc"
  mount --rbind /dev "$d/dev"
  mount -t tmpfs tmpfs "$d/dev/shm" 2>/dev/null || true
  mount -t tmpfs tmpfs "$d/run"
}
umount_chroot() {
  local d=$1
  umount -R "$d/run" 2>/dev/null || true
  umount -R "$d/dev" 2>/dev/null || umount -lR "$d/dev" 2>/dev/null || true
  umount "$d/proc" 2>/dev/null || umount -l "$d/proc" 2>/dev/null || true
}

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
summary() { echo "$passed passed, $failed failed"; [ "$failed" -eq 0 ]; }
