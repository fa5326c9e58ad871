//! The offline integrity check (`proofless_ledger::check`) on stores written by the real
//! services: a clean store passes; each targeted corruption (made through the `Store`
//! API on an in-memory copy) is reported at its place; and one byte flipped at hundreds
//! of positions of a real `ledger.redb` is either reported or provably harmless (the
//! file's logical contents, dumped through a fresh redb open, did not change). Never a
//! panic.

use crate::certs::{Fx, NOW, citizen, civil_affairs, fx, marriage, principal, request};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::cert::{KeyRetirement, Status};
use proofless_core::checkpoint::{LedgerSigner, LedgerVerifier};
use proofless_core::entry::Entry;
use proofless_ledger::check::{Finding, Report, Severity, check_dir, check_store};
use proofless_store::{Batch, Pairs, RedbStore, Store, StoreError, Table};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

fn ledger_key() -> LedgerVerifier {
    LedgerSigner::from_seed("ledger.test/log", [1; 32])
        .unwrap()
        .verifier()
}

/// A read-only in-memory copy of a store, to corrupt at will.
#[derive(Clone, Default)]
struct Mem {
    size: u64,
    hash_count: u64,
    entries: BTreeMap<u64, Vec<u8>>,
    hashes: BTreeMap<u64, [u8; 32]>,
    checkpoint: Option<Vec<u8>>,
    sides: HashMap<Table, BTreeMap<Vec<u8>, Vec<u8>>>,
}

impl Mem {
    fn copy(s: &dyn Store) -> Self {
        let size = s.size().unwrap();
        let hash_count = s.hash_count().unwrap();
        let mut m = Mem {
            size,
            hash_count,
            entries: (0..).zip(s.entries(0, size).unwrap()).collect(),
            hashes: (0..hash_count)
                .zip(s.hashes(&(0..hash_count).collect::<Vec<_>>()).unwrap())
                .collect(),
            checkpoint: s.checkpoint().unwrap(),
            sides: HashMap::new(),
        };
        for t in Table::ALL {
            m.sides.insert(
                t,
                s.scan(t, b"", None, usize::MAX)
                    .unwrap()
                    .into_iter()
                    .collect(),
            );
        }
        m
    }

    fn side(&mut self, t: Table) -> &mut BTreeMap<Vec<u8>, Vec<u8>> {
        self.sides.entry(t).or_default()
    }
}

