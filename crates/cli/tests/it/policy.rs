//! `proofless policy check` as a user runs it.

use crate::{repo_root, run};

#[test]
fn policy_check_passes_the_committed_rules_and_names_file_and_line_of_a_fault() {
    let root = repo_root();
    let types = root.join("schemas/certificates");
    let o = run(&[
        "policy",
        "check",
        "--scenarios",
        root.join("schemas/scenarios").to_str().unwrap(),
        "--types",
        types.to_str().unwrap(),
    ]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("ok: "), "{out}");

    // A copy of one rule file with an unknown field on a known line.
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read_to_string(
        root.join("schemas/scenarios")
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "toml"))
            .unwrap(),
    )
    .unwrap();
    let (line_no, line) = original
        .lines()
        .enumerate()
        .find(|(_, l)| {
            l.trim_start().starts_with("disclose") || l.trim_start().starts_with("claims")
        })
        .expect("a rule file lists fields");
    let broken_line = line.replacen('[', "[\"no_such_field\", ", 1);
    let broken: Vec<String> = original
        .lines()
        .enumerate()
        .map(|(i, l)| {
            if i == line_no {
                broken_line.clone()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(dir.path().join("broken.toml"), broken.join("\n")).unwrap();
    let o = run(&[
        "policy",
        "check",
        "--scenarios",
        dir.path().to_str().unwrap(),
        "--types",
        types.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(
        err.contains(&format!("broken.toml:{}:", line_no + 1)),
        "{err}"
    );
    assert!(err.contains("no_such_field"), "{err}");
}
