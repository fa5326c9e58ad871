//! The committed `keys-example/` is exactly what `proofless keys example` writes.

use crate::{repo_root, run};

#[test]
fn committed_example_keys_are_what_the_command_generates() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["keys", "example", "--out", dir.path().to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let committed = repo_root().join("keys-example");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert!(names.len() >= 7, "{names:?}");
    for name in &names {
        let fresh = std::fs::read(dir.path().join(name)).unwrap();
        let kept = std::fs::read(committed.join(name))
            .unwrap_or_else(|_| panic!("keys-example/{name} is not committed"));
        assert!(
            fresh == kept,
            "keys-example/{name} differs from the generator: run `cargo run -p proofless-cli -- keys example --out keys-example`"
        );
    }
    // And nothing is committed there that the command does not write.
    let mut kept: Vec<_> = std::fs::read_dir(&committed)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    kept.sort();
    assert_eq!(kept, names);
}

#[test]
fn example_ledger_certificate_is_for_the_example_ledger_key() {
    use proofless_core::checkpoint::LedgerSigner;
    let dir = repo_root().join("keys-example");
    let skey = std::fs::read_to_string(dir.join("ledger.key")).unwrap();
    let signer = LedgerSigner::from_skey(skey.trim()).unwrap();
    assert_eq!(
        std::fs::read_to_string(dir.join("ledger.vkey"))
            .unwrap()
            .trim(),
        signer.vkey()
    );
    let pem = std::fs::read(dir.join("ledger.crt.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(&pem.contents).unwrap();
    assert_eq!(
        cert.public_key().raw,
        proofless_core::keys::ed25519_spki_der(signer.verifying_key().as_bytes())
    );
    // The role is carried as an extended key usage.
    let eku = cert.extended_key_usage().unwrap().unwrap();
    let want = proofless_core::keys::Role::Ledger.oid_der();
    // Compare the OID's content octets: its last arc is too large for a u64.
    assert!(
        eku.value.other.iter().any(|o| o.as_bytes() == &want[2..]),
        "{:?}",
        eku.value.other
    );
    assert!(
        std::fs::read_to_string(dir.join("README.md"))
            .unwrap()
            .contains("NEVER FOR PRODUCTION")
    );
}

/// 2027-01-01T00:00:00Z: inside every example certificate's validity.
const EXAMPLE_NOW: i64 = 1_798_761_600;

fn role_named(name: &str) -> proofless_core::keys::Role {
    proofless_core::keys::Role::from_name(name).unwrap_or_else(|| panic!("unknown role {name}"))
}

fn example_anchor() -> proofless_core::pki::TrustAnchor {
    let pem = std::fs::read(repo_root().join("keys-example/trust-anchor.crt.pem")).unwrap();
    proofless_core::pki::TrustAnchor::from_pem(&pem).unwrap()
}

fn certificate_der(file: &str) -> Vec<u8> {
    let pem = std::fs::read(repo_root().join("keys-example").join(file)).unwrap();
    proofless_core::pki::pem_certificate(&pem, proofless_core::pki::Position::Chain(0)).unwrap()
}

fn principals_json() -> serde_json::Value {
    let text = std::fs::read_to_string(repo_root().join("keys-example/principals.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn every_example_principal_validates_for_its_role_and_no_other() {
    use ed25519_dalek::ed25519::pkcs8::DecodePrivateKey;
    use proofless_core::keys::Role;
    use proofless_core::pki::{self, PkiError};

    let anchor = example_anchor();
    let json = principals_json();
    assert_eq!(json["trust_anchor"], "trust-anchor.crt.pem");
    let principals = json["principals"].as_array().unwrap();
    let mut count = std::collections::BTreeMap::<&str, usize>::new();
    for p in principals {
        let name = p["name"].as_str().unwrap();
        let role = role_named(p["role"].as_str().unwrap());
        *count.entry(role.name()).or_default() += 1;
        assert_eq!(p["key"], format!("{name}.key.pem"));
        assert_eq!(p["certificate"], format!("{name}.crt.pem"));
        assert!(name.starts_with(&format!("{}-", role.name())), "{name}");

        let der = certificate_der(p["certificate"].as_str().unwrap());
        let principal = pki::validate(std::slice::from_ref(&der), &anchor, role, EXAMPLE_NOW)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            principal.organisation().map(|u| u.to_string()),
            Some(p["uscc"].as_str().unwrap().to_owned()),
            "{name}"
        );
        let types: Vec<&str> = principal
            .certificate_types()
            .iter()
            .map(|t| t.as_str())
            .collect();
        let listed: Vec<&str> = p["type_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(types, listed, "{name}");
        assert_eq!(role == Role::Issuer, !types.is_empty(), "{name}");
        assert_eq!(p["key_id"], hex::encode(principal.key_id()), "{name}");
        assert!(principal.common_name().unwrap().contains("EXAMPLE"));
        // The committed private key is the certified key.
        let key_pem = std::fs::read_to_string(
            repo_root()
                .join("keys-example")
                .join(format!("{name}.key.pem")),
        )
        .unwrap();
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&key_pem).unwrap();
        assert_eq!(&key.verifying_key(), principal.verifying_key(), "{name}");

        // Valid only for its own role, and only within 2026-01-01 .. 2031-01-01.
        for other in Role::ALL.into_iter().filter(|r| *r != role) {
            assert!(
                matches!(
                    pki::validate(std::slice::from_ref(&der), &anchor, other, EXAMPLE_NOW),
                    Err(PkiError::MissingRole { .. })
                ),
                "{name} validates as {}",
                other.name()
            );
        }
        assert!(matches!(
            pki::validate(&[der], &anchor, role, 1_924_992_001),
            Err(PkiError::Expired { .. })
        ));
    }
    assert!(count["issuer"] >= 6, "{count:?}");
    assert_eq!(count["department"], 3, "{count:?}");
    assert_eq!(count["channel"], 1, "{count:?}");
    assert_eq!(count["auditor"], 1, "{count:?}");
    assert_eq!(count["witness"], 1, "{count:?}");

    // The ledger's certificate passes the same policy.
    let ledger = certificate_der("ledger.crt.pem");
    pki::validate(&[ledger], &anchor, Role::Ledger, EXAMPLE_NOW).unwrap();

    // Every principal file in the directory is listed, and every key and serial is distinct.
    let listed: std::collections::BTreeSet<String> = principals
        .iter()
        .flat_map(|p| {
            [
                p["key"].as_str().unwrap().to_owned(),
                p["certificate"].as_str().unwrap().to_owned(),
            ]
        })
        .collect();
    let mut serials = std::collections::BTreeSet::new();
    let mut key_ids = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(repo_root().join("keys-example")).unwrap() {
        let file = entry.unwrap().file_name().into_string().unwrap();
        if !file.ends_with(".pem") {
            continue;
        }
        if !file.starts_with("trust-anchor.") && !file.starts_with("ledger.") {
            assert!(listed.contains(&file), "{file} is not in principals.json");
        }
        if file.ends_with(".crt.pem") {
            let der = certificate_der(&file);
            let (_, cert) = x509_parser::parse_x509_certificate(&der).unwrap();
            assert!(
                serials.insert(cert.raw_serial().to_vec()),
                "{file}: serial reused"
            );
            assert!(
                key_ids.insert(cert.public_key().raw.to_vec()),
                "{file}: key reused"
            );
        }
    }
    assert_eq!(serials.len(), principals.len() + 2);
}

#[test]
fn every_certificate_type_is_allowed_to_exactly_one_example_issuer() {
    let mut schema_types = std::collections::BTreeSet::new();
    for entry in std::fs::read_dir(repo_root().join("schemas/certificates")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let schema: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let code = schema["x-proofless"]["type_code"]
            .as_str()
            .unwrap_or_else(|| panic!("{} has no x-proofless.type_code", path.display()));
        assert!(schema_types.insert(code.to_owned()), "{code} defined twice");
    }
    assert!(schema_types.len() >= 30, "{}", schema_types.len());

    // Read the allowed types from the certificates themselves, not the JSON listing.
    let anchor = example_anchor();
    let mut allowed = std::collections::BTreeMap::<String, Vec<String>>::new();
    for p in principals_json()["principals"].as_array().unwrap() {
        if p["role"] != "issuer" {
            continue;
        }
        let name = p["name"].as_str().unwrap();
        let der = certificate_der(p["certificate"].as_str().unwrap());
        let principal = proofless_core::pki::validate(
            &[der],
            &anchor,
            proofless_core::keys::Role::Issuer,
            EXAMPLE_NOW,
        )
        .unwrap();
        for t in principal.certificate_types() {
            allowed
                .entry(t.as_str().to_owned())
                .or_default()
                .push(name.to_owned());
        }
    }
    for code in &schema_types {
        match allowed.get(code).map(Vec::as_slice) {
            Some([_]) => {}
            Some(more) => panic!("{code} is allowed to several example issuers: {more:?}"),
            None => panic!(
                "{code} is allowed to no example issuer: add it in crates/cli/src/keys.rs and run `cargo run -p proofless-cli -- keys example --out keys-example`"
            ),
        }
    }
    for code in allowed.keys() {
        assert!(
            schema_types.contains(code),
            "{code} is allowed to an example issuer but has no schema"
        );
    }
}
