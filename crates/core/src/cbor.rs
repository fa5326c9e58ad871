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
//! Decoding ([`decode_canonical`]) bounds the input size and nesting depth *before*
//! building anything, parses with `ciborium`, then re-encodes the value and demands the
//! exact input bytes back. That single comparison rejects non-shortest integers and
//! lengths, indefinite-length items and trailing bytes; a walk over the value rejects
//! unsorted or duplicate map keys, floats and tags.

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
pub fn decode_canonical(bytes: &[u8], max_len: usize) -> Result<Value, CborError> {
    if bytes.len() > max_len {
        return Err(CborError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
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
