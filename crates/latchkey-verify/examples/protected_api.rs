//! A service protected by latchkey (docs/resource-servers.md).
//!
//! ```sh
//! ISSUER=http://127.0.0.1:8080 AUDIENCE=http://127.0.0.1:8080 \
//!   cargo run --release -p latchkey-verify --example protected_api
//! curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8090/me
//! ```
//!
//! - `ISSUER`: latchkey's issuer URL (default `http://127.0.0.1:8080`).
//! - `AUDIENCE`: this service's identifier, which tokens must name in `aud`
//!   (default: the issuer, latchkey's default audience).
//! - `BIND`: where to listen (default `127.0.0.1:8090`).
//!
//! `GET /me` answers the verified token's claims (with `act` when the token
//! came from a token exchange: who acts for the user, nested;
//! docs/logout-and-exchange.md); `GET /admin` also needs the scope `admin`.

use std::process::ExitCode;

use axum::routing::get;
use axum::{Json, Router};
use latchkey_verify::{AccessTokenClaims, Authenticated, Verifier, VerifierConfig, VerifyError};

async fn me(Authenticated(claims): Authenticated) -> Json<AccessTokenClaims> {
    Json(claims)
}

async fn admin(auth: Authenticated) -> Result<Json<AccessTokenClaims>, VerifyError> {
    auth.require_scope("admin")?;
    Ok(Json(auth.0))
}

#[tokio::main]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let issuer = env("ISSUER").unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let audience = env("AUDIENCE").unwrap_or_else(|| issuer.clone());
    let bind = env("BIND").unwrap_or_else(|| "127.0.0.1:8090".into());

    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("protected_api: cannot listen on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("protected_api: listening on http://{bind} (issuer {issuer}, audience {audience})");
    match serve(listener, &issuer, &audience).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("protected_api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the API on `listener` for tokens of `issuer` naming `audience`.
/// (The tests run this very function.)
pub async fn serve(
    listener: tokio::net::TcpListener,
    issuer: &str,
    audience: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let verifier = Verifier::new(VerifierConfig::new(issuer, audience))?;
    // Not fatal: the verifier fetches the keys again when the first token
    // comes, so the service can start before latchkey does.
    match verifier.refresh().await {
        Ok(n) => eprintln!("protected_api: {n} signing key(s) loaded from {issuer}"),
        Err(e) => eprintln!("protected_api: JWKS not loaded yet ({e}); will retry on demand"),
    }
    let app = Router::new()
        .route("/me", get(me))
        .route("/admin", get(admin))
        .with_state(verifier);
    axum::serve(listener, app).await?;
    Ok(())
}
