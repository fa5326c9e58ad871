//! The certificate service on the real store, with the committed example issuers.
//!
//! Every bad-input case checks the typed error and that nothing was appended.

use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
use proofless_client::issuer::{Draft, Issuer, SALT_LEN};
use proofless_core::cert::{
    FieldValue, Item, KeyRetirement, SecurityObject, SignedSecurityObject, Status, holder_item,
    item_digest,
};
use proofless_core::entry::Entry;
use proofless_core::ids::{CertificateId, HolderCode, TypeCode, Uscc};
use proofless_core::merkle;
use proofless_core::pki::{self, Position, TrustAnchor};
use proofless_ledger::catalog::Catalog;
use proofless_ledger::certs::{Admitted, CertificateError, Certificates, IssueRequest};
use proofless_ledger::clock::FixedClock;
use proofless_ledger::vault::{self, PseudonymKey};
use proofless_ledger::{Log, LogConfig};
use proofless_store::{RedbStore, Store, Table};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub(crate) const MARRIAGE: &str = "11100000PL00000027901";
const ID_CARD: &str = "11100000PL00000014901";
/// 2027-01-01T00:00:00Z: inside the example certificates' validity (2026–2031).
pub(crate) const NOW: u64 = 1_798_761_600_000;

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub(crate) struct Fx {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) store: Arc<RedbStore>,
    pub(crate) log: Arc<Log>,
    pub(crate) svc: Arc<Certificates>,
    clock: Arc<FixedClock>,
}

pub(crate) fn fx() -> Fx {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(RedbStore::open(dir.path()).unwrap());
    let signer =
        proofless_core::checkpoint::LedgerSigner::from_seed("ledger.test/log", [1; 32]).unwrap();
    let log = Arc::new(Log::open(store.clone(), signer, LogConfig::default()).unwrap());
    let mut files = Vec::new();
    for e in std::fs::read_dir(repo().join("schemas/certificates")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            files.push((
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            ));
        }
    }
    let catalog = Catalog::load(&files).unwrap();
    let anchor = TrustAnchor::from_pem(
        &std::fs::read(repo().join("keys-example/trust-anchor.crt.pem")).unwrap(),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new(NOW));
    let svc = Arc::new(Certificates::new(
        log.clone(),
        store.clone(),
        Arc::new(catalog),
        anchor,
        PseudonymKey::new([9; 32]),
        clock.clone(),
    ));
    Fx {
        _dir: dir,
        store,
        log,
        svc,
        clock,
    }
}

/// An example principal's key, chain and organisation code.
pub(crate) fn principal(name: &str) -> (SigningKey, Vec<Vec<u8>>, Uscc) {
    let dir = repo().join("keys-example");
    let key_pem = std::fs::read_to_string(dir.join(format!("{name}.key.pem"))).unwrap();
    let key = SigningKey::from_pkcs8_pem(&key_pem).unwrap();
    let der = pki::pem_certificate(
        &std::fs::read(dir.join(format!("{name}.crt.pem"))).unwrap(),
        Position::Chain(0),
    )
    .unwrap();
    let anchor =
        TrustAnchor::from_pem(&std::fs::read(dir.join("trust-anchor.crt.pem")).unwrap()).unwrap();
    let role = if name.starts_with("issuer") {
        proofless_core::keys::Role::Issuer
    } else {
        proofless_core::keys::Role::Department
    };
    let p = pki::validate(
        std::slice::from_ref(&der),
        &anchor,
        role,
        (NOW / 1000) as i64,
    )
    .unwrap();
    (key, vec![der], p.organisation().unwrap())
}

pub(crate) fn civil_affairs() -> (Issuer, Uscc) {
    let (k, c, u) = principal("issuer-qingdao-civil-affairs");
    (Issuer::new(k, c), u)
}

pub(crate) fn citizen(seq: u16) -> HolderCode {
    HolderCode::parse(
        "111",
        proofless_core::ids::CitizenId::from_parts("370202", (1990, 1, 1), seq)
            .unwrap()
            .as_str(),
    )
    .unwrap()
}

