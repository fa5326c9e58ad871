//! The verification service: a department asks, under a published no-proof scenario,
//! for exactly what the scenario allows, and gets an answer with a signed receipt.
//!
//! Invariants (DESIGN.md §2):
//! * **No rule, no data.** A field, claim or predicate is answered only when the scenario
//!   in force lists it for that certificate type and names the asking department's
//!   organisation; a scenario that needs consent answers nothing without a valid one.
//!   Status is always checked: a certificate that is not valid is reported as such and
//!   nothing else about it leaves the ledger.
//! * **No audit record, no answer.** Every decision on an authenticated request, allow or
//!   deny, becomes an `AccessRecorded` entry that is durable, integrated and covered by a
//!   checkpoint before [`Verifications::decide`] returns; if the append fails the caller
//!   gets [`Unavailable`] and no answer.
//! * **Whoever states something signs it.** The department's RFC 9421 signature is
//!   checked before anything else ([`Verifications::authenticate`]) and kept in the entry,
//!   so an auditor can re-verify it; the answer is covered by the ledger's receipt.
//! * **The log holds no personal data.** The entry names the department, scenario,
//!   purpose, case number, certificate identifiers and field *names*; the request body
//!   (which holds the holder code) is represented only by its digest, which a random salt
//!   in the body keeps from being confirmed by guessing.
//!
//! Requests that fail authentication are refused without an entry: they are nobody's
//! decision, and recording them would let anyone fill the log.

use crate::accesses::AccessIndex;
use crate::certs::{CertificateError, Certificates, Held};
use crate::clock::{Clock, china_date};
use crate::consent::ConsentState;
use crate::log::{AppendError, Log, PendingPut, Published};
use crate::nonces::{NonceCache, NonceError};
use crate::vault::Pseudonym;
use proofless_core::cert::{FieldValue, Item};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{
    AccessRecorded, Decision, Entry, MAX_PURPOSE_CHARS, MAX_SIGNATURE_PARAMS, Millis,
    RequestSignature,
};
use proofless_core::httpsig::{self, HttpSigError, MAX_CREATED_SKEW_SECS, RequestParts};
use proofless_core::ids::{CertificateId, HolderCode, Uscc};
use proofless_core::keys::Role;
use proofless_core::policy::{Access, Predicate, RuleSet, Scenario};
use proofless_core::receipt::{Receipt, TlogProof};
use proofless_store::{Put, PutMode, Table};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// Longest case number, in bytes.
pub const MAX_CASE_NUMBER: usize = 64;
/// Longest operator identifier, in bytes.
pub const MAX_OPERATOR: usize = 64;
/// Shortest random salt a request body must carry, in bytes (base64 in JSON).
pub const MIN_REQUEST_SALT: usize = 16;
/// Most live nonces remembered (per server) within the freshness window.
pub const NONCE_CAPACITY: usize = 4_000_000;

/// Why a request was not authenticated (HTTP 401). Nothing is recorded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// `Signature-Input`, `Signature` or `Content-Digest` is absent.
    #[error(
        "the request is not signed (Signature-Input, Signature and Content-Digest are required)"
    )]
    Missing,
    /// The signature headers are malformed or do not follow the Proofless profile.
    #[error("request signature: {0}")]
    Malformed(HttpSigError),
    /// `Content-Digest` does not match the body.
    #[error("Content-Digest does not match the body")]
    DigestMismatch,
    /// `created` is further than 300 s from the server's clock.
    #[error("the signature's `created` is outside the ±300 s window")]
    Stale,
    /// The key id names no registered department key.
    #[error("the key id names no registered department")]
    UnknownKey,
    /// The key was retired in the log.
    #[error("the department key is retired")]
    KeyRetired,
    /// The key's certificate no longer validates as a department's (expired, wrong role).
    #[error("the department certificate is not valid now")]
    CertificateInvalid,
    /// The signature does not verify.
    #[error("the request signature does not verify")]
    BadSignature,
    /// This key already used this nonce within the window.
    #[error("the nonce was already used")]
    Replayed,
    /// Created before the server started: it may have been seen by the previous process.
    #[error("the signature was created before the server started; sign again")]
    BeforeRestart,
    /// Too many requests in the freshness window to remember their nonces.
    #[error("too many signed requests in the freshness window")]
    Busy,
    /// The request was addressed to another `@authority` than this ledger's.
    #[error("the request is addressed to another authority than this ledger")]
    WrongAuthority,
    /// The store could not be read.
    #[error("the ledger is unavailable")]
    Unavailable,
}

impl AuthError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "signature_missing",
            Self::Malformed(_) => "signature_malformed",
            Self::DigestMismatch => "content_digest_mismatch",
            Self::Stale => "signature_stale",
            Self::UnknownKey => "unknown_key",
            Self::KeyRetired => "department_key_retired",
            Self::CertificateInvalid => "department_certificate_invalid",
            Self::BadSignature => "signature_invalid",
            Self::WrongAuthority => "wrong_authority",
            Self::Replayed => "nonce_replayed",
            Self::BeforeRestart => "signature_before_restart",
            Self::Busy | Self::Unavailable => "unavailable",
        }
    }
}

