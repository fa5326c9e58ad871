//! The holder-access index follows the log from run files beside the store.

use super::{entry, open};
use proofless_core::entry::{EncodedEntry, Entry, KeyAction, KeyEvent};
use proofless_ledger::accesses::AccessIndex;
use proofless_ledger::{Log, LogConfig};
use proofless_store::{Faulty, RedbStore, Store};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const HOLDERS: u8 = 5;

/// Entry `i`: every seventh a key event, every fifth access about no holder, the rest about
/// holder `i % HOLDERS`.
fn nth(i: u64) -> (EncodedEntry, Option<[u8; 32]>) {
    if i % 7 == 3 {
        let e = Entry::KeyEvent(KeyEvent {
            time: i,
            action: KeyAction::Retired,
            role: "issuer".into(),
            key_id: [i as u8; 32],
            certificate: None,
            organisation: None,
        });
        return (e.encode().unwrap(), None);
    }
    let holder = (i % 5 != 1).then(|| [(i % u64::from(HOLDERS)) as u8; 32]);
    let Entry::AccessRecorded(mut a) = Entry::decode(entry(i).as_bytes()).unwrap() else {
        unreachable!()
    };
    a.holder = holder;
    (Entry::AccessRecorded(a).encode().unwrap(), holder)
}

/// Appends entries `from..to` one batch each; returns the accesses per holder.
async fn fill(log: &Log, from: u64, to: u64, want: &mut BTreeMap<[u8; 32], Vec<u64>>) {
    fill_shifted(log, from, to, 0, want).await;
}

/// [`fill`], with entry `i` written as `nth(i + shift)` would be: another log.
async fn fill_shifted(
    log: &Log,
    from: u64,
    to: u64,
    shift: u64,
    want: &mut BTreeMap<[u8; 32], Vec<u64>>,
) {
    for i in from..to {
        let (e, holder) = nth(i + shift);
        let at = log.append(e).await.unwrap().index;
        assert_eq!(at, i);
        if let Some(h) = holder {
            want.entry(h).or_default().push(i);
        }
    }
}

fn store_of(dir: &Path) -> Arc<dyn Store> {
    Arc::new(RedbStore::open(dir).unwrap())
}

fn check(index: &AccessIndex, size: u64, want: &BTreeMap<[u8; 32], Vec<u64>>) {
    for h in 0..=HOLDERS {
        let holder = [h; 32];
        let got = index.accesses(&holder, size).unwrap();
        let expected: Vec<u64> = want
            .get(&holder)
            .map(|v| v.iter().copied().filter(|&i| i < size).collect())
            .unwrap_or_default();
        assert_eq!(got, expected, "holder {h} below {size}");
    }
}

