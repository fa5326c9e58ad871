//! Request signatures: RFC 9421 HTTP Message Signatures with Ed25519, and RFC 9530
//! `content-digest` with SHA-256.
//!
//! This lives in `core` (not in the server) because three parties must build the same
//! signature base byte for byte: the department's SDK that signs, the server that
//! checks, and an auditor who re-verifies a department's signature from an
//! `AccessRecorded` entry years later. Nothing here touches a socket or an HTTP stack:
//! a request is described by [`RequestParts`] (plain strings), and the clock is passed in.
//!
//! Only the subset of RFC 9421 and RFC 8941 (Structured Field Values) that Proofless
//! uses is implemented: the derived components `@method`, `@path`, `@query`,
//! `@authority` and `@target-uri`, plain header fields, signature parameters of type
//! string or integer, and Ed25519 only. Everything else is refused with a typed error
//! rather than guessed at. Why a small module and not a crate: see
//! `docs/decisions/0008-own-rfc9421-module.md`.
//!
//! # Example
//! ```
//! use ed25519_dalek::SigningKey;
//! use proofless_core::httpsig::{self, RequestParts, SignatureParams};
//!
//! let key = SigningKey::from_bytes(&[9; 32]);
//! let body = br#"{"scenario":"gzzf"}"#;
//! let request = RequestParts::new("POST", "ledger.example", "/v1/verifications")
//!     .header("content-digest", &httpsig::content_digest(body));
//! let params = SignatureParams::proofless("dept-key", 1_800_000_000, "n-0001");
//! let headers = httpsig::sign(&key, "sig1", &request, &params).unwrap();
//!
//! let (label, parsed, signature) =
//!     httpsig::parse(&headers.signature_input, &headers.signature).unwrap();
//! assert_eq!(label, "sig1");
//! httpsig::verify(&key.verifying_key(), &request, &parsed, &signature).unwrap();
//! parsed.check_proofless(1_800_000_100, httpsig::MAX_CREATED_SKEW_SECS).unwrap();
//! httpsig::check_content_digest(&request.get("content-digest").unwrap(), body).unwrap();
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

/// How far `created` may be from the server's clock, in seconds (DESIGN.md §4).
pub const MAX_CREATED_SKEW_SECS: i64 = 300;

/// The most bytes a `Signature-Input`, `Signature` or `Content-Digest` header may hold.
pub const MAX_HEADER_LEN: usize = 4096;

/// The components every Proofless request signature must cover.
pub const REQUIRED_COMPONENTS: [&str; 4] = ["@method", "@path", "@authority", "content-digest"];

/// Why a request signature or a content digest was refused. Messages never quote
/// header values: they may carry anything a caller sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpSigError {
    /// A header is not the Structured Field the RFC requires, or is too long.
    #[error("{header}: malformed structured field ({reason})")]
    Malformed {
        /// The header at fault.
        header: &'static str,
        /// What was wrong, without the value.
        reason: &'static str,
    },
    /// The signature label is absent from one of the two headers, or several were sent.
    #[error("signature label missing, repeated or not present in both headers")]
    Label,
    /// A covered component is not one this module can compute.
    #[error("covered component {0:?} is not supported")]
    UnsupportedComponent(String),
    /// A covered component is listed twice.
    #[error("covered component {0:?} is listed twice")]
    DuplicateComponent(String),
    /// A covered header field is absent from the request.
    #[error("covered component {0:?} is absent from the request")]
    MissingComponent(String),
    /// The signature does not verify under the key.
    #[error("signature does not verify")]
    BadSignature,
    /// The signature is not 64 bytes.
    #[error("signature is not an Ed25519 signature (64 bytes)")]
    SignatureLength,
    /// A component the Proofless profile requires is not covered.
    #[error("signature does not cover {0:?}")]
    NotCovered(&'static str),
    /// A parameter the Proofless profile requires is absent or of the wrong type.
    #[error("signature parameter {0:?} missing or of the wrong type")]
    MissingParameter(&'static str),
    /// `alg` is present and is not `ed25519`.
    #[error("signature algorithm is not ed25519")]
    Algorithm,
    /// `created` is too far from the server's clock.
    #[error("signature created {skew_secs} s from the server's clock (at most {max_secs} s)")]
    Stale {
        /// `created - now`, in seconds.
        skew_secs: i64,
        /// The allowed skew.
        max_secs: i64,
    },
    /// `expires` is in the past.
    #[error("signature expired")]
    Expired,
    /// No `sha-256` member in `Content-Digest`.
    #[error("content-digest has no sha-256 member")]
    DigestAlgorithm,
    /// The body does not hash to the `Content-Digest` value.
    #[error("content-digest does not match the body")]
    DigestMismatch,
}

/// A request as the signature sees it: method, target and header fields, all as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestParts {
    method: String,
    authority: String,
    path: String,
    query: Option<String>,
    scheme: String,
    headers: Vec<(String, String)>,
}

