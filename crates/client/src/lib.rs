//! Proofless client SDK.
//!
//! Everything here trusts only public keys given by the caller, never the server: a
//! verifier key fetched from the server it verifies would prove nothing.
//!
//! * [`fetch`] — the [`Fetch`] trait (an HTTP GET of a path under the log's base URL) and
//!   its `ureq` implementation [`HttpFetch`]; tests and offline bundles implement it too.
//! * [`audit`] — the auditor's replay: every hash, tile and signature of the log
//!   verified, and every access decision re-checked against the rules in force then;
//! * [`department`] — signing department requests (RFC 9421, Ed25519, RFC 9530
//!   `content-digest`) in the profile the server checks;
//! * [`certificate`] — offline verification of a certificate and its disclosed items
//!   against the trust anchor;
//! * [`receipt`] — offline verification of a verification answer: the ledger's receipt,
//!   the tlog-proof of the access entry, and every disclosed item against its issuer;
//! * [`issuer`] — building and signing certificates and status statements for submission;
//! * [`verify`] — [`verify_log`], the full check behind `proofless log verify`: in the
//!   manner of tessera's `fsck`, it downloads the checkpoint, every entry bundle and every
//!   hash tile, recomputes the tree from the entries, and checks the root, every tile, the
//!   signature, and consistency with the checkpoint seen last time.

pub mod audit;
pub mod certificate;
pub mod department;
pub mod fetch;
pub mod issuer;
pub mod receipt;
pub mod verify;

pub use fetch::{Fetch, FetchError, HttpFetch};
pub use verify::{LogState, VerifyError, VerifyReport, verify_log};
