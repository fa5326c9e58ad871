//! Integration tests of the storage backends.
#![allow(clippy::unwrap_used)]

use proofless_store::{RedbStore, conformance};
use tempfile::TempDir;

struct Redb {
    dirs: Vec<TempDir>,
}

impl conformance::Backend for Redb {
    type S = RedbStore;
    fn create(&mut self) -> RedbStore {
        let dir = tempfile::tempdir().unwrap();
        let s = RedbStore::open(dir.path()).unwrap();
        self.dirs.push(dir);
        s
    }
    fn reopen(&mut self, store: RedbStore) -> RedbStore {
        drop(store);
        RedbStore::open(self.dirs.last().unwrap().path()).unwrap()
    }
}

#[test]
fn redb_passes_the_conformance_suite() {
    conformance::run_all(&mut Redb { dirs: Vec::new() });
}
