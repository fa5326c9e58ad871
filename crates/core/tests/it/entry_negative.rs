//! What `Entry::decode` must refuse (DESIGN.md §3: non-canonical input is rejected), and
//! that no input makes it panic.

use proofless_core::cbor::{CborError, ShapeError};
use proofless_core::entry::{Entry, EntryError, KeyAction, KeyEvent, MAX_ENTRY_SIZE};
use proptest::prelude::*;

use crate::samples;

/// A small KeyEvent, written out by hand so that tests can splice bytes at known offsets.
fn key_event() -> Entry {
    Entry::KeyEvent(KeyEvent {
        time: 1,
        action: KeyAction::Retired,
        role: "issuer".into(),
        key_id: [0x11; 32],
        certificate: None,
        organisation: None,
    })
}

const HEAD: &[u8] = &[
    0x82, // array(2)
    0x04, // kind 4
    0xa4, // map(4)
    0x01, 0x01, // 1: time 1
    0x02, 0x01, // 2: action retired
    0x03, 0x66, b'i', b's', b's', b'u', b'e', b'r', // 3: "issuer"
    0x04, 0x58, 0x20, // 4: bytes(32) ...
];

fn key_event_bytes() -> Vec<u8> {
    let mut b = HEAD.to_vec();
    b.extend([0x11; 32]);
    b
}

/// `key_event_bytes()` with `bytes[at..at + len]` replaced by `with`.
fn splice(at: usize, len: usize, with: &[u8]) -> Vec<u8> {
    let mut b = key_event_bytes();
    b.splice(at..at + len, with.iter().copied());
    b
}

fn not_canonical(r: Result<Entry, EntryError>) -> bool {
    matches!(r, Err(EntryError::Cbor(CborError::NotCanonical(_))))
}

fn body_error(r: Result<Entry, EntryError>) -> Option<ShapeError> {
    match r {
        Err(EntryError::Body { source, .. }) => Some(source),
        _ => None,
    }
}

#[test]
fn the_hand_written_entry_is_the_real_encoding() {
    // The splices below are only meaningful if the baseline is exactly what the encoder
    // writes and what the decoder accepts.
    let bytes = key_event_bytes();
    assert_eq!(key_event().encode().unwrap().as_bytes(), bytes.as_slice());
    assert_eq!(Entry::decode(&bytes).unwrap(), key_event());
}

#[test]
fn non_shortest_integers_and_lengths() {
    for (what, bytes) in [
        ("kind in one extra byte", splice(1, 1, &[0x18, 0x04])),
        ("time in one extra byte", splice(4, 1, &[0x18, 0x01])),
        ("time in two extra bytes", splice(4, 1, &[0x19, 0x00, 0x01])),
        (
            "time in eight extra bytes",
            splice(4, 1, &[0x1b, 0, 0, 0, 0, 0, 0, 0, 1]),
        ),
        ("map key in one extra byte", splice(3, 1, &[0x18, 0x01])),
        ("text length in one extra byte", splice(8, 1, &[0x78, 0x06])),
        (
            "byte string length in two bytes",
            splice(16, 2, &[0x59, 0x00, 0x20]),
        ),
        (
            "array length in one extra byte",
            splice(0, 1, &[0x98, 0x02]),
        ),
        ("map length in one extra byte", splice(2, 1, &[0xb8, 0x04])),
    ] {
        assert!(not_canonical(Entry::decode(&bytes)), "{what} accepted");
    }
}

#[test]
fn indefinite_lengths() {
    let mut array = splice(0, 1, &[0x9f]);
    array.push(0xff);
    let mut map = splice(2, 1, &[0xbf]);
    map.push(0xff);
    // "issuer" as the chunked text (_ "iss", "uer").
    let text = splice(
        8,
        7,
        &[0x7f, 0x63, b'i', b's', b's', 0x63, b'u', b'e', b'r', 0xff],
    );
    for (what, bytes) in [("array", array), ("map", map), ("text", text)] {
        assert!(
            not_canonical(Entry::decode(&bytes)),
            "indefinite {what} accepted"
        );
    }
}

#[test]
fn unsorted_and_duplicate_keys() {
    // Fields 1 and 2 swapped.
    let unsorted = splice(3, 4, &[0x02, 0x01, 0x01, 0x01]);
    assert!(not_canonical(Entry::decode(&unsorted)));
    // Field 1 twice (map of 5), adjacent and with the same value.
    let duplicate = splice(2, 3, &[0xa5, 0x01, 0x01, 0x01, 0x01]);
    assert!(not_canonical(Entry::decode(&duplicate)));
    // Field 4 repeated after itself, at the end.
    let mut late = splice(2, 1, &[0xa5]);
    late.extend([0x04, 0x58, 0x20]);
    late.extend([0x11; 32]);
    assert!(not_canonical(Entry::decode(&late)));
}

#[test]
fn trailing_bytes() {
    for tail in [&[0x00][..], &[0xff], &[0x82, 0x04, 0xa0]] {
        let mut bytes = key_event_bytes();
        bytes.extend_from_slice(tail);
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryError::Cbor(CborError::TrailingBytes))
        );
    }
}

#[test]
fn unknown_kinds() {
    for kind in [0u8, 8, 9, 23] {
        let bytes = splice(1, 1, &[kind]);
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryError::UnknownKind(kind.into()))
        );
    }
    let big = splice(
        1,
        1,
        &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    );
    assert_eq!(Entry::decode(&big), Err(EntryError::UnknownKind(u64::MAX)));
    // A negative or text kind is not a kind at all.
    assert_eq!(
        Entry::decode(&splice(1, 1, &[0x20])),
        Err(EntryError::NotAnEntry)
    );
    assert_eq!(
        Entry::decode(&splice(1, 1, &[0x61, b'4'])),
        Err(EntryError::NotAnEntry)
    );
}

