//! The public face of the log: open, append, read.

use crate::metrics::LogMetrics;
use crate::sequencer::{Job, Sequencer};
use proofless_core::checkpoint::{LedgerSigner, LedgerVerifier};
use proofless_core::entry::EncodedEntry;
use proofless_core::merkle::{self, Hash};
use proofless_core::tiles::{self, TileId};
use proofless_store::{Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use thiserror::Error;
use tlog_tiles::HashReader;
use tokio::sync::{mpsc, oneshot, watch};

/// Tuning of the write path.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Most entries in one group-commit batch.
    pub max_batch: usize,
    /// Writers that may wait for the sequencer before `append` applies back-pressure.
    pub queue: usize,
    /// How long a small batch may wait for more entries before it commits (0: never).
    /// Trades a little latency for fewer, larger commits under load.
    pub linger: std::time::Duration,
    /// Batches of at least this many entries commit at once, without lingering.
    pub linger_until: usize,
    /// How long a batch may wait for writers that have announced an append
    /// ([`Log::announce`]) but not yet submitted it (0: never). Unlike `linger`, this
    /// waits only while such a writer exists, so an idle or closed-loop system never waits
    /// for entries that are not coming.
    pub announced_linger: std::time::Duration,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            max_batch: 8192,
            queue: 65_536,
            linger: std::time::Duration::ZERO,
            linger_until: 256,
            announced_linger: std::time::Duration::ZERO,
        }
    }
}

/// A side-table write that travels with an append. Indices are assigned only when the
/// batch is sequenced, so a put can ask for the index of one of its append's entries to be
/// appended (big-endian `u64`) to its key, its value, or both.
#[derive(Debug, Clone)]
pub struct PendingPut {
    /// The write.
    pub put: proofless_store::Put,
    /// When `Some(k)`, the index of the append's `k`-th entry is appended to the key.
    pub key_index_of: Option<usize>,
    /// When `Some(k)`, the index of the append's `k`-th entry is appended to the value.
    pub index_of: Option<usize>,
}

impl PendingPut {
    /// A put with no index in it.
    pub fn plain(put: proofless_store::Put) -> Self {
        Self {
            put,
            key_index_of: None,
            index_of: None,
        }
    }
}

/// A view derived from the log that the sequencer keeps in step (the holder-access index):
/// told of every committed batch, in log order, before any writer in it is answered. It
/// runs on the sequencer thread, so it must only update memory.
pub trait Follower: Send + Sync {
    /// Entries `start..end` are durable. `notes` are the 32-byte notes their writers
    /// attached ([`Log::append_noted`]), each with the index of the entry it is about, in
    /// index order.
    fn committed(&self, start: u64, end: u64, notes: &[(u64, [u8; 32])]);
}

/// Where the sequencer finds the follower (set after the log is open).
pub(crate) type FollowerSlot = Arc<std::sync::Mutex<Option<Arc<dyn Follower>>>>;

/// A signed checkpoint the log has published.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The signed note (C2SP tlog-checkpoint).
    pub note: Vec<u8>,
}

/// An entry (or, from `append_all`, a run of entries) durably appended and integrated.
#[derive(Debug, Clone)]
pub struct Appended {
    /// The entry's index (the first entry's, from `append_all`).
    pub index: u64,
    /// The checkpoint of the batch that wrote it; it covers the entry.
    pub checkpoint: Arc<Published>,
}

/// An entry with its inclusion proof against a checkpoint.
#[derive(Debug, Clone)]
pub struct EntryWithProof {
    /// Index.
    pub index: u64,
    /// Canonical entry bytes.
    pub entry: Vec<u8>,
    /// RFC 9162 inclusion proof against `checkpoint`.
    pub proof: Vec<Hash>,
    /// The checkpoint the proof is for.
    pub checkpoint: Arc<Published>,
}

/// Why an append failed. The caller must treat the operation as failed (fail closed).
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendError {
    /// The store did not confirm the batch's commit. Usually nothing was written; when
    /// the failure struck after the data reached the disk (e.g. a failed final `fsync`),
    /// the entries may be in the log all the same, so a caller must never assume they
    /// are absent — for an audit record that errs on the safe side: a decision recorded
    /// but not delivered.
    #[error("the log could not durably append the entry")]
    Unavailable,
    /// `append_all` was given no entries.
    #[error("no entries to append")]
    Empty,
    /// An insert-only side-table key of this append already exists; nothing was written.
    #[error("a unique key of this append already exists")]
    Duplicate,
    /// The log is shutting down.
    #[error("the log is closed")]
    Closed,
}

