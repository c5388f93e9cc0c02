//! The offline vars file of the Pigsty hand-off (`pigsty-offline.yml`): what Pigsty's
//! playbooks need to run from the installed bundle alone, written from the bundle and from
//! Pigsty's own tree and inventory.
//!
//! - `node_repo_modules: local`, and `repo_upstream` holding only the local module's entry of
//!   Pigsty's per-OS defaults (`http://${admin_ip}/pigsty`): node.yml's `node_repo` points the
//!   node at the bundle's repo and at nothing on the Internet, whatever the inventory's
//!   `repo_upstream` says.
//! - `node_default_packages`, `node_packages`, `pg_packages` and `pg_extensions` as Pigsty would
//!   install them for the host (the inventory's value for it, else the role's default),
//!   narrowed to what the bundle holds; `pg_extensions` also gets the extensions the bundle was
//!   built with (`--ext`). Pigsty looks each word of `pg_packages` and `pg_extensions` up in its
//!   `package_map` (one level, `$v` the PG major) and takes the other lists as package names;
//!   the narrowing follows the same rule and writes package names. Each item stays one line
//!   (one package-manager run), its names comma-joined. Every name taken out is listed in a
//!   comment (and returned, for the report).
//!
//! The file is passed as extra vars (`-e @pigsty-offline.yml`): above every inventory and role
//! variable, for every host of the run, and without editing the user's `pigsty.yml`.

use std::collections::BTreeSet;
use std::fmt;

use serde_yaml_ng::{Mapping, Value};

/// The file's name, in Pigsty's folder.
pub const FILE_NAME: &str = "pigsty-offline.yml";

/// What the file is written from.
pub struct Inputs<'a> {
    /// `pigsty.yml`, as `configure` (or the user) left it.
    pub inventory: &'a Value,
    /// Pigsty's per-OS vars: `roles/node_id/vars/OS.ARCH.yml` (`package_map`,
    /// `node_packages_default`, `repo_upstream_default`).
    pub os_vars: &'a Value,
    /// `roles/node/defaults/main.yml` and `roles/pgsql/defaults/main.yml`.
    pub node_defaults: &'a Value,
    pub pgsql_defaults: &'a Value,
    /// The host the lists are computed for (`--ip`).
    pub host: &'a str,
    /// The names of the bundle's packages.
    pub have: &'a BTreeSet<String>,
    /// The extensions the bundle was built with, each with its packages in the bundle.
    pub extensions: &'a [(String, Vec<String>)],
    /// The bundle's PG major, and what the file's first line says about the bundle.
    pub pg: u32,
    pub about: String,
}

/// A name taken out of one of Pigsty's lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    /// The variable it was taken out of.
    pub var: &'static str,
    /// The word of the list it came from, where that was an alias (or extension) of
    /// `package_map`.
    pub from: Option<String>,
}

impl fmt::Display for Removal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.name, self.var)?;
        if let Some(w) = &self.from {
            write!(f, ", from {w}")?;
        }
        write!(f, "): not in the bundle")
    }
}

/// The file's text, and what was taken out.
#[derive(Debug, Clone)]
pub struct OfflineVars {
    pub text: String,
    pub removed: Vec<Removal>,
    /// Notes for the user (also comments of the file).
    pub notes: Vec<String>,
}

/// The effective value of `name` for `host` in an Ansible YAML inventory: the host's own
/// vars, else the vars of the deepest group that holds the host (at one depth, the last by
/// name, as Ansible merges them), else `all`'s.
pub fn lookup(inventory: &Value, host: &str, name: &str) -> Option<Value> {
    struct Group<'a> {
        depth: usize,
        name: String,
        vars: Option<&'a Mapping>,
        holds: bool,
    }
    // Walks a group and its children; returns whether the group holds the host.
    fn walk<'a>(
        name: &str,
        g: &'a Value,
        depth: usize,
        host: &str,
        out: &mut Vec<Group<'a>>,
        host_vars: &mut Vec<&'a Mapping>,
    ) -> bool {
        let mut holds = false;
        if let Some(hosts) = g.get("hosts").and_then(Value::as_mapping) {
            if let Some(h) = hosts.get(host) {
                holds = true;
                if let Some(m) = h.as_mapping() {
                    host_vars.push(m);
                }
            }
        }
        if let Some(children) = g.get("children").and_then(Value::as_mapping) {
            for (k, child) in children {
                let child_name = k.as_str().unwrap_or_default();
                holds |= walk(child_name, child, depth + 1, host, out, host_vars);
            }
        }
        out.push(Group {
            depth,
            name: name.to_string(),
            vars: g.get("vars").and_then(Value::as_mapping),
            holds: holds || depth == 0,
        });
        holds
    }
    let all = inventory.get("all")?;
    let mut groups = Vec::new();
    let mut host_vars = Vec::new();
    walk("all", all, 0, host, &mut groups, &mut host_vars);
    groups.retain(|g| g.holds);
    groups.sort_by(|a, b| (a.depth, &a.name).cmp(&(b.depth, &b.name)));
    let mut found = None;
    for g in &groups {
        if let Some(v) = g.vars.and_then(|m| m.get(name)) {
            found = Some(v.clone());
        }
    }
    for m in host_vars {
        if let Some(v) = m.get(name) {
            found = Some(v.clone());
        }
    }
    found
}

