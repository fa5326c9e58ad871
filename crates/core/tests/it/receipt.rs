//! Receipts and tlog-proofs: signatures, origin, content type, and the text form.

use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::Decision;
use proofless_core::merkle::{MemoryTree, leaf_hash};
use proofless_core::receipt::{Receipt, ReceiptError, TlogProof};

fn signer(origin: &str) -> LedgerSigner {
    LedgerSigner::from_seed(origin, [4; 32]).unwrap()
}

fn receipt() -> Receipt {
    Receipt {
        origin: "ledger.test/log".into(),
        request_digest: [1; 32],
        answer_digest: [2; 32],
        index: 5,
        time: 1_798_761_600_000,
        decision: Decision::Allow,
    }
}

#[test]
fn a_signed_receipt_verifies_and_every_flipped_byte_fails() {
    let s = signer("ledger.test/log");
    let signed = receipt().sign(&s);
    assert_eq!(Receipt::verify(&signed, &s.verifier()).unwrap(), receipt());
    for i in 0..signed.len() {
        let mut bad = signed.clone();
        bad[i] ^= 0x20;
        assert!(
            Receipt::verify(&bad, &s.verifier()).is_err(),
            "byte {i} could change"
        );
    }
}

#[test]
fn another_key_or_origin_is_refused() {
    let s = signer("ledger.test/log");
    let other = LedgerSigner::from_seed("ledger.test/log", [5; 32]).unwrap();
    assert_eq!(
        Receipt::verify(&receipt().sign(&s), &other.verifier()),
        Err(ReceiptError::BadSignature)
    );
    // Signed by the right key but naming another log.
    let mut r = receipt();
    r.origin = "another.log/x".into();
    assert_eq!(
        Receipt::verify(&r.sign(&s), &s.verifier()),
        Err(ReceiptError::WrongOrigin)
    );
    // A checkpoint note is not a receipt.
    let note = s.sign_checkpoint(0, proofless_core::merkle::EMPTY_HASH);
    assert!(Receipt::verify(&note, &s.verifier()).is_err());
}

#[test]
fn tlog_proof_round_trips_and_proves_inclusion() {
    let s = signer("ledger.test/log");
    let mut tree = MemoryTree::new();
    let entries: Vec<Vec<u8>> = (0..13u8).map(|i| vec![i; 40]).collect();
    for e in &entries {
        tree.push(e);
    }
    let note = s.sign_checkpoint(tree.size(), tree.root());
    for index in [0u64, 6, 12] {
        let proof = TlogProof {
            extra: None,
            index,
            proof: tree.inclusion_proof(13, index).unwrap(),
            checkpoint: note.clone(),
        };
        let text = proof.to_text();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex "));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, proof);
        let cp = parsed
            .verify(&s.verifier(), &entries[index as usize])
            .unwrap();
        assert_eq!(cp.size, 13);
        // Another entry at that index is not included.
        assert_eq!(
            parsed.verify(&s.verifier(), b"something else"),
            Err(ReceiptError::NotIncluded)
        );
    }
    // With extra data.
    let with_extra = TlogProof {
        extra: Some(b"app".to_vec()),
        index: 1,
        proof: tree.inclusion_proof(13, 1).unwrap(),
        checkpoint: note.clone(),
    };
    assert_eq!(TlogProof::parse(&with_extra.to_text()).unwrap(), with_extra);
}

#[test]
fn malformed_tlog_proofs_are_typed_errors() {
    let s = signer("ledger.test/log");
    let note = String::from_utf8(s.sign_checkpoint(0, proofless_core::merkle::EMPTY_HASH)).unwrap();
    for (what, text) in [
        (
            "wrong header",
            format!("c2sp.org/tlog-proof@v2\nindex 0\n\n{note}"),
        ),
        (
            "no blank line",
            "c2sp.org/tlog-proof@v1\nindex 0\n".to_owned(),
        ),
        ("index missing", format!("c2sp.org/tlog-proof@v1\n\n{note}")),
        (
            "leading zero",
            format!("c2sp.org/tlog-proof@v1\nindex 01\n\n{note}"),
        ),
        (
            "negative",
            format!("c2sp.org/tlog-proof@v1\nindex -1\n\n{note}"),
        ),
        (
            "short hash",
            format!("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\n{note}"),
        ),
        (
            "extra not base64",
            format!("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\n{note}"),
        ),
    ] {
        assert!(
            matches!(
                TlogProof::parse(&text),
                Err(ReceiptError::MalformedProof(_))
            ),
            "{what}"
        );
    }
    // A forged checkpoint.
    let other = LedgerSigner::from_seed("ledger.test/log", [9; 32]).unwrap();
    let forged = TlogProof {
        extra: None,
        index: 0,
        proof: vec![],
        checkpoint: other.sign_checkpoint(1, leaf_hash(b"x")),
    };
    assert_eq!(
        forged.verify(&s.verifier(), b"x"),
        Err(ReceiptError::Checkpoint)
    );
}