/// Why a request was denied. Each denial is recorded; its code is the entry's `reason`.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Denial {
    /// The body is not a verification request of this API.
    #[error("the body is not a valid verification request: {0}")]
    Malformed(&'static str),
    /// The purpose (申请事由) is missing or longer than 200 characters.
    #[error("purpose (申请事由) is required and at most 200 characters")]
    InvalidPurpose,
    /// The case number is missing or too long.
    #[error("case_number is required and at most 64 bytes")]
    InvalidCaseNumber,
    /// No scenario with this code is in force.
    #[error("no scenario with this code is in force")]
    UnknownScenario,
    /// The scenario does not name the department's organisation.
    #[error("the scenario does not allow this department")]
    DepartmentNotAllowed,
    /// A requested certificate type is not in the scenario.
    #[error("the scenario does not cover a requested certificate type")]
    TypeNotInScenario,
    /// A field is asked for disclosure or checking that the scenario does not allow.
    #[error("the scenario does not allow a requested field")]
    FieldNotAllowed,
    /// A predicate is asked that the scenario does not allow for that type.
    #[error("the scenario does not allow a requested predicate")]
    PredicateNotAllowed,
    /// The scenario needs the holder's consent and none was presented.
    #[error("the scenario requires the holder's consent")]
    ConsentRequired,
    /// No consent has this code.
    #[error("no consent has this code")]
    ConsentInvalid,
    /// The consent has expired.
    #[error("the consent has expired")]
    ConsentExpired,
    /// The consent was revoked.
    #[error("the consent was revoked")]
    ConsentRevoked,
    /// The consent was used already (or is being used by another request right now).
    #[error("the consent was already used")]
    ConsentUsed,
    /// The consent is for another holder, scenario or department, or does not cover
    /// everything asked.
    #[error("the consent does not cover this holder, scenario, department or request")]
    ConsentMismatch,
    /// More certificates than the scenario's `max_certificates`.
    #[error("more certificates than the scenario allows in one request")]
    TooManyCertificates,
    /// The holder code is malformed or its check character is wrong.
    #[error("the holder code is malformed or its check character is wrong")]
    InvalidHolderCode,
    /// The certificate identifier is malformed or its check character is wrong.
    #[error("the certificate identifier is malformed or its check character is wrong")]
    InvalidCertificateId,
}

impl Denial {
    /// A stable machine-readable code (also the `AccessRecorded` reason).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "invalid_request",
            Self::InvalidPurpose => "invalid_purpose",
            Self::InvalidCaseNumber => "invalid_case_number",
            Self::UnknownScenario => "unknown_scenario",
            Self::DepartmentNotAllowed => "department_not_allowed",
            Self::TypeNotInScenario => "type_not_in_scenario",
            Self::FieldNotAllowed => "field_not_allowed",
            Self::PredicateNotAllowed => "predicate_not_allowed",
            Self::ConsentRequired => "consent_required",
            Self::ConsentInvalid => "consent_invalid",
            Self::ConsentExpired => "consent_expired",
            Self::ConsentRevoked => "consent_revoked",
            Self::ConsentUsed => "consent_used",
            Self::ConsentMismatch => "consent_mismatch",
            Self::TooManyCertificates => "too_many_certificates",
            Self::InvalidHolderCode => "invalid_holder_code",
            Self::InvalidCertificateId => "invalid_certificate_id",
        }
    }
}

/// The ledger could not record the decision (or read what it needs); nothing was
/// disclosed and the caller must answer 503.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[error("the ledger is unavailable")]
pub struct Unavailable;

/// The parts of the HTTP request the signature covers, and the body.
#[derive(Debug, Clone, Copy)]
pub struct SignedHttp<'a> {
    /// `@method`.
    pub method: &'a str,
    /// `@authority` (the `Host` header).
    pub authority: &'a str,
    /// `@path`.
    pub path: &'a str,
    /// `Content-Digest`.
    pub content_digest: Option<&'a str>,
    /// `Signature-Input`.
    pub signature_input: Option<&'a str>,
    /// `Signature`.
    pub signature: Option<&'a str>,
    /// The body, exactly as received.
    pub body: &'a [u8],
}

/// A department whose request signature verified.
#[derive(Debug, Clone)]
pub struct Authenticated {
    organisation: Uscc,
    /// The signature's `created` (Unix seconds).
    created: i64,
    request: RequestSignature,
    request_digest: [u8; 32],
}

impl Authenticated {
    /// The department's 统一社会信用代码.
    pub fn organisation(&self) -> &str {
        self.organisation.as_str()
    }

    /// SHA-256 of the body.
    pub fn request_digest(&self) -> [u8; 32] {
        self.request_digest
    }

    /// The body digest and the signed request, for an entry.
    pub(crate) fn into_parts(self) -> ([u8; 32], RequestSignature) {
        (self.request_digest, self.request)
    }
}

/// Who the request is about.
#[derive(Debug, Clone)]
pub enum Subject {
    /// A holder code: (code type, code), checked before use.
    Holder(String, String),
    /// A certificate identifier; its holder is the subject of the other types asked.
    Certificate(String),
}

/// A derived statement asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PredicateQuery {
    /// The certificate is valid now.
    CurrentlyValid,
    /// The holder holds a valid certificate of the type.
    HoldsValid,
    /// The holder is at least this many full years old today.
    AgeAtLeast(u32),
    /// The holder's marital status is this one (未婚, 已婚, 离婚, 丧偶).
    MaritalStatusIs(String),
}

impl PredicateQuery {
    /// The predicate in scenario rules.
    pub fn predicate(&self) -> Predicate {
        match self {
            Self::CurrentlyValid => Predicate::CurrentlyValid,
            Self::HoldsValid => Predicate::HoldsValid,
            Self::AgeAtLeast(_) => Predicate::AgeAtLeast,
            Self::MaritalStatusIs(_) => Predicate::MaritalStatusIs,
        }
    }
}

/// The marital statuses `marital_status_is` can ask about.
pub const MARITAL_STATUSES: [&str; 4] = ["未婚", "已婚", "离婚", "丧偶"];

/// What is asked about one certificate type.
#[derive(Debug, Clone)]
pub struct Query {
    /// 证照类型代码.
    pub type_code: String,
    /// Fields whose items (value and salt) are to be disclosed.
    pub disclose: Vec<String>,
    /// Fields to check against what the applicant wrote: match or mismatch only.
    pub claims: BTreeMap<String, FieldValue>,
    /// Predicates.
    pub predicates: Vec<PredicateQuery>,
}

/// A verification request, parsed from the body.
#[derive(Debug, Clone)]
pub struct Request {
    /// Scenario code.
    pub scenario: String,
    /// 申请事由.
    pub purpose: String,
    /// The department's case number.
    pub case_number: String,
    /// The department's own pseudonymous identifier of the official acting.
    pub operator: String,
    /// Holder or certificate.
    pub subject: Subject,
    /// The holder's one-time consent code, where the scenario needs one.
    pub consent: Option<String>,
    /// One query per certificate type.
    pub queries: Vec<Query>,
}