#[test]
fn unknown_body_field() {
    // Field 7 appended to a KeyEvent (fields 1–6 only).
    let mut bytes = splice(2, 1, &[0xa5]);
    bytes.extend([0x07, 0x00]);
    assert_eq!(
        body_error(Entry::decode(&bytes)),
        Some(ShapeError::Unknown(7))
    );
    // Field 22 appended to an AccessRecorded (fields 1–21 only): its map header is 0xb5
    // (21 fields) with consent and holder present.
    let access = samples::access_with_consent();
    let mut bytes = Entry::AccessRecorded(access).encode().unwrap().into_bytes();
    assert_eq!(bytes[2], 0xb5);
    bytes[2] = 0xb6;
    bytes.extend([0x16, 0x00]);
    assert_eq!(
        body_error(Entry::decode(&bytes)),
        Some(ShapeError::Unknown(22))
    );
    // A negative key.
    let mut bytes = splice(2, 1, &[0xa5]);
    bytes.extend([0x20, 0x00]);
    assert!(!not_canonical(Entry::decode(&bytes)));
    assert!(Entry::decode(&bytes).is_err());
}

#[test]
fn wrong_field_types() {
    for (what, bytes, field) in [
        ("time as text", splice(4, 1, &[0x61, b'1']), 1),
        ("time negative", splice(4, 1, &[0x20]), 1),
        ("action 2", splice(6, 1, &[0x02]), 2),
        ("role as bytes", splice(8, 1, &[0x46]), 3),
        ("key_id as text", splice(16, 2, &[0x78, 0x20]), 4),
        ("key_id of 31 bytes", splice(16, 3, &[0x58, 0x1f]), 4),
    ] {
        assert_eq!(
            body_error(Entry::decode(&bytes)),
            Some(ShapeError::Invalid(field)),
            "{what}"
        );
    }
    // The body is not a map at all.
    assert_eq!(
        body_error(Entry::decode(&[0x82, 0x04, 0x80])),
        Some(ShapeError::NotAMap)
    );
    // Floats, tags and null are refused wherever they appear.
    for bad in [&[0xf9, 0x3c, 0x00][..], &[0xc1, 0x01], &[0xf6]] {
        assert!(not_canonical(Entry::decode(&splice(4, 1, bad))));
    }
}

#[test]
fn size_limit_is_65535_bytes() {
    // A well-formed byte string of exactly `len` bytes in all.
    let bstr = |len: usize| {
        let mut b = vec![0x5a];
        b.extend(u32::try_from(len - 5).unwrap().to_be_bytes());
        b.resize(len, 0);
        b
    };
    assert_eq!(MAX_ENTRY_SIZE, 65_535);
    assert_eq!(
        Entry::decode(&bstr(65_536)),
        Err(EntryError::Cbor(CborError::TooLarge {
            len: 65_536,
            max: 65_535
        }))
    );
    // One byte less passes the size check and fails later, for another reason: the limit
    // is exactly where it is documented to be. (0x5a is not the shortest length header
    // for 65,530 bytes, so it fails as non-canonical.)
    assert!(not_canonical(Entry::decode(&bstr(65_535))));
}

#[test]
fn huge_length_claims_do_not_allocate() {
    // A byte string claiming 4 GiB (2^32 bytes), and one claiming 2^32 - 1, as field 4.
    for header in [
        &[0x5b, 0, 0, 0, 1, 0, 0, 0, 0][..],
        &[0x5a, 0xff, 0xff, 0xff, 0xff],
    ] {
        let bytes = splice(16, 2, header);
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryError::Cbor(CborError::Malformed))
        );
    }
    // The whole entry as a 2^64 - 1 element array.
    let bytes = [0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x04];
    assert_eq!(
        Entry::decode(&bytes),
        Err(EntryError::Cbor(CborError::Malformed))
    );
}

#[test]
fn deep_nesting() {
    // Up to 30,000 levels: deeper map nests would exceed the size limit first.
    for depth in [17, 100, 10_000, 30_000] {
        // [4, [[[…[0]…]]]] as the body.
        let mut bytes = vec![0x82, 0x04];
        bytes.extend(std::iter::repeat_n(0x81, depth));
        bytes.push(0x00);
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryError::Cbor(CborError::Malformed)),
            "depth {depth}"
        );
        // The same with maps: {0: {0: … 0}}.
        let mut bytes = vec![0x82, 0x04];
        for _ in 0..depth {
            bytes.extend([0xa1, 0x00]);
        }
        bytes.push(0x00);
        assert_eq!(
            Entry::decode(&bytes),
            Err(EntryError::Cbor(CborError::Malformed)),
            "map depth {depth}"
        );
    }
}

/// If `bytes` decode, they are exactly the canonical encoding of what they decode to.
fn accepted_only_if_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(entry) = Entry::decode(bytes) {
        let again = entry
            .encode()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.as_bytes(), bytes);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..=512)) {
        accepted_only_if_canonical(&bytes)?;
    }

    #[test]
    fn mutated_entries_never_panic(which in 0usize..5, at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut entries = samples::all();
        entries.push(key_event());
        let mut bytes = entries[which].encode().unwrap().into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        accepted_only_if_canonical(&bytes)?;
    }

    #[test]
    fn truncated_entries_are_refused(which in 0usize..4, at in any::<prop::sample::Index>()) {
        let bytes = samples::all()[which].encode().unwrap().into_bytes();
        let cut = at.index(bytes.len());
        prop_assert!(Entry::decode(&bytes[..cut]).is_err());
    }
}
