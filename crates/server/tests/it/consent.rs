//! One-time consents and the holder's access history over HTTP: grant, use exactly once,
//! expiry, revocation, mismatches, the history, and concurrent uses of one code.

use crate::certs::{MARRIAGE, NOW, citizen};
use crate::verify::{CHANNEL, Fixture, HOUSING, HR, fixture, request};
use axum::http::StatusCode;
use proofless_core::entry::{Decision, Entry};
use proofless_core::ids::{CitizenId, HolderCode};
use std::sync::Arc;

const SCENARIO: &str = "QD-TESTC-001";
const SALT: &str = "c2FsdHNhbHRzYWx0c2FsdA==";

fn holder_json(h: &HolderCode) -> serde_json::Value {
    serde_json::json!({"type": "111", "code": h.as_str()})
}

fn grant_body(h: &HolderCode) -> serde_json::Value {
    serde_json::json!({
        "holder": holder_json(h),
        "scenario": SCENARIO,
        "salt": SALT,
    })
}

/// A verification in the consent scenario with `code`.
fn use_body(h: &HolderCode, code: &str) -> serde_json::Value {
    let mut b = request(
        h,
        serde_json::json!([{
            "type_code": MARRIAGE,
            "claims": {"holder_name": "张伟"},
            "predicates": [{"name": "marital_status_is", "status": "已婚"}]
        }]),
    );
    b["scenario"] = SCENARIO.into();
    b["consent"] = code.into();
    b
}

async fn grant(f: &Fixture, body: &serde_json::Value) -> (StatusCode, serde_json::Value) {
    f.post_signed(CHANNEL, "/v1/consents", body).await
}

