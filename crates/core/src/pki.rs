//! Who is who: a small X.509 chain policy for the deployment's principals.
//!
//! Invariant 4 of the design ("whoever states something signs it") needs to know *who*
//! holds a key. Every principal — ledger, issuer, department, channel, auditor, witness —
//! holds an Ed25519 key (RFC 8410) certified, directly or through at most a few
//! intermediate CAs, by the deployment's single trust anchor. Its certificate carries
//!
//! * its **role** as an extended key usage under the project's arc
//!   ([`Role::oid_der`]);
//! * its **organisation** as the subject's `organizationIdentifier` (OID 2.5.4.97,
//!   X.520), holding the organisation's 统一社会信用代码 ([`Uscc`]);
//! * for an issuer, the **certificate types** it may issue, in a non-critical extension
//!   [`CERTIFICATE_TYPES_OID_DER`] whose value is `SEQUENCE OF UTF8String` of
//!   证照类型代码 ([`TypeCode`]).
//!
//! `x509-parser` parses certificates but builds no chains and, without its `verify`
//! feature, checks no signatures. This module is the policy on top of it (RFC 5280 §6.1,
//! cut down to what one deployment with one trust anchor needs):
//!
//! * each certificate is strict DER, version 3, with nothing after it;
//! * each link chains by name: a certificate's issuer is, byte for byte, the subject of
//!   the next certificate (or of the trust anchor);
//! * every key and every signature is Ed25519 (OID 1.3.101.112, no parameters), weak
//!   (small-order) keys are refused and each signature is checked with
//!   `ed25519_dalek::VerifyingKey::verify_strict` against the issuer's key;
//! * every certificate, the trust anchor included, is valid at the caller's `now`;
//! * intermediates are CAs (basicConstraints cA, keyUsage keyCertSign) and every
//!   pathLenConstraint, the trust anchor's included, is respected; an intermediate that
//!   carries an extended key usage must list the role too (it constrains its subtree);
//! * the leaf is not a CA, has keyUsage digitalSignature (and not keyCertSign) and an
//!   extended key usage listing the expected role;
//! * a critical extension this module does not process is refused (RFC 5280 §4.2);
//! * at most [`MAX_CHAIN_LENGTH`] certificates below the trust anchor.
//!
//! Revocation is not handled here: a principal's certificate is registered and retired
//! by `KeyEvent` entries in the log, which is where the ledger looks.
//!
//! Errors name the certificate's position in the chain (0 is the leaf) and never carry
//! certificate contents.
//!
//! The caller passes the time in: `core` has no clock.
//!
//! # Example
//! ```
//! use proofless_core::{keys::Role, pki};
//!
//! // The committed example set (`proofless keys example`).
//! let anchor = pki::TrustAnchor::from_pem(include_bytes!(
//!     "../../../keys-example/trust-anchor.crt.pem"
//! ))
//! .unwrap();
//! let leaf = pki::pem_certificate(
//!     include_bytes!("../../../keys-example/issuer-qingdao-civil-affairs.crt.pem"),
//!     pki::Position::Chain(0),
//! )
//! .unwrap();
//! let now = 1_798_761_600; // 2027-01-01T00:00:00Z
//! let issuer = pki::validate(&[leaf.clone()], &anchor, Role::Issuer, now).unwrap();
//! assert_eq!(issuer.organisation().unwrap().as_str(), "11370200MB0000103B");
//! assert_eq!(issuer.certificate_types().len(), 2); // 结婚证, 离婚证
//! assert!(pki::validate(&[leaf], &anchor, Role::Department, now).is_err());
//! ```

use crate::ids::{TypeCode, Uscc};
use crate::keys::{self, Role};
use ed25519_dalek::{Signature, VerifyingKey};
use std::fmt;
use x509_parser::asn1_rs::FromDer;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{ExtendedKeyUsage, KeyUsage, ParsedExtension};
use x509_parser::x509::{AlgorithmIdentifier, SubjectPublicKeyInfo, X509Name, X509Version};

/// The most certificates a chain may hold below the trust anchor: the leaf and up to
/// three intermediates.
pub const MAX_CHAIN_LENGTH: usize = 4;

