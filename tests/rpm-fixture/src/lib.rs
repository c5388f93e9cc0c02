//! Test fixtures for the dnf side: real `.rpm` files built with the `rpm` crate, and a small
//! EL world of upstream repositories laid out as the manifests' mirror URLs expect them.
//!
//! No EL mirror is reachable from the machines this project is tested on, so the tests make
//! their own: [`Pkg`] describes one package (files, provides, requires, rich dependencies,
//! epochs), [`Pkg::write`] writes a real rpm, [`el_world`] writes the whole set of upstream
//! repos of an EL target (BaseOS, AppStream, EPEL, PGDG, Pigsty, ...) with real `createrepo_c`
//! metadata and, where asked, a `repomd.xml.asc` signed with a fixture key, and packages signed
//! by the real `rpmsign`. Tests then serve the folder on a loopback HTTP server and point
//! `pigsty-build --mirror NAME=URL` at it.
//!
//! [`solver`] holds small worlds where resolving needs dnf's solver semantics (obsoletes,
//! backtracking, rich conditionals).
//!
//! This is test tooling: errors are `anyhow`, and it shells out to `createrepo_c`, `gpg` and
//! `rpmsign` (from Debian's createrepo-c, gnupg and rpm packages).

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod solver;

use anyhow::{bail, Context, Result};
use pigsty_bundle::sign::SecretKey;

/// One package to build: `Pkg::new("bash", "5.1.8", "9.el9", "x86_64")` plus builder calls.
#[derive(Debug, Clone, Default)]
pub struct Pkg {
    pub name: String,
    pub epoch: u32,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub summary: String,
    /// `(path, contents)`; contents `None` makes a directory.
    pub files: Vec<(String, Option<String>)>,
    pub provides: Vec<String>,
    pub requires: Vec<String>,
    /// Requires needed before install scriptlets (`Requires(pre)`).
    pub requires_pre: Vec<String>,
    pub conflicts: Vec<String>,
    pub obsoletes: Vec<String>,
    pub recommends: Vec<String>,
}

impl Pkg {
    pub fn new(name: &str, version: &str, release: &str, arch: &str) -> Pkg {
        Pkg {
            name: name.into(),
            version: version.into(),
            release: release.into(),
            arch: arch.into(),
            summary: format!("{name}, a fixture package"),
            ..Pkg::default()
        }
    }
    pub fn epoch(mut self, epoch: u32) -> Pkg {
        self.epoch = epoch;
        self
    }
    /// A regular file with some contents.
    pub fn file(mut self, path: &str) -> Pkg {
        let body = format!("{} {}-{} {path}\n", self.name, self.version, self.release);
        self.files.push((path.into(), Some(body)));
        self
    }
    /// A regular file with the given contents.
    pub fn file_with(mut self, path: &str, contents: &str) -> Pkg {
        self.files.push((path.into(), Some(contents.into())));
        self
    }
    pub fn dir(mut self, path: &str) -> Pkg {
        self.files.push((path.into(), None));
        self
    }
    /// `"name"`, `"name >= 1.0"`, `"name = 1:2.0-3"`.
    pub fn provides(mut self, dep: &str) -> Pkg {
        self.provides.push(dep.into());
        self
    }
    /// Like [`Pkg::provides`], or a whole rich dependency `"(a or b)"`.
    pub fn requires(mut self, dep: &str) -> Pkg {
        self.requires.push(dep.into());
        self
    }
    pub fn requires_pre(mut self, dep: &str) -> Pkg {
        self.requires_pre.push(dep.into());
        self
    }
    pub fn conflicts(mut self, dep: &str) -> Pkg {
        self.conflicts.push(dep.into());
        self
    }
    pub fn obsoletes(mut self, dep: &str) -> Pkg {
        self.obsoletes.push(dep.into());
        self
    }
    pub fn recommends(mut self, dep: &str) -> Pkg {
        self.recommends.push(dep.into());
        self
    }

