//! Verification receipts and C2SP tlog-proofs (DESIGN.md §5).
//!
//! Every answer to `POST /v1/verifications` carries a [`Receipt`]: the ledger's
//! COSE_Sign1 (EdDSA, the checkpoint key) over the digest of the department's request
//! body, the digest of the answer, the index of the `AccessRecorded` entry that recorded
//! the decision, and the time. With a [`TlogProof`] (C2SP `tlog-proof@v1`: the entry's
//! index, its inclusion proof and the signed checkpoint) a department shows years later,
//! to anyone holding only the ledger's public key, what it asked, what it was told, and
//! that the decision is in the log.
//!
//! Invariants:
//! * **Whoever states something signs it.** A receipt is signed by the ledger key; its
//!   protected header names [`CONTENT_TYPE`], so a receipt cannot be confused with any
//!   other COSE object, and the payload names the log's origin.
//! * **Verifiable offline by a stranger.** [`Receipt::verify`] and [`TlogProof::verify`]
//!   need only the ledger's verifier key and the bytes; nothing here does I/O.

use crate::cbor::{self, MapBuilder, MapReader};
use crate::cert;
use crate::checkpoint::{LedgerSigner, LedgerVerifier, SignedCheckpoint};
use crate::entry::{Decision, Millis};
use crate::merkle::{self, Hash, MAX_PROOF_LEN};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use coset::{CborSerializable, CoseSign1Builder, HeaderBuilder, iana};
use thiserror::Error;

/// The COSE content type of a receipt payload.
pub const CONTENT_TYPE: &str = "application/vnd.proofless.receipt+cbor";

/// The first line of a C2SP tlog-proof.
pub const TLOG_PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";

/// Why a receipt or a tlog-proof was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReceiptError {
    /// The COSE_Sign1 or its payload is malformed.
    #[error("malformed receipt: {0}")]
    Malformed(&'static str),
    /// The signature does not verify under the ledger key.
    #[error("the receipt signature does not verify under the ledger key")]
    BadSignature,
    /// The receipt names another log.
    #[error("the receipt is for another log")]
    WrongOrigin,
    /// The tlog-proof text is malformed.
    #[error("malformed tlog-proof: {0}")]
    MalformedProof(&'static str),
    /// The checkpoint in the proof is not the ledger's, or its signature fails.
    #[error("the checkpoint in the proof does not verify")]
    Checkpoint,
    /// The inclusion proof does not lead to the checkpoint's root.
    #[error("the entry is not included at that index under the checkpoint")]
    NotIncluded,
}

/// What the ledger signs about one verification decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The log's origin.
    pub origin: String,
    /// SHA-256 of the department's request body, exactly as sent (its RFC 9530 digest).
    pub request_digest: [u8; 32],
    /// SHA-256 of the answer, exactly as sent (the `answer` member's bytes).
    pub answer_digest: [u8; 32],
    /// Index of the `AccessRecorded` entry.
    pub index: u64,
    /// When the decision was made (the entry's time).
    pub time: Millis,
    /// The decision.
    pub decision: Decision,
}

