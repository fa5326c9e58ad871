//! Personal data at rest: holder pseudonyms and per-holder encryption of field values.
//!
//! * **Pseudonyms.** A holder is known to the log and to the indexes only as
//!   `HMAC-SHA-256(deployment secret, "proofless holder v1\0" ‖ code type ‖ ":" ‖ code)`.
//!   Without the secret, a pseudonym cannot be linked to a holder code by guessing codes
//!   (公民身份号码 have little entropy, so a plain hash could be inverted by enumeration).
//! * **Payloads.** A certificate's disclosed items (values with their salts) are sealed
//!   with XChaCha20-Poly1305 under a random 256-bit key per holder, with a random 192-bit
//!   nonce, the certificate identifier as associated data (so a sealed payload cannot be
//!   moved to another certificate). Deleting a holder's key erases every value of theirs
//!   while the log, which holds only salted digests, still verifies.
//!
//! Key management is described in `docs/format.md`.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

/// Length of a pseudonym.
pub const PSEUDONYM_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// A holder pseudonym.
pub type Pseudonym = [u8; PSEUDONYM_LEN];

/// The deployment secret that keys pseudonyms. Never logged.
#[derive(Clone)]
pub struct PseudonymKey([u8; 32]);

impl std::fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PseudonymKey(..)")
    }
}

impl PseudonymKey {
    /// From 32 secret bytes.
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// The pseudonym of a holder code.
    pub fn pseudonym(&self, code_type: &str, code: &str) -> Pseudonym {
        // INVARIANT: HMAC accepts keys of any length.
        #[allow(clippy::expect_used)]
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(&self.0).expect("any key length");
        mac.update(b"proofless holder v1\0");
        mac.update(code_type.as_bytes());
        mac.update(b":");
        mac.update(code.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A sealed payload could not be opened.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaultError {
    /// Wrong key, wrong certificate, or altered bytes.
    #[error("the sealed payload does not open with this key")]
    Open,
}

/// Seals `plaintext` for certificate `aad` under a holder key; `nonce` must be fresh
/// random bytes.
pub fn seal(key: &[u8; 32], nonce: [u8; NONCE_LEN], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce_arr = XNonce::from(nonce);
    // INVARIANT: encryption in memory fails only for plaintexts beyond 2^38 bytes.
    #[allow(clippy::expect_used)]
    let ct = cipher
        .encrypt(
            &nonce_arr,
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("plaintext within AEAD limits");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// Opens what [`seal`] produced.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
    if sealed.len() < NONCE_LEN {
        return Err(VaultError::Open);
    }
    let (nonce, ct) = sealed.split_at(NONCE_LEN);
    let mut n = [0u8; NONCE_LEN];
    n.copy_from_slice(nonce);
    let cipher = XChaCha20Poly1305::new(key.into());
    cipher
        .decrypt(&XNonce::from(n), Payload { msg: ct, aad })
        .map_err(|_| VaultError::Open)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pseudonyms_are_keyed_and_separate_code_types() {
        let a = PseudonymKey::new([1; 32]);
        let b = PseudonymKey::new([2; 32]);
        let p = a.pseudonym("111", "370202199001011237");
        assert_eq!(p, a.pseudonym("111", "370202199001011237"));
        assert_ne!(p, b.pseudonym("111", "370202199001011237"));
        assert_ne!(p, a.pseudonym("001", "370202199001011237"));
    }

    #[test]
    fn sealed_payloads_open_only_with_their_key_and_certificate() {
        let sealed = seal(&[7; 32], [9; 24], b"cert-1", b"values");
        assert_eq!(open(&[7; 32], b"cert-1", &sealed).unwrap(), b"values");
        assert_eq!(open(&[8; 32], b"cert-1", &sealed), Err(VaultError::Open));
        assert_eq!(open(&[7; 32], b"cert-2", &sealed), Err(VaultError::Open));
        let mut t = sealed.clone();
        *t.last_mut().unwrap() ^= 1;
        assert_eq!(open(&[7; 32], b"cert-1", &t), Err(VaultError::Open));
        assert_eq!(open(&[7; 32], b"cert-1", &[1, 2]), Err(VaultError::Open));
    }
}
