//! Witness cosignatures: C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519) and the body of
//! a C2SP `tlog-witness` `add-checkpoint` request.
//!
//! A witness named `N` with Ed25519 key `K` cosigns a checkpoint by adding a signed-note
//! signature line `— N base64(key ID ‖ timestamp ‖ signature)`, where
//! * the key ID is the first four bytes of `SHA-256(N ‖ "\n" ‖ 0x04 ‖ K)` (0x04 is the
//!   `cosignature/v1` algorithm byte, so a witness key can never be confused with a log key,
//!   whose algorithm byte is 0x01);
//! * the timestamp is the signing time, seconds since the Unix epoch, 8 bytes big-endian;
//! * the signature is Ed25519 over `"cosignature/v1\ntime " ‖ decimal(timestamp) ‖ "\n"`
//!   followed by the checkpoint body (the note text: origin, size, root hash and any
//!   extension lines, each ending in a newline).
//!
//! The witness's verifier key is `N+hex(key ID)+base64(0x04 ‖ K)`. Every cosignature is
//! checked with `verify_strict` (DESIGN.md §9).
//!
//! A cosignature states only that the witness saw this checkpoint and that it is consistent
//! with every earlier one the witness saw for that log; [`WitnessPolicy`] decides how many
//! witnesses a client needs (k of n) before it trusts a checkpoint not to be a split view.
//!
//! This module is pure: no clock, no I/O. The caller passes the time in.

use crate::merkle::{Hash, MAX_PROOF_LEN};
use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use signed_note::Note;
use thiserror::Error;
use tlog_tiles::Checkpoint;

/// The algorithm byte of a `cosignature/v1` key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Bytes of a `cosignature/v1` signature after the key ID: timestamp (8) and Ed25519 (64).
const COSIG_LEN: usize = 8 + 64;

/// Largest add-checkpoint request body accepted (a checkpoint note is at most a few KiB,
/// and a proof at most 64 hashes).
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// Why a witness key string or key was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WitnessKeyError {
    /// Not in the `name+id+key` form, or the name is not a valid note key name.
    #[error("malformed witness key string")]
    Malformed,
    /// The key ID does not match the name and key.
    #[error("witness key id does not match the key")]
    WrongKeyId,
    /// Not a `cosignature/v1` Ed25519 key (algorithm byte 0x04), or a weak one.
    #[error("not a cosignature/v1 Ed25519 key")]
    BadKey,
}

/// Why a cosignature was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignatureError {
    /// Not a signature line `— name base64`, or not base64, or not 76 bytes.
    #[error("malformed cosignature line")]
    Malformed,
    /// The line is by another key (name or key ID differ).
    #[error("cosignature is by another key")]
    OtherKey,
    /// The Ed25519 signature does not verify over this checkpoint and time.
    #[error("cosignature does not verify")]
    BadSignature,
    /// The note is not a signed checkpoint.
    #[error("not a checkpoint note")]
    NotACheckpoint,
}

/// Why an `add-checkpoint` request body was refused (answered 400 by a witness).
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// Larger than [`MAX_REQUEST_LEN`].
    #[error("request body too large")]
    TooLarge,
    /// Not UTF-8.
    #[error("request body is not UTF-8")]
    NotText,
    /// The first line is not `old <size>` with a canonical decimal size.
    #[error("the first line is not `old <size>`")]
    OldLine,
    /// A proof line is not a base64 SHA-256 hash, or there are more than 64.
    #[error("a consistency proof line is not a base64 SHA-256 hash")]
    ProofLine,
    /// `old` is 0 but a proof was sent.
    #[error("a proof from size 0 must be empty")]
    ProofFromZero,
    /// No empty line before the checkpoint.
    #[error("no empty line before the checkpoint")]
    NoSeparator,
    /// The checkpoint is not a signed note holding a checkpoint.
    #[error("the checkpoint is not a signed checkpoint note")]
    Checkpoint,
}

