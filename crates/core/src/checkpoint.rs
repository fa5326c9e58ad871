//! Signed checkpoints: C2SP `tlog-checkpoint` bodies in C2SP `signed-note` envelopes,
//! signed with the ledger's Ed25519 key.
//!
//! Parsing and the note envelope come from `tlog_tiles` and `signed_note`. The Ed25519
//! operations are ours, on `ed25519-dalek` 3: signatures are checked with
//! `verify_strict` (DESIGN.md §9), which also refuses small-order keys and
//! non-canonical signature encodings that plain `verify` would accept.
//!
//! Key encodings follow the Go `note` package, as C2SP does:
//! * verifier key (`vkey`): `<name>+<hex key id>+<base64(0x01 ‖ public key)>`;
//! * signer key (`skey`): `PRIVATE+KEY+<name>+<hex key id>+<base64(0x01 ‖ seed)>`;
//! * key id: the first four bytes of `SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)`.

use base64::{Engine, prelude::BASE64_STANDARD};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use signed_note::{Note, VerificationError, Verifier, Verifiers};
use thiserror::Error;
use tlog_tiles::{Checkpoint, Hash};

/// The algorithm byte of an Ed25519 key in a signed note.
const ALG_ED25519: u8 = 0x01;

/// Why a key string was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not in the `name+id+key` form, or the name is not a valid note key name.
    #[error("malformed key string")]
    Malformed,
    /// The key id does not match the name and key.
    #[error("key id does not match the key")]
    WrongKeyId,
    /// Not an Ed25519 key, or a weak one.
    #[error("not a usable Ed25519 key")]
    BadKey,
}

/// Why a checkpoint was refused.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Not a signed note, or the body is not a checkpoint.
    #[error("malformed checkpoint")]
    Malformed,
    /// The checkpoint names another log.
    #[error("checkpoint is for another origin")]
    WrongOrigin,
    /// No valid signature by the expected key.
    #[error("checkpoint is not signed by the expected key")]
    Unsigned,
    /// A signature by the expected key that does not verify.
    #[error("checkpoint signature is invalid")]
    BadSignature,
}

/// The ledger's checkpoint signing key.
#[derive(Clone)]
pub struct LedgerSigner {
    name: String,
    id: u32,
    key: SigningKey,
}

impl std::fmt::Debug for LedgerSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret key.
        write!(f, "LedgerSigner({}+{:08x})", self.name, self.id)
    }
}

fn note_public_key(key: &VerifyingKey) -> Vec<u8> {
    let mut v = Vec::with_capacity(33);
    v.push(ALG_ED25519);
    v.extend_from_slice(key.as_bytes());
    v
}

fn valid_name(name: &str) -> bool {
    signed_note::is_key_name_valid(name)
}

