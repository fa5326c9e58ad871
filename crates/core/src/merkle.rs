//! The log's Merkle tree: RFC 9162 §2.1 hashing, inclusion and consistency proofs.
//!
//! Hashing and proof algorithms come from `tlog_tiles` (a port of Go's `sumdb/tlog`): leaf
//! `SHA-256(0x00 ‖ entry)`, node `SHA-256(0x01 ‖ left ‖ right)`. Nodes are addressed by
//! *stored hash index* (`tlog_tiles::stored_hash_index(level, n)`), the numbering in which
//! every node of the tree is written exactly once, in append order; storage backends keep
//! hashes under that index.
//!
//! This module adds what a verifier of *untrusted* input needs around those algorithms:
//! bounds on proof length (a proof longer than 64 hashes cannot be valid for any `u64`
//! tree size, so it is refused before any work), and the RFC 9162 §2.1.4.2 rules for the
//! degenerate sizes that the transparency-dev test vectors exercise.

use thiserror::Error;
pub use tlog_tiles::{EMPTY_HASH, HASH_SIZE, Hash, HashReader};

/// Most hashes any inclusion or consistency proof of a `u64`-sized tree can hold.
pub const MAX_PROOF_LEN: usize = 64;

/// A proof failed.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The sizes or indices do not describe a provable statement (e.g. index ≥ size).
    #[error("the sizes or index do not admit a proof")]
    InvalidInput,
    /// The proof does not lead to the expected root.
    #[error("the proof does not verify")]
    Mismatch,
}

/// The RFC 9162 leaf hash of an entry.
pub fn leaf_hash(entry: &[u8]) -> Hash {
    tlog_tiles::record_hash(entry)
}

/// The RFC 9162 interior node hash.
pub fn node_hash(left: Hash, right: Hash) -> Hash {
    tlog_tiles::node_hash(left, right)
}

/// Checks that `proof` shows that the leaf with hash `leaf` is at `index` in the tree of
/// `size` leaves with root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    proof: &[Hash],
    size: u64,
    root: Hash,
    index: u64,
    leaf: Hash,
) -> Result<(), ProofError> {
    if index >= size || proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::InvalidInput);
    }
    tlog_tiles::check_record(&proof.to_vec(), size, root, index, leaf)
        .map_err(|_| ProofError::Mismatch)
}

/// Checks that `proof` shows that the tree of `old_size` leaves with root `old_root` is a
/// prefix of the tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2).
///
/// RFC 9162 §2.1.4.2 defines verification for `0 < old_size ≤ new_size`: equal sizes need
/// an empty proof and equal roots. A proof from the empty tree is meaningless and refused
/// (as transparency-dev/merkle does): a verifier that has seen nothing has nothing to be
/// consistent with.
pub fn verify_consistency(
    proof: &[Hash],
    old_size: u64,
    old_root: Hash,
    new_size: u64,
    new_root: Hash,
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size || proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::InvalidInput);
    }
    if old_size == new_size {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::Mismatch)
        };
    }
    tlog_tiles::check_tree(&proof.to_vec(), new_size, new_root, old_size, old_root)
        .map_err(|_| ProofError::Mismatch)
}

/// A whole tree held in memory, by stored hash index: what a verifier builds when it
/// recomputes a log from its entries, and what tests use as a reference.
#[derive(Debug, Default, Clone)]
pub struct MemoryTree {
    hashes: Vec<Hash>,
    size: u64,
}