/// Why a cosigned note does not meet a [`WitnessPolicy`].
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// The note is not a signed checkpoint.
    #[error("not a checkpoint note")]
    NotACheckpoint,
    /// A line by a known witness key does not verify.
    #[error("cosignature by witness {0} does not verify")]
    BadCosignature(String),
    /// Fewer valid cosignatures by distinct policy witnesses than the quorum.
    #[error("{found} valid cosignatures, {needed} needed")]
    Quorum {
        /// Valid cosignatures by distinct witnesses of the policy.
        found: usize,
        /// The policy's k.
        needed: usize,
    },
}

/// Why a policy could not be built.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyConfigError {
    /// k is 0 or larger than the number of witnesses.
    #[error("quorum {k} is not between 1 and the number of witnesses ({n})")]
    Quorum {
        /// The quorum asked for.
        k: usize,
        /// Witnesses configured.
        n: usize,
    },
    /// Two witnesses share a name or key.
    #[error("witness {0} is configured twice")]
    Duplicate(String),
}

/// The `cosignature/v1` key ID of witness `name` with public key `key`.
pub fn key_id(name: &str, key: &VerifyingKey) -> u32 {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update(b"\n");
    h.update([ALG_COSIGNATURE_V1]);
    h.update(key.as_bytes());
    let d = h.finalize();
    u32::from_be_bytes([d[0], d[1], d[2], d[3]])
}

/// The message a witness signs: the `cosignature/v1` header with the time, then the
/// checkpoint body.
pub fn signed_message(body: &[u8], timestamp: u64) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(body);
    m
}

/// The text (body) of a signed checkpoint note, checked to be a checkpoint.
pub fn checkpoint_body(note: &[u8]) -> Option<Vec<u8>> {
    let n = Note::from_bytes(note).ok()?;
    Checkpoint::from_bytes(n.text()).ok()?;
    Some(n.text().to_vec())
}

/// The signature lines of a signed note, each without its final newline.
pub fn signature_lines(note: &[u8]) -> Vec<&str> {
    let Ok(text) = std::str::from_utf8(note) else {
        return Vec::new();
    };
    let Some((_, sigs)) = text.rsplit_once("\n\n") else {
        return Vec::new();
    };
    sigs.split('\n').filter(|l| !l.is_empty()).collect()
}

/// A witness's signing key.
#[derive(Clone)]
pub struct WitnessSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for WitnessSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        write!(f, "WitnessSigner({}+{:08x})", self.name, self.id)
    }
}

impl WitnessSigner {
    /// A signer for witness `name` from an Ed25519 key.
    pub fn new(name: &str, key: SigningKey) -> Result<Self, WitnessKeyError> {
        if !signed_note::is_key_name_valid(name) {
            return Err(WitnessKeyError::Malformed);
        }
        Ok(Self {
            name: name.to_owned(),
            id: key_id(name, &key.verifying_key()),
            key,
        })
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The matching verifier.
    pub fn verifier(&self) -> WitnessVerifier {
        WitnessVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        self.verifier().vkey()
    }

    /// Cosigns the checkpoint in `note` (a signed note, whose body must be a checkpoint)
    /// at `timestamp` (Unix seconds): the signature line `— N base64(…)`, without a final
    /// newline.
    pub fn cosign(&self, note: &[u8], timestamp: u64) -> Result<String, CosignatureError> {
        let body = checkpoint_body(note).ok_or(CosignatureError::NotACheckpoint)?;
        let sig = self.key.sign(&signed_message(&body, timestamp));
        let mut raw = Vec::with_capacity(4 + COSIG_LEN);
        raw.extend_from_slice(&self.id.to_be_bytes());
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "\u{2014} {} {}",
            self.name,
            BASE64_STANDARD.encode(raw)
        ))
    }
}

