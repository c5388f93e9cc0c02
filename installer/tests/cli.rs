//! The command line of the real `pigsty-install` binary: completions and man pages for each
//! subcommand, one JSON document on stdout under `--json` for every command (errors included,
//! with the exit codes of the plain-text path), the `install` alias, help texts and examples,
//! `status` times in RFC 3339, "run as root", and a dry run that fails on a read-only node.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pigsty_bundle::archive::{self, BundleFormat};
use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};
use sha2::{Digest, Sha256};

const SUBCOMMANDS: [&str; 7] = [
    "install",
    "verify",
    "status",
    "rollback",
    "restore-repos",
    "serve",
    "completions",
];

struct Case {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    /// A Debian 12 node root with an apt configuration.
    root: PathBuf,
    /// The key the bundle is signed with (armored public key file).
    pubkey: PathBuf,
    /// Another key: a bad signature for the bundle.
    otherkey: PathBuf,
    bundle: PathBuf,
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

const DEB: &[u8] = b"!<arch>\nnot a real deb, but the installer only checks hashes here\n";

fn case() -> Case {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )
    .unwrap();
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let pubkey = dir.path().join("pigsty.pub");
    std::fs::write(&pubkey, key.public().to_armored().unwrap()).unwrap();
    let other = SecretKey::generate("Other <o@example.invalid>").unwrap();
    let otherkey = dir.path().join("other.pub");
    std::fs::write(&otherkey, other.public().to_armored().unwrap()).unwrap();

    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("foo_1.0_amd64.deb"), DEB).unwrap();
    let m = Manifest {
        schema: SCHEMA,
        target: Target::new(Os::D12, Arch::X86_64, 15),
        version: "test".into(),
        builder: "test".into(),
        catalog: "test".into(),
        created: 1_700_000_000,
        files: vec![FileEntry {
            path: "foo_1.0_amd64.deb".into(),
            size: DEB.len() as u64,
            sha256: sha(DEB),
        }],
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: "foo_1.0_amd64.deb".into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: None,
        family: Os::D12.family(),
        package_keys: Vec::new(),
        base: None,
    };
    let json = m.to_json().unwrap();
    let extra = vec![
        (MANIFEST_NAME.to_string(), json.clone().into_bytes()),
        (
            SIGNATURE_NAME.to_string(),
            key.sign_detached(json.as_bytes()).unwrap().into_bytes(),
        ),
    ];
    let bundle = dir.path().join("bundle.tgz");
    archive::write_bundle(&src, &bundle, BundleFormat::Tgz, 1_700_000_000, &extra).unwrap();
    Case {
        dir: dir.path().to_path_buf(),
        _dir: dir,
        root,
        pubkey,
        otherkey,
        bundle,
    }
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// stdout as exactly one JSON document (serde_json refuses trailing data).
fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", text(o)))
}

/// A failure under --json: one JSON envelope on stdout with this kind and exit code, the
/// message naming `names`; and the same command without --json fails with the same code.
fn envelope(args: &[&str], kind: &str, code: i32, names: &str) -> serde_json::Value {
    let mut with = args.to_vec();
    with.push("--json");
    let o = run(&with);
    assert_eq!(o.status.code(), Some(code), "{with:?}: {}", text(&o));
    let v = json(&o);
    let e = &v["error"];
    assert_eq!(e["kind"], kind, "{with:?}: {v}");
    assert!(e["causes"].is_array(), "{with:?}: {v}");
    let all = format!("{} {}", e["message"], e["causes"]);
    assert!(all.contains(names), "{with:?}: `{names}` not in {v}");
    let plain = run(args);
    assert_eq!(
        plain.status.code(),
        Some(code),
        "{args:?} without --json: {}",
        text(&plain)
    );
    assert!(plain.stdout.is_empty(), "{args:?}: {}", text(&plain));
    assert!(
        String::from_utf8_lossy(&plain.stderr).contains(names),
        "{args:?}: {}",
        text(&plain)
    );
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn completions_for_each_shell_name_every_subcommand() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", text(&o));
        let script = String::from_utf8(o.stdout).unwrap();
        assert!(script.len() > 500, "{shell}: too short:\n{script}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell}: no `{sub}` in:\n{script}");
        }
        assert!(script.contains("json"), "{shell}: no --json");
    }
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// A reader that went away (`| head -0`) is an error with exit 1, not a panic (101).
#[test]
fn completions_into_a_closed_pipe_fail_cleanly() {
    // The reading end is closed before the command starts: its first write fails, however
    // small the script (closing it after the start raced with a script that fits the pipe).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = bin()
        .args(["completions", "bash"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!text(&o).contains("panicked"), "{}", text(&o));
}

#[test]
fn man_pages_for_each_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let o = run(&["man", s(&out)]);
    assert!(o.status.success(), "{}", text(&o));
    let top = std::fs::read_to_string(out.join("pigsty-install.1")).unwrap();
    assert!(top.starts_with(".ie"), "not roff:\n{top}");
    assert!(top.contains("Examples"), "no examples:\n{top}");
    for sub in SUBCOMMANDS {
        let page = out.join(format!("pigsty-install-{sub}.1"));
        // roff escapes every `-`.
        let escaped = sub.replace('-', "\\-");
        let roff = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{}: {e}\n{}", page.display(), text(&o)));
        assert!(
            roff.contains(&format!("pigsty\\-install\\-{escaped}")),
            "{}: does not name itself:\n{roff}",
            page.display()
        );
        assert!(
            top.contains(&escaped),
            "pigsty-install.1 does not list {sub}"
        );
    }
    // The hidden `man` itself has no page; nothing else is written.
    let count = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(count, SUBCOMMANDS.len() + 1, "{}", text(&o));
}

