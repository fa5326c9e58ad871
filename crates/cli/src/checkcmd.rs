//! `proofless check`: offline integrity check of a data directory
//! (`proofless_ledger::check`). Exit status: 0 clean, 1 findings, 2 usage errors.

use crate::config::{LEDGER_KEY_FILE, LEDGER_VKEY_FILE, read_signer};
use crate::serve::{data_dir, load_config};
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use proofless_core::checkpoint::LedgerVerifier;
use proofless_ledger::check::{Report, Severity, check_dir};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// Configuration file (as for `serve`): its `data` and `ledger_key`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration; default `data`). The server must not
    /// be running on it: redb locks the file.
    #[arg(long)]
    data: Option<PathBuf>,
    /// The ledger's verifier key (`<origin>+<id>+<key>`), or `@FILE`. Default: the public
    /// half of the configured `ledger_key`, else `<data>/ledger.vkey`, else the public
    /// half of `<data>/ledger.key`; without any, the checkpoint's signature is not
    /// verified (reported as not checked).
    #[arg(long)]
    vkey: Option<String>,
    /// No progress bar and no summary: only the findings and the verdict.
    #[arg(long)]
    quiet: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
}

/// Exit status when the data directory or the key cannot be used as given (no store in
/// it, the store in use by the server, a malformed key).
const USAGE: u8 = 2;

/// Runs the check; returns the process exit status.
pub(crate) fn run(args: CheckArgs) -> u8 {
    let (data, verifier) = match setup(&args) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e:#}");
            return USAGE;
        }
    };
    if !data.is_dir() {
        eprintln!("error: {} is not a directory", data.display());
        return USAGE;
    }
    let started = Instant::now();
    let bar = if !args.quiet && std::io::stderr().is_terminal() {
        let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template("{msg} {pos}/{len} [{bar:30}] {per_sec} eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(b)
    } else {
        None
    };
    let mut progress = |phase: &'static str, done: u64, total: u64| {
        if let Some(b) = &bar {
            b.set_message(phase);
            b.set_length(total);
            b.set_position(done);
        }
    };
    let report = check_dir(&data, verifier.as_ref(), &mut progress);
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", data.display());
            return USAGE;
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let out = if args.json {
        json(&report, seconds)
    } else {
        text(&report, &data, seconds, args.quiet)
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return 1;
    }
    if report.is_clean() { 0 } else { 1 }
}

/// The data directory and the ledger's key, from the flags and the configuration.
fn setup(args: &CheckArgs) -> Result<(PathBuf, Option<LedgerVerifier>)> {
    let file = load_config(args.config.as_deref())?;
    let data = data_dir(args.data.as_deref(), &file);
    let verifier = verifier(args, &data, file.ledger_key.as_deref())?;
    Ok((data, verifier))
}

fn verifier(
    args: &CheckArgs,
    data: &Path,
    configured: Option<&Path>,
) -> Result<Option<LedgerVerifier>> {
    if let Some(v) = &args.vkey {
        return Ok(Some(crate::config::read_vkey(v, "--vkey")?));
    }
    if let Some(path) = configured {
        return Ok(Some(read_signer(path)?.verifier()));
    }
    let vkey = data.join(LEDGER_VKEY_FILE);
    if vkey.is_file() {
        let text = std::fs::read_to_string(&vkey)
            .with_context(|| format!("reading {}", vkey.display()))?;
        return match LedgerVerifier::from_vkey(text.trim()) {
            Ok(v) => Ok(Some(v)),
            Err(e) => bail!("{}: {e}", vkey.display()),
        };
    }
    let skey = data.join(LEDGER_KEY_FILE);
    if skey.is_file() {
        return Ok(Some(read_signer(&skey)?.verifier()));
    }
    Ok(None)
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Corruption => "corruption",
        Severity::Erased => "erased",
        Severity::Unchecked => "not checked",
    }
}

fn text(report: &Report, data: &Path, seconds: f64, quiet: bool) -> String {
    let mut out = String::new();
    for f in &report.findings {
        out.push_str(&format!("{f}\n"));
    }
    if report.omitted > 0 {
        out.push_str(&format!("… and {} more findings\n", report.omitted));
    }
    let s = &report.summary;
    if !quiet {
        out.push_str(&format!(
            "checked {} entries, {} node hashes, {} certificates, {} payloads ({} erased); checkpoint signature {}; {:.2} s\n",
            s.entries,
            s.hashes,
            s.certificates,
            s.payloads,
            s.erased,
            if s.signature_checked { "verified" } else { "not verified" },
            seconds
        ));
        let rows: Vec<String> = s.rows.iter().map(|(t, n)| format!("{t} {n}")).collect();
        if !rows.is_empty() {
            out.push_str(&format!("rows: {}\n", rows.join(", ")));
        }
    }
    let corruptions = report.corruptions().count() as u64 + report.omitted;
    if corruptions == 0 {
        out.push_str(&format!("ok: {} is consistent\n", data.display()));
    } else {
        out.push_str(&format!(
            "FAILED: {corruptions} findings in {}\n",
            data.display()
        ));
    }
    out
}

fn json(report: &Report, seconds: f64) -> String {
    let s = &report.summary;
    let findings: Vec<serde_json::Value> = report
        .findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "severity": severity(f.problem.severity()),
                "table": f.table,
                "key": f.key,
                "code": f.problem.code(),
                "message": f.problem.to_string(),
            })
        })
        .collect();
    let v = serde_json::json!({
        "clean": report.is_clean(),
        "findings": findings,
        "omitted": report.omitted,
        "summary": {
            "entries": s.entries,
            "hashes": s.hashes,
            "certificates": s.certificates,
            "payloads": s.payloads,
            "erased": s.erased,
            "signature_checked": s.signature_checked,
            "rows": s.rows,
            "seconds": seconds,
        },
    });
    let mut text = serde_json::to_string_pretty(&v).unwrap_or_default();
    text.push('\n');
    text
}
