//! Deterministic CBOR (RFC 8949 §4.2.1, "core deterministic encoding").
//!
//! Every structure the ledger signs or stores is encoded here, and every structure it
//! receives is decoded here. Determinism comes by construction, not by luck:
//!
//! * maps are built only from [`MapBuilder`], which takes small unsigned integer keys in
//!   strictly ascending order — for such keys numeric order *is* the bytewise order of
//!   their encodings that §4.2.1 requires;
//! * integers, lengths and tags are written by `ciborium` in their shortest form, and
//!   only definite lengths are ever produced;
//! * floats, tags and simple values other than `true` and `false` (`null`, `undefined`)
//!   are not part of any Proofless structure.
//!
//! Decoding ([`decode_canonical`]) bounds the input size *before* building anything. One
//! pass over the input then accepts what is in deterministic encoding and builds the value
//! as it goes (shortest-form arguments, definite lengths no longer than the rest of the
//! input, map keys strictly ascending by their encodings, no floats, tags or `null`).
//! Whatever that pass does not accept is decided by the reference decoder: it parses with
//! `ciborium` (nesting depth bounded), then re-encodes the value and demands the exact
//! input bytes back. That single comparison rejects non-shortest integers and lengths,
//! indefinite-length items and trailing bytes; a walk over the value rejects unsorted or
//! duplicate map keys, floats and tags. The answers, values and errors, are the reference
//! decoder's (a differential test below checks it).

use ciborium::value::{Integer, Value};
use thiserror::Error;

/// Largest nesting depth accepted on decode. Proofless structures nest at most four
/// levels; the margin leaves room for later entry kinds without inviting stack bombs.
pub const MAX_DEPTH: usize = 16;

/// Why a byte string was refused as canonical CBOR.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CborError {
    /// The input is longer than the limit for this structure.
    #[error("CBOR item is {len} bytes, the limit is {max}")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit that applied.
        max: usize,
    },
    /// The input is not well-formed CBOR, or nests deeper than [`MAX_DEPTH`].
    #[error("malformed CBOR")]
    Malformed,
    /// Bytes follow the first complete CBOR item.
    #[error("trailing bytes after the CBOR item")]
    TrailingBytes,
    /// Well-formed, but not in the deterministic encoding (RFC 8949 §4.2.1).
    #[error("CBOR is not in deterministic encoding: {0}")]
    NotCanonical(&'static str),
}

/// Encodes a value. Values built by this crate are always encodable.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    // INVARIANT: serialising a `Value` into a `Vec` cannot fail: the writer is infallible
    // and every `Value` variant has an encoding.
    #[allow(clippy::expect_used)]
    ciborium::ser::into_writer(value, &mut out).expect("CBOR encoding into a Vec cannot fail");
    out
}

/// Decodes `bytes` as exactly one CBOR item in deterministic encoding, at most `max_len`
/// bytes long.
///
/// One pass over the input ([`fast::decode`]) accepts the deterministic encodings
/// Proofless uses and builds the value directly. Anything it does not accept — not
/// canonical, malformed, or merely unusual (nesting deeper than it goes) — is decided by
/// the reference decoder ([`decode_reference`]: parse with `ciborium`, walk the value,
/// re-encode and compare), which also names the error. So the answers are the reference
/// decoder's, as long as the single pass accepts only what the reference accepts, with
/// the same value; a differential test checks that on valid, mutated and random inputs.
pub fn decode_canonical(bytes: &[u8], max_len: usize) -> Result<Value, CborError> {
    if bytes.len() > max_len {
        return Err(CborError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    match fast::decode(bytes) {
        Some(value) => Ok(value),
        None => decode_reference(bytes),
    }
}

/// The reference decoder: parses with `ciborium`, walks the value (floats, tags, `null`,
/// map key order), then re-encodes it and demands the exact input bytes back. That
/// single comparison rejects non-shortest integers and lengths, indefinite-length items
/// and trailing bytes. The size limit is checked by the caller.
fn decode_reference(bytes: &[u8]) -> Result<Value, CborError> {
    let mut reader = bytes;
    let value: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|_| CborError::Malformed)?;
    if !reader.is_empty() {
        return Err(CborError::TrailingBytes);
    }
    check_value(&value)?;
    if !encodes_to(&value, bytes) {
        return Err(CborError::NotCanonical(
            "an integer, length or float is not in its shortest form, or a length is indefinite",
        ));
    }
    Ok(value)
}

/// Whether `value` encodes to exactly `expected`, compared while encoding (no copy).
fn encodes_to(value: &Value, expected: &[u8]) -> bool {
    struct Compare<'a> {
        rest: &'a [u8],
    }
    impl std::io::Write for Compare<'_> {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            match self.rest.strip_prefix(buf) {
                Some(rest) => {
                    self.rest = rest;
                    Ok(buf.len())
                }
                // Stop at the first difference.
                None => Err(std::io::ErrorKind::InvalidData.into()),
            }
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut w = Compare { rest: expected };
    ciborium::ser::into_writer(value, &mut w).is_ok() && w.rest.is_empty()
}

