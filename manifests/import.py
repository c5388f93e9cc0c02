#!/usr/bin/env python3
"""Refresh manifests/ from Pigsty's per-OS defaults (pigsty-vars/<os>.<arch>.yml).

Usage: python3 manifests/import.py REFERENCE_DIR/pigsty-vars

Writes, in pigsty-build's own schema (see manifests/README.md):
  manifests/<family>/repos.toml      upstream repositories (hosts become ${mirror.NAME})
  manifests/<family>/packages.toml   default package sets and the aliases common to the family
  manifests/<family>/<os>.toml       aliases where an OS differs from its family
  manifests/<family>/<os>.<arch>.toml aliases where an arch differs from its OS

Mirror hosts are never written: every URL's scheme and host (for base-OS repos, everything up
to the release path) is replaced by a ${mirror.NAME} placeholder that pigsty-build resolves at
run time from --mirror, --config, the build host's own package sources, or the --region presets
pigsty-build reads from Pigsty's own source tree (never from this project).
"""
import collections
import json
import os
import re
import sys

import yaml

FAMILIES = {"deb": ["d12", "d13", "u22", "u24", "u26"], "rpm": ["el8", "el9", "el10"]}
RELEASES = {"deb": [12, 13, 22, 24, 26], "rpm": [8, 9, 10]}
ARCHES = ["x86_64", "aarch64"]

# Repo name -> mirror name, where several repos share one upstream host.
SHARED_MIRRORS = {
    "pigsty-pgsql": "pigsty", "pigsty-infra": "pigsty",
    "gitlab-ee": "gitlab", "gitlab-ce": "gitlab",
    "mysql-tools": "mysql", "pxb84": "percona",
    "timescaledb": "packagecloud", "citus": "packagecloud",
    "haproxyd": "haproxy-debian", "haproxyu": "launchpad",
}
# The packages pigsty-install installs before it hands off to Pigsty, per family (and where an
# OS differs): what Pigsty's own `bootstrap` script installs (`check_utils`: `ansible
# python3-jmespath`, on el8 `ansible python3.12-jmespath python3-cryptography`), plus, on
# Debian and Ubuntu, python3-apt, which Ansible's apt module needs and would otherwise try to
# fetch from the network. Not in pigsty-vars: builder/tests/reference.rs checks it against
# the `bootstrap` script in pigsty-src.tgz.
BOOTSTRAP = {
    "deb": ["ansible", "python3-jmespath", "python3-apt"],
    "rpm": ["ansible", "python3-jmespath"],
}
BOOTSTRAP_OS = {"el8": ["ansible", "python3.12-jmespath", "python3-cryptography"]}
# The repo modules a build uses unless told otherwise: Pigsty's `repo_modules` default
# (roles/repo/defaults/main.yml; not in pigsty-vars, checked by builder/tests/reference.rs).
REPO_MODULES = ["infra", "node", "pgsql"]
# The repo module each main alias comes from.
MODULES = {
    "node": ["node-bootstrap", "node-package1", "node-package2", "node-package3"],
    "infra": ["infra-package", "infra-addons", "infra-extra", "victoria", "vmetrics", "vlogs", "vtraces",
              "docker", "kubernetes", "kube-runtime"],
    "pgsql": ["pgsql-utility", "pgsql-common", "patroni", "pgbouncer", "pgbackrest", "pg_exporter",
              "pgbackrest_exporter", "vip-manager", "pgbadger", "pg_activity", "pg_filedump", "pgxnclient",
              "pgformatter", "pgcopydb", "pgloader", "pg_timetable", "timescaledb-utils"],
}
# Signing keys the build host usually has as files; others are settings (--key NAME=FILE).
KEYRINGS = {
    "debian-archive": "/usr/share/keyrings/debian-archive-keyring.gpg",
    "ubuntu-archive": "/usr/share/keyrings/ubuntu-archive-keyring.gpg",
    "el": "/etc/pki/rpm-gpg/RPM-GPG-KEY-Rocky-$releasever",
    "epel": "/etc/pki/rpm-gpg/RPM-GPG-KEY-EPEL-$releasever",
}


