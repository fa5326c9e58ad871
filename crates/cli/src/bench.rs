//! `proofless bench log`: the log-core load generator, with the raw limits of the same
//! machine measured in the same run (SHA-256 node hashes/s, Ed25519 sign and verify/s,
//! redb batched durable inserts/s), so that `docs/PERFORMANCE.md` can put each result
//! beside the limit it is bounded by.

use crate::config::{self, DEFAULT_ORIGIN};
use crate::serve::now_millis;
use anyhow::{Context, Result};
use clap::Args;
use ed25519_dalek::{Signer as _, SigningKey};
use indicatif::{ProgressBar, ProgressStyle};
use proofless_core::entry::{AccessRecorded, Decision, EncodedEntry, Entry, RequestSignature};
use proofless_core::merkle::{Hash, node_hash};
use proofless_ledger::{Log, LogConfig};
use proofless_store::RedbStore;
use redb::{Database, Durability, TableDefinition};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Arguments of `bench log`.
#[derive(Debug, Args)]
pub(crate) struct LogBenchArgs {
    /// Data directory to append to (default: a fresh temporary directory, removed after).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Number of entries to append.
    #[arg(long, default_value_t = 500_000)]
    entries: u64,
    /// Concurrent writers.
    #[arg(long, default_value_t = 512)]
    writers: u64,
    /// Most entries per group-commit batch.
    #[arg(long, default_value_t = 8192)]
    max_batch: usize,
    /// Open-loop target rate in appends/s (0: as fast as the writers go). With a rate,
    /// entry n is due at start + n/rate and its latency counts from then, so queueing
    /// delay is not hidden (no coordinated omission).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Print `ack <index> <sha256 of entry>` for every acknowledged append (crash tests).
    #[arg(long)]
    print_acks: bool,
    /// Skip the raw-limit measurements.
    #[arg(long)]
    no_baseline: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// A realistic `AccessRecorded` entry of about 300 bytes, unique per (run, writer, n).
fn sample_entry(run: u64, writer: u64, n: u64) -> Result<EncodedEntry> {
    let mut digest = [0u8; 32];
    digest[..8].copy_from_slice(&run.to_be_bytes());
    digest[8..16].copy_from_slice(&writer.to_be_bytes());
    digest[16..24].copy_from_slice(&n.to_be_bytes());
    Ok(Entry::AccessRecorded(AccessRecorded {
        time: 1_764_000_000_000 + n,
        department: "11370200MB2850412X".into(),
        operator: format!("op-{writer:04}"),
        scenario: "QD-GZF-001".into(),
        policy_version: 3,
        purpose: "公共租赁住房申请资格审核".into(),
        case_number: format!("QD-2025-{run:016x}-{writer:04}-{n:08}"),
        consent: Some(digest),
        certificates: vec![
            "1.2.156.3005.2.11100000000013338W001.11370200MB2850412X.0000001.001.K".into(),
        ],
        fields: vec!["name".into(), "marital_status".into(), "address".into()],
        decision: Decision::Allow,
        reason: "ok".into(),
        request_digest: digest,
        request: RequestSignature::example(n),
        holder: None,
    })
    .encode()?)
}

/// The `p` quantile of sorted microsecond samples, in milliseconds.
pub(crate) fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

/// Ed25519 (ed25519-dalek 3) signatures and `verify_strict` verifications per second on
/// one core, measured now over 300-byte messages.
pub(crate) fn ed25519_rates() -> Result<(f64, f64)> {
    let key = SigningKey::from_bytes(&[9; 32]);
    let msg = [5u8; 300];
    let k = 20_000u32;
    let t = Instant::now();
    let mut sig = key.sign(&msg);
    for _ in 1..k {
        sig = key.sign(&msg);
    }
    let sign_rate = f64::from(k) / t.elapsed().as_secs_f64();
    let vk = key.verifying_key();
    let t = Instant::now();
    for _ in 0..k {
        vk.verify_strict(&msg, &sig).context("self-check")?;
    }
    let verify_rate = f64::from(k) / t.elapsed().as_secs_f64();
    Ok((sign_rate, verify_rate))
}

/// Raw limits of this machine, measured now.
fn baselines() -> Result<()> {
    // SHA-256 tree-node hashes per second, one core.
    let n = 2_000_000u32;
    let mut h = Hash([7; 32]);
    let t = Instant::now();
    for _ in 0..n {
        h = node_hash(h, h);
    }
    let node_rate = f64::from(n) / t.elapsed().as_secs_f64();
    std::hint::black_box(h);

    let (sign_rate, verify_rate) = ed25519_rates()?;

    // redb: 300-byte values under sequential u64 keys, batches of 4096, each batch one
    // durable (Immediate) transaction.
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("raw");
    let value = [0xabu8; 300];
    let total = 500_000u64;
    let t = Instant::now();
    let mut i = 0;
    while i < total {
        let mut tx = db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        // The same commit mode as the store: two-phase commit, no quick repair.
        tx.set_two_phase_commit(true);
        {
            let mut table = tx.open_table(T)?;
            for _ in 0..4096 {
                if i == total {
                    break;
                }
                table.insert(i, value.as_slice())?;
                i += 1;
            }
        }
        tx.commit()?;
    }
    let redb_rate = total as f64 / t.elapsed().as_secs_f64();

    println!("raw limits on this machine (same run):");
    println!("  sha256 tree-node hashes/s (1 core):        {node_rate:>12.0}");
    println!("  ed25519 signatures/s (1 core):             {sign_rate:>12.0}");
    println!("  ed25519 verify_strict/s (1 core):          {verify_rate:>12.0}");
    println!("  redb batched durable inserts/s (4096/tx, 2PC): {redb_rate:>9.0}");
    Ok(())
}

pub(crate) fn log(args: LogBenchArgs) -> Result<()> {
    if !args.no_baseline {
        baselines()?;
    }
    let tmp;
    let data = match &args.data {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile::tempdir()?;
            tmp.path().to_path_buf()
        }
    };
    let signer = config::signer_in_dir(&data, DEFAULT_ORIGIN)?;
    let store =
        Arc::new(RedbStore::open(&data).with_context(|| format!("opening {}", data.display()))?);
    let log = Arc::new(
        Log::open(
            store,
            signer,
            LogConfig {
                max_batch: args.max_batch,
                ..LogConfig::default()
            },
        )
        .with_context(|| format!("opening the log in {}", data.display()))?,
    );
    let start_size = log.latest().size;
    // A run id keeps entries of different runs on the same data directory distinct.
    let run = now_millis() ^ u64::from(std::process::id()) << 40;

