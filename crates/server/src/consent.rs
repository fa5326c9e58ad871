//! Channel endpoints (citizen side): grant and revoke one-time consents, and list a
//! holder's accesses. Every request is signed by an accredited channel (RFC 9421, role
//! `channel`); holder codes and consent codes travel only in bodies.

use crate::AppState;
use crate::error::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use proofless_core::keys::Role;
use proofless_core::policy::Predicate;
use proofless_ledger::consent::{ConsentError, GrantRequest, ScopeQuery};
use proofless_ledger::verify::{Authenticated, MIN_REQUEST_SALT, Verifications};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

impl From<ConsentError> for ApiError {
    fn from(e: ConsentError) -> Self {
        match e {
            ConsentError::Unavailable => ApiError::new("unavailable"),
            other => ApiError::new(other.code()).detail(other.to_string()),
        }
    }
}

/// Authenticates a channel's request and parses its JSON body (after authentication).
/// A request that writes no entry (`logged` false: a history read) must also be signed
/// after this process started: its nonce is not in the log to be rebuilt after a restart.
fn channel_request<T: for<'de> Deserialize<'de>>(
    s: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    logged: bool,
) -> Result<(Arc<Verifications>, Authenticated, T), ApiError> {
    let svc = crate::verify::service(s)?;
    if body.len() > crate::verify::MAX_VERIFICATION_BODY {
        return Err(ApiError::new("payload_too_large"));
    }
    let req = crate::verify::signed_http(method, uri, headers, body);
    let auth = if logged {
        svc.authenticate_as(&req, Role::Channel)?
    } else {
        svc.authenticate_unlogged(&req, Role::Channel)?
    };
    let parsed: T = serde_json::from_slice(body).map_err(|_| {
        ApiError::new("invalid_json").detail("the JSON does not have the expected fields and types")
    })?;
    Ok((svc, auth, parsed))
}

fn check_salt(salt: &str) -> Result<(), ApiError> {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(salt) {
        Ok(s) if s.len() >= MIN_REQUEST_SALT => Ok(()),
        _ => {
            Err(ApiError::new("invalid_json")
                .detail("salt must be at least 16 random bytes, base64"))
        }
    }
}

/// A holder, by code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HolderBody {
    /// `111` (公民身份号码) or `001` (统一社会信用代码).
    #[serde(rename = "type")]
    code_type: String,
    /// The holder code; its check character is verified.
    code: String,
}

/// What the holder agrees to for one certificate type.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScopeBody {
    /// 证照类型代码.
    type_code: String,
    /// Fields that may be disclosed.
    #[serde(default)]
    disclose: Vec<String>,
    /// Fields that may be checked (match / mismatch).
    #[serde(default)]
    claims: Vec<String>,
    /// Predicates that may be asked (`currently_valid`, `holds_valid`, `age_at_least`,
    /// `marital_status_is`).
    #[serde(default)]
    predicates: Vec<String>,
}

/// A consent grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    /// The holder.
    holder: HolderBody,
    /// The scenario (must be consent-based).
    scenario: String,
    /// The one department (统一社会信用代码) allowed to use it; default: any the
    /// scenario names.
    #[serde(default)]
    department: Option<String>,
    /// What the holder agrees to; default: everything the scenario allows.
    #[serde(default)]
    certificates: Option<Vec<ScopeBody>>,
    /// Lifetime in seconds: default 1800, at most 86400.
    #[serde(default)]
    expires_in: Option<u64>,
    /// At least 16 random bytes, base64 (the body's digest is logged).
    salt: String,
}

/// A granted consent.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GrantedBody {
    /// The one-time consent code (32 characters, RFC 4648 base32: QR alphanumeric mode).
    /// A bearer secret: give it only to the holder.
    consent_code: String,
    /// Last moment of validity, ms since the Unix epoch.
    expires: u64,
    /// What will be shared, with whom, for what, in Chinese (the holder sees this).
    preview_zh: String,
    /// What the consent covers (`<type>/<disclose|claim|predicate>/<name>`).
    scope: Vec<String>,
    /// Index of the `ConsentGranted` entry.
    index: u64,
}

