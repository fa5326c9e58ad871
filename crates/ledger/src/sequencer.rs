//! The sequencer thread: group commit, integration and checkpoint signing in one step.

use crate::log::{AppendError, Appended, FollowerSlot, PendingPut, Published};
use crate::metrics::LogMetrics;
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::merkle::Hash;
use proofless_store::{Batch, Put, Store, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tlog_tiles::HashReader;
use tokio::sync::{mpsc, oneshot, watch};

/// Why a commit failed.
enum Failure {
    /// An insert-only side-table key exists.
    Duplicate,
    /// Anything else (store or integration failure).
    Other,
}

/// One writer waiting for its entries to be sequenced. A job's entries are committed in
/// one batch, at consecutive indices, or not at all, together with its side-table writes.
pub(crate) struct Job {
    pub(crate) entries: Vec<Vec<u8>>,
    pub(crate) puts: Vec<PendingPut>,
    /// Notes for the follower: `(k, note)` is about the job's `k`-th entry.
    pub(crate) notes: Vec<(usize, [u8; 32])>,
    /// The job has an `AccessRecorded` entry but no notes: the follower must not take
    /// this batch from the notes, and reads it from the log instead.
    pub(crate) unnoted_access: bool,
    /// Receives the index of the job's first entry and the covering checkpoint.
    pub(crate) reply: oneshot::Sender<Result<Appended, AppendError>>,
}

/// State owned by the sequencer thread.
pub(crate) struct Sequencer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) signer: LedgerSigner,
    pub(crate) size: u64,
    pub(crate) hash_count: u64,
    /// Hashes of the current frontier (the perfect subtrees that make up the tree), which
    /// are all that integrating the next entries reads; plus, during a batch, the new ones.
    pub(crate) cache: HashMap<u64, Hash>,
    pub(crate) max_batch: usize,
    /// How long a batch smaller than `linger_until` waits for more entries.
    pub(crate) linger: std::time::Duration,
    /// Batches of at least this many entries commit without waiting.
    pub(crate) linger_until: usize,
    /// How long a batch may wait for announced writers (see `Log::announce`).
    pub(crate) announced_linger: std::time::Duration,
    /// Writers that announced an append and have not queued it yet.
    pub(crate) announced: Arc<std::sync::atomic::AtomicUsize>,
    pub(crate) published: watch::Sender<Arc<Published>>,
    pub(crate) metrics: LogMetrics,
    pub(crate) follower: FollowerSlot,
}

/// Reads hashes from the batch cache, falling back to the store.
struct CachedReader<'a> {
    cache: &'a HashMap<u64, Hash>,
    store: &'a dyn Store,
}

impl HashReader for CachedReader<'_> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        let mut out = Vec::with_capacity(indexes.len());
        for &i in indexes {
            match self.cache.get(&i) {
                Some(h) => out.push(*h),
                None => {
                    let h = self
                        .store
                        .hashes(&[i])
                        .map_err(|_| tlog_tiles::Error::IndexesNotInTree)?;
                    out.push(Hash(h[0]));
                }
            }
        }
        Ok(out)
    }
}

