//! The dnf resolution of `pigsty-build` on a large generated repository, for
//! `bench/dnf-closure.sh`.
//!
//! `dnf_closure_bench generate DIR [PACKAGES]` writes an rpm repository's metadata (no rpm
//! files): `repodata/primary.xml.gz`, `filelists.xml.gz`, `repomd.xml` and its signature
//! `repomd.xml.asc` (key in `DIR/key.pub`), plus `DIR/request.txt`, 300 package names to
//! install. 50 000 packages by default, with a realistic shape: a layered dependency graph
//! (each package requires ~6 things of lower layers, a few core packages required by
//! many), sonames, `python3dist()` / `perl()` provides, ISA provides, shared virtual provides
//! with several providers, older builds of some packages, i686 builds of libraries (never to
//! be chosen), file requirements met by `primary.xml` (`/usr/bin/...`) and some only by
//! `filelists.xml`, and rich dependencies (`or`, `if`, `with`).
//!
//! `dnf_closure_bench resolve DIR [--list]` serves DIR on a loopback HTTP server and does
//! what `pigsty-build` does for an rpm target: [`upstream::load`] (fetch `repomd.xml`, verify
//! its signature, fetch and check `primary.xml.gz`, parse it) and [`resolve`] (the closure,
//! fetching `filelists.xml.gz` when a file requirement needs it). Prints the phase times on
//! stderr, with `--list` the selected NEVRAs on stdout.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::serve;
use pigsty_build::apt::Requested;
use pigsty_build::dnf::upstream::{self, DnfSource};
use pigsty_build::dnf::{resolve, DnfClosureOptions};
use pigsty_build::fetch::Fetcher;
use pigsty_bundle::sign::{PublicKeyring, SecretKey};
use sha2::{Digest, Sha256};

type Error = Box<dyn std::error::Error>;

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("generate") if args.len() >= 2 => {
            let n = match args.get(2) {
                Some(n) => n.parse()?,
                None => 50_000,
            };
            generate(Path::new(&args[1]), n)
        }
        Some("resolve") if args.len() >= 2 => {
            run(Path::new(&args[1]), args.iter().any(|a| a == "--list"))
        }
        _ => Err("usage: dnf_closure_bench generate DIR [PACKAGES] | resolve DIR [--list]".into()),
    }
}

/// Deterministic xorshift generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lib,
    Python,
    Perl,
    Tool,
}

struct Name {
    name: String,
    kind: Kind,
    version: String,
}

