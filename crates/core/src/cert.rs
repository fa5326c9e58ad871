//! Electronic certificates as signed security objects with selective disclosure.
//!
//! The pattern is ISO/IEC 18013-5's Mobile Security Object: the issuer never signs the
//! field values themselves, only one salted digest per field,
//! `SHA-256(CBOR[salt, name, value])` with a salt of at least 16 random bytes
//! ([`item_digest`]). The signed [`SecurityObject`] therefore reveals nothing about the
//! values, and any subset of the fields can later be disclosed, with their salts, and
//! checked against the issuer's signature one by one.
//!
//! The holder is committed the same way: [`SecurityObject::holder`] is the digest of the
//! item `[salt, "holder", "<code type>:<holder code>"]`, so the signed object names the
//! holder without containing the holder code, and the commitment cannot be opened by
//! guessing codes without the salt.
//!
//! The signature is a COSE_Sign1 (RFC 9052) with alg EdDSA (-8) in the protected header,
//! the security object as embedded payload, and the issuer's certificate chain (`x5chain`,
//! label 33) in the unprotected header as submitted. The log keeps the *log form*: the same
//! COSE_Sign1 with an empty unprotected header; the log entry names the signing key by its
//! key id, and the certificate itself is registered once by a `KeyEvent`. Unprotected
//! headers are not covered by the signature, so dropping the chain keeps it valid.

use crate::cbor::{self, CborError, MapBuilder, MapReader, ShapeError};
use ciborium::value::Value;
use coset::{AsCborValue, CborSerializable, CoseSign1, CoseSign1Builder, HeaderBuilder, iana};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use thiserror::Error;

/// Shortest salt accepted for a disclosed item (ISO 18013-5 asks for at least 16 bytes).
pub const MIN_SALT: usize = 16;
/// Longest salt accepted.
pub const MAX_SALT: usize = 64;
/// Largest COSE_Sign1 accepted.
pub const MAX_SIGN1: usize = 32 * 1024;
/// Largest field value (text) accepted, in bytes.
pub const MAX_VALUE: usize = 4096;
/// Most fields in one certificate.
pub const MAX_FIELDS: usize = 128;
/// The reserved item name of the holder commitment.
pub const HOLDER_ITEM: &str = "holder";

/// The value of one field. Certificates hold text, integers and booleans only; dates are
/// text in `YYYY-MM-DD` form, checked by the type's schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldValue {
    /// Text.
    Text(String),
    /// A signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl FieldValue {
    fn to_cbor(&self) -> Value {
        match self {
            Self::Text(s) => Value::Text(s.clone()),
            Self::Int(i) => Value::Integer((*i).into()),
            Self::Bool(b) => Value::Bool(*b),
        }
    }

    fn from_cbor(v: Value) -> Option<Self> {
        match v {
            Value::Text(s) if s.len() <= MAX_VALUE => Some(Self::Text(s)),
            Value::Integer(i) => i64::try_from(i).ok().map(Self::Int),
            Value::Bool(b) => Some(Self::Bool(b)),
            _ => None,
        }
    }
}

/// One disclosed item: a field's salt, name and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// 16–64 random bytes.
    pub salt: Vec<u8>,
    /// The field name (or [`HOLDER_ITEM`]).
    pub name: String,
    /// The value.
    pub value: FieldValue,
}

impl Item {
    /// The canonical CBOR `[salt, name, value]` that is digested.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(&Value::Array(vec![
            Value::Bytes(self.salt.clone()),
            Value::Text(self.name.clone()),
            self.value.to_cbor(),
        ]))
    }

    /// Decodes an item, checking canonical form, salt length and value type.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertError> {
        let v = cbor::decode_canonical(bytes, MAX_VALUE + 256)?;
        let Value::Array(mut parts) = v else {
            return Err(CertError::Item("not an array"));
        };
        if parts.len() != 3 {
            return Err(CertError::Item("not [salt, name, value]"));
        }
        let value = FieldValue::from_cbor(parts.pop().ok_or(CertError::Item("value"))?)
            .ok_or(CertError::Item("value is not text, integer or boolean"))?;
        let Some(Value::Text(name)) = parts.pop() else {
            return Err(CertError::Item("name is not text"));
        };
        let Some(Value::Bytes(salt)) = parts.pop() else {
            return Err(CertError::Item("salt is not bytes"));
        };
        let item = Self { salt, name, value };
        item.check_salt()?;
        Ok(item)
    }

    fn check_salt(&self) -> Result<(), CertError> {
        if (MIN_SALT..=MAX_SALT).contains(&self.salt.len()) {
            Ok(())
        } else {
            Err(CertError::Item("salt must be 16 to 64 bytes"))
        }
    }
}

