//! The certificate service: issuance, status changes, key retirement and lookups.
//!
//! Invariants (DESIGN.md §2):
//! * **Whoever states something signs it.** A certificate enters the log only with its
//!   issuer's COSE signature, made with a key whose X.509 chain reaches the trust anchor
//!   for the role `issuer`, whose organisation is the identifier's issuer, and which may
//!   issue the type; a status change only with a statement signed by the same
//!   organisation.
//! * **Append-only, unique identifiers.** An identifier is admitted once, ever: checked
//!   before sequencing (store index plus in-flight set) and again by the store itself
//!   (insert-only put in the batch transaction).
//! * **The log holds commitments, not personal data.** Entries carry the signed digests,
//!   the holder's keyed pseudonym and the issuer's key id; values and salts go to the
//!   payload table, sealed under the holder's key, in the same transaction.
//! * **Bad input changes nothing.** Every check runs before anything is appended.

use crate::catalog::{Catalog, SchemaViolation};
use crate::clock::{Clock, china_date};
use crate::log::{AppendError, Log, PendingPut, ReadError};
use crate::vault::{self, Pseudonym, PseudonymKey};
use proofless_core::cbor::{self, MapBuilder, MapReader};
use proofless_core::cert::{
    CertError, FieldValue, HOLDER_ITEM, Item, KeyRetirement, SignedSecurityObject, SignedStatus,
    Status,
};
use proofless_core::entry::{Entry, KeyAction, KeyEvent, StatusChanged};
use proofless_core::ids::{HolderCode, IdError};
use proofless_core::keys::Role;
use proofless_core::merkle::Hash;
use proofless_core::pki::{self, PkiError, Principal, TrustAnchor};
use proofless_store::{Put, PutMode, Store, StoreError, Table};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use thiserror::Error;

mod admission;
pub use admission::{Checked, Sealed};

/// Why an issuance, status change or retirement was refused. Nothing was written.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The COSE_Sign1, security object or an item is malformed or non-canonical.
    #[error("malformed: {0}")]
    Malformed(CertError),
    /// The signer's chain does not reach the trust anchor for the right role, or a
    /// certificate in it is expired or not yet valid.
    #[error("issuer certificate not accepted: {0}")]
    Untrusted(PkiError),
    /// The signing key was retired by a `KeyEvent`.
    #[error("the issuer key is retired")]
    KeyRetired,
    /// No principal with this key id is registered in the log.
    #[error("no principal with this key id is registered")]
    UnknownKey,
    /// The type code is not in the catalog.
    #[error("unknown certificate type")]
    UnknownType,
    /// The issuer's certificate does not allow this type.
    #[error("the issuer may not issue this certificate type")]
    TypeNotAllowed,
    /// The signature does not verify.
    #[error("the issuer signature does not verify")]
    BadSignature,
    /// The identifier, security object and issuer certificate disagree on who issued.
    #[error("the issuer in the identifier, the security object and the certificate differ")]
    IssuerMismatch,
    /// The identifier is malformed or its check character is wrong.
    #[error("certificate identifier: {0}")]
    BadIdentifier(IdError),
    /// The holder code is malformed, its check character is wrong, or its type is not
    /// one this certificate type is held by.
    #[error("holder code: {0}")]
    BadHolderCode(&'static str),
    /// A disclosed item does not match its signed digest, or items are missing or extra.
    #[error("disclosed items: {0}")]
    DigestMismatch(&'static str),
    /// A field value violates the type's schema.
    #[error(transparent)]
    Schema(SchemaViolation),
    /// The validity dates are malformed or reversed.
    #[error("validity dates are malformed or reversed")]
    BadValidity,
    /// The issuer says it signed later than now (beyond five minutes of clock skew).
    #[error("the issuer's signing time is in the future")]
    SignedInFuture,
    /// The identifier was issued before (identifiers are unique forever).
    #[error("the certificate identifier is already in the log")]
    Duplicate,
    /// No such certificate.
    #[error("no such certificate")]
    NotFound,
    /// The signer is not the certificate's issuer.
    #[error("only the certificate's issuer may change its status")]
    NotIssuer,
    /// The statement does not follow the certificate's latest status entry.
    #[error("the statement does not follow the latest status entry")]
    Stale,
    /// The transition is not allowed (e.g. reinstating a revoked certificate).
    #[error("status {from} cannot become {to}")]
    Transition {
        /// Current status.
        from: &'static str,
        /// Requested status.
        to: &'static str,
    },
    /// The successor does not exist, or is of another type or holder.
    #[error("the successor is not a valid certificate of the same type and holder")]
    BadSuccessor,
    /// Another change to the same certificate is in progress.
    #[error("another change to this certificate is in progress")]
    Busy,
    /// The ledger could not durably append; nothing can be assumed written.
    #[error("the ledger is unavailable")]
    Unavailable,
}

impl CertificateError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed_certificate",
            Self::Untrusted(PkiError::Expired { .. } | PkiError::NotYetValid { .. }) => {
                "issuer_certificate_expired"
            }
            Self::Untrusted(_) => "issuer_not_trusted",
            Self::KeyRetired => "issuer_key_retired",
            Self::UnknownKey => "unknown_key",
            Self::UnknownType => "unknown_certificate_type",
            Self::TypeNotAllowed => "type_not_allowed",
            Self::BadSignature => "bad_signature",
            Self::IssuerMismatch => "issuer_mismatch",
            Self::BadIdentifier(_) => "invalid_certificate_id",
            Self::BadHolderCode(_) => "invalid_holder_code",
            Self::DigestMismatch(_) => "digest_mismatch",
            Self::Schema(_) => "schema_violation",
            Self::BadValidity => "invalid_validity",
            Self::SignedInFuture => "signed_in_future",
            Self::Duplicate => "duplicate_certificate_id",
            Self::NotFound => "not_found",
            Self::NotIssuer => "not_certificate_issuer",
            Self::Stale => "stale_status",
            Self::Transition { .. } => "invalid_status_transition",
            Self::BadSuccessor => "invalid_successor",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }
}