/// Why the log could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored checkpoint is not signed by this ledger's key, or is for another log.
    #[error("the stored checkpoint is not signed by the configured ledger key")]
    ForeignCheckpoint,
    /// The stored checkpoint disagrees with the stored tree.
    #[error("the stored checkpoint does not match the stored tree: {0}")]
    Inconsistent(&'static str),
}

/// Why a read failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Not (yet) in the log.
    #[error("not in the log")]
    NotFound,
    /// The request does not describe anything that could exist (e.g. old > new).
    #[error("invalid range")]
    InvalidRange,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The log: append entries, read them back with proofs.
pub struct Log {
    store: Arc<dyn Store>,
    verifier: LedgerVerifier,
    // Both are `Some` until drop, which closes the queue and joins the sequencer so that
    // the store is released when the `Log` is gone.
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
    published: watch::Receiver<Arc<Published>>,
    metrics: LogMetrics,
    announced: Arc<AtomicUsize>,
    follower: FollowerSlot,
}

/// A writer's announcement that it will append soon ([`Log::announce`]); withdrawn when
/// the append is submitted or the announcement is dropped.
#[derive(Debug)]
pub struct Announced(Arc<AtomicUsize>);

impl Drop for Announced {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Log")
            .field("origin", &self.verifier.name())
            .field("size", &self.latest().size)
            .finish_non_exhaustive()
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            // The sequencer finishes the batch in hand, then sees the closed queue.
            let _ = t.join();
        }
    }
}

/// Reads stored hashes for the tlog algorithms.
pub(crate) struct StoreReader<'a>(pub(crate) &'a dyn Store);

impl HashReader for StoreReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        self.0
            .hashes(indexes)
            .map(|v| v.into_iter().map(Hash).collect())
            .map_err(|_| tlog_tiles::Error::IndexesNotInTree)
    }
}