/// What was disclosed from one certificate: everything needed to check each item
/// against the issuer's signature offline.
#[derive(Debug, Clone)]
pub struct Disclosed {
    /// The issuer's COSE_Sign1 over the security object (log form: no `x5chain`).
    pub security_object: Vec<u8>,
    /// The issuer's DER certificate (from its `KeyEvent`); it chains to the trust anchor.
    pub issuer_certificate: Vec<u8>,
    /// The disclosed items, canonical CBOR `[salt, name, value]`.
    pub items: Vec<Vec<u8>>,
}

/// The answer about one certificate type.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// 证照类型代码.
    pub type_code: String,
    /// `valid`, `suspended`, `revoked`, `superseded`, `expired` or `not_found`.
    pub status: &'static str,
    /// The certificate answered about, if one was found.
    pub certificate_id: Option<String>,
    /// Its issuer's 统一社会信用代码.
    pub issuer: Option<String>,
    /// Disclosed items (only for a valid certificate).
    pub disclosed: Option<Disclosed>,
    /// Claims: field → match (only for a valid certificate).
    pub claims: BTreeMap<String, bool>,
    /// Predicates answered. `currently_valid` and `holds_valid` are always answered;
    /// the others only from a valid certificate.
    pub predicates: Vec<(PredicateQuery, bool)>,
}

/// A recorded decision.
#[derive(Debug, Clone)]
pub struct Decided {
    /// Index of the `AccessRecorded` entry.
    pub index: u64,
    /// The entry, canonical CBOR (no personal data: it can travel with the answer).
    pub entry: Vec<u8>,
    /// The decision time.
    pub time: Millis,
    /// The scenario code asked (may be empty on a malformed request).
    pub scenario: String,
    /// The rule set version in force.
    pub policy_version: u64,
    /// `None` on allow.
    pub denial: Option<Denial>,
    /// Results, on allow.
    pub results: Vec<QueryResult>,
    /// The checkpoint that covered the entry when it was appended.
    pub checkpoint: Arc<Published>,
}

/// A signed receipt.
#[derive(Debug, Clone)]
pub struct SignedReceipt {
    /// The ledger's COSE_Sign1 over the [`Receipt`].
    pub cose: Vec<u8>,
    /// The C2SP tlog-proof of the `AccessRecorded` entry, unless a promise was asked.
    pub tlog_proof: Option<String>,
}

/// The verification service (and, in `consent.rs`, the consent service).
pub struct Verifications {
    pub(crate) log: Arc<Log>,
    pub(crate) certs: Arc<Certificates>,
    pub(crate) rules: Arc<RuleSet>,
    pub(crate) policy_version: u64,
    signer: LedgerSigner,
    pub(crate) clock: Arc<dyn Clock>,
    nonces: NonceCache,
    /// Consent digests being consumed or revoked right now.
    consuming: Mutex<HashSet<[u8; 32]>>,
    /// The `@authority` requests must be signed for, when configured: a request signed
    /// for another deployment (sharing the trust anchor) is refused.
    authority: Option<String>,
    /// When this service started (Unix seconds).
    started: i64,
    /// The latest witness-cosigned checkpoint, when witnesses are configured: tlog-proofs
    /// use it whenever it covers their entry.
    cosigned: Option<Arc<crate::witness::CosignedCheckpoints>>,
    /// Which access entries are about which holder (derived from the log).
    pub(crate) accesses: Arc<AccessIndex>,
}

/// A decision: the results and the consent consumed, or the denial.
type Outcome<'a> = Result<(Vec<QueryResult>, Option<ConsentUse<'a>>), Denial>;

/// What `evaluate` found: the outcome, and the holder once resolved.
struct Evaluated<'a> {
    outcome: Outcome<'a>,
    holder: Option<Pseudonym>,
}

/// A consent reserved for one decision: the record marked used and the insert-only
/// "spent" marker, written with the entry. The marker makes single use hold in the store
/// transaction itself, even if the in-memory hold is released early (a request cancelled
/// by a timeout or a disconnect while its append is queued): a second use or a revocation
/// then fails its append as a duplicate and discloses nothing.
struct ConsentUse<'a> {
    digest: [u8; 32],
    _guard: ConsentGuard<'a>,
    puts: Vec<PendingPut>,
}

/// Releases a reserved consent digest when dropped.
pub(crate) struct ConsentGuard<'a> {
    set: &'a Mutex<HashSet<[u8; 32]>>,
    digest: [u8; 32],
}

impl Drop for ConsentGuard<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.digest);
    }
}

impl std::fmt::Debug for Verifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifications")
            .field("scenarios", &self.rules.len())
            .field("policy_version", &self.policy_version)
            .finish_non_exhaustive()
    }
}

impl Verifications {
    /// A service deciding under `rules` (published as `policy_version`), signing
    /// receipts with `signer` (the log's own key).
    ///
    /// The nonces of the last minutes are rebuilt from the log: every request that passed
    /// authentication is in an `AccessRecorded`, `ConsentGranted` or `ConsentRevoked`
    /// entry with its signature parameters, so a request accepted before a restart cannot
    /// be replayed after it, even one whose `created` lies in the future. If the log
    /// cannot be read, signatures created before the start are refused instead, until
    /// the window has passed.
    pub fn new(
        log: Arc<Log>,
        certs: Arc<Certificates>,
        rules: Arc<RuleSet>,
        policy_version: u64,
        signer: LedgerSigner,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let now_ms = clock.now_millis();
        let now = (now_ms / 1000) as i64;
        let nonces = rebuilt_nonces(certs.store(), log.latest().size, now_ms);
        let accesses = Arc::new(AccessIndex::in_memory(certs.shared_store()));
        log.set_follower(accesses.clone());
        Self {
            log,
            certs,
            rules,
            policy_version,
            signer,
            clock,
            nonces,
            consuming: Mutex::new(HashSet::new()),
            authority: None,
            started: now,
            cosigned: None,
            accesses,
        }
    }

    /// Reads access histories from `index` (kept on disk beside the store) instead of an
    /// index built in memory, and makes it the log's follower.
    #[must_use]
    pub fn with_access_index(mut self, index: Arc<AccessIndex>) -> Self {
        self.log.set_follower(index.clone());
        self.accesses = index;
        self
    }

