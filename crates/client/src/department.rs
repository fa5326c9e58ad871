//! Signing department requests: RFC 9421 HTTP Message Signatures with Ed25519 over
//! `@method`, `@path`, `@authority` and `content-digest` (RFC 9530), with `created`, a
//! random `nonce`, `keyid` and `alg` — the profile `proofless_core::httpsig` checks.
//!
//! The key id is the lowercase hex SHA-256 of the department key's SubjectPublicKeyInfo
//! (`proofless_core::keys::key_id`), the same id the ledger keys its principals by.

use ed25519_dalek::SigningKey;
use proofless_core::httpsig::{self, HttpSigError, RequestParts, SignatureParams};
use proofless_core::keys::{ed25519_spki_der, key_id};

/// The signature label Proofless clients use.
pub const LABEL: &str = "proofless";

/// A department's request signer.
#[derive(Debug, Clone)]
pub struct DepartmentSigner {
    key: SigningKey,
    keyid: String,
}

/// The headers to send with a signed request, as `(name, value)` pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// `Content-Digest`, `Signature-Input` and `Signature`, in that order.
    pub headers: Vec<(&'static str, String)>,
}

impl DepartmentSigner {
    /// A signer for `key`, with the key id derived from its public key.
    pub fn new(key: SigningKey) -> Self {
        let spki = ed25519_spki_der(key.verifying_key().as_bytes());
        let keyid = hex::encode(key_id(&spki));
        Self { key, keyid }
    }

    /// The key id this signer puts in `keyid`.
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// Signs a request with `body` to `path_and_query` on `authority` (the `Host` the
    /// server sees), created at `created` (Unix seconds) with `nonce`.
    pub fn sign_with(
        &self,
        method: &str,
        authority: &str,
        path_and_query: &str,
        body: &[u8],
        created: i64,
        nonce: &str,
    ) -> Result<SignedRequest, HttpSigError> {
        let digest = httpsig::content_digest(body);
        let request =
            RequestParts::new(method, authority, path_and_query).header("content-digest", &digest);
        let params = SignatureParams::proofless(&self.keyid, created, nonce);
        let signed = httpsig::sign(&self.key, LABEL, &request, &params)?;
        Ok(SignedRequest {
            headers: vec![
                ("content-digest", digest),
                ("signature-input", signed.signature_input),
                ("signature", signed.signature),
            ],
        })
    }

    /// Signs a request now, with a fresh 128-bit random nonce from the operating system.
    pub fn sign(
        &self,
        method: &str,
        authority: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<SignedRequest, HttpSigError> {
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut nonce = [0u8; 16];
        // INVARIANT: getrandom fails only where the OS has no random source at all; such
        // a machine must not sign requests, so stopping is right.
        #[allow(clippy::expect_used)]
        getrandom::fill(&mut nonce).expect("the operating system's random source works");
        self.sign_with(
            method,
            authority,
            path_and_query,
            body,
            created,
            &hex::encode(nonce),
        )
    }
}

/// A department's connection to a ledger: signs every request with its key.
#[derive(Debug)]
pub struct DepartmentClient {
    base: String,
    authority: String,
    signer: DepartmentSigner,
    agent: ureq::Agent,
}

/// A response: HTTP status and body.
#[derive(Debug, Clone)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The body, exactly as received (what a receipt covers).
    pub body: Vec<u8>,
}

impl Response {
    /// Status and body (at most 16 MiB) of a ureq response.
    fn read(mut resp: ureq::http::Response<ureq::Body>) -> Result<Self, ureq::Error> {
        Ok(Self {
            status: resp.status().as_u16(),
            body: resp
                .body_mut()
                .with_config()
                .limit(16 * 1024 * 1024)
                .read_to_vec()?,
        })
    }
}