/// A YAML list of strings (or one string) as items.
fn items(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Sequence(s)) => s
            .iter()
            .filter_map(|x| match x {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// The words of a list item: separated by commas and/or white space.
fn words(item: &str) -> impl Iterator<Item = &str> {
    item.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|w| !w.is_empty())
}

/// Narrows one of Pigsty's lists to the bundle. `map`: look each word up in `package_map`
/// first (as Pigsty does for `pg_packages` and `pg_extensions`).
struct Narrow<'a> {
    have: &'a BTreeSet<String>,
    map: Option<&'a Mapping>,
    pg_version: String,
    removed: Vec<Removal>,
}

impl Narrow<'_> {
    fn list(&mut self, var: &'static str, list: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for item in list {
            let mut kept: Vec<String> = Vec::new();
            for word in words(item) {
                let names = match self.map {
                    // as Pigsty's pgsql role: the map's value, or the word, `$v` replaced
                    Some(m) => m
                        .get(word)
                        .and_then(Value::as_str)
                        .unwrap_or(word)
                        .replace("${pg_version}", &self.pg_version)
                        .replace("$v", &self.pg_version),
                    None => word.to_string(),
                };
                for name in words(&names) {
                    if self.have.contains(name) {
                        if !kept.iter().any(|k| k == name) {
                            kept.push(name.to_string());
                        }
                    } else {
                        self.removed.push(Removal {
                            name: name.to_string(),
                            var,
                            from: (name != word).then(|| word.to_string()),
                        });
                    }
                }
            }
            if !kept.is_empty() {
                out.push(kept.join(","));
            }
        }
        out
    }
}

/// A YAML block list of double-quoted strings (JSON strings are YAML), or `[]`.
fn yaml_list(name: &str, items: &[String]) -> String {
    if items.is_empty() {
        return format!("{name}: []\n");
    }
    let mut s = format!("{name}:\n");
    for i in items {
        let quoted = serde_json::to_string(i).unwrap_or_else(|_| format!("{i:?}"));
        s.push_str(&format!("  - {quoted}\n"));
    }
    s
}

/// The local module's entries of Pigsty's `repo_upstream_default`, as YAML, if it has any.
fn local_upstream(os_vars: &Value) -> Option<String> {
    let local: Vec<&Value> = os_vars
        .get("repo_upstream_default")?
        .as_sequence()?
        .iter()
        .filter(|r| r.get("module").and_then(Value::as_str) == Some("local"))
        .collect();
    if local.is_empty() {
        return None;
    }
    let text = serde_yaml_ng::to_string(&local).ok()?;
    let mut s = "repo_upstream:\n".to_string();
    for line in text.lines() {
        s.push_str(&format!("  {line}\n"));
    }
    Some(s)
}

