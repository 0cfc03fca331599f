//! Dynamic client registration: `POST /v1/oauth/register` (RFC 7591) and
//! `GET, PUT, DELETE /v1/oauth/register/{client_id}` (RFC 7592). Errors
//! are RFC 6749-style JSON with the RFC 7591 §3.2.2 codes.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::MAX_BODY_BYTES;
use super::error::{ApiError, body_rejection, created, no_content, ok_json};
use crate::core::error::Error;
use crate::core::registration::{self, ClientMetadata};

/// The Bearer token of the `Authorization` header (RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn metadata(body: Result<Bytes, BytesRejection>) -> Result<ClientMetadata, Box<Response>> {
    let bytes = body.map_err(|r| Box::new(body_rejection(r, MAX_BODY_BYTES)))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Box::new(
            ApiError::from(Error::InvalidClientMetadata(
                format!("the body is not client metadata JSON: {e}").into(),
            ))
            .into_response(),
        )
    })
}

pub async fn register(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let m = match metadata(body) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    match registration::register(&app, bearer(&headers), &m).await {
        Ok(r) => created(&r),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn read(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match registration::read(&app, &id, bearer(&headers)).await {
        Ok(r) => ok_json(&r),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn update(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let m = match metadata(body) {
        Ok(m) => m,
        Err(resp) => return *resp,
    };
    match registration::update(&app, &id, bearer(&headers), &m).await {
        Ok(r) => ok_json(&r),
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn delete(
    State(app): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    match registration::delete(&app, &id, bearer(&headers)).await {
        Ok(()) => no_content(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
