//! The synthetic data generator (`src/demo.rs`, compiled into this test binary as well):
//! every record satisfies its type's schema and the principals' permissions, agrees with
//! its holder, and the mix of holders, types and statuses is the one documented.

#[path = "../../src/demo.rs"]
mod demo_src;

use crate::repo_root;
use demo_src::{AS_OF, DemoRecord, DemoStatus, Generator, Kind, Principal, load_principals};
use proofless_core::cert::FieldValue;
use proofless_core::ids::{CertificateId, HolderCode, TypeCode};
use proofless_ledger::catalog::Catalog;
use std::collections::{BTreeMap, HashSet};

const SEED: u64 = 20_250_630;
const HOLDERS: u64 = 2_000;

fn catalog() -> Catalog {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../schemas/certificates");
    let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), text)
        })
        .collect();
    files.sort();
    Catalog::load(&files).unwrap()
}

fn principals() -> Vec<Principal> {
    load_principals(&repo_root().join("keys-example")).unwrap()
}

/// Everything about a record that the generator decides, as text.
fn fingerprint(r: &DemoRecord) -> String {
    let status = match &r.status {
        None => "-".to_owned(),
        Some(DemoStatus::Suspended) => "suspended".to_owned(),
        Some(DemoStatus::Revoked) => "revoked".to_owned(),
        Some(DemoStatus::SupersededBy(s)) => format!("superseded by {}", fingerprint(s)),
    };
    format!(
        "{} {} {}:{} {}..{:?} {:?} {status}",
        r.issuer,
        r.draft.id,
        r.draft.holder.code_type(),
        r.draft.holder.as_str(),
        r.draft.valid_from,
        r.draft.valid_until,
        r.draft.values,
    )
}