pub(crate) fn marriage(issuer: Uscc, serial: &str, holder: HolderCode) -> Draft {
    let t = |s: &str| FieldValue::Text(s.to_owned());
    let values: BTreeMap<String, FieldValue> = [
        ("holder_name", t("张伟")),
        ("registration_date", t("2024-05-20")),
        ("certificate_number", t("J370202-2024-000123")),
        ("holder_sex", t("男")),
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
    .collect();
    Draft {
        id: CertificateId::new(TypeCode::parse(MARRIAGE).unwrap(), issuer, serial, 1).unwrap(),
        holder,
        valid_from: "2024-05-20".into(),
        valid_until: None,
        values,
    }
}

fn salts() -> impl FnMut() -> [u8; SALT_LEN] {
    let mut n = 0u8;
    move || {
        n = n.wrapping_add(1);
        [n; SALT_LEN]
    }
}

pub(crate) fn request(issuer: &Issuer, draft: &Draft) -> IssueRequest {
    let (cose, items) = issuer.sign(draft, NOW, &mut salts());
    IssueRequest {
        security_object: cose,
        items,
    }
}

async fn refused(fx: &Fx, req: IssueRequest) -> CertificateError {
    let before = fx.log.latest().size;
    let err = fx.svc.issue(req).await.expect_err("must be refused");
    assert_eq!(
        fx.log.latest().size,
        before,
        "a refused issuance appended something ({err})"
    );
    err
}

fn verify_admitted(a: &Admitted, fx: &Fx) {
    let e = fx.log.entry(a.index).unwrap();
    merkle::verify_inclusion(
        &a.proof,
        a.checkpoint.size,
        a.checkpoint.root,
        a.index,
        merkle::leaf_hash(&e.entry),
    )
    .unwrap();
}

#[tokio::test]
async fn issue_look_up_and_erase() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let holder = citizen(123);
    let draft = marriage(uscc, "2024000001", holder);
    let a = fx.svc.issue(request(&issuer, &draft)).await.unwrap();
    verify_admitted(&a, &fx);
    // The first issuance by a key registers it: KeyEvent, then CertificateIssued.
    assert_eq!(a.index, 1);
    assert!(matches!(
        Entry::decode(&fx.log.entry(0).unwrap().entry).unwrap(),
        Entry::KeyEvent(_)
    ));
    let Entry::CertificateIssued(ci) = Entry::decode(&fx.log.entry(1).unwrap().entry).unwrap()
    else {
        panic!("entry 1 is not CertificateIssued")
    };
    // No personal data in the log entry.
    for needle in [
        holder.as_str().as_bytes(),
        "张伟".as_bytes(),
        "王芳".as_bytes(),
    ] {
        let entry = fx.log.entry(1).unwrap().entry;
        assert!(
            !entry.windows(needle.len()).any(|w| w == needle),
            "personal data in the log"
        );
    }
    // The logged security object still verifies with the issuer's key.
    let so = SignedSecurityObject::parse(&ci.security_object).unwrap();
    let (k, ..) = principal("issuer-qingdao-civil-affairs");
    so.clone().verify(&k.verifying_key()).unwrap();

    let v = fx.svc.view(draft.id.as_str()).unwrap();
    assert_eq!((v.status, v.issued_index, v.latest_index), ("valid", 1, 1));
    let cur = fx.svc.current(&holder, MARRIAGE).unwrap();
    assert_eq!(cur.certificate_id, draft.id.as_str());
    assert!(matches!(
        fx.svc.current(&holder, ID_CARD),
        Err(CertificateError::NotFound)
    ));
    assert!(matches!(
        fx.svc.current(&citizen(125), MARRIAGE),
        Err(CertificateError::NotFound)
    ));

    // The payload is sealed under the holder's key; erasing the key erases the values
    // while the log still verifies.
    let pseud = fx.svc.pseudonym(&holder);
    let key: [u8; 32] = fx
        .store
        .get(Table::HolderKeys, &pseud)
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    let sealed = fx
        .store
        .get(Table::Payloads, &1u64.to_be_bytes())
        .unwrap()
        .unwrap();
    assert!(
        !sealed.windows("张伟".len()).any(|w| w == "张伟".as_bytes()),
        "payload is not plaintext"
    );
    let plain = vault::open(&key, draft.id.as_str().as_bytes(), &sealed).unwrap();
    // The payload rebuilds every item, each matching the signed digest in the log.
    let names: Vec<String> = so.object().digests.keys().cloned().collect();
    let items = proofless_ledger::certs::decode_payload(&plain, &names).unwrap();
    assert_eq!(items.len(), 14);
    let verified = SignedSecurityObject::parse(&ci.security_object)
        .unwrap()
        .verify(&k.verifying_key())
        .unwrap();
    for item in &items {
        verified.check_item(item).unwrap();
    }
    assert!(fx.store.delete(Table::HolderKeys, &pseud).unwrap());
    assert!(fx.store.get(Table::HolderKeys, &pseud).unwrap().is_none());
    let e = fx.log.entry(1).unwrap();
    merkle::verify_inclusion(
        &e.proof,
        e.checkpoint.size,
        e.checkpoint.root,
        1,
        merkle::leaf_hash(&e.entry),
    )
    .unwrap();
}

