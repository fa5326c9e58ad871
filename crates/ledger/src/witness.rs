//! Witness cosignatures for the checkpoints this ledger publishes (C2SP `tlog-witness`
//! client side).
//!
//! [`Witnessing`] watches [`Log::latest`]. Whenever a new checkpoint is published it sends
//! it to every configured witness with a consistency proof from the size that witness last
//! cosigned (`old`), checks each returned cosignature (`cosignature/v1`, `verify_strict`),
//! and, once at least k of the n witnesses have cosigned, keeps the checkpoint with those
//! cosignature lines appended as the latest **cosigned checkpoint** in
//! [`CosignedCheckpoints`]. Receipts prefer it when it covers their entry.
//!
//! The size each witness last cosigned is not stored: it starts at 0 and is learnt from
//! the witness's `409 Conflict` answer (`text/x.tlog.size`), after which the request is
//! sent again once with the right `old`. The cosigned checkpoint is kept in memory only:
//! after a restart the ledger asks again, and the witnesses, which remember their own
//! view, cosign the current checkpoint after checking its consistency with what they saw.
//!
//! The HTTP client is behind [`WitnessTransport`], so that this crate does no network I/O
//! of its own and tests can use an in-process witness.
//!
//! Non-goals: a witness that refuses (or is down) only lowers the number of cosignatures;
//! it never stops the log, whose appends never wait for witnesses.

use crate::log::{Log, Published};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use proofless_core::cosign::{
    AddCheckpoint, PolicyConfigError, WitnessPolicy, WitnessVerifier, add_lines, checkpoint_body,
};
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};
use thiserror::Error;

/// A witness's answer to `POST /add-checkpoint`.
#[derive(Debug, Clone)]
pub struct WitnessReply {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

/// The network failed; the witness gave no answer.
#[derive(Debug, Error)]
#[error("the witness could not be reached")]
pub struct Unreachable;

/// Sends `add-checkpoint` requests.
pub trait WitnessTransport: Send + Sync {
    /// POSTs `body` to `url` (the witness's `…/add-checkpoint`).
    fn add_checkpoint(&self, url: &str, body: &[u8]) -> Result<WitnessReply, Unreachable>;
}

/// A configured witness.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// Base URL; requests go to `<url>/add-checkpoint`.
    pub url: String,
    /// The witness's verifier key.
    pub verifier: WitnessVerifier,
}

/// Why one witness gave no cosignature in a round.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AskError {
    /// No answer.
    #[error("unreachable")]
    Unreachable,
    /// The witness refused with this status.
    #[error("refused with HTTP {0}")]
    Refused(u16),
    /// The witness claims to have cosigned a larger tree than this log has: a fork, a
    /// restored backup, or a misconfiguration. Needs an operator.
    #[error("the witness knows size {0}, larger than this log")]
    Ahead(u64),
    /// Two 409 answers in a row.
    #[error("the witness keeps answering 409")]
    Conflict,
    /// A 409 without a valid size, or a 200 without a valid cosignature by its key.
    #[error("malformed answer")]
    Malformed,
    /// The log could not produce the consistency proof.
    #[error("no consistency proof")]
    NoProof,
}

/// The label of the per-witness metrics: the witness's key name (public).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabel {
    witness: String,
}

/// The latest checkpoint cosigned by a quorum of witnesses, and the witnessing metrics.
#[derive(Debug, Default)]
pub struct CosignedCheckpoints {
    latest: RwLock<Option<Arc<Published>>>,
    size: Gauge,
    cosignatures: Family<WitnessLabel, Counter>,
    failures: Family<WitnessLabel, Counter>,
}

impl CosignedCheckpoints {
    /// The latest cosigned checkpoint, if a quorum has cosigned one yet.
    pub fn latest(&self) -> Option<Arc<Published>> {
        match self.latest.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The latest cosigned checkpoint if it covers entry `index`.
    pub fn covering(&self, index: u64) -> Option<Arc<Published>> {
        self.latest().filter(|c| index < c.size)
    }

    /// Registers the metrics under `proofless_witness_*`: the size of the latest cosigned
    /// checkpoint, and per witness the cosignatures received and the rounds without one.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("proofless_witness");
        r.register(
            "cosigned_tree_size",
            "Size of the latest checkpoint cosigned by a quorum of witnesses",
            self.size.clone(),
        );
        r.register(
            "cosignatures",
            "Valid cosignatures received, by witness",
            self.cosignatures.clone(),
        );
        r.register(
            "failures",
            "Rounds in which a witness gave no valid cosignature, by witness",
            self.failures.clone(),
        );
    }

    fn count(&self, witness: &str, ok: bool) {
        let label = WitnessLabel {
            witness: witness.to_owned(),
        };
        if ok {
            self.cosignatures.get_or_create(&label).inc();
        } else {
            self.failures.get_or_create(&label).inc();
        }
    }

    fn set(&self, p: Arc<Published>) {
        let mut g = match self.latest.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        // Never go back to a smaller tree.
        if g.as_ref().is_none_or(|c| c.size <= p.size) {
            self.size.set(i64::try_from(p.size).unwrap_or(i64::MAX));
            *g = Some(p);
        }
    }
}

/// Collects cosignatures for the log's checkpoints.
pub struct Witnessing {
    log: Weak<Log>,
    witnesses: Vec<WitnessEndpoint>,
    policy: WitnessPolicy,
    transport: Arc<dyn WitnessTransport>,
    cosigned: Arc<CosignedCheckpoints>,
    /// The size each witness last cosigned, as far as we know.
    known: Vec<u64>,
}

