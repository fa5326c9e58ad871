//! The issuer's side: building and signing a certificate for submission.
//!
//! An issuing authority holds its Ed25519 key and its certificate chain. For each
//! certificate it draws a fresh random salt per field and for the holder, signs the
//! security object (digests only), and submits the signature with every item.

use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::SigningKey;
use proofless_core::cert::{
    FieldValue, Item, SecurityObject, SignedSecurityObject, Status, StatusStatement, holder_item,
    item_digest,
};
use proofless_core::ids::{CertificateId, HolderCode};
use serde::Serialize;
use std::collections::BTreeMap;

/// Salt length used for every item: the 16 bytes (128 bits) that ISO 18013-5 asks for at
/// least, which puts the digests beyond guessing while keeping the stored payload small.
pub const SALT_LEN: usize = 16;

/// An issuer: its key and its certificate chain (DER, leaf first).
#[derive(Clone)]
pub struct Issuer {
    key: SigningKey,
    chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer").finish_non_exhaustive()
    }
}

/// A certificate to issue.
#[derive(Debug, Clone)]
pub struct Draft {
    /// The identifier (its type code and issuer are taken from it).
    pub id: CertificateId,
    /// The holder.
    pub holder: HolderCode,
    /// First day of validity, `YYYY-MM-DD`.
    pub valid_from: String,
    /// Last day of validity, if any.
    pub valid_until: Option<String>,
    /// Field values by name.
    pub values: BTreeMap<String, FieldValue>,
}

/// The JSON body of `POST /v1/certificates`.
#[derive(Debug, Clone, Serialize)]
pub struct IssueBody {
    /// COSE_Sign1, base64.
    pub security_object: String,
    /// Items, base64.
    pub items: Vec<String>,
}

/// The JSON body of `POST /v1/certificates/{id}/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusBody {
    /// COSE_Sign1 over the statement, base64.
    pub statement: String,
}

impl Issuer {
    /// An issuer from its key and chain.
    pub fn new(key: SigningKey, chain: Vec<Vec<u8>>) -> Self {
        Self { key, chain }
    }

    /// Signs `draft` at `signed_ms` with salts from `salt`, and returns the COSE_Sign1 and
    /// the encoded items (the holder item first).
    pub fn sign(
        &self,
        draft: &Draft,
        signed_ms: u64,
        salt: &mut dyn FnMut() -> [u8; SALT_LEN],
    ) -> (Vec<u8>, Vec<Vec<u8>>) {
        let holder = holder_item(
            salt().to_vec(),
            draft.holder.code_type(),
            draft.holder.as_str(),
        );
        let items: Vec<Item> = draft
            .values
            .iter()
            .map(|(name, value)| Item {
                salt: salt().to_vec(),
                name: name.clone(),
                value: value.clone(),
            })
            .collect();
        let so = SecurityObject {
            type_code: draft.id.type_code().as_str().to_owned(),
            certificate_id: draft.id.as_str().to_owned(),
            issuer: draft.id.issuer().as_str().to_owned(),
            holder: item_digest(&holder),
            valid_from: draft.valid_from.clone(),
            valid_until: draft.valid_until.clone(),
            digests: items
                .iter()
                .map(|i| (i.name.clone(), item_digest(i)))
                .collect(),
            signed: signed_ms,
        };
        let cose = SignedSecurityObject::sign(&so, &self.key, &self.chain);
        let encoded = std::iter::once(&holder)
            .chain(&items)
            .map(Item::encode)
            .collect();
        (cose, encoded)
    }

    /// The JSON body for `POST /v1/certificates`.
    pub fn issue_body(
        &self,
        draft: &Draft,
        signed_ms: u64,
        salt: &mut dyn FnMut() -> [u8; SALT_LEN],
    ) -> IssueBody {
        let (cose, items) = self.sign(draft, signed_ms, salt);
        IssueBody {
            security_object: BASE64_STANDARD.encode(cose),
            items: items.iter().map(|i| BASE64_STANDARD.encode(i)).collect(),
        }
    }

    /// A signed status statement: `id` moves to `status`, following the entry at index
    /// `previous` (the certificate's `latest_index`).
    pub fn status_body(
        &self,
        id: &CertificateId,
        status: Status,
        successor: Option<&CertificateId>,
        previous: u64,
        signed_ms: u64,
    ) -> StatusBody {
        let st = StatusStatement {
            certificate_id: id.as_str().to_owned(),
            status,
            successor: successor.map(|s| s.as_str().to_owned()),
            previous,
            signed: signed_ms,
        };
        StatusBody {
            statement: BASE64_STANDARD.encode(st.sign(&self.key, &self.chain)),
        }
    }
}

/// Fresh random salts from the operating system.
pub fn os_salt() -> [u8; SALT_LEN] {
    let mut s = [0u8; SALT_LEN];
    // INVARIANT: getrandom fails only where the OS has no random source at all; such a
    // machine must not issue certificates, so stopping is right.
    #[allow(clippy::expect_used)]
    getrandom::fill(&mut s).expect("the operating system's random source works");
    s
}
