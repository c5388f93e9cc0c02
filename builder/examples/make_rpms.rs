//! Writes N made-up but real `.rpm` files for `bench/repodata.sh`: varied payload sizes (most
//! small, some of a few MiB), file counts (a handful to a few thousand, in `/usr/bin`, `/etc`,
//! `/usr/lib`, docs, directories, ghosts), dependencies (versioned, rich, file, libc, `pre`,
//! weak), provides, conflicts, obsoletes and changelogs. The same N gives the same files.
//!
//! `cargo run --release -p pigsty-build --example make_rpms -- OUT_DIR N`

use std::path::PathBuf;

use rpm::{BuildConfig, CompressionType, Dependency, DependencyFlags, FileOptions, PackageBuilder};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(out), Some(n)) = (args.next(), args.next()) else {
        return Err("usage: make_rpms OUT_DIR N".into());
    };
    let out = PathBuf::from(out);
    let n: u64 = n.parse()?;
    std::fs::create_dir_all(&out)?;
    let cfg = BuildConfig::v4()
        .compression(CompressionType::None)
        .source_date(1_700_000_000u32);
    for i in 0..n {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (i + 1).wrapping_mul(0x1000_0000_01b3));
        let name = format!("pgext{i:05}_17");
        let version = format!("{}.{}.{}", 1 + rng.below(3), rng.below(20), rng.below(10));
        let release = format!("{}PGDG.rhel9", 1 + rng.below(3));
        let arch = if rng.below(5) == 0 {
            "noarch"
        } else {
            "x86_64"
        };
        let mut b = PackageBuilder::new(
            &name,
            &version,
            "PostgreSQL",
            arch,
            &format!("extension {i} for PostgreSQL 17 & <friends>"),
        );
        b.using_config(cfg)
            .release(release.as_str())
            .description(format!(
                "Extension number {i}.\nIt does things with \"data\" <fast> & well.\n"
            ))
            .url(format!("https://example.org/ext/{i}"))
            .vendor("PGDG")
            .packager("Builder <builder@example.org>")
            .group("Applications/Databases")
            .build_host("build.example.org");
        if rng.below(4) == 0 {
            b.epoch(rng.below(3) as u32 + 1);
        }

        // Payload: most packages small, every 50th a few MiB.
        let big = if i % 50 == 0 {
            (2 << 20) + rng.below(3 << 20)
        } else {
            2048 + rng.below(200 << 10)
        };
        let blob: Vec<u8> = (0..big).map(|_| rng.next() as u8).collect();
        b.with_file_contents(
            blob,
            FileOptions::new(format!("/usr/pgsql-17/lib/{name}.so")),
        )?;
        b.with_file_contents(
            format!("#!/bin/sh\necho {i}\n"),
            FileOptions::new(format!("/usr/pgsql-17/bin/{name}-tool")),
        )?;
        b.with_file_contents(
            "setting = 1\n",
            FileOptions::new(format!("/etc/{name}/{name}.conf")).config(),
        )?;
        b.with_dir_entry(FileOptions::dir(format!(
            "/usr/pgsql-17/share/extension/{name}"
        )))?;
        // File counts: a handful, or a documentation package with thousands.
        let files = if i % 100 == 7 {
            3000
        } else {
            rng.below(60) + 3
        };
        for f in 0..files {
            let dir = match f % 4 {
                0 => format!("/usr/pgsql-17/share/extension/{name}"),
                1 => format!("/usr/share/doc/{name}/html/part{}", f / 100),
                2 => format!("/usr/pgsql-17/lib/{name}/mods"),
                _ => format!("/usr/share/{name}/data"),
            };
            b.with_file_contents(
                format!("file {f} of {name}\n"),
                FileOptions::new(format!("{dir}/file-{f:04}.sql")),
            )?;
        }
        b.with_ghost(FileOptions::ghost(format!("/var/log/{name}.log")))?;

        // Dependencies.
        b.requires(Dependency::greater_eq("postgresql17-server", "17.0"))
            .requires(Dependency::script_pre("/bin/sh"))
            .requires(Dependency::script_post("/sbin/ldconfig"))
            .requires(Dependency::any("libc.so.6()(64bit)"))
            .requires(Dependency::any("libc.so.6(GLIBC_2.2.5)(64bit)"))
            .requires(Dependency::any("libc.so.6(GLIBC_2.34)(64bit)"))
            .requires(Dependency::rpmlib("CompressedFileNames", "3.0.4-1"))
            .requires(Dependency::any(format!(
                "(pgext{:05}_17 if postgresql17-llvmjit)",
                rng.below(n)
            )));
        for _ in 0..rng.below(25) {
            let dep = format!("pgext{:05}_17", rng.below(n));
            b.requires(match rng.below(3) {
                0 => Dependency::any(dep),
                1 => Dependency::greater_eq(dep, format!("{}.0", rng.below(3))),
                _ => Dependency::eq(dep, format!("1:{}.0-1", rng.below(3))),
            });
        }
        if rng.below(3) == 0 {
            let mut d = Dependency::any(format!(
                "/usr/pgsql-17/bin/pgext{:05}_17-tool",
                rng.below(n)
            ));
            d.flags |= DependencyFlags::PREREQ;
            b.requires(d);
        }
        for p in 0..rng.below(15) + 1 {
            b.provides(Dependency::eq(
                format!("{name}-feature{p}"),
                version.as_str(),
            ));
        }
        b.provides(Dependency::any(format!("lib{name}.so()(64bit)")));
        if rng.below(4) == 0 {
            b.conflicts(Dependency::less(
                format!("pgext{:05}_17", rng.below(n)),
                "1.0",
            ));
            b.obsoletes(Dependency::less_eq(format!("{name}-old"), "1:0.9-1"));
        }
        if rng.below(3) == 0 {
            b.recommends(Dependency::any(format!("pgext{:05}_17", rng.below(n))))
                .suggests(Dependency::any("pg_docs"))
                .supplements(Dependency::any(format!("(postgresql17-server and {name})")))
                .enhances(Dependency::any("postgresql17-server"));
        }
        for c in 0..rng.below(30) {
            b.add_changelog_entry(
                format!("Dev {c} <dev{c}@example.org> - {version}-{c}"),
                format!("- change {c} of {name}: fixes & <improvements>\n- more"),
                1_690_000_000 - (c as u32) * 86_400,
            );
        }
        let file = format!("{name}-{version}-{release}.{arch}.rpm");
        b.build()?.write_file(out.join(file))?;
    }
    Ok(())
}
