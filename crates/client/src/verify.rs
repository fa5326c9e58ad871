//! Full verification of a log from its public read API.

use crate::fetch::{Fetch, FetchError};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::checkpoint::{CheckpointError, LedgerVerifier};
use proofless_core::entry::Entry;
use proofless_core::merkle::{self, Hash, MemoryTree};
use proofless_core::tiles::{self, TILE_WIDTH, TileId};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What a verifier remembers between runs: the last checkpoint it verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// The log's origin.
    pub origin: String,
    /// Tree size of the last verified checkpoint.
    pub size: u64,
    /// Its root hash, base64.
    pub root: String,
    /// The signed checkpoint itself, so that a split view can be proven to others.
    pub checkpoint: String,
}

/// The outcome of a successful verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// The new state to remember.
    pub state: LogState,
    /// Entries downloaded and checked.
    pub entries: u64,
    /// Hash tiles downloaded and checked.
    pub tiles: u64,
    /// Size of the previous state, if there was one.
    pub previous_size: Option<u64>,
}

/// Why a log failed verification. Each variant names where the fault is.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A resource could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The checkpoint is malformed, foreign or not validly signed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// An entry bundle is malformed or has the wrong number of entries.
    #[error("{path}: {reason}")]
    Bundle {
        /// The bundle's path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry is not a valid canonical entry.
    #[error("entry {index}: {reason}")]
    Entry {
        /// Its index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The tree recomputed from the entries does not have the checkpoint's root.
    #[error("the entries do not hash to the checkpoint root (size {size})")]
    RootMismatch {
        /// The checkpoint's size.
        size: u64,
    },
    /// A hash tile disagrees with the tree recomputed from the entries.
    #[error("{path}: tile does not match the entries")]
    TileMismatch {
        /// The tile's path.
        path: String,
    },
    /// The log is smaller than when last verified: a rollback.
    #[error("rollback: the log now has {now} entries, it had {before}")]
    Rollback {
        /// Size seen before.
        before: u64,
        /// Size now.
        now: u64,
    },
    /// The tree now has a different history at the previously verified size: a split
    /// view or a rewritten log.
    #[error("split view: the tree at size {size} is not the one verified before")]
    SplitView {
        /// The previously verified size.
        size: u64,
    },
    /// The server's own consistency proof does not verify.
    #[error("the server's consistency proof from {old} to {new} does not verify")]
    BadConsistencyProof {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The saved state is for another log.
    #[error("the saved state is for log {0}, not this one")]
    StateForOtherLog(String),
    /// The saved state is unreadable.
    #[error("the saved state is malformed: {0}")]
    BadState(&'static str),
}

#[derive(Deserialize)]
struct ConsistencyBody {
    proof: Vec<String>,
}

fn decode_hash(s: &str) -> Option<Hash> {
    let v = BASE64_STANDARD.decode(s).ok()?;
    Some(Hash(v.try_into().ok()?))
}

/// Verifies the whole log behind `fetch` with `verifier`, given the state saved by the
/// previous run. `progress` is called with (entries done, entries total).
pub fn verify_log(
    fetch: &dyn Fetch,
    verifier: &LedgerVerifier,
    previous: Option<&LogState>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<VerifyReport, VerifyError> {
    if let Some(p) = previous
        && p.origin != verifier.name()
    {
        return Err(VerifyError::StateForOtherLog(p.origin.clone()));
    }
    let note = fetch.get("checkpoint")?;
    let cp = verifier.verify_checkpoint(&note)?;
    let size = cp.size;

    // Entries: every bundle, full or partial, each entry canonical and of a known kind.
    let mut tree = MemoryTree::new();
    let bundles = size.div_ceil(TILE_WIDTH);
    for b in 0..bundles {
        let width = (size - b * TILE_WIDTH).min(TILE_WIDTH);
        let id = TileId::Entries {
            index: b,
            // INVARIANT: width ≤ TILE_WIDTH = 256 fits in u16.
            width: width as u16,
        };
        let path = id.path();
        let data = fetch.get(&path)?;
        let entries = tiles::split_bundle(&data).map_err(|e| VerifyError::Bundle {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if entries.len() as u64 != width {
            return Err(VerifyError::Bundle {
                path,
                reason: format!("holds {} entries, expected {width}", entries.len()),
            });
        }
        for e in entries {
            let index = tree.size();
            Entry::decode(e).map_err(|err| VerifyError::Entry {
                index,
                reason: err.to_string(),
            })?;
            tree.push(e);
        }
        progress(tree.size(), size);
    }
    if tree.root() != cp.root {
        return Err(VerifyError::RootMismatch { size });
    }

    // Hash tiles: every level, every tile, compared with the recomputed tree.
    let mut tile_count = 0;
    for id in tiles::hash_tiles(size) {
        let TileId::Hashes {
            level,
            index,
            width,
        } = id
        else {
            continue;
        };
        let path = id.path();
        let got = fetch.get(&path)?;
        let want = tree
            .tile(level, index, width)
            .map_err(|_| VerifyError::TileMismatch { path: path.clone() })?;
        if got != want {
            return Err(VerifyError::TileMismatch { path });
        }
        tile_count += 1;
    }

    // Consistency with what we saw last time: recomputed from the entries (which catches
    // a rewritten history outright), and the server's own proof checked as well.
    if let Some(p) = previous {
        let old_root = decode_hash(&p.root).ok_or(VerifyError::BadState("root"))?;
        if p.size > size {
            return Err(VerifyError::Rollback {
                before: p.size,
                now: size,
            });
        }
        let ours = tree
            .root_at(p.size)
            .map_err(|_| VerifyError::BadState("size"))?;
        if ours != old_root {
            return Err(VerifyError::SplitView { size: p.size });
        }
        if p.size > 0 && p.size < size {
            let body = fetch.get(&format!("v1/proofs/consistency?old={}&new={size}", p.size))?;
            let bad = || VerifyError::BadConsistencyProof {
                old: p.size,
                new: size,
            };
            let parsed: ConsistencyBody = serde_json::from_slice(&body).map_err(|_| bad())?;
            let proof: Vec<Hash> = parsed
                .proof
                .iter()
                .map(|h| decode_hash(h))
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            merkle::verify_consistency(&proof, p.size, old_root, size, cp.root)
                .map_err(|_| bad())?;
        }
    }

    Ok(VerifyReport {
        state: LogState {
            origin: verifier.name().to_owned(),
            size,
            root: BASE64_STANDARD.encode(cp.root.0),
            checkpoint: String::from_utf8_lossy(&cp.note).into_owned(),
        },
        entries: size,
        tiles: tile_count,
        previous_size: previous.map(|p| p.size),
    })
}
