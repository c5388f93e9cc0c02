//! Tests of the fetcher against a tiny HTTP/1.1 server on the loopback interface.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pigsty_build::fetch::{FetchError, FetchItem, Fetcher};
use sha2::{Digest, Sha256};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
}

/// What the server serves, how it misbehaves, and what it was asked.
#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    etags: HashMap<String, String>,
    /// Path -> how many more requests get a 500.
    fail_500: HashMap<String, usize>,
    /// Paths whose body is served with its last byte changed.
    corrupt: HashSet<String>,
    /// Path -> cut the connection after this many body bytes, once.
    cut: HashMap<String, usize>,
    /// Ignore `Range` and always answer 200.
    no_range: bool,
    /// Wait this long before answering.
    delay: Duration,
    /// Requests being answered now, and the most at once.
    active: usize,
    max_active: usize,
    log: Vec<Request>,
}

struct Server {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Server {
    fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Server { addr, state }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn add(&self, path: &str, body: Vec<u8>) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.to_string(), body);
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn requests(&self, path: &str) -> Vec<Request> {
        self.with(|s| s.log.iter().filter(|r| r.path == path).cloned().collect())
    }

    fn request_count(&self) -> usize {
        self.with(|s| s.log.len())
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" || h == "\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let request = Request {
        method,
        path,
        headers,
    };

    let delay = {
        let mut st = state.lock().unwrap();
        st.active += 1;
        st.max_active = st.max_active.max(st.active);
        st.delay
    };
    std::thread::sleep(delay);
    let result = answer(stream, state, request);
    state.lock().unwrap().active -= 1;
    result
}

fn answer(stream: TcpStream, state: &Mutex<State>, request: Request) -> std::io::Result<()> {
    let Request {
        method,
        path,
        headers,
    } = request.clone();
    let mut st = state.lock().unwrap();
    st.log.push(request);
    let mut out = stream;
    if let Some(n) = st.fail_500.get_mut(&path) {
        if *n > 0 {
            *n -= 1;
            drop(st);
            return respond(
                &mut out,
                "500 Internal Server Error",
                &[],
                b"boom",
                true,
                None,
            );
        }
    }
    let Some(mut body) = st.files.get(&path).cloned() else {
        drop(st);
        return respond(&mut out, "404 Not Found", &[], b"nope", true, None);
    };
    if st.corrupt.contains(&path) {
        if let Some(last) = body.last_mut() {
            *last ^= 0xff;
        }
    }
    let mut extra = Vec::new();
    if let Some(etag) = st.etags.get(&path).cloned() {
        if headers.get("if-none-match") == Some(&etag) {
            drop(st);
            let extra = vec![("ETag".to_string(), etag.clone())];
            return respond(&mut out, "304 Not Modified", &extra, b"", false, None);
        }
        extra.push(("ETag".to_string(), etag.clone()));
    }
    let cut = st.cut.remove(&path);
    let mut status = "200 OK";
    if let Some(range) = headers.get("range").filter(|_| !st.no_range) {
        let start: usize = range
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse()
            .unwrap();
        if start >= body.len() {
            drop(st);
            return respond(&mut out, "416 Range Not Satisfiable", &[], b"", true, None);
        }
        extra.push((
            "Content-Range".to_string(),
            format!("bytes {start}-{}/{}", body.len() - 1, body.len()),
        ));
        body = body[start..].to_vec();
        status = "206 Partial Content";
    }
    drop(st);
    respond(&mut out, status, &extra, &body, method != "HEAD", cut)
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    extra: &[(String, String)],
    body: &[u8],
    send_body: bool,
    cut: Option<usize>,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    if send_body {
        let n = cut.unwrap_or(body.len()).min(body.len());
        out.write_all(&body[..n])?;
    }
    out.flush()?;
    out.shutdown(Shutdown::Write)
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic bytes that differ from file to file.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn item(server: &Server, path: &str, data: &[u8]) -> FetchItem {
    FetchItem {
        url: server.url(path),
        sha256: sha(data),
        size: data.len() as u64,
        name: path.trim_start_matches('/').to_string(),
    }
}

fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(cache, 8)
        .unwrap()
        .with_retries(3, Duration::from_millis(20))
        .without_proxy()
        .unwrap()
}

fn partial_of(fetcher: &Fetcher, sha256: &str) -> std::path::PathBuf {
    let mut p = fetcher.cache_path(sha256).into_os_string();
    p.push(".partial");
    p.into()
}

fn failed(err: FetchError) -> Vec<FetchError> {
    match err {
        FetchError::Failed { errors, .. } => errors,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn many_files_in_parallel_all_verified() {
    let server = Server::start();
    let mut items = Vec::new();
    let mut bodies = Vec::new();
    for i in 0..40u64 {
        let data = content(i, 1000 + (i as usize * 7919) % 300_000);
        let path = format!("/pool/p{i}.rpm");
        server.add(&path, data.clone());
        items.push(item(&server, &path, &data));
        bodies.push(data);
    }
    // The same file under two names is fetched once.
    items.push(FetchItem {
        name: "again.rpm".into(),
        ..items[3].clone()
    });
    bodies.push(bodies[3].clone());

    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let paths = f.fetch_all(&items).unwrap();
    assert_eq!(paths.len(), items.len());
    for ((path, it), data) in paths.iter().zip(&items).zip(&bodies) {
        assert_eq!(path, &f.cache_path(&it.sha256));
        assert_eq!(&std::fs::read(path).unwrap(), data);
        assert!(!partial_of(&f, &it.sha256).exists());
    }
    assert_eq!(server.request_count(), 40);
    let hex = &items[0].sha256;
    assert!(paths[0].ends_with(format!("sha256/{}/{hex}", &hex[..2])));
}

#[test]
fn cache_hit_makes_no_request() {
    let server = Server::start();
    let data = content(1, 50_000);
    server.add("/a.deb", data.clone());
    let it = item(&server, "/a.deb", &data);
    let cache = tempfile::tempdir().unwrap();
    fetcher(cache.path())
        .fetch_all(std::slice::from_ref(&it))
        .unwrap();
    assert_eq!(server.request_count(), 1);

    let again = fetcher(cache.path()).fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&again[0]).unwrap(), data);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn cached_file_of_wrong_size_is_fetched_again() {
    let server = Server::start();
    let data = content(2, 20_000);
    server.add("/b.deb", data.clone());
    let it = item(&server, "/b.deb", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let path = f.cache_path(&it.sha256);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"short").unwrap();
    f.fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn wrong_checksum_is_an_error_and_leaves_no_file() {
    let server = Server::start();
    let data = content(3, 70_000);
    server.add("/bad.rpm", data.clone());
    server.with(|s| s.corrupt.insert("/bad.rpm".into()));
    let it = item(&server, "/bad.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let errors = failed(f.fetch_all(std::slice::from_ref(&it)).unwrap_err());
    assert_eq!(errors.len(), 1);
    match &errors[0] {
        FetchError::Checksum {
            url,
            expected,
            actual,
            ..
        } => {
            assert_eq!(url, &it.url);
            assert_eq!(expected, &it.sha256);
            assert_ne!(actual, &it.sha256);
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    let msg = errors[0].to_string();
    assert!(msg.contains(&it.url) && msg.contains(&it.sha256), "{msg}");
    assert!(!f.cache_path(&it.sha256).exists());
    assert!(!partial_of(&f, &it.sha256).exists());
    // Retried once from scratch, then given up.
    assert_eq!(server.request_count(), 2);
}

#[test]
fn size_mismatch_is_an_error() {
    let server = Server::start();
    let data = content(4, 10_000);
    server.add("/c.rpm", data.clone());
    let mut it = item(&server, "/c.rpm", &data);
    it.size += 1;
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let errors = failed(f.fetch_all(std::slice::from_ref(&it)).unwrap_err());
    assert!(
        matches!(&errors[0], FetchError::Size { url, expected: 10_001, actual: 10_000, .. } if url == &it.url),
        "{errors:?}"
    );
    assert!(!f.cache_path(&it.sha256).exists());
}

#[test]
fn cut_connection_is_resumed_with_range() {
    let server = Server::start();
    let data = content(5, 300_000);
    server.add("/big.rpm", data.clone());
    server.with(|s| s.cut.insert("/big.rpm".into(), 100_000));
    let it = item(&server, "/big.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let paths = fetcher(cache.path()).fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    let requests = server.requests("/big.rpm");
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].headers.get("range"), None);
    assert_eq!(
        requests[1].headers.get("range").map(String::as_str),
        Some("bytes=100000-")
    );
}

#[test]
fn partial_from_an_earlier_run_is_resumed() {
    let server = Server::start();
    let data = content(6, 200_000);
    server.add("/half.deb", data.clone());
    let it = item(&server, "/half.deb", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let partial = partial_of(&f, &it.sha256);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &data[..123_456]).unwrap();
    let paths = f.fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    assert!(!partial.exists());
    let requests = server.requests("/half.deb");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].headers.get("range").map(String::as_str),
        Some("bytes=123456-")
    );
}

#[test]
fn server_without_ranges_restarts_from_zero() {
    let server = Server::start();
    let data = content(7, 90_000);
    server.add("/norange.deb", data.clone());
    server.with(|s| s.no_range = true);
    let it = item(&server, "/norange.deb", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let partial = partial_of(&f, &it.sha256);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &data[..40_000]).unwrap();
    let paths = f.fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn corrupt_partial_is_fetched_again_from_scratch() {
    let server = Server::start();
    let data = content(8, 60_000);
    server.add("/p.rpm", data.clone());
    let it = item(&server, "/p.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let partial = partial_of(&f, &it.sha256);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, vec![0u8; 30_000]).unwrap();
    let paths = f.fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    let requests = server.requests("/p.rpm");
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.contains_key("range"));
    assert!(!requests[1].headers.contains_key("range"));
}

#[test]
fn server_errors_are_retried() {
    let server = Server::start();
    let data = content(9, 5_000);
    server.add("/flaky.rpm", data.clone());
    server.with(|s| s.fail_500.insert("/flaky.rpm".into(), 2));
    let it = item(&server, "/flaky.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    // The default backoff: 200 ms, then 400 ms.
    let f = Fetcher::new(cache.path(), 8)
        .unwrap()
        .without_proxy()
        .unwrap();
    let start = std::time::Instant::now();
    let paths = f.fetch_all(&[it]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(600));
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    assert_eq!(server.request_count(), 3);
}

#[test]
fn persistent_server_errors_give_up() {
    let server = Server::start();
    let data = content(10, 5_000);
    server.add("/down.rpm", data.clone());
    server.with(|s| s.fail_500.insert("/down.rpm".into(), 100));
    let it = item(&server, "/down.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let errors = failed(fetcher(cache.path()).fetch_all(&[it]).unwrap_err());
    assert!(matches!(errors[0], FetchError::Status { status: 500, .. }));
    // One try and three retries.
    assert_eq!(server.request_count(), 4);
}

#[test]
fn not_found_is_not_retried() {
    let server = Server::start();
    let data = content(11, 5_000);
    let it = item(&server, "/missing.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let errors = failed(
        fetcher(cache.path())
            .fetch_all(std::slice::from_ref(&it))
            .unwrap_err(),
    );
    match &errors[0] {
        FetchError::Status { url, status } => {
            assert_eq!(url, &it.url);
            assert_eq!(*status, 404);
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    assert!(errors[0].to_string().contains(&it.url));
    assert!(errors[0].to_string().contains("404"));
    assert_eq!(server.request_count(), 1);
}

#[test]
fn unreachable_port_is_a_connection_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/x.rpm");
    let it = FetchItem {
        url: url.clone(),
        sha256: sha(b"x"),
        size: 1,
        name: "x.rpm".into(),
    };
    let cache = tempfile::tempdir().unwrap();
    let errors = failed(fetcher(cache.path()).fetch_all(&[it]).unwrap_err());
    assert!(
        matches!(&errors[0], FetchError::Connect { url: u, .. } if u == &url),
        "{errors:?}"
    );
    assert!(errors[0].to_string().contains(&url));
}

#[test]
fn every_failure_is_reported_together() {
    let server = Server::start();
    let good = content(12, 1_000);
    server.add("/good.rpm", good.clone());
    let mut items = vec![item(&server, "/good.rpm", &good)];
    for i in 0..3 {
        items.push(item(
            &server,
            &format!("/gone{i}.rpm"),
            &content(20 + i, 10),
        ));
    }
    items.push(FetchItem {
        sha256: "not-a-hash".into(),
        ..items[0].clone()
    });
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let err = f.fetch_all(&items).unwrap_err();
    let msg = err.to_string();
    assert!(msg.starts_with("4 of 5 downloads failed"), "{msg}");
    for i in 0..3 {
        assert!(msg.contains(&server.url(&format!("/gone{i}.rpm"))), "{msg}");
    }
    assert!(msg.contains("not-a-hash"), "{msg}");
    // The good one is in the cache all the same.
    assert!(f.cache_path(&items[0].sha256).exists());

    let each = f.fetch_each(&items);
    assert!(each[0].is_ok());
    assert!(each[1..].iter().all(Result::is_err));
}

#[test]
fn fetch_index_uses_conditional_requests() {
    let server = Server::start();
    server.add("/dists/x/InRelease", b"first".to_vec());
    server.with(|s| s.etags.insert("/dists/x/InRelease".into(), "\"v1\"".into()));
    let url = server.url("/dists/x/InRelease");
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());

    let path = f.fetch_index(&url).unwrap();
    assert!(path.starts_with(cache.path().join("http")));
    assert_eq!(std::fs::read(&path).unwrap(), b"first");

    let again = f.fetch_index(&url).unwrap();
    assert_eq!(again, path);
    assert_eq!(std::fs::read(&again).unwrap(), b"first");
    let requests = server.requests("/dists/x/InRelease");
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].headers.get("if-none-match"), None);
    assert_eq!(
        requests[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );

    // A new version is fetched and replaces the old one.
    server.add("/dists/x/InRelease", b"second".to_vec());
    server.with(|s| s.etags.insert("/dists/x/InRelease".into(), "\"v2\"".into()));
    let third = f.fetch_index(&url).unwrap();
    assert_eq!(std::fs::read(&third).unwrap(), b"second");
    let fourth = f.fetch_index(&url).unwrap();
    assert_eq!(std::fs::read(&fourth).unwrap(), b"second");
    let requests = server.requests("/dists/x/InRelease");
    assert_eq!(requests.len(), 4);
    assert_eq!(
        requests[3].headers.get("if-none-match").map(String::as_str),
        Some("\"v2\"")
    );
    assert!(requests.iter().all(|r| r.method == "GET"));
}

#[test]
fn fetch_index_404_names_the_url() {
    let server = Server::start();
    let url = server.url("/dists/y/InRelease");
    let cache = tempfile::tempdir().unwrap();
    let err = fetcher(cache.path()).fetch_index(&url).unwrap_err();
    assert!(matches!(err, FetchError::Status { status: 404, .. }));
    assert!(err.to_string().contains(&url));
    assert_eq!(server.request_count(), 1);
}

#[test]
fn a_dead_mirror_fails_fast() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let items: Vec<FetchItem> = (0..20)
        .map(|i| FetchItem {
            url: format!("http://127.0.0.1:{port}/p{i}.rpm"),
            sha256: sha(&[i]),
            size: 1,
            name: format!("p{i}.rpm"),
        })
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path(), 1)
        .unwrap()
        .with_retries(1, Duration::from_millis(1))
        .with_max_failures(3)
        .without_proxy()
        .unwrap();
    let errors = failed(f.fetch_all(&items).unwrap_err());
    assert_eq!(errors.len(), 20);
    let connect = errors
        .iter()
        .filter(|e| matches!(e, FetchError::Connect { .. }))
        .count();
    let not_tried = errors
        .iter()
        .filter(|e| matches!(e, FetchError::NotTried { .. }))
        .count();
    assert_eq!((connect, not_tried), (3, 17), "{errors:?}");
}

#[test]
fn resume_with_a_different_total_is_a_size_error() {
    let server = Server::start();
    let data = content(30, 50_000);
    server.add("/grown.rpm", data.clone());
    // The item says the file is shorter than what the server has.
    let it = FetchItem {
        size: 40_000,
        ..item(&server, "/grown.rpm", &data[..40_000])
    };
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let partial = partial_of(&f, &it.sha256);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &data[..10_000]).unwrap();
    let errors = failed(f.fetch_all(std::slice::from_ref(&it)).unwrap_err());
    assert!(
        matches!(
            &errors[0],
            FetchError::Size {
                expected: 40_000,
                actual: 50_000,
                ..
            }
        ),
        "{errors:?}"
    );
    assert!(!f.cache_path(&it.sha256).exists());
    assert!(!partial.exists());
    // The ranged try, then one from scratch.
    assert_eq!(server.request_count(), 2);
}

#[test]
fn at_most_jobs_downloads_at_once() {
    let server = Server::start();
    server.with(|s| s.delay = Duration::from_millis(100));
    let items: Vec<FetchItem> = (0..12u64)
        .map(|i| {
            let data = content(40 + i, 2_000);
            let path = format!("/slow{i}.deb");
            server.add(&path, data.clone());
            item(&server, &path, &data)
        })
        .collect();
    let cache = tempfile::tempdir().unwrap();
    let f = Fetcher::new(cache.path(), 3)
        .unwrap()
        .without_proxy()
        .unwrap();
    f.fetch_all(&items).unwrap();
    let max = server.with(|s| s.max_active);
    assert!((2..=3).contains(&max), "{max} at once");
}

#[test]
fn complete_partial_is_checked_and_kept_without_a_request() {
    let server = Server::start();
    let data = content(50, 30_000);
    server.add("/done.rpm", data.clone());
    let it = item(&server, "/done.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let partial = partial_of(&f, &it.sha256);
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &data).unwrap();
    let paths = f.fetch_all(&[it]).unwrap();
    assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    assert!(!partial.exists());
    assert_eq!(server.request_count(), 0);
}

#[test]
fn same_hash_twice_is_one_request_and_both_fail_together() {
    let server = Server::start();
    let data = content(60, 100);
    let a = item(&server, "/a/gone.rpm", &data);
    let b = item(&server, "/b/gone.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    let each = fetcher(cache.path()).fetch_each(&[a.clone(), b.clone()]);
    assert!(matches!(&each[0], Err(FetchError::Status { status: 404, url }) if url == &a.url));
    assert!(
        matches!(&each[1], Err(FetchError::SameHashFailed { url, .. }) if url == &b.url),
        "{each:?}"
    );
    assert_eq!(server.request_count(), 1);
}

#[test]
fn two_fetchers_sharing_a_cache_download_once() {
    let server = Server::start();
    server.with(|s| s.delay = Duration::from_millis(300));
    let data = content(70, 100_000);
    server.add("/shared.rpm", data.clone());
    let it = item(&server, "/shared.rpm", &data);
    let cache = tempfile::tempdir().unwrap();
    // Each fetcher opens its own lock file, as two processes would.
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                let it = it.clone();
                let dir = cache.path();
                scope.spawn(move || fetcher(dir).fetch_all(&[it]))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        let paths = r.unwrap();
        assert_eq!(std::fs::read(&paths[0]).unwrap(), data);
    }
    assert_eq!(server.request_count(), 1);
    let dir = fetcher(cache.path()).cache_path(&it.sha256);
    let leftovers: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from(&it.sha256)]);
}

#[test]
fn https_to_a_plain_server_is_a_connection_error() {
    // The TLS stack is there and answers a failed handshake with an error, not a panic.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
            let _ = stream.shutdown(Shutdown::Write);
        }
    });
    let url = format!("https://{addr}/t.rpm");
    let it = FetchItem {
        url: url.clone(),
        sha256: sha(b"t"),
        size: 1,
        name: "t.rpm".into(),
    };
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path()).with_retries(0, Duration::from_millis(1));
    let errors = failed(f.fetch_all(&[it]).unwrap_err());
    assert!(
        matches!(&errors[0], FetchError::Connect { url: u, .. } if u == &url),
        "{errors:?}"
    );
}
