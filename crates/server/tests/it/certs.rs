//! The certificate endpoints over HTTP, with a configured service and the example keys.

use crate::problem_code;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use http_body_util::BodyExt;
use proofless_client::issuer::{Draft, Issuer};
use proofless_core::cert::{FieldValue, Status};
use proofless_core::ids::{CertificateId, CitizenId, HolderCode, TypeCode, Uscc};
use proofless_core::pki::{self, Position, TrustAnchor};
use proofless_ledger::catalog::Catalog;
use proofless_ledger::certs::{CertificateError, Certificates};
use proofless_ledger::clock::FixedClock;
use proofless_ledger::vault::PseudonymKey;
use proofless_ledger::{Log, LogConfig};
use proofless_server::{AppState, router};
use proofless_store::RedbStore;
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

pub(crate) const NOW: u64 = 1_798_761_600_000;
pub(crate) const MARRIAGE: &str = "11100000PL00000027901";

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn state() -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let signer =
        proofless_core::checkpoint::LedgerSigner::from_seed("ledger.test/log", [1; 32]).unwrap();
    let log = Arc::new(Log::open(store.clone(), signer, LogConfig::default()).unwrap());
    let svc = Certificates::new(
        log.clone(),
        store,
        Arc::new(catalog()),
        anchor(),
        PseudonymKey::new([9; 32]),
        Arc::new(FixedClock::new(NOW)),
    );
    (AppState::new(log).with_certificates(Arc::new(svc)), dir)
}

/// The committed certificate type catalog.
pub(crate) fn catalog() -> Catalog {
    let files: Vec<(String, String)> = std::fs::read_dir(repo().join("schemas/certificates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    Catalog::load(&files).unwrap()
}

/// The example deployment's trust anchor.
pub(crate) fn anchor() -> TrustAnchor {
    TrustAnchor::from_pem(&std::fs::read(repo().join("keys-example/trust-anchor.crt.pem")).unwrap())
        .unwrap()
}

pub(crate) fn civil_affairs() -> (Issuer, Uscc) {
    let dir = repo().join("keys-example");
    let key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir.join("issuer-qingdao-civil-affairs.key.pem")).unwrap(),
    )
    .unwrap();
    let der = pki::pem_certificate(
        &std::fs::read(dir.join("issuer-qingdao-civil-affairs.crt.pem")).unwrap(),
        Position::Chain(0),
    )
    .unwrap();
    let p = pki::validate(
        std::slice::from_ref(&der),
        &anchor(),
        proofless_core::keys::Role::Issuer,
        (NOW / 1000) as i64,
    )
    .unwrap();
    (Issuer::new(key, vec![der]), p.organisation().unwrap())
}

