//! `proofless import`: bulk import of signed certificates into a data directory.
//!
//! Input is JSONL (one object per line) or CSV (header `security_object,items`, the items
//! `;`-separated), streamed: at most about three chunks of lines are held at once. Each line
//! is either
//!
//! * a signed submission, `{"security_object": b64, "items": [b64, …]}` — exactly the
//!   body of `POST /v1/certificates`, as an issuer's system exports it; or
//! * a status change, `{"status": "suspended" | "revoked" | "superseded",
//!   "certificate_id": …, "successor": …, "issuer": "<principal stem>"}`, which the import
//!   signs with that issuer's key from `--issuer-keys` (the example keys directory).
//!
//! Every line goes through the same checks as the HTTP API, in the same code: a chunk of
//! lines (`--chunk`, 8,192) is checked on every core ([`Certificates::check_all`]) while the
//! previous chunk is admitted as one append ([`Certificates::admit_checked`]: one group
//! commit for the whole chunk). Status lines are applied after the certificates of their
//! chunk. A bad line is written to the error report (line number, code, a detail without
//! personal data) and the run goes on; it never holds back the other lines of its chunk.
//!
//! **Resumable.** The number of leading lines that are all done is saved durably to the
//! state file about once a second. A rerun skips them; lines after that point that were
//! already imported are recognised (the very same signed certificate already in the log,
//! or a status already in effect) and counted as skipped, never imported twice; a
//! different certificate under an identifier already used is reported as an error.

