//! One-time consents and the holder's access history (DESIGN.md §5; issue 5).
//!
//! A channel (an accredited app that has authenticated the citizen) grants, on the
//! holder's behalf, a consent for one scenario, optionally one department, and exactly the
//! types, fields and predicates the holder agreed to — never more than the scenario allows.
//! The ledger returns a consent code (160 random bits, base32: fit for a QR code) and a
//! Chinese preview of what will be shared, with whom and why, and appends
//! `ConsentGranted` with the holder's pseudonym and the SHA-256 of the code only.
//!
//! Invariants:
//! * **Single use, exactly once.** A verification consumes a consent in the same store
//!   transaction as its `AccessRecorded` entry, which also inserts an insert-only "spent"
//!   marker (a revocation inserts the same marker): whatever happens in memory, a second
//!   use or revocation fails in the store. While a use is in progress the code is also
//!   held in an in-memory set, so concurrent uses are refused (`consent_used`) and a
//!   concurrent revocation answers `consent_not_active`, instead of queueing appends that
//!   would fail. A use whose append fails leaves the consent unused.
//! * **The code is a bearer secret.** It travels only in request bodies and in the
//!   channel's response; the log and the store keep its SHA-256.
//! * **The history comes from the log.** Every `AccessRecorded` entry about a resolved
//!   holder names the holder's pseudonym, statutory accesses included; the holder-access
//!   index (`accesses.rs`) follows the log and finds them.

use crate::clock::china_date;
use crate::log::PendingPut;
use crate::vault::Pseudonym;
use crate::verify::{Authenticated, Unavailable, Verifications};
use proofless_core::cbor::{self, MapBuilder, MapReader};
use proofless_core::entry::{ConsentGranted, ConsentRevoked, Entry, Millis};
use proofless_core::ids::HolderCode;
use proofless_core::policy::{Access, Predicate, Scenario};
use proofless_store::{Put, PutMode, StoreError, Table};
use sha2::{Digest as _, Sha256};
use thiserror::Error;

/// Default lifetime of a consent.
pub const DEFAULT_EXPIRY_SECS: u64 = 30 * 60;
/// Longest lifetime of a consent.
pub const MAX_EXPIRY_SECS: u64 = 24 * 60 * 60;
/// Random bytes in a consent code (160 bits).
pub const CODE_BYTES: usize = 20;
/// Most rows of history in one page.
pub const MAX_PAGE: usize = 100;

/// Why a grant, revocation or history request was refused (nothing was written).
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConsentError {
    /// The holder code is malformed or its check character is wrong.
    #[error("the holder code is malformed or its check character is wrong")]
    InvalidHolderCode,
    /// No scenario with this code is in force.
    #[error("no scenario with this code is in force")]
    UnknownScenario,
    /// The scenario is statutory: it needs no consent.
    #[error("the scenario is statutory and takes no consent")]
    NotRequired,
    /// A department, type, field or predicate the scenario does not allow was asked.
    #[error(
        "the consent asks for a department, type, field or predicate the scenario does not allow"
    )]
    ScopeNotAllowed,
    /// The expiry is zero or longer than 24 hours.
    #[error("expires_in must be 1 to 86400 seconds")]
    InvalidExpiry,
    /// No consent has this code (for this holder).
    #[error("no consent with this code for this holder")]
    Unknown,
    /// The consent was used, revoked or has expired.
    #[error("the consent is no longer active (used, revoked or expired)")]
    NotActive,
    /// The code is being used right now.
    #[error("the consent is being used right now")]
    Busy,
    /// The store could not be read or written.
    #[error("the ledger is unavailable")]
    Unavailable,
}

impl ConsentError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidHolderCode => "invalid_holder_code",
            Self::UnknownScenario => "unknown_scenario",
            Self::NotRequired => "consent_not_required",
            Self::ScopeNotAllowed => "consent_scope_not_allowed",
            Self::InvalidExpiry => "invalid_expiry",
            Self::Unknown => "consent_unknown",
            Self::NotActive | Self::Busy => "consent_not_active",
            Self::Unavailable => "unavailable",
        }
    }
}

