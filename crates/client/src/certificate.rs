//! Offline verification of a certificate and its disclosed items, with only the trust
//! anchor: the issuer's chain, the issuer's signature, and every item against its signed
//! digest. No server is asked anything.

use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::cert::{CertError, HOLDER_ITEM, Item, SecurityObject, SignedSecurityObject};
use proofless_core::ids::CertificateId;
use proofless_core::keys::Role;
use proofless_core::pki::{self, PkiError, TrustAnchor};
use serde::Deserialize;
use thiserror::Error;

/// A certificate as exchanged: the issuer's COSE_Sign1 (with `x5chain`) and disclosed
/// items, base64 — the body of `POST /v1/certificates`, or a disclosure.
#[derive(Debug, Clone, Deserialize)]
pub struct CertificateFile {
    /// COSE_Sign1, base64.
    pub security_object: String,
    /// Disclosed items, base64.
    pub items: Vec<String>,
    /// The issuer's certificate (DER, base64), when the COSE_Sign1 carries no `x5chain`
    /// of `x5chain` (the form kept in the log).
    #[serde(default)]
    pub issuer_certificate: Option<String>,
}

/// A certificate whose signature and disclosed items verified.
#[derive(Debug, Clone)]
pub struct VerifiedCertificate {
    /// The signed security object.
    pub object: SecurityObject,
    /// The issuing organisation's 统一社会信用代码, from its X.509 certificate.
    pub issuer_organisation: String,
    /// The issuer certificate's common name.
    pub issuer_name: Option<String>,
    /// The disclosed items, each checked against its digest (the holder item included).
    pub items: Vec<Item>,
}

/// Why a certificate failed offline verification.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertificateCheckError {
    /// A field is not base64.
    #[error("{0} is not standard base64")]
    Base64(&'static str),
    /// The COSE_Sign1 or an item is malformed.
    #[error("{0}")]
    Malformed(CertError),
    /// No issuer certificate (neither `x5chain` nor `issuer_certificate`).
    #[error("no issuer certificate: the COSE_Sign1 has no x5chain and none was given")]
    NoIssuerCertificate,
    /// The issuer's chain does not reach the trust anchor (at the signing time).
    #[error("issuer certificate: {0}")]
    Chain(PkiError),
    /// The identifier is malformed or names another issuer or type.
    #[error("the identifier is malformed or disagrees with the security object")]
    Identifier,
    /// The issuer certificate's organisation is not the certificate's issuer.
    #[error("the issuer certificate belongs to another organisation")]
    IssuerMismatch,
    /// The signature does not verify.
    #[error("the issuer signature does not verify")]
    BadSignature,
    /// Disclosed item `index` does not match its signed digest.
    #[error("disclosed item {index} does not match the signed digest")]
    Item {
        /// Position in `items`.
        index: usize,
    },
}

/// Verifies `file` against `anchor`, validating the issuer chain at the time the issuer
/// signed (`at_unix_seconds` overrides it).
pub fn verify_certificate(
    file: &CertificateFile,
    anchor: &TrustAnchor,
    at_unix_seconds: Option<i64>,
) -> Result<VerifiedCertificate, CertificateCheckError> {
    let cose = BASE64_STANDARD
        .decode(&file.security_object)
        .map_err(|_| CertificateCheckError::Base64("security_object"))?;
    let signed = SignedSecurityObject::parse(&cose).map_err(CertificateCheckError::Malformed)?;
    let mut chain = signed.x5chain().map_err(CertificateCheckError::Malformed)?;
    if chain.is_empty() {
        let der = file
            .issuer_certificate
            .as_deref()
            .ok_or(CertificateCheckError::NoIssuerCertificate)?;
        chain.push(
            BASE64_STANDARD
                .decode(der)
                .map_err(|_| CertificateCheckError::Base64("issuer_certificate"))?,
        );
    }
    let at = at_unix_seconds.unwrap_or((signed.object().signed / 1000) as i64);
    let principal =
        pki::validate(&chain, anchor, Role::Issuer, at).map_err(CertificateCheckError::Chain)?;
    let so = signed.object().clone();
    let id =
        CertificateId::parse(&so.certificate_id).map_err(|_| CertificateCheckError::Identifier)?;
    if id.type_code().as_str() != so.type_code || id.issuer().as_str() != so.issuer {
        return Err(CertificateCheckError::Identifier);
    }
    let org = principal
        .organisation()
        .map(|u| u.as_str().to_owned())
        .ok_or(CertificateCheckError::IssuerMismatch)?;
    if org != so.issuer {
        return Err(CertificateCheckError::IssuerMismatch);
    }
    let verified = signed
        .verify(principal.verifying_key())
        .map_err(|_| CertificateCheckError::BadSignature)?;
    let mut items = Vec::with_capacity(file.items.len());
    for (index, b64) in file.items.iter().enumerate() {
        let raw = BASE64_STANDARD
            .decode(b64)
            .map_err(|_| CertificateCheckError::Base64("items"))?;
        let item = Item::decode(&raw).map_err(|_| CertificateCheckError::Item { index })?;
        verified
            .check_item(&item)
            .map_err(|_| CertificateCheckError::Item { index })?;
        items.push(item);
    }
    Ok(VerifiedCertificate {
        object: so,
        issuer_organisation: org,
        issuer_name: principal.common_name().map(str::to_owned),
        items,
    })
}

impl VerifiedCertificate {
    /// The holder item's value (`<code type>:<code>`), if it was disclosed.
    pub fn holder(&self) -> Option<&proofless_core::cert::FieldValue> {
        self.items
            .iter()
            .find(|i| i.name == HOLDER_ITEM)
            .map(|i| &i.value)
    }
}
