//! The ledger's side of witnessing against in-process witnesses that follow C2SP
//! tlog-witness: quorum, consistency proofs as the log grows, sizes learnt from 409, and a
//! witness whose cosignatures do not verify.

use super::{entry, signer};
use proofless_core::cosign::{AddCheckpoint, WitnessPolicy, WitnessSigner};
use proofless_core::merkle::{self, Hash};
use proofless_ledger::witness::{
    AskError, Unreachable, WitnessEndpoint, WitnessReply, WitnessTransport, Witnessing,
};
use proofless_ledger::{Log, LogConfig};
use proofless_store::RedbStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A witness's key and its view (size, root) of the log.
type FakeWitness = (WitnessSigner, Mutex<Option<(u64, Hash)>>);

/// Witnesses by URL. `liar` answers with a cosignature by a key nobody configured.
#[derive(Default)]
struct Witnesses {
    by_url: HashMap<String, FakeWitness>,
    liar: Option<String>,
    requests: Mutex<Vec<(String, u64)>>,
}

impl WitnessTransport for Witnesses {
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<WitnessReply, Unreachable> {
        let base = url.strip_suffix("/add-checkpoint").unwrap();
        let (signer, view) = self.by_url.get(base).ok_or(Unreachable)?;
        let reply = |status, body: String| {
            Ok(WitnessReply {
                status,
                body: body.into_bytes(),
            })
        };
        let Ok(req) = AddCheckpoint::parse(body) else {
            return reply(400, String::new());
        };
        self.requests
            .lock()
            .unwrap()
            .push((base.to_owned(), req.old));
        let cp = signer_verifier()
            .verify_checkpoint(&req.checkpoint)
            .unwrap();
        let mut view = view.lock().unwrap();
        let known = view.map(|v| v.0).unwrap_or(0);
        if req.old != known {
            return reply(409, format!("{known}\n"));
        }
        if let Some((size, root)) = *view
            && merkle::verify_consistency(&req.proof, size, root, cp.size, cp.root).is_err()
        {
            return reply(422, String::new());
        }
        *view = Some((cp.size, cp.root));
        let key = if self.liar.as_deref() == Some(base) {
            WitnessSigner::new(
                signer.name(),
                ed25519_dalek::SigningKey::from_bytes(&[99; 32]),
            )
            .unwrap()
        } else {
            signer.clone()
        };
        reply(
            200,
            format!("{}\n", key.cosign(&req.checkpoint, 1_800_000_000).unwrap()),
        )
    }
}

fn signer_verifier() -> proofless_core::checkpoint::LedgerVerifier {
    signer().verifier()
}

fn witness(name: &str, seed: u8) -> WitnessSigner {
    WitnessSigner::new(name, ed25519_dalek::SigningKey::from_bytes(&[seed; 32])).unwrap()
}

fn setup(liar: Option<&str>) -> (Arc<Witnesses>, Vec<WitnessEndpoint>) {
    let mut w = Witnesses {
        liar: liar.map(str::to_owned),
        ..Witnesses::default()
    };
    let mut endpoints = Vec::new();
    for (url, name, seed) in [("http://a", "a.example", 1), ("http://b", "b.example", 2)] {
        let s = witness(name, seed);
        endpoints.push(WitnessEndpoint {
            url: url.into(),
            verifier: s.verifier(),
        });
        w.by_url.insert(url.into(), (s, Mutex::new(None)));
    }
    (Arc::new(w), endpoints)
}

async fn open_log(dir: &std::path::Path) -> Arc<Log> {
    let store = Arc::new(RedbStore::open(dir).unwrap());
    Arc::new(Log::open(store, signer(), LogConfig::default()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quorum_cosigns_as_the_log_grows_and_sizes_are_learnt_from_409() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let (witnesses, endpoints) = setup(None);
    let policy =
        WitnessPolicy::new(endpoints.iter().map(|e| e.verifier.clone()).collect(), 2).unwrap();
    let mut w = Witnessing::new(&log, endpoints.clone(), 2, witnesses.clone()).unwrap();
    let cosigned = w.cosigned();
    assert!(cosigned.latest().is_none());

    for i in 0..3 {
        log.append(entry(i)).await.unwrap();
    }
    let (outcomes, ok) = tokio::task::block_in_place(|| w.round()).unwrap();
    assert!(ok, "{outcomes:?}");
    let c = cosigned.latest().unwrap();
    assert_eq!(c.size, 3);
    assert_eq!(policy.check(&c.note).unwrap().len(), 2);
    log.verifier().verify_checkpoint(&c.note).unwrap();
    assert!(cosigned.covering(2).is_some() && cosigned.covering(3).is_none());

    // The log grows: each witness gets a consistency proof from size 3.
    for i in 3..5 {
        log.append(entry(i)).await.unwrap();
    }
    let (outcomes, ok) = tokio::task::block_in_place(|| w.round()).unwrap();
    assert!(ok, "{outcomes:?}");
    assert_eq!(cosigned.latest().unwrap().size, 5);

    // A new collector (the ledger restarted) starts at old 0, learns 5 from the 409s.
    let mut again = Witnessing::new(&log, endpoints, 2, witnesses.clone()).unwrap();
    log.append(entry(5)).await.unwrap();
    witnesses.requests.lock().unwrap().clear();
    let (outcomes, ok) = tokio::task::block_in_place(|| again.round()).unwrap();
    assert!(ok, "{outcomes:?}");
    assert_eq!(again.cosigned().latest().unwrap().size, 6);
    let olds: Vec<u64> = witnesses
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(olds, vec![0, 5, 0, 5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosignature_that_does_not_verify_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let (witnesses, endpoints) = setup(Some("http://b"));
    let mut w = Witnessing::new(&log, endpoints.clone(), 2, witnesses.clone()).unwrap();
    log.append(entry(0)).await.unwrap();
    let (outcomes, ok) = tokio::task::block_in_place(|| w.round()).unwrap();
    assert!(!ok);
    assert_eq!(outcomes, vec![Ok(()), Err(AskError::Malformed)]);
    assert!(w.cosigned().latest().is_none());
    let mut registry = prometheus_client::registry::Registry::default();
    w.cosigned().register(&mut registry);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("proofless_witness_failures_total{witness=\"b.example\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("proofless_witness_cosignatures_total{witness=\"a.example\"} 1"),
        "{text}"
    );
    // With a quorum of one, the honest witness suffices and the liar's line is left out.
    let mut one = Witnessing::new(&log, endpoints, 1, witnesses).unwrap();
    let (_, ok) = tokio::task::block_in_place(|| one.round()).unwrap();
    assert!(ok);
    let note = String::from_utf8(one.cosigned().latest().unwrap().note.clone()).unwrap();
    assert_eq!(note.matches("\u{2014} ").count(), 2, "{note}");
}
