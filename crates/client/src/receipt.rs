//! Offline verification of a verification answer and its receipt, with only the
//! ledger's verifier key and the trust anchor.
//!
//! What is checked, in order: the receipt's COSE_Sign1 under the ledger key; that it
//! covers the exact bytes of the `answer` member (and, when given, of the request body
//! the department sent); that the answer's `AccessRecorded` entry is the one the receipt
//! names (index, decision, time, request digest); the tlog-proof (checkpoint signature and
//! inclusion of that entry) when present; and every disclosed item against its issuer's
//! signature, the issuer's certificate against the trust anchor.
//!
//! The tlog-proof's checkpoint may carry witness cosignature lines (C2SP
//! `tlog-cosignature`) after the ledger's signature; they are ignored unless a
//! [`WitnessPolicy`] is given to [`verify_receipt_witnessed`], which then requires a
//! tlog-proof whose checkpoint at least k of the policy's witnesses cosigned.

use crate::certificate::{CertificateCheckError, CertificateFile, verify_certificate};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::checkpoint::LedgerVerifier;
use proofless_core::cosign::{PolicyError, WitnessPolicy};
use proofless_core::entry::{Decision, Entry};
use proofless_core::pki::TrustAnchor;
use proofless_core::receipt::{Receipt, ReceiptError, TlogProof};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Why an answer or its receipt failed verification.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReceiptCheckError {
    /// The response is not JSON with `answer` and `receipt`.
    #[error("the response is not a verification answer with a receipt: {0}")]
    Shape(String),
    /// The receipt's signature, payload or origin is wrong.
    #[error("receipt: {0}")]
    Receipt(ReceiptError),
    /// The receipt does not cover these answer bytes.
    #[error("the receipt does not cover this answer (answer digest differs)")]
    AnswerDigest,
    /// The receipt does not cover this request body.
    #[error("the receipt does not cover this request (request digest differs)")]
    RequestDigest,
    /// The answer's access entry is not the one the receipt names.
    #[error("the access entry disagrees with the receipt ({0})")]
    Entry(&'static str),
    /// The tlog-proof is malformed or does not prove the entry.
    #[error("tlog-proof: {0}")]
    Proof(ReceiptError),
    /// A witness policy was given but there is no tlog-proof to check it on.
    #[error("a witness policy needs a tlog-proof")]
    NoProofForWitnesses,
    /// The tlog-proof's checkpoint is not cosigned as the witness policy requires.
    #[error("witnesses: {0}")]
    Witnesses(PolicyError),
    /// A disclosed certificate failed verification.
    #[error("disclosed certificate {index}: {error}")]
    Disclosed {
        /// Position in `results`.
        index: usize,
        /// What failed.
        error: CertificateCheckError,
    },
}

/// The response: `answer` and `receipt`, plus the RFC 9457 members of a denial. Unknown
/// members are refused, so that no byte of a verified response can change unnoticed
/// (renaming `tlog_proof` would otherwise silently drop the proof).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    #[serde(borrow)]
    answer: &'a RawValue,
    receipt: ReceiptJson,
    #[serde(default, rename = "type")]
    _type: Option<String>,
    #[serde(default, rename = "title")]
    _title: Option<String>,
    #[serde(default, rename = "status")]
    _status: Option<u16>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default, rename = "detail")]
    _detail: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptJson {
    cose: String,
    #[serde(default)]
    tlog_proof: Option<String>,
}

#[derive(Deserialize)]
struct AnswerJson {
    decision: String,
    reason: String,
    access_index: u64,
    access_entry: String,
    time: u64,
    #[serde(default)]
    results: Vec<ResultJson>,
}

#[derive(Deserialize)]
struct ResultJson {
    #[serde(default)]
    certificate_id: Option<String>,
    #[serde(default)]
    type_code: String,
    #[serde(default)]
    disclosed: Option<CertificateFile>,
}

/// A verified answer.
#[derive(Debug, Clone)]
pub struct VerifiedReceipt {
    /// The signed receipt.
    pub receipt: Receipt,
    /// Tree size of the checkpoint that proved the entry, if a tlog-proof was present.
    pub proven_at: Option<u64>,
    /// Disclosed items verified, in all.
    pub items: usize,
    /// Witnesses whose cosignatures on the proof's checkpoint verified under the policy
    /// given to [`verify_receipt_witnessed`] (empty without one).
    pub witnesses: Vec<String>,
}

/// Verifies `response` (the body of a `POST /v1/verifications` answer, allow or deny)
/// with `ledger`'s key and `anchor`. With `request`, also checks that the receipt covers
/// that request body. `tlog_proof` replaces the one in the response (a redeemed promise).
pub fn verify_receipt(
    response: &[u8],
    request: Option<&[u8]>,
    tlog_proof: Option<&str>,
    ledger: &LedgerVerifier,
    anchor: &TrustAnchor,
) -> Result<VerifiedReceipt, ReceiptCheckError> {
    verify_receipt_witnessed(response, request, tlog_proof, ledger, anchor, None)
}

