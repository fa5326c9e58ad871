//! Log entries: typed, canonical CBOR, at most [`MAX_ENTRY_SIZE`] bytes.
//!
//! An entry is the two-element array `[kind, body]`; `body` is a map with small unsigned
//! integer keys. The layout is written in CDDL in `schemas/cddl/entry.cddl`, and a test
//! checks real encodings against it.
//!
//! Invariants (DESIGN.md §2):
//! * **The log holds commitments, not personal data.** No entry kind has a field for a
//!   holder code, a name or a field value; holders appear only as keyed pseudonyms.
//! * An [`EncodedEntry`] can only be obtained by encoding a typed [`Entry`] or by decoding
//!   bytes that are canonical, in range and of a known kind, so the sequencer, which takes
//!   `EncodedEntry`, cannot be handed anything else.

use crate::cbor::{self, CborError, MapBuilder, MapReader, ShapeError};
use ciborium::value::Value;
use thiserror::Error;

/// Largest encoded entry. The C2SP tlog-tiles entry bundle prefixes each entry with a
/// big-endian `uint16` length, so 65,535 bytes is the hard ceiling of the format.
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = u64;

/// The kinds of entry, with their stable wire numbers. Numbers are never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// An electronic certificate issued.
    CertificateIssued,
    /// A certificate's status changed.
    StatusChanged,
    /// A version of the scenario rule set took effect.
    PolicyPublished,
    /// A principal's certificate registered or retired.
    KeyEvent,
    /// A holder's one-time consent, granted through a channel.
    ConsentGranted,
    /// A consent revoked before use.
    ConsentRevoked,
    /// One verification decision, allow or deny.
    AccessRecorded,
}

impl EntryKind {
    /// The wire number of the kind.
    ///
    pub const fn code(self) -> u64 {
        match self {
            Self::CertificateIssued => 1,
            Self::StatusChanged => 2,
            Self::PolicyPublished => 3,
            Self::KeyEvent => 4,
            Self::ConsentGranted => 5,
            Self::ConsentRevoked => 6,
            Self::AccessRecorded => 7,
        }
    }

    /// The kind with this wire number, if this version defines it.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            1 => Some(Self::CertificateIssued),
            2 => Some(Self::StatusChanged),
            3 => Some(Self::PolicyPublished),
            4 => Some(Self::KeyEvent),
            5 => Some(Self::ConsentGranted),
            6 => Some(Self::ConsentRevoked),
            7 => Some(Self::AccessRecorded),
            _ => None,
        }
    }

    /// The kind of an entry's canonical bytes, read from its first two bytes without
    /// decoding the body: an entry is the CBOR array `[kind, body]`, and every kind number
    /// is below 24, so canonical bytes start `0x82, kind`. `None` for bytes that cannot
    /// start a valid entry. Only a filter: [`Entry::decode`] still validates what it keeps.
    pub fn of_bytes(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0x82, code, ..] => Self::from_code(u64::from(*code)),
            _ => None,
        }
    }

    /// A stable lowercase name, used in the HTTP API and in metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CertificateIssued => "certificate_issued",
            Self::StatusChanged => "status_changed",
            Self::PolicyPublished => "policy_published",
            Self::KeyEvent => "key_event",
            Self::ConsentGranted => "consent_granted",
            Self::ConsentRevoked => "consent_revoked",
            Self::AccessRecorded => "access_recorded",
        }
    }
}

/// What happened to a principal's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAction {
    /// The certificate is registered and its key may act in its role from now on.
    Registered,
    /// The key may no longer act; earlier statements stay valid.
    Retired,
}

/// A principal's certificate registered or retired (DESIGN.md §4 `KeyEvent`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    /// When the event took effect.
    pub time: Millis,
    /// Registered or retired.
    pub action: KeyAction,
    /// The principal's role, e.g. `ledger`, `issuer`, `department`.
    pub role: String,
    /// SHA-256 of the certificate's DER SubjectPublicKeyInfo: the key's stable identifier.
    pub key_id: [u8; 32],
    /// The DER certificate, on registration.
    pub certificate: Option<Vec<u8>>,
    /// The organisation's 统一社会信用代码, when the principal is an organisation.
    pub organisation: Option<String>,
}