    /// `name-version-release.arch.rpm`, as createrepo_c and dnf name packages.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// Writes the rpm into `dir` and returns its path. Build time and file times are fixed,
    /// so the same `Pkg` always gives the same bytes.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let config = rpm::BuildConfig::v4()
            .compression(rpm::CompressionType::Gzip)
            .source_date(1_700_000_000u32);
        let mut b = rpm::PackageBuilder::new(
            &self.name,
            &self.version,
            "PostgreSQL",
            &self.arch,
            &self.summary,
        );
        b.using_config(config)
            .release(&self.release)
            .description(format!("{}\nA package of the test world.", self.summary))
            .vendor("Pigsty fixtures")
            .url("http://127.0.0.1/fixture")
            .build_host("fixture.localdomain");
        if self.epoch > 0 {
            b.epoch(self.epoch);
        }
        for (path, body) in &self.files {
            match body {
                Some(text) => {
                    let mode = if path.contains("bin/") { 0o755 } else { 0o644 };
                    b.with_file_contents(
                        text.clone(),
                        rpm::FileOptions::new(path.as_str()).permissions(mode),
                    )
                    .with_context(|| format!("{}: file {path}", self.name))?;
                }
                None => {
                    b.with_dir_entry(rpm::FileOptions::dir(path.as_str()))
                        .with_context(|| format!("{}: dir {path}", self.name))?;
                }
            }
        }
        for d in &self.provides {
            b.provides(dependency(d)?);
        }
        for d in &self.requires {
            b.requires(dependency(d)?);
        }
        for d in &self.requires_pre {
            let mut dep = dependency(d)?;
            dep.flags |= rpm::DependencyFlags::SCRIPT_PRE;
            b.requires(dep);
        }
        for d in &self.conflicts {
            b.conflicts(dependency(d)?);
        }
        for d in &self.obsoletes {
            b.obsoletes(dependency(d)?);
        }
        for d in &self.recommends {
            b.recommends(dependency(d)?);
        }
        let pkg = b
            .build()
            .with_context(|| format!("building {}", self.file_name()))?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join(self.file_name());
        pkg.write_file(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }
}

/// `"name"`, `"name OP evr"` or a rich `"(...)"` into an rpm dependency.
pub fn dependency(text: &str) -> Result<rpm::Dependency> {
    let text = text.trim();
    if text.starts_with('(') {
        return Ok(rpm::Dependency::any(text));
    }
    let parts: Vec<&str> = text.split_whitespace().collect();
    Ok(match parts.as_slice() {
        [name] => rpm::Dependency::any(*name),
        [name, "=", v] => rpm::Dependency::eq(*name, *v),
        [name, ">=", v] => rpm::Dependency::greater_eq(*name, *v),
        [name, ">", v] => rpm::Dependency::greater(*name, *v),
        [name, "<=", v] => rpm::Dependency::less_eq(*name, *v),
        [name, "<", v] => rpm::Dependency::less(*name, *v),
        _ => bail!("fixture dependency `{text}`: expected NAME [OP EVR]"),
    })
}

/// One upstream repository of the world: its name in the manifests and its folder.
#[derive(Debug, Clone)]
pub struct WorldRepo {
    pub name: String,
    /// Relative to the world root, as the manifests' mirror URL templates lay it out.
    pub path: String,
    pub packages: Vec<Pkg>,
    pub signed: bool,
}

/// What [`el_world`] made.
#[derive(Debug, Clone)]
pub struct World {
    pub root: PathBuf,
    pub repos: Vec<WorldRepo>,
    /// The armored public key that signs the repos' `repomd.xml` and the packages.
    pub key: PathBuf,
}

impl World {
    pub fn repo(&self, name: &str) -> Option<&WorldRepo> {
        self.repos.iter().find(|r| r.name == name)
    }
    /// The `--mirror` settings that point the manifests at `base_url` (the world root).
    pub fn mirror_args(base_url: &str) -> Vec<String> {
        ["el", "epel", "pgdg", "pigsty"]
            .iter()
            .flat_map(|m| ["--mirror".to_string(), format!("{m}={base_url}/{m}")])
            .collect()
    }
}

/// How to make the world.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// EL major: 8, 9 or 10.
    pub el: u32,
    /// `x86_64` or `aarch64`.
    pub arch: String,
    /// Repos whose `repomd.xml` stays unsigned.
    pub unsigned: Vec<String>,
    /// Sign the packages themselves with `rpmsign` (slower; needed for dnf's gpgcheck).
    pub sign_packages: bool,
}

