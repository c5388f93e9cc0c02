//! Keys and signatures: `key gen`, `sign`, `verify`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Subcommand;

use super::print_json;

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Write DIR/pigsty.key (armored secret key) and DIR/pigsty.pub, print the fingerprint
    #[command(
        after_help = "Example:\n  pigsty-build key gen --out keys --name \"Example Corp Repository\""
    )]
    Gen {
        /// The folder to write pigsty.key and pigsty.pub into (made if missing); an existing
        /// pigsty.key there is never overwritten
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The key's user id
        #[arg(long, default_value = "Pigsty Local Repository")]
        name: String,
        /// Print the fingerprint and the files written as JSON
        #[arg(long)]
        json: bool,
    },
}

pub fn key_gen(out: &Path, name: &str, json: bool, quiet: bool) -> Result<ExitCode> {
    use pigsty_bundle::sign::SecretKey;
    let key = SecretKey::generate(name)?;
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let secret = out.join("pigsty.key");
    let public = out.join("pigsty.pub");
    if secret.exists() {
        bail!(
            "{} exists; refusing to overwrite a signing key",
            secret.display()
        );
    }
    write_new(&secret, key.to_armored()?.as_bytes(), 0o600)?;
    write_new(&public, key.public().to_armored()?.as_bytes(), 0o644)?;
    if json {
        print_json(&serde_json::json!({
            "fingerprint": key.fingerprint().to_string(),
            "secret_key": secret,
            "public_key": public,
        }))?;
    } else {
        println!("{}", key.fingerprint());
        if !quiet {
            eprintln!("wrote {} and {}", secret.display(), public.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn sign(files: &[PathBuf], key: &Path, json: bool, quiet: bool) -> Result<ExitCode> {
    use pigsty_bundle::sign::SecretKey;
    let mut key = SecretKey::load(key)?;
    // Dated like the bundles of the same build, when SOURCE_DATE_EPOCH is set.
    if let Ok(v) = std::env::var("SOURCE_DATE_EPOCH") {
        let secs = v
            .trim()
            .parse::<u64>()
            .with_context(|| format!("bad SOURCE_DATE_EPOCH `{v}`"))?;
        key = key.with_signing_time(secs);
    }
    let mut written = Vec::new();
    for file in files {
        let sig = pigsty_build::sign::sign_file(&key, file)?;
        if !json {
            println!("{}", sig.display());
        }
        written.push(sig);
    }
    if json {
        print_json(&serde_json::json!({
            "fingerprint": key.fingerprint().to_string(),
            "signatures": written,
        }))?;
    } else if !quiet {
        eprintln!("signed by {}", key.fingerprint());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    pigsty_bundle::fs::write_atomic(path, data, mode)
        .with_context(|| format!("cannot write {}", path.display()))
}

pub fn verify(bundle: &Path, key: &Path, json: bool) -> Result<ExitCode> {
    let (head, fpr) = pigsty_build::build::verify(bundle, key)?;
    let manifest = head.manifest();
    if json {
        print_json(&serde_json::json!({
            "bundle": bundle,
            "fingerprint": fpr,
            "target": manifest.target,
            "files": manifest.files.len(),
            "packages": manifest.packages.len(),
        }))?;
    } else {
        println!(
            "{}: good signature by {fpr}; {} files, {} packages for {} verified",
            bundle.display(),
            manifest.files.len(),
            manifest.packages.len(),
            manifest.target
        );
    }
    Ok(ExitCode::SUCCESS)
}
