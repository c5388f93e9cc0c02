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

#[test]
fn matrix_formats_agree() {
    let json = run(&["matrix", "--json"]);
    let format_json = run(&["matrix", "--format", "json"]);
    assert!(format_json.status.success(), "{}", stderr(&format_json));
    assert_eq!(json.stdout, format_json.stdout);
    let human = run(&["matrix"]);
    assert_eq!(human, run(&["matrix", "--format", "human"]));
    let table = String::from_utf8_lossy(&human.stdout);
    assert!(table.contains("96 targets, "), "{table}");
    assert!(table
        .lines()
        .any(|l| l.split_whitespace().collect::<Vec<_>>()[..3] == ["d12", "aarch64", "17"]));
    // A usage error under --json: the envelope on stdout, clap's exit code.
    let o = run(&["matrix", "--json", "--format", "github"]);
    assert_eq!(o.status.code(), Some(2));
    let err: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(err["error"]["kind"], "usage");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot be used with"),
        "{err}"
    );
    let o = run(&["matrix", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("human, json, github"), "{}", stderr(&o));
}

/// `matrix --format github`, parsed as the release workflow's `fromJSON` reads it.
fn github_matrix(beta: bool) -> Vec<serde_json::Value> {
    let mut args = vec!["matrix", "--format", "github"];
    if beta {
        args.push("--beta");
    }
    let o = run(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert_eq!(
        text.lines().count(),
        1,
        "one line for $GITHUB_OUTPUT: {text}"
    );
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj.keys().collect::<Vec<_>>(), ["include"]);
    obj["include"].as_array().unwrap().clone()
}

#[test]
fn matrix_for_github_actions() {
    use std::collections::{BTreeMap, BTreeSet};
    let jobs = github_matrix(false);
    assert_eq!(jobs.len(), 96);
    let mut per_arch: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_os: BTreeMap<&str, usize> = BTreeMap::new();
    let mut names = BTreeSet::new();
    for j in &jobs {
        let (os, arch, pg) = (
            j["os"].as_str().unwrap(),
            j["arch"].as_str().unwrap(),
            j["pg"].as_u64().unwrap(),
        );
        *per_arch.entry(arch).or_default() += 1;
        *per_os.entry(os).or_default() += 1;
        let runner = match arch {
            "x86_64" => "ubuntu-24.04",
            "aarch64" => "ubuntu-24.04-arm",
            other => panic!("arch {other}"),
        };
        assert_eq!(j["runner"], runner, "{j}");
        let family = if os.starts_with("el") { "rpm" } else { "deb" };
        assert_eq!(j["family"], family, "{j}");
        assert!((13..=18).contains(&pg), "{j}");
        assert_eq!(j["beta"], false);
        assert_eq!(j["name"], format!("{os}.{arch}.pg{pg}"));
        assert!(names.insert(j["name"].as_str().unwrap()), "duplicate {j}");
    }
    assert_eq!(per_arch, BTreeMap::from([("aarch64", 48), ("x86_64", 48)]));
    let codes = ["d12", "d13", "el10", "el8", "el9", "u22", "u24", "u26"];
    assert_eq!(per_os, codes.iter().map(|c| (*c, 12)).collect());

    let beta = github_matrix(true);
    assert_eq!(beta.len(), 112);
    let pg19: Vec<_> = beta.iter().filter(|j| j["pg"] == 19).collect();
    assert_eq!(pg19.len(), 16);
    assert!(pg19.iter().all(|j| j["beta"] == true));
    assert!(beta.iter().all(|j| (j["pg"] == 19) == (j["beta"] == true)));
}