/// An electronic certificate admitted to the ledger (DESIGN.md §4 `CertificateIssued`).
///
/// It holds the issuer's signature over commitments only: the security object carries
/// salted digests of the fields and of the holder, never their values, and `holder` is
/// the ledger's keyed pseudonym of the holder code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateIssued {
    /// When the ledger admitted it.
    pub time: Millis,
    /// HMAC-SHA-256 pseudonym of the holder code under the deployment secret.
    pub holder: [u8; 32],
    /// Key id of the issuer certificate that signed (registered by a `KeyEvent`).
    pub issuer_key: [u8; 32],
    /// The issuer's COSE_Sign1 over the security object, in log form (empty unprotected
    /// header: `issuer_key` names the key; see `proofless_core::cert`).
    pub security_object: Vec<u8>,
}

/// A certificate's status changed (DESIGN.md §4 `StatusChanged`), by a statement the
/// issuer signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChanged {
    /// When the ledger admitted it.
    pub time: Millis,
    /// 电子证照标识.
    pub certificate_id: String,
    /// The new status (`proofless_core::cert::Status` wire number).
    pub status: u64,
    /// The successor, when superseded.
    pub successor: Option<String>,
    /// Key id of the issuer certificate that signed.
    pub issuer_key: [u8; 32],
    /// The issuer's COSE_Sign1 over the status statement, in log form.
    pub statement: Vec<u8>,
}

/// A version of the no-proof scenario rule set took effect (DESIGN.md §4
/// `PolicyPublished`). Decisions name the version in force; an auditor re-checks them
/// against the rules of that version, whose files hash to `digest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyPublished {
    /// When it took effect.
    pub time: Millis,
    /// The rule set version: 1 for the first, then one more for each change.
    pub version: u64,
    /// `proofless_core::policy::RuleSet::digest` of the rule files.
    pub digest: [u8; 32],
    /// Each scenario's code, its own version and the SHA-256 of its file, in code order.
    pub scenarios: Vec<(String, u64, [u8; 32])>,
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The request was refused; nothing was disclosed.
    Deny,
    /// The request was answered.
    Allow,
}

/// One verification decision (DESIGN.md §4 `AccessRecorded`). It names fields, never
/// their values, and refers to the holder only through certificate identifiers and the
/// consent used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRecorded {
    /// When the decision was made.
    pub time: Millis,
    /// The department's 统一社会信用代码.
    pub department: String,
    /// The department's operator (pseudonymous staff identifier).
    pub operator: String,
    /// The scenario code.
    pub scenario: String,
    /// The version of the scenario rule set in force.
    pub policy_version: u64,
    /// 申请事由: at most 200 characters.
    pub purpose: String,
    /// The department's case number.
    pub case_number: String,
    /// Digest of the consent consumed, when the scenario required one.
    pub consent: Option<[u8; 32]>,
    /// Identifiers of the certificates the decision touched.
    pub certificates: Vec<String>,
    /// Names of the fields disclosed or checked.
    pub fields: Vec<String>,
    /// The decision.
    pub decision: Decision,
    /// A stable reason code (`ok` on allow).
    pub reason: String,
    /// SHA-256 of the department's signed request body (the RFC 9530 `sha-256`
    /// content digest). The body carries a random salt, so the digest of a body that
    /// names a holder cannot be confirmed by guessing the holder.
    pub request_digest: [u8; 32],
    /// What an auditor needs to re-verify the department's RFC 9421 signature on the
    /// request (non-repudiation); none of it is personal data.
    pub request: RequestSignature,
    /// The pseudonym of the holder the request was about, once resolved: from a holder
    /// code that parsed, or as the holder of the named certificate (absent when the
    /// request was refused before that, or named a certificate that does not exist). The
    /// holder's access history is built from it.
    pub holder: Option<[u8; 32]>,
}

/// A holder's one-time consent (DESIGN.md §4 `ConsentGranted`), granted through an
/// accredited channel, whose RFC 9421 signature on the grant request it keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentGranted {
    /// When it was granted.
    pub time: Millis,
    /// The channel's 统一社会信用代码.
    pub channel: String,
    /// The holder's pseudonym.
    pub holder: [u8; 32],
    /// The scenario code.
    pub scenario: String,
    /// The rule set version in force.
    pub policy_version: u64,
    /// The one department allowed to use it, if the holder named one.
    pub department: Option<String>,
    /// What may be asked, as `<type>/disclose/<field>`, `<type>/claim/<field>` and
    /// `<type>/predicate/<name>` (names only).
    pub scope: Vec<String>,
    /// Last moment of validity.
    pub expires: Millis,
    /// SHA-256 of the consent code (the code itself is a bearer secret).
    pub consent: [u8; 32],
    /// SHA-256 of the channel's request body.
    pub request_digest: [u8; 32],
    /// The channel's signed request.
    pub request: RequestSignature,
}

