//! Reads a catalog in the upstream 41-column CSV format (Pigsty's `extension.csv`), so that a
//! user can take a newer upstream catalog without a new release of this tool.
//!
//! Only facts are taken: descriptions and comments are ignored. When the `extra` JSON column
//! holds a `matrix`, it becomes the extension's [`Availability`].

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Availability, CatalogError, Extension, FamilyPackage, State};

/// The columns this reader needs; the format has 41, the rest are descriptive.
const NEEDED: &[&str] = &[
    "id", "name", "pkg", "lead_ext", "category", "license", "version", "repo", "contrib", "lead",
    "pg_ver", "requires", "rpm_ver", "rpm_repo", "rpm_pkg", "rpm_pg", "rpm_deps", "deb_ver",
    "deb_repo", "deb_pkg", "deb_deps", "deb_pg", "extra",
];

/// Parses the text of an upstream catalog CSV.
pub fn parse(text: &str, path: &str) -> Result<Vec<Extension>, CatalogError> {
    let err = |reason: String| CatalogError::Parse {
        path: path.to_string(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
    let mut index = BTreeMap::new();
    for (i, h) in headers.iter().enumerate() {
        index.insert(h.trim().to_string(), i);
    }
    let missing: Vec<&str> = NEEDED
        .iter()
        .copied()
        .filter(|c| !index.contains_key(*c))
        .collect();
    if !missing.is_empty() {
        return Err(err(format!(
            "not an extension catalog CSV: missing column(s) {}",
            missing.join(", ")
        )));
    }
    let mut out = Vec::new();
    for (row_no, record) in reader.records().enumerate() {
        let line = row_no + 2;
        let record = record.map_err(|e| err(format!("line {line}: {e}")))?;
        let col = |name: &str| record.get(index[name]).unwrap_or("").trim().to_string();
        let row_err = |what: String| err(format!("line {line} ({}): {what}", col("name")));
        let id = col("id")
            .parse::<u32>()
            .map_err(|_| row_err(format!("bad id `{}`", col("id"))))?;
        let extra: Value = match col("extra").as_str() {
            "" => Value::Null,
            s => serde_json::from_str(s).map_err(|e| row_err(format!("bad extra JSON: {e}")))?,
        };
        let family = |prefix: &str| -> Result<FamilyPackage, CatalogError> {
            Ok(FamilyPackage {
                package: col(&format!("{prefix}_pkg")),
                origin: col(&format!("{prefix}_repo")),
                version: col(&format!("{prefix}_ver")),
                pg: parse_majors(&col(&format!("{prefix}_pg"))).map_err(row_err)?,
                deps: parse_array(&col(&format!("{prefix}_deps"))),
            })
        };
        let os_exclude = extra
            .get("os_exclude")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let kernel = extra
            .get("kernel")
            .and_then(Value::as_str)
            .map(str::to_string);
        let availability = match extra.get("matrix").and_then(Value::as_array) {
            Some(cells) if !cells.is_empty() => Some(parse_matrix(cells).map_err(row_err)?),
            _ => None,
        };
        out.push(Extension {
            id,
            name: col("name"),
            package: col("pkg"),
            lead: parse_bool(&col("lead")),
            lead_extension: col("lead_ext"),
            category: col("category"),
            license: col("license"),
            version: col("version"),
            origin: col("repo"),
            contrib: parse_bool(&col("contrib")),
            pg: parse_majors(&col("pg_ver")).map_err(row_err)?,
            requires: parse_array(&col("requires")),
            rpm: family("rpm")?,
            deb: family("deb")?,
            os_exclude,
            kernel,
            availability,
        });
    }
    Ok(out)
}

fn parse_bool(s: &str) -> bool {
    matches!(s, "t" | "true" | "T" | "1")
}

/// `{a,b,c}` (a PostgreSQL array literal) to its items.
pub(crate) fn parse_array(s: &str) -> Vec<String> {
    let inner = s.trim().trim_start_matches('{').trim_end_matches('}');
    inner
        .split(',')
        .map(|x| x.trim().trim_matches('"').to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// `{18,17,16}` to majors, highest first.
fn parse_majors(s: &str) -> Result<Vec<u32>, String> {
    let mut v = parse_array(s)
        .iter()
        .map(|x| {
            x.parse::<u32>()
                .map_err(|_| format!("bad PG major `{x}` in `{s}`"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    v.sort_unstable_by(|a, b| b.cmp(a));
    v.dedup();
    Ok(v)
}

/// Matrix cells `OSARCH:PG:STATE:HIDE:COUNT:ORG:VER`, OSARCH = os code + `i` or `a`.
fn parse_matrix(cells: &[Value]) -> Result<Availability, String> {
    let mut avail = Availability::default();
    for cell in cells {
        let s = cell
            .as_str()
            .ok_or_else(|| format!("matrix cell is not a string: {cell}"))?;
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() < 3 {
            return Err(format!("bad matrix cell `{s}`"));
        }
        let os_arch = matrix_os_arch(parts[0]).ok_or_else(|| format!("bad matrix cell `{s}`"))?;
        let pg = parts[1]
            .parse::<u32>()
            .map_err(|_| format!("bad matrix cell `{s}`"))?;
        let state = State::from_letter(parts[2])
            .ok_or_else(|| format!("bad state in matrix cell `{s}`"))?;
        if state != State::Available {
            avail.unavailable.insert((os_arch, pg), state);
        }
    }
    Ok(avail)
}

/// `el9i` to `el9.x86_64`, `d12a` to `d12.aarch64`.
pub(crate) fn matrix_os_arch(key: &str) -> Option<String> {
    let (os, letter) = key.split_at(key.len().checked_sub(1)?);
    let arch = match letter {
        "i" => "x86_64",
        "a" => "aarch64",
        _ => return None,
    };
    os.parse::<pigsty_bundle::Os>().ok()?;
    Some(format!("{os}.{arch}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "id,name,pkg,lead_ext,category,state,url,license,tags,version,repo,lang,contrib,lead,has_bin,has_lib,need_ddl,need_load,trusted,relocatable,schemas,pg_ver,requires,require_by,see_also,rpm_ver,rpm_repo,rpm_pkg,rpm_pg,rpm_deps,deb_ver,deb_repo,deb_pkg,deb_deps,deb_pg,source,extra,en_desc,zh_desc,comment,mtime";

    #[test]
    fn parses_a_row() {
        let row = r#"2000,demo,demo,demo,FEAT,available,,MIT,,1.0,PIGSTY,C,f,t,f,t,t,f,f,f,,"{17,18}","{plpgsql,pg_cron}",,,1.0,PIGSTY,demo_$v,"{18,17}","{pg_cron_$v}",1.1,PIGSTY,postgresql-$v-demo,"{postgresql-$v-cron}","{18}",,"{""os_exclude"": [""el8.aarch64""], ""matrix"": [""el9i:17:A:f:1:P:1.0"", ""el9a:17:M:f:0::""]}",desc,描述,,2026-01-01"#;
        let text = format!("{HEADER}\n{row}\n");
        let exts = parse(&text, "t.csv").unwrap();
        let e = &exts[0];
        assert_eq!(e.name, "demo");
        assert_eq!(e.pg, vec![18, 17]);
        assert_eq!(e.requires, vec!["plpgsql", "pg_cron"]);
        assert_eq!(e.rpm.package, "demo_$v");
        assert_eq!(e.rpm.deps, vec!["pg_cron_$v"]);
        assert_eq!(e.deb.pg, vec![18]);
        assert_eq!(e.os_exclude, vec!["el8.aarch64"]);
        let a = e.availability.as_ref().unwrap();
        assert_eq!(a.state("el9.aarch64", 17), State::Missing);
        assert_eq!(a.state("el9.x86_64", 17), State::Available);
    }

    #[test]
    fn refuses_other_csv() {
        let err = parse("a,b\n1,2\n", "x.csv").unwrap_err().to_string();
        assert!(
            err.contains("x.csv") && err.contains("missing column"),
            "{err}"
        );
    }
}