fn run_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accesses_are_found_in_runs_and_fresh_rows_and_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, runs) = (tmp.path().join("data"), tmp.path().join("runs"));
    let mut want = BTreeMap::new();
    {
        let log = Arc::new(open(&data));
        fill(&log, 0, 300, &mut want).await;
        // The log's store is shared with the index, as in `serve`.
        let index = AccessIndex::open_with(log.store(), &runs, 16).unwrap();
        index.tick(150).unwrap();
        check(&index, 150, &want);
        index.tick(300).unwrap();
        assert_eq!(index.covered(), 300);
        check(&index, 300, &want);
        check(&index, 77, &want);
        // ~190 rows in runs of 16 rows or more, merged as a binary counter.
        let files = run_files(&runs);
        assert!(index.runs() >= 2 && index.runs() <= 5, "{files:?}");
        assert_eq!(
            files.len(),
            index.runs(),
            "merged runs are removed: {files:?}"
        );
    }
    // A restart keeps the runs and reads the rest from the log.
    let store = store_of(&data);
    let index = AccessIndex::open_with(store, &runs, 16).unwrap();
    let covered = index.covered();
    assert!(covered > 0 && covered <= 300, "{covered}");
    check(&index, 300, &want);
    assert_eq!(index.covered(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_partial_and_leftover_runs_are_removed_and_read_again() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (old, runs) = (tmp.path().join("old"), tmp.path().join("runs"));
    let mut want = BTreeMap::new();
    let log = Arc::new(open(&data));
    fill(&log, 0, 240, &mut want).await;
    let store = log.store();
    // An older index (to entry 120) whose runs a newer one has merged: leftovers.
    AccessIndex::open_with(store.clone(), &old, 8)
        .unwrap()
        .tick(120)
        .unwrap();
    let index = AccessIndex::open_with(store.clone(), &runs, 8).unwrap();
    index.tick(240).unwrap();
    let clean = run_files(&runs);
    drop(index);
    for f in run_files(&old) {
        std::fs::copy(old.join(&f), runs.join(&f)).unwrap();
    }
    std::fs::write(
        runs.join("0000000000000000-00000000000000ff.run.tmp"),
        b"half",
    )
    .unwrap();
    let index = AccessIndex::open_with(store.clone(), &runs, 8).unwrap();
    assert_eq!(
        run_files(&runs),
        clean,
        "leftovers and temporary files removed"
    );
    assert_eq!(index.covered(), 240);
    check(&index, 240, &want);
    drop(index);

    // One flipped byte in the newest run: it is removed, its span read from the log.
    let newest = runs.join(clean.last().unwrap());
    let mut bytes = std::fs::read(&newest).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 1;
    std::fs::write(&newest, bytes).unwrap();
    let index = AccessIndex::open_with(store.clone(), &runs, 8).unwrap();
    assert!(!newest.exists());
    assert!(index.covered() < 240);
    check(&index, 240, &want);
    index.tick(240).unwrap();
    drop(index);

    // The same log, shorter (a store restored from an older copy): the runs within it are
    // kept, those past its end removed.
    let short = Arc::new(open(&tmp.path().join("short")));
    let mut fewer = BTreeMap::new();
    fill(&short, 0, 100, &mut fewer).await;
    let upto = |f: &String| u64::from_str_radix(&f[17..33], 16).unwrap();
    assert!(run_files(&runs).iter().any(|f| upto(f) > 100));
    let index = AccessIndex::open_with(short.store(), &runs, 8).unwrap();
    assert!(index.covered() <= 100);
    assert!(run_files(&runs).iter().all(|f| upto(f) <= 100));
    check(&index, 100, &fewer);
    drop(index);

    // Another log of the same length: its tree roots differ, so no run is trusted.
    let other = Arc::new(open(&tmp.path().join("other")));
    let mut theirs = BTreeMap::new();
    fill_shifted(&other, 0, 100, 1, &mut theirs).await;
    let index = AccessIndex::open_with(other.store(), &runs, 8).unwrap();
    assert_eq!(index.covered(), 0);
    assert!(run_files(&runs).is_empty());
    check(&index, 100, &theirs);
}

/// A run file with these header values and rows, with a valid checksum.
fn forged_run(from: u64, upto: u64, root: &[u8], rows: &[[u8; 40]]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut b = b"PLHAIDX1".to_vec();
    for v in [from, upto, rows.len() as u64] {
        b.extend_from_slice(&v.to_be_bytes());
    }
    b.extend_from_slice(root);
    for r in rows {
        b.extend_from_slice(r);
    }
    let sum = sha2::Sha256::digest(&b);
    b.extend_from_slice(&sum);
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_check_compares_every_run_with_the_log() {
    use proofless_ledger::check::{Problem, check_dir};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let runs = data.join(proofless_ledger::accesses::DIR_NAME);
    let mut want = BTreeMap::new();
    {
        let log = Arc::new(open(&data));
        fill(&log, 0, 200, &mut want).await;
        // Indexed to 150 of the 200 entries: the rest is not a finding.
        let index = AccessIndex::open_with(log.store(), &runs, 16).unwrap();
        index.tick(150).unwrap();
    }
    let files = run_files(&runs);
    // The test log's key events retire keys it never registered: the check says so. Only
    // its findings about the index matter here.
    let check = || {
        let mut r = check_dir(&data, None, &mut |_, _, _| {}).unwrap();
        r.findings.retain(|f| f.table == "holder-accesses");
        r
    };
    let r = check();
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    let indexed: u64 = files
        .iter()
        .map(|f| (std::fs::metadata(runs.join(f)).unwrap().len() - 96) / 40)
        .sum();
    assert!(indexed > 0);
    assert_eq!(
        r.summary.rows.get("holder_accesses").copied(),
        Some(indexed)
    );

    // A temporary file is expected after a crash: reported, not a failure.
    std::fs::write(runs.join("x.run.tmp"), b"half").unwrap();
    let r = check();
    assert!(r.is_clean(), "{:?}", r.findings);
    assert_eq!(r.findings.len(), 1, "{:?}", r.findings);
    assert!(matches!(r.findings[0].problem, Problem::Unchecked(_)));
    assert_eq!(r.findings[0].key, "x.run.tmp");

    // The first run rewritten with one row moved to another holder, checksum and all.
    let first = &files[0];
    let bytes = std::fs::read(runs.join(first)).unwrap();
    let from = u64::from_be_bytes(bytes[8..16].try_into().unwrap());
    let upto = u64::from_be_bytes(bytes[16..24].try_into().unwrap());
    let mut rows: Vec<[u8; 40]> = bytes[64..bytes.len() - 32]
        .chunks_exact(40)
        .map(|r| r.try_into().unwrap())
        .collect();
    rows[0][..32].copy_from_slice(&[HOLDERS + 1; 32]);
    rows.sort();
    std::fs::write(
        runs.join(first),
        forged_run(from, upto, &bytes[32..64], &rows),
    )
    .unwrap();
    // A run beyond a gap, and one past the log's end (left by a longer log).
    let end = files
        .iter()
        .map(|f| u64::from_str_radix(&f[17..33], 16).unwrap())
        .max()
        .unwrap();
    assert!(end < 190, "{files:?}");
    let forge = |from: u64, upto: u64| {
        let name = format!("{from:016x}-{upto:016x}.run");
        std::fs::write(runs.join(&name), forged_run(from, upto, &[0; 32], &[])).unwrap();
        name
    };
    let (stray, past) = (forge(end + 5, end + 9), forge(205, 209));
    let r = check();
    assert!(!r.is_clean());
    let at = |key: &str| {
        r.findings
            .iter()
            .filter(|f| f.key == key)
            .map(|f| f.problem.code())
            .collect::<Vec<_>>()
    };
    assert_eq!(at(first), ["mismatch"], "{:?}", r.findings);
    assert_eq!(at(&stray), ["unexpected"], "{:?}", r.findings);
    assert_eq!(at(&past), ["unchecked"], "{:?}", r.findings);
}

/// Appends entries `from..to`, the accesses about a holder with the note the verification
/// service attaches.
async fn fill_noted(log: &Log, from: u64, to: u64, want: &mut BTreeMap<[u8; 32], Vec<u64>>) {
    for i in from..to {
        let (e, holder) = nth(i);
        let notes = holder.map(|h| (0, h)).into_iter().collect();
        let at = log
            .append_noted(None, vec![e], Vec::new(), notes)
            .await
            .unwrap()
            .index;
        assert_eq!(at, i);
        if let Some(h) = holder {
            want.entry(h).or_default().push(i);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sequencer_keeps_the_index_in_step_without_reading_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, runs) = (tmp.path().join("data"), tmp.path().join("runs"));
    let counting = Arc::new(Faulty::new(RedbStore::open(&data).unwrap()));
    let reads = || counting.entries_read();
    let log = Log::open(counting.clone(), super::signer(), LogConfig::default()).unwrap();
    let mut want = BTreeMap::new();
    fill(&log, 0, 60, &mut want).await;

    // Opened behind the log: the batches committed meanwhile wait as pending notes, and
    // only the gap before them is read.
    let index = Arc::new(AccessIndex::open_with(counting.clone(), &runs, 16).unwrap());
    log.set_follower(index.clone());
    fill_noted(&log, 60, 200, &mut want).await;
    assert_eq!(index.covered(), 0);
    let before = reads();
    index.tick(200).unwrap();
    assert_eq!(reads() - before, 60, "only entries 0..60 are read");
    assert_eq!(index.covered(), 200);
    check(&index, 200, &want);

    // In step: each batch moves the index as it commits; nothing is read.
    fill_noted(&log, 200, 400, &mut want).await;
    assert_eq!(index.covered(), 400);
    let before = reads();
    index.tick(400).unwrap();
    check(&index, 400, &want);
    assert_eq!(reads(), before, "nothing read from the log");
    let again = AccessIndex::open_with(counting.clone(), &runs, 16).unwrap();
    assert_eq!(
        again.covered(),
        400,
        "rows from notes are written as runs too"
    );

    // An access appended without its note: the batch is not taken from the notes, so the
    // index reads it from the log.
    fill(&log, 400, 420, &mut want).await;
    assert_eq!(index.covered(), 400);
    let before = reads();
    index.tick(420).unwrap();
    // The batches of key events (no access) came with their empty notes and wait as
    // pending; only the batches of accesses are read.
    let accesses = (400..420u64).filter(|i| i % 7 != 3).count() as u64;
    assert_eq!(reads() - before, accesses);
    check(&index, 420, &want);

    // What the notes built is what an index built from the log alone says.
    let from_log = AccessIndex::in_memory(counting.clone());
    for h in 0..=HOLDERS {
        assert_eq!(
            index.accesses(&[h; 32], 420).unwrap(),
            from_log.accesses(&[h; 32], 420).unwrap()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_follower_thread_catches_up_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let log = Arc::new(open(&tmp.path().join("data")));
    let mut want = BTreeMap::new();
    fill(&log, 0, 100, &mut want).await;
    let index =
        Arc::new(AccessIndex::open_with(log.store(), &tmp.path().join("runs"), 16).unwrap());
    index.follow(&log).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while index.covered() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "the follower did not catch up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(index.runs() >= 1, "and wrote runs");
    check(&index, 100, &want);
}