/// `SHA-256(CBOR[salt, name, value])`.
pub fn item_digest(item: &Item) -> [u8; 32] {
    Sha256::digest(item.encode()).into()
}

/// The holder item: `[salt, "holder", "<code type>:<code>"]`.
pub fn holder_item(salt: Vec<u8>, code_type: &str, code: &str) -> Item {
    Item {
        salt,
        name: HOLDER_ITEM.to_owned(),
        value: FieldValue::Text(format!("{code_type}:{code}")),
    }
}

/// What the issuer signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityObject {
    /// 证照类型代码.
    pub type_code: String,
    /// 电子证照标识.
    pub certificate_id: String,
    /// The issuing authority's 统一社会信用代码.
    pub issuer: String,
    /// Digest of the holder item.
    pub holder: [u8; 32],
    /// First day of validity, `YYYY-MM-DD`.
    pub valid_from: String,
    /// Last day of validity, `YYYY-MM-DD`; absent for certificates valid indefinitely.
    pub valid_until: Option<String>,
    /// One digest per field, by field name.
    pub digests: BTreeMap<String, [u8; 32]>,
    /// When the issuer signed, ms since the Unix epoch.
    pub signed: u64,
}

const SO_VERSION: u64 = 1;

impl SecurityObject {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        let digests: Vec<(Value, Value)> = sorted_text_keys(
            self.digests
                .iter()
                .map(|(k, v)| (k.clone(), Value::Bytes(v.to_vec()))),
        );
        let v = MapBuilder::new()
            .insert(1, cbor::uint(SO_VERSION))
            .insert(2, cbor::text(&self.type_code))
            .insert(3, cbor::text(&self.certificate_id))
            .insert(4, cbor::text(&self.issuer))
            .insert(5, cbor::bytes(&self.holder))
            .insert(6, cbor::text(&self.valid_from))
            .insert_opt(7, self.valid_until.as_deref().map(cbor::text))
            .insert(8, Value::Map(digests))
            .insert(9, cbor::uint(self.signed))
            .build();
        cbor::encode(&v)
    }

    /// Decodes a canonical security object.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertError> {
        let v = cbor::decode_canonical(bytes, MAX_SIGN1)?;
        let mut m = MapReader::new(v).map_err(CertError::Shape)?;
        if m.uint(1).map_err(CertError::Shape)? != SO_VERSION {
            return Err(CertError::Shape(ShapeError::Invalid(1)));
        }
        let so = Self {
            type_code: m.text(2, 64).map_err(CertError::Shape)?,
            certificate_id: m.text(3, 128).map_err(CertError::Shape)?,
            issuer: m.text(4, 64).map_err(CertError::Shape)?,
            holder: m.digest(5).map_err(CertError::Shape)?,
            valid_from: m.text(6, 10).map_err(CertError::Shape)?,
            valid_until: m.text_opt(7, 10).map_err(CertError::Shape)?,
            digests: {
                let Value::Map(pairs) = m.take(8).map_err(CertError::Shape)? else {
                    return Err(CertError::Shape(ShapeError::Invalid(8)));
                };
                if pairs.len() > MAX_FIELDS {
                    return Err(CertError::Shape(ShapeError::Invalid(8)));
                }
                let mut out = BTreeMap::new();
                for (k, v) in pairs {
                    match (k, v) {
                        (Value::Text(k), Value::Bytes(d)) if k.len() <= 64 && d.len() == 32 => {
                            let mut h = [0u8; 32];
                            h.copy_from_slice(&d);
                            out.insert(k, h);
                        }
                        _ => return Err(CertError::Shape(ShapeError::Invalid(8))),
                    }
                }
                out
            },
            signed: m.uint(9).map_err(CertError::Shape)?,
        };
        m.finish().map_err(CertError::Shape)?;
        Ok(so)
    }
}