/// A witness's public key: checks its cosignatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl WitnessVerifier {
    /// Parses a `N+hex(key ID)+base64(0x04 ‖ key)` verifier key.
    pub fn from_vkey(vkey: &str) -> Result<Self, WitnessKeyError> {
        let s = vkey.trim();
        let (name, rest) = s.split_once('+').ok_or(WitnessKeyError::Malformed)?;
        let (id_hex, key_b64) = rest.split_once('+').ok_or(WitnessKeyError::Malformed)?;
        if !signed_note::is_key_name_valid(name) || id_hex.len() != 8 {
            return Err(WitnessKeyError::Malformed);
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| WitnessKeyError::Malformed)?;
        let raw = BASE64_STANDARD
            .decode(key_b64)
            .map_err(|_| WitnessKeyError::Malformed)?;
        let raw: [u8; 33] = raw.try_into().map_err(|_| WitnessKeyError::BadKey)?;
        if raw[0] != ALG_COSIGNATURE_V1 {
            return Err(WitnessKeyError::BadKey);
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| WitnessKeyError::BadKey)?;
        if key.is_weak() {
            return Err(WitnessKeyError::BadKey);
        }
        if key_id(name, &key) != id {
            return Err(WitnessKeyError::WrongKeyId);
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        let mut raw = vec![ALG_COSIGNATURE_V1];
        raw.extend_from_slice(self.key.as_bytes());
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(raw)
        )
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key ID.
    pub fn key_id(&self) -> u32 {
        self.id
    }

    /// Whether signature `line` names this witness's key (name and key ID), whether or not
    /// it verifies.
    pub fn names(&self, line: &str) -> bool {
        signed_note::Signature::from_bytes(line.as_bytes())
            .is_ok_and(|s| s.name() == self.name && s.id() == self.id)
    }

    /// Checks the cosignature `line` (with or without its final newline) over the checkpoint
    /// body `body`; returns its timestamp.
    pub fn verify(&self, body: &[u8], line: &str) -> Result<u64, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let sig = signed_note::Signature::from_bytes(line.as_bytes())
            .map_err(|_| CosignatureError::Malformed)?;
        if sig.name() != self.name || sig.id() != self.id {
            return Err(CosignatureError::OtherKey);
        }
        let raw: &[u8; COSIG_LEN] = sig
            .signature()
            .try_into()
            .map_err(|_| CosignatureError::Malformed)?;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&raw[..8]);
        let timestamp = u64::from_be_bytes(ts);
        let ed = Signature::from_slice(&raw[8..]).map_err(|_| CosignatureError::Malformed)?;
        self.key
            .verify_strict(&signed_message(body, timestamp), &ed)
            .map_err(|_| CosignatureError::BadSignature)?;
        Ok(timestamp)
    }
}

/// A k-of-n witness policy: a checkpoint is trusted when at least `k` of the `n` witnesses
/// have cosigned it.
#[derive(Clone, Debug)]
pub struct WitnessPolicy {
    witnesses: Vec<WitnessVerifier>,
    quorum: usize,
}

/// A cosignature that verified under a policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedCosignature {
    /// The witness's name.
    pub witness: String,
    /// When the witness signed (Unix seconds).
    pub timestamp: u64,
}

impl WitnessPolicy {
    /// `quorum` of `witnesses`; names and keys must be distinct.
    pub fn new(witnesses: Vec<WitnessVerifier>, quorum: usize) -> Result<Self, PolicyConfigError> {
        if quorum == 0 || quorum > witnesses.len() {
            return Err(PolicyConfigError::Quorum {
                k: quorum,
                n: witnesses.len(),
            });
        }
        for (i, w) in witnesses.iter().enumerate() {
            if witnesses[..i]
                .iter()
                .any(|o| o.name == w.name || o.key == w.key)
            {
                return Err(PolicyConfigError::Duplicate(w.name.clone()));
            }
        }
        Ok(Self { witnesses, quorum })
    }

    /// The witnesses.
    pub fn witnesses(&self) -> &[WitnessVerifier] {
        &self.witnesses
    }

