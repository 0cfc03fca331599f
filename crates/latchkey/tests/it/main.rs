//! latchkey's integration tests: one binary, a module per flow.
//!
//! Every test that touches storage runs twice, through [`both_backends!`]: on
//! SQLite always, and on PostgreSQL when `LATCHKEY_TEST_POSTGRES_URL` is set
//! (each test in its own schema, so tests run in parallel). Without it, each
//! skipped PostgreSQL variant prints a `SKIPPED` line with a running count
//! (uncaptured, so it shows in the test output); with
//! `LATCHKEY_REQUIRE_POSTGRES=1` (CI) it fails instead. Servers are real:
//! the router is served on a loopback port and driven by real HTTP clients.

// Test code: a failed unwrap is a failed test, which is what we want.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;

mod accounts;
mod accounts_browser;
mod accounts_ops;
mod accounts_store;
mod admin_api;
mod admin_dpop;
mod authorize;
mod backchannel;
mod browser;
mod cli;
mod client_credentials;
mod config_check;
mod console;
mod console_browser;
mod cookies;
mod cors;
mod cors_browser;
mod demo;
mod device;
mod discovery;
mod docs;
mod dpop;
mod fapi2;
mod forged;
mod i18n;
mod keys;
mod oidc;
mod ops_fuzz;
mod ops_housekeeping;
mod ops_limits;
mod ops_logs;
mod ops_metrics;
mod ops_outage;
mod ops_process;
mod outbox;
mod par;
mod passkeys;
mod passkeys_store;
mod private_key_jwt;
mod refresh;
mod refresh_concurrency;
mod registration;
mod revocation;
mod screenshots;
mod signin;
mod signin_limits;
mod store;
mod store_admin;
mod store_refresh;
mod theme;
mod tls;
mod token_exchange;
mod user_admin;