    /// Proves entries against the latest witness-cosigned checkpoint in `cosigned`
    /// whenever it covers them.
    #[must_use]
    pub fn with_cosigned(mut self, cosigned: Arc<crate::witness::CosignedCheckpoints>) -> Self {
        self.cosigned = Some(cosigned);
        self
    }

    /// The latest cosigned checkpoint covering entry `index`, if any.
    fn cosigned_covering(&self, index: u64) -> Option<Arc<Published>> {
        self.cosigned.as_ref().and_then(|c| c.covering(index))
    }

    /// Refuses requests signed for another `@authority` than `authority` (the host name
    /// and port departments address this ledger by).
    #[must_use]
    pub fn with_authority(mut self, authority: Option<String>) -> Self {
        self.authority = authority;
        self
    }

    /// Checks the request's RFC 9421 signature: profile, freshness, content digest, the
    /// key's registration and certificate (role `department`, under the trust anchor,
    /// not retired), the Ed25519 signature (strict), and finally the nonce, which is
    /// remembered only for a signature that verified.
    pub fn authenticate(&self, req: &SignedHttp<'_>) -> Result<Authenticated, AuthError> {
        self.authenticate_as(req, Role::Department)
    }

    /// [`Verifications::authenticate_as`] for a request that writes no entry (a history
    /// read): its nonce cannot be rebuilt from the log after a restart, so a signature
    /// created before this process started is refused as well.
    pub fn authenticate_unlogged(
        &self,
        req: &SignedHttp<'_>,
        role: Role,
    ) -> Result<Authenticated, AuthError> {
        let auth = self.authenticate_as(req, role)?;
        if auth.created < self.started {
            return Err(AuthError::BeforeRestart);
        }
        Ok(auth)
    }