impl Receipt {
    /// The canonical CBOR payload.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .insert(1, cbor::text(&self.origin))
                .insert(2, cbor::bytes(&self.request_digest))
                .insert(3, cbor::bytes(&self.answer_digest))
                .insert(4, cbor::uint(self.index))
                .insert(5, cbor::uint(self.time))
                .insert(
                    6,
                    cbor::uint(match self.decision {
                        Decision::Deny => 0,
                        Decision::Allow => 1,
                    }),
                )
                .build(),
        )
    }

    /// Decodes a canonical payload.
    pub fn decode(bytes: &[u8]) -> Result<Self, ReceiptError> {
        let bad = |_| ReceiptError::Malformed("payload");
        let v =
            cbor::decode_canonical(bytes, 4096).map_err(|_| ReceiptError::Malformed("payload"))?;
        let mut m = MapReader::new(v).map_err(bad)?;
        let r = Self {
            origin: m.text(1, 256).map_err(bad)?,
            request_digest: m.digest(2).map_err(bad)?,
            answer_digest: m.digest(3).map_err(bad)?,
            index: m.uint(4).map_err(bad)?,
            time: m.uint(5).map_err(bad)?,
            decision: match m.uint(6).map_err(bad)? {
                0 => Decision::Deny,
                1 => Decision::Allow,
                _ => return Err(ReceiptError::Malformed("decision")),
            },
        };
        m.finish().map_err(bad)?;
        Ok(r)
    }

    /// Signs the receipt with the ledger key: a COSE_Sign1 with alg EdDSA and content
    /// type [`CONTENT_TYPE`] in the protected header, the payload embedded.
    pub fn sign(&self, signer: &LedgerSigner) -> Vec<u8> {
        let protected = HeaderBuilder::new()
            .algorithm(iana::Algorithm::EdDSA)
            .content_type(CONTENT_TYPE.to_owned())
            .build();
        let sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(self.encode())
            .create_signature(b"", |data| signer.sign_raw(data).to_bytes().to_vec())
            .build();
        // INVARIANT: a COSE_Sign1 of byte strings and known header labels serialises.
        #[allow(clippy::expect_used)]
        sign1.to_vec().expect("COSE_Sign1 serialises")
    }

    /// Verifies a signed receipt with the ledger's verifier (strict Ed25519) and
    /// returns its payload.
    pub fn verify(signed: &[u8], ledger: &LedgerVerifier) -> Result<Self, ReceiptError> {
        let (sign1, payload) =
            cert::parse_sign1(signed).map_err(|_| ReceiptError::Malformed("COSE_Sign1"))?;
        let content_type_ok = matches!(
            &sign1.protected.header.content_type,
            Some(coset::RegisteredLabel::Text(t)) if t == CONTENT_TYPE
        );
        if !content_type_ok {
            return Err(ReceiptError::Malformed("content type is not a receipt"));
        }
        cert::verify_sign1(&sign1, ledger.verifying_key())
            .map_err(|_| ReceiptError::BadSignature)?;
        let r = Self::decode(&payload)?;
        if r.origin != ledger.name() {
            return Err(ReceiptError::WrongOrigin);
        }
        Ok(r)
    }
}

/// A C2SP tlog-proof: an entry's index, its inclusion proof and the checkpoint (with any
/// cosignatures) it is proven against.
#[derive(Debug, Clone, PartialEq)]
pub struct TlogProof {
    /// Application data; Proofless sends none.
    pub extra: Option<Vec<u8>>,
    /// The entry's index.
    pub index: u64,
    /// The inclusion proof, leaf to root.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

impl TlogProof {
    /// The text form (`c2sp.org/tlog-proof@v1`).
    pub fn to_text(&self) -> String {
        let mut out = format!("{TLOG_PROOF_HEADER}\n");
        if let Some(extra) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(extra)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&STANDARD.encode(h.0));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&String::from_utf8_lossy(&self.checkpoint));
        out
    }

    /// Parses the text form.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        let bad = ReceiptError::MalformedProof;
        if text.len() > 64 * 1024 {
            return Err(bad("too long"));
        }
        let (head, checkpoint) = text.split_once("\n\n").ok_or(bad("no blank line"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(TLOG_PROOF_HEADER) {
            return Err(bad("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut line = lines.next().ok_or(bad("no index line"))?;
        let mut extra = None;
        if let Some(e) = line.strip_prefix("extra ") {
            extra = Some(STANDARD.decode(e).map_err(|_| bad("extra is not base64"))?);
            line = lines.next().ok_or(bad("no index line"))?;
        }
        let index = line
            .strip_prefix("index ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse().ok())
            .ok_or(bad("index line"))?;
        let mut proof = Vec::new();
        for l in lines {
            let h: [u8; 32] = STANDARD
                .decode(l)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(bad("a proof line is not a base64 SHA-256 hash"))?;
            proof.push(Hash(h));
            if proof.len() > MAX_PROOF_LEN {
                return Err(bad("proof too long"));
            }
        }
        Ok(Self {
            extra,
            index,
            proof,
            checkpoint: checkpoint.as_bytes().to_vec(),
        })
    }

    /// Checks the checkpoint's signature by the ledger and that `entry` is the leaf at
    /// [`TlogProof::index`] under it. Returns the checkpoint.
    pub fn verify(
        &self,
        ledger: &LedgerVerifier,
        entry: &[u8],
    ) -> Result<SignedCheckpoint, ReceiptError> {
        let cp = ledger
            .verify_checkpoint(&self.checkpoint)
            .map_err(|_| ReceiptError::Checkpoint)?;
        merkle::verify_inclusion(
            &self.proof,
            cp.size,
            cp.root,
            self.index,
            merkle::leaf_hash(entry),
        )
        .map_err(|_| ReceiptError::NotIncluded)?;
        Ok(cp)
    }
}
