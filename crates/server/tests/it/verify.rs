//! `POST /v1/verifications` over HTTP: department signatures, the three modes, status,
//! every denial recorded, failures closed, receipts verified offline.

use crate::certs::{MARRIAGE, NOW, anchor, catalog, citizen, civil_affairs, draft, repo};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use http_body_util::BodyExt;
use proofless_client::department::DepartmentSigner;
use proofless_client::receipt::{ReceiptCheckError, verify_receipt};
use proofless_core::cert::Status;
use proofless_core::checkpoint::{LedgerSigner, LedgerVerifier};
use proofless_core::entry::{AccessRecorded, Decision, Entry};
use proofless_core::ids::HolderCode;
use proofless_core::pki::{self, Position};
use proofless_core::policy::{RuleSet, Scenario};
use proofless_ledger::certs::{Certificates, IssueRequest};
use proofless_ledger::clock::FixedClock;
use proofless_ledger::vault::PseudonymKey;
use proofless_ledger::verify::Verifications;
use proofless_ledger::{Log, LogConfig};
use proofless_server::{AppState, router};
use proofless_store::{Faulty, RedbStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tower::ServiceExt;

const ORIGIN: &str = "ledger.test/log";
const AUTHORITY: &str = "ledger.test";
pub(crate) const HR: &str = "department-qingdao-human-resources";
pub(crate) const MEDICAL: &str = "department-qingdao-medical-insurance";
pub(crate) const HOUSING: &str = "department-qingdao-housing";
pub(crate) const CHANNEL: &str = "channel-ishandong";

/// A statutory test scenario over the marriage certificate, for the human-resources
/// department: something of each mode is allowed.
const TEST_SCENARIO: &str = r#"
code = "QD-TEST-001"
version = 1
name_zh = "测试场景"
name_en = "Test scenario"
legal_basis = ["测试依据"]
source = ["reference:S01"]
access = "statutory"
max_certificates = 2

[[departments]]
role = "department"
organisation = "11370200MB0000106L"
name = "青岛市人力资源和社会保障局"

[[certificates]]
type_code = "11100000PL00000027901"
disclose = ["registration_date", "spouse_name"]
claims = ["holder_name", "certificate_number"]
predicates = ["currently_valid", "marital_status_is", "age_at_least"]

[[certificates]]
type_code = "11100000PL0000003A902"
predicates = ["holds_valid"]
"#;

/// Signature headers as `(name, value)`.
type Headers = Vec<(&'static str, String)>;

/// A consent-based test scenario over the marriage certificate, for the human-resources
/// and housing departments.
const TEST_CONSENT_SCENARIO: &str = r#"
code = "QD-TESTC-001"
version = 1
name_zh = "测试授权场景"
name_en = "Test consent scenario"
legal_basis = ["测试依据"]
source = ["reference:S01"]
access = "consent"
max_certificates = 2

[[departments]]
role = "department"
organisation = "11370200MB0000106L"
name = "青岛市人力资源和社会保障局"

[[departments]]
role = "department"
organisation = "11370200MB00001103"
name = "青岛市住房和城乡建设局"

[[certificates]]
type_code = "11100000PL00000027901"
disclose = ["registration_date"]
claims = ["holder_name"]
predicates = ["currently_valid", "marital_status_is"]
"#;

pub(crate) struct Fixture {
    pub(crate) state: AppState,
    pub(crate) store: Arc<Faulty<RedbStore>>,
    pub(crate) log: Arc<Log>,
    pub(crate) certs: Arc<Certificates>,
    pub(crate) clock: Arc<FixedClock>,
    nonce: AtomicU64,
    _dir: tempfile::TempDir,
}

pub(crate) fn department(name: &str) -> (SigningKey, Vec<u8>) {
    let dir = repo().join("keys-example");
    let key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir.join(format!("{name}.key.pem"))).unwrap(),
    )
    .unwrap();
    let der = pki::pem_certificate(
        &std::fs::read(dir.join(format!("{name}.crt.pem"))).unwrap(),
        Position::Chain(0),
    )
    .unwrap();
    (key, der)
}

fn rules() -> RuleSet {
    let cat = catalog();
    let fields = |code: &str| {
        cat.get(code)
            .map(|t| t.fields.iter().map(|f| f.name.clone()).collect())
    };
    let mut scenarios = vec![
        Scenario::parse("test.toml", TEST_SCENARIO).unwrap(),
        Scenario::parse("test-consent.toml", TEST_CONSENT_SCENARIO).unwrap(),
    ];
    for e in std::fs::read_dir(repo().join("schemas/scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            scenarios.push(Scenario::parse(&p.display().to_string(), &text).unwrap());
        }
    }
    RuleSet::new(scenarios, &fields).unwrap()
}

