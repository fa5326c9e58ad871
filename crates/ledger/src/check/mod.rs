//! Offline integrity check of a store (`proofless check`; tessera's `fsck`).
//!
//! [`check_dir`] opens `<data>/ledger.redb` read-only ([`RedbReader`]) and
//! [`check_store`] checks any [`Store`]:
//!
//! 1. **The tree.** Every entry is rehashed (RFC 9162 leaf hash) and the tree rebuilt
//!    from the leaves alone, streaming (memory grows with the log's height, not its
//!    size); every stored node hash is compared with the recomputed one, the hash count
//!    with `stored_hash_count(size)`, and the stored checkpoint's size and root with the
//!    recomputed ones. With the ledger's key, the checkpoint's signature is verified
//!    (`verify_strict`) and the key is compared with the one registered by the log's
//!    genesis `KeyEvent`.
//! 2. **The entries.** Every entry decodes canonically (`Entry::decode`), and each
//!    certificate's security object parses.
//! 3. **Every index against the log, both ways.** Each `CertificateIssued` entry has its
//!    `certificates`, `holder_index`, `status` and `payloads` rows; each side-table row
//!    points at an entry that says the same (identifier hash, holder and type, latest
//!    status entry and status, consent state, key registration…). See `docs/format.md`
//!    §4.6 for the layouts and §4.9 for the list.
//! 4. **Payloads against their commitments.** Each sealed payload is opened with the
//!    holder's key and its certificate identifier as associated data, and each
//!    `[salt, value]` pair is checked against the signed `valueDigests` (and the holder
//!    digest). A payload whose holder key was erased is reported as [`Problem::Erased`],
//!    which is not a corruption.
//!
//! What is **not** checked: issuer and request signatures inside entries (the auditor's
//! replay does that), policy rule texts, nonce state (kept in memory only).
//!
//! Invariants:
//! * The check writes nothing: the reader cannot write, and no method here asks to.
//! * It never panics on stored data: every decode treats the bytes as untrusted, and
//!   [`check_dir`] runs the whole check, the redb open included, inside
//!   `catch_unwind`, so a panic inside redb on a corrupt file becomes a finding.
//! * Findings carry no personal data: table names, indices, key prefixes (hashes and
//!   pseudonyms), field *names* and static descriptions, never holder codes or values.

use crate::accesses::{self, RunSummary};
use crate::consent::ConsentState;
use proofless_core::checkpoint::LedgerVerifier;
use proofless_core::keys;
use proofless_core::merkle::{self, Hash};
use proofless_store::redb_reader::ReaderError;
use proofless_store::{RedbReader, Store, StoreError, Table};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use thiserror::Error;

mod entries;
mod tables;

/// At most this many findings are kept; the rest are only counted.
pub const MAX_FINDINGS: usize = 10_000;
/// Entries read (and hashes compared) per store read.
const CHUNK: u64 = 1024;
/// A size beyond this is corrupt (2^62 entries; keeps `stored_hash_count` in range).
const MAX_SIZE: u64 = 1 << 62;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The store is not what the ledger wrote: the check fails.
    Corruption,
    /// A holder's data was erased on purpose (their key deleted): expected, reported.
    Erased,
    /// Something could not be checked (e.g. no ledger key given); not a failure.
    Unchecked,
}

