//! `proofless log verify`.

use crate::config::write_durably;
use anyhow::{Context, Result, bail};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use proofless_client::{HttpFetch, LogState, verify_log};
use std::path::PathBuf;

/// Arguments of `log verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// Base URL of the log, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// The ledger's verifier key (`<origin>+<id>+<key>`), or `@FILE` to read it from a file.
    /// Pin it out of band: never take it from the server being verified.
    #[arg(long)]
    vkey: String,
    /// Where the last verified checkpoint is kept between runs.
    #[arg(long, default_value = "proofless-log-state.json")]
    state: PathBuf,
}

pub(crate) fn verify(args: VerifyArgs) -> Result<()> {
    let verifier = crate::config::read_vkey(&args.vkey, "--vkey")?;
    let previous: Option<LogState> = match std::fs::read(&args.state) {
        Ok(bytes) => Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("state file {}", args.state.display()))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", args.state.display())),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} entries {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let fetch = HttpFetch::new(&args.url);
    let result = verify_log(&fetch, &verifier, previous.as_ref(), &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => bail!("log {} FAILED verification: {e}", args.url),
    };
    let json = serde_json::to_vec_pretty(&report.state)?;
    write_durably(&args.state, &json, false)?;
    match report.previous_size {
        Some(p) => println!(
            "ok: {} entries, {} tiles verified; root {}; consistent with the checkpoint of size {p} seen before",
            report.entries, report.tiles, report.state.root
        ),
        None => println!(
            "ok: {} entries, {} tiles verified; root {}; first verification, state saved to {}",
            report.entries,
            report.tiles,
            report.state.root,
            args.state.display()
        ),
    }
    Ok(())
}
