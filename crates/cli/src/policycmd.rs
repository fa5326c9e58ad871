//! `proofless policy check`: lint the scenario rule files against the certificate types.

use crate::config::read_schemas;
use anyhow::{Context, Result, bail};
use clap::Args;
use proofless_core::policy::{RuleSet, Scenario};
use proofless_ledger::catalog::Catalog;
use std::path::{Path, PathBuf};

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

/// Loads and lints every `*.toml` in `dir` against `catalog`; fails with every problem,
/// each with its file and line, printed to stderr.
pub(crate) fn load_rules(dir: &Path, catalog: &Catalog) -> Result<RuleSet> {
    let fields = |code: &str| {
        catalog
            .get(code)
            .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
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
    match RuleSet::new(scenarios, &fields) {
        Ok(set) if errors.is_empty() => Ok(set),
        Ok(_) => report(errors),
        Err(more) => {
            errors.extend(more);
            report(errors)
        }
    }
}

pub(crate) fn check(args: CheckArgs) -> Result<()> {
    let catalog = Catalog::load(&read_schemas(&args.types)?)?;
    let set = load_rules(&args.scenarios, &catalog)?;
    println!(
        "ok: {} scenarios in {} are consistent with {} certificate types; rule set digest {}",
        set.len(),
        args.scenarios.display(),
        catalog.len(),
        hex::encode(set.digest())
    );
    Ok(())
}

fn report<T>(errors: Vec<proofless_core::policy::PolicyError>) -> Result<T> {
    for e in &errors {
        eprintln!("{e}");
    }
    bail!("{} problem(s) in the scenario rules", errors.len())
}
