//! Request bodies: `application/x-www-form-urlencoded` (RFC 6749) or
//! `application/json` with the same fields, parsed into [`Params`].

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, body_rejection};
use crate::core::error::Error;
use crate::core::params::Params;

/// Every POST body is refused over this size, with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The parameters of a POST body, whichever of the two encodings it came in.
pub struct FormOrJson(pub Params);

impl<S: Send + Sync> FromRequest<S> for FormOrJson {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read(req, state, false).await.map(FormOrJson)
    }
}

/// As [`FormOrJson`], except that an empty body is no parameters, whatever
/// its `Content-Type`: browsers call `/v1/refresh` and `/v1/signout` with an
/// empty POST.
pub struct OptionalFormOrJson(pub Params);

impl<S: Send + Sync> FromRequest<S> for OptionalFormOrJson {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read(req, state, true).await.map(OptionalFormOrJson)
    }
}

async fn read<S: Send + Sync>(req: Request, state: &S, optional: bool) -> Result<Params, Response> {
    let kind = body_kind(req.headers());
    let bytes = Bytes::from_request(req, state)
        .await
        .map_err(|rejection| body_rejection(rejection, MAX_BODY_BYTES))?;
    if optional && bytes.is_empty() {
        return Ok(Params::default());
    }
    match kind {
        Some(BodyKind::Form) => Params::from_form(&bytes),
        Some(BodyKind::Json) => Params::from_json(&bytes),
        None => Err(Error::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        )),
    }
    .map_err(|e| ApiError::from(e).into_response())
}

enum BodyKind {
    Form,
    Json,
}

fn body_kind(headers: &axum::http::HeaderMap) -> Option<BodyKind> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = ct.split(';').next()?.trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Some(BodyKind::Form)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Some(BodyKind::Json)
    } else {
        None
    }
}
