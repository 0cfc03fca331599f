//! latchkey-verify's integration tests: one binary, against a real latchkey
//! started in-process (SQLite always, PostgreSQL when
//! `LATCHKEY_TEST_POSTGRES_URL` is set; a skipped PostgreSQL variant prints
//! a `SKIPPED` line, and fails under `LATCHKEY_REQUIRE_POSTGRES=1`).

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod attacks;
mod client_credentials;
mod dpop;
#[path = "../../../latchkey/tests/it/common/dpop.rs"]
mod dpop_keys;
mod exchange;
mod forge;
mod verifier;
