//! `proofless`: the ledger server, key management, log verification and load generator.

mod auditcmd;
mod bench;
mod benchreplay;
mod certcmd;
mod checkcmd;
mod config;
mod demo;
mod democmd;
mod import;
mod keys;
mod load;
mod logcmd;
mod logsink;
mod policycmd;
mod serve;
mod verifycmd;
mod witness;

use clap::{Parser, Subcommand};

use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of the system allocator: the server, the import and the replay
/// allocate from many threads at once, where glibc's malloc spent ~9 % of the server's
/// CPU and ~12 % of an import's (docs/decisions/0013-mimalloc.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Proofless: the ledger behind a no-proof city.
#[derive(Debug, Parser)]
#[command(name = "proofless", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the ledger's HTTP server on the embedded store.
    Serve(serve::ServeArgs),
    /// Generate keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with a log over its public read API.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Sign a certificate as its issuer and submit it (or write the submission).
    Issue(certcmd::IssueArgs),
    /// Work with certificates offline.
    Certificate {
        #[command(subcommand)]
        command: CertificateCommand,
    },
    /// Write synthetic holders and certificates, signed by the example issuers, as an
    /// import file.
    DemoData(democmd::DemoArgs),
    /// Bulk-import signed certificates (JSONL or CSV) into a data directory, resumably.
    Import(import::ImportArgs),
    /// As a department: send a signed verification request and save the answer.
    Verify(verifycmd::VerifyArgs),
    /// Work with verification receipts offline.
    Receipt {
        #[command(subcommand)]
        command: ReceiptCommand,
    },
    /// As a channel (citizen side): one-time consents and the holder's access history.
    Consent {
        #[command(subcommand)]
        command: ConsentCommand,
    },
    /// Verification load generator: signed requests against a running server, with
    /// throughput, latency percentiles and Ed25519 limits measured in the same run.
    Load(load::LoadArgs),
    /// Print the OpenAPI 3.1 document (the content of docs/openapi.json).
    Openapi,
    /// Work with the no-proof scenario rules.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Inspect a data directory.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// As an auditor: replay and verify the whole log offline, or export part of it.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Offline integrity check of a data directory: tree, entries, every index against
    /// the log, payloads against their commitments (exit 0 clean, 1 findings, 2 usage).
    Check(checkcmd::CheckArgs),
    /// Load generators and raw-limit measurements.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Run a C2SP tlog-witness: cosign the checkpoints of known logs after checking
    /// their consistency (`POST /add-checkpoint`).
    Witness(witness::WitnessArgs),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Generate a new random ledger (checkpoint) key.
    Generate {
        /// The log's origin, which is also the key name.
        #[arg(long)]
        origin: String,
        /// Directory to write `ledger.key` (secret, mode 0600) and `ledger.vkey` into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Regenerate the deterministic example keys and certificates (never for production).
    Example {
        /// Output directory, normally `keys-example`.
        #[arg(long, default_value = "keys-example")]
        out: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LogCommand {
    /// Download and verify the whole log: signature, every entry bundle and tile, the
    /// root, and consistency with the checkpoint verified last time.
    Verify(logcmd::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum CertificateCommand {
    /// Verify a certificate and its disclosed items against the issuer's signature and the
    /// trust anchor, offline.
    Verify(certcmd::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Lint the scenario rule files: unknown types, fields or predicates, bad department
    /// codes, … each reported with its file and line.
    Check(policycmd::CheckArgs),
}

#[derive(Debug, Subcommand)]
enum StoreCommand {
    /// Space used per table (the server must not be running: the store is locked).
    Usage {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
    /// Rewrite the store without free pages, e.g. after a bulk import (offline).
    Compact {
        /// Data directory.
        #[arg(long, default_value = "data")]
        data: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ConsentCommand {
    /// Grant a one-time consent on a holder's behalf; prints the code and the preview.
    Grant(verifycmd::GrantArgs),
    /// Revoke an unused consent.
    Revoke(verifycmd::RevokeArgs),
    /// List the holder's accesses, newest first.
    History(verifycmd::HistoryArgs),
}

#[derive(Debug, Subcommand)]
enum ReceiptCommand {
    /// Verify a saved answer and its receipt with only the ledger's key and the trust
    /// anchor: receipt signature, answer and request digests, access entry, tlog-proof,
    /// and every disclosed item against its issuer.
    Verify(verifycmd::ReceiptVerifyArgs),
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Replay the log (from its URL or an exported bundle): every hash, tile and
    /// signature verified, consistency with every checkpoint seen before, and every
    /// access decision re-checked against the rules in force then. Writes a JSON and an
    /// HTML report; exits non-zero on any anomaly; resumable.
    Replay(auditcmd::ReplayArgs),
    /// Export entries `--from`..`--to` as a self-contained bundle that the replay
    /// accepts offline.
    Export(auditcmd::ExportArgs),
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Append load on the log core (durable group commit on redb), with raw limits.
    Log(bench::LogBenchArgs),
    /// The auditor's replay over a large log with real signatures, built in memory,
    /// beside Ed25519 single and batch verification rates measured in the same run.
    Replay(benchreplay::ReplayBenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Keys { command } => match command {
            KeysCommand::Generate { origin, out } => keys::generate(&origin, &out),
            KeysCommand::Example { out } => keys::write_examples(&out),
        },
        Command::Log { command } => match command {
            LogCommand::Verify(args) => logcmd::verify(args),
        },
        Command::Import(args) => import::run(args),
        Command::DemoData(args) => democmd::run(args),
        Command::Issue(args) => certcmd::issue(args),
        Command::Certificate { command } => match command {
            CertificateCommand::Verify(args) => certcmd::verify(args),
        },
        Command::Policy { command } => match command {
            PolicyCommand::Check(args) => policycmd::check(args),
        },
        Command::Store { command } => match command {
            StoreCommand::Usage { data } => store_usage(&data),
            StoreCommand::Compact { data } => store_compact(&data),
        },
        Command::Verify(args) => verifycmd::verify(args),
        Command::Receipt { command } => match command {
            ReceiptCommand::Verify(args) => verifycmd::receipt_verify(args),
        },
        Command::Consent { command } => match command {
            ConsentCommand::Grant(a) => verifycmd::consent_grant(a),
            ConsentCommand::Revoke(a) => verifycmd::consent_revoke(a),
            ConsentCommand::History(a) => verifycmd::consent_history(a),
        },
        Command::Load(args) => load::run(args),
        Command::Openapi => {
            print!("{}", proofless_server::openapi_json());
            Ok(())
        }
        Command::Audit { command } => match command {
            AuditCommand::Replay(args) => auditcmd::replay(args),
            AuditCommand::Export(args) => auditcmd::export(args),
        },
        Command::Check(args) => {
            let code = checkcmd::run(args);
            logsink::flush();
            return ExitCode::from(code);
        }
        Command::Bench { command } => match command {
            BenchCommand::Log(args) => bench::log(args),
            BenchCommand::Replay(args) => benchreplay::run(args),
        },
        Command::Witness(args) => witness::run(args),
    };
    // Everything logged so far reaches stderr before the error or the exit.
    logsink::flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn store_usage(data: &std::path::Path) -> anyhow::Result<()> {
    // The size at rest: opening the store may grow the file until it is closed again.
    let file = std::fs::metadata(data.join(proofless_store::redb_store::FILE_NAME))?.len();
    let store = proofless_store::RedbStore::open(data)?;
    let usage = store.usage()?;
    let certificates = usage
        .iter()
        .find(|u| u.table == "certificates")
        .map(|u| u.entries)
        .unwrap_or(0);
    println!(
        "{:<14} {:>10} {:>14} {:>12} {:>12} {:>8}",
        "table", "keys", "stored bytes", "metadata", "fragmented", "pages"
    );
    for u in &usage {
        println!(
            "{:<14} {:>10} {:>14} {:>12} {:>12} {:>8}",
            u.table, u.entries, u.stored_bytes, u.metadata_bytes, u.fragmented_bytes, u.pages
        );
    }
    let pages: u64 = usage.iter().map(|u| u.pages).sum();
    println!(
        "file {file} bytes; {pages} pages in tables ({} bytes)",
        pages * 4096
    );
    if certificates > 0 {
        println!(
            "per certificate: {:.0} bytes of file, {:.0} bytes of table pages",
            file as f64 / certificates as f64,
            (pages * 4096) as f64 / certificates as f64
        );
    }
    Ok(())
}

fn store_compact(data: &std::path::Path) -> anyhow::Result<()> {
    let path = data.join(proofless_store::redb_store::FILE_NAME);
    let before = std::fs::metadata(&path)?.len();
    let mut store = proofless_store::RedbStore::open(data)?;
    while store.compact()? {}
    drop(store);
    let after = std::fs::metadata(&path)?.len();
    println!("compacted {}: {before} -> {after} bytes", path.display());
    Ok(())
}
