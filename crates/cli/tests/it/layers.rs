//! Dependencies between the workspace crates point one way (docs/ARCHITECTURE.md):
//! cli → server/client → ledger → store, and everything → core. A new edge is a design
//! decision: this test fails until the table below (and the architecture doc) say so.

use crate::repo_root;

/// For each crate, the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    ("core", &[]),
    ("store", &[]),
    ("ledger", &["proofless-core", "proofless-store"]),
    ("server", &["proofless-core", "proofless-ledger"]),
    ("client", &["proofless-core"]),
    (
        "cli",
        &[
            "proofless-core",
            "proofless-store",
            "proofless-ledger",
            "proofless-server",
            "proofless-client",
        ],
    ),
];

#[test]
fn crate_dependencies_point_one_way() {
    for (krate, allowed) in ALLOWED {
        let manifest =
            std::fs::read_to_string(repo_root().join("crates").join(krate).join("Cargo.toml"))
                .unwrap();
        let doc: toml::Table = toml::from_str(&manifest).unwrap();
        let deps = doc
            .get("dependencies")
            .and_then(|d| d.as_table())
            .cloned()
            .unwrap_or_default();
        for name in deps.keys().filter(|n| n.starts_with("proofless-")) {
            assert!(
                allowed.contains(&name.as_str()),
                "crates/{krate} depends on {name}: not an allowed edge (see docs/ARCHITECTURE.md)"
            );
        }
    }
    // Every crate of the workspace is in the table.
    let mut dirs: Vec<String> = std::fs::read_dir(repo_root().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    dirs.sort();
    let mut listed: Vec<String> = ALLOWED.iter().map(|(k, _)| (*k).to_owned()).collect();
    listed.sort();
    assert_eq!(dirs, listed);
}

/// `core` does no I/O: it depends on no storage, network, async or HTTP crate.
#[test]
fn core_has_no_io_dependencies() {
    let manifest = std::fs::read_to_string(repo_root().join("crates/core/Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&manifest).unwrap();
    let deps = doc["dependencies"].as_table().unwrap();
    for banned in [
        "tokio",
        "redb",
        "axum",
        "hyper",
        "ureq",
        "serde_json",
        "tracing",
        "tokio-postgres",
    ] {
        assert!(
            !deps.contains_key(banned),
            "proofless-core must not depend on {banned}"
        );
    }
}