#[tokio::test]
async fn bad_signature_wrong_key_and_tampering_are_refused() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let draft = marriage(uscc, "2024000002", citizen(123));
    // Signed by another key with the issuer's chain.
    let (_, chain, _) = principal("issuer-qingdao-civil-affairs");
    let forger = Issuer::new(SigningKey::from_bytes(&[5; 32]), chain);
    assert_eq!(
        refused(&fx, request(&forger, &draft)).await.code(),
        "bad_signature"
    );
    // One flipped bit in the signature.
    let mut req = request(&issuer, &draft);
    let n = req.security_object.len();
    req.security_object[n - 1] ^= 1;
    assert_eq!(refused(&fx, req).await.code(), "bad_signature");
}

#[tokio::test]
async fn untrusted_expired_and_unauthorised_issuers_are_refused() {
    let fx = fx();
    let (_, uscc) = civil_affairs();
    let draft = marriage(uscc, "2024000003", citizen(123));
    // A department's certificate chains to the anchor, but not for the issuer role.
    let (k, c, _) = principal("department-qingdao-housing");
    assert_eq!(
        refused(&fx, request(&Issuer::new(k, c), &draft))
            .await
            .code(),
        "issuer_not_trusted"
    );
    // No chain at all, and garbage as a chain.
    let (k, ..) = principal("issuer-qingdao-civil-affairs");
    assert_eq!(
        refused(&fx, request(&Issuer::new(k.clone(), vec![]), &draft))
            .await
            .code(),
        "issuer_not_trusted"
    );
    assert_eq!(
        refused(
            &fx,
            request(&Issuer::new(k, vec![vec![0x30, 0x03, 1, 2, 3]]), &draft)
        )
        .await
        .code(),
        "issuer_not_trusted"
    );
    // Expired: the example certificates end in 2031.
    let (issuer, _) = civil_affairs();
    fx.clock.set(2_000_000_000_000);
    assert_eq!(
        refused(&fx, request(&issuer, &draft)).await.code(),
        "issuer_certificate_expired"
    );
    fx.clock.set(NOW);
    // Civil affairs may not issue identity cards.
    let mut id_card = draft.clone();
    id_card.id =
        CertificateId::new(TypeCode::parse(ID_CARD).unwrap(), uscc, "2024000003", 1).unwrap();
    assert_eq!(
        refused(&fx, request(&issuer, &id_card)).await.code(),
        "type_not_allowed"
    );
    // Another organisation's code in the identifier.
    let mut other = draft.clone();
    let (_, _, ps) = principal("issuer-qingdao-public-security");
    other.id = CertificateId::new(TypeCode::parse(MARRIAGE).unwrap(), ps, "2024000003", 1).unwrap();
    assert_eq!(
        refused(&fx, request(&issuer, &other)).await.code(),
        "issuer_mismatch"
    );
}

#[tokio::test]
async fn a_retired_key_can_no_longer_issue() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    fx.svc
        .issue(request(
            &issuer,
            &marriage(uscc, "2024000010", citizen(123)),
        ))
        .await
        .unwrap();
    let (k, chain, _) = principal("issuer-qingdao-civil-affairs");
    let key_id = proofless_core::keys::key_id(&proofless_core::keys::ed25519_spki_der(
        k.verifying_key().as_bytes(),
    ));
    // Another key cannot retire it.
    let forged = KeyRetirement {
        key_id,
        signed: NOW,
    }
    .sign(&SigningKey::from_bytes(&[5; 32]), &chain);
    assert_eq!(
        fx.svc.retire_key(&forged).await.unwrap_err().code(),
        "bad_signature"
    );
    let r = fx
        .svc
        .retire_key(
            &KeyRetirement {
                key_id,
                signed: NOW,
            }
            .sign(&k, &chain),
        )
        .await
        .unwrap();
    verify_admitted(&r, &fx);
    let Entry::KeyEvent(ke) = Entry::decode(&fx.log.entry(r.index).unwrap().entry).unwrap() else {
        panic!()
    };
    assert_eq!(ke.action, proofless_core::entry::KeyAction::Retired);
    assert_eq!(
        refused(
            &fx,
            request(&issuer, &marriage(uscc, "2024000011", citizen(123)))
        )
        .await
        .code(),
        "issuer_key_retired"
    );
}

