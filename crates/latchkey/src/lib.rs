//! latchkey: an OAuth 2.0 and OpenID Connect authorization server.
//!
//! See ARCHITECTURE.md for the map: `core` is the domain, `store` its storage on
//! SQLite and PostgreSQL, `http` the axum layer over it, `cli` the binary's
//! subcommands, and `app` wires them into a running server.

pub mod app;
pub mod cli;
pub mod config;
pub mod core;
pub mod http;
pub mod mailer;
pub mod store;