/// The content octets of `2.25.126625176073788436213964392391781943468`, the project's
/// UUID arc (ITU-T X.667), shared with the role OIDs of [`Role::oid_der`].
const PROJECT_ARC: [u8; 20] = [
    0x69, 0x81, 0xbe, 0xc3, 0x8f, 0xcc, 0x8a, 0xf6, 0xba, 0xb5, 0xe5, 0x9f, 0xc2, 0xaa, 0xac, 0xe7,
    0xd7, 0xd2, 0x91, 0x2c,
];

/// The complete DER `OBJECT IDENTIFIER` (tag, length, value) of the certificate-types
/// extension, `2.25.126625176073788436213964392391781943468.2.1`.
///
/// Its last-but-two arc does not fit in a `u64`, so it is given here as DER: generators
/// that take OIDs as integer arcs cannot write it directly.
pub const CERTIFICATE_TYPES_OID_DER: [u8; 24] = {
    let mut der = [0u8; 24];
    der[0] = 0x06;
    der[1] = 22;
    let mut i = 0;
    while i < PROJECT_ARC.len() {
        der[2 + i] = PROJECT_ARC[i];
        i += 1;
    }
    der[22] = 0x02;
    der[23] = 0x01;
    der
};

/// The DER value (`extnValue` contents) of the certificate-types extension:
/// `SEQUENCE OF UTF8String`, one 证照类型代码 each, in the order given.
pub fn certificate_types_extension_value(types: &[TypeCode]) -> Vec<u8> {
    let mut content = Vec::with_capacity(types.len() * 23);
    for t in types {
        content.push(0x0c); // UTF8String
        push_der_length(&mut content, t.as_str().len());
        content.extend_from_slice(t.as_str().as_bytes());
    }
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(0x30); // SEQUENCE
    push_der_length(&mut out, content.len());
    out.extend_from_slice(&content);
    out
}

/// Appends a DER definite length (X.690 §8.1.3, minimal form).
fn push_der_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

// Content octets of the OIDs this module reads.
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70]; // 1.3.101.112 (RFC 8410 §3)
const OID_BASIC_CONSTRAINTS: &[u8] = &[0x55, 0x1d, 0x13]; // 2.5.29.19
const OID_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x0f]; // 2.5.29.15
const OID_EXT_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25]; // 2.5.29.37
const OID_ORGANIZATION_IDENTIFIER: &[u8] = &[0x55, 0x04, 0x61]; // 2.5.4.97
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03]; // 2.5.4.3

/// Where in a chain a certificate sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// In the chain given to [`validate`]: 0 is the leaf, then its issuers.
    Chain(usize),
    /// The trust anchor.
    TrustAnchor,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Chain(0) => f.write_str("certificate 0 (leaf)"),
            Position::Chain(n) => write!(f, "certificate {n}"),
            Position::TrustAnchor => f.write_str("the trust anchor"),
        }
    }
}