impl LedgerSigner {
    /// A signer for log `name` from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::Malformed);
        }
        let key = SigningKey::from_bytes(&seed);
        let id = signed_note::key_id(name, &note_public_key(&key.verifying_key()));
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// Parses a `PRIVATE+KEY+…` signer key.
    pub fn from_skey(skey: &str) -> Result<Self, KeyError> {
        let rest = skey
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(KeyError::Malformed)?;
        let (name, id, key) = split_key(rest)?;
        let seed: [u8; 33] = key.try_into().map_err(|_| KeyError::BadKey)?;
        if seed[0] != ALG_ED25519 {
            return Err(KeyError::BadKey);
        }
        let mut s = [0u8; 32];
        s.copy_from_slice(&seed[1..]);
        let signer = Self::from_seed(name, s)?;
        if signer.id != id {
            return Err(KeyError::WrongKeyId);
        }
        Ok(signer)
    }

    /// The signer key string. Secret.
    pub fn skey(&self) -> String {
        let mut k = vec![ALG_ED25519];
        k.extend_from_slice(self.key.as_bytes());
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(k)
        )
    }

    /// The matching verifier key string.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(note_public_key(&self.key.verifying_key()))
        )
    }

    /// The key name (the log's origin).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `message` with the ledger key. Used for receipts, whose COSE structure
    /// (`Signature1` context, protected content type) keeps them apart from checkpoint
    /// notes, which begin with the origin line.
    pub(crate) fn sign_raw(&self, message: &[u8]) -> ed25519_dalek::Signature {
        use ed25519_dalek::Signer as _;
        self.key.sign(message)
    }

    /// The matching verifier.
    pub fn verifier(&self) -> LedgerVerifier {
        LedgerVerifier {
            name: self.name.clone(),
            id: self.id,
            key: self.key.verifying_key(),
        }
    }

    /// Signs the checkpoint for a tree of `size` leaves with root `root`, with the signer's
    /// name as origin. Returns the whole signed note.
    pub fn sign_checkpoint(&self, size: u64, root: Hash) -> Vec<u8> {
        // INVARIANT: the name was checked to be a valid, non-empty note key name at
        // construction and the extension is empty, so the checkpoint and note are
        // well-formed, and Ed25519 signing with a `SigningKey` cannot fail.
        #[allow(clippy::expect_used)]
        let text = Checkpoint::new(&self.name, size, root, "")
            .expect("valid origin")
            .to_bytes();
        #[allow(clippy::expect_used)]
        let mut note = Note::new(&text, &[]).expect("checkpoint text is a valid note");
        #[allow(clippy::expect_used)]
        note.add_sigs(&[self]).expect("valid signer");
        note.to_bytes()
    }
}

impl signed_note::Signer for LedgerSigner {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        Ok(self.key.sign(msg).to_bytes().to_vec())
    }
}

fn split_key(s: &str) -> Result<(&str, u32, Vec<u8>), KeyError> {
    let (name, rest) = s.split_once('+').ok_or(KeyError::Malformed)?;
    let (id_hex, key_b64) = rest.split_once('+').ok_or(KeyError::Malformed)?;
    if !valid_name(name) || id_hex.len() != 8 {
        return Err(KeyError::Malformed);
    }
    let id = u32::from_str_radix(id_hex, 16).map_err(|_| KeyError::Malformed)?;
    let key = BASE64_STANDARD
        .decode(key_b64)
        .map_err(|_| KeyError::Malformed)?;
    Ok((name, id, key))
}

/// A verifier of the ledger's checkpoints, from its public `vkey`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerVerifier {
    name: String,
    id: u32,
    key: VerifyingKey,
}

impl LedgerVerifier {
    /// Parses a verifier key string.
    pub fn from_vkey(vkey: &str) -> Result<Self, KeyError> {
        let (name, id, key) = split_key(vkey.trim())?;
        if signed_note::key_id(name, &key) != id {
            return Err(KeyError::WrongKeyId);
        }
        let raw: [u8; 33] = key.try_into().map_err(|_| KeyError::BadKey)?;
        if raw[0] != ALG_ED25519 {
            return Err(KeyError::BadKey);
        }
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&raw[1..]);
        let key = VerifyingKey::from_bytes(&pk).map_err(|_| KeyError::BadKey)?;
        if key.is_weak() {
            return Err(KeyError::BadKey);
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    /// The verifier key string.
    pub fn vkey(&self) -> String {
        format!(
            "{}+{:08x}+{}",
            self.name,
            self.id,
            BASE64_STANDARD.encode(note_public_key(&self.key))
        )
    }

    /// The key name, which is the log's origin.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The raw Ed25519 public key (also the key of the ledger's receipts).
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Parses a signed checkpoint and checks that it is for this verifier's log and
    /// carries a valid signature by its key. Other signatures (e.g. witness
    /// cosignatures) are kept but not judged here.
    pub fn verify_checkpoint(&self, signed: &[u8]) -> Result<SignedCheckpoint, CheckpointError> {
        let note = Note::from_bytes(signed).map_err(|_| CheckpointError::Malformed)?;
        let cp = Checkpoint::from_bytes(note.text()).map_err(|_| CheckpointError::Malformed)?;
        if cp.origin() != self.name {
            return Err(CheckpointError::WrongOrigin);
        }
        match note.verify(self) {
            Ok(_) => {}
            Err(signed_note::NoteError::InvalidSignature { .. }) => {
                return Err(CheckpointError::BadSignature);
            }
            Err(_) => return Err(CheckpointError::Unsigned),
        }
        Ok(SignedCheckpoint {
            size: cp.size(),
            root: *cp.hash(),
            note: signed.to_vec(),
        })
    }
}

impl Verifier for LedgerVerifier {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(msg, &sig).is_ok()
    }
}