impl Log {
    /// Opens the log on `store`, checks that the stored checkpoint is this ledger's and
    /// matches the stored tree, and starts the sequencer thread.
    pub fn open(
        store: Arc<dyn Store>,
        signer: LedgerSigner,
        config: LogConfig,
    ) -> Result<Self, OpenError> {
        let verifier = signer.verifier();
        let size = store.size()?;
        let hash_count = store.hash_count()?;
        if hash_count != tlog_tiles::stored_hash_count(size) {
            return Err(OpenError::Inconsistent(
                "hash count does not match the size",
            ));
        }
        let root = tlog_tiles::tree_hash(size, &StoreReader(store.as_ref()))
            .map_err(|_| OpenError::Inconsistent("tree hashes are missing"))?;
        let published = match store.checkpoint()? {
            Some(note) => {
                let cp = verifier
                    .verify_checkpoint(&note)
                    .map_err(|_| OpenError::ForeignCheckpoint)?;
                if cp.size != size {
                    return Err(OpenError::Inconsistent(
                        "checkpoint size differs from the log size",
                    ));
                }
                if cp.root != root {
                    return Err(OpenError::Inconsistent(
                        "checkpoint root differs from the tree",
                    ));
                }
                Published { size, root, note }
            }
            None if size == 0 => Published {
                size: 0,
                root: merkle::EMPTY_HASH,
                note: signer.sign_checkpoint(0, merkle::EMPTY_HASH),
            },
            None => return Err(OpenError::Inconsistent("entries without a checkpoint")),
        };
        let metrics = LogMetrics::default();
        metrics.tree_size.set(size as i64);
        let announced = Arc::new(AtomicUsize::new(0));
        let follower = FollowerSlot::default();
        let (ptx, prx) = watch::channel(Arc::new(published));
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let seq = Sequencer {
            store: store.clone(),
            signer,
            size,
            hash_count,
            cache: HashMap::new(),
            max_batch: config.max_batch.max(1),
            linger: config.linger,
            linger_until: config.linger_until.max(1),
            announced_linger: config.announced_linger,
            announced: announced.clone(),
            published: ptx,
            metrics: metrics.clone(),
            follower: follower.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("proofless-sequencer".into())
            .spawn(move || seq.run(rx))
            .map_err(|e| OpenError::Store(StoreError::Backend(Box::new(e))))?;
        Ok(Self {
            store,
            verifier,
            tx: Some(tx),
            thread: Some(thread),
            published: prx,
            metrics,
            announced,
            follower,
        })
    }

    /// Tells `follower` of every batch committed from now on (replacing any earlier one).
    pub fn set_follower(&self, follower: Arc<dyn Follower>) {
        *self
            .follower
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(follower);
    }

    /// The store the log writes to, for views derived from it (the holder-access index).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The log's origin (checkpoint key name).
    pub fn origin(&self) -> &str {
        self.verifier.name()
    }

    /// The checkpoint verifier key (C2SP vkey form).
    pub fn vkey(&self) -> String {
        self.verifier.vkey()
    }

    /// The verifier of this log's checkpoints.
    pub fn verifier(&self) -> &LedgerVerifier {
        &self.verifier
    }

    /// The log's metrics.
    pub fn metrics(&self) -> &LogMetrics {
        &self.metrics
    }

    /// Appends an entry; returns once it is durable, integrated and covered by a signed
    /// checkpoint.
    pub async fn append(&self, entry: EncodedEntry) -> Result<Appended, AppendError> {
        self.append_all(vec![entry]).await
    }

    /// Appends several entries atomically: all of them, at consecutive indices in one
    /// durable batch, or none. Returns the index of the first. An empty list is refused.
    pub async fn append_all(&self, entries: Vec<EncodedEntry>) -> Result<Appended, AppendError> {
        self.append_with(entries, Vec::new()).await
    }

    /// Appends entries atomically together with side-table writes (indexes, payloads) that
    /// are committed in the same store transaction. A put whose `index_of` is `Some(k)`
    /// gets the big-endian index of the `k`-th entry appended to its value. If an
    /// insert-only key exists, this append alone fails with [`AppendError::Duplicate`].
    pub async fn append_with(
        &self,
        entries: Vec<EncodedEntry>,
        puts: Vec<PendingPut>,
    ) -> Result<Appended, AppendError> {
        self.append_announced(None, entries, puts).await
    }

    /// Announces that the caller will append soon (it is deciding what to write): with
    /// [`LogConfig::announced_linger`] set, a batch waits a little for announced writers
    /// instead of committing without them, so that under load commits are fewer and
    /// larger. Pass the announcement to [`Log::append_announced`]; dropping it withdraws it.
    pub fn announce(&self) -> Announced {
        self.announced.fetch_add(1, Ordering::AcqRel);
        Announced(self.announced.clone())
    }

    /// [`Log::append_with`], withdrawing `announced` once the append is queued.
    pub async fn append_announced(
        &self,
        announced: Option<Announced>,
        entries: Vec<EncodedEntry>,
        puts: Vec<PendingPut>,
    ) -> Result<Appended, AppendError> {
        self.submit(announced, entries, puts, None).await
    }

    /// [`Log::append_announced`] with the complete notes for the [`Follower`] about these
    /// entries (none is a complete answer too): `(k, note)` is about the `k`-th entry. A
    /// batch with an `AccessRecorded` entry appended without notes is not passed to the
    /// follower at all, which then reads it from the log.
    pub async fn append_noted(
        &self,
        announced: Option<Announced>,
        entries: Vec<EncodedEntry>,
        puts: Vec<PendingPut>,
        notes: Vec<(usize, [u8; 32])>,
    ) -> Result<Appended, AppendError> {
        self.submit(announced, entries, puts, Some(notes)).await
    }

    async fn submit(
        &self,
        announced: Option<Announced>,
        entries: Vec<EncodedEntry>,
        puts: Vec<PendingPut>,
        notes: Option<Vec<(usize, [u8; 32])>>,
    ) -> Result<Appended, AppendError> {
        if entries.is_empty() {
            return Err(AppendError::Empty);
        }
        // Entries appended without notes may include accesses the follower must read.
        let unnoted_access = notes.is_none()
            && entries
                .iter()
                .any(|e| e.kind() == proofless_core::entry::EntryKind::AccessRecorded);
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or(AppendError::Closed)?;
        tx.send(Job {
            entries: entries.into_iter().map(EncodedEntry::into_bytes).collect(),
            puts,
            notes: notes.unwrap_or_default(),
            unnoted_access,
            reply,
        })
        .await
        .map_err(|_| AppendError::Closed)?;
        drop(announced);
        rx.await.map_err(|_| AppendError::Closed)?
    }

    /// Appends an entry and returns it with its inclusion proof against the covering
    /// checkpoint.
    pub async fn append_with_proof(
        &self,
        entry: EncodedEntry,
    ) -> Result<EntryWithProof, AppendError> {
        let bytes = entry.as_bytes().to_vec();
        let appended = self.append(entry).await?;
        let proof = self
            .inclusion_proof(appended.index, appended.checkpoint.size)
            .map_err(|_| AppendError::Unavailable)?;
        Ok(EntryWithProof {
            index: appended.index,
            entry: bytes,
            proof,
            checkpoint: appended.checkpoint,
        })
    }

    /// The latest published checkpoint.
    pub fn latest(&self) -> Arc<Published> {
        self.published.borrow().clone()
    }

    /// Waits until a checkpoint of at least `size` is published.
    pub async fn wait_for_size(&self, size: u64) -> Result<Arc<Published>, AppendError> {
        let mut rx = self.published.clone();
        let p = rx
            .wait_for(|p| p.size >= size)
            .await
            .map_err(|_| AppendError::Closed)?;
        Ok(p.clone())
    }

    /// Inclusion proof of `index` in the tree of `size` leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, ReadError> {
        if index >= size || size > self.latest().size {
            return Err(ReadError::NotFound);
        }
        tlog_tiles::prove_record(size, index, &StoreReader(self.store.as_ref()))
            .map_err(|_| ReadError::Store(StoreError::Corrupt("tree hashes missing for a proof")))
    }

