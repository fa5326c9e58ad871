//! Certificate endpoints: issuance, status changes, lookups.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;
use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::{Engine, prelude::BASE64_STANDARD};
use proofless_core::ids::HolderCode;
use proofless_core::merkle::Hash;
use proofless_ledger::certs::{
    Admitted, CertificateError, CertificateView, Certificates, IssueRequest,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use utoipa::ToSchema;

fn b64(h: &Hash) -> String {
    BASE64_STANDARD.encode(h.0)
}

fn unb64(s: &str) -> Result<Vec<u8>, ApiError> {
    BASE64_STANDARD
        .decode(s)
        .map_err(|_| ApiError::new("invalid_json").detail("a field is not standard base64"))
}

fn service(s: &AppState) -> Result<Arc<Certificates>, ApiError> {
    s.certificates
        .clone()
        .ok_or_else(|| ApiError::new("not_configured"))
}

impl From<CertificateError> for ApiError {
    fn from(e: CertificateError) -> Self {
        match &e {
            CertificateError::Schema(v) => ApiError::new("schema_violation")
                .detail(format!("field `{}` violates `{}`", v.field, v.rule)),
            CertificateError::Unavailable => ApiError::new("unavailable"),
            // The detail is the error's own fixed text: it never contains request data.
            other => ApiError::new(other.code()).detail(other.to_string()),
        }
    }
}

/// An issuance request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssueBody {
    /// The issuer's COSE_Sign1 over the security object (untagged, canonical CBOR), with
    /// the issuer's certificate chain in the `x5chain` header; base64.
    security_object: String,
    /// Every disclosed item, each the canonical CBOR array `[salt, name, value]`
    /// (including the `holder` item); base64.
    items: Vec<String>,
}

/// An entry admitted to the log, with its proof.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AdmittedBody {
    /// 电子证照标识.
    certificate_id: String,
    /// Index of the entry.
    index: u64,
    /// Tree size of `checkpoint`.
    tree_size: u64,
    /// RFC 9162 inclusion proof, base64 hashes.
    inclusion_proof: Vec<String>,
    /// The signed checkpoint covering the entry.
    checkpoint: String,
}

impl From<Admitted> for AdmittedBody {
    fn from(a: Admitted) -> Self {
        Self {
            certificate_id: a.certificate_id,
            index: a.index,
            tree_size: a.checkpoint.size,
            inclusion_proof: a.proof.iter().map(b64).collect(),
            checkpoint: String::from_utf8_lossy(&a.checkpoint.note).into_owned(),
        }
    }
}