/// Builds a map with text keys in deterministic order (RFC 8949 §4.2.1: bytewise order of
/// the encoded keys, which for text strings puts shorter keys first).
fn sorted_text_keys(pairs: impl Iterator<Item = (String, Value)>) -> Vec<(Value, Value)> {
    let mut v: Vec<(Vec<u8>, Value, Value)> = pairs
        .map(|(k, val)| {
            let key = Value::Text(k);
            (cbor::encode(&key), key, val)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v.into_iter().map(|(_, k, val)| (k, val)).collect()
}

/// Why a certificate structure was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertError {
    /// Not canonical CBOR.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// The security object does not have the expected layout.
    #[error("security object: {0}")]
    Shape(ShapeError),
    /// A disclosed item is malformed.
    #[error("disclosed item: {0}")]
    Item(&'static str),
    /// The COSE_Sign1 is malformed or uses another algorithm than EdDSA.
    #[error("COSE_Sign1: {0}")]
    Cose(&'static str),
    /// The signature does not verify.
    #[error("the issuer signature does not verify")]
    BadSignature,
}

/// A parsed COSE_Sign1 over a security object, not yet verified.
#[derive(Debug, Clone)]
pub struct SignedSecurityObject {
    sign1: CoseSign1,
    object: SecurityObject,
}

impl SignedSecurityObject {
    /// Signs `object` with the issuer's key; `x5chain` is the issuer's certificate chain
    /// (DER, leaf first) for the unprotected header.
    pub fn sign(object: &SecurityObject, key: &SigningKey, x5chain: &[Vec<u8>]) -> Vec<u8> {
        sign1(object.encode(), key, x5chain_header(x5chain))
    }

    /// Parses a COSE_Sign1 (untagged, canonical CBOR, alg EdDSA) and its payload.
    pub fn parse(bytes: &[u8]) -> Result<Self, CertError> {
        let (sign1, payload) = parse_sign1(bytes)?;
        let object = SecurityObject::decode(&payload)?;
        Ok(Self { sign1, object })
    }

    /// The security object (not yet verified).
    pub fn object(&self) -> &SecurityObject {
        &self.object
    }

    /// The form kept in the log (see [`VerifiedSecurityObject::log_form`]): lets a
    /// caller recognise the very same signed certificate among stored ones.
    pub fn log_form(&self) -> Vec<u8> {
        log_form(&self.sign1)
    }

    /// The certificates of the `x5chain` header, leaf first; empty if absent.
    pub fn x5chain(&self) -> Result<Vec<Vec<u8>>, CertError> {
        x5chain_of(&self.sign1)
    }

    /// The `kid` header, if present.
    pub fn kid(&self) -> Option<&[u8]> {
        kid_of(&self.sign1)
    }

    /// The bytes the issuer signed (the COSE `Sig_structure`) and the signature, for a
    /// verifier that checks many signatures at once (the audit replay).
    pub fn signed_parts(&self) -> (Vec<u8>, Vec<u8>) {
        (self.sign1.tbs_data(b""), self.sign1.signature.clone())
    }

    /// Verifies the signature with `key` (`verify_strict`). Only a verified object can be
    /// turned into a [`VerifiedSecurityObject`].
    pub fn verify(self, key: &VerifyingKey) -> Result<VerifiedSecurityObject, CertError> {
        verify_sign1(&self.sign1, key)?;
        Ok(VerifiedSecurityObject { inner: self })
    }

    /// Verifies many signed objects, each with its key, accepting exactly what
    /// [`Self::verify`] accepts, with one batch equation where that gives the same answer
    /// ([`crate::ed25519::verify_strict_all`]). `seed`: 32 fresh random bytes that no
    /// signer can know.
    pub fn verify_all(
        objects: Vec<(Self, &VerifyingKey)>,
        seed: &[u8; 32],
    ) -> Vec<Result<VerifiedSecurityObject, CertError>> {
        // What `verify_sign1` refuses before verifying: a weak key, a malformed signature.
        let parts: Vec<Option<(Vec<u8>, Signature)>> = objects
            .iter()
            .map(|(o, key)| {
                (!key.is_weak())
                    .then(|| Signature::from_slice(&o.sign1.signature).ok())
                    .flatten()
                    .map(|sig| (o.sign1.tbs_data(b""), sig))
            })
            .collect();
        let items: Vec<crate::ed25519::Signed<'_>> = objects
            .iter()
            .zip(&parts)
            .filter_map(|((_, key), p)| {
                p.as_ref()
                    .map(|(message, signature)| crate::ed25519::Signed {
                        key,
                        message,
                        signature,
                    })
            })
            .collect();
        let mut verified = crate::ed25519::verify_strict_all(&items, seed).into_iter();
        objects
            .into_iter()
            .zip(&parts)
            .map(|((inner, _), p)| match p {
                Some(_) if verified.next() == Some(true) => Ok(VerifiedSecurityObject { inner }),
                _ => Err(CertError::BadSignature),
            })
            .collect()
    }
}

/// A security object whose issuer signature has been verified with a given key.
///
/// INVARIANT: only [`SignedSecurityObject::verify`] creates one.
#[derive(Debug, Clone)]
pub struct VerifiedSecurityObject {
    inner: SignedSecurityObject,
}

impl VerifiedSecurityObject {
    /// The security object.
    pub fn object(&self) -> &SecurityObject {
        &self.inner.object
    }

    /// Decodes a disclosed item and checks it against the signed digests. The bytes are
    /// canonical once decoded, so they are digested as they are, without re-encoding.
    pub fn check_item_bytes(&self, raw: &[u8]) -> Result<Item, CertError> {
        let item = Item::decode(raw)?;
        let digest: [u8; 32] = Sha256::digest(raw).into();
        let want = if item.name == HOLDER_ITEM {
            Some(&self.inner.object.holder)
        } else {
            self.inner.object.digests.get(&item.name)
        };
        match want {
            Some(d) if *d == digest => Ok(item),
            Some(_) => Err(CertError::Item("an item does not match its signed digest")),
            None => Err(CertError::Item("an item has no signed digest")),
        }
    }

    /// Checks a disclosed item against the signed digests.
    pub fn check_item(&self, item: &Item) -> Result<(), CertError> {
        item.check_salt()?;
        let want = if item.name == HOLDER_ITEM {
            Some(&self.inner.object.holder)
        } else {
            self.inner.object.digests.get(&item.name)
        };
        match want {
            Some(d) if *d == item_digest(item) => Ok(()),
            Some(_) => Err(CertError::Item("digest does not match the signed digest")),
            None => Err(CertError::Item("no signed digest for this name")),
        }
    }

    /// The COSE_Sign1 re-encoded with an empty unprotected header: the form kept in the
    /// log, whose entry names the signing key by its key id (and whose `KeyEvent` holds
    /// the certificate). The unprotected header is not signed, so the signature still
    /// verifies, and the log does not repeat the issuer's certificate in every entry.
    pub fn log_form(&self) -> Vec<u8> {
        log_form(&self.inner.sign1)
    }
}

fn x5chain_header(x5chain: &[Vec<u8>]) -> coset::Header {
    let chain = match x5chain {
        [one] => Value::Bytes(one.clone()),
        many => Value::Array(many.iter().map(|c| Value::Bytes(c.clone())).collect()),
    };
    HeaderBuilder::new()
        .value(iana::HeaderParameter::X5Chain as i64, chain)
        .build()
}

/// Signs `payload` as a COSE_Sign1 with alg EdDSA in the protected header.
fn sign1(payload: Vec<u8>, key: &SigningKey, unprotected: coset::Header) -> Vec<u8> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .build();
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .create_signature(b"", |data| key.sign(data).to_bytes().to_vec())
        .build();
    // INVARIANT: a COSE_Sign1 built from byte strings and a header of known labels
    // always serialises.
    #[allow(clippy::expect_used)]
    sign1.to_vec().expect("COSE_Sign1 serialises")
}

/// Parses an untagged, canonical COSE_Sign1 with alg EdDSA and an embedded payload.
pub(crate) fn parse_sign1(bytes: &[u8]) -> Result<(CoseSign1, Vec<u8>), CertError> {
    let value = cbor::decode_canonical(bytes, MAX_SIGN1)?;
    let sign1 =
        CoseSign1::from_cbor_value(value).map_err(|_| CertError::Cose("not a COSE_Sign1"))?;
    // The protected header is signed as bytes; hold it to the same canonical rule.
    if let Some(raw) = &sign1.protected.original_data {
        cbor::decode_canonical(raw, 1024)?;
    }
    let header = &sign1.protected.header;
    let alg_ok = matches!(
        header.alg,
        Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA
        ))
    );
    if !alg_ok {
        return Err(CertError::Cose("protected header must say alg EdDSA (-8)"));
    }
    if !header.crit.is_empty() {
        return Err(CertError::Cose("critical headers are not supported"));
    }
    let payload = sign1
        .payload
        .clone()
        .ok_or(CertError::Cose("payload must be embedded"))?;
    Ok((sign1, payload))
}