impl RequestParts {
    /// A request to `path` (which may carry `?query`) on `authority`, over `https`.
    pub fn new(method: &str, authority: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        Self {
            method: method.to_owned(),
            authority: authority.to_ascii_lowercase(),
            path: if path.is_empty() {
                "/".to_owned()
            } else {
                path.to_owned()
            },
            query,
            scheme: "https".to_owned(),
            headers: Vec::new(),
        }
    }

    /// Sets the scheme used by `@target-uri` (default `https`).
    #[must_use]
    pub fn scheme(mut self, scheme: &str) -> Self {
        scheme.clone_into(&mut self.scheme);
        self
    }

    /// Adds a header field; a name may be added several times, as on the wire.
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers
            .push((name.to_ascii_lowercase(), value.to_owned()));
        self
    }

    /// The combined value of a header field (RFC 9110 §5.3), trimmed, or `None` if absent.
    pub fn get(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim_matches([' ', '\t']))
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    fn component(&self, name: &str) -> Result<String, HttpSigError> {
        match name {
            "@method" => Ok(self.method.clone()),
            "@authority" => Ok(self.authority.clone()),
            "@path" => Ok(self.path.clone()),
            "@query" => Ok(format!("?{}", self.query.as_deref().unwrap_or(""))),
            "@target-uri" => Ok(format!(
                "{}://{}{}{}",
                self.scheme,
                self.authority,
                self.path,
                self.query
                    .as_deref()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default()
            )),
            n if n.starts_with('@') => Err(HttpSigError::UnsupportedComponent(n.to_owned())),
            n => self
                .get(n)
                .ok_or_else(|| HttpSigError::MissingComponent(n.to_owned())),
        }
    }
}

/// A signature parameter value (RFC 9421 §2.3 uses strings and integers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    /// An sf-integer.
    Integer(i64),
    /// An sf-string.
    String(String),
}

/// The covered components and signature parameters, in the order they are serialized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    components: Vec<String>,
    params: Vec<(String, ParamValue)>,
}

impl SignatureParams {
    /// Covered components (lowercase names) and no parameters yet.
    pub fn new<S: AsRef<str>>(components: &[S]) -> Self {
        Self {
            components: components
                .iter()
                .map(|c| c.as_ref().to_ascii_lowercase())
                .collect(),
            params: Vec::new(),
        }
    }

    /// The Proofless profile: [`REQUIRED_COMPONENTS`], then `created`, `nonce`, `keyid`
    /// and `alg="ed25519"`.
    pub fn proofless(keyid: &str, created: i64, nonce: &str) -> Self {
        Self::new(&REQUIRED_COMPONENTS)
            .integer("created", created)
            .string("nonce", nonce)
            .string("keyid", keyid)
            .string("alg", "ed25519")
    }

    /// Appends an integer parameter.
    #[must_use]
    pub fn integer(mut self, name: &str, value: i64) -> Self {
        self.params
            .push((name.to_owned(), ParamValue::Integer(value)));
        self
    }

    /// Appends a string parameter.
    #[must_use]
    pub fn string(mut self, name: &str, value: &str) -> Self {
        self.params
            .push((name.to_owned(), ParamValue::String(value.to_owned())));
        self
    }

    /// The covered component names.
    pub fn components(&self) -> &[String] {
        &self.components
    }

    /// An integer parameter by name.
    pub fn get_integer(&self, name: &str) -> Option<i64> {
        self.params.iter().find_map(|(n, v)| match v {
            ParamValue::Integer(i) if n == name => Some(*i),
            _ => None,
        })
    }

    /// A string parameter by name.
    pub fn get_string(&self, name: &str) -> Option<&str> {
        self.params.iter().find_map(|(n, v)| match v {
            ParamValue::String(s) if n == name => Some(s.as_str()),
            _ => None,
        })
    }

    /// The `keyid` parameter.
    pub fn keyid(&self) -> Option<&str> {
        self.get_string("keyid")
    }

    /// The `nonce` parameter.
    pub fn nonce(&self) -> Option<&str> {
        self.get_string("nonce")
    }

