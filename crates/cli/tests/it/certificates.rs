//! `proofless issue`, `certificate verify` and `import` as a user runs them.

use crate::{repo_root, run};
use std::path::Path;

const MARRIAGE: &str = r#"{"type_code":"11100000PL00000027901","serial":"SERIAL","holder_code_type":"111","holder_code":"370202199001011237","valid_from":"2024-05-20",
 "values":{"holder_name":"张伟","registration_date":"2024-05-20","certificate_number":"J370202-2024-000123","holder_sex":"SEX","holder_nationality":"中国","holder_birth_date":"1990-01-01","holder_id_number":"370202199001011237","spouse_name":"王芳","spouse_sex":"女","spouse_nationality":"中国","spouse_birth_date":"1992-03-04","spouse_id_number":"370202199203040028","registration_authority":"青岛市市南区民政局"}}"#;

fn keys() -> std::path::PathBuf {
    repo_root().join("keys-example")
}

/// Signs a marriage certificate with the example civil-affairs issuer into `out`.
fn issue_to(dir: &Path, serial: &str, sex: &str, out: &Path) -> std::process::Output {
    let values = dir.join(format!("{serial}.json"));
    std::fs::write(
        &values,
        MARRIAGE.replace("SERIAL", serial).replace("SEX", sex),
    )
    .unwrap();
    let k = keys();
    run(&[
        "issue",
        "--values",
        values.to_str().unwrap(),
        "--issuer-key",
        k.join("issuer-qingdao-civil-affairs.key.pem")
            .to_str()
            .unwrap(),
        "--issuer-cert",
        k.join("issuer-qingdao-civil-affairs.crt.pem")
            .to_str()
            .unwrap(),
        "--trust-anchor",
        k.join("trust-anchor.crt.pem").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn issue_then_verify_offline_and_any_changed_byte_fails() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.json");
    let o = issue_to(dir.path(), "2024000001", "男", &cert);
    assert!(o.status.success(), "{}", text(&o));
    let anchor = keys().join("trust-anchor.crt.pem");
    let verify = |f: &Path| {
        run(&[
            "certificate",
            "verify",
            "--file",
            f.to_str().unwrap(),
            "--trust-anchor",
            anchor.to_str().unwrap(),
        ])
    };
    let o = verify(&cert);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("14 disclosed items verified"),
        "{}",
        text(&o)
    );

    // Change one disclosed value (re-encoded as valid base64): the digest check fails.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cert).unwrap()).unwrap();
    use base64::{Engine, prelude::BASE64_STANDARD};
    let mut item = BASE64_STANDARD
        .decode(v["items"][3].as_str().unwrap())
        .unwrap();
    let last = item.len() - 1;
    item[last] ^= 1;
    v["items"][3] = BASE64_STANDARD.encode(&item).into();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = verify(&bad);
    assert!(!o.status.success());
    assert!(text(&o).contains("FAILED"), "{}", text(&o));
    // Change one byte of the signature.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&cert).unwrap()).unwrap();
    let mut cose = BASE64_STANDARD
        .decode(v["security_object"].as_str().unwrap())
        .unwrap();
    let last = cose.len() - 1;
    cose[last] ^= 1;
    v["security_object"] = BASE64_STANDARD.encode(&cose).into();
    std::fs::write(&bad, serde_json::to_vec(&v).unwrap()).unwrap();
    let o = verify(&bad);
    assert!(
        !o.status.success() && text(&o).contains("signature"),
        "{}",
        text(&o)
    );
    // Against another trust anchor (the ledger's certificate is no CA): refused.
    let o = run(&[
        "certificate",
        "verify",
        "--file",
        cert.to_str().unwrap(),
        "--trust-anchor",
        keys().join("ledger.crt.pem").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
}

#[test]
fn import_reports_bad_lines_resumes_and_never_imports_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for (i, sex) in ["男", "男", "X", "女"].iter().enumerate() {
        let out = dir.path().join(format!("c{i}.json"));
        let o = issue_to(dir.path(), &format!("20240010{i:02}"), sex, &out);
        assert!(o.status.success(), "{}", text(&o));
        lines.push(String::from_utf8(std::fs::read(&out).unwrap()).unwrap());
    }
    // 1 ok, 2 garbage, 3 ok, 4 schema violation, 5 duplicate of 1, 6 ok, 7 status change.
    let first_id = {
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        let file: proofless_client::certificate::CertificateFile =
            serde_json::from_value(v).unwrap();
        let anchor = proofless_core::pki::TrustAnchor::from_pem(
            &std::fs::read(keys().join("trust-anchor.crt.pem")).unwrap(),
        )
        .unwrap();
        proofless_client::certificate::verify_certificate(&file, &anchor, None)
            .unwrap()
            .object
            .certificate_id
    };
    let input = dir.path().join("in.jsonl");
    let status = format!(
        r#"{{"status":"revoked","certificate_id":"{first_id}","issuer":"issuer-qingdao-civil-affairs"}}"#
    );
    let body = [
        lines[0].as_str(),
        "{not json",
        lines[1].as_str(),
        lines[2].as_str(),
        lines[0].as_str(),
        lines[3].as_str(),
        status.as_str(),
    ]
    .join("\n");
    std::fs::write(&input, body).unwrap();
    let data = dir.path().join("data");
    let import = |extra: &[&str]| import_into(&input, &data, extra);
    let o = import(&[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("imported 4"), "{}", text(&o));
    assert!(text(&o).contains("skipped 1"), "{}", text(&o));
    assert!(text(&o).contains("2 errors"), "{}", text(&o));
    // The holder-access index was saved to the end of the log: the server reads none of
    // the imported entries again.
    let size = {
        use proofless_store::Store as _;
        proofless_store::RedbStore::open(&data)
            .unwrap()
            .size()
            .unwrap()
    };
    let runs: Vec<String> = std::fs::read_dir(data.join("holder-accesses"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(runs, [format!("{:016x}-{size:016x}.run", 0)], "{runs:?}");
    let errors = std::fs::read_to_string(format!("{}.errors.jsonl", input.display())).unwrap();
    let rows: Vec<serde_json::Value> = errors
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{errors}");
    assert_eq!(
        (rows[0]["line"].as_u64(), rows[0]["code"].as_str()),
        (Some(2), Some("invalid_line"))
    );
    assert_eq!(
        (rows[1]["line"].as_u64(), rows[1]["code"].as_str()),
        (Some(4), Some("schema_violation"))
    );
    assert!(rows[1]["detail"].as_str().unwrap().contains("holder_sex"));
    assert!(
        !errors.contains("370202199001011237"),
        "no personal data in the report"
    );
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!("{}.import-state.json", input.display())).unwrap(),
    )
    .unwrap();
    assert_eq!(state["lines_done"], 7);

    // Interrupted run, simulated: the state says only two lines were done. The rerun
    // recognises what is already in and imports nothing twice.
    std::fs::write(
        format!("{}.import-state.json", input.display()),
        serde_json::json!({"input": input.display().to_string(), "lines_done": 2}).to_string(),
    )
    .unwrap();
    let o = import(&["--compact"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("imported 0"), "{}", text(&o));
    assert!(text(&o).contains("compacted"), "{}", text(&o));
    assert!(text(&o).contains("skipped 4"), "{}", text(&o));
}

/// Runs `proofless import` of `input` into `data` with the example keys.
fn import_into(input: &Path, data: &Path, extra: &[&str]) -> std::process::Output {
    let config = keys().join("proofless.toml");
    let keys_dir = keys();
    let mut args = vec![
        "import",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
        "--issuer-keys",
        keys_dir.to_str().unwrap(),
        "--quiet",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// Chunks are admitted in one append each: a forged line, a repeated line and a status
/// change about an earlier chunk's certificate give the same per-line results whatever
/// the chunk size, and a bad line never holds back the others of its chunk.
#[test]
fn import_in_chunks_refuses_only_the_bad_lines() {
    use base64::{Engine, prelude::BASE64_STANDARD};
    let dir = tempfile::tempdir().unwrap();
    let mut lines = Vec::new();
    for i in 0..3 {
        let out = dir.path().join(format!("c{i}.json"));
        let o = issue_to(dir.path(), &format!("20240020{i:02}"), "男", &out);
        assert!(o.status.success(), "{}", text(&o));
        lines.push(String::from_utf8(std::fs::read(&out).unwrap()).unwrap());
    }
    // The second certificate with one byte of its issuer signature (the COSE_Sign1's
    // last element) changed.
    let forged = {
        let mut v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        let mut cose = BASE64_STANDARD
            .decode(v["security_object"].as_str().unwrap())
            .unwrap();
        *cose.last_mut().unwrap() ^= 0x01;
        v["security_object"] = BASE64_STANDARD.encode(cose).into();
        v.to_string()
    };
    let id = |line: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let cose = BASE64_STANDARD
            .decode(v["security_object"].as_str().unwrap())
            .unwrap();
        proofless_core::cert::SignedSecurityObject::parse(&cose)
            .unwrap()
            .object()
            .certificate_id
            .clone()
    };
    let status = format!(
        r#"{{"status":"suspended","certificate_id":"{}","issuer":"issuer-qingdao-civil-affairs"}}"#,
        id(&lines[0])
    );
    // 1 ok, 2 forged, 3 ok, 4 ok (the genuine one of line 2), 5 status change of line 1,
    // 6 line 1 again.
    let body = [
        lines[0].as_str(),
        forged.as_str(),
        lines[2].as_str(),
        lines[1].as_str(),
        status.as_str(),
        lines[0].as_str(),
    ]
    .join("\n");
    for chunk in ["1", "2", "4", "2048"] {
        let run_dir = dir.path().join(format!("chunk-{chunk}"));
        std::fs::create_dir(&run_dir).unwrap();
        let input = run_dir.join("in.jsonl");
        std::fs::write(&input, &body).unwrap();
        let o = import_into(&input, &run_dir.join("data"), &["--chunk", chunk]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            text(&o).contains("imported 4 (")
                && text(&o).contains("skipped 1 already present, 1 errors"),
            "--chunk {chunk}: {}",
            text(&o)
        );
        let errors = std::fs::read_to_string(format!("{}.errors.jsonl", input.display())).unwrap();
        let rows: Vec<serde_json::Value> = errors
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rows.len(), 1, "--chunk {chunk}: {errors}");
        assert_eq!(
            (rows[0]["line"].as_u64(), rows[0]["code"].as_str()),
            (Some(2), Some("bad_signature")),
            "--chunk {chunk}"
        );
    }
}
