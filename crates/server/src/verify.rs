//! Department endpoints: `POST /v1/keys` (register a principal's certificate),
//! `POST /v1/verifications`, and `GET /v1/receipts/{index}/proof` (redeem a promise).
//!
//! A verification answer is `{"answer": A, "receipt": R}` where the receipt's
//! `answer_digest` is SHA-256 of the exact bytes of `A` as sent. A denial is an RFC 9457
//! problem whose extension members carry the same `answer` and `receipt`: denials are
//! recorded and receipted like any decision.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::cert::FieldValue;
use proofless_core::keys::Role;
use proofless_ledger::certs::CertificateError;
use proofless_ledger::verify::{
    AuthError, Decided, Denial, MARITAL_STATUSES, MIN_REQUEST_SALT, PredicateQuery, Query, Request,
    SignedHttp, Subject, Unavailable, Verifications,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::ToSchema;

/// Largest verification request body.
pub(crate) const MAX_VERIFICATION_BODY: usize = 64 * 1024;

pub(crate) fn service(s: &AppState) -> Result<Arc<Verifications>, ApiError> {
    s.verifications
        .clone()
        .ok_or_else(|| ApiError::new("not_configured"))
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Unavailable | AuthError::Busy => ApiError::new("unavailable"),
            // A malformed signature's own message may name a component the caller sent:
            // the detail is a fixed text instead.
            AuthError::Malformed(_) => ApiError::new("signature_malformed").detail(
                "the signature headers are malformed or do not follow the Proofless profile",
            ),
            other => ApiError::new(other.code()).detail(other.to_string()),
        }
    }
}

impl From<Unavailable> for ApiError {
    fn from(_: Unavailable) -> Self {
        ApiError::new("unavailable")
    }
}

/// A principal's certificate to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegisterBody {
    /// The role: `department` or `channel` (issuers are registered when they first issue).
    role: String,
    /// The certificate chain, leaf first, DER base64; it must reach the trust anchor.
    chain: Vec<String>,
}

/// A registered principal.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RegisteredBody {
    /// Lowercase hex SHA-256 of the key's SubjectPublicKeyInfo: the RFC 9421 `keyid`.
    key_id: String,
    /// The role.
    role: &'static str,
    /// The organisation's 统一社会信用代码.
    organisation: Option<String>,
}

