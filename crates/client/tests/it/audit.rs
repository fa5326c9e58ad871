//! The audit replay against a log written by hand: real keys and signatures (the
//! committed example keys), served by an in-memory "server" that a test can make lie.

use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use proofless_client::audit::{self, ReplayConfig, ReplayState, Report};
use proofless_client::{Fetch, FetchError};
use proofless_core::checkpoint::LedgerSigner;
use proofless_core::entry::{
    AccessRecorded, ConsentGranted, ConsentRevoked, Decision, Entry, KeyAction, KeyEvent,
    RequestSignature,
};
use proofless_core::httpsig::{self, RequestParts, SignatureParams};
use proofless_core::keys::{self, TRUST_ANCHOR_ROLE};
use proofless_core::merkle::MemoryTree;
use proofless_core::pki::{self, Position, TrustAnchor};
use proofless_core::tiles::{self, TILE_WIDTH, TileId};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HOUSING: &str = "11370200MB00001103";
const GZF: &str = "QD-GZF-001";
const T0: u64 = 1_790_000_000_000;

fn keys_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../keys-example")
}

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/scenarios")
}

/// A principal of the example key set.
struct Principal {
    key: SigningKey,
    der: Vec<u8>,
    key_id: [u8; 32],
    organisation: String,
    role: &'static str,
}

fn principal(name: &str, role: &'static str) -> Principal {
    let dir = keys_dir();
    let pem = std::fs::read(dir.join(format!("{name}.crt.pem"))).unwrap();
    let der = pki::pem_certificate(&pem, Position::Chain(0)).unwrap();
    let key_pem = std::fs::read_to_string(dir.join(format!("{name}.key.pem"))).unwrap();
    let key = SigningKey::from_pkcs8_pem(&key_pem).unwrap();
    let spki = keys::ed25519_spki_der(key.verifying_key().as_bytes());
    let anchor = anchor();
    let role_enum = keys::Role::from_name(role).unwrap();
    let p = pki::validate(
        std::slice::from_ref(&der),
        &anchor,
        role_enum,
        (T0 / 1000) as i64,
    )
    .unwrap();
    Principal {
        key,
        der,
        key_id: keys::key_id(&spki),
        organisation: p.organisation().unwrap().as_str().to_owned(),
        role,
    }
}

fn anchor() -> TrustAnchor {
    TrustAnchor::from_pem(&std::fs::read(keys_dir().join("trust-anchor.crt.pem")).unwrap()).unwrap()
}

fn ledger() -> LedgerSigner {
    let skey = std::fs::read_to_string(keys_dir().join("ledger.key")).unwrap();
    LedgerSigner::from_skey(skey.trim()).unwrap()
}

/// The log being written, and what its server serves.
struct Log {
    signer: LedgerSigner,
    entries: Vec<Vec<u8>>,
    policies: HashMap<u64, Vec<u8>>,
    housing: Principal,
    medical: Principal,
    channel: Principal,
    time: u64,
    nonce: u64,
}