/// Why a trust anchor or a chain was refused.
///
/// No variant carries certificate contents: only positions and fixed descriptions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Not a certificate: bad PEM or DER, trailing bytes, not version 3, a duplicate or
    /// unparseable extension, a bad serial number.
    #[error("{position}: malformed ({what})")]
    Malformed {
        /// Which certificate.
        position: Position,
        /// What is wrong, as a fixed description.
        what: &'static str,
    },
    /// The chain holds no certificate below the trust anchor.
    #[error("empty certificate chain")]
    EmptyChain,
    /// More than [`MAX_CHAIN_LENGTH`] certificates below the trust anchor.
    #[error("certificate chain too long ({found} certificates, at most {max})")]
    ChainTooLong {
        /// Certificates found below the trust anchor.
        found: usize,
        /// [`MAX_CHAIN_LENGTH`].
        max: usize,
    },
    /// The key or a signature algorithm is not Ed25519, or the key is a weak
    /// (small-order) Ed25519 key.
    #[error("{position}: {what} is not an acceptable Ed25519 one")]
    NotEd25519 {
        /// Which certificate.
        position: Position,
        /// `"public key"` or `"signature algorithm"`.
        what: &'static str,
    },
    /// The signature does not verify (strictly) under the issuer's key.
    #[error("{position}: not signed by its issuer")]
    NotSignedByIssuer {
        /// Which certificate.
        position: Position,
    },
    /// The certificate's issuer name is not the subject name of the next certificate
    /// (or, for a trust anchor, its own subject).
    #[error("{position}: issuer name does not match the next certificate's subject")]
    NameChain {
        /// Which certificate.
        position: Position,
    },
    /// `now` is before the certificate's notBefore.
    #[error("{position}: not yet valid")]
    NotYetValid {
        /// Which certificate.
        position: Position,
    },
    /// `now` is after the certificate's notAfter.
    #[error("{position}: expired")]
    Expired {
        /// Which certificate.
        position: Position,
    },
    /// An intermediate or the trust anchor is not a CA (basicConstraints cA missing).
    #[error("{position}: not a CA")]
    NotCa {
        /// Which certificate.
        position: Position,
    },
    /// The leaf is a CA.
    #[error("certificate 0 (leaf): is a CA")]
    LeafIsCa,
    /// A CA's pathLenConstraint allows fewer intermediates than there are below it.
    #[error("{position}: pathLenConstraint exceeded")]
    PathLength {
        /// Which certificate.
        position: Position,
    },
    /// The keyUsage extension is missing or does not fit the certificate's place.
    #[error("{position}: key usage {what}")]
    KeyUsage {
        /// Which certificate.
        position: Position,
        /// What is wrong, as a fixed description.
        what: &'static str,
    },
    /// The extended key usage does not list the expected role.
    #[error("{position}: extended key usage does not allow the role {role}")]
    MissingRole {
        /// Which certificate.
        position: Position,
        /// The expected role's name.
        role: &'static str,
    },
    /// The organizationIdentifier is not a valid 统一社会信用代码, or appears twice.
    #[error("{position}: organizationIdentifier is not a valid 统一社会信用代码")]
    BadOrganisation {
        /// Which certificate.
        position: Position,
    },
    /// The certificate-types extension is not a `SEQUENCE OF UTF8String` of distinct,
    /// valid 证照类型代码.
    #[error("{position}: bad certificate-types extension")]
    BadTypeList {
        /// Which certificate.
        position: Position,
    },
    /// A critical extension this module does not process.
    #[error("{position}: unknown critical extension")]
    UnknownCriticalExtension {
        /// Which certificate.
        position: Position,
    },
}

/// The deployment's trust anchor: a self-signed Ed25519 CA, checked on construction.
#[derive(Clone)]
pub struct TrustAnchor {
    // INVARIANT: `der` parses as a self-signed Ed25519 CA certificate with keyCertSign,
    // and the fields below were read from it.
    der: Vec<u8>,
    subject: Vec<u8>,
    key: VerifyingKey,
    key_id: [u8; 32],
    not_before: i64,
    not_after: i64,
    path_len: Option<u32>,
}

impl fmt::Debug for TrustAnchor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustAnchor")
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl TrustAnchor {
    /// Reads a trust anchor from DER. It must be a self-signed CA (basicConstraints cA,
    /// keyUsage keyCertSign) with an Ed25519 key whose self-signature verifies strictly.
    /// Its validity is checked later, against the time given to [`validate`].
    pub fn from_der(der: &[u8]) -> Result<Self, PkiError> {
        let position = Position::TrustAnchor;
        let cert = parse(der, position)?;
        let key = ed25519_key(cert.public_key(), position)?;
        if cert.issuer().as_raw() != cert.subject().as_raw() {
            return Err(PkiError::NameChain { position });
        }
        verify_signature(&cert, &key, position)?;
        let path_len = check_ca(&cert, position)?;
        Ok(Self {
            der: der.to_vec(),
            subject: cert.subject().as_raw().to_vec(),
            key,
            key_id: keys::key_id(cert.public_key().raw),
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            path_len,
        })
    }

    /// Reads a trust anchor from one PEM `CERTIFICATE` block (nothing but whitespace may
    /// follow it), then as [`TrustAnchor::from_der`].
    pub fn from_pem(pem: &[u8]) -> Result<Self, PkiError> {
        Self::from_der(&pem_certificate(pem, Position::TrustAnchor)?)
    }

    /// The anchor's DER certificate, as given.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The key identifier: SHA-256 of the DER `SubjectPublicKeyInfo` ([`keys::key_id`]).
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// The anchor's subject name, raw DER: the issuer name of the certificates it signs.
    pub fn subject_der(&self) -> &[u8] {
        &self.subject
    }

    /// The anchor's Ed25519 key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }
}