/// Register a department or channel certificate (idempotent).
#[utoipa::path(
    post, path = "/v1/keys", tag = "verifications",
    request_body = RegisterBody,
    responses(
        (status = 200, description = "Registered (a `KeyEvent` is in the log).", body = RegisteredBody),
        (status = 400, description = "Malformed body or unknown role.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The chain does not reach the trust anchor for the role, is expired, or the key is retired.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn register(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<RegisterBody>,
) -> Result<Response, ApiError> {
    let certs = s
        .certificates
        .clone()
        .ok_or_else(|| ApiError::new("not_configured"))?;
    let role = match body.role.as_str() {
        "department" => Role::Department,
        "channel" => Role::Channel,
        _ => {
            return Err(ApiError::new("invalid_json").detail("role must be department or channel"));
        }
    };
    let chain = body
        .chain
        .iter()
        .map(|c| {
            BASE64_STANDARD
                .decode(c)
                .map_err(|_| ApiError::new("invalid_json").detail("a chain entry is not base64"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let p = certs.register(&chain, role).await.map_err(|e| match e {
        CertificateError::Untrusted(_) => ApiError::new("principal_not_trusted")
            .detail("the chain does not validate to the trust anchor for this role now"),
        CertificateError::KeyRetired => ApiError::new("key_retired"),
        other => ApiError::from(other),
    })?;
    Ok(axum::Json(RegisteredBody {
        key_id: hex::encode(p.key_id()),
        role: p.role().name(),
        organisation: p.organisation().map(|u| u.as_str().to_owned()),
    })
    .into_response())
}

/// Who the request is about: exactly one of `holder` and `certificate_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HolderRef {
    /// Holder code type: `111` (公民身份号码) or `001` (统一社会信用代码).
    #[serde(rename = "type")]
    code_type: String,
    /// The holder code; its check character is verified.
    code: String,
}

/// A predicate asked about one certificate type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PredicateBody {
    /// `currently_valid`, `holds_valid`, `age_at_least` or `marital_status_is`.
    name: String,
    /// For `age_at_least`: the age in full years.
    #[serde(default)]
    years: Option<u32>,
    /// For `marital_status_is`: 未婚, 已婚, 离婚 or 丧偶.
    #[serde(default)]
    status: Option<String>,
}

/// What is asked about one certificate type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryBody {
    /// 证照类型代码.
    type_code: String,
    /// Fields to disclose (value and salt, verifiable against the issuer's signature).
    #[serde(default)]
    disclose: Vec<String>,
    /// What the applicant wrote on the form, by field: answered match / mismatch.
    #[serde(default)]
    #[schema(value_type = Object)]
    claims: BTreeMap<String, serde_json::Value>,
    /// Predicates.
    #[serde(default)]
    predicates: Vec<PredicateBody>,
}

/// A verification request (signed with RFC 9421; see `docs/format.md`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerificationBody {
    /// Scenario code, e.g. `QD-HJZX-001`.
    scenario: String,
    /// 申请事由: 1–200 characters.
    purpose: String,
    /// The department's case number.
    case_number: String,
    /// The department's own pseudonymous identifier of the acting official.
    #[serde(default)]
    operator: String,
    /// At least 16 random bytes, base64: keeps the body's digest, which is logged, from
    /// being confirmed by guessing the holder code.
    salt: String,
    /// The holder (exclusive with `certificate_id`).
    #[serde(default)]
    holder: Option<HolderRef>,
    /// A certificate identifier (exclusive with `holder`).
    #[serde(default)]
    certificate_id: Option<String>,
    /// The holder's one-time consent code, where the scenario needs one.
    #[serde(default)]
    consent: Option<String>,
    /// One query per certificate type.
    certificates: Vec<QueryBody>,
    /// Return at once with a receipt but no tlog-proof (a promise), to be redeemed at
    /// `GET /v1/receipts/{index}/proof`.
    #[serde(default)]
    promise: bool,
}

fn field_value(v: &serde_json::Value) -> Option<FieldValue> {
    match v {
        serde_json::Value::String(s) => Some(FieldValue::Text(s.clone())),
        serde_json::Value::Bool(b) => Some(FieldValue::Bool(*b)),
        serde_json::Value::Number(n) => n.as_i64().map(FieldValue::Int),
        _ => None,
    }
}

fn to_request(b: VerificationBody) -> Result<Request, &'static str> {
    match BASE64_STANDARD.decode(&b.salt) {
        Ok(s) if s.len() >= MIN_REQUEST_SALT => {}
        _ => return Err("salt must be at least 16 random bytes, base64"),
    }
    let subject = match (b.holder, b.certificate_id) {
        (Some(h), None) => Subject::Holder(h.code_type, h.code),
        (None, Some(id)) => Subject::Certificate(id),
        _ => return Err("exactly one of holder and certificate_id is required"),
    };
    let mut queries = Vec::with_capacity(b.certificates.len());
    for q in b.certificates {
        let claims = q
            .claims
            .iter()
            .map(|(k, v)| {
                field_value(v)
                    .map(|f| (k.clone(), f))
                    .ok_or("a claimed value is not a string, integer or boolean")
            })
            .collect::<Result<_, _>>()?;
        let predicates = q
            .predicates
            .into_iter()
            .map(|p| match (p.name.as_str(), p.years, p.status) {
                ("currently_valid", None, None) => Ok(PredicateQuery::CurrentlyValid),
                ("holds_valid", None, None) => Ok(PredicateQuery::HoldsValid),
                ("age_at_least", Some(y), None) if y <= 150 => Ok(PredicateQuery::AgeAtLeast(y)),
                ("marital_status_is", None, Some(s)) if MARITAL_STATUSES.contains(&s.as_str()) => {
                    Ok(PredicateQuery::MaritalStatusIs(s))
                }
                _ => Err("a predicate is unknown or has wrong parameters"),
            })
            .collect::<Result<_, _>>()?;
        queries.push(Query {
            type_code: q.type_code,
            disclose: q.disclose,
            claims,
            predicates,
        });
    }
    Ok(Request {
        scenario: b.scenario,
        purpose: b.purpose,
        case_number: b.case_number,
        operator: b.operator,
        subject,
        consent: b.consent,
        queries,
    })
}

