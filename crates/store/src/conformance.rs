//! The backend conformance suite: one set of checks that every [`Store`] backend must
//! pass (the redb backend in this crate's tests; the PostgreSQL backend in its own).
//!
//! The suite panics on the first violation, naming the clause of the storage contract
//! (crate documentation) it broke. It is ordinary library code rather than `#[cfg(test)]`
//! so that backends in other crates can run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::{Batch, Put, PutMode, Store, StoreError, Table};

/// How the suite gets stores of one backend.
pub trait Backend {
    /// The store type.
    type S: Store;
    /// A new, empty store.
    fn create(&mut self) -> Self::S;
    /// The same store opened again after `store` was dropped: what it held must persist.
    fn reopen(&mut self, store: Self::S) -> Self::S;
}

fn entry(i: u64) -> Vec<u8> {
    format!("entry {i}").into_bytes()
}

fn hash(i: u64) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&i.to_be_bytes());
    h[31] = 0xa5;
    h
}

/// Appends entries `start..end` with two made-up hashes per entry.
fn append_range<S: Store>(s: &S, start: u64, end: u64) -> Result<(), StoreError> {
    append_with(s, start, end, &[])
}

fn append_with<S: Store>(s: &S, start: u64, end: u64, puts: &[Put]) -> Result<(), StoreError> {
    let owned: Vec<Vec<u8>> = (start..end).map(entry).collect();
    let entries: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
    let hashes: Vec<[u8; 32]> = (start * 2..end * 2).map(hash).collect();
    let cp = format!("checkpoint {end}\n").into_bytes();
    s.append(Batch {
        start,
        entries: &entries,
        hashes_start: start * 2,
        hashes: &hashes,
        checkpoint: &cp,
        puts,
    })
}

fn put(table: Table, key: &str, value: &str, mode: PutMode) -> Put {
    Put {
        table,
        key: key.as_bytes().to_vec(),
        value: value.as_bytes().to_vec(),
        mode,
    }
}

/// Runs every check against `backend`.
pub fn run_all<B: Backend>(backend: &mut B) {
    empty_store(backend);
    append_and_read_back(backend);
    refuses_gaps_and_overlaps(backend);
    reads_outside_the_log_fail(backend);
    survives_reopen(backend);
    many_batches_stay_contiguous(backend);
    side_tables_are_written_with_the_batch(backend);
    duplicate_insert_refuses_the_whole_batch(backend);
    puts_in_one_batch_apply_in_order(backend);
    scan_paginates_by_prefix(backend);
    get_many_answers_each_key_in_order(backend);
    delete_erases_only_side_data(backend);
}

/// Puts are applied with their batch, readable, and persist.
pub fn side_tables_are_written_with_the_batch<B: Backend>(b: &mut B) {
    let s = b.create();
    let puts = [
        put(Table::Certificates, "id-1", "at 0", PutMode::Insert),
        put(Table::Payloads, "id-1", "sealed", PutMode::Upsert),
    ];
    append_with(&s, 0, 1, &puts).unwrap();
    assert_eq!(
        s.get(Table::Certificates, b"id-1").unwrap(),
        Some(b"at 0".to_vec())
    );
    assert_eq!(
        s.get(Table::Payloads, b"id-1").unwrap(),
        Some(b"sealed".to_vec())
    );
    assert_eq!(
        s.get(Table::Status, b"id-1").unwrap(),
        None,
        "tables are separate"
    );
    append_with(
        &s,
        1,
        2,
        &[put(Table::Payloads, "id-1", "resealed", PutMode::Upsert)],
    )
    .unwrap();
    let s = b.reopen(s);
    assert_eq!(
        s.get(Table::Payloads, b"id-1").unwrap(),
        Some(b"resealed".to_vec())
    );
}

/// MUST apply a batch's puts in order, tables interleaved: a later put sees an earlier
/// one of the same batch (an upsert overwrites it, an insert of the same key refuses the
/// batch).
pub fn puts_in_one_batch_apply_in_order<B: Backend>(b: &mut B) {
    let s = b.create();
    append_with(
        &s,
        0,
        1,
        &[
            put(Table::Certificates, "a", "1", PutMode::Insert),
            put(Table::Payloads, "a", "p1", PutMode::Upsert),
            put(Table::Certificates, "b", "2", PutMode::Insert),
            put(Table::Payloads, "a", "p2", PutMode::Upsert),
            put(Table::Status, "a", "s", PutMode::Upsert),
            put(Table::Certificates, "c", "3", PutMode::Insert),
            // One key written three times, other keys (before and after it in key
            // order) in between: the last write wins, whatever order a backend uses.
            put(Table::Status, "z", "z1", PutMode::Upsert),
            put(Table::Status, "b", "s", PutMode::Upsert),
            put(Table::Status, "z", "z2", PutMode::Upsert),
            put(Table::Status, "y", "s", PutMode::Upsert),
            put(Table::Status, "z", "z3", PutMode::Upsert),
        ],
    )
    .unwrap();
    for (t, k, v) in [
        (Table::Certificates, "a", "1"),
        (Table::Certificates, "b", "2"),
        (Table::Certificates, "c", "3"),
        (Table::Payloads, "a", "p2"),
        (Table::Status, "a", "s"),
        (Table::Status, "z", "z3"),
    ] {
        assert_eq!(s.get(t, k.as_bytes()).unwrap(), Some(v.as_bytes().to_vec()));
    }
    let r = append_with(
        &s,
        1,
        2,
        &[
            put(Table::Certificates, "d", "4", PutMode::Insert),
            put(Table::Payloads, "d", "p", PutMode::Upsert),
            put(Table::Certificates, "d", "5", PutMode::Insert),
        ],
    );
    assert!(
        matches!(r, Err(StoreError::Duplicate(Table::Certificates))),
        "{r:?}"
    );
    assert_eq!(s.size().unwrap(), 1);
    assert_eq!(s.get(Table::Certificates, b"d").unwrap(), None);
    assert_eq!(s.get(Table::Payloads, b"d").unwrap(), None);
}

