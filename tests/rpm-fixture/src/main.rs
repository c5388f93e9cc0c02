//! `rpm-fixture world DIR`: writes the EL test world (real rpms, createrepo_c metadata, signed
//! repomd.xml) for the end-to-end scripts; see the library for what is in it.

use std::path::PathBuf;

use anyhow::Result;
use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Write the EL test world: real rpms in upstream repos laid out as the manifests' mirrors"
)]
enum Cli {
    /// Write the world into DIR (its upstream key: DIR/upstream.pub).
    World {
        dir: PathBuf,
        /// EL major: 8, 9 or 10.
        #[arg(long, default_value_t = 9)]
        el: u32,
        #[arg(long, default_value = "x86_64")]
        arch: String,
        /// Leave this repo's repomd.xml unsigned; repeatable.
        #[arg(long)]
        unsigned: Vec<String>,
        /// Sign every package with rpmsign (for dnf's gpgcheck).
        #[arg(long)]
        sign_packages: bool,
    },
}

fn main() -> Result<()> {
    match Cli::parse() {
        Cli::World {
            dir,
            el,
            arch,
            unsigned,
            sign_packages,
        } => {
            let world = rpm_fixture::el_world(
                &dir,
                &rpm_fixture::WorldOptions {
                    el,
                    arch,
                    unsigned,
                    sign_packages,
                },
            )?;
            for r in &world.repos {
                println!(
                    "{:<14} {:>3} packages  {}{}",
                    r.name,
                    r.packages.len(),
                    r.path,
                    if r.signed { "" } else { "  (unsigned)" }
                );
            }
        }
    }
    Ok(())
}
