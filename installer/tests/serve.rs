//! The mirror server (`pigsty-install serve`) on loopback, on an ephemeral port: GET, HEAD,
//! ranges (206, 416), conditional requests, listings, content types; escapes (`..`, `%2e%2e`,
//! encoded slashes, absolute-form targets, links to outside the repo, a FIFO) sent as raw
//! requests and refused without a byte of what lies outside; 50 clients at once fetching every
//! file, every byte checked; graceful shutdown, in the library and in the binary (SIGTERM);
//! the real dnf reading a real createrepo_c repo through it as its `baseurl`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use std::time::Duration;

use pigsty_bundle::fs::hash_reader;

mod common;
use common::{noise, sha, start};

const SECRET: &[u8] = b"TOP-SECRET-OUTSIDE-THE-REPO";

/// A repo under `<tmp>/www/pigsty`, with secrets beside it and outside, and links out.
struct Repo {
    _tmp: tempfile::TempDir,
    dest: PathBuf,
    /// Every regular file served, relative to `pigsty/`, with its bytes' sha256 and size.
    files: BTreeMap<String, (String, u64)>,
}

fn repo() -> Repo {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("www");
    let top = dest.join("pigsty");
    let mut files = BTreeMap::new();
    let mut add = |rel: &str, data: &[u8]| {
        let p = top.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, data).unwrap();
        files.insert(rel.to_string(), (sha(data), data.len() as u64));
    };
    add(
        "InRelease",
        b"-----BEGIN PGP SIGNED MESSAGE-----\nOrigin: pigsty\n",
    );
    add("Packages", b"Package: foo\nVersion: 1.0\n");
    add("Packages.gz", &noise(1, 1000));
    add("MANIFEST.json", b"{\"schema\": 1}\n");
    add("MANIFEST.json.asc", b"-----BEGIN PGP SIGNATURE-----\n");
    add("pigsty.pub", b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n");
    add("repodata/repomd.xml", b"<?xml version=\"1.0\"?><repomd/>\n");
    add("repodata/primary.xml.zst", &noise(2, 5000));
    add("empty.txt", b"");
    add("one", b"x");
    add(
        "pool/postgresql-15_15.8-0+deb12u1_amd64.deb",
        &noise(3, 3 << 20),
    );
    add("pool/pg_cron-1.6.4-1.el9.x86_64.rpm", &noise(4, 65_536));
    add("pool/a b&<c>.deb", &noise(5, 65_537));
    add("pool/libx1_2:1.0~rc1_amd64.deb", &noise(6, 200_000));
    for i in 0..12 {
        add(
            &format!("pool/dep{i}_1.0_amd64.deb"),
            &noise(10 + i, 1000 * i as usize * i as usize),
        );
    }
    // A link inside the repo, to a file of the repo: served.
    std::os::unix::fs::symlink("pool/dep3_1.0_amd64.deb", top.join("latest.deb")).unwrap();
    // What must never be served: beside the repo, outside `dest`, and links to them.
    std::fs::write(dest.join("secret.txt"), SECRET).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), SECRET).unwrap();
    std::fs::create_dir_all(tmp.path().join("outside")).unwrap();
    std::fs::write(tmp.path().join("outside/secret.txt"), SECRET).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), top.join("out.deb")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", top.join("up.txt")).unwrap();
    std::os::unix::fs::symlink(tmp.path().join("outside"), top.join("outdir")).unwrap();
    std::os::unix::fs::symlink("/etc", top.join("etc")).unwrap();
    let fifo = std::ffi::CString::new(top.join("fifo").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    Repo {
        _tmp: tmp,
        dest,
        files,
    }
}

/// A response read off the wire: status, headers (lower-case names), body.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// Reads one response from `r`; `head` when it answers a HEAD (no body).
fn read_response(r: &mut impl BufRead, head: bool) -> Resp {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("bad status line {line:?}"))
        .parse()
        .unwrap();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .map_or(0, |v| v.parse().unwrap());
    let mut body = vec![0; if head { 0 } else { len }];
    r.read_exact(&mut body).unwrap();
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends raw request bytes on a fresh connection (closed after) and reads the response.
fn raw(addr: SocketAddr, request: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let head = request.starts_with("HEAD ");
    read_response(&mut BufReader::new(s), head)
}

fn get(addr: SocketAddr, target: &str, extra: &str) -> Resp {
    raw(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n"),
    )
}

fn file_bytes(r: &Repo, rel: &str) -> Vec<u8> {
    std::fs::read(r.dest.join("pigsty").join(rel)).unwrap()
}