    /// The `created` parameter.
    pub fn created(&self) -> Option<i64> {
        self.get_integer("created")
    }

    /// The serialized inner list with its parameters: the `@signature-params` value and
    /// the member value of `Signature-Input`.
    pub fn serialize(&self) -> String {
        let mut out = String::from("(");
        for (i, c) in self.components.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            push_sf_string(&mut out, c);
        }
        out.push(')');
        for (name, value) in &self.params {
            out.push(';');
            out.push_str(name);
            out.push('=');
            match value {
                ParamValue::Integer(i) => out.push_str(&i.to_string()),
                ParamValue::String(s) => push_sf_string(&mut out, s),
            }
        }
        out
    }

    /// Checks the Proofless profile at server time `now` (Unix seconds): the required
    /// components are covered, `created`, `nonce` and `keyid` are present, `alg` (if
    /// given) is `ed25519`, `created` is within `max_skew_secs` and `expires` (if given)
    /// is not past. Replay of the nonce is the caller's to check: it needs state.
    pub fn check_proofless(&self, now: i64, max_skew_secs: i64) -> Result<(), HttpSigError> {
        for required in REQUIRED_COMPONENTS {
            if !self.components.iter().any(|c| c == required) {
                return Err(HttpSigError::NotCovered(required));
            }
        }
        let created = self
            .created()
            .ok_or(HttpSigError::MissingParameter("created"))?;
        match self.nonce() {
            Some(n) if !n.is_empty() => {}
            _ => return Err(HttpSigError::MissingParameter("nonce")),
        }
        match self.keyid() {
            Some(k) if !k.is_empty() => {}
            _ => return Err(HttpSigError::MissingParameter("keyid")),
        }
        if self.params.iter().any(|(n, _)| n == "alg") && self.get_string("alg") != Some("ed25519")
        {
            return Err(HttpSigError::Algorithm);
        }
        let skew = created.saturating_sub(now);
        if skew.saturating_abs() > max_skew_secs {
            return Err(HttpSigError::Stale {
                skew_secs: skew,
                max_secs: max_skew_secs,
            });
        }
        if self.params.iter().any(|(n, _)| n == "expires") {
            match self.get_integer("expires") {
                Some(e) if e >= now => {}
                Some(_) => return Err(HttpSigError::Expired),
                None => return Err(HttpSigError::MissingParameter("expires")),
            }
        }
        Ok(())
    }
}

/// The two header values that carry a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// The `Signature-Input` header value.
    pub signature_input: String,
    /// The `Signature` header value.
    pub signature: String,
}