/// What is wrong at one place. Messages never contain personal data.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Problem {
    /// The store (or part of it) could not be read.
    #[error("the store could not be read: {0}")]
    Unreadable(String),
    /// Reading the store panicked (a corrupt file inside redb).
    #[error("the store could not be read: the reader panicked: {0}")]
    Panicked(String),
    /// A row or entry that should exist does not.
    #[error("missing: {0}")]
    Missing(&'static str),
    /// A row or table that should not exist does.
    #[error("unexpected: {0}")]
    Unexpected(&'static str),
    /// Stored bytes are not in their format.
    #[error("does not decode: {0}")]
    Undecodable(String),
    /// Two things that must agree do not.
    #[error("mismatch: {0}")]
    Mismatch(&'static str),
    /// A payload item does not match its signed digest.
    #[error("mismatch: the item of field `{0}` does not match its signed digest")]
    ItemMismatch(String),
    /// The holder's key was erased: the payload no longer opens, by design.
    #[error(
        "erased: the holder's key was deleted, the payload cannot be opened (not a corruption)"
    )]
    Erased,
    /// Not checked.
    #[error("not checked: {0}")]
    Unchecked(&'static str),
}

impl Problem {
    /// Its severity.
    pub fn severity(&self) -> Severity {
        match self {
            Problem::Erased => Severity::Erased,
            Problem::Unchecked(_) => Severity::Unchecked,
            _ => Severity::Corruption,
        }
    }

    /// A stable machine-readable name (`--json`).
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Unreadable(_) => "unreadable",
            Problem::Panicked(_) => "panicked",
            Problem::Missing(_) => "missing",
            Problem::Unexpected(_) => "unexpected",
            Problem::Undecodable(_) => "undecodable",
            Problem::Mismatch(_) | Problem::ItemMismatch(_) => "mismatch",
            Problem::Erased => "erased",
            Problem::Unchecked(_) => "unchecked",
        }
    }
}

/// One finding: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The file or table (`ledger.redb`, `entries`, `hashes`, `meta`, or a side table).
    pub table: String,
    /// The key or index in it (an index, `issued 12`, or a hex prefix of a hash key).
    pub key: String,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.table, self.problem)
        } else {
            write!(f, "{}[{}]: {}", self.table, self.key, self.problem)
        }
    }
}

/// What was checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Entries read and decoded.
    pub entries: u64,
    /// Stored node hashes compared.
    pub hashes: u64,
    /// `CertificateIssued` entries.
    pub certificates: u64,
    /// Payloads opened and checked item by item.
    pub payloads: u64,
    /// Payloads whose holder key was erased.
    pub erased: u64,
    /// Whether the checkpoint's signature was verified.
    pub signature_checked: bool,
    /// Rows read per side table.
    pub rows: BTreeMap<&'static str, u64>,
}

/// The result of a check.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Findings, in the order found (at most [`MAX_FINDINGS`]).
    pub findings: Vec<Finding>,
    /// Findings beyond [`MAX_FINDINGS`], counted only.
    pub omitted: u64,
    /// What was checked.
    pub summary: Summary,
}

impl Report {
    /// Whether no finding is a corruption.
    pub fn is_clean(&self) -> bool {
        self.omitted == 0
            && self
                .findings
                .iter()
                .all(|f| f.problem.severity() != Severity::Corruption)
    }

    /// The findings that are corruptions.
    pub fn corruptions(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.problem.severity() == Severity::Corruption)
    }
}

/// Why a data directory could not be checked at all (not a finding about its contents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CheckError {
    /// There is no `ledger.redb` in the directory.
    #[error("there is no ledger.redb in the data directory")]
    NoStore,
    /// Another process (the server) has the store open.
    #[error("the store is open in another process (stop the server first)")]
    InUse,
}

/// Progress callback: phase name (`entries`, then `side tables`), done, total.
pub type Progress<'a> = &'a mut dyn FnMut(&'static str, u64, u64);

/// Checks the data directory `dir` read-only. Never panics: a panic while reading
/// (inside redb, on a corrupt file) is caught and reported as [`Problem::Panicked`].
/// `verifier` is the ledger's key, to verify the checkpoint's signature. Fails only when
/// there is nothing to check ([`CheckError`]); a file that cannot be read is a finding.
pub fn check_dir(
    dir: &Path,
    verifier: Option<&LedgerVerifier>,
    progress: Progress<'_>,
) -> Result<Report, CheckError> {
    let file = proofless_store::redb_store::FILE_NAME;
    // The checker lives outside the unwind boundary, so that the findings made before a
    // panic are kept and the panic is added to them.
    let mut c = Checker::new(verifier);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let reader = match RedbReader::open(dir) {
            Ok(r) => r,
            Err(e) => {
                let reason =
                    std::error::Error::source(&e).and_then(|s| s.downcast_ref::<ReaderError>());
                match reason {
                    Some(ReaderError::Missing) => return Err(CheckError::NoStore),
                    Some(ReaderError::InUse) => return Err(CheckError::InUse),
                    _ => {}
                }
                c.find(file, String::new(), Problem::Unreadable(describe(&e)));
                return Ok(());
            }
        };
        c.layout(&reader);
        let runs = dir.join(accesses::DIR_NAME);
        if runs.is_dir() {
            c.inspect_accesses(&runs, reader.size().unwrap_or(u64::MAX));
        }
        c.run(&reader, progress);
        Ok(())
    }));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            c.find(file, String::new(), Problem::Panicked(msg));
        }
    }
    Ok(c.report)
}

