//! The embedded default backend, on redb (see `docs/decisions/0002-redb-not-sled.md`).
//!
//! # Layout (also in `docs/format.md`)
//!
//! One file, `<data>/ledger.redb`, with three tables:
//!
//! | table | key | value |
//! |---|---|---|
//! | `entries` | `u64` entry index | entry bytes (canonical CBOR) |
//! | `hashes` | `u64` stored hash index | 32-byte node hash |
//! | `meta` | `&str` name | `size` (u64 BE), `hashes` (u64 BE), `checkpoint` (signed note) |
//! | `side_<table>` | bytes | bytes: one per [`Table`], written in batch transactions |
//!
//! redb compares `u64` keys numerically, so both logs are written in key order: each
//! batch appends at the right edge of its B-tree.
//!
//! # Life of a batch
//! 1. `append` opens one write transaction (redb allows one writer at a time).
//! 2. It reads `size` and `hashes` from `meta` *inside* that transaction and refuses a
//!    batch that does not start there, so a stale writer can never overwrite.
//! 3. It inserts the entries, the hashes, the new `size`, `hashes` and `checkpoint`.
//! 4. It commits with `Durability::Immediate` and two-phase commit (no quick repair; see
//!    `durable`): redb writes the pages, `fsync`s, flips the commit slot and `fsync`s again.
//!    After `commit` returns the batch survives a crash; before, a crash leaves the
//!    previous commit intact (redb's two-slot commit).

use crate::{Batch, Pairs, PutMode, Store, StoreError, Table};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::Path;

pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
pub(crate) const HASHES: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("hashes");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// An open side table in a write transaction.
type SideTable<'t> = redb::Table<'t, &'static [u8], &'static [u8]>;

pub(crate) fn side(table: Table) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
    TableDefinition::new(match table {
        Table::Certificates => "side_certificates",
        Table::HolderIndex => "side_holder_index",
        Table::Status => "side_status",
        Table::Payloads => "side_payloads",
        Table::HolderKeys => "side_holder_keys",
        Table::Keys => "side_keys",
        Table::Policy => "side_policy",
        Table::Consents => "side_consents",
    })
}

pub(crate) const META_SIZE: &str = "size";
pub(crate) const META_HASHES: &str = "hashes";
pub(crate) const META_CHECKPOINT: &str = "checkpoint";

/// Space used by one table.
#[derive(Debug, Clone)]
pub struct TableUsage {
    /// Table name.
    pub table: String,
    /// Number of keys.
    pub entries: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of branch keys and other metadata.
    pub metadata_bytes: u64,
    /// Bytes lost to fragmentation inside pages.
    pub fragmented_bytes: u64,
    /// Pages (leaf and branch).
    pub pages: u64,
}

/// File name of the database inside the data directory.
pub const FILE_NAME: &str = "ledger.redb";

/// The redb backend.
#[derive(Debug)]
pub struct RedbStore {
    db: Database,
}

/// Every write transaction of the store commits this way (decision 0015):
/// * `Durability::Immediate`: `commit` returns after `fsync`;
/// * two-phase commit: the commit slot is flipped only after the data is `fsync`ed, so after
///   a crash the primary slot is valid without trusting checksums (redb's own advice where an
///   adversary may influence the data);
/// * no quick repair: redb would save its whole allocator state with every commit, which
///   grows with the file (2.2 MB per commit on a 14 GB store). After a crash, the first open
///   walks the file to rebuild that state instead (format.md §8).
fn durable(tx: &mut redb::WriteTransaction) -> Result<(), StoreError> {
    tx.set_durability(Durability::Immediate).map_err(backend)?;
    tx.set_two_phase_commit(true);
    Ok(())
}

pub(crate) fn backend<E: std::error::Error + Send + Sync + 'static>(e: E) -> StoreError {
    StoreError::Backend(Box::new(e))
}

pub(crate) fn read_u64(v: Option<redb::AccessGuard<'_, &[u8]>>) -> Result<u64, StoreError> {
    match v {
        None => Ok(0),
        Some(g) => {
            let b: [u8; 8] = g
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("meta counter is not 8 bytes"))?;
            Ok(u64::from_be_bytes(b))
        }
    }
}