impl Log {
    fn new() -> Self {
        let signer = ledger();
        let mut log = Self {
            housing: principal("department-qingdao-housing", "department"),
            medical: principal("department-qingdao-medical-insurance", "department"),
            channel: principal("channel-ishandong", "channel"),
            signer,
            entries: Vec::new(),
            policies: HashMap::new(),
            time: T0,
            nonce: 0,
        };
        let a = anchor();
        log.push(Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: TRUST_ANCHOR_ROLE.into(),
            key_id: a.key_id(),
            certificate: Some(a.der().to_vec()),
            organisation: None,
        }));
        let own = keys::ed25519_spki_der(log.signer.verifying_key().as_bytes());
        log.push(Entry::KeyEvent(KeyEvent {
            time: T0,
            action: KeyAction::Registered,
            role: "ledger".into(),
            key_id: keys::key_id(&own),
            certificate: None,
            organisation: None,
        }));
        for p in [&log.housing, &log.medical, &log.channel] {
            let e = Entry::KeyEvent(KeyEvent {
                time: T0,
                action: KeyAction::Registered,
                role: p.role.into(),
                key_id: p.key_id,
                certificate: Some(p.der.clone()),
                organisation: Some(p.organisation.clone()),
            });
            log.entries.push(e.encode().unwrap().into_bytes());
        }
        log.publish(1);
        log
    }

    fn push(&mut self, e: Entry) -> u64 {
        self.entries.push(e.encode().unwrap().into_bytes());
        self.entries.len() as u64 - 1
    }

    fn tick(&mut self) -> u64 {
        self.time += 1000;
        self.time
    }

    /// Publishes every committed scenario file as rule set `version`.
    fn publish(&mut self, version: u64) {
        let mut files = Vec::new();
        for e in std::fs::read_dir(scenarios_dir()).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(audit::PolicyFile {
                    file_name: p.file_name().unwrap().to_string_lossy().into_owned(),
                    text: std::fs::read_to_string(&p).unwrap(),
                });
            }
        }
        let set = audit::rule_set(&files).unwrap();
        let t = self.tick();
        self.push(Entry::PolicyPublished(set.publication(version, t)));
        self.policies.insert(
            version,
            serde_json::to_vec(&serde_json::json!({"version": version, "files": files})).unwrap(),
        );
    }

    /// A request to `path` signed by `who`, as the server records it.
    fn request(&mut self, who: &str, path: &str) -> RequestSignature {
        self.nonce += 1;
        let p = match who {
            "housing" => &self.housing,
            "medical" => &self.medical,
            _ => &self.channel,
        };
        let body = format!("{{\"salt\":\"{}\"}}", self.nonce);
        let digest = httpsig::content_digest(body.as_bytes());
        let keyid = hex::encode(p.key_id);
        let params = SignatureParams::proofless(
            &keyid,
            (self.time / 1000) as i64,
            &format!("{:032x}", self.nonce),
        );
        let parts = RequestParts::new("POST", "ledger.qingdao.example", path)
            .header("content-digest", &digest);
        let signed = httpsig::sign(&p.key, "sig", &parts, &params).unwrap();
        let sig = signed
            .signature
            .trim_start_matches("sig=:")
            .trim_end_matches(':')
            .to_owned();
        RequestSignature {
            key_id: p.key_id,
            method: "POST".into(),
            path: path.into(),
            authority: "ledger.qingdao.example".into(),
            content_digest: digest,
            params: params.serialize(),
            signature: BASE64_STANDARD.decode(sig).unwrap().try_into().unwrap(),
        }
    }

    fn grant(&mut self, code: u8, expires_in: u64) -> [u8; 32] {
        let t = self.tick();
        let consent = [code; 32];
        let request = self.request("channel", "/v1/consents");
        self.push(Entry::ConsentGranted(ConsentGranted {
            time: t,
            channel: self.channel.organisation.clone(),
            holder: [7; 32],
            scenario: GZF.into(),
            policy_version: 1,
            department: Some(HOUSING.into()),
            scope: vec!["11100000MB03271699001/predicate/holds_valid".into()],
            expires: t + expires_in,
            consent,
            request_digest: [1; 32],
            request,
        }));
        consent
    }

    fn revoke(&mut self, consent: [u8; 32]) {
        let t = self.tick();
        let request = self.request("channel", "/v1/consents/revoke");
        self.push(Entry::ConsentRevoked(ConsentRevoked {
            time: t,
            channel: self.channel.organisation.clone(),
            consent,
            request_digest: [2; 32],
            request,
        }));
    }

    /// A decision of department `who` (its organisation recorded as the department).
    fn access(
        &mut self,
        who: &str,
        consent: Option<[u8; 32]>,
        decision: Decision,
        reason: &str,
    ) -> u64 {
        let t = self.tick();
        let request = self.request(who, "/v1/verifications");
        let department = match who {
            "housing" => self.housing.organisation.clone(),
            _ => self.medical.organisation.clone(),
        };
        let allow = decision == Decision::Allow;
        self.push(Entry::AccessRecorded(AccessRecorded {
            time: t,
            department,
            operator: "op-1".into(),
            scenario: GZF.into(),
            policy_version: 1,
            purpose: "公共租赁住房申请".into(),
            case_number: format!("GZF-{t}"),
            consent,
            certificates: Vec::new(),
            fields: if allow {
                vec!["11100000MB03271699001/predicate/holds_valid".into()]
            } else {
                Vec::new()
            },
            decision,
            reason: reason.into(),
            request_digest: [3; 32],
            request,
            holder: Some([7; 32]),
        }))
    }

    /// What an honest server serves for the log as it is now.
    fn serve(&self) -> Server {
        let mut files = HashMap::new();
        let mut tree = MemoryTree::new();
        for e in &self.entries {
            tree.push(e);
        }
        let size = self.entries.len() as u64;
        files.insert(
            "checkpoint".to_owned(),
            self.signer.sign_checkpoint(size, tree.root()),
        );
        for (b, chunk) in self.entries.chunks(TILE_WIDTH as usize).enumerate() {
            let mut bundle = Vec::new();
            for e in chunk {
                tiles::push_bundle_entry(&mut bundle, e);
            }
            let id = TileId::Entries {
                index: b as u64,
                width: chunk.len() as u16,
            };
            files.insert(id.path(), bundle);
        }
        for id in tiles::hash_tiles(size) {
            if let TileId::Hashes {
                level,
                index,
                width,
            } = id
            {
                files.insert(id.path(), tree.tile(level, index, width).unwrap());
            }
        }
        for (v, body) in &self.policies {
            files.insert(format!("v1/policies/{v}"), body.clone());
        }
        Server { files }
    }
}

