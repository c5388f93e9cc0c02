//! Load for a repo server: CLIENTS clients at once, each on its own connection, fetch every
//! file `MANIFEST.json` lists from the repo at URL (each client in another order), every
//! byte checked against the manifest's size and SHA-256 as it streams. Prints one JSON line
//! (clients, files, bytes, failures, seconds); exits 1 if anything failed.
//!
//! `cargo run --example fetch_repo -- http://10.77.0.1:8080/pigsty 50`

use std::time::Instant;

use anyhow::{bail, Context, Result};
use futures_util::StreamExt;
use pigsty_bundle::manifest::{FileEntry, Manifest};
use sha2::{Digest, Sha256};

/// Fetches `files` in order on one connection; the failures, and the bytes checked.
async fn client(url: String, files: Vec<FileEntry>) -> (Vec<String>, u64) {
    let mut failures = Vec::new();
    let mut bytes = 0u64;
    let http = match reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => return (vec![format!("client: {e}")], 0),
    };
    for f in files {
        let file_url = format!("{url}/{}", f.path.replace('%', "%25").replace(' ', "%20"));
        let resp = match http.get(&file_url).send().await {
            Ok(r) if r.status() == 200 => r,
            Ok(r) => {
                failures.push(format!("{file_url}: HTTP {}", r.status()));
                continue;
            }
            Err(e) => {
                failures.push(format!("{file_url}: {e}"));
                continue;
            }
        };
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut body = resp.bytes_stream();
        let mut broken = None;
        while let Some(chunk) = body.next().await {
            match chunk {
                Ok(c) => {
                    hasher.update(&c);
                    size += c.len() as u64;
                }
                Err(e) => {
                    broken = Some(e.to_string());
                    break;
                }
            }
        }
        let digest = hex::encode(hasher.finalize());
        if let Some(e) = broken {
            failures.push(format!("{file_url}: transfer broke: {e}"));
        } else if size != f.size || digest != f.sha256 {
            failures.push(format!(
                "{file_url}: got {size} bytes with sha256 {digest}, the manifest says {} bytes with {}",
                f.size, f.sha256
            ));
        }
        bytes += size;
    }
    (failures, bytes)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(clients)) = (args.get(1), args.get(2)) else {
        bail!("usage: fetch_repo URL CLIENTS");
    };
    let url = url.trim_end_matches('/').to_string();
    let clients: usize = clients.parse().context("CLIENTS is a number")?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let raw = reqwest::get(format!("{url}/MANIFEST.json"))
        .await
        .and_then(|r| r.error_for_status())
        .with_context(|| format!("{url}/MANIFEST.json"))?
        .bytes()
        .await?;
    let manifest = Manifest::from_json(&raw).with_context(|| format!("{url}/MANIFEST.json"))?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..clients {
        let mut files = manifest.files.clone();
        if !files.is_empty() {
            let n = files.len();
            files.rotate_left(i * n / clients.max(1) % n);
        }
        tasks.push(tokio::spawn(client(url.clone(), files)));
    }
    let mut failures = Vec::new();
    let mut bytes = 0u64;
    for t in tasks {
        let (f, b) = t.await?;
        failures.extend(f);
        bytes += b;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "clients": clients,
            "files": manifest.files.len(),
            "bytes": bytes,
            "expected_bytes": manifest.total_size() * clients as u64,
            "failures": failures.len(),
            "seconds": (seconds * 1000.0).round() / 1000.0,
        })
    );
    for f in failures.iter().take(20) {
        eprintln!("{f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
