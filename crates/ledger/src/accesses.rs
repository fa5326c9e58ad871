//! The holder-access index: which `AccessRecorded` entries are about a holder (DESIGN.md
//! §5: a holder sees every access to their data). See `docs/decisions/0014-holder-access-index-from-the-log.md`.
//!
//! The index is **derived from the log and from nothing else**, and kept out of the
//! sequencer's commit: the log is the record, and a verification's durable write is its
//! `AccessRecorded` entry alone. Indexing it in the same transaction cost a random B-tree
//! insert (one dirtied leaf and its branches) per verification; here the index follows the
//! log a little behind and writes sorted runs, sequentially.
//!
//! # How it follows the log
//! * `covered` is the log size below which every access entry is indexed.
//! * **In step:** the index is the log's [`Follower`](crate::Follower). The sequencer
//!   tells it of each committed batch, before answering any writer in it, with the notes the
//!   verification service attached (the holder of each access entry): the rows are added in
//!   memory and `covered` moves to the batch's end. Nothing is read.
//! * **Catching up** (after a start, or a batch it was not told of): [`AccessIndex::catch_up`]
//!   reads the entries from `covered` from the store, keeps the pseudonym and index of each
//!   `AccessRecorded` that names a holder (only those entries are decoded), and advances
//!   `covered`. Batches committed meanwhile wait as pending notes and are applied, not read,
//!   when `covered` reaches them. A follower thread ([`AccessIndex::follow`]) does this
//!   every few milliseconds, and every history read first catches up to the log size it was
//!   asked at, so it misses nothing that was acknowledged before it.
//! * New rows collect in memory. At [`DEFAULT_FLUSH_AT`] rows (or after
//!   [`FLUSH_SPAN`] entries without enough accesses), they are sorted and written as one
//!   **run** file, `fsync`ed and renamed into place; runs are merged pairwise in the
//!   background while the older of the two newest runs has no more rows than the newer
//!   (a binary counter: at most ~log₂(rows / `flush_at`) + 1 runs, each row rewritten as
//!   often). A read looks up each run by binary search, and the rows in memory.
//! * After a crash, nothing is lost: the rows not yet in a run are read again from the log
//!   from the end of the last run. A run that fails its checksum, a gap or a leftover of an
//!   interrupted merge is removed (and its span re-read from the log), never trusted.
//!
//! # Run files (`<data>/holder-accesses/<from>-<upto>.run`, 16 hex digits each)
//! | bytes | content |
//! |---|---|
//! | 8 | `PLHAIDX1` |
//! | 8, 8, 8 | `from`, `upto` (log indices: the run covers entries `from..upto`), `count` (BE) |
//! | 40 × `count` | rows `pseudonym ‖ BE(index)`, strictly ascending, each index in `from..upto` |
//! | 32 | SHA-256 of everything before |
//!
//! Runs tile the log from entry 0 without gaps or overlaps. The index holds pseudonyms and
//! entry indices only (both are in the log already), never a holder code.

use crate::log::Log;
use crate::vault::Pseudonym;
use proofless_core::entry::{Entry, EntryKind};
use proofless_store::{Store, StoreError};
use sha2::{Digest as _, Sha256};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read as _, Write as _};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use thiserror::Error;

/// Rows in memory that are written out as one run.
pub const DEFAULT_FLUSH_AT: usize = 32_768;
/// Log entries after which the rows in memory are written out even if they are few, so
/// that a restart never re-reads more than this many entries.
pub const FLUSH_SPAN: u64 = 1 << 20;
/// How often the follower thread catches up with the log.
pub const FOLLOW_EVERY: std::time::Duration = std::time::Duration::from_millis(20);
/// Directory of the run files inside the data directory.
pub const DIR_NAME: &str = "holder-accesses";

const MAGIC: &[u8; 8] = b"PLHAIDX1";
const HEADER: u64 = 64;
const ROW: u64 = 40;
const TRAILER: u64 = 32;
/// Entries read from the store at a time while catching up.
const CHUNK: u64 = 1024;

/// One index row: `pseudonym ‖ BE(index)`, so byte order is (holder, index) order.
type Row = [u8; 40];

fn row(holder: &Pseudonym, index: u64) -> Row {
    let mut r = [0u8; 40];
    r[..32].copy_from_slice(holder);
    r[32..].copy_from_slice(&index.to_be_bytes());
    r
}

