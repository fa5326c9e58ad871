//! The integration tests of `proofless-core`: one binary, one module per feature
//! (STYLE.md, "Tests"), so that the crate's tests link once.
//!
//! Everything here goes through the crate's public API only.

#![allow(clippy::unwrap_used)]

mod cddl;
mod ct_merkle_cross_check;
mod entry_negative;
mod httpsig;
mod ids;
mod merkle_vectors;
mod pki;
mod policy;
mod receipt;
mod samples;
