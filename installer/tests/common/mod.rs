//! What the installer's HTTP tests share: a server on loopback in its own runtime, and
//! test data.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pigsty_install::serve::{Event, EventLog, ServeOptions, Server, Summary};
use sha2::{Digest, Sha256};

pub fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Incompressible bytes from a seed (xorshift).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A server on loopback in its own runtime; `stop` asks it to shut down and returns its summary.
pub struct Running {
    pub addr: SocketAddr,
    pub events: Arc<Mutex<Vec<String>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: std::sync::mpsc::Receiver<Summary>,
    _thread: std::thread::JoinHandle<()>,
}

impl Running {
    pub fn stop(mut self) -> Summary {
        let _ = self.stop.take().unwrap().send(());
        self.done.recv().unwrap()
    }
}

pub fn start(dest: &Path, grace: Duration) -> Running {
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let log: EventLog = Arc::new(move |e: &Event| seen.lock().unwrap().push(e.to_string()));
    let opts = ServeOptions {
        dest: dest.to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        grace,
        ..ServeOptions::default()
    };
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let server = Server::bind(&opts, log).await.unwrap();
            addr_tx.send(server.local_addr().unwrap()).unwrap();
            let summary = server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await;
            done_tx.send(summary).unwrap();
        });
    });
    Running {
        addr: addr_rx.recv().unwrap(),
        events,
        stop: Some(stop_tx),
        done: done_rx,
        _thread: thread,
    }
}