/// An in-memory read API; tests edit `files` to make it lie.
struct Server {
    files: HashMap<String, Vec<u8>>,
}

impl Fetch for Server {
    fn get(&self, path: &str) -> Result<Vec<u8>, FetchError> {
        Fetch::get(&self.files, path)
    }
}

fn config() -> ReplayConfig {
    ReplayConfig {
        ledger: ledger().verifier(),
        anchor: anchor(),
        threads: 2,
        save_every: Duration::from_secs(3600),
        witnesses: None,
    }
}

fn replay_with(server: &Server, state: Option<ReplayState>) -> (ReplayState, Report) {
    audit::replay(server, &config(), state, &mut |_, _| {}, &mut |_| {}).unwrap()
}

fn replay(server: &Server) -> Report {
    replay_with(server, None).1
}

fn codes(r: &Report) -> Vec<(String, Option<u64>)> {
    r.anomalies
        .iter()
        .map(|a| (a.code.clone(), a.index))
        .collect()
}

/// A log with a consent granted and used once, a revoked one, a statutory-free denial.
fn honest() -> Log {
    let mut log = Log::new();
    let c = log.grant(1, 30 * 60 * 1000);
    log.access("housing", Some(c), Decision::Allow, "ok");
    let r = log.grant(2, 30 * 60 * 1000);
    log.revoke(r);
    log.access("medical", None, Decision::Deny, "department_not_allowed");
    log.access("housing", None, Decision::Deny, "consent_required");
    log.access("housing", None, Decision::Deny, "invalid_holder_code");
    log
}

#[test]
fn an_honest_log_replays_without_anomaly() {
    let log = honest();
    let r = replay(&log.serve());
    assert!(r.is_clean(), "{:?}", codes(&r));
    assert_eq!(r.size, log.entries.len() as u64);
    // Three department or channel keys, five requests with signatures.
    assert_eq!(r.stats.entries_by_kind["AccessRecorded"], 4);
    assert_eq!(r.stats.by_department[HOUSING].allow, 1);
    assert_eq!(r.stats.denials_by_reason["department_not_allowed"], 1);
    assert_eq!(r.stats.denials_not_rederivable, 1);
    assert!(
        r.stats.signatures_verified >= 9,
        "{}",
        r.stats.signatures_verified
    );
    assert_eq!(r.department_names[HOUSING], "青岛市住房和城乡建设局");
}

#[test]
fn every_wrong_decision_is_an_anomaly_at_its_entry() {
    let mut log = honest();
    // Allowed without the consent the scenario requires.
    let missing = log.access("housing", None, Decision::Allow, "ok");
    // A consent used twice.
    let c = log.grant(3, 30 * 60 * 1000);
    log.access("housing", Some(c), Decision::Allow, "ok");
    let twice = log.access("housing", Some(c), Decision::Allow, "ok");
    // Used after expiry, after revocation.
    let short = log.grant(4, 500);
    let late = log.access("housing", Some(short), Decision::Allow, "ok");
    let r = log.grant(5, 30 * 60 * 1000);
    log.revoke(r);
    let revoked = log.access("housing", Some(r), Decision::Allow, "ok");
    // A department the scenario does not list, allowed.
    let outside = log.access("medical", None, Decision::Allow, "ok");
    // Denied for a reason the rules do not give.
    let differs = log.access("housing", None, Decision::Deny, "department_not_allowed");
    // A consent never granted.
    let unknown = log.access("housing", Some([9; 32]), Decision::Allow, "ok");
    let report = replay(&log.serve());
    let got = codes(&report);
    for want in [
        ("consent_missing", missing),
        ("consent_reused", twice),
        ("consent_after_expiry", late),
        ("consent_after_revocation", revoked),
        ("department_not_in_scenario", outside),
        ("decision_differs", differs),
        ("consent_unknown", unknown),
    ] {
        assert!(
            got.contains(&(want.0.to_owned(), Some(want.1))),
            "{want:?} not in {got:?}"
        );
    }
    assert!(!report.is_clean());
}