/// `get_many` answers as `get` of each key, in the caller's order (not key order),
/// absent keys and repeated keys included.
pub fn get_many_answers_each_key_in_order<B: Backend>(b: &mut B) {
    let s = b.create();
    append_with(
        &s,
        0,
        1,
        &[
            put(Table::Certificates, "m", "1", PutMode::Insert),
            put(Table::Certificates, "c", "2", PutMode::Insert),
            put(Table::Payloads, "x", "3", PutMode::Insert),
        ],
    )
    .unwrap();
    let keys: [&[u8]; 5] = [b"x", b"m", b"a", b"c", b"m"];
    assert_eq!(
        s.get_many(Table::Certificates, &keys).unwrap(),
        vec![
            None,
            Some(b"1".to_vec()),
            None,
            Some(b"2".to_vec()),
            Some(b"1".to_vec())
        ]
    );
    assert_eq!(
        s.get_many(Table::Certificates, &[]).unwrap(),
        Vec::<Option<Vec<u8>>>::new()
    );
}

/// MUST refuse the whole batch when an insert-only key exists: no entry, no put.
pub fn duplicate_insert_refuses_the_whole_batch<B: Backend>(b: &mut B) {
    let s = b.create();
    append_with(
        &s,
        0,
        1,
        &[put(Table::Certificates, "id-1", "a", PutMode::Insert)],
    )
    .unwrap();
    let r = append_with(
        &s,
        1,
        2,
        &[
            put(Table::Payloads, "id-2", "x", PutMode::Upsert),
            put(Table::Certificates, "id-1", "b", PutMode::Insert),
        ],
    );
    assert!(
        matches!(r, Err(StoreError::Duplicate(Table::Certificates))),
        "{r:?}"
    );
    assert_eq!(s.size().unwrap(), 1);
    // InsertOrSame: the same value again is fine, another value refuses the batch.
    append_with(
        &s,
        1,
        2,
        &[put(Table::HolderKeys, "h", "k1", PutMode::InsertOrSame)],
    )
    .unwrap();
    append_with(
        &s,
        2,
        3,
        &[put(Table::HolderKeys, "h", "k1", PutMode::InsertOrSame)],
    )
    .unwrap();
    let r = append_with(
        &s,
        3,
        4,
        &[put(Table::HolderKeys, "h", "k2", PutMode::InsertOrSame)],
    );
    assert!(
        matches!(r, Err(StoreError::Duplicate(Table::HolderKeys))),
        "{r:?}"
    );
    assert_eq!(
        s.get(Table::HolderKeys, b"h").unwrap(),
        Some(b"k1".to_vec())
    );
    assert_eq!(s.size().unwrap(), 3);
    assert_eq!(
        s.get(Table::Certificates, b"id-1").unwrap(),
        Some(b"a".to_vec())
    );
    assert_eq!(s.get(Table::Payloads, b"id-2").unwrap(), None);
}

/// Prefix scans return keys in order, bounded, and resume after a key.
pub fn scan_paginates_by_prefix<B: Backend>(b: &mut B) {
    let s = b.create();
    let puts: Vec<Put> = ["h1/a", "h1/b", "h1/c", "h2/a", "h0/z"]
        .iter()
        .map(|k| put(Table::HolderIndex, k, "", PutMode::Insert))
        .collect();
    append_with(&s, 0, 1, &puts).unwrap();
    let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
        v.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect()
    };
    assert_eq!(
        keys(s.scan(Table::HolderIndex, b"h1/", None, 10).unwrap()),
        ["h1/a", "h1/b", "h1/c"]
    );
    assert_eq!(
        keys(s.scan(Table::HolderIndex, b"h1/", None, 2).unwrap()),
        ["h1/a", "h1/b"]
    );
    assert_eq!(
        keys(
            s.scan(Table::HolderIndex, b"h1/", Some(b"h1/b"), 10)
                .unwrap()
        ),
        ["h1/c"]
    );
    assert!(
        s.scan(Table::HolderIndex, b"h3/", None, 10)
            .unwrap()
            .is_empty()
    );
}

