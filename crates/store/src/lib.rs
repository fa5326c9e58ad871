//! Storage for the Proofless ledger.
//!
//! The [`Store`] trait is the whole contract between the sequencer and a storage
//! backend; [`redb_store::RedbStore`] is the embedded default. [`conformance`] is the
//! one test suite every backend must pass.
//!
//! # The storage contract
//!
//! A store holds the log entries by index, the Merkle tree's stored hashes by stored hash
//! index (see `proofless_core::merkle`), the latest signed checkpoint, and a few side
//! [`Table`]s of keys and values (indexes and payloads) that the ledger keeps beside the
//! log and writes in the same transaction as the entries they describe.
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
//! * A store MUST apply a batch's [`Put`]s in the batch's transaction, and MUST refuse the
//!   whole batch ([`StoreError::Duplicate`]) when a [`PutMode::Insert`] key already exists
//!   or a [`PutMode::InsertOrSame`] key exists with another value.
//!   Side tables are the only data that may later be deleted ([`Store::delete`]): erasing
//!   a holder's key erases their payloads while the log still verifies.
//! * A store SHOULD make one durable flush per batch, never one per entry (group commit).
//! * Reads MUST only return committed data, and MUST be consistent with one committed
//!   state: a checkpoint read returns a size whose entries and hashes are all readable.
//!
//! The store does not interpret entries or hashes; validation is the ledger's job and
//! integrity checking (recomputing the tree) is the verifier's.

pub mod conformance;
pub mod faulty;
pub mod redb_reader;
pub mod redb_store;

use thiserror::Error;

pub use faulty::Faulty;
pub use redb_reader::RedbReader;
pub use redb_store::RedbStore;

/// A side table kept beside the log. The store does not interpret keys or values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Table {
    /// Hash of a certificate identifier → index of its `CertificateIssued` entry (unique:
    /// identifiers are never reused).
    Certificates,
    /// Holder pseudonym ‖ type code ‖ issued index → nothing (lookup by holder).
    HolderIndex,
    /// Issued index → the certificate's current status record.
    Status,
    /// Issued index → the certificate's disclosed items, sealed under the holder's key.
    Payloads,
    /// Holder pseudonym → the holder's data key.
    HolderKeys,
    /// Principal key id → its registration record (role, organisation, retired flag),
    /// followed by the index of the registering `KeyEvent`.
    Keys,
    /// `current` → the scenario rule set in force: its version and digest, followed by
    /// the index of its `PolicyPublished` entry.
    Policy,
    /// SHA-256 of a consent code → the consent's state record, followed by the index of
    /// its `ConsentGranted` entry.
    Consents,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 8] = [
        Table::Certificates,
        Table::HolderIndex,
        Table::Status,
        Table::Payloads,
        Table::HolderKeys,
        Table::Keys,
        Table::Policy,
        Table::Consents,
    ];

    /// A stable name, used as the backend's table name.
    pub const fn name(self) -> &'static str {
        match self {
            Table::Certificates => "certificates",
            Table::HolderIndex => "holder_index",
            Table::Status => "status",
            Table::Payloads => "payloads",
            Table::HolderKeys => "holder_keys",
            Table::Keys => "keys",
            Table::Policy => "policy",
            Table::Consents => "consents",
        }
    }
}

/// Whether a put may replace an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// The key must not exist yet; otherwise the whole batch is refused.
    Insert,
    /// Insert or replace.
    Upsert,
    /// Insert if absent; if present, the stored value must be identical, otherwise the
    /// whole batch is refused. For values that several concurrent batches may each
    /// establish (a new holder's key), of which exactly one must win.
    InsertOrSame,
}

/// One write to a side table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The table.
    pub table: Table,
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
    /// Insert-only or upsert.
    pub mode: PutMode,
}

/// Key–value pairs read from a side table.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One group-commit batch.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// Index of the first entry: MUST equal the store's current size.
    pub start: u64,
    /// The entries, in index order.
    pub entries: &'a [&'a [u8]],
    /// Stored hash index of the first hash: MUST equal the number of hashes stored.
    pub hashes_start: u64,
    /// The new stored hashes, in stored hash index order.
    pub hashes: &'a [[u8; 32]],
    /// The signed checkpoint for tree size `start + entries.len()`.
    pub checkpoint: &'a [u8],
    /// Side-table writes, applied in the same transaction.
    pub puts: &'a [Put],
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
    /// A batch tried to insert a key that exists. Nothing was written.
    #[error("a key already exists in side table {}", .0.name())]
    Duplicate(Table),
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

    /// The value of `key` in a side table.
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The values of `keys` in a side table, in the same order: [`Store::get`] of each,
    /// read from one committed state. A backend SHOULD read them in one read transaction;
    /// the default calls [`Store::get`] for each.
    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        keys.iter().map(|k| self.get(table, k)).collect()
    }

    /// Up to `limit` pairs whose key starts with `prefix`, in key order, starting after
    /// `after` when given (for pagination).
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError>;

    /// Durably deletes `key` from a side table; returns whether it existed.
    fn delete(&self, table: Table, key: &[u8]) -> Result<bool, StoreError>;
}
