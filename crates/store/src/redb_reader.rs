//! A read-only view of a redb data directory, for offline checks (`proofless check`).
//!
//! [`RedbReader::open`] opens `<data>/ledger.redb` with redb's `ReadOnlyDatabase`: it
//! writes nothing, creates nothing (no directory, no file, no missing table) and never
//! repairs. A file that was not shut down cleanly and has no saved allocator state is
//! refused ([`ReaderError::NeedsRepair`]) instead of being repaired in place, so a
//! checker never changes the evidence it is looking at.
//!
//! The reader implements [`Store`] so that the same checker runs on any backend; its
//! writes ([`Store::append`], [`Store::delete`]) always fail with
//! [`ReaderError::ReadOnly`] inside [`StoreError::Backend`].

use crate::redb_store::{FILE_NAME, META, META_HASHES, META_SIZE, backend};
use crate::{Batch, Pairs, Store, StoreError, Table};
use redb::{ReadOnlyDatabase, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};
use std::path::Path;
use thiserror::Error;

/// Why a read-only store refused an operation or could not be opened.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReaderError {
    /// The store is open read-only: nothing may be written through it.
    #[error("the store is open read-only")]
    ReadOnly,
    /// There is no `ledger.redb` in the directory.
    #[error("there is no {FILE_NAME} in the data directory")]
    Missing,
    /// Another process (the server) has the file open; redb locks it.
    #[error("the store is open in another process (stop the server first)")]
    InUse,
    /// The file was not shut down cleanly and needs a repair, which a read-only open
    /// does not do.
    #[error(
        "the file needs a repair (it was not closed cleanly); a read-only check does not repair"
    )]
    NeedsRepair,
}

/// A read-only redb store (see the module documentation).
pub struct RedbReader {
    db: ReadOnlyDatabase,
}

impl std::fmt::Debug for RedbReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbReader").finish_non_exhaustive()
    }
}

/// One table of the file as redb lists it: its name and number of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRows {
    /// The redb table name (`entries`, `hashes`, `meta`, `side_<table>`, or any other).
    pub name: String,
    /// Rows, as redb counts them.
    pub rows: u64,
}

impl RedbReader {
    /// Opens `<dir>/ledger.redb` read-only.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let path = dir.join(FILE_NAME);
        if !path.is_file() {
            return Err(backend(ReaderError::Missing));
        }
        match ReadOnlyDatabase::open(&path) {
            Ok(db) => Ok(Self { db }),
            Err(redb::DatabaseError::RepairAborted) => Err(backend(ReaderError::NeedsRepair)),
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(backend(ReaderError::InUse)),
            Err(e) => Err(backend(e)),
        }
    }

    /// Every table in the file with its row count, in redb's order: lets a checker see
    /// rows that the [`Store`] contract does not reach (entries beyond `size`, unknown
    /// tables).
    pub fn tables(&self) -> Result<Vec<TableRows>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let mut out = Vec::new();
        for handle in tx.list_tables().map_err(backend)? {
            let name = handle.name().to_owned();
            let table = tx.open_untyped_table(handle).map_err(backend)?;
            out.push(TableRows {
                name,
                rows: table.len().map_err(backend)?,
            });
        }
        Ok(out)
    }

    /// The keys of the `meta` table.
    pub fn meta_keys(&self) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let meta = tx.open_table(META).map_err(backend)?;
        let mut out = Vec::new();
        for item in meta.iter().map_err(backend)? {
            let (k, _) = item.map_err(backend)?;
            out.push(k.value().to_owned());
        }
        Ok(out)
    }

    fn meta_u64(&self, name: &str) -> Result<u64, StoreError> {
        crate::redb_store::read_meta_u64(&self.db, name)
    }
}

impl Store for RedbReader {
    fn size(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_SIZE)
    }

    fn hash_count(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_HASHES)
    }

    fn append(&self, _batch: Batch<'_>) -> Result<(), StoreError> {
        Err(backend(ReaderError::ReadOnly))
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        crate::redb_store::read_entries(&self.db, start, end)
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        crate::redb_store::read_hashes(&self.db, indexes)
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        crate::redb_store::read_checkpoint(&self.db)
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        crate::redb_store::read_get(&self.db, table, key)
    }

    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        crate::redb_store::read_get_many(&self.db, table, keys)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        crate::redb_store::read_scan(&self.db, table, prefix, after, limit)
    }

    fn delete(&self, _table: Table, _key: &[u8]) -> Result<bool, StoreError> {
        Err(backend(ReaderError::ReadOnly))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Put, PutMode, RedbStore};

    #[test]
    fn reads_what_the_writer_wrote_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RedbReader::open(dir.path()).is_err(), "no file, no store");
        assert!(
            !dir.path().join(FILE_NAME).exists(),
            "a failed read-only open creates nothing"
        );
        {
            let w = RedbStore::open(dir.path()).unwrap();
            let puts = [Put {
                table: Table::Status,
                key: b"k".to_vec(),
                value: b"v".to_vec(),
                mode: PutMode::Insert,
            }];
            w.append(Batch {
                start: 0,
                entries: &[b"e0"],
                hashes_start: 0,
                hashes: &[[7; 32]],
                checkpoint: b"cp",
                puts: &puts,
            })
            .unwrap();
        }
        let before = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        let r = RedbReader::open(dir.path()).unwrap();
        assert_eq!(r.size().unwrap(), 1);
        assert_eq!(r.hash_count().unwrap(), 1);
        assert_eq!(r.entries(0, 1).unwrap(), vec![b"e0".to_vec()]);
        assert_eq!(r.hashes(&[0]).unwrap(), vec![[7; 32]]);
        assert_eq!(r.checkpoint().unwrap().unwrap(), b"cp");
        assert_eq!(r.get(Table::Status, b"k").unwrap().unwrap(), b"v");
        assert_eq!(r.scan(Table::Status, b"", None, 10).unwrap().len(), 1);
        let tables = r.tables().unwrap();
        assert!(tables.contains(&TableRows {
            name: "entries".into(),
            rows: 1
        }));
        assert_eq!(r.meta_keys().unwrap().len(), 3);
        assert!(r.delete(Table::Status, b"k").is_err());
        drop(r);
        assert_eq!(
            std::fs::read(dir.path().join(FILE_NAME)).unwrap(),
            before,
            "a read-only open leaves the file byte for byte"
        );
    }
}
