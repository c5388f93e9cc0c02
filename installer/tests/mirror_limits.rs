//! `pigsty-install --from` against mirrors that do not play fair, on loopback: one that
//! trickles a file, one that stops sending, one that never answers, one whose Content-Length
//! lies; each is given up in bounded time (the limits set by flags), named, and the node is
//! left as it was with no staging folder. SIGTERM or SIGINT during a download removes the
//! staging folder before the process ends. An older bundle served by a real mirror
//! (`serve`) is refused over the installed one.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pigsty_bundle::manifest::{
    FileEntry, Manifest, PackageEntry, MANIFEST_NAME, SCHEMA, SIGNATURE_NAME,
};
use pigsty_bundle::sign::SecretKey;
use pigsty_bundle::{Arch, Os, Target};

mod common;
use common::{noise, sha, start};

const DEB: &str = "pool/foo_1.0_amd64.deb";
const SIZE: usize = 200_000;

/// How the server sends one path.
#[derive(Clone, Copy)]
enum Way {
    /// All at once.
    Plain,
    /// One byte every this long.
    Trickle(Duration),
    /// The right Content-Length, this many bytes, then nothing (the socket held open).
    Stall(usize),
    /// A Content-Length of this many bytes, then the real bytes, then nothing.
    Announce(u64),
    /// Reads the request and never answers.
    Mute,
}

/// A signed repo: path -> bytes, and the key.
fn repo(version: &str, created: u64) -> (BTreeMap<String, Vec<u8>>, SecretKey) {
    let key = SecretKey::generate("Test <t@example.invalid>").unwrap();
    let mut files = BTreeMap::new();
    files.insert(DEB.to_string(), noise(7, SIZE));
    files.insert(
        "pigsty.pub".to_string(),
        key.public().to_armored().unwrap().into_bytes(),
    );
    let m = Manifest {
        schema: SCHEMA,
        target: Target::new(Os::D12, Arch::X86_64, 15),
        version: version.into(),
        builder: "test".into(),
        catalog: "test".into(),
        created,
        files: files
            .iter()
            .map(|(p, d)| FileEntry {
                path: p.clone(),
                size: d.len() as u64,
                sha256: sha(d),
            })
            .collect(),
        packages: vec![PackageEntry {
            name: "foo".into(),
            version: "1.0".into(),
            arch: "amd64".into(),
            file: DEB.into(),
            repo: "test".into(),
            wanted_by: vec![],
        }],
        bootstrap: vec![],
        handoff: None,
        key_fingerprint: Some(key.fingerprint()),
        family: pigsty_bundle::Family::Deb,
        package_keys: Vec::new(),
        base: None,
    };
    let json = m.to_json().unwrap();
    let sig = key.sign_detached(json.as_bytes()).unwrap();
    files.insert(MANIFEST_NAME.to_string(), json.into_bytes());
    files.insert(SIGNATURE_NAME.to_string(), sig.into_bytes());
    (files, key)
}