#[test]
fn a_forged_signature_an_unknown_key_and_a_wrong_version_are_found() {
    let mut log = honest();
    let i = log.access("housing", None, Decision::Deny, "invalid_holder_code");
    // Rewrite the entry (before the tree is built): one byte of the signature.
    let mut e = match Entry::decode(&log.entries[i as usize]).unwrap() {
        Entry::AccessRecorded(a) => a,
        _ => unreachable!(),
    };
    e.request.signature[10] ^= 1;
    log.entries[i as usize] = Entry::AccessRecorded(e.clone())
        .encode()
        .unwrap()
        .into_bytes();
    // A request by a key nobody registered.
    let mut u = e.clone();
    u.request.key_id = [0xee; 32];
    let unknown = log.push(Entry::AccessRecorded(u));
    let mut v = e;
    v.policy_version = 2;
    v.request = log.request("housing", "/v1/verifications");
    let version = log.push(Entry::AccessRecorded(v));
    let got = codes(&replay(&log.serve()));
    assert!(
        got.contains(&("signature_invalid".into(), Some(i))),
        "{got:?}"
    );
    assert!(
        got.contains(&("unknown_key".into(), Some(unknown))),
        "{got:?}"
    );
    assert!(
        got.contains(&("policy_version_mismatch".into(), Some(version))),
        "{got:?}"
    );
}

/// A department that signs with the identity as `R` and `s = k·a`: `[s]B − [k]A` is the
/// identity, so ed25519-dalek's `verify_batch` accepts it (no grinding needed), but
/// `verify_strict` refuses a small-order `R`, and so must the replay — in a batch (the
/// long log) and one by one (a short one).
#[test]
fn a_signature_with_a_small_order_r_is_refused_as_verify_strict_refuses_it() {
    use curve25519_dalek::scalar::Scalar;
    use sha2::{Digest as _, Sha512};
    for mut log in [long_log(), honest()] {
        let i = log.access("housing", None, Decision::Deny, "invalid_holder_code");
        let mut e = match Entry::decode(&log.entries[i as usize]).unwrap() {
            Entry::AccessRecorded(a) => a,
            _ => unreachable!(),
        };
        let base = e.request.signature_base().unwrap();
        let mut r = [0u8; 32];
        r[0] = 1; // y = 1: the identity
        let a = log.housing.key.verifying_key();
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r)
                .chain_update(a.as_bytes())
                .chain_update(base.as_bytes())
                .finalize()
                .into(),
        );
        let s = k * log.housing.key.to_scalar();
        e.request.signature[..32].copy_from_slice(&r);
        e.request.signature[32..].copy_from_slice(s.as_bytes());
        let sig = ed25519_dalek::Signature::from_bytes(&e.request.signature);
        assert!(a.verify_strict(base.as_bytes(), &sig).is_err());
        log.entries[i as usize] = Entry::AccessRecorded(e).encode().unwrap().into_bytes();
        let got = codes(&replay(&log.serve()));
        assert!(
            got.contains(&("signature_invalid".into(), Some(i))),
            "{got:?}"
        );
    }
}

/// A log of several bundles, so that tampering has old entries to rewrite.
fn long_log() -> Log {
    let mut log = honest();
    for _ in 0..300 {
        log.access("housing", None, Decision::Deny, "consent_required");
    }
    log
}