/// A consent revoked before it was used (DESIGN.md §4 `ConsentRevoked`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRevoked {
    /// When it was revoked.
    pub time: Millis,
    /// The channel's 统一社会信用代码.
    pub channel: String,
    /// SHA-256 of the consent code.
    pub consent: [u8; 32],
    /// SHA-256 of the channel's request body.
    pub request_digest: [u8; 32],
    /// The channel's signed request.
    pub request: RequestSignature,
}

/// The covered parts of a department's signed request, as the server received them
/// (`proofless_core::httpsig` rebuilds the signature base from these and the digest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestSignature {
    /// SHA-256 of the department certificate's SubjectPublicKeyInfo (its `KeyEvent`).
    pub key_id: [u8; 32],
    /// `@method`.
    pub method: String,
    /// `@path`.
    pub path: String,
    /// `@authority`.
    pub authority: String,
    /// The `Content-Digest` header value, exactly as sent.
    pub content_digest: String,
    /// The serialized signature parameters (`@signature-params`).
    pub params: String,
    /// The Ed25519 signature.
    pub signature: [u8; 64],
}

impl RequestSignature {
    /// The RFC 9421 signature base the signer signed, rebuilt from the recorded parts:
    /// an auditor verifies [`RequestSignature::signature`] over it with the key that
    /// [`RequestSignature::key_id`] names.
    pub fn signature_base(&self) -> Result<String, crate::httpsig::HttpSigError> {
        use base64::Engine;
        let (_, params, _) = crate::httpsig::parse(
            &format!("sig={}", self.params),
            &format!(
                "sig=:{}:",
                base64::engine::general_purpose::STANDARD.encode(self.signature)
            ),
        )?;
        let parts = crate::httpsig::RequestParts::new(&self.method, &self.authority, &self.path)
            .header("content-digest", &self.content_digest);
        crate::httpsig::signature_base(&parts, &params)
    }

    /// A realistically sized request signature that verifies under no key, for tests and
    /// benchmarks of the log (`n` varies the nonce and the signature bytes).
    pub fn example(n: u64) -> Self {
        let mut signature = [0x5a; 64];
        signature[..8].copy_from_slice(&n.to_be_bytes());
        Self {
            key_id: [0x42; 32],
            method: "POST".into(),
            path: "/v1/verifications".into(),
            authority: "ledger.qingdao.example".into(),
            content_digest: "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:".into(),
            params: format!(
                "(\"@method\" \"@path\" \"@authority\" \"content-digest\");\
                 created=1764000000;nonce=\"{n:032x}\";keyid=\"{}\";alg=\"ed25519\"",
                "42".repeat(32)
            ),
            signature,
        }
    }
}

/// Longest purpose, in characters (DESIGN.md §4).
pub const MAX_PURPOSE_CHARS: usize = 200;

/// A typed log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// An entry is built once, encoded and dropped; boxing the large `AccessRecorded` would
// add an allocation per decision and save nothing measurable.
#[allow(clippy::large_enum_variant)]
pub enum Entry {
    /// See [`CertificateIssued`].
    CertificateIssued(CertificateIssued),
    /// See [`StatusChanged`].
    StatusChanged(StatusChanged),
    /// See [`PolicyPublished`].
    PolicyPublished(PolicyPublished),
    /// See [`KeyEvent`].
    KeyEvent(KeyEvent),
    /// See [`ConsentGranted`].
    ConsentGranted(ConsentGranted),
    /// See [`ConsentRevoked`].
    ConsentRevoked(ConsentRevoked),
    /// See [`AccessRecorded`].
    AccessRecorded(AccessRecorded),
}

/// Why bytes are not a valid entry.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// Not canonical CBOR, or too large.
    #[error(transparent)]
    Cbor(#[from] CborError),
    /// Not the two-element array `[kind, body]`.
    #[error("an entry is the array [kind, body]")]
    NotAnEntry,
    /// A kind this version does not define.
    #[error("unknown entry kind {0}")]
    UnknownKind(u64),
    /// The body does not match the layout of its kind.
    #[error("{kind} body: {source}")]
    Body {
        /// The entry kind's name.
        kind: &'static str,
        /// What is wrong.
        source: ShapeError,
    },
}