/// The signature base of RFC 9421 §2.5: one line per covered component, then
/// `"@signature-params"`.
pub fn signature_base(
    request: &RequestParts,
    params: &SignatureParams,
) -> Result<String, HttpSigError> {
    let mut out = String::new();
    for (i, name) in params.components.iter().enumerate() {
        if params.components[..i].contains(name) {
            return Err(HttpSigError::DuplicateComponent(name.clone()));
        }
        let value = request.component(name)?;
        if value.contains(['\n', '\r']) {
            return Err(HttpSigError::Malformed {
                header: "signature base",
                reason: "component value holds a line break",
            });
        }
        out.push('"');
        out.push_str(name);
        out.push_str("\": ");
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(&params.serialize());
    Ok(out)
}

/// Signs `request` under `label` and returns the two header values.
pub fn sign(
    key: &SigningKey,
    label: &str,
    request: &RequestParts,
    params: &SignatureParams,
) -> Result<SignatureHeaders, HttpSigError> {
    if !is_key(label) {
        return Err(HttpSigError::Label);
    }
    let base = signature_base(request, params)?;
    let signature = key.sign(base.as_bytes());
    Ok(SignatureHeaders {
        signature_input: format!("{label}={}", params.serialize()),
        signature: format!("{label}=:{}:", STANDARD.encode(signature.to_bytes())),
    })
}

/// Verifies an Ed25519 signature (strictly: no small-order keys, canonical `S`).
pub fn verify(
    key: &VerifyingKey,
    request: &RequestParts,
    params: &SignatureParams,
    signature: &[u8],
) -> Result<(), HttpSigError> {
    let bytes: [u8; 64] = signature
        .try_into()
        .map_err(|_| HttpSigError::SignatureLength)?;
    let base = signature_base(request, params)?;
    if crate::ed25519::verify_strict(key, base.as_bytes(), &Signature::from_bytes(&bytes)) {
        Ok(())
    } else {
        Err(HttpSigError::BadSignature)
    }
}

/// Parses `Signature-Input` and `Signature`. Proofless requests carry exactly one
/// signature; its label must appear in both headers.
pub fn parse(
    signature_input: &str,
    signature: &str,
) -> Result<(String, SignatureParams, Vec<u8>), HttpSigError> {
    let inputs = parse_dictionary("signature-input", signature_input)?;
    let sigs = parse_dictionary("signature", signature)?;
    let [(label, Item::InnerList(params))] =
        <[_; 1]>::try_from(inputs).map_err(|_| HttpSigError::Label)?
    else {
        return Err(HttpSigError::Malformed {
            header: "signature-input",
            reason: "member is not an inner list",
        });
    };
    let [(sig_label, Item::Bytes(bytes))] =
        <[_; 1]>::try_from(sigs).map_err(|_| HttpSigError::Label)?
    else {
        return Err(HttpSigError::Malformed {
            header: "signature",
            reason: "member is not a byte sequence",
        });
    };
    if sig_label != label {
        return Err(HttpSigError::Label);
    }
    Ok((label, params, bytes))
}

/// The RFC 9530 `Content-Digest` value for `body`, with SHA-256.
pub fn content_digest(body: &[u8]) -> String {
    format!("sha-256=:{}:", STANDARD.encode(Sha256::digest(body)))
}

/// Checks a `Content-Digest` header against `body`. The `sha-256` member is required;
/// other algorithms are ignored (RFC 9530 §2 lets a recipient pick).
pub fn check_content_digest(header: &str, body: &[u8]) -> Result<(), HttpSigError> {
    let members = parse_dictionary("content-digest", header)?;
    let digest = members
        .into_iter()
        .find_map(|(k, v)| match v {
            Item::Bytes(b) if k == "sha-256" => Some(b),
            _ => None,
        })
        .ok_or(HttpSigError::DigestAlgorithm)?;
    if digest.as_slice() == Sha256::digest(body).as_slice() {
        Ok(())
    } else {
        Err(HttpSigError::DigestMismatch)
    }
}

fn push_sf_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// RFC 8941 §3.1.2: a key starts with lcalpha or `*`, then lcalpha, digits, `_-.*`.
fn is_key_start(c: u8) -> bool {
    c.is_ascii_lowercase() || c == b'*'
}

fn is_key_char(c: u8) -> bool {
    is_key_start(c) || c.is_ascii_digit() || b"_-.".contains(&c)
}

fn is_key(s: &str) -> bool {
    let b = s.as_bytes();
    b.first().is_some_and(|&c| is_key_start(c)) && b.iter().all(|&c| is_key_char(c))
}

/// A dictionary member value, restricted to what the three headers use.
enum Item {
    InnerList(SignatureParams),
    Bytes(Vec<u8>),
}

/// A minimal RFC 8941 dictionary parser for the shapes used by RFC 9421 and 9530.
struct Parser<'a> {
    header: &'static str,
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> HttpSigError {
        HttpSigError::Malformed {
            header: self.header,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn key(&mut self) -> Result<String, HttpSigError> {
        let start = self.pos;
        if !self.peek().is_some_and(is_key_start) {
            return Err(self.err("expected a key"));
        }
        while self.peek().is_some_and(is_key_char) {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }

    fn string(&mut self) -> Result<String, HttpSigError> {
        if !self.eat(b'"') {
            return Err(self.err("expected a string"));
        }
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(char::from(c));
                            self.pos += 1;
                        }
                        _ => return Err(self.err("bad escape in string")),
                    }
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(char::from(c));
                    self.pos += 1;
                }
                Some(_) => return Err(self.err("character not allowed in string")),
            }
        }
    }

    fn integer(&mut self) -> Result<i64, HttpSigError> {
        let start = self.pos;
        self.eat(b'-');
        let digits = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_digit()) {
            self.pos += 1;
        }
        let len = self.pos - digits;
        if len == 0 || len > 15 {
            return Err(self.err("integer missing or longer than 15 digits"));
        }
        std::str::from_utf8(&self.input[start..self.pos])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.err("bad integer"))
    }

    fn bytes(&mut self) -> Result<Vec<u8>, HttpSigError> {
        if !self.eat(b':') {
            return Err(self.err("expected a byte sequence"));
        }
        let start = self.pos;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+/=".contains(&c)) {
            self.pos += 1;
        }
        let encoded = &self.input[start..self.pos];
        if !self.eat(b':') {
            return Err(self.err("unterminated byte sequence"));
        }
        STANDARD
            .decode(encoded)
            .map_err(|_| self.err("byte sequence is not base64"))
    }

    /// Parameters; only string and integer values are kept (and are all RFC 9421 uses).
    fn params(&mut self) -> Result<Vec<(String, ParamValue)>, HttpSigError> {
        let mut out: Vec<(String, ParamValue)> = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let name = self.key()?;
            if !self.eat(b'=') {
                return Err(self.err("parameter without a value"));
            }
            let value = match self.peek() {
                Some(b'"') => ParamValue::String(self.string()?),
                Some(c) if c == b'-' || c.is_ascii_digit() => ParamValue::Integer(self.integer()?),
                _ => return Err(self.err("parameter value is not a string or integer")),
            };
            if out.iter().any(|(n, _)| *n == name) {
                return Err(self.err("parameter repeated"));
            }
            out.push((name, value));
        }
        Ok(out)
    }

    fn item(&mut self) -> Result<Item, HttpSigError> {
        match self.peek() {
            Some(b'(') => {
                self.pos += 1;
                let mut components = Vec::new();
                loop {
                    self.skip_sp();
                    if self.eat(b')') {
                        break;
                    }
                    let name = self.string()?;
                    if name.bytes().any(|c| c.is_ascii_uppercase()) {
                        return Err(self.err("component name is not lowercase"));
                    }
                    if self.peek() == Some(b';') {
                        return Err(self.err("component parameters are not supported"));
                    }
                    components.push(name);
                    match self.peek() {
                        Some(b' ' | b')') => {}
                        _ => return Err(self.err("bad inner list")),
                    }
                }
                let params = self.params()?;
                Ok(Item::InnerList(SignatureParams { components, params }))
            }
            Some(b':') => {
                let bytes = self.bytes()?;
                // Parameters on a byte sequence carry nothing Proofless uses.
                self.params()?;
                Ok(Item::Bytes(bytes))
            }
            _ => Err(self.err("member is neither an inner list nor a byte sequence")),
        }
    }
}

