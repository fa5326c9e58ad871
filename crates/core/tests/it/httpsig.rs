//! RFC 9421 request signatures and RFC 9530 content digests, against the RFCs' own
//! test vectors and against tampering.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use proofless_core::httpsig::{
    self, HttpSigError, MAX_CREATED_SKEW_SECS, RequestParts, SignatureParams,
};

/// RFC 9421 Appendix B.1.4, `test-key-ed25519` (JWK `d` and `x`).
fn rfc_key() -> SigningKey {
    let d = URL_SAFE_NO_PAD
        .decode("n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU")
        .unwrap();
    let key = SigningKey::from_bytes(&d.try_into().unwrap());
    let x = URL_SAFE_NO_PAD
        .decode("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs")
        .unwrap();
    assert_eq!(key.verifying_key().as_bytes().as_slice(), x.as_slice());
    key
}

/// RFC 9421 Appendix B.2 test request.
fn rfc_request() -> RequestParts {
    RequestParts::new("POST", "example.com", "/foo?param=Value&Pet=dog")
        .header("Host", "example.com")
        .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .header("Content-Type", "application/json")
        .header(
            "Content-Digest",
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
        )
        .header("Content-Length", "18")
}

const B26_INPUT: &str = r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#;
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";
const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
\"@method\": POST\n\
\"@path\": /foo\n\
\"@authority\": example.com\n\
\"content-type\": application/json\n\
\"content-length\": 18\n\
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

#[test]
fn rfc9421_b26_ed25519_vector_verifies() {
    let key = rfc_key();
    let (label, params, signature) = httpsig::parse(B26_INPUT, B26_SIGNATURE).unwrap();
    assert_eq!(label, "sig-b26");
    assert_eq!(params.keyid(), Some("test-key-ed25519"));
    assert_eq!(params.created(), Some(1_618_884_473));
    assert_eq!(
        httpsig::signature_base(&rfc_request(), &params).unwrap(),
        B26_BASE
    );
    httpsig::verify(&key.verifying_key(), &rfc_request(), &params, &signature).unwrap();
}

#[test]
fn rfc9421_b26_signing_reproduces_the_vector() {
    // Ed25519 is deterministic, so signing the same base gives the RFC's bytes.
    let params = SignatureParams::new(&[
        "date",
        "@method",
        "@path",
        "@authority",
        "content-type",
        "content-length",
    ])
    .integer("created", 1_618_884_473)
    .string("keyid", "test-key-ed25519");
    let headers = httpsig::sign(&rfc_key(), "sig-b26", &rfc_request(), &params).unwrap();
    assert_eq!(headers.signature_input, B26_INPUT);
    assert_eq!(headers.signature, B26_SIGNATURE);
}

#[test]
fn rfc9421_b26_fails_when_anything_changes() {
    let key = rfc_key().verifying_key();
    let (_, params, signature) = httpsig::parse(B26_INPUT, B26_SIGNATURE).unwrap();
    let changed = [
        RequestParts::new("PUT", "example.com", "/foo")
            .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("Content-Type", "application/json")
            .header("Content-Length", "18"),
        RequestParts::new("POST", "example.org", "/foo")
            .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("Content-Type", "application/json")
            .header("Content-Length", "18"),
        RequestParts::new("POST", "example.com", "/foo")
            .header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
            .header("Content-Type", "application/json")
            .header("Content-Length", "19"),
    ];
    for request in &changed {
        assert_eq!(
            httpsig::verify(&key, request, &params, &signature),
            Err(HttpSigError::BadSignature)
        );
    }
    // A covered header that is absent is named, not treated as empty.
    let no_date = RequestParts::new("POST", "example.com", "/foo")
        .header("Content-Type", "application/json")
        .header("Content-Length", "18");
    assert_eq!(
        httpsig::verify(&key, &no_date, &params, &signature),
        Err(HttpSigError::MissingComponent("date".into()))
    );
    // Every single bit of the signature matters.
    for i in 0..signature.len() {
        let mut s = signature.clone();
        s[i] ^= 1;
        assert!(httpsig::verify(&key, &rfc_request(), &params, &s).is_err());
    }
    // A changed parameter changes `@signature-params`.
    let later = B26_INPUT.replace("1618884473", "1618884474");
    let (_, params, signature) = httpsig::parse(&later, B26_SIGNATURE).unwrap();
    assert_eq!(
        httpsig::verify(&key, &rfc_request(), &params, &signature),
        Err(HttpSigError::BadSignature)
    );
}

