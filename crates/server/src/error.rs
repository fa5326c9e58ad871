//! RFC 9457 problem details with a stable machine-readable `code`.
//!
//! Every error the API returns goes through [`ApiError`]. Client mistakes carry their code
//! and a fixed, data-free explanation; internal failures become a bare 500 (or 503 when
//! the log cannot append) whose detail goes to the server log only. No error message
//! ever contains request data: a holder code or a field value sent by a client is never
//! echoed back.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The stable error codes, their HTTP status and meaning. This table is the single
/// source: a test checks that `docs/errors.md` lists exactly these rows.
pub const CODES: &[(&str, u16, &str)] = &[
    ("not_found", 404, "No such resource, or not yet in the log."),
    (
        "invalid_tile_path",
        400,
        "The tile path does not follow the C2SP tlog-tiles spelling.",
    ),
    (
        "invalid_index",
        400,
        "An entry index or tree size is not a non-negative decimal integer.",
    ),
    (
        "invalid_range",
        400,
        "The requested tree sizes cannot be related (e.g. old > new).",
    ),
    (
        "invalid_query",
        400,
        "The query string has unknown, repeated or malformed parameters.",
    ),
    (
        "method_not_allowed",
        405,
        "The resource does not support this HTTP method.",
    ),
    (
        "payload_too_large",
        413,
        "The request body exceeds the limit.",
    ),
    (
        "unavailable",
        503,
        "The ledger cannot serve the request now (storage failure or shutdown); retry later.",
    ),
    (
        "timeout",
        503,
        "The request took longer than the server's limit.",
    ),
    (
        "internal",
        500,
        "An unexpected server error; details are in the server log.",
    ),
    (
        "invalid_json",
        400,
        "The body is not the JSON this endpoint expects (or a base64 field is not base64).",
    ),
    (
        "unsupported_media_type",
        415,
        "The body must be sent as application/json.",
    ),
    (
        "not_configured",
        503,
        "This server has no trust anchor or certificate catalog (or, for `/v1/checkpoint/cosigned`, no witnesses) configured.",
    ),
    (
        "malformed_certificate",
        400,
        "The COSE_Sign1, security object or a disclosed item is malformed or not canonical CBOR.",
    ),
    (
        "bad_signature",
        400,
        "The issuer's signature does not verify.",
    ),
    (
        "issuer_not_trusted",
        403,
        "The signer's certificate chain does not reach the trust anchor for this role.",
    ),
    (
        "issuer_certificate_expired",
        403,
        "A certificate in the signer's chain is expired or not yet valid.",
    ),
    (
        "issuer_key_retired",
        403,
        "The signing key was retired in the log.",
    ),
    (
        "type_not_allowed",
        403,
        "The issuer's certificate does not allow this certificate type.",
    ),
    (
        "issuer_mismatch",
        400,
        "The identifier, the security object and the issuer certificate name different issuers.",
    ),
    (
        "unknown_certificate_type",
        400,
        "The certificate type code is not in the catalog.",
    ),
    (
        "invalid_certificate_id",
        400,
        "The certificate identifier is malformed or its check character is wrong.",
    ),
    (
        "invalid_holder_code",
        400,
        "The holder code is malformed, its check character is wrong, or it is of a kind this type is not held by.",
    ),
    (
        "digest_mismatch",
        400,
        "A disclosed item does not match its signed digest, or items are missing, repeated or extra.",
    ),
    (
        "schema_violation",
        422,
        "A field value violates the certificate type's schema; the detail names the field and rule.",
    ),
    (
        "invalid_validity",
        400,
        "The validity dates are malformed or reversed.",
    ),
    (
        "signed_in_future",
        400,
        "The issuer's signing time is more than five minutes in the future.",
    ),
    (
        "duplicate_certificate_id",
        409,
        "The certificate identifier is already in the log; identifiers are unique forever.",
    ),
    (
        "not_certificate_issuer",
        403,
        "Only the certificate's issuer may change its status.",
    ),
    (
        "stale_status",
        409,
        "The status statement does not follow the certificate's latest status entry.",
    ),
    (
        "invalid_status_transition",
        409,
        "The certificate's current status cannot make this transition.",
    ),
    (
        "invalid_successor",
        409,
        "The successor is not a valid certificate of the same type and holder.",
    ),
    (
        "busy",
        409,
        "Another change to the same certificate is in progress; retry.",
    ),
    (
        "principal_not_trusted",
        403,
        "The certificate chain does not validate to the trust anchor for the role now.",
    ),
    (
        "key_retired",
        403,
        "The key was retired in the log and cannot be registered again.",
    ),
    (
        "signature_missing",
        401,
        "The request is not signed: Signature-Input, Signature and Content-Digest are required (RFC 9421, RFC 9530).",
    ),
    (
        "signature_malformed",
        401,
        "The signature headers are malformed or do not follow the Proofless profile (components, created, nonce, keyid, alg).",
    ),
    (
        "content_digest_mismatch",
        401,
        "Content-Digest does not match the body.",
    ),
    (
        "signature_stale",
        401,
        "The signature's created time is more than 300 s from the server's clock.",
    ),
    (
        "unknown_key",
        401,
        "The keyid names no registered principal of the required role.",
    ),
    (
        "department_key_retired",
        401,
        "The department's key was retired in the log.",
    ),
    (
        "department_certificate_invalid",
        401,
        "The key's certificate does not validate now as a department's (expired, wrong role, no organisation).",
    ),
    (
        "signature_invalid",
        401,
        "The request signature does not verify under the department's key.",
    ),
    (
        "wrong_authority",
        401,
        "The request was signed for another @authority than this ledger's configured one.",
    ),
    (
        "nonce_replayed",
        401,
        "The nonce was already used by this key within the 300 s window: a replay.",
    ),
    (
        "signature_before_restart",
        401,
        "The signature was created before the server last started; sign the request again.",
    ),
    (
        "invalid_request",
        400,
        "Denied and recorded: the body is not a verification request of the documented shape.",
    ),
    (
        "invalid_purpose",
        400,
        "Denied and recorded: the purpose (申请事由) is missing or longer than 200 characters.",
    ),
    (
        "invalid_case_number",
        400,
        "Denied and recorded: the case number is missing or longer than 64 bytes.",
    ),
    (
        "unknown_scenario",
        404,
        "Denied and recorded: no scenario with this code is in force.",
    ),
    (
        "department_not_allowed",
        403,
        "Denied and recorded: the scenario does not allow this department.",
    ),
    (
        "type_not_in_scenario",
        403,
        "Denied and recorded: the scenario does not cover a requested certificate type.",
    ),
    (
        "field_not_allowed",
        403,
        "Denied and recorded: the scenario does not allow a requested field to be disclosed or checked.",
    ),
    (
        "predicate_not_allowed",
        403,
        "Denied and recorded: the scenario does not allow a requested predicate.",
    ),
    (
        "consent_required",
        403,
        "Denied and recorded: the scenario requires the holder's one-time consent.",
    ),
    (
        "consent_invalid",
        403,
        "Denied and recorded: no consent has this code.",
    ),
    (
        "consent_expired",
        403,
        "Denied and recorded: the consent has expired.",
    ),
    (
        "consent_revoked",
        403,
        "Denied and recorded: the consent was revoked.",
    ),
    (
        "consent_used",
        403,
        "Denied and recorded: the consent was already used (or is being used by another request).",
    ),
    (
        "consent_mismatch",
        403,
        "Denied and recorded: the consent is for another holder, scenario or department, or does not cover everything asked.",
    ),
    (
        "consent_not_required",
        400,
        "The scenario is statutory: it takes no consent.",
    ),
    (
        "consent_scope_not_allowed",
        403,
        "The consent asks for a department, type, field or predicate the scenario does not allow.",
    ),
    (
        "invalid_expiry",
        400,
        "expires_in must be 1 to 86400 seconds.",
    ),
    (
        "consent_unknown",
        404,
        "No consent with this code for this holder.",
    ),
    (
        "consent_not_active",
        409,
        "The consent is no longer active: used, revoked, expired, or being used right now.",
    ),
    (
        "too_many_certificates",
        400,
        "Denied and recorded: more certificate types than the scenario allows in one request.",
    ),
];