impl From<Unavailable> for ConsentError {
    fn from(_: Unavailable) -> Self {
        Self::Unavailable
    }
}

fn store_err(e: StoreError) -> ConsentError {
    tracing::error!(error = %e, "store failure in the consent service");
    ConsentError::Unavailable
}

/// The life of a consent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentState {
    /// Granted, not used, not revoked (it may have expired: see `expires`).
    Active,
    /// Consumed by a verification.
    Used,
    /// Revoked.
    Revoked,
}

/// A consent's state record (`Table::Consents`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// The holder's pseudonym.
    pub holder: Pseudonym,
    /// The scenario.
    pub scenario: String,
    /// The one department allowed, if named.
    pub department: Option<String>,
    /// What may be asked (names as in `AccessRecorded::fields`).
    pub scope: Vec<String>,
    /// Last moment of validity (ms).
    pub expires: Millis,
    /// State.
    pub state: ConsentState,
    /// The granting channel's 统一社会信用代码.
    pub channel: String,
    /// Index of the `ConsentGranted` entry.
    pub granted_index: u64,
}

impl ConsentRecord {
    fn encode_body(&self) -> Vec<u8> {
        cbor::encode(
            &MapBuilder::new()
                .insert(1, cbor::bytes(&self.holder))
                .insert(2, cbor::text(&self.scenario))
                .insert_opt(3, self.department.as_deref().map(cbor::text))
                .insert(4, cbor::text_array(&self.scope))
                .insert(5, cbor::uint(self.expires))
                .insert(
                    6,
                    cbor::uint(match self.state {
                        ConsentState::Active => 0,
                        ConsentState::Used => 1,
                        ConsentState::Revoked => 2,
                    }),
                )
                .insert(7, cbor::text(&self.channel))
                .build(),
        )
    }

    /// The stored value: the record followed by the granted index.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut v = self.encode_body();
        v.extend_from_slice(&self.granted_index.to_be_bytes());
        v
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let corrupt = || StoreError::Corrupt("consent record");
        let (rec, idx) = bytes
            .split_at_checked(bytes.len().saturating_sub(8))
            .ok_or_else(corrupt)?;
        let v = cbor::decode_canonical(rec, 64 * 1024).map_err(|_| corrupt())?;
        let mut m = MapReader::new(v).map_err(|_| corrupt())?;
        let r = Self {
            holder: m.digest(1).map_err(|_| corrupt())?,
            scenario: m.text(2, 256).map_err(|_| corrupt())?,
            department: m.text_opt(3, 256).map_err(|_| corrupt())?,
            scope: m.text_array(4, 256, 256).map_err(|_| corrupt())?,
            expires: m.uint(5).map_err(|_| corrupt())?,
            state: match m.uint(6).map_err(|_| corrupt())? {
                0 => ConsentState::Active,
                1 => ConsentState::Used,
                2 => ConsentState::Revoked,
                _ => return Err(corrupt()),
            },
            channel: m.text(7, 256).map_err(|_| corrupt())?,
            granted_index: u64::from_be_bytes(idx.try_into().map_err(|_| corrupt())?),
        };
        m.finish().map_err(|_| corrupt())?;
        Ok(r)
    }
}

/// What a consent may cover for one certificate type.
#[derive(Debug, Clone, Default)]
pub struct ScopeQuery {
    /// 证照类型代码.
    pub type_code: String,
    /// Fields that may be disclosed.
    pub disclose: Vec<String>,
    /// Fields that may be checked.
    pub claims: Vec<String>,
    /// Predicates that may be asked.
    pub predicates: Vec<Predicate>,
}

