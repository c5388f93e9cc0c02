//! The `pigsty-build` command line: refusals, exit codes, JSON output and golden plans.
//!
//! Golden plans live in `tests/golden/`; after a reviewed change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test -p pigsty-build --test cli`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pigsty-build"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("run pigsty-build")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn refuses_unsupported_targets_with_the_supported_list() {
    let o = run(&["plan", "--os", "el7", "--arch", "x86_64"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o)
            .contains("unsupported OS `el7`; supported: el8, el9, el10, d12, d13, u22, u24, u26"),
        "{}",
        stderr(&o)
    );

    let o = run(&["plan", "--os", "el9", "--arch", "x86_64", "--pg", "12"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unsupported PostgreSQL major 12; supported: 13, 14, 15, 16, 17, 18"),
        "{}",
        stderr(&o)
    );

    let o = run(&["plan", "--os", "el9", "--arch", "riscv64"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("riscv64") && stderr(&o).contains("x86_64 (amd64), aarch64 (arm64)")
    );

    let o = run(&["plan", "--os", "el9", "--arch", "x86_64", "--pg", "19"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("pass --beta"), "{}", stderr(&o));
    let o = run(&[
        "plan",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--pg",
        "19",
        "--beta",
        "--packages",
        "pgsql-mini",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "postgresql19-server"));
}

#[test]
fn accepts_debian_arch_names() {
    let o = run(&[
        "plan",
        "--os",
        "d12",
        "--arch",
        "arm64",
        "--pg",
        "15",
        "--packages",
        "pgsql-mini",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(plan["target"]["arch"], "aarch64");
}

#[test]
fn unknown_extension_is_an_error_with_a_suggestion() {
    let o = run(&[
        "plan", "--os", "d12", "--arch", "x86_64", "--ext", "pg_cronn",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("unknown extension `pg_cronn`; did you mean `pg_cron`?"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn human_output_groups_by_module_and_lists_unavailable() {
    let o = run(&[
        "plan",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--pg",
        "17",
        "--ext",
        "postgis,pg_strom",
        "--packages",
        "pgsql-mini,node-bootstrap",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("[pgsql]") && out.contains("[node]"), "{out}");
    assert!(
        out.contains("postgresql-17-postgis-3") && out.contains("ext postgis"),
        "{out}"
    );
    assert!(
        out.contains("pg_strom") && out.contains("no deb package"),
        "{out}"
    );
}

fn golden(name: &str, args: &[&str]) {
    let o = run(args);
    assert!(o.status.success(), "{}", stderr(&o));
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &o.stdout).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let got = String::from_utf8_lossy(&o.stdout);
    assert!(
        want == got,
        "plan differs from {} (UPDATE_GOLDEN=1 to accept after review)",
        path.display()
    );
}

const GOLDEN_EXT: &str = "postgis,pgrouting,timescaledb,pg_duckdb,vector,citus,pg_cron,pg_partman,timeseries,pg_strom,orioledb,debversion";

#[test]
fn golden_plan_el9_17() {
    golden(
        "plan-el9-17.json",
        &[
            "plan", "--os", "el9", "--arch", "x86_64", "--pg", "17", "--ext", GOLDEN_EXT, "--json",
        ],
    );
}

#[test]
fn golden_plan_d12_15() {
    golden(
        "plan-d12-15.json",
        &[
            "plan", "--os", "d12", "--arch", "x86_64", "--pg", "15", "--ext", GOLDEN_EXT, "--json",
        ],
    );
}

#[test]
fn golden_plan_u24_18() {
    golden(
        "plan-u24-18.json",
        &[
            "plan", "--os", "u24", "--arch", "x86_64", "--pg", "18", "--ext", GOLDEN_EXT, "--json",
        ],
    );
}

#[test]
fn matrix_lists_every_target() {
    let o = run(&["matrix", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 96);
    assert!(rows.iter().all(|r| r["extensions"].as_u64().is_some()));
    let o = run(&["matrix", "--json", "--beta"]);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rows.len(), 112);
}

fn reference_csv() -> Option<PathBuf> {
    let p = root().join("../shared/reference/extension-newest.csv");
    p.exists().then_some(p)
}

#[test]
fn catalog_diff_exit_codes() {
    let Some(csv) = reference_csv() else {
        eprintln!("reference CSV not found: skipped");
        return;
    };
    let o = run(&["catalog", "diff", csv.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // change one fact (postgis' rpm package) and drop one extension: both reported, exit 1
    let text = std::fs::read_to_string(&csv).unwrap();
    let changed = text.replacen("postgis36_$v", "postgis37_$v", 1);
    let changed: String = changed
        .lines()
        .filter(|l| !l.contains(",hypopg,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("changed.csv");
    std::fs::write(&path, changed).unwrap();
    let o = run(&["catalog", "diff", path.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let diffs: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        diffs.iter().any(|d| d["extension"] == "postgis"
            && d["fact"] == "rpm package"
            && d["theirs"] == "postgis37_$v"),
        "{diffs:?}"
    );
    assert!(
        diffs
            .iter()
            .any(|d| d["extension"] == "hypopg" && d["fact"] == "extension"),
        "{diffs:?}"
    );
}

#[test]
fn catalog_from_csv_replaces_the_builtin_one() {
    let Some(csv) = reference_csv() else { return };
    let text = std::fs::read_to_string(&csv).unwrap();
    let changed = text.replacen("postgis36_$v", "postgis37_$v", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.csv");
    std::fs::write(&path, changed).unwrap();
    let o = run(&[
        "plan",
        "--os",
        "el9",
        "--arch",
        "x86_64",
        "--pg",
        "17",
        "--ext",
        "postgis",
        "--packages",
        "none",
        "--json",
        "--catalog",
        path.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = plan["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["postgis37_17"]);
}

#[test]
fn catalog_import_writes_what_is_built_in() {
    let Some(csv) = reference_csv() else { return };
    let avail = root().join("../shared/reference/pig/extension.csv");
    let dir = tempfile::tempdir().unwrap();
    let o = run(&[
        "catalog",
        "import",
        csv.to_str().unwrap(),
        "--availability",
        avail.to_str().unwrap(),
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for entry in std::fs::read_dir(root().join("extensions")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let name = p.file_name().unwrap();
            assert_eq!(
                std::fs::read_to_string(&p).unwrap(),
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                "{} differs from a fresh import",
                Path::new(name).display()
            );
        }
    }
}

#[test]
fn repos_need_mirrors_and_say_which_flag() {
    let o = run(&[
        "repos",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--modules",
        "pgsql",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--mirror pigsty=URL"), "{}", stderr(&o));
    let o = run(&[
        "repos",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--modules",
        "pgsql",
        "--mirror",
        "pigsty=http://a.invalid,pgdg=http://b.invalid/pg",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).unwrap();
    let pgdg = rows.iter().find(|r| r["name"] == "pgdg").unwrap();
    assert_eq!(pgdg["url"], "http://b.invalid/pg/apt/ bookworm-pgdg main");
    let o = run(&[
        "repos",
        "--os",
        "d12",
        "--arch",
        "x86_64",
        "--modules",
        "nosuch",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no repo module `nosuch`"),
        "{}",
        stderr(&o)
    );
}