/// What requiring package `j` looks like, by its kind.
fn requirement(names: &[Name], j: usize, rng: &mut Rng) -> String {
    let t = &names[j];
    match t.kind {
        Kind::Lib => format!("lib{}.so.1()(64bit)", t.name),
        Kind::Python => format!("python3dist({}) >= 1.0", t.name),
        Kind::Perl => format!("perl(Bench::{})", t.name),
        Kind::Tool => {
            if rng.chance(50) {
                format!("/usr/bin/{}", t.name)
            } else {
                format!("{} >= 1.0", t.name)
            }
        }
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An `rpm:entry` for `name [OP version]` or a rich `(...)`.
fn entry(dep: &str) -> String {
    if dep.starts_with('(') {
        return format!("<rpm:entry name=\"{}\"/>", esc(dep));
    }
    let parts: Vec<&str> = dep.split_whitespace().collect();
    match parts.as_slice() {
        [name, op, ver] => {
            let flags = match *op {
                "=" => "EQ",
                ">=" => "GE",
                "<=" => "LE",
                "<" => "LT",
                _ => "GT",
            };
            let (v, r) = ver.split_once('-').unwrap_or((ver, ""));
            let rel = if r.is_empty() {
                String::new()
            } else {
                format!(" rel=\"{r}\"")
            };
            format!(
                "<rpm:entry name=\"{}\" flags=\"{flags}\" epoch=\"0\" ver=\"{v}\"{rel}/>",
                esc(name)
            )
        }
        _ => format!("<rpm:entry name=\"{}\"/>", esc(dep)),
    }
}

struct Pkg {
    name: String,
    arch: &'static str,
    version: String,
    release: &'static str,
    provides: Vec<String>,
    requires: Vec<String>,
    /// Files `primary.xml` lists too.
    primary_files: Vec<String>,
    other_files: Vec<String>,
}

fn packages(n: usize) -> (Vec<Pkg>, Vec<String>) {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let extra_old = n * 6 / 100;
    let i686 = n * 2 / 100;
    let count = n - extra_old - i686;
    let kinds = [Kind::Lib, Kind::Lib, Kind::Python, Kind::Perl, Kind::Tool];
    let names: Vec<Name> = (0..count)
        .map(|i| {
            let kind = kinds[i % kinds.len()];
            let prefix = match kind {
                Kind::Lib => "lib",
                Kind::Python => "python3-",
                Kind::Perl => "perl-",
                Kind::Tool => "",
            };
            Name {
                name: format!("{prefix}pkg{i:05}"),
                kind,
                version: format!("{}.{}.{}", 1 + i % 7, i % 13, i % 5),
            }
        })
        .collect();
    const CORE: usize = 400;
    const VIRTUALS: usize = 40;
    let mut out = Vec::with_capacity(n);
    for (i, nm) in names.iter().enumerate() {
        let noarch = matches!(nm.kind, Kind::Python | Kind::Perl);
        let arch = if noarch { "noarch" } else { "x86_64" };
        let evr = format!("{}-1.el9", nm.version);
        let mut provides = vec![format!("{} = {evr}", nm.name)];
        if !noarch {
            provides.push(format!("{}(x86-64) = {evr}", nm.name));
        }
        let mut primary_files = Vec::new();
        let mut other_files = vec![
            format!("/usr/share/{}/data.dat", nm.name),
            format!("/usr/share/doc/{}/README", nm.name),
        ];
        match nm.kind {
            Kind::Lib => {
                provides.push(format!("lib{}.so.1()(64bit)", nm.name));
                other_files.push(format!("/usr/lib64/lib{}.so.1", nm.name));
            }
            Kind::Python => provides.push(format!("python3dist({}) = {}", nm.name, nm.version)),
            Kind::Perl => provides.push(format!("perl(Bench::{}) = {}", nm.name, nm.version)),
            Kind::Tool => primary_files.push(format!("/usr/bin/{}", nm.name)),
        }
        if i == 0 {
            provides.push("/bin/sh".into());
            primary_files.push("/usr/bin/sh".into());
        }
        if i % 97 == 0 {
            provides.push(format!("bench-virtual{}", (i / 97) % VIRTUALS));
        }
        let mut requires = Vec::new();
        if i > 0 {
            // Most requirements go to the core (glibc, openssl, ...: the first CORE
            // packages); about one in six to another package of a lower layer, so that the
            // closure of a few hundred packages stays in the low thousands, as on EL.
            let fanout = if i < CORE {
                rng.below(3)
            } else {
                2 + rng.below(7)
            };
            for _ in 0..fanout {
                let j = if i <= CORE || rng.chance(16) {
                    let lo = i.saturating_sub(3000);
                    lo + rng.below(i - lo)
                } else {
                    rng.below(CORE)
                };
                let r = requirement(&names, j, &mut rng);
                if !requires.contains(&r) {
                    requires.push(r);
                }
            }
            if rng.chance(20) {
                requires.push("/bin/sh".into());
            }
            if i > 200 && rng.chance(1) {
                // Only filelists.xml has it.
                let j = rng.below(i);
                requires.push(format!("/usr/share/{}/data.dat", names[j].name));
            }
            if i > 200 && rng.chance(2) {
                let a = rng.below(i);
                let b = rng.below(i);
                requires.push(match rng.below(3) {
                    0 => format!("({} or {})", names[a].name, names[b].name),
                    1 => format!("({} if {})", names[a].name, names[b].name),
                    _ => format!("({} >= 1.0 with {} < 99)", names[a].name, names[a].name),
                });
            }
            if i > 97 * VIRTUALS && rng.chance(1) {
                requires.push(format!("bench-virtual{}", rng.below(VIRTUALS)));
            }
        }
        out.push(Pkg {
            name: nm.name.clone(),
            arch,
            version: nm.version.clone(),
            release: "1.el9",
            provides,
            requires,
            primary_files,
            other_files,
        });
    }
    // Older builds of some packages, and i686 builds of libraries.
    for k in 0..extra_old {
        let i = (k * 7919) % count;
        let p = &out[i];
        let old = Pkg {
            name: p.name.clone(),
            arch: p.arch,
            version: format!("0.{}", k % 9),
            release: "1.el9",
            provides: p
                .provides
                .iter()
                .map(|s| {
                    s.replace(
                        &format!("= {}-1.el9", p.version),
                        &format!("= 0.{}-1.el9", k % 9),
                    )
                })
                .collect(),
            requires: p.requires.clone(),
            primary_files: p.primary_files.clone(),
            other_files: p.other_files.clone(),
        };
        out.push(old);
    }
    let libs: Vec<usize> = (0..count).filter(|&i| names[i].kind == Kind::Lib).collect();
    for k in 0..i686 {
        let i = libs[(k * 31) % libs.len()];
        let p = &out[i];
        out.push(Pkg {
            name: p.name.clone(),
            arch: "i686",
            version: format!("{}.1", p.version),
            release: "1.el9",
            provides: vec![format!("lib{}.so.1", p.name)],
            requires: Vec::new(),
            primary_files: Vec::new(),
            other_files: Vec::new(),
        });
    }
    let mut request = Vec::new();
    for k in 0..300 {
        let i = count / 2 + (k * 7717) % (count / 2);
        request.push(names[i].name.clone());
    }
    request.sort();
    request.dedup();
    (out, request)
}

fn gzip(data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(data)?;
    Ok(gz.finish()?)
}

fn generate(dir: &Path, n: usize) -> Result<(), Error> {
    let (pkgs, request) = packages(n);
    let repodata = dir.join("repodata");
    std::fs::create_dir_all(&repodata)?;
    let mut primary = String::with_capacity(n * 2000);
    let mut filelists = String::with_capacity(n * 400);
    let _ = write!(
        primary,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"{}\">\n",
        pkgs.len()
    );
    let _ = write!(
        filelists,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<filelists xmlns=\"http://linux.duke.edu/metadata/filelists\" packages=\"{}\">\n",
        pkgs.len()
    );
    for p in &pkgs {
        let nevra = format!("{}-{}-{}.{}", p.name, p.version, p.release, p.arch);
        let id = hex::encode(Sha256::digest(nevra.as_bytes()));
        let size = 10_000 + (id.as_bytes()[0] as u64) * 1000;
        let _ = write!(
            primary,
            "<package type=\"rpm\">\n  <name>{name}</name>\n  <arch>{arch}</arch>\n  <version epoch=\"0\" ver=\"{v}\" rel=\"{r}\"/>\n  <checksum type=\"sha256\" pkgid=\"YES\">{id}</checksum>\n  <summary>{name}: a generated package</summary>\n  <description>A generated package of the dnf closure benchmark.</description>\n  <packager></packager>\n  <url>http://127.0.0.1/bench</url>\n  <time file=\"1700000000\" build=\"1700000000\"/>\n  <size package=\"{size}\" installed=\"{size}\" archive=\"{size}\"/>\n  <location href=\"Packages/{nevra}.rpm\"/>\n  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:vendor>Bench</rpm:vendor>\n    <rpm:group>Unspecified</rpm:group>\n    <rpm:buildhost>bench.localdomain</rpm:buildhost>\n    <rpm:sourcerpm>{name}-{v}-{r}.src.rpm</rpm:sourcerpm>\n    <rpm:header-range start=\"4504\" end=\"9000\"/>\n    <rpm:provides>\n",
            name = p.name,
            arch = p.arch,
            v = p.version,
            r = p.release,
        );
        for d in &p.provides {
            let _ = writeln!(primary, "      {}", entry(d));
        }
        primary.push_str("    </rpm:provides>\n");
        if !p.requires.is_empty() {
            primary.push_str("    <rpm:requires>\n");
            for d in &p.requires {
                let _ = writeln!(primary, "      {}", entry(d));
            }
            primary.push_str("    </rpm:requires>\n");
        }
        for f in &p.primary_files {
            let _ = writeln!(primary, "    <file>{f}</file>");
        }
        primary.push_str("  </format>\n</package>\n");
        let _ = write!(
            filelists,
            "<package pkgid=\"{id}\" name=\"{}\" arch=\"{}\">\n  <version epoch=\"0\" ver=\"{}\" rel=\"{}\"/>\n",
            p.name, p.arch, p.version, p.release
        );
        for f in p.primary_files.iter().chain(&p.other_files) {
            let _ = writeln!(filelists, "  <file>{f}</file>");
        }
        filelists.push_str("</package>\n");
    }
    primary.push_str("</metadata>\n");
    filelists.push_str("</filelists>\n");

    let mut repomd = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n  <revision>1700000000</revision>\n",
    );
    for (kind, text) in [("primary", &primary), ("filelists", &filelists)] {
        let gz = gzip(text.as_bytes())?;
        let sha = hex::encode(Sha256::digest(&gz));
        let name = format!("{sha}-{kind}.xml.gz");
        std::fs::write(repodata.join(&name), &gz)?;
        let _ = write!(
            repomd,
            "  <data type=\"{kind}\">\n    <checksum type=\"sha256\">{sha}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"repodata/{name}\"/>\n    <timestamp>1700000000</timestamp>\n    <size>{}</size>\n    <open-size>{}</open-size>\n  </data>\n",
            hex::encode(Sha256::digest(text.as_bytes())),
            gz.len(),
            text.len()
        );
    }
    repomd.push_str("</repomd>\n");
    std::fs::write(repodata.join("repomd.xml"), &repomd)?;
    let key = SecretKey::generate("Bench <bench@bench.invalid>")?;
    std::fs::write(
        repodata.join("repomd.xml.asc"),
        key.sign_detached(repomd.as_bytes())?,
    )?;
    std::fs::write(dir.join("key.pub"), key.public().to_armored()?)?;
    std::fs::write(dir.join("request.txt"), request.join("\n") + "\n")?;
    eprintln!(
        "{} packages ({} in primary.xml, {} MB uncompressed), {} requested",
        pkgs.len(),
        pkgs.len(),
        primary.len() / 1_000_000,
        request.len()
    );
    Ok(())
}

fn run(dir: &Path, list: bool) -> Result<(), Error> {
    let start = Instant::now();
    let base = serve(dir.to_path_buf())?;
    let cache = tempfile::tempdir()?;
    let fetcher = Fetcher::new(cache.path(), 2)?.with_progress(false);
    let key_path = dir.join("key.pub");
    let ring = PublicKeyring::load(&key_path)?;
    let source = DnfSource::new("bench", base);
    let index = upstream::load(&fetcher, &source, Some((&ring, &key_path)), "x86_64")?;
    let loaded = start.elapsed();
    let requests: Vec<Requested> = std::fs::read_to_string(dir.join("request.txt"))?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|n| Requested::new(n, "bench request"))
        .collect();
    let t = Instant::now();
    let repos = [index];
    let closure = resolve(&repos, &requests, &DnfClosureOptions::default(), &fetcher)?;
    let resolved = t.elapsed();
    eprintln!(
        "load {:.3}s ({} packages of x86_64/noarch) + resolve {:.3}s ({} selected, {} choices, filelists read: {}) = {:.3}s",
        loaded.as_secs_f64(),
        repos[0].packages.len(),
        resolved.as_secs_f64(),
        closure.packages.len(),
        closure.choices.len(),
        !closure.filelists_loaded.is_empty(),
        start.elapsed().as_secs_f64()
    );
    if list {
        let mut out = std::io::stdout().lock();
        for p in &closure.packages {
            writeln!(out, "{}", p.nevra())?;
        }
    }
    Ok(())
}