/// Writes the file's text for `inputs`.
pub fn offline_vars(inputs: &Inputs) -> OfflineVars {
    let inv = |name: &str| lookup(inputs.inventory, inputs.host, name);
    let mut notes = Vec::new();
    let pg_version = match inv("pg_version") {
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::String(s)) => s,
        _ => inputs.pg.to_string(),
    };
    if pg_version != inputs.pg.to_string() {
        notes.push(format!(
            "pg_version {pg_version} of the inventory is not the bundle's PG {}: its PostgreSQL packages are not in the bundle",
            inputs.pg
        ));
    }
    let map = inputs
        .os_vars
        .get("package_map")
        .and_then(Value::as_mapping);
    let mut n = Narrow {
        have: inputs.have,
        map: None,
        pg_version,
        removed: Vec::new(),
    };
    let node_default = inv("node_default_packages")
        .or_else(|| inputs.os_vars.get("node_packages_default").cloned());
    let node_default = n.list("node_default_packages", &items(node_default.as_ref()));
    let node_packages =
        inv("node_packages").or_else(|| inputs.node_defaults.get("node_packages").cloned());
    let node_packages = n.list("node_packages", &items(node_packages.as_ref()));
    n.map = map;
    let pg_packages =
        inv("pg_packages").or_else(|| inputs.pgsql_defaults.get("pg_packages").cloned());
    let pg_packages = n.list("pg_packages", &items(pg_packages.as_ref()));
    // the inventory's extensions, then the bundle's: an extension package_map knows by its
    // name, else the bundle's packages for it
    let mut exts = items(
        inv("pg_extensions")
            .or_else(|| inputs.pgsql_defaults.get("pg_extensions").cloned())
            .as_ref(),
    );
    let mut seen: BTreeSet<String> = exts
        .iter()
        .flat_map(|i| words(i))
        .map(String::from)
        .collect();
    for (ext, packages) in inputs.extensions {
        if !seen.insert(ext.clone()) {
            continue;
        }
        if map.is_some_and(|m| m.contains_key(ext.as_str())) {
            exts.push(ext.clone());
        } else if !packages.is_empty() {
            exts.push(packages.join(","));
        }
    }
    let pg_extensions = n.list("pg_extensions", &exts);

    let mut text = format!(
        "# Written by pigsty-install for {} from {}: Pigsty's settings for the installed\n\
         # bundle alone, passed to every playbook of the hand-off as `-e @{FILE_NAME}` (extra\n\
         # vars: above pigsty.yml and the roles' defaults, for every host of the run).\n#\n",
        inputs.host, inputs.about
    );
    for note in &notes {
        text.push_str(&format!("# note: {note}\n"));
    }
    if n.removed.is_empty() {
        text.push_str("# removed: nothing: the bundle holds every package of Pigsty's lists\n");
    }
    for r in &n.removed {
        text.push_str(&format!("# removed: {r}\n"));
    }
    text.push_str(
        "\n# node.yml's node_repo: the node's only source is the bundle's repo (Pigsty's local\n\
         # module, served at http://ADMIN_IP/pigsty by Pigsty's nginx or `pigsty-install serve`)\n\
         node_repo_modules: local\n",
    );
    match local_upstream(inputs.os_vars) {
        Some(s) => text.push_str(&s),
        None => text.push_str(
            "# (Pigsty's per-OS vars name no local module: repo_upstream left as it is)\n",
        ),
    }
    text.push_str(
        "\n# Pigsty's package lists, narrowed to the bundle (the removals are listed above)\n",
    );
    text.push_str(&yaml_list("node_default_packages", &node_default));
    text.push_str(&yaml_list("node_packages", &node_packages));
    text.push_str(&yaml_list("pg_packages", &pg_packages));
    text.push_str(&yaml_list("pg_extensions", &pg_extensions));
    OfflineVars {
        text,
        removed: n.removed,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml_ng::from_str(s).unwrap()
    }

    const INVENTORY: &str = r#"
all:
  children:
    infra: { hosts: { 10.10.10.10: { infra_seq: 1 } } }
    pg-meta:
      hosts:
        10.10.10.10: { pg_seq: 1, pg_role: primary }
      vars:
        pg_cluster: pg-meta
        pg_extensions: [ postgis, pgvector ]
    pg-other:
      hosts: { 10.10.10.11: { pg_seq: 1, pg_extensions: [ other ] } }
      vars: { pg_packages: [ not-for-this-host ] }
  vars:
    admin_ip: 10.10.10.10
    pg_version: 15
    pg_packages: [ pgsql-main, pgsql-common ]
    pg_extensions: [ from-all ]