/// Checks `store` through the [`Store`] contract alone (any backend). Panics in the
/// backend are not caught here; [`check_dir`] catches them.
pub fn check_store(
    store: &dyn Store,
    verifier: Option<&LedgerVerifier>,
    progress: Progress<'_>,
) -> Report {
    let mut c = Checker::new(verifier);
    c.run(store, progress);
    c.report
}

fn describe(e: &StoreError) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    }
}

/// A short, non-identifying name for a key: a hex prefix.
fn short(k: &[u8]) -> String {
    let n = k.len().min(8);
    let mut s = hex::encode(&k[..n]);
    if k.len() > n {
        s.push('…');
    }
    s
}

fn be_index(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.try_into().ok()?))
}

/// A consent as the log says it is.
struct ConsentSeen {
    granted: u64,
    holder: [u8; 32],
    scenario: String,
    department: Option<String>,
    scope: Vec<String>,
    expires: u64,
    channel: String,
    state: ConsentState,
}

/// A principal key as the log says it is.
struct KeySeen {
    registered: u64,
    role: String,
    organisation: String,
    retired: bool,
}

struct Checker<'v> {
    verifier: Option<&'v LedgerVerifier>,
    report: Report,
    size: u64,
    /// Issued index → (latest entry index, status code, successor), from `StatusChanged`.
    changes: HashMap<u64, (u64, u64, Option<String>)>,
    keys: HashMap<[u8; 32], KeySeen>,
    consents: HashMap<[u8; 32], ConsentSeen>,
    /// (version, digest, index) of the last `PolicyPublished`.
    policy: Option<(u64, [u8; 32], u64)>,
    /// The digest of every published rule set version.
    policy_digests: HashMap<u64, [u8; 32]>,
    /// (index, key id) of the genesis `ledger` `KeyEvent`.
    ledger_key: Option<(u64, [u8; 32])>,
    /// One bit per entry: set for `CertificateIssued` entries.
    issued: Vec<u64>,
    /// Rows of `certificates` and `holder_index` the entry pass found exactly as expected.
    confirmed: (u64, u64),
    /// The holder-access runs beside the store, when there are any.
    accesses: Option<AccessRuns>,
    /// Each redb table's row count as redb stores it (`side_<table>` → rows), compared
    /// with the rows the scans find.
    stored_rows: HashMap<String, u64>,
}

/// The holder-access index's runs, and what the log says each should hold.
struct AccessRuns {
    chain: Vec<RunSummary>,
    /// Per run: the number of accesses about a holder in its span, and their digest sum.
    expected: Vec<(u64, u128)>,
}

/// The name findings about the holder-access index are reported under.
const ACCESS_RUNS: &str = accesses::DIR_NAME;

impl<'v> Checker<'v> {
    fn new(verifier: Option<&'v LedgerVerifier>) -> Self {
        Self {
            verifier,
            report: Report::default(),
            size: 0,
            changes: HashMap::new(),
            keys: HashMap::new(),
            consents: HashMap::new(),
            policy: None,
            policy_digests: HashMap::new(),
            ledger_key: None,
            issued: Vec::new(),
            confirmed: (0, 0),
            accesses: None,
            stored_rows: HashMap::new(),
        }
    }

    /// The rows the scans of `table` found so far.
    fn rows_seen(&self, table: Table) -> u64 {
        self.report
            .summary
            .rows
            .get(table.name())
            .copied()
            .unwrap_or(0)
    }

