#!/usr/bin/env bash
# No package registry's host name is written in the project (code, tests, docs, data): every
# host that Pigsty's repo lists (its source and the reference copies), pig's repo catalog and
# this machine's own apt sources name is searched for in every file git tracks. Mirrors are
# settings (flags, --config, the host's sources, Pigsty's own lists at run time).
set -euo pipefail
cd "$(dirname "$0")/.."
reference=${PIGSTY_REFERENCE:-../shared/reference}
for f in "$reference/pigsty-src.tgz" "$reference/pig/repo.yml"; do
  [ -s "$f" ] || { echo "no-registry-hosts: $f missing (set PIGSTY_REFERENCE)" >&2; exit 1; }
done

hosts=$( {
  tar -xzOf "$reference/pigsty-src.tgz" --wildcards 'pigsty/roles/node_id/vars/*.yml'
  cat "$reference/pig/repo.yml" "$reference"/pigsty-vars/*.yml
  cat /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null || true
} | grep -oE '[a-z]+://[A-Za-z0-9.-]+\.[A-Za-z]{2,}' | sed 's|^[a-z]*://||' | sort -u)
count=$(printf '%s\n' "$hosts" | grep -c .)
# Pigsty's lists alone name a few dozen registries: far fewer means the lists were not read.
[ "$count" -ge 20 ] || { echo "no-registry-hosts: only $count hosts found in the lists" >&2; exit 1; }

patterns=$(mktemp)
trap 'rm -f "$patterns"' EXIT
printf '%s\n' "$hosts" >"$patterns"

# The search itself must see a host where one is written.
probe=$(printf '%s\n' "$hosts" | head -n1)
printf 'url = "http://%s/x"\n' "$probe" | grep -qF -f "$patterns" \
  || { echo "no-registry-hosts: the search does not find $probe" >&2; exit 1; }

# Every file git tracks (a tree without .git: every file but the build outputs).
files() {
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z
  else
    find . \( -path ./target -o -path ./dist -o -path ./fuzz/target -o -path ./.git \) -prune \
      -o -type f -print0
  fi
}
found=$(files | xargs -0 grep -n -I -F -f "$patterns" -- 2>/dev/null || true)
if [ -n "$found" ]; then
  echo "no-registry-hosts: registry host names written in the project (make them settings):" >&2
  printf '%s\n' "$found" | head -n 40 >&2
  exit 1
fi
echo "no-registry-hosts: $count registry hosts, none in $(files | tr -cd '\0' | wc -c) files"