"#;

    #[test]
    fn lookup_follows_ansible_precedence_for_the_host() {
        let inv = yaml(INVENTORY);
        let host = "10.10.10.10";
        assert_eq!(
            items(lookup(&inv, host, "pg_extensions").as_ref()),
            ["postgis", "pgvector"],
            "the group's vars beat all's"
        );
        assert_eq!(
            items(lookup(&inv, host, "pg_packages").as_ref()),
            ["pgsql-main", "pgsql-common"],
            "a group the host is not in does not count"
        );
        assert_eq!(
            items(lookup(&inv, "10.10.10.11", "pg_extensions").as_ref()),
            ["other"],
            "host vars beat every group's"
        );
        assert_eq!(lookup(&inv, host, "nothing"), None);
        assert_eq!(
            items(lookup(&inv, "10.9.9.9", "pg_extensions").as_ref()),
            ["from-all"],
            "a host in no group gets all's vars"
        );
    }

    #[test]
    fn lists_are_narrowed_as_pigsty_expands_them_and_every_removal_is_listed() {
        let inv = yaml(INVENTORY);
        let os_vars = yaml(
            r#"
package_map:
  pgsql-main: "postgresql-$v postgresql-$v-pgvector postgresql-$v-repack"
  pgsql-common: "patroni pgbouncer pg-exporter"
  postgis: "postgresql-$v-postgis-3 postgresql-$v-postgis-3-scripts"
  pgvector: "postgresql-$v-pgvector"
  pg_cron: "postgresql-$v-cron"
node_packages_default:
  - bash,python3,etcd
  - zlib1g,node-exporter
repo_upstream_default:
  - { name: pigsty-local, description: 'Pigsty Local', module: local, releases: [12], arch: [x86_64], baseurl: { default: 'http://${admin_ip}/pigsty ./' } }
  - { name: base, description: 'Debian', module: node, releases: [12], arch: [x86_64], baseurl: { default: 'http://x.invalid/debian/ bookworm main' } }
"#,
        );
        let node_defaults = yaml("node_packages: [openssh-server]");
        let pgsql_defaults = yaml("pg_packages: [pgsql-main pgsql-common]\npg_extensions: []");
        let have: BTreeSet<String> = [
            "bash",
            "python3",
            "zlib1g",
            "openssh-server",
            "postgresql-15",
            "postgresql-15-repack",
            "patroni",
            "pgbouncer",
            "postgresql-15-postgis-3",
            "postgresql-15-postgis-3-scripts",
            "postgresql-15-cron",
            "postgresql-15-hypopg",
        ]
        .map(String::from)
        .into();
        let exts = [
            (
                "postgis".to_string(),
                vec!["postgresql-15-postgis-3".to_string()],
            ),
            (
                "pg_cron".to_string(),
                vec!["postgresql-15-cron".to_string()],
            ),
            (
                "hypopg".to_string(),
                vec!["postgresql-15-hypopg".to_string()],
            ),
        ];
        let out = offline_vars(&Inputs {
            inventory: &inv,
            os_vars: &os_vars,
            node_defaults: &node_defaults,
            pgsql_defaults: &pgsql_defaults,
            host: "10.10.10.10",
            have: &have,
            extensions: &exts,
            pg: 15,
            about: "bundle 1 (d12.x86_64, PG 15)".into(),
        });
        let parsed = yaml(&out.text);
        assert_eq!(parsed["node_repo_modules"], yaml("local"));
        assert_eq!(
            items(parsed.get("node_default_packages")),
            ["bash,python3", "zlib1g"],
            "not expanded: names as they are, one item a line"
        );
        assert_eq!(items(parsed.get("node_packages")), ["openssh-server"]);
        assert_eq!(
            items(parsed.get("pg_packages")),
            ["postgresql-15,postgresql-15-repack", "patroni,pgbouncer"],
            "expanded through package_map, an item a line as the inventory has them"
        );
        assert_eq!(
            items(parsed.get("pg_extensions")),
            [
                "postgresql-15-postgis-3,postgresql-15-postgis-3-scripts",
                "postgresql-15-cron",
                "postgresql-15-hypopg"
            ],
            "pgvector out; the bundle's pg_cron by its map entry, hypopg (not in the map) by its package"
        );
        let upstream = parsed["repo_upstream"].as_sequence().unwrap();
        assert_eq!(upstream.len(), 1);
        assert_eq!(
            upstream[0]["baseurl"]["default"],
            yaml("'http://${admin_ip}/pigsty ./'")
        );
        let removed: Vec<String> = out.removed.iter().map(|r| r.to_string()).collect();
        assert_eq!(
            removed,
            [
                "etcd (node_default_packages): not in the bundle",
                "node-exporter (node_default_packages): not in the bundle",
                "postgresql-15-pgvector (pg_packages, from pgsql-main): not in the bundle",
                "pg-exporter (pg_packages, from pgsql-common): not in the bundle",
                "postgresql-15-pgvector (pg_extensions, from pgvector): not in the bundle",
            ]
        );
        for r in &removed {
            assert!(
                out.text.contains(&format!("# removed: {r}\n")),
                "{}",
                out.text
            );
        }
        assert!(out.notes.is_empty());
    }
}