impl RedbStore {
    /// Opens (or creates) the store in directory `dir`, creating the directory if needed.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let db = Database::create(dir.join(FILE_NAME)).map_err(backend)?;
        // Create the tables up front so that readers never see "table does not exist" —
        // but only when one is missing: opening an existing store writes nothing.
        let complete = {
            let rx = db.begin_read().map_err(backend)?;
            rx.open_table(ENTRIES).is_ok()
                && rx.open_table(HASHES).is_ok()
                && rx.open_table(META).is_ok()
                && Table::ALL.iter().all(|t| rx.open_table(side(*t)).is_ok())
        };
        if complete {
            return Ok(Self { db });
        }
        let mut tx = db.begin_write().map_err(backend)?;
        durable(&mut tx)?;
        {
            tx.open_table(ENTRIES).map_err(backend)?;
            tx.open_table(HASHES).map_err(backend)?;
            tx.open_table(META).map_err(backend)?;
            for t in Table::ALL {
                tx.open_table(side(t)).map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)?;
        Ok(Self { db })
    }

    /// Rewrites the file without free pages (offline, after a bulk import). Returns
    /// whether anything was reclaimed.
    pub fn compact(&mut self) -> Result<bool, StoreError> {
        self.db.compact().map_err(backend)
    }

    /// Space used per table: for `proofless store usage` and the storage benchmarks.
    pub fn usage(&self) -> Result<Vec<TableUsage>, StoreError> {
        use redb::ReadableTableMetadata;
        let tx = self.db.begin_read().map_err(backend)?;
        let mut out = Vec::new();
        let mut add = |name: &str, s: redb::TableStats, len: u64| {
            out.push(TableUsage {
                table: name.to_owned(),
                entries: len,
                stored_bytes: s.stored_bytes(),
                metadata_bytes: s.metadata_bytes(),
                fragmented_bytes: s.fragmented_bytes(),
                pages: s.leaf_pages() + s.branch_pages(),
            });
        };
        let t = tx.open_table(ENTRIES).map_err(backend)?;
        add(
            "entries",
            t.stats().map_err(backend)?,
            t.len().map_err(backend)?,
        );
        let t = tx.open_table(HASHES).map_err(backend)?;
        add(
            "hashes",
            t.stats().map_err(backend)?,
            t.len().map_err(backend)?,
        );
        for table in Table::ALL {
            let t = tx.open_table(side(table)).map_err(backend)?;
            add(
                table.name(),
                t.stats().map_err(backend)?,
                t.len().map_err(backend)?,
            );
        }
        Ok(out)
    }

    fn meta_u64(&self, name: &str) -> Result<u64, StoreError> {
        read_meta_u64(&self.db, name)
    }
}

impl Store for RedbStore {
    fn size(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_SIZE)
    }

    fn hash_count(&self) -> Result<u64, StoreError> {
        self.meta_u64(META_HASHES)
    }

    fn append(&self, batch: Batch<'_>) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(backend)?;
        durable(&mut tx)?;
        {
            let mut meta = tx.open_table(META).map_err(backend)?;
            let size = read_u64(meta.get(META_SIZE).map_err(backend)?)?;
            let hash_count = read_u64(meta.get(META_HASHES).map_err(backend)?)?;
            if batch.start != size {
                return Err(StoreError::Conflict {
                    expected: size,
                    got: batch.start,
                });
            }
            if batch.hashes_start != hash_count {
                return Err(StoreError::Conflict {
                    expected: hash_count,
                    got: batch.hashes_start,
                });
            }
            let mut entries = tx.open_table(ENTRIES).map_err(backend)?;
            for (i, e) in (size..).zip(batch.entries) {
                entries.insert(i, *e).map_err(backend)?;
            }
            let mut hashes = tx.open_table(HASHES).map_err(backend)?;
            for (i, h) in (hash_count..).zip(batch.hashes) {
                hashes.insert(i, h).map_err(backend)?;
            }
            let new_size = size + batch.entries.len() as u64;
            let new_hashes = hash_count + batch.hashes.len() as u64;
            meta.insert(META_SIZE, new_size.to_be_bytes().as_slice())
                .map_err(backend)?;
            meta.insert(META_HASHES, new_hashes.to_be_bytes().as_slice())
                .map_err(backend)?;
            meta.insert(META_CHECKPOINT, batch.checkpoint)
                .map_err(backend)?;
            // Each side table is opened once per batch, not once per write: opening and
            // closing a table costs a lookup and a root update.
            let mut open: Vec<(Table, SideTable<'_>)> = Vec::new();
            for put in batch.puts {
                let i = match open.iter().position(|(t, _)| *t == put.table) {
                    Some(i) => i,
                    None => {
                        open.push((put.table, tx.open_table(side(put.table)).map_err(backend)?));
                        open.len() - 1
                    }
                };
                let t = &mut open[i].1;
                let old = t
                    .insert(put.key.as_slice(), put.value.as_slice())
                    .map_err(backend)?;
                let refused = match (&old, put.mode) {
                    (None, _) | (Some(_), PutMode::Upsert) => false,
                    (Some(_), PutMode::Insert) => true,
                    (Some(prev), PutMode::InsertOrSame) => prev.value() != put.value.as_slice(),
                };
                if refused {
                    // Returning drops the transaction uncommitted: nothing is written.
                    return Err(StoreError::Duplicate(put.table));
                }
            }
        }
        // Dropping `tx` on an early return above aborts it: nothing is written.
        tx.commit().map_err(backend)
    }

    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        read_entries(&self.db, start, end)
    }

    fn hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        read_hashes(&self.db, indexes)
    }

    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        read_checkpoint(&self.db)
    }

    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        read_get(&self.db, table, key)
    }

    fn get_many(&self, table: Table, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        read_get_many(&self.db, table, keys)
    }

    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        read_scan(&self.db, table, prefix, after, limit)
    }

    fn delete(&self, table: Table, key: &[u8]) -> Result<bool, StoreError> {
        let mut tx = self.db.begin_write().map_err(backend)?;
        durable(&mut tx)?;
        let existed = {
            let mut t = tx.open_table(side(table)).map_err(backend)?;
            t.remove(key).map_err(backend)?.is_some()
        };
        tx.commit().map_err(backend)?;
        Ok(existed)
    }
}