pub(crate) fn ledger() -> LedgerVerifier {
    LedgerSigner::from_seed(ORIGIN, [1; 32]).unwrap().verifier()
}

pub(crate) async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Faulty::new(RedbStore::open(dir.path()).unwrap()));
    let signer = LedgerSigner::from_seed(ORIGIN, [1; 32]).unwrap();
    let log = Arc::new(Log::open(store.clone(), signer.clone(), LogConfig::default()).unwrap());
    let clock = Arc::new(FixedClock::new(NOW));
    let certs = Arc::new(Certificates::new(
        log.clone(),
        store.clone(),
        Arc::new(catalog()),
        anchor(),
        PseudonymKey::new([9; 32]),
        clock.clone(),
    ));
    let rules = rules();
    let (version, _) = proofless_ledger::rules::publish(&log, store.as_ref(), &rules, &*clock)
        .await
        .unwrap();
    let v = Verifications::new(
        log.clone(),
        certs.clone(),
        Arc::new(rules),
        version,
        signer,
        clock.clone(),
    );
    let state = AppState::new(log.clone())
        .with_certificates(certs.clone())
        .with_verifications(Arc::new(v));
    let f = Fixture {
        state,
        store,
        log,
        certs,
        clock,
        nonce: AtomicU64::new(0),
        _dir: dir,
    };
    for (d, role) in [
        (HR, "department"),
        (MEDICAL, "department"),
        (HOUSING, "department"),
        (CHANNEL, "channel"),
    ] {
        let (_, der) = department(d);
        let body = serde_json::json!({
            "role": role,
            "chain": [base64_encode(&der)],
        });
        let (st, _, b) = f
            .raw(Method::POST, "/v1/keys", None, body.to_string())
            .await;
        assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
    }
    f
}

fn base64_encode(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Fixture {
    pub(crate) async fn raw(
        &self,
        method: Method,
        uri: &str,
        headers: Option<Headers>,
        body: String,
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, AUTHORITY)
            .header(header::CONTENT_TYPE, "application/json");
        for (k, v) in headers.unwrap_or_default() {
            b = b.header(k, v);
        }
        let resp = router(self.state.clone())
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let (st, h) = (resp.status(), resp.headers().clone());
        let bytes = resp
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (st, h, bytes)
    }

    pub(crate) fn signed(&self, dept: &str, body: &str) -> Headers {
        self.signed_for(dept, "/v1/verifications", body)
    }

    /// Headers of `body` to `path`, signed by the example principal `name`.
    pub(crate) fn signed_for(&self, name: &str, path: &str, body: &str) -> Headers {
        let (key, _) = department(name);
        let n = self.nonce.fetch_add(1, Ordering::SeqCst);
        DepartmentSigner::new(key)
            .sign_with(
                "POST",
                AUTHORITY,
                path,
                body.as_bytes(),
                (NOW / 1000) as i64,
                &format!("nonce-{n}"),
            )
            .unwrap()
            .headers
    }

    /// A signed POST of JSON `body` to `path` by `name`.
    pub(crate) async fn post_signed(
        &self,
        name: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> (StatusCode, serde_json::Value) {
        let body = body.to_string();
        let headers = self.signed_for(name, path, &body);
        let (st, _, b) = self.raw(Method::POST, path, Some(headers), body).await;
        (st, serde_json::from_slice(&b).unwrap_or_default())
    }

    pub(crate) async fn verify(
        &self,
        dept: &str,
        body: &serde_json::Value,
    ) -> (StatusCode, Vec<u8>) {
        let body = body.to_string();
        let headers = self.signed(dept, &body);
        let (st, _, b) = self
            .raw(Method::POST, "/v1/verifications", Some(headers), body)
            .await;
        (st, b)
    }

    pub(crate) fn size(&self) -> u64 {
        self.log.latest().size
    }

    pub(crate) fn last_access(&self) -> AccessRecorded {
        let e = self.log.entry(self.size() - 1).unwrap();
        match Entry::decode(&e.entry).unwrap() {
            Entry::AccessRecorded(a) => a,
            other => panic!("not an access entry: {other:?}"),
        }
    }

    pub(crate) async fn issue_marriage(&self, holder: HolderCode) -> String {
        let (issuer, uscc) = civil_affairs();
        let d = draft(uscc, holder, "男");
        let body = issuer.issue_body(&d, NOW, &mut proofless_client::issuer::os_salt);
        let decode = |s: &str| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(s).unwrap()
        };
        self.certs
            .issue(IssueRequest {
                security_object: decode(&body.security_object),
                items: body.items.iter().map(|i| decode(i)).collect(),
            })
            .await
            .unwrap()
            .certificate_id
    }
}

