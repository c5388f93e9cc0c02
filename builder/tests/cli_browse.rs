//! The `pigsty-build` binary: `ext list/info/search`, mirrors (every missing one in one
//! error, `--region` presets from Pigsty's source), typo suggestions, wrapped `plan` lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs with a HOME of its own and no `$PIGSTY_HOME`: no Pigsty source but the one a test gives.
fn run_in(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pigsty-build"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("PIGSTY_HOME")
        .env("HOME", home)
        .output()
        .expect("run pigsty-build")
}

fn run(args: &[&str]) -> Output {
    let home = tempfile::tempdir().unwrap();
    run_in(home.path(), args)
}

/// Pigsty's real source tarball, from the reference data (`PIGSTY_REFERENCE` or
/// `../shared/reference`): the region presets come from its repo lists.
fn pigsty_tgz() -> PathBuf {
    let dir = std::env::var_os("PIGSTY_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/reference"));
    let tgz = dir.join("pigsty-src.tgz");
    assert!(
        tgz.is_file(),
        "Pigsty's source {} is missing: set PIGSTY_REFERENCE to the reference data",
        tgz.display()
    );
    tgz
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

#[test]
fn ext_list_by_category_and_on_a_target() {
    let o = run(&["ext", "list", "--category", "gis"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.lines().any(|l| l.starts_with("postgis ")), "{text}");
    assert!(!text.contains("pgvector"), "{text}");

    let o = run(&["ext", "list", "--category", "GIS", "--json"]);
    let rows = json(&o);
    let rows = rows.as_array().unwrap();
    assert!(rows.len() > 5);
    assert!(rows.iter().all(|r| r["category"] == "GIS"));

    // On a target: each extension's package there, those it cannot serve marked.
    let o = run(&["ext", "list", "--os", "el9", "--pg", "17", "--json"]);
    let rows = json(&o);
    let vector = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "vector")
        .unwrap();
    assert_eq!(vector["target_package"], "pgvector_17");
    let o = run(&["ext", "list", "--os", "d12", "--pg", "17"]);
    assert!(
        stdout(&o).contains("postgresql-17-pgvector"),
        "{}",
        stdout(&o)
    );
    // A deb-only extension has no rpm package: marked on el9, with the reason.
    let el = json(&run(&[
        "ext", "list", "--os", "el9", "--pg", "17", "--json",
    ]));
    assert!(el.as_array().unwrap().iter().any(|r| r["unavailable"]
        .as_str()
        .is_some_and(|m| m.contains("no rpm package"))));

    let o = run(&["ext", "list", "--category", "nosuch"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("categories: "), "{}", stderr(&o));
}

#[test]
fn ext_info_by_name_or_package_key() {
    let o = run(&["ext", "info", "pgvector"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.starts_with("vector "), "{text}");
    assert!(text.contains("pgvector_$v") && text.contains("postgresql-$v-pgvector"));
    assert!(text.contains("el9.x86_64"), "{text}");

    let o = run(&["ext", "info", "postgis_raster", "--json"]);
    let i = json(&o);
    assert_eq!(i["name"], "postgis_raster");
    assert!(i["requires"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "postgis"));
    // One cell per OS x arch x supported PG major.
    assert_eq!(i["targets"].as_array().unwrap().len(), 8 * 2 * 6);
    let cell = i["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["os"] == "d12" && c["arch"] == "x86_64" && c["pg"] == 17)
        .unwrap();
    assert!(cell["package"].as_str().unwrap().contains("17"), "{cell}");

    let o = run(&["ext", "info", "pgvectr"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("`vector`"), "{}", stderr(&o));
}

#[test]
fn ext_search_matches_names_keys_and_package_names() {
    let o = run(&["ext", "search", "vector", "--json"]);
    let rows = json(&o);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows[0]["name"], "vector", "exact name first");
    assert!(rows.iter().any(|r| r["name"] == "vectorscale"));
    // By a package name only: Debian's name of pgvector.
    let rows = json(&run(&["ext", "search", "postgresql-$v-pgvector", "--json"]));
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["name"] == "vector"));
    let o = run(&["ext", "search", "VECTOR"]);
    assert!(stdout(&o).contains("extensions match"), "{}", stdout(&o));
    let o = run(&["ext", "search", "zzzqqqxxx", "--json"]);
    assert_eq!(json(&o), serde_json::json!([]));
}

#[test]
fn region_default_resolves_every_repo_of_the_default_modules() {
    // No flag at all, no network: Pigsty's source where its installer puts it (~/pigsty; only
    // its repo lists are unpacked here) gives every upstream of the default modules.
    let home = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(pigsty_tgz())
        .arg("-C")
        .arg(home.path())
        .arg("pigsty/roles/node_id/vars")
        .status()
        .unwrap();
    assert!(status.success());
    // The issue's own line first (this host's arch), then el8 on aarch64.
    for (args, modules) in [
        (
            vec!["repos", "--os", "el9", "--pg", "17", "--json"],
            "infra,node,pgsql",
        ),
        (
            vec!["repos", "--os", "el8", "--arch", "aarch64", "--json"],
            "infra,node,pgsql",
        ),
    ] {
        let o = run_in(home.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows = json(&o);
        let rows = rows.as_array().unwrap();
        let default: Vec<_> = rows
            .iter()
            .filter(|r| modules.contains(r["module"].as_str().unwrap()))
            .collect();
        assert!(default.len() >= 10, "{rows:?}");
        for r in default {
            let url = r["url"]
                .as_str()
                .unwrap_or_else(|| panic!("unresolved: {r}"));
            assert!(
                url.starts_with("https://") || url.starts_with("http://"),
                "{r}"
            );
            assert!(!url.contains('$'), "{r}");
        }
        assert!(stderr(&o).is_empty(), "{}", stderr(&o));
    }
    // $PIGSTY_HOME is looked at before ~/pigsty.
    let other = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-build"))
        .args(["repos", "--os", "el9", "--pg", "17", "--json"])
        .env("HOME", other.path())
        .env("PIGSTY_HOME", home.path().join("pigsty"))
        .output()
        .unwrap();
    let rows = json(&o);
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["url"].is_string()));

    // The other regions differ from default where Pigsty's lists have a mirror, and keep the
    // default elsewhere; the tarball itself is read just as well.
    let tgz = pigsty_tgz();
    let tgz = tgz.to_str().unwrap();
    let url = |region: &str, repo: &str| {
        let rows = json(&run(&[
            "repos", "--os", "el9", "--arch", "x86_64", "--region", region, "--pigsty", tgz,
            "--json",
        ]));
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == repo)
            .unwrap()["url"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_ne!(url("default", "pgdg17"), url("china", "pgdg17"));
    assert_ne!(url("default", "baseos"), url("europe", "baseos"));
    assert_eq!(url("default", "groonga"), url("europe", "groonga"));
    assert!(url("china", "pgdg17").ends_with("/yum/17/redhat/rhel-9-x86_64"));
    // A flag beats the region.
    let rows = json(&run(&[
        "repos",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--region",
        "china",
        "--pigsty",
        tgz,
        "--mirror",
        "pgdg=http://pg.invalid",
        "--json",
    ]));
    let pg = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pgdg17")
        .unwrap();
    assert_eq!(pg["url"], "http://pg.invalid/yum/17/redhat/rhel-9-x86_64");

    let o = run(&["repos", "--os", "el9", "--region", "mars"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("default, china, europe or none"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn without_pigsty_source_no_presets_and_the_error_says_where_to_get_them() {
    let o = run(&[
        "repos",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--modules",
        "pgsql",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows = json(&o);
    let pg = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "pgdg17")
        .unwrap();
    assert!(pg["url"].is_null(), "{pg}");
    assert!(stderr(&o).contains("--pigsty DIR|TGZ"), "{}", stderr(&o));
    // A --pigsty that is no Pigsty source is an error naming it, even for `repos`.
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "repos",
        "--os",
        "el9",
        "--pigsty",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains("is not Pigsty's source") && err.contains(dir.path().to_str().unwrap()),
        "{err}"
    );
    let o = run(&[
        "repos",
        "--os",
        "el9",
        "--pigsty",
        "/nonexistent/pigsty.tgz",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/pigsty.tgz"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn ubuntu_mirrors_are_settings_not_presets() {
    // This host is no Ubuntu: its base mirrors are unset, listed and marked, not guessed.
    if std::fs::read_to_string("/etc/os-release").is_ok_and(|t| t.contains("ID=ubuntu")) {
        eprintln!("an Ubuntu host reads its own mirrors: nothing to check here");
        return;
    }
    let o = run(&[
        "repos",
        "--os",
        "u24",
        "--arch",
        "x86_64",
        "--modules",
        "node",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for r in json(&o).as_array().unwrap() {
        assert!(r["url"].is_null(), "{r}");
        assert_eq!(r["unset"], serde_json::json!(["ubuntu"]));
    }
    assert!(stderr(&o).contains("--mirror ubuntu=URL"), "{}", stderr(&o));
}

#[test]
fn every_missing_mirror_in_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let o = run(&["key", "gen", "--out", keys.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "--os",
        "u24",
        "--arch",
        "aarch64",
        "--pg",
        "17",
        "--region",
        "none",
        "--modules",
        "infra,node,pgsql",
        "--sign-key",
        keys.join("pigsty.key").to_str().unwrap(),
        "--out",
        dir.path().join("out").to_str().unwrap(),
        "--cache",
        dir.path().join("cache").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    // One run names them all, each with what sets it.
    for m in ["pigsty", "docker-ce", "ubuntu-ports", "pgdg"] {
        assert!(err.contains(&format!("--mirror {m}=URL")), "{m}: {err}");
    }
    assert!(err.contains("needs 4 mirrors"), "{err}");
    assert!(!dir.path().join("out").exists(), "nothing written");
}

#[test]
fn typos_get_suggestions() {
    let o = run(&[
        "plan", "--os", "el9", "--arch", "x86_64", "--ext", "pgvectr",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("did you mean `vector`"),
        "{}",
        stderr(&o)
    );

    let o = run(&[
        "plan",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--packages",
        "pgsql-mni",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let notes = json(&o)["notes"].to_string();
    assert!(notes.contains("pgsql-mini"), "{notes}");
    let o = run(&[
        "plan",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--packages",
        "pgsql-mni",
    ]);
    assert!(
        stdout(&o).contains("the alias `pgsql-mini`"),
        "{}",
        stdout(&o)
    );
    // A real alias or a known package gets no note.
    let o = run(&[
        "plan",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--packages",
        "pgsql-mini",
        "--json",
    ]);
    assert!(json(&o).get("notes").is_none(), "{}", stdout(&o));
}

#[test]
fn plan_all_wraps_to_80_columns_and_says_each_reason_once() {
    let o = run(&[
        "plan", "--os", "el9", "--arch", "x86_64", "--pg", "17", "--ext", "all",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    // stdout is a pipe here: 80 columns.
    let widest = text.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 80, "{widest}");
    assert!(text.lines().count() > 100);
    for line in text.lines() {
        let kinds = line.matches("deps of").count();
        assert!(kinds <= 1, "reason repeated: {line}");
    }
}

#[test]
fn verbose_logs_say_where_each_mirror_comes_from() {
    let o = run(&[
        "-v",
        "repos",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--modules",
        "node",
        "--pigsty",
        pigsty_tgz().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.contains("mirror=el ") && l.contains("from=--region preset")),
        "{err}"
    );
    let flag = run(&[
        "-v",
        "repos",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--modules",
        "node",
        "--mirror",
        "el=http://el.invalid",
    ]);
    assert!(stderr(&flag).contains("from=--mirror"), "{}", stderr(&flag));
    // Without -v: no logs.
    let o = run(&[
        "repos",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--modules",
        "node",
        "--pigsty",
        pigsty_tgz().to_str().unwrap(),
    ]);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}