/// Items disclosed from one certificate.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DisclosedBody {
    /// The issuer's COSE_Sign1 over the security object (log form), base64.
    security_object: String,
    /// The issuer's DER certificate, base64; it chains to the trust anchor.
    issuer_certificate: String,
    /// Canonical CBOR `[salt, name, value]` items, base64; each digests to an entry of
    /// the signed `valueDigests`.
    items: Vec<String>,
}

/// One predicate's answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PredicateAnswer {
    /// The predicate.
    name: &'static str,
    /// Its `years` parameter, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    years: Option<u32>,
    /// Its `status` parameter, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    /// True or false.
    result: bool,
}

/// The answer about one certificate type.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResultBody {
    /// 证照类型代码.
    type_code: String,
    /// `valid`, `suspended`, `revoked`, `superseded`, `expired`, `erased` or `not_found`.
    status: &'static str,
    /// The certificate answered about.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate_id: Option<String>,
    /// Its issuer's 统一社会信用代码.
    #[serde(skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    /// Disclosed items (valid certificates only).
    #[serde(skip_serializing_if = "Option::is_none")]
    disclosed: Option<DisclosedBody>,
    /// `match` or `mismatch` per claimed field (valid certificates only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    claims: BTreeMap<String, &'static str>,
    /// Predicates answered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    predicates: Vec<PredicateAnswer>,
}

/// The decision, as covered by the receipt's `answer_digest`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AnswerBody {
    /// `allow` or `deny`.
    decision: &'static str,
    /// `ok`, or the denial code.
    reason: &'static str,
    /// The scenario asked.
    scenario: String,
    /// The rule set version in force.
    policy_version: u64,
    /// Index of the `AccessRecorded` entry.
    access_index: u64,
    /// The `AccessRecorded` entry (canonical CBOR, base64): no personal data.
    access_entry: String,
    /// Decision time, ms since the Unix epoch.
    time: u64,
    /// One result per certificate type asked (allow only).
    results: Vec<ResultBody>,
}

/// The ledger's receipt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReceiptBody {
    /// The ledger's COSE_Sign1 over {origin, request digest, answer digest, index, time,
    /// decision}, base64.
    cose: String,
    /// C2SP tlog-proof of the `AccessRecorded` entry; absent for a promise.
    #[serde(skip_serializing_if = "Option::is_none")]
    tlog_proof: Option<String>,
}

/// A verification answer with its receipt.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VerificationResponse {
    /// The answer.
    answer: AnswerBody,
    /// Its receipt.
    receipt: ReceiptBody,
}

