//! `proofless witness` (C2SP tlog-witness) against real processes: every refusal of
//! `POST /add-checkpoint` with its status, the persisted view across a restart, and the
//! ledger collecting a 2-of-2 quorum of cosignatures that its receipts then carry.

use crate::{bin, run};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::cosign::{AddCheckpoint, WitnessPolicy, WitnessVerifier, checkpoint_body};
use proofless_core::merkle::{Hash, MemoryTree};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A running `proofless` process that printed `<prefix>http://ADDR`, killed when dropped.
pub(crate) struct Proc {
    child: Child,
    pub(crate) url: String,
}

impl Proc {
    pub(crate) fn start(args: &[&str], prefix: &str) -> Self {
        let mut child = Command::new(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix(prefix)
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_owned();
        Self { child, url }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Generates a witness key in `dir` and returns (key path, vkey).
pub(crate) fn witness_key(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(format!("{name}.key.pem"));
    let out = run(&[
        "witness",
        "--generate-key",
        "--key",
        key.to_str().unwrap(),
        "--name",
        name,
    ]);
    assert!(out.status.success(), "{out:?}");
    let vkey = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    (key.to_str().unwrap().to_owned(), vkey)
}

pub(crate) fn start_witness(data: &Path, key: &str, name: &str, logs: &[&str]) -> Proc {
    let mut args = vec![
        "witness",
        "--data",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--key",
        key,
        "--name",
        name,
    ];
    for l in logs {
        args.push("--log");
        args.push(l);
    }
    Proc::start(&args, "proofless witness listening on ")
}

/// POSTs `body` to the witness; returns (status, content type, body).
fn post(url: &str, body: &[u8]) -> (u16, String, String) {
    let resp = ureq::post(&format!("{url}/add-checkpoint"))
        .config()
        .http_status_as_error(false)
        .build()
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.into_body().read_to_string().unwrap())
}

fn request(old: u64, proof: Vec<Hash>, checkpoint: Vec<u8>) -> Vec<u8> {
    AddCheckpoint {
        old,
        proof,
        checkpoint,
    }
    .to_bytes()
}

const ORIGIN: &str = "log.witness-test.example/v1";

#[test]
fn witness_checks_consistency_refuses_bad_input_and_remembers_its_view() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("w1");
    let log = LedgerSigner::from_seed(ORIGIN, [3; 32]).unwrap();
    let log_vkey = log.vkey();
    let (key, vkey) = witness_key(dir.path(), "w1.example");
    let verifier = WitnessVerifier::from_vkey(&vkey).unwrap();
    let mut tree = MemoryTree::new();
    for i in 0..10u8 {
        tree.push(&[i]);
    }
    let cp = |size: u64| log.sign_checkpoint(size, tree.root_at(size).unwrap());

    let w = start_witness(&data, &key, "w1.example", &[&log_vkey]);

    // Garbage and malformed bodies: 400.
    assert_eq!(post(&w.url, b"garbage").0, 400);
    assert_eq!(post(&w.url, b"old 0\n\nnot a checkpoint\n").0, 400);
    // A checkpoint of an unknown log: 404; of this origin under another key: 403 (C2SP).
    let foreign = LedgerSigner::from_seed("other.example/log", [3; 32]).unwrap();
    let foreign_cp = foreign.sign_checkpoint(3, tree.root_at(3).unwrap());
    assert_eq!(post(&w.url, &request(0, vec![], foreign_cp)).0, 404);
    let impostor = LedgerSigner::from_seed(ORIGIN, [4; 32]).unwrap();
    let impostor_cp = impostor.sign_checkpoint(3, tree.root_at(3).unwrap());
    assert_eq!(post(&w.url, &request(0, vec![], impostor_cp)).0, 403);

    // The empty tree first, then growth from it (no proof from size 0).
    assert_eq!(post(&w.url, &request(0, vec![], cp(0))).0, 200);
    // First contact: old 0, no proof. The answer is a verifying cosignature line.
    let (status, ct, body) = post(&w.url, &request(0, vec![], cp(3)));
    assert_eq!(status, 200, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    let line = body.trim_end();
    assert_eq!(line.lines().count(), 1);
    verifier
        .verify(&checkpoint_body(&cp(3)).unwrap(), line)
        .unwrap();

    // A wrong `old`: 409 with the size the witness knows.
    let (status, ct, body) = post(&w.url, &request(0, vec![], cp(5)));
    assert_eq!(
        (status, ct.as_str(), body.trim()),
        (409, "text/x.tlog.size", "3")
    );

    // A bad consistency proof: 422; a good one: 200.
    let good = tree.consistency_proof(3, 5).unwrap();
    let mut bad = good.clone();
    bad[0].0[0] ^= 1;
    assert_eq!(post(&w.url, &request(3, bad, cp(5))).0, 422);
    assert_eq!(post(&w.url, &request(3, vec![], cp(5))).0, 422);
    let (status, _, body) = post(&w.url, &request(3, good, cp(5)));
    assert_eq!(status, 200, "{body}");

    // A rollback (a smaller checkpoint) is refused: 400, or 409 if `old` is lied about.
    assert_eq!(post(&w.url, &request(5, vec![], cp(4))).0, 400);
    assert_eq!(post(&w.url, &request(4, vec![], cp(4))).0, 409);
    // The same size again: equal roots and an empty proof are fine; a fork is not.
    assert_eq!(post(&w.url, &request(5, vec![], cp(5))).0, 200);
    let fork = log.sign_checkpoint(5, Hash([9; 32]));
    assert_eq!(post(&w.url, &request(5, vec![], fork)).0, 422);

    // Restarted on the same data, the witness still knows size 5.
    drop(w);
    let w = start_witness(&data, &key, "w1.example", &[&log_vkey]);
    let (status, _, body) = post(&w.url, &request(0, vec![], cp(8)));
    assert_eq!((status, body.trim()), (409, "5"));
    let proof = tree.consistency_proof(5, 8).unwrap();
    let (status, _, body) = post(&w.url, &request(5, proof, cp(8)));
    assert_eq!(status, 200, "{body}");
    let cosigned = proofless_core::cosign::add_lines(&cp(8), &[body.trim_end().to_owned()]);
    let policy = WitnessPolicy::new(vec![verifier], 1).unwrap();
    assert_eq!(policy.check(&cosigned).unwrap().len(), 1);

    // Two requests from size 8 at once: the witness serialises them, so exactly one moves
    // its view and the other learns the new size.
    let racing: Vec<_> = [9u64, 10]
        .into_iter()
        .map(|size| {
            let body = request(8, tree.consistency_proof(8, size).unwrap(), cp(size));
            let url = w.url.clone();
            std::thread::spawn(move || post(&url, &body))
        })
        .collect();
    let mut answers: Vec<(u16, String)> = racing
        .into_iter()
        .map(|t| {
            let (status, _, body) = t.join().unwrap();
            (status, body)
        })
        .collect();
    answers.sort();
    assert_eq!(answers[0].0, 200, "{answers:?}");
    assert_eq!(answers[1].0, 409, "{answers:?}");
    assert!(["9", "10"].contains(&answers[1].1.trim()), "{answers:?}");
}

/// GETs `url`; returns (status, body).
fn get(url: &str) -> (u16, String) {
    let resp = ureq::get(url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.into_body().read_to_string().unwrap())
}

/// Polls `/v1/checkpoint/cosigned` until it covers `size` entries; no fixed wait.
fn cosigned_at_least(url: &str, size: u64) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (status, body) = get(&format!("{url}/v1/checkpoint/cosigned"));
        if status == 200 {
            let n: u64 = body.lines().nth(1).unwrap().parse().unwrap();
            if n >= size {
                return body;
            }
        } else {
            assert_eq!(status, 404, "{body}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no cosigned checkpoint of size {size}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The ledger with two witnesses and a quorum of two: the checkpoint it serves as
/// cosigned carries both cosignatures, the witnesses follow the log as it grows (through
/// consistency proofs), and a redeemed receipt proof carries the cosigned checkpoint,
/// which `proofless receipt verify --witness` checks.
#[test]
fn ledger_collects_two_cosignatures_and_receipts_carry_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = crate::repo_root();
    let keys = root.join("keys-example");
    let ledger_vkey = std::fs::read_to_string(keys.join("ledger.vkey")).unwrap();
    let ledger_vkey = ledger_vkey.trim();
    let ledger = proofless_core::checkpoint::LedgerVerifier::from_vkey(ledger_vkey).unwrap();

    let (k1, v1) = witness_key(dir.path(), "w1.audit.example");
    let (k2, v2) = witness_key(dir.path(), "w2.audit.example");
    // One witness reads the log's vkey from its file.
    let vkey_file = format!("@{}", keys.join("ledger.vkey").display());
    let w1 = start_witness(
        &dir.path().join("w1"),
        &k1,
        "w1.audit.example",
        &[&vkey_file],
    );
    let w2 = start_witness(
        &dir.path().join("w2"),
        &k2,
        "w2.audit.example",
        &[ledger_vkey],
    );

    // The example configuration, with absolute paths, plus the two witnesses.
    let abs = |p: &str| keys.join(p).to_str().unwrap().to_owned();
    let config = dir.path().join("proofless.toml");
    std::fs::write(
        &config,
        format!(
            "ledger_key = {:?}\nledger_certificate = {:?}\ntrust_anchor = {:?}\n\
             certificate_types = {:?}\nscenarios = {:?}\nwitness_quorum = 2\n\n\
             [[witnesses]]\nurl = {:?}\nvkey = {:?}\n\n[[witnesses]]\nurl = {:?}\nvkey = {:?}\n",
            abs("ledger.key"),
            abs("ledger.crt.pem"),
            abs("trust-anchor.crt.pem"),
            abs("../schemas/certificates"),
            abs("../schemas/scenarios"),
            w1.url,
            v1,
            w2.url,
            v2
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let server = Proc::start(
        &[
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        "proofless listening on ",
    );
    let (_, size) = get(&format!("{}/healthz", server.url));
    let size: u64 = serde_json::from_str::<serde_json::Value>(&size).unwrap()["tree_size"]
        .as_u64()
        .unwrap();
    assert!(size > 0);

    let policy = WitnessPolicy::new(
        vec![
            WitnessVerifier::from_vkey(&v1).unwrap(),
            WitnessVerifier::from_vkey(&v2).unwrap(),
        ],
        2,
    )
    .unwrap();
    let first = cosigned_at_least(&server.url, size);
    assert_eq!(
        ledger.verify_checkpoint(first.as_bytes()).unwrap().size,
        size
    );
    let signers: Vec<String> = policy
        .check(first.as_bytes())
        .unwrap()
        .into_iter()
        .map(|c| c.witness)
        .collect();
    assert_eq!(signers, ["w1.audit.example", "w2.audit.example"]);

    let (_, metrics) = get(&format!("{}/metrics", server.url));
    assert!(
        metrics.contains(&format!("proofless_witness_cosigned_tree_size {size}")),
        "{metrics}"
    );
    assert!(
        metrics.contains("proofless_witness_cosignatures_total{witness=\"w2.audit.example\"}"),
        "{metrics}"
    );

    // The log grows: a department's request, denied (unknown scenario) but recorded.
    let request = dir.path().join("request.json");
    let response = dir.path().join("response.json");
    std::fs::write(
        &request,
        serde_json::json!({
            "scenario": "QD-NO-SUCH-SCENARIO",
            "purpose": "测试见证",
            "case_number": "W-2027-000001",
            "salt": "MDEyMzQ1Njc4OWFiY2RlZg==",
            "holder": {"type": "111", "code": "11010519491231002X"},
            "certificates": [
                {"type_code": "11100000MB03271699001", "predicates": [{"name": "holds_valid"}]}
            ],
        })
        .to_string(),
    )
    .unwrap();
    let out = run(&[
        "verify",
        "--url",
        &server.url,
        "--key",
        keys.join("department-qingdao-housing.key.pem")
            .to_str()
            .unwrap(),
        "--certificate",
        keys.join("department-qingdao-housing.crt.pem")
            .to_str()
            .unwrap(),
        "--request",
        request.to_str().unwrap(),
        "--out",
        response.to_str().unwrap(),
    ]);
    let answer: serde_json::Value = serde_json::from_slice(&std::fs::read(&response).unwrap())
        .unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
        });
    let index = answer["answer"]["access_index"].as_u64().unwrap();
    assert!(index >= size, "{answer}");

    // The witnesses follow (old = size, with a consistency proof) and cosign the new tree.
    let grown = cosigned_at_least(&server.url, index + 1);
    assert_eq!(policy.check(grown.as_bytes()).unwrap().len(), 2);

    // The redeemed proof of the access entry carries the cosigned checkpoint.
    let (status, proof) = get(&format!("{}/v1/receipts/{index}/proof", server.url));
    assert_eq!(status, 200, "{proof}");
    let parsed = proofless_core::receipt::TlogProof::parse(&proof).unwrap();
    assert_eq!(policy.check(&parsed.checkpoint).unwrap().len(), 2);
    let proof_file = dir.path().join("proof.txt");
    std::fs::write(&proof_file, &proof).unwrap();
    let verify = |witnesses: &[&str]| {
        let mut args = vec![
            "receipt".to_owned(),
            "verify".into(),
            "--response".into(),
            response.to_str().unwrap().into(),
            "--request".into(),
            request.to_str().unwrap().into(),
            "--proof".into(),
            proof_file.to_str().unwrap().into(),
            "--ledger-vkey".into(),
            keys.join("ledger.vkey").to_str().unwrap().into(),
            "--trust-anchor".into(),
            keys.join("trust-anchor.crt.pem").to_str().unwrap().into(),
        ];
        for w in witnesses {
            args.push("--witness".into());
            args.push((*w).into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&args)
    };
    let ok = verify(&[&v1, &v2]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(
        ok.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        text.contains("cosigned by: w1.audit.example, w2.audit.example"),
        "{text}"
    );
    // A witness that did not cosign makes a 3-of-3 policy fail.
    let (_, stranger) = witness_key(dir.path(), "w3.audit.example");
    let refused = verify(&[&v1, &v2, &stranger]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("witnesses"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The auditor's replay with both witnesses pinned: the cosigned checkpoint carries
    // both and agrees with the log; with a witness that never cosigned, it does not.
    let audit = |out: &str, witnesses: &[&str]| {
        let out = dir.path().join(out);
        let vkey = format!("@{}", keys.join("ledger.vkey").display());
        let anchor = keys.join("trust-anchor.crt.pem");
        let mut args = vec![
            "audit",
            "replay",
            "--url",
            &server.url,
            "--ledger-vkey",
            &vkey,
            "--trust-anchor",
            anchor.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ];
        for w in witnesses {
            args.extend(["--witness", w]);
        }
        run(&args)
    };
    let replayed = audit("audit-2", &[&v1, &v2]);
    assert!(
        replayed.status.success(),
        "{}{}",
        String::from_utf8_lossy(&replayed.stdout),
        String::from_utf8_lossy(&replayed.stderr)
    );
    let refused = audit("audit-3", &[&v1, &v2, &stranger]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stdout).contains("cosignature_invalid"),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    drop(w1);
    drop(w2);
}

/// A witness configuration that cannot work stops `serve` before it listens, with the
/// reason on stderr.
#[test]
fn serve_refuses_a_bad_witness_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let (_, v1) = witness_key(dir.path(), "w1.audit.example");
    let (_, v2) = witness_key(dir.path(), "w2.audit.example");
    let log_key =
        std::fs::read_to_string(crate::repo_root().join("keys-example/ledger.vkey")).unwrap();
    let witnesses = |a: &str, b: &str| {
        format!(
            "[[witnesses]]\nurl = \"http://127.0.0.1:9\"\nvkey = {a:?}\n\n\
             [[witnesses]]\nurl = \"http://127.0.0.1:9\"\nvkey = {b:?}\n"
        )
    };
    for (name, config, reason) in [
        (
            "quorum",
            format!("witness_quorum = 3\n{}", witnesses(&v1, &v2)),
            "quorum 3",
        ),
        (
            "zero",
            format!("witness_quorum = 0\n{}", witnesses(&v1, &v2)),
            "quorum 0",
        ),
        ("twice", witnesses(&v1, &v1), "configured twice"),
        ("logkey", witnesses(&v1, log_key.trim()), "vkey"),
        (
            "alone",
            "witness_quorum = 1\n".to_owned(),
            "no [[witnesses]]",
        ),
    ] {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--config",
                path.to_str().unwrap(),
                "--data",
                dir.path().join(name).to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A server that starts prints its line; one that refuses closes stdout.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        if !line.is_empty() {
            let _ = child.kill();
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(line.is_empty(), "{name}: started: {line}");
        assert!(!out.status.success(), "{name}");
        assert!(stderr.contains(reason), "{name}: {stderr}");
        assert!(
            !dir.path().join(name).join("ledger.redb").exists(),
            "{name}: the store was opened"
        );
    }
}