/// The packages of the world, repo by repo, for EL `el` on `arch`.
///
/// What it exercises: several versions of one package (highest wins), an epoch, an `i686`
/// build that must never be chosen, noarch packages, soname and ISA provides, a file
/// requirement found in primary (`/usr/sbin/useradd`) and one only in filelists
/// (`/usr/share/zoneinfo`), rich dependencies (`or`, `if`, `unless`, `with`, `and`, `else`),
/// AppStream's `postgresql*`/`libpq*` that `excludepkgs` must hide, and a `pg_cron_17` that is
/// newer in PGDG but must come from the Pigsty repo because of its priority.
pub fn world_repos(el: u32, arch: &str) -> Vec<WorldRepo> {
    let d = format!("el{el}");
    let pgdg = format!("1PGDG.rhel{el}");
    let lib = |name: &str, v: &str, so: &str| {
        Pkg::new(name, v, &format!("1.{d}"), arch)
            .file(&format!("/usr/lib64/{so}"))
            .provides(&format!("{so}()(64bit)"))
            .requires("libc.so.6()(64bit)")
    };
    let noarch = |name: &str, v: &str| Pkg::new(name, v, &format!("1.{d}"), "noarch");
    let repo = |name: &str, path: String, packages: Vec<Pkg>| WorldRepo {
        name: name.into(),
        path,
        packages,
        signed: true,
    };
    let crb = if el == 8 { "PowerTools" } else { "CRB" };
    let crb_name = if el == 8 { "powertools" } else { "crb" };

    let os_release = format!(
        "NAME=\"Rocky Linux\"\nVERSION=\"{el}.4 (Fixture)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"{el}.4\"\nPLATFORM_ID=\"platform:el{el}\"\nPRETTY_NAME=\"Rocky Linux {el}.4 (Fixture)\"\n"
    );
    let baseos = vec![
        Pkg::new(
            "rocky-release",
            &format!("{el}.4"),
            &format!("1.{d}"),
            "noarch",
        )
        .file_with("/etc/os-release", &os_release)
        .provides("system-release")
        .provides(&format!("system-release(releasever) = {el}")),
        Pkg::new("glibc", "2.34", &format!("100.{d}"), arch)
            .file("/usr/lib64/libc.so.6")
            .file("/etc/ld.so.conf")
            .provides("libc.so.6()(64bit)"),
        Pkg::new("glibc", "2.34", &format!("60.{d}"), arch)
            .file("/usr/lib64/libc.so.6")
            .provides("libc.so.6()(64bit)"),
        Pkg::new("glibc", "2.34", &format!("100.{d}"), "i686")
            .file("/usr/lib/libc.so.6")
            .provides("libc.so.6"),
        Pkg::new("bash", "5.1.8", &format!("9.{d}"), arch)
            .file("/usr/bin/bash")
            .provides("/bin/sh")
            .requires("libc.so.6()(64bit)"),
        Pkg::new("shadow-utils", "4.9", &format!("8.{d}"), arch)
            .epoch(2)
            .file("/usr/sbin/useradd")
            .requires("libc.so.6()(64bit)"),
        Pkg::new("openssl-libs", "3.0.7", &format!("27.{d}"), arch)
            .epoch(1)
            .file("/usr/lib64/libssl.so.3")
            .file("/usr/lib64/libcrypto.so.3")
            .provides("libssl.so.3()(64bit)")
            .provides("libcrypto.so.3()(64bit)")
            .requires("libc.so.6()(64bit)"),
        lib("zlib", "1.2.11", "libz.so.1"),
        lib("lz4-libs", "1.9.3", "liblz4.so.1"),
        noarch("tzdata", "2024a")
            .dir("/usr/share/zoneinfo")
            .file("/usr/share/zoneinfo/UTC"),
        Pkg::new("python3", "3.9.18", &format!("1.{d}"), arch)
            .file("/usr/bin/python3")
            .provides("python(abi) = 3.9")
            .requires("libc.so.6()(64bit)")
            .requires("libz.so.1()(64bit)")
            .requires("libssl.so.3()(64bit)"),
    ];
    let appstream = vec![
        // Hidden by `excludepkgs = ["postgresql*", "libpq*"]`: libpq would otherwise be the
        // highest provider of libpq.so.5.
        Pkg::new("libpq", "13.20", &format!("1.{d}"), arch)
            .file("/usr/lib64/libpq.so.5")
            .provides("libpq.so.5()(64bit)"),
        Pkg::new("postgresql-server", "13.20", &format!("1.{d}"), arch)
            .file("/usr/bin/postgres")
            .requires("libpq.so.5()(64bit)"),
        noarch("python3-jmespath", "0.9.4").requires("python(abi) = 3.9"),
        noarch("python3-chardet", "4.0.0").requires("python(abi) = 3.9"),
        noarch("python3-idna", "2.10").requires("python(abi) = 3.9"),
        noarch("python3-requests", "2.25.1")
            .requires("python(abi) = 3.9")
            .requires("(python3-charset-normalizer or python3-chardet)")
            .requires("python3-idna >= 2.5"),
        Pkg::new("python3-cryptography", "36.0.1", &format!("4.{d}"), arch)
            .requires("python(abi) = 3.9")
            .requires("libcrypto.so.3()(64bit)"),
        noarch("python3-resolvelib", "0.5.4").requires("python(abi) = 3.9"),
        noarch("python3-resolvelib", "1.0.1").requires("python(abi) = 3.9"),
        Pkg::new("ansible-core", "2.14.18", &format!("1.{d}"), arch)
            .epoch(1)
            .file("/usr/bin/ansible")
            .file("/usr/bin/ansible-playbook")
            .requires("python(abi) = 3.9")
            .requires("python3-cryptography")
            .requires("python3-jmespath")
            .requires("(python3-resolvelib >= 0.5.3 with python3-resolvelib < 0.9)"),
        lib("llvm-libs", "17.0.6", "libLLVM-17.so"),
    ];
    let epel = vec![
        Pkg::new("sshpass", "1.09", &format!("4.{d}"), arch)
            .file("/usr/bin/sshpass")
            .requires("libc.so.6()(64bit)"),
        // Pigsty's bootstrap set on EL: the full ansible (its collections), from EPEL.
        noarch("ansible", "7.7.0")
            .dir("/usr/lib/python3.9/site-packages/ansible_collections")
            .requires("ansible-core >= 2.14.7")
            .requires("python(abi) = 3.9"),
    ];
    let isa = if arch == "aarch64" {
        "aarch-64"
    } else {
        "x86-64"
    };
    let pg = |name: &str, v: &str| Pkg::new(name, v, &pgdg, arch);
    let mut pgdg17 = Vec::new();
    for v in ["17.5", "17.6"] {
        let evr = format!("{v}-{pgdg}");
        pgdg17.push(
            pg("postgresql17-libs", v)
                .file("/usr/pgsql-17/lib/libpq.so.5")
                .provides("libpq.so.5()(64bit)")
                .requires("libc.so.6()(64bit)")
                .requires("libssl.so.3()(64bit)")
                .requires("/usr/share/zoneinfo"),
        );
        pgdg17.push(
            pg("postgresql17", v)
                .file("/usr/pgsql-17/bin/psql")
                .requires(&format!("postgresql17-libs({isa}) = {evr}"))
                .requires("libpq.so.5()(64bit)"),
        );
        pgdg17.push(
            pg("postgresql17-server", v)
                .file("/usr/pgsql-17/bin/postgres")
                .file("/usr/pgsql-17/bin/initdb")
                .file("/usr/pgsql-17/share/extension/plpgsql.control")
                .requires(&format!("postgresql17({isa}) = {evr}"))
                .requires(&format!("postgresql17-libs({isa}) = {evr}"))
                .requires("libz.so.1()(64bit)")
                .requires("lz4-libs")
                .requires_pre("/usr/sbin/useradd")
                .requires_pre("/bin/sh"),
        );
        pgdg17.push(
            pg("postgresql17-contrib", v)
                .file("/usr/pgsql-17/lib/pg_stat_statements.so")
                .requires(&format!("postgresql17-server({isa}) = {evr}")),
        );
    }
    // Newer than the Pigsty repo's, which wins anyway by priority.
    pgdg17.push(
        pg("pg_cron_17", "1.6.5")
            .file("/usr/pgsql-17/lib/pg_cron.so")
            .requires("postgresql17-server"),
    );
    pgdg17.push(
        pg("postgis36_17", "3.6.3")
            .file("/usr/pgsql-17/lib/postgis-3.so")
            .requires("postgresql17-server")
            .requires("(geos313 or geos312)")
            .requires("(sfcgal if postgresql17-contrib)")
            .requires("(gdal39-libs unless gdal38-libs)")
            .requires("(proj95 and json-c)")
            .requires("(postgis36_17-llvmjit if llvm-jit-enabled)")
            .requires("(protobuf-c >= 1.4 if postgresql17-server else protobuf-c-compat)"),
    );
    for (name, so) in [
        ("geos312", "libgeos.so.3.12"),
        ("geos313", "libgeos.so.3.13"),
        ("sfcgal", "libSFCGAL.so.1"),
        ("gdal39-libs", "libgdal.so.35"),
        ("proj95", "libproj.so.25"),
        ("json-c", "libjson-c.so.5"),
        ("protobuf-c", "libprotobuf-c.so.1"),
    ] {
        pgdg17.push(pg(name, "1.4.2").file(&format!("/usr/lib64/{so}")));
    }
    let pigsty_pgsql = vec![
        Pkg::new("pg_cron_17", "1.6.4", &format!("1PIGSTY.{d}"), arch)
            .file("/usr/pgsql-17/lib/pg_cron.so")
            .requires("postgresql17-server"),
        Pkg::new("pgvector_17", "0.8.0", &format!("1PIGSTY.{d}"), arch)
            .file("/usr/pgsql-17/lib/vector.so")
            .file("/usr/pgsql-17/share/extension/vector.control")
            .requires("postgresql17-server")
            .requires("(pgvector_17-llvmjit if postgresql17-llvmjit)"),
        Pkg::new(
            "pgvector_17-llvmjit",
            "0.8.0",
            &format!("1PIGSTY.{d}"),
            arch,
        )
        .file("/usr/pgsql-17/lib/bitcode/vector.index.bc")
        .requires("llvm-libs"),
    ];

    let mut repos = vec![
        repo("baseos", format!("el/{el}/BaseOS/{arch}/os"), baseos),
        repo(
            "appstream",
            format!("el/{el}/AppStream/{arch}/os"),
            appstream,
        ),
        repo("extras", format!("el/{el}/extras/{arch}/os"), Vec::new()),
        repo(crb_name, format!("el/{el}/{crb}/{arch}/os"), Vec::new()),
        repo("epel", format!("epel/{el}/Everything/{arch}"), epel),
        repo(
            "pigsty-pgsql",
            format!("pigsty/yum/pgsql/el{el}.{arch}"),
            pigsty_pgsql,
        ),
        repo(
            "pigsty-infra",
            format!("pigsty/yum/infra/{arch}"),
            Vec::new(),
        ),
        repo(
            "pgdg-common",
            format!("pgdg/yum/common/redhat/rhel-{el}-{arch}"),
            Vec::new(),
        ),
        repo(
            "pgdg-extras",
            format!("pgdg/yum/extras/redhat/rhel-{el}-{arch}"),
            Vec::new(),
        ),
    ];
    // Not an upstream of the manifests: a newer PostgreSQL library than the bundle's, for the
    // installer's drift test (a node that got it elsewhere).
    repos.push(repo(
        "drift",
        format!("drift/el{el}.{arch}"),
        vec![pg("postgresql17-libs", "17.7")
            .file("/usr/pgsql-17/lib/libpq.so.5")
            .provides("libpq.so.5()(64bit)")
            .requires("libc.so.6()(64bit)")],
    ));
    for v in 14..=18 {
        let pkgs = if v == 17 { pgdg17.clone() } else { Vec::new() };
        repos.push(repo(
            &format!("pgdg{v}"),
            format!("pgdg/yum/{v}/redhat/rhel-{el}-{arch}"),
            pkgs,
        ));
    }
    repos
}