pub(crate) fn verify_sign1(sign1: &CoseSign1, key: &VerifyingKey) -> Result<(), CertError> {
    if key.is_weak() {
        return Err(CertError::BadSignature);
    }
    sign1.verify_signature(b"", |sig, data| {
        let sig = Signature::from_slice(sig).map_err(|_| CertError::BadSignature)?;
        if crate::ed25519::verify_strict(key, data, &sig) {
            Ok(())
        } else {
            Err(CertError::BadSignature)
        }
    })
}

fn x5chain_of(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, CertError> {
    let label = coset::Label::Int(iana::HeaderParameter::X5Chain as i64);
    match sign1.unprotected.rest.iter().find(|(l, _)| *l == label) {
        None => Ok(Vec::new()),
        Some((_, Value::Bytes(b))) => Ok(vec![b.clone()]),
        Some((_, Value::Array(a))) => a
            .iter()
            .map(|v| match v {
                Value::Bytes(b) => Ok(b.clone()),
                _ => Err(CertError::Cose("x5chain holds a non-bstr")),
            })
            .collect(),
        Some(_) => Err(CertError::Cose("x5chain is not bstr or array")),
    }
}

fn kid_of(sign1: &CoseSign1) -> Option<&[u8]> {
    let kid = &sign1.unprotected.key_id;
    (!kid.is_empty()).then_some(kid.as_slice())
}

fn log_form(sign1: &CoseSign1) -> Vec<u8> {
    let mut s = sign1.clone();
    s.unprotected = coset::Header::default();
    // INVARIANT: as in `sign1`.
    #[allow(clippy::expect_used)]
    s.to_vec().expect("COSE_Sign1 serialises")
}

/// A certificate's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Valid (issued, or reinstated after a suspension).
    Valid,
    /// Suspended; may be reinstated.
    Suspended,
    /// Revoked; final.
    Revoked,
    /// Replaced by a successor; final.
    Superseded,
}

