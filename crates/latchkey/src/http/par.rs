//! `POST /v1/oauth/par` (RFC 9126 §2): extract, call `core::authorize::push`,
//! map. Authenticated like the token endpoint; a `DPoP` proof binds the
//! request to its key (RFC 9449 §10.1).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::AppState;
use super::body::FormOrJson;
use super::client_auth;
use super::dpop;
use super::error::created;
use crate::core::authorize;

/// "If the verification is successful, the server MUST generate a request
/// URI and provide it in the response with a 201 HTTP status code."
/// (RFC 9126 §2.2)
pub async fn push(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    let proof = dpop::proof_header(&headers);
    let proof = &proof;
    client_auth::respond(&headers, params, |creds| async move {
        authorize::push(app, &creds, params, proof)
            .await
            .map(|pushed| created(&pushed))
    })
    .await
}