impl Verifiers for LedgerVerifier {
    fn verifier(&self, name: &str, id: u32) -> Result<&dyn Verifier, VerificationError> {
        if name == self.name && id == self.id {
            Ok(self)
        } else {
            Err(VerificationError::UnknownKey {
                name: name.to_owned(),
                id,
            })
        }
    }
}

/// A checkpoint whose ledger signature has been verified.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The whole signed note, as received.
    pub note: Vec<u8>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const ORIGIN: &str = "ledger.test.example/proofless/v1";

    #[test]
    fn sign_and_verify_round_trip() {
        let s = LedgerSigner::from_seed(ORIGIN, [5; 32]).unwrap();
        let v = LedgerVerifier::from_vkey(&s.vkey()).unwrap();
        assert_eq!(v, s.verifier());
        let note = s.sign_checkpoint(3, Hash([1; 32]));
        let cp = v.verify_checkpoint(&note).unwrap();
        assert_eq!((cp.size, cp.root), (3, Hash([1; 32])));
        let text = String::from_utf8(note).unwrap();
        assert!(text.starts_with(&format!("{ORIGIN}\n3\n")));
        assert!(text.contains("\n\n\u{2014} ledger.test.example/proofless/v1 "));
    }

    #[test]
    fn skey_round_trips() {
        let s = LedgerSigner::from_seed(ORIGIN, [9; 32]).unwrap();
        let t = LedgerSigner::from_skey(&s.skey()).unwrap();
        assert_eq!(t.vkey(), s.vkey());
        assert!(LedgerSigner::from_skey(&s.skey().replace("PRIVATE", "PUBLIC")).is_err());
    }

    #[test]
    fn refuses_tampered_foreign_and_unsigned_checkpoints() {
        let s = LedgerSigner::from_seed(ORIGIN, [5; 32]).unwrap();
        let v = s.verifier();
        let note = s.sign_checkpoint(3, Hash([1; 32]));

        let mut tampered = note.clone();
        let pos = ORIGIN.len() + 1; // the size digit
        tampered[pos] = b'4';
        assert_eq!(
            v.verify_checkpoint(&tampered),
            Err(CheckpointError::BadSignature)
        );

        let other = LedgerSigner::from_seed(ORIGIN, [6; 32]).unwrap();
        assert_eq!(
            v.verify_checkpoint(&other.sign_checkpoint(3, Hash([1; 32]))),
            Err(CheckpointError::Unsigned)
        );

        let foreign = LedgerSigner::from_seed("other.example/log", [5; 32]).unwrap();
        assert_eq!(
            v.verify_checkpoint(&foreign.sign_checkpoint(3, Hash([1; 32]))),
            Err(CheckpointError::WrongOrigin)
        );
        assert_eq!(
            v.verify_checkpoint(b"garbage"),
            Err(CheckpointError::Malformed)
        );
    }

    #[test]
    fn vkey_with_wrong_id_is_refused() {
        let s = LedgerSigner::from_seed(ORIGIN, [5; 32]).unwrap();
        let vkey = s.vkey();
        let (name, rest) = vkey.split_once('+').unwrap();
        let (_, key) = rest.split_once('+').unwrap();
        assert_eq!(
            LedgerVerifier::from_vkey(&format!("{name}+00000000+{key}")),
            Err(KeyError::WrongKeyId)
        );
    }
}
