//! Integration tests of the client SDK against logs built here, honest and adversarial.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod audit;