    /// Compares each side table's stored row count (redb keeps one per table) with the rows
    /// its scan found: a damaged count changes what redb reports and nothing else.
    fn stored_counts(&mut self) {
        for table in Table::ALL {
            let Some(&stored) = self.stored_rows.get(&format!("side_{}", table.name())) else {
                continue;
            };
            if stored != self.rows_seen(table) {
                self.find(
                    table.name(),
                    String::new(),
                    Problem::Mismatch("the table's stored row count differs from its rows"),
                );
            }
        }
    }

    /// Reads the holder-access runs in `dir` (read only): damaged and stray runs are
    /// findings; the chain is compared with the log after the entry pass.
    fn inspect_accesses(&mut self, dir: &Path, size: u64) {
        let found = match accesses::inspect(dir, size) {
            Ok(found) => found,
            Err(e) => {
                self.find(
                    ACCESS_RUNS,
                    String::new(),
                    Problem::Unreadable(e.to_string()),
                );
                return;
            }
        };
        for (file, why) in found.damaged {
            self.find(ACCESS_RUNS, file, Problem::Undecodable(why));
        }
        for file in found.stray {
            self.find(
                ACCESS_RUNS,
                file,
                Problem::Unexpected("a run that does not continue the index"),
            );
        }
        for file in found.past_end {
            self.find(
                ACCESS_RUNS,
                file,
                Problem::Unchecked(
                    "covers entries the log does not hold; removed at the next start",
                ),
            );
        }
        for file in found.leftovers {
            self.find(
                ACCESS_RUNS,
                file,
                Problem::Unchecked(
                    "left by an interrupted write or merge; removed at the next start",
                ),
            );
        }
        self.accesses = Some(AccessRuns {
            expected: vec![(0, 0); found.chain.len()],
            chain: found.chain,
        });
    }

    /// Counts the access at `i` about `holder` towards the run that covers it.
    fn access_about(&mut self, i: u64, holder: &[u8; 32]) {
        let Some(a) = &mut self.accesses else { return };
        let k = a.chain.partition_point(|r| r.upto <= i);
        if a.chain.get(k).is_some_and(|r| r.from <= i) {
            let e = &mut a.expected[k];
            e.0 += 1;
            e.1 = e.1.wrapping_add(accesses::row_digest(holder, i));
        }
    }

    /// Compares each run with the accesses the log holds in its span.
    fn finish_accesses(&mut self, store: &dyn Store) {
        let Some(a) = self.accesses.take() else {
            return;
        };
        let mut rows = 0;
        for (run, expected) in a.chain.iter().zip(&a.expected) {
            rows += run.count;
            if run.upto > self.size || !accesses::root_matches(store, run) {
                // The server does not use such a run: it removes it and reads the span again.
                self.find(
                    ACCESS_RUNS,
                    run.file.clone(),
                    Problem::Unchecked(
                        "built from another state of the log; removed at the next start",
                    ),
                );
            } else if (run.count, run.digest) != *expected {
                self.find(
                    ACCESS_RUNS,
                    run.file.clone(),
                    Problem::Mismatch(
                        "the run's rows are not the log's accesses about holders in its span",
                    ),
                );
            }
        }
        self.report.summary.rows.insert("holder_accesses", rows);
    }

    fn mark_issued(&mut self, i: u64) {
        let word = (i / 64) as usize;
        if self.issued.len() <= word {
            self.issued.resize(word + 1, 0);
        }
        self.issued[word] |= 1 << (i % 64);
    }

    fn is_issued(&self, i: u64) -> bool {
        self.issued
            .get((i / 64) as usize)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    fn find(&mut self, table: &str, key: String, problem: Problem) {
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(Finding {
                table: table.to_owned(),
                key,
                problem,
            });
        } else {
            self.report.omitted += 1;
        }
    }