/// Grant a one-time consent on a holder's behalf.
#[utoipa::path(
    post, path = "/v1/consents", tag = "consents",
    request_body = GrantBody,
    responses(
        (status = 201, description = "Granted: the code, its expiry and the preview; a `ConsentGranted` entry is in the log.", body = GrantedBody),
        (status = 400, description = "`invalid_json`, `invalid_holder_code`, `consent_not_required`, `invalid_expiry`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The channel's request signature was refused.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "`consent_scope_not_allowed`: more than the scenario allows.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`unknown_scenario`.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn grant(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (svc, auth, b): (_, _, GrantBody) =
        channel_request(&s, &method, &uri, &headers, &body, true)?;
    check_salt(&b.salt)?;
    let certificates = b
        .certificates
        .map(|qs| {
            qs.into_iter()
                .map(|q| {
                    Ok(ScopeQuery {
                        type_code: q.type_code,
                        disclose: q.disclose,
                        claims: q.claims,
                        predicates: q
                            .predicates
                            .iter()
                            .map(|p| Predicate::from_name(p).ok_or(()))
                            .collect::<Result<_, _>>()?,
                    })
                })
                .collect::<Result<Vec<_>, ()>>()
        })
        .transpose()
        .map_err(|()| ApiError::new("consent_scope_not_allowed").detail("unknown predicate"))?;
    let g = svc
        .grant(
            auth,
            GrantRequest {
                holder: (b.holder.code_type, b.holder.code),
                scenario: b.scenario,
                department: b.department,
                certificates,
                expires_in: b.expires_in,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantedBody {
            consent_code: g.code,
            expires: g.expires,
            preview_zh: g.preview_zh,
            scope: g.scope,
            index: g.index,
        }),
    )
        .into_response())
}

/// A revocation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevokeBody {
    /// The holder the consent is for.
    holder: HolderBody,
    /// The consent code.
    consent_code: String,
    /// At least 16 random bytes, base64.
    salt: String,
}

/// A revocation recorded.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RevokedBody {
    /// Index of the `ConsentRevoked` entry.
    index: u64,
}

/// Revoke an unused consent on the holder's behalf.
#[utoipa::path(
    post, path = "/v1/consents/revoke", tag = "consents",
    request_body = RevokeBody,
    responses(
        (status = 200, description = "Revoked: a `ConsentRevoked` entry is in the log.", body = RevokedBody),
        (status = 401, description = "The channel's request signature was refused.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`consent_unknown`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`consent_not_active`: used, revoked or expired.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (svc, auth, b): (_, _, RevokeBody) =
        channel_request(&s, &method, &uri, &headers, &body, true)?;
    check_salt(&b.salt)?;
    let index = svc
        .revoke(auth, &(b.holder.code_type, b.holder.code), &b.consent_code)
        .await?;
    Ok(Json(RevokedBody { index }).into_response())
}

/// A page of a holder's access history.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HistoryBody {
    /// The holder.
    holder: HolderBody,
    /// Rows per page (1–100, default 20).
    #[serde(default)]
    limit: Option<usize>,
    /// Only entries with an index below this (the previous page's `next_before`).
    #[serde(default)]
    before: Option<u64>,
    /// At least 16 random bytes, base64.
    salt: String,
}

/// One access to the holder's data.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AccessRowBody {
    /// Index of the `AccessRecorded` entry (its inclusion proof: `GET /v1/entries/{index}`).
    index: u64,
    /// When, ms since the Unix epoch.
    time: u64,
    /// The department's 统一社会信用代码.
    department: String,
    /// The department's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    department_name: Option<String>,
    /// The scenario code.
    scenario: String,
    /// The scenario's Chinese name.
    #[serde(skip_serializing_if = "Option::is_none")]
    scenario_name: Option<String>,
    /// 申请事由.
    purpose: String,
    /// What was asked (names, never values).
    fields: Vec<String>,
    /// `allow` or `deny`.
    decision: &'static str,
    /// `ok`, or the denial code.
    reason: String,
    /// Whether a consent was used.
    consent_used: bool,
}

/// A page of history, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct HistoryPage {
    /// The accesses.
    accesses: Vec<AccessRowBody>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_before: Option<u64>,
}

/// A holder's access history (Estonia's data tracker), for a channel.
#[utoipa::path(
    post, path = "/v1/holder-accesses", tag = "consents",
    request_body = HistoryBody,
    responses(
        (status = 200, description = "Accesses to the holder's data, newest first, statutory ones included.", body = HistoryPage),
        (status = 400, description = "`invalid_json`, `invalid_holder_code`.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, description = "The channel's request signature was refused.", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn history(
    State(s): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (svc, _auth, b): (_, _, HistoryBody) =
        channel_request(&s, &method, &uri, &headers, &body, false)?;
    check_salt(&b.salt)?;
    let limit = b.limit.unwrap_or(20).clamp(1, 100);
    let holder = (b.holder.code_type, b.holder.code);
    let before = b.before;
    let rows = tokio::task::spawn_blocking(move || svc.history(&holder, limit + 1, before))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    let more = rows.len() > limit;
    let accesses: Vec<AccessRowBody> = rows
        .into_iter()
        .take(limit)
        .map(|r| AccessRowBody {
            index: r.index,
            time: r.time,
            department: r.department,
            department_name: r.department_name,
            scenario: r.scenario,
            scenario_name: r.scenario_name,
            purpose: r.purpose,
            fields: r.fields,
            decision: if r.allowed { "allow" } else { "deny" },
            reason: r.reason,
            consent_used: r.consent_used,
        })
        .collect();
    let next_before = more.then(|| accesses.last().map(|r| r.index)).flatten();
    Ok(Json(HistoryPage {
        accesses,
        next_before,
    })
    .into_response())
}
