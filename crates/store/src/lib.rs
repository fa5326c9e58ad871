//! Storage for the Proofless ledger.
//!
//! The [`Store`] trait is the whole contract between the sequencer and a storage
//! backend; [`redb_store::RedbStore`] is the embedded default. [`conformance`] is the
//! one test suite every backend must pass.
//!
//! # The storage contract
//!
//! A store holds three things: the log entries by index, the Merkle tree's stored hashes
//! by stored hash index (see `proofless_core::merkle`), and the latest signed checkpoint.
//!
//! * A store MUST apply [`Store::append`] atomically: after a crash at any moment, either
//!   the whole batch (entries, hashes, size and checkpoint) is present, or none of it is.
//! * A store MUST NOT return from [`Store::append`] before the batch is durable (`fsync`
//!   or equivalent). The sequencer acknowledges an index only after `append` returns, so
//!   this is what makes "an acknowledged entry is never lost" true.
//! * A store MUST refuse a batch whose `start` is not its current size, or whose first
//!   stored hash index is not the number of hashes it holds: indices are contiguous from
//!   0 and never reissued.
//! * A store MUST NOT change or delete an entry, a hash or an older size once written.
//! * A store SHOULD make one durable flush per batch, never one per entry (group commit).
//! * Reads MUST only return committed data, and MUST be consistent with one committed
//!   state: a checkpoint read returns a size whose entries and hashes are all readable.
//!
//! The store does not interpret entries or hashes; validation is the ledger's job and
//! integrity checking (recomputing the tree) is the verifier's.

pub mod conformance;
pub mod redb_store;

use thiserror::Error;

pub use redb_store::RedbStore;

/// One group-commit batch.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Index of the first entry: MUST equal the store's current size.
    pub start: u64,
    /// The entries, in index order.
    pub entries: &'a [Vec<u8>],
    /// Stored hash index of the first hash: MUST equal the number of hashes stored.
    pub hashes_start: u64,
    /// The new stored hashes, in stored hash index order.
    pub hashes: &'a [[u8; 32]],
    /// The signed checkpoint for tree size `start + entries.len()`.
    pub checkpoint: &'a [u8],
}

/// Errors from a store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A batch does not continue the log where it ends: another writer got there first,
    /// or the caller's view is stale. Nothing was written.
    #[error("batch starts at {got} but the log has {expected} entries (or hashes)")]
    Conflict {
        /// What the store expected.
        expected: u64,
        /// What the batch said.
        got: u64,
    },
    /// A read asked for an index the store does not hold.
    #[error("index {0} is not in the store")]
    NotFound(u64),
    /// The stored data violate the layout (e.g. a hash that is not 32 bytes, a gap).
    #[error("store is corrupt: {0}")]
    Corrupt(&'static str),
    /// The backend failed (I/O, lock, full disk). Retrying may help; nothing is known to
    /// have been written.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The storage contract (see the crate documentation).
pub trait Store: Send + Sync + 'static {
    /// Number of durable entries.
    fn size(&self) -> Result<u64, StoreError>;

    /// Number of stored hashes.
    fn hash_count(&self) -> Result<u64, StoreError>;

    /// Appends a batch atomically and durably.
    fn append(&self, batch: Batch<'_>) -> Result<(), StoreError>;

    /// Entries with indices in `start..end`. Fails with [`StoreError::NotFound`] if any is
    /// missing.
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError>;

    /// Hashes at the given stored hash indices, in the same order.
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError>;

    /// The latest signed checkpoint, if any batch was ever appended.
    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError>;
}
