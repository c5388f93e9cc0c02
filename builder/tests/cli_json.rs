//! The `pigsty-build` binary's output contract: under `--json` every subcommand prints one
//! JSON document on stdout, its errors included (`{"error": {"kind", "message", "causes"}}`,
//! exit 1, usage errors exit 2); completions for every shell and a man page per subcommand.

use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pigsty-build"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run pigsty-build")
}

/// Every visible subcommand, nested ones as `parent-child` (the man page names).
const SUBCOMMANDS: &[&str] = &[
    "build",
    "key",
    "key-gen",
    "verify",
    "plan",
    "matrix",
    "sign",
    "catalog",
    "catalog-diff",
    "catalog-import",
    "repos",
    "ext",
    "ext-list",
    "ext-info",
    "ext-search",
    "completions",
];

/// The one JSON document of a run (panics naming the command if stdout is not one).
fn doc(args: &[&str], o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?}: stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}

fn ok(args: &[&str]) -> serde_json::Value {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v = doc(args, &o);
    assert!(v.get("error").is_none(), "{args:?}: {v}");
    v
}

fn err(args: &[&str], code: i32, kind: &str, says: &str) {
    let o = run(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}");
    let v = doc(args, &o);
    assert_eq!(v["error"]["kind"], kind, "{args:?}: {v}");
    assert!(v["error"]["causes"].is_array(), "{args:?}: {v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains(says),
        "{args:?}: {v}"
    );
    assert!(
        o.stderr.is_empty(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn every_json_output_parses_errors_included() {
    let dir = tempfile::tempdir().unwrap();
    let d = |p: &str| dir.path().join(p).to_str().unwrap().to_string();
    let (keys, file) = (d("keys"), d("SHA256SUMS"));
    std::fs::write(&file, "x  y\n").unwrap();

    // build (the default command and `build`)
    err(
        &["--os", "el9", "--arch", "x86_64", "--json"],
        1,
        "other",
        "--sign-key",
    );
    err(
        &[
            "build",
            "--os",
            "el9",
            "--arch",
            "x86_64",
            "--ext",
            "pgvectr",
            "--json",
            "--sign-key",
            "k",
        ],
        1,
        "other",
        "pgvectr",
    );
    // key gen
    let k = ok(&["key", "gen", "--out", &keys, "--json"]);
    assert_eq!(k["fingerprint"].as_str().unwrap().len(), 40);
    err(
        &["key", "gen", "--out", &keys, "--json"],
        1,
        "other",
        "refusing to overwrite",
    );
    let secret = format!("{keys}/pigsty.key");
    // sign
    let s = ok(&["sign", &file, "--sign-key", &secret, "--json"]);
    assert!(Path::new(s["signatures"][0].as_str().unwrap()).exists());
    err(
        &["sign", &d("nosuch"), "--sign-key", &secret, "--json"],
        1,
        "io",
        "nosuch",
    );
    // verify
    err(
        &[
            "verify",
            &d("nosuch.tgz"),
            "--key",
            &format!("{keys}/pigsty.pub"),
            "--json",
        ],
        1,
        "io",
        "nosuch.tgz",
    );
    // plan
    let p = ok(&[
        "plan", "--os", "el9", "--arch", "x86_64", "--ext", "vector", "--json",
    ]);
    assert_eq!(p["schema"], 1);
    err(
        &["plan", "--os", "el7", "--json"],
        1,
        "other",
        "unsupported OS",
    );
    // matrix
    assert!(ok(&["matrix", "--json"]).as_array().unwrap().len() > 90);
    err(
        &["matrix", "--json", "--format", "github"],
        2,
        "usage",
        "cannot be used with",
    );
    // catalog
    err(
        &["catalog", "diff", &d("nosuch.csv"), "--json"],
        1,
        "io",
        "nosuch.csv",
    );
    err(
        &[
            "catalog",
            "import",
            &d("nosuch.csv"),
            "--out",
            &d("ext"),
            "--json",
        ],
        1,
        "io",
        "nosuch.csv",
    );
    // repos
    assert!(ok(&["repos", "--os", "d12", "--arch", "x86_64", "--json"]).is_array());
    err(
        &["repos", "--os", "d12", "--modules", "nosuch", "--json"],
        1,
        "other",
        "nosuch",
    );
    // ext
    assert!(ok(&["ext", "list", "--json"]).is_array());
    assert_eq!(ok(&["ext", "info", "vector", "--json"])["name"], "vector");
    assert!(ok(&["ext", "search", "gis", "--json"]).is_array());
    err(&["ext", "info", "nosuch", "--json"], 1, "other", "nosuch");
    err(
        &["ext", "list", "--category", "nosuch", "--json"],
        1,
        "other",
        "nosuch",
    );
    // usage errors of every subcommand, under --json
    for args in [
        vec!["--nosuch", "--json"],
        vec!["plan", "--nosuch", "--json"],
        vec!["repos", "--json", "--region"],
        vec!["ext", "info", "--json"],
        vec!["key", "gen", "--json"],
        vec!["verify", "--json"],
        vec!["sign", "--json"],
        vec!["catalog", "diff", "--json"],
    ] {
        err(&args, 2, "usage", "");
    }
    // Without --json an error is a line on stderr, same exit code, nothing on stdout.
    let o = run(&["plan", "--os", "el7"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("error: unsupported OS"));
}

#[test]
fn completions_for_every_shell_know_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&o.stdout);
        for sub in SUBCOMMANDS.iter().filter(|s| !s.contains('-')) {
            assert!(text.contains(sub), "{shell} lacks {sub}");
        }
        // Fish writes `-l region`, the others `--region`.
        for flag in ["region", "sign-key", "category"] {
            assert!(text.contains(flag), "{shell} lacks {flag}");
        }
    }
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_man_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", dir.path().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let page = |name: &str| {
        let p = dir.path().join(format!("{name}.1"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let top = page("pigsty-build");
    assert!(top.contains(".TH") && top.contains("region"), "{top}");
    for sub in SUBCOMMANDS {
        let text = page(&format!("pigsty-build-{sub}"));
        assert!(text.contains(".TH"), "{sub}");
    }
    assert!(page("pigsty-build-ext-list").contains("category"));
    assert!(page("pigsty-build-key-gen").contains("never overwritten"));
}

#[test]
fn help_has_examples_and_one_target_where_one_is_taken() {
    let top = String::from_utf8_lossy(&run(&["--help"]).stdout).to_string();
    assert!(
        top.contains("Examples:") && top.contains("--region china"),
        "{top}"
    );
    for sub in [["plan"], ["repos"]] {
        let help = String::from_utf8_lossy(&run(&[sub[0], "--help"]).stdout).to_string();
        assert!(help.contains("Examples:"), "{help}");
        assert!(!help.contains("several"), "{}: {help}", sub[0]);
        assert!(!help.contains("comma-separated: el8"), "{help}");
    }
    let build = String::from_utf8_lossy(&run(&["build", "--help"]).stdout).to_string();
    assert!(build.contains("OS codes, comma-separated"), "{build}");
}