impl Status {
    /// Wire number.
    pub const fn code(self) -> u64 {
        match self {
            Status::Valid => 0,
            Status::Suspended => 1,
            Status::Revoked => 2,
            Status::Superseded => 3,
        }
    }

    /// From the wire number.
    pub const fn from_code(c: u64) -> Option<Self> {
        match c {
            0 => Some(Status::Valid),
            1 => Some(Status::Suspended),
            2 => Some(Status::Revoked),
            3 => Some(Status::Superseded),
            _ => None,
        }
    }

    /// A stable lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Valid => "valid",
            Status::Suspended => "suspended",
            Status::Revoked => "revoked",
            Status::Superseded => "superseded",
        }
    }

    /// Whether a certificate in status `self` may move to `to`: suspend and revoke a valid
    /// one, reinstate or revoke a suspended one, supersede a valid or suspended one.
    /// Revoked and superseded are final.
    pub const fn can_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Valid, Status::Suspended)
                | (Status::Valid, Status::Revoked)
                | (Status::Valid, Status::Superseded)
                | (Status::Suspended, Status::Valid)
                | (Status::Suspended, Status::Revoked)
                | (Status::Suspended, Status::Superseded)
        )
    }
}

/// An issuer's signed statement that a certificate changes status. `previous` names the
/// log entry it follows (the `CertificateIssued` entry or the last `StatusChanged`), so
/// a statement applies once: replaying it later finds a newer previous entry and fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusStatement {
    /// 电子证照标识.
    pub certificate_id: String,
    /// The new status.
    pub status: Status,
    /// The successor's identifier, for `Superseded`.
    pub successor: Option<String>,
    /// Index of the log entry this change follows.
    pub previous: u64,
    /// When the issuer signed, ms since the Unix epoch.
    pub signed: u64,
}