fn answer_of(d: &Decided) -> AnswerBody {
    AnswerBody {
        decision: if d.denial.is_none() { "allow" } else { "deny" },
        reason: d.denial.as_ref().map_or("ok", Denial::code),
        scenario: d.scenario.clone(),
        policy_version: d.policy_version,
        access_index: d.index,
        access_entry: BASE64_STANDARD.encode(&d.entry),
        time: d.time,
        results: d
            .results
            .iter()
            .map(|r| ResultBody {
                type_code: r.type_code.clone(),
                status: r.status,
                certificate_id: r.certificate_id.clone(),
                issuer: r.issuer.clone(),
                disclosed: r.disclosed.as_ref().map(|x| DisclosedBody {
                    security_object: BASE64_STANDARD.encode(&x.security_object),
                    issuer_certificate: BASE64_STANDARD.encode(&x.issuer_certificate),
                    items: x.items.iter().map(|i| BASE64_STANDARD.encode(i)).collect(),
                }),
                claims: r
                    .claims
                    .iter()
                    .map(|(k, m)| (k.clone(), if *m { "match" } else { "mismatch" }))
                    .collect(),
                predicates: r
                    .predicates
                    .iter()
                    .map(|(p, v)| PredicateAnswer {
                        name: p.predicate().name(),
                        years: match p {
                            PredicateQuery::AgeAtLeast(y) => Some(*y),
                            _ => None,
                        },
                        status: match p {
                            PredicateQuery::MaritalStatusIs(s) => Some(s.clone()),
                            _ => None,
                        },
                        result: *v,
                    })
                    .collect(),
            })
            .collect(),
    }
}

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The signed parts of a request, as `Verifications::authenticate` takes them. The
/// authority is the `Host` header (HTTP/1.1), else the request target's authority.
pub(crate) fn signed_http<'a>(
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    body: &'a [u8],
) -> SignedHttp<'a> {
    SignedHttp {
        method: method.as_str(),
        authority: header(headers, header::HOST)
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .unwrap_or(""),
        path: uri.path(),
        content_digest: header(headers, header::HeaderName::from_static("content-digest")),
        signature_input: header(headers, header::HeaderName::from_static("signature-input")),
        signature: header(headers, header::HeaderName::from_static("signature")),
        body,
    }
}