fn malformed(e: CertError) -> CertificateError {
    match e {
        CertError::BadSignature => CertificateError::BadSignature,
        other => CertificateError::Malformed(other),
    }
}

/// What an issuer submits: its COSE_Sign1 over the security object (with `x5chain`) and
/// every item (salt, name, value) including the holder item.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// COSE_Sign1 bytes.
    pub security_object: Vec<u8>,
    /// Canonical CBOR `[salt, name, value]` items.
    pub items: Vec<Vec<u8>>,
}

/// A certificate admitted to the log.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// 电子证照标识.
    pub certificate_id: String,
    /// Index of the entry (`CertificateIssued` or `StatusChanged`).
    pub index: u64,
    /// The covering checkpoint.
    pub checkpoint: Arc<crate::Published>,
    /// Inclusion proof of the entry against the checkpoint.
    pub proof: Vec<Hash>,
}

/// What the ledger knows about a certificate.
#[derive(Debug, Clone)]
pub struct CertificateView {
    /// 电子证照标识.
    pub certificate_id: String,
    /// 证照类型代码.
    pub type_code: String,
    /// Issuer 统一社会信用代码.
    pub issuer: String,
    /// Status, with expiry applied at the time of the lookup.
    pub status: &'static str,
    /// Last day of validity, if any.
    pub valid_until: Option<String>,
    /// The successor, if superseded.
    pub successor: Option<String>,
    /// Index of the `CertificateIssued` entry.
    pub issued_index: u64,
    /// Index of the latest entry about it (issued or status change): a status statement
    /// must name it as `previous`.
    pub latest_index: u64,
    /// The `CertificateIssued` entry, canonical CBOR.
    pub entry: Vec<u8>,
    /// Inclusion proof of `entry` against `checkpoint`.
    pub proof: Vec<Hash>,
    /// The checkpoint.
    pub checkpoint: Arc<crate::Published>,
}

/// A certificate's current status (see [`Certificates::status_now`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusNow {
    /// Status, with expiry applied at the time of the lookup (as in [`CertificateView`]).
    pub status: &'static str,
    /// The successor, if superseded.
    pub successor: Option<String>,
    /// Index of the latest entry about it: a status statement must name it as `previous`.
    pub latest_index: u64,
}

/// A certificate as a verification sees it (see [`Certificates::held`]).
#[derive(Debug, Clone)]
pub struct Held {
    /// Index of the `CertificateIssued` entry.
    pub issued_index: u64,
    /// 电子证照标识.
    pub certificate_id: String,
    /// 证照类型代码.
    pub type_code: String,
    /// Issuer 统一社会信用代码.
    pub issuer: String,
    /// The holder's pseudonym.
    pub holder: Pseudonym,
    /// `valid`, `suspended`, `revoked`, `superseded` or `expired` (today).
    pub status: &'static str,
    /// The decoded entry, so that a disclosure does not read and decode it again.
    issued: Arc<IssuedParts>,
}

/// What a `CertificateIssued` entry holds, decoded once.
#[derive(Debug)]
struct IssuedParts {
    security_object: Vec<u8>,
    object: proofless_core::cert::SecurityObject,
    issuer_key: [u8; 32],
}

/// A certificate's signed security object and its opened items.
#[derive(Debug, Clone)]
pub struct Disclosure {
    /// The issuer's COSE_Sign1 in log form (the `CertificateIssued` entry's).
    pub security_object: Vec<u8>,
    /// Its payload.
    pub object: proofless_core::cert::SecurityObject,
    /// The signing key's id; its certificate is in the registering `KeyEvent`.
    pub issuer_key: [u8; 32],
    /// The items, holder item first, then the fields in name order.
    pub items: Vec<Item>,
}

/// The stored status record of a certificate (side table `Status`), followed on disk by
/// the big-endian index of its latest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StatusRecord {
    pub(crate) status: Status,
    issued_index: u64,
    type_code: String,
    issuer: String,
    holder: Pseudonym,
    pub(crate) valid_until: Option<String>,
    pub(crate) successor: Option<String>,
}

impl StatusRecord {
    /// Only what changes or is needed without decoding the entry is stored: status,
    /// end of validity, successor. Type, issuer and holder are read from the
    /// `CertificateIssued` entry, whose index is the record's key.
    fn encode(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .insert(1, cbor::uint(self.status.code()))
                .insert_opt(2, self.valid_until.as_deref().map(cbor::text))
                .insert_opt(3, self.successor.as_deref().map(cbor::text))
                .build(),
        )
    }

    /// Decodes `record ‖ latest index`; the entry-derived fields are left empty.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Self, u64), StoreError> {
        let corrupt = || StoreError::Corrupt("status record");
        let (rec, idx) = bytes
            .split_at_checked(bytes.len().saturating_sub(8))
            .ok_or_else(corrupt)?;
        let latest = u64::from_be_bytes(idx.try_into().map_err(|_| corrupt())?);
        let v = cbor::decode_canonical(rec, 4096).map_err(|_| corrupt())?;
        let mut m = MapReader::new(v).map_err(|_| corrupt())?;
        let r = Self {
            status: Status::from_code(m.uint(1).map_err(|_| corrupt())?).ok_or_else(corrupt)?,
            issued_index: 0,
            type_code: String::new(),
            issuer: String::new(),
            holder: [0; 32],
            valid_until: m.text_opt(2, 16).map_err(|_| corrupt())?,
            successor: m.text_opt(3, 128).map_err(|_| corrupt())?,
        };
        m.finish().map_err(|_| corrupt())?;
        Ok((r, latest))
    }
}

