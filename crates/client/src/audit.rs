//! The auditor's replay: the whole log verified and every decision re-checked, offline.
//!
//! [`replay`] trusts only the two public keys the auditor pins (the ledger's checkpoint
//! key and the deployment's trust anchor). From a [`Fetch`] — the server's read API, or an
//! exported bundle on disk ([`DirFetch`]) — it
//!
//! 1. verifies the checkpoint's signature, and that it is consistent with every
//!    checkpoint seen before (a smaller one is a rollback, another root at a size seen
//!    before a split view);
//! 2. recomputes every leaf hash from the entries, every hash tile, and the root;
//! 3. verifies every signature inside every entry: issuers' COSE_Sign1 over certificates
//!    and status statements, channels' and departments' RFC 9421 request signatures, and
//!    every key registration's X.509 chain to the trust anchor;
//! 4. rebuilds the state the decisions depended on (keys, rule set versions and their
//!    files, consents, certificates) and re-evaluates every `AccessRecorded` decision
//!    against the rules in force at that moment.
//!
//! Everything wrong is an [`Anomaly`] with a stable code and the entry index; the replay
//! goes on where it can. Signatures are checked with Ed25519 batch verification over
//! many entries at once on all threads (keys were checked not to be weak when their
//! certificates were validated); a failed batch is re-checked signature by signature with
//! `verify_strict` to name the entry at fault. The state is saved at bundle boundaries
//! ([`ReplayState`]), so an interrupted replay resumes where it stopped, and a later run
//! only replays what was appended since.

use crate::fetch::{Fetch, FetchError};
use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::{Signature, VerifyingKey};
use proofless_core::cert::{SecurityObject, SignedSecurityObject, SignedStatus, Status};
use proofless_core::checkpoint::LedgerVerifier;
use proofless_core::cosign::WitnessPolicy;
use proofless_core::ed25519;
use proofless_core::entry::{
    AccessRecorded, ConsentGranted, ConsentRevoked, Decision, Entry, KeyAction, KeyEvent,
    PolicyPublished, StatusChanged,
};
use proofless_core::ids::Uscc;
use proofless_core::keys::{Role, TRUST_ANCHOR_ROLE};
use proofless_core::merkle::{self, Hash};
use proofless_core::pki::{self, TrustAnchor};
use proofless_core::policy::{Access, Predicate, RuleSet, Scenario};
use proofless_core::tiles::{self, TILE_HEIGHT, TILE_WIDTH, TileId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Format tag of [`ReplayState`] files.
pub const STATE_FORMAT: &str = "proofless-replay-state/v1";
/// Format tag of an exported bundle's `manifest.json`.
pub const BUNDLE_FORMAT: &str = "proofless-audit-bundle/v1";
/// Most anomalies kept one by one; beyond it they are only counted per code.
pub const MAX_LISTED_ANOMALIES: usize = 10_000;
/// Entries decoded and verified together (16 bundles).
const CHUNK_BUNDLES: u64 = 16;
/// Signatures per batch verification: enough for Pippenger's multiscalar multiplication,
/// and to spread `verify_strict_all`'s fixed torsion checks (64 multiplications by ℓ per
/// batch) thin: 1,024 replayed ~13 % faster than 256 (docs/PERFORMANCE.md).
pub const BATCH: usize = 1024;
/// Longest validity of a consent (DESIGN.md §5).
const MAX_CONSENT_MS: u64 = 24 * 3600 * 1000;

/// What the auditor pins, out of band.
#[derive(Debug, Clone)]
pub struct ReplayConfig {
    /// The ledger's checkpoint key.
    pub ledger: LedgerVerifier,
    /// The deployment's trust anchor.
    pub anchor: TrustAnchor,
    /// Threads for decoding and signature verification (at least 1).
    pub threads: usize,
    /// How often the state is handed to the `save` callback, at most.
    pub save_every: Duration,
    /// Witnesses whose cosignatures the ledger's cosigned checkpoint
    /// (`v1/checkpoint/cosigned`) must carry, k of n; `None` to not ask for it.
    pub witnesses: Option<WitnessPolicy>,
}

/// Something the replay found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomaly {
    /// A stable code (`docs/format.md` §6 lists them).
    pub code: String,
    /// The entry at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u64>,
    /// What is wrong, without personal data.
    pub detail: String,
}

/// Allowed and denied decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Decisions that allowed.
    pub allow: u64,
    /// Decisions that denied.
    pub deny: u64,
}

impl Counts {
    fn add(&mut self, d: Decision) {
        match d {
            Decision::Allow => self.allow += 1,
            Decision::Deny => self.deny += 1,
        }
    }
}

/// Statistics of the replayed log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Entries replayed, by kind.
    pub entries_by_kind: BTreeMap<String, u64>,
    /// Signatures verified (entries' own signatures and key certificates).
    pub signatures_verified: u64,
    /// Access decisions per department (统一社会信用代码).
    pub by_department: BTreeMap<String, Counts>,
    /// Access decisions per scenario (`-` when the request named no known scenario).
    pub by_scenario: BTreeMap<String, Counts>,
    /// Access decisions per day (China time).
    pub by_day: BTreeMap<String, Counts>,
    /// Accesses per day and scenario.
    pub scenario_by_day: BTreeMap<String, BTreeMap<String, u64>>,
    /// Accesses per day and department.
    pub department_by_day: BTreeMap<String, BTreeMap<String, u64>>,
    /// Denials by reason code.
    pub denials_by_reason: BTreeMap<String, u64>,
    /// Denials whose reason depends on data the log does not hold (a holder code's
    /// checksum, a certificate's values): recorded, not re-derivable.
    pub denials_not_rederivable: u64,
    /// Checks skipped because they concern entries outside an exported range.
    pub outside_range: u64,
}