fn index_of(r: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&r[32..40]);
    u64::from_be_bytes(b)
}

fn be(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Why the index could not be read or kept up to date. Nothing of a holder is in it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum IndexError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A log entry that claims to be an access does not decode (the store is corrupt).
    #[error("log entry {0} is not a valid entry")]
    Entry(u64),
    /// A run file could not be written, read or removed.
    #[error("holder-access index file {}: {source}", path.display())]
    Io {
        /// The file (or directory).
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// One sorted run on disk. Immutable once written; removed only after a merge has
/// replaced it (readers that still hold it keep reading the open file).
#[derive(Debug)]
struct Run {
    from: u64,
    upto: u64,
    count: u64,
    /// The log's tree root at size `upto`: ties the run to the log it was built from.
    root: [u8; 32],
    file: File,
    path: PathBuf,
}

fn run_name(from: u64, upto: u64) -> String {
    format!("{from:016x}-{upto:016x}.run")
}

impl Run {
    /// Writes `count` rows (ascending) as the run for `from..upto`: to a temporary file,
    /// `fsync`, rename, `fsync` of the directory.
    fn write(
        dir: &Path,
        (from, upto, root): (u64, u64, [u8; 32]),
        count: u64,
        rows: impl Iterator<Item = io::Result<Row>>,
    ) -> Result<Run, IndexError> {
        let name = run_name(from, upto);
        let path = dir.join(&name);
        let tmp = dir.join(format!("{name}.tmp"));
        let written = (|| -> io::Result<File> {
            let file = File::create(&tmp)?;
            let mut w = BufWriter::with_capacity(1 << 20, &file);
            let mut h = Sha256::new();
            let mut header = [0u8; HEADER as usize];
            header[..8].copy_from_slice(MAGIC);
            header[8..16].copy_from_slice(&from.to_be_bytes());
            header[16..24].copy_from_slice(&upto.to_be_bytes());
            header[24..32].copy_from_slice(&count.to_be_bytes());
            header[32..64].copy_from_slice(&root);
            h.update(header);
            w.write_all(&header)?;
            let mut n = 0u64;
            for r in rows {
                let r = r?;
                h.update(r);
                w.write_all(&r)?;
                n += 1;
            }
            if n != count {
                return Err(io::Error::other("row count changed while writing"));
            }
            w.write_all(&h.finalize())?;
            w.flush()?;
            drop(w);
            file.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(dir)?.sync_all()?;
            File::open(&path)
        })();
        match written {
            Ok(file) => Ok(Run {
                from,
                upto,
                count,
                root,
                file,
                path,
            }),
            Err(e) => {
                // Neither file may outlive a failed write: a run the index does not hold
                // would be taken for part of it at the next start.
                let _ = fs::remove_file(&tmp);
                let _ = fs::remove_file(&path);
                Err(io_at(&path)(e))
            }
        }
    }

    /// Opens and checks a run file: header, name, length, order, range and checksum.
    /// With `digest`, also sums [`row_digest`] over its rows (for `proofless check`).
    fn open(path: &Path, digest: bool) -> Result<(Run, u128), String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let len = file.metadata().map_err(|e| e.to_string())?.len();
        let mut r = BufReader::with_capacity(1 << 20, &file);
        let mut header = [0u8; HEADER as usize];
        r.read_exact(&mut header)
            .map_err(|_| "shorter than its header")?;
        if &header[..8] != MAGIC {
            return Err("not a run file".into());
        }
        let (from, upto, count) = (be(&header[8..]), be(&header[16..]), be(&header[24..]));
        let mut root = [0u8; 32];
        root.copy_from_slice(&header[32..64]);
        if path.file_name().and_then(|n| n.to_str()) != Some(run_name(from, upto).as_str()) {
            return Err("its name does not match its header".into());
        }
        let expected = count
            .checked_mul(ROW)
            .and_then(|b| b.checked_add(HEADER + TRAILER));
        if upto < from || expected != Some(len) {
            return Err("its length does not match its header".into());
        }
        let mut h = Sha256::new();
        h.update(header);
        let mut prev: Option<Row> = None;
        let mut cur = [0u8; ROW as usize];
        let mut sum = 0u128;
        for _ in 0..count {
            r.read_exact(&mut cur).map_err(|e| e.to_string())?;
            let i = index_of(&cur);
            if !(from..upto).contains(&i) || prev.is_some_and(|p| p >= cur) {
                return Err("its rows are out of order or out of range".into());
            }
            h.update(cur);
            if digest {
                sum = sum.wrapping_add(digest_of(&cur));
            }
            prev = Some(cur);
        }
        let mut stored = [0u8; 32];
        r.read_exact(&mut stored).map_err(|e| e.to_string())?;
        if stored[..] != h.finalize()[..] {
            return Err("its checksum does not match".into());
        }
        drop(r);
        let run = Run {
            from,
            upto,
            count,
            root,
            file,
            path: path.to_path_buf(),
        };
        Ok((run, sum))
    }

    fn read_row(&self, at: u64, buf: &mut Row) -> io::Result<()> {
        self.file.read_exact_at(buf, HEADER + at * ROW)
    }

    /// Appends the indices of `holder`'s rows, ascending.
    fn find(&self, holder: &Pseudonym, out: &mut Vec<u64>) -> io::Result<()> {
        let key = row(holder, 0);
        let (mut lo, mut hi) = (0, self.count);
        let mut buf = [0u8; ROW as usize];
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            self.read_row(mid, &mut buf)?;
            if buf < key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut block = vec![0u8; 64 * ROW as usize];
        let mut at = lo;
        while at < self.count {
            let n = (self.count - at).min(64);
            let bytes = &mut block[..(n * ROW) as usize];
            self.file.read_exact_at(bytes, HEADER + at * ROW)?;
            for r in bytes.chunks_exact(ROW as usize) {
                if r[..32] != holder[..] {
                    return Ok(());
                }
                out.push(index_of(r));
            }
            at += n;
        }
        Ok(())
    }

    /// The rows, in order, read in large blocks (for a merge).
    fn rows(&self) -> impl Iterator<Item = io::Result<Row>> + '_ {
        const BLOCK: u64 = 16_384;
        let mut buf = Vec::new();
        let mut at = 0u64;
        let mut next = 0usize;
        std::iter::from_fn(move || {
            if next * (ROW as usize) >= buf.len() {
                if at >= self.count {
                    return None;
                }
                let n = (self.count - at).min(BLOCK);
                buf.resize((n * ROW) as usize, 0);
                if let Err(e) = self.file.read_exact_at(&mut buf, HEADER + at * ROW) {
                    at = self.count;
                    buf.clear();
                    return Some(Err(e));
                }
                at += n;
                next = 0;
            }
            let mut r = [0u8; ROW as usize];
            r.copy_from_slice(&buf[next * ROW as usize..(next + 1) * ROW as usize]);
            next += 1;
            Some(Ok(r))
        })
    }
}