// Size limits of individual fields, chosen well above any real value so that no single
// field can crowd out the rest of a 64 KiB entry.
const MAX_SHORT_TEXT: usize = 256;
const MAX_PURPOSE_BYTES: usize = MAX_PURPOSE_CHARS * 4;
const MAX_CERTIFICATE_DER: usize = 16 * 1024;
const MAX_LIST_ITEMS: usize = 256;
const MAX_ID: usize = 128;
const MAX_SIGNED: usize = 32 * 1024;
/// Longest serialized signature parameters kept in an `AccessRecorded` entry.
pub const MAX_SIGNATURE_PARAMS: usize = 1024;

impl Entry {
    /// The entry's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            Self::CertificateIssued(_) => EntryKind::CertificateIssued,
            Self::StatusChanged(_) => EntryKind::StatusChanged,
            Self::PolicyPublished(_) => EntryKind::PolicyPublished,
            Self::KeyEvent(_) => EntryKind::KeyEvent,
            Self::ConsentGranted(_) => EntryKind::ConsentGranted,
            Self::ConsentRevoked(_) => EntryKind::ConsentRevoked,
            Self::AccessRecorded(_) => EntryKind::AccessRecorded,
        }
    }

    /// Encodes the entry canonically. Fails only when the result would exceed
    /// [`MAX_ENTRY_SIZE`] or a field exceeds its limit, so that what is encoded always decodes.
    pub fn encode(&self) -> Result<EncodedEntry, EntryError> {
        let body = match self {
            // Key 2 is not used: the identifier is inside the signed security object, and
            // repeating it would cost every certificate ~80 bytes of log.
            Self::CertificateIssued(c) => MapBuilder::new()
                .insert(1, cbor::uint(c.time))
                .insert(3, cbor::bytes(&c.holder))
                .insert(4, cbor::bytes(&c.issuer_key))
                .insert(5, cbor::bytes(&c.security_object))
                .build(),
            Self::StatusChanged(c) => MapBuilder::new()
                .insert(1, cbor::uint(c.time))
                .insert(2, cbor::text(&c.certificate_id))
                .insert(3, cbor::uint(c.status))
                .insert_opt(4, c.successor.as_deref().map(cbor::text))
                .insert(5, cbor::bytes(&c.issuer_key))
                .insert(6, cbor::bytes(&c.statement))
                .build(),
            Self::PolicyPublished(p) => MapBuilder::new()
                .insert(1, cbor::uint(p.time))
                .insert(2, cbor::uint(p.version))
                .insert(3, cbor::bytes(&p.digest))
                .insert(
                    4,
                    Value::Array(
                        p.scenarios
                            .iter()
                            .map(|(code, version, digest)| {
                                Value::Array(vec![
                                    cbor::text(code),
                                    cbor::uint(*version),
                                    cbor::bytes(digest),
                                ])
                            })
                            .collect(),
                    ),
                )
                .build(),
            Self::KeyEvent(e) => MapBuilder::new()
                .insert(1, cbor::uint(e.time))
                .insert(
                    2,
                    cbor::uint(match e.action {
                        KeyAction::Registered => 0,
                        KeyAction::Retired => 1,
                    }),
                )
                .insert(3, cbor::text(&e.role))
                .insert(4, cbor::bytes(&e.key_id))
                .insert_opt(5, e.certificate.as_deref().map(cbor::bytes))
                .insert_opt(6, e.organisation.as_deref().map(cbor::text))
                .build(),
            Self::AccessRecorded(a) => {
                let m = MapBuilder::new()
                    .insert(1, cbor::uint(a.time))
                    .insert(2, cbor::text(&a.department))
                    .insert(3, cbor::text(&a.operator))
                    .insert(4, cbor::text(&a.scenario))
                    .insert(5, cbor::uint(a.policy_version))
                    .insert(6, cbor::text(&a.purpose))
                    .insert(7, cbor::text(&a.case_number))
                    .insert_opt(8, a.consent.as_ref().map(|c| cbor::bytes(c)))
                    .insert(9, cbor::text_array(&a.certificates))
                    .insert(10, cbor::text_array(&a.fields))
                    .insert(
                        11,
                        cbor::uint(match a.decision {
                            Decision::Deny => 0,
                            Decision::Allow => 1,
                        }),
                    )
                    .insert(12, cbor::text(&a.reason))
                    .insert(13, cbor::bytes(&a.request_digest));
                request_fields(m, 14, &a.request)
                    .insert_opt(21, a.holder.as_ref().map(|h| cbor::bytes(h)))
                    .build()
            }

            Self::ConsentGranted(c) => {
                let m = MapBuilder::new()
                    .insert(1, cbor::uint(c.time))
                    .insert(2, cbor::text(&c.channel))
                    .insert(3, cbor::bytes(&c.holder))
                    .insert(4, cbor::text(&c.scenario))
                    .insert(5, cbor::uint(c.policy_version))
                    .insert_opt(6, c.department.as_deref().map(cbor::text))
                    .insert(7, cbor::text_array(&c.scope))
                    .insert(8, cbor::uint(c.expires))
                    .insert(9, cbor::bytes(&c.consent))
                    .insert(10, cbor::bytes(&c.request_digest));
                request_fields(m, 11, &c.request).build()
            }
            Self::ConsentRevoked(c) => {
                let m = MapBuilder::new()
                    .insert(1, cbor::uint(c.time))
                    .insert(2, cbor::text(&c.channel))
                    .insert(3, cbor::bytes(&c.consent))
                    .insert(4, cbor::bytes(&c.request_digest));
                request_fields(m, 5, &c.request).build()
            }
        };
        let value = Value::Array(vec![cbor::uint(self.kind().code()), body]);
        let bytes = cbor::encode(&value);
        // The checks of `decode`, without parsing the bytes back: the size, the canonical
        // shape of the value (map keys in order, no floats or tags), and every field limit,
        // so that an entry that could not be read back is never written. (Parsing back
        // cost ~3 % of a verification's CPU.)
        if bytes.len() > MAX_ENTRY_SIZE {
            return Err(CborError::TooLarge {
                len: bytes.len(),
                max: MAX_ENTRY_SIZE,
            }
            .into());
        }
        cbor::check_value(&value)?;
        Self::from_value(value)?;
        debug_assert!(
            Entry::decode(&bytes).is_ok(),
            "an encoded entry must decode"
        );
        Ok(EncodedEntry {
            bytes,
            kind: self.kind(),
        })
    }

    /// Decodes and validates an entry.
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        Self::from_value(cbor::decode_canonical(bytes, MAX_ENTRY_SIZE)?)
    }

    /// Validates the layout and field limits of an entry already parsed as canonical CBOR.
    fn from_value(value: Value) -> Result<Self, EntryError> {
        let Value::Array(mut parts) = value else {
            return Err(EntryError::NotAnEntry);
        };
        if parts.len() != 2 {
            return Err(EntryError::NotAnEntry);
        }
        let body = parts.pop().ok_or(EntryError::NotAnEntry)?;
        let code = parts
            .pop()
            .and_then(cbor::as_uint)
            .ok_or(EntryError::NotAnEntry)?;
        let kind = EntryKind::from_code(code).ok_or(EntryError::UnknownKind(code))?;
        let wrap = |source| EntryError::Body {
            kind: kind.name(),
            source,
        };
        let mut m = MapReader::new(body).map_err(wrap)?;
        let entry = match kind {
            EntryKind::CertificateIssued => {
                Self::CertificateIssued(decode_issued(&mut m).map_err(wrap)?)
            }
            EntryKind::StatusChanged => Self::StatusChanged(decode_status(&mut m).map_err(wrap)?),
            EntryKind::PolicyPublished => {
                Self::PolicyPublished(decode_policy(&mut m).map_err(wrap)?)
            }
            EntryKind::KeyEvent => Self::KeyEvent(decode_key_event(&mut m).map_err(wrap)?),
            EntryKind::ConsentGranted => {
                Self::ConsentGranted(decode_granted(&mut m).map_err(wrap)?)
            }
            EntryKind::ConsentRevoked => {
                Self::ConsentRevoked(decode_revoked(&mut m).map_err(wrap)?)
            }
            EntryKind::AccessRecorded => Self::AccessRecorded(decode_access(&mut m).map_err(wrap)?),
        };
        m.finish().map_err(wrap)?;
        Ok(entry)
    }
}