fn to_json(values: &BTreeMap<String, FieldValue>) -> serde_json::Value {
    values
        .iter()
        .map(|(k, v)| {
            let v = match v {
                FieldValue::Text(s) => serde_json::Value::from(s.as_str()),
                FieldValue::Int(i) => serde_json::Value::from(*i),
                FieldValue::Bool(b) => serde_json::Value::from(*b),
            };
            (k.clone(), v)
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

use proofless_ledger::clock::is_date;

fn text<'a>(r: &'a DemoRecord, field: &str) -> Option<&'a str> {
    match r.draft.values.get(field) {
        Some(FieldValue::Text(s)) => Some(s),
        _ => None,
    }
}

/// The values of a record agree with its holder code.
fn check_consistent_with_holder(r: &DemoRecord) {
    let what = r.draft.id.as_str();
    match r.draft.holder {
        HolderCode::Citizen(id) => {
            for f in [
                "citizen_id_number",
                "holder_id_number",
                "id_number",
                "social_security_number",
                "driving_licence_number",
            ] {
                if let Some(v) = text(r, f) {
                    assert_eq!(v, id.as_str(), "{what}: {f}");
                }
            }
            let sex = if id.is_male() { "男" } else { "女" };
            for f in ["sex", "holder_sex"] {
                if let Some(v) = text(r, f) {
                    assert_eq!(v, sex, "{what}: {f}");
                }
            }
            let (y, m, d) = id.birth_date();
            let birth = format!("{y:04}-{m:02}-{d:02}");
            for f in ["birth_date", "holder_birth_date"] {
                if let Some(v) = text(r, f) {
                    assert_eq!(v, birth, "{what}: {f}");
                }
            }
            if let Some(v) = text(r, "disability_certificate_number") {
                assert!(v.starts_with(id.as_str()), "{what}");
            }
            if let (Some(a), Some(b)) = (text(r, "holder_sex"), text(r, "spouse_sex")) {
                assert_ne!(a, b, "{what}: spouses");
            }
        }
        HolderCode::Organisation(code) => {
            for f in ["uscc", "holder_code"] {
                if let Some(v) = text(r, f) {
                    assert_eq!(v, code.as_str(), "{what}: {f}");
                }
            }
        }
        _ => panic!("{what}: unexpected holder kind"),
    }
}

#[test]
fn every_generated_type_is_in_the_catalog_and_has_an_issuer() {
    let catalog = catalog();
    let principals = principals();
    assert!(!principals.is_empty());
    for kind in Kind::ALL {
        let code = TypeCode::parse(kind.code()).unwrap();
        assert!(catalog.get(code.as_str()).is_some(), "{kind:?}");
        assert!(
            principals
                .iter()
                .any(|(_, _, codes)| codes.iter().any(|c| c == kind.code())),
            "{kind:?} has no issuer in principals.json"
        );
    }
}

#[test]
fn two_thousand_holders_validate_and_have_a_realistic_mix() {
    let catalog = catalog();
    let principals = principals();
    let may_issue: BTreeMap<&str, &Principal> =
        principals.iter().map(|p| (p.0.as_str(), p)).collect();
    let as_of = format!("{:04}-{:02}-{:02}", AS_OF.0, AS_OF.1, AS_OF.2);
    let mut generator = Generator::new(SEED, &principals);

    let mut ids = HashSet::new();
    let mut holder_codes = HashSet::new();
    let mut by_type: BTreeMap<String, usize> = BTreeMap::new();
    let (mut citizens, mut adults, mut records) = (0usize, 0usize, 0usize);
    let (mut suspended, mut revoked, mut superseded) = (0usize, 0usize, 0usize);

    for n in 0..HOLDERS {
        let holder = generator.holder(n);
        assert!(!holder.is_empty(), "holder {n} has no certificates");
        let code = holder[0].draft.holder;
        assert!(holder_codes.insert(code), "holder {n}: holder code repeats");
        let mut types = HashSet::new();
        // Each record, then its successor if it has one.
        let mut all: Vec<(&DemoRecord, Option<&DemoRecord>)> = Vec::new();
        for r in &holder {
            records += 1;
            all.push((r, None));
            match &r.status {
                None => {}
                Some(DemoStatus::Suspended) => suspended += 1,
                Some(DemoStatus::Revoked) => revoked += 1,
                Some(DemoStatus::SupersededBy(s)) => {
                    superseded += 1;
                    all.push((s, Some(r)));
                }
            }
        }
        for (r, predecessor) in all {
            let d = &r.draft;
            let what = d.id.as_str();
            assert_eq!(d.holder, code, "{what}: all of a holder's records name it");
            assert_eq!(
                HolderCode::parse(d.holder.code_type(), d.holder.as_str()).unwrap(),
                d.holder
            );
            assert_eq!(CertificateId::parse(what).unwrap(), d.id);
            assert!(ids.insert(what.to_owned()), "{what}: identifier repeats");

            let type_code = d.id.type_code();
            let cert_type = catalog.get(type_code.as_str()).unwrap();
            assert!(
                cert_type.holder_code_types.contains(&d.holder.code_type()),
                "{what}: holder kind"
            );
            if let Err(e) = cert_type.validate(&to_json(&d.values)) {
                panic!("{what} ({}): {e}", cert_type.name_zh);
            }
            let (_, uscc, codes) = may_issue[r.issuer.as_str()];
            assert_eq!(d.id.issuer(), *uscc, "{what}: issuer USCC");
            assert!(
                codes.iter().any(|c| c == type_code.as_str()),
                "{what}: not its issuer's type"
            );

            assert!(
                is_date(&d.valid_from) && d.valid_from <= as_of,
                "{what}: valid_from"
            );
            if let Some(until) = &d.valid_until {
                assert!(is_date(until) && *until >= as_of, "{what}: valid_until");
            }
            check_consistent_with_holder(r);

            match predecessor {
                None => {
                    assert_eq!(d.id.version(), 1, "{what}");
                    assert!(
                        types.insert(type_code),
                        "{what}: two of a type for one holder"
                    );
                    *by_type.entry(cert_type.name_zh.clone()).or_default() += 1;
                }
                Some(p) => {
                    assert_eq!(d.id.version(), 2, "{what}");
                    assert_eq!(d.id.type_code(), p.draft.id.type_code());
                    assert_eq!(d.id.issuer(), p.draft.id.issuer());
                    assert_eq!(d.id.serial(), p.draft.id.serial());
                    assert_eq!(r.issuer, p.issuer);
                    assert!(d.valid_from >= p.draft.valid_from, "{what}");
                    assert!(r.status.is_none(), "{what}: a successor keeps its status");
                }
            }
        }

        let has = |kind: Kind| types.contains(&TypeCode::parse(kind.code()).unwrap());
        match code {
            HolderCode::Citizen(id) => {
                citizens += 1;
                assert!(
                    has(Kind::IdCard) && has(Kind::SocialSecurityCard),
                    "holder {n}"
                );
                let (y, m, d) = id.birth_date();
                let adult = (i32::from(y) + 18, u32::from(m), u32::from(d)) <= AS_OF;
                adults += usize::from(adult);
                assert_eq!(has(Kind::BirthCertificate), !adult, "holder {n}");
                assert!(id.region_code().starts_with("3702"), "holder {n}");
                assert!((1940..=2024).contains(&y), "holder {n}");
            }
            HolderCode::Organisation(uscc) => {
                assert!(has(Kind::BusinessLicence), "holder {n}");
                assert!(uscc.as_str().starts_with("913702"), "holder {n}");
            }
            _ => panic!("holder {n}: unexpected holder kind"),
        }
    }

    let share = |count: usize, of: usize| count as f64 / of as f64;
    let companies = HOLDERS as usize - citizens;
    println!(
        "{HOLDERS} holders: {citizens} citizens ({adults} adults), {companies} companies; \
         {records} certificates (+{superseded} successors); \
         {suspended} suspended, {revoked} revoked, {superseded} superseded"
    );
    for (name, count) in &by_type {
        println!("  {name}: {count}");
    }
    assert!((0.77..0.83).contains(&share(citizens, HOLDERS as usize)));
    assert!(by_type.len() >= 12, "{by_type:?}");
    assert!(
        (0.02..0.04).contains(&share(suspended, records)),
        "suspended"
    );
    assert!((0.012..0.03).contains(&share(revoked, records)), "revoked");
    assert!(
        (0.012..0.03).contains(&share(superseded, records)),
        "superseded"
    );
    let of_type = |name: &str| by_type.get(name).copied().unwrap_or(0);
    assert!(
        (0.3..0.6).contains(&share(of_type("结婚证"), adults)),
        "结婚证"
    );
    assert!(of_type("离婚证") > 0);
    assert!(
        (0.25..0.45).contains(&share(of_type("机动车驾驶证"), adults)),
        "驾驶证"
    );
    assert!(
        (0.15..0.35).contains(&share(of_type("不动产权证书"), adults)),
        "不动产"
    );
    assert!(
        (0.2..0.4).contains(&share(of_type("毕业证书"), adults)),
        "毕业证书"
    );
    assert!(
        (0.2..0.4).contains(&share(of_type("食品经营许可证"), companies)),
        "食品"
    );
    for rare in [
        "残疾人证",
        "医师执业证书",
        "护士执业证书",
        "道路运输经营许可证",
    ] {
        assert!(of_type(rare) > 0, "{rare}");
    }
}

#[test]
fn output_depends_on_the_seed_and_the_holder_number_only() {
    let principals = principals();
    let run = |seed: u64, holders: std::ops::Range<u64>| -> Vec<String> {
        let mut generator = Generator::new(seed, &principals);
        holders
            .flat_map(|n| generator.holder(n))
            .map(|r| fingerprint(&r))
            .collect()
    };
    let first = run(7, 0..200);
    assert_eq!(first, run(7, 0..200));
    // Holder 150 alone is holder 150 of a sequential run.
    let alone = run(7, 150..151);
    let mut generator = Generator::new(7, &principals);
    let in_sequence: Vec<String> = (0..200)
        .map(|n| generator.holder(n))
        .nth(150)
        .unwrap()
        .iter()
        .map(fingerprint)
        .collect();
    assert_eq!(alone, in_sequence);
    // Another seed changes (nearly) every holder.
    let other = run(8, 0..200);
    let same = first.iter().filter(|f| other.contains(f)).count();
    assert!(
        same < first.len() / 100,
        "{same} of {} records identical",
        first.len()
    );
}

#[test]
fn types_without_an_issuer_are_left_out() {
    let only_public_security: Vec<Principal> = principals()
        .into_iter()
        .filter(|(stem, _, _)| stem == "issuer-qingdao-public-security")
        .collect();
    let mut generator = Generator::new(SEED, &only_public_security);
    let records: Vec<DemoRecord> = (0..200).flat_map(|n| generator.holder(n)).collect();
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|r| r.issuer == "issuer-qingdao-public-security")
    );
}
