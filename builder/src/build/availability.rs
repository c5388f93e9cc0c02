//! What a build can serve, decided by the repos it just read: the plan's verdicts from the
//! catalog (a package for the family and the PG major) stand, the availability matrix's do
//! not (it is a prediction). An extension the matrix predicts missing is served when the repos
//! have its package, and said so; an extension asked for by name that cannot be had fails the
//! build, naming it and why, unless `--allow-missing`.

use std::collections::BTreeSet;

use serde::Serialize;

use super::BuildError;
use crate::catalog::Unavailable;
use crate::closure::Missing;
use crate::plan::{Plan, UnavailableExtension, WantedBy};

/// The build's verdict on the extensions asked for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Availability {
    /// Extensions that cannot be served, with the reason.
    pub unavailable: Vec<UnavailableExtension>,
    /// Where the catalog's prediction and the repos disagree, a sentence each.
    pub disagreements: Vec<String>,
    /// Requested packages absent upstream that no extension explains (`--allow-missing`).
    pub missing: Vec<String>,
}

/// Settles the plan's extensions against what resolution could not find (`missing`).
pub(super) fn settle(
    plan: &Plan,
    missing: &[Missing],
    allow_missing: bool,
) -> Result<Availability, BuildError> {
    let absent: BTreeSet<&str> = missing.iter().map(|m| m.name.as_str()).collect();
    let mut out = Availability {
        unavailable: plan.unavailable.clone(),
        ..Availability::default()
    };
    for p in &plan.predicted {
        if absent.contains(p.package.as_str()) {
            out.unavailable.push(UnavailableExtension {
                extension: p.extension.clone(),
                requested: true,
                named: p.named,
                message: format!(
                    "{}; the configured repos do not have {} either",
                    p.reason, p.package
                ),
                reason: p.reason.clone(),
            });
        } else {
            out.disagreements.push(format!(
                "{}: the catalog predicts it unavailable ({}), but the configured repos have {}; included",
                p.extension, p.reason, p.package
            ));
        }
    }
    let predicted: BTreeSet<&str> = plan.predicted.iter().map(|p| p.package.as_str()).collect();
    for m in missing {
        if predicted.contains(m.name.as_str()) {
            continue;
        }
        // An extension's own package that the catalog says exists, but no repo has.
        let exts = plan
            .packages
            .iter()
            .filter(|p| p.name == m.name && p.optional)
            .flat_map(|p| &p.wanted_by)
            .filter_map(|w| match w {
                WantedBy::Extension { name } | WantedBy::Requires { name, .. } => Some(name),
                _ => None,
            });
        let mut explained = false;
        for name in exts {
            explained = true;
            if out.unavailable.iter().any(|u| &u.extension == name) {
                continue;
            }
            let reason = Unavailable::NotInRepos {
                package: m.name.clone(),
            };
            out.unavailable.push(UnavailableExtension {
                extension: name.clone(),
                requested: true,
                named: false,
                message: reason.to_string(),
                reason,
            });
        }
        if !explained {
            out.missing.push(m.to_string());
        }
    }
    out.unavailable
        .sort_by(|a, b| a.extension.cmp(&b.extension));
    let named: Vec<&UnavailableExtension> = out.unavailable.iter().filter(|u| u.named).collect();
    if !named.is_empty() && !allow_missing {
        return Err(BuildError::Unavailable {
            target: format!(
                "{}.{}/pg{}",
                plan.target.os, plan.target.arch, plan.target.pg
            ),
            extensions: named
                .iter()
                .map(|u| format!("{}: {}", u.extension, u.message))
                .collect(),
        });
    }
    Ok(out)
}