/// Verify facts under a no-proof scenario.
#[utoipa::path(
    post, path = "/v1/verifications", tag = "verifications",
    request_body = VerificationBody,
    params(
        ("Signature-Input" = String, Header, description = "RFC 9421: covers @method, @path, @authority, content-digest; created, nonce, keyid (hex SHA-256 of the department key's SPKI), alg=\"ed25519\"."),
        ("Signature" = String, Header, description = "RFC 9421 Ed25519 signature."),
        ("Content-Digest" = String, Header, description = "RFC 9530 sha-256 of the body."),
    ),
    responses(
        (status = 200, description = "Allowed: the answer, recorded in the log, with the ledger's receipt.", body = VerificationResponse),
        (status = 400, description = "Denied (recorded, with receipt): `invalid_request`, `invalid_purpose`, `invalid_case_number`, `too_many_certificates`, `invalid_holder_code`, `invalid_certificate_id`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not authenticated (not recorded): `signature_missing`, `signature_malformed`, `content_digest_mismatch`, `signature_stale`, `unknown_key`, `department_key_retired`, `department_certificate_invalid`, `signature_invalid`, `nonce_replayed`, `signature_before_restart`, `wrong_authority`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Denied (recorded, with receipt): `department_not_allowed`, `type_not_in_scenario`, `field_not_allowed`, `predicate_not_allowed`, `consent_required`, `consent_invalid`, `consent_expired`, `consent_revoked`, `consent_used`, `consent_mismatch`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Denied (recorded, with receipt): `unknown_scenario`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 503, description = "The decision could not be recorded; nothing was disclosed.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn verify(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let svc = service(&s)?;
    if body.len() > MAX_VERIFICATION_BODY {
        return Err(ApiError::new("payload_too_large"));
    }
    // Announced before the signature check: the sequencer may wait briefly for this
    // request's entry (bounded by the log's `announced_linger`; a request that fails
    // authentication withdraws it).
    let announced = svc.announce();
    let auth = svc.authenticate(&signed_http(&method, &uri, &headers, &body))?;
    let request_digest = auth.request_digest();
    let parsed: Result<VerificationBody, _> = serde_json::from_slice(&body);
    let promise = parsed.as_ref().is_ok_and(|b| b.promise);
    let request = match parsed {
        Ok(b) => to_request(b),
        Err(_) => Err("the body is not JSON of the documented shape"),
    };
    let decided = svc.decide_announced(announced, auth, request).await?;
    let answer = serde_json::to_vec(&answer_of(&decided)).map_err(|e| ApiError::internal(&e))?;
    let receipt = svc.receipt(&decided, request_digest, &answer, !promise)?;
    let receipt = serde_json::to_vec(&ReceiptBody {
        cose: BASE64_STANDARD.encode(&receipt.cose),
        tlog_proof: receipt.tlog_proof,
    })
    .map_err(|e| ApiError::internal(&e))?;
    let (status, prefix, content_type) = match &decided.denial {
        None => (StatusCode::OK, b"{".to_vec(), "application/json"),
        Some(d) => {
            let e = ApiError::new(d.code()).detail(d.to_string());
            let (status, problem) = e.problem();
            let mut p = serde_json::to_vec(&problem).map_err(|e| ApiError::internal(&e))?;
            // Reopen the problem object to add the extension members.
            p.pop();
            p.push(b',');
            (status, p, "application/problem+json")
        }
    };
    let mut out = prefix;
    out.extend_from_slice(b"\"answer\":");
    out.extend_from_slice(&answer);
    out.extend_from_slice(b",\"receipt\":");
    out.extend_from_slice(&receipt);
    out.push(b'}');
    let mut resp = (status, out).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// A tlog-proof redeeming a promise.
#[utoipa::path(
    get, path = "/v1/receipts/{index}/proof", tag = "verifications",
    params(("index" = u64, Path, description = "The `access_index` of the answer.")),
    responses(
        (status = 200, description = "C2SP tlog-proof of the entry against the latest checkpoint.", body = String, content_type = "text/plain"),
        (status = 404, description = "No such entry.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn receipt_proof(
    State(s): State<AppState>,
    index: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let svc = service(&s)?;
    let index = index
        .ok()
        .and_then(|Path(i)| crate::routes::parse_u64(&i))
        .ok_or_else(|| ApiError::new("invalid_index"))?;
    // Store reads run on the blocking pool, never on the async workers.
    let proof = tokio::task::spawn_blocking(move || svc.latest_proof(index))
        .await
        .map_err(|e| ApiError::internal(&e))??
        .ok_or_else(ApiError::not_found)?;
    let mut resp = proof.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(resp)
}

/// One published version of the scenario rule set, for auditors.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublishedRules {
    /// The rule set version (as in its `PolicyPublished` entry).
    version: u64,
    /// Each scenario file: its name and exact text. Their rule-set digest
    /// (`format.md` §1.7) equals the entry's.
    files: Vec<PublishedFile>,
}

/// One scenario file of a published version.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PublishedFile {
    file_name: String,
    text: String,
}

/// The scenario files of a published rule set version: what an auditor needs to
/// re-check the decisions made under it.
#[utoipa::path(
    get, path = "/v1/policies/{version}", tag = "verifications",
    params(("version" = u64, Path, description = "The rule set version.")),
    responses(
        (status = 200, description = "The version's scenario files.", body = PublishedRules),
        (status = 404, description = "No such version kept.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn published_rules(
    State(s): State<AppState>,
    version: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let svc = service(&s)?;
    let version = version
        .ok()
        .and_then(|Path(i)| crate::routes::parse_u64(&i))
        .ok_or_else(|| ApiError::new("invalid_index"))?;
    let files = tokio::task::spawn_blocking(move || svc.published_rules(version))
        .await
        .map_err(|e| ApiError::internal(&e))??
        .ok_or_else(ApiError::not_found)?;
    let body = PublishedRules {
        version,
        files: files
            .into_iter()
            .map(|f| PublishedFile {
                file_name: f.file_name,
                text: f.text,
            })
            .collect(),
    };
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(resp)
}