#[test]
fn get_head_ranges_and_conditionals() {
    let r = repo();
    let s = start(&r.dest, Duration::from_secs(5));
    let deb = "pool/postgresql-15_15.8-0+deb12u1_amd64.deb";
    let data = file_bytes(&r, deb);
    let target = format!("/pigsty/{deb}");

    let full = get(s.addr, &target, "");
    assert_eq!(full.status, 200);
    assert_eq!(full.body, data);
    assert_eq!(full.header("content-length"), data.len().to_string());
    assert_eq!(
        full.header("content-type"),
        "application/vnd.debian.binary-package"
    );
    assert_eq!(full.header("accept-ranges"), "bytes");
    let etag = full.header("etag").to_string();
    let last_modified = full.header("last-modified").to_string();
    assert!(etag.starts_with('"') && !last_modified.is_empty());

    let head = raw(
        s.addr,
        &format!("HEAD {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), data.len().to_string());
    assert_eq!(head.header("etag"), etag);

    let len = data.len();
    for (range, start, end) in [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=65530-70000", 65530, 70000),
        (&format!("bytes={}-", len - 10) as &str, len - 10, len - 1),
        ("bytes=-5", len - 5, len - 1),
        (&format!("bytes=5-{}", len * 2) as &str, 5, len - 1),
    ] {
        let p = get(s.addr, &target, &format!("Range: {range}\r\n"));
        assert_eq!(p.status, 206, "{range}");
        assert_eq!(p.body, &data[start..=end], "{range}");
        assert_eq!(
            p.header("content-range"),
            format!("bytes {start}-{end}/{len}"),
            "{range}"
        );
    }
    for range in [
        format!("bytes={len}-"),
        format!("bytes={}-{}", len + 5, len + 9),
        "bytes=-0".into(),
    ] {
        let p = get(s.addr, &target, &format!("Range: {range}\r\n"));
        assert_eq!(p.status, 416, "{range}");
        assert_eq!(
            p.header("content-range"),
            format!("bytes */{len}"),
            "{range}"
        );
    }
    // Several ranges, or nonsense: the whole file.
    for range in ["bytes=0-1,5-6", "bytes=9-2", "lines=1-2"] {
        let p = get(s.addr, &target, &format!("Range: {range}\r\n"));
        assert_eq!((p.status, p.body.len()), (200, len), "{range}");
    }
    // If-Range: the range only while the file is the same one.
    let p = get(
        s.addr,
        &target,
        &format!("Range: bytes=0-9\r\nIf-Range: {etag}\r\n"),
    );
    assert_eq!((p.status, p.body.len()), (206, 10));
    let p = get(
        s.addr,
        &target,
        "Range: bytes=0-9\r\nIf-Range: \"other\"\r\n",
    );
    assert_eq!((p.status, p.body.len()), (200, len));
    // A range on an empty file is unsatisfiable.
    let p = get(s.addr, "/pigsty/empty.txt", "Range: bytes=0-\r\n");
    assert_eq!(p.status, 416);
    let p = get(s.addr, "/pigsty/empty.txt", "");
    assert_eq!((p.status, p.body.len()), (200, 0));

    // Conditional requests.
    let p = get(s.addr, &target, &format!("If-None-Match: {etag}\r\n"));
    assert_eq!((p.status, p.body.len()), (304, 0));
    let p = get(s.addr, &target, "If-None-Match: \"nope\"\r\n");
    assert_eq!(p.status, 200);
    let p = get(
        s.addr,
        &target,
        &format!("If-Modified-Since: {last_modified}\r\n"),
    );
    assert_eq!(p.status, 304);
    let p = get(
        s.addr,
        &target,
        "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n",
    );
    assert_eq!(p.status, 200);

    // Keep-alive: several requests on one connection, HEAD among them.
    let mut c = TcpStream::connect(s.addr).unwrap();
    c.write_all(b"GET /pigsty/one HTTP/1.1\r\nHost: x\r\n\r\nHEAD /pigsty/Packages HTTP/1.1\r\nHost: x\r\n\r\nGET /pigsty/./Packages HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut rd = BufReader::new(c);
    assert_eq!(read_response(&mut rd, false).body, b"x");
    let h = read_response(&mut rd, true);
    assert_eq!((h.status, h.header("content-length")), (200, "26"));
    assert_eq!(
        read_response(&mut rd, false).body,
        b"Package: foo\nVersion: 1.0\n"
    );

    // Other methods.
    let p = raw(
        s.addr,
        "POST /pigsty/one HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((p.status, p.header("allow")), (405, "GET, HEAD"));
    let p = raw(
        s.addr,
        "DELETE /pigsty/one HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(p.status, 405);
    assert!(r.dest.join("pigsty/one").exists());

    let summary = s.stop();
    // 27 requests, three of them on one connection.
    assert_eq!((summary.requests, summary.connections), (27, 25));
}

#[test]
fn content_types_and_listings() {
    let r = repo();
    let s = start(&r.dest, Duration::from_secs(5));
    for (rel, ctype) in [
        ("pool/pg_cron-1.6.4-1.el9.x86_64.rpm", "application/x-rpm"),
        ("repodata/repomd.xml", "application/xml"),
        ("repodata/primary.xml.zst", "application/zstd"),
        ("Packages.gz", "application/gzip"),
        ("MANIFEST.json", "application/json"),
        ("MANIFEST.json.asc", "application/pgp-signature"),
        ("pigsty.pub", "application/pgp-keys"),
        ("InRelease", "text/plain; charset=utf-8"),
        ("Packages", "text/plain; charset=utf-8"),
        ("empty.txt", "text/plain; charset=utf-8"),
        ("one", "application/octet-stream"),
    ] {
        let p = get(s.addr, &format!("/pigsty/{rel}"), "");
        assert_eq!((p.status, p.header("content-type")), (200, ctype), "{rel}");
        assert_eq!(p.body, file_bytes(&r, rel), "{rel}");
    }
    // A name that needs encoding, as a client sends it.
    let p = get(s.addr, "/pigsty/pool/a%20b%26%3Cc%3E.deb", "");
    assert_eq!(p.body, file_bytes(&r, "pool/a b&<c>.deb"));
    let p = get(s.addr, "/pigsty/pool/libx1_2%3A1.0~rc1_amd64.deb", "");
    assert_eq!(p.body, file_bytes(&r, "pool/libx1_2:1.0~rc1_amd64.deb"));
    // A link inside the repo is served.
    let p = get(s.addr, "/pigsty/latest.deb", "");
    assert_eq!(p.body, file_bytes(&r, "pool/dep3_1.0_amd64.deb"));

    // Folders: redirected to the trailing slash, then listed.
    let p = get(s.addr, "/pigsty", "");
    assert_eq!((p.status, p.header("location")), (301, "/pigsty/"));
    let p = get(s.addr, "/pigsty/pool", "");
    assert_eq!((p.status, p.header("location")), (301, "/pigsty/pool/"));
    let top = get(s.addr, "/", "");
    assert_eq!(top.status, 200);
    assert!(String::from_utf8_lossy(&top.body).contains("<a href=\"pigsty/\">pigsty/</a>"));
    let p = get(s.addr, "/pigsty/", "");
    assert_eq!(
        (p.status, p.header("content-type")),
        (200, "text/html; charset=utf-8")
    );
    let html = String::from_utf8(p.body).unwrap();
    for link in [
        "<a href=\"pool/\">pool/</a>",
        "<a href=\"repodata/\">repodata/</a>",
        "<a href=\"InRelease\">InRelease</a>",
        "<a href=\"latest.deb\">latest.deb</a>",
        "<a href=\"MANIFEST.json.asc\">",
    ] {
        assert!(html.contains(link), "{link} not in\n{html}");
    }
    for hidden in ["out.deb", "up.txt", "outdir", "etc", "fifo", "secret"] {
        assert!(!html.contains(hidden), "{hidden} listed:\n{html}");
    }
    // Folders first.
    assert!(html.find("pool/").unwrap() < html.find("InRelease").unwrap());
    let pool = String::from_utf8(get(s.addr, "/pigsty/pool/", "").body).unwrap();
    assert!(
        pool.contains("<a href=\"a%20b&amp;%3Cc%3E.deb\">a b&amp;&lt;c&gt;.deb</a>"),
        "{pool}"
    );
    assert!(pool.contains("  3145728\n"), "{pool}");
    // apt's flat-repo form `URL ./` and dnf's baseurl paths.
    assert_eq!(get(s.addr, "/pigsty/./InRelease", "").status, 200);
    assert_eq!(
        get(s.addr, "/pigsty/./pool/dep1_1.0_amd64.deb", "").status,
        200
    );
    assert_eq!(get(s.addr, "/pigsty/repodata/repomd.xml", "").status, 200);
    assert_eq!(get(s.addr, "/pigsty/nothing-here", "").status, 404);
    assert_eq!(get(s.addr, "/pigsty/one/", "").status, 404);

    s.stop();
}

#[test]
fn escapes_are_refused() {
    let r = repo();
    let s = start(&r.dest, Duration::from_secs(5));
    for (target, status) in [
        ("/pigsty/../secret.txt", 403),
        ("/pigsty/../../secret.txt", 403),
        ("/pigsty/%2e%2e/secret.txt", 403),
        ("/pigsty/%2E%2E/%2E%2E/secret.txt", 403),
        ("/pigsty/.%2e/secret.txt", 403),
        ("/pigsty/pool/../../secret.txt", 403),
        ("/../secret.txt", 403),
        ("/pigsty/..", 403),
        ("/pigsty/%2e%2e%2fsecret.txt", 400),
        ("/pigsty/..%2Fsecret.txt", 400),
        ("/pigsty/%2fetc%2fpasswd", 400),
        ("/pigsty/secret.txt%00.deb", 400),
        ("/pigsty/%zz", 400),
        ("/secret.txt", 404),
        ("//secret.txt", 404),
        ("/etc/passwd", 404),
        ("/pigsty/..%5c..%5csecret.txt", 404),
        ("http://x/pigsty/../secret.txt", 403),
        ("http://x/secret.txt", 404),
        // Links that lead outside the repo, to a file or through a folder.
        ("/pigsty/out.deb", 403),
        ("/pigsty/up.txt", 403),
        ("/pigsty/outdir/secret.txt", 403),
        ("/pigsty/outdir/", 403),
        ("/pigsty/etc/passwd", 403),
        ("/pigsty/etc/", 403),
        // Not a regular file: never opened (a FIFO would hang the open).
        ("/pigsty/fifo", 403),
    ] {
        for method in ["GET", "HEAD"] {
            let p = raw(
                s.addr,
                &format!("{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            );
            assert_eq!(p.status, status, "{method} {target}");
            assert!(
                !p.body.windows(SECRET.len()).any(|w| w == SECRET),
                "{target} leaked the secret"
            );
            assert!(
                !String::from_utf8_lossy(&p.body).contains("root:"),
                "{target} leaked /etc/passwd"
            );
        }
    }
    // Ranges do not help either.
    let p = get(s.addr, "/pigsty/out.deb", "Range: bytes=0-3\r\n");
    assert_eq!(p.status, 403);
    // Still serving after all that.
    assert_eq!(get(s.addr, "/pigsty/one", "").body, b"x");
    let events = s.events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("\"GET /pigsty/%2e%2e/secret.txt HTTP/1.1\" 403")),
        "{events:?}"
    );
    s.stop();
}

#[test]
fn links_that_stay_inside_the_repo_are_served_however_they_are_written() {
    let r = repo();
    let top = r.dest.join("pigsty");
    // Absolute, to a file of the repo; relative, out of the repo through `..` and back in; a
    // folder link. The kernel's RESOLVE_BENEATH refuses the first two; the server then checks
    // the resolved path, as for every link.
    std::os::unix::fs::symlink(top.join("pool/dep2_1.0_amd64.deb"), top.join("abs.deb")).unwrap();
    std::os::unix::fs::symlink(
        "../../pigsty/pool/dep4_1.0_amd64.deb",
        top.join("pool/round.deb"),
    )
    .unwrap();
    std::os::unix::fs::symlink("pool", top.join("pool2")).unwrap();
    let s = start(&r.dest, Duration::from_secs(5));
    for (target, rel) in [
        ("/pigsty/abs.deb", "pool/dep2_1.0_amd64.deb"),
        ("/pigsty/pool/round.deb", "pool/dep4_1.0_amd64.deb"),
        (
            "/pigsty/pool2/dep5_1.0_amd64.deb",
            "pool/dep5_1.0_amd64.deb",
        ),
        ("/pigsty/latest.deb", "pool/dep3_1.0_amd64.deb"),
    ] {
        let p = get(s.addr, target, "Range: bytes=1-\r\n");
        assert_eq!(p.status, 206, "{target}");
        assert_eq!(p.body, file_bytes(&r, rel)[1..], "{target}");
    }
    s.stop();
}

/// Fetches every file of the repo over one keep-alive connection; the sha256 of each.
fn fetch_all(addr: SocketAddr, files: &[String]) -> Vec<(String, String, u64)> {
    let c = TcpStream::connect(addr).unwrap();
    let mut w = c.try_clone().unwrap();
    let mut rd = BufReader::with_capacity(64 * 1024, c);
    let mut out = Vec::new();
    for rel in files {
        let enc: String = rel
            .split('/')
            .map(|seg| {
                seg.bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                            (b as char).to_string()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("/");
        write!(w, "GET /pigsty/{enc} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        // Stream the body through the hash: no whole file in memory.
        let mut line = String::new();
        rd.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{rel}: {line}");
        let mut len = 0u64;
        loop {
            let mut h = String::new();
            rd.read_line(&mut h).unwrap();
            if h.trim_end().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let (n, digest) = hash_reader((&mut rd).take(len)).unwrap();
        out.push((rel.clone(), digest, n));
    }
    out
}

#[test]
fn fifty_clients_fetch_every_file_every_byte_checked() {
    let r = repo();
    let s = start(&r.dest, Duration::from_secs(5));
    let names: Vec<String> = r.files.keys().cloned().collect();
    let total: u64 = r.files.values().map(|(_, n)| n).sum();
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let mut order = names.clone();
            order.rotate_left(i % names.len());
            let addr = s.addr;
            std::thread::spawn(move || fetch_all(addr, &order))
        })
        .collect();
    let mut bytes = 0u64;
    for c in clients {
        let got = c.join().unwrap();
        assert_eq!(got.len(), r.files.len());
        for (rel, digest, n) in got {
            assert_eq!((&digest, n), (&r.files[&rel].0, r.files[&rel].1), "{rel}");
            bytes += n;
        }
    }
    assert_eq!(bytes, total * 50);
    let events = s.events.clone();
    let summary = s.stop();
    assert_eq!(summary.connections, 50);
    assert_eq!(summary.requests, 50 * r.files.len() as u64);
    assert_eq!(summary.cut, 0);
    let events = events.lock().unwrap().clone();
    assert!(
        !events.iter().any(|e| e.starts_with("problem")),
        "{events:?}"
    );
}

#[test]
fn shutdown_refuses_new_connections_and_finishes_the_running_ones() {
    let r = repo();
    // Large enough not to fit in the loopback socket buffers: the server is mid-body.
    let big = noise(99, 48 << 20);
    std::fs::write(r.dest.join("pigsty/big.deb"), &big).unwrap();
    let s = start(&r.dest, Duration::from_secs(600));
    let addr = s.addr;

    // An idle keep-alive connection, one request answered.
    let idle = TcpStream::connect(addr).unwrap();
    let mut idle_w = idle.try_clone().unwrap();
    let mut idle_r = BufReader::new(idle);
    idle_w
        .write_all(b"GET /pigsty/one HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(read_response(&mut idle_r, false).body, b"x");

    // A download under way: the head and a few bytes read, then the client pauses.
    let busy = TcpStream::connect(addr).unwrap();
    let mut busy_w = busy.try_clone().unwrap();
    let mut busy_r = BufReader::new(busy);
    busy_w
        .write_all(b"GET /pigsty/big.deb HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut line = String::new();
    busy_r.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"));
    let mut first = [0u8; 1];
    loop {
        let mut h = String::new();
        busy_r.read_line(&mut h).unwrap();
        if h.trim_end().is_empty() {
            break;
        }
    }
    busy_r.read_exact(&mut first).unwrap();

    let stopper = std::thread::spawn(move || s.stop());
    // The idle connection is closed by the server (which closes the listener first). Waited
    // for before connecting again: a connection made before the stopper thread has run (it
    // may take tens of milliseconds on a loaded machine) is accepted and counted, rightly.
    let mut rest = Vec::new();
    idle_r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // New connections are refused once the listener is closed.
    let mut refused = false;
    for _ in 0..1000 {
        match TcpStream::connect(addr) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                refused = true;
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    assert!(refused, "still accepting after the shutdown");
    // The download under way finishes, every byte.
    let (n, digest) =
        hash_reader((&first[..]).chain((&mut busy_r).take(big.len() as u64 - 1))).unwrap();
    assert_eq!(n, big.len() as u64);
    assert_eq!(digest, sha(&big));
    // And then the connection closes, and the server returns.
    let mut tail = Vec::new();
    busy_r.read_to_end(&mut tail).unwrap();
    assert!(tail.is_empty());
    let summary = stopper.join().unwrap();
    assert_eq!(summary.cut, 0);
    assert_eq!(summary.connections, 2);
}

#[test]
fn the_binary_serves_and_stops_on_sigterm_with_exit_0() {
    let r = repo();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(["serve", "--listen", "127.0.0.1:0", "--json", "--dest"])
        .arg(&r.dest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let start: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr: SocketAddr = start["listen"].as_str().unwrap().parse().unwrap();
    assert_eq!(start["url"], format!("http://{addr}/pigsty"));
    assert_eq!(start["pid"], child.id());
    assert_eq!(
        get(addr, "/pigsty/Packages", "").body,
        file_bytes(&r, "Packages")
    );
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        err.contains("\"GET /pigsty/Packages HTTP/1.1\" 200 26"),
        "{err}"
    );
    assert!(
        err.contains("SIGTERM") && err.contains("stopped: 1 connections"),
        "{err}"
    );

    // No repo: refused at start, saying what to do; a port taken: named.
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args(["serve", "--listen", "127.0.0.1:0", "--dest"])
        .arg(r.dest.join("nothing"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no repo to serve"),
        "{err}"
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pigsty-install"))
        .args([
            "serve",
            "--listen",
            &taken.local_addr().unwrap().to_string(),
            "--dest",
        ])
        .arg(&r.dest)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("cannot listen on"),
        "{err}"
    );
}

/// Runs a command; its stdout, or a panic with its output.
fn run(cmd: &mut Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        o.status.success(),
        "{cmd:?}:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn dnf_uses_the_server_as_a_baseurl() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    // A real rpm (rpmbuild) in a real repo (createrepo_c).
    std::fs::write(
        t.join("probe.spec"),
        "Name: pigsty-probe\nVersion: 1.0\nRelease: 1\nSummary: probe\nLicense: MIT\n\
         BuildArch: noarch\n%description\nprobe\n%files\n",
    )
    .unwrap();
    run(Command::new("rpmbuild")
        .arg("-bb")
        .arg("--define")
        .arg(format!("_topdir {}", t.join("rpmbuild").display()))
        .arg(t.join("probe.spec")));
    let top = t.join("www/pigsty");
    std::fs::create_dir_all(&top).unwrap();
    let rpm = top.join("pigsty-probe-1.0-1.noarch.rpm");
    std::fs::copy(
        t.join("rpmbuild/RPMS/noarch/pigsty-probe-1.0-1.noarch.rpm"),
        &rpm,
    )
    .unwrap();
    run(Command::new("createrepo_c").arg(&top));
    let s = start(&t.join("www"), Duration::from_secs(5));
    let dnf = |args: &[&str]| {
        let mut c = Command::new("dnf");
        c.args(["-y", "-q", "--releasever=9", "--forcearch=x86_64"])
            .arg(format!("--installroot={}", t.join("root").display()))
            .arg(format!(
                "--setopt=reposdir={}",
                t.join("no-repos").display()
            ))
            .arg(format!("--setopt=cachedir={}", t.join("cache").display()))
            .arg(format!("--repofrompath=pigsty,http://{}/pigsty", s.addr))
            .args(["--repo=pigsty", "--setopt=pigsty.gpgcheck=0"])
            .args(args);
        run(&mut c)
    };
    let q = dnf(&[
        "repoquery",
        "--qf",
        "%{name}-%{version}-%{release}.%{arch}",
        "pigsty-probe",
    ]);
    assert_eq!(q.trim(), "pigsty-probe-1.0-1.noarch");
    // Installed into the empty root, the downloaded package kept: the same bytes.
    dnf(&["--setopt=keepcache=1", "install", "pigsty-probe"]);
    let q = run(Command::new("rpm")
        .arg(format!("--root={}", t.join("root").display()))
        .args(["-q", "pigsty-probe"]));
    assert_eq!(q.trim(), "pigsty-probe-1.0-1.noarch");
    let kept = run(Command::new("find")
        .arg(t.join("cache"))
        .args(["-name", "pigsty-probe-1.0-1.noarch.rpm"]));
    let kept = kept
        .lines()
        .next()
        .unwrap_or_else(|| panic!("dnf kept no package"));
    assert_eq!(std::fs::read(kept).unwrap(), std::fs::read(&rpm).unwrap());
    let events = s.events.clone();
    s.stop();
    let events = events.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| e.contains("\"GET /pigsty/repodata/repomd.xml HTTP/1.1\" 200")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.contains("\"GET /pigsty/pigsty-probe-1.0-1.noarch.rpm HTTP/1.1\" 200")),
        "{events:?}"
    );
}

/// Raises this test process's soft descriptor limit to its hard one: the tests below open
/// more than a thousand sockets.
fn raise_own_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let want = lim.maximum.unwrap_or(1 << 20);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: lim.maximum,
        },
    )
    .unwrap();
    assert!(
        want >= 4096,
        "this test needs 4096 descriptors; the hard limit is {want}"
    );
}

/// A connection to `addr` whose receive buffer is 4 KiB (set before the connection is made,
/// so the window stays small): a client that stops reading stalls the server after a few KiB
/// instead of after the many MiB loopback buffers take.
fn small_window_client(addr: SocketAddr) -> TcpStream {
    use rustix::net::{sockopt, AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
    sockopt::set_socket_recv_buffer_size(&fd, 4096).unwrap();
    rustix::net::connect(&fd, &addr).unwrap();
    TcpStream::from(fd)
}

/// The server binary on loopback, started the way a login shell or a service manager leaves
/// it: soft descriptor limit 1,024 (the usual default), hard 8,192. Its stderr (the access
/// log) is collected line by line.
struct Spawned {
    child: std::process::Child,
    addr: SocketAddr,
    pid: u32,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Spawned {
    fn new(dest: &std::path::Path, args: &[&str]) -> Spawned {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg("ulimit -Sn 1024 && ulimit -Hn 8192 && exec \"$0\" \"$@\"")
            .arg(env!("CARGO_BIN_EXE_pigsty-install"))
            .args(["serve", "--listen", "127.0.0.1:0", "--json", "--dest"])
            .arg(dest)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = log.clone();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                seen.lock().unwrap().push(line);
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let start: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("startup line {line:?}: {e}; log: {:?}", log.lock()));
        let addr = start["listen"].as_str().unwrap().parse().unwrap();
        let pid = child.id();
        assert_eq!(start["pid"], pid, "exec'd by sh: the same process");
        Spawned {
            child,
            addr,
            pid,
            log,
        }
    }

    /// A field of /proc/PID/status, in kB.
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .map(|v| v.trim().parse().unwrap())
            .unwrap_or_else(|| panic!("no {field} in {status}"))
    }

    /// Waits (up to 60 s) until `n` lines of the log contain `needle`.
    fn wait_log(&self, needle: &str, n: usize) {
        for _ in 0..600 {
            if self.count(needle) >= n {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let last: Vec<String> = self
            .log
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(5)
            .cloned()
            .collect();
        panic!(
            "{} lines with {needle:?}, wanted {n}; the last: {last:?}",
            self.count(needle)
        );
    }

    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(needle))
            .count()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET on a fresh connection, with a deadline for the whole answer.
fn get_within(addr: SocketAddr, target: &str, limit: Duration) -> std::io::Result<Resp> {
    let mut s = TcpStream::connect_timeout(&addr, limit)?;
    s.set_read_timeout(Some(limit))?;
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )?;
    let mut all = Vec::new();
    s.read_to_end(&mut all)?;
    Ok(read_response(&mut &all[..], false))
}

/// Sends a GET for `target` on a small-window connection and never reads the answer.
fn stalled_reader(addr: SocketAddr, target: &str) -> TcpStream {
    let mut c = small_window_client(addr);
    write!(c, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    c
}

#[test]
fn stalled_readers_pin_no_memory_and_leave_none_behind() {
    raise_own_nofile();
    let r = repo();
    let big = noise(77, 8 << 20);
    std::fs::write(r.dest.join("pigsty/big.deb"), &big).unwrap();
    let s = Spawned::new(&r.dest, &[]);
    // One whole transfer first: the base includes what serving a file needs at all.
    let whole = get_within(s.addr, "/pigsty/big.deb", Duration::from_secs(30)).unwrap();
    assert_eq!(sha(&whole.body), sha(&big));
    let (base_rss, base_hwm) = (s.status_kb("VmRSS"), s.status_kb("VmHWM"));

    // 500 clients ask for the 8 MiB file and never read: each stalls the server a few KiB in.
    const N: usize = 500;
    let stalled: Vec<_> = (0..N)
        .map(|_| stalled_reader(s.addr, "/pigsty/big.deb"))
        .collect();
    s.wait_log("\"GET /pigsty/big.deb HTTP/1.1\" 200", N + 1);
    // Time for the server to fill what each socket takes.
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = (s.status_kb("VmRSS"), s.status_kb("VmHWM"));
    eprintln!("{N} stalled readers: VmRSS {base_rss} -> {rss} kB, VmHWM {base_hwm} -> {hwm} kB");
    // Today's figure before the fix: 0.45-0.9 MB per stalled client (225-450 MB here).
    assert!(
        hwm < base_hwm + 16 * 1024,
        "peak RSS grew from {base_hwm} kB to {hwm} kB with {N} stalled readers"
    );

    // They leave; the memory returns (near) to where it was, and the server still serves.
    drop(stalled);
    let mut after = 0;
    for _ in 0..100 {
        after = s.status_kb("VmRSS");
        if after < base_rss + 8 * 1024 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("after they left: VmRSS {after} kB");
    assert!(
        after < base_rss + 8 * 1024,
        "RSS {after} kB after the stalled readers left, {base_rss} kB before"
    );
    let p = get_within(s.addr, "/pigsty/one", Duration::from_secs(10)).unwrap();
    assert_eq!((p.status, p.body), (200, b"x".to_vec()));
}

#[test]
fn a_client_that_takes_no_bytes_is_cut_after_the_write_timeout() {
    let r = repo();
    let big = noise(78, 8 << 20);
    std::fs::write(r.dest.join("pigsty/big.deb"), &big).unwrap();
    let s = Spawned::new(&r.dest, &["--write-timeout", "2"]);

    // A client that pauses three times for 1.2 s (3.6 s in all, longer than the timeout) but
    // reads on in between is served whole: the timeout counts from the last byte taken.
    let c = stalled_reader(s.addr, "/pigsty/big.deb");
    let mut rd = BufReader::new(c);
    let mut line = String::new();
    rd.read_line(&mut line).unwrap();
    assert!(line.starts_with("HTTP/1.1 200"), "{line}");
    while line != "\r\n" {
        line.clear();
        rd.read_line(&mut line).unwrap();
    }
    let mut got = Vec::with_capacity(big.len());
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1200));
        (&mut rd).take(1 << 20).read_to_end(&mut got).unwrap();
    }
    rd.take((big.len() - got.len()) as u64)
        .read_to_end(&mut got)
        .unwrap();
    assert_eq!(
        sha(&got),
        sha(&big),
        "the pausing client got the whole file"
    );

    // A client that takes nothing for longer than the timeout is cut: what it reads after
    // that ends (EOF or reset) well before the file does.
    let mut c = stalled_reader(s.addr, "/pigsty/big.deb");
    std::thread::sleep(Duration::from_secs(5));
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rest = Vec::new();
    let end = c.read_to_end(&mut rest);
    assert!(
        rest.len() < big.len() / 2,
        "{} bytes read after the pause ({end:?}): the stalled client was not cut",
        rest.len()
    );
    s.wait_log("accepted no bytes for 2 s", 1);
    // And the server goes on.
    let p = get_within(s.addr, "/pigsty/one", Duration::from_secs(10)).unwrap();
    assert_eq!((p.status, p.body), (200, b"x".to_vec()));
}

#[test]
fn more_slow_clients_than_the_default_descriptor_limit_and_a_new_one_is_served() {
    raise_own_nofile();
    let r = repo();
    let big = noise(79, 8 << 20);
    std::fs::write(r.dest.join("pigsty/big.deb"), &big).unwrap();
    let s = Spawned::new(&r.dest, &[]);
    // The server raised its soft limit to the hard one.
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", s.pid)).unwrap();
    let nofile: Vec<&str> = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&nofile[3..5], ["8192", "8192"], "{limits}");

    // 1,000 clients that sent half a request head and wait, and 100 that asked for the big
    // file and do not read it (a socket and an open file each): 1,200 descriptors.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        c.write_all(b"GET /pigsty/one HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        slow.push(c);
    }
    for _ in 0..100 {
        slow.push(stalled_reader(s.addr, "/pigsty/big.deb"));
    }
    s.wait_log("\"GET /pigsty/big.deb HTTP/1.1\" 200", 100);
    // A new client is served at once, not after the slow ones time out.
    let p = get_within(s.addr, "/pigsty/Packages", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("a new client with 1,100 slow ones connected: {e}"));
    assert_eq!(p.body, file_bytes(&r, "Packages"));
    drop(slow);
}

/// The fuzz target's corpus (`fuzz/corpus/serve_request`, seeds and what `cargo fuzz run`
/// kept) replayed through the same checks, on stable Rust, with every test run.
#[test]
fn the_fuzz_corpus_replays_clean() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/serve_request");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let run = std::panic::catch_unwind(|| pigsty_install::serve::fuzz_request(&data));
        assert!(run.is_ok(), "{} fails the checks", path.display());
        n += 1;
    }
    assert!(n >= 17, "only {n} inputs in {}", dir.display());
}