/// Reads the DER of one PEM `CERTIFICATE` block; only whitespace may follow it.
pub fn pem_certificate(pem: &[u8], position: Position) -> Result<Vec<u8>, PkiError> {
    let malformed = |what| PkiError::Malformed { position, what };
    let (rest, block) = x509_parser::pem::parse_x509_pem(pem).map_err(|_| malformed("not PEM"))?;
    if block.label != "CERTIFICATE" {
        return Err(malformed("PEM label is not CERTIFICATE"));
    }
    if !rest.iter().all(u8::is_ascii_whitespace) {
        return Err(malformed("data after the PEM block"));
    }
    Ok(block.contents)
}

/// A principal whose certificate chain [`validate`] accepted. Only [`validate`] makes one.
#[derive(Clone)]
pub struct Principal {
    // INVARIANT: every field was read from a leaf certificate that chains to the trust
    // anchor and carries `role` in its extended key usage.
    role: Role,
    organisation: Option<Uscc>,
    common_name: Option<String>,
    certificate_types: Vec<TypeCode>,
    key: VerifyingKey,
    key_id: [u8; 32],
    not_after: i64,
    chain_not_after: i64,
    leaf_der: Vec<u8>,
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("role", &self.role)
            .field("organisation", &self.organisation)
            .field("key_id", &hex::encode(self.key_id))
            .finish_non_exhaustive()
    }
}

impl Principal {
    /// The role the chain was validated for.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The organisation's 统一社会信用代码, from the subject's organizationIdentifier.
    pub fn organisation(&self) -> Option<Uscc> {
        self.organisation
    }

    /// The subject's commonName, if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The certificate types this principal may issue (empty when the extension is
    /// absent).
    pub fn certificate_types(&self) -> &[TypeCode] {
        &self.certificate_types
    }

    /// The principal's Ed25519 key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The key identifier: SHA-256 of the leaf's DER `SubjectPublicKeyInfo`.
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// The leaf's notAfter, in seconds since the Unix epoch.
    pub fn not_after(&self) -> i64 {
        self.not_after
    }

    /// The earliest notAfter of the whole path (leaf, intermediates and trust anchor), in
    /// seconds since the Unix epoch: until when this validation can be relied on.
    pub fn chain_not_after(&self) -> i64 {
        self.chain_not_after
    }

    /// The leaf certificate, DER.
    pub fn leaf_der(&self) -> &[u8] {
        &self.leaf_der
    }
}