pub(crate) fn draft(uscc: Uscc, holder: HolderCode, sex: &str) -> Draft {
    let t = |s: &str| FieldValue::Text(s.to_owned());
    Draft {
        id: CertificateId::new(TypeCode::parse(MARRIAGE).unwrap(), uscc, "2024100001", 1).unwrap(),
        holder,
        valid_from: "2024-05-20".into(),
        valid_until: None,
        values: [
            ("holder_name", t("张伟")),
            ("registration_date", t("2024-05-20")),
            ("certificate_number", t("J370202-2024-000123")),
            ("holder_sex", t(sex)),
            ("holder_nationality", t("中国")),
            ("holder_birth_date", t("1990-01-01")),
            ("holder_id_number", t(holder.as_str())),
            ("spouse_name", t("王芳")),
            ("spouse_sex", t("女")),
            ("spouse_nationality", t("中国")),
            ("spouse_birth_date", t("1992-03-04")),
            ("spouse_id_number", t("370202199203040028")),
            ("registration_authority", t("青岛市市南区民政局")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    }
}

async fn send(
    s: &AppState,
    method: Method,
    uri: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, axum::http::HeaderMap, serde_json::Value) {
    let mut b = Request::builder().method(method).uri(uri);
    let body = match body {
        Some(v) => {
            b = b.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(&v).unwrap())
        }
        None => Body::empty(),
    };
    let resp = router(s.clone())
        .oneshot(b.body(body).unwrap())
        .await
        .unwrap();
    let (st, h) = (resp.status(), resp.headers().clone());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        st,
        h,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

/// A checked 公民身份号码 as a holder code.
pub(crate) fn citizen() -> HolderCode {
    let id = CitizenId::from_parts("370202", (1990, 1, 1), 123).unwrap();
    HolderCode::parse("111", id.as_str()).unwrap()
}

#[tokio::test]
async fn issue_read_look_up_and_change_status_over_http() {
    let (s, _d) = state();
    let (issuer, uscc) = civil_affairs();
    let holder = citizen();
    let d = draft(uscc, holder, "男");
    let body =
        serde_json::to_value(issuer.issue_body(&d, NOW, &mut proofless_client::issuer::os_salt))
            .unwrap();
    let (st, _, v) = send(&s, Method::POST, "/v1/certificates", Some(body.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["certificate_id"], d.id.as_str());
    assert!(
        v["checkpoint"]
            .as_str()
            .unwrap()
            .starts_with("ledger.test/log\n")
    );

    // The same body again: the identifier is unique forever.
    let (st, h, v) = send(&s, Method::POST, "/v1/certificates", Some(body)).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(v["code"], "duplicate_certificate_id");
    assert_eq!(h[header::CONTENT_TYPE], "application/problem+json");

    let (st, _, v) = send(
        &s,
        Method::GET,
        &format!("/v1/certificates/{}", d.id.as_str()),
        None,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(v["status"], "valid");
    let latest = v["latest_index"].as_u64().unwrap();

    let lookup = serde_json::json!({"holder_code_type": "111", "holder_code": holder.as_str(), "type_code": MARRIAGE});
    let (st, _, v) = send(&s, Method::POST, "/v1/certificates/lookup", Some(lookup)).await;
    assert_eq!(
        (st, v["certificate_id"].as_str()),
        (StatusCode::OK, Some(d.id.as_str()))
    );
    // A holder code with a bad check character is refused, and not echoed back.
    let bad = serde_json::json!({"holder_code_type": "111", "holder_code": "370202199001011230", "type_code": MARRIAGE});
    let (st, _, v) = send(&s, Method::POST, "/v1/certificates/lookup", Some(bad)).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_holder_code"))
    );
    assert!(!v.to_string().contains("370202199001011230"));

    let status =
        serde_json::to_value(issuer.status_body(&d.id, Status::Suspended, None, latest, NOW))
            .unwrap();
    let (st, _, v) = send(
        &s,
        Method::POST,
        &format!("/v1/certificates/{}/status", d.id.as_str()),
        Some(status.clone()),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, _, v) = send(
        &s,
        Method::POST,
        &format!("/v1/certificates/{}/status", d.id.as_str()),
        Some(status),
    )
    .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("stale_status"))
    );
    let (_, _, v) = send(
        &s,
        Method::GET,
        &format!("/v1/certificates/{}", d.id.as_str()),
        None,
    )
    .await;
    assert_eq!(v["status"], "suspended");
}

#[tokio::test]
async fn bad_requests_are_typed_problems_that_name_the_field_not_the_value() {
    let (s, _d) = state();
    let (issuer, uscc) = civil_affairs();
    let holder = citizen();
    let body = serde_json::to_value(issuer.issue_body(
        &draft(uscc, holder, "未知性别"),
        NOW,
        &mut proofless_client::issuer::os_salt,
    ))
    .unwrap();
    let (st, _, v) = send(&s, Method::POST, "/v1/certificates", Some(body)).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("schema_violation"))
    );
    assert!(v["detail"].as_str().unwrap().contains("holder_sex"));
    assert!(
        !v.to_string().contains("未知性别"),
        "the value is not echoed"
    );

    for (body, code) in [
        (
            serde_json::json!({"security_object": "!!", "items": []}),
            "invalid_json",
        ),
        (
            serde_json::json!({"security_object": "AA==", "items": [], "extra": 1}),
            "invalid_json",
        ),
        (serde_json::json!({"items": []}), "invalid_json"),
        (
            serde_json::json!({"security_object": "AA==", "items": []}),
            "malformed_certificate",
        ),
    ] {
        let (st, _, v) = send(&s, Method::POST, "/v1/certificates", Some(body)).await;
        assert_eq!(v["code"], code, "{v}");
        assert!(st.is_client_error());
    }
    // Not JSON at all, and no content type.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/certificates")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{nope"))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    let h = resp.headers().clone();
    assert_eq!(
        problem_code(&h, &resp.into_body().collect().await.unwrap().to_bytes()),
        "invalid_json"
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v1/certificates")
        .body(Body::from("{}"))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // An oversized body: refused before it is read, nothing stored.
    let big = Request::builder()
        .method(Method::POST)
        .uri("/v1/certificates")
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::CONTENT_LENGTH,
            (proofless_server::MAX_BODY + 1).to_string(),
        )
        .body(Body::from(vec![b' '; proofless_server::MAX_BODY + 1]))
        .unwrap();
    let resp = router(s.clone()).oneshot(big).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let h = resp.headers().clone();
    assert_eq!(
        problem_code(&h, &resp.into_body().collect().await.unwrap().to_bytes()),
        "payload_too_large"
    );
    // Unknown certificate.
    let (st, _, v) = send(&s, Method::GET, "/v1/certificates/nope", None).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(s_log_size(&s).await, 0, "nothing was appended");
}

async fn s_log_size(s: &AppState) -> u64 {
    let (_, _, v) = send(s, Method::GET, "/v1/log", None).await;
    v["size"].as_u64().unwrap()
}

/// Every code the certificate service can give is a documented problem code (a missing
/// one would turn a client error into a server bug).
#[test]
fn every_certificate_error_code_is_a_problem_code() {
    use proofless_core::cert::CertError;
    use proofless_core::pki::{PkiError, Position};
    let all = [
        CertificateError::Malformed(CertError::Cose("x")),
        CertificateError::Untrusted(PkiError::EmptyChain),
        CertificateError::Untrusted(PkiError::Expired {
            position: Position::Chain(0),
        }),
        CertificateError::KeyRetired,
        CertificateError::UnknownType,
        CertificateError::TypeNotAllowed,
        CertificateError::BadSignature,
        CertificateError::IssuerMismatch,
        CertificateError::BadIdentifier(
            proofless_core::ids::CertificateId::parse("x").unwrap_err(),
        ),
        CertificateError::BadHolderCode("x"),
        CertificateError::DigestMismatch("x"),
        CertificateError::Schema(proofless_ledger::catalog::SchemaViolation {
            field: "f".into(),
            rule: "r".into(),
        }),
        CertificateError::BadValidity,
        CertificateError::SignedInFuture,
        CertificateError::Duplicate,
        CertificateError::NotFound,
        CertificateError::NotIssuer,
        CertificateError::Stale,
        CertificateError::Transition { from: "a", to: "b" },
        CertificateError::BadSuccessor,
        CertificateError::Busy,
        CertificateError::Unavailable,
    ];
    for e in all {
        assert!(
            proofless_server::error::CODES
                .iter()
                .any(|(c, ..)| *c == e.code()),
            "{} is not in error::CODES",
            e.code()
        );
    }
}
