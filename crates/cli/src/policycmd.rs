//! `proofless policy check`: lint the scenario rule files against the certificate types.

use crate::config::read_schemas;
use anyhow::{Context, Result, bail};
use clap::Args;
use proofless_core::policy::{RuleSet, Scenario};
use proofless_ledger::catalog::Catalog;
use std::path::PathBuf;

/// Arguments of `policy check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Directory of scenario rule files (`*.toml`).
    #[arg(long, default_value = "schemas/scenarios")]
    scenarios: PathBuf,
    /// Directory of certificate type schemas (`*.json`).
    #[arg(long, default_value = "schemas/certificates")]
    types: PathBuf,
}

pub(crate) fn check(args: CheckArgs) -> Result<()> {
    let catalog = Catalog::load(&read_schemas(&args.types)?)?;
    let fields = |code: &str| {
        catalog
            .get(code)
            .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&args.scenarios)
        .with_context(|| format!("reading {}", args.scenarios.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut errors = Vec::new();
    let mut scenarios = Vec::new();
    for path in &files {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        match Scenario::parse(&path.display().to_string(), &text) {
            Ok(s) => scenarios.push(s),
            Err(e) => errors.push(e),
        }
    }
    let count = scenarios.len();
    match RuleSet::new(scenarios, &fields) {
        Ok(set) if errors.is_empty() => {
            println!(
                "ok: {count} scenarios in {} are consistent with {} certificate types; rule set digest {}",
                args.scenarios.display(),
                catalog.len(),
                hex::encode(set.digest())
            );
            Ok(())
        }
        Ok(_) => report(errors),
        Err(more) => {
            errors.extend(more);
            report(errors)
        }
    }
}

fn report(errors: Vec<proofless_core::policy::PolicyError>) -> Result<()> {
    for e in &errors {
        eprintln!("{e}");
    }
    bail!("{} problem(s) in the scenario rules", errors.len())
}