    /// [`Verifications::authenticate`] for a principal of `role` (a channel for consents
    /// and access histories).
    pub fn authenticate_as(
        &self,
        req: &SignedHttp<'_>,
        role: Role,
    ) -> Result<Authenticated, AuthError> {
        let (Some(input), Some(sig), Some(digest)) =
            (req.signature_input, req.signature, req.content_digest)
        else {
            return Err(AuthError::Missing);
        };
        if self
            .authority
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case(req.authority))
        {
            return Err(AuthError::WrongAuthority);
        }
        let (_, params, signature) = httpsig::parse(input, sig).map_err(AuthError::Malformed)?;
        let now = (self.clock.now_millis() / 1000) as i64;
        params
            .check_proofless(now, MAX_CREATED_SKEW_SECS)
            .map_err(|e| match e {
                HttpSigError::Stale { .. } | HttpSigError::Expired => AuthError::Stale,
                other => AuthError::Malformed(other),
            })?;
        httpsig::check_content_digest(digest, req.body).map_err(|e| match e {
            HttpSigError::DigestMismatch => AuthError::DigestMismatch,
            other => AuthError::Malformed(other),
        })?;
        let keyid = params.keyid().unwrap_or_default();
        let key_id: [u8; 32] = hex::decode(keyid)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or(AuthError::UnknownKey)?;
        let department = self.certs.registered(&key_id, role).map_err(|e| match e {
            CertificateError::UnknownKey => AuthError::UnknownKey,
            CertificateError::KeyRetired => AuthError::KeyRetired,
            CertificateError::Untrusted(_) => AuthError::CertificateInvalid,
            _ => AuthError::Unavailable,
        })?;
        let organisation = department
            .organisation()
            .ok_or(AuthError::CertificateInvalid)?;
        let parts =
            RequestParts::new(req.method, req.authority, req.path).header("content-digest", digest);
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| AuthError::Malformed(HttpSigError::SignatureLength))?;
        httpsig::verify(department.verifying_key(), &parts, &params, &signature).map_err(|e| {
            match e {
                HttpSigError::BadSignature => AuthError::BadSignature,
                other => AuthError::Malformed(other),
            }
        })?;
        let serialized = params.serialize();
        if serialized.len() > MAX_SIGNATURE_PARAMS
            || req.authority.len() > 256
            || req.path.len() > 256
            || digest.len() > 256
        {
            return Err(AuthError::Malformed(HttpSigError::Malformed {
                header: "signature-input",
                reason: "too long to record",
            }));
        }
        self.nonces
            .check(
                keyid,
                params.nonce().unwrap_or_default(),
                params.created().unwrap_or_default(),
                now,
            )
            .map_err(|e| match e {
                NonceError::Replayed => AuthError::Replayed,
                NonceError::Stale => AuthError::Stale,
                NonceError::BeforeStart => AuthError::BeforeRestart,
                NonceError::Length => AuthError::Malformed(HttpSigError::MissingParameter("nonce")),
                NonceError::Full => AuthError::Busy,
            })?;
        Ok(Authenticated {
            organisation,
            created: params.created().unwrap_or_default(),
            request: RequestSignature {
                key_id,
                method: req.method.to_owned(),
                path: req.path.to_owned(),
                authority: req.authority.to_owned(),
                content_digest: digest.to_owned(),
                params: serialized,
                signature,
            },
            request_digest: Sha256::digest(req.body).into(),
        })
    }

    /// Decides an authenticated request (or records that its body was malformed), and
    /// appends the `AccessRecorded` entry. Returns only once the entry is durable.
    pub async fn decide(
        &self,
        auth: Authenticated,
        request: Result<Request, &'static str>,
    ) -> Result<Decided, Unavailable> {
        self.decide_announced(self.announce(), auth, request).await
    }

    /// Announces a decision that will be appended soon (see [`Log::announce`]): take it
    /// as early as the request arrives and pass it to [`Verifications::decide_announced`].
    pub fn announce(&self) -> crate::log::Announced {
        self.log.announce()
    }

    /// [`Verifications::decide`] for a request announced when it arrived.
    pub async fn decide_announced(
        &self,
        announced: crate::log::Announced,
        auth: Authenticated,
        request: Result<Request, &'static str>,
    ) -> Result<Decided, Unavailable> {
        let (scenario, purpose, case_number, operator) = match &request {
            Ok(r) => (
                r.scenario.clone(),
                r.purpose.clone(),
                r.case_number.clone(),
                r.operator.clone(),
            ),
            Err(_) => Default::default(),
        };
        let mut fields = Vec::new();
        let mut holder = None;
        let mut consent = None;
        let (outcome, certificates) = match &request {
            Err(m) => (Err(Denial::Malformed(m)), Vec::new()),
            Ok(r) => {
                // Only names the scenario lists reach the log: anything else a department
                // typed (a holder code, say) must not be kept forever in a public log.
                if let Some(sc) = self.rules.get(&r.scenario)
                    && check_queries(sc, &r.queries).is_ok()
                {
                    for q in &r.queries {
                        fields.extend(asked_fields(q));
                    }
                }
                let ev = self.evaluate(&auth, r)?;
                holder = ev.holder;
                match ev.outcome {
                    Ok((results, used)) => {
                        consent = used;
                        let ids = results
                            .iter()
                            .filter_map(|r| r.certificate_id.clone())
                            .collect();
                        (Ok(results), ids)
                    }
                    Err(d) => (Err(d), Vec::new()),
                }
            }
        };
        // What is recorded must fit the entry's limits. A value that does not is
        // recorded empty; the request is denied anyway (an over-long purpose, case
        // number or operator is a denial of its own, and no scenario code is that long),
        // and the denial's code says why.
        let fit = |v: String, max: usize| {
            if v.chars().count() <= max {
                v
            } else {
                String::new()
            }
        };
        let scenario = if self.rules.get(&scenario).is_some() {
            scenario
        } else {
            String::new()
        };
        let purpose = fit(purpose, MAX_PURPOSE_CHARS);
        let case_number = fit(case_number, MAX_CASE_NUMBER);
        let operator = fit(operator, MAX_OPERATOR);
        let (outcome, fields, certificates) =
            if fields.len() <= 256 && fields.iter().map(String::len).sum::<usize>() <= 16 * 1024 {
                (outcome, fields, certificates)
            } else {
                let outcome = match outcome {
                    Ok(_) => Err(Denial::Malformed("too many fields")),
                    denied => denied,
                };
                // A denial consumes nothing.
                consent = None;
                (outcome, Vec::new(), Vec::new())
            };
        let time = self.clock.now_millis();
        let (decision, reason) = match &outcome {
            Ok(_) => (Decision::Allow, "ok"),
            Err(d) => (Decision::Deny, d.code()),
        };
        let entry = Entry::AccessRecorded(AccessRecorded {
            time,
            department: auth.organisation.as_str().to_owned(),
            operator,
            scenario: scenario.clone(),
            policy_version: self.policy_version,
            purpose,
            case_number,
            consent: consent.as_ref().map(|c| c.digest),
            certificates,
            fields,
            decision,
            reason: reason.to_owned(),
            request_digest: auth.request_digest,
            request: auth.request,
            holder,
        })
        .encode()
        .map_err(|e| {
            // Every recorded value is bounded above; an entry that still does not encode
            // is a bug, and the request is refused (nothing disclosed) rather than lost.
            tracing::error!(error = %e, "an access entry did not encode");
            Unavailable
        })?;
        let bytes = entry.as_bytes().to_vec();
        // The entry names the holder's pseudonym; the holder-access index follows the log
        // (`accesses.rs`), told of the holder by the note, so nothing else is written.
        let mut puts = Vec::new();
        if let Some(c) = &consent {
            puts.extend(c.puts.iter().cloned());
        }
        let notes = holder.map(|h| (0, h)).into_iter().collect();
        let appended = self
            .log
            .append_noted(Some(announced), vec![entry], puts, notes)
            .await
            .map_err(|e| {
                if !matches!(e, AppendError::Duplicate) {
                    tracing::error!(error = %e, "could not record a verification decision");
                }
                Unavailable
            })?;
        // The consent (if any) was consumed in the same transaction; release its hold.
        drop(consent);
        let (denial, results) = match outcome {
            Ok(r) => (None, r),
            Err(d) => (Some(d), Vec::new()),
        };
        Ok(Decided {
            index: appended.index,
            entry: bytes,
            time,
            scenario,
            policy_version: self.policy_version,
            denial,
            results,
            checkpoint: appended.checkpoint,
        })
    }

    /// Signs the receipt for `decided`, whose answer was serialized as `answer`; with
    /// `proof`, adds the tlog-proof of the entry against the checkpoint that covered it.
    pub fn receipt(
        &self,
        decided: &Decided,
        request_digest: [u8; 32],
        answer: &[u8],
        proof: bool,
    ) -> Result<SignedReceipt, Unavailable> {
        let receipt = Receipt {
            origin: self.signer.name().to_owned(),
            request_digest,
            answer_digest: Sha256::digest(answer).into(),
            index: decided.index,
            time: decided.time,
            decision: if decided.denial.is_none() {
                Decision::Allow
            } else {
                Decision::Deny
            },
        };
        // The entry was just appended, so a cosigned checkpoint covering it is rare here;
        // a promise redeemed later (`latest_proof`) usually gets one.
        let tlog_proof = if proof {
            let checkpoint = self
                .cosigned_covering(decided.index)
                .unwrap_or_else(|| decided.checkpoint.clone());
            Some(self.tlog_proof(decided.index, &checkpoint)?)
        } else {
            None
        };
        Ok(SignedReceipt {
            cose: receipt.sign(&self.signer),
            tlog_proof,
        })
    }

    /// The tlog-proof of entry `index` against `checkpoint`.
    pub fn tlog_proof(&self, index: u64, checkpoint: &Published) -> Result<String, Unavailable> {
        let proof = self
            .log
            .inclusion_proof(index, checkpoint.size)
            .map_err(|_| Unavailable)?;
        Ok(TlogProof {
            extra: None,
            index,
            proof,
            checkpoint: checkpoint.note.clone(),
        }
        .to_text())
    }

    /// The files of published rule set `version` (for auditors), `None` when this store
    /// does not hold them.
    pub fn published_rules(
        &self,
        version: u64,
    ) -> Result<Option<Vec<crate::rules::PublishedFile>>, Unavailable> {
        crate::rules::published(self.certs.store(), version).map_err(|e| {
            tracing::error!(error = %e, "published rule files unreadable");
            Unavailable
        })
    }

    /// The tlog-proof of entry `index` against the latest checkpoint (redeeming a
    /// promise). `None` when the entry is not in the log.
    pub fn latest_proof(&self, index: u64) -> Result<Option<String>, Unavailable> {
        // With witnesses, the latest cosigned checkpoint when it covers the entry.
        if let Some(cosigned) = self.cosigned_covering(index) {
            return self.tlog_proof(index, &cosigned).map(Some);
        }
        let latest = self.log.latest();
        if index >= latest.size {
            return Ok(None);
        }
        self.tlog_proof(index, &latest).map(Some)
    }

    /// The rules, then the data. `Ok(Err(_))` is a denial; `Err` a storage failure.
    fn evaluate(&self, auth: &Authenticated, r: &Request) -> Result<Evaluated<'_>, Unavailable> {
        let mut holder = None;
        let outcome = self.evaluate_inner(auth, r, &mut holder)?;
        Ok(Evaluated { outcome, holder })
    }

    fn evaluate_inner(
        &self,
        auth: &Authenticated,
        r: &Request,
        resolved: &mut Option<Pseudonym>,
    ) -> Result<Outcome<'_>, Unavailable> {
        let purpose_len = r.purpose.trim().chars().count();
        if purpose_len == 0 || r.purpose.chars().count() > MAX_PURPOSE_CHARS {
            return Ok(Err(Denial::InvalidPurpose));
        }
        if r.case_number.trim().is_empty() || r.case_number.len() > MAX_CASE_NUMBER {
            return Ok(Err(Denial::InvalidCaseNumber));
        }
        if r.operator.len() > MAX_OPERATOR {
            return Ok(Err(Denial::Malformed("operator is longer than 64 bytes")));
        }
        let Some(scenario) = self.rules.get(&r.scenario) else {
            return Ok(Err(Denial::UnknownScenario));
        };
        if !scenario.allows_department(Role::Department, &auth.organisation) {
            return Ok(Err(Denial::DepartmentNotAllowed));
        }
        if let Err(d) = check_queries(scenario, &r.queries) {
            return Ok(Err(d));
        }
        if scenario.access() == Access::Consent && r.consent.is_none() {
            return Ok(Err(Denial::ConsentRequired));
        }
        let (holder, pinned) = match &r.subject {
            Subject::Holder(t, c) => match HolderCode::parse(t, c) {
                Ok(h) => (Some(self.certs.pseudonym(&h)), None),
                Err(_) => return Ok(Err(Denial::InvalidHolderCode)),
            },
            Subject::Certificate(id) => {
                if CertificateId::parse(id).is_err() {
                    return Ok(Err(Denial::InvalidCertificateId));
                }
                match self.certs.issued_index_of(id) {
                    Ok(i) => {
                        let held = self.certs.held(i).map_err(unavailable)?;
                        (Some(held.holder), Some(held))
                    }
                    Err(CertificateError::NotFound) => (None, None),
                    Err(e) => return Err(unavailable(e)),
                }
            }
        };
        *resolved = holder;
        let consent = match (scenario.access(), &r.consent) {
            (Access::Consent, Some(code)) => {
                match self.use_consent(auth, r, code, holder.as_ref())? {
                    Ok(c) => Some(c),
                    Err(d) => return Ok(Err(d)),
                }
            }
            _ => None,
        };
        let today = china_date(self.clock.now_millis());
        let results = r
            .queries
            .iter()
            .map(|q| self.answer(q, holder.as_ref(), pinned.as_ref(), &today))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ok((results, consent)))
    }

    /// Checks a presented consent code against the request and reserves it for this
    /// decision: known, for this holder, scenario and department, covering everything
    /// asked, not expired, used or revoked, and not being used by another request now.
    fn use_consent(
        &self,
        auth: &Authenticated,
        r: &Request,
        code: &str,
        holder: Option<&Pseudonym>,
    ) -> Result<Result<ConsentUse<'_>, Denial>, Unavailable> {
        let digest = crate::consent::consent_digest(code);
        let Some(guard) = self.reserve_consent(digest) else {
            return Ok(Err(Denial::ConsentUsed));
        };
        let Some(mut rec) = self.consent_record(&digest).map_err(|e| {
            tracing::error!(error = %e, "consent record unreadable");
            Unavailable
        })?
        else {
            return Ok(Err(Denial::ConsentInvalid));
        };
        match rec.state {
            ConsentState::Used => return Ok(Err(Denial::ConsentUsed)),
            ConsentState::Revoked => return Ok(Err(Denial::ConsentRevoked)),
            ConsentState::Active => {}
        }
        if rec.expires < self.clock.now_millis() {
            return Ok(Err(Denial::ConsentExpired));
        }
        let asked = r.queries.iter().flat_map(asked_fields);
        let matches = holder == Some(&rec.holder)
            && rec.scenario == r.scenario
            && rec
                .department
                .as_deref()
                .is_none_or(|d| d == auth.organisation.as_str())
            && asked.into_iter().all(|f| rec.scope.contains(&f));
        if !matches {
            return Ok(Err(Denial::ConsentMismatch));
        }
        rec.state = ConsentState::Used;
        Ok(Ok(ConsentUse {
            digest,
            _guard: guard,
            puts: vec![
                PendingPut::plain(Put {
                    table: Table::Consents,
                    key: digest.to_vec(),
                    value: rec.encode(),
                    mode: PutMode::Upsert,
                }),
                crate::consent::spent_marker(&digest),
            ],
        }))
    }

    /// Holds `digest` for one decision or revocation; `None` if another holds it now.
    pub(crate) fn reserve_consent(&self, digest: [u8; 32]) -> Option<ConsentGuard<'_>> {
        let mut set = self
            .consuming
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Not `then_some`: it would build (and drop) a guard even when the digest is
        // held by another request, removing that request's hold.
        if !set.insert(digest) {
            return None;
        }
        drop(set);
        Some(ConsentGuard {
            set: &self.consuming,
            digest,
        })
    }

    /// Answers one query about the holder (or the pinned certificate).
    fn answer(
        &self,
        q: &Query,
        holder: Option<&Pseudonym>,
        pinned: Option<&Held>,
        today: &str,
    ) -> Result<QueryResult, Unavailable> {
        let mut result = QueryResult {
            type_code: q.type_code.clone(),
            status: "not_found",
            certificate_id: None,
            issuer: None,
            disclosed: None,
            claims: BTreeMap::new(),
            predicates: Vec::new(),
        };
        let held: Vec<Held> = match holder {
            Some(h) => self
                .certs
                .holdings(h, &q.type_code)
                .map_err(unavailable)?
                .into_iter()
                .map(|i| self.certs.held(i))
                .collect::<Result<_, _>>()
                .map_err(unavailable)?,
            None => Vec::new(),
        };
        let holds_valid = held.iter().any(|h| h.status == "valid");
        // The certificate answered about: the pinned one for its own type, otherwise
        // the newest valid one, otherwise the newest.
        let chosen = match pinned {
            Some(p) if p.type_code == q.type_code => Some(p.clone()),
            _ => held
                .iter()
                .rev()
                .find(|h| h.status == "valid")
                .or(held.last())
                .cloned(),
        };
        if let Some(c) = &chosen {
            result.status = c.status;
            result.certificate_id = Some(c.certificate_id.clone());
            result.issuer = Some(c.issuer.clone());
        }
        let valid = chosen.as_ref().is_some_and(|c| c.status == "valid");
        // The sealed payload is opened only when the query reads field values; a query on
        // status alone (`currently_valid`, `holds_valid`) only checks that the holder's
        // data was not erased.
        let reads_values = !q.disclose.is_empty()
            || !q.claims.is_empty()
            || q.predicates.iter().any(|p| {
                matches!(
                    p,
                    PredicateQuery::AgeAtLeast(_) | PredicateQuery::MaritalStatusIs(_)
                )
            });
        let mut available = false;
        let items = match (&chosen, valid) {
            (Some(c), true) if reads_values => match self.certs.disclosure(c) {
                Ok(d) => {
                    available = true;
                    Some(d)
                }
                // Erased: the holder's data is gone; nothing can be answered from it.
                Err(CertificateError::NotFound) => None,
                Err(e) => return Err(unavailable(e)),
            },
            (Some(c), true) => {
                available = !self.certs.erased(&c.holder).map_err(unavailable)?;
                None
            }
            _ => None,
        };
        if valid && !available {
            result.status = "erased";
        }
        for p in &q.predicates {
            let value = match p {
                PredicateQuery::CurrentlyValid => Some(valid && available),
                PredicateQuery::HoldsValid => Some(holds_valid),
                PredicateQuery::AgeAtLeast(n) => items
                    .as_ref()
                    .and_then(|d| birth_date(&d.items))
                    .and_then(|b| age_on(&b, today))
                    .map(|age| age >= *n),
                PredicateQuery::MaritalStatusIs(s) => items
                    .as_ref()
                    .and_then(|d| marital_status(&d.items))
                    .map(|m| m == s),
            };
            if let Some(v) = value {
                result.predicates.push((p.clone(), v));
            }
        }
        let Some(d) = items else {
            return Ok(result);
        };
        for (name, claimed) in &q.claims {
            let matches = d
                .items
                .iter()
                .any(|i| i.name == *name && i.value == *claimed);
            result.claims.insert(name.clone(), matches);
        }
        if !q.disclose.is_empty() {
            let issuer_certificate = self
                .certs
                .key_certificate(&d.issuer_key)
                .map_err(unavailable)?;
            result.disclosed = Some(Disclosed {
                security_object: d.security_object.clone(),
                issuer_certificate,
                items: d
                    .items
                    .iter()
                    .filter(|i| q.disclose.contains(&i.name))
                    .map(Item::encode)
                    .collect(),
            });
        }
        Ok(result)
    }
}