pub(crate) fn request(holder: &HolderCode, certificates: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "scenario": "QD-TEST-001",
        "purpose": "养老保险待遇资格审核",
        "case_number": "HR-2027-000001",
        "operator": "op-17",
        "salt": "c2FsdHNhbHRzYWx0c2FsdA==",
        "holder": {"type": "111", "code": holder.as_str()},
        "certificates": certificates,
    })
}

fn all_modes() -> serde_json::Value {
    serde_json::json!([{
        "type_code": MARRIAGE,
        "disclose": ["registration_date", "spouse_name"],
        "claims": {"holder_name": "张伟", "certificate_number": "wrong"},
        "predicates": [
            {"name": "currently_valid"},
            {"name": "marital_status_is", "status": "已婚"},
            {"name": "age_at_least", "years": 37}
        ]
    }])
}

#[tokio::test]
async fn disclose_check_claims_and_predicates_with_a_receipt_that_verifies_offline() {
    let f = fixture().await;
    let holder = citizen();
    let id = f.issue_marriage(holder).await;
    let before = f.size();
    let body = request(&holder, all_modes());
    let (st, resp) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    assert_eq!(f.size(), before + 1, "one AccessRecorded entry");
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    let r = &v["answer"]["results"][0];
    assert_eq!(v["answer"]["decision"], "allow");
    assert_eq!(r["status"], "valid");
    assert_eq!(r["certificate_id"], id);
    assert_eq!(r["claims"]["holder_name"], "match");
    assert_eq!(r["claims"]["certificate_number"], "mismatch");
    let preds = r["predicates"].as_array().unwrap();
    let got: Vec<bool> = preds
        .iter()
        .map(|p| p["result"].as_bool().unwrap())
        .collect();
    // Born 1990-01-01 (the draft's holder_birth_date), asked on 2027-01-01: 37.
    assert_eq!(got, [true, true, true]);
    assert_eq!(r["disclosed"]["items"].as_array().unwrap().len(), 2);

    // Offline: with only the ledger key and the trust anchor.
    let checked = verify_receipt(
        &resp,
        Some(body.to_string().as_bytes()),
        None,
        &ledger(),
        &anchor(),
    )
    .unwrap();
    assert_eq!(checked.items, 2);
    assert_eq!(checked.receipt.index, before);
    assert_eq!(checked.proven_at, Some(before + 1));

    // The entry names fields, never values or the holder.
    let a = f.last_access();
    assert_eq!(a.decision, Decision::Allow);
    assert_eq!(a.reason, "ok");
    assert_eq!(a.scenario, "QD-TEST-001");
    assert_eq!(a.department, "11370200MB0000106L");
    assert_eq!(a.certificates, [id]);
    assert!(
        a.fields
            .contains(&format!("{MARRIAGE}/disclose/spouse_name"))
    );
    assert!(
        a.fields
            .contains(&format!("{MARRIAGE}/predicate/age_at_least"))
    );
    let raw = f.log.entry(before).unwrap().entry;
    for secret in [holder.as_str(), "张伟", "王芳", "wrong"] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} leaked into the log"
        );
    }
    // The department's signature is re-verifiable from the entry alone.
    let (key, _) = department(HR);
    let (_, params, sig) = proofless_core::httpsig::parse(
        &format!("proofless={}", a.request.params),
        &format!("proofless=:{}:", base64_encode(&a.request.signature)),
    )
    .unwrap();
    let parts = proofless_core::httpsig::RequestParts::new(
        &a.request.method,
        &a.request.authority,
        &a.request.path,
    )
    .header("content-digest", &a.request.content_digest);
    proofless_core::httpsig::verify(&key.verifying_key(), &parts, &params, &sig).unwrap();
    proofless_core::httpsig::check_content_digest(
        &a.request.content_digest,
        body.to_string().as_bytes(),
    )
    .unwrap();
}