/// Validates `chain` (leaf first, then intermediates; a final copy of the anchor is
/// ignored) against `anchor` for `role` at `now_unix_seconds`, and returns the principal
/// the leaf names. See the module documentation for the checks.
pub fn validate(
    chain: &[Vec<u8>],
    anchor: &TrustAnchor,
    role: Role,
    now_unix_seconds: i64,
) -> Result<Principal, PkiError> {
    let below = match chain.split_last() {
        Some((last, rest)) if last.as_slice() == anchor.der() => rest,
        _ => chain,
    };
    if below.is_empty() {
        return Err(PkiError::EmptyChain);
    }
    // Counted before any parsing, so a long chain costs nothing.
    if below.len() > MAX_CHAIN_LENGTH {
        return Err(PkiError::ChainTooLong {
            found: below.len(),
            max: MAX_CHAIN_LENGTH,
        });
    }
    let certs = below
        .iter()
        .enumerate()
        .map(|(i, der)| parse(der, Position::Chain(i)))
        .collect::<Result<Vec<_>, _>>()?;
    let keys = certs
        .iter()
        .enumerate()
        .map(|(i, c)| ed25519_key(c.public_key(), Position::Chain(i)))
        .collect::<Result<Vec<_>, _>>()?;

    check_time(
        anchor.not_before,
        anchor.not_after,
        now_unix_seconds,
        Position::TrustAnchor,
    )?;
    if let Some(p) = anchor.path_len
        && below.len() - 1 > p as usize
    {
        return Err(PkiError::PathLength {
            position: Position::TrustAnchor,
        });
    }

    for (i, cert) in certs.iter().enumerate() {
        let position = Position::Chain(i);
        let (issuer_name, issuer_key) = match certs.get(i + 1) {
            Some(next) => (next.subject().as_raw(), &keys[i + 1]),
            None => (anchor.subject_der(), &anchor.key),
        };
        if cert.issuer().as_raw() != issuer_name {
            return Err(PkiError::NameChain { position });
        }
        verify_signature(cert, issuer_key, position)?;
        let validity = cert.validity();
        check_time(
            validity.not_before.timestamp(),
            validity.not_after.timestamp(),
            now_unix_seconds,
            position,
        )?;
        if i > 0 {
            if let Some(p) = check_ca(cert, position)?
                && i - 1 > p as usize
            {
                return Err(PkiError::PathLength { position });
            }
            // An intermediate's extended key usage, when present, limits its subtree.
            if extended_key_usage(cert, position)?.is_some_and(|eku| !has_role(eku, role)) {
                return Err(PkiError::MissingRole {
                    position,
                    role: role.name(),
                });
            }
        }
    }

    let leaf = &certs[0];
    let position = Position::Chain(0);
    let ca = leaf
        .basic_constraints()
        .map_err(|_| malformed(position, "basicConstraints"))?;
    if ca.is_some_and(|bc| bc.value.ca) {
        return Err(PkiError::LeafIsCa);
    }
    let usage = key_usage(leaf, position)?;
    if !usage.digital_signature() {
        return Err(PkiError::KeyUsage {
            position,
            what: "lacks digitalSignature",
        });
    }
    if usage.key_cert_sign() {
        // RFC 5280 §4.2.1.3: keyCertSign only with basicConstraints cA.
        return Err(PkiError::KeyUsage {
            position,
            what: "has keyCertSign on a non-CA",
        });
    }
    if !extended_key_usage(leaf, position)?.is_some_and(|eku| has_role(eku, role)) {
        return Err(PkiError::MissingRole {
            position,
            role: role.name(),
        });
    }

    let chain_not_after = certs
        .iter()
        .map(|c| c.validity().not_after.timestamp())
        .fold(anchor.not_after, i64::min);
    Ok(Principal {
        role,
        organisation: organisation(leaf.subject(), position)?,
        common_name: common_name(leaf.subject(), position)?,
        certificate_types: certificate_types(leaf, position)?,
        key: keys[0],
        key_id: keys::key_id(leaf.public_key().raw),
        not_after: leaf.validity().not_after.timestamp(),
        chain_not_after,
        leaf_der: below[0].clone(),
    })
}

fn malformed(position: Position, what: &'static str) -> PkiError {
    PkiError::Malformed { position, what }
}

/// Parses one certificate and checks what does not depend on its place in the chain:
/// DER with nothing after it, version 3, a positive serial of at most 20 octets,
/// Ed25519 signature algorithms, well-formed unique extensions, no unknown critical one.
fn parse(der: &[u8], position: Position) -> Result<X509Certificate<'_>, PkiError> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|_| malformed(position, "not DER X.509"))?;
    if !rest.is_empty() {
        return Err(malformed(position, "trailing bytes"));
    }
    if cert.version() != X509Version::V3 {
        return Err(malformed(position, "not version 3"));
    }
    // RFC 5280 §4.1.2.2: a positive integer of at most 20 octets.
    let serial = cert.raw_serial();
    if serial.is_empty() || serial.len() > 20 || serial[0] & 0x80 != 0 {
        return Err(malformed(position, "serial number"));
    }
    // RFC 8410 §3: the OID alone, parameters absent; and the two copies agree
    // (RFC 5280 §4.1.1.2).
    if !is_ed25519(&cert.signature_algorithm) || !is_ed25519(&cert.tbs_certificate.signature) {
        return Err(PkiError::NotEd25519 {
            position,
            what: "signature algorithm",
        });
    }
    cert.extensions_map()
        .map_err(|_| malformed(position, "duplicate extension"))?;
    for ext in cert.extensions() {
        if ext.parsed_extension().error().is_some() {
            return Err(malformed(position, "unparseable extension"));
        }
        let oid = ext.oid.as_bytes();
        let understood = oid == OID_BASIC_CONSTRAINTS
            || oid == OID_KEY_USAGE
            || oid == OID_EXT_KEY_USAGE
            || oid == &CERTIFICATE_TYPES_OID_DER[2..];
        if ext.critical && !understood {
            return Err(PkiError::UnknownCriticalExtension { position });
        }
    }
    Ok(cert)
}