/// The nonce cache, with the nonces of the log's recent signed entries; if the log cannot
/// be read or holds more recent nonces than the cache can, a cache that refuses
/// signatures created before now instead.
fn rebuilt_nonces(store: &dyn proofless_store::Store, size: u64, now_ms: u64) -> NonceCache {
    let now = (now_ms / 1000) as i64;
    let fallback = || NonceCache::new(MAX_CREATED_SKEW_SECS, NONCE_CAPACITY, now);
    let seen = match recent_nonces(store, size, now_ms) {
        Ok(seen) => seen,
        Err(e) => {
            tracing::warn!(error = %e, "could not rebuild request nonces from the log; refusing signatures created before now");
            return fallback();
        }
    };
    let cache = NonceCache::new(MAX_CREATED_SKEW_SECS, NONCE_CAPACITY, i64::MIN);
    let count = seen.len();
    for (keyid, nonce, created) in seen {
        // Stale or already known: nothing to remember. Full: the cache cannot hold the
        // window, so fall back.
        if cache.check(&keyid, &nonce, created, now) == Err(NonceError::Full) {
            tracing::warn!(
                "too many recent nonces to rebuild; refusing signatures created before now"
            );
            return fallback();
        }
    }
    tracing::info!(recent = count, "request nonces rebuilt from the log");
    cache
}

