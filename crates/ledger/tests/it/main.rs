//! Integration tests of the log on the real redb store.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accesses;
mod certs;
mod check;

use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{AccessRecorded, Decision, EncodedEntry, Entry, RequestSignature};
use proofless_core::merkle::{self, MemoryTree};
use proofless_core::tiles::{self, TileId};
use proofless_ledger::PendingPut;
use proofless_ledger::{AppendError, Log, LogConfig, OpenError, ReadError};
use proofless_store::{Faulty, Put, PutMode, RedbStore, Store, Table};
use std::sync::Arc;

const ORIGIN: &str = "ledger.test.example/proofless/v1";

fn signer() -> LedgerSigner {
    LedgerSigner::from_seed(ORIGIN, [3; 32]).unwrap()
}

fn entry(i: u64) -> EncodedEntry {
    Entry::AccessRecorded(AccessRecorded {
        time: 1_700_000_000_000 + i,
        department: "11370200MB2850412X".into(),
        operator: format!("op-{i}"),
        scenario: "QD-TEST".into(),
        policy_version: 1,
        purpose: "测试".into(),
        case_number: format!("case-{i}"),
        consent: None,
        certificates: vec![],
        fields: vec!["name".into()],
        decision: Decision::Allow,
        reason: "ok".into(),
        request_digest: [i as u8; 32],
        request: RequestSignature::example(i),
        holder: None,
    })
    .encode()
    .unwrap()
}

fn open(dir: &std::path::Path) -> Log {
    let store = Arc::new(RedbStore::open(dir).unwrap());
    Log::open(store, signer(), LogConfig::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_are_contiguous_durable_and_provable() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    let verifier = log.verifier().clone();
    let mut tasks = Vec::new();
    for w in 0..16u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0..25u64 {
                let e = entry(w * 1000 + i);
                let a = log.append(e.clone()).await.unwrap();
                // The covering checkpoint is signed and covers the index.
                assert!(a.checkpoint.size > a.index);
                got.push((a.index, e));
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by_key(|(i, _)| *i);
    let indices: Vec<u64> = all.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        indices,
        (0..400).collect::<Vec<_>>(),
        "indices contiguous from 0, none reissued"
    );

    let latest = log.latest();
    assert_eq!(latest.size, 400);
    verifier.verify_checkpoint(&latest.note).unwrap();
    let mut tree = MemoryTree::new();
    for (i, e) in &all {
        let got = log.entry(*i).unwrap();
        assert_eq!(got.entry, e.as_bytes());
        merkle::verify_inclusion(
            &got.proof,
            latest.size,
            latest.root,
            *i,
            merkle::leaf_hash(e.as_bytes()),
        )
        .unwrap();
        tree.push(e.as_bytes());
    }
    assert_eq!(tree.root(), latest.root);

    // Reopen: everything is still there and the checkpoint still matches the tree.
    drop(log);
    let log = open(dir.path());
    assert_eq!(log.latest().size, 400);
    assert_eq!(log.latest().root, tree.root());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_all_commits_a_run_at_consecutive_indices() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(open(dir.path()));
    assert_eq!(
        log.append_all(vec![]).await.unwrap_err(),
        AppendError::Empty
    );
    let mut tasks = Vec::new();
    for w in 0..8u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut runs = Vec::new();
            for r in 0..10u64 {
                if w % 2 == 0 {
                    let run: Vec<EncodedEntry> =
                        (0..5).map(|k| entry(w * 10_000 + r * 10 + k)).collect();
                    let a = log.append_all(run.clone()).await.unwrap();
                    runs.push((a.index, run));
                } else {
                    log.append(entry(w * 10_000 + r)).await.unwrap();
                }
            }
            runs
        }));
    }
    for t in tasks {
        for (first, run) in t.await.unwrap() {
            for (k, e) in run.iter().enumerate() {
                assert_eq!(
                    log.entry(first + k as u64).unwrap().entry,
                    e.as_bytes(),
                    "run broken up"
                );
            }
        }
    }
    assert_eq!(log.latest().size, 4 * 10 * 5 + 4 * 10);
}

#[tokio::test]
async fn append_with_proof_returns_a_verifying_proof() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    for i in 0..5 {
        let p = log.append_with_proof(entry(i)).await.unwrap();
        assert_eq!(p.index, i);
        merkle::verify_inclusion(
            &p.proof,
            p.checkpoint.size,
            p.checkpoint.root,
            i,
            merkle::leaf_hash(&p.entry),
        )
        .unwrap();
    }
}

#[tokio::test]
async fn consistency_proofs_link_every_pair_of_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut roots = vec![merkle::EMPTY_HASH];
    for i in 0..20 {
        let a = log.append(entry(i)).await.unwrap();
        roots.push(a.checkpoint.root);
    }
    for old in 1..=20u64 {
        for new in old..=20u64 {
            let (n, proof, _) = log.consistency(old, Some(new)).unwrap();
            assert_eq!(n, new);
            merkle::verify_consistency(&proof, old, roots[old as usize], new, roots[new as usize])
                .unwrap();
        }
    }
    assert!(matches!(
        log.consistency(5, Some(4)),
        Err(ReadError::InvalidRange)
    ));
    assert!(matches!(
        log.consistency(5, Some(21)),
        Err(ReadError::NotFound)
    ));
}

