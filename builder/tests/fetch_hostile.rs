//! The fetcher against servers that try to hold or fill the builder: an unauthenticated index
//! far larger than any signed index, a body that trickles, a length that lies. Each is a raw
//! TCP server on loopback doing exactly the one bad thing.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use pigsty_build::fetch::{FetchError, FetchItem, Fetcher, Limits, MAX_SIGNED_INDEX};

/// Serves every connection with `answer`, after reading the request head.
fn server(answer: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                    line.clear();
                }
                answer(stream);
            });
        }
    });
    format!("http://{addr}")
}

/// Strict limits, so that a hostile server shows in seconds.
fn fetcher(cache: &std::path::Path) -> Fetcher {
    Fetcher::new(cache, 2)
        .unwrap()
        .with_retries(1, Duration::from_millis(10))
        .with_limits(Limits {
            deadline_floor: Duration::from_secs(20),
            min_speed: 4096,
            window: Duration::from_secs(1),
        })
        .without_proxy()
        .unwrap()
}

/// Every cause of an error, as the binary prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The files the cache holds, but the lock files.
fn cached_files(cache: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![cache.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.to_string_lossy().ends_with(".lock") {
                out.push(p.display().to_string());
            }
        }
    }
    out
}

#[test]
fn a_huge_unsigned_index_is_refused_and_not_kept() {
    // Announced: refused before a byte of the body is read.
    let announced = server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 314572800\r\n\r\n");
        let chunk = vec![b'A'; 1 << 16];
        for _ in 0..64 {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    // Not announced (the length is the connection's end): refused at the cap.
    let streamed = server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        let chunk = vec![b'A'; 1 << 16];
        for _ in 0..(300 << 4) {
            if s.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    for base in [announced, streamed] {
        let cache = tempfile::tempdir().unwrap();
        let f = fetcher(cache.path());
        let err = f
            .fetch_index(&format!("{base}/dists/bookworm/InRelease"))
            .unwrap_err();
        assert!(
            matches!(&err, FetchError::TooLarge { limit, .. } if *limit == MAX_SIGNED_INDEX),
            "{}",
            chain(&err)
        );
        assert!(chain(&err).contains("refused before it is checked"));
        assert_eq!(cached_files(cache.path()), Vec::<String>::new());
    }
}

#[test]
fn a_trickling_server_is_given_up() {
    // One byte every 300 ms of a file that announces 100 000 bytes: under 4 KiB/s.
    let base = server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
        for _ in 0..100_000 {
            if s.write_all(b"x").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let item = FetchItem {
        url: format!("{base}/pool/slow_1.0_amd64.deb"),
        sha256: "a".repeat(64),
        size: 100_000,
        name: "slow_1.0_amd64.deb".into(),
    };
    let err = f.fetch_all(std::slice::from_ref(&item)).unwrap_err();
    let text = chain(&err);
    assert!(
        text.contains("too slow: fewer than 4096 bytes in 1 s"),
        "{text}"
    );
    assert!(text.contains("slow_1.0_amd64.deb"), "{text}");
    // An index the same way.
    let err = f
        .fetch_index(&format!("{base}/dists/x/InRelease"))
        .unwrap_err();
    assert!(chain(&err).contains("too slow"), "{}", chain(&err));
}

#[test]
fn a_length_that_lies_costs_a_window_not_minutes() {
    // Announces the right length, sends half, then holds the connection open.
    let base = server(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 20000\r\n\r\n");
        let _ = s.write_all(&[b'y'; 10_000]);
        std::thread::sleep(Duration::from_secs(120));
    });
    let cache = tempfile::tempdir().unwrap();
    let f = fetcher(cache.path());
    let item = FetchItem {
        url: format!("{base}/pool/half_1.0_amd64.deb"),
        sha256: "b".repeat(64),
        size: 20_000,
        name: "half_1.0_amd64.deb".into(),
    };
    let err = f.fetch_all(std::slice::from_ref(&item)).unwrap_err();
    // Given up by the speed rule (the read timeout alone would wait a minute a try).
    assert!(chain(&err).contains("too slow"), "{}", chain(&err));
}