fn decode_issued(m: &mut MapReader) -> Result<CertificateIssued, ShapeError> {
    let c = CertificateIssued {
        time: m.uint(1)?,
        holder: m.digest(3)?,
        issuer_key: m.digest(4)?,
        security_object: m.bytes(5, MAX_SIGNED)?,
    };
    if c.security_object.is_empty() {
        return Err(ShapeError::Invalid(5));
    }
    Ok(c)
}

fn decode_status(m: &mut MapReader) -> Result<StatusChanged, ShapeError> {
    let s = StatusChanged {
        time: m.uint(1)?,
        certificate_id: m.text(2, MAX_ID)?,
        status: m.uint(3)?,
        successor: m.text_opt(4, MAX_ID)?,
        issuer_key: m.digest(5)?,
        statement: m.bytes(6, MAX_SIGNED)?,
    };
    if s.status > 3 {
        return Err(ShapeError::Invalid(3));
    }
    // A successor is named exactly when the certificate is superseded (status 3).
    if (s.status == 3) != s.successor.is_some() {
        return Err(ShapeError::Invalid(4));
    }
    if s.certificate_id.is_empty() || s.successor.as_deref() == Some("") {
        return Err(ShapeError::Invalid(2));
    }
    if s.statement.is_empty() {
        return Err(ShapeError::Invalid(6));
    }
    Ok(s)
}