/// Registration state of a principal key (side table `Keys`), followed on disk by the
/// big-endian index of its registering `KeyEvent`.
fn key_record(role: Role, organisation: &str, retired: bool) -> Vec<u8> {
    cbor::encode(
        &MapBuilder::new()
            .insert(1, cbor::text(role.name()))
            .insert(2, cbor::text(organisation))
            .insert(3, ciborium::value::Value::Bool(retired))
            .build(),
    )
}

/// The key record's map (its trailing 8-byte `KeyEvent` index removed).
pub(crate) fn key_record_map(bytes: &[u8]) -> Result<MapReader, StoreError> {
    let corrupt = || StoreError::Corrupt("key record");
    let rec = bytes
        .get(..bytes.len().saturating_sub(8))
        .ok_or_else(corrupt)?;
    let v = cbor::decode_canonical(rec, 1024).map_err(|_| corrupt())?;
    MapReader::new(v).map_err(|_| corrupt())
}

/// The role and retired flag of a key record, decoded once.
fn key_state(bytes: &[u8]) -> Result<(String, bool), StoreError> {
    let corrupt = || StoreError::Corrupt("key record");
    let mut m = key_record_map(bytes)?;
    let role = m.text(1, 64).map_err(|_| corrupt())?;
    match m.take(3) {
        Ok(ciborium::value::Value::Bool(retired)) => Ok((role, retired)),
        _ => Err(corrupt()),
    }
}

fn key_retired(bytes: &[u8]) -> Result<bool, StoreError> {
    key_state(bytes).map(|(_, retired)| retired)
}

/// Validated principals by a 32-byte key, each until the time (ms) its validation may be
/// reused: the earliest notAfter of its path, and at most ten minutes. Bounded: cleared
/// when it holds more than 10,000.
#[derive(Default)]
struct ValidationCache(Mutex<HashMap<[u8; 32], (Principal, u64)>>);

impl ValidationCache {
    const REUSE_MS: u64 = 10 * 60 * 1000;

    fn get(&self, key: &[u8; 32], now_ms: u64) -> Option<Principal> {
        let m = self.0.lock().ok()?;
        m.get(key)
            .filter(|(_, until)| now_ms <= *until)
            .map(|(p, _)| p.clone())
    }

    fn put(&self, key: [u8; 32], p: &Principal, now_ms: u64) {
        let until = (p.chain_not_after().max(0) as u64)
            .saturating_mul(1000)
            .min(now_ms + Self::REUSE_MS);
        if let Ok(mut m) = self.0.lock() {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(key, (p.clone(), until));
        }
    }
}

fn store_err(e: StoreError) -> CertificateError {
    tracing::error!(error = %e, "store failure in the certificate service");
    CertificateError::Unavailable
}

fn append_err(e: AppendError) -> CertificateError {
    match e {
        AppendError::Duplicate => CertificateError::Duplicate,
        _ => CertificateError::Unavailable,
    }
}

/// The `Certificates` table key of an identifier: its SHA-256, truncated to 128 bits
/// (collision-free in practice for any number of certificates a deployment will hold, and
/// a fixed 16 bytes instead of the identifier's 60–90).
pub(crate) fn certificate_key(id: &str) -> [u8; 16] {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(id.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

/// The sealed payload's plaintext: `[[salt, value], …]`, the holder item first, then the
/// fields in name order. Names are not stored: they are the keys of the signed digest map,
/// in the same order, so the items are rebuilt from the security object in the log.
fn encode_payload(holder: &Item, fields: &BTreeMap<String, Item>) -> Vec<u8> {
    use ciborium::value::Value;
    let pair = |i: &Item| {
        Value::Array(vec![
            Value::Bytes(i.salt.clone()),
            match &i.value {
                FieldValue::Text(s) => Value::Text(s.clone()),
                FieldValue::Int(n) => Value::Integer((*n).into()),
                FieldValue::Bool(b) => Value::Bool(*b),
            },
        ])
    };
    cbor::encode(&Value::Array(
        std::iter::once(holder)
            .chain(fields.values())
            .map(pair)
            .collect(),
    ))
}

/// Rebuilds the items of a payload, given the names of the signed digest map.
pub fn decode_payload(plain: &[u8], names: &[String]) -> Result<Vec<Item>, CertificateError> {
    use ciborium::value::Value;
    let bad = || CertificateError::Unavailable;
    let Value::Array(pairs) = cbor::decode_canonical(plain, 1 << 20).map_err(|_| bad())? else {
        return Err(bad());
    };
    if pairs.len() != names.len() + 1 {
        return Err(bad());
    }
    let all = std::iter::once(HOLDER_ITEM).chain(names.iter().map(String::as_str));
    pairs
        .into_iter()
        .zip(all)
        .map(|(p, name)| {
            let Value::Array(mut sv) = p else {
                return Err(bad());
            };
            let value = sv.pop().ok_or_else(bad)?;
            let Some(Value::Bytes(salt)) = sv.pop() else {
                return Err(bad());
            };
            let value = match value {
                Value::Text(s) => FieldValue::Text(s),
                Value::Integer(i) => FieldValue::Int(i64::try_from(i).map_err(|_| bad())?),
                Value::Bool(b) => FieldValue::Bool(b),
                _ => return Err(bad()),
            };
            Ok(Item {
                salt,
                name: name.to_owned(),
                value,
            })
        })
        .collect()
}

/// A share of a holder's pending key, released when dropped; the key leaves the pending
/// map with its last share. By then every issuance that used it has committed it or
/// failed, and a later issuance finds it in the store or makes a new one.
struct PendingKey<'a> {
    map: &'a Mutex<HashMap<Pseudonym, ([u8; 32], usize)>>,
    holder: Option<Pseudonym>,
}

impl Drop for PendingKey<'_> {
    fn drop(&mut self) {
        if let (Some(h), Ok(mut m)) = (self.holder, self.map.lock())
            && let Some((_, users)) = m.get_mut(&h)
        {
            *users -= 1;
            if *users == 0 {
                m.remove(&h);
            }
        }
    }
}