/// The release workflow builds what `matrix --format github` lists, with the runners it names,
/// and uses only official actions pinned to a major version.
#[test]
fn release_workflow_follows_the_matrix() {
    use serde_yaml_ng::Value;
    let path = root().join(".github/workflows/release.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let wf: Value = serde_yaml_ng::from_str(&text).unwrap();
    let jobs = &wf["jobs"];
    let tags = &wf["on"]["push"]["tags"];
    assert_eq!(tags[0].as_str(), Some("v*"));

    let run_of = |job: &str| -> String {
        jobs[job]["steps"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|s| s["run"].as_str())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(run_of("matrix").contains("matrix --format github"));
    let bundle = &jobs["bundle"];
    assert_eq!(
        bundle["strategy"]["matrix"].as_str(),
        Some("${{ fromJSON(needs.matrix.outputs.matrix) }}")
    );
    assert_eq!(bundle["runs-on"].as_str(), Some("${{ matrix.runner }}"));
    assert!(run_of("bundle").contains("--sign-key \"$RUNNER_TEMP/pigsty.key\""));
    assert!(run_of("release").contains("sign SHA256SUMS --sign-key"));

    // The tool job builds pigsty-build on each runner the matrix names, for its arch.
    let tool: std::collections::BTreeSet<(String, String)> = jobs["tool"]["strategy"]["matrix"]
        ["include"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["arch"].as_str().unwrap().to_string(),
                e["runner"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let wanted: std::collections::BTreeSet<(String, String)> = github_matrix(false)
        .iter()
        .map(|j| {
            (
                j["arch"].as_str().unwrap().to_string(),
                j["runner"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(tool, wanted);

    for line in text.lines() {
        let line = line.trim().trim_start_matches("- ");
        if let Some(action) = line.strip_prefix("uses: ") {
            let (name, version) = action.split_once('@').unwrap();
            assert!(
                name.starts_with("actions/"),
                "not an official action: {line}"
            );
            assert!(
                version.starts_with('v') && version[1..].parse::<u32>().is_ok(),
                "not pinned to a major version: {line}"
            );
        }
        assert!(
            !line.contains("://"),
            "no host names in the workflow: {line}"
        );
    }
}

/// A keyring in binary form for gpgv, from the armored public key.
fn dearmor(armored: &Path, out: &Path) {
    let o = Command::new("gpg")
        .args(["--batch", "--yes", "--dearmor", "--output"])
        .arg(out)
        .arg(armored)
        .output()
        .expect("run gpg");
    assert!(o.status.success(), "{}", stderr(&o));
}

fn gpgv(dir: &Path, keyring: &Path, sig: &Path, data: &Path) -> Output {
    let home = dir.join("gpgv-home");
    std::fs::create_dir_all(&home).unwrap();
    Command::new("gpgv")
        .env("GNUPGHOME", &home)
        .arg("--keyring")
        .arg(keyring)
        .arg(sig)
        .arg(data)
        .output()
        .expect("run gpgv")
}

#[test]
fn sign_writes_a_signature_gpgv_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let key_dir = dir.path().join("key");
    let o = run(&["key", "gen", "--out", key_dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fpr = String::from_utf8(o.stdout).unwrap().trim().to_string();
    let sums = dir.path().join("SHA256SUMS");
    let other = dir.path().join("pigsty-pkg-1.d12.x86_64.tgz.sha256");
    std::fs::write(&sums, "0123  pigsty-pkg-1.d12.x86_64.tgz\n").unwrap();
    std::fs::write(&other, "0123  pigsty-pkg-1.d12.x86_64.tgz\n").unwrap();
    let key = key_dir.join("pigsty.key");
    let o = run(&[
        "sign",
        sums.to_str().unwrap(),
        other.to_str().unwrap(),
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let sig = dir.path().join("SHA256SUMS.asc");
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        [
            sig.to_str().unwrap().to_string(),
            format!("{}.asc", other.display())
        ]
    );
    assert!(stderr(&o).contains(&fpr), "{}", stderr(&o));
    let text = std::fs::read_to_string(&sig).unwrap();
    assert!(text.starts_with("-----BEGIN PGP SIGNATURE-----"), "{text}");

    let keyring = dir.path().join("pigsty.gpg");
    dearmor(&key_dir.join("pigsty.pub"), &keyring);
    let v = gpgv(dir.path(), &keyring, &sig, &sums);
    assert!(v.status.success(), "{}", stderr(&v));
    assert!(stderr(&v).contains("Good signature"), "{}", stderr(&v));
    let v = gpgv(
        dir.path(),
        &keyring,
        &PathBuf::from(format!("{}.asc", other.display())),
        &other,
    );
    assert!(v.status.success(), "{}", stderr(&v));

    // Altered data, or another key: gpgv refuses.
    std::fs::write(&sums, "0124  pigsty-pkg-1.d12.x86_64.tgz\n").unwrap();
    assert!(!gpgv(dir.path(), &keyring, &sig, &sums).status.success());
    let other_key = dir.path().join("other");
    assert!(run(&["key", "gen", "--out", other_key.to_str().unwrap()])
        .status
        .success());
    let other_ring = dir.path().join("other.gpg");
    dearmor(&other_key.join("pigsty.pub"), &other_ring);
    assert!(!gpgv(dir.path(), &other_ring, &sig, &other).status.success());

    // A missing key or file is named.
    let o = run(&[
        "sign",
        sums.to_str().unwrap(),
        "--sign-key",
        "/nonexistent/k.key",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/k.key"), "{}", stderr(&o));
    let o = run(&[
        "sign",
        "/nonexistent/SUMS",
        "--sign-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("cannot read /nonexistent/SUMS"),
        "{}",
        stderr(&o)
    );
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
        "--no-bootstrap",
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
        "--region",
        "none",
    ]);
    // Listed all the same, the unresolved ones marked, what sets them on stderr.
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("--mirror pigsty=URL"), "{}", stderr(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("UNRESOLVED ${mirror.pigsty}/apt/pgsql/bookworm"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
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
