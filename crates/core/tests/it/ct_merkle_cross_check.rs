//! Cross-check of `proofless_core::merkle` against `ct-merkle` 0.3, an independent
//! RFC 6962 / 9162 implementation (DESIGN.md §9).
//!
//! ct-merkle hashes a leaf as `SHA-256(0x00 ‖ bytes)` where `bytes` is what the item's
//! `HashableLeaf` impl feeds the hasher; for `Vec<u8>` (any `AsRef<[u8]>`) that is the raw
//! bytes, so its leaves are our entries' leaf hashes. ct-merkle 0.3 is generic over
//! `digest` 0.11, hence `sha2` 0.11 (this crate's own `sha2`).

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof, RootHash};
use proofless_core::merkle::{Hash, MemoryTree, verify_consistency, verify_inclusion};
use sha2::Sha256;

const MAX_SIZE: u64 = 70;

type CtTree = MemoryBackedTree<Sha256, Vec<u8>>;

/// Leaf `i`: varied lengths, including the empty entry.
fn leaf(i: u64) -> Vec<u8> {
    (0..i % 37).map(|j| (i * 31 + j) as u8).collect()
}

fn hashes(proof_bytes: &[u8]) -> Vec<Hash> {
    assert_eq!(proof_bytes.len() % 32, 0);
    proof_bytes
        .chunks_exact(32)
        .map(|c| Hash(c.try_into().unwrap()))
        .collect()
}

fn concat(proof: &[Hash]) -> Vec<u8> {
    proof.iter().flat_map(|h| h.0).collect()
}

fn ct_root(hash: Hash, size: u64) -> RootHash<Sha256> {
    RootHash::new(hash.0.into(), size)
}

/// Both trees grown leaf by leaf; at every size, roots agree and every proof made by one
/// side verifies with the other side's verifier.
#[test]
fn roots_and_proofs_agree_for_sizes_1_to_70() {
    let mut ours = MemoryTree::new();
    let mut theirs = CtTree::new();
    let mut roots = vec![ours.root()];
    let (mut inclusion_checked, mut consistency_checked) = (0, 0);
    for i in 0..MAX_SIZE {
        ours.push(&leaf(i));
        theirs.push(leaf(i));
        let size = i + 1;
        let root = ours.root();
        let ct = theirs.root();
        assert_eq!(ct.num_leaves(), size);
        assert_eq!(ct.as_bytes().as_slice(), root.0, "root of size {size}");
        assert_eq!(ours.root_at(size).unwrap(), root);
        roots.push(root);

        for index in 0..size {
            let leaf_hash = proofless_core::merkle::leaf_hash(&leaf(index));
            // Their proof, our verifier.
            let ct_proof = theirs.prove_inclusion(index as usize);
            let from_ct = hashes(ct_proof.as_bytes());
            assert_eq!(
                verify_inclusion(&from_ct, size, root, index, leaf_hash),
                Ok(()),
                "ct-merkle inclusion proof of {index} in {size}"
            );
            // Our proof: same bytes, and their verifier accepts it.
            let own = ours.inclusion_proof(size, index).unwrap();
            assert_eq!(own, from_ct, "inclusion proof of {index} in {size}");
            let own_ct = InclusionProof::<Sha256>::try_from_bytes(concat(&own)).unwrap();
            assert!(ct.verify_inclusion(&leaf(index), index, &own_ct).is_ok());
            // A proof for the wrong index must fail with ours.
            if size > 1 {
                let other = (index + 1) % size;
                assert!(verify_inclusion(&from_ct, size, root, other, leaf_hash).is_err());
            }
            inclusion_checked += 1;
        }

        // ct-merkle proves that the whole tree extends its prefix of `size - additions`
        // leaves; it refuses an empty prefix, which needs no proof anyway.
        for old in 1..size {
            let old_root = roots[old as usize];
            let ct_proof = theirs.prove_consistency((size - old) as usize);
            let from_ct = hashes(ct_proof.as_bytes());
            assert_eq!(
                verify_consistency(&from_ct, old, old_root, size, root),
                Ok(()),
                "ct-merkle consistency proof {old} -> {size}"
            );
            let own = ours.consistency_proof(old, size).unwrap();
            assert_eq!(own, from_ct, "consistency proof {old} -> {size}");
            let own_ct = ConsistencyProof::<Sha256>::try_from_bytes(concat(&own)).unwrap();
            assert!(
                ct.verify_consistency(&ct_root(old_root, old), &own_ct)
                    .is_ok()
            );
            // The same proof against the wrong old root must fail with ours.
            let wrong = roots[(old - 1) as usize];
            assert!(verify_consistency(&from_ct, old, wrong, size, root).is_err());
            consistency_checked += 1;
        }
    }
    assert_eq!(inclusion_checked, MAX_SIZE * (MAX_SIZE + 1) / 2);
    assert_eq!(consistency_checked, MAX_SIZE * (MAX_SIZE - 1) / 2);
}