#[test]
fn a_rewritten_old_entry_is_found() {
    let log = long_log();
    let mut server = log.serve();
    // Change the operator of an old entry, keeping the bundle well-formed.
    edit_first_bundle(&mut server, |entries| {
        let e = &mut entries[40];
        let at = e.windows(4).position(|w| w == b"op-1").unwrap();
        e[at + 3] = b'2';
    });
    let got = codes(&replay(&server));
    assert!(got.iter().any(|(c, _)| c == "tile_mismatch"), "{got:?}");
}

/// The first bundle of `server`, its entries edited by `edit`.
fn edit_first_bundle(server: &mut Server, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = TileId::Entries {
        index: 0,
        width: 256,
    }
    .path();
    let mut entries: Vec<Vec<u8>> = tiles::split_bundle(&server.files[&path])
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    edit(&mut entries);
    let mut bundle = Vec::new();
    for e in &entries {
        tiles::push_bundle_entry(&mut bundle, e);
    }
    server.files.insert(path, bundle);
}

#[test]
fn a_dropped_entry_is_found() {
    let log = long_log();
    let mut server = log.serve();
    edit_first_bundle(&mut server, |entries| {
        entries.remove(100);
    });
    let got = codes(&replay(&server));
    assert!(got.iter().any(|(c, _)| c == "bundle_malformed"), "{got:?}");
}

#[test]
fn reordered_entries_are_found() {
    let log = long_log();
    let mut server = log.serve();
    edit_first_bundle(&mut server, |entries| entries.swap(20, 21));
    let got = codes(&replay(&server));
    assert!(got.contains(&("tile_mismatch".into(), Some(20))), "{got:?}");
    assert!(got.contains(&("tile_mismatch".into(), Some(21))), "{got:?}");
}

#[test]
fn tiles_that_disagree_with_the_checkpoint_are_found() {
    let log = long_log();
    // A level-0 tile whose hash is not the entry's.
    let mut server = log.serve();
    let path = TileId::Hashes {
        level: 0,
        index: 0,
        width: 256,
    }
    .path();
    let mut tile = server.files[&path].clone();
    tile[5 * 32] ^= 1;
    server.files.insert(path, tile);
    let got = codes(&replay(&server));
    assert!(got.contains(&("tile_mismatch".into(), Some(5))), "{got:?}");

    // A level-1 tile (a partial one here) that disagrees with the entries.
    let mut server = log.serve();
    let path = TileId::Hashes {
        level: 1,
        index: 0,
        width: 1,
    }
    .path();
    let mut tile = server.files[&path].clone();
    tile[0] ^= 1;
    server.files.insert(path, tile);
    let got = codes(&replay(&server));
    assert!(got.iter().any(|(c, _)| c == "tile_mismatch"), "{got:?}");

    // Entries and tiles consistent, but not what the checkpoint signed.
    let mut server = log.serve();
    let signer = ledger();
    let forged = signer.sign_checkpoint(
        log.entries.len() as u64,
        proofless_core::merkle::Hash([1; 32]),
    );
    server.files.insert("checkpoint".into(), forged);
    let got = codes(&replay(&server));
    assert!(got.contains(&("root_mismatch".into(), None)), "{got:?}");
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let log = honest();
    let mut server = log.serve();
    let other = LedgerSigner::from_seed(log.signer.name(), [9; 32]).unwrap();
    let mut tree = MemoryTree::new();
    for e in &log.entries {
        tree.push(e);
    }
    server.files.insert(
        "checkpoint".into(),
        other.sign_checkpoint(log.entries.len() as u64, tree.root()),
    );
    let got = codes(&replay(&server));
    assert_eq!(got, vec![("checkpoint_signature".to_owned(), None)]);
}

