//! `proofless check` on a data directory made by `proofless demo-data` and `proofless
//! import`: exit 0 with a summary when clean, 1 with the findings named when not, 2 on
//! usage errors; JSON output; nothing written.

use crate::{repo_root, run};
use proofless_store::{RedbStore, Store, Table};
use std::path::Path;

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A realistic data directory: 10 holders' certificates and their status changes,
/// imported with the example keys (so `ledger.key` is the configured one, not in the
/// directory).
fn imported(dir: &Path) -> std::path::PathBuf {
    let keys = repo_root().join("keys-example");
    let input = dir.join("in.jsonl");
    let data = dir.join("data");
    let o = run(&[
        "demo-data",
        "--holders",
        "10",
        "--out",
        input.to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let o = run(&[
        "import",
        "--config",
        keys.join("proofless.toml").to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--issuer-keys",
        keys.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    data
}

#[test]
fn check_passes_an_imported_store_and_names_each_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let data = imported(dir.path());
    let vkey = format!(
        "@{}",
        repo_root().join("keys-example/ledger.vkey").display()
    );
    let file = data.join(proofless_store::redb_store::FILE_NAME);
    let before = std::fs::read(&file).unwrap();

    let o = run(&["check", "--data", data.to_str().unwrap(), "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("checkpoint signature verified"), "{out}");
    assert!(out.contains("ok: "), "{out}");
    assert!(out.contains("certificates "), "{out}");
    assert_eq!(std::fs::read(&file).unwrap(), before, "check wrote nothing");

    // With the configuration (as for `serve` and `import`): its data directory's store,
    // its ledger key.
    let o = run(&[
        "check",
        "--config",
        repo_root()
            .join("keys-example/proofless.toml")
            .to_str()
            .unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains("checkpoint signature verified"),
        "{}",
        text(&o)
    );

    // Without a key in the directory or on the command line: clean, signature not checked.
    let o = run(&["check", "--data", data.to_str().unwrap(), "--quiet"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("not checked"), "{}", text(&o));

    let o = run(&[
        "check",
        "--data",
        data.to_str().unwrap(),
        "--vkey",
        &vkey,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean"], true);
    assert_eq!(v["summary"]["signature_checked"], true);
    let certificates = v["summary"]["certificates"].as_u64().unwrap();
    assert!(certificates > 10, "{v}");
    assert_eq!(v["summary"]["payloads"].as_u64(), Some(certificates));
    assert_eq!(v["summary"]["rows"]["status"].as_u64(), Some(certificates));

    // Delete one index row and one payload through the store: exit 1, each named.
    {
        let store = RedbStore::open(&data).unwrap();
        let (cert_key, _) = store
            .scan(Table::Certificates, b"", None, 1)
            .unwrap()
            .pop()
            .unwrap();
        assert!(store.delete(Table::Certificates, &cert_key).unwrap());
        let (payload_key, _) = store
            .scan(Table::Payloads, b"", None, 1)
            .unwrap()
            .pop()
            .unwrap();
        assert!(store.delete(Table::Payloads, &payload_key).unwrap());
    }
    let o = run(&["check", "--data", data.to_str().unwrap(), "--vkey", &vkey]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("certificates["), "{out}");
    assert!(out.contains("payloads[issued "), "{out}");
    assert!(out.contains("FAILED: "), "{out}");
    let o = run(&[
        "check",
        "--data",
        data.to_str().unwrap(),
        "--vkey",
        &vkey,
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["clean"], false);
    let tables: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["table"].as_str().unwrap())
        .collect();
    assert!(
        tables.contains(&"certificates") && tables.contains(&"payloads"),
        "{v}"
    );

    // Usage errors: exit 2.
    let o = run(&[
        "check",
        "--data",
        dir.path().join("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&[
        "check",
        "--data",
        data.to_str().unwrap(),
        "--vkey",
        "garbage",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = run(&["check", "--data", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("no ledger.redb"), "{}", text(&o));
    assert!(!empty.join("ledger.redb").exists(), "nothing created");
    let o = run(&["check", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}
