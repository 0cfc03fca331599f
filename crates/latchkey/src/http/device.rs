//! `POST /v1/oauth/device_authorization` (RFC 8628 §3.1, §3.2): extract, call
//! `core::device::authorize`, map. Client authentication is the token
//! endpoint's (public clients send `client_id` alone).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use super::AppState;
use super::body::FormOrJson;
use super::client_auth;
use crate::core::device;

pub async fn device_authorization(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        device::authorize(app, &creds, params).await.map(Json)
    })
    .await
}