/// A grant, as the channel asks for it.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    /// Holder code type and code.
    pub holder: (String, String),
    /// The scenario.
    pub scenario: String,
    /// The one department allowed (its 统一社会信用代码), if the holder named one.
    pub department: Option<String>,
    /// What the holder agrees to; `None`: everything the scenario allows.
    pub certificates: Option<Vec<ScopeQuery>>,
    /// Lifetime in seconds; default 30 minutes, at most 24 hours.
    pub expires_in: Option<u64>,
}

/// A granted consent.
#[derive(Debug, Clone)]
pub struct Granted {
    /// The consent code: 32 characters of RFC 4648 base32 (QR alphanumeric mode).
    pub code: String,
    /// Last moment of validity (ms).
    pub expires: Millis,
    /// The Chinese preview of what will be shared, with whom, for what.
    pub preview_zh: String,
    /// Index of the `ConsentGranted` entry.
    pub index: u64,
    /// The scope granted.
    pub scope: Vec<String>,
}

/// One row of a holder's access history.
#[derive(Debug, Clone)]
pub struct AccessRow {
    /// Index of the `AccessRecorded` entry (for its inclusion proof).
    pub index: u64,
    /// When.
    pub time: Millis,
    /// The department's 统一社会信用代码.
    pub department: String,
    /// Its name, from the scenario rules.
    pub department_name: Option<String>,
    /// The scenario code.
    pub scenario: String,
    /// The scenario's Chinese name.
    pub scenario_name: Option<String>,
    /// 申请事由.
    pub purpose: String,
    /// Field names asked (`<type>/<mode>/<name>`).
    pub fields: Vec<String>,
    /// `allow` or `deny`.
    pub allowed: bool,
    /// `ok` or the denial code.
    pub reason: String,
    /// Whether a consent was used.
    pub consent_used: bool,
}

/// The insert-only marker that a consent was used or revoked (`Table::Consents`, key
/// `digest ‖ "/spent"`): a second use or revocation fails its append as a duplicate, in
/// the store transaction, whatever happened to the in-memory hold.
pub(crate) fn spent_marker(digest: &[u8; 32]) -> PendingPut {
    let mut key = digest.to_vec();
    key.extend_from_slice(b"/spent");
    PendingPut::plain(Put {
        table: Table::Consents,
        key,
        value: Vec::new(),
        mode: PutMode::Insert,
    })
}

/// RFC 4648 base32 without padding, upper case: the alphabet of QR alphanumeric mode.
/// (Twenty lines; no crate needed.)
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The code as stored and compared: spaces and hyphens removed, upper case.
pub fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// SHA-256 of a (normalized) consent code, domain-separated.
pub fn consent_digest(code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"proofless/consent-code/v1\n");
    h.update(normalize_code(code).as_bytes());
    h.finalize().into()
}

/// The scope names of a query (as recorded in `AccessRecorded::fields`).
pub fn scope_names(
    type_code: &str,
    disclose: &[String],
    claims: &[String],
    predicates: &[Predicate],
) -> Vec<String> {
    disclose
        .iter()
        .map(|f| format!("{type_code}/disclose/{f}"))
        .chain(claims.iter().map(|f| format!("{type_code}/claim/{f}")))
        .chain(
            predicates
                .iter()
                .map(|p| format!("{type_code}/predicate/{}", p.name())),
        )
        .collect()
}

/// `YYYY-MM-DD HH:MM` in China time.
fn china_time(ms: Millis) -> String {
    let secs = (ms / 1000 + 8 * 3600) % 86_400;
    format!(
        "{} {:02}:{:02}",
        china_date(ms),
        secs / 3600,
        (secs % 3600) / 60
    )
}

fn predicate_zh(p: Predicate) -> &'static str {
    match p {
        Predicate::CurrentlyValid => "证照当前是否有效",
        Predicate::HoldsValid => "是否持有有效的该类证照",
        Predicate::AgeAtLeast => "是否达到规定年龄",
        Predicate::MaritalStatusIs => "婚姻状况是否与申报一致",
        _ => "其他核验事项",
    }
}

