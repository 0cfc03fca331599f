//! Size limits that hold on every route, whatever serves the router.
//!
//! hyper refuses a request head over `serve::MAX_HEAD_BYTES` before any of
//! this runs (431). These checks repeat the limits inside the router, with
//! JSON answers, so they also hold when the router is served some other way
//! (tests through `oneshot`, an embedding application): an over-long URI gets
//! 414, headers over the limit 431. Bodies are limited per handler (413,
//! `http::body`).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::error::{ApiError, Refusal};
use crate::core::error::Error;

/// The longest request target accepted. An authorization request with a
/// long `state`, `nonce` and PKCE challenge stays well under it.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header bytes (names and values) accepted.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Refuses an over-long URI (414) or over-large headers (431).
pub async fn enforce(req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_BYTES {
        return Refusal::UriTooLong {
            limit: MAX_URI_BYTES,
        }
        .for_path(req.uri().path());
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Refusal::HeadersTooLarge {
            limit: MAX_HEADER_BYTES,
        }
        .for_path(req.uri().path());
    }
    next.run(req).await
}

/// `request_timeout_seconds`: a request still running after `limit` is
/// abandoned and answered 503 `temporarily_unavailable`, in the same JSON
/// as every other error (tower-http's timeout answers an empty body).
pub async fn deadline(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!(timeout_ms = limit.as_millis() as u64, "request timed out");
            ApiError::from(Error::TemporarilyUnavailable(
                "the request took too long; retry later".into(),
            ))
            .into_response()
        }
    }
}