/// What readers see: the runs, the rows being written as a run, and the newest rows.
#[derive(Debug, Default)]
struct View {
    /// Every access entry below this size is in `runs`, `frozen` or `fresh`.
    covered: u64,
    /// Oldest first; they tile `0..runs.last().upto`.
    runs: Vec<Arc<Run>>,
    /// Rows being written as the next run (sorted).
    frozen: Arc<Vec<Row>>,
    /// Rows not yet in a run, in log order.
    fresh: Vec<Row>,
    /// Batches the sequencer committed beyond `covered` (while the index was catching up):
    /// start → (end, rows). Applied when `covered` reaches them, instead of reading the log.
    pending: std::collections::BTreeMap<u64, (u64, Vec<Row>)>,
}

/// Most batches kept in `pending`; beyond that they are dropped and read from the log.
const MAX_PENDING: usize = 65_536;

impl View {
    /// Applies the pending batches that continue `covered`, and drops those it has passed.
    fn apply_pending(&mut self) {
        while let Some((end, rows)) = self.pending.remove(&self.covered) {
            self.fresh.extend(rows);
            self.covered = end;
        }
        if self
            .pending
            .keys()
            .next()
            .is_some_and(|&k| k < self.covered)
        {
            self.pending = self.pending.split_off(&self.covered);
        }
    }
}