/// [`verify_receipt`], and with `witnesses`, also that the tlog-proof's checkpoint is
/// cosigned by at least k of the policy's witnesses (each cosignature checked with
/// `verify_strict` over that checkpoint).
pub fn verify_receipt_witnessed(
    response: &[u8],
    request: Option<&[u8]>,
    tlog_proof: Option<&str>,
    ledger: &LedgerVerifier,
    anchor: &TrustAnchor,
    witnesses: Option<&WitnessPolicy>,
) -> Result<VerifiedReceipt, ReceiptCheckError> {
    let env: Envelope<'_> =
        serde_json::from_slice(response).map_err(|e| ReceiptCheckError::Shape(e.to_string()))?;
    let cose = BASE64_STANDARD
        .decode(&env.receipt.cose)
        .map_err(|_| ReceiptCheckError::Shape("receipt.cose is not base64".into()))?;
    let receipt = Receipt::verify(&cose, ledger).map_err(ReceiptCheckError::Receipt)?;
    let answer_bytes = env.answer.get().as_bytes();
    if <[u8; 32]>::from(Sha256::digest(answer_bytes)) != receipt.answer_digest {
        return Err(ReceiptCheckError::AnswerDigest);
    }
    if let Some(body) = request
        && <[u8; 32]>::from(Sha256::digest(body)) != receipt.request_digest
    {
        return Err(ReceiptCheckError::RequestDigest);
    }
    let answer: AnswerJson = serde_json::from_str(env.answer.get())
        .map_err(|e| ReceiptCheckError::Shape(e.to_string()))?;
    let entry = BASE64_STANDARD
        .decode(&answer.access_entry)
        .map_err(|_| ReceiptCheckError::Shape("access_entry is not base64".into()))?;
    let Ok(Entry::AccessRecorded(access)) = Entry::decode(&entry) else {
        return Err(ReceiptCheckError::Entry("not an AccessRecorded entry"));
    };
    let decision = match answer.decision.as_str() {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        _ => return Err(ReceiptCheckError::Entry("unknown decision")),
    };
    // A denial's problem `code` is outside the signed answer: it must repeat the signed
    // `reason`, or a changed code would go unnoticed.
    if env.code.as_ref().is_some_and(|c| *c != answer.reason) {
        return Err(ReceiptCheckError::Entry(
            "problem code differs from the signed reason",
        ));
    }
    if answer.access_index != receipt.index {
        return Err(ReceiptCheckError::Entry("index"));
    }
    if access.decision != receipt.decision || decision != receipt.decision {
        return Err(ReceiptCheckError::Entry("decision"));
    }
    if access.time != receipt.time || answer.time != receipt.time {
        return Err(ReceiptCheckError::Entry("time"));
    }
    if access.reason != answer.reason {
        return Err(ReceiptCheckError::Entry("reason"));
    }
    if access.request_digest != receipt.request_digest {
        return Err(ReceiptCheckError::Entry("request digest"));
    }
    let proof_text = tlog_proof.map(str::to_owned).or(env.receipt.tlog_proof);
    let mut cosigned_by = Vec::new();
    let proven_at = match proof_text {
        Some(text) => {
            let proof = TlogProof::parse(&text).map_err(ReceiptCheckError::Proof)?;
            if proof.index != receipt.index {
                return Err(ReceiptCheckError::Proof(ReceiptError::NotIncluded));
            }
            let size = proof
                .verify(ledger, &entry)
                .map_err(ReceiptCheckError::Proof)?
                .size;
            if let Some(policy) = witnesses {
                cosigned_by = policy
                    .check(&proof.checkpoint)
                    .map_err(ReceiptCheckError::Witnesses)?
                    .into_iter()
                    .map(|c| c.witness)
                    .collect();
            }
            Some(size)
        }
        None if witnesses.is_some() => return Err(ReceiptCheckError::NoProofForWitnesses),
        None => None,
    };
    let mut items = 0;
    for (index, r) in answer.results.iter().enumerate() {
        let Some(file) = &r.disclosed else { continue };
        let v = verify_certificate(file, anchor, None)
            .map_err(|error| ReceiptCheckError::Disclosed { index, error })?;
        if Some(&v.object.certificate_id) != r.certificate_id.as_ref()
            || v.object.type_code != r.type_code
            || !access.certificates.contains(&v.object.certificate_id)
        {
            return Err(ReceiptCheckError::Disclosed {
                index,
                error: CertificateCheckError::Identifier,
            });
        }
        items += v.items.len();
    }
    Ok(VerifiedReceipt {
        receipt,
        proven_at,
        items,
        witnesses: cosigned_by,
    })
}