fn decode_policy(m: &mut MapReader) -> Result<PolicyPublished, ShapeError> {
    let time = m.uint(1)?;
    let version = m.uint(2)?;
    let digest = m.digest(3)?;
    let Value::Array(items) = m.take(4)? else {
        return Err(ShapeError::Invalid(4));
    };
    if items.is_empty() || items.len() > MAX_LIST_ITEMS {
        return Err(ShapeError::Invalid(4));
    }
    let mut scenarios = Vec::with_capacity(items.len());
    for item in items {
        let Value::Array(parts) = item else {
            return Err(ShapeError::Invalid(4));
        };
        let mut parts = parts.into_iter();
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Value::Text(code)), Some(v), Some(Value::Bytes(d)), None)
                if !code.is_empty() && code.len() <= MAX_SHORT_TEXT =>
            {
                let v = cbor::as_uint(v).ok_or(ShapeError::Invalid(4))?;
                let d: [u8; 32] = d.try_into().map_err(|_| ShapeError::Invalid(4))?;
                // Codes strictly ascending: each once, in one order.
                if scenarios
                    .last()
                    .is_some_and(|(last, _, _): &(String, u64, [u8; 32])| *last >= code)
                {
                    return Err(ShapeError::Invalid(4));
                }
                scenarios.push((code, v, d));
            }
            _ => return Err(ShapeError::Invalid(4)),
        }
    }
    if version == 0 {
        return Err(ShapeError::Invalid(2));
    }
    Ok(PolicyPublished {
        time,
        version,
        digest,
        scenarios,
    })
}

fn decode_key_event(m: &mut MapReader) -> Result<KeyEvent, ShapeError> {
    Ok(KeyEvent {
        time: m.uint(1)?,
        action: match m.uint(2)? {
            0 => KeyAction::Registered,
            1 => KeyAction::Retired,
            _ => return Err(ShapeError::Invalid(2)),
        },
        role: m.text(3, MAX_SHORT_TEXT)?,
        key_id: m.digest(4)?,
        certificate: m.bytes_opt(5, MAX_CERTIFICATE_DER)?,
        organisation: m.text_opt(6, MAX_SHORT_TEXT)?,
    })
}

fn decode_access(m: &mut MapReader) -> Result<AccessRecorded, ShapeError> {
    let time = m.uint(1)?;
    let department = m.text(2, MAX_SHORT_TEXT)?;
    let operator = m.text(3, MAX_SHORT_TEXT)?;
    let scenario = m.text(4, MAX_SHORT_TEXT)?;
    let policy_version = m.uint(5)?;
    let purpose = m.text(6, MAX_PURPOSE_BYTES)?;
    if purpose.chars().count() > MAX_PURPOSE_CHARS {
        return Err(ShapeError::Invalid(6));
    }
    Ok(AccessRecorded {
        time,
        department,
        operator,
        scenario,
        policy_version,
        purpose,
        case_number: m.text(7, MAX_SHORT_TEXT)?,
        consent: m.digest_opt(8)?,
        certificates: m.text_array(9, MAX_LIST_ITEMS, MAX_SHORT_TEXT)?,
        fields: m.text_array(10, MAX_LIST_ITEMS, MAX_SHORT_TEXT)?,
        decision: match m.uint(11)? {
            0 => Decision::Deny,
            1 => Decision::Allow,
            _ => return Err(ShapeError::Invalid(11)),
        },
        reason: m.text(12, MAX_SHORT_TEXT)?,
        request_digest: m.digest(13)?,
        request: decode_request(m, 14)?,
        holder: m.digest_opt(21)?,
    })
}