    /// Entry `index` with its inclusion proof against the latest checkpoint.
    pub fn entry(&self, index: u64) -> Result<EntryWithProof, ReadError> {
        let checkpoint = self.latest();
        if index >= checkpoint.size {
            return Err(ReadError::NotFound);
        }
        let entry = self
            .store
            .entries(index, index + 1)?
            .pop()
            .ok_or(ReadError::NotFound)?;
        let proof = self.inclusion_proof(index, checkpoint.size)?;
        Ok(EntryWithProof {
            index,
            entry,
            proof,
            checkpoint,
        })
    }

    /// Consistency proof from `old` to `new` (default: the latest size), with the
    /// checkpoint current when it was made. `old` must be at least 1: a proof from the
    /// empty tree is meaningless (RFC 9162 §2.1.4.2).
    pub fn consistency(
        &self,
        old: u64,
        new: Option<u64>,
    ) -> Result<(u64, Vec<Hash>, Arc<Published>), ReadError> {
        let checkpoint = self.latest();
        let new = new.unwrap_or(checkpoint.size);
        if old == 0 || old > new {
            return Err(ReadError::InvalidRange);
        }
        if new > checkpoint.size {
            return Err(ReadError::NotFound);
        }
        let proof =
            merkle::consistency_proof(old, new, checkpoint.size, &StoreReader(self.store.as_ref()))
                .map_err(|_| {
                    ReadError::Store(StoreError::Corrupt("tree hashes missing for a proof"))
                })?;
        Ok((new, proof, checkpoint))
    }

    /// The contents of a tile or entry bundle, if the latest checkpoint covers it.
    pub fn tile(&self, id: TileId) -> Result<Vec<u8>, ReadError> {
        let size = self.latest().size;
        match id.required_tree_size() {
            Some(needed) if needed <= size => {}
            _ => return Err(ReadError::NotFound),
        }
        match id {
            TileId::Hashes {
                level,
                index,
                width,
            } => {
                let t = tlog_tiles::Tile::new(
                    tiles::TILE_HEIGHT,
                    level,
                    index,
                    u32::from(width),
                    false,
                );
                t.read_data(&StoreReader(self.store.as_ref())).map_err(|_| {
                    ReadError::Store(StoreError::Corrupt("tree hashes missing for a tile"))
                })
            }
            TileId::Entries { index, width } => {
                let start = index * tiles::TILE_WIDTH;
                let entries = self.store.entries(start, start + u64::from(width))?;
                let mut bundle = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
                for e in &entries {
                    tiles::push_bundle_entry(&mut bundle, e);
                }
                Ok(bundle)
            }
        }
    }
}