    /// k.
    pub fn quorum(&self) -> usize {
        self.quorum
    }

    /// Checks the cosignatures in the signed checkpoint `note`. Lines by keys outside the
    /// policy are ignored (the log's own signature is checked elsewhere); a line by a
    /// policy key that does not verify fails the whole note, since it can only be a forgery
    /// or a corruption. Returns the valid cosignatures, one per witness.
    pub fn check(&self, note: &[u8]) -> Result<Vec<CheckedCosignature>, PolicyError> {
        let body = checkpoint_body(note).ok_or(PolicyError::NotACheckpoint)?;
        let mut found: Vec<CheckedCosignature> = Vec::new();
        for line in signature_lines(note) {
            for w in &self.witnesses {
                if !w.names(line) {
                    continue;
                }
                let timestamp = w
                    .verify(&body, line)
                    .map_err(|_| PolicyError::BadCosignature(w.name.clone()))?;
                if !found.iter().any(|c| c.witness == w.name) {
                    found.push(CheckedCosignature {
                        witness: w.name.clone(),
                        timestamp,
                    });
                }
            }
        }
        if found.len() < self.quorum {
            return Err(PolicyError::Quorum {
                found: found.len(),
                needed: self.quorum,
            });
        }
        Ok(found)
    }
}

/// Appends signature `lines` (without final newlines) to the signed `note`.
pub fn add_lines(note: &[u8], lines: &[String]) -> Vec<u8> {
    let mut out = note.to_vec();
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    for l in lines {
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    out
}

/// A C2SP `tlog-witness` `add-checkpoint` request.
#[derive(Clone, Debug, PartialEq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the log believes the witness last cosigned.
    pub old: u64,
    /// The consistency proof from `old` to the new checkpoint (empty when `old` is 0).
    pub proof: Vec<Hash>,
    /// The new signed checkpoint note.
    pub checkpoint: Vec<u8>,
}