/// Writes the EL world under `root`: every repo's rpms, `createrepo_c` metadata (BaseOS in xz,
/// AppStream in bz2, the rest gz, as upstreams vary), a signed `repomd.xml.asc` (armored,
/// detached) unless the repo is in `opts.unsigned`, and `upstream.pub`/`upstream.key`.
pub fn el_world(root: &Path, opts: &WorldOptions) -> Result<World> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let key = fixture_key(root)?;
    let gnupg = if opts.sign_packages {
        Some(gpg_home(root, &key)?)
    } else {
        None
    };
    let mut repos = world_repos(opts.el, &opts.arch);
    for r in &mut repos {
        let dir = root.join(&r.path);
        let packages = dir.join("Packages");
        std::fs::create_dir_all(&packages)
            .with_context(|| format!("creating {}", packages.display()))?;
        let mut written = Vec::new();
        for p in &r.packages {
            written.push(p.write(&packages)?);
        }
        if let Some(home) = &gnupg {
            if let Err(e) = rpmsign(home, &key, &written) {
                stop_agent(home);
                return Err(e);
            }
        }
        let compress = match r.name.as_str() {
            "baseos" => "xz",
            "appstream" => "bz2",
            _ => "gz",
        };
        createrepo(&dir, compress)?;
        r.signed = !opts.unsigned.contains(&r.name);
        if r.signed {
            sign_repomd(&dir, &key)?;
        }
    }
    if let Some(home) = &gnupg {
        stop_agent(home);
    }
    Ok(World {
        root: root.to_path_buf(),
        repos,
        key: root.join("upstream.pub"),
    })
}