    /// redb only: tables and rows the `Store` contract does not reach.
    fn layout(&mut self, reader: &RedbReader) {
        let tables = match reader.tables() {
            Ok(t) => t,
            Err(e) => {
                self.find(
                    "ledger.redb",
                    String::new(),
                    Problem::Unreadable(describe(&e)),
                );
                return;
            }
        };
        self.stored_rows = tables.iter().map(|t| (t.name.clone(), t.rows)).collect();
        let rows = |name: &str| tables.iter().find(|t| t.name == name).map(|t| t.rows);
        let known: Vec<String> = ["entries", "hashes", "meta"]
            .into_iter()
            .map(str::to_owned)
            .chain(Table::ALL.iter().map(|t| format!("side_{}", t.name())))
            .collect();
        for name in &known {
            if rows(name).is_none() {
                self.find(
                    name,
                    String::new(),
                    Problem::Missing("the table is missing"),
                );
            }
        }
        for t in &tables {
            if !known.contains(&t.name) {
                self.find(
                    &t.name,
                    String::new(),
                    Problem::Unchecked("a table this version does not know"),
                );
            }
        }
        let counts = [("entries", reader.size()), ("hashes", reader.hash_count())];
        for (name, count) in counts {
            if let (Some(r), Ok(n)) = (rows(name), count)
                && r != n
            {
                self.find(
                    name,
                    String::new(),
                    Problem::Mismatch("the number of rows is not the count kept in `meta`"),
                );
            }
        }
        match reader.meta_keys() {
            Ok(keys) => {
                if rows("meta").is_some_and(|r| r != keys.len() as u64) {
                    self.find(
                        "meta",
                        String::new(),
                        Problem::Mismatch("the table's stored row count differs from its rows"),
                    );
                }
                for k in keys {
                    if !["size", "hashes", "checkpoint"].contains(&k.as_str()) {
                        self.find(
                            "meta",
                            short(k.as_bytes()),
                            Problem::Unchecked("a meta key this version does not know"),
                        );
                    }
                }
            }
            Err(e) => self.find("meta", String::new(), Problem::Unreadable(describe(&e))),
        }
    }

    fn run(&mut self, store: &dyn Store, progress: Progress<'_>) {
        let Some(root) = self.tree_and_entries(store, progress) else {
            return;
        };
        self.checkpoint(store, root);
        let total = Table::ALL.len() as u64;
        progress("side tables", 0, total);
        let (certificates, holder_index) = self.confirmed;
        self.counted_table(
            store,
            Table::Certificates,
            certificates,
            Self::certificate_row,
        );
        progress("side tables", 1, total);
        self.counted_table(
            store,
            Table::HolderIndex,
            holder_index,
            Self::holder_index_row,
        );
        progress("side tables", 2, total);
        self.scan_all(store, Table::Status, Self::status_row);
        progress("side tables", 3, total);
        self.scan_all(store, Table::Payloads, Self::payload_row);
        progress("side tables", 4, total);
        self.scan_all(store, Table::HolderKeys, Self::holder_key_row);
        progress("side tables", 5, total);
        self.keys_table(store);
        progress("side tables", 6, total);
        self.policy_table(store);
        progress("side tables", 7, total);
        self.consents_table(store);
        self.stored_counts();
        self.finish_accesses(store);
        progress("side tables", total, total);
    }

