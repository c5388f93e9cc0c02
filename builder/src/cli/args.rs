//! The options several subcommands share: the target, the catalog and configuration, the request.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use pigsty_build::catalog::Catalog;
use pigsty_build::plan::{items, Request};
use pigsty_bundle::{check_pg, Arch, Os, Target, PG_DEFAULT};

/// Which target: OS, architecture and PostgreSQL major (one of each).
#[derive(Args, Clone)]
pub struct TargetArgs {
    /// OS code: el8 el9 el10 d12 d13 u22 u24 u26 [default: this host's OS]
    #[arg(long)]
    pub os: Option<String>,
    /// CPU architecture: x86_64 (amd64) or aarch64 (arm64) [default: this host's]
    #[arg(long)]
    pub arch: Option<String>,
    /// PostgreSQL major, 13 to 18
    #[arg(long, default_value_t = PG_DEFAULT.to_string())]
    pub pg: String,
    /// Allow a PostgreSQL major that is still in beta (19)
    #[arg(long)]
    pub beta: bool,
}

/// The targets of a build: every combination of the comma-separated values.
#[derive(Args, Clone)]
pub struct TargetsArgs {
    /// OS codes, comma-separated: el8 el9 el10 d12 d13 u22 u24 u26 [default: this host's OS]
    #[arg(long)]
    pub os: Option<String>,
    /// CPU architectures, comma-separated: x86_64 (amd64), aarch64 (arm64) [default: this host's]
    #[arg(long)]
    pub arch: Option<String>,
    /// PostgreSQL majors, 13 to 18, comma-separated
    #[arg(long, default_value_t = PG_DEFAULT.to_string())]
    pub pg: String,
    /// Allow a PostgreSQL major that is still in beta (19)
    #[arg(long)]
    pub beta: bool,
}

impl TargetsArgs {
    /// Every combination of the comma-separated `--os`, `--arch` and `--pg` values.
    pub fn targets(&self) -> Result<Vec<Target>> {
        TargetArgs {
            os: self.os.clone(),
            arch: self.arch.clone(),
            pg: self.pg.clone(),
            beta: self.beta,
        }
        .targets()
    }
}

/// Where the mirrors come from, besides `--config` and the host's own sources.
#[derive(Args, Clone)]
pub struct MirrorArgs {
    /// Set a mirror: NAME=URL (repeatable, or comma-separated), e.g. debian=http://HOST/debian
    #[arg(long, value_name = "NAME=URL")]
    pub mirror: Vec<String>,
    /// The presets for mirrors nothing else sets: default (the upstreams), china, europe
    /// (Pigsty's regional mirrors, the default where a region has none), or none; read from
    /// Pigsty's source (--pigsty). Debian's and Ubuntu's own mirrors have no preset: the host's
    /// apt sources or --mirror
    #[arg(long, value_name = "REGION", default_value = "default")]
    pub region: String,
    /// Pigsty's source, a directory or its tarball: its repo lists give the --region presets
    /// [default: $PIGSTY_HOME, else ~/pigsty, where they hold Pigsty's source]
    #[arg(long, value_name = "DIR|TGZ")]
    pub pigsty: Option<PathBuf>,
}