async fn granted_code(f: &Fixture, body: &serde_json::Value) -> String {
    let (st, v) = grant(f, body).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    v["consent_code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_consent_is_granted_with_a_preview_and_used_exactly_once() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let before = f.size();
    let (st, v) = grant(&f, &grant_body(&holder)).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let code = v["consent_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 32);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    // The preview says who, for what, and exactly what, in Chinese.
    let preview = v["preview_zh"].as_str().unwrap();
    for want in [
        "青岛市人力资源和社会保障局",
        "青岛市住房和城乡建设局",
        "测试授权场景",
        "结婚证",
        "登记日期",
        "仅可使用一次",
    ] {
        assert!(preview.contains(want), "{want} missing from: {preview}");
    }
    assert_eq!(v["expires"], NOW + 30 * 60 * 1000, "30 minutes by default");
    // The log holds the grant with the pseudonym and the code's digest only.
    assert_eq!(f.size(), before + 1);
    let raw = f.log.entry(before).unwrap().entry;
    let Entry::ConsentGranted(g) = Entry::decode(&raw).unwrap() else {
        panic!("not a grant")
    };
    assert_eq!(g.holder, f.certs.pseudonym(&holder));
    assert_eq!(g.channel, "11370000MB0000202K");
    assert_eq!(g.consent, proofless_ledger::consent::consent_digest(&code));
    for secret in [code.as_str(), holder.as_str()] {
        assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    // Used once: allowed, and the entry names the consent.
    let (st, resp) = f.verify(HR, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::OK, "{}", String::from_utf8_lossy(&resp));
    let a = f.last_access();
    assert_eq!(a.decision, Decision::Allow);
    assert_eq!(a.consent, Some(g.consent));
    assert_eq!(a.holder, Some(g.holder));
    // A second use is a recorded denial.
    let size = f.size();
    let (st, resp) = f.verify(HR, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
    assert_eq!(v["code"], "consent_used");
    assert_eq!(f.size(), size + 1);
    assert_eq!(f.last_access().reason, "consent_used");
}

#[tokio::test]
async fn expired_revoked_unknown_and_mismatched_codes_are_recorded_denials() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let other = HolderCode::parse(
        "111",
        CitizenId::from_parts("370202", (1985, 6, 1), 457)
            .unwrap()
            .as_str(),
    )
    .unwrap();

    // Expired: one minute, used after 61 s.
    let mut b = grant_body(&holder);
    b["expires_in"] = 60.into();
    let short = granted_code(&f, &b).await;
    // Revoked.
    let revoked = granted_code(&f, &grant_body(&holder)).await;
    let (st, v) = f
        .post_signed(
            CHANNEL,
            "/v1/consents/revoke",
            &serde_json::json!({"holder": holder_json(&holder), "consent_code": revoked, "salt": SALT}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let raw = f.log.entry(f.size() - 1).unwrap().entry;
    assert!(matches!(
        Entry::decode(&raw).unwrap(),
        Entry::ConsentRevoked(_)
    ));
    // Revoking twice, or a code of another holder, is refused and writes nothing.
    let size = f.size();
    let (st, v) = f
        .post_signed(
            CHANNEL,
            "/v1/consents/revoke",
            &serde_json::json!({"holder": holder_json(&holder), "consent_code": revoked, "salt": SALT}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("consent_not_active"))
    );
    let (st, v) = f
        .post_signed(
            CHANNEL,
            "/v1/consents/revoke",
            &serde_json::json!({"holder": holder_json(&other), "consent_code": short, "salt": SALT}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("consent_unknown"))
    );
    assert_eq!(f.size(), size);

    // Restricted to the housing bureau; used by human resources.
    let mut b = grant_body(&holder);
    b["department"] = "11370200MB00001103".into();
    let housing_only = granted_code(&f, &b).await;
    // Predicates only; a claim asked.
    let mut b = grant_body(&holder);
    b["certificates"] =
        serde_json::json!([{"type_code": MARRIAGE, "predicates": ["marital_status_is"]}]);
    let narrow = granted_code(&f, &b).await;
    // For the holder; used about another.
    let for_holder = granted_code(&f, &grant_body(&holder)).await;

    f.clock.set(NOW + 61_000);
    let cases: Vec<(&str, serde_json::Value)> = vec![
        ("consent_expired", use_body(&holder, &short)),
        ("consent_revoked", use_body(&holder, &revoked)),
        (
            "consent_invalid",
            use_body(&holder, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
        ),
        ("consent_mismatch", use_body(&holder, &housing_only)),
        ("consent_mismatch", use_body(&holder, &narrow)),
        ("consent_mismatch", use_body(&other, &for_holder)),
        ("consent_required", {
            let mut b = use_body(&holder, "");
            b.as_object_mut().unwrap().remove("consent");
            b
        }),
    ];
    for (code, body) in cases {
        let size = f.size();
        let (st, resp) = f.verify(HR, &body).await;
        let v: serde_json::Value = serde_json::from_slice(&resp).unwrap();
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some(code)),
            "{v}"
        );
        assert_eq!(f.size(), size + 1, "{code} recorded");
        let a = f.last_access();
        assert_eq!(
            (a.decision, a.reason.as_str(), a.consent),
            (Decision::Deny, code, None)
        );
    }
    // The mismatched ones were not consumed: their rightful use still works.
    let mut narrow_use = use_body(&holder, &narrow);
    narrow_use["certificates"] = serde_json::json!([{"type_code": MARRIAGE,
        "predicates": [{"name": "marital_status_is", "status": "已婚"}]}]);
    let (st, _) = f.verify(HR, &narrow_use).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = f.verify(HOUSING, &use_body(&holder, &housing_only)).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn a_grant_never_covers_more_than_the_scenario_allows() {
    let f = fixture().await;
    let holder = citizen();
    let before = f.size();
    let with = |k: &str, v: serde_json::Value| {
        let mut b = grant_body(&holder);
        b[k] = v;
        b
    };
    for (code, status, body) in [
        (
            "consent_scope_not_allowed",
            StatusCode::FORBIDDEN,
            with(
                "certificates",
                serde_json::json!([{"type_code": MARRIAGE, "disclose": ["spouse_id_number"]}]),
            ),
        ),
        (
            "consent_scope_not_allowed",
            StatusCode::FORBIDDEN,
            with(
                "certificates",
                serde_json::json!([{"type_code": "11100000PL00000014901", "predicates": ["currently_valid"]}]),
            ),
        ),
        (
            "consent_scope_not_allowed",
            StatusCode::FORBIDDEN,
            with("department", "11370200MB0000114F".into()),
        ),
        (
            "consent_not_required",
            StatusCode::BAD_REQUEST,
            with("scenario", "QD-TEST-001".into()),
        ),
        (
            "unknown_scenario",
            StatusCode::NOT_FOUND,
            with("scenario", "QD-NONE-001".into()),
        ),
        (
            "invalid_expiry",
            StatusCode::BAD_REQUEST,
            with("expires_in", 86_401.into()),
        ),
        (
            "invalid_expiry",
            StatusCode::BAD_REQUEST,
            with("expires_in", 0.into()),
        ),
        (
            "invalid_holder_code",
            StatusCode::BAD_REQUEST,
            with(
                "holder",
                serde_json::json!({"type": "111", "code": "370202199001011230"}),
            ),
        ),
    ] {
        let (st, v) = grant(&f, &body).await;
        assert_eq!((st, v["code"].as_str()), (status, Some(code)), "{v}");
    }
    // Only channels grant: a department's key is not a channel's.
    let (st, v) = f
        .post_signed(HR, "/v1/consents", &grant_body(&holder))
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unknown_key"))
    );
    assert_eq!(f.size(), before, "nothing written");
    // 24 hours is allowed.
    let (st, v) = grant(&f, &with("expires_in", 86_400.into())).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["expires"], NOW + 86_400_000);
}

#[tokio::test]
async fn the_history_lists_every_access_newest_first_statutory_ones_too() {
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    // A statutory access, a consented one, a denied one.
    let (st, _) = f
        .verify(
            HR,
            &request(
                &holder,
                serde_json::json!([{"type_code": MARRIAGE, "predicates": [{"name": "currently_valid"}]}]),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let code = granted_code(&f, &grant_body(&holder)).await;
    let (st, _) = f.verify(HOUSING, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = f.verify(HOUSING, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // Another holder's access is not listed.
    let other = HolderCode::parse(
        "111",
        CitizenId::from_parts("370202", (1985, 6, 1), 457)
            .unwrap()
            .as_str(),
    )
    .unwrap();
    f.verify(HR, &request(&other, serde_json::json!([{"type_code": MARRIAGE, "predicates": [{"name": "currently_valid"}]}])))
        .await;

    let page = |limit: u64, before: Option<u64>| {
        let mut b =
            serde_json::json!({"holder": holder_json(&holder), "limit": limit, "salt": SALT});
        if let Some(x) = before {
            b["before"] = x.into();
        }
        b
    };
    let (st, v) = f
        .post_signed(CHANNEL, "/v1/holder-accesses", &page(2, None))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let rows = v["accesses"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["decision"], "deny");
    assert_eq!(rows[0]["reason"], "consent_used");
    assert_eq!(rows[1]["decision"], "allow");
    assert_eq!(rows[1]["consent_used"], true);
    assert_eq!(rows[1]["department_name"], "青岛市住房和城乡建设局");
    assert_eq!(rows[1]["scenario_name"], "测试授权场景");
    assert!(rows[0]["index"].as_u64() > rows[1]["index"].as_u64());
    let next = v["next_before"].as_u64().unwrap();
    let (_, v) = f
        .post_signed(CHANNEL, "/v1/holder-accesses", &page(2, Some(next)))
        .await;
    let rows = v["accesses"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{v}");
    assert_eq!(
        rows[0]["consent_used"], false,
        "the statutory access is listed"
    );
    assert_eq!(rows[0]["scenario"], "QD-TEST-001");
    assert!(v.get("next_before").is_none());
    // Each row's index is an AccessRecorded entry about this holder.
    let e = f.log.entry(rows[0]["index"].as_u64().unwrap()).unwrap();
    let Entry::AccessRecorded(a) = Entry::decode(&e.entry).unwrap() else {
        panic!()
    };
    assert_eq!(a.holder, Some(f.certs.pseudonym(&holder)));
    assert!(!v.to_string().contains(holder.as_str()));
    // Only channels read histories.
    let (st, _) = f
        .post_signed(HR, "/v1/holder-accesses", &page(2, None))
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// 64 verifications at once with the same code, 100 times: exactly one succeeds each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_code_succeed_exactly_once() {
    let f = Arc::new(fixture().await);
    let holder = citizen();
    f.issue_marriage(holder).await;
    for round in 0..100 {
        let code = granted_code(&f, &grant_body(&holder)).await;
        let body = use_body(&holder, &code);
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let (f, body) = (f.clone(), body.clone());
                tokio::spawn(async move { f.verify(HR, &body).await })
            })
            .collect();
        let mut ok = 0;
        let mut used = 0;
        for t in tasks {
            match t.await.unwrap() {
                (StatusCode::OK, _) => ok += 1,
                (StatusCode::FORBIDDEN, b) => {
                    let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                    assert_eq!(v["code"], "consent_used", "round {round}");
                    used += 1;
                }
                (other, _) => panic!("round {round}: unexpected {other}"),
            }
        }
        assert_eq!((ok, used), (1, 63), "round {round}");
        // Exactly one entry consumed it.
        let digest = proofless_ledger::consent::consent_digest(&code);
        let size = f.size();
        let consumed = (size - 64..size)
            .filter(|i| {
                matches!(Entry::decode(&f.log.entry(*i).unwrap().entry).unwrap(),
                    Entry::AccessRecorded(a) if a.consent == Some(digest))
            })
            .count();
        assert_eq!(consumed, 1, "round {round}");
    }
}

/// Single use holds in the store transaction itself: even with the consent's record put
/// back to active behind the service's back (as if an in-memory hold had been released
/// early), a second use fails closed and discloses nothing.
#[tokio::test]
async fn a_used_consent_stays_spent_in_the_store() {
    use proofless_store::{Put, PutMode, Store as _, Table};
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let code = granted_code(&f, &grant_body(&holder)).await;
    let (st, _) = f.verify(HR, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::OK);
    let digest = proofless_ledger::consent::consent_digest(&code);
    let mut rec = f.store.get(Table::Consents, &digest).unwrap().unwrap();
    // `5: expires (uint64)` then `6: state`: flip used (1) back to active (0).
    let at = (0..rec.len() - 11)
        .find(|&i| rec[i] == 0x05 && rec[i + 1] == 0x1b && rec[i + 10] == 0x06)
        .unwrap();
    assert_eq!(rec[at + 11], 0x01);
    rec[at + 11] = 0x00;
    let filler = Entry::KeyEvent(proofless_core::entry::KeyEvent {
        time: 1,
        action: proofless_core::entry::KeyAction::Registered,
        role: "witness".into(),
        key_id: [0x77; 32],
        certificate: None,
        organisation: None,
    })
    .encode()
    .unwrap();
    f.log
        .append_with(
            vec![filler],
            vec![proofless_ledger::PendingPut::plain(Put {
                table: Table::Consents,
                key: digest.to_vec(),
                value: rec,
                mode: PutMode::Upsert,
            })],
        )
        .await
        .unwrap();
    let size = f.size();
    let (st, resp) = f.verify(HR, &use_body(&holder, &code)).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!String::from_utf8_lossy(&resp).contains("match"));
    assert_eq!(f.size(), size, "nothing appended");
}

/// The offline check (`proofless check`) on a store written by the whole service: a
/// published rule set, a certificate, a consent granted and used, one granted and
/// revoked, a denial, each access indexed by holder. Clean; then a deleted spent marker
/// and a deleted history row are each reported at their table.
#[tokio::test]
async fn the_offline_check_finds_consents_and_accesses_consistent() {
    use proofless_ledger::check::{Finding, check_store};
    use proofless_store::{Store as _, Table};
    let f = fixture().await;
    let holder = citizen();
    f.issue_marriage(holder).await;
    let used = granted_code(&f, &grant_body(&holder)).await;
    let (st, _) = f.verify(HR, &use_body(&holder, &used)).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = f.verify(HR, &use_body(&holder, &used)).await;
    assert_eq!(
        st,
        StatusCode::FORBIDDEN,
        "a second use is a recorded denial"
    );
    let revoked = granted_code(&f, &grant_body(&holder)).await;
    let (st, v) = f
        .post_signed(
            CHANNEL,
            "/v1/consents/revoke",
            &serde_json::json!({"holder": holder_json(&holder), "consent_code": revoked, "salt": SALT}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");

    let check = || {
        check_store(
            f.store.as_ref(),
            Some(&crate::verify::ledger()),
            &mut |_, _, _| {},
        )
    };
    let listing = |r: &proofless_ledger::check::Report| {
        r.findings
            .iter()
            .map(Finding::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let r = check();
    assert!(r.findings.is_empty(), "{}", listing(&r));
    let rows = |t: &str| r.summary.rows.get(t).copied().unwrap_or(0);
    assert_eq!(rows("consents"), 4, "two records and two spent markers");
    assert_eq!(rows("policy"), 2, "the rule set in force and its files");

    let used_digest = proofless_ledger::consent::consent_digest(&used);
    let mut marker = used_digest.to_vec();
    marker.extend_from_slice(b"/spent");
    assert!(f.store.delete(Table::Consents, &marker).unwrap());
    let r = check();
    assert!(!r.is_clean());
    let text = listing(&r);
    assert!(text.contains("consents[granted at "), "{text}");
    assert!(
        !text.contains(holder.as_str()),
        "no holder code in findings: {text}"
    );
}