/// Removes an identifier from the in-flight set when dropped.
struct InFlight<'a> {
    set: &'a Mutex<HashSet<String>>,
    id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.id);
        }
    }
}

/// The certificate service.
pub struct Certificates {
    log: Arc<Log>,
    store: Arc<dyn Store>,
    catalog: Arc<Catalog>,
    anchor: TrustAnchor,
    pseudonyms: PseudonymKey,
    clock: Arc<dyn Clock>,
    in_flight: Mutex<HashSet<String>>,
    /// Validated issuer chains by SHA-256 of the chain; retirement is checked on every use.
    principals: ValidationCache,
    /// Registered principals re-validated from their `KeyEvent`, by key id.
    by_key: ValidationCache,
    /// Held while a new key's registration is appended.
    registering: tokio::sync::Mutex<()>,
    /// Keys known to be registered (registration is permanent; retirement is checked
    /// separately on every use).
    registered: Mutex<HashSet<[u8; 32]>>,
    /// Holder keys generated for holders whose first certificate is not yet committed,
    /// so that concurrent first issuances for one holder use one key.
    pending_keys: Mutex<HashMap<Pseudonym, ([u8; 32], usize)>>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("types", &self.catalog.len())
            .finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> Result<[u8; N], CertificateError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| CertificateError::Unavailable)?;
    Ok(b)
}