#[tokio::test]
async fn tiles_hold_the_tree_and_entries() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(dir.path());
    let mut tree = MemoryTree::new();
    let mut bytes = Vec::new();
    for i in 0..300 {
        let e = entry(i);
        tree.push(e.as_bytes());
        bytes.push(e.as_bytes().to_vec());
        log.append(e).await.unwrap();
    }
    // Full level-0 tile: the 256 leaf hashes.
    let t = log
        .tile(TileId::Hashes {
            level: 0,
            index: 0,
            width: 256,
        })
        .unwrap();
    assert_eq!(t.len(), 256 * 32);
    for i in 0..256 {
        assert_eq!(&t[i * 32..(i + 1) * 32], &merkle::leaf_hash(&bytes[i]).0);
    }
    // Partial tile and bundle for the tail; a full one does not exist yet.
    let p = log
        .tile(TileId::Hashes {
            level: 0,
            index: 1,
            width: 44,
        })
        .unwrap();
    assert_eq!(&p[..32], &merkle::leaf_hash(&bytes[256]).0);
    assert!(matches!(
        log.tile(TileId::Hashes {
            level: 0,
            index: 1,
            width: 256
        }),
        Err(ReadError::NotFound)
    ));
    assert!(matches!(
        log.tile(TileId::Hashes {
            level: 0,
            index: 1,
            width: 45
        }),
        Err(ReadError::NotFound)
    ));
    // Level-1 partial tile of width 1 holds the root of the first 256 leaves.
    let l1 = log
        .tile(TileId::Hashes {
            level: 1,
            index: 0,
            width: 1,
        })
        .unwrap();
    assert_eq!(l1, tree.root_at(256).unwrap().0.to_vec());
    let bundle = log
        .tile(TileId::Entries {
            index: 1,
            width: 44,
        })
        .unwrap();
    let parts = tiles::split_bundle(&bundle).unwrap();
    assert_eq!(parts.len(), 44);
    assert_eq!(parts[0], bytes[256].as_slice());
}

#[tokio::test]
async fn a_failed_commit_fails_every_writer_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Faulty::new(RedbStore::open(dir.path()).unwrap()));
    let log = Log::open(store.clone(), signer(), LogConfig::default()).unwrap();
    log.append(entry(0)).await.unwrap();
    store.set_failing(true);
    assert_eq!(
        log.append(entry(1)).await.unwrap_err(),
        AppendError::Unavailable
    );
    assert_eq!(log.latest().size, 1);
    assert_eq!(store.size().unwrap(), 1);
    store.set_failing(false);
    let a = log.append(entry(2)).await.unwrap();
    assert_eq!(
        a.index, 1,
        "the failed index is not burnt: indices stay contiguous"
    );
    let mut tree = MemoryTree::new();
    tree.push(entry(0).as_bytes());
    tree.push(entry(2).as_bytes());
    assert_eq!(a.checkpoint.root, tree.root());
}

#[tokio::test]
async fn open_refuses_a_store_signed_by_another_key() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = open(dir.path());
        log.append(entry(0)).await.unwrap();
    }
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let other = LedgerSigner::from_seed(ORIGIN, [4; 32]).unwrap();
    assert!(matches!(
        Log::open(store, other, LogConfig::default()),
        Err(OpenError::ForeignCheckpoint)
    ));
}

fn unique(key: &str) -> PendingPut {
    PendingPut {
        put: Put {
            table: Table::Certificates,
            key: key.as_bytes().to_vec(),
            value: b"at ".to_vec(),
            mode: PutMode::Insert,
        },
        key_index_of: None,
        index_of: Some(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn side_writes_carry_their_index_and_a_duplicate_fails_only_its_own_append() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let log = Arc::new(Log::open(store.clone(), signer(), LogConfig::default()).unwrap());
    let a = log
        .append_with(vec![entry(0)], vec![unique("id-0")])
        .await
        .unwrap();
    let mut want = b"at ".to_vec();
    want.extend_from_slice(&a.index.to_be_bytes());
    assert_eq!(store.get(Table::Certificates, b"id-0").unwrap(), Some(want));

    // Many concurrent appends, one of which reuses "id-0": only that one fails, whatever
    // batch it lands in.
    let mut tasks = Vec::new();
    for i in 1..=64u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let key = if i == 32 {
                "id-0".to_owned()
            } else {
                format!("id-{i}")
            };
            (i, log.append_with(vec![entry(i)], vec![unique(&key)]).await)
        }));
    }
    for t in tasks {
        let (i, r) = t.await.unwrap();
        if i == 32 {
            assert_eq!(r.unwrap_err(), AppendError::Duplicate);
        } else {
            r.unwrap();
        }
    }
    assert_eq!(log.latest().size, 64);
    let mut tree = MemoryTree::new();
    for e in store.entries(0, 64).unwrap() {
        tree.push(&e);
    }
    assert_eq!(
        tree.root(),
        log.latest().root,
        "the retried batches kept the tree consistent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linger_gathers_small_batches_into_larger_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let config = LogConfig {
        linger: std::time::Duration::from_millis(500),
        linger_until: 20,
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(store, signer(), config).unwrap());
    // Twenty writers arriving 2 ms apart: without a linger each would find the previous
    // commit done and commit (nearly) alone; with it they share one or two commits.
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(2 * i)).await;
            log.append(entry(i)).await.unwrap().index
        }));
    }
    let mut indices = Vec::new();
    for t in tasks {
        indices.push(t.await.unwrap());
    }
    indices.sort_unstable();
    assert_eq!(indices, (0..20).collect::<Vec<_>>());
    assert!(
        log.metrics().batches() <= 2,
        "{} batches",
        log.metrics().batches()
    );
}