/// Rejects value kinds that Proofless never uses and maps whose keys are not in
/// deterministic order.
pub(crate) fn check_value(value: &Value) -> Result<(), CborError> {
    match value {
        Value::Float(_) => Err(CborError::NotCanonical("floats are not allowed")),
        Value::Tag(..) => Err(CborError::NotCanonical("tags are not allowed")),
        Value::Null => Err(CborError::NotCanonical("null is not allowed")),
        Value::Array(items) => items.iter().try_for_each(check_value),
        Value::Map(pairs) => {
            for (key, val) in pairs {
                check_value(key)?;
                check_value(val)?;
            }
            for pair in pairs.windows(2) {
                // RFC 8949 §4.2.1: keys sorted by the bytewise lexicographic order of
                // their deterministic encodings; equal keys are duplicates.
                if key_order(&pair[0].0, &pair[1].0) != std::cmp::Ordering::Less {
                    return Err(CborError::NotCanonical(
                        "map keys are unsorted or duplicated",
                    ));
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The order of two map keys' deterministic encodings. Unsigned integers and text strings,
/// the only keys Proofless uses, are compared without encoding them: a shortest-form
/// header grows with the value it encodes, so for unsigned integers the order is numeric,
/// and for text strings it is by length, then bytewise. Anything else is encoded.
fn key_order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Integer(x), Value::Integer(y)) => match (u64::try_from(*x), u64::try_from(*y)) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => encode(a).cmp(&encode(b)),
        },
        (Value::Text(x), Value::Text(y)) => (x.len(), x.as_bytes()).cmp(&(y.len(), y.as_bytes())),
        _ => encode(a).cmp(&encode(b)),
    }
}

/// Builds a CBOR map with unsigned integer keys in strictly ascending order, so that the
/// result is deterministic by construction.
#[derive(Debug, Default)]
pub struct MapBuilder {
    pairs: Vec<(Value, Value)>,
    last: Option<u64>,
}

impl MapBuilder {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key => value`.
    ///
    /// # Panics
    /// When `key` is not greater than the previous key: that is a programming error in
    /// the encoder of a Proofless structure, caught by every test that encodes it.
    pub fn insert(mut self, key: u64, value: Value) -> Self {
        assert!(
            self.last.is_none_or(|last| key > last),
            "map keys must be inserted in ascending order"
        );
        self.last = Some(key);
        self.pairs.push((Value::Integer(key.into()), value));
        self
    }

    /// Adds `key => value` when `value` is present.
    pub fn insert_opt(self, key: u64, value: Option<Value>) -> Self {
        match value {
            Some(v) => self.insert(key, v),
            None => self,
        }
    }

    /// The finished map.
    pub fn build(self) -> Value {
        Value::Map(self.pairs)
    }
}

/// Why a canonical CBOR value does not have the shape of the expected structure.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShapeError {
    /// A required field is absent.
    #[error("field {0} is missing")]
    Missing(u64),
    /// A field holds the wrong CBOR type or an out-of-range value.
    #[error("field {0} has the wrong type or an invalid value")]
    Invalid(u64),
    /// A field that this structure does not define.
    #[error("field {0} is not defined for this structure")]
    Unknown(u64),
    /// The value is not a map with unsigned integer keys.
    #[error("expected a map with unsigned integer keys")]
    NotAMap,
}

/// Reads fields out of a decoded map and refuses any key it was not asked about.
#[derive(Debug)]
pub struct MapReader {
    pairs: Vec<(u64, Value)>,
}

impl MapReader {
    /// Wraps a decoded map; every key must be an unsigned integer.
    pub fn new(value: Value) -> Result<Self, ShapeError> {
        let Value::Map(pairs) = value else {
            return Err(ShapeError::NotAMap);
        };
        let mut out = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = match k {
                Value::Integer(i) => u64::try_from(i).map_err(|_| ShapeError::NotAMap)?,
                _ => return Err(ShapeError::NotAMap),
            };
            out.push((key, v));
        }
        Ok(Self { pairs: out })
    }

    /// Removes and returns field `key`, if present.
    pub fn take_opt(&mut self, key: u64) -> Option<Value> {
        let pos = self.pairs.iter().position(|(k, _)| *k == key)?;
        Some(self.pairs.remove(pos).1)
    }

    /// Removes and returns field `key`, which must be present.
    pub fn take(&mut self, key: u64) -> Result<Value, ShapeError> {
        self.take_opt(key).ok_or(ShapeError::Missing(key))
    }

    /// Required unsigned integer.
    pub fn uint(&mut self, key: u64) -> Result<u64, ShapeError> {
        as_uint(self.take(key)?).ok_or(ShapeError::Invalid(key))
    }

    /// Required text string of at most `max` bytes.
    pub fn text(&mut self, key: u64, max: usize) -> Result<String, ShapeError> {
        as_text(self.take(key)?, max).ok_or(ShapeError::Invalid(key))
    }

    /// Optional text string of at most `max` bytes.
    pub fn text_opt(&mut self, key: u64, max: usize) -> Result<Option<String>, ShapeError> {
        self.take_opt(key)
            .map(|v| as_text(v, max).ok_or(ShapeError::Invalid(key)))
            .transpose()
    }

    /// Required byte string of at most `max` bytes.
    pub fn bytes(&mut self, key: u64, max: usize) -> Result<Vec<u8>, ShapeError> {
        as_bytes(self.take(key)?, max).ok_or(ShapeError::Invalid(key))
    }

    /// Optional byte string of at most `max` bytes.
    pub fn bytes_opt(&mut self, key: u64, max: usize) -> Result<Option<Vec<u8>>, ShapeError> {
        self.take_opt(key)
            .map(|v| as_bytes(v, max).ok_or(ShapeError::Invalid(key)))
            .transpose()
    }

    /// Required 32-byte digest.
    pub fn digest(&mut self, key: u64) -> Result<[u8; 32], ShapeError> {
        let b = self.bytes(key, 32)?;
        b.try_into().map_err(|_| ShapeError::Invalid(key))
    }

    /// Optional 32-byte digest.
    pub fn digest_opt(&mut self, key: u64) -> Result<Option<[u8; 32]>, ShapeError> {
        self.bytes_opt(key, 32)?
            .map(|b| b.try_into().map_err(|_| ShapeError::Invalid(key)))
            .transpose()
    }

    /// Required array of at most `max_items` text strings of at most `max` bytes each.
    pub fn text_array(
        &mut self,
        key: u64,
        max_items: usize,
        max: usize,
    ) -> Result<Vec<String>, ShapeError> {
        let Value::Array(items) = self.take(key)? else {
            return Err(ShapeError::Invalid(key));
        };
        if items.len() > max_items {
            return Err(ShapeError::Invalid(key));
        }
        items
            .into_iter()
            .map(|v| as_text(v, max).ok_or(ShapeError::Invalid(key)))
            .collect()
    }

    /// Succeeds only when every field has been taken.
    pub fn finish(self) -> Result<(), ShapeError> {
        match self.pairs.first() {
            Some((k, _)) => Err(ShapeError::Unknown(*k)),
            None => Ok(()),
        }
    }
}

/// The value as an unsigned integer.
pub fn as_uint(v: Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(i).ok(),
        _ => None,
    }
}

fn as_text(v: Value, max: usize) -> Option<String> {
    match v {
        Value::Text(s) if s.len() <= max => Some(s),
        _ => None,
    }
}

fn as_bytes(v: Value, max: usize) -> Option<Vec<u8>> {
    match v {
        Value::Bytes(b) if b.len() <= max => Some(b),
        _ => None,
    }
}

/// A CBOR unsigned integer.
pub fn uint(v: u64) -> Value {
    Value::Integer(Integer::from(v))
}

/// A CBOR text string.
pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// A CBOR byte string.
pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

/// A CBOR array of text strings.
pub fn text_array(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| text(s)).collect())
}

/// The single-pass decoder of deterministic CBOR behind [`decode_canonical`].
mod fast {
    use ciborium::value::{Integer, Value};

    /// Deepest nesting this pass decodes itself; deeper input goes to the reference
    /// decoder. Proofless structures nest at most four levels.
    const DEPTH: usize = 8;

    /// The value of `bytes` if they are exactly one item in deterministic encoding made
    /// only of unsigned and negative integers, byte and text strings, arrays, maps with
    /// strictly ascending keys, `true` and `false`, nested at most [`DEPTH`] deep;
    /// `None` for anything else (which the reference decoder then decides).
    pub(super) fn decode(bytes: &[u8]) -> Option<Value> {
        let mut r = Reader { rest: bytes };
        let v = r.item(0)?;
        r.rest.is_empty().then_some(v)
    }

    struct Reader<'a> {
        rest: &'a [u8],
    }

    impl<'a> Reader<'a> {
        fn take(&mut self, n: usize) -> Option<&'a [u8]> {
            if n > self.rest.len() {
                return None;
            }
            let (head, tail) = self.rest.split_at(n);
            self.rest = tail;
            Some(head)
        }

        /// The argument of a header with additional information `info`, in its shortest
        /// form only (RFC 8949 §4.2.1): no indefinite lengths, no reserved values.
        fn argument(&mut self, info: u8) -> Option<u64> {
            let (n, min) = match info {
                0..=23 => return Some(u64::from(info)),
                24 => (1, 24),
                25 => (2, 0x100),
                26 => (4, 0x1_0000),
                27 => (8, 0x1_0000_0000),
                _ => return None,
            };
            let mut b = [0u8; 8];
            b[8 - n..].copy_from_slice(self.take(n)?);
            let v = u64::from_be_bytes(b);
            (v >= min).then_some(v)
        }

        /// A length, which must fit in what is left of the input (each element takes at
        /// least one byte), so that nothing is allocated for a length the input cannot
        /// hold.
        fn length(&mut self, info: u8, per_element: usize) -> Option<usize> {
            let n = usize::try_from(self.argument(info)?).ok()?;
            (n <= self.rest.len() / per_element).then_some(n)
        }

        fn item(&mut self, depth: usize) -> Option<Value> {
            if depth > DEPTH {
                return None;
            }
            let head = *self.take(1)?.first()?;
            let (major, info) = (head >> 5, head & 0x1f);
            Some(match major {
                0 => Value::Integer(Integer::from(self.argument(info)?)),
                1 => Value::Integer(Integer::try_from(-1 - i128::from(self.argument(info)?)).ok()?),
                2 => {
                    let n = self.length(info, 1)?;
                    Value::Bytes(self.take(n)?.to_vec())
                }
                3 => {
                    let n = self.length(info, 1)?;
                    Value::Text(std::str::from_utf8(self.take(n)?).ok()?.to_owned())
                }
                4 => {
                    let n = self.length(info, 1)?;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.item(depth + 1)?);
                    }
                    Value::Array(items)
                }
                5 => {
                    let n = self.length(info, 2)?;
                    let mut pairs = Vec::with_capacity(n);
                    let mut previous: Option<&[u8]> = None;
                    for _ in 0..n {
                        let before = self.rest;
                        let key = self.item(depth + 1)?;
                        let encoded = &before[..before.len() - self.rest.len()];
                        // Keys strictly ascending in the bytewise order of their
                        // encodings, which are deterministic (checked as they were read).
                        if previous.is_some_and(|p| p >= encoded) {
                            return None;
                        }
                        previous = Some(encoded);
                        pairs.push((key, self.item(depth + 1)?));
                    }
                    Value::Map(pairs)
                }
                7 => match info {
                    20 => Value::Bool(false),
                    21 => Value::Bool(true),
                    _ => return None,
                },
                // Tags (major 6) are not part of any Proofless structure.
                _ => return None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn canon(bytes: &[u8]) -> Result<Value, CborError> {
        decode_canonical(bytes, 1024)
    }

    #[test]
    fn accepts_shortest_forms() {
        assert_eq!(canon(&[0x17]).unwrap(), uint(23));
        assert_eq!(canon(&[0x18, 0x18]).unwrap(), uint(24));
        assert_eq!(
            canon(&[0xa1, 0x01, 0x02]).unwrap(),
            MapBuilder::new().insert(1, uint(2)).build()
        );
    }

    #[test]
    fn rejects_non_shortest_integer() {
        assert!(matches!(
            canon(&[0x18, 0x17]),
            Err(CborError::NotCanonical(_))
        ));
        assert!(matches!(
            canon(&[0x19, 0x00, 0x01]),
            Err(CborError::NotCanonical(_))
        ));
    }

    #[test]
    fn rejects_indefinite_lengths() {
        // [_ 1] and (_ h'01')
        assert!(matches!(
            canon(&[0x9f, 0x01, 0xff]),
            Err(CborError::NotCanonical(_))
        ));
        assert!(matches!(
            canon(&[0x5f, 0x41, 0x01, 0xff]),
            Err(CborError::NotCanonical(_))
        ));
    }

    #[test]
    fn rejects_unsorted_and_duplicate_keys() {
        assert!(matches!(
            canon(&[0xa2, 0x02, 0x00, 0x01, 0x00]),
            Err(CborError::NotCanonical(_))
        ));
        assert!(matches!(
            canon(&[0xa2, 0x01, 0x00, 0x01, 0x00]),
            Err(CborError::NotCanonical(_))
        ));
    }

    #[test]
    fn rejects_trailing_bytes_floats_tags_and_truncation() {
        assert_eq!(canon(&[0x01, 0x01]), Err(CborError::TrailingBytes));
        assert!(matches!(
            canon(&[0xf9, 0x3c, 0x00]),
            Err(CborError::NotCanonical(_))
        ));
        assert!(matches!(
            canon(&[0xc1, 0x01]),
            Err(CborError::NotCanonical(_))
        ));
        assert_eq!(canon(&[0x82, 0x01]), Err(CborError::Malformed));
        assert_eq!(canon(&[]), Err(CborError::Malformed));
    }

    #[test]
    fn rejects_size_and_depth_bombs() {
        assert!(matches!(
            decode_canonical(&[0; 2000], 1024),
            Err(CborError::TooLarge { .. })
        ));
        // A byte string that claims 2^32 bytes in a 9-byte input: must fail, not allocate.
        assert_eq!(
            canon(&[0x5b, 0, 0, 0, 1, 0, 0, 0, 0]),
            Err(CborError::Malformed)
        );
        // An array that claims 2^62 items.
        assert_eq!(
            canon(&[0x9b, 0x40, 0, 0, 0, 0, 0, 0, 0]),
            Err(CborError::Malformed)
        );
        // 100 nested arrays.
        let mut deep = vec![0x81; 100];
        deep.push(0x01);
        assert_eq!(canon(&deep), Err(CborError::Malformed));
    }

    #[test]
    fn key_order_agrees_with_encoded_order() {
        let keys = [
            uint(0),
            uint(23),
            uint(24),
            uint(255),
            uint(256),
            uint(65_535),
            uint(65_536),
            uint(u64::MAX),
            text(""),
            text("a"),
            text("b"),
            text("aa"),
            text(&"x".repeat(23)),
            text(&"x".repeat(24)),
            text(&"y".repeat(255)),
            text(&"x".repeat(256)),
            Value::Integer((-1).into()),
            Value::Bool(true),
            bytes(b"a"),
        ];
        for a in &keys {
            for b in &keys {
                assert_eq!(key_order(a, b), encode(a).cmp(&encode(b)), "{a:?} vs {b:?}");
            }
        }
    }

    /// Nesting depth of a value (a scalar is 1).
    fn depth(v: &Value) -> usize {
        match v {
            Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Map(pairs) => {
                1 + pairs
                    .iter()
                    .map(|(k, v)| depth(k).max(depth(v)))
                    .max()
                    .unwrap_or(0)
            }
            _ => 1,
        }
    }

    /// The single pass accepts only what the reference decoder accepts, with the same
    /// value, and `decode_canonical` answers exactly as the reference.
    fn agrees(bytes: &[u8]) -> Option<Value> {
        let reference = decode_reference(bytes);
        let fast = fast::decode(bytes);
        if let Some(v) = &fast {
            assert_eq!(
                reference.as_ref(),
                Ok(v),
                "single pass accepted {bytes:02x?}"
            );
        }
        assert_eq!(decode_canonical(bytes, usize::MAX), reference);
        fast
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<u64>().prop_map(uint),
            (0u64..300).prop_map(uint),
            any::<i64>().prop_map(|n| Value::Integer(n.into())),
            proptest::collection::vec(any::<u8>(), 0..30).prop_map(Value::Bytes),
            ".{0,26}".prop_map(Value::Text),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(10, 96, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                // Sorted integer keys (deterministic), sorted text keys, and arbitrary
                // keys in arbitrary order.
                proptest::collection::btree_map(0u64..40, inner.clone(), 0..5)
                    .prop_map(|m| Value::Map(m.into_iter().map(|(k, v)| (uint(k), v)).collect())),
                proptest::collection::btree_map("[a-z]{0,3}", inner.clone(), 0..5).prop_map(|m| {
                    let mut pairs: Vec<(Value, Value)> =
                        m.into_iter().map(|(k, v)| (text(&k), v)).collect();
                    pairs.sort_by(|a, b| key_order(&a.0, &b.0));
                    Value::Map(pairs)
                }),
                proptest::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn single_pass_agrees_on_encodings_and_their_mutations(
            v in arb_value(),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let bytes = encode(&v);
            let fast = agrees(&bytes);
            // Every deterministic encoding nested no deeper than the single pass goes is
            // accepted by it (otherwise it would silently cost the reference's time).
            if decode_reference(&bytes).is_ok() && depth(&v) <= 9 {
                proptest::prop_assert_eq!(fast, Some(v));
            }
            let mut changed = bytes.clone();
            changed[at.index(bytes.len())] = byte;
            agrees(&changed);
            agrees(&bytes[..at.index(bytes.len())]);
            let mut longer = bytes.clone();
            longer.push(byte);
            agrees(&longer);
        }

        #[test]
        fn single_pass_agrees_on_arbitrary_bytes(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..48),
        ) {
            agrees(&bytes);
        }
    }

    #[test]
    fn single_pass_agrees_at_every_nesting_depth() {
        for d in 1..40 {
            let mut arrays = vec![0x81; d];
            arrays.push(0x01);
            agrees(&arrays);
            let mut maps = Vec::new();
            for _ in 0..d {
                maps.extend([0xa1, 0x01]);
            }
            maps.push(0x01);
            agrees(&maps);
        }
        // Nine levels (the single pass's deepest) are its own; deeper goes to the reference.
        let mut nine = vec![0x81; 8];
        nine.push(0x01);
        assert!(fast::decode(&nine).is_some());
        let mut ten = vec![0x81; 9];
        ten.push(0x01);
        assert!(fast::decode(&ten).is_none());
        assert!(decode_canonical(&ten, 1024).is_ok());
    }

    #[test]
    fn single_pass_refuses_what_the_reference_refuses() {
        for bad in [
            &[0x18, 0x17][..],               // non-shortest integer
            &[0x38, 0x10],                   // non-shortest negative integer
            &[0x59, 0x00, 0x01, 0x00],       // non-shortest length
            &[0x9f, 0x01, 0xff],             // indefinite array
            &[0xa2, 0x02, 0x00, 0x01, 0x00], // unsorted keys
            &[0xa2, 0x01, 0x00, 0x01, 0x00], // duplicate keys
            &[0xf6],                         // null
            &[0xf7],                         // undefined
            &[0xf9, 0x3c, 0x00],             // float
            &[0xc1, 0x01],                   // tag
            &[0xc2, 0x41, 0x01],             // bignum tag
            &[0x62, 0xff, 0xfe],             // not UTF-8
            &[0x01, 0x01],                   // trailing byte
            &[0x82, 0x01],                   // truncated
        ] {
            assert_eq!(fast::decode(bad), None, "{bad:02x?}");
            assert!(decode_canonical(bad, 1024).is_err(), "{bad:02x?}");
            agrees(bad);
        }
    }

    #[test]
    fn map_reader_refuses_unknown_fields() {
        let v = MapBuilder::new()
            .insert(1, uint(1))
            .insert(9, uint(2))
            .build();
        let mut r = MapReader::new(v).unwrap();
        assert_eq!(r.uint(1).unwrap(), 1);
        assert_eq!(r.finish(), Err(ShapeError::Unknown(9)));
    }
}