/// A checkpoint verified by an earlier run or this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: [u8; 32],
    /// The signed note as received (to show others in case of a split view).
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyState {
    role: String,
    organisation: Option<String>,
    key: [u8; 32],
    types: Vec<String>,
    /// Seconds since the epoch; `i64::MAX` when not known (trust anchor, ledger).
    not_after: i64,
    retired: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CertState {
    status: u64,
    issuer: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ConsentState {
    channel: String,
    holder: [u8; 32],
    scenario: String,
    department: Option<String>,
    scope: Vec<String>,
    expires: u64,
    used: Option<u64>,
    revoked: Option<u64>,
}

/// One scenario file of a published rule set version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyFile {
    /// The file name.
    pub file_name: String,
    /// Its exact text.
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct PolicyState {
    time: u64,
    files: Option<Vec<PolicyFile>>,
}

/// Everything the replay knows after the entries it replayed; saved between runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReplayState {
    format: String,
    /// The log's origin.
    pub origin: String,
    /// Entries replayed so far: the next index to replay.
    pub next: u64,
    /// Per tile level, the hashes of the tile being filled.
    frontier: Vec<Vec<[u8; 32]>>,
    /// Every checkpoint verified, in the order seen.
    pub seen: Vec<Seen>,
    keys: HashMap<[u8; 32], KeyState>,
    certificates: HashMap<[u8; 16], CertState>,
    consents: HashMap<[u8; 32], ConsentState>,
    policies: BTreeMap<u64, PolicyState>,
    policy_in_force: Option<u64>,
    /// Statistics so far.
    pub stats: Stats,
    /// Anomalies so far (at most [`MAX_LISTED_ANOMALIES`]).
    pub anomalies: Vec<Anomaly>,
    /// Anomalies so far, per code (all of them).
    pub anomaly_counts: BTreeMap<String, u64>,
    /// Department names, by 统一社会信用代码, from the published rules.
    pub department_names: BTreeMap<String, String>,
    #[serde(skip)]
    rules: HashMap<u64, RuleSet>,
    #[serde(skip)]
    verifying_keys: HashMap<[u8; 32], VerifyingKey>,
}

impl ReplayState {
    /// An empty state for the log `origin`.
    pub fn new(origin: &str) -> Self {
        Self {
            format: STATE_FORMAT.to_owned(),
            origin: origin.to_owned(),
            next: 0,
            frontier: Vec::new(),
            seen: Vec::new(),
            keys: HashMap::new(),
            certificates: HashMap::new(),
            consents: HashMap::new(),
            policies: BTreeMap::new(),
            policy_in_force: None,
            stats: Stats::default(),
            anomalies: Vec::new(),
            anomaly_counts: BTreeMap::new(),
            department_names: BTreeMap::new(),
            rules: HashMap::new(),
            verifying_keys: HashMap::new(),
        }
    }

    /// Serialises the state (CBOR).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // INVARIANT: plain data (maps of strings, integers and byte arrays) serialises.
        #[allow(clippy::expect_used)]
        ciborium::into_writer(self, &mut out).expect("replay state serialises");
        out
    }

    /// Reads a saved state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ReplayError> {
        let mut s: Self = ciborium::from_reader(bytes)
            .map_err(|e| ReplayError::BadState(format!("not a replay state: {e}")))?;
        if s.format != STATE_FORMAT {
            return Err(ReplayError::BadState(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                s.format
            )));
        }
        // The frontier must describe exactly `next` leaves, each level a partial tile.
        let mut leaves = 0u64;
        for (level, hashes) in s.frontier.iter().enumerate() {
            let width = 1u64
                .checked_shl(u32::from(TILE_HEIGHT) * level as u32)
                .unwrap_or(0);
            if hashes.len() >= TILE_WIDTH as usize || (width == 0 && !hashes.is_empty()) {
                return Err(ReplayError::BadState(
                    "the tree frontier is malformed".into(),
                ));
            }
            leaves = leaves.saturating_add(width.saturating_mul(hashes.len() as u64));
        }
        if leaves != s.next {
            return Err(ReplayError::BadState(
                "the tree frontier does not match the entries replayed".into(),
            ));
        }
        s.rebuild()?;
        Ok(s)
    }

    /// Rebuilds what is not saved: rule sets and verifying keys.
    fn rebuild(&mut self) -> Result<(), ReplayError> {
        for (v, p) in &self.policies {
            if let Some(files) = &p.files {
                let set = rule_set(files).map_err(|e| {
                    ReplayError::BadState(format!("rule set version {v} in the state: {e}"))
                })?;
                self.rules.insert(*v, set);
            }
        }
        for (id, k) in &self.keys {
            let vk = VerifyingKey::from_bytes(&k.key)
                .map_err(|_| ReplayError::BadState("a key in the state is not a key".into()))?;
            self.verifying_keys.insert(*id, vk);
        }
        Ok(())
    }

    /// Adds `cp` to the checkpoints seen, unless it is there.
    fn remember(&mut self, cp: &proofless_core::checkpoint::SignedCheckpoint) {
        if !self
            .seen
            .iter()
            .any(|s| s.size == cp.size && s.root == cp.root.0)
        {
            self.seen.push(Seen {
                size: cp.size,
                root: cp.root.0,
                note: String::from_utf8_lossy(&cp.note).into_owned(),
            });
        }
    }

    fn anomaly(&mut self, code: &str, index: Option<u64>, detail: impl Into<String>) {
        *self.anomaly_counts.entry(code.to_owned()).or_default() += 1;
        if self.anomalies.len() < MAX_LISTED_ANOMALIES {
            self.anomalies.push(Anomaly {
                code: code.to_owned(),
                index,
                detail: detail.into(),
            });
        }
    }
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// The log's origin.
    pub origin: String,
    /// Size of the checkpoint replayed up to.
    pub size: u64,
    /// Its root hash, base64.
    pub root: String,
    /// Where this run started (0, or where the saved state stopped).
    pub replayed_from: u64,
    /// Entries replayed by this run.
    pub replayed: u64,
    /// The exported range, when replaying a bundle of part of the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<(u64, u64)>,
    /// Anomalies per code, over every run of this state.
    pub anomaly_counts: BTreeMap<String, u64>,
    /// The anomalies (at most [`MAX_LISTED_ANOMALIES`]).
    pub anomalies: Vec<Anomaly>,
    /// Statistics.
    pub stats: Stats,
    /// Department names by 统一社会信用代码.
    pub department_names: BTreeMap<String, String>,
}

impl Report {
    /// Whether the replay found nothing wrong.
    pub fn is_clean(&self) -> bool {
        self.anomaly_counts.is_empty()
    }
}

/// Why a replay could not run at all. Everything the replay *finds* is an [`Anomaly`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The checkpoint could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The saved state is for another log.
    #[error("the saved state is for log {0}, not this one")]
    StateForOtherLog(String),
    /// The saved state is unreadable.
    #[error("the saved state is unusable: {0}")]
    BadState(String),
    /// The bundle's manifest is unreadable.
    #[error("manifest.json: {0}")]
    BadManifest(String),
}

/// The `manifest.json` of an exported bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The log's origin.
    pub origin: String,
    /// Size of the bundle's checkpoint.
    pub size: u64,
    /// First entry exported with its bytes.
    pub from: u64,
    /// One past the last entry exported with its bytes.
    pub to: u64,
    /// Entries before `from` that the range depends on (key events, rule set
    /// publications, consents and accesses that used one), each in `context/<index>`.
    pub context: Vec<u64>,
    /// Rule set versions whose files are in `v1/policies/<version>`.
    pub policies: Vec<u64>,
}

/// [`Fetch`] over an exported bundle: the paths of the read API, as files under a
/// directory.
#[derive(Debug, Clone)]
pub struct DirFetch {
    root: PathBuf,
}

impl DirFetch {
    /// A fetcher of the bundle in `root`.
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }
}

impl Fetch for DirFetch {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        let rel = path.trim_start_matches('/');
        let safe = !rel.is_empty()
            && rel
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains(['\\', '?']));
        if !safe {
            return Err(FetchError::NotFound {
                path: path.to_owned(),
            });
        }
        match std::fs::read(self.root.join(rel)) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(FetchError::NotFound {
                path: path.to_owned(),
            }),
            Err(e) => Err(FetchError::Transport {
                path: path.to_owned(),
                source: Box::new(e),
            }),
        }
    }
}

/// The rule set of a published version, from its files.
pub fn rule_set(files: &[PolicyFile]) -> Result<RuleSet, String> {
    let scenarios = files
        .iter()
        .map(|f| Scenario::parse(&f.file_name, &f.text).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    RuleSet::from_published(scenarios)
}

#[derive(Deserialize)]
struct PolicyBody {
    version: u64,
    files: Vec<PolicyFile>,
}

/// Fetches and checks the files of rule set `version` from `fetch`.
pub fn fetch_policy(fetch: &dyn Fetch, version: u64) -> Result<Vec<PolicyFile>, String> {
    let body = fetch
        .get(&format!("v1/policies/{version}"))
        .map_err(|e| e.to_string())?;
    let parsed: PolicyBody =
        serde_json::from_slice(&body).map_err(|e| format!("v1/policies/{version}: {e}"))?;
    if parsed.version != version {
        return Err(format!(
            "v1/policies/{version} names version {}",
            parsed.version
        ));
    }
    Ok(parsed.files)
}

/// The key of a certificate identifier in the replay's certificate map.
fn cert_key(id: &str) -> [u8; 16] {
    let d = Sha256::digest(id.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

fn kind_name(e: &Entry) -> &'static str {
    match e {
        Entry::CertificateIssued(_) => "CertificateIssued",
        Entry::StatusChanged(_) => "StatusChanged",
        Entry::PolicyPublished(_) => "PolicyPublished",
        Entry::KeyEvent(_) => "KeyEvent",
        Entry::ConsentGranted(_) => "ConsentGranted",
        Entry::ConsentRevoked(_) => "ConsentRevoked",
        Entry::AccessRecorded(_) => "AccessRecorded",
        _ => "unknown",
    }
}

/// An entry decoded, with what its signature covers (phase 1, in parallel).
enum Parsed {
    Issued {
        entry: Box<proofless_core::entry::CertificateIssued>,
        object: Box<SecurityObject>,
        signed: (Vec<u8>, Vec<u8>),
    },
    Status {
        entry: StatusChanged,
        statement: Box<proofless_core::cert::StatusStatement>,
        signed: (Vec<u8>, Vec<u8>),
    },
    Signed {
        entry: Box<Entry>,
        base: Result<String, String>,
    },
    Plain(Box<Entry>),
}

struct Pre {
    index: u64,
    leaf: Hash,
    parsed: Result<Parsed, String>,
}

fn pre(index: u64, bytes: &[u8]) -> Pre {
    let leaf = merkle::leaf_hash(bytes);
    let parsed = Entry::decode(bytes)
        .map_err(|e| e.to_string())
        .and_then(|e| match e {
            Entry::CertificateIssued(c) => {
                let s = SignedSecurityObject::parse(&c.security_object)
                    .map_err(|e| format!("security object: {e}"))?;
                Ok(Parsed::Issued {
                    signed: s.signed_parts(),
                    object: Box::new(s.object().clone()),
                    entry: Box::new(c),
                })
            }
            Entry::StatusChanged(c) => {
                let s = SignedStatus::parse(&c.statement).map_err(|e| format!("statement: {e}"))?;
                Ok(Parsed::Status {
                    signed: s.signed_parts(),
                    statement: Box::new(s.statement().clone()),
                    entry: c,
                })
            }
            Entry::AccessRecorded(ref a) => {
                let base = a.request.signature_base().map_err(|e| e.to_string());
                Ok(Parsed::Signed {
                    entry: Box::new(e),
                    base,
                })
            }
            Entry::ConsentGranted(ref g) => {
                let base = g.request.signature_base().map_err(|e| e.to_string());
                Ok(Parsed::Signed {
                    entry: Box::new(e),
                    base,
                })
            }
            Entry::ConsentRevoked(ref r) => {
                let base = r.request.signature_base().map_err(|e| e.to_string());
                Ok(Parsed::Signed {
                    entry: Box::new(e),
                    base,
                })
            }
            other => Ok(Parsed::Plain(Box::new(other))),
        });
    Pre {
        index,
        leaf,
        parsed,
    }
}

/// A signature to verify (phase 3).
struct Job {
    index: u64,
    key: VerifyingKey,
    message: Vec<u8>,
    signature: Signature,
}

/// Indices of the jobs whose signature does not verify.
fn verify_jobs(jobs: &[Job], threads: usize) -> Vec<u64> {
    // Batches answer exactly as `verify_strict` (DESIGN.md §9): not ed25519-dalek's
    // `verify_batch`, which a key holder can make accept a signature `verify_strict`
    // refuses (an `R` of small order or with a torsion component; decision 0012).
    fn run(jobs: &[Job]) -> Vec<u64> {
        let mut bad = Vec::new();
        for batch in jobs.chunks(BATCH) {
            let signed: Vec<ed25519::Signed<'_>> = batch
                .iter()
                .map(|j| ed25519::Signed {
                    key: &j.key,
                    message: &j.message,
                    signature: &j.signature,
                })
                .collect();
            let mut seed = [0u8; 32];
            let ok = match getrandom::fill(&mut seed) {
                Ok(()) => ed25519::verify_strict_all(&signed, &seed),
                // No randomness for the batch weights: verify one by one.
                Err(_) => signed
                    .iter()
                    .map(|s| s.key.verify_strict(s.message, s.signature).is_ok())
                    .collect(),
            };
            bad.extend(
                batch
                    .iter()
                    .zip(ok)
                    .filter(|(_, ok)| !ok)
                    .map(|(j, _)| j.index),
            );
        }
        bad
    }
    if jobs.is_empty() {
        return Vec::new();
    }
    let per = jobs.len().div_ceil(threads.max(1)).max(BATCH);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .chunks(per)
            .map(|c| (c, s.spawn(move || run(c))))
            .collect();
        handles
            .into_iter()
            // A thread that failed verified nothing: none of its signatures counts as good.
            .flat_map(|(c, h)| {
                h.join()
                    .unwrap_or_else(|_| c.iter().map(|j| j.index).collect())
            })
            .collect()
    })
}