#[tokio::test]
async fn changing_any_byte_of_the_answer_or_receipt_fails_verification() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let body = request(&holder, all_modes());
    let (st, resp) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::OK);
    let req = body.to_string();
    verify_receipt(&resp, Some(req.as_bytes()), None, &ledger(), &anchor()).unwrap();
    let mut accepted = Vec::new();
    for i in 0..resp.len() {
        let mut bad = resp.clone();
        bad[i] ^= 0x01;
        if verify_receipt(&bad, Some(req.as_bytes()), None, &ledger(), &anchor()).is_ok() {
            accepted.push(i);
        }
    }
    // Only bytes outside `answer` and `receipt` can change harmlessly, and the envelope
    // has none that parse differently: e.g. `{"answer"` → `{"answes"` fails to parse.
    assert!(
        accepted.is_empty(),
        "bytes {accepted:?} could change: {}",
        String::from_utf8_lossy(&resp)
    );
    // Another request body is not covered.
    assert!(matches!(
        verify_receipt(&resp, Some(b"{}"), None, &ledger(), &anchor()),
        Err(ReceiptCheckError::RequestDigest)
    ));
}

#[tokio::test]
async fn a_certificate_that_is_not_valid_is_reported_and_nothing_more() {
    let f = fixture().await;
    let holder = citizen();
    let id = f.issue_marriage(holder).await;
    let (issuer, _) = civil_affairs();
    let latest = f.certs.view(&id).unwrap().latest_index;
    let parsed = proofless_core::ids::CertificateId::parse(&id).unwrap();
    let st = issuer.status_body(&parsed, Status::Revoked, None, latest, NOW);
    let stmt = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(&st.statement)
            .unwrap()
    };
    f.certs.change_status(&stmt).await.unwrap();
    let (code, resp) = f.verify(HR, &request(&holder, all_modes())).await;
    assert_eq!(code, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    let r = &v["answer"]["results"][0];
    assert_eq!(r["status"], "revoked");
    assert!(r.get("disclosed").is_none());
    assert!(r.get("claims").is_none());
    // Only currently_valid is answered (false); nothing is derived from the fields.
    assert_eq!(r["predicates"].as_array().unwrap().len(), 1);
    assert_eq!(r["predicates"][0]["result"], false);
    // By certificate identifier: the same.
    let mut by_id = request(&holder, all_modes());
    by_id.as_object_mut().unwrap().remove("holder");
    by_id["certificate_id"] = serde_json::json!(id);
    let (code, resp) = f.verify(HR, &by_id).await;
    assert_eq!(code, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["answer"]["results"][0]["status"], "revoked");
    assert!(v["answer"]["results"][0].get("disclosed").is_none());
}

#[tokio::test]
async fn the_committed_statutory_scenario_answers_holds_valid() {
    let f = fixture().await;
    let holder = citizen();
    let mut body = request(
        &holder,
        serde_json::json!([{"type_code": "11100000PL0000003A902",
            "predicates": [{"name": "holds_valid"}]}]),
    );
    body["scenario"] = serde_json::json!("QD-YLRZ-001");
    let (st, resp) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    let r = &v["answer"]["results"][0];
    assert_eq!(r["status"], "not_found");
    assert_eq!(r["predicates"][0]["name"], "holds_valid");
    assert_eq!(r["predicates"][0]["result"], false);
}