#[test]
fn verify_json_success_and_errors() {
    let c = case();
    let key = ["--key", s(&c.pubkey)];
    let o = run(&[&["verify", s(&c.bundle), "--json"][..], &key].concat());
    assert!(o.status.success(), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["files"], 1, "{v}");
    assert!(v["fingerprint"].is_string(), "{v}");

    // A missing file, a bad signature, a key that is not there, a usage error.
    let missing = c.dir.join("missing.tgz");
    envelope(
        &["verify", s(&missing), "--key", s(&c.pubkey)],
        "io",
        1,
        "missing.tgz",
    );
    let v = envelope(
        &["verify", s(&c.bundle), "--key", s(&c.otherkey)],
        "trust",
        1,
        "does not verify",
    );
    assert!(!v["error"]["causes"].as_array().unwrap().is_empty(), "{v}");
    envelope(&["verify", s(&c.bundle)], "usage", 2, "no trusted key");
    // A mirror nobody serves (a closed port on loopback).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/pigsty", closed.local_addr().unwrap());
    drop(closed);
    envelope(
        &["verify", "--from", &url, "--insecure"],
        "network",
        1,
        &url,
    );
    envelope(&["verify", s(&c.bundle), "--bogus"], "usage", 2, "--bogus");
    envelope(&["verify"], "usage", 2, "BUNDLE");
}

#[test]
fn install_json_alias_and_errors() {
    let c = case();
    let base = [
        "--key",
        s(&c.pubkey),
        "--root",
        s(&c.root),
        "--dry-run",
        "--no-handoff",
        "--json",
    ];
    // The default command and its `install` alias print the same report.
    let plain = run(&[&[s(&c.bundle)][..], &base].concat());
    let alias = run(&[&["install", s(&c.bundle)][..], &base].concat());
    assert!(plain.status.success(), "{}", text(&plain));
    assert!(alias.status.success(), "{}", text(&alias));
    let (a, b) = (json(&plain), json(&alias));
    assert_eq!(a, b);
    assert!(
        a["steps"].as_array().unwrap().iter().any(|s| s
            .as_str()
            .unwrap()
            .contains("would extract and verify 1 files")),
        "{a}"
    );
    // No prose on stderr under --json.
    assert!(alias.stderr.is_empty(), "{}", text(&alias));

    let root = ["--root", s(&c.root), "--dry-run"];
    let missing = c.dir.join("missing.tgz");
    envelope(
        &[&["install", s(&missing), "--key", s(&c.pubkey)][..], &root].concat(),
        "io",
        1,
        "missing.tgz",
    );
    envelope(
        &[
            &["install", s(&c.bundle), "--key", s(&c.otherkey)][..],
            &root,
        ]
        .concat(),
        "trust",
        1,
        "does not verify",
    );
    envelope(&["install", "--dry-run"], "usage", 2, "give a bundle file");
    envelope(
        &[s(&c.bundle), "--no-such-flag"],
        "usage",
        2,
        "--no-such-flag",
    );
    // An OS the installer does not know.
    let bare = c.dir.join("bare");
    std::fs::create_dir_all(&bare).unwrap();
    envelope(
        &[
            s(&c.bundle),
            "--key",
            s(&c.pubkey),
            "--root",
            s(&bare),
            "--dry-run",
        ],
        "node",
        1,
        "os-release",
    );
}