#[tokio::test]
async fn schema_digest_and_holder_violations_are_refused() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let mut bad = marriage(uscc, "2024000004", citizen(123));
    bad.values
        .insert("holder_sex".into(), FieldValue::Text("X".into()));
    match refused(&fx, request(&issuer, &bad)).await {
        CertificateError::Schema(v) => {
            assert_eq!((v.field.as_str(), v.rule.as_str()), ("holder_sex", "enum"))
        }
        other => panic!("{other:?}"),
    }
    let mut missing = marriage(uscc, "2024000004", citizen(123));
    missing.values.remove("spouse_name");
    assert_eq!(
        refused(&fx, request(&issuer, &missing)).await.code(),
        "schema_violation"
    );
    let mut extra = marriage(uscc, "2024000004", citizen(123));
    extra
        .values
        .insert("favourite_colour".into(), FieldValue::Text("红".into()));
    assert_eq!(
        refused(&fx, request(&issuer, &extra)).await.code(),
        "schema_violation"
    );
    let mut date = marriage(uscc, "2024000004", citizen(123));
    date.values.insert(
        "registration_date".into(),
        FieldValue::Text("2023-02-29".into()),
    );
    assert_eq!(
        refused(&fx, request(&issuer, &date)).await.code(),
        "schema_violation"
    );

    // An item whose value differs from what was signed.
    let good = marriage(uscc, "2024000004", citizen(123));
    let mut req = request(&issuer, &good);
    let mut item = Item::decode(&req.items[1]).unwrap();
    item.value = FieldValue::Text("李四".into());
    req.items[1] = item.encode();
    assert_eq!(refused(&fx, req).await.code(), "digest_mismatch");
    // A signed field left out.
    let mut req = request(&issuer, &good);
    req.items.pop();
    assert_eq!(refused(&fx, req).await.code(), "digest_mismatch");
    // The holder item left out.
    let mut req = request(&issuer, &good);
    req.items.remove(0);
    assert_eq!(refused(&fx, req).await.code(), "digest_mismatch");

    // A holder code with a wrong check character, signed as such.
    let (k, chain, _) = principal("issuer-qingdao-civil-affairs");
    let holder = holder_item(vec![1; 16], "111", "370202199001011238");
    let items: Vec<Item> = good
        .values
        .iter()
        .map(|(n, v)| Item {
            salt: vec![2; 16],
            name: n.clone(),
            value: v.clone(),
        })
        .collect();
    let so = SecurityObject {
        type_code: MARRIAGE.into(),
        certificate_id: good.id.as_str().into(),
        issuer: uscc.as_str().into(),
        holder: item_digest(&holder),
        valid_from: "2024-05-20".into(),
        valid_until: None,
        digests: items
            .iter()
            .map(|i| (i.name.clone(), item_digest(i)))
            .collect(),
        signed: NOW,
    };
    let cose = SignedSecurityObject::sign(&so, &k, &chain);
    let all: Vec<Vec<u8>> = std::iter::once(&holder)
        .chain(&items)
        .map(Item::encode)
        .collect();
    let req = IssueRequest {
        security_object: cose,
        items: all.clone(),
    };
    assert_eq!(refused(&fx, req).await.code(), "invalid_holder_code");

    // An identifier with a wrong check character, signed as such.
    let mut so2 = so.clone();
    so2.holder = item_digest(&holder_item(vec![1; 16], "111", citizen(123).as_str()));
    let id = good.id.as_str();
    let stem = &id[..id.len() - 1];
    let wrong = if id.ends_with('A') {
        format!("{stem}B")
    } else {
        format!("{stem}A")
    };
    so2.certificate_id = wrong;
    let mut all2 = all;
    all2[0] = holder_item(vec![1; 16], "111", citizen(123).as_str()).encode();
    let req = IssueRequest {
        security_object: SignedSecurityObject::sign(&so2, &k, &chain),
        items: all2,
    };
    assert_eq!(refused(&fx, req).await.code(), "invalid_certificate_id");
}

