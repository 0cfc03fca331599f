//! `POST /v1/oauth/device_authorization` (RFC 8628 §3.1, §3.2): extract, call
//! `core::device::authorize`, map. Client authentication is the token
//! endpoint's (public clients send `client_id` alone).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::FormOrJson;
use super::client_auth;
use super::error::ApiError;
use super::token::no_store;
use crate::core::device;

pub async fn device_authorization(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let basic = client_auth::tried_basic(&headers);
    let result = async {
        let creds = client_auth::credentials(&headers, &params)?;
        device::authorize(&app, &creds, &params).await
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