#[test]
fn status_rollback_restore_serve_json() {
    let c = case();
    let root = s(&c.root);
    // Nothing installed: null, and the restored files: an empty list.
    assert_eq!(
        json(&run(&["status", "--root", root, "--json"])),
        serde_json::Value::Null
    );
    assert_eq!(
        json(&run(&["restore-repos", "--root", root, "--json"])),
        serde_json::json!([])
    );
    envelope(&["rollback", "--root", root], "node", 1, "no previous repo");
    let nothere = c.dir.join("nothere");
    envelope(&["status", "--root", s(&nothere)], "node", 1, "os-release");
    envelope(
        &["serve", "--listen", "127.0.0.1:0", "--dest", s(&nothere)],
        "node",
        1,
        "no repo to serve",
    );
    envelope(&["serve", "--listen", "nowhere"], "usage", 2, "nowhere");
}

#[test]
fn status_prints_rfc3339_times() {
    let c = case();
    let record = c.root.join("var/lib/pigsty-install/status.json");
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::write(
        &record,
        serde_json::json!({
            "target": "d12.x86_64", "version": "v1", "fingerprint": null,
            "bundle": "b.tgz", "repo": "/www/pigsty", "installed_at": 1_700_000_000u64,
            "packages": 3, "bootstrap": []
        })
        .to_string(),
    )
    .unwrap();
    let o = run(&["status", "--root", s(&c.root)]);
    assert!(o.status.success(), "{}", text(&o));
    let line = String::from_utf8(o.stdout.clone()).unwrap();
    assert!(
        line.contains("installed at 2023-11-14T22:13:20Z"),
        "{}",
        text(&o)
    );
    assert!(!line.contains("1700000000"), "{line}");
    let v = json(&run(&["status", "--root", s(&c.root), "--json"]));
    assert_eq!(v["installed"], "2023-11-14T22:13:20Z", "{v}");
    assert_eq!(v["installed_at"], 1_700_000_000u64, "{v}");
}

#[test]
fn help_texts_and_examples() {
    let help = |args: &[&str]| {
        let o = run(args);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    let top = help(&["--help"]);
    assert!(top.contains("Examples:"), "{top}");
    assert!(top.contains("pigsty-install install "), "{top}");
    for sub in ["verify", "status", "serve"] {
        assert!(help(&[sub, "--help"]).contains("Examples:"), "{sub}");
    }
    // Every option has a help text: clap prints an option with none as its name alone.
    for sub in SUBCOMMANDS {
        let h = help(&[sub, "--help"]);
        for line in h.lines().filter(|l| l.trim_start().starts_with('-')) {
            let described = line.trim().split("  ").filter(|p| !p.is_empty()).count() > 1;
            assert!(described, "{sub}: no help text: {line}");
        }
    }
    let verify = help(&["verify", "--help"]);
    let insecure = verify
        .lines()
        .find(|l| l.contains("--insecure"))
        .unwrap()
        .to_string();
    assert!(!insecure.contains("Install"), "{insecure}");
    assert!(insecure.contains("Accept"), "{insecure}");
}

#[test]
fn quiet_and_verbose() {
    let c = case();
    let args = [
        s(&c.bundle),
        "--key",
        s(&c.pubkey),
        "--root",
        s(&c.root),
        "--dry-run",
        "--no-handoff",
    ];
    let o = run(&args);
    assert!(o.status.success(), "{}", text(&o));
    let steps = String::from_utf8(o.stderr.clone()).unwrap();
    assert!(steps.contains("would extract"), "{}", text(&o));
    let q = run(&[&["-q"][..], &args].concat());
    assert!(q.status.success(), "{}", text(&q));
    assert!(q.stderr.is_empty(), "-q: {}", text(&q));
    let v = run(&[&["-v"][..], &args].concat());
    assert!(
        String::from_utf8_lossy(&v.stderr).contains("node d12.x86_64 under"),
        "-v: {}",
        text(&v)
    );
    // -q before a subcommand still reaches it.
    let o = run(&["-q", "status", "--root", s(&c.root), "--json"]);
    assert_eq!(json(&o), serde_json::Value::Null, "{}", text(&o));
    // RUST_LOG wins over the flags.
    let o = bin().args(args).env("RUST_LOG", "info").output().unwrap();
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("node d12.x86_64 under"),
        "RUST_LOG=info: {}",
        text(&o)
    );
}