fn pre_all(first: u64, entries: &[&[u8]], threads: usize) -> Vec<Pre> {
    let per = entries.len().div_ceil(threads.max(1)).max(64);
    std::thread::scope(|s| {
        let handles: Vec<_> = entries
            .chunks(per)
            .enumerate()
            .map(|(c, chunk)| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, e)| pre(first + (c * per + i) as u64, e))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .flat_map(|(c, h)| {
                // A thread that failed decoded nothing: each of its entries is reported
                // (and the tree still gets one leaf per entry).
                h.join().unwrap_or_else(|_| {
                    entries
                        .chunks(per)
                        .nth(c)
                        .unwrap_or_default()
                        .iter()
                        .enumerate()
                        .map(|(i, e)| Pre {
                            index: first + (c * per + i) as u64,
                            leaf: merkle::leaf_hash(e),
                            parsed: Err(
                                "the entry could not be decoded (the decoder failed)".into()
                            ),
                        })
                        .collect()
                })
            })
            .collect()
    })
}

/// The root of a perfect subtree whose leaves (or subtree roots) are `hashes`
/// (a power of two of them).
fn perfect_root(hashes: &[[u8; 32]]) -> Hash {
    let mut level: Vec<Hash> = hashes.iter().map(|h| Hash(*h)).collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|p| merkle::node_hash(p[0], p[1]))
            .collect();
    }
    level.first().copied().unwrap_or(merkle::EMPTY_HASH)
}

/// The tree root from the frontier (per tile level, the hashes of the tile being
/// filled): the RFC 9162 root of the leaves so far.
fn frontier_root(frontier: &[Vec<[u8; 32]>]) -> Hash {
    let mut subtrees = Vec::new();
    for level in frontier.iter().rev() {
        let mut rest = level.as_slice();
        for bit in (0..8).rev() {
            let n = 1usize << bit;
            if rest.len() >= n {
                subtrees.push(perfect_root(&rest[..n]));
                rest = &rest[n..];
            }
        }
    }
    let Some((last, bigger)) = subtrees.split_last() else {
        return merkle::EMPTY_HASH;
    };
    bigger
        .iter()
        .rev()
        .fold(*last, |acc, h| merkle::node_hash(*h, acc))
}

/// One bundle as fetched: its level-0 tile, and its entries if they are exported.
struct FetchedBundle {
    first: u64,
    width: u64,
    tile: Vec<u8>,
    entries: Option<Vec<u8>>,
}

/// The bundles `b..end` of a log of `size` entries.
struct Chunk {
    bundles: Vec<FetchedBundle>,
}

fn missing(path: &str, e: FetchError) -> Anomaly {
    match e {
        FetchError::NotFound { .. } => Anomaly {
            code: "gap".into(),
            index: None,
            detail: format!("{path}: not served"),
        },
        e => Anomaly {
            code: "unreadable".into(),
            index: None,
            detail: e.to_string(),
        },
    }
}

/// Fetches bundles `b..end`: the level-0 tile of each, and the entries of those in the
/// range (all, without one), checking their shape. An `Err` stops the replay.
fn fetch_chunk(
    fetch: &dyn Fetch,
    size: u64,
    range: Option<(u64, u64)>,
    b: u64,
    end: u64,
) -> Result<Chunk, Anomaly> {
    let mut bundles = Vec::new();
    for t in b..end {
        let first = t * TILE_WIDTH;
        let width = (size - first).min(TILE_WIDTH);
        let present = range.is_none_or(|(from, to)| first < to && first + width > from);
        let tile_path = TileId::Hashes {
            level: 0,
            index: t,
            // INVARIANT: width ≤ 256 fits in u16.
            width: width as u16,
        }
        .path();
        let tile = fetch.get(&tile_path).map_err(|e| missing(&tile_path, e))?;
        if tile.len() as u64 != width * 32 {
            return Err(Anomaly {
                code: "tile_mismatch".into(),
                index: None,
                detail: format!("{tile_path}: {} bytes, expected {}", tile.len(), width * 32),
            });
        }
        let entries = if present {
            let path = TileId::Entries {
                index: t,
                width: width as u16,
            }
            .path();
            let data = fetch.get(&path).map_err(|e| missing(&path, e))?;
            let count = tiles::split_bundle(&data)
                .map_err(|_| Anomaly {
                    code: "bundle_malformed".into(),
                    index: None,
                    detail: format!("{path}: malformed"),
                })?
                .len() as u64;
            if count != width {
                return Err(Anomaly {
                    code: "bundle_malformed".into(),
                    index: Some(first),
                    detail: format!("{path}: holds {count} entries, expected {width}"),
                });
            }
            Some(data)
        } else {
            None
        };
        bundles.push(FetchedBundle {
            first,
            width,
            tile,
            entries,
        });
    }
    Ok(Chunk { bundles })
}

/// Where the replay stands while running.
struct Run<'a> {
    fetch: &'a dyn Fetch,
    cfg: &'a ReplayConfig,
    state: ReplayState,
    size: u64,
    range: Option<(u64, u64)>,
    /// Sizes of earlier checkpoints still to compare with the recomputed tree.
    pending_seen: BTreeMap<u64, [u8; 32]>,
}