use crate::config::write_durably;
use crate::serve::{Opened, init_tracing, load_config, open_ledger, save_access_index};
use anyhow::{Context, Result, bail};
use base64::{Engine, prelude::BASE64_STANDARD};
use clap::Args;
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use indicatif::{ProgressBar, ProgressStyle};
use proofless_client::issuer::Issuer;
use proofless_core::cert::Status;
use proofless_core::ids::CertificateId;
use proofless_core::pki::{self, Position};
use proofless_ledger::certs::{CertificateError, Certificates, Checked, IssueRequest, Sealed};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Lines per chunk by default (`--chunk`; also `serve --sample-holders`).
pub(crate) const DEFAULT_CHUNK: usize = 8192;
/// Arguments of `import`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The input file (`.jsonl` or `.csv`).
    #[arg(long)]
    input: PathBuf,
    /// Configuration file (as for `serve`): trust anchor, types, keys.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory (overrides the configuration).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Directory of principal keys (`principals.json`), to sign status-change lines.
    #[arg(long)]
    issuer_keys: Option<PathBuf>,
    /// Threads that check lines (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Lines checked together and admitted in one append (one group commit). 8,192
    /// rather than 2,048: fewer, larger commits dirty fewer pages of the tables with random
    /// keys per certificate; at 7.7 million certificates 9 min 18 s instead of 11 min 2 s,
    /// for ~1,930 instead of ~1,910 bytes per certificate at rest (both under 2 KiB;
    /// docs/PERFORMANCE.md).
    #[arg(long, default_value_t = DEFAULT_CHUNK)]
    chunk: usize,
    /// Resume state (default: `<input>.import-state.json`).
    #[arg(long)]
    state: Option<PathBuf>,
    /// Error report, JSONL (default: `<input>.errors.jsonl`).
    #[arg(long)]
    errors: Option<PathBuf>,
    /// First measure and print this machine's Ed25519 limits (`verify_strict`/s on one
    /// core and on all), to put the import's rate beside them.
    #[arg(long)]
    limits: bool,
    /// After the import, rewrite the store without the free space its growth left
    /// (as `proofless store compact`; about 20 s per GB here).
    #[arg(long)]
    compact: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct ImportState {
    input: String,
    lines_done: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    security_object: String,
    items: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusLine {
    status: String,
    certificate_id: String,
    #[serde(default)]
    successor: Option<String>,
    issuer: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Line {
    Submission(Submission),
    Status(StatusLine),
}

#[derive(Debug, Serialize)]
struct ErrorRow {
    line: u64,
    code: &'static str,
    detail: String,
}

enum Outcome {
    Ignored,
    Imported,
    Skipped,
    Failed(&'static str, String),
}

fn parse_line(text: &str, csv: bool) -> Result<Line, (&'static str, String)> {
    if csv {
        let (so, items) = text
            .split_once(',')
            .ok_or(("invalid_line", "expected security_object,items".to_owned()))?;
        return Ok(Line::Submission(Submission {
            security_object: so.trim().to_owned(),
            items: items
                .trim()
                .split(';')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        }));
    }
    // The parser's message may quote the line, which can hold personal data: keep only
    // the position.
    serde_json::from_str(text).map_err(|e| {
        (
            "invalid_line",
            format!("not a submission or status line (column {})", e.column()),
        )
    })
}

fn unb64(s: &str) -> Result<Vec<u8>, (&'static str, String)> {
    BASE64_STANDARD
        .decode(s)
        .map_err(|_| ("invalid_line", "a field is not standard base64".to_owned()))
}

fn cert_error(e: CertificateError) -> (&'static str, String) {
    (e.code(), e.to_string())
}

/// Whether the certificate `id` in the log is exactly the signed object `form`.
fn same_certificate(svc: &Certificates, id: &str, form: &[u8]) -> bool {
    let Ok(view) = svc.view(id) else { return false };
    matches!(
        proofless_core::entry::Entry::decode(&view.entry),
        Ok(proofless_core::entry::Entry::CertificateIssued(ci)) if ci.security_object == form
    )
}

/// The example principals' issuers by stem, for signing status lines.
pub(crate) fn load_issuers(dir: &Path) -> Result<HashMap<String, Issuer>> {
    #[derive(Deserialize)]
    struct P {
        name: String,
        role: String,
        key: String,
        certificate: String,
    }
    #[derive(Deserialize)]
    struct File {
        principals: Vec<P>,
    }
    let path = dir.join("principals.json");
    let f: File = serde_json::from_slice(
        &std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("{}", path.display()))?;
    let mut out = HashMap::new();
    for p in f.principals.into_iter().filter(|p| p.role == "issuer") {
        let key_path = dir.join(&p.key);
        let key = SigningKey::from_pkcs8_pem(
            &std::fs::read_to_string(&key_path)
                .with_context(|| format!("reading {}", key_path.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", key_path.display()))?;
        let cert_path = dir.join(&p.certificate);
        let der = pki::pem_certificate(
            &std::fs::read(&cert_path)
                .with_context(|| format!("reading {}", cert_path.display()))?,
            Position::Chain(0),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", cert_path.display()))?;
        out.insert(p.name, Issuer::new(key, vec![der]));
    }
    Ok(out)
}

/// What the checking threads make of a line.
enum Prepared {
    /// Nothing more to do: blank, header, or refused.
    Done(Outcome),
    /// A submission that passed every check that writes nothing.
    Checked(Box<Checked>),
    /// A status change, applied once the lines before it are in.
    Status(StatusLine),
}

/// A line parsed: either done with, or a submission to check.
enum Parsed {
    Prepared(Prepared),
    Submission(IssueRequest),
}

/// Parses a line; a submission's fields are decoded from base64.
fn parse(n: u64, text: &str, csv: bool) -> Parsed {
    if text.is_empty() || (csv && n == 1) {
        // Blank lines and the CSV header: nothing to import.
        return Parsed::Prepared(Prepared::Done(Outcome::Ignored));
    }
    let s = match parse_line(text, csv) {
        Ok(Line::Submission(s)) => s,
        Ok(Line::Status(st)) => return Parsed::Prepared(Prepared::Status(st)),
        Err((c, d)) => return Parsed::Prepared(Prepared::Done(Outcome::Failed(c, d))),
    };
    match (|| {
        Ok::<_, (&'static str, String)>(IssueRequest {
            security_object: unb64(&s.security_object)?,
            items: s.items.iter().map(|i| unb64(i)).collect::<Result<_, _>>()?,
        })
    })() {
        Ok(r) => Parsed::Submission(r),
        Err((c, d)) => Parsed::Prepared(Prepared::Done(Outcome::Failed(c, d))),
    }
}

/// Parses lines and checks their submissions together ([`Certificates::check_all`]:
/// one batch equation for their signatures).
fn prepare(svc: &Certificates, lines: &[(u64, String)], csv: bool) -> Vec<(u64, Prepared)> {
    // Each line's result, or `None` for a submission, whose request goes to `reqs`.
    let mut reqs = Vec::new();
    let mut slots: Vec<Option<Prepared>> = Vec::with_capacity(lines.len());
    for (n, text) in lines {
        match parse(*n, text, csv) {
            Parsed::Prepared(p) => slots.push(Some(p)),
            Parsed::Submission(r) => {
                reqs.push(r);
                slots.push(None);
            }
        }
    }
    let mut checked = svc.check_all(&reqs).into_iter();
    lines
        .iter()
        .zip(slots)
        .map(|((n, _), slot)| {
            let prepared = slot.unwrap_or_else(|| match checked.next() {
                Some(Ok(c)) => Prepared::Checked(Box::new(c)),
                Some(Err(e)) => {
                    let (c, d) = cert_error(e);
                    Prepared::Done(Outcome::Failed(c, d))
                }
                None => Prepared::Done(Outcome::Failed("internal", "not checked".to_owned())),
            });
            (*n, prepared)
        })
        .collect()
}

/// The checking threads, one share of every chunk each, kept for the whole import (a
/// thread per chunk would start each time with a cold allocator heap: measured, that cost
/// ~10 % of the CPU in page faults).
struct Checkers {
    work: Vec<Worker>,
}

/// A checking thread's input (a share of lines) and output (their results).
type Worker = (
    std::sync::mpsc::Sender<Vec<(u64, String)>>,
    std::sync::mpsc::Receiver<Vec<(u64, Prepared)>>,
);

impl Checkers {
    /// Prepares `lines`, each thread taking a contiguous share; the results in order.
    fn prepare(&self, lines: Vec<(u64, String)>) -> Result<Vec<(u64, Prepared)>> {
        let stopped = || anyhow::anyhow!("a checking thread stopped");
        let share = lines.len().div_ceil(self.work.len().max(1)).max(1);
        let total = lines.len();
        let mut lines = lines.into_iter();
        let mut used = 0;
        for (tx, _) in &self.work {
            let part: Vec<(u64, String)> = lines.by_ref().take(share).collect();
            if part.is_empty() {
                break;
            }
            tx.send(part).map_err(|_| stopped())?;
            used += 1;
        }
        let mut out = Vec::with_capacity(total);
        for (_, rx) in &self.work[..used] {
            out.extend(rx.recv().map_err(|_| stopped())?);
        }
        Ok(out)
    }
}

/// A chunk whose certificates are admitted and whose status lines are being applied.
struct Settling {
    /// Every line's number and outcome (`None` for a status line not yet applied).
    outcomes: Vec<(u64, Option<Outcome>)>,
    /// The status lines, by task.
    status: tokio::task::JoinSet<Vec<(usize, Outcome)>>,
    /// Every line up to this one is in this chunk or an earlier one.
    through: u64,
}

/// A chunk whose certificates are admitted; its status lines are still to be applied.
struct AdmittedChunk {
    /// Every line's number and outcome (`None` for a status line).
    outcomes: Vec<(u64, Option<Outcome>)>,
    /// The status lines by certificate, each with its place in the chunk.
    status: HashMap<String, Vec<(usize, StatusLine)>>,
    /// Every line up to this one is in this chunk or an earlier one.
    through: u64,
}

/// A chunk whose certificates are sealed ([`Certificates::seal_all`]) and wait for their
/// append.
struct SealedChunk<'a> {
    /// Every line's number and outcome (`None` for a certificate or a status line).
    outcomes: Vec<(u64, Option<Outcome>)>,
    /// The certificates: each one's place in the chunk, identifier and log form.
    submitted: Vec<(usize, String, Vec<u8>)>,
    sealed: Sealed<'a>,
    /// The status lines by certificate, each with its place in the chunk.
    status: HashMap<String, Vec<(usize, StatusLine)>>,
    /// Every line up to this one is in this chunk or an earlier one.
    through: u64,
}

/// Seals a prepared chunk's certificates. This runs while the previous chunk is being
/// appended; which identifiers are taken is decided afterwards, in [`admit_chunk`].
async fn seal_chunk(
    svc: &Certificates,
    chunk: Vec<(u64, Prepared)>,
    through: u64,
) -> SealedChunk<'_> {
    let mut outcomes: Vec<(u64, Option<Outcome>)> = Vec::with_capacity(chunk.len());
    let mut checked = Vec::new();
    let mut submitted = Vec::new();
    let mut status: HashMap<String, Vec<(usize, StatusLine)>> = HashMap::new();
    for (pos, (n, p)) in chunk.into_iter().enumerate() {
        outcomes.push((n, None));
        match p {
            Prepared::Done(o) => outcomes[pos].1 = Some(o),
            Prepared::Checked(c) => {
                submitted.push((pos, c.certificate_id().to_owned(), c.log_form().to_vec()));
                checked.push(*c);
            }
            Prepared::Status(st) => status
                .entry(st.certificate_id.clone())
                .or_default()
                .push((pos, st)),
        }
    }
    SealedChunk {
        outcomes,
        submitted,
        sealed: svc.seal_all(checked).await,
        status,
        through,
    }
}

/// Admits a sealed chunk's certificates in one append (one commit). Its status lines,
/// which may refer to certificates of this chunk or earlier ones, are started afterwards
/// ([`start_status`]). The caller must [`finish`] the previous chunk's status lines
/// first, so that status lines about one certificate in successive chunks run in order.
async fn admit_chunk(svc: &Certificates, chunk: SealedChunk<'_>) -> AdmittedChunk {
    let SealedChunk {
        mut outcomes,
        submitted,
        sealed,
        status,
        through,
    } = chunk;
    let results = svc.admit_sealed(sealed).await;
    for ((pos, id, form), r) in submitted.into_iter().zip(results) {
        outcomes[pos].1 = Some(match r {
            Ok(_) => Outcome::Imported,
            // The same signed certificate already in the log (a rerun, or the same line
            // twice) is skipped; a different one under an identifier already used is an
            // error. `busy`: the previous chunk's status lines are changing a certificate
            // with this identifier, so it is in the log.
            Err(CertificateError::Duplicate | CertificateError::Busy)
                if same_certificate(svc, &id, &form) =>
            {
                Outcome::Skipped
            }
            Err(CertificateError::Duplicate) => Outcome::Failed(
                "duplicate_certificate_id",
                "another certificate already has this identifier".to_owned(),
            ),
            Err(CertificateError::Busy) if svc.view(&id).is_ok() => Outcome::Failed(
                "duplicate_certificate_id",
                "another certificate already has this identifier".to_owned(),
            ),
            Err(e) => {
                let (c, d) = cert_error(e);
                Outcome::Failed(c, d)
            }
        });
    }
    AdmittedChunk {
        outcomes,
        status,
        through,
    }
}

/// Starts the status lines of an admitted chunk (see [`admit_chunk`]).
fn start_status(
    svc: &Arc<Certificates>,
    issuers: &Arc<HashMap<String, Issuer>>,
    AdmittedChunk {
        outcomes,
        status,
        through,
    }: AdmittedChunk,
    now_ms: u64,
) -> Settling {
    let mut tasks = tokio::task::JoinSet::new();
    for (_, lines) in status {
        let (svc, issuers) = (svc.clone(), issuers.clone());
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(lines.len());
            for (pos, st) in lines {
                out.push((pos, apply_status(&svc, &issuers, &st, now_ms).await));
            }
            out
        });
    }
    Settling {
        outcomes,
        status: tasks,
        through,
    }
}

/// Waits for a chunk's status lines; returns the outcome of every line, in order, and the
/// line through which everything is done.
async fn finish(mut chunk: Settling) -> Result<(Vec<(u64, Outcome)>, u64)> {
    while let Some(done) = chunk.status.join_next().await {
        for (pos, o) in done? {
            chunk.outcomes[pos].1 = Some(o);
        }
    }
    let outcomes = chunk
        .outcomes
        .into_iter()
        .map(|(n, o)| {
            (
                n,
                o.unwrap_or(Outcome::Failed("internal", "no outcome".to_owned())),
            )
        })
        .collect();
    Ok((outcomes, chunk.through))
}

async fn apply_status(
    svc: &Certificates,
    issuers: &HashMap<String, Issuer>,
    st: &StatusLine,
    now_ms: u64,
) -> Outcome {
    let status = match st.status.as_str() {
        "suspended" => Status::Suspended,
        "revoked" => Status::Revoked,
        "superseded" => Status::Superseded,
        "valid" => Status::Valid,
        _ => return Outcome::Failed("invalid_line", "unknown status".to_owned()),
    };
    let Some(issuer) = issuers.get(&st.issuer) else {
        return Outcome::Failed(
            "unknown_issuer",
            "no key for this issuer in --issuer-keys".to_owned(),
        );
    };
    let (Ok(id), successor) = (
        CertificateId::parse(&st.certificate_id),
        st.successor
            .as_deref()
            .map(CertificateId::parse)
            .transpose(),
    ) else {
        return Outcome::Failed("invalid_certificate_id", "malformed identifier".to_owned());
    };
    let Ok(successor) = successor else {
        return Outcome::Failed("invalid_certificate_id", "malformed successor".to_owned());
    };
    let view = match svc.status_now(id.as_str()) {
        Ok(v) => v,
        Err(e) => {
            let (c, d) = cert_error(e);
            return Outcome::Failed(c, d);
        }
    };
    // Already in effect: a rerun after an interruption.
    if view.status == status.name()
        && view.successor.as_deref() == successor.as_ref().map(CertificateId::as_str)
    {
        return Outcome::Skipped;
    }
    let body = issuer.status_body(&id, status, successor.as_ref(), view.latest_index, now_ms);
    let Ok(statement) = BASE64_STANDARD.decode(body.statement) else {
        return Outcome::Failed("internal", "statement encoding".to_owned());
    };
    match svc.change_status(&statement).await {
        Ok(_) => Outcome::Imported,
        Err(e) => {
            let (c, d) = cert_error(e);
            Outcome::Failed(c, d)
        }
    }
}

/// Totals of an import run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) imported: u64,
    pub(crate) skipped: u64,
    pub(crate) failed: u64,
    pub(crate) lines: u64,
}

/// Imports `input` into an opened ledger.
///
/// A pipeline: a reader thread hands `chunk` lines at a time to `threads` persistent
/// checking threads ([`Certificates::check_all`] on each share); meanwhile the previous
/// chunk is admitted in one append ([`Certificates::admit_checked`]), and the one before it
/// applies its status lines. Chunks are admitted in input order, and the resume point is
/// saved only once a chunk's status lines are done too, so it never passes an unfinished
/// line.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn import_file(
    opened: &Opened,
    input: &Path,
    issuers: Arc<HashMap<String, Issuer>>,
    threads: usize,
    chunk: usize,
    state_path: &Path,
    errors_path: &Path,
    bar: ProgressBar,
) -> Result<Totals> {
    let svc = opened
        .certificates
        .clone()
        .context("no trust_anchor configured: certificates cannot be imported")?;
    let csv = input
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let input_name = input.display().to_string();
    let resume = match std::fs::read(state_path) {
        Ok(b) => {
            let s: ImportState = serde_json::from_slice(&b)
                .with_context(|| format!("state file {}", state_path.display()))?;
            if s.input != input_name {
                bail!(
                    "{} is the state of another input ({}); remove it or name another with --state",
                    state_path.display(),
                    s.input
                );
            }
            s.lines_done
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e).with_context(|| format!("reading {}", state_path.display())),
    };
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    bar.set_length(file.metadata().map(|m| m.len()).unwrap_or(0));
    let mut errors = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(errors_path)
            .with_context(|| format!("opening {}", errors_path.display()))?,
    );

    // Stage 1: read and check, one chunk ahead of stage 2.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<(u64, Prepared)>, u64)>(1);
    let reader_bar = bar.clone();
    let checker_svc = svc.clone();
    let chunk = chunk.max(1);
    let reader = std::thread::spawn(move || -> Result<u64> {
        let svc: &Certificates = &checker_svc;
        std::thread::scope(|s| {
            let mut work = Vec::with_capacity(threads.max(1));
            for _ in 0..threads.max(1) {
                let (tx, rx) = std::sync::mpsc::channel::<Vec<(u64, String)>>();
                let (done_tx, done_rx) = std::sync::mpsc::channel();
                s.spawn(move || {
                    for part in rx {
                        if done_tx.send(prepare(svc, &part, csv)).is_err() {
                            break;
                        }
                    }
                });
                work.push((tx, done_rx));
            }
            // Dropped when this closure returns, which stops the threads.
            let checkers = Checkers { work };
            let mut r = BufReader::new(file);
            let mut line = String::new();
            let mut n = 0u64;
            let mut lines: Vec<(u64, String)> = Vec::with_capacity(chunk);
            loop {
                line.clear();
                let read = r.read_line(&mut line)?;
                if read > 0 {
                    reader_bar.inc(read as u64);
                    n += 1;
                    if n > resume {
                        lines.push((n, line.trim_end_matches(['\n', '\r']).to_owned()));
                    }
                }
                if lines.len() >= chunk || (read == 0 && !lines.is_empty()) {
                    let prepared = checkers.prepare(std::mem::take(&mut lines))?;
                    // `n`: every line up to here is in this chunk or an earlier one.
                    if tx.blocking_send((prepared, n)).is_err() {
                        break;
                    }
                }
                if read == 0 {
                    break;
                }
            }
            Ok(n)
        })
    });

    // Stage 2: admit chunk by chunk, in order; report and save the resume point.
    let now_ms = proofless_ledger::clock::Clock::now_millis(&proofless_ledger::clock::SystemClock);
    let mut totals = Totals::default();
    let mut last_save = Instant::now();
    let save = |lines_done: u64| -> Result<()> {
        let s = ImportState {
            input: input_name.clone(),
            lines_done,
        };
        write_durably(state_path, &serde_json::to_vec(&s)?, false)
    };
    let mut report = |outcomes: Vec<(u64, Outcome)>, through: u64| -> Result<()> {
        for (n, outcome) in outcomes {
            match outcome {
                Outcome::Ignored => {}
                Outcome::Imported => totals.imported += 1,
                Outcome::Skipped => totals.skipped += 1,
                Outcome::Failed(code, detail) => {
                    totals.failed += 1;
                    serde_json::to_writer(
                        &mut errors,
                        &ErrorRow {
                            line: n,
                            code,
                            detail,
                        },
                    )?;
                    errors.write_all(b"\n")?;
                }
            }
        }
        if last_save.elapsed() > Duration::from_secs(1) {
            errors.flush()?;
            save(through)?;
            last_save = Instant::now();
            bar.set_message(format!(
                "{} imported, {} skipped, {} errors",
                totals.imported, totals.skipped, totals.failed
            ));
        }
        Ok(())
    };
    // Chunk k is appended while chunk k+1 is received and sealed, and while chunk k-1's
    // status lines run.
    let certificates: &Certificates = &svc;
    let mut settling: Option<Settling> = None;
    let mut staged: Option<SealedChunk<'_>> = None;
    loop {
        let (admitted, next) = tokio::join!(
            async {
                match staged.take() {
                    Some(chunk) => Some(admit_chunk(certificates, chunk).await),
                    None => None,
                }
            },
            async {
                match rx.recv().await {
                    Some((prepared, through)) => {
                        Some(seal_chunk(certificates, prepared, through).await)
                    }
                    None => None,
                }
            }
        );
        if let Some(admitted) = admitted {
            if let Some(previous) = settling.take() {
                let (outcomes, through) = finish(previous).await?;
                report(outcomes, through)?;
            }
            settling = Some(start_status(&svc, &issuers, admitted, now_ms));
        }
        match next {
            Some(chunk) => staged = Some(chunk),
            None => break,
        }
    }
    if let Some(last) = settling.take() {
        let (outcomes, through) = finish(last).await?;
        report(outcomes, through)?;
    }
    let lines = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    errors.flush()?;
    errors.get_ref().sync_all()?;
    // Every line was handed out and answered: the whole input is done.
    save(lines)?;
    totals.lines = lines;
    Ok(totals)
}

