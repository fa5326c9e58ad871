//! The real server on a free port, verified by `proofless log verify`.

use crate::{bin, run};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running server, killed when dropped (also when a test fails).
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path) -> Self {
        Self::start_with(&[
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
    }

    /// The README's run command on `data`: the example configuration, with synthetic
    /// demo data for `sample_holders` holders (none when 0).
    fn start_example(data: &Path, sample_holders: u64) -> Self {
        let root = crate::repo_root();
        let config = root.join("keys-example/proofless.toml");
        let keys = root.join("keys-example");
        let holders = sample_holders.to_string();
        Self::start_with(&[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--sample-holders",
            &holders,
            "--sample-keys",
            keys.to_str().unwrap(),
        ])
    }

    fn start_with(args: &[&str]) -> Self {
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // The server prints exactly one line on stdout once it is listening.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("proofless listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn append(data: &Path, n: u64) {
    let out = run(&[
        "bench",
        "log",
        "--data",
        data.to_str().unwrap(),
        "--entries",
        &n.to_string(),
        "--writers",
        "8",
        "--no-baseline",
        "--quiet",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn verify(url: &str, vkey: &Path, state: &Path) -> (bool, String) {
    let out = run(&[
        "log",
        "verify",
        "--url",
        url,
        "--vkey",
        &format!("@{}", vkey.display()),
        "--state",
        state.to_str().unwrap(),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn log_verify_checks_a_real_server_and_remembers_what_it_saw() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let state = dir.path().join("state.json");
    let vkey = data.join("ledger.vkey");

    append(&data, 600);
    {
        let server = Server::start(&data);
        let (ok, text) = verify(&server.url, &vkey, &state);
        assert!(ok, "{text}");
        assert!(text.contains("ok: 600 entries, 4 tiles verified"), "{text}");
        assert!(text.contains("first verification"), "{text}");
    }

    // The log grows while the server is down; the next run checks consistency with the
    // checkpoint it saw.
    append(&data, 300);
    let server = Server::start(&data);
    let (ok, text) = verify(&server.url, &vkey, &state);
    assert!(ok, "{text}");
    assert!(text.contains("ok: 900 entries"), "{text}");
    assert!(
        text.contains("consistent with the checkpoint of size 600"),
        "{text}"
    );

    // A remembered checkpoint with another root at the same size: a split view.
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let mut forged = saved.clone();
    forged["size"] = serde_json::json!(500);
    std::fs::write(&state, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (ok, text) = verify(&server.url, &vkey, &state);
    assert!(!ok && text.contains("split view"), "{text}");

    // A remembered checkpoint larger than the log: a rollback.
    let mut forged = saved.clone();
    forged["size"] = serde_json::json!(901);
    std::fs::write(&state, serde_json::to_vec(&forged).unwrap()).unwrap();
    let (ok, text) = verify(&server.url, &vkey, &state);
    assert!(!ok && text.contains("rollback"), "{text}");

    // A verifier key of another ledger refuses the checkpoint.
    let other = dir.path().join("other");
    let out = run(&[
        "keys",
        "generate",
        "--origin",
        "proofless.localhost/log",
        "--out",
        other.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    std::fs::remove_file(&state).unwrap();
    let (ok, text) = verify(&server.url, &other.join("ledger.vkey"), &state);
    assert!(!ok && text.contains("checkpoint"), "{text}");
}

/// The README's run command: the example configuration and a sample of demo data, then a
/// lookup by holder over HTTP and a full `log verify`.
#[test]
fn readme_run_command_serves_sample_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let server = Server::start_example(&data, 20);
    let agent = ureq::Agent::new_with_defaults();
    let get = |path: &str| -> serde_json::Value {
        let body = agent
            .get(&format!("{}{path}", server.url))
            .call()
            .unwrap()
            .into_body()
            .read_to_string()
            .unwrap();
        serde_json::from_str(&body).unwrap()
    };
    let log = get("/v1/log");
    // Genesis (2) + issuer registrations + dozens of certificates.
    assert!(log["size"].as_u64().unwrap() > 40, "{log}");
    // After genesis, the scenario rule set in force was published (version 1).
    let e = get("/v1/entries/2");
    assert_eq!(e["kind"], "policy_published", "{e}");
    // Every sample line was imported.
    let errors = std::fs::read_to_string(data.join("sample.errors.jsonl")).unwrap();
    assert!(errors.is_empty(), "{errors}");
    // A sample certificate that never expires and has no status change after it, looked
    // up by its holder code, which travels in the body.
    let sample = std::fs::read_to_string(data.join("sample.jsonl")).unwrap();
    let lines: Vec<&str> = sample.lines().collect();
    let anchor = proofless_core::pki::TrustAnchor::from_pem(
        &std::fs::read(keys.join("trust-anchor.crt.pem")).unwrap(),
    )
    .unwrap();
    let cert = lines
        .iter()
        .enumerate()
        .filter(|(i, _)| {
            lines
                .get(i + 1)
                .is_none_or(|next| !next.contains("\"status\""))
        })
        .filter_map(|(_, l)| {
            serde_json::from_str::<proofless_client::certificate::CertificateFile>(l).ok()
        })
        .map(|f| proofless_client::certificate::verify_certificate(&f, &anchor, None).unwrap())
        .find(|c| c.object.valid_until.is_none())
        .expect("a sample certificate without end of validity");
    let Some(proofless_core::cert::FieldValue::Text(holder)) = cert.holder() else {
        panic!()
    };
    let (code_type, code) = holder.split_once(':').unwrap();
    let body = serde_json::json!({"holder_code_type": code_type, "holder_code": code, "type_code": cert.object.type_code});
    let resp = agent
        .post(&format!("{}/v1/certificates/lookup", server.url))
        .header("content-type", "application/json")
        .send(serde_json::to_vec(&body).unwrap().as_slice())
        .unwrap();
    let v: serde_json::Value =
        serde_json::from_str(&resp.into_body().read_to_string().unwrap()).unwrap();
    assert_eq!(v["type_code"], cert.object.type_code, "{v}");
    let (ok, text) = verify(
        &server.url,
        &keys.join("ledger.vkey"),
        &dir.path().join("state.json"),
    );
    assert!(ok, "{text}");
}

/// `proofless verify` as the example housing bureau: `request` to `url`, answer to `out`.
fn housing_verify(url: &str, keys: &Path, request: &Path, out: &Path) -> std::process::Output {
    let key = keys.join("department-qingdao-housing.key.pem");
    let cert = keys.join("department-qingdao-housing.crt.pem");
    run(&[
        "verify",
        "--url",
        url,
        "--key",
        key.to_str().unwrap(),
        "--certificate",
        cert.to_str().unwrap(),
        "--request",
        request.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// A department's verification end to end with the real binary: `proofless verify`
/// signs and sends it, `proofless receipt verify` checks the saved answer offline (and
/// refuses a tampered copy); the load generator runs against the same server.
#[test]
fn verify_a_citizen_and_check_the_receipt_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let server = Server::start_example(&data, 20);
    // A citizen of the sample.
    let sample = std::fs::read_to_string(data.join("sample.jsonl")).unwrap();
    let holder = sample
        .lines()
        .filter_map(|l| {
            serde_json::from_str::<proofless_client::certificate::CertificateFile>(l).ok()
        })
        .filter_map(|f| {
            let anchor = proofless_core::pki::TrustAnchor::from_pem(
                &std::fs::read(keys.join("trust-anchor.crt.pem")).unwrap(),
            )
            .unwrap();
            let c = proofless_client::certificate::verify_certificate(&f, &anchor, None).ok()?;
            match c.holder() {
                Some(proofless_core::cert::FieldValue::Text(h)) => {
                    h.strip_prefix("111:").map(str::to_owned)
                }
                _ => None,
            }
        })
        .next()
        .expect("a citizen in the sample");
    let request = |scenario: &str| {
        serde_json::json!({
            "scenario": scenario,
            "purpose": "公共租赁住房资格年度复核",
            "case_number": "GZFFH-2027-000001",
            "salt": "MDEyMzQ1Njc4OWFiY2RlZg==",
            "holder": {"type": "111", "code": holder},
            "certificates": [
                {"type_code": "11100000MB03271699001", "predicates": [{"name": "holds_valid"}]}
            ],
        })
        .to_string()
    };
    let send = |name: &str, body: String| {
        let req = dir.path().join(format!("{name}.request.json"));
        let resp = dir.path().join(format!("{name}.response.json"));
        std::fs::write(&req, body).unwrap();
        let out = housing_verify(&server.url, &keys, &req, &resp);
        (out, req, resp)
    };
    let check = |resp: &Path, req: &Path| {
        run(&[
            "receipt",
            "verify",
            "--response",
            resp.to_str().unwrap(),
            "--request",
            req.to_str().unwrap(),
            "--ledger-vkey",
            keys.join("ledger.vkey").to_str().unwrap(),
            "--trust-anchor",
            keys.join("trust-anchor.crt.pem").to_str().unwrap(),
            "--require-proof",
        ])
    };

    let (out, req, resp) = send("allowed", request("QD-GZFFH-001"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(&resp, &req);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("ok: Allow recorded at index"), "{text}");

    // One byte of the saved answer changed: refused.
    let mut bytes = std::fs::read(&resp).unwrap();
    let at = bytes
        .windows(5)
        .position(|w| w == b"false" || w == b"true,")
        .unwrap_or(40);
    bytes[at] ^= 0x01;
    let tampered = dir.path().join("tampered.json");
    std::fs::write(&tampered, &bytes).unwrap();
    assert!(!check(&tampered, &req).status.success());
    // Another request body: refused.
    assert!(
        !check(&resp, &dir.path().join("tampered.json"))
            .status
            .success()
    );

    // A denial is recorded and receipted too.
    let (out, req, resp) = send("denied", request("QD-NONE-001"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown_scenario"));
    let out = check(&resp, &req);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("ok: Deny"));

    // The load generator, briefly.
    let out = run(&[
        "load",
        "--url",
        &server.url,
        "--input",
        data.join("sample.jsonl").to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--concurrency",
        "4,2",
        "--requests",
        "400",
        "--warmup",
        "40",
        "--consent",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A sweep of two concurrencies, then the consent phases at the first.
    assert_eq!(text.matches("400 answered 200").count(), 3, "{text}");
    assert!(
        text.contains("0 transport errors), 4 connections"),
        "{text}"
    );
    assert!(
        text.contains("0 transport errors), 2 connections"),
        "{text}"
    );
    assert!(text.contains("capacity at p99 < 25 ms: "), "{text}");
    assert!(text.contains("consent grants: 400"), "{text}");
    assert!(text.contains("verifications with a consent: 400"), "{text}");
    assert!(text.contains("verify_strict/s per core"), "{text}");
}

/// `proofless consent grant | history | revoke` as a channel, and a department using the
/// consent through `proofless verify`, against the real server.
#[test]
fn consent_commands_grant_use_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let server = Server::start_example(&data, 0);
    let holder = proofless_core::ids::CitizenId::from_parts("370202", (1990, 1, 1), 123)
        .unwrap()
        .as_str()
        .to_owned();
    let channel = |args: &[&str]| {
        let mut all = vec![args[0], args[1], "--url", &server.url, "--holder", &holder];
        let key = keys.join("channel-ishandong.key.pem");
        let cert = keys.join("channel-ishandong.crt.pem");
        let (key, cert) = (
            key.to_str().unwrap().to_owned(),
            cert.to_str().unwrap().to_owned(),
        );
        all.extend(["--key", &key, "--certificate", &cert]);
        all.extend(&args[2..]);
        let out = run(&all);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (ok, text) = channel(&[
        "consent",
        "grant",
        "--scenario",
        "QD-GZF-001",
        "--department",
        "11370200MB00001103",
    ]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let code = v["consent_code"].as_str().unwrap().to_owned();
    assert!(
        v["preview_zh"]
            .as_str()
            .unwrap()
            .contains("青岛市住房和城乡建设局")
    );

    let req = dir.path().join("request.json");
    std::fs::write(
        &req,
        serde_json::json!({
            "scenario": "QD-GZF-001",
            "purpose": "公共租赁住房申请",
            "case_number": "GZF-2027-000001",
            "salt": "MDEyMzQ1Njc4OWFiY2RlZg==",
            "holder": {"type": "111", "code": holder},
            "consent": code,
            "certificates": [
                {"type_code": "11100000MB03271699001", "predicates": [{"name": "holds_valid"}]}
            ],
        })
        .to_string(),
    )
    .unwrap();
    let out = housing_verify(&server.url, &keys, &req, &dir.path().join("answer.json"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (ok, text) = channel(&["consent", "history", "--limit", "5"]);
    assert!(ok, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["accesses"][0]["consent_used"], true, "{v}");
    assert_eq!(
        v["accesses"][0]["department_name"],
        "青岛市住房和城乡建设局"
    );
    // Used: it can no longer be revoked.
    let (ok, text) = channel(&["consent", "revoke", "--code", &code]);
    assert!(!ok);
    assert!(text.contains("consent_not_active"), "{text}");
}

fn audit(args: &[&str]) -> (bool, String) {
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let vkey = format!("@{}", keys.join("ledger.vkey").display());
    let anchor = keys.join("trust-anchor.crt.pem");
    let mut all = vec!["audit"];
    all.extend(args);
    if args[0] == "replay" {
        all.extend([
            "--ledger-vkey",
            &vkey,
            "--trust-anchor",
            anchor.to_str().unwrap(),
        ]);
    } else {
        all.extend(["--ledger-vkey", &vkey]);
    }
    all.push("--quiet");
    let out = run(&all);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The auditor's commands against the real server: certificates, status changes,
/// consents granted and used, verifications; replayed over HTTP, exported whole and in
/// part, replayed offline from the bundles, and a tampered bundle refused.
#[test]
fn audit_replays_a_real_server_and_its_exported_bundles() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let server = Server::start_example(&data, 20);
    let load = run(&[
        "load",
        "--url",
        &server.url,
        "--input",
        data.join("sample.jsonl").to_str().unwrap(),
        "--keys",
        keys.to_str().unwrap(),
        "--concurrency",
        "4",
        "--requests",
        "40",
        "--warmup",
        "0",
        "--consent",
    ]);
    assert!(
        load.status.success(),
        "{}",
        String::from_utf8_lossy(&load.stderr)
    );

    let out = dir.path().join("replay");
    let o = out.to_str().unwrap();
    let (ok, text) = audit(&["replay", "--url", &server.url, "--out", o]);
    assert!(ok, "{text}");
    assert!(text.contains("ok: no anomaly"), "{text}");
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    let kinds = &report["stats"]["entries_by_kind"];
    for kind in [
        "CertificateIssued",
        "StatusChanged",
        "ConsentGranted",
        "AccessRecorded",
        "PolicyPublished",
        "KeyEvent",
    ] {
        assert!(kinds[kind].as_u64().unwrap_or(0) > 0, "{kind}: {kinds}");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("No anomaly"));
    // A second run resumes: nothing new to replay.
    let (ok, text) = audit(&["replay", "--url", &server.url, "--out", o]);
    assert!(ok && text.contains("replayed 0 entries"), "{text}");

    // Export the whole log and a range; both replay offline.
    let size = report["size"].as_u64().unwrap();
    let whole = dir.path().join("whole");
    let (ok, text) = audit(&[
        "export",
        "--url",
        &server.url,
        "--out",
        whole.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    let part = dir.path().join("part");
    let (from, to) = ((size / 2).to_string(), (size - 5).to_string());
    let (ok, text) = audit(&[
        "export",
        "--url",
        &server.url,
        "--from",
        &from,
        "--to",
        &to,
        "--out",
        part.to_str().unwrap(),
    ]);
    assert!(ok, "{text}");
    drop(server);
    for bundle in [&whole, &part] {
        let r = dir.path().join(format!(
            "r-{}",
            bundle.file_name().unwrap().to_string_lossy()
        ));
        let (ok, text) = audit(&[
            "replay",
            "--bundle",
            bundle.to_str().unwrap(),
            "--out",
            r.to_str().unwrap(),
        ]);
        assert!(ok, "{}: {text}", bundle.display());
    }

    // One byte of one entry changed in the bundle: the replay fails and says where.
    let entries_dir = whole.join("tile/entries");
    let bundle = walk(&entries_dir)
        .into_iter()
        .next()
        .expect("an entry bundle");
    let mut bytes = std::fs::read(&bundle).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0x01;
    std::fs::write(&bundle, bytes).unwrap();
    let r = dir.path().join("r-tampered");
    let (ok, text) = audit(&[
        "replay",
        "--bundle",
        whole.to_str().unwrap(),
        "--out",
        r.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("ANOMALY"), "{text}");
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(html.contains("Anomalies"));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}
