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