#[test]
fn rfc9530_sha256_example() {
    // RFC 9530 §2, the body `{"hello": "world"}`.
    let body = br#"{"hello": "world"}"#;
    assert_eq!(
        httpsig::content_digest(body),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    httpsig::check_content_digest(
        "sha-512=:YQ==:, sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        body,
    )
    .unwrap();
    assert_eq!(
        httpsig::check_content_digest(&httpsig::content_digest(b"other"), body),
        Err(HttpSigError::DigestMismatch)
    );
    assert_eq!(
        httpsig::check_content_digest(
            "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
            body
        ),
        Err(HttpSigError::DigestAlgorithm)
    );
}

#[test]
fn proofless_profile_round_trip_and_refusals() {
    let key = SigningKey::from_bytes(&[3; 32]);
    let body = b"{}";
    let request = RequestParts::new("POST", "ledger.example", "/v1/verifications")
        .header("content-digest", &httpsig::content_digest(body));
    let now = 1_800_000_000;
    let params = SignatureParams::proofless("k1", now, "nonce-1");
    let headers = httpsig::sign(&key, "sig1", &request, &params).unwrap();
    let (_, parsed, sig) = httpsig::parse(&headers.signature_input, &headers.signature).unwrap();
    assert_eq!(parsed, params);
    httpsig::verify(&key.verifying_key(), &request, &parsed, &sig).unwrap();
    parsed.check_proofless(now, MAX_CREATED_SKEW_SECS).unwrap();
    parsed
        .check_proofless(now + MAX_CREATED_SKEW_SECS, MAX_CREATED_SKEW_SECS)
        .unwrap();
    parsed
        .check_proofless(now - MAX_CREATED_SKEW_SECS, MAX_CREATED_SKEW_SECS)
        .unwrap();
    assert!(matches!(
        parsed.check_proofless(now + MAX_CREATED_SKEW_SECS + 1, MAX_CREATED_SKEW_SECS),
        Err(HttpSigError::Stale { .. })
    ));
    assert!(matches!(
        parsed.check_proofless(now - MAX_CREATED_SKEW_SECS - 1, MAX_CREATED_SKEW_SECS),
        Err(HttpSigError::Stale { .. })
    ));

    let uncovered = SignatureParams::new(&["@method", "@path", "@authority"])
        .integer("created", now)
        .string("nonce", "n")
        .string("keyid", "k");
    assert_eq!(
        uncovered.check_proofless(now, MAX_CREATED_SKEW_SECS),
        Err(HttpSigError::NotCovered("content-digest"))
    );
    let cases = [
        (
            SignatureParams::new(&httpsig::REQUIRED_COMPONENTS)
                .string("nonce", "n")
                .string("keyid", "k"),
            HttpSigError::MissingParameter("created"),
        ),
        (
            SignatureParams::new(&httpsig::REQUIRED_COMPONENTS)
                .integer("created", now)
                .string("keyid", "k"),
            HttpSigError::MissingParameter("nonce"),
        ),
        (
            SignatureParams::new(&httpsig::REQUIRED_COMPONENTS)
                .integer("created", now)
                .string("nonce", "n"),
            HttpSigError::MissingParameter("keyid"),
        ),
        (
            SignatureParams::proofless("k", now, "n").string("expires", "soon"),
            HttpSigError::MissingParameter("expires"),
        ),
        (
            SignatureParams::new(&httpsig::REQUIRED_COMPONENTS)
                .integer("created", now)
                .string("nonce", "n")
                .string("keyid", "k")
                .string("alg", "rsa-pss-sha512"),
            HttpSigError::Algorithm,
        ),
        (
            SignatureParams::proofless("k", now, "n").integer("expires", now - 1),
            HttpSigError::Expired,
        ),
    ];
    for (params, expected) in cases {
        assert_eq!(
            params.check_proofless(now, MAX_CREATED_SKEW_SECS),
            Err(expected)
        );
    }
}

#[test]
fn malformed_headers_are_typed_errors() {
    let good_sig = "s=:AA==:";
    let bad_inputs = [
        "",
        "s",
        "s=",
        "S=(\"@method\")",
        "s=(\"@method\"",
        "s=(\"@Method\")",
        "s=(\"@method\";req)",
        "s=(\"@method\");created",
        "s=(\"@method\");created=1234567890123456",
        "s=(\"@method\");created=1;created=2",
        "s=(\"@method\");keyid=\"a\\x\"",
        "s=(\"@method\");keyid=token",
        "s=(\"@method\"),",
        "s=(\"@method\") x",
        "s=:AA==:",
    ];
    for input in bad_inputs {
        let err = httpsig::parse(input, good_sig).unwrap_err();
        assert!(
            matches!(err, HttpSigError::Malformed { .. } | HttpSigError::Label),
            "{input:?} gave {err:?}"
        );
    }
    let too_long = format!("s=(\"@method\");keyid=\"{}\"", "a".repeat(5000));
    assert!(matches!(
        httpsig::parse(&too_long, good_sig),
        Err(HttpSigError::Malformed { .. })
    ));
    // Two signatures, or labels that do not match, are refused.
    assert_eq!(
        httpsig::parse("a=(\"@method\"), b=(\"@path\")", "a=:AA==:, b=:AA==:").unwrap_err(),
        HttpSigError::Label
    );
    assert_eq!(
        httpsig::parse("a=(\"@method\")", "b=:AA==:").unwrap_err(),
        HttpSigError::Label
    );
    for bad_sig in ["s=:not base64!:", "s=:AA==", "s=(\"x\")", "s=AA=="] {
        assert!(
            httpsig::parse("s=(\"@method\")", bad_sig).is_err(),
            "{bad_sig:?}"
        );
    }
    // A 1-byte signature parses but cannot verify.
    let (_, params, sig) = httpsig::parse("s=(\"@method\")", good_sig).unwrap();
    assert_eq!(
        httpsig::verify(
            &SigningKey::from_bytes(&[1; 32]).verifying_key(),
            &RequestParts::new("GET", "a", "/"),
            &params,
            &sig
        ),
        Err(HttpSigError::SignatureLength)
    );
    // Components this module cannot compute, and duplicates, are refused by name.
    let request = RequestParts::new("GET", "a", "/");
    for (components, expected) in [
        (
            vec!["@request-target"],
            HttpSigError::UnsupportedComponent("@request-target".into()),
        ),
        (
            vec!["@signature-params"],
            HttpSigError::UnsupportedComponent("@signature-params".into()),
        ),
        (
            vec!["@method", "@method"],
            HttpSigError::DuplicateComponent("@method".into()),
        ),
    ] {
        assert_eq!(
            httpsig::signature_base(&request, &SignatureParams::new(&components)),
            Err(expected)
        );
    }
    // A header value with a line break cannot smuggle a line into the base.
    let injected = RequestParts::new("GET", "a", "/").header("x", "1\n\"@method\": PUT");
    assert!(matches!(
        httpsig::signature_base(&injected, &SignatureParams::new(&["x"])),
        Err(HttpSigError::Malformed { .. })
    ));
}

#[test]
fn repeated_headers_are_combined() {
    let r = RequestParts::new("GET", "a", "/")
        .header("X-Multi", " one ")
        .header("x-multi", "two");
    let base = httpsig::signature_base(&r, &SignatureParams::new(&["x-multi"])).unwrap();
    assert_eq!(
        base,
        "\"x-multi\": one, two\n\"@signature-params\": (\"x-multi\")"
    );
}