/// A hand-written HTTP/1.1 server on loopback serving `files` under `/pigsty/`, the file
/// `DEB` the way `way` says; stops when dropped.
struct Server {
    url: String,
    stop: Arc<AtomicBool>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(files: BTreeMap<String, Vec<u8>>, way: Way) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/pigsty", listener.local_addr().unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let files = Arc::new(files);
    let stopped = stop.clone();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        while !stopped.load(Ordering::SeqCst) {
            match listener.accept() {
                Ok((conn, _)) => {
                    let (files, stopped) = (files.clone(), stopped.clone());
                    std::thread::spawn(move || answer(conn, &files, way, &stopped));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    Server { url, stop }
}

fn answer(conn: TcpStream, files: &BTreeMap<String, Vec<u8>>, way: Way, stop: &AtomicBool) {
    conn.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    // The rest of the request head.
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let path = line
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .trim_start_matches("/pigsty/");
    let mut out = conn;
    let Some(data) = files.get(path) else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let way = if path == DEB { way } else { Way::Plain };
    let head =
        |len: u64| format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
    let hold = |stop: &AtomicBool| {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    match way {
        Way::Plain => {
            let _ = out.write_all(head(data.len() as u64).as_bytes());
            let _ = out.write_all(data);
        }
        Way::Trickle(every) => {
            let _ = out.write_all(head(data.len() as u64).as_bytes());
            for b in data {
                if stop.load(Ordering::SeqCst) || out.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(every);
            }
        }
        Way::Stall(n) => {
            let _ = out.write_all(head(data.len() as u64).as_bytes());
            let _ = out.write_all(&data[..n]);
            hold(stop);
        }
        Way::Announce(len) => {
            let _ = out.write_all(head(len).as_bytes());
            let _ = out.write_all(data);
            hold(stop);
        }
        Way::Mute => hold(stop),
    }
}

/// A node root (Debian 12) with an apt configuration.
fn node(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc/apt/sources.list.d")).unwrap();
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::write(
        root.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )
    .unwrap();
    root
}

/// Every path under `root` (what "nothing changed, nothing left" compares).
fn paths(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            out.push(p.strip_prefix(root).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn spawn(root: &Path, url: &str, key: &Path, more: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(["--from", url, "--key"])
        .arg(key)
        .arg("--root")
        .arg(root)
        .args(["--no-handoff", "--no-bootstrap"])
        .args(more)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for `child` at most `limit`; kills it and fails the test if it runs longer.
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, Duration) {
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let o = child.wait_with_output().unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            return (status.code(), text, t0.elapsed());
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Each unfair mirror is given up within its limits, naming the file; nothing is left.
#[test]
fn unfair_mirrors_are_given_up_in_bounded_time() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, key) = repo("1", 1_700_000_000);
    let keyfile = tmp.path().join("k.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let root = node(tmp.path());
    let before = paths(&root);
    // 1000 bytes a second over 2 s, each file 3 s at least (plus its size at that speed).
    let limits = [
        "--min-speed",
        "1000",
        "--speed-window",
        "2",
        "--file-deadline",
        "3",
    ];
    let cases: [(&str, Way, &[&str], &str); 4] = [
        (
            "trickle",
            Way::Trickle(Duration::from_millis(50)),
            &limits,
            "too slow (fewer than 2000 bytes in 2 s)",
        ),
        (
            "stall",
            Way::Stall(10_000),
            &limits,
            "too slow (fewer than 2000 bytes in 2 s)",
        ),
        (
            "lying length",
            Way::Announce(50_000_000),
            &limits,
            "size mismatch (manifest 200000 bytes, received a Content-Length of 50000000)",
        ),
        (
            "mute",
            Way::Mute,
            &[
                "--min-speed",
                "100000000",
                "--speed-window",
                "60",
                "--file-deadline",
                "3",
            ],
            "not done after 3 s, its deadline",
        ),
    ];
    for (name, way, flags, want) in cases {
        let server = serve(files.clone(), way);
        let child = spawn(&root, &server.url, &keyfile, flags);
        let (code, out, took) = finish(child, Duration::from_secs(60));
        assert_ne!(code, Some(0), "{name}: accepted:\n{out}");
        assert!(
            out.contains(want) && out.contains(&format!("{}/{DEB}", server.url)),
            "{name}: {out}"
        );
        assert!(
            took < Duration::from_secs(20),
            "{name}: took {took:?}:\n{out}"
        );
        assert_eq!(paths(&root), before, "{name}: the node changed");
    }
}

/// SIGTERM or SIGINT while a file is being downloaded: the staging folder goes before the
/// process ends (exit 128 + the signal), and the node is as it was.
#[test]
fn a_signal_during_a_download_leaves_no_staging_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let (files, key) = repo("1", 1_700_000_000);
    let keyfile = tmp.path().join("k.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let root = node(tmp.path());
    let before = paths(&root);
    for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let server = serve(files.clone(), Way::Trickle(Duration::from_millis(20)));
        let child = spawn(&root, &server.url, &keyfile, &[]);
        // Until the file being downloaded is in the staging folder.
        let t0 = Instant::now();
        let staged = loop {
            let found = std::fs::read_dir(root.join("www"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .find(|p| p.join("pigsty").join(DEB).exists());
            if let Some(p) = found {
                break p;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "{name}: no staging folder came"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        // SAFETY: a process this test started and has not reaped.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let (code, out, _) = finish(child, Duration::from_secs(30));
        assert_eq!(code, Some(128 + signal), "{name}: {out}");
        assert!(
            out.contains(&format!("stopped by signal {signal}")),
            "{name}: {out}"
        );
        assert!(!staged.exists(), "{name}: {} is left", staged.display());
        assert_eq!(paths(&root), before, "{name}: the node changed");
    }
}

/// An older bundle on a real mirror (`pigsty-install serve`) over a newer one installed:
/// refused, as from a file.
#[test]
fn an_older_bundle_from_a_mirror_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let root = node(tmp.path());
    // What is installed: 0.1.0, built in 2023.
    let (new, _) = repo("0.1.0", 1_700_000_000);
    for (rel, data) in &new {
        let p = root.join("www/pigsty").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    // What the mirror serves: 0.0.9, built in 2020.
    let (old, key) = repo("0.0.9", 1_600_000_000);
    let served = tmp.path().join("admin");
    for (rel, data) in &old {
        let p = served.join("pigsty").join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    }
    let keyfile = tmp.path().join("k.pub");
    std::fs::write(&keyfile, key.public().to_armored().unwrap()).unwrap();
    let s = start(&served, Duration::from_secs(5));
    let before = paths(&root);
    let child = spawn(&root, &format!("http://{}/pigsty", s.addr), &keyfile, &[]);
    let (code, out, _) = finish(child, Duration::from_secs(60));
    assert_ne!(code, Some(0), "{out}");
    assert!(
        out.contains(
            "bundle 0.0.9 (built 2020-09-13) is older than bundle 0.1.0 (built 2023-11-14)"
        ) && out.contains("--allow-downgrade"),
        "{out}"
    );
    assert_eq!(paths(&root), before);
    s.stop();
}