fn is_ed25519(alg: &AlgorithmIdentifier<'_>) -> bool {
    alg.algorithm.as_bytes() == OID_ED25519 && alg.parameters.is_none()
}

/// The Ed25519 key of a `SubjectPublicKeyInfo`; weak (small-order) keys are refused.
fn ed25519_key(
    spki: &SubjectPublicKeyInfo<'_>,
    position: Position,
) -> Result<VerifyingKey, PkiError> {
    let refused = PkiError::NotEd25519 {
        position,
        what: "public key",
    };
    if !is_ed25519(&spki.algorithm) || spki.subject_public_key.unused_bits != 0 {
        return Err(refused);
    }
    let bytes: &[u8; 32] = spki
        .subject_public_key
        .data
        .as_ref()
        .try_into()
        .map_err(|_| refused.clone())?;
    let key = VerifyingKey::from_bytes(bytes).map_err(|_| refused.clone())?;
    if key.is_weak() {
        return Err(refused);
    }
    Ok(key)
}

fn verify_signature(
    cert: &X509Certificate<'_>,
    issuer: &VerifyingKey,
    position: Position,
) -> Result<(), PkiError> {
    let bad = PkiError::NotSignedByIssuer { position };
    if cert.signature_value.unused_bits != 0 {
        return Err(bad);
    }
    let signature =
        Signature::from_slice(cert.signature_value.data.as_ref()).map_err(|_| bad.clone())?;
    issuer
        .verify_strict(cert.tbs_certificate.as_ref(), &signature)
        .map_err(|_| bad)
}

fn check_time(
    not_before: i64,
    not_after: i64,
    now: i64,
    position: Position,
) -> Result<(), PkiError> {
    if now < not_before {
        Err(PkiError::NotYetValid { position })
    } else if now > not_after {
        Err(PkiError::Expired { position })
    } else {
        Ok(())
    }
}

/// Checks that `cert` is a CA allowed to sign certificates; returns its
/// pathLenConstraint.
fn check_ca(cert: &X509Certificate<'_>, position: Position) -> Result<Option<u32>, PkiError> {
    let bc = cert
        .basic_constraints()
        .map_err(|_| malformed(position, "basicConstraints"))?;
    let Some(bc) = bc.filter(|bc| bc.value.ca) else {
        return Err(PkiError::NotCa { position });
    };
    if !key_usage(cert, position)?.key_cert_sign() {
        return Err(PkiError::KeyUsage {
            position,
            what: "lacks keyCertSign",
        });
    }
    Ok(bc.value.path_len_constraint)
}

fn key_usage<'c>(
    cert: &'c X509Certificate<'_>,
    position: Position,
) -> Result<&'c KeyUsage, PkiError> {
    match cert.key_usage() {
        Ok(Some(ku)) => Ok(ku.value),
        Ok(None) => Err(PkiError::KeyUsage {
            position,
            what: "extension missing",
        }),
        Err(_) => Err(malformed(position, "keyUsage")),
    }
}

fn extended_key_usage<'c>(
    cert: &'c X509Certificate<'_>,
    position: Position,
) -> Result<Option<&'c ExtendedKeyUsage<'c>>, PkiError> {
    cert.extended_key_usage()
        .map(|eku| eku.map(|e| e.value))
        .map_err(|_| malformed(position, "extendedKeyUsage"))
}