impl AddCheckpoint {
    /// The request body: `old N`, the proof lines, an empty line, the checkpoint.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for h in &self.proof {
            out.extend_from_slice(BASE64_STANDARD.encode(h.0).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.checkpoint);
        out
    }

    /// Parses a request body. The checkpoint is checked to be a well-formed checkpoint
    /// note; its signatures are not checked here.
    pub fn parse(body: &[u8]) -> Result<Self, RequestError> {
        if body.len() > MAX_REQUEST_LEN {
            return Err(RequestError::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| RequestError::NotText)?;
        let (first, mut rest) = text.split_once('\n').ok_or(RequestError::OldLine)?;
        let old = first
            .strip_prefix("old ")
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .filter(|n| *n == "0" || !n.starts_with('0'))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or(RequestError::OldLine)?;
        let mut proof = Vec::new();
        loop {
            let (line, tail) = rest.split_once('\n').ok_or(RequestError::NoSeparator)?;
            rest = tail;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LEN {
                return Err(RequestError::ProofLine);
            }
            let h: [u8; 32] = BASE64_STANDARD
                .decode(line)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or(RequestError::ProofLine)?;
            proof.push(Hash(h));
        }
        if old == 0 && !proof.is_empty() {
            return Err(RequestError::ProofFromZero);
        }
        let checkpoint = rest.as_bytes().to_vec();
        checkpoint_body(&checkpoint).ok_or(RequestError::Checkpoint)?;
        Ok(Self {
            old,
            proof,
            checkpoint,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::checkpoint::LedgerSigner;

    const ORIGIN: &str = "ledger.test.example/proofless/v1";
    const WITNESS: &str = "witness.test.example";

    fn signer(seed: u8) -> WitnessSigner {
        WitnessSigner::new(WITNESS, SigningKey::from_bytes(&[seed; 32])).unwrap()
    }

    fn checkpoint(size: u64) -> Vec<u8> {
        LedgerSigner::from_seed(ORIGIN, [1; 32])
            .unwrap()
            .sign_checkpoint(size, Hash([size as u8; 32]))
    }

    /// The key ID and vkey computed independently of the code under test: SHA-256 over the
    /// bytes written out by hand, hex and base64 by hand-picked APIs.
    #[test]
    fn key_id_and_vkey_match_an_independent_computation() {
        let s = signer(7);
        let pk = SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes();
        let mut preimage = b"witness.test.example\n".to_vec();
        preimage.push(0x04);
        preimage.extend_from_slice(&pk);
        let digest = Sha256::digest(&preimage);
        let id_hex = hex::encode(&digest[..4]);
        let mut key = vec![0x04];
        key.extend_from_slice(&pk);
        let expected = format!(
            "witness.test.example+{id_hex}+{}",
            BASE64_STANDARD.encode(key)
        );
        assert_eq!(s.vkey(), expected);
        // The log-key ID (algorithm 0x01) of the same name and key is a different ID.
        let mut log_key = vec![0x01];
        log_key.extend_from_slice(&pk);
        assert_ne!(
            signed_note::key_id(WITNESS, &log_key),
            s.verifier().key_id()
        );
        let v = WitnessVerifier::from_vkey(&expected).unwrap();
        assert_eq!(v, s.verifier());
        assert_eq!(v.vkey(), expected);
    }

    /// Known answer, computed outside Rust with Python's `cryptography` (OpenSSL's
    /// Ed25519) and `hashlib`:
    ///
    /// ```python
    /// sk = Ed25519PrivateKey.from_private_bytes(bytes([7]*32))
    /// pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    /// kid = hashlib.sha256(b"witness.test.example\n\x04" + pk).digest()[:4]
    /// body = b"ledger.test.example/proofless/v1\n5\n" + base64.b64encode(bytes([5]*32)) + b"\n"
    /// sig = sk.sign(b"cosignature/v1\ntime 1700000000\n" + body)
    /// line = "\u2014 witness.test.example " + base64.b64encode(kid + (1700000000).to_bytes(8, "big") + sig).decode()
    /// ```
    #[test]
    fn known_answer_from_an_independent_implementation() {
        const VKEY: &str =
            "witness.test.example+d397c82f+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
        const LINE: &str = "\u{2014} witness.test.example 05fILwAAAABlU/EAQFShmV1FMy+PTgdWY+1iuiJAtDc+x9CtStZkI+vSxlTHpS56mX/o3uRd1I8VSSSyVaBgErBVOmOWjij8eBzpBA==";
        let s = signer(7);
        assert_eq!(s.vkey(), VKEY);
        assert_eq!(s.cosign(&checkpoint(5), 1_700_000_000).unwrap(), LINE);
        let v = WitnessVerifier::from_vkey(VKEY).unwrap();
        let body = checkpoint_body(&checkpoint(5)).unwrap();
        assert_eq!(v.verify(&body, LINE), Ok(1_700_000_000));
    }

    /// The signed message and line layout, rebuilt by hand and checked with plain Ed25519.
    #[test]
    fn cosignature_layout_matches_the_spec() {
        let s = signer(7);
        let note = checkpoint(5);
        let line = s.cosign(&note, 1_700_000_000).unwrap();
        let (prefix, b64) = line.rsplit_once(' ').unwrap();
        assert_eq!(prefix, "\u{2014} witness.test.example");
        let raw = BASE64_STANDARD.decode(b64).unwrap();
        assert_eq!(raw.len(), 4 + 8 + 64);
        assert_eq!(
            u32::from_be_bytes(raw[..4].try_into().unwrap()),
            s.verifier().key_id()
        );
        assert_eq!(
            u64::from_be_bytes(raw[4..12].try_into().unwrap()),
            1_700_000_000
        );
        let text = String::from_utf8(note.clone()).unwrap();
        let body = &text[..text.find("\n\n").unwrap() + 1];
        let msg = format!("cosignature/v1\ntime 1700000000\n{body}");
        let sig = Signature::from_slice(&raw[12..]).unwrap();
        SigningKey::from_bytes(&[7; 32])
            .verifying_key()
            .verify_strict(msg.as_bytes(), &sig)
            .unwrap();
        assert_eq!(
            s.verifier().verify(body.as_bytes(), &line),
            Ok(1_700_000_000)
        );
    }

    #[test]
    fn wrong_key_changed_body_bad_base64_and_wrong_id_are_refused() {
        let s = signer(7);
        let v = s.verifier();
        let note = checkpoint(5);
        let body = checkpoint_body(&note).unwrap();
        let line = s.cosign(&note, 42).unwrap();
        assert_eq!(v.verify(&body, &line), Ok(42));

        // Another key under the same name: another key ID.
        let other = signer(8).verifier();
        assert_eq!(other.verify(&body, &line), Err(CosignatureError::OtherKey));
        // A forged line with the right name and key ID but another key's signature.
        let forged = signer(8).cosign(&note, 42).unwrap();
        let (_, forged_b64) = forged.rsplit_once(' ').unwrap();
        let mut raw = BASE64_STANDARD.decode(forged_b64).unwrap();
        raw[..4].copy_from_slice(&v.key_id().to_be_bytes());
        let forged = format!("\u{2014} {WITNESS} {}", BASE64_STANDARD.encode(&raw));
        assert_eq!(
            v.verify(&body, &forged),
            Err(CosignatureError::BadSignature)
        );
        // Changed body.
        let body6 = checkpoint_body(&checkpoint(6)).unwrap();
        assert_eq!(v.verify(&body6, &line), Err(CosignatureError::BadSignature));
        // Changed timestamp.
        let (_, b64) = line.rsplit_once(' ').unwrap();
        let mut raw = BASE64_STANDARD.decode(b64).unwrap();
        raw[11] ^= 1;
        let retimed = format!("\u{2014} {WITNESS} {}", BASE64_STANDARD.encode(&raw));
        assert_eq!(
            v.verify(&body, &retimed),
            Err(CosignatureError::BadSignature)
        );
        // Wrong key ID.
        raw[11] ^= 1;
        raw[0] ^= 1;
        let wrong_id = format!("\u{2014} {WITNESS} {}", BASE64_STANDARD.encode(&raw));
        assert_eq!(v.verify(&body, &wrong_id), Err(CosignatureError::OtherKey));
        // Bad base64, truncated signature.
        assert_eq!(
            v.verify(&body, &format!("\u{2014} {WITNESS} !!!not-base64")),
            Err(CosignatureError::Malformed)
        );
        raw[0] ^= 1;
        let short = format!("\u{2014} {WITNESS} {}", BASE64_STANDARD.encode(&raw[..40]));
        assert_eq!(v.verify(&body, &short), Err(CosignatureError::Malformed));
        // Not a checkpoint.
        assert_eq!(
            s.cosign(b"hello\n\n\xe2\x80\x94 x AAAAAAA=\n", 1),
            Err(CosignatureError::NotACheckpoint)
        );
    }

    #[test]
    fn vkeys_are_parsed_strictly() {
        let vkey = signer(7).vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        let (_, key) = rest.split_once('+').unwrap();
        assert_eq!(
            WitnessVerifier::from_vkey(&format!("{name}+00000000+{key}")),
            Err(WitnessKeyError::WrongKeyId)
        );
        // A log key (0x01) is not a witness key.
        let log_vkey = LedgerSigner::from_seed(WITNESS, [7; 32]).unwrap().vkey();
        assert_eq!(
            WitnessVerifier::from_vkey(&log_vkey),
            Err(WitnessKeyError::BadKey)
        );
        assert_eq!(
            WitnessVerifier::from_vkey("garbage"),
            Err(WitnessKeyError::Malformed)
        );
        assert_eq!(
            WitnessVerifier::from_vkey(&format!("{name}+zzzzzzzz+{key}")),
            Err(WitnessKeyError::Malformed)
        );
    }

    #[test]
    fn policy_counts_distinct_valid_witnesses() {
        let a = WitnessSigner::new("a.example", SigningKey::from_bytes(&[1; 32])).unwrap();
        let b = WitnessSigner::new("b.example", SigningKey::from_bytes(&[2; 32])).unwrap();
        let note = checkpoint(9);
        let la = a.cosign(&note, 1).unwrap();
        let lb = b.cosign(&note, 2).unwrap();
        let p = WitnessPolicy::new(vec![a.verifier(), b.verifier()], 2).unwrap();
        let both = add_lines(&note, &[la.clone(), lb.clone()]);
        assert_eq!(p.check(&both).unwrap().len(), 2);
        // The ledger still verifies its own signature on the cosigned note.
        let ledger = LedgerSigner::from_seed(ORIGIN, [1; 32]).unwrap().verifier();
        assert_eq!(ledger.verify_checkpoint(&both).unwrap().size, 9);
        // One witness twice is one.
        let twice = add_lines(&note, &[la.clone(), a.cosign(&note, 3).unwrap()]);
        assert_eq!(
            p.check(&twice),
            Err(PolicyError::Quorum {
                found: 1,
                needed: 2
            })
        );
        // A cosignature of another checkpoint, pasted in, fails the note.
        let moved = add_lines(&note, &[la, b.cosign(&checkpoint(8), 2).unwrap()]);
        assert_eq!(
            p.check(&moved),
            Err(PolicyError::BadCosignature("b.example".into()))
        );
        assert_eq!(
            WitnessPolicy::new(vec![a.verifier()], 2).unwrap_err(),
            PolicyConfigError::Quorum { k: 2, n: 1 }
        );
        assert_eq!(
            WitnessPolicy::new(vec![a.verifier()], 0).unwrap_err(),
            PolicyConfigError::Quorum { k: 0, n: 1 }
        );
        assert!(matches!(
            WitnessPolicy::new(vec![a.verifier(), a.verifier()], 1),
            Err(PolicyConfigError::Duplicate(_))
        ));
        let _ = lb;
    }

    #[test]
    fn add_checkpoint_round_trips_and_refuses_malformed_bodies() {
        let req = AddCheckpoint {
            old: 3,
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            checkpoint: checkpoint(5),
        };
        let bytes = req.to_bytes();
        assert_eq!(AddCheckpoint::parse(&bytes), Ok(req.clone()));
        let zero = AddCheckpoint {
            old: 0,
            proof: vec![],
            checkpoint: checkpoint(5),
        };
        assert_eq!(AddCheckpoint::parse(&zero.to_bytes()), Ok(zero));

        let cp = String::from_utf8(checkpoint(5)).unwrap();
        let bad = |b: &str| AddCheckpoint::parse(b.as_bytes()).unwrap_err();
        assert_eq!(bad(&format!("old 03\n\n{cp}")), RequestError::OldLine);
        assert_eq!(bad(&format!("old -1\n\n{cp}")), RequestError::OldLine);
        assert_eq!(bad(&format!("new 3\n\n{cp}")), RequestError::OldLine);
        assert_eq!(
            bad(&format!("old 3\nnot-a-hash\n\n{cp}")),
            RequestError::ProofLine
        );
        let h = BASE64_STANDARD.encode([1; 32]);
        assert_eq!(
            bad(&format!("old 0\n{h}\n\n{cp}")),
            RequestError::ProofFromZero
        );
        assert_eq!(bad("old 3\n"), RequestError::NoSeparator);
        assert_eq!(bad("old 3\n\nnot a checkpoint\n"), RequestError::Checkpoint);
        assert_eq!(
            AddCheckpoint::parse(b"old 1\n\n\xff\xfe").unwrap_err(),
            RequestError::NotText
        );
        let long = format!("old 3\n{}\n{cp}", format!("{h}\n").repeat(65));
        assert_eq!(bad(&long), RequestError::ProofLine);
    }
}