#[test]
fn a_forked_or_rolled_back_log_is_found_against_the_checkpoints_seen_before() {
    let mut log = long_log();
    let (state, first) = replay_with(&log.serve(), None);
    assert!(first.is_clean(), "{:?}", codes(&first));
    let seen_size = log.entries.len();

    // The log grows honestly: the next run replays only what is new.
    for _ in 0..10 {
        log.access("housing", None, Decision::Deny, "consent_required");
    }
    let (grown, second) = replay_with(&log.serve(), Some(state.clone()));
    assert!(second.is_clean(), "{:?}", codes(&second));
    assert_eq!(second.replayed_from, seen_size as u64);
    assert_eq!(second.replayed, 10);

    // Fork: the same size, another history (validly signed: the ledger's key itself
    // lies).
    let mut fork = long_log();
    fork.entries.truncate(seen_size);
    let last = fork.entries.len() - 1;
    let mut e = match Entry::decode(&fork.entries[last]).unwrap() {
        Entry::AccessRecorded(a) => a,
        _ => unreachable!(),
    };
    e.case_number = "FORKED".into();
    fork.entries[last] = Entry::AccessRecorded(e).encode().unwrap().into_bytes();
    let got = codes(&replay_with(&fork.serve(), Some(state.clone())).1);
    assert!(got.contains(&("split_view".into(), None)), "{got:?}");

    // Fork, longer: a rewritten history that grew past the size seen before.
    for _ in 0..5 {
        fork.access("housing", None, Decision::Deny, "consent_required");
    }
    let got = codes(&replay_with(&fork.serve(), Some(state)).1);
    assert!(got.iter().any(|(c, _)| c == "split_view"), "{got:?}");

    // Rollback: a smaller log than seen before.
    let mut small = long_log();
    small.entries.truncate(seen_size - 3);
    let got = codes(&replay_with(&small.serve(), Some(grown)).1);
    assert!(got.iter().any(|(c, _)| c == "rollback"), "{got:?}");
}

#[test]
fn a_missing_bundle_is_a_gap_and_policy_files_must_match_their_digest() {
    let log = long_log();
    let mut server = log.serve();
    server.files.remove(
        &TileId::Entries {
            index: 1,
            width: (log.entries.len() - 256) as u16,
        }
        .path(),
    );
    let got = codes(&replay(&server));
    assert!(got.iter().any(|(c, _)| c == "gap"), "{got:?}");

    let mut server = log.serve();
    let body = String::from_utf8(server.files["v1/policies/1"].clone()).unwrap();
    // One more space in one file changes the digest.
    server.files.insert(
        "v1/policies/1".into(),
        body.replacen("max_certificates", " max_certificates", 1)
            .into_bytes(),
    );
    let got = codes(&replay(&server));
    assert!(got.iter().any(|(c, _)| c == "policy_digest"), "{got:?}");
    server.files.remove("v1/policies/1");
    let got = codes(&replay(&server));
    assert!(
        got.iter().any(|(c, _)| c == "policy_unavailable"),
        "{got:?}"
    );
}

#[test]
fn an_interrupted_replay_resumes_from_its_saved_state() {
    // Long enough for a save before the end (the replay works 16 bundles at a time).
    let mut log = long_log();
    for _ in 0..4000 {
        log.access("housing", None, Decision::Deny, "consent_required");
    }
    let server = log.serve();
    let mut saved = None;
    let cfg = ReplayConfig {
        save_every: Duration::ZERO,
        ..config()
    };
    let mut calls = 0;
    audit::replay(&server, &cfg, None, &mut |_, _| {}, &mut |s| {
        calls += 1;
        if calls == 1 {
            saved = Some(s.to_bytes());
        }
    })
    .unwrap();
    // The first save is at a bundle boundary, before the end.
    let state = ReplayState::from_bytes(&saved.unwrap()).unwrap();
    assert!(
        state.next > 0 && state.next < log.entries.len() as u64,
        "{}",
        state.next
    );
    let (_, r) = replay_with(&server, Some(state.clone()));
    assert!(r.is_clean(), "{:?}", codes(&r));
    assert_eq!(r.replayed_from, state.next);
    // The resumed run's statistics are the whole log's.
    assert_eq!(r.stats, replay(&server).stats);
}

/// Whatever byte a server changes in what it serves, the replay reports it and never
/// panics.
#[test]
fn every_flipped_byte_is_reported_never_a_panic() {
    let log = long_log();
    let honest = log.serve();
    let mut paths: Vec<String> = honest.files.keys().cloned().collect();
    paths.sort();
    let mut flips = 0;
    for path in &paths {
        let len = honest.files[path].len();
        // About 20 positions per file, spread over it, first and last bytes included.
        let step = (len / 19).max(1);
        for at in (0..len).step_by(step).chain([len - 1]) {
            let mut server = log.serve();
            server.files.get_mut(path).unwrap()[at] ^= 0x20;
            let report = replay(&server);
            assert!(
                !report.is_clean(),
                "{path} byte {at} changed and nothing was reported"
            );
            flips += 1;
        }
    }
    assert!(flips > 150, "{flips}");
}