impl MirrorArgs {
    /// The mirror table of a target: flags, `--config`, the host's sources, the region.
    pub fn mirrors(
        &self,
        target: &Target,
        distro: &pigsty_build::Distro,
    ) -> Result<pigsty_build::mirrors::Mirrors> {
        use pigsty_build::mirrors::{host_mirrors, Mirrors, Presets, Region};
        use pigsty_build::regions::PigstySource;
        let region: Region = self.region.parse()?;
        let host = host_mirrors(Path::new("/"));
        let mirrors = Mirrors::new(&self.mirror, &distro.config_mirrors, &host)?;
        let source = match region {
            Region::None => None,
            _ => PigstySource::locate(self.pigsty.as_deref())?,
        };
        let table = match &source {
            None => Default::default(),
            Some(src) => match src.presets(target, region, &distro.repos) {
                Ok(table) => table,
                // A source named on the command line must work; one found by looking may be
                // of another release: said, and the run goes on without presets.
                Err(e) if self.pigsty.is_none() => {
                    let (message, causes) = pigsty_bundle::cli::chain(&e);
                    tracing::warn!("no --region presets: {message} {}", causes.join(": "));
                    Default::default()
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let Some(src) = &source {
            tracing::info!(source = %src.path().display(), %region, presets = table.len(), "region presets");
        }
        let presets = Presets {
            region,
            source: source.map(|s| s.path().to_path_buf()),
        };
        let mirrors = mirrors.with_presets(presets, table);
        mirrors.log();
        Ok(mirrors)
    }
}

impl TargetArgs {
    /// The one target; several (`--os d12,d13`) are refused.
    pub fn target(&self) -> Result<Target> {
        match self.targets()?.as_slice() {
            [one] => Ok(*one),
            _ => bail!(
                "this command takes one target: give --os, --arch and --pg one value each (only a build takes several)"
            ),
        }
    }

    /// Every combination of the comma-separated `--os`, `--arch` and `--pg` values.
    pub fn targets(&self) -> Result<Vec<Target>> {
        let list = |v: &str| -> Vec<String> {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        let oses = match &self.os {
            Some(o) => list(o)
                .iter()
                .map(|o| o.parse::<Os>())
                .collect::<Result<Vec<_>, _>>()?,
            None => vec![Os::detect(Path::new("/etc/os-release"))
                .context("cannot default --os to this host's OS; pass --os")?],
        };
        let arches = match &self.arch {
            Some(a) => list(a)
                .iter()
                .map(|a| a.parse::<Arch>())
                .collect::<Result<Vec<_>, _>>()?,
            None => {
                vec![Arch::host().context("cannot default --arch to this host's; pass --arch")?]
            }
        };
        let mut pgs = Vec::new();
        for p in list(&self.pg) {
            let n: u32 = p
                .parse()
                .with_context(|| format!("bad --pg `{p}`: a PostgreSQL major such as 17"))?;
            pgs.push(check_pg(n, self.beta)?);
        }
        if oses.is_empty() || arches.is_empty() || pgs.is_empty() {
            bail!("--os, --arch and --pg need at least one value each");
        }
        let mut out = Vec::new();
        for os in &oses {
            for arch in &arches {
                for pg in &pgs {
                    out.push(Target::new(*os, *arch, *pg));
                }
            }
        }
        Ok(out)
    }
}

/// The catalog and the user's own configuration.
#[derive(Args, Clone)]
pub struct SourceArgs {
    /// Load the extension catalog from FILE (upstream 41-column CSV, or one of our TOML files)
    /// instead of the one built in
    #[arg(long, value_name = "FILE")]
    pub catalog: Option<PathBuf>,
    /// A TOML file that adds or overrides mirrors, keys, repos, aliases and default package sets
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

impl SourceArgs {
    pub fn catalog(&self) -> Result<Catalog> {
        Ok(match &self.catalog {
            Some(p) => Catalog::load(p)?,
            None => Catalog::builtin().context("the built-in catalog is broken")?,
        })
    }
}

/// What is asked for: extensions and packages.
#[derive(Args, Clone)]
pub struct RequestArgs {
    /// Extensions: names (or package keys), `all`, or `category:NAME`; comma-separated or repeated
    #[arg(long, value_name = "EXT")]
    pub ext: Vec<String>,
    /// Package aliases or package names (comma-separated or repeated); a name that is not an
    /// alias is a package name; `none` for no packages but the extensions' [default: the
    /// target's default package sets]
    #[arg(long, value_name = "PKG")]
    pub packages: Vec<String>,
    /// Leave out the bootstrap set (what pigsty-install installs before it hands off to
    /// Pigsty: `ansible python3-jmespath`, and python3-apt on Debian and Ubuntu), which is
    /// otherwise always resolved into the bundle with its closure
    #[arg(long)]
    pub no_bootstrap: bool,
}

impl RequestArgs {
    /// The request; `probe` for a build, where the repos decide what is available.
    pub fn request(&self, probe: bool) -> Request {
        Request {
            probe,
            extensions: items(&self.ext),
            packages: match items(&self.packages).as_slice() {
                [] => None,
                [none] if none == "none" => Some(Vec::new()),
                given => Some(given.to_vec()),
            },
            bootstrap: !self.no_bootstrap,
        }
    }
}