#[tokio::test]
async fn every_denial_is_typed_recorded_and_receipted() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let base = request(&holder, all_modes());
    let with = |k: &str, v: serde_json::Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let one = |q: serde_json::Value| with("certificates", serde_json::json!([q]));
    let bad_holder = {
        let mut h = holder.as_str().to_owned();
        let last = h.pop().unwrap();
        h.push(if last == '1' { '2' } else { '1' });
        h
    };
    let cases: Vec<(&str, &str, serde_json::Value, StatusCode)> = vec![
        (
            "unknown_scenario",
            HR,
            with("scenario", "QD-NONE-001".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            "department_not_allowed",
            MEDICAL,
            base.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            "type_not_in_scenario",
            HR,
            one(
                serde_json::json!({"type_code": "11100000PL00000014901", "predicates": [{"name": "currently_valid"}]}),
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            "field_not_allowed",
            HR,
            one(serde_json::json!({"type_code": MARRIAGE, "disclose": ["holder_id_number"]})),
            StatusCode::FORBIDDEN,
        ),
        (
            "field_not_allowed",
            HR,
            one(serde_json::json!({"type_code": MARRIAGE, "claims": {"spouse_id_number": "x"}})),
            StatusCode::FORBIDDEN,
        ),
        (
            "predicate_not_allowed",
            HR,
            one(
                serde_json::json!({"type_code": MARRIAGE, "predicates": [{"name": "holds_valid"}]}),
            ),
            StatusCode::FORBIDDEN,
        ),
        (
            "consent_required",
            HR,
            {
                let mut b = one(
                    serde_json::json!({"type_code": "11100000PL00000014901", "predicates": [{"name": "currently_valid"}]}),
                );
                b["scenario"] = "QD-SYBX-001".into();
                b
            },
            StatusCode::FORBIDDEN,
        ),
        (
            "consent_invalid",
            HR,
            {
                let mut b = one(
                    serde_json::json!({"type_code": "11100000PL00000014901", "predicates": [{"name": "currently_valid"}]}),
                );
                b["scenario"] = "QD-SYBX-001".into();
                b["consent"] = "QD7F3A9C2E".into();
                b
            },
            StatusCode::FORBIDDEN,
        ),
        (
            "too_many_certificates",
            HR,
            with(
                "certificates",
                serde_json::json!([
                    {"type_code": MARRIAGE, "predicates": [{"name": "currently_valid"}]},
                    {"type_code": "11100000PL0000003A902", "predicates": [{"name": "holds_valid"}]},
                    {"type_code": "11100000PL00000027902", "predicates": [{"name": "currently_valid"}]}
                ]),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_purpose",
            HR,
            with("purpose", "".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_purpose",
            HR,
            with("purpose", "事".repeat(201).into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_case_number",
            HR,
            with("case_number", " ".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_holder_code",
            HR,
            with(
                "holder",
                serde_json::json!({"type": "111", "code": bad_holder}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_request",
            HR,
            with("salt", "c2FsdA==".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_request",
            HR,
            with("surprise", 1.into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_request",
            HR,
            one(
                serde_json::json!({"type_code": MARRIAGE, "predicates": [{"name": "age_at_least"}]}),
            ),
            StatusCode::BAD_REQUEST,
        ),
        // Asking a predicate twice (age ≥ 37, age ≥ 38, …) would disclose the value.
        (
            "invalid_request",
            HR,
            one(serde_json::json!({"type_code": MARRIAGE, "predicates": [
                {"name": "age_at_least", "years": 37}, {"name": "age_at_least", "years": 38}]})),
            StatusCode::BAD_REQUEST,
        ),
        (
            "invalid_certificate_id",
            HR,
            {
                let mut b = base.clone();
                b.as_object_mut().unwrap().remove("holder");
                b["certificate_id"] =
                    "1.2.156.3005.2.11100000PL00000027901.11370200MB0000103B.2024100001.001.X"
                        .into();
                b
            },
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (code, dept, body, status) in cases {
        let before = f.size();
        let (st, resp) = f.verify(dept, &body).await;
        assert_eq!(st, status, "{code}: {}", String::from_utf8_lossy(&resp));
        let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(v["code"], code);
        assert_eq!(v["answer"]["decision"], "deny");
        assert_eq!(v["answer"]["reason"], code);
        assert!(v["answer"]["results"].as_array().unwrap().is_empty());
        assert_eq!(f.size(), before + 1, "{code}: recorded");
        let a = f.last_access();
        assert_eq!((a.decision, a.reason.as_str()), (Decision::Deny, code));
        assert!(a.certificates.is_empty());
        // Only names the scenario lists are recorded: a field, type or scenario a
        // department made up (it could be anything, a holder code) never reaches the log.
        let raw = f.log.entry(f.size() - 1).unwrap().entry;
        let type_made_up = if code == "type_not_in_scenario" {
            "11100000PL00000014901"
        } else {
            "holder_id_number"
        };
        for made_up in [
            "holder_id_number",
            "spouse_id_number",
            "QD-NONE-001",
            type_made_up,
        ] {
            assert!(
                !raw.windows(made_up.len()).any(|w| w == made_up.as_bytes()),
                "{code}: {made_up} recorded"
            );
        }
        let text = String::from_utf8_lossy(&resp);
        assert!(!text.contains(holder.as_str()) && !text.contains(&bad_holder));
        verify_receipt(
            &resp,
            Some(body.to_string().as_bytes()),
            None,
            &ledger(),
            &anchor(),
        )
        .unwrap();
    }
    // A body that is not JSON at all is recorded too.
    let before = f.size();
    let headers = f.signed(HR, "not json");
    let (st, _, resp) = f
        .raw(
            Method::POST,
            "/v1/verifications",
            Some(headers),
            "not json".into(),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["code"], "invalid_request");
    assert_eq!(f.size(), before + 1);
}

#[tokio::test]
async fn unauthenticated_requests_are_refused_with_401_and_not_recorded() {
    let f = fixture().await;
    let holder = citizen();
    let body = request(&holder, all_modes()).to_string();
    let good = f.signed(HR, &body);
    let before = f.size();
    let cases: Vec<(&str, Headers, String)> = vec![
        ("signature_missing", vec![], body.clone()),
        (
            "content_digest_mismatch",
            good.clone(),
            body.replace("养老", "养"),
        ),
        (
            "signature_malformed",
            {
                let mut h = good.clone();
                h[2].1 = "proofless=:AAAA:".into();
                h
            },
            body.clone(),
        ),
        (
            "signature_stale",
            {
                let (key, _) = department(HR);
                DepartmentSigner::new(key)
                    .sign_with(
                        "POST",
                        AUTHORITY,
                        "/v1/verifications",
                        body.as_bytes(),
                        (NOW / 1000) as i64 - 301,
                        "n-stale",
                    )
                    .unwrap()
                    .headers
            },
            body.clone(),
        ),
        (
            "unknown_key",
            {
                DepartmentSigner::new(SigningKey::from_bytes(&[7; 32]))
                    .sign_with(
                        "POST",
                        AUTHORITY,
                        "/v1/verifications",
                        body.as_bytes(),
                        (NOW / 1000) as i64,
                        "n-x",
                    )
                    .unwrap()
                    .headers
            },
            body.clone(),
        ),
        (
            "signature_invalid",
            {
                // Signed by another key under the registered department's key id.
                let (key, _) = department(HR);
                let other = DepartmentSigner::new(SigningKey::from_bytes(&[7; 32]))
                    .sign_with(
                        "POST",
                        AUTHORITY,
                        "/v1/verifications",
                        body.as_bytes(),
                        (NOW / 1000) as i64,
                        "n-y",
                    )
                    .unwrap()
                    .headers;
                let keyid = DepartmentSigner::new(key).keyid().to_owned();
                let fake = other[1].1.replace(
                    DepartmentSigner::new(SigningKey::from_bytes(&[7; 32])).keyid(),
                    &keyid,
                );
                vec![
                    other[0].clone(),
                    ("signature-input", fake),
                    other[2].clone(),
                ]
            },
            body.clone(),
        ),
    ];
    for (code, headers, b) in cases {
        let (st, h, resp) = f
            .raw(Method::POST, "/v1/verifications", Some(headers), b)
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{code}");
        assert_eq!(crate::problem_code(&h, &resp), code);
        assert_eq!(f.size(), before, "{code}: nothing recorded");
    }
    // The genuine request passes once; its replay is refused with its own code.
    let (st, _, _) = f
        .raw(
            Method::POST,
            "/v1/verifications",
            Some(good.clone()),
            body.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let size = f.size();
    let (st, h, resp) = f
        .raw(Method::POST, "/v1/verifications", Some(good), body)
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(crate::problem_code(&h, &resp), "nonce_replayed");
    assert_eq!(f.size(), size);
}

#[tokio::test]
async fn a_failed_append_answers_503_and_discloses_nothing() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let before = f.size();
    f.store.set_failing(true);
    let body = request(&holder, all_modes());
    let (st, resp) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["code"], "unavailable");
    assert!(v.get("answer").is_none() && v.get("receipt").is_none());
    let text = String::from_utf8_lossy(&resp);
    assert!(!text.contains("王芳") && !text.contains("2024-05-20"));
    assert_eq!(f.size(), before);
    f.store.set_failing(false);
    let (st, _) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_promise_is_redeemed_for_a_tlog_proof_later() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let mut body = request(&holder, all_modes());
    body["promise"] = true.into();
    let (st, resp) = f.verify(HR, &body).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert!(v["receipt"].get("tlog_proof").is_none());
    let checked = verify_receipt(&resp, None, None, &ledger(), &anchor()).unwrap();
    assert_eq!(checked.proven_at, None);
    // More entries later; the proof is against the checkpoint of the day.
    f.verify(HR, &request(&holder, all_modes())).await;
    let index = checked.receipt.index;
    let (st, _, proof) = f
        .raw(
            Method::GET,
            &format!("/v1/receipts/{index}/proof"),
            None,
            String::new(),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let proof = String::from_utf8(proof).unwrap();
    let redeemed = verify_receipt(&resp, None, Some(&proof), &ledger(), &anchor()).unwrap();
    assert_eq!(redeemed.proven_at, Some(f.size()));
    // A proof for another index does not fit this receipt.
    let (_, _, other) = f
        .raw(
            Method::GET,
            &format!("/v1/receipts/{}/proof", index + 1),
            None,
            String::new(),
        )
        .await;
    assert!(
        verify_receipt(
            &resp,
            None,
            Some(&String::from_utf8(other).unwrap()),
            &ledger(),
            &anchor()
        )
        .is_err()
    );
    let (st, _, _) = f
        .raw(
            Method::GET,
            "/v1/receipts/999999/proof",
            None,
            String::new(),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn registration_needs_a_chain_to_the_anchor_for_the_role() {
    let f = fixture().await;
    // An issuer's certificate is not a department's.
    let (_, der) = department(HR);
    let issuer = pki::pem_certificate(
        &std::fs::read(repo().join("keys-example/issuer-qingdao-civil-affairs.crt.pem")).unwrap(),
        Position::Chain(0),
    )
    .unwrap();
    for (role, chain, code) in [
        ("department", issuer, "principal_not_trusted"),
        ("auditor", der.clone(), "invalid_json"),
        (
            "department",
            b"not a certificate".to_vec(),
            "principal_not_trusted",
        ),
    ] {
        let body = serde_json::json!({"role": role, "chain": [base64_encode(&chain)]});
        let (st, h, resp) = f
            .raw(Method::POST, "/v1/keys", None, body.to_string())
            .await;
        assert!(st.is_client_error(), "{code}");
        assert_eq!(crate::problem_code(&h, &resp), code);
    }
    // Registering again changes nothing.
    let before = f.size();
    let body = serde_json::json!({"role": "department", "chain": [base64_encode(&der)]});
    let (st, _, _) = f
        .raw(Method::POST, "/v1/keys", None, body.to_string())
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(f.size(), before);
}

#[tokio::test]
async fn a_signature_covers_method_path_and_authority() {
    let f = fixture().await;
    let body = request(&citizen(), all_modes()).to_string();
    let before = f.size();
    let (key, _) = department(HR);
    let signed = |method: &str, path: &str, nonce: &str| {
        DepartmentSigner::new(key.clone())
            .sign_with(
                method,
                AUTHORITY,
                path,
                body.as_bytes(),
                (NOW / 1000) as i64,
                nonce,
            )
            .unwrap()
            .headers
    };
    // Each is POSTed to /v1/verifications: signed for another path, another method, or
    // sent to another host than it was signed for.
    for (what, headers, host) in [
        ("path", signed("POST", "/v1/consents", "n-path"), AUTHORITY),
        (
            "method",
            signed("PUT", "/v1/verifications", "n-method"),
            AUTHORITY,
        ),
        (
            "authority",
            signed("POST", "/v1/verifications", "n-host"),
            "ledger.other",
        ),
    ] {
        let (st, code) = post_to(&f.state, host, &headers, &body).await;
        assert_eq!(
            (st, code.as_str()),
            (StatusCode::UNAUTHORIZED, "signature_invalid"),
            "{what}"
        );
    }
    assert_eq!(f.size(), before);
    // The same request as signed is answered.
    let (st, _) = post_to(
        &f.state,
        AUTHORITY,
        &signed("POST", "/v1/verifications", "n-good"),
        &body,
    )
    .await;
    assert_eq!(st, StatusCode::OK);
}

/// A second service over the same log, as after a restart.
fn restarted(f: &Fixture, now: u64, authority: Option<&str>) -> AppState {
    f.clock.set(now);
    let clock = f.clock.clone();
    let v = Verifications::new(
        f.log.clone(),
        f.certs.clone(),
        Arc::new(rules()),
        1,
        LedgerSigner::from_seed(ORIGIN, [1; 32]).unwrap(),
        clock,
    )
    .with_authority(authority.map(str::to_owned));
    AppState::new(f.log.clone())
        .with_certificates(f.certs.clone())
        .with_verifications(Arc::new(v))
}

async fn post_to(
    state: &AppState,
    host: &str,
    headers: &Headers,
    body: &str,
) -> (StatusCode, String) {
    let mut b = Request::builder()
        .method(Method::POST)
        .uri("/v1/verifications")
        .header(header::HOST, host)
        .header(header::CONTENT_TYPE, "application/json");
    for (k, v) in headers {
        b = b.header(*k, v);
    }
    let resp = router(state.clone())
        .oneshot(b.body(Body::from(body.to_owned())).unwrap())
        .await
        .unwrap();
    let st = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    (st, v["code"].as_str().unwrap_or("").to_owned())
}

#[tokio::test]
async fn a_request_accepted_before_a_restart_is_not_accepted_after_it() {
    let f = fixture().await;
    let body = request(&citizen(), all_modes()).to_string();
    // Created 200 s in the future (allowed: ±300 s), accepted once.
    let (key, _) = department(HR);
    let future = DepartmentSigner::new(key)
        .sign_with(
            "POST",
            AUTHORITY,
            "/v1/verifications",
            body.as_bytes(),
            (NOW / 1000) as i64 + 200,
            "future-nonce",
        )
        .unwrap()
        .headers;
    let (st, _) = post_to(&f.state, AUTHORITY, &future, &body).await;
    assert_eq!(st, StatusCode::OK);
    // The process restarts 30 s later: the nonces are rebuilt from the log.
    let after = restarted(&f, NOW + 30_000, None);
    let (st, code) = post_to(&after, AUTHORITY, &future, &body).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNAUTHORIZED, "nonce_replayed")
    );
    // A fresh request is served at once.
    let fresh = f.signed(HR, &body);
    let (st, _) = post_to(&after, AUTHORITY, &fresh, &body).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_configured_authority_refuses_requests_signed_for_another() {
    let f = fixture().await;
    let body = request(&citizen(), all_modes()).to_string();
    let state = restarted(&f, NOW, Some("ledger.qingdao.example"));
    let before = f.size();
    let headers = f.signed(HR, &body); // signed for ledger.test
    let (st, code) = post_to(&state, AUTHORITY, &headers, &body).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNAUTHORIZED, "wrong_authority")
    );
    assert_eq!(f.size(), before);
}

#[tokio::test]
async fn an_expired_department_certificate_is_refused() {
    let f = fixture().await;
    // The example department certificates end on 2031-01-01.
    let later = 1_924_992_000_000 + 86_400_000; // 2031-01-02
    f.clock.set(later);
    let state = f.state.clone();
    let body = request(&citizen(), all_modes()).to_string();
    let (key, _) = department(HR);
    let headers = DepartmentSigner::new(key)
        .sign_with(
            "POST",
            AUTHORITY,
            "/v1/verifications",
            body.as_bytes(),
            (later / 1000) as i64,
            "n-late",
        )
        .unwrap()
        .headers;
    let (st, code) = post_to(&state, AUTHORITY, &headers, &body).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNAUTHORIZED, "department_certificate_invalid")
    );
}

#[tokio::test]
async fn an_erased_holder_is_reported_and_nothing_is_disclosed() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let pseudonym = f.certs.pseudonym(&holder);
    use proofless_store::Store as _;
    assert!(
        f.store
            .delete(proofless_store::Table::HolderKeys, &pseudonym)
            .unwrap()
    );
    let (st, resp) = f.verify(HR, &request(&holder, all_modes())).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    let r = &v["answer"]["results"][0];
    assert_eq!(r["status"], "erased");
    assert!(r.get("disclosed").is_none() && r.get("claims").is_none());
    assert!(!String::from_utf8_lossy(&resp).contains("王芳"));
    // A query on status alone (no field values read) reports the erasure too.
    let status_only = serde_json::json!([{
        "type_code": MARRIAGE,
        "predicates": [{"name": "currently_valid"}]
    }]);
    let (st, resp) = f.verify(HR, &request(&holder, status_only)).await;
    assert_eq!(st, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    let r = &v["answer"]["results"][0];
    assert_eq!(r["status"], "erased");
    assert_eq!(r["predicates"][0]["result"], false, "{r}");
}

/// An auditor gets the exact files of each published rule set version, which hash to the
/// digest its `PolicyPublished` entry commits to.
#[tokio::test]
async fn the_files_of_a_published_rule_set_are_served_for_auditors() {
    let f = fixture().await;
    let (st, _, body) = f
        .raw(Method::GET, "/v1/policies/1", None, String::new())
        .await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    #[derive(serde::Deserialize)]
    struct Body {
        version: u64,
        files: Vec<proofless_client::audit::PolicyFile>,
    }
    let b: Body = serde_json::from_slice(&body).unwrap();
    assert_eq!(b.version, 1);
    assert!(b.files.iter().all(|f| !f.file_name.contains('/')));
    let set = proofless_client::audit::rule_set(&b.files).unwrap();
    assert_eq!(set.digest(), rules().digest());
    for (path, code) in [
        ("/v1/policies/2", "not_found"),
        ("/v1/policies/x", "invalid_index"),
    ] {
        let (_, h, body) = f.raw(Method::GET, path, None, String::new()).await;
        assert_eq!(crate::problem_code(&h, &body), code, "{path}");
    }
}