impl crate::Follower for AccessIndex {
    fn committed(&self, start: u64, end: u64, notes: &[(u64, [u8; 32])]) {
        let rows = notes.iter().map(|(i, h)| row(h, *i));
        let mut v = lock(&self.view);
        if v.covered == start {
            v.fresh.extend(rows);
            v.covered = end;
            v.apply_pending();
        } else if start > v.covered && v.pending.len() < MAX_PENDING {
            v.pending.insert(start, (end, rows.collect()));
        }
    }
}

/// The holder-access index (see the module documentation).
pub struct AccessIndex {
    store: Arc<dyn Store>,
    /// `None`: rows stay in memory (tests, and tools that read a store once).
    dir: Option<PathBuf>,
    flush_at: usize,
    /// Held while catching up or flushing (the writers of `covered`, `fresh`, `frozen`).
    work: Mutex<()>,
    /// Held while merging (the only writer that replaces runs).
    merging: Mutex<()>,
    view: Mutex<View>,
}

impl std::fmt::Debug for AccessIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = lock(&self.view);
        f.debug_struct("AccessIndex")
            .field("dir", &self.dir)
            .field("covered", &v.covered)
            .field("runs", &v.runs.len())
            .field("fresh", &v.fresh.len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AccessIndex {
    /// An index kept in memory only, built from the log on first use.
    pub fn in_memory(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            dir: None,
            flush_at: usize::MAX,
            work: Mutex::new(()),
            merging: Mutex::new(()),
            view: Mutex::new(View::default()),
        }
    }

    /// Opens the index kept in `dir` (created if missing) beside `store`'s log, with
    /// [`DEFAULT_FLUSH_AT`] rows per new run.
    pub fn open(store: Arc<dyn Store>, dir: &Path) -> Result<Self, IndexError> {
        Self::open_with(store, dir, DEFAULT_FLUSH_AT)
    }

    /// [`AccessIndex::open`] with `flush_at` rows per new run. Checks every run file and
    /// keeps the longest chain of valid runs from entry 0 that the log covers; removes the
    /// rest (temporary files, leftovers of a merge, damaged or foreign runs), whose spans
    /// are read again from the log.
    pub fn open_with(
        store: Arc<dyn Store>,
        dir: &Path,
        flush_at: usize,
    ) -> Result<Self, IndexError> {
        fs::create_dir_all(dir).map_err(io_at(dir))?;
        let size = store.size()?;
        let listed = list(dir, false).map_err(io_at(dir))?;
        for path in &listed.temporary {
            remove(path);
        }
        for (path, why) in &listed.damaged {
            tracing::warn!(file = %path.display(), %why, "holder-access run removed; its span is read again from the log");
            remove(path);
        }
        let store_ref = store.as_ref();
        let (chain, rest) = select(listed.runs, |r| {
            r.upto <= size && tree_root(store_ref, r.upto).is_ok_and(|root| root == r.root)
        });
        for (run, _) in rest {
            if !chain
                .iter()
                .any(|(c, _)| c.from <= run.from && run.upto <= c.upto)
            {
                tracing::warn!(file = %run.path.display(), "holder-access run does not continue the index, or was built from another log; removed");
            }
            remove(&run.path);
        }
        let end = chain.last().map_or(0, |(r, _)| r.upto);
        Ok(Self {
            store,
            dir: Some(dir.to_path_buf()),
            flush_at: flush_at.max(1),
            work: Mutex::new(()),
            merging: Mutex::new(()),
            view: Mutex::new(View {
                covered: end,
                runs: chain.into_iter().map(|(r, _)| Arc::new(r)).collect(),
                frozen: Arc::default(),
                fresh: Vec::new(),
                pending: Default::default(),
            }),
        })
    }

    /// The log size below which every access is indexed.
    pub fn covered(&self) -> u64 {
        lock(&self.view).covered
    }

    /// The number of run files.
    pub fn runs(&self) -> usize {
        lock(&self.view).runs.len()
    }

    /// Indexes the log's access entries up to `size` (a size the log has published), in
    /// memory: applies the pending notes, and reads from the log only what no note covers.
    /// Runs are written by [`AccessIndex::tick`] and [`AccessIndex::persist`].
    pub fn catch_up(&self, size: u64) -> Result<(), IndexError> {
        let started = self.covered();
        if started >= size {
            return Ok(());
        }
        let mut logged = std::time::Instant::now();
        loop {
            // One chunk at a time, so that a long catch-up (the first start on a large log)
            // lets reads and the sequencer's notes in between.
            let _work = lock(&self.work);
            let (covered, stop) = {
                let mut v = lock(&self.view);
                v.apply_pending();
                let next = v.pending.keys().next().copied().unwrap_or(u64::MAX);
                (v.covered, size.min(next))
            };
            if covered >= size {
                return Ok(());
            }
            let end = stop.min(covered + CHUNK);
            let entries = self.store.entries(covered, end)?;
            let mut found = Vec::new();
            for (i, raw) in (covered..end).zip(&entries) {
                if EntryKind::of_bytes(raw) != Some(EntryKind::AccessRecorded) {
                    continue;
                }
                match Entry::decode(raw) {
                    Ok(Entry::AccessRecorded(a)) => {
                        if let Some(h) = a.holder {
                            found.push(row(&h, i));
                        }
                    }
                    _ => return Err(IndexError::Entry(i)),
                }
            }
            {
                let mut v = lock(&self.view);
                // Only the sequencer's notes move `covered` while `work` is held, and only
                // from where it was: then what was read is already in.
                if v.covered == covered {
                    v.fresh.extend(found);
                    v.covered = end;
                }
            }
            if logged.elapsed().as_secs() >= 5 {
                logged = std::time::Instant::now();
                tracing::info!(
                    indexed = end - started,
                    remaining = size.saturating_sub(end),
                    "holder-access index catching up with the log"
                );
            }
        }
    }

    /// Writes the rows in memory as a run if there are enough of them, or if the entries
    /// they cover span [`FLUSH_SPAN`] (or any, with `always`).
    fn flush_if_due(&self, always: bool) -> Result<(), IndexError> {
        let _work = lock(&self.work);
        let due = {
            let v = lock(&self.view);
            let from = v.runs.last().map_or(0, |r| r.upto);
            v.covered > from
                && (always || v.fresh.len() >= self.flush_at || v.covered - from >= FLUSH_SPAN)
        };
        if due { self.flush() } else { Ok(()) }
    }

    /// Writes the rows in memory as the next run (the caller holds `work`).
    fn flush(&self) -> Result<(), IndexError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        // Sorted outside the lock: the sequencer's notes only append to `fresh`, so its first
        // `n` rows are still the ones copied here when the sorted copy replaces them.
        let (from, upto, mut rows) = {
            let v = lock(&self.view);
            (
                v.runs.last().map_or(0, |r| r.upto),
                v.covered,
                v.fresh.clone(),
            )
        };
        rows.sort_unstable();
        let rows = Arc::new(rows);
        {
            let mut v = lock(&self.view);
            v.fresh.drain(..rows.len());
            v.frozen = rows.clone();
        }
        let written = tree_root(self.store.as_ref(), upto).and_then(|root| {
            Run::write(
                dir,
                (from, upto, root),
                rows.len() as u64,
                rows.iter().map(|r| Ok(*r)),
            )
        });
        let mut v = lock(&self.view);
        match written {
            Ok(run) => {
                v.runs.push(Arc::new(run));
                v.frozen = Arc::default();
                Ok(())
            }
            Err(e) => {
                // Keep the rows in memory; the next flush tries again.
                let mut back = std::mem::take(&mut v.frozen).as_ref().clone();
                back.append(&mut v.fresh);
                v.fresh = back;
                Err(e)
            }
        }
    }

    /// Merges the two newest runs while the older has no more rows than the newer.
    fn merge(&self) -> Result<(), IndexError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let _merging = lock(&self.merging);
        loop {
            let (a, b) = {
                let v = lock(&self.view);
                let n = v.runs.len();
                if n < 2 || v.runs[n - 2].count > v.runs[n - 1].count {
                    return Ok(());
                }
                (v.runs[n - 2].clone(), v.runs[n - 1].clone())
            };
            let merged = Run::write(
                dir,
                (a.from, b.upto, b.root),
                a.count + b.count,
                merged(&a, &b),
            )?;
            {
                let mut v = lock(&self.view);
                // Flushes only push at the end, so `a` and `b` are still next to each other.
                let Some(at) = v.runs.iter().position(|r| Arc::ptr_eq(r, &a)) else {
                    return Ok(());
                };
                v.runs.splice(at..at + 2, [Arc::new(merged)]);
            }
            remove(&a.path);
            remove(&b.path);
        }
    }

    /// Catches up to `size`, writes a run when one is due, then merges (what the follower
    /// thread does each time).
    pub fn tick(&self, size: u64) -> Result<(), IndexError> {
        self.catch_up(size)?;
        self.flush_if_due(false)?;
        self.merge()
    }

    /// Catches up to `size` and writes every row in memory as a run, so that the next
    /// start reads nothing again (after a bulk import).
    pub fn persist(&self, size: u64) -> Result<(), IndexError> {
        self.catch_up(size)?;
        self.flush_if_due(true)?;
        self.merge()
    }

    /// Starts a thread that follows `log` every [`FOLLOW_EVERY`], until the index or the
    /// log is dropped. Errors are logged and retried.
    pub fn follow(self: &Arc<Self>, log: &Arc<Log>) -> io::Result<()> {
        let index = Arc::downgrade(self);
        let log = Arc::downgrade(log);
        std::thread::Builder::new()
            .name("proofless-accesses".into())
            .spawn(move || {
                loop {
                    let Some(size) = log.upgrade().map(|l| l.latest().size) else {
                        return;
                    };
                    let Some(index) = index.upgrade() else {
                        return;
                    };
                    if let Err(e) = index.tick(size) {
                        tracing::warn!(error = %e, "the holder-access index could not follow the log; retrying");
                        drop(index);
                        std::thread::sleep(FOLLOW_EVERY * 50);
                        continue;
                    }
                    drop(index);
                    std::thread::sleep(FOLLOW_EVERY);
                }
            })
            .map(|_| ())
    }

    /// The indices of the access entries about `holder` below `size` (a size the log has
    /// published), ascending.
    pub fn accesses(&self, holder: &Pseudonym, size: u64) -> Result<Vec<u64>, IndexError> {
        self.catch_up(size)?;
        let (runs, frozen, mut fresh) = {
            let v = lock(&self.view);
            let fresh: Vec<u64> = v
                .fresh
                .iter()
                .filter(|r| r[..32] == holder[..])
                .map(|r| index_of(r))
                .collect();
            (v.runs.clone(), v.frozen.clone(), fresh)
        };
        let mut out = Vec::new();
        for run in &runs {
            run.find(holder, &mut out).map_err(io_at(&run.path))?;
        }
        let key = row(holder, 0);
        let at = frozen.partition_point(|r| *r < key);
        out.extend(
            frozen[at..]
                .iter()
                .take_while(|r| r[..32] == holder[..])
                .map(|r| index_of(r)),
        );
        out.append(&mut fresh);
        out.retain(|&i| i < size);
        Ok(out)
    }
}