impl MemoryTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf by its entry bytes.
    pub fn push(&mut self, entry: &[u8]) {
        self.push_hash(leaf_hash(entry));
    }

    /// Appends a leaf by its leaf hash.
    pub fn push_hash(&mut self, leaf: Hash) {
        // INVARIANT: every index `stored_hashes_for_record_hash` asks for belongs to an
        // earlier leaf, and `self.hashes` holds all of them, so reading cannot fail.
        #[allow(clippy::expect_used)]
        let new = tlog_tiles::stored_hashes_for_record_hash(self.size, leaf, self)
            .expect("memory tree holds every earlier hash");
        self.hashes.extend(new);
        self.size += 1;
    }

    /// Root hash of the first `size` leaves (`size` ≤ [`Self::size`]).
    pub fn root_at(&self, size: u64) -> Result<Hash, ProofError> {
        if size > self.size {
            return Err(ProofError::InvalidInput);
        }
        tlog_tiles::tree_hash(size, self).map_err(|_| ProofError::InvalidInput)
    }

    /// The data of the hash tile at `level`, `index`, `width` hashes (C2SP tlog-tiles,
    /// tile height 8), as a server of this tree serves it.
    pub fn tile(&self, level: u8, index: u64, width: u16) -> Result<Vec<u8>, ProofError> {
        tlog_tiles::Tile::new(
            crate::tiles::TILE_HEIGHT,
            level,
            index,
            u32::from(width),
            false,
        )
        .read_data(self)
        .map_err(|_| ProofError::InvalidInput)
    }

    /// Root hash of the whole tree.
    pub fn root(&self) -> Hash {
        // INVARIANT: `self.size` is always a valid size for `root_at`.
        #[allow(clippy::expect_used)]
        self.root_at(self.size).expect("own size is in range")
    }

    /// Inclusion proof of leaf `index` in the tree of the first `size` leaves.
    pub fn inclusion_proof(&self, size: u64, index: u64) -> Result<Vec<Hash>, ProofError> {
        if index >= size || size > self.size {
            return Err(ProofError::InvalidInput);
        }
        tlog_tiles::prove_record(size, index, self).map_err(|_| ProofError::InvalidInput)
    }

    /// Consistency proof between the first `old` and the first `new` leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
        consistency_proof(old, new, self.size, self)
    }

    /// All stored hashes, by stored hash index.
    pub fn stored_hashes(&self) -> &[Hash] {
        &self.hashes
    }
}

/// Consistency proof from size `old` to size `new` over any hash reader of a tree of at
/// least `new` leaves; `available` is that tree's size. There is no proof from the empty
/// tree (see [`verify_consistency`]).
pub fn consistency_proof<R: HashReader>(
    old: u64,
    new: u64,
    available: u64,
    reader: &R,
) -> Result<Vec<Hash>, ProofError> {
    if old == 0 || old > new || new > available {
        return Err(ProofError::InvalidInput);
    }
    if old == new {
        return Ok(Vec::new());
    }
    tlog_tiles::prove_tree(new, old, reader).map_err(|_| ProofError::InvalidInput)
}

impl HashReader for MemoryTree {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, tlog_tiles::Error> {
        indexes
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| self.hashes.get(i).copied())
                    .ok_or(tlog_tiles::Error::IndexesNotInTree)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// For any sequence of appends, every inclusion proof verifies against every
        /// later tree size, and any two tree sizes are consistent.
        #[test]
        fn every_proof_verifies(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..70)) {
            let mut tree = MemoryTree::new();
            for e in &entries {
                tree.push(e);
            }
            let n = tree.size();
            for size in 1..=n {
                let root = tree.root_at(size).unwrap();
                for index in 0..size {
                    let proof = tree.inclusion_proof(size, index).unwrap();
                    let leaf = leaf_hash(&entries[index as usize]);
                    prop_assert_eq!(verify_inclusion(&proof, size, root, index, leaf), Ok(()));
                }
                for old in 1..=size {
                    let proof = tree.consistency_proof(old, size).unwrap();
                    let old_root = tree.root_at(old).unwrap();
                    prop_assert_eq!(verify_consistency(&proof, old, old_root, size, root), Ok(()));
                }
            }
        }

        /// Flipping any bit of any proof hash makes the proof fail.
        #[test]
        fn tampered_proofs_fail(n in 2u64..60, seed in any::<u64>(), bit in 0usize..256) {
            let mut tree = MemoryTree::new();
            for i in 0..n {
                tree.push(&i.to_be_bytes());
            }
            let index = seed % n;
            let mut proof = tree.inclusion_proof(n, index).unwrap();
            prop_assume!(!proof.is_empty());
            let j = (seed as usize / 7) % proof.len();
            proof[j].0[bit / 8] ^= 1 << (bit % 8);
            let leaf = leaf_hash(&index.to_be_bytes());
            prop_assert_eq!(verify_inclusion(&proof, n, tree.root(), index, leaf), Err(ProofError::Mismatch));
        }
    }

    #[test]
    fn empty_tree_root_is_sha256_of_nothing() {
        assert_eq!(MemoryTree::new().root(), EMPTY_HASH);
    }

    #[test]
    fn overlong_proofs_are_refused_before_work() {
        let proof = vec![EMPTY_HASH; MAX_PROOF_LEN + 1];
        assert_eq!(
            verify_inclusion(&proof, 10, EMPTY_HASH, 1, EMPTY_HASH),
            Err(ProofError::InvalidInput)
        );
    }
}
