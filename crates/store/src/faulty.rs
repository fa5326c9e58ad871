//! A store whose appends fail on demand, for testing that callers fail closed.
//!
//! It wraps any [`Store`]; while [`Faulty::fail`] is set, every [`Store::append`] returns
//! [`StoreError::Backend`] without touching the inner store. Reads pass through, and the
//! entries read are counted, for tests that a path reads nothing.

use crate::{Batch, Pairs, Store, StoreError, Table};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A [`Store`] whose appends fail while [`Faulty::set_failing`] is on.
#[derive(Debug)]
pub struct Faulty<S> {
    inner: S,
    fail: AtomicBool,
    entries_read: AtomicU64,
}

impl<S: Store> Faulty<S> {
    /// Wraps `inner`; appends succeed until told otherwise.
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            fail: AtomicBool::new(false),
            entries_read: AtomicU64::new(0),
        }
    }

    /// How many entries [`Store::entries`] has returned so far.
    pub fn entries_read(&self) -> u64 {
        self.entries_read.load(Ordering::SeqCst)
    }

    /// Makes appends fail (`true`) or pass through (`false`).
    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, Ordering::SeqCst);
    }

    /// Whether appends fail now.
    pub fn fail(&self) -> bool {
        self.fail.load(Ordering::SeqCst)
    }
}

impl<S: Store> Store for Faulty<S> {
    fn size(&self) -> Result<u64, StoreError> {
        self.inner.size()
    }
    fn hash_count(&self) -> Result<u64, StoreError> {
        self.inner.hash_count()
    }
    fn append(&self, batch: Batch<'_>) -> Result<(), StoreError> {
        if self.fail() {
            return Err(StoreError::Backend("injected failure".into()));
        }
        self.inner.append(batch)
    }
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        let read = self.inner.entries(start, end)?;
        self.entries_read
            .fetch_add(read.len() as u64, Ordering::SeqCst);
        Ok(read)
    }
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        self.inner.hashes(indexes)
    }
    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.checkpoint()
    }
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(table, key)
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        self.inner.scan(table, prefix, after, limit)
    }
    fn delete(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.delete(table, key)
    }
}
