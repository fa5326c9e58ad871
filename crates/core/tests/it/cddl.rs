//! `schemas/cddl/entry.cddl` checked against real encodings (DESIGN.md §3: CDDL for every
//! CBOR structure, checked in tests).
//!
//! Positive cases are produced by `Entry::encode`; negative cases are hand-built maps that
//! the CDDL must refuse, so a schema that accepts everything fails here. Every negative
//! case is also refused by `Entry::decode`, which keeps the schema and the decoder in step.

use ciborium::value::Value;
use proofless_core::cbor::{self, MapBuilder};
use proofless_core::entry::{Entry, KeyEvent};

use crate::samples;

const ENTRY_CDDL: &str = include_str!("../../../../schemas/cddl/entry.cddl");

fn validate(bytes: &[u8]) -> Result<(), String> {
    ::cddl::validate_cbor_from_slice(ENTRY_CDDL, bytes, None).map_err(|e| e.to_string())
}

/// `[kind, body]` from a body map.
fn entry_bytes(kind: u64, body: Value) -> Vec<u8> {
    cbor::encode(&Value::Array(vec![cbor::uint(kind), body]))
}

/// A `KeyEvent` body with every field, except those in `skip`, plus `extra`.
fn key_event_body(skip: &[u64], extra: Option<(u64, Value)>) -> Value {
    let fields = [
        (1, cbor::uint(1_763_000_000_000)),
        (2, cbor::uint(0)),
        (3, cbor::text("issuer")),
        (4, cbor::bytes(&[0xab; 32])),
        (5, cbor::bytes(&[0x30, 0x82, 0x01, 0x0a])),
        (6, cbor::text("11370200MB2850412X")),
    ];
    let mut map = MapBuilder::new();
    for (k, v) in fields.into_iter().chain(extra) {
        if !skip.contains(&k) {
            map = map.insert(k, v);
        }
    }
    map.build()
}

#[test]
fn real_encodings_match_the_schema() {
    let entries = samples::all();
    assert_eq!(entries.len(), 11);
    for entry in entries {
        let bytes = entry.encode().unwrap().into_bytes();
        if let Err(e) = validate(&bytes) {
            panic!("{entry:?} does not match entry.cddl: {e}");
        }
    }
    // The hand-built complete body used by the negative cases is itself valid, so each
    // negative case below differs from a valid entry in exactly one way.
    let full = entry_bytes(4, key_event_body(&[], None));
    validate(&full).unwrap();
    Entry::decode(&full).unwrap();
}

#[test]
fn optional_fields_may_be_absent() {
    let minimal = KeyEvent {
        certificate: None,
        organisation: None,
        ..samples::key_registered()
    };
    let bytes = Entry::KeyEvent(minimal).encode().unwrap().into_bytes();
    validate(&bytes).unwrap();
    validate(&entry_bytes(4, key_event_body(&[5, 6], None))).unwrap();
}

#[test]
fn schema_refuses_what_the_decoder_refuses() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "KeyEvent without key 4 (key_id)",
            entry_bytes(4, key_event_body(&[4], None)),
        ),
        (
            "KeyEvent without key 1 (time)",
            entry_bytes(4, key_event_body(&[1], None)),
        ),
        ("key_id of 31 bytes", {
            let body = key_event_body(&[4, 5, 6], Some((4, cbor::bytes(&[0xab; 31]))));
            entry_bytes(4, body)
        }),
        ("role as a byte string", {
            let body = key_event_body(&[3, 4, 5, 6], Some((3, cbor::bytes(b"issuer"))));
            entry_bytes(4, body)
        }),
        ("action 2", {
            let body = key_event_body(&[2, 3, 4, 5, 6], Some((2, cbor::uint(2))));
            entry_bytes(4, body)
        }),
        (
            "KeyEvent body under kind 7",
            entry_bytes(7, key_event_body(&[], None)),
        ),
        ("reserved kind 5", entry_bytes(5, key_event_body(&[], None))),
        ("unknown key 7 in a KeyEvent", {
            entry_bytes(4, key_event_body(&[], Some((7, cbor::uint(0)))))
        }),
        ("three-element entry", {
            cbor::encode(&Value::Array(vec![
                cbor::uint(4),
                key_event_body(&[], None),
                cbor::uint(0),
            ]))
        }),
    ];
    for (what, bytes) in cases {
        assert!(Entry::decode(&bytes).is_err(), "decoder accepts {what}");
        assert!(validate(&bytes).is_err(), "entry.cddl accepts {what}");
    }
}

const RECEIPT_CDDL: &str = include_str!("../../../../schemas/cddl/receipt.cddl");

#[test]
fn receipt_payload_matches_its_schema() {
    use proofless_core::entry::Decision;
    use proofless_core::receipt::Receipt;
    for decision in [Decision::Allow, Decision::Deny] {
        let r = Receipt {
            origin: "ledger.qingdao.example/proofless/v1".into(),
            request_digest: [1; 32],
            answer_digest: [2; 32],
            index: 1_234_567,
            time: 1_798_761_600_000,
            decision,
        };
        ::cddl::validate_cbor_from_slice(RECEIPT_CDDL, &r.encode(), None)
            .unwrap_or_else(|e| panic!("receipt.cddl: {e}"));
    }
    // A decision of 2 is refused by both the schema and the decoder.
    let mut bad = Receipt {
        origin: "o".into(),
        request_digest: [1; 32],
        answer_digest: [2; 32],
        index: 0,
        time: 0,
        decision: Decision::Allow,
    }
    .encode();
    let last = bad.len() - 1;
    assert_eq!(bad[last], 0x01);
    bad[last] = 0x02;
    assert!(::cddl::validate_cbor_from_slice(RECEIPT_CDDL, &bad, None).is_err());
    assert!(Receipt::decode(&bad).is_err());
}