    /// Pass 1: rehash every entry, rebuild the tree, compare the stored hashes, and run
    /// the per-entry checks. Returns the recomputed root, or `None` when the log could not
    /// be read to its end.
    fn tree_and_entries(&mut self, store: &dyn Store, progress: Progress<'_>) -> Option<Hash> {
        let size = match store.size() {
            Ok(n) => n,
            Err(e) => {
                self.find("meta", "size".into(), Problem::Unreadable(describe(&e)));
                return None;
            }
        };
        if size > MAX_SIZE {
            self.find(
                "meta",
                "size".into(),
                Problem::Mismatch("the size is beyond any log this format can hold"),
            );
            return None;
        }
        self.size = size;
        let hash_count = match store.hash_count() {
            Ok(n) => n,
            Err(e) => {
                self.find("meta", "hashes".into(), Problem::Unreadable(describe(&e)));
                return None;
            }
        };
        if hash_count != tlog_tiles::stored_hash_count(size) {
            self.find(
                "meta",
                "hashes".into(),
                Problem::Mismatch("the hash count is not the stored hash count of the size"),
            );
        }
        // The right edge of the tree: perfect subtrees as (level, hash), lowest last.
        let mut frontier: Vec<(u32, Hash)> = Vec::new();
        let mut next_hash: u64 = 0;
        let mut start = 0;
        while start < size {
            let end = size.min(start.saturating_add(CHUNK));
            let entries = match store.entries(start, end) {
                Ok(e) => e,
                Err(StoreError::NotFound(i)) => {
                    self.find(
                        "entries",
                        i.to_string(),
                        Problem::Missing("an entry below the log's size"),
                    );
                    return None;
                }
                Err(e) => {
                    self.find(
                        "entries",
                        start.to_string(),
                        Problem::Unreadable(describe(&e)),
                    );
                    return None;
                }
            };
            let mut computed: Vec<(u64, Hash)> = Vec::new();
            for (i, bytes) in (start..).zip(&entries) {
                let mut h = merkle::leaf_hash(bytes);
                computed.push((next_hash, h));
                next_hash += 1;
                let mut level = 0;
                while let Some(&(l, left)) = frontier.last() {
                    if l != level {
                        break;
                    }
                    frontier.pop();
                    h = merkle::node_hash(left, h);
                    level += 1;
                    computed.push((next_hash, h));
                    next_hash += 1;
                }
                frontier.push((level, h));
                self.entry(store, i, bytes);
                self.report.summary.entries += 1;
            }
            self.compare_hashes(store, &computed, hash_count);
            progress("entries", end, size);
            start = end;
        }
        if let Some((at, id)) = self.ledger_key
            && let Some(v) = self.verifier
            && keys::key_id(&keys::ed25519_spki_der(v.verifying_key().as_bytes())) != id
        {
            self.find(
                "entries",
                at.to_string(),
                Problem::Mismatch("the ledger key given is not the one registered at genesis"),
            );
        }
        let mut root: Option<Hash> = None;
        for &(_, h) in frontier.iter().rev() {
            root = Some(match root {
                None => h,
                Some(r) => merkle::node_hash(h, r),
            });
        }
        Some(root.unwrap_or(tlog_tiles::EMPTY_HASH))
    }

    fn compare_hashes(&mut self, store: &dyn Store, computed: &[(u64, Hash)], hash_count: u64) {
        let wanted: Vec<(u64, Hash)> = computed
            .iter()
            .copied()
            .filter(|(i, _)| *i < hash_count)
            .collect();
        let indexes: Vec<u64> = wanted.iter().map(|(i, _)| *i).collect();
        match store.hashes(&indexes) {
            Ok(stored) => {
                for ((i, want), got) in wanted.iter().zip(stored) {
                    self.report.summary.hashes += 1;
                    if got != want.0 {
                        self.find(
                            "hashes",
                            i.to_string(),
                            Problem::Mismatch(
                                "the stored node hash is not the one recomputed from the entries",
                            ),
                        );
                    }
                }
            }
            Err(StoreError::NotFound(i)) => {
                self.find(
                    "hashes",
                    i.to_string(),
                    Problem::Missing("a node hash below the hash count"),
                );
            }
            Err(e) => {
                let at = indexes.first().copied().unwrap_or(0);
                self.find("hashes", at.to_string(), Problem::Unreadable(describe(&e)));
            }
        }
    }