impl Certificates {
    /// The status a record has today: a valid certificate past its end of validity is
    /// `expired` (validity is read in China's calendar), otherwise the recorded status.
    fn status_today(&self, rec: &StatusRecord) -> &'static str {
        let today = china_date(self.clock.now_millis());
        match rec.status {
            Status::Valid if rec.valid_until.as_deref().is_some_and(|u| *u < *today) => "expired",
            s => s.name(),
        }
    }

    /// A service over `log` (whose store is `store`).
    pub fn new(
        log: Arc<Log>,
        store: Arc<dyn Store>,
        catalog: Arc<Catalog>,
        anchor: TrustAnchor,
        pseudonyms: PseudonymKey,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            log,
            store,
            catalog,
            anchor,
            pseudonyms,
            clock,
            in_flight: Mutex::new(HashSet::new()),
            principals: ValidationCache::default(),
            by_key: ValidationCache::default(),
            registering: tokio::sync::Mutex::new(()),
            registered: Mutex::new(HashSet::new()),
            pending_keys: Mutex::new(HashMap::new()),
        }
    }

    /// Whether any certificate was ever issued.
    pub fn any_issued(&self) -> Result<bool, CertificateError> {
        Ok(!self
            .store
            .scan(Table::Certificates, b"", None, 1)
            .map_err(store_err)?
            .is_empty())
    }

    /// The store beside the log.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The store, shared.
    pub fn shared_store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// The catalog of types.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The holder pseudonym of a holder code.
    pub fn pseudonym(&self, holder: &HolderCode) -> Pseudonym {
        self.pseudonyms
            .pseudonym(holder.code_type(), holder.as_str())
    }

    fn reserve(&self, id: &str) -> Result<InFlight<'_>, CertificateError> {
        let mut s = self
            .in_flight
            .lock()
            .map_err(|_| CertificateError::Unavailable)?;
        if !s.insert(id.to_owned()) {
            return Err(CertificateError::Busy);
        }
        Ok(InFlight {
            set: &self.in_flight,
            id: id.to_owned(),
        })
    }

    fn principal(&self, chain: &[Vec<u8>]) -> Result<Principal, CertificateError> {
        self.principal_read(chain, &mut HashMap::new())
    }

    /// [`Self::principal`], with the `keys` rows already read by the caller's earlier
    /// calls in `retired` (key id → retired): a batch reads each key's row once, not once
    /// per certificate.
    fn principal_read(
        &self,
        chain: &[Vec<u8>],
        retired: &mut HashMap<[u8; 32], bool>,
    ) -> Result<Principal, CertificateError> {
        let now_ms = self.clock.now_millis();
        let digest: [u8; 32] = {
            use sha2::Digest as _;
            let mut h = sha2::Sha256::new();
            for c in chain {
                h.update((c.len() as u64).to_be_bytes());
                h.update(c);
            }
            h.finalize().into()
        };
        let p = match self.principals.get(&digest, now_ms) {
            Some(p) => p,
            None => {
                let p = pki::validate(chain, &self.anchor, Role::Issuer, (now_ms / 1000) as i64)
                    .map_err(CertificateError::Untrusted)?;
                self.principals.put(digest, &p, now_ms);
                p
            }
        };
        let is_retired = match retired.get(&p.key_id()) {
            Some(r) => *r,
            None => {
                let r = match self
                    .store
                    .get(Table::Keys, &p.key_id())
                    .map_err(store_err)?
                {
                    Some(rec) => key_retired(&rec).map_err(store_err)?,
                    None => false,
                };
                retired.insert(p.key_id(), r);
                r
            }
        };
        if is_retired {
            Err(CertificateError::KeyRetired)
        } else {
            Ok(p)
        }
    }

    /// Registers `p`'s key in the log (a `KeyEvent`, in its own append) unless it is
    /// registered already. First registrations are serialised, so that concurrent first
    /// uses of one new key register it exactly once; once registered, this is one read.
    async fn ensure_registered(&self, p: &Principal) -> Result<(), CertificateError> {
        let registered = |s: &Self| -> Result<bool, CertificateError> {
            Ok(s.store
                .get(Table::Keys, &p.key_id())
                .map_err(store_err)?
                .is_some())
        };
        if self
            .registered
            .lock()
            .is_ok_and(|r| r.contains(&p.key_id()))
        {
            return Ok(());
        }
        if registered(self)? {
            if let Ok(mut r) = self.registered.lock() {
                r.insert(p.key_id());
            }
            return Ok(());
        }
        let _one_at_a_time = self.registering.lock().await;
        if registered(self)? {
            return Ok(());
        }
        let org = p.organisation().map(|u| u.as_str().to_owned());
        let entry = Entry::KeyEvent(KeyEvent {
            time: self.clock.now_millis(),
            action: KeyAction::Registered,
            role: p.role().name().to_owned(),
            key_id: p.key_id(),
            certificate: Some(p.leaf_der().to_vec()),
            organisation: org.clone(),
        })
        .encode()
        .map_err(|_| CertificateError::Unavailable)?;
        let put = PendingPut {
            put: Put {
                table: Table::Keys,
                key: p.key_id().to_vec(),
                value: key_record(p.role(), org.as_deref().unwrap_or(""), false),
                mode: PutMode::Insert,
            },
            key_index_of: None,
            index_of: Some(0),
        };
        self.log
            .append_with(vec![entry], vec![put])
            .await
            .map_err(append_err)?;
        Ok(())
    }

    /// The holder's data key: the stored one, or one pending for issuances of the holder's
    /// first certificate that have not committed yet (created if none). `true` when it
    /// is a pending key: the caller then holds a share of it until its append ends.
    fn holder_key(&self, holder: &Pseudonym) -> Result<([u8; 32], bool), CertificateError> {
        let stored = || -> Result<Option<[u8; 32]>, CertificateError> {
            self.store
                .get(Table::HolderKeys, holder)
                .map_err(store_err)?
                .map(|k| {
                    k.try_into()
                        .map_err(|_| store_err(StoreError::Corrupt("holder key")))
                })
                .transpose()
        };
        // A key pending for this holder first (no store read): while one is pending, no
        // other key can be generated or committed for the holder (new keys are generated
        // only under this lock, when none is pending and none is stored), so the stored
        // key, if any, is this one. In a bulk import a holder's certificates usually
        // arrive together, and all but the first find the key here.
        let share = |pending: &mut HashMap<Pseudonym, ([u8; 32], usize)>| {
            pending.get_mut(holder).map(|(k, users)| {
                *users += 1;
                (*k, true)
            })
        };
        if let Some(shared) = share(
            &mut *self
                .pending_keys
                .lock()
                .map_err(|_| CertificateError::Unavailable)?,
        ) {
            return Ok(shared);
        }
        if let Some(key) = stored()? {
            return Ok((key, false));
        }
        let mut pending = self
            .pending_keys
            .lock()
            .map_err(|_| CertificateError::Unavailable)?;
        if let Some(shared) = share(&mut pending) {
            return Ok(shared);
        }
        // Look again under the lock: a first issuance for this holder may have committed
        // (and left `pending`) since the read above.
        if let Some(key) = stored()? {
            return Ok((key, false));
        }
        let k = random::<32>()?;
        pending.insert(*holder, (k, 1));
        Ok((k, true))
    }

    /// Registers a principal of `role` (a department, a channel…) whose chain reaches
    /// the trust anchor: appends its `KeyEvent` unless the key is registered already
    /// (idempotent). A retired key is refused.
    pub async fn register(
        &self,
        chain: &[Vec<u8>],
        role: Role,
    ) -> Result<Principal, CertificateError> {
        let now = (self.clock.now_millis() / 1000) as i64;
        let p =
            pki::validate(chain, &self.anchor, role, now).map_err(CertificateError::Untrusted)?;
        if let Some(rec) = self
            .store
            .get(Table::Keys, &p.key_id())
            .map_err(store_err)?
            && key_retired(&rec).map_err(store_err)?
        {
            return Err(CertificateError::KeyRetired);
        }
        self.ensure_registered(&p).await?;
        Ok(p)
    }

    /// The registered, unretired principal of `role` whose key id is `key_id`, its
    /// certificate re-validated against the trust anchor now (cached for at most ten
    /// minutes and never past the chain's expiry; retirement is read on every call).
    pub fn registered(&self, key_id: &[u8; 32], role: Role) -> Result<Principal, CertificateError> {
        let rec = self
            .store
            .get(Table::Keys, key_id)
            .map_err(store_err)?
            .ok_or(CertificateError::UnknownKey)?;
        let (registered_role, retired) = key_state(&rec).map_err(store_err)?;
        if retired {
            return Err(CertificateError::KeyRetired);
        }
        if registered_role != role.name() {
            // Registered, but as another kind of principal.
            return Err(CertificateError::UnknownKey);
        }
        let now_ms = self.clock.now_millis();
        if let Some(p) = self.by_key.get(key_id, now_ms) {
            return Ok(p);
        }
        let der = self.key_certificate(key_id)?;
        let p = pki::validate(&[der], &self.anchor, role, (now_ms / 1000) as i64)
            .map_err(CertificateError::Untrusted)?;
        self.by_key.put(*key_id, &p, now_ms);
        Ok(p)
    }

    /// Issues a certificate. See the module documentation for the checks.
    pub async fn issue(&self, req: IssueRequest) -> Result<Admitted, CertificateError> {
        let (certificate_id, appended) = self.admit(req).await?;
        self.proven(certificate_id, appended, 0)
    }

    /// Issues a certificate without computing its inclusion proof: returns the identifier
    /// and the `CertificateIssued` entry's index with its checkpoint. [`Self::check`], then
    /// [`Self::admit_checked`] with a batch of one.
    pub async fn admit(
        &self,
        req: IssueRequest,
    ) -> Result<(String, crate::Appended), CertificateError> {
        let checked = self.check(&req)?;
        self.admit_checked(vec![checked])
            .await
            .pop()
            .unwrap_or(Err(CertificateError::Unavailable))
    }

    /// The issued entry's index of certificate `id`.
    fn issued_index(&self, id: &str) -> Result<u64, CertificateError> {
        let issued = self
            .store
            .get(Table::Certificates, &certificate_key(id))
            .map_err(store_err)?
            .ok_or(CertificateError::NotFound)?;
        Ok(u64::from_be_bytes(issued.try_into().map_err(|_| {
            store_err(StoreError::Corrupt("certificate index"))
        })?))
    }

    /// The status record of the certificate issued at `issued` (completed from its
    /// entry), its latest index, and the certificate identifier.
    fn record_at(&self, issued: u64) -> Result<(StatusRecord, u64, String), CertificateError> {
        let raw = self
            .store
            .get(Table::Status, &issued.to_be_bytes())
            .map_err(store_err)?
            .ok_or_else(|| store_err(StoreError::Corrupt("status record missing")))?;
        let (mut rec, latest) = StatusRecord::decode(&raw).map_err(store_err)?;
        let entry = self
            .store
            .entries(issued, issued + 1)
            .map_err(store_err)?
            .pop()
            .ok_or_else(|| store_err(StoreError::Corrupt("issued entry missing")))?;
        let corrupt = || {
            store_err(StoreError::Corrupt(
                "status record of a non-certificate entry",
            ))
        };
        let Ok(Entry::CertificateIssued(ci)) = Entry::decode(&entry) else {
            return Err(corrupt());
        };
        let so = SignedSecurityObject::parse(&ci.security_object).map_err(|_| corrupt())?;
        rec.issued_index = issued;
        rec.type_code = so.object().type_code.clone();
        rec.issuer = so.object().issuer.clone();
        rec.holder = ci.holder;
        Ok((rec, latest, so.object().certificate_id.clone()))
    }

    fn record(&self, id: &str) -> Result<(StatusRecord, u64, u64), CertificateError> {
        let issued = self.issued_index(id)?;
        let (rec, latest, _) = self.record_at(issued)?;
        Ok((rec, issued, latest))
    }

    /// Applies an issuer's signed status statement.
    pub async fn change_status(&self, statement: &[u8]) -> Result<Admitted, CertificateError> {
        let signed = SignedStatus::parse(statement).map_err(malformed)?;
        let st = signed.statement().clone();
        let chain = signed.x5chain().map_err(malformed)?;
        let principal = self.principal(&chain)?;
        let log_form = signed
            .verify(principal.verifying_key())
            .map_err(malformed)?;
        let _guard = self.reserve(&st.certificate_id)?;
        let (rec, _, latest) = self.record(&st.certificate_id)?;
        if principal.organisation().map(|u| u.as_str().to_owned()) != Some(rec.issuer.clone()) {
            return Err(CertificateError::NotIssuer);
        }
        if st.previous != latest {
            return Err(CertificateError::Stale);
        }
        if !rec.status.can_become(st.status) {
            return Err(CertificateError::Transition {
                from: rec.status.name(),
                to: st.status.name(),
            });
        }
        if let Some(succ) = &st.successor {
            if *succ == st.certificate_id {
                return Err(CertificateError::BadSuccessor);
            }
            let (srec, ..) = self.record(succ).map_err(|e| match e {
                CertificateError::NotFound => CertificateError::BadSuccessor,
                e => e,
            })?;
            if srec.type_code != rec.type_code
                || srec.holder != rec.holder
                || srec.status != Status::Valid
            {
                return Err(CertificateError::BadSuccessor);
            }
        }
        let mut entries = Vec::new();
        let mut puts = Vec::new();
        self.ensure_registered(&principal).await?;
        let at = entries.len();
        entries.push(Entry::StatusChanged(StatusChanged {
            time: self.clock.now_millis(),
            certificate_id: st.certificate_id.clone(),
            status: st.status.code(),
            successor: st.successor.clone(),
            issuer_key: principal.key_id(),
            statement: log_form,
        }));
        let new = StatusRecord {
            status: st.status,
            successor: st.successor.clone(),
            ..rec
        };
        puts.push(PendingPut {
            put: Put {
                table: Table::Status,
                key: new.issued_index.to_be_bytes().to_vec(),
                value: new.encode(),
                mode: PutMode::Upsert,
            },
            key_index_of: None,
            index_of: Some(at),
        });
        let appended = self.append_entries(&entries, puts).await?;
        self.proven(st.certificate_id, appended, at)
    }

    /// Retires a principal key by its own signed statement: appends a `KeyEvent`
    /// (retired); from then on the key can neither issue nor change a status.
    pub async fn retire_key(&self, statement: &[u8]) -> Result<Admitted, CertificateError> {
        let (retirement, chain, signature) = KeyRetirement::parse(statement).map_err(malformed)?;
        let principal = self.principal(&chain)?;
        if principal.key_id() != retirement.key_id {
            return Err(CertificateError::IssuerMismatch);
        }
        signature
            .verify(principal.verifying_key())
            .map_err(malformed)?;
        let id = hex::encode(retirement.key_id);
        let _guard = self.reserve(&id)?;
        let mut entries = Vec::new();
        let mut puts = Vec::new();
        self.ensure_registered(&principal).await?;
        let org = principal.organisation().map(|u| u.as_str().to_owned());
        // The record keeps its registration index: rewrite it with the flag set.
        let old = self
            .store
            .get(Table::Keys, &retirement.key_id)
            .map_err(store_err)?
            .ok_or_else(|| store_err(StoreError::Corrupt("key registered but not recorded")))?;
        let idx = old
            .get(old.len().saturating_sub(8)..)
            .unwrap_or(&[])
            .to_vec();
        let mut value = key_record(Role::Issuer, org.as_deref().unwrap_or(""), true);
        value.extend_from_slice(&idx);
        puts.push(PendingPut::plain(Put {
            table: Table::Keys,
            key: retirement.key_id.to_vec(),
            value,
            mode: PutMode::Upsert,
        }));
        let at = entries.len();
        entries.push(Entry::KeyEvent(KeyEvent {
            time: self.clock.now_millis(),
            action: KeyAction::Retired,
            role: Role::Issuer.name().to_owned(),
            key_id: retirement.key_id,
            certificate: None,
            organisation: org,
        }));
        let appended = self.append_entries(&entries, puts).await?;
        self.proven(id, appended, at)
    }

    /// Encodes and appends `entries` with their side writes, in one batch.
    async fn append_entries(
        &self,
        entries: &[Entry],
        puts: Vec<PendingPut>,
    ) -> Result<crate::Appended, CertificateError> {
        let encoded = entries
            .iter()
            .map(Entry::encode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| {
                CertificateError::Malformed(CertError::Cose("the entry would exceed 64 KiB"))
            })?;
        self.log
            .append_with(encoded, puts)
            .await
            .map_err(append_err)
    }

    /// The append's `at`-th entry with its inclusion proof.
    fn proven(
        &self,
        certificate_id: String,
        appended: crate::Appended,
        at: usize,
    ) -> Result<Admitted, CertificateError> {
        let index = appended.index + at as u64;
        let proof = self
            .log
            .inclusion_proof(index, appended.checkpoint.size)
            .map_err(|_| CertificateError::Unavailable)?;
        Ok(Admitted {
            certificate_id,
            index,
            checkpoint: appended.checkpoint,
            proof,
        })
    }

    /// Certificate `id`'s status as [`Certificates::view`] gives it (expiry applied
    /// today), its successor and the index of its latest entry: what a status statement
    /// about it needs, read from its `certificates` and `status` rows alone, without the
    /// entry or an inclusion proof.
    pub fn status_now(&self, id: &str) -> Result<StatusNow, CertificateError> {
        let issued = self.issued_index(id)?;
        let raw = self
            .store
            .get(Table::Status, &issued.to_be_bytes())
            .map_err(store_err)?
            .ok_or_else(|| store_err(StoreError::Corrupt("status record missing")))?;
        let (rec, latest) = StatusRecord::decode(&raw).map_err(store_err)?;
        let status = self.status_today(&rec);
        Ok(StatusNow {
            status,
            successor: rec.successor,
            latest_index: latest,
        })
    }

    /// The `CertificateIssued` entry index of certificate `id`.
    pub fn issued_index_of(&self, id: &str) -> Result<u64, CertificateError> {
        self.issued_index(id)
    }

    /// What a verification needs to know about the certificate issued at `issued`,
    /// without its inclusion proof: identifier, type, issuer, holder pseudonym and the
    /// status with expiry applied today.
    pub fn held(&self, issued: u64) -> Result<Held, CertificateError> {
        let corrupt = |what| store_err(StoreError::Corrupt(what));
        let raw = self
            .store
            .get(Table::Status, &issued.to_be_bytes())
            .map_err(store_err)?
            .ok_or_else(|| corrupt("status record missing"))?;
        let (rec, _) = StatusRecord::decode(&raw).map_err(store_err)?;
        let entry = self
            .store
            .entries(issued, issued + 1)
            .map_err(store_err)?
            .pop()
            .ok_or_else(|| corrupt("issued entry missing"))?;
        let Ok(Entry::CertificateIssued(ci)) = Entry::decode(&entry) else {
            return Err(corrupt("status record of a non-certificate entry"));
        };
        let so = SignedSecurityObject::parse(&ci.security_object)
            .map_err(|_| corrupt("security object"))?;
        let status = self.status_today(&rec);
        let object = so.object().clone();
        Ok(Held {
            issued_index: issued,
            certificate_id: object.certificate_id.clone(),
            type_code: object.type_code.clone(),
            issuer: object.issuer.clone(),
            holder: ci.holder,
            status,
            issued: Arc::new(IssuedParts {
                security_object: ci.security_object,
                object,
                issuer_key: ci.issuer_key,
            }),
        })
    }

    /// The `CertificateIssued` indices of the holder's certificates of `type_code`, in
    /// issue order.
    pub fn holdings(
        &self,
        holder: &Pseudonym,
        type_code: &str,
    ) -> Result<Vec<u64>, CertificateError> {
        let mut prefix = holder.to_vec();
        prefix.extend_from_slice(type_code.as_bytes());
        let mut out = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store
                .scan(Table::HolderIndex, &prefix, after.as_deref(), 256)
                .map_err(store_err)?;
            for (k, _) in &page {
                let issued: [u8; 8] = k[prefix.len()..]
                    .try_into()
                    .map_err(|_| store_err(StoreError::Corrupt("holder index key")))?;
                out.push(u64::from_be_bytes(issued));
            }
            match page.last() {
                Some((last, _)) if page.len() == 256 => after = Some(last.clone()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// Whether the holder's data was erased (their data key deleted): what
    /// [`Certificates::disclosure`] reports as [`CertificateError::NotFound`], without
    /// opening anything.
    pub fn erased(&self, holder: &Pseudonym) -> Result<bool, CertificateError> {
        Ok(self
            .store
            .get(Table::HolderKeys, holder)
            .map_err(store_err)?
            .is_none())
    }

    /// The issuer's COSE_Sign1 (log form), the signing key's id and every item (holder
    /// item first) of a certificate, opened with the holder's key.
    /// [`CertificateError::NotFound`] when the holder's data was erased.
    pub fn disclosure(&self, held: &Held) -> Result<Disclosure, CertificateError> {
        let corrupt = |what| store_err(StoreError::Corrupt(what));
        let parts = &held.issued;
        let Some(key) = self
            .store
            .get(Table::HolderKeys, &held.holder)
            .map_err(store_err)?
        else {
            return Err(CertificateError::NotFound);
        };
        let key: [u8; 32] = key.try_into().map_err(|_| corrupt("holder key"))?;
        let sealed = self
            .store
            .get(Table::Payloads, &held.issued_index.to_be_bytes())
            .map_err(store_err)?
            .ok_or(CertificateError::NotFound)?;
        let plain = vault::open(&key, held.certificate_id.as_bytes(), &sealed)
            .map_err(|_| corrupt("payload does not open"))?;
        let names: Vec<String> = parts.object.digests.keys().cloned().collect();
        let items = decode_payload(&plain, &names)?;
        Ok(Disclosure {
            security_object: parts.security_object.clone(),
            object: parts.object.clone(),
            issuer_key: parts.issuer_key,
            items,
        })
    }

    /// The DER certificate registered for `key_id` (from its `KeyEvent`).
    pub fn key_certificate(&self, key_id: &[u8; 32]) -> Result<Vec<u8>, CertificateError> {
        let corrupt = || store_err(StoreError::Corrupt("key record"));
        let rec = self
            .store
            .get(Table::Keys, key_id)
            .map_err(store_err)?
            .ok_or(CertificateError::UnknownKey)?;
        let at: [u8; 8] = rec
            .get(rec.len().saturating_sub(8)..)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(corrupt)?;
        let at = u64::from_be_bytes(at);
        let raw = self
            .store
            .entries(at, at + 1)
            .map_err(store_err)?
            .pop()
            .ok_or_else(corrupt)?;
        match Entry::decode(&raw) {
            Ok(Entry::KeyEvent(KeyEvent {
                certificate: Some(der),
                ..
            })) => Ok(der),
            _ => Err(corrupt()),
        }
    }

    /// The certificate `id` with its status (expiry applied today) and inclusion proof.
    pub fn view(&self, id: &str) -> Result<CertificateView, CertificateError> {
        self.view_at(self.issued_index(id)?)
    }

    /// The certificate issued at entry `issued`.
    fn view_at(&self, issued: u64) -> Result<CertificateView, CertificateError> {
        let (rec, latest, certificate_id) = self.record_at(issued)?;
        let e = self.log.entry(issued).map_err(|e| match e {
            ReadError::NotFound => CertificateError::NotFound,
            _ => CertificateError::Unavailable,
        })?;
        let status = self.status_today(&rec);
        Ok(CertificateView {
            certificate_id,
            type_code: rec.type_code,
            issuer: rec.issuer,
            status,
            valid_until: rec.valid_until,
            successor: rec.successor,
            issued_index: issued,
            latest_index: latest,
            entry: e.entry,
            proof: e.proof,
            checkpoint: e.checkpoint,
        })
    }

    /// The holder's current valid certificate of a type: the most recently issued one
    /// that is valid and not expired.
    pub fn current(
        &self,
        holder: &HolderCode,
        type_code: &str,
    ) -> Result<CertificateView, CertificateError> {
        if self.catalog.get(type_code).is_none() {
            return Err(CertificateError::UnknownType);
        }
        let mut prefix = self.pseudonym(holder).to_vec();
        prefix.extend_from_slice(type_code.as_bytes());
        let mut best: Option<CertificateView> = None;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self
                .store
                .scan(Table::HolderIndex, &prefix, after.as_deref(), 256)
                .map_err(store_err)?;
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            for (k, _) in &page {
                let issued: [u8; 8] = k[prefix.len()..]
                    .try_into()
                    .map_err(|_| store_err(StoreError::Corrupt("holder index key")))?;
                let v = self.view_at(u64::from_be_bytes(issued))?;
                if v.status == "valid"
                    && best
                        .as_ref()
                        .is_none_or(|b| v.issued_index > b.issued_index)
                {
                    best = Some(v);
                }
            }
            if page.len() < 256 {
                break;
            }
        }
        best.ok_or(CertificateError::NotFound)
    }
}