fn witness(n: u8) -> proofless_core::cosign::WitnessSigner {
    proofless_core::cosign::WitnessSigner::new(
        &format!("witness-{n}.example"),
        SigningKey::from_bytes(&[n; 32]),
    )
    .unwrap()
}

/// `note` with the cosignatures of `witnesses`.
fn cosigned(note: &[u8], witnesses: &[&proofless_core::cosign::WitnessSigner]) -> Vec<u8> {
    let lines: Vec<String> = witnesses
        .iter()
        .map(|w| w.cosign(note, 1_790_000_000).unwrap())
        .collect();
    proofless_core::cosign::add_lines(note, &lines)
}

fn with_witnesses(k: usize) -> ReplayConfig {
    let ws = vec![witness(1).verifier(), witness(2).verifier()];
    ReplayConfig {
        witnesses: Some(proofless_core::cosign::WitnessPolicy::new(ws, k).unwrap()),
        ..config()
    }
}

fn replay_cfg(server: &Server, cfg: &ReplayConfig) -> Report {
    audit::replay(server, cfg, None, &mut |_, _| {}, &mut |_| {})
        .unwrap()
        .1
}

/// With witnesses pinned, the ledger's cosigned checkpoint must carry their quorum and
/// agree with the log replayed: at the same size, and at an earlier size.
#[test]
fn the_cosigned_checkpoint_must_carry_the_quorum_and_agree_with_the_log() {
    let (w1, w2) = (witness(1), witness(2));
    let mut log = long_log();
    let earlier = log.serve();
    let earlier_size = log.entries.len() as u64;
    for _ in 0..20 {
        log.access("housing", None, Decision::Deny, "consent_required");
    }
    let mut server = log.serve();
    let latest = server.files["checkpoint"].clone();

    // Missing: the ledger has not had it cosigned.
    let got = codes(&replay_cfg(&server, &with_witnesses(2)));
    assert_eq!(got, vec![("cosignature_missing".to_owned(), None)]);

    // Cosigned by both, the latest or an earlier checkpoint of the same log: clean.
    for note in [&latest, &earlier.files["checkpoint"]] {
        server
            .files
            .insert("v1/checkpoint/cosigned".into(), cosigned(note, &[&w1, &w2]));
        let r = replay_cfg(&server, &with_witnesses(2));
        assert!(r.is_clean(), "{:?}", codes(&r));
    }

    // One cosignature where two are needed; a changed one.
    server
        .files
        .insert("v1/checkpoint/cosigned".into(), cosigned(&latest, &[&w1]));
    let got = codes(&replay_cfg(&server, &with_witnesses(2)));
    assert_eq!(got, vec![("cosignature_invalid".to_owned(), None)]);
    assert!(replay_cfg(&server, &with_witnesses(1)).is_clean());
    let mut bad = cosigned(&latest, &[&w1, &w2]);
    let at = bad.len() - 5;
    bad[at] = if bad[at] == b'A' { b'B' } else { b'A' };
    server.files.insert("v1/checkpoint/cosigned".into(), bad);
    let got = codes(&replay_cfg(&server, &with_witnesses(2)));
    assert_eq!(got, vec![("cosignature_invalid".to_owned(), None)]);

    // The witnesses saw another tree at an earlier size (the ledger's key signed a fork
    // for them): a split view, found when the replay passes that size.
    let fork = ledger().sign_checkpoint(earlier_size, proofless_core::merkle::Hash([7; 32]));
    server.files.insert(
        "v1/checkpoint/cosigned".into(),
        cosigned(&fork, &[&w1, &w2]),
    );
    let got = codes(&replay_cfg(&server, &with_witnesses(2)));
    assert!(got.contains(&("split_view".into(), None)), "{got:?}");

    // The witnesses saw a larger tree than the one served: a rollback.
    let mut ahead = log;
    for _ in 0..3 {
        ahead.access("housing", None, Decision::Deny, "consent_required");
    }
    let ahead_note = ahead.serve().files["checkpoint"].clone();
    server.files.insert(
        "v1/checkpoint/cosigned".into(),
        cosigned(&ahead_note, &[&w1, &w2]),
    );
    let got = codes(&replay_cfg(&server, &with_witnesses(2)));
    assert!(got.contains(&("rollback".into(), None)), "{got:?}");
}
