//! Proofless core: the pure types of the ledger.
//!
//! This crate holds everything that must mean the same thing to the server, to a client
//! SDK and to an auditor replaying the log on another machine:
//!
//! * [`entry`] — typed log entries in deterministic CBOR (RFC 8949 §4.2.1), at most
//!   64 KiB, with decoding that refuses anything non-canonical;
//! * [`cert`] — certificates as COSE-signed security objects with salted per-field
//!   digests (selective disclosure, ISO/IEC 18013-5 pattern);
//! * [`merkle`] — RFC 9162 tree hashing and inclusion / consistency proofs;
//! * [`tiles`] — C2SP `tlog-tiles` paths and entry bundles;
//! * [`checkpoint`] — C2SP `tlog-checkpoint` signed notes with Ed25519;
//! * [`cosign`] — witness cosignatures (C2SP `tlog-cosignature`, `cosignature/v1`), k-of-n
//!   witness policies, and the C2SP `tlog-witness` `add-checkpoint` request body;
//! * [`ids`] — checked 公民身份号码, 统一社会信用代码 and 电子证照标识 (check characters);
//! * [`keys`] — key identifiers (SHA-256 of the SubjectPublicKeyInfo) and role OIDs;
//! * [`pki`] — who is who: X.509 chain policy for principals (Ed25519, role, 统一社会信用代码);
//! * [`policy`] — no-proof scenario rules (TOML), linted against the certificate catalog,
//!   and the digest of a rule set;
//! * [`httpsig`] — department request signatures: the RFC 9421 signature base with
//!   Ed25519, and RFC 9530 `content-digest`.
//!
//! # Guarantees
//! * `core` does no I/O: no files, no network, no clock, no randomness. Callers pass
//!   time and seeds in, which keeps every function here deterministic and testable.
//! * `core` knows nothing of HTTP stacks, JSON or storage. [`httpsig`] builds signature
//!   bases from plain strings, so an auditor can re-check a request offline.
//! * Input from outside never panics here: every decoder returns a typed error.
//!
//! # Example
//! ```
//! use proofless_core::{checkpoint::LedgerSigner, merkle::MemoryTree};
//!
//! let signer = LedgerSigner::from_seed("ledger.example/proofless/v1", [7; 32]).unwrap();
//! let mut tree = MemoryTree::new();
//! tree.push(b"first entry");
//! let note = signer.sign_checkpoint(tree.size(), tree.root());
//! let checkpoint = signer.verifier().verify_checkpoint(&note).unwrap();
//! assert_eq!(checkpoint.size, 1);
//! ```

pub mod cbor;
pub mod cert;
pub mod checkpoint;
pub mod cosign;
pub mod ed25519;
pub mod entry;
pub mod httpsig;
pub mod ids;
pub mod keys;
pub mod merkle;
pub mod pki;
pub mod policy;
pub mod receipt;
pub mod tiles;
pub mod time;
