//! HTTP-layer tests with `Router::oneshot` on a real log and redb store.
#![allow(clippy::unwrap_used)]

mod certs;
mod consent;
mod verify;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{Entry, KeyAction, KeyEvent};
use proofless_ledger::{Log, LogConfig};
use proofless_server::{AppState, router};
use proofless_store::RedbStore;
use std::sync::Arc;
use tower::ServiceExt;

const ORIGIN: &str = "ledger.test.example/proofless/v1";

async fn state_with(n: u64) -> (AppState, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let log = Arc::new(
        Log::open(
            store,
            LedgerSigner::from_seed(ORIGIN, [1; 32]).unwrap(),
            LogConfig::default(),
        )
        .unwrap(),
    );
    for i in 0..n {
        let e = Entry::KeyEvent(KeyEvent {
            time: i,
            action: KeyAction::Registered,
            role: "issuer".into(),
            key_id: [i as u8; 32],
            certificate: None,
            organisation: None,
        });
        log.append(e.encode().unwrap()).await.unwrap();
    }
    (AppState::new(log), dir)
}

async fn call(
    state: &AppState,
    method: Method,
    uri: &str,
) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .body(Body::empty())
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    call(state, Method::GET, uri).await
}

pub(crate) fn problem_code(headers: &axum::http::HeaderMap, body: &[u8]) -> String {
    assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
    v["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn read_api_serves_checkpoint_tiles_entries_and_proofs() {
    let (s, _d) = state_with(300).await;
    let (st, h, body) = get(&s, "/checkpoint").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(h[header::CACHE_CONTROL], "public, max-age=1");
    assert!(
        String::from_utf8(body)
            .unwrap()
            .starts_with(&format!("{ORIGIN}\n300\n"))
    );

    let (st, h, body) = get(&s, "/tile/0/000").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        h[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(body.len(), 256 * 32);
    let (st, _, body) = get(&s, "/tile/0/001.p/44").await;
    assert_eq!((st, body.len()), (StatusCode::OK, 44 * 32));
    let (st, _, body) = get(&s, "/tile/entries/001.p/44").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        proofless_core::tiles::split_bundle(&body).unwrap().len(),
        44
    );

    let (st, _, body) = get(&s, "/v1/entries/299").await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["kind"], "key_event");
    assert_eq!(v["tree_size"], 300);

    let (st, _, body) = get(&s, "/v1/proofs/consistency?old=10&new=300").await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(!v["proof"].as_array().unwrap().is_empty());

    let (st, _, body) = get(&s, "/v1/log").await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["origin"], ORIGIN);
    assert!(
        v["verifier_key"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{ORIGIN}+"))
    );
}