impl DepartmentClient {
    /// A client of the ledger at `base` (`http://host:port`), signing with `signer`.
    pub fn new(base: &str, signer: DepartmentSigner) -> Result<Self, ureq::Error> {
        let base = base.trim_end_matches('/').to_owned();
        let uri: ureq::http::Uri = base
            .parse()
            .map_err(|e: ureq::http::uri::InvalidUri| ureq::Error::BadUri(e.to_string()))?;
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_owned())
            .unwrap_or_default();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            base,
            authority,
            signer,
            agent,
        })
    }

    /// POSTs `body` (JSON) to `path`, signed.
    pub fn post(&self, path: &str, body: &[u8]) -> Result<Response, ureq::Error> {
        let signed = self
            .signer
            .sign("POST", &self.authority, path, body)
            .map_err(|e| ureq::Error::BadUri(e.to_string()))?;
        let mut req = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in &signed.headers {
            req = req.header(*name, value);
        }
        Response::read(req.send(body)?)
    }

    /// Registers the department's certificate `chain` (DER, leaf first) with the ledger.
    pub fn register(&self, chain: &[Vec<u8>], role: &str) -> Result<Response, ureq::Error> {
        use base64::Engine as _;
        let body = serde_json::json!({
            "role": role,
            "chain": chain
                .iter()
                .map(|c| base64::engine::general_purpose::STANDARD.encode(c))
                .collect::<Vec<_>>(),
        });
        Response::read(
            self.agent
                .post(format!("{}/v1/keys", self.base))
                .send_json(&body)?,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proofless_core::httpsig::MAX_CREATED_SKEW_SECS;

    fn header<'a>(s: &'a SignedRequest, name: &str) -> &'a str {
        &s.headers.iter().find(|(n, _)| *n == name).unwrap().1
    }

    /// What the server will do: parse, rebuild the base from what it received, verify,
    /// check the profile and the body digest.
    fn server_check(
        s: &SignedRequest,
        key: &ed25519_dalek::VerifyingKey,
        method: &str,
        path: &str,
        body: &[u8],
        now: i64,
    ) -> Result<String, HttpSigError> {
        let (_, params, sig) =
            httpsig::parse(header(s, "signature-input"), header(s, "signature"))?;
        let request = RequestParts::new(method, "ledger.example", path)
            .header("content-digest", header(s, "content-digest"));
        httpsig::verify(key, &request, &params, &sig)?;
        params.check_proofless(now, MAX_CREATED_SKEW_SECS)?;
        httpsig::check_content_digest(header(s, "content-digest"), body)?;
        Ok(params.keyid().unwrap().to_owned())
    }

    #[test]
    fn signed_requests_pass_the_server_checks_and_tampering_fails() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let signer = DepartmentSigner::new(key.clone());
        let vk = key.verifying_key();
        let body = br#"{"scenario":"gzzf","purpose":"x"}"#;
        let s = signer
            .sign("POST", "ledger.example", "/v1/verifications", body)
            .unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert_eq!(
            server_check(&s, &vk, "POST", "/v1/verifications", body, now).unwrap(),
            signer.keyid()
        );
        assert_eq!(signer.keyid().len(), 64);
        // Another path, another method or another body is refused.
        assert_eq!(
            server_check(&s, &vk, "POST", "/v1/consents", body, now),
            Err(HttpSigError::BadSignature)
        );
        assert_eq!(
            server_check(&s, &vk, "PUT", "/v1/verifications", body, now),
            Err(HttpSigError::BadSignature)
        );
        assert_eq!(
            server_check(&s, &vk, "POST", "/v1/verifications", b"{}", now),
            Err(HttpSigError::DigestMismatch)
        );
        // Two signatures of the same request carry different nonces.
        let again = signer
            .sign("POST", "ledger.example", "/v1/verifications", body)
            .unwrap();
        assert_ne!(
            header(&s, "signature-input"),
            header(&again, "signature-input")
        );
    }

    #[test]
    fn sign_with_is_deterministic() {
        let signer = DepartmentSigner::new(SigningKey::from_bytes(&[5; 32]));
        let a = signer
            .sign_with(
                "POST",
                "ledger.example",
                "/v1/verifications",
                b"{}",
                1_800_000_000,
                "n1",
            )
            .unwrap();
        let b = signer
            .sign_with(
                "POST",
                "ledger.example",
                "/v1/verifications",
                b"{}",
                1_800_000_000,
                "n1",
            )
            .unwrap();
        assert_eq!(a, b);
        assert!(header(&a, "signature-input").starts_with(
            "proofless=(\"@method\" \"@path\" \"@authority\" \"content-digest\");created=1800000000;nonce=\"n1\";keyid=\""
        ));
    }
}
