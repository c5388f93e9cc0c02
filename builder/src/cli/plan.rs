//! `plan`: the packages a target needs, grouped by repo module.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use pigsty_build::distro::Distro;
use pigsty_build::plan::{Plan, WantedBy};

use super::args::{RequestArgs, SourceArgs, TargetArgs};
use super::print_json;

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub sources: SourceArgs,
    #[command(flatten)]
    pub request: RequestArgs,
    /// Print the plan as JSON (schema 1, see the `plan` module docs)
    #[arg(long)]
    pub json: bool,
}

pub fn plan(a: PlanArgs) -> Result<ExitCode> {
    let target = a.target.target()?;
    let catalog = a.sources.catalog()?;
    let distro = Distro::load(target, a.sources.config.as_deref())?;
    let plan = Plan::make(&catalog, &distro, &a.request.request(false))?;
    if a.json {
        print_json(&plan)?;
        return Ok(ExitCode::SUCCESS);
    }
    let columns = textwrap::termwidth();
    let mut out = std::io::stdout().lock();
    for note in &plan.notes {
        writeln!(out, "{}", wrap("note: ", note, columns))?;
    }
    writeln!(
        out,
        "plan for {} ({}{}): {} packages",
        target,
        target.family(),
        target
            .os
            .codename()
            .map(|c| format!(", {c}"))
            .unwrap_or_default(),
        plan.packages.len()
    )?;
    let groups = plan.by_module();
    let mut order: Vec<&str> = distro.modules();
    for m in groups.keys() {
        if !order.contains(m) {
            order.push(m);
        }
    }
    let width = plan
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    for module in order {
        let Some(pkgs) = groups.get(module) else {
            continue;
        };
        writeln!(out, "\n[{module}] {} packages", pkgs.len())?;
        for p in pkgs {
            let head = format!("  {:width$}  ", p.name);
            writeln!(out, "{}", wrap(&head, &reasons(&p.wanted_by), columns))?;
        }
    }
    if !plan.unavailable.is_empty() {
        writeln!(
            out,
            "\nunavailable on {}: {} extensions",
            target,
            plan.unavailable.len()
        )?;
        let width = plan
            .unavailable
            .iter()
            .map(|u| u.extension.len())
            .max()
            .unwrap_or(0);
        for u in &plan.unavailable {
            let note = if u.requested {
                ""
            } else {
                " (required by another)"
            };
            let head = format!("  {:width$}  ", u.extension);
            writeln!(
                out,
                "{}",
                wrap(&head, &format!("{}{note}", u.message), columns)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A package's reasons, each kind once with its names together: `ext a, b; deps of c`.
fn reasons(wanted: &[WantedBy]) -> String {
    let mut kinds: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |kind: String, name: Option<&str>| {
        let i = match kinds.iter().position(|(k, _)| *k == kind) {
            Some(i) => i,
            None => {
                kinds.push((kind, Vec::new()));
                kinds.len() - 1
            }
        };
        if let Some(n) = name {
            if !kinds[i].1.iter().any(|x| x == n) {
                kinds[i].1.push(n.to_string());
            }
        }
    };
    let asked: Vec<&str> = wanted
        .iter()
        .filter_map(|w| match w {
            WantedBy::Extension { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for w in wanted {
        match w {
            WantedBy::Alias { name } => add("alias".into(), Some(name)),
            WantedBy::Package => add("named in --packages".into(), None),
            WantedBy::Extension { name }
                if wanted
                    .iter()
                    .any(|o| matches!(o, WantedBy::Requires { name: n, .. } if n == name)) => {}
            WantedBy::Extension { name } => add("ext".into(), Some(name)),
            // Asked for and required too: said once, as `ext NAME, also required by ...`.
            WantedBy::Requires { name, required_by } if asked.contains(&name.as_str()) => {
                add(format!("ext {name}, also required by"), Some(required_by))
            }
            WantedBy::Requires { name, required_by } => {
                add(format!("ext {name}, required by"), Some(required_by))
            }
            WantedBy::Deps { name } => add("deps of".into(), Some(name)),
            WantedBy::Bootstrap => add("bootstrap set".into(), None),
        }
    }
    kinds
        .into_iter()
        .map(|(k, names)| {
            if names.is_empty() {
                k
            } else {
                format!("{k} {}", names.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// `head` then `text`, wrapped to `columns` (at least 40 for the text), continuation lines
/// indented under the text.
fn wrap(head: &str, text: &str, columns: usize) -> String {
    let indent = " ".repeat(head.chars().count());
    let width = columns.max(head.chars().count() + 40);
    let opts = textwrap::Options::new(width)
        .initial_indent(head)
        .subsequent_indent(&indent)
        .break_words(false);
    textwrap::fill(text, opts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_grouped_and_said_once() {
        let w = vec![
            WantedBy::Deps { name: "a".into() },
            WantedBy::Deps { name: "b".into() },
            WantedBy::Extension { name: "x".into() },
            WantedBy::Deps { name: "a".into() },
        ];
        assert_eq!(reasons(&w), "deps of a, b; ext x");
        let w = vec![
            WantedBy::Extension {
                name: "postgis".into(),
            },
            WantedBy::Requires {
                name: "postgis".into(),
                required_by: "pgrouting".into(),
            },
        ];
        assert_eq!(reasons(&w), "ext postgis, also required by pgrouting");
    }

    #[test]
    fn long_lines_wrap_under_the_text() {
        let text = vec!["word"; 100].join(" ");
        let out = wrap("  name  ", &text, 80);
        assert!(out.lines().count() > 5);
        assert!(out.lines().all(|l| l.chars().count() <= 80), "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("        word")));
    }
}