impl StatusStatement {
    /// Canonical CBOR encoding.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .insert(1, cbor::text(&self.certificate_id))
                .insert(2, cbor::uint(self.status.code()))
                .insert_opt(3, self.successor.as_deref().map(cbor::text))
                .insert(4, cbor::uint(self.previous))
                .insert(5, cbor::uint(self.signed))
                .build(),
        )
    }

    /// Decodes a canonical statement.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertError> {
        let v = cbor::decode_canonical(bytes, 1024)?;
        let mut m = MapReader::new(v).map_err(CertError::Shape)?;
        let s = Self {
            certificate_id: m.text(1, 128).map_err(CertError::Shape)?,
            status: Status::from_code(m.uint(2).map_err(CertError::Shape)?)
                .ok_or(CertError::Shape(ShapeError::Invalid(2)))?,
            successor: m.text_opt(3, 128).map_err(CertError::Shape)?,
            previous: m.uint(4).map_err(CertError::Shape)?,
            signed: m.uint(5).map_err(CertError::Shape)?,
        };
        m.finish().map_err(CertError::Shape)?;
        if (s.status == Status::Superseded) != s.successor.is_some() {
            return Err(CertError::Shape(ShapeError::Invalid(3)));
        }
        Ok(s)
    }

    /// Signs the statement (COSE_Sign1, EdDSA) with the issuer's chain in `x5chain`.
    pub fn sign(&self, key: &SigningKey, x5chain: &[Vec<u8>]) -> Vec<u8> {
        sign1(self.encode(), key, x5chain_header(x5chain))
    }
}

/// A parsed, not yet verified, signed status statement.
#[derive(Debug, Clone)]
pub struct SignedStatus {
    sign1: CoseSign1,
    statement: StatusStatement,
}

impl SignedStatus {
    /// Parses a COSE_Sign1 over a [`StatusStatement`].
    pub fn parse(bytes: &[u8]) -> Result<Self, CertError> {
        let (sign1, payload) = parse_sign1(bytes)?;
        Ok(Self {
            statement: StatusStatement::decode(&payload)?,
            sign1,
        })
    }

    /// The statement (not yet verified).
    pub fn statement(&self) -> &StatusStatement {
        &self.statement
    }

    /// The `x5chain` header.
    pub fn x5chain(&self) -> Result<Vec<Vec<u8>>, CertError> {
        x5chain_of(&self.sign1)
    }

    /// The `kid` header.
    pub fn kid(&self) -> Option<&[u8]> {
        kid_of(&self.sign1)
    }

    /// The bytes the issuer signed over the statement (the COSE `Sig_structure`) and the signature, for a
    /// verifier that checks many signatures at once (the audit replay).
    pub fn signed_parts(&self) -> (Vec<u8>, Vec<u8>) {
        (self.sign1.tbs_data(b""), self.sign1.signature.clone())
    }

    /// Verifies the signature with `key` and returns the log form (empty unprotected
    /// header).
    pub fn verify(&self, key: &VerifyingKey) -> Result<Vec<u8>, CertError> {
        verify_sign1(&self.sign1, key)?;
        Ok(log_form(&self.sign1))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn object(items: &[Item], holder: &Item) -> SecurityObject {
        SecurityObject {
            type_code: "11100000000013338W001".into(),
            certificate_id: "1.2.156.3005.2.x".into(),
            issuer: "11370200MB2850412X".into(),
            holder: item_digest(holder),
            valid_from: "2025-01-01".into(),
            valid_until: None,
            digests: items
                .iter()
                .map(|i| (i.name.clone(), item_digest(i)))
                .collect(),
            signed: 1,
        }
    }

    fn items() -> (Vec<Item>, Item) {
        let a = Item {
            salt: vec![1; 16],
            name: "name".into(),
            value: FieldValue::Text("张三".into()),
        };
        let b = Item {
            salt: vec![2; 16],
            name: "age".into(),
            value: FieldValue::Int(61),
        };
        let c = Item {
            salt: vec![3; 16],
            name: "married".into(),
            value: FieldValue::Bool(true),
        };
        (
            vec![a, b, c],
            holder_item(vec![4; 16], "111", "370202199001011237"),
        )
    }

    #[test]
    fn sign_parse_verify_and_check_items() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (items, holder) = items();
        let so = object(&items, &holder);
        let bytes = SignedSecurityObject::sign(&so, &key, &[vec![0x30, 0x00]]);
        let parsed = SignedSecurityObject::parse(&bytes).unwrap();
        assert_eq!(parsed.object(), &so);
        assert_eq!(parsed.x5chain().unwrap(), vec![vec![0x30, 0x00]]);
        let v = parsed.verify(&key.verifying_key()).unwrap();
        for i in &items {
            v.check_item(i).unwrap();
        }
        v.check_item(&holder).unwrap();
        let mut wrong = items[0].clone();
        wrong.value = FieldValue::Text("李四".into());
        assert!(v.check_item(&wrong).is_err());

        // The log form, without the certificate chain, still verifies.
        let logged = v.log_form();
        assert!(logged.len() < bytes.len());
        let p = SignedSecurityObject::parse(&logged).unwrap();
        assert!(p.x5chain().unwrap().is_empty() && p.kid().is_none());
        p.verify(&key.verifying_key()).unwrap();
    }