impl Verifications {
    fn holder_pseudonym(&self, (t, c): &(String, String)) -> Result<Pseudonym, ConsentError> {
        let h = HolderCode::parse(t, c).map_err(|_| ConsentError::InvalidHolderCode)?;
        Ok(self.certs.pseudonym(&h))
    }

    fn consent_scenario(&self, code: &str) -> Result<&Scenario, ConsentError> {
        let s = self.rules.get(code).ok_or(ConsentError::UnknownScenario)?;
        if s.access() != Access::Consent {
            return Err(ConsentError::NotRequired);
        }
        Ok(s)
    }

    /// Reads a consent's record.
    pub(crate) fn consent_record(
        &self,
        digest: &[u8; 32],
    ) -> Result<Option<ConsentRecord>, StoreError> {
        self.certs
            .store()
            .get(Table::Consents, digest)?
            .map(|v| ConsentRecord::decode(&v))
            .transpose()
    }

    /// Grants a consent on behalf of a holder, for an authenticated channel.
    pub async fn grant(
        &self,
        channel: Authenticated,
        req: GrantRequest,
    ) -> Result<Granted, ConsentError> {
        // The grant will append soon: the sequencer may wait for it (see `Log::announce`).
        let announced = self.log.announce();
        let holder = self.holder_pseudonym(&req.holder)?;
        let scenario = self.consent_scenario(&req.scenario)?;
        if let Some(d) = &req.department
            && !scenario.departments().iter().any(|x| x.organisation() == d)
        {
            return Err(ConsentError::ScopeNotAllowed);
        }
        let queries: Vec<ScopeQuery> = match req.certificates {
            Some(q) => q,
            None => scenario
                .certificates()
                .iter()
                .map(|r| ScopeQuery {
                    type_code: r.type_code().to_owned(),
                    disclose: r.disclose().map(str::to_owned).collect(),
                    claims: r.claims().map(str::to_owned).collect(),
                    predicates: r.predicates().collect(),
                })
                .collect(),
        };
        if queries.is_empty() {
            return Err(ConsentError::ScopeNotAllowed);
        }
        let mut scope = Vec::new();
        for (i, q) in queries.iter().enumerate() {
            let rule = scenario
                .certificate(&q.type_code)
                .ok_or(ConsentError::ScopeNotAllowed)?;
            let allowed = q.disclose.iter().all(|f| rule.may_disclose(f))
                && q.claims.iter().all(|f| rule.may_check(f))
                && q.predicates.iter().all(|p| rule.allows(*p))
                && !queries[..i].iter().any(|o| o.type_code == q.type_code);
            if !allowed {
                return Err(ConsentError::ScopeNotAllowed);
            }
            scope.extend(scope_names(
                &q.type_code,
                &q.disclose,
                &q.claims,
                &q.predicates,
            ));
        }
        if scope.is_empty() || scope.len() > 256 {
            return Err(ConsentError::ScopeNotAllowed);
        }
        let expires_in = req.expires_in.unwrap_or(DEFAULT_EXPIRY_SECS);
        if expires_in == 0 || expires_in > MAX_EXPIRY_SECS {
            return Err(ConsentError::InvalidExpiry);
        }
        let now = self.clock.now_millis();
        let expires = now + expires_in * 1000;
        let mut raw = [0u8; CODE_BYTES];
        getrandom::fill(&mut raw).map_err(|_| ConsentError::Unavailable)?;
        let code = base32(&raw);
        let digest = consent_digest(&code);
        let record = ConsentRecord {
            holder,
            scenario: req.scenario.clone(),
            department: req.department.clone(),
            scope: scope.clone(),
            expires,
            state: ConsentState::Active,
            channel: channel.organisation().to_owned(),
            granted_index: 0,
        };
        let (request_digest, request) = channel.into_parts();
        let entry = Entry::ConsentGranted(ConsentGranted {
            time: now,
            channel: record.channel.clone(),
            holder,
            scenario: req.scenario.clone(),
            policy_version: self.policy_version,
            department: req.department.clone(),
            scope: scope.clone(),
            expires,
            consent: digest,
            request_digest,
            request,
        })
        .encode()
        .map_err(|_| ConsentError::ScopeNotAllowed)?;
        let put = PendingPut {
            put: Put {
                table: Table::Consents,
                key: digest.to_vec(),
                value: record.encode_body(),
                mode: PutMode::Insert,
            },
            key_index_of: None,
            index_of: Some(0),
        };
        let appended = self
            .log
            .append_announced(Some(announced), vec![entry], vec![put])
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "could not record a consent");
                ConsentError::Unavailable
            })?;
        Ok(Granted {
            preview_zh: self.preview(scenario, req.department.as_deref(), &queries, expires),
            code,
            expires,
            index: appended.index,
            scope,
        })
    }

    /// The Chinese preview of a consent (EU OOTS's "preview"): who, for what, what.
    fn preview(
        &self,
        scenario: &Scenario,
        department: Option<&str>,
        queries: &[ScopeQuery],
        expires: Millis,
    ) -> String {
        let who: Vec<&str> = scenario
            .departments()
            .iter()
            .filter(|d| department.is_none_or(|x| d.organisation() == x))
            .map(|d| d.name())
            .collect();
        let mut out = format!(
            "您将授权{}在办理“{}”时，一次性查验您的以下信息：\n",
            who.join("、"),
            scenario.name_zh()
        );
        let catalog = self.certs.catalog();
        for (i, q) in queries.iter().enumerate() {
            let t = catalog.get(&q.type_code);
            let type_name = t.map_or(q.type_code.as_str(), |t| t.name_zh.as_str());
            let field_name = |f: &str| {
                t.and_then(|t| t.fields.iter().find(|x| x.name == f))
                    .map_or(f.to_owned(), |x| x.name_zh.clone())
            };
            let mut parts = Vec::new();
            if !q.disclose.is_empty() {
                let names: Vec<String> = q.disclose.iter().map(|f| field_name(f)).collect();
                parts.push(format!("提供 {}", names.join("、")));
            }
            if !q.claims.is_empty() {
                let names: Vec<String> = q.claims.iter().map(|f| field_name(f)).collect();
                parts.push(format!(
                    "核对 {} 是否与您填写的一致（只告知一致与否）",
                    names.join("、")
                ));
            }
            for p in &q.predicates {
                parts.push(format!("核验 {}（只告知是或否）", predicate_zh(*p)));
            }
            out.push_str(&format!("{}. {}：{}\n", i + 1, type_name, parts.join("；")));
        }
        out.push_str(&format!(
            "用途：{}。授权有效期至{}（北京时间），仅可使用一次；使用前可随时撤回。",
            scenario.name_zh(),
            china_time(expires)
        ));
        out
    }

    /// Revokes an active consent of `holder` for an authenticated channel.
    pub async fn revoke(
        &self,
        channel: Authenticated,
        holder: &(String, String),
        code: &str,
    ) -> Result<u64, ConsentError> {
        let pseudonym = self.holder_pseudonym(holder)?;
        let digest = consent_digest(code);
        let _guard = self.reserve_consent(digest).ok_or(ConsentError::Busy)?;
        let mut rec = self
            .consent_record(&digest)
            .map_err(store_err)?
            .filter(|r| r.holder == pseudonym)
            .ok_or(ConsentError::Unknown)?;
        if rec.state != ConsentState::Active || rec.expires < self.clock.now_millis() {
            return Err(ConsentError::NotActive);
        }
        rec.state = ConsentState::Revoked;
        let revoking = channel.organisation().to_owned();
        let (request_digest, request) = channel.into_parts();
        let entry = Entry::ConsentRevoked(ConsentRevoked {
            time: self.clock.now_millis(),
            channel: revoking,
            consent: digest,
            request_digest,
            request,
        })
        .encode()
        .map_err(|_| ConsentError::Unavailable)?;
        let puts = vec![
            PendingPut::plain(Put {
                table: Table::Consents,
                key: digest.to_vec(),
                value: rec.encode(),
                mode: PutMode::Upsert,
            }),
            spent_marker(&digest),
        ];
        let appended = self
            .log
            .append_with(vec![entry], puts)
            .await
            .map_err(|e| match e {
                // Spent by a use whose in-memory hold was released early.
                crate::log::AppendError::Duplicate => ConsentError::NotActive,
                e => {
                    tracing::error!(error = %e, "could not record a revocation");
                    ConsentError::Unavailable
                }
            })?;
        Ok(appended.index)
    }

    /// The holder's accesses, newest first: at most `limit` rows (≤ [`MAX_PAGE`] + 1, so
    /// a caller can tell whether another page follows) with an index below `before`.
    pub fn history(
        &self,
        holder: &(String, String),
        limit: usize,
        before: Option<u64>,
    ) -> Result<Vec<AccessRow>, ConsentError> {
        let pseudonym = self.holder_pseudonym(holder)?;
        let store = self.certs.store();
        let indices = self
            .accesses
            .accesses(&pseudonym, self.log.latest().size)
            .map_err(|e| {
                tracing::error!(error = %e, "could not read the holder-access index");
                ConsentError::Unavailable
            })?;
        let mut rows = Vec::new();
        for &index in indices
            .iter()
            .rev()
            .filter(|i| before.is_none_or(|b| **i < b))
            .take(limit.clamp(1, MAX_PAGE + 1))
        {
            let raw = store
                .entries(index, index + 1)
                .map_err(store_err)?
                .pop()
                .ok_or_else(|| store_err(StoreError::Corrupt("indexed access missing")))?;
            let Ok(Entry::AccessRecorded(a)) = Entry::decode(&raw) else {
                return Err(store_err(StoreError::Corrupt(
                    "indexed entry is not an access",
                )));
            };
            if a.holder != Some(pseudonym) {
                return Err(store_err(StoreError::Corrupt(
                    "indexed access is about another holder",
                )));
            }
            let scenario = self.rules.get(&a.scenario);
            rows.push(AccessRow {
                index,
                time: a.time,
                department_name: self.department_name(&a.department),
                department: a.department,
                scenario_name: scenario.map(|s| s.name_zh().to_owned()),
                scenario: a.scenario,
                purpose: a.purpose,
                fields: a.fields,
                allowed: a.decision == proofless_core::entry::Decision::Allow,
                reason: a.reason,
                consent_used: a.consent.is_some(),
            });
        }
        Ok(rows)
    }

    /// A department's name from the scenario rules.
    fn department_name(&self, organisation: &str) -> Option<String> {
        self.rules
            .scenarios()
            .values()
            .flat_map(|s| s.departments())
            .find(|d| d.organisation() == organisation)
            .map(|d| d.name().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 §10 test vectors (upper case, padding removed).
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), want);
        }
        assert_eq!(base32(&[0xff; CODE_BYTES]).len(), 32);
    }

    #[test]
    fn codes_are_normalized_before_hashing() {
        assert_eq!(
            consent_digest("abcd-efgh ijkl"),
            consent_digest("ABCDEFGHIJKL")
        );
        assert_ne!(
            consent_digest("ABCDEFGHIJKL"),
            consent_digest("ABCDEFGHIJKM")
        );
    }

    #[test]
    fn china_time_is_utc_plus_8() {
        // 2027-01-01T00:00:00Z is 08:00 in Beijing.
        assert_eq!(china_time(1_798_761_600_000), "2027-01-01 08:00");
    }
}