/// Replays the log behind `fetch` up to its checkpoint, from `state` (a fresh one when
/// `None`). `progress` gets (entries done, entries total); `save` gets the state at
/// bundle boundaries, at most every `cfg.save_every`, and at the end.
pub fn replay(
    fetch: &dyn Fetch,
    cfg: &ReplayConfig,
    state: Option<ReplayState>,
    progress: &mut dyn FnMut(u64, u64),
    save: &mut dyn FnMut(&ReplayState),
) -> Result<(ReplayState, Report), ReplayError> {
    let mut state = state.unwrap_or_else(|| ReplayState::new(cfg.ledger.name()));
    if state.origin != cfg.ledger.name() {
        return Err(ReplayError::StateForOtherLog(state.origin.clone()));
    }
    let manifest = match fetch.get("manifest.json") {
        Ok(b) => {
            let m: Manifest =
                serde_json::from_slice(&b).map_err(|e| ReplayError::BadManifest(e.to_string()))?;
            if m.format != BUNDLE_FORMAT {
                return Err(ReplayError::BadManifest(format!(
                    "format {:?}, expected {BUNDLE_FORMAT:?}",
                    m.format
                )));
            }
            Some(m)
        }
        Err(FetchError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let replayed_from = state.next;
    // The cosigned checkpoint first: it can then only be older than the latest one.
    let cosigned_note = cfg
        .witnesses
        .as_ref()
        .map(|_| fetch.get("v1/checkpoint/cosigned"));
    let note = fetch.get("checkpoint")?;
    let cp = match cfg.ledger.verify_checkpoint(&note) {
        Ok(cp) => cp,
        Err(e) => {
            state.anomaly("checkpoint_signature", None, format!("checkpoint: {e}"));
            let report = report(&state, 0, merkle::EMPTY_HASH, replayed_from, None);
            return Ok((state, report));
        }
    };
    let range = manifest.as_ref().map(|m| (m.from, m.to.min(cp.size)));
    if let Some(m) = &manifest
        && (m.size != cp.size || m.origin != cfg.ledger.name())
    {
        state.anomaly(
            "manifest_mismatch",
            None,
            format!(
                "the manifest says size {} of {}, the checkpoint size {}",
                m.size, m.origin, cp.size
            ),
        );
    }
    // Consistency with every checkpoint seen before.
    let mut pending_seen = BTreeMap::new();
    let mut fatal = false;
    for s in state.seen.clone() {
        if s.size > cp.size {
            state.anomaly(
                "rollback",
                None,
                format!(
                    "the checkpoint has {} entries; one seen before had {}",
                    cp.size, s.size
                ),
            );
            fatal = true;
        } else if s.size == cp.size && s.root != cp.root.0 {
            state.anomaly(
                "split_view",
                None,
                format!(
                    "two validly signed checkpoints of size {} with different roots",
                    s.size
                ),
            );
            fatal = true;
        } else if s.size > state.next {
            pending_seen.insert(s.size, s.root);
        }
    }
    if cp.size < state.next {
        fatal = true;
    }
    if let (Some(policy), Some(note)) = (&cfg.witnesses, cosigned_note) {
        witnessed(
            note,
            cfg,
            policy,
            &cp,
            &mut state,
            &mut pending_seen,
            &mut fatal,
        );
    }
    state.remember(&cp);
    if fatal {
        let report = report(&state, cp.size, cp.root, replayed_from, range);
        return Ok((state, report));
    }
    let mut run = Run {
        fetch,
        cfg,
        state,
        size: cp.size,
        range,
        pending_seen,
    };
    let context: BTreeSet<u64> = manifest
        .as_ref()
        .map(|m| m.context.iter().copied().collect())
        .unwrap_or_default();
    run.tree(&context, progress, save, cp.root);
    let report = report(&run.state, cp.size, cp.root, replayed_from, range);
    save(&run.state);
    Ok((run.state, report))
}

/// Checks the ledger's cosigned checkpoint: the ledger's signature, `policy`'s quorum of
/// cosignatures, and that it agrees with the checkpoint being replayed (same root at the
/// same size; a smaller one is compared with the recomputed tree when the replay passes
/// its size; a larger one means the checkpoint served is behind what witnesses saw).
fn witnessed(
    note: Result<Vec<u8>, FetchError>,
    cfg: &ReplayConfig,
    policy: &WitnessPolicy,
    cp: &proofless_core::checkpoint::SignedCheckpoint,
    state: &mut ReplayState,
    pending_seen: &mut BTreeMap<u64, [u8; 32]>,
    fatal: &mut bool,
) {
    let note = match note {
        Ok(n) => n,
        Err(e) => {
            state.anomaly(
                "cosignature_missing",
                None,
                format!("no cosigned checkpoint: {e}"),
            );
            return;
        }
    };
    let cosigned = match cfg.ledger.verify_checkpoint(&note) {
        Ok(c) => c,
        Err(e) => {
            state.anomaly(
                "checkpoint_signature",
                None,
                format!("the cosigned checkpoint: {e}"),
            );
            return;
        }
    };
    if let Err(e) = policy.check(&note) {
        state.anomaly("cosignature_invalid", None, e.to_string());
        return;
    }
    if cosigned.size > cp.size {
        state.anomaly(
            "rollback",
            None,
            format!(
                "witnesses cosigned size {}, the checkpoint served has {}",
                cosigned.size, cp.size
            ),
        );
        *fatal = true;
    } else if cosigned.size == cp.size && cosigned.root != cp.root {
        state.anomaly(
            "split_view",
            None,
            format!(
                "the witnesses cosigned another tree of size {} than the one served",
                cp.size
            ),
        );
        *fatal = true;
    } else if cosigned.size > state.next {
        pending_seen.insert(cosigned.size, cosigned.root.0);
    }
    state.remember(&cosigned);
}

fn report(
    state: &ReplayState,
    size: u64,
    root: Hash,
    replayed_from: u64,
    range: Option<(u64, u64)>,
) -> Report {
    Report {
        origin: state.origin.clone(),
        size,
        root: BASE64_STANDARD.encode(root.0),
        replayed_from,
        replayed: state.next.saturating_sub(replayed_from),
        range,
        anomaly_counts: state.anomaly_counts.clone(),
        anomalies: state.anomalies.clone(),
        stats: state.stats.clone(),
        department_names: state.department_names.clone(),
    }
}

impl Run<'_> {
    fn outside(&mut self) {
        self.state.stats.outside_range += 1;
    }

    /// Fetches a resource, or reports it missing; `None` stops the replay.
    fn get(&mut self, path: &str) -> Option<Vec<u8>> {
        match self.fetch.get(path) {
            Ok(b) => Some(b),
            Err(e) => {
                let a = missing(path, e);
                self.state.anomaly(&a.code, a.index, a.detail);
                None
            }
        }
    }

    /// Walks every bundle from where the state stands to the checkpoint's size.
    fn tree(
        &mut self,
        context: &BTreeSet<u64>,
        progress: &mut dyn FnMut(u64, u64),
        save: &mut dyn FnMut(&ReplayState),
        root: Hash,
    ) {
        let size = self.size;
        let range = self.range;
        let fetch = self.fetch;
        let mut last_save = Instant::now();
        let mut b = self.state.next / TILE_WIDTH;
        let bundles = size.div_ceil(TILE_WIDTH);
        let mut next = Some(fetch_chunk(
            fetch,
            size,
            range,
            b,
            (b + CHUNK_BUNDLES).min(bundles),
        ));
        let threads = self.cfg.threads;
        let mut pending: Option<Vec<Job>> = None;
        while b < bundles {
            let end = (b + CHUNK_BUNDLES).min(bundles);
            let chunk = match next.take() {
                Some(Ok(c)) => c,
                Some(Err(a)) => {
                    self.flush(&mut pending);
                    self.state.anomaly(&a.code, a.index, a.detail);
                    return;
                }
                None => {
                    self.flush(&mut pending);
                    return;
                }
            };
            // The next chunk is fetched while this one is worked on.
            let after = (end + CHUNK_BUNDLES).min(bundles);
            // Phase 3 of the previous chunk (its signatures) runs beside phases 1 and 2
            // of this one, so that no core waits while the state is applied in order.
            std::thread::scope(|s| {
                let prefetch = (end < bundles)
                    .then(|| s.spawn(move || fetch_chunk(fetch, size, range, end, after)));
                let verifying = pending.take().map(|jobs: Vec<Job>| {
                    let indices: Vec<u64> = jobs.iter().map(|j| j.index).collect();
                    (indices, s.spawn(move || verify_jobs(&jobs, threads)))
                });
                let jobs = self.work(&chunk, context);
                if let Some((indices, h)) = verifying {
                    // A failed thread verified nothing: every signature counts as bad.
                    let count = indices.len();
                    let bad = h.join().unwrap_or(indices);
                    self.verified(count, bad);
                }
                pending = Some(jobs);
                next = prefetch.map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(Anomaly {
                            code: "unreadable".into(),
                            index: None,
                            detail: "the fetching thread failed".into(),
                        })
                    })
                });
            });
            b = end;
            progress(self.state.next, size);
            if self.state.next.is_multiple_of(TILE_WIDTH)
                && last_save.elapsed() >= self.cfg.save_every
            {
                // A saved state covers every signature of what it has replayed.
                self.flush(&mut pending);
                save(&self.state);
                last_save = Instant::now();
            }
        }
        self.flush(&mut pending);
        // The partial tiles above level 0, then the root.
        for level in 1..self.state.frontier.len() {
            let w = self.state.frontier[level].len();
            if w == 0 {
                continue;
            }
            let index = size >> (u32::from(TILE_HEIGHT) * level as u32) >> u32::from(TILE_HEIGHT);
            let path = TileId::Hashes {
                level: level as u8,
                index,
                width: w as u16,
            }
            .path();
            let expect: Vec<u8> = self.state.frontier[level].concat();
            if let Some(got) = self.get(&path)
                && got != expect
            {
                self.state.anomaly(
                    "tile_mismatch",
                    None,
                    format!("{path}: does not match the entries"),
                );
            }
        }
        if frontier_root(&self.state.frontier) != root {
            self.state.anomaly(
                "root_mismatch",
                None,
                format!("the entries do not hash to the checkpoint's root (size {size})"),
            );
        }
    }

    /// Replays one fetched chunk: decode (all threads), then apply in order. Returns the
    /// signatures to verify.
    fn work(&mut self, chunk: &Chunk, context: &BTreeSet<u64>) -> Vec<Job> {
        // Phase 1: the bundles with bytes are consecutive (a range is), so one pass
        // decodes them all.
        let refs: Vec<&[u8]> = chunk
            .bundles
            .iter()
            .filter_map(|b| b.entries.as_deref())
            .flat_map(|d| tiles::split_bundle(d).unwrap_or_default())
            .collect();
        let first_present = chunk
            .bundles
            .iter()
            .find(|b| b.entries.is_some())
            .map_or(0, |b| b.first);
        let mut decoded = pre_all(first_present, &refs, self.cfg.threads).into_iter();
        // Phase 2: in order, the tree and the state; signatures collected.
        let mut jobs = Vec::new();
        for bundle in &chunk.bundles {
            let first = bundle.first;
            let resume_skip = self.state.next - first;
            for i in 0..bundle.width {
                let index = first + i;
                let tile_hash: [u8; 32] = bundle.tile[i as usize * 32..(i as usize + 1) * 32]
                    .try_into()
                    .unwrap_or([0; 32]);
                let entry = if bundle.entries.is_some() {
                    decoded.next()
                } else {
                    None
                };
                let leaf = match &entry {
                    Some(p) => {
                        if p.leaf.0 != tile_hash {
                            self.state.anomaly(
                                "tile_mismatch",
                                Some(index),
                                format!(
                                    "tile/0 hash of entry {index} is not the hash of the entry served"
                                ),
                            );
                        }
                        p.leaf.0
                    }
                    None => tile_hash,
                };
                if i < resume_skip {
                    // Replayed by an earlier run: it must be the very same entry.
                    let earlier = self.state.frontier.first().and_then(|l| l.get(i as usize));
                    if earlier != Some(&leaf) {
                        self.state.anomaly(
                            "split_view",
                            Some(index),
                            "an entry replayed before has changed",
                        );
                    }
                    continue;
                }
                if let Some(p) = entry {
                    self.apply(p, &mut jobs);
                } else if context.contains(&index) {
                    self.context_entry(index, leaf, &mut jobs);
                }
                self.push_leaf(leaf);
                if let Some(root) = self.pending_seen.remove(&self.state.next)
                    && frontier_root(&self.state.frontier).0 != root
                {
                    self.state.anomaly(
                        "split_view",
                        None,
                        format!(
                            "the log at size {} is not the one a checkpoint seen before signed",
                            self.state.next
                        ),
                    );
                }
            }
        }
        jobs
    }

    /// Verifies the signatures still pending, now.
    fn flush(&mut self, pending: &mut Option<Vec<Job>>) {
        if let Some(jobs) = pending.take() {
            let bad = verify_jobs(&jobs, self.cfg.threads);
            self.verified(jobs.len(), bad);
        }
    }

    /// Records the outcome of verifying `count` signatures, `bad` the entries whose
    /// signature failed.
    fn verified(&mut self, count: usize, bad: Vec<u64>) {
        self.state.stats.signatures_verified += count as u64;
        for index in bad {
            self.state.anomaly(
                "signature_invalid",
                Some(index),
                "the signature inside the entry does not verify",
            );
        }
    }

    fn push_leaf(&mut self, leaf: [u8; 32]) {
        self.state.next += 1;
        let mut carry = leaf;
        let mut level = 0;
        loop {
            if self.state.frontier.len() <= level {
                self.state.frontier.push(Vec::new());
            }
            self.state.frontier[level].push(carry);
            if self.state.frontier[level].len() < TILE_WIDTH as usize {
                return;
            }
            let full = std::mem::take(&mut self.state.frontier[level]);
            if level > 0 {
                // Level 0 tiles were compared leaf by leaf; check the full upper tile.
                let shift = u32::from(TILE_HEIGHT) * (level as u32 + 1);
                let index = self
                    .state
                    .next
                    .checked_shr(shift)
                    .unwrap_or(0)
                    .saturating_sub(1);
                let path = TileId::Hashes {
                    level: level as u8,
                    index,
                    width: TILE_WIDTH as u16,
                }
                .path();
                if let Some(got) = self.get(&path)
                    && got != full.concat()
                {
                    self.state.anomaly(
                        "tile_mismatch",
                        None,
                        format!("{path}: does not match the entries"),
                    );
                }
            }
            carry = perfect_root(&full).0;
            level += 1;
        }
    }

    /// An entry before an exported range, served in `context/<index>`.
    fn context_entry(&mut self, index: u64, leaf: [u8; 32], jobs: &mut Vec<Job>) {
        let path = format!("context/{index}");
        let Some(bytes) = self.get(&path) else {
            return;
        };
        let p = pre(index, &bytes);
        if p.leaf.0 != leaf {
            self.state.anomaly(
                "tile_mismatch",
                Some(index),
                format!("{path} is not the entry the tree holds at {index}"),
            );
            return;
        }
        self.apply(p, jobs);
    }

    /// Resolves a key for an entry's signature and checks it may act as `role` for
    /// `organisation` at `time`. Reports what is wrong and returns the key if known.
    fn key_for(
        &mut self,
        index: u64,
        key_id: &[u8; 32],
        role: Role,
        organisation: Option<&str>,
        time: u64,
    ) -> Option<VerifyingKey> {
        let Some(k) = self.state.keys.get(key_id) else {
            self.state.anomaly(
                "unknown_key",
                Some(index),
                format!(
                    "signed by key {} that no KeyEvent registered",
                    hex::encode(key_id)
                ),
            );
            return None;
        };
        // What is wrong, read under the borrow of the key; recorded after it.
        let wrong_role = (k.role != role.name()).then(|| k.role.clone());
        let wrong_org = organisation.is_some_and(|org| k.organisation.as_deref() != Some(org));
        let retired = k.retired.is_some_and(|r| r <= time);
        let expired = (time / 1000) as i64 > k.not_after;
        if let Some(registered) = wrong_role {
            self.state.anomaly(
                "wrong_role",
                Some(index),
                format!("key registered as {registered}, used as {}", role.name()),
            );
        }
        if wrong_org {
            self.state.anomaly(
                "organisation_mismatch",
                Some(index),
                "the entry names another organisation than the key's certificate",
            );
        }
        if retired {
            self.state.anomaly(
                "key_retired",
                Some(index),
                format!("signed by key {} after its retirement", hex::encode(key_id)),
            );
        }
        if expired {
            self.state.anomaly(
                "key_expired",
                Some(index),
                format!(
                    "signed by key {} after its certificate expired",
                    hex::encode(key_id)
                ),
            );
        }
        self.state.verifying_keys.get(key_id).copied()
    }

    fn job(
        &mut self,
        index: u64,
        key: Option<VerifyingKey>,
        message: Vec<u8>,
        sig: &[u8],
        jobs: &mut Vec<Job>,
    ) {
        let Some(key) = key else { return };
        match Signature::from_slice(sig) {
            Ok(signature) => jobs.push(Job {
                index,
                key,
                message,
                signature,
            }),
            Err(_) => self.state.anomaly(
                "signature_invalid",
                Some(index),
                "the signature is not 64 bytes",
            ),
        }
    }

    fn apply(&mut self, p: Pre, jobs: &mut Vec<Job>) {
        let index = p.index;
        let parsed = match p.parsed {
            Ok(x) => x,
            Err(e) => {
                self.state.anomaly("entry_malformed", Some(index), e);
                return;
            }
        };
        match parsed {
            Parsed::Issued {
                entry,
                object,
                signed,
            } => {
                self.count("CertificateIssued");
                self.issued(index, &entry, &object, signed, jobs);
            }
            Parsed::Status {
                entry,
                statement,
                signed,
            } => {
                self.count("StatusChanged");
                self.status(index, &entry, &statement, signed, jobs);
            }
            Parsed::Signed { entry, base } => {
                let (kind, role, request, time) = match entry.as_ref() {
                    Entry::AccessRecorded(a) => {
                        ("AccessRecorded", Role::Department, &a.request, a.time)
                    }
                    Entry::ConsentGranted(g) => {
                        ("ConsentGranted", Role::Channel, &g.request, g.time)
                    }
                    Entry::ConsentRevoked(r) => {
                        ("ConsentRevoked", Role::Channel, &r.request, r.time)
                    }
                    _ => return,
                };
                let org = match entry.as_ref() {
                    Entry::AccessRecorded(a) => a.department.as_str(),
                    Entry::ConsentGranted(g) => g.channel.as_str(),
                    Entry::ConsentRevoked(r) => r.channel.as_str(),
                    _ => return,
                };
                let (key_id, signature) = (request.key_id, request.signature);
                self.count(kind);
                let key = self.key_for(index, &key_id, role, Some(org), time);
                match base {
                    Ok(base) => {
                        self.job(index, key, base.into_bytes(), &signature, jobs);
                    }
                    Err(e) => self.state.anomaly(
                        "signature_invalid",
                        Some(index),
                        format!("the recorded request signature is malformed: {e}"),
                    ),
                }
                match *entry {
                    Entry::AccessRecorded(a) => self.access(index, &a),
                    Entry::ConsentGranted(g) => self.granted(index, &g),
                    Entry::ConsentRevoked(r) => self.revoked(index, &r),
                    _ => {}
                }
            }
            Parsed::Plain(entry) => {
                self.count(kind_name(&entry));
                match *entry {
                    Entry::KeyEvent(k) => self.key_event(index, &k),
                    Entry::PolicyPublished(p) => self.policy(index, &p),
                    _ => {}
                }
            }
        }
    }

    fn count(&mut self, kind: &str) {
        let counts = &mut self.state.stats.entries_by_kind;
        match counts.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                counts.insert(kind.to_owned(), 1);
            }
        }
    }

    fn key_event(&mut self, index: u64, k: &KeyEvent) {
        match k.action {
            KeyAction::Retired => match self.state.keys.get_mut(&k.key_id) {
                Some(state) => state.retired = Some(k.time),
                None => self.state.anomaly(
                    "unknown_key",
                    Some(index),
                    format!(
                        "retirement of key {} that was never registered",
                        hex::encode(k.key_id)
                    ),
                ),
            },
            KeyAction::Registered => {
                let pinned_ledger =
                    proofless_core::keys::key_id(&proofless_core::keys::ed25519_spki_der(
                        self.cfg.ledger.verifying_key().as_bytes(),
                    ));
                if k.certificate.is_none() && k.role == Role::Ledger.name() {
                    // A ledger without a certificate: its key is the pinned one, or
                    // nothing.
                    if k.key_id != pinned_ledger {
                        self.state.anomaly(
                            "key_invalid",
                            Some(index),
                            "the ledger key registered is not the one the auditor pinned",
                        );
                    }
                    return;
                }
                let Some(der) = &k.certificate else {
                    self.state.anomaly(
                        "key_invalid",
                        Some(index),
                        "a key registration without its certificate",
                    );
                    return;
                };
                self.state.stats.signatures_verified += 1;
                let (key, types, not_after, organisation) = if k.role == TRUST_ANCHOR_ROLE {
                    if der.as_slice() != self.cfg.anchor.der() {
                        self.state.anomaly(
                            "key_invalid",
                            Some(index),
                            "the log's trust anchor is not the one the auditor pinned",
                        );
                        return;
                    }
                    (
                        self.cfg.anchor.verifying_key().to_bytes(),
                        Vec::new(),
                        i64::MAX,
                        None,
                    )
                } else {
                    let Some(role) = Role::from_name(&k.role) else {
                        self.state.anomaly(
                            "key_invalid",
                            Some(index),
                            format!("unknown role {:?}", k.role),
                        );
                        return;
                    };
                    let p = match pki::validate(
                        std::slice::from_ref(der),
                        &self.cfg.anchor,
                        role,
                        (k.time / 1000) as i64,
                    ) {
                        Ok(p) => p,
                        Err(e) => {
                            self.state.anomaly(
                                "key_invalid",
                                Some(index),
                                format!(
                                    "the certificate does not validate for role {}: {e}",
                                    k.role
                                ),
                            );
                            return;
                        }
                    };
                    let org = p.organisation().map(|o| o.as_str().to_owned());
                    if p.key_id() != k.key_id
                        || org != k.organisation
                        || p.verifying_key().is_weak()
                    {
                        self.state.anomaly(
                            "key_invalid",
                            Some(index),
                            "the key id or organisation is not the certificate's",
                        );
                        return;
                    }
                    if role == Role::Ledger && p.verifying_key() != self.cfg.ledger.verifying_key()
                    {
                        self.state.anomaly(
                            "key_invalid",
                            Some(index),
                            "the ledger key registered is not the one the auditor pinned",
                        );
                    }
                    (
                        p.verifying_key().to_bytes(),
                        p.certificate_types()
                            .iter()
                            .map(|t| t.as_str().to_owned())
                            .collect(),
                        p.not_after().min(p.chain_not_after()),
                        org,
                    )
                };
                if let Ok(vk) = VerifyingKey::from_bytes(&key) {
                    self.state.verifying_keys.insert(k.key_id, vk);
                }
                self.state.keys.insert(
                    k.key_id,
                    KeyState {
                        role: k.role.clone(),
                        organisation,
                        key,
                        types,
                        not_after,
                        retired: None,
                    },
                );
            }
        }
    }

    fn policy(&mut self, index: u64, p: &PolicyPublished) {
        let expected = self.state.policy_in_force.map_or(1, |v| v + 1);
        if p.version != expected {
            self.state.anomaly(
                "policy_version_gap",
                Some(index),
                format!(
                    "rule set version {} follows version {}",
                    p.version,
                    expected - 1
                ),
            );
        }
        self.state.policy_in_force = Some(p.version);
        let files = match fetch_policy(self.fetch, p.version) {
            Ok(files) => files,
            Err(e) => {
                self.state.anomaly(
                    "policy_unavailable",
                    Some(index),
                    format!(
                        "the files of rule set version {} are not available: {e}",
                        p.version
                    ),
                );
                self.state.policies.insert(
                    p.version,
                    PolicyState {
                        time: p.time,
                        files: None,
                    },
                );
                return;
            }
        };
        match rule_set(&files) {
            Ok(set) if set.publication(p.version, p.time) == *p => {
                for s in set.scenarios().values() {
                    for d in s.departments() {
                        self.state
                            .department_names
                            .insert(d.organisation().to_owned(), d.name().to_owned());
                    }
                }
                self.state.rules.insert(p.version, set);
                self.state.policies.insert(
                    p.version,
                    PolicyState {
                        time: p.time,
                        files: Some(files),
                    },
                );
            }
            Ok(_) => {
                self.state.anomaly(
                    "policy_digest",
                    Some(index),
                    format!("the files served for rule set version {} do not hash to the published digests", p.version),
                );
                self.state.policies.insert(
                    p.version,
                    PolicyState {
                        time: p.time,
                        files: None,
                    },
                );
            }
            Err(e) => {
                self.state.anomaly(
                    "policy_digest",
                    Some(index),
                    format!(
                        "the files served for rule set version {} do not parse: {e}",
                        p.version
                    ),
                );
                self.state.policies.insert(
                    p.version,
                    PolicyState {
                        time: p.time,
                        files: None,
                    },
                );
            }
        }
    }

    fn issued(
        &mut self,
        index: u64,
        e: &proofless_core::entry::CertificateIssued,
        object: &SecurityObject,
        signed: (Vec<u8>, Vec<u8>),
        jobs: &mut Vec<Job>,
    ) {
        let key = self.key_for(
            index,
            &e.issuer_key,
            Role::Issuer,
            Some(&object.issuer),
            e.time,
        );
        if let Some(k) = self.state.keys.get(&e.issuer_key)
            && !k.types.contains(&object.type_code)
        {
            self.state.anomaly(
                "issuer_not_authorised",
                Some(index),
                format!(
                    "the issuer's certificate does not allow type {}",
                    object.type_code
                ),
            );
        }
        let id = cert_key(&object.certificate_id);
        match self.state.certificates.entry(id) {
            std::collections::hash_map::Entry::Occupied(_) => self.state.anomaly(
                "duplicate_certificate",
                Some(index),
                "a certificate identifier issued twice",
            ),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(CertState {
                    status: Status::Valid.code(),
                    issuer: object.issuer.clone(),
                });
            }
        }
        self.job(index, key, signed.0, &signed.1, jobs);
    }

    fn status(
        &mut self,
        index: u64,
        e: &StatusChanged,
        st: &proofless_core::cert::StatusStatement,
        signed: (Vec<u8>, Vec<u8>),
        jobs: &mut Vec<Job>,
    ) {
        let org = self
            .state
            .keys
            .get(&e.issuer_key)
            .and_then(|k| k.organisation.clone());
        let key = self.key_for(index, &e.issuer_key, Role::Issuer, None, e.time);
        if st.certificate_id != e.certificate_id
            || st.status.code() != e.status
            || st.successor != e.successor
        {
            self.state.anomaly(
                "status_mismatch",
                Some(index),
                "the entry does not say what the issuer's statement says",
            );
        }
        match self
            .state
            .certificates
            .get_mut(&cert_key(&e.certificate_id))
        {
            None if self.range.is_some() => self.outside(),
            None => self.state.anomaly(
                "status_unknown_certificate",
                Some(index),
                "a status change of a certificate the log never issued",
            ),
            Some(c) => {
                let from = Status::from_code(c.status);
                if org.as_deref() != Some(c.issuer.as_str()) {
                    self.state.anomaly(
                        "status_not_issuer",
                        Some(index),
                        "a status change signed by another organisation than the issuer",
                    );
                } else if !from.is_some_and(|f| f.can_become(st.status)) {
                    self.state.anomaly(
                        "status_transition",
                        Some(index),
                        format!(
                            "{} cannot become {}",
                            from.map_or("unknown", Status::name),
                            st.status.name()
                        ),
                    );
                } else {
                    c.status = st.status.code();
                }
            }
        }
        self.job(index, key, signed.0, &signed.1, jobs);
    }

    fn rules(&self, version: u64) -> Option<&RuleSet> {
        self.state.rules.get(&version)
    }

    fn granted(&mut self, index: u64, g: &ConsentGranted) {
        if Some(g.policy_version) != self.state.policy_in_force {
            self.state.anomaly(
                "policy_version_mismatch",
                Some(index),
                format!(
                    "names rule set version {}, not the one in force",
                    g.policy_version
                ),
            );
        }
        if g.expires <= g.time || g.expires - g.time > MAX_CONSENT_MS {
            self.state.anomaly(
                "consent_expiry",
                Some(index),
                "a consent valid for more than 24 hours (or already expired)",
            );
        }
        if let Some(rules) = self.rules(g.policy_version) {
            let problem = match rules.get(&g.scenario) {
                None => Some("a consent for a scenario the rules do not have".to_owned()),
                Some(sc) if sc.access() != Access::Consent => {
                    Some("a consent for a scenario that does not need one".to_owned())
                }
                Some(sc) => {
                    let dept_ok = g.department.as_deref().is_none_or(|d| {
                        Uscc::parse(d).is_ok_and(|u| sc.allows_department(Role::Department, &u))
                    });
                    if !dept_ok {
                        Some("a consent for a department the scenario does not list".to_owned())
                    } else {
                        g.scope.iter().find(|f| !scope_allowed(sc, f)).map(|f| {
                            format!("a consent covering {f}, which the scenario does not allow")
                        })
                    }
                }
            };
            if let Some(p) = problem {
                self.state.anomaly("consent_scope", Some(index), p);
            }
        }
        let prev = self.state.consents.insert(
            g.consent,
            ConsentState {
                channel: g.channel.clone(),
                holder: g.holder,
                scenario: g.scenario.clone(),
                department: g.department.clone(),
                scope: g.scope.clone(),
                expires: g.expires,
                used: None,
                revoked: None,
            },
        );
        if prev.is_some() {
            self.state.anomaly(
                "consent_duplicate",
                Some(index),
                "a consent code granted twice",
            );
        }
    }

    fn revoked(&mut self, index: u64, r: &ConsentRevoked) {
        let in_range = self.range.is_some();
        match self.state.consents.get_mut(&r.consent) {
            None if in_range => self.outside(),
            None => self.state.anomaly(
                "consent_unknown",
                Some(index),
                "revocation of a consent that was never granted",
            ),
            Some(c) => {
                let spent = c.used.is_some() || c.revoked.is_some();
                if c.revoked.is_none() {
                    c.revoked = Some(r.time);
                }
                if spent {
                    self.state.anomaly(
                        "consent_state",
                        Some(index),
                        "revocation of a consent that was already used or revoked",
                    );
                }
            }
        }
    }

    fn access(&mut self, index: u64, a: &AccessRecorded) {
        let s = &mut self.state.stats;
        let scenario_key = if a.scenario.is_empty() {
            "-".to_owned()
        } else {
            a.scenario.clone()
        };
        let day = proofless_core::time::china_date(a.time);
        s.by_department
            .entry(a.department.clone())
            .or_default()
            .add(a.decision);
        s.by_scenario
            .entry(scenario_key.clone())
            .or_default()
            .add(a.decision);
        s.by_day.entry(day.clone()).or_default().add(a.decision);
        *s.scenario_by_day
            .entry(day.clone())
            .or_default()
            .entry(scenario_key)
            .or_default() += 1;
        *s.department_by_day
            .entry(day)
            .or_default()
            .entry(a.department.clone())
            .or_default() += 1;
        if a.decision == Decision::Deny {
            *s.denials_by_reason.entry(a.reason.clone()).or_default() += 1;
        }

        if Some(a.policy_version) != self.state.policy_in_force {
            self.state.anomaly(
                "policy_version_mismatch",
                Some(index),
                format!(
                    "names rule set version {}, not the one in force",
                    a.policy_version
                ),
            );
        }
        if a.decision == Decision::Deny && a.consent.is_some() {
            self.state.anomaly(
                "decision_differs",
                Some(index),
                "a denial that consumed a consent",
            );
        }
        let Some(rules) = self.rules(a.policy_version) else {
            // policy_unavailable was reported at the publication.
            if a.decision == Decision::Deny {
                self.state.stats.denials_not_rederivable += 1;
            }
            return;
        };
        let Some(sc) = rules.get(&a.scenario) else {
            if a.decision == Decision::Allow {
                self.state.anomaly(
                    "decision_differs",
                    Some(index),
                    "allowed under a scenario the rules in force do not have",
                );
            }
            return;
        };
        let dept_ok =
            Uscc::parse(&a.department).is_ok_and(|u| sc.allows_department(Role::Department, &u));
        let access = sc.access();
        let max = sc.max_certificates() as usize;
        let bad_field = a.fields.iter().find(|f| !scope_allowed(sc, f)).cloned();
        let types: BTreeSet<&str> = a
            .fields
            .iter()
            .filter_map(|f| f.split('/').next())
            .collect();
        match a.decision {
            Decision::Allow => {
                if !dept_ok {
                    self.state.anomaly(
                        "department_not_in_scenario",
                        Some(index),
                        format!(
                            "allowed for a department scenario {} does not list",
                            a.scenario
                        ),
                    );
                }
                if let Some(f) = bad_field {
                    self.state.anomaly(
                        "field_not_allowed",
                        Some(index),
                        format!("allowed {f}, which scenario {} does not allow", a.scenario),
                    );
                }
                if types.len() > max {
                    self.state.anomaly(
                        "too_many_certificates",
                        Some(index),
                        format!("{} certificate types, scenario allows {max}", types.len()),
                    );
                }
                for id in &a.certificates {
                    if !self.state.certificates.contains_key(&cert_key(id)) {
                        if self.range.is_some() {
                            self.outside();
                        } else {
                            self.state.anomaly(
                                "certificate_unknown",
                                Some(index),
                                "an access to a certificate the log never issued",
                            );
                        }
                    }
                }
                match (access, a.consent) {
                    (Access::Consent, None) => self.state.anomaly(
                        "consent_missing",
                        Some(index),
                        format!(
                            "allowed without the consent scenario {} requires",
                            a.scenario
                        ),
                    ),
                    (Access::Consent, Some(d)) => self.consume(index, a, &d),
                    (_, Some(_)) => self.state.anomaly(
                        "decision_differs",
                        Some(index),
                        "a consent consumed by a statutory access",
                    ),
                    (_, None) => {}
                }
            }
            Decision::Deny => {
                let differs = match a.reason.as_str() {
                    "department_not_allowed" => Some(dept_ok),
                    "unknown_scenario" => Some(true),
                    "consent_required" => Some(access != Access::Consent),
                    _ => None,
                };
                match differs {
                    Some(true) => self.state.anomaly(
                        "decision_differs",
                        Some(index),
                        format!(
                            "denied as {}, which the rules in force do not give",
                            a.reason
                        ),
                    ),
                    Some(false) => {}
                    None => self.state.stats.denials_not_rederivable += 1,
                }
            }
        }
    }

    fn consume(&mut self, index: u64, a: &AccessRecorded, digest: &[u8; 32]) {
        let in_range = self.range.is_some();
        let Some(c) = self.state.consents.get_mut(digest) else {
            if in_range {
                self.outside();
            } else {
                self.state.anomaly(
                    "consent_unknown",
                    Some(index),
                    "allowed with a consent that was never granted",
                );
            }
            return;
        };
        let mut problems = Vec::new();
        if let Some(first) = c.used {
            problems.push((
                "consent_reused",
                format!("consent already used by entry {first}"),
            ));
        }
        if c.revoked.is_some_and(|t| t <= a.time) {
            problems.push((
                "consent_after_revocation",
                "consent used after its revocation".into(),
            ));
        }
        if c.expires < a.time {
            problems.push((
                "consent_after_expiry",
                "consent used after it expired".into(),
            ));
        }
        let matches = c.scenario == a.scenario
            && c.department.as_deref().is_none_or(|d| d == a.department)
            && a.holder == Some(c.holder)
            && a.fields.iter().all(|f| c.scope.contains(f));
        if !matches {
            problems.push((
                "consent_mismatch",
                "the consent does not cover this holder, scenario, department or field".into(),
            ));
        }
        if c.used.is_none() {
            c.used = Some(index);
        }
        for (code, detail) in problems {
            self.state.anomaly(code, Some(index), detail);
        }
    }
}