/// The rows of `a` and `b` merged in order.
fn merged<'a>(a: &'a Run, b: &'a Run) -> impl Iterator<Item = io::Result<Row>> + 'a {
    let mut a = a.rows().peekable();
    let mut b = b.rows().peekable();
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (None, None) => None,
        (Some(Err(_)), _) | (Some(_), None) => a.next(),
        (_, Some(Err(_))) | (None, Some(_)) => b.next(),
        (Some(Ok(x)), Some(Ok(y))) => {
            if x <= y {
                a.next()
            } else {
                b.next()
            }
        }
    })
}

fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), error = %e, "could not remove a holder-access index file");
    }
}

/// The files of a run directory.
struct Listing {
    /// Valid runs, with their digests when asked.
    runs: Vec<(Run, u128)>,
    /// Files that fail their checks, and why.
    damaged: Vec<(PathBuf, String)>,
    /// Temporary files of an interrupted write.
    temporary: Vec<PathBuf>,
}

fn list(dir: &Path, digest: bool) -> io::Result<Listing> {
    let mut out = Listing {
        runs: Vec::new(),
        damaged: Vec::new(),
        temporary: Vec::new(),
    };
    for item in fs::read_dir(dir)? {
        let path = item?.path();
        match path.extension().and_then(|e| e.to_str()) {
            Some("run") => match Run::open(&path, digest) {
                Ok(run) => out.runs.push(run),
                Err(why) => out.damaged.push((path, why)),
            },
            Some("tmp") => out.temporary.push(path),
            _ => {}
        }
    }
    Ok(out)
}

