//! Embeds the catalog (`extensions/*.toml`) and the manifests (`manifests/**/*.toml`) into the
//! binary, so that `pigsty-build` ships as one file.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, base, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            let rel = path
                .strip_prefix(base)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
}

fn table(name: &str, dir: &Path, code: &mut String) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(dir, dir, &mut files);
    files.sort();
    let _ = writeln!(
        code,
        "/// Files embedded from `{}`: relative path and contents.",
        dir.display()
    );
    let _ = writeln!(code, "pub static {name}: &[(&str, &str)] = &[");
    for (rel, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            code,
            "    ({rel:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    let _ = writeln!(code, "];");
}

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
            .parent()
            .expect("builder/ lies in the workspace")
            .to_path_buf();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut catalog = String::new();
    table("CATALOG_FILES", &root.join("extensions"), &mut catalog);
    std::fs::write(out.join("embedded.rs"), catalog).expect("write embedded.rs");
    let mut manifests = String::new();
    table("MANIFEST_FILES", &root.join("manifests"), &mut manifests);
    std::fs::write(out.join("manifests.rs"), manifests).expect("write manifests.rs");
}
