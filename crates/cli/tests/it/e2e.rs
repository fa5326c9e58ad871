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
        let mut child = Command::new(bin())
            .args([
                "serve",
                "--data",
                data.to_str().unwrap(),
                "--listen",
                "127.0.0.1:0",
            ])
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