/// A batch waits for a writer that announced its append, and only for as long as one is
/// announced: the first append shares its commit with the announced writer's, and an
/// announcement withdrawn without appending releases the wait long before the linger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_waits_for_announced_writers_only_while_they_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let config = LogConfig {
        announced_linger: std::time::Duration::from_secs(60),
        ..LogConfig::default()
    };
    let log = Arc::new(Log::open(store, signer(), config).unwrap());
    // No announcement: an append commits without waiting (the test would hang otherwise).
    log.append(entry(0)).await.unwrap();
    assert_eq!(log.metrics().batches(), 1);

    // Announced: the unannounced append waits for it; both land in one commit.
    let announced = log.announce();
    let first = {
        let log = log.clone();
        tokio::spawn(async move { log.append(entry(1)).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(
        !first.is_finished(),
        "the batch waits for the announced writer"
    );
    let second = log
        .append_announced(Some(announced), vec![entry(2)], Vec::new())
        .await
        .unwrap();
    let first = first.await.unwrap();
    assert_eq!(first.checkpoint.size, second.checkpoint.size, "one commit");
    assert_eq!(log.metrics().batches(), 2);

    // Withdrawn without appending: the waiting batch commits alone.
    let announced = log.announce();
    let third = {
        let log = log.clone();
        tokio::spawn(async move { log.append(entry(3)).await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!third.is_finished());
    drop(announced);
    let third = tokio::time::timeout(std::time::Duration::from_secs(30), third)
        .await
        .expect("a withdrawn announcement releases the batch")
        .unwrap();
    assert_eq!(third.index, 3);
    assert_eq!(log.metrics().batches(), 3);
}

/// The scenario rule set is published once per change, with increasing versions.
#[tokio::test]
async fn rule_set_is_published_once_per_change() {
    use proofless_core::policy::{RuleSet, Scenario};
    use proofless_ledger::catalog::Catalog;
    use proofless_ledger::clock::FixedClock;
    use proofless_ledger::rules;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read_dir = |dir: &str, ext: &str| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == ext))
            .map(|p| {
                (
                    p.display().to_string(),
                    std::fs::read_to_string(&p).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let catalog = Catalog::load(&read_dir("schemas/certificates", "json")).unwrap();
    let fields = |code: &str| {
        catalog
            .get(code)
            .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
    };
    let (name, text) = read_dir("schemas/scenarios", "toml").remove(0);
    let set = |t: &str| RuleSet::new([Scenario::parse(&name, t).unwrap()], &fields).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let log = Log::open(store.clone(), signer(), LogConfig::default()).unwrap();
    let clock = FixedClock::new(1);
    assert_eq!(rules::current(store.as_ref()).unwrap(), None);
    assert_eq!(
        rules::publish(&log, store.as_ref(), &set(&text), &clock)
            .await
            .unwrap(),
        (1, true)
    );
    assert_eq!(
        rules::publish(&log, store.as_ref(), &set(&text), &clock)
            .await
            .unwrap(),
        (1, false)
    );
    assert_eq!(
        log.latest().size,
        1,
        "the same rules are not published twice"
    );
    let changed = format!("{text}\n# a comment changes the file\n");
    assert_eq!(
        rules::publish(&log, store.as_ref(), &set(&changed), &clock)
            .await
            .unwrap(),
        (2, true)
    );
    let Entry::PolicyPublished(p) = Entry::decode(&log.entry(1).unwrap().entry).unwrap() else {
        panic!("entry 1 is not PolicyPublished")
    };
    assert_eq!((p.version, p.digest), (2, set(&changed).digest()));
    assert_eq!(
        rules::current(store.as_ref()).unwrap(),
        Some((2, set(&changed).digest()))
    );
}

// The witness cosignature collector.
mod witness;