impl Sequencer {
    /// Runs until every sender is gone.
    pub(crate) fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        self.load_frontier();
        while let Some(first) = rx.blocking_recv() {
            let mut count = first.entries.len();
            let mut jobs = Vec::with_capacity(self.max_batch.min(1024));
            jobs.push(first);
            let started = Instant::now();
            let deadline = started + self.linger;
            let announced_deadline = started + self.announced_linger;
            loop {
                while count < self.max_batch {
                    match rx.try_recv() {
                        Ok(j) => {
                            count += j.entries.len();
                            jobs.push(j);
                        }
                        Err(_) => break,
                    }
                }
                // A small batch waits a little for more writers: a commit costs two
                // `fsync`s and a page flush whatever its size, so under sustained load
                // fewer, larger commits are cheaper per entry. Never past the linger.
                let now = Instant::now();
                if count >= self.linger_until || count >= self.max_batch {
                    break;
                }
                // Writers that announced an append are deciding what to write now: their
                // entries are a few tens of microseconds of CPU away, so wait for them
                // (never past `announced_linger`) rather than commit without them.
                let coming = now < announced_deadline
                    && self.announced.load(std::sync::atomic::Ordering::Acquire) > 0;
                if now >= deadline && !coming {
                    break;
                }
                let until = if coming {
                    deadline.max(announced_deadline)
                } else {
                    deadline
                };
                std::thread::sleep((until - now).min(std::time::Duration::from_micros(50)));
            }
            self.commit(jobs);
        }
    }

    fn load_frontier(&mut self) {
        self.cache.clear();
        let idx = tlog_tiles::sub_tree_index(0, self.size, vec![]);
        if let Ok(hs) = self.store.hashes(&idx) {
            self.cache
                .extend(idx.into_iter().zip(hs.into_iter().map(Hash)));
        }
        // On failure the cache stays empty and reads fall through to the store.
    }

    fn commit(&mut self, jobs: Vec<Job>) {
        match self.try_commit(&jobs) {
            Ok(published) => self.succeed(jobs, &published),
            Err(Failure::Duplicate) if jobs.len() > 1 => {
                // One job's insert-only key exists (a race the services' own checks did not
                // catch): commit the jobs one by one so that only that job fails.
                self.recover();
                for job in jobs {
                    self.commit(vec![job]);
                }
            }
            Err(f) => {
                self.metrics.failed_batches.inc();
                self.recover();
                let err = match f {
                    Failure::Duplicate => AppendError::Duplicate,
                    Failure::Other => AppendError::Unavailable,
                };
                for job in jobs {
                    let _ = job.reply.send(Err(err.clone()));
                }
            }
        }
    }

    fn succeed(&mut self, jobs: Vec<Job>, published: &Arc<Published>) {
        let appended: u64 = jobs.iter().map(|j| j.entries.len() as u64).sum();
        let mut index = self.size;
        let follower = self
            .follower
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(f) = follower.filter(|_| !jobs.iter().any(|j| j.unnoted_access)) {
            let mut notes = Vec::new();
            let mut at = index;
            for job in &jobs {
                notes.extend(job.notes.iter().map(|(k, n)| (at + *k as u64, *n)));
                at += job.entries.len() as u64;
            }
            f.committed(index, published.size, &notes);
        }
        self.size = published.size;
        self.metrics.appended.inc_by(appended);
        self.metrics.batches.inc();
        self.metrics.batch_size.observe(appended as f64);
        self.metrics.tree_size.set(published.size as i64);
        self.published.send_replace(published.clone());
        for job in jobs {
            // A writer that gave up waiting is not an error: its entries are in.
            let _ = job.reply.send(Ok(Appended {
                index,
                checkpoint: published.clone(),
            }));
            index += job.entries.len() as u64;
        }
    }

    /// After a failed commit: the store's commit is atomic, so the batch is either wholly
    /// absent (the usual case) or, if the failure struck after the data reached the disk,
    /// wholly present. Reload what is durable; if the batch did land, publish its
    /// checkpoint so that the served view matches the store.
    fn recover(&mut self) {
        if let (Ok(size), Ok(hashes)) = (self.store.size(), self.store.hash_count()) {
            if size != self.size
                && let Ok(Some(note)) = self.store.checkpoint()
                && let Ok(cp) = self.signer.verifier().verify_checkpoint(&note)
            {
                self.metrics.tree_size.set(cp.size as i64);
                self.published.send_replace(Arc::new(Published {
                    size: cp.size,
                    root: cp.root,
                    note,
                }));
            }
            self.size = size;
            self.hash_count = hashes;
        }
        self.load_frontier();
    }

    fn try_commit(&mut self, jobs: &[Job]) -> Result<Arc<Published>, Failure> {
        let started = Instant::now();
        // Resolve the side-table writes that carry their entry's index.
        let mut puts = Vec::new();
        let mut index = self.size;
        let mut entries: Vec<&[u8]> = Vec::new();
        for job in jobs {
            for p in &job.puts {
                let mut put = p.put.clone();
                if let Some(k) = p.key_index_of {
                    put.key.extend_from_slice(&(index + k as u64).to_be_bytes());
                }
                if let Some(k) = p.index_of {
                    put.value
                        .extend_from_slice(&(index + k as u64).to_be_bytes());
                }
                puts.push(put);
            }
            entries.extend(job.entries.iter().map(Vec::as_slice));
            index += job.entries.len() as u64;
        }
        let published = self.integrate_and_store(&entries, &puts)?;
        self.metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(published)
    }

    fn integrate_and_store(
        &mut self,
        entries: &[&[u8]],
        puts: &[Put],
    ) -> Result<Arc<Published>, Failure> {
        let hashes_start = self.hash_count;
        let mut new_hashes: Vec<[u8; 32]> = Vec::with_capacity(entries.len() * 2);
        let mut n = self.size;
        for e in entries {
            let hs = {
                let reader = CachedReader {
                    cache: &self.cache,
                    store: self.store.as_ref(),
                };
                tlog_tiles::stored_hashes(n, e, &reader).map_err(|err| {
                    tracing::error!(error = %err, "integration could not read the frontier");
                    Failure::Other
                })?
            };
            for h in hs {
                self.cache.insert(hashes_start + new_hashes.len() as u64, h);
                new_hashes.push(h.0);
            }
            n += 1;
        }
        let root = {
            let reader = CachedReader {
                cache: &self.cache,
                store: self.store.as_ref(),
            };
            tlog_tiles::tree_hash(n, &reader).map_err(|err| {
                tracing::error!(error = %err, "could not compute the new root");
                Failure::Other
            })?
        };
        let note = self.signer.sign_checkpoint(n, root);
        self.store
            .append(Batch {
                start: self.size,
                entries,
                hashes_start,
                hashes: &new_hashes,
                checkpoint: &note,
                puts,
            })
            .map_err(|err| match err {
                StoreError::Duplicate(_) => Failure::Duplicate,
                err => {
                    tracing::error!(error = %err, "batch commit failed; every writer in it gets an error");
                    Failure::Other
                }
            })?;
        self.hash_count = hashes_start + new_hashes.len() as u64;
        // Keep only the new frontier: it is all the next batch reads.
        let frontier = tlog_tiles::sub_tree_index(0, n, vec![]);
        let keep: HashMap<u64, Hash> = frontier
            .into_iter()
            .filter_map(|i| self.cache.get(&i).map(|h| (i, *h)))
            .collect();
        self.cache = keep;
        Ok(Arc::new(Published {
            size: n,
            root,
            note,
        }))
    }
}
