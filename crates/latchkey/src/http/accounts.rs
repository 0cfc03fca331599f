//! The accounts' JSON endpoints for first-party apps (docs/accounts.md):
//! `POST /v1/signup`, `POST /v1/password/forgot`, `POST /v1/password/reset`.
//! Client authentication as for `/v1/signin`; extract, call
//! `core::accounts`, map.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Serialize;

use super::AppState;
use super::body::FormOrJson;
use super::client_addr::ClientAddr;
use super::client_auth;
use super::error::Success;
use crate::core::accounts;

/// The body of `201` to `POST /v1/signup`.
#[derive(Debug, Serialize)]
pub struct SignupAnswer {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
}

/// `POST /v1/signup`: `201 {"id","email","email_verified"}`, the same for
/// an address that already has an account (which gets an e-mail instead).
pub async fn signup(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        let r = accounts::signup(app, &creds, params, client_addr).await?;
        Ok(Success::Created(SignupAnswer {
            id: r.id.to_string(),
            email: r.email,
            email_verified: r.email_verified,
        }))
    })
    .await
}

/// `POST /v1/password/forgot`: `202` for any address.
pub async fn forgot(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        accounts::forgot(app, &creds, params, client_addr).await?;
        Ok(Success::<()>::Accepted)
    })
    .await
}

/// `POST /v1/password/reset`: `204` once the password is set and every
/// session of the user ended.
pub async fn reset(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        accounts::reset(app, &creds, params, client_addr).await?;
        Ok(Success::<()>::NoContent)
    })
    .await
}