/// Issue a certificate.
#[utoipa::path(
    post, path = "/v1/certificates", tag = "certificates",
    request_body = IssueBody,
    responses(
        (status = 201, description = "Admitted: durable, integrated, with its inclusion proof.", body = AdmittedBody),
        (status = 400, description = "Malformed input, bad signature, digest mismatch, bad identifier or holder code.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Issuer not trusted, expired, retired, or not allowed this type.", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`duplicate_certificate_id`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`schema_violation` (names the field and rule)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn issue(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<IssueBody>,
) -> Result<Response, ApiError> {
    let svc = service(&s)?;
    let req = IssueRequest {
        security_object: unb64(&body.security_object)?,
        items: body
            .items
            .iter()
            .map(|i| unb64(i))
            .collect::<Result<_, _>>()?,
    };
    let admitted = svc.issue(req).await?;
    Ok((StatusCode::CREATED, Json(AdmittedBody::from(admitted))).into_response())
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusBody {
    /// The issuer's COSE_Sign1 over the status statement
    /// `{1: certificate id, 2: status, ?3: successor, 4: previous entry index, 5: signed ms}`,
    /// with `x5chain`; base64.
    statement: String,
}

/// Change a certificate's status (suspend, reinstate, revoke, supersede).
#[utoipa::path(
    post, path = "/v1/certificates/{id}/status", tag = "certificates",
    params(("id" = String, Path, description = "电子证照标识 (must equal the statement's).")),
    request_body = StatusBody,
    responses(
        (status = 200, body = AdmittedBody),
        (status = 403, description = "`not_certificate_issuer`, untrusted or retired key", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`invalid_status_transition`, `stale_status`, `invalid_successor`, `busy`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn change_status(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<AdmittedBody>, ApiError> {
    let svc = service(&s)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::new("invalid_certificate_id"));
    };
    let statement = unb64(&body.statement)?;
    let parsed = proofless_core::cert::SignedStatus::parse(&statement)
        .map_err(|e| ApiError::from(CertificateError::Malformed(e)))?;
    if parsed.statement().certificate_id != id {
        return Err(ApiError::new("invalid_certificate_id")
            .detail("the path and the statement name different certificates"));
    }
    Ok(Json(svc.change_status(&statement).await?.into()))
}

/// What the ledger knows about a certificate.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CertificateBody {
    /// 电子证照标识.
    certificate_id: String,
    /// 证照类型代码.
    type_code: String,
    /// Issuer 统一社会信用代码.
    issuer: String,
    /// `valid`, `suspended`, `revoked`, `superseded` or `expired`.
    status: &'static str,
    /// Last day of validity.
    valid_until: Option<String>,
    /// The successor, if superseded.
    successor: Option<String>,
    /// Index of the `CertificateIssued` entry.
    issued_index: u64,
    /// Index of the latest entry about the certificate: a status statement names it as
    /// `previous`.
    latest_index: u64,
    /// The `CertificateIssued` entry (canonical CBOR), base64.
    entry: String,
    /// Tree size of `checkpoint`.
    tree_size: u64,
    /// Inclusion proof of `entry`, base64 hashes.
    inclusion_proof: Vec<String>,
    /// The signed checkpoint.
    checkpoint: String,
}

impl From<CertificateView> for CertificateBody {
    fn from(v: CertificateView) -> Self {
        Self {
            certificate_id: v.certificate_id,
            type_code: v.type_code,
            issuer: v.issuer,
            status: v.status,
            valid_until: v.valid_until,
            successor: v.successor,
            issued_index: v.issued_index,
            latest_index: v.latest_index,
            entry: BASE64_STANDARD.encode(&v.entry),
            tree_size: v.checkpoint.size,
            inclusion_proof: v.proof.iter().map(b64).collect(),
            checkpoint: String::from_utf8_lossy(&v.checkpoint.note).into_owned(),
        }
    }
}

/// A certificate by identifier, with its status and inclusion proof.
#[utoipa::path(
    get, path = "/v1/certificates/{id}", tag = "certificates",
    params(("id" = String, Path, description = "电子证照标识")),
    responses(
        (status = 200, body = CertificateBody),
        (status = 404, description = "`not_found`", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn get_certificate(
    State(s): State<AppState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<CertificateBody>, ApiError> {
    let svc = service(&s)?;
    let Ok(Path(id)) = id else {
        return Err(ApiError::new("invalid_certificate_id"));
    };
    let v = tokio::task::spawn_blocking(move || svc.view(&id))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(v.into()))
}

/// A lookup by holder: the holder code travels in the body, never in a URL.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LookupBody {
    /// `111` (公民身份号码) or `001` (统一社会信用代码).
    holder_code_type: String,
    /// The holder code (checksum checked).
    holder_code: String,
    /// 证照类型代码.
    type_code: String,
}

/// The holder's current valid certificate of a type.
#[utoipa::path(
    post, path = "/v1/certificates/lookup", tag = "certificates",
    request_body = LookupBody,
    responses(
        (status = 200, body = CertificateBody),
        (status = 400, description = "`invalid_holder_code`", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no valid certificate of that type", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn lookup(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<LookupBody>,
) -> Result<Json<CertificateBody>, ApiError> {
    let svc = service(&s)?;
    let holder = HolderCode::parse(&body.holder_code_type, &body.holder_code)
        .map_err(|_| ApiError::new("invalid_holder_code"))?;
    let v = tokio::task::spawn_blocking(move || svc.current(&holder, &body.type_code))
        .await
        .map_err(|e| ApiError::internal(&e))??;
    Ok(Json(v.into()))
}

/// A key retirement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RetireBody {
    /// COSE_Sign1 by the key being retired over `{1: "retire", 2: key id, 3: signed ms}`,
    /// with its chain in `x5chain`; base64.
    statement: String,
}

/// Retire an issuer key (signed by that key): from then on it can neither issue nor
/// change a status.
#[utoipa::path(
    post, path = "/v1/keys/retire", tag = "certificates",
    request_body = RetireBody,
    responses(
        (status = 200, description = "The `KeyEvent` (retired) entry; `certificate_id` holds the key id in hex.", body = AdmittedBody),
        (status = 403, description = "`issuer_not_trusted`, `issuer_key_retired` (already retired)", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retire_key(
    State(s): State<AppState>,
    ApiJson(body): ApiJson<RetireBody>,
) -> Result<Json<AdmittedBody>, ApiError> {
    let svc = service(&s)?;
    let statement = unb64(&body.statement)?;
    Ok(Json(svc.retire_key(&statement).await?.into()))
}
