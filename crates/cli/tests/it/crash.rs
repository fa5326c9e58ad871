//! Crash recovery: `kill -9` during concurrent appends, many times, then check that
//! nothing acknowledged was lost, no index was reissued, and the tree verifies.

use crate::bin;
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::Entry;
use proofless_core::merkle::MemoryTree;
use proofless_ledger::{Log, LogConfig};
use proofless_store::{RedbStore, Store};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

const KILLS: usize = 24;

#[test]
fn kill_9_during_appends_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: HashMap<u64, String> = HashMap::new();
    let mut rounds_with_acks = 0;
    for round in 0..KILLS {
        let mut child = Command::new(bin())
            .args([
                "bench",
                "log",
                "--data",
                data.to_str().unwrap(),
                "--entries",
                "100000000",
                "--writers",
                "16",
                "--max-batch",
                "64",
                "--print-acks",
                "--no-baseline",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<(u64, String)>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let mut parts = line.split(' ');
                // A line cut by the kill is not an acknowledgement.
                if let (Some("ack"), Some(i), Some(h), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                    && let (Ok(i), true) = (i.parse(), h.len() == 64)
                {
                    let _ = tx.send((i, h.to_owned()));
                }
            }
        });
        // Kill at a random moment after appends are under way.
        let first = rx.recv_timeout(Duration::from_secs(60));
        let mut got = Vec::new();
        if let Ok(a) = first {
            got.push(a);
            let extra = Duration::from_millis(rand::random_range(0..250));
            let until = Instant::now() + extra;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                match rx.recv_timeout(left) {
                    Ok(a) => got.push(a),
                    Err(_) => break,
                }
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
            panic!("round {round}: the writer exited by itself ({status}): {err}");
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        got.extend(rx.try_iter());
        if !got.is_empty() {
            rounds_with_acks += 1;
        }
        for (i, h) in got {
            if let Some(prev) = acked.insert(i, h.clone()) {
                assert_eq!(
                    prev, h,
                    "index {i} was acknowledged twice with different entries"
                );
            }
        }
    }
    assert!(
        rounds_with_acks >= KILLS / 2,
        "only {rounds_with_acks} rounds appended anything"
    );

    // Recovery: the log opens (which re-checks the checkpoint against the stored tree),
    // every acknowledged entry is there unchanged, and the tree recomputed from the
    // entries has the checkpoint's root.
    let skey = std::fs::read_to_string(data.join("ledger.key")).unwrap();
    let signer = LedgerSigner::from_skey(skey.trim()).unwrap();
    let store = Arc::new(RedbStore::open(&data).unwrap());
    let size = store.size().unwrap();
    let entries = store.entries(0, size).unwrap();
    let log = Log::open(store, signer.clone(), LogConfig::default()).unwrap();
    let cp = log.latest();
    assert_eq!(cp.size, size);
    signer.verifier().verify_checkpoint(&cp.note).unwrap();
    let mut tree = MemoryTree::new();
    for e in &entries {
        Entry::decode(e).unwrap();
        tree.push(e);
    }
    assert_eq!(
        tree.root(),
        cp.root,
        "the tree recomputed from the entries has the checkpoint root"
    );
    for (i, h) in &acked {
        assert!(*i < size, "acknowledged index {i} lost (log has {size})");
        assert_eq!(
            &hex::encode(Sha256::digest(&entries[*i as usize])),
            h,
            "entry {i} changed"
        );
    }
    assert!(!acked.is_empty());
}