/// Why an export failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ExportError {
    /// A resource could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The checkpoint does not verify.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] proofless_core::checkpoint::CheckpointError),
    /// A bundle or entry is malformed.
    #[error("{0}")]
    Malformed(String),
    /// The range is empty or outside the log.
    #[error("the range {from}..{to} is not in the log of {size} entries")]
    Range {
        /// Start.
        from: u64,
        /// End.
        to: u64,
        /// Log size.
        size: u64,
    },
    /// Writing the bundle failed.
    #[error("{path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn write_file(out: &Path, rel: &str, bytes: &[u8]) -> Result<(), ExportError> {
    let path = out.join(rel);
    let io = |source| ExportError::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(&path, bytes).map_err(io)
}

/// Whether an entry before an exported range is needed to replay the range: key
/// events, rule set publications, consents, and accesses that used a consent.
fn is_context(e: &Entry) -> bool {
    match e {
        Entry::KeyEvent(_)
        | Entry::PolicyPublished(_)
        | Entry::ConsentGranted(_)
        | Entry::ConsentRevoked(_) => true,
        Entry::AccessRecorded(a) => a.consent.is_some(),
        _ => false,
    }
}

/// Writes a self-contained bundle of entries `from..to` of the log behind `fetch` into
/// `out`: the checkpoint (verified with `ledger` first), every hash tile of the tree,
/// the entry bundles covering the range, the earlier entries the range depends on
/// ([`Manifest::context`]), the files of every rule set version published up to `to`,
/// and `manifest.json`. [`replay`] accepts it offline through [`DirFetch`].
/// `progress` gets (bundles done, bundles total).
pub fn export(
    fetch: &dyn Fetch,
    ledger: &LedgerVerifier,
    from: u64,
    to: Option<u64>,
    out: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Manifest, ExportError> {
    // A cosigned checkpoint, when the ledger has witnesses, fetched before the latest so
    // that it is not newer.
    let cosigned = match fetch.get("v1/checkpoint/cosigned") {
        Ok(n) => Some(n),
        Err(FetchError::NotFound { .. } | FetchError::Status { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let note = fetch.get("checkpoint")?;
    let cp = ledger.verify_checkpoint(&note)?;
    let size = cp.size;
    let to = to.unwrap_or(size).min(size);
    if let Some(c) = &cosigned {
        write_file(out, "v1/checkpoint/cosigned", c)?;
    }
    if from >= to {
        return Err(ExportError::Range { from, to, size });
    }
    write_file(out, "checkpoint", &note)?;
    // Every hash tile of the tree at `size`.
    let tile_paths: Vec<String> = tiles::hash_tiles(size).iter().map(TileId::path).collect();
    let bundles = to.div_ceil(TILE_WIDTH);
    let total = tile_paths.len() as u64 + bundles;
    let mut done = 0;
    for path in &tile_paths {
        write_file(out, path, &fetch.get(path)?)?;
        done += 1;
        if done % 64 == 0 {
            progress(done, total);
        }
    }
    // Entry bundles: those of the range with their bytes; those before it read for the
    // context.
    let mut context = Vec::new();
    let mut policies = BTreeSet::new();
    for b in 0..bundles {
        let first = b * TILE_WIDTH;
        let width = (size - first).min(TILE_WIDTH);
        let path = TileId::Entries {
            index: b,
            width: width as u16,
        }
        .path();
        let data = fetch.get(&path)?;
        let entries = tiles::split_bundle(&data)
            .map_err(|e| ExportError::Malformed(format!("{path}: {e}")))?;
        let in_range = first + width > from;
        for (i, e) in entries.iter().enumerate() {
            let index = first + i as u64;
            if index >= to {
                break;
            }
            let Ok(entry) = Entry::decode(e) else {
                if in_range {
                    continue;
                }
                return Err(ExportError::Malformed(format!(
                    "entry {index} does not decode"
                )));
            };
            if let Entry::PolicyPublished(p) = &entry {
                policies.insert(p.version);
            }
            if !in_range && is_context(&entry) {
                write_file(out, &format!("context/{index}"), e)?;
                context.push(index);
            }
        }
        if in_range {
            write_file(out, &path, &data)?;
        }
        done += 1;
        if done % 16 == 0 {
            progress(done, total);
        }
    }
    for v in &policies {
        let path = format!("v1/policies/{v}");
        write_file(out, &path, &fetch.get(&path)?)?;
    }
    progress(total, total);
    let manifest = Manifest {
        format: BUNDLE_FORMAT.to_owned(),
        origin: ledger.name().to_owned(),
        size,
        from,
        to,
        context,
        policies: policies.into_iter().collect(),
    };
    // INVARIANT: plain data serialises.
    #[allow(clippy::expect_used)]
    let json = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");
    write_file(out, "manifest.json", &json)?;
    Ok(manifest)
}

/// Whether a scope name `<type>/<disclose|claim|predicate>/<name>` is allowed by `sc`.
fn scope_allowed(sc: &Scenario, name: &str) -> bool {
    let mut parts = name.splitn(3, '/');
    let (Some(t), Some(kind), Some(field)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let Some(rule) = sc.certificate(t) else {
        return false;
    };
    match kind {
        "disclose" => rule.may_disclose(field),
        "claim" => rule.may_check(field),
        "predicate" => Predicate::from_name(field).is_some_and(|p| rule.allows(p)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proofless_core::merkle::MemoryTree;

    #[test]
    fn the_frontier_root_is_the_tree_root_at_every_size() {
        let mut tree = MemoryTree::new();
        let mut frontier: Vec<Vec<[u8; 32]>> = Vec::new();
        for n in 0u32..(256 * 3 + 17) {
            let e = n.to_be_bytes();
            tree.push(&e);
            let mut carry = merkle::leaf_hash(&e).0;
            let mut level = 0;
            loop {
                if frontier.len() <= level {
                    frontier.push(Vec::new());
                }
                frontier[level].push(carry);
                if frontier[level].len() < 256 {
                    break;
                }
                let full = std::mem::take(&mut frontier[level]);
                carry = perfect_root(&full).0;
                level += 1;
            }
            assert_eq!(frontier_root(&frontier), tree.root(), "size {}", n + 1);
        }
        assert_eq!(frontier_root(&[]), merkle::EMPTY_HASH);
    }

    #[test]
    fn a_state_whose_frontier_does_not_match_is_refused() {
        let mut s = ReplayState::new("o");
        s.next = 3;
        s.frontier = vec![vec![[0; 32]; 3]];
        assert!(ReplayState::from_bytes(&s.to_bytes()).is_ok());
        s.next = 4;
        assert!(ReplayState::from_bytes(&s.to_bytes()).is_err());
        s.next = 300;
        s.frontier = vec![vec![[0; 32]; 300]];
        assert!(ReplayState::from_bytes(&s.to_bytes()).is_err());
        assert!(ReplayState::from_bytes(b"garbage").is_err());
    }

    #[test]
    fn a_bundle_path_cannot_leave_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("checkpoint"), b"x").unwrap();
        let f = DirFetch::new(&dir.path().join("."));
        assert_eq!(f.get("checkpoint").unwrap(), b"x");
        for bad in ["../checkpoint", "a/../../x", "", "/", "a//b", "tile\\x"] {
            assert!(
                matches!(f.get(bad), Err(FetchError::NotFound { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn scope_names_are_checked_against_the_rule() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/scenarios");
        let text = std::fs::read_to_string(root.join("public-rental-housing.toml")).unwrap();
        let sc = Scenario::parse("gzf.toml", &text).unwrap();
        let t = sc.certificates()[0].type_code().to_owned();
        assert!(!scope_allowed(&sc, &format!("{t}/disclose/no_such_field")));
        assert!(!scope_allowed(&sc, "garbage"));
        assert!(!scope_allowed(&sc, &format!("{t}/predicate/no_such")));
        let p = sc.certificates()[0].predicates().next().unwrap();
        assert!(scope_allowed(&sc, &format!("{t}/predicate/{}", p.name())));
    }
}
