//! `proofless demo-data`: synthetic holders and their certificates, signed by the example
//! issuers, as an import file (JSONL) — for tests, demos and benchmarks.

use crate::demo::{DemoRecord, DemoStatus, Generator, load_principals};
use crate::import::load_issuers;
use anyhow::{Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use proofless_client::issuer::{Issuer, os_salt};
use std::collections::HashMap;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Arguments of `demo-data`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Number of holders (about 80 % citizens, 20 % companies).
    #[arg(long)]
    holders: u64,
    /// Output file (JSONL, for `proofless import`).
    #[arg(long)]
    out: PathBuf,
    /// The example keys directory (issuer keys and `principals.json`).
    #[arg(long, default_value = "keys-example")]
    keys: PathBuf,
    /// Seed: the same seed gives the same holders and values (salts and signatures are
    /// fresh each run).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn write_record(
    out: &mut impl Write,
    issuers: &HashMap<String, Issuer>,
    r: &DemoRecord,
    now_ms: u64,
) -> Result<u64> {
    let issuer = issuers
        .get(&r.issuer)
        .with_context(|| format!("no key for example issuer {}", r.issuer))?;
    let mut lines = 0;
    if let Some(DemoStatus::SupersededBy(successor)) = &r.status {
        // The successor is issued first, so that the old one can point to it.
        lines += write_record(out, issuers, successor, now_ms)?;
    }
    serde_json::to_writer(
        &mut *out,
        &issuer.issue_body(&r.draft, now_ms, &mut os_salt),
    )?;
    out.write_all(b"\n")?;
    lines += 1;
    let status = match &r.status {
        None => None,
        Some(DemoStatus::Suspended) => Some(("suspended", None)),
        Some(DemoStatus::Revoked) => Some(("revoked", None)),
        Some(DemoStatus::SupersededBy(s)) => {
            Some(("superseded", Some(s.draft.id.as_str().to_owned())))
        }
    };
    if let Some((status, successor)) = status {
        serde_json::to_writer(
            &mut *out,
            &serde_json::json!({
                "status": status,
                "certificate_id": r.draft.id.as_str(),
                "successor": successor,
                "issuer": r.issuer,
            }),
        )?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    Ok(lines)
}

/// Writes the demo data of `holders` holders to `out`; returns the number of lines.
pub(crate) fn write_demo(
    keys: &Path,
    holders: u64,
    seed: u64,
    out: &Path,
    bar: &ProgressBar,
) -> Result<u64> {
    let principals = load_principals(keys)?;
    let issuers = load_issuers(keys)?;
    let mut generator = Generator::new(seed, &principals);
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let now_ms = proofless_ledger::clock::Clock::now_millis(&proofless_ledger::clock::SystemClock);
    let mut lines = 0;
    bar.set_length(holders);
    for n in 0..holders {
        for r in generator.holder(n) {
            lines += write_record(&mut w, &issuers, &r, now_ms)?;
        }
        bar.inc(1);
    }
    w.flush()?;
    w.get_ref().sync_all()?;
    Ok(lines)
}

pub(crate) fn run(args: DemoArgs) -> Result<()> {
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.holders)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} holders {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let lines = write_demo(&args.keys, args.holders, args.seed, &args.out, &bar)?;
    bar.finish_and_clear();
    println!(
        "wrote {lines} lines for {} holders to {}",
        args.holders,
        args.out.display()
    );
    Ok(())
}
