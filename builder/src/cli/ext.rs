//! `ext list`, `ext info`, `ext search`: browsing the extension catalog, like `pig ext`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use pigsty_build::catalog::browse::{self, ExtRow, ListFilter};
use pigsty_bundle::{check_pg, Arch, Os, Target, PG_DEFAULT};

use super::args::SourceArgs;
use super::print_json;

#[derive(Subcommand)]
pub enum ExtCommand {
    /// List the extensions of the catalog, optionally of one category, or with their package
    /// on one target
    #[command(
        after_help = "Examples:\n  pigsty-build ext list --category GIS\n  pigsty-build ext list --os el9 --pg 17 --json"
    )]
    List(ListArgs),
    /// Show one extension (by name or package key): packages per family and per target,
    /// requires, required-by, the availability matrix
    #[command(
        after_help = "Examples:\n  pigsty-build ext info vector\n  pigsty-build ext info postgis --json"
    )]
    Info {
        /// The extension's name or package key, e.g. vector or pgvector
        name: String,
        #[command(flatten)]
        sources: SourceArgs,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
    /// Find extensions whose name, package key, rpm or deb package name, category or licence
    /// contains WORD (the catalog carries no descriptions)
    #[command(
        after_help = "Examples:\n  pigsty-build ext search vector\n  pigsty-build ext search gis --json"
    )]
    Search {
        /// The word to look for (case-insensitive)
        word: String,
        #[command(flatten)]
        sources: SourceArgs,
        /// Print JSON
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub sources: SourceArgs,
    /// Only this category (e.g. GIS, RAG, TIME; case-insensitive)
    #[arg(long, value_name = "C")]
    pub category: Option<String>,
    /// Show each extension's package on this OS (el8 el9 el10 d12 d13 u22 u24 u26), and mark
    /// those it cannot serve
    #[arg(long)]
    pub os: Option<String>,
    /// With --os: the architecture, x86_64 or aarch64 [default: x86_64]
    #[arg(long, requires = "os")]
    pub arch: Option<String>,
    /// Only extensions built for this PostgreSQL major; with --os, the target's major
    /// [default with --os: the default major]
    #[arg(long, value_name = "N")]
    pub pg: Option<u32>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

impl ExtCommand {
    /// Whether the command asked for JSON.
    pub fn json(&self) -> bool {
        match self {
            ExtCommand::List(a) => a.json,
            ExtCommand::Info { json, .. } | ExtCommand::Search { json, .. } => *json,
        }
    }
}

pub fn run(c: ExtCommand) -> Result<ExitCode> {
    match c {
        ExtCommand::List(a) => list(a),
        ExtCommand::Info {
            name,
            sources,
            json,
        } => info(&name, &sources, json),
        ExtCommand::Search {
            word,
            sources,
            json,
        } => search(&word, &sources, json),
    }
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let catalog = a.sources.catalog()?;
    let pg = a.pg.map(|p| check_pg(p, true)).transpose()?;
    let target = match &a.os {
        Some(os) => {
            let os: Os = os.parse()?;
            let arch: Arch = match &a.arch {
                Some(x) => x.parse()?,
                None => Arch::X86_64,
            };
            Some(Target::new(os, arch, pg.unwrap_or(PG_DEFAULT)))
        }
        None => None,
    };
    let rows = browse::list(
        &catalog,
        &ListFilter {
            category: a.category.clone(),
            pg,
            target,
        },
    )?;
    if a.json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    table(&mut out, &rows, target.is_some())?;
    let shown = match target {
        Some(t) => format!(
            "{} extensions, {} available on {t}",
            rows.len(),
            rows.iter().filter(|r| r.unavailable.is_none()).count()
        ),
        None => format!("{} extensions", rows.len()),
    };
    writeln!(out, "{shown}")?;
    Ok(ExitCode::SUCCESS)
}

/// The human table of `list` and `search`.
fn table(out: &mut impl Write, rows: &[ExtRow], on_target: bool) -> Result<()> {
    let w =
        |f: &dyn Fn(&ExtRow) -> usize, min: usize| rows.iter().map(f).max().unwrap_or(0).max(min);
    let (wn, wp, wc, wv) = (
        w(&|r| r.name.len(), 4),
        w(&|r| r.package.len(), 7),
        w(&|r| r.category.len(), 8),
        w(&|r| r.version.len(), 7),
    );
    let last = if on_target { "on target" } else { "license" };
    writeln!(
        out,
        "{:wn$}  {:wp$}  {:wc$}  {:wv$}  {last}",
        "name", "package", "category", "version"
    )?;
    for r in rows {
        let tail = if on_target {
            match (&r.target_package, &r.unavailable) {
                (Some(p), _) => p.clone(),
                (None, Some(why)) => format!("- ({why})"),
                (None, None) => "-".to_string(),
            }
        } else {
            r.license.clone()
        };
        let matched = if r.matched.is_empty() {
            String::new()
        } else {
            format!("  [{}]", r.matched.join(","))
        };
        writeln!(
            out,
            "{:wn$}  {:wp$}  {:wc$}  {:wv$}  {tail}{matched}",
            r.name, r.package, r.category, r.version
        )?;
    }
    Ok(())
}

fn info(name: &str, sources: &SourceArgs, json: bool) -> Result<ExitCode> {
    let catalog = sources.catalog()?;
    let targets = pigsty_build::matrix::targets(false);
    let Some(i) = browse::info(&catalog, name, &targets) else {
        bail!(
            "unknown extension `{name}`{}; `pigsty-build ext search WORD` finds extensions",
            pigsty_build::suggest::for_extension(&catalog, &[], name)
        );
    };
    if json {
        print_json(&i)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(", ")
        }
    };
    let majors = |v: &[u32]| {
        v.iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    writeln!(out, "{} {} ({})", i.name, i.version, i.category)?;
    writeln!(
        out,
        "  package     {}{}",
        i.package,
        if i.lead { " (lead)" } else { "" }
    )?;
    writeln!(out, "  license     {}", i.license)?;
    writeln!(
        out,
        "  origin      {}{}",
        i.origin,
        if i.contrib { " (contrib)" } else { "" }
    )?;
    writeln!(out, "  pg          {}", majors(&i.pg))?;
    writeln!(out, "  requires    {}", list(&i.requires))?;
    writeln!(out, "  required by {}", list(&i.required_by))?;
    writeln!(out, "  same pkg    {}", list(&i.siblings))?;
    if let Some(k) = &i.kernel {
        writeln!(out, "  kernel      {k}")?;
    }
    for f in &i.families {
        if f.package.is_empty() {
            writeln!(out, "  {:<11} none", f.family.to_string())?;
            continue;
        }
        writeln!(
            out,
            "  {:<11} {} {} (pg {}){}",
            f.family.to_string(),
            f.package,
            f.version,
            majors(&f.pg),
            if f.deps.is_empty() {
                String::new()
            } else {
                format!(", with {}", f.deps.join(" "))
            }
        )?;
    }
    // The availability matrix: a row per OS.arch, a column per PG major.
    let mut pgs: Vec<u32> = i.targets.iter().map(|c| c.pg).collect();
    pgs.sort_unstable_by(|a, b| b.cmp(a));
    pgs.dedup();
    write!(out, "\n  {:<14}", "availability")?;
    for pg in &pgs {
        write!(out, " {pg:>3}")?;
    }
    writeln!(out)?;
    let mut rows: Vec<(String, String)> = Vec::new();
    for c in &i.targets {
        let key = (c.os.clone(), c.arch.clone());
        if !rows.contains(&key) {
            rows.push(key);
        }
    }
    for (os, arch) in &rows {
        write!(out, "  {:<14}", format!("{os}.{arch}"))?;
        for pg in &pgs {
            let cell = i
                .targets
                .iter()
                .find(|c| &c.os == os && &c.arch == arch && c.pg == *pg)
                .map(|c| if c.package.is_some() { "yes" } else { "-" })
                .unwrap_or("");
            write!(out, " {cell:>3}")?;
        }
        writeln!(out)?;
    }
    let on = |os: &str| i.targets.iter().find(|c| c.os == os && c.package.is_some());
    for os in ["el9", "d12"] {
        if let Some(c) = on(os) {
            writeln!(
                out,
                "  e.g. {}.{} pg{}: {}",
                c.os,
                c.arch,
                c.pg,
                c.package.as_deref().unwrap_or("")
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn search(word: &str, sources: &SourceArgs, json: bool) -> Result<ExitCode> {
    let catalog = sources.catalog()?;
    if word.trim().is_empty() {
        bail!("give a word to search for, e.g. `pigsty-build ext search vector`");
    }
    let rows = browse::search(&catalog, word.trim());
    if json {
        print_json(&rows)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        writeln!(
            out,
            "no extension matches `{word}`{}",
            pigsty_build::suggest::for_extension(&catalog, &[], word)
        )
        .context("cannot write")?;
        return Ok(ExitCode::SUCCESS);
    }
    table(&mut out, &rows, false)?;
    writeln!(out, "{} extensions match `{word}`", rows.len())?;
    Ok(ExitCode::SUCCESS)
}
