//! `POST /v1/oauth/revoke` (RFC 7009) and `POST /v1/oauth/introspect`
//! (RFC 7662): extract, call `core::revocation`, map.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::AppState;
use super::body::FormOrJson;
use super::client_auth;
use crate::core::revocation;

/// "The authorization server responds with HTTP status code 200 if the token
/// has been revoked successfully or if the client submitted an invalid
/// token." (RFC 7009 §2.2)
pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        // 200 with an empty body.
        revocation::revocation_request(app, &creds, params).await
    })
    .await
}

/// RFC 7662 §2.2: a JSON object whose `active` says whether the token is live.
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        revocation::introspection_request(app, &creds, params)
            .await
            .map(Json)
    })
    .await
}