impl Store for Mem {
    fn size(&self) -> Result<u64, StoreError> {
        Ok(self.size)
    }
    fn hash_count(&self) -> Result<u64, StoreError> {
        Ok(self.hash_count)
    }
    fn append(&self, _: Batch<'_>) -> Result<(), StoreError> {
        Err(StoreError::Corrupt("read-only copy"))
    }
    fn entries(&self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, StoreError> {
        (start..end)
            .map(|i| self.entries.get(&i).cloned().ok_or(StoreError::NotFound(i)))
            .collect()
    }
    fn hashes(&self, indexes: &[u64]) -> Result<Vec<[u8; 32]>, StoreError> {
        indexes
            .iter()
            .map(|i| self.hashes.get(i).copied().ok_or(StoreError::NotFound(*i)))
            .collect()
    }
    fn checkpoint(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.checkpoint.clone())
    }
    fn get(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.sides.get(&table).and_then(|t| t.get(key)).cloned())
    }
    fn scan(
        &self,
        table: Table,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Pairs, StoreError> {
        let Some(t) = self.sides.get(&table) else {
            return Ok(Vec::new());
        };
        Ok(t.iter()
            .filter(|(k, _)| k.starts_with(prefix) && after.is_none_or(|a| k.as_slice() > a))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
    fn delete(&self, _: Table, _: &[u8]) -> Result<bool, StoreError> {
        Err(StoreError::Corrupt("read-only copy"))
    }
}

/// Indices of the interesting entries of [`populated`].
struct Made {
    /// Certificate A (holder 1), superseded by C.
    a: u64,
    /// Certificate B (holder 2), suspended.
    b: u64,
    /// Certificate C (holder 1).
    c: u64,
}

/// Three certificates of two holders, a suspension, a supersession and a retired issuer
/// key, all through the certificate service.
async fn populated() -> (Fx, Made) {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let da = marriage(uscc, "2024000101", citizen(1));
    let db = marriage(uscc, "2024000102", citizen(2));
    let dc = marriage(uscc, "2024000103", citizen(1));
    let a = fx.svc.issue(request(&issuer, &da)).await.unwrap().index;
    let b = fx.svc.issue(request(&issuer, &db)).await.unwrap().index;
    let c = fx.svc.issue(request(&issuer, &dc)).await.unwrap().index;
    let change = |id: &proofless_core::ids::CertificateId, st, succ, prev| {
        BASE64_STANDARD
            .decode(issuer.status_body(id, st, succ, prev, NOW).statement)
            .unwrap()
    };
    let latest =
        |id: &proofless_core::ids::CertificateId| fx.svc.view(id.as_str()).unwrap().latest_index;
    fx.svc
        .change_status(&change(&db.id, Status::Suspended, None, latest(&db.id)))
        .await
        .unwrap();
    fx.svc
        .change_status(&change(
            &da.id,
            Status::Superseded,
            Some(&dc.id),
            latest(&da.id),
        ))
        .await
        .unwrap();
    let (k, chain, _) = principal("issuer-qingdao-civil-affairs");
    let key_id = proofless_core::keys::key_id(&proofless_core::keys::ed25519_spki_der(
        k.verifying_key().as_bytes(),
    ));
    fx.svc
        .retire_key(
            &KeyRetirement {
                key_id,
                signed: NOW,
            }
            .sign(&k, &chain),
        )
        .await
        .unwrap();
    (fx, Made { a, b, c })
}

fn check(store: &dyn Store) -> Report {
    check_store(store, Some(&ledger_key()), &mut |_, _, _| {})
}

fn listing(r: &Report) -> String {
    r.findings
        .iter()
        .map(Finding::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_store_written_by_the_services_is_clean() {
    let (fx, _) = populated().await;
    let mut calls = Vec::new();
    let r = check_store(
        fx.store.as_ref(),
        Some(&ledger_key()),
        &mut |phase, done, total| {
            calls.push((phase, done, total));
        },
    );
    assert!(r.findings.is_empty(), "{}", listing(&r));
    let size = fx.store.size().unwrap();
    assert!(calls.contains(&("entries", size, size)), "{calls:?}");
    assert_eq!(calls.last(), Some(&("side tables", 8, 8)));
    let s = &r.summary;
    assert_eq!(s.entries, fx.store.size().unwrap());
    assert_eq!(s.hashes, fx.store.hash_count().unwrap());
    assert_eq!((s.certificates, s.payloads, s.erased), (3, 3, 0));
    assert!(s.signature_checked);
    for (table, rows) in [
        ("certificates", 3),
        ("holder_index", 3),
        ("status", 3),
        ("payloads", 3),
        ("holder_keys", 2),
        ("keys", 1),
    ] {
        assert_eq!(s.rows.get(table), Some(&rows), "{table}");
    }

    // Without the key the signature is not checked, and says so; with another key the
    // checkpoint is refused.
    let r = check_store(fx.store.as_ref(), None, &mut |_, _, _| {});
    assert!(r.is_clean());
    assert_eq!(r.findings.len(), 1, "{}", listing(&r));
    assert_eq!(r.findings[0].problem.severity(), Severity::Unchecked);
    let other = LedgerSigner::from_seed("ledger.test/log", [2; 32])
        .unwrap()
        .verifier();
    let r = check_store(fx.store.as_ref(), Some(&other), &mut |_, _, _| {});
    assert!(!r.is_clean());
    assert!(
        r.findings
            .iter()
            .any(|f| f.table == "meta" && f.key == "checkpoint")
    );
}

#[tokio::test]
async fn an_erased_holder_is_reported_as_erased_not_as_corruption() {
    let (fx, made) = populated().await;
    let holder = match Entry::decode(&fx.store.entries(made.b, made.b + 1).unwrap()[0]) {
        Ok(Entry::CertificateIssued(ci)) => ci.holder,
        _ => panic!("not a certificate"),
    };
    assert!(fx.store.delete(Table::HolderKeys, &holder).unwrap());
    let r = check(fx.store.as_ref());
    assert!(r.is_clean(), "{}", listing(&r));
    assert_eq!(r.summary.erased, 1);
    assert_eq!(r.findings.len(), 1, "{}", listing(&r));
    assert_eq!(r.findings[0].problem.severity(), Severity::Erased);
    assert_eq!(r.findings[0].key, format!("issued {}", made.b));
}

/// The certificates-table key (`H16(id)`) of the certificate issued at `i`.
fn cert_key(m: &Mem, i: u64) -> Vec<u8> {
    m.sides[&Table::Certificates]
        .iter()
        .find(|(_, v)| v.as_slice() == i.to_be_bytes())
        .map(|(k, _)| k.clone())
        .unwrap()
}

#[tokio::test]
async fn each_targeted_corruption_is_reported_at_its_place() {
    let (fx, made) = populated().await;
    let base = Mem::copy(fx.store.as_ref());
    assert!(
        check(&base).findings.is_empty(),
        "{}",
        listing(&check(&base))
    );
    let (a, b, c) = (made.a, made.b, made.c);
    let last = base.size - 1;
    let a_key = cert_key(&base, a);
    let a_leaf = tlog_tiles::stored_hash_index(0, a);
    type Mutation = Box<dyn Fn(&mut Mem)>;
    // (what, corruption, expected table, expected key, expected problem code)
    let cases: Vec<(&str, Mutation, &str, String, &str)> = vec![
        (
            "an entry rewritten as another valid entry",
            Box::new(move |m| {
                let Ok(Entry::CertificateIssued(mut ci)) = Entry::decode(&m.entries[&a]) else {
                    panic!()
                };
                ci.time += 1;
                let bytes = Entry::CertificateIssued(ci).encode().unwrap().into_bytes();
                m.entries.insert(a, bytes);
            }),
            "hashes",
            a_leaf.to_string(),
            "mismatch",
        ),
        (
            "an entry truncated",
            Box::new(move |m| {
                m.entries.get_mut(&a).unwrap().pop();
            }),
            "entries",
            a.to_string(),
            "undecodable",
        ),
        (
            "a tree node changed",
            Box::new(|m| m.hashes.get_mut(&2).unwrap()[0] ^= 1),
            "hashes",
            "2".into(),
            "mismatch",
        ),
        (
            "the last entry dropped",
            Box::new(move |m| {
                m.entries.remove(&last);
            }),
            "entries",
            last.to_string(),
            "missing",
        ),
        (
            "the log cut back by one entry with its hashes",
            Box::new(move |m| {
                m.entries.remove(&last);
                m.size -= 1;
                m.hash_count = tlog_tiles::stored_hash_count(m.size);
                let hc = m.hash_count;
                m.hashes.retain(|i, _| *i < hc);
            }),
            "meta",
            "checkpoint".into(),
            "mismatch",
        ),
        (
            "a certificates row deleted",
            Box::new({
                let k = a_key.clone();
                move |m| {
                    m.side(Table::Certificates).remove(&k);
                }
            }),
            "certificates",
            hex::encode(&a_key[..8]) + "…",
            "missing",
        ),
        (
            "a bogus certificates row",
            Box::new(move |m| {
                m.side(Table::Certificates)
                    .insert(vec![1; 16], a.to_be_bytes().to_vec());
            }),
            "certificates",
            hex::encode([1u8; 8]) + "…",
            "mismatch",
        ),
        (
            "a holder_index row deleted",
            Box::new(move |m| {
                let k = m.sides[&Table::HolderIndex]
                    .keys()
                    .find(|k| k.ends_with(&c.to_be_bytes()))
                    .unwrap()
                    .clone();
                m.side(Table::HolderIndex).remove(&k);
            }),
            "holder_index",
            format!("issued {c}"),
            "missing",
        ),
        (
            "a bogus holder_index row (A's holder and type, B's index)",
            Box::new(move |m| {
                let k = m.sides[&Table::HolderIndex]
                    .keys()
                    .find(|k| k.ends_with(&a.to_be_bytes()))
                    .unwrap()
                    .clone();
                let mut bogus = k[..k.len() - 8].to_vec();
                bogus.extend_from_slice(&b.to_be_bytes());
                m.side(Table::HolderIndex).insert(bogus, Vec::new());
            }),
            "holder_index",
            format!("issued {b}"),
            "mismatch",
        ),
        (
            "a status record with an end of validity the issuer did not sign",
            Box::new(move |m| {
                use proofless_core::cbor::{self, MapBuilder};
                let mut v = cbor::encode(
                    &MapBuilder::new()
                        .insert(1, cbor::uint(Status::Valid.code()))
                        .insert(2, cbor::text("2099-12-31"))
                        .build(),
                );
                v.extend_from_slice(&c.to_be_bytes());
                m.side(Table::Status).insert(c.to_be_bytes().to_vec(), v);
            }),
            "status",
            format!("issued {c}"),
            "mismatch",
        ),
        (
            "a status row changed (B's record under A)",
            Box::new(move |m| {
                let v = m.sides[&Table::Status][&b.to_be_bytes().to_vec()].clone();
                m.side(Table::Status).insert(a.to_be_bytes().to_vec(), v);
            }),
            "status",
            format!("issued {a}"),
            "mismatch",
        ),
        (
            "a status row deleted",
            Box::new(move |m| {
                m.side(Table::Status).remove(&b.to_be_bytes().to_vec());
            }),
            "status",
            format!("issued {b}"),
            "missing",
        ),
        (
            "a sealed payload corrupted",
            Box::new(move |m| {
                let p = m
                    .side(Table::Payloads)
                    .get_mut(&a.to_be_bytes().to_vec())
                    .unwrap();
                *p.last_mut().unwrap() ^= 1;
            }),
            "payloads",
            format!("issued {a}"),
            "mismatch",
        ),
        (
            "a sealed payload moved to another certificate of the same holder",
            Box::new(move |m| {
                let v = m.sides[&Table::Payloads][&c.to_be_bytes().to_vec()].clone();
                m.side(Table::Payloads).insert(a.to_be_bytes().to_vec(), v);
            }),
            "payloads",
            format!("issued {a}"),
            "mismatch",
        ),
        (
            "a holder key replaced",
            Box::new(|m| {
                let t = m.side(Table::HolderKeys);
                let k = t.keys().next().unwrap().clone();
                t.insert(k, vec![0; 32]);
            }),
            "payloads",
            format!("issued {a}"),
            "mismatch",
        ),
        (
            "a key record deleted",
            Box::new(|m| m.side(Table::Keys).clear()),
            "keys",
            "registered at 0".into(),
            "missing",
        ),
        (
            "a retired key made active again",
            Box::new(|m| {
                let t = m.side(Table::Keys);
                let (k, v) = t
                    .iter()
                    .next()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .unwrap();
                // The record's map ends with `3: true` (0x03 0xf5); make it false (0xf4).
                let mut v = v;
                let at = v.len() - 9;
                assert_eq!(v[at], 0xf5);
                v[at] = 0xf4;
                t.insert(k, v);
            }),
            "keys",
            String::new(),
            "mismatch",
        ),
        (
            "the size counter set beyond any log",
            Box::new(|m| m.size = u64::MAX),
            "meta",
            "size".into(),
            "mismatch",
        ),
        (
            "the checkpoint removed",
            Box::new(|m| m.checkpoint = None),
            "meta",
            "checkpoint".into(),
            "missing",
        ),
    ];
    for (what, mutate, table, key, code) in cases {
        let mut m = base.clone();
        mutate(&mut m);
        let r = check(&m);
        assert!(!r.is_clean(), "{what}: not reported");
        assert!(
            r.findings.iter().any(|f| f.table == table
                && (key.is_empty() || f.key == key)
                && f.problem.code() == code),
            "{what}: expected {table}[{key}] {code}, got:\n{}",
            listing(&r)
        );
        // No personal data in any message: no holder code, no value.
        let text = listing(&r);
        for secret in [citizen(1).as_str(), citizen(2).as_str(), "张伟", "王芳"] {
            assert!(!text.contains(secret), "{what}: personal data in {text}");
        }
    }
}

type Dump = Result<Vec<String>, String>;

/// Every table of the file, every row, through a fresh read-only redb open: the file's
/// logical contents. `Err` when redb cannot open or read it (or panics doing so).
fn dump(path: &Path) -> Dump {
    use redb::{MultimapTableHandle, TableDefinition, TableHandle};
    use redb::{ReadOnlyDatabase, ReadableDatabase, ReadableTable, ReadableTableMetadata};
    type E = Box<dyn std::error::Error>;
    let read = || -> Result<Vec<String>, E> {
        let db = ReadOnlyDatabase::open(path)?;
        let tx = db.begin_read()?;
        let mut out = Vec::new();
        for h in tx.list_multimap_tables()? {
            out.push(format!("multimap {}", h.name()));
        }
        for h in tx.list_tables()? {
            let name = h.name().to_owned();
            let len = tx.open_untyped_table(h)?.len()?;
            out.push(format!("table {name} {len}"));
            match name.as_str() {
                "entries" => {
                    let t = tx.open_table(TableDefinition::<u64, &[u8]>::new("entries"))?;
                    for r in t.iter()? {
                        let (k, v) = r?;
                        out.push(format!("{} {:?}", k.value(), v.value()));
                    }
                }
                "hashes" => {
                    let t = tx.open_table(TableDefinition::<u64, &[u8; 32]>::new("hashes"))?;
                    for r in t.iter()? {
                        let (k, v) = r?;
                        out.push(format!("{} {:?}", k.value(), v.value()));
                    }
                }
                "meta" => {
                    let t = tx.open_table(TableDefinition::<&str, &[u8]>::new("meta"))?;
                    for r in t.iter()? {
                        let (k, v) = r?;
                        out.push(format!("{} {:?}", k.value(), v.value()));
                    }
                }
                side => {
                    let t = tx.open_table(TableDefinition::<&[u8], &[u8]>::new(side))?;
                    for r in t.iter()? {
                        let (k, v) = r?;
                        out.push(format!("{:?} {:?}", k.value(), v.value()));
                    }
                }
            }
        }
        Ok(out)
    };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("panicked".into()),
    }
}

/// A deterministic generator (SplitMix64), so that the positions are the same every run.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[tokio::test]
async fn a_byte_flipped_anywhere_in_the_file_is_reported_or_harmless() {
    let (fx, _) = populated().await;
    let file = proofless_store::redb_store::FILE_NAME;
    // Close the store: a file copied while redb has it open reads as not shut down
    // cleanly, which a read-only open refuses (`a_file_copied_while_open_needs_a_repair`).
    let Fx {
        _dir: dir,
        store,
        log,
        svc,
        ..
    } = fx;
    drop(svc);
    drop(log);
    assert_eq!(Arc::strong_count(&store), 1, "the store is still shared");
    drop(store);
    // Compacted, so that most of the file is pages in use rather than old copies.
    {
        let mut s = RedbStore::open(dir.path()).unwrap();
        while s.compact().unwrap() {}
    }
    let original = std::fs::read(dir.path().join(file)).unwrap();
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join(file);
    std::fs::write(&path, &original).unwrap();
    let key = ledger_key();
    let clean = check_dir(work.path(), Some(&key), &mut |_, _, _| {}).unwrap();
    assert!(clean.findings.is_empty(), "{}", listing(&clean));
    let before = dump(&path).expect("the original file reads");

    // Half the positions evenly over the whole file, half among its non-zero bytes (the
    // pages in use), all deterministic.
    let len = original.len();
    let mut positions: Vec<usize> = (0..500).map(|i| i * len / 500).collect();
    let nonzero: Vec<usize> = (0..len).filter(|&i| original[i] != 0).collect();
    let mut seed = 42;
    positions
        .extend((0..500).map(|_| nonzero[(splitmix(&mut seed) % nonzero.len() as u64) as usize]));
    positions.sort_unstable();
    positions.dedup();

    let (mut harmful, mut harmless, mut false_alarms) = (0, 0, Vec::new());
    for &pos in &positions {
        let mut bytes = original.clone();
        bytes[pos] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let after = dump(&path);
        let r = check_dir(work.path(), Some(&key), &mut |_, _, _| {}).unwrap();
        if after.as_ref() != Ok(&before) {
            harmful += 1;
            assert!(
                !r.is_clean(),
                "byte {pos} changed the store's contents but the check reported nothing"
            );
        } else {
            harmless += 1;
            if !r.is_clean() {
                false_alarms.push(pos);
            }
        }
    }
    println!(
        "byte flips over {len} bytes: {} positions, {harmful} changed the contents (all reported), {harmless} hit slack space ({} of those still reported)",
        positions.len(),
        false_alarms.len()
    );
    assert!(positions.len() >= 200);
    assert!(
        harmful > 0,
        "no flip reached the data: the positions miss the pages in use"
    );
    assert!(
        false_alarms.is_empty(),
        "flips that changed nothing were reported: {false_alarms:?}"
    );
}

#[tokio::test]
async fn a_file_copied_while_open_needs_a_repair_and_is_not_repaired() {
    let (fx, _) = populated().await;
    let file = proofless_store::redb_store::FILE_NAME;
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(fx._dir.path().join(file), copy.path().join(file)).unwrap();
    let before = std::fs::read(copy.path().join(file)).unwrap();
    let r = check_dir(copy.path(), Some(&ledger_key()), &mut |_, _, _| {}).unwrap();
    assert!(!r.is_clean());
    assert!(listing(&r).contains("needs a repair"), "{}", listing(&r));
    assert_eq!(
        std::fs::read(copy.path().join(file)).unwrap(),
        before,
        "the check wrote nothing"
    );
    // Opened once for writing (as the server or `store usage` would), the copy is repaired
    // and checks clean.
    drop(RedbStore::open(copy.path()).unwrap());
    let r = check_dir(copy.path(), Some(&ledger_key()), &mut |_, _, _| {}).unwrap();
    assert!(r.findings.is_empty(), "{}", listing(&r));
    // A directory without a store is a finding too, and nothing is created.
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        check_dir(empty.path(), None, &mut |_, _, _| {}).unwrap_err(),
        proofless_ledger::check::CheckError::NoStore
    );
    assert!(!empty.path().join(file).exists());
    // The store in use by a writer (the server) cannot be checked: redb locks the file.
    assert_eq!(
        check_dir(fx._dir.path(), None, &mut |_, _, _| {}).unwrap_err(),
        proofless_ledger::check::CheckError::InUse
    );
}

/// The files kept for each published rule set version must hash to its digest; files
/// for a version never published are reported too.
#[tokio::test]
async fn published_rule_files_are_checked_against_their_digest() {
    let (fx, _) = populated().await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/scenarios");
    let text = std::fs::read_to_string(root.join("public-rental-housing.toml")).unwrap();
    let rules = proofless_core::policy::RuleSet::from_published(vec![
        proofless_core::policy::Scenario::parse("public-rental-housing.toml", &text).unwrap(),
    ])
    .unwrap();
    let clock = proofless_ledger::clock::FixedClock::new(NOW);
    proofless_ledger::rules::publish(&fx.log, fx.store.as_ref(), &rules, &clock)
        .await
        .unwrap();
    let base = Mem::copy(fx.store.as_ref());
    let r = check(&base);
    assert!(r.findings.is_empty(), "{}", listing(&r));
    assert_eq!(r.summary.rows.get("policy"), Some(&2), "current and text/1");

    let mut key = b"text/".to_vec();
    key.extend_from_slice(&1u64.to_be_bytes());
    let mut changed = base.clone();
    let files = changed.side(Table::Policy).get_mut(&key).unwrap();
    let edited = String::from_utf8(files.clone()).unwrap().replacen(
        "公共租赁住房申请",
        "公共租赁住房甲请",
        1,
    );
    *files = edited.into_bytes();
    let r = check(&changed);
    assert!(
        r.findings
            .iter()
            .any(|f| f.table == "policy" && f.problem.code() == "mismatch"),
        "{}",
        listing(&r)
    );

    let mut extra = base.clone();
    let mut key2 = b"text/".to_vec();
    key2.extend_from_slice(&2u64.to_be_bytes());
    let v = extra.side(Table::Policy)[&key].clone();
    extra.side(Table::Policy).insert(key2, v);
    let r = check(&extra);
    assert!(
        r.findings
            .iter()
            .any(|f| f.table == "policy" && f.problem.code() == "unexpected"),
        "{}",
        listing(&r)
    );
}