#[tokio::test]
async fn non_canonical_cbor_and_garbage_are_refused() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let mut req = request(&issuer, &marriage(uscc, "2024000005", citizen(123)));
    // Re-encode the outer array's header in a longer form: 0x84 → 0x98 0x04.
    assert_eq!(req.security_object[0], 0x84);
    req.security_object.splice(0..1, [0x98, 0x04]);
    assert_eq!(refused(&fx, req).await.code(), "malformed_certificate");
    let req = IssueRequest {
        security_object: b"not cbor".to_vec(),
        items: vec![],
    };
    assert_eq!(refused(&fx, req).await.code(), "malformed_certificate");
    // Trailing bytes after the COSE_Sign1.
    let mut req = request(&issuer, &marriage(uscc, "2024000005", citizen(123)));
    req.security_object.push(0);
    assert_eq!(refused(&fx, req).await.code(), "malformed_certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_identifier_is_admitted_once_even_under_concurrency() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let draft = marriage(uscc, "2024000006", citizen(123));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let svc = fx.svc.clone();
        let req = request(&issuer, &draft);
        tasks.push(tokio::spawn(async move { svc.issue(req).await }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(
                matches!(e.code(), "duplicate_certificate_id" | "busy"),
                "{e}"
            ),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        refused(&fx, request(&issuer, &draft)).await.code(),
        "duplicate_certificate_id"
    );
    // One key registration and one certificate.
    assert_eq!(fx.log.latest().size, 2);
}

#[tokio::test]
async fn a_checked_batch_is_one_append_and_refuses_only_its_bad_members() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    // The key's first use registers it in its own append; after that a batch is one.
    let first = marriage(uscc, "2024000100", citizen(100));
    fx.svc.issue(request(&issuer, &first)).await.unwrap();
    let (size, batches) = (fx.log.latest().size, fx.log.metrics().batches());

    let a = marriage(uscc, "2024000101", citizen(101));
    // Another certificate reusing `a`'s identifier.
    let reused = marriage(uscc, "2024000101", citizen(103));
    // Same new holder as `a`: both must be sealed under one holder key.
    let b = marriage(uscc, "2024000102", citizen(101));
    let check = |d: &proofless_client::issuer::Draft| fx.svc.check(&request(&issuer, d)).unwrap();
    // A checked certificate holds personal data: its `Debug` names only the identifier.
    let shown = format!("{:?}", check(&a));
    assert!(shown.contains(a.id.as_str()), "{shown}");
    for private in ["payload", "pseudonym", citizen(101).as_str()] {
        assert!(!shown.contains(private), "{shown}");
    }
    let results = fx
        .svc
        .admit_checked(vec![
            check(&a),
            check(&reused),
            check(&first),
            check(&b),
            check(&b),
        ])
        .await;
    let codes: Vec<&str> = results
        .iter()
        .map(|r| r.as_ref().map_or_else(CertificateError::code, |_| "ok"))
        .collect();
    assert_eq!(
        codes,
        [
            "ok",
            "duplicate_certificate_id",
            "duplicate_certificate_id",
            "ok",
            "duplicate_certificate_id"
        ]
    );
    let (ia, ib) = (
        results[0].as_ref().unwrap().1.index,
        results[3].as_ref().unwrap().1.index,
    );
    assert_eq!((ia, ib), (size, size + 1), "consecutive, in batch order");
    assert_eq!(fx.log.latest().size, size + 2);
    assert_eq!(fx.log.metrics().batches(), batches + 1, "one commit");
    for (draft, index) in [(&a, ia), (&b, ib)] {
        let view = fx.svc.view(draft.id.as_str()).unwrap();
        assert_eq!((view.issued_index, view.status), (index, "valid"));
        let held = fx.svc.held(index).unwrap();
        let items = fx.svc.disclosure(&held).unwrap().items;
        assert_eq!(items.len(), draft.values.len() + 1, "the payload opens");
    }
    // Nothing of a refused member was written: its holder has no certificate.
    assert!(
        fx.svc
            .holdings(&fx.svc.pseudonym(&citizen(103)), MARRIAGE)
            .unwrap()
            .is_empty()
    );
}