/// Runs with their digests.
type Runs = Vec<(Run, u128)>;

/// Splits runs into the chain the index uses (from entry 0, contiguous, longest first among
/// runs that start together, each one that `fits` the log) and the rest.
fn select(mut runs: Runs, fits: impl Fn(&Run) -> bool) -> (Runs, Runs) {
    runs.sort_by_key(|(r, _)| (r.from, std::cmp::Reverse(r.upto)));
    let (mut chain, mut rest) = (Vec::new(), Vec::new());
    let mut end = 0;
    for (run, sum) in runs {
        if run.from == end && run.upto > run.from && fits(&run) {
            end = run.upto;
            chain.push((run, sum));
        } else {
            rest.push((run, sum));
        }
    }
    (chain, rest)
}

/// The log's tree root at `size`, from the hashes the store holds.
fn tree_root(store: &dyn Store, size: u64) -> Result<[u8; 32], IndexError> {
    tlog_tiles::tree_hash(size, &crate::log::StoreReader(store))
        .map(|h| h.0)
        .map_err(|_| IndexError::Store(StoreError::Corrupt("tree hashes are missing")))
}

/// One row's share of a run's digest: the first 16 bytes of SHA-256 of the row, as a
/// big-endian number. A run's digest is the wrapping sum over its rows, so the log's side
/// can be summed in log order while the run is in holder order.
pub fn row_digest(holder: &Pseudonym, index: u64) -> u128 {
    digest_of(&row(holder, index))
}