/// The seven fields of a [`RequestSignature`], at keys `first`..`first + 6`.
fn request_fields(m: MapBuilder, first: u64, r: &RequestSignature) -> MapBuilder {
    m.insert(first, cbor::bytes(&r.key_id))
        .insert(first + 1, cbor::text(&r.method))
        .insert(first + 2, cbor::text(&r.path))
        .insert(first + 3, cbor::text(&r.authority))
        .insert(first + 4, cbor::text(&r.content_digest))
        .insert(first + 5, cbor::text(&r.params))
        .insert(first + 6, cbor::bytes(&r.signature))
}

fn decode_request(m: &mut MapReader, first: u64) -> Result<RequestSignature, ShapeError> {
    Ok(RequestSignature {
        key_id: m.digest(first)?,
        method: m.text(first + 1, 16)?,
        path: m.text(first + 2, MAX_SHORT_TEXT)?,
        authority: m.text(first + 3, MAX_SHORT_TEXT)?,
        content_digest: m.text(first + 4, MAX_SHORT_TEXT)?,
        params: m.text(first + 5, MAX_SIGNATURE_PARAMS)?,
        signature: m
            .bytes(first + 6, 64)?
            .try_into()
            .map_err(|_| ShapeError::Invalid(first + 6))?,
    })
}

fn decode_granted(m: &mut MapReader) -> Result<ConsentGranted, ShapeError> {
    Ok(ConsentGranted {
        time: m.uint(1)?,
        channel: m.text(2, MAX_SHORT_TEXT)?,
        holder: m.digest(3)?,
        scenario: m.text(4, MAX_SHORT_TEXT)?,
        policy_version: m.uint(5)?,
        department: m.text_opt(6, MAX_SHORT_TEXT)?,
        scope: m.text_array(7, MAX_LIST_ITEMS, MAX_SHORT_TEXT)?,
        expires: m.uint(8)?,
        consent: m.digest(9)?,
        request_digest: m.digest(10)?,
        request: decode_request(m, 11)?,
    })
}

fn decode_revoked(m: &mut MapReader) -> Result<ConsentRevoked, ShapeError> {
    Ok(ConsentRevoked {
        time: m.uint(1)?,
        channel: m.text(2, MAX_SHORT_TEXT)?,
        consent: m.digest(3)?,
        request_digest: m.digest(4)?,
        request: decode_request(m, 5)?,
    })
}

/// The canonical bytes of a valid entry, with its kind.
///
/// INVARIANT: `bytes` decode with [`Entry::decode`] to an entry of kind `kind`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEntry {
    bytes: Vec<u8>,
    kind: EntryKind,
}

impl EncodedEntry {
    /// Validates bytes received from outside (or read back from storage).
    pub fn decode(bytes: &[u8]) -> Result<Self, EntryError> {
        let entry = Entry::decode(bytes)?;
        Ok(Self {
            bytes: bytes.to_vec(),
            kind: entry.kind(),
        })
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The canonical bytes, by value.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    /// The entry's kind.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) fn sample_access() -> AccessRecorded {
        AccessRecorded {
            time: 1_764_000_000_000,
            department: "11370200MB2850412X".into(),
            operator: "op-7f3a".into(),
            scenario: "QD-GZF-001".into(),
            policy_version: 3,
            purpose: "公共租赁住房申请资格审核".into(),
            case_number: "QD-2025-000123".into(),
            consent: Some([7; 32]),
            certificates: vec![
                "1.2.156.3005.2.11100000000013338W001.113702000000000000.0000001.001.K".into(),
            ],
            fields: vec!["name".into(), "marital_status".into()],
            decision: Decision::Allow,
            reason: "ok".into(),
            request_digest: [9; 32],
            request: RequestSignature::example(1),
            holder: Some([6; 32]),
        }
    }

