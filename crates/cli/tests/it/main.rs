//! End-to-end tests of the `proofless` binary: the real server on a real port, the
//! committed example keys, and crash recovery under `kill -9`.
//!
//! They live in this crate rather than in a top-level `tests/` package because cargo only
//! exposes the path of a binary (`CARGO_BIN_EXE_proofless`) to the tests of the package
//! that builds it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod certificates;
mod check;
mod crash;
mod demo;
mod e2e;
mod keys_example;
mod layers;
mod policy;
mod witness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_proofless"))
}

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary to completion.
pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .output()
        .expect("run proofless")
}