fn digest_of(row: &Row) -> u128 {
    let h = Sha256::digest(row);
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    u128::from_be_bytes(b)
}

/// A run, as `proofless check` sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// File name.
    pub file: String,
    /// First entry index it covers.
    pub from: u64,
    /// Entry index after the last it covers.
    pub upto: u64,
    /// Rows.
    pub count: u64,
    /// [`row_digest`] summed over its rows.
    pub digest: u128,
    /// The log's tree root at `upto` when the run was written.
    pub root: [u8; 32],
}

/// What a run directory holds, read only (for `proofless check`; nothing is removed).
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// The runs the index would use, from entry 0, in order (not yet compared with the log).
    pub chain: Vec<RunSummary>,
    /// Run files that fail their own checks, and why.
    pub damaged: Vec<(String, String)>,
    /// Runs inside the chain's span (left by an interrupted merge) and temporary files (left
    /// by an interrupted write): expected after a crash, removed at the next start.
    pub leftovers: Vec<String>,
    /// Runs that do not continue the chain (a gap before them).
    pub stray: Vec<String>,
    /// Runs that reach past the log's end (the store is older than the index): removed at
    /// the next start.
    pub past_end: Vec<String>,
}

/// Inspects the run directory `dir` beside a log of `size` entries (see [`Inspection`]).
/// Roots are not compared here: see [`root_matches`].
pub fn inspect(dir: &Path, size: u64) -> io::Result<Inspection> {
    let listed = list(dir, true)?;
    let name = |p: &Path| {
        p.file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    };
    let (chain, rest) = select(listed.runs, |r| r.upto <= size);
    let chain: Vec<RunSummary> = chain
        .into_iter()
        .map(|(r, digest)| RunSummary {
            file: name(&r.path),
            from: r.from,
            upto: r.upto,
            count: r.count,
            digest,
            root: r.root,
        })
        .collect();
    let end = chain.last().map_or(0, |r| r.upto);
    let mut out = Inspection {
        chain,
        damaged: listed
            .damaged
            .iter()
            .map(|(p, why)| (name(p), why.clone()))
            .collect(),
        leftovers: listed.temporary.iter().map(|p| name(p)).collect(),
        stray: Vec::new(),
        past_end: Vec::new(),
    };
    for (run, _) in rest {
        if run.upto > size {
            out.past_end.push(name(&run.path));
        } else if run.upto <= end {
            out.leftovers.push(name(&run.path));
        } else {
            out.stray.push(name(&run.path));
        }
    }
    out.past_end.sort();
    out.damaged.sort();
    out.leftovers.sort();
    out.stray.sort();
    Ok(out)
}

/// Whether `run` was built from the log in `store`: its root is the log's tree root at its
/// end.
pub fn root_matches(store: &dyn Store, run: &RunSummary) -> bool {
    tree_root(store, run.upto).is_ok_and(|root| root == run.root)
}