    #[test]
    fn encode_refuses_what_decode_would_refuse() {
        // A purpose over the limit, a superseded status without its successor, and an
        // entry over the size limit: `encode` applies the same checks as `decode`.
        let mut long = sample_access();
        long.purpose = "申".repeat(MAX_PURPOSE_CHARS + 1);
        assert!(matches!(
            Entry::AccessRecorded(long).encode(),
            Err(EntryError::Body { .. })
        ));
        let status = StatusChanged {
            time: 1,
            certificate_id: "x".into(),
            status: 3,
            successor: None,
            issuer_key: [1; 32],
            statement: vec![1],
        };
        assert!(matches!(
            Entry::StatusChanged(status).encode(),
            Err(EntryError::Body { .. })
        ));
        let mut big = sample_access();
        big.fields = vec!["f".repeat(MAX_SHORT_TEXT); MAX_LIST_ITEMS];
        assert!(matches!(
            Entry::AccessRecorded(big).encode(),
            Err(EntryError::Cbor(CborError::TooLarge { .. }))
        ));
    }

    #[test]
    fn round_trips_both_kinds() {
        let entries = [
            Entry::AccessRecorded(sample_access()),
            Entry::KeyEvent(KeyEvent {
                time: 1,
                action: KeyAction::Retired,
                role: "issuer".into(),
                key_id: [1; 32],
                certificate: None,
                organisation: Some("11370200MB2850412X".into()),
            }),
        ];
        for e in entries {
            let enc = e.encode().unwrap();
            assert_eq!(enc.kind(), e.kind());
            assert_eq!(EntryKind::of_bytes(enc.as_bytes()), Some(e.kind()));
            assert_eq!(Entry::decode(enc.as_bytes()).unwrap(), e);
        }
    }

    #[test]
    fn the_kind_is_read_from_the_first_two_bytes_only() {
        for code in 1..=7 {
            let kind = EntryKind::from_code(code).unwrap();
            assert_eq!(EntryKind::of_bytes(&[0x82, code as u8]), Some(kind));
        }
        for bad in [
            &[][..],
            &[0x82],
            &[0x82, 0],
            &[0x82, 8],
            &[0x83, 7],
            &[0x81, 7],
        ] {
            assert_eq!(EntryKind::of_bytes(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rejects_unknown_kind_and_fields() {
        let mut bytes = Entry::AccessRecorded(sample_access())
            .encode()
            .unwrap()
            .into_bytes();
        // [kind, body]: the kind is the second byte.
        bytes[1] = 0x08;
        assert_eq!(Entry::decode(&bytes), Err(EntryError::UnknownKind(8)));

        let body = MapBuilder::new().insert(1, cbor::uint(1)).build();
        let v = Value::Array(vec![cbor::uint(4), body]);
        assert!(matches!(
            Entry::decode(&cbor::encode(&v)),
            Err(EntryError::Body {
                source: ShapeError::Missing(2),
                ..
            })
        ));
    }

    #[test]
    fn policy_published_lists_each_scenario_once_in_order() {
        let ok = PolicyPublished {
            time: 1,
            version: 1,
            digest: [1; 32],
            scenarios: vec![("A-1".into(), 1, [2; 32]), ("B-1".into(), 3, [3; 32])],
        };
        let enc = Entry::PolicyPublished(ok.clone()).encode().unwrap();
        assert_eq!(
            Entry::decode(enc.as_bytes()).unwrap(),
            Entry::PolicyPublished(ok.clone())
        );
        for bad in [
            PolicyPublished {
                scenarios: vec![ok.scenarios[1].clone(), ok.scenarios[0].clone()],
                ..ok.clone()
            },
            PolicyPublished {
                scenarios: vec![ok.scenarios[0].clone(), ok.scenarios[0].clone()],
                ..ok.clone()
            },
            PolicyPublished {
                scenarios: vec![],
                ..ok.clone()
            },
            PolicyPublished {
                version: 0,
                ..ok.clone()
            },
        ] {
            assert!(
                matches!(
                    Entry::PolicyPublished(bad.clone()).encode(),
                    Err(EntryError::Body { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_overlong_purpose() {
        let mut a = sample_access();
        a.purpose = "事".repeat(MAX_PURPOSE_CHARS + 1);
        assert!(matches!(
            Entry::AccessRecorded(a).encode(),
            Err(EntryError::Body {
                source: ShapeError::Invalid(6),
                ..
            })
        ));
    }
}