#[tokio::test]
async fn malformed_or_absent_resources_get_typed_400_and_404() {
    let (s, _d) = state_with(3).await;
    let cases: &[(&str, StatusCode, &str)] = &[
        ("/tile/0/0", StatusCode::BAD_REQUEST, "invalid_tile_path"),
        (
            "/tile/0/000.p/0",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        (
            "/tile/0/000.p/256",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        (
            "/tile/0/x000/000",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        ("/tile/99/000", StatusCode::BAD_REQUEST, "invalid_tile_path"),
        (
            "/tile/entries/abc",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        (
            "/tile/%FF%FE/000",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        (
            "/tile/0/x018/x446/x744/x073/x709/x551/615",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/tile/7/x018/x446/x744/x073/x709/x551/615.p/255",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/tile/8/000.p/1",
            StatusCode::BAD_REQUEST,
            "invalid_tile_path",
        ),
        ("/tile/0/000", StatusCode::NOT_FOUND, "not_found"),
        ("/tile/0/000.p/4", StatusCode::NOT_FOUND, "not_found"),
        ("/tile/entries/000.p/4", StatusCode::NOT_FOUND, "not_found"),
        ("/tile/1/000.p/1", StatusCode::NOT_FOUND, "not_found"),
        ("/v1/entries/3", StatusCode::NOT_FOUND, "not_found"),
        (
            "/v1/entries/18446744073709551615",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/v1/entries/18446744073709551616",
            StatusCode::BAD_REQUEST,
            "invalid_index",
        ),
        ("/v1/entries/-1", StatusCode::BAD_REQUEST, "invalid_index"),
        ("/v1/entries/01", StatusCode::BAD_REQUEST, "invalid_index"),
        ("/v1/entries/abc", StatusCode::BAD_REQUEST, "invalid_index"),
        ("/v1/entries/%FF", StatusCode::BAD_REQUEST, "invalid_index"),
        (
            "/v1/proofs/consistency",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/v1/proofs/consistency?old=x",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/v1/proofs/consistency?old=1&old=2",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/v1/proofs/consistency?old=2&new=1",
            StatusCode::BAD_REQUEST,
            "invalid_range",
        ),
        (
            "/v1/proofs/consistency?old=0&new=1",
            StatusCode::BAD_REQUEST,
            "invalid_range",
        ),
        (
            "/v1/proofs/consistency?old=1&new=4",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        ("/v1/nothing", StatusCode::NOT_FOUND, "not_found"),
        ("/", StatusCode::NOT_FOUND, "not_found"),
    ];
    for (uri, status, code) in cases {
        let (st, h, body) = get(&s, uri).await;
        assert_eq!(st, *status, "{uri}");
        assert_eq!(problem_code(&h, &body), *code, "{uri}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{uri}");
    }
    let (st, h, body) = call(&s, Method::POST, "/checkpoint").await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(problem_code(&h, &body), "method_not_allowed");
}

#[tokio::test]
async fn metrics_and_health_report_the_log() {
    let (s, _d) = state_with(2).await;
    let _ = get(&s, "/v1/entries/0").await;
    let (st, _, body) = get(&s, "/metrics").await;
    assert_eq!(st, StatusCode::OK);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("proofless_log_appended_entries_total 2"),
        "{text}"
    );
    assert!(text.contains("proofless_log_tree_size 2"), "{text}");
    assert!(text.contains(r#"route="/v1/entries/{index}""#), "{text}");
    let (st, _, body) = get(&s, "/healthz").await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["tree_size"], 2);
}

/// The committed `docs/openapi.json` is what the code describes. Regenerate with
/// `cargo run -p proofless-cli -- openapi > docs/openapi.json`.
#[tokio::test]
async fn committed_openapi_is_current_and_covers_every_route() {
    let (s, _d) = state_with(0).await;
    let (st, _, served) = get(&s, "/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.json"
    ))
    .expect("docs/openapi.json is committed");
    assert_eq!(
        String::from_utf8(served).unwrap(),
        committed,
        "docs/openapi.json is stale: run `cargo run -p proofless-cli -- openapi > docs/openapi.json`"
    );
    let doc: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(doc["openapi"].as_str().unwrap().get(..3), Some("3.1"));
    // Every documented route exists and answers 200 on a log with entries.
    let (s, _d) = state_with(256).await;
    for (path, probe) in [
        ("/checkpoint", "/checkpoint"),
        ("/tile/{path}", "/tile/0/000"),
        ("/v1/log", "/v1/log"),
        ("/v1/entries/{index}", "/v1/entries/0"),
        ("/v1/proofs/consistency", "/v1/proofs/consistency?old=1"),
        ("/healthz", "/healthz"),
        ("/metrics", "/metrics"),
        ("/openapi.json", "/openapi.json"),
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
        let (st, _, _) = get(&s, probe).await;
        assert_eq!(st, StatusCode::OK, "{probe}");
    }
    // The certificate routes exist: without a configured service they answer
    // `not_configured`, not the fallback's 404.
    for (path, method, probe) in [
        ("/v1/certificates", Method::POST, "/v1/certificates"),
        (
            "/v1/certificates/lookup",
            Method::POST,
            "/v1/certificates/lookup",
        ),
        ("/v1/certificates/{id}", Method::GET, "/v1/certificates/x"),
        (
            "/v1/certificates/{id}/status",
            Method::POST,
            "/v1/certificates/x/status",
        ),
        ("/v1/keys/retire", Method::POST, "/v1/keys/retire"),
        ("/v1/keys", Method::POST, "/v1/keys"),
        (
            "/v1/checkpoint/cosigned",
            Method::GET,
            "/v1/checkpoint/cosigned",
        ),
        ("/v1/verifications", Method::POST, "/v1/verifications"),
        (
            "/v1/receipts/{index}/proof",
            Method::GET,
            "/v1/receipts/0/proof",
        ),
        ("/v1/consents", Method::POST, "/v1/consents"),
        ("/v1/consents/revoke", Method::POST, "/v1/consents/revoke"),
        ("/v1/holder-accesses", Method::POST, "/v1/holder-accesses"),
        ("/v1/policies/{version}", Method::GET, "/v1/policies/1"),
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from OpenAPI"
        );
        let (st, h, body) = call(&s, method, probe).await;
        assert_ne!(st, StatusCode::NOT_FOUND, "{probe} is not routed");
        if st == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(problem_code(&h, &body), "not_configured");
        }
    }
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        21,
        "a documented route is not probed here"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413_problem_json() {
    let (s, _d) = state_with(0).await;
    let req = Request::builder()
        .method(Method::GET)
        .uri("/healthz")
        .header(
            header::CONTENT_LENGTH,
            (proofless_server::MAX_BODY + 1).to_string(),
        )
        .body(Body::from(vec![0u8; proofless_server::MAX_BODY + 1]))
        .unwrap();
    let resp = router(s.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let h = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(problem_code(&h, &body), "payload_too_large");
    let (_, _, metrics) = get(&s, "/metrics").await;
    assert!(
        String::from_utf8(metrics)
            .unwrap()
            .contains("status=\"413\""),
        "413s are counted"
    );
}

/// `docs/errors.md` lists exactly the codes of `proofless_server::error::CODES`.
#[test]
fn docs_errors_md_lists_every_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md"))
        .unwrap();
    let rows: Vec<String> = doc
        .lines()
        .skip_while(|l| *l != "## Codes")
        .take_while(|l| !l.starts_with("## ") || *l == "## Codes")
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.to_owned())
        .collect();
    let want: Vec<String> = proofless_server::error::CODES
        .iter()
        .map(|(code, status, meaning)| format!("| `{code}` | {status} | {meaning} |"))
        .collect();
    assert_eq!(
        rows, want,
        "docs/errors.md is out of date with error::CODES"
    );
}
