//! Key identifiers.
//!
//! A principal's key is identified everywhere (log entries, receipts, audit reports) by
//! the SHA-256 of its DER `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7), the same value
//! whether the key arrives in an X.509 certificate or bare.

use sha2::{Digest, Sha256};

/// The DER `SubjectPublicKeyInfo` of an Ed25519 public key (RFC 8410 §4): the fixed
/// 12-byte prefix `SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING }` then the key.
pub fn ed25519_spki_der(public_key: &[u8; 32]) -> [u8; 44] {
    const PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];
    let mut out = [0u8; 44];
    out[..12].copy_from_slice(&PREFIX);
    out[12..].copy_from_slice(public_key);
    out
}

/// The key identifier: SHA-256 of the DER `SubjectPublicKeyInfo`.
pub fn key_id(spki_der: &[u8]) -> [u8; 32] {
    Sha256::digest(spki_der).into()
}

/// The `KeyEvent` role of the deployment's trust anchor. It is not a [`Role`]: the trust
/// anchor is a CA and carries no extended key usage.
pub const TRUST_ANCHOR_ROLE: &str = "trust-anchor";

/// The roles a principal's certificate can carry, as an extended key usage under the
/// project's UUID-derived private arc (ITU-T X.667: `2.25.<uuid>`, no registration needed):
/// `2.25.126625176073788436213964392391781943468.1.<n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Role {
    /// Signs checkpoints and receipts.
    Ledger,
    /// Issues electronic certificates.
    Issuer,
    /// A relying department.
    Department,
    /// An accredited citizen channel.
    Channel,
    /// An auditor.
    Auditor,
    /// A checkpoint witness.
    Witness,
}

/// DER encoding of the OID `2.25.126625176073788436213964392391781943468.1`, without the
/// tag and length: role OIDs append one byte, the role number.
const ROLE_ARC: [u8; 21] = [
    0x69, 0x81, 0xbe, 0xc3, 0x8f, 0xcc, 0x8a, 0xf6, 0xba, 0xb5, 0xe5, 0x9f, 0xc2, 0xaa, 0xac, 0xe7,
    0xd7, 0xd2, 0x91, 0x2c, 0x01,
];

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::Ledger,
        Role::Issuer,
        Role::Department,
        Role::Channel,
        Role::Auditor,
        Role::Witness,
    ];

    /// The role with this name (as in `KeyEvent` entries and the CLI).
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The role's name, as written in `KeyEvent` entries.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Ledger => "ledger",
            Role::Issuer => "issuer",
            Role::Department => "department",
            Role::Channel => "channel",
            Role::Auditor => "auditor",
            Role::Witness => "witness",
        }
    }

    const fn number(self) -> u8 {
        match self {
            Role::Ledger => 1,
            Role::Issuer => 2,
            Role::Department => 3,
            Role::Channel => 4,
            Role::Auditor => 5,
            Role::Witness => 6,
        }
    }

    /// The role's OID in dotted form.
    pub fn oid(self) -> String {
        format!(
            "2.25.126625176073788436213964392391781943468.1.{}",
            self.number()
        )
    }

    /// The role's OID as a complete DER `OBJECT IDENTIFIER` (tag, length, value).
    pub fn oid_der(self) -> Vec<u8> {
        let mut v = vec![0x06, (ROLE_ARC.len() + 1) as u8];
        v.extend_from_slice(&ROLE_ARC);
        v.push(self.number());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_matches_rfc8410_example() {
        // RFC 8410 §10.1: the example public key and its SubjectPublicKeyInfo.
        let pk: [u8; 32] = [
            0x19, 0xbf, 0x44, 0x09, 0x69, 0x84, 0xcd, 0xfe, 0x85, 0x41, 0xba, 0xc1, 0x67, 0xdc,
            0x3b, 0x96, 0xc8, 0x50, 0x86, 0xaa, 0x30, 0xb6, 0xb6, 0xcb, 0x0c, 0x5c, 0x38, 0xad,
            0x70, 0x31, 0x66, 0xe1,
        ];
        let der = ed25519_spki_der(&pk);
        assert_eq!(
            hex_of(&der),
            "302a300506032b657003210019bf44096984cdfe8541bac167dc3b96c85086aa30b6b6cb0c5c38ad703166e1"
        );
    }

    #[test]
    fn role_oids_encode_the_uuid_arc() {
        // Encoded independently (Python, base-128 of the UUID integer).
        assert_eq!(
            hex_of(&Role::Ledger.oid_der()),
            "06166981bec38fcc8af6bab5e59fc2aaace7d7d2912c0101"
        );
        assert_eq!(
            hex_of(&Role::Witness.oid_der()),
            "06166981bec38fcc8af6bab5e59fc2aaace7d7d2912c0106"
        );
    }

    fn hex_of(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
