//! The Proofless log: sequencing, integration, checkpoints and reads.
//!
//! [`Log`] is the only way entries get into a store. Its write path has Tessera's
//! shape, with the stages fused so that nothing is acknowledged half-done:
//!
//! 1. a writer hands in an [`EncodedEntry`] (which only exists for canonical, valid
//!    bytes) and waits;
//! 2. the sequencer thread takes every entry that is waiting (up to
//!    [`LogConfig::max_batch`]) as one batch, assigns contiguous indices, computes the new
//!    Merkle nodes and the new root, and signs the checkpoint for the new size;
//! 3. it writes entries, nodes and checkpoint in **one durable store transaction**
//!    (one `fsync` per batch, never one per entry);
//! 4. only then does every writer in the batch get its index, together with the signed
//!    checkpoint that already covers it.
//!
//! So an index is returned only once it is durable and integrated; indices are
//! contiguous from 0 and never reissued (the store refuses a batch that does not start
//! at its size); and the index-to-checkpoint latency is the batch commit latency. While
//! one batch commits the next one fills, so batches grow with load.
//!
//! The read side ([`Log::entry`], [`Log::consistency`], [`Log::tile`]) serves from the
//! store against the latest checkpoint; it never blocks the sequencer.
//!
//! Invariants: the ledger never stores an entry the store could not give back
//! byte-for-byte, and the checkpoint it serves always verifies against the stored tree
//! (checked again at [`Log::open`]).

pub mod accesses;
pub mod catalog;
pub mod certs;
pub mod check;
pub mod clock;
pub mod consent;
mod log;
mod metrics;
pub mod nonces;
pub mod rules;
mod sequencer;
pub mod vault;
pub mod verify;
pub mod witness;

pub use log::{
    AppendError, Appended, EntryWithProof, Follower, Log, LogConfig, OpenError, PendingPut,
    Published, ReadError,
};
pub use metrics::LogMetrics;
pub use proofless_core::entry::EncodedEntry;