/// An RFC 9457 problem details object.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:proofless:problem:<code>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short, fixed summary of the problem type.
    pub title: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// Stable machine-readable code (see `docs/errors.md`).
    pub code: &'static str,
    /// What went wrong with this request, without echoing request data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    code: &'static str,
    detail: Option<String>,
}

impl ApiError {
    /// An error with one of the codes in [`CODES`].
    ///
    /// # Panics
    /// In debug builds, when `code` is not in [`CODES`] (a programming error caught by the
    /// test that walks every route).
    pub fn new(code: &'static str) -> Self {
        debug_assert!(
            CODES.iter().any(|(c, ..)| *c == code),
            "unknown error code {code}"
        );
        Self { code, detail: None }
    }

    /// Adds a detail message. It must not contain request data.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// 404 `not_found`.
    pub fn not_found() -> Self {
        Self::new("not_found")
    }

    /// A 500 whose cause is logged here and never sent to the client.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new("internal")
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    fn lookup(&self) -> (StatusCode, &'static str) {
        CODES
            .iter()
            .find(|(c, ..)| *c == self.code)
            .map(|(_, s, t)| {
                (
                    StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    *t,
                )
            })
            .unwrap_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected server error.",
            ))
    }
}

impl ApiError {
    /// The HTTP status and the problem object.
    pub fn problem(self) -> (StatusCode, Problem) {
        let (status, title) = self.lookup();
        let problem = Problem {
            type_uri: format!("urn:proofless:problem:{}", self.code),
            title,
            status: status.as_u16(),
            code: self.code,
            detail: self.detail,
        };
        (status, problem)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem) = self.problem();
        let mut resp = (status, Json(problem)).into_response();
        let headers = resp.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        // Errors describe a moment, not a resource: never cache them.
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        resp
    }
}

impl From<proofless_ledger::ReadError> for ApiError {
    fn from(e: proofless_ledger::ReadError) -> Self {
        match e {
            proofless_ledger::ReadError::NotFound => Self::not_found(),
            proofless_ledger::ReadError::InvalidRange => Self::new("invalid_range"),
            other => {
                tracing::error!(error = %other, "read failed");
                Self::new("unavailable")
            }
        }
    }
}