fn parse_dictionary(
    header: &'static str,
    value: &str,
) -> Result<Vec<(String, Item)>, HttpSigError> {
    let mut p = Parser {
        header,
        input: value.as_bytes(),
        pos: 0,
    };
    if value.len() > MAX_HEADER_LEN {
        return Err(p.err("header too long"));
    }
    let mut out: Vec<(String, Item)> = Vec::new();
    p.skip_sp();
    loop {
        let key = p.key()?;
        if !p.eat(b'=') {
            return Err(p.err("member without a value"));
        }
        let item = p.item()?;
        if out.iter().any(|(k, _)| *k == key) {
            return Err(p.err("member repeated"));
        }
        out.push((key, item));
        p.skip_ows();
        if p.peek().is_none() {
            return Ok(out);
        }
        if !p.eat(b',') {
            return Err(p.err("expected a comma"));
        }
        p.skip_ows();
        if p.peek().is_none() {
            return Err(p.err("trailing comma"));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn strings_escape_quotes_and_backslashes() {
        let p = SignatureParams::new(&["@method"]).string("nonce", r#"a"b\c"#);
        assert_eq!(p.serialize(), r#"("@method");nonce="a\"b\\c""#);
        let (_, back, _) = parse(&format!("s={}", p.serialize()), "s=:AA==:").unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn labels_must_be_structured_field_keys() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let r = RequestParts::new("GET", "a", "/");
        let p = SignatureParams::new(&["@method"]);
        for bad in ["", "Sig", "1sig", "sig=", "sig 1"] {
            assert_eq!(sign(&key, bad, &r, &p), Err(HttpSigError::Label), "{bad:?}");
        }
        for good in ["sig", "*s", "sig-b26", "a_b.c*1"] {
            let h = sign(&key, good, &r, &p).unwrap();
            assert_eq!(parse(&h.signature_input, &h.signature).unwrap().0, good);
        }
    }

    #[test]
    fn empty_path_is_slash_and_query_is_split() {
        let r = RequestParts::new("GET", "Example.COM", "?a=1");
        assert_eq!(r.component("@path").unwrap(), "/");
        assert_eq!(r.component("@query").unwrap(), "?a=1");
        assert_eq!(r.component("@authority").unwrap(), "example.com");
        assert_eq!(
            r.component("@target-uri").unwrap(),
            "https://example.com/?a=1"
        );
    }
}