// The reads, shared by the read-write store and the read-only reader (`redb_reader`).

pub(crate) fn read_entries(
    db: &impl ReadableDatabase,
    start: u64,
    end: u64,
) -> Result<Vec<Vec<u8>>, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let table = tx.open_table(ENTRIES).map_err(backend)?;
    let mut out = Vec::with_capacity(end.saturating_sub(start).min(4096) as usize);
    let mut expected = start;
    for item in table.range(start..end).map_err(backend)? {
        let (k, v) = item.map_err(backend)?;
        if k.value() != expected {
            return Err(StoreError::NotFound(expected));
        }
        out.push(v.value().to_vec());
        expected += 1;
    }
    if expected < end {
        return Err(StoreError::NotFound(expected));
    }
    Ok(out)
}

pub(crate) fn read_hashes(
    db: &impl ReadableDatabase,
    indexes: &[u64],
) -> Result<Vec<[u8; 32]>, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let table = tx.open_table(HASHES).map_err(backend)?;
    indexes
        .iter()
        .map(|&i| {
            table
                .get(i)
                .map_err(backend)?
                .map(|g| *g.value())
                .ok_or(StoreError::NotFound(i))
        })
        .collect()
}

pub(crate) fn read_checkpoint(db: &impl ReadableDatabase) -> Result<Option<Vec<u8>>, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let meta = tx.open_table(META).map_err(backend)?;
    Ok(meta
        .get(META_CHECKPOINT)
        .map_err(backend)?
        .map(|g| g.value().to_vec()))
}

pub(crate) fn read_get(
    db: &impl ReadableDatabase,
    table: Table,
    key: &[u8],
) -> Result<Option<Vec<u8>>, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let t = tx.open_table(side(table)).map_err(backend)?;
    Ok(t.get(key).map_err(backend)?.map(|g| g.value().to_vec()))
}

/// One read transaction for all `keys`, looked up in key order (each lookup then walks
/// pages the previous one just read); the answers in the caller's order.
pub(crate) fn read_get_many(
    db: &impl ReadableDatabase,
    table: Table,
    keys: &[&[u8]],
) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let t = tx.open_table(side(table)).map_err(backend)?;
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    let mut out = vec![None; keys.len()];
    for i in order {
        out[i] = t.get(keys[i]).map_err(backend)?.map(|g| g.value().to_vec());
    }
    Ok(out)
}

pub(crate) fn read_scan(
    db: &impl ReadableDatabase,
    table: Table,
    prefix: &[u8],
    after: Option<&[u8]>,
    limit: usize,
) -> Result<Pairs, StoreError> {
    use std::ops::Bound;
    let tx = db.begin_read().map_err(backend)?;
    let t = tx.open_table(side(table)).map_err(backend)?;
    let lower = match after {
        Some(a) if a >= prefix => Bound::Excluded(a),
        _ => Bound::Included(prefix),
    };
    let mut out = Vec::new();
    for item in t
        .range::<&[u8]>((lower, Bound::Unbounded))
        .map_err(backend)?
    {
        if out.len() >= limit {
            break;
        }
        let (k, v) = item.map_err(backend)?;
        if !k.value().starts_with(prefix) {
            break;
        }
        out.push((k.value().to_vec(), v.value().to_vec()));
    }
    Ok(out)
}

pub(crate) fn read_meta_u64(db: &impl ReadableDatabase, name: &str) -> Result<u64, StoreError> {
    let tx = db.begin_read().map_err(backend)?;
    let meta = tx.open_table(META).map_err(backend)?;
    read_u64(meta.get(name).map_err(backend)?)
}