/// `(keyid, nonce, created)` of every signed request recorded in the log in the last
/// `2 × MAX_CREATED_SKEW_SECS` before `now_ms` (a nonce still acceptable now was created
/// at most that long before it was recorded), read from the end of the log backwards.
fn recent_nonces(
    store: &dyn proofless_store::Store,
    size: u64,
    now_ms: u64,
) -> Result<Vec<(String, String, i64)>, proofless_store::StoreError> {
    let horizon = now_ms.saturating_sub(2 * MAX_CREATED_SKEW_SECS as u64 * 1000 + 60_000);
    let mut out = Vec::new();
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(1024);
        let chunk = store.entries(start, end)?;
        let mut older = false;
        for raw in chunk.iter().rev() {
            let (time, params) = match Entry::decode(raw) {
                Ok(Entry::AccessRecorded(a)) => (a.time, a.request.params),
                Ok(Entry::ConsentGranted(c)) => (c.time, c.request.params),
                Ok(Entry::ConsentRevoked(c)) => (c.time, c.request.params),
                // Other kinds carry no request signature; their times still bound the scan.
                Ok(Entry::CertificateIssued(c)) => {
                    older |= c.time < horizon;
                    continue;
                }
                _ => continue,
            };
            if time < horizon {
                older = true;
                continue;
            }
            if let Ok((_, p, _)) = httpsig::parse(&format!("x={params}"), "x=:AA==:")
                && let (Some(k), Some(n), Some(c)) = (p.keyid(), p.nonce(), p.created())
            {
                out.push((k.to_owned(), n.to_owned(), c));
            }
        }
        if older {
            break;
        }
        end = start;
    }
    Ok(out)
}