    let bar = if args.quiet || args.print_acks {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.entries)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} appended {pos}/{len} [{bar:30}] {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let latencies: Vec<u32> = rt.block_on(async {
        let mut tasks = Vec::new();
        for w in 0..args.writers.max(1) {
            let log = log.clone();
            let next = next.clone();
            let bar = bar.clone();
            let (total, print, rate) = (args.entries, args.print_acks, args.rate);
            let t0 = tokio::time::Instant::now();
            tasks.push(tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    let e = sample_entry(run, w, n)?;
                    let digest = if print {
                        Some(Sha256::digest(e.as_bytes()))
                    } else {
                        None
                    };
                    let t = if rate > 0 {
                        let due = t0 + std::time::Duration::from_secs_f64(n as f64 / rate as f64);
                        tokio::time::sleep_until(due).await;
                        due.into_std()
                    } else {
                        Instant::now()
                    };
                    let a = log.append(e).await?;
                    // Latency from submission to the covering signed checkpoint, which
                    // the append returns together with the index.
                    lat.push(t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    if let Some(d) = digest {
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "ack {} {}", a.index, hex::encode(d))?;
                        out.flush()?;
                    }
                    bar.inc(1);
                }
                anyhow::Ok(lat)
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await??);
        }
        anyhow::Ok(all)
    })?;
    let elapsed = started.elapsed();
    bar.finish_and_clear();
    if args.print_acks {
        return Ok(());
    }
    let mut sorted = latencies;
    sorted.sort_unstable();
    let appended = sorted.len() as u64;
    let end = log.latest();
    let snap = log.metrics().clone();
    drop(log);
    let rate = appended as f64 / elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
    let entry_len = sample_entry(run, 0, 0)?.as_bytes().len();
    println!(
        "log core: {appended} appends of {entry_len}-byte entries by {} writers in {:.2}s",
        args.writers,
        elapsed.as_secs_f64()
    );
    println!("  appends/s (durable, integrated, checkpointed): {rate:>10.0}");
    println!(
        "  submit-to-checkpoint latency ms: p50 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&sorted, 0.50),
        percentile(&sorted, 0.99),
        percentile(&sorted, 1.0)
    );
    println!(
        "  tree size {} -> {}; {} batches, {:.0} entries per batch",
        start_size,
        end.size,
        snap.batches(),
        appended as f64 / snap.batches().max(1) as f64
    );
    if let Ok(meta) = std::fs::metadata(data.join(proofless_store::redb_store::FILE_NAME)) {
        println!(
            "  store file {:.1} MiB, {:.0} bytes per entry",
            meta.len() as f64 / 1048576.0,
            meta.len() as f64 / end.size.max(1) as f64
        );
    }
    Ok(())
}
