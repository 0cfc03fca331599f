//! `POST /v1/oauth/revoke` (RFC 7009) and `POST /v1/oauth/introspect`
//! (RFC 7662): extract, call `core::revocation`, map.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::FormOrJson;
use super::client_auth;
use super::error::ApiError;
use super::token::no_store;
use crate::core::revocation;

/// "The authorization server responds with HTTP status code 200 if the token
/// has been revoked successfully or if the client submitted an invalid
/// token." (RFC 7009 §2.2)
pub async fn revoke(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let basic = client_auth::tried_basic(&headers);
    let result = async {
        let creds = client_auth::credentials(&headers, &params)?;
        revocation::revocation_request(&app, &creds, &params).await
    }
    .await;
    match result {
        Ok(()) => {
            let mut resp = StatusCode::OK.into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => ApiError::from(e)
            .with_basic_challenge(basic)
            .into_response(),
    }
}

/// RFC 7662 §2.2: a JSON object whose `active` says whether the token is live.
pub async fn introspect(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let basic = client_auth::tried_basic(&headers);
    let result = async {
        let creds = client_auth::credentials(&headers, &params)?;
        revocation::introspection_request(&app, &creds, &params).await
    }
    .await;
    match result {
        Ok(answer) => {
            let mut resp = Json(answer).into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => ApiError::from(e)
            .with_basic_challenge(basic)
            .into_response(),
    }
}