def q(s):
    return json.dumps(s, ensure_ascii=False)


def mirror_of(fam, repo):
    name = repo["name"]
    url = repo["baseurl"]["default"]
    if name.startswith("pgdg"):
        return "pgdg"
    if repo["module"] == "node":
        if fam == "rpm":
            return "epel" if name == "epel" else "el"
        if "DEBIAN_SECURITY" in url:
            return "debian-security"
        if "DEBIAN" in url:
            return "debian"
        if "UBUNTU_PORTS" in url:
            return "ubuntu-ports"
        return "ubuntu"
    if name == "groonga" and "ppa" in url:
        return "launchpad"
    return SHARED_MIRRORS.get(name, name)


def template(fam, repo, mirror):
    url = " ".join(repo["baseurl"]["default"].split())
    url = url.replace("${distro_codename}", "${codename}").replace("${distro_name}", "${distro}")
    placeholder = "${mirror.%s}" % mirror
    url = re.sub(r"^\$\{[A-Z_]+\}", placeholder, url)
    if not url.startswith(placeholder):
        if repo["module"] == "node":
            # Base-OS mirrors cover the distribution root: keep from the release on.
            m = re.search(r"/(\$releasever/| \$\{codename\})", url)
            url = placeholder + url[m.start():]
        elif mirror == "pgdg":
            url = placeholder + url[url.index("/pub/repos/") + len("/pub/repos"):]
        else:
            url = re.sub(r"^[a-z]+://[^/ ]+", placeholder, url)
    return url


def key_of(fam, repo, mirror):
    if repo["module"] == "node":
        if fam == "deb":
            return "debian-archive" if mirror.startswith("debian") else "ubuntu-archive"
        return "epel" if mirror == "epel" else "el"
    return mirror


def write_repos(fam, data, out):
    repos = data[(FAMILIES[fam][0], "x86_64")]["repo_upstream_default"]
    lines = [
        "# Upstream repositories of %s targets, in pigsty-build's schema (see manifests/README.md)." % fam,
        "# ${mirror.NAME} is a setting: --mirror NAME=URL, [mirrors] in --config, or the build host's",
        "# own package sources for its base OS. No registry host is written here.",
        "",
        "[keys]",
    ]
    for k, v in KEYRINGS.items():
        if (fam == "deb") == (k in ("debian-archive", "ubuntu-archive")):
            lines.append("%s = { keyring = %s }" % (k, q(v)))
    for repo in repos:
        if repo["module"] == "local":
            continue  # the local repo is what we build, not an upstream
        releases = [r for r in repo["releases"] if r in RELEASES[fam]]
        if not releases:
            continue
        mirror = mirror_of(fam, repo)
        meta = repo.get("meta") or {}
        lines += ["", "[[repo]]", "name = %s" % q(repo["name"]), "module = %s" % q(repo["module"])]
        lines.append("releases = [%s]" % ", ".join(str(r) for r in releases))
        lines.append("arch = [%s]" % ", ".join(q(a) for a in repo["arch"]))
        lines.append("url = %s" % q(template(fam, repo, mirror)))
        lines.append("key = %s" % q(key_of(fam, repo, mirror)))
        if "priority" in meta:
            lines.append("priority = %d" % meta["priority"])
        if "excludepkgs" in meta:
            lines.append("excludepkgs = [%s]" % ", ".join(q(x) for x in meta["excludepkgs"].split()))
        if meta.get("module_hotfixes"):
            lines.append("module_hotfixes = true")
        if meta.get("skip_if_unavailable"):
            lines.append("optional = true")
    write(os.path.join(out, fam, "repos.toml"), lines)


