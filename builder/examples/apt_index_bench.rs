//! What the builder does to index a flat apt repo, for `bench/apt-index.sh`: read the package
//! paragraphs it already has (here: an existing `Packages` file, as the upstream index gave
//! them, sizes and hashes included) and write `Packages`, `Packages.gz` and `Release` with
//! `pigsty_build::apt::repo::write_indexes`. No `.deb` is read.
//!
//! `cargo run --release -p pigsty-build --example apt_index_bench -- PACKAGES OUT_DIR`

use std::path::PathBuf;

use pigsty_build::apt::repo::{write_indexes, AptPackage, ReleaseMeta};

fn field<'a>(paragraph: &'a str, name: &str) -> Option<&'a str> {
    paragraph.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(packages), Some(out)) = (args.next(), args.next()) else {
        return Err("usage: apt_index_bench PACKAGES OUT_DIR".into());
    };
    let text = std::fs::read_to_string(PathBuf::from(packages))?;
    let mut list = Vec::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let get = |name: &str| {
            field(paragraph, name)
                .map(str::to_string)
                .ok_or_else(|| format!("a paragraph has no {name}: field"))
        };
        list.push(AptPackage {
            name: get("Package")?,
            version: get("Version")?,
            arch: get("Architecture")?,
            filename: get("Filename")?,
            paragraph: paragraph.to_string(),
        });
    }
    let meta = ReleaseMeta {
        origin: "Pigsty".into(),
        label: "Pigsty".into(),
        codename: "bookworm".into(),
        architectures: vec!["amd64".into(), "all".into()],
        description: "apt_index_bench".into(),
        date: 1_700_000_000,
    };
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    write_indexes(&out, &list, &meta)?;
    Ok(())
}
