//! The one place that turns a domain error into HTTP: status code, headers and
//! an RFC 6749 §5.2 JSON body, or, for the browser flows, an HTML error page
//! ([`error_page`]): a request whose client or `redirect_uri` cannot be
//! trusted is answered here and never redirected.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use latchkey_proto::ErrorBody;

use crate::core::error::Error;

/// A domain error on its way to the wire, with what the handler knows about how
/// the request authenticated.
#[derive(Debug)]
pub struct ApiError {
    pub error: Error,
    /// The client tried HTTP Basic: a 401 must then carry `WWW-Authenticate:
    /// Basic` (RFC 6749 §5.2).
    pub basic_challenge: bool,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            basic_challenge: false,
        }
    }
}

impl ApiError {
    pub fn with_basic_challenge(mut self, basic: bool) -> Self {
        self.basic_challenge = basic;
        self
    }
}

/// The status code of each error.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::InvalidClient(_) | Error::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        Error::InsufficientScope(_) | Error::InvalidCsrfToken(_) => StatusCode::FORBIDDEN,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError {
            error,
            basic_challenge,
        } = self;
        if let Error::Internal(cause) = &error {
            tracing::error!(cause = %cause, "internal error");
        } else {
            tracing::debug!(error = error.code(), "request refused");
        }
        let status = status_of(&error);
        metrics::counter!("latchkey_oauth_errors_total", "error" => error.code()).increment(1);
        let body = ErrorBody {
            error: error.code().to_owned(),
            error_description: error.description().map(|d| d.into_owned()),
        };
        let mut resp = (status, Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        match &error {
            Error::InvalidClient(_) if basic_challenge => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"latchkey\", charset=\"UTF-8\""),
                );
            }
            Error::InvalidToken(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            Error::InsufficientScope(_) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"insufficient_scope\""),
                );
            }
            Error::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            }
            Error::TemporarilyUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        resp
    }
}

/// An error in a browser flow, as an HTML page with the same status the JSON
/// answer would have (400 for a bad request, 403 for a CSRF failure, 429
/// with `Retry-After`, 503 when the database is away).
pub fn error_page(error: &Error) -> Response {
    if let Error::Internal(cause) = error {
        tracing::error!(cause = %cause, "internal error");
    } else {
        tracing::debug!(error = error.code(), "browser request refused");
    }
    let status = status_of(error);
    let (heading, message) = match error {
        Error::InvalidCsrfToken(_) => (
            "This form has expired",
            "For your security, go back, reload the page and try again.",
        ),
        Error::TooManyRequests { .. } => (
            "Too many attempts",
            "Sign-in is paused for this account for a while. Please try again later.",
        ),
        Error::TemporarilyUnavailable(_) | Error::Internal(_) => (
            "Something went wrong",
            "The service is temporarily unavailable. Please try again in a moment.",
        ),
        _ => (
            "This request cannot be completed",
            "The application sent an invalid sign-in request. Go back to it and try again.",
        ),
    };
    let detail = match error {
        Error::Internal(_) => None,
        e => e.description().map(|d| d.into_owned()),
    };
    let mut resp = super::pages::message(status, heading, message, detail.as_deref());
    match error {
        Error::TooManyRequests { retry_after } => {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        Error::TemporarilyUnavailable(_) => {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        _ => {}
    }
    resp
}

/// 413 for a body over the limit, in the same JSON shape as every other error.
pub fn payload_too_large() -> Response {
    let body = ErrorBody {
        error: Error::InvalidRequest("".into()).code().to_owned(),
        error_description: Some(format!(
            "the request body is larger than {} bytes",
            super::MAX_BODY_BYTES
        )),
    };
    (StatusCode::PAYLOAD_TOO_LARGE, Json(body)).into_response()
}
