//! `/.well-known/*`: metadata and the JWKS, served from memory (no database), so
//! that they keep answering while the database is away.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::core::discovery;

pub async fn metadata(State(app): State<AppState>) -> Response {
    let algs = app.keys().snapshot().algorithms();
    let mut resp = Json(discovery::metadata(app.settings(), &algs)).into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// The JWKS. Caches may keep it a few minutes: a new key is published as *next*
/// long before it signs (see `core::keys`).
pub async fn jwks(State(app): State<AppState>) -> Response {
    let json = app.keys().snapshot().jwks_json();
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        json,
    )
        .into_response()
}