    fn checkpoint(&mut self, store: &dyn Store, root: Hash) {
        let note = match store.checkpoint() {
            Ok(Some(n)) => n,
            Ok(None) => {
                if self.size > 0 {
                    self.find(
                        "meta",
                        "checkpoint".into(),
                        Problem::Missing("no checkpoint although the log has entries"),
                    );
                }
                return;
            }
            Err(e) => {
                self.find(
                    "meta",
                    "checkpoint".into(),
                    Problem::Unreadable(describe(&e)),
                );
                return;
            }
        };
        let signed = match self.verifier {
            Some(v) => match v.verify_checkpoint(&note) {
                Ok(cp) => {
                    self.report.summary.signature_checked = true;
                    Some((cp.size, cp.root))
                }
                Err(_) => {
                    self.find(
                        "meta",
                        "checkpoint".into(),
                        Problem::Mismatch(
                            "the checkpoint is not signed by the ledger key for its origin",
                        ),
                    );
                    None
                }
            },
            None => {
                self.find(
                    "meta",
                    "checkpoint".into(),
                    Problem::Unchecked(
                        "no ledger key: the checkpoint's signature was not verified",
                    ),
                );
                None
            }
        };
        let Some((size, cp_root)) = signed.or_else(|| unverified_checkpoint(&note)) else {
            self.find(
                "meta",
                "checkpoint".into(),
                Problem::Undecodable("not a signed checkpoint note".into()),
            );
            return;
        };
        if size != self.size {
            self.find(
                "meta",
                "checkpoint".into(),
                Problem::Mismatch("the checkpoint's size is not the log's size"),
            );
        } else if cp_root != root {
            self.find(
                "meta",
                "checkpoint".into(),
                Problem::Mismatch(
                    "the checkpoint's root is not the root recomputed from the entries",
                ),
            );
        }
    }

    /// A side-table read; a failure is a finding and reads as absent.
    fn get(&mut self, store: &dyn Store, table: Table, key: &[u8]) -> Option<Vec<u8>> {
        match store.get(table, key) {
            Ok(v) => v,
            Err(e) => {
                self.find(table.name(), short(key), Problem::Unreadable(describe(&e)));
                None
            }
        }
    }
}

/// `(size, root)` of a checkpoint note, signature not checked.
fn unverified_checkpoint(note: &[u8]) -> Option<(u64, Hash)> {
    let end = note.windows(2).position(|w| w == b"\n\n")?;
    let body = note.get(..=end)?;
    let cp = tlog_tiles::Checkpoint::from_bytes(body).ok()?;
    Some((cp.size(), *cp.hash()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proofless_store::{Batch, Pairs};

    /// A store whose `certificates` table is a B-tree cycle: every scan returns the same
    /// full page, whatever `after` says.
    struct Looping;

    impl Store for Looping {
        fn size(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn hash_count(&self) -> Result<u64, StoreError> {
            Ok(0)
        }
        fn append(&self, _: Batch<'_>) -> Result<(), StoreError> {
            Err(StoreError::Corrupt("test"))
        }
        fn entries(&self, _: u64, _: u64) -> Result<Vec<Vec<u8>>, StoreError> {
            Ok(Vec::new())
        }
        fn hashes(&self, _: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
            Ok(Vec::new())
        }
        fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn get(&self, _: Table, _: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn scan(
            &self,
            t: Table,
            _: &[u8],
            _: Option<&[u8]>,
            _: usize,
        ) -> Result<Pairs, StoreError> {
            Ok(if t == Table::Certificates {
                (0..CHUNK as u16)
                    .map(|i| (i.to_be_bytes().to_vec(), vec![0; 8]))
                    .collect()
            } else {
                Vec::new()
            })
        }
        fn delete(&self, _: Table, _: &[u8]) -> Result<bool, StoreError> {
            Err(StoreError::Corrupt("test"))
        }
    }

    #[test]
    fn a_table_that_repeats_its_keys_ends_the_scan_with_a_finding() {
        let r = check_store(&Looping, None, &mut |_, _, _| {});
        assert!(!r.is_clean());
        assert_eq!(r.summary.rows.get("certificates"), Some(&CHUNK));
        assert!(
            r.findings
                .iter()
                .any(|f| f.problem == Problem::Mismatch("the table's keys are out of order"))
        );
    }

    #[test]
    fn an_unsigned_checkpoint_body_is_read_and_garbage_is_not() {
        let note = b"origin\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\xe2\x80\x94 x y\n";
        assert_eq!(unverified_checkpoint(note), Some((3, Hash([0; 32]))));
        assert_eq!(unverified_checkpoint(b"origin\n3\n"), None);
        assert_eq!(unverified_checkpoint(b"\n\n"), None);
        assert_eq!(short(&[0xab; 4]), "abababab");
        assert_eq!(short(&[0xab; 9]), "abababababababab…");
    }
}