    #[test]
    fn wrong_key_or_tampered_payload_fails() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let (items, holder) = items();
        let bytes = SignedSecurityObject::sign(&object(&items, &holder), &key, &[vec![1]]);
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert_eq!(
            SignedSecurityObject::parse(&bytes)
                .unwrap()
                .verify(&other)
                .unwrap_err(),
            CertError::BadSignature
        );
        // Flip a byte inside the payload's certificate id text.
        let pos = bytes.windows(4).position(|w| w == b"3005").unwrap();
        let mut t = bytes.clone();
        t[pos] = b'4';
        assert_eq!(
            SignedSecurityObject::parse(&t)
                .unwrap()
                .verify(&key.verifying_key())
                .unwrap_err(),
            CertError::BadSignature
        );
    }

    #[test]
    fn short_salts_and_odd_values_are_refused() {
        let short = Item {
            salt: vec![1; 15],
            name: "n".into(),
            value: FieldValue::Int(1),
        };
        assert!(Item::decode(&short.encode()).is_err());
        let ok = Item {
            salt: vec![1; 16],
            name: "n".into(),
            value: FieldValue::Int(-5),
        };
        assert_eq!(Item::decode(&ok.encode()).unwrap(), ok);
        let float = cbor::encode(&Value::Array(vec![
            Value::Bytes(vec![0; 16]),
            Value::Text("n".into()),
            Value::Float(1.5),
        ]));
        assert!(Item::decode(&float).is_err());
    }

    #[test]
    fn digest_map_keys_are_canonically_ordered() {
        let (items, holder) = items();
        let so = object(&items, &holder);
        // decode_canonical inside decode checks the order; "age" (3) < "name" (4) < "married" (7).
        assert_eq!(SecurityObject::decode(&so.encode()).unwrap(), so);
    }
}

/// A principal's signed statement that its own key is retired (e.g. after a suspected
/// compromise, or at the end of its use). Signed by the key being retired, so only its
/// holder can retire it; a retired key can never be used again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRetirement {
    /// The key id (SHA-256 of the DER SubjectPublicKeyInfo) of the retired key.
    pub key_id: [u8; 32],
    /// When it was signed, ms since the Unix epoch.
    pub signed: u64,
}

const RETIRE: &str = "retire";

impl KeyRetirement {
    /// Canonical CBOR `{1: "retire", 2: key id, 3: signed}`.
    pub fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .insert(1, cbor::text(RETIRE))
                .insert(2, cbor::bytes(&self.key_id))
                .insert(3, cbor::uint(self.signed))
                .build(),
        )
    }

    /// Signs it with the key being retired, whose chain goes in `x5chain`.
    pub fn sign(&self, key: &SigningKey, x5chain: &[Vec<u8>]) -> Vec<u8> {
        sign1(self.encode(), key, x5chain_header(x5chain))
    }

    /// Parses a signed retirement; returns it with the signer's chain. The caller
    /// validates the chain and then calls [`KeyRetirement::verify`].
    pub fn parse(bytes: &[u8]) -> Result<(Self, Vec<Vec<u8>>, SignedRetirement), CertError> {
        let (sign1, payload) = parse_sign1(bytes)?;
        let v = cbor::decode_canonical(&payload, 256)?;
        let mut m = MapReader::new(v).map_err(CertError::Shape)?;
        if m.text(1, 16).map_err(CertError::Shape)? != RETIRE {
            return Err(CertError::Shape(ShapeError::Invalid(1)));
        }
        let r = Self {
            key_id: m.digest(2).map_err(CertError::Shape)?,
            signed: m.uint(3).map_err(CertError::Shape)?,
        };
        m.finish().map_err(CertError::Shape)?;
        let chain = x5chain_of(&sign1)?;
        Ok((r, chain, SignedRetirement(sign1)))
    }
}

/// The signature of a parsed [`KeyRetirement`], to verify.
#[derive(Debug, Clone)]
pub struct SignedRetirement(CoseSign1);

impl SignedRetirement {
    /// Verifies with the key being retired.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CertError> {
        verify_sign1(&self.0, key)
    }
}