/// Deleting side data leaves the log untouched.
pub fn delete_erases_only_side_data<B: Backend>(b: &mut B) {
    let s = b.create();
    append_with(
        &s,
        0,
        2,
        &[put(Table::HolderKeys, "h1", "key", PutMode::Insert)],
    )
    .unwrap();
    assert!(s.delete(Table::HolderKeys, b"h1").unwrap());
    assert!(!s.delete(Table::HolderKeys, b"h1").unwrap());
    let s = b.reopen(s);
    assert_eq!(s.get(Table::HolderKeys, b"h1").unwrap(), None);
    assert_eq!(s.entries(0, 2).unwrap().len(), 2);
}

/// A new store is empty and has no checkpoint.
pub fn empty_store<B: Backend>(b: &mut B) {
    let s = b.create();
    assert_eq!(s.size().unwrap(), 0);
    assert_eq!(s.hash_count().unwrap(), 0);
    assert_eq!(s.checkpoint().unwrap(), None);
    assert_eq!(s.entries(0, 0).unwrap(), Vec::<Vec<u8>>::new());
}

/// What was appended reads back unchanged, with the checkpoint of the batch.
pub fn append_and_read_back<B: Backend>(b: &mut B) {
    let s = b.create();
    append_range(&s, 0, 3).unwrap();
    assert_eq!(s.size().unwrap(), 3);
    assert_eq!(s.hash_count().unwrap(), 6);
    assert_eq!(s.entries(0, 3).unwrap(), vec![entry(0), entry(1), entry(2)]);
    assert_eq!(s.entries(1, 2).unwrap(), vec![entry(1)]);
    assert_eq!(s.hashes(&[5, 0]).unwrap(), vec![hash(5), hash(0)]);
    assert_eq!(s.checkpoint().unwrap(), Some(b"checkpoint 3\n".to_vec()));
}

/// MUST refuse a batch that does not continue the log, and write nothing of it.
pub fn refuses_gaps_and_overlaps<B: Backend>(b: &mut B) {
    let s = b.create();
    append_range(&s, 0, 2).unwrap();
    for start in [0, 1, 3] {
        match append_range(&s, start, start + 1) {
            Err(StoreError::Conflict { expected: 2, got }) => assert_eq!(got, start),
            other => panic!("batch at {start} on a log of 2: expected Conflict, got {other:?}"),
        }
    }
    // Right entry index, wrong hash index.
    let cp = b"c\n".to_vec();
    let e2 = entry(2);
    let r = s.append(Batch {
        start: 2,
        entries: &[&e2],
        hashes_start: 3,
        hashes: &[hash(3)],
        checkpoint: &cp,
        puts: &[],
    });
    assert!(
        matches!(
            r,
            Err(StoreError::Conflict {
                expected: 4,
                got: 3
            })
        ),
        "{r:?}"
    );
    assert_eq!(s.size().unwrap(), 2, "a refused batch must write nothing");
    assert_eq!(s.hash_count().unwrap(), 4);
    assert_eq!(s.checkpoint().unwrap(), Some(b"checkpoint 2\n".to_vec()));
}

/// Reads beyond the log fail with `NotFound`, never return short or invented data.
pub fn reads_outside_the_log_fail<B: Backend>(b: &mut B) {
    let s = b.create();
    append_range(&s, 0, 2).unwrap();
    assert!(matches!(s.entries(0, 3), Err(StoreError::NotFound(2))));
    assert!(matches!(s.entries(5, 6), Err(StoreError::NotFound(5))));
    assert!(matches!(s.hashes(&[0, 4]), Err(StoreError::NotFound(4))));
}

/// Everything appended survives closing and reopening.
pub fn survives_reopen<B: Backend>(b: &mut B) {
    let s = b.create();
    append_range(&s, 0, 5).unwrap();
    let s = b.reopen(s);
    assert_eq!(s.size().unwrap(), 5);
    assert_eq!(s.entries(0, 5).unwrap().len(), 5);
    assert_eq!(s.checkpoint().unwrap(), Some(b"checkpoint 5\n".to_vec()));
    append_range(&s, 5, 6).unwrap();
    assert_eq!(s.size().unwrap(), 6);
}

/// Many batches of varying size keep indices contiguous from 0.
pub fn many_batches_stay_contiguous<B: Backend>(b: &mut B) {
    let s = b.create();
    let mut n = 0;
    for len in [1, 7, 1, 300, 2, 1000] {
        append_range(&s, n, n + len).unwrap();
        n += len;
    }
    let all = s.entries(0, n).unwrap();
    assert_eq!(all.len() as u64, n);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e, &entry(i as u64));
    }
    let idx: Vec<u64> = (0..2 * n).collect();
    assert_eq!(s.hashes(&idx).unwrap().len() as u64, 2 * n);
}