/// `check_all` verifies the signatures of a large batch together: one forged signature
/// among them is refused as `bad_signature`, exactly as `check` refuses it, and only it.
#[tokio::test]
async fn check_all_refuses_only_the_forged_signature_of_a_batch() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let mut reqs: Vec<IssueRequest> = (0..100u16)
        .map(|i| {
            request(
                &issuer,
                &marriage(uscc, &format!("20240300{i:02}"), citizen(i)),
            )
        })
        .collect();
    // One byte of the signature (the COSE_Sign1's last element) changed.
    *reqs[37].security_object.last_mut().unwrap() ^= 0x01;
    let all = fx.svc.check_all(&reqs);
    for (i, (batched, req)) in all.iter().zip(&reqs).enumerate() {
        let one = fx.svc.check(req);
        assert_eq!(
            batched.as_ref().err().map(CertificateError::code),
            one.as_ref().err().map(CertificateError::code),
            "request {i}"
        );
    }
    let refused: Vec<(usize, &str)> = all
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().err().map(|e| (i, e.code())))
        .collect();
    assert_eq!(refused, [(37, "bad_signature")]);
    // The rest are admitted, in one append.
    let checked: Vec<_> = all.into_iter().filter_map(Result::ok).collect();
    let results = fx.svc.admit_checked(checked).await;
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn status_lifecycle() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let holder = citizen(123);
    let first = marriage(uscc, "2024000007", holder);
    let second = marriage(uscc, "2024000008", holder);
    fx.svc.issue(request(&issuer, &first)).await.unwrap();
    let id = &first.id;
    // `status_now` (what the import reads before signing a status line) agrees with
    // `view` at every step.
    let latest = |fx: &Fx| {
        let v = fx.svc.view(id.as_str()).unwrap();
        let now = fx.svc.status_now(id.as_str()).unwrap();
        assert_eq!(
            (now.status, now.successor.as_deref(), now.latest_index),
            (v.status, v.successor.as_deref(), v.latest_index)
        );
        v.latest_index
    };
    let change = |st: Status, succ: Option<&CertificateId>, prev: u64| {
        BASE64_STANDARD
            .decode(issuer.status_body(id, st, succ, prev, NOW).statement)
            .unwrap()
    };

    let a = fx
        .svc
        .change_status(&change(Status::Suspended, None, latest(&fx)))
        .await
        .unwrap();
    verify_admitted(&a, &fx);
    assert_eq!(fx.svc.view(id.as_str()).unwrap().status, "suspended");
    assert!(matches!(
        fx.svc.current(&holder, MARRIAGE),
        Err(CertificateError::NotFound)
    ));
    // Replaying the same statement: it no longer follows the latest entry.
    let before = fx.log.latest().size;
    assert_eq!(
        fx.svc
            .change_status(&change(Status::Suspended, None, 1))
            .await
            .unwrap_err()
            .code(),
        "stale_status"
    );
    fx.svc
        .change_status(&change(Status::Valid, None, latest(&fx)))
        .await
        .unwrap();
    assert_eq!(fx.svc.view(id.as_str()).unwrap().status, "valid");

    // Another issuer may not touch it.
    let (k, c, _) = principal("issuer-qingdao-public-security");
    let other = Issuer::new(k, c);
    let st = BASE64_STANDARD
        .decode(
            other
                .status_body(id, Status::Revoked, None, latest(&fx), NOW)
                .statement,
        )
        .unwrap();
    assert_eq!(
        fx.svc.change_status(&st).await.unwrap_err().code(),
        "not_certificate_issuer"
    );

    // Supersede needs an existing successor of the same holder and type.
    let ghost =
        CertificateId::new(TypeCode::parse(MARRIAGE).unwrap(), uscc, "2024999999", 1).unwrap();
    assert_eq!(
        fx.svc
            .change_status(&change(Status::Superseded, Some(&ghost), latest(&fx)))
            .await
            .unwrap_err()
            .code(),
        "invalid_successor"
    );
    let stranger = marriage(uscc, "2024000009", citizen(125));
    fx.svc.issue(request(&issuer, &stranger)).await.unwrap();
    assert_eq!(
        fx.svc
            .change_status(&change(Status::Superseded, Some(&stranger.id), latest(&fx)))
            .await
            .unwrap_err()
            .code(),
        "invalid_successor"
    );
    fx.svc.issue(request(&issuer, &second)).await.unwrap();
    fx.svc
        .change_status(&change(Status::Superseded, Some(&second.id), latest(&fx)))
        .await
        .unwrap();
    let v = fx.svc.view(id.as_str()).unwrap();
    assert_eq!(
        (v.status, v.successor.as_deref()),
        ("superseded", Some(second.id.as_str()))
    );
    assert_eq!(latest(&fx), v.latest_index);
    assert_eq!(
        fx.svc.current(&holder, MARRIAGE).unwrap().certificate_id,
        second.id.as_str()
    );

    // Superseding twice, and reinstating a superseded certificate, are impossible.
    let size = fx.log.latest().size;
    for (st, succ) in [
        (Status::Superseded, Some(&second.id)),
        (Status::Valid, None),
        (Status::Revoked, None),
    ] {
        let e = fx
            .svc
            .change_status(&change(st, succ, latest(&fx)))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "invalid_status_transition", "{st:?}");
    }
    assert_eq!(
        fx.log.latest().size,
        size,
        "refused changes appended nothing"
    );

    // Revoked is final too.
    let id2 = &second.id;
    let l2 = fx.svc.view(id2.as_str()).unwrap().latest_index;
    fx.svc
        .change_status(
            &BASE64_STANDARD
                .decode(
                    issuer
                        .status_body(id2, Status::Revoked, None, l2, NOW)
                        .statement,
                )
                .unwrap(),
        )
        .await
        .unwrap();
    let l2 = fx.svc.view(id2.as_str()).unwrap().latest_index;
    let e = fx
        .svc
        .change_status(
            &BASE64_STANDARD
                .decode(
                    issuer
                        .status_body(id2, Status::Valid, None, l2, NOW)
                        .statement,
                )
                .unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), "invalid_status_transition");
    assert!(before < fx.log.latest().size);
}