fn unavailable(e: CertificateError) -> Unavailable {
    tracing::error!(error = %e, "store failure while answering a verification");
    Unavailable
}

/// Every query is allowed by the scenario: type covered, fields and predicates listed,
/// at most `max_certificates` types, at least one.
fn check_queries(scenario: &Scenario, queries: &[Query]) -> Result<(), Denial> {
    if queries.is_empty() {
        return Err(Denial::Malformed("no certificate type asked"));
    }
    if queries.len() > scenario.max_certificates() as usize {
        return Err(Denial::TooManyCertificates);
    }
    for (i, q) in queries.iter().enumerate() {
        if queries[..i].iter().any(|o| o.type_code == q.type_code) {
            return Err(Denial::Malformed("a certificate type is asked twice"));
        }
        let Some(rule) = scenario.certificate(&q.type_code) else {
            return Err(Denial::TypeNotInScenario);
        };
        if q.disclose.is_empty() && q.claims.is_empty() && q.predicates.is_empty() {
            return Err(Denial::Malformed("a certificate query asks nothing"));
        }
        if q.disclose
            .iter()
            .enumerate()
            .any(|(j, f)| q.disclose[..j].contains(f))
        {
            return Err(Denial::Malformed("a field is asked twice"));
        }
        if !q.disclose.iter().all(|f| rule.may_disclose(f))
            || !q.claims.keys().all(|f| rule.may_check(f))
        {
            return Err(Denial::FieldNotAllowed);
        }
        if !q.predicates.iter().all(|p| rule.allows(p.predicate())) {
            return Err(Denial::PredicateNotAllowed);
        }
        // One question per predicate and type: asking `age_at_least` for every N, or
        // `marital_status_is` for every status, would disclose the value itself.
        for (j, p) in q.predicates.iter().enumerate() {
            if q.predicates[..j]
                .iter()
                .any(|o| o.predicate() == p.predicate())
            {
                return Err(Denial::Malformed("a predicate is asked twice for one type"));
            }
        }
    }
    Ok(())
}

/// The names recorded for a query: `<type>/disclose/<field>`, `<type>/claim/<field>`,
/// `<type>/predicate/<name>`. Names only, never values or predicate parameters.
fn asked_fields(q: &Query) -> Vec<String> {
    let claims: Vec<String> = q.claims.keys().cloned().collect();
    let predicates: Vec<Predicate> = q.predicates.iter().map(PredicateQuery::predicate).collect();
    crate::consent::scope_names(&q.type_code, &q.disclose, &claims, &predicates)
}

fn text(items: &[Item], pred: impl Fn(&str) -> bool) -> Option<&str> {
    items.iter().find_map(|i| match &i.value {
        FieldValue::Text(s) if pred(&i.name) => Some(s.as_str()),
        _ => None,
    })
}

/// The holder's birth date: `birth_date`, else `holder_birth_date`, else the type's only
/// `*_birth_date` field. A type with several (a divorce certificate names the former
/// spouse's) answers nothing rather than possibly a third party's age.
fn birth_date(items: &[Item]) -> Option<String> {
    text(items, |n| n == "birth_date")
        .or_else(|| text(items, |n| n == "holder_birth_date"))
        .or_else(|| {
            let mut others = items.iter().filter(|i| i.name.ends_with("_birth_date"));
            match (others.next(), others.next()) {
                (Some(i), None) => match &i.value {
                    FieldValue::Text(s) => Some(s.as_str()),
                    _ => None,
                },
                _ => None,
            }
        })
        .map(str::to_owned)
}

/// Full years from `birth` to `today`, both `YYYY-MM-DD`.
pub fn age_on(birth: &str, today: &str) -> Option<u32> {
    let parse = |s: &str| -> Option<(u32, u32, u32)> {
        let mut p = s.split('-');
        let y = p.next()?.parse().ok()?;
        let m = p.next()?.parse().ok()?;
        let d = p.next()?.parse().ok()?;
        p.next().is_none().then_some((y, m, d))
    };
    let (by, bm, bd) = parse(birth)?;
    let (ty, tm, td) = parse(today)?;
    let years = ty.checked_sub(by)?;
    Some(if (tm, td) < (bm, bd) {
        years.checked_sub(1)?
    } else {
        years
    })
}

/// The marital status a valid certificate states: its `marital_status` field, or 已婚
/// for a marriage certificate (`spouse_name`), 离婚 for a divorce certificate
/// (`former_spouse_name`).
fn marital_status(items: &[Item]) -> Option<&str> {
    text(items, |n| n == "marital_status").or_else(|| {
        if items.iter().any(|i| i.name == "spouse_name") {
            Some("已婚")
        } else if items.iter().any(|i| i.name == "former_spouse_name") {
            Some("离婚")
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_counts_full_years() {
        assert_eq!(age_on("1960-03-15", "2026-03-14"), Some(65));
        assert_eq!(age_on("1960-03-15", "2026-03-15"), Some(66));
        assert_eq!(age_on("2000-02-29", "2026-02-28"), Some(25));
        assert_eq!(age_on("2000-02-29", "2026-03-01"), Some(26));
        assert_eq!(age_on("2030-01-01", "2026-03-01"), None);
        assert_eq!(age_on("1960-03", "2026-03-01"), None);
    }
}