def write(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def alias_lines(aliases):
    width = max((len(k) for k in aliases), default=0) + 3
    return ["%s= %s" % ((q(k) + " ").ljust(width), q(v)) for k, v in aliases.items()]


def bootstrap_lines(packages):
    return ["", "# What pigsty-install installs before it hands off to Pigsty (see import.py: BOOTSTRAP);",
            "# always in the bundle with its closure (pigsty-build --no-bootstrap leaves it out).",
            "[bootstrap]", "packages = [%s]" % ", ".join(q(x) for x in packages)]


def write_packages(fam, data, out):
    oss = FAMILIES[fam]
    first = data[(oss[0], "x86_64")]
    keys = list(first["package_map"].keys())
    base = collections.OrderedDict()
    for k in keys:
        vals = collections.Counter(data[(o, "x86_64")]["package_map"].get(k) for o in oss)
        base[k] = vals.most_common(1)[0][0]
    lines = [
        "# Default package sets and package aliases of %s targets (see manifests/README.md)." % fam,
        "# `$v` is the PG major. Values list package names separated by spaces or commas.",
        "",
        "[defaults]",
    ]
    lines.append("repo_packages = [%s]" % ", ".join(q(x) for x in first["repo_packages_default"]))
    lines.append("extra_packages = [%s]" % ", ".join(q(x) for x in first["repo_extra_packages_default"]))
    lines.append("node_packages = [%s]" % ", ".join(q(x) for x in first["node_packages_default"]))
    lines.append("infra_packages = [%s]" % ", ".join(q(x) for x in first["infra_packages_default"]))
    lines.append("# The repo modules a build uses unless --modules says otherwise (Pigsty's repo_modules).")
    lines.append("repo_modules = [%s]" % ", ".join(q(x) for x in REPO_MODULES))
    lines += ["", "# The repo module each alias is expected to come from (for grouping plans). Aliases not",
              "# listed: pgsql when their packages name a PG major (`$v`), else extra.", "[modules]"]
    for module, names in MODULES.items():
        lines.append("%s = [%s]" % (module, ", ".join(q(n) for n in names if n in base)))
    lines += bootstrap_lines(BOOTSTRAP[fam])
    lines += ["", "[aliases]"] + alias_lines(base)
    write(os.path.join(out, fam, "packages.toml"), lines)
    for o in oss:
        m = data[(o, "x86_64")]["package_map"]
        diff = collections.OrderedDict((k, v) for k, v in m.items() if base.get(k) != v)
        path = os.path.join(out, fam, "%s.toml" % o)
        boot = bootstrap_lines(BOOTSTRAP_OS[o]) if o in BOOTSTRAP_OS else []
        if diff or boot:
            head = "Aliases" + (" and the bootstrap set" if boot else "")
            write(path, ["# %s where %s differs from the %s family." % (head, o, fam)] + boot
                  + ["", "[aliases]"] + alias_lines(diff))
        elif os.path.exists(path):
            os.remove(path)
        for a in ARCHES[1:]:
            ma = data[(o, a)]["package_map"]
            diff = collections.OrderedDict((k, v) for k, v in ma.items() if m.get(k) != v)
            path = os.path.join(out, fam, "%s.%s.toml" % (o, a))
            if diff:
                write(path, ["# Aliases where %s on %s differs from %s on x86_64." % (o, a, o), "", "[aliases]"] + alias_lines(diff))
            elif os.path.exists(path):
                os.remove(path)


REF = "../shared/reference/pigsty-vars"


def main():
    global REF
    ref = sys.argv[1] if len(sys.argv) > 1 else REF
    REF = ref
    out = os.path.dirname(os.path.abspath(__file__))
    for fam, oss in FAMILIES.items():
        data = {}
        for o in oss:
            for a in ARCHES:
                with open(os.path.join(ref, "%s.%s.yml" % (o, a))) as f:
                    data[(o, a)] = yaml.safe_load(f)
        write_repos(fam, data, out)
        write_packages(fam, data, out)


if __name__ == "__main__":
    main()