#[tokio::test]
async fn expiry_is_applied_at_lookup() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let mut d = marriage(uscc, "2024000012", citizen(123));
    d.valid_until = Some("2027-06-30".into());
    fx.svc.issue(request(&issuer, &d)).await.unwrap();
    assert_eq!(fx.svc.view(d.id.as_str()).unwrap().status, "valid");
    assert_eq!(fx.svc.status_now(d.id.as_str()).unwrap().status, "valid");
    fx.clock.set(NOW + 200 * 86_400_000);
    assert_eq!(fx.svc.view(d.id.as_str()).unwrap().status, "expired");
    assert_eq!(fx.svc.status_now(d.id.as_str()).unwrap().status, "expired");
    assert!(matches!(
        fx.svc.status_now(
            "1.2.156.3005.2.11100000PL00000014901.11370200MB00001015.20210000000000.001.T"
        ),
        Err(CertificateError::NotFound)
    ));
    // Reversed validity is refused at issuance.
    fx.clock.set(NOW);
    let mut r = marriage(uscc, "2024000013", citizen(123));
    r.valid_until = Some("2020-01-01".into());
    assert_eq!(
        refused(&fx, request(&issuer, &r)).await.code(),
        "invalid_validity"
    );
}

/// The first certificates of a new holder, issued at once, all use one holder key: none
/// fails, and every payload opens with the key that was stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_certificates_of_a_holder_share_one_key() {
    let fx = fx();
    let (issuer, uscc) = civil_affairs();
    let holder = citizen(321);
    let mut tasks = Vec::new();
    for i in 0..16 {
        let svc = fx.svc.clone();
        let req = request(&issuer, &marriage(uscc, &format!("2024200{i:03}"), holder));
        tasks.push(tokio::spawn(
            async move { svc.issue(req).await.unwrap().index },
        ));
    }
    let mut indices = Vec::new();
    for t in tasks {
        indices.push(t.await.unwrap());
    }
    let key: [u8; 32] = fx
        .store
        .get(Table::HolderKeys, &fx.svc.pseudonym(&holder))
        .unwrap()
        .unwrap()
        .try_into()
        .unwrap();
    // Every payload opens with the one stored key.
    let mut opened = 0;
    for index in &indices {
        let sealed = fx
            .store
            .get(Table::Payloads, &index.to_be_bytes())
            .unwrap()
            .unwrap();
        let v = fx.svc.view(&{
            let Entry::CertificateIssued(ci) =
                Entry::decode(&fx.log.entry(*index).unwrap().entry).unwrap()
            else {
                panic!()
            };
            SignedSecurityObject::parse(&ci.security_object)
                .unwrap()
                .object()
                .certificate_id
                .clone()
        });
        let id = v.unwrap().certificate_id;
        vault::open(&key, id.as_bytes(), &sealed).unwrap();
        opened += 1;
    }
    assert_eq!(opened, 16);
}