pub(crate) fn run(args: ImportArgs) -> Result<()> {
    init_tracing(false);
    let file = load_config(args.config.as_deref())?;
    let data = crate::serve::data_dir(args.data.as_deref(), &file);
    let state = args
        .state
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.import-state.json", args.input.display())));
    let errors = args
        .errors
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.errors.jsonl", args.input.display())));
    let issuers = Arc::new(match &args.issuer_keys {
        Some(d) => load_issuers(d)?,
        None => HashMap::new(),
    });
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = args.threads.unwrap_or(cores).max(1);
    if args.limits {
        let (_, strict) = crate::bench::ed25519_rates()?;
        println!(
            "limits: ed25519 verify_strict/s {strict:.0} on 1 core, {:.0} on {cores}; 40 % of that: {:.0}",
            strict * cores as f64,
            0.4 * strict * cores as f64
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (totals, batches) = rt.block_on(async {
        let opened =
            open_ledger(&file, data.clone(), proofless_ledger::LogConfig::default()).await?;
        let before = opened.log.metrics().batches();
        let totals = import_file(
            &opened,
            &args.input,
            issuers,
            threads,
            args.chunk,
            &state,
            &errors,
            bar.clone(),
        )
        .await?;
        // The holder-access index was told of every batch: save the span it covers.
        save_access_index(&opened).await?;
        anyhow::Ok((totals, opened.log.metrics().batches() - before))
    })?;
    drop(rt);
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "imported {} ({:.0}/s), skipped {} already present, {} errors (see {}); {} lines in {:.1}s",
        totals.imported,
        totals.imported as f64 / secs.max(1e-9),
        totals.skipped,
        totals.failed,
        errors.display(),
        totals.lines,
        secs
    );
    println!(
        "  {} group commits, {:.1} certificates each",
        batches,
        totals.imported as f64 / batches.max(1) as f64
    );
    if args.compact {
        // Everything that held the store is gone with the runtime above.
        let file = data.join(proofless_store::redb_store::FILE_NAME);
        let before = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        let mut store = proofless_store::RedbStore::open(&data)?;
        while store.compact()? {}
        drop(store);
        let after = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
        println!("  compacted {}: {before} -> {after} bytes", file.display());
    }
    Ok(())
}