impl Witnessing {
    /// Witnessing of `log` by `witnesses`, `quorum` of which must cosign.
    pub fn new(
        log: &Arc<Log>,
        witnesses: Vec<WitnessEndpoint>,
        quorum: usize,
        transport: Arc<dyn WitnessTransport>,
    ) -> Result<Self, PolicyConfigError> {
        let policy = WitnessPolicy::new(
            witnesses.iter().map(|w| w.verifier.clone()).collect(),
            quorum,
        )?;
        Ok(Self {
            log: Arc::downgrade(log),
            known: vec![0; witnesses.len()],
            witnesses,
            policy,
            transport,
            cosigned: Arc::new(CosignedCheckpoints::default()),
        })
    }

    /// Where the cosigned checkpoints are kept.
    pub fn cosigned(&self) -> Arc<CosignedCheckpoints> {
        self.cosigned.clone()
    }

    /// The policy the cosigned checkpoints meet.
    pub fn policy(&self) -> &WitnessPolicy {
        &self.policy
    }

    /// Sends the latest checkpoint to every witness. Returns the per-witness outcome and
    /// whether a quorum cosigned it (then it is the latest cosigned checkpoint). `None`
    /// when the log is gone.
    pub fn round(&mut self) -> Option<(Vec<Result<(), AskError>>, bool)> {
        let log = self.log.upgrade()?;
        let latest = log.latest();
        if latest.size == 0 {
            return Some((Vec::new(), false));
        }
        let mut lines = Vec::new();
        let mut outcomes = Vec::new();
        for i in 0..self.witnesses.len() {
            match self.ask(&log, i, &latest) {
                Ok(line) => {
                    self.cosigned.count(self.witnesses[i].verifier.name(), true);
                    lines.push(line);
                    outcomes.push(Ok(()));
                }
                Err(e) => {
                    let w = &self.witnesses[i];
                    self.cosigned.count(w.verifier.name(), false);
                    if matches!(e, AskError::Refused(422) | AskError::Ahead(_)) {
                        // The witness holds a view this log is not consistent with: a fork,
                        // a restored backup or a misconfiguration. An operator must look.
                        tracing::error!(witness = %w.verifier.name(), url = %w.url, size = latest.size, error = %e, "a witness refuses this log's history");
                    } else {
                        tracing::warn!(witness = %w.verifier.name(), url = %w.url, size = latest.size, error = %e, "no cosignature");
                    }
                    outcomes.push(Err(e));
                }
            }
        }
        if lines.len() < self.policy.quorum() {
            return Some((outcomes, false));
        }
        let note = add_lines(&latest.note, &lines);
        // Every line was checked on arrival; this re-checks the assembled note as a
        // client will see it.
        if let Err(e) = self.policy.check(&note) {
            tracing::error!(error = %e, "an assembled cosigned checkpoint fails the policy");
            return Some((outcomes, false));
        }
        self.cosigned.set(Arc::new(Published {
            size: latest.size,
            root: latest.root,
            note,
        }));
        tracing::info!(
            size = latest.size,
            cosignatures = lines.len(),
            "cosigned checkpoint"
        );
        Some((outcomes, true))
    }

    fn ask(&mut self, log: &Log, i: usize, latest: &Published) -> Result<String, AskError> {
        let w = &self.witnesses[i];
        for _ in 0..2 {
            let old = self.known[i];
            if old > latest.size {
                return Err(AskError::Ahead(old));
            }
            let proof = if old == 0 || old == latest.size {
                Vec::new()
            } else {
                log.consistency(old, Some(latest.size))
                    .map_err(|_| AskError::NoProof)?
                    .1
            };
            let body = AddCheckpoint {
                old,
                proof,
                checkpoint: latest.note.clone(),
            }
            .to_bytes();
            let url = format!("{}/add-checkpoint", w.url.trim_end_matches('/'));
            let reply = self
                .transport
                .add_checkpoint(&url, &body)
                .map_err(|_| AskError::Unreachable)?;
            match reply.status {
                200 => {
                    let text = std::str::from_utf8(&reply.body).map_err(|_| AskError::Malformed)?;
                    let cp_body = checkpoint_body(&latest.note).ok_or(AskError::Malformed)?;
                    let line = text
                        .lines()
                        .find(|l| w.verifier.names(l))
                        .ok_or(AskError::Malformed)?;
                    w.verifier
                        .verify(&cp_body, line)
                        .map_err(|_| AskError::Malformed)?;
                    self.known[i] = latest.size;
                    return Ok(line.to_owned());
                }
                409 => {
                    let size = std::str::from_utf8(&reply.body)
                        .ok()
                        .and_then(|t| t.trim().parse::<u64>().ok())
                        .ok_or(AskError::Malformed)?;
                    self.known[i] = size;
                }
                s => return Err(AskError::Refused(s)),
            }
        }
        Err(AskError::Conflict)
    }

    /// Runs rounds on a thread until the log is dropped: every `interval` it looks at the
    /// latest checkpoint and asks the witnesses when it is new, or again every `retry`
    /// while a quorum has not cosigned it.
    pub fn spawn(
        mut self,
        interval: Duration,
        retry: Duration,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        std::thread::Builder::new()
            .name("proofless-witnessing".into())
            .spawn(move || {
                let mut last: Option<(u64, Instant, bool)> = None;
                loop {
                    std::thread::sleep(interval);
                    let Some(log) = self.log.upgrade() else {
                        return;
                    };
                    let size = log.latest().size;
                    drop(log);
                    let due = match last {
                        None => true,
                        Some((s, _, _)) if s != size => true,
                        Some((_, at, ok)) => !ok && at.elapsed() >= retry,
                    };
                    if !due {
                        continue;
                    }
                    let Some((_, ok)) = self.round() else { return };
                    last = Some((size, Instant::now(), ok));
                }
            })
    }
}