#[test]
fn not_root_is_told_to_run_as_root() {
    let c = case();
    // The bundle and key are readable by nobody; the root check comes first anyway.
    let nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_pigsty-install"))
            .args(args)
            .output()
            .unwrap()
    };
    for args in [
        vec![s(&c.bundle), "--key", s(&c.pubkey)],
        vec![
            "install",
            s(&c.bundle),
            "--key",
            s(&c.pubkey),
            "--root",
            s(&c.root),
        ],
        vec!["rollback"],
        vec!["restore-repos"],
    ] {
        let o = nobody(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("run as root"),
            "{args:?}: {}",
            text(&o)
        );
        let mut with = args.clone();
        with.push("--json");
        let o = nobody(&with);
        assert_eq!(o.status.code(), Some(1), "{with:?}: {}", text(&o));
        let v = json(&o);
        assert_eq!(v["error"]["kind"], "node", "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run as root"));
    }
}

/// Runs `pigsty-install ARGS` in a private mount namespace where `ro` (under the node root)
/// is bind-mounted read-only: nothing outside the namespace sees it.
fn with_read_only(ro: &Path, args: &[&str]) -> Output {
    let script =
        r#"set -e; mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; shift; exec "$@""#;
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(ro)
        .arg(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn dry_run_on_a_read_only_node_fails_naming_the_path() {
    let c = case();
    std::fs::create_dir_all(c.root.join("www")).unwrap();
    let args = [
        s(&c.bundle),
        "--key",
        s(&c.pubkey),
        "--root",
        s(&c.root),
        "--dry-run",
        "--no-handoff",
    ];
    // Writable: the dry run passes and says what it checked.
    let o = with_read_only(&c.dir.join("src"), &args);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("can write /www"),
        "{}",
        text(&o)
    );
    // The whole root read-only: DEST is named.
    let o = with_read_only(&c.root, &args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(
        err.contains(&format!("cannot write {}/www", s(&c.root))) && err.contains("Read-only"),
        "{}",
        text(&o)
    );
    // Only apt's folder read-only: its source file is named, as JSON too.
    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = with_read_only(&c.root.join("etc/apt"), &json_args);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["error"]["kind"], "io", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("etc/apt/sources.list.d/pigsty-local.list"),
        "{v}"
    );
}

/// Copies the host's `sh` (dash) and the libraries it links into `root`, so that `chroot
/// ROOT sh -c ...` runs.
fn shell_into(root: &Path) {
    let sh = std::fs::canonicalize("/bin/sh").unwrap();
    let ldd = Command::new("ldd").arg(&sh).output().unwrap();
    assert!(ldd.status.success(), "{}", text(&ldd));
    let mut files = vec![sh.clone()];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        files.extend(path);
    }
    for f in files {
        let to = root.join(f.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    std::fs::create_dir_all(root.join("bin")).unwrap();
    let bin_sh = root.join("bin/sh");
    if !bin_sh.exists() {
        std::fs::copy(&sh, &bin_sh).unwrap();
    }
}

/// The hand-off's output goes to stderr: under --json, stdout holds the report alone.
#[test]
fn install_json_keeps_the_handoff_output_off_stdout() {
    let c = case();
    shell_into(&c.root);
    // The bundle installed already (a rerun reaches the hand-off without apt).
    let head = archive::read_signed_manifest(&c.bundle).unwrap();
    let www = c.root.join("www");
    std::fs::create_dir_all(&www).unwrap();
    pigsty_install::stage::extract_bundle(&c.bundle, &head, &www).unwrap();
    let record = c.root.join("var/lib/pigsty-install/status.json");
    std::fs::create_dir_all(record.parent().unwrap()).unwrap();
    std::fs::write(
        &record,
        serde_json::json!({
            "target": "d12.x86_64", "version": "test", "fingerprint": null,
            "bundle": s(&c.bundle), "repo": "/www/pigsty", "installed_at": 1_700_000_000u64,
            "packages": 1, "bootstrap": []
        })
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        c.root.join("etc/apt/sources.list.d/pigsty-local.list"),
        "deb [signed-by=/etc/apt/keyrings/pigsty.asc] file:/www/pigsty/ ./\n",
    )
    .unwrap();
    let o = run(&[
        "install",
        s(&c.bundle),
        "--key",
        s(&c.pubkey),
        "--root",
        s(&c.root),
        "--then",
        "echo hand-off-was-here; exit 3",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let v = json(&o);
    assert_eq!(v["handoff_exit"], 3, "{v}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("hand-off-was-here"),
        "{}",
        text(&o)
    );
}
