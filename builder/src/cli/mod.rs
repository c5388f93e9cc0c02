//! The subcommands of `pigsty-build`, one module per group, and what they share.

pub mod args;
pub mod build;
pub mod catalog;
pub mod ext;
pub mod kind;
pub mod matrix;
pub mod plan;
pub mod repos;
pub mod sign;

use anyhow::{Context, Result};

/// One JSON document on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    Ok(pigsty_bundle::cli::print_json(value)?)
}

pub fn pairs(values: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    values
        .iter()
        .map(|v| {
            v.split_once('=')
                .filter(|(k, v)| !k.trim().is_empty() && !v.trim().is_empty())
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .with_context(|| format!("bad {flag} `{v}`: want NAME=VALUE"))
        })
        .collect()
}