/// The world's signing key: made once and kept in `root` (`upstream.key`, `upstream.pub`).
pub fn fixture_key(root: &Path) -> Result<SecretKey> {
    let secret_path = root.join("upstream.key");
    let key = if secret_path.exists() {
        SecretKey::load(&secret_path)?
    } else {
        let k = SecretKey::generate("Fixture Upstream <upstream@fixture.invalid>")?;
        std::fs::write(&secret_path, k.to_armored()?)?;
        k
    };
    std::fs::write(root.join("upstream.pub"), key.public().to_armored()?)?;
    Ok(key)
}

/// Runs real `createrepo_c` on `dir` (no sqlite), with `compress` for every metadata file.
pub fn createrepo(dir: &Path, compress: &str) -> Result<()> {
    let out = Command::new("createrepo_c")
        .args([
            "--no-database",
            "--quiet",
            "--general-compress-type",
            compress,
        ])
        .arg(dir)
        .output()
        .context("running createrepo_c (Debian package createrepo-c)")?;
    if !out.status.success() {
        bail!(
            "createrepo_c {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Writes `repodata/repomd.xml.asc`, armored and detached, as dnf's `repo_gpgcheck` wants it.
pub fn sign_repomd(dir: &Path, key: &SecretKey) -> Result<()> {
    let repomd = dir.join("repodata/repomd.xml");
    let data = std::fs::read(&repomd).with_context(|| format!("reading {}", repomd.display()))?;
    std::fs::write(
        dir.join("repodata/repomd.xml.asc"),
        key.sign_detached(data.as_slice())?,
    )?;
    Ok(())
}

/// A private GnuPG home with the fixture secret key imported, for `rpmsign`.
fn gpg_home(root: &Path, key: &SecretKey) -> Result<PathBuf> {
    let home = root.join(".gnupg");
    std::fs::create_dir_all(&home)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))?;
    }
    // Started up front: gpg's own autostart of the agent races on a fresh home.
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--launch", "gpg-agent"])
        .status();
    let out = Command::new("gpg")
        .arg("--homedir")
        .arg(&home)
        .args(["--batch", "--quiet", "--import"])
        .arg(root.join("upstream.key"))
        .output()
        .context("running gpg (Debian package gnupg)")?;
    if !out.status.success() {
        bail!(
            "gpg --import of the fixture key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = key;
    Ok(home)
}

fn stop_agent(home: &Path) {
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "gpg-agent"])
        .status();
}

/// Signs the packages in place with the real `rpmsign`.
fn rpmsign(home: &Path, key: &SecretKey, files: &[PathBuf]) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let out = Command::new("rpmsign")
        // Debian's rpm macros name `gpg2`; Debian ships `gpg`.
        .arg("--define")
        .arg("__gpg /usr/bin/gpg")
        .arg("--define")
        .arg(format!("_gpg_path {}", home.display()))
        .arg("--define")
        .arg(format!("_gpg_name {}", key.fingerprint()))
        .arg("--addsign")
        .args(files)
        .output()
        .context("running rpmsign (Debian package rpm)")?;
    if !out.status.success() {
        bail!(
            "rpmsign failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
