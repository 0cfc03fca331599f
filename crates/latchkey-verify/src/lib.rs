//! Verify latchkey access tokens locally, in any axum/tower service.
//!
//! latchkey's access tokens are JWTs (RFC 9068) signed with an asymmetric
//! key. A resource server checks them with the public key from latchkey's
//! JWKS: no database, no call to latchkey per request, just a signature
//! check (about 20 µs for RS256) and a few comparisons.
//!
//! - [`Verifier`]: fetches and caches the JWKS (from discovery, a URL, or a
//!   static set), and verifies tokens: signature with the key the `kid`
//!   names and the algorithm the configuration allows for that key (never
//!   the one the token asks for), `typ: at+jwt`, `iss`, `aud`, `exp`, `nbf`,
//!   `iat`. Tokens that point at their own key (`jku`, `x5u`, `jwk`, `x5c`)
//!   are refused, and those URLs are never fetched.
//! - [`Authenticated`]: an axum extractor; [`VerifyLayer`]: a tower layer.
//!   Failures answer as docs/resource-servers.md says (401 `INVALID_TOKEN` or
//!   `TOKEN_EXPIRED`, 403 `INSUFFICIENT_SCOPE`, with RFC 6750's
//!   `WWW-Authenticate`).
//! - [`ClientCredentials`]: tokens for calls to other services, cached and
//!   renewed before they expire, one request to latchkey at a time.
//!
//! # Example
//!
//! ```no_run
//! use axum::{Json, Router, routing::get};
//! use latchkey_verify::{
//!     AccessTokenClaims, Authenticated, ClientCredentials, ClientCredentialsConfig, Verifier,
//!     VerifierConfig, VerifyError, VerifyLayer,
//! };
//!
//! async fn me(Authenticated(claims): Authenticated) -> Json<AccessTokenClaims> {
//!     Json(claims)
//! }
//!
//! async fn admin(auth: Authenticated) -> Result<&'static str, VerifyError> {
//!     auth.require_scope("admin")?; // 403 INSUFFICIENT_SCOPE without it
//!     Ok("welcome")
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Whom we trust, and who we are. RS256 only, 30 s leeway by default.
//!     let verifier = Verifier::new(VerifierConfig::new(
//!         "https://id.example.com",
//!         "https://billing.example.com",
//!     ))?;
//!     // Optional: fail fast if latchkey cannot be reached at start.
//!     verifier.refresh().await?;
//!
//!     let app = Router::new()
//!         .route("/me", get(me))
//!         .route("/admin", get(admin))
//!         // Or as a layer, for a whole group of routes:
//!         .nest(
//!             "/reports",
//!             Router::new()
//!                 .route("/", get(|| async { "reports" }))
//!                 .layer(VerifyLayer::new(verifier.clone()).require_scope("reports:read")),
//!         )
//!         .with_state(verifier);
//!
//!     // Calling another service: a cached, self-renewing token.
//!     let metadata = latchkey_verify::discover("https://id.example.com").await?;
//!     let tokens = ClientCredentials::new(ClientCredentialsConfig {
//!         scope: Some("invoices:read".into()),
//!         ..ClientCredentialsConfig::new(metadata.token_endpoint, "CLIENT_ID", "CLIENT_SECRET")
//!     })?;
//!     let token = tokens.token().await?;
//!     let _header = token.bearer(); // "Bearer eyJ..."
//!
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
//!     axum::serve(listener, app).await?;
//!     Ok(())
//! }
//! ```

mod client;
mod config;
mod dpop;
mod error;
mod jwt;
mod keys;
mod service;
mod verifier;

pub use client::{AccessToken, ClientCredentials, ClientCredentialsConfig, TokenError};
pub use config::{
    Algorithm, Clock, DpopMode, JwksSource, SharedClock, SystemClock, VerifierConfig,
};
pub use error::{ConfigError, FetchError, VerifyError};
pub use jwt::MAX_TOKEN_LEN;
pub use latchkey_proto::{AccessTokenClaims, Actor, Audience, JwkSet};
pub use service::{
    Authenticated, Scheme, VerifyLayer, VerifyService, bearer_token, presented_token,
};
pub use verifier::{Verifier, discover};
