//! Criterion benchmarks of the log core, with the raw limits beside them:
//! `cargo bench -p proofless-ledger --bench log`.
//!
//! * `limits/sha256_node_hash` — one RFC 9162 node hash (the integration cost floor);
//! * `limits/redb_batched_insert_4096` — 4,096 300-byte values in one durable redb
//!   transaction (the storage floor);
//! * `log/append_durable` — 10,000 appends of ~300-byte entries by 256 concurrent writers
//!   through the sequencer: group commit, integration, checkpoint signing.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{AccessRecorded, Decision, EncodedEntry, Entry, RequestSignature};
use proofless_core::merkle::{Hash, node_hash};
use proofless_ledger::{Log, LogConfig};
use proofless_store::RedbStore;
use redb::{Database, Durability, TableDefinition};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

fn entry(n: u64) -> EncodedEntry {
    let mut d = [0u8; 32];
    d[..8].copy_from_slice(&n.to_be_bytes());
    Entry::AccessRecorded(AccessRecorded {
        time: 1_764_000_000_000 + n,
        department: "11370200MB2850412X".into(),
        operator: "op-0001".into(),
        scenario: "QD-GZF-001".into(),
        policy_version: 3,
        purpose: "公共租赁住房申请资格审核".into(),
        case_number: format!("QD-2025-{n:016}"),
        consent: Some(d),
        certificates: vec![
            "1.2.156.3005.2.11100000000013338W001.11370200MB2850412X.0000001.001.K".into(),
        ],
        fields: vec!["name".into(), "marital_status".into(), "address".into()],
        decision: Decision::Allow,
        reason: "ok".into(),
        request_digest: d,
        request: RequestSignature::example(n),
        holder: None,
    })
    .encode()
    .unwrap()
}

fn limits(c: &mut Criterion) {
    let mut g = c.benchmark_group("limits");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sha256_node_hash", |b| {
        let h = Hash([7; 32]);
        b.iter(|| node_hash(std::hint::black_box(h), h));
    });
    let dir = tempfile::tempdir().unwrap();
    let db = Database::create(dir.path().join("raw.redb")).unwrap();
    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("raw");
    let value = [0xabu8; 300];
    let mut next = 0u64;
    g.throughput(Throughput::Elements(4096));
    g.bench_function("redb_batched_insert_4096", |b| {
        b.iter(|| {
            let mut tx = db.begin_write().unwrap();
            tx.set_durability(Durability::Immediate).unwrap();
            // The same commit mode as the store: two-phase commit, no quick repair.
            tx.set_two_phase_commit(true);
            {
                let mut t = tx.open_table(T).unwrap();
                for _ in 0..4096 {
                    t.insert(next, value.as_slice()).unwrap();
                    next += 1;
                }
            }
            tx.commit().unwrap();
        });
    });
    g.finish();
}

fn append(c: &mut Criterion) {
    const PER_ITER: u64 = 10_000;
    const WRITERS: u64 = 256;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let signer = LedgerSigner::from_seed("bench.example/log", [1; 32]).unwrap();
    let log = Arc::new(Log::open(store, signer, LogConfig::default()).unwrap());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let counter = Arc::new(AtomicU64::new(0));
    let mut g = c.benchmark_group("log");
    g.throughput(Throughput::Elements(PER_ITER));
    g.sample_size(20);
    g.bench_function("append_durable", |b| {
        b.iter(|| {
            let base = counter.fetch_add(PER_ITER, Ordering::Relaxed);
            rt.block_on(async {
                let mut tasks = Vec::new();
                for w in 0..WRITERS {
                    let log = log.clone();
                    tasks.push(tokio::spawn(async move {
                        let mut n = w;
                        while n < PER_ITER {
                            log.append(entry(base + n)).await.unwrap();
                            n += WRITERS;
                        }
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            });
        });
    });
    g.finish();
}

criterion_group!(benches, limits, append);
criterion_main!(benches);