/// Whether the extended key usage lists the role. The OIDs are compared by content
/// octets: the project arc does not fit in a `u64`.
fn has_role(eku: &ExtendedKeyUsage<'_>, role: Role) -> bool {
    let want = role.oid_der();
    eku.other.iter().any(|oid| oid.as_bytes() == &want[2..])
}

/// The single organizationIdentifier of a name, as a 统一社会信用代码.
fn organisation(name: &X509Name<'_>, position: Position) -> Result<Option<Uscc>, PkiError> {
    let mut values = name
        .iter_attributes()
        .filter(|a| a.attr_type().as_bytes() == OID_ORGANIZATION_IDENTIFIER);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(PkiError::BadOrganisation { position });
    }
    let text = first
        .as_str()
        .map_err(|_| PkiError::BadOrganisation { position })?;
    Uscc::parse(text)
        .map(Some)
        .map_err(|_| PkiError::BadOrganisation { position })
}

/// The single commonName of a name, if any.
fn common_name(name: &X509Name<'_>, position: Position) -> Result<Option<String>, PkiError> {
    let mut values = name
        .iter_attributes()
        .filter(|a| a.attr_type().as_bytes() == OID_COMMON_NAME);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(malformed(position, "more than one commonName"));
    }
    first
        .as_str()
        .map(|s| Some(s.to_owned()))
        .map_err(|_| malformed(position, "commonName is not a string"))
}

/// The certificate-types extension: `SEQUENCE SIZE (1..MAX) OF UTF8String`, distinct
/// valid type codes. Absent means none.
fn certificate_types(
    cert: &X509Certificate<'_>,
    position: Position,
) -> Result<Vec<TypeCode>, PkiError> {
    let bad = PkiError::BadTypeList { position };
    let Some(ext) = cert
        .extensions()
        .iter()
        .find(|e| e.oid.as_bytes() == &CERTIFICATE_TYPES_OID_DER[2..])
    else {
        return Ok(Vec::new());
    };
    if !matches!(
        ext.parsed_extension(),
        ParsedExtension::UnsupportedExtension { .. }
    ) {
        return Err(bad);
    }
    let (rest, texts) =
        <Vec<String> as FromDer<'_, x509_parser::asn1_rs::Error>>::from_der(ext.value)
            .map_err(|_| bad.clone())?;
    if !rest.is_empty() || texts.is_empty() {
        return Err(bad);
    }
    let mut types = Vec::with_capacity(texts.len());
    for text in &texts {
        let t = TypeCode::parse(text).map_err(|_| bad.clone())?;
        if types.contains(&t) {
            return Err(bad);
        }
        types.push(t);
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_types_oid_shares_the_role_arc() {
        // Role OIDs are PROJECT_ARC.1.<n>: the same 20 content octets, then 0x01.
        let role = Role::Issuer.oid_der();
        assert_eq!(&role[2..22], &CERTIFICATE_TYPES_OID_DER[2..22]);
        assert_eq!(
            hex::encode(CERTIFICATE_TYPES_OID_DER),
            "06166981bec38fcc8af6bab5e59fc2aaace7d7d2912c0201"
        );
    }

    #[test]
    fn type_list_value_is_a_sequence_of_utf8_strings() {
        let t = TypeCode::parse("11100000PL00000014901").unwrap_or_else(|e| panic!("{e}"));
        let der = certificate_types_extension_value(&[t, t]);
        assert_eq!(der[..2], [0x30, 46]);
        assert_eq!(der[2..4], [0x0c, 21]);
        let many = vec![t; 10];
        let der = certificate_types_extension_value(&many);
        assert_eq!(der[..3], [0x30, 0x81, 230]);
    }

    #[test]
    fn positions_read_well() {
        assert_eq!(Position::Chain(0).to_string(), "certificate 0 (leaf)");
        assert_eq!(Position::Chain(2).to_string(), "certificate 2");
        assert_eq!(
            PkiError::Expired {
                position: Position::TrustAnchor
            }
            .to_string(),
            "the trust anchor: expired"
        );
    }
}
