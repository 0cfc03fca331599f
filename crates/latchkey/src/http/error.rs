//! The one place that chooses HTTP status codes and the headers that go with
//! them (`WWW-Authenticate`, `Retry-After`), and whether a browser gets a
//! redirect or a page.
//!
//! - API routes answer a [`core::Error`](Error) as [`ApiError`]: RFC 6749
//!   §5.2 JSON, status from [`status_of`].
//! - What HTTP itself refuses before any `core` call (no such path, wrong
//!   method, a body or head over the limits) is a [`Refusal`], in the same
//!   JSON shape.
//! - Browser flows answer an error as [`PageError`]: an HTML page with the
//!   status the JSON answer would have. A request whose client or
//!   `redirect_uri` cannot be trusted is answered here and never
//!   redirected.
//! - Pages that are not errors are sent with [`page`] (status from
//!   [`PageStatus`]) or [`see_other`].
//!
//! Every wire string comes from [`Error::code`]; none is spelled here.

use axum::Json;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use latchkey_proto::ErrorBody;

use super::headers::no_store;
use super::html::{self, MessageView, Stylesheet, View};
use super::locale::Locale;
use crate::core::error::Error;

/// The status code of each error. Exhaustive on purpose: a new variant must
/// choose its status here.
pub fn status_of(error: &Error) -> StatusCode {
    match error {
        Error::InvalidRequest(_)
        | Error::InvalidGrant(_)
        | Error::UnauthorizedClient(_)
        | Error::UnsupportedGrantType(_)
        | Error::InvalidScope(_)
        | Error::InvalidTarget(_)
        | Error::AccessDenied(_)
        | Error::UnsupportedResponseType(_)
        | Error::LoginRequired(_)
        | Error::ConsentRequired(_)
        | Error::AuthorizationPending
        | Error::SlowDown
        | Error::ExpiredToken
        | Error::InvalidDpopProof(_)
        | Error::UseDpopNonce { .. }
        | Error::InvalidRedirectUri(_)
        | Error::InvalidClientMetadata(_) => StatusCode::BAD_REQUEST,
        Error::InvalidClient(_) | Error::InvalidToken(_) => StatusCode::UNAUTHORIZED,
        Error::InsufficientScope(_) | Error::InvalidCsrfToken(_) => StatusCode::FORBIDDEN,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
        Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        Error::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// How long a client should wait after a 503: long enough for a pool to
/// reconnect, short enough not to matter to a person.
const RETRY_AFTER_UNAVAILABLE: &str = "5";

/// `Retry-After` (RFC 9110 §10.2.3) for the errors that have one.
fn retry_after(error: &Error) -> Option<HeaderValue> {
    match error {
        Error::TooManyRequests { retry_after } => Some(HeaderValue::from(*retry_after)),
        Error::TemporarilyUnavailable(_) => Some(HeaderValue::from_static(RETRY_AFTER_UNAVAILABLE)),
        _ => None,
    }
}

/// Logs a refusal: an internal error with its cause (never sent), anything
/// else at debug level by its code.
fn log(error: &Error, what: &'static str) {
    if let Error::Internal(cause) = error {
        tracing::error!(cause = %cause, "internal error");
    } else {
        tracing::debug!(error = error.code(), "{what}");
    }
}

/// The RFC 6749 §5.2 body of an error.
fn body(error: &Error) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: error.code().to_owned(),
        error_description: error.description().map(|d| d.into_owned()),
    })
}

/// A domain error on its way to the wire as JSON, with what the handler
/// knows about how the request authenticated.
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    /// The client tried HTTP Basic: a 401 must then carry `WWW-Authenticate:
    /// Basic` (RFC 6749 §5.2).
    basic_challenge: bool,
    /// At a protected resource (userinfo), the scheme the access token came
    /// with: a refusal is a 401 challenge in that scheme (RFC 6750 §3,
    /// RFC 9449 §7.1).
    resource: Option<Scheme>,
}

/// The scheme of an access token presented to a protected resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750).
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof (RFC 9449 §7).
    Dpop,
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError {
            error,
            basic_challenge: false,
            resource: None,
        }
    }
}

impl ApiError {
    pub fn with_basic_challenge(mut self, basic: bool) -> Self {
        self.basic_challenge = basic;
        self
    }

    /// The error of a protected resource, whose token came by `scheme`.
    pub fn at_resource(mut self, scheme: Scheme) -> Self {
        self.resource = Some(scheme);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError {
            error,
            basic_challenge,
            resource,
        } = self;
        log(&error, "request refused");
        metrics::counter!("latchkey_oauth_errors_total", "error" => error.code()).increment(1);
        let dpop_error = matches!(
            error,
            Error::InvalidDpopProof(_) | Error::UseDpopNonce { .. }
        );
        // A resource refuses a proof as it refuses a token: 401 and a
        // challenge (RFC 9449 §7.1); the token endpoint with 400 (§5).
        let status = if resource.is_some() && dpop_error {
            StatusCode::UNAUTHORIZED
        } else {
            status_of(&error)
        };
        let mut resp = (status, body(&error)).into_response();
        let headers = resp.headers_mut();
        no_store(headers);
        // RFC 6750 §3 and RFC 9449 §7.1: the challenge names the error code.
        let challenge = |scheme: &str, e: &Error| {
            HeaderValue::from_str(&format!("{scheme} error=\"{}\"", e.code()))
        };
        let challenge = match (&error, resource) {
            (Error::InvalidClient(_), _) if basic_challenge => Some(HeaderValue::from_static(
                "Basic realm=\"latchkey\", charset=\"UTF-8\"",
            )),
            (_, Some(_)) if dpop_error => challenge("DPoP", &error).ok(),
            (Error::InvalidToken(_) | Error::InsufficientScope(_), Some(Scheme::Dpop)) => {
                challenge("DPoP", &error).ok()
            }
            (Error::InvalidToken(_) | Error::InsufficientScope(_), _) => {
                challenge("Bearer", &error).ok()
            }
            _ => None,
        };
        if let Some(c) = challenge {
            headers.insert(header::WWW_AUTHENTICATE, c);
        }
        if let Error::UseDpopNonce { nonce } = &error
            && let Ok(v) = HeaderValue::from_str(nonce)
        {
            headers.insert(DPOP_NONCE, v);
        }
        if let Some(r) = retry_after(&error) {
            headers.insert(header::RETRY_AFTER, r);
        }
        resp
    }
}

/// The header a server nonce travels in (RFC 9449 §8.1).
pub const DPOP_NONCE: header::HeaderName = header::HeaderName::from_static("dpop-nonce");

/// An RFC 9457 problem document: how the admin API answers every error
/// (`application/problem+json`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProblemDocument {
    /// `about:blank`: the status says what kind of problem it is, `error`
    /// which one.
    #[serde(rename = "type")]
    pub kind: String,
    /// The status's reason phrase.
    pub title: String,
    pub status: u16,
    /// What was wrong; a bad field is named first (`name: …`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// latchkey's error code (as in docs/errors.md).
    pub error: String,
}

/// A domain error answered as a problem document (the admin API).
#[derive(Debug)]
pub struct Problem(pub Error);

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        Problem(e)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let Problem(error) = self;
        log(&error, "admin request refused");
        let detail = match &error {
            Error::Internal(_) => None,
            e => e.description().map(|d| d.into_owned()),
        };
        let mut resp = problem(status_of(&error), error.code(), detail);
        let headers = resp.headers_mut();
        if let Error::InvalidToken(_) | Error::InsufficientScope(_) = &error
            && let Ok(v) = HeaderValue::from_str(&format!("Bearer error=\"{}\"", error.code()))
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(r) = retry_after(&error) {
            headers.insert(header::RETRY_AFTER, r);
        }
        resp
    }
}

/// A refused admin token, answered as a problem document with the
/// challenge of the scheme the token came with: a bad DPoP proof is a 401
/// with `WWW-Authenticate: DPoP` (and a fresh `DPoP-Nonce` when one is
/// asked for), as at any protected resource (RFC 9449 §7.1, §9).
#[derive(Debug)]
pub struct ResourceProblem(pub Error, pub Scheme);

impl IntoResponse for ResourceProblem {
    fn into_response(self) -> Response {
        let ResourceProblem(error, scheme) = self;
        let dpop_error = matches!(
            error,
            Error::InvalidDpopProof(_) | Error::UseDpopNonce { .. }
        );
        if !dpop_error && scheme == Scheme::Bearer {
            return Problem(error).into_response();
        }
        log(&error, "admin request refused");
        let status = if dpop_error {
            StatusCode::UNAUTHORIZED
        } else {
            status_of(&error)
        };
        let detail = match &error {
            Error::Internal(_) => None,
            e => e.description().map(|d| d.into_owned()),
        };
        let mut resp = problem(status, error.code(), detail);
        let headers = resp.headers_mut();
        let challenging =
            dpop_error || matches!(error, Error::InvalidToken(_) | Error::InsufficientScope(_));
        if challenging
            && let Ok(v) = HeaderValue::from_str(&format!("DPoP error=\"{}\"", error.code()))
        {
            headers.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Error::UseDpopNonce { nonce } = &error
            && let Ok(v) = HeaderValue::from_str(nonce)
        {
            headers.insert(DPOP_NONCE, v);
        }
        if let Some(r) = retry_after(&error) {
            headers.insert(header::RETRY_AFTER, r);
        }
        resp
    }
}

fn problem(status: StatusCode, code: &str, detail: Option<String>) -> Response {
    let doc = ProblemDocument {
        kind: "about:blank".to_owned(),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        error: code.to_owned(),
    };
    let body = serde_json::to_vec(&doc).unwrap_or_default();
    let mut resp = (status, body).into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    no_store(headers);
    resp
}

/// An admin API body that is not the JSON its schema says: 400 when it is
/// not JSON at all, 422 when it is JSON of the wrong shape (the detail
/// names the field), 413 over the size limit.
pub fn problem_body(detail: String, syntax: bool) -> Response {
    let e = Error::invalid_request(detail);
    let status = if syntax {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let detail = e.description().map(|d| d.into_owned());
    problem(status, e.code(), detail)
}

/// An admin API body that could not be read: over the limit (413), or
/// cut off (400).
pub fn problem_unreadable(rejection: BytesRejection, limit: usize) -> Response {
    let (status, detail) = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes"),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            "the request body could not be read".to_owned(),
        )
    };
    let e = Error::invalid_request(detail);
    let detail = e.description().map(|d| d.into_owned());
    problem(status, e.code(), detail)
}

/// `201 Created` with a JSON body (a new admin resource), never cached.
pub fn created<T: serde::Serialize>(body: &T) -> Response {
    let mut resp = (StatusCode::CREATED, Json(body)).into_response();
    no_store(resp.headers_mut());
    resp
}

/// `200 OK` with a JSON body, never cached (admin answers carry secrets
/// and personal data).
pub fn ok_json<T: serde::Serialize>(body: &T) -> Response {
    let mut resp = Json(body).into_response();
    no_store(resp.headers_mut());
    resp
}

/// What HTTP refuses by itself, before any `core` call. Each has its own
/// status; the body is the JSON of every other error (`invalid_request`, or
/// `not_found`), without the OAuth error counter: these are not OAuth
/// requests gone wrong.
#[derive(Debug, Clone, Copy)]
pub enum Refusal {
    /// No route for the path: 404.
    NoSuchEndpoint,
    /// A route, but not for this method: 405.
    MethodNotAllowed,
    /// A body over `limit` bytes: 413.
    BodyTooLarge { limit: usize },
    /// A request target over `limit` bytes: 414.
    UriTooLong { limit: usize },
    /// Header fields over `limit` bytes in all: 431.
    HeadersTooLarge { limit: usize },
}

impl Refusal {
    fn status_and_error(self) -> (StatusCode, Error) {
        match self {
            Refusal::NoSuchEndpoint => (
                StatusCode::NOT_FOUND,
                Error::NotFound("no such endpoint".into()),
            ),
            Refusal::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                Error::invalid_request("method not allowed on this endpoint"),
            ),
            Refusal::BodyTooLarge { limit } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                Error::invalid_request(format!("the request body is larger than {limit} bytes")),
            ),
            Refusal::UriTooLong { limit } => (
                StatusCode::URI_TOO_LONG,
                Error::invalid_request(format!("the request URI is longer than {limit} bytes")),
            ),
            Refusal::HeadersTooLarge { limit } => (
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                Error::invalid_request(format!(
                    "the request headers are larger than {limit} bytes"
                )),
            ),
        }
    }
}

impl Refusal {
    /// The same refusal as an RFC 9457 problem document, for the admin
    /// API's paths (`/admin/v1/…`), whose every error is one.
    pub fn problem(self) -> Response {
        let (status, error) = self.status_and_error();
        let detail = error.description().map(|d| d.into_owned());
        problem(status, error.code(), detail)
    }

    /// [`Refusal::problem`] under the admin API's paths, the usual JSON
    /// elsewhere.
    pub fn for_path(self, path: &str) -> Response {
        if path.starts_with(ADMIN_API_PREFIX) {
            self.problem()
        } else {
            self.into_response()
        }
    }
}

/// The paths whose errors are problem documents.
pub const ADMIN_API_PREFIX: &str = "/admin/v1/";

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let (status, error) = self.status_and_error();
        (status, body(&error)).into_response()
    }
}

/// A body that could not be read: over the limit (413), or cut off.
pub fn body_rejection(rejection: BytesRejection, limit: usize) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Refusal::BodyTooLarge { limit }.into_response()
    } else {
        ApiError::from(Error::invalid_request("the request body could not be read")).into_response()
    }
}

/// How a page that is not an error answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageStatus {
    /// The page as asked for: 200.
    Shown,
    /// The form again, because the password typed was wrong: 401, as any
    /// failed authentication.
    WrongCredentials,
    /// The form again, or a message, because what the request referred to is
    /// not valid (a user code, a sign-in link that expired): 400.
    Invalid,
    /// A signed-in user who may not see the page (the admin console for
    /// someone without the role `admin`): 403.
    Forbidden,
}

impl PageStatus {
    fn code(self) -> StatusCode {
        match self {
            PageStatus::Shown => StatusCode::OK,
            PageStatus::WrongCredentials => StatusCode::UNAUTHORIZED,
            PageStatus::Invalid => StatusCode::BAD_REQUEST,
            PageStatus::Forbidden => StatusCode::FORBIDDEN,
        }
    }
}

/// Renders `view` into a page in `locale`'s language, with every security
/// header.
pub fn page<V: View>(status: PageStatus, locale: &Locale, view: &V) -> Response {
    rendered(status.code(), locale, view)
}

fn rendered<V: View>(status: StatusCode, locale: &Locale, view: &V) -> Response {
    let pages = locale.pages();
    let mut resp = match pages.render(locale.lang(), view) {
        Ok(text) => (status, Html(text)).into_response(),
        Err(e) => {
            tracing::error!(template = V::TEMPLATE, error = %e, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, Html(html::FALLBACK)).into_response()
        }
    };
    let headers = resp.headers_mut();
    html::security_headers(headers, Some(pages.csp()));
    if let Ok(lang) = HeaderValue::from_str(locale.lang()) {
        headers.insert(header::CONTENT_LANGUAGE, lang);
    }
    resp
}

/// 204 with no body (CORS preflights; the CORS layer adds its headers).
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// A `303 See Other` to `location` (after a form post the browser follows
/// it with a GET), with the page headers. Every location is built by
/// latchkey from registered or encoded parts; one that is no header value
/// (which no request should be able to cause) is refused as a bad request,
/// with a page that has no words to translate.
pub fn see_other(location: &str) -> Response {
    let mut resp = match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut resp = StatusCode::SEE_OTHER.into_response();
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => {
            tracing::error!("a redirect location is not a header value");
            (StatusCode::BAD_REQUEST, Html(html::FALLBACK)).into_response()
        }
    };
    html::security_headers(resp.headers_mut(), None);
    resp
}

/// The stylesheet, or `304 Not Modified` when the browser holds this very
/// version (`If-None-Match` with its `ETag`, RFC 9110 §13.1.2). A URL with
/// the current `?v=` is cached for a year (`immutable`): a new stylesheet
/// is a new URL. Any other URL is revalidated on every use.
pub fn stylesheet(sheet: &Stylesheet, if_none_match: Option<&str>, current_url: bool) -> Response {
    let fresh = if_none_match.is_some_and(|tags| {
        tags.split(',')
            .map(|t| t.trim().trim_start_matches("W/"))
            .any(|t| t == "*" || sheet.etag.as_bytes() == t.as_bytes())
    });
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (StatusCode::OK, sheet.body.clone()).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    h.insert(header::ETAG, sheet.etag.clone());
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if current_url {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// The pages' script (`/assets/passkeys.js`): built in, revalidated on
/// every use (it is small, and a new version must reach every page).
pub fn script(body: &'static str) -> Response {
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

/// An error in a browser flow, answered as an HTML page in the locale's
/// language with the same status the JSON answer would have (400 for a bad
/// request, 403 for a CSRF failure, 429 with `Retry-After`, 503 when the
/// database is away).
#[derive(Debug)]
pub struct PageError(pub Error, pub Locale);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let PageError(error, locale) = self;
        log(&error, "browser request refused");
        let (heading, message) = match &error {
            Error::InvalidCsrfToken(_) => ("error.csrf_heading", "error.csrf_body"),
            Error::TooManyRequests { .. } => ("error.too_many_heading", "error.too_many_body"),
            Error::TemporarilyUnavailable(_) | Error::Internal(_) => {
                ("error.unavailable_heading", "error.unavailable_body")
            }
            Error::NotFound(_) => ("error.not_found_heading", "error.not_found_body"),
            _ => ("error.invalid_heading", "error.invalid_body"),
        };
        let detail = match &error {
            Error::Internal(_) => None,
            e => e.description().map(|d| d.into_owned()),
        };
        let view = MessageView {
            heading,
            message,
            client_name: None,
            detail: detail.as_deref(),
        };
        let mut resp = rendered(status_of(&error), &locale, &view);
        if let Some(r) = retry_after(&error) {
            resp.headers_mut().insert(header::RETRY_AFTER, r);
        }
        resp
    }
}

/// The successful answers of the JSON endpoints that create or accept
/// something (docs/endpoints.md): `201` with a JSON body (`POST
/// /v1/signup`), `202` with none (`POST /v1/password/forgot`: the e-mail, if
/// any, goes out later), `204` (`POST /v1/password/reset`). Each with
/// `Cache-Control: no-store`.
pub enum Success<T> {
    Created(T),
    Accepted,
    NoContent,
}

impl<T: serde::Serialize> IntoResponse for Success<T> {
    fn into_response(self) -> Response {
        let mut resp = match self {
            Success::Created(body) => (StatusCode::CREATED, Json(body)).into_response(),
            Success::Accepted => StatusCode::ACCEPTED.into_response(),
            Success::NoContent => StatusCode::NO_CONTENT.into_response(),
        };
        super::headers::no_store(resp.headers_mut());
        resp
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bearer_challenges_name_the_error() {
        let resp = ApiError::from(Error::InvalidToken("expired".into())).into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            resp.headers()[header::WWW_AUTHENTICATE],
            "Bearer error=\"invalid_token\""
        );
        let resp = ApiError::from(Error::InvalidClient("no".into()))
            .with_basic_challenge(true)
            .into_response();
        assert!(
            resp.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic ")
        );
    }

    fn en() -> Locale {
        Locale::new(html::Pages::builtin(), "en")
    }

    #[test]
    fn error_pages_carry_retry_after_and_page_headers() {
        let resp = PageError(Error::TooManyRequests { retry_after: 42 }, en()).into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "42");
        assert_eq!(resp.headers()[header::X_FRAME_OPTIONS], "DENY");
        let resp = PageError(Error::TemporarilyUnavailable("db".into()), en()).into_response();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(resp.headers()[header::RETRY_AFTER], "5");
    }

    /// One of each variant. The `match` below has no wildcard: a new
    /// variant does not compile until it is listed here too.
    fn every_error() -> Vec<Error> {
        let d = || "d".into();
        let all = vec![
            Error::InvalidRequest(d()),
            Error::InvalidClient(d()),
            Error::InvalidGrant(d()),
            Error::UnauthorizedClient(d()),
            Error::UnsupportedGrantType(d()),
            Error::InvalidScope(d()),
            Error::InvalidTarget(d()),
            Error::AccessDenied(d()),
            Error::UnsupportedResponseType(d()),
            Error::LoginRequired(d()),
            Error::ConsentRequired(d()),
            Error::AuthorizationPending,
            Error::SlowDown,
            Error::ExpiredToken,
            Error::InvalidToken(d()),
            Error::InsufficientScope(d()),
            Error::InvalidCsrfToken(d()),
            Error::InvalidDpopProof(d()),
            Error::UseDpopNonce { nonce: "n".into() },
            Error::TooManyRequests { retry_after: 1 },
            Error::TemporarilyUnavailable(d()),
            Error::InvalidRedirectUri(d()),
            Error::InvalidClientMetadata(d()),
            Error::NotFound(d()),
            Error::Internal("cause".into()),
        ];
        for e in &all {
            match e {
                Error::InvalidRequest(_)
                | Error::InvalidClient(_)
                | Error::InvalidGrant(_)
                | Error::UnauthorizedClient(_)
                | Error::UnsupportedGrantType(_)
                | Error::InvalidScope(_)
                | Error::InvalidTarget(_)
                | Error::AccessDenied(_)
                | Error::UnsupportedResponseType(_)
                | Error::LoginRequired(_)
                | Error::ConsentRequired(_)
                | Error::AuthorizationPending
                | Error::SlowDown
                | Error::ExpiredToken
                | Error::InvalidToken(_)
                | Error::InsufficientScope(_)
                | Error::InvalidCsrfToken(_)
                | Error::InvalidDpopProof(_)
                | Error::UseDpopNonce { .. }
                | Error::TooManyRequests { .. }
                | Error::TemporarilyUnavailable(_)
                | Error::InvalidRedirectUri(_)
                | Error::InvalidClientMetadata(_)
                | Error::NotFound(_)
                | Error::Internal(_) => {}
            }
        }
        all
    }

    /// docs/errors.md lists every wire error with the status `status_of`
    /// gives it, and nothing else.
    #[test]
    fn the_documented_statuses_are_the_served_ones() {
        let doc = include_str!("../../../../docs/errors.md");
        let api = doc
            .split("## API endpoints")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .unwrap();
        let rows: std::collections::BTreeMap<&str, u16> = api
            .lines()
            .filter_map(|l| {
                let mut cells = l.split('|').map(str::trim).skip(1);
                let code = cells.next()?.strip_prefix('`')?.strip_suffix('`')?;
                Some((code, cells.next()?.parse().ok()?))
            })
            .collect();
        let all = every_error();
        for e in &all {
            assert_eq!(
                rows.get(e.code()).copied(),
                Some(status_of(e).as_u16()),
                "docs/errors.md on {}",
                e.code()
            );
        }
        assert_eq!(
            rows.len(),
            all.len(),
            "docs/errors.md lists codes the server does not have"
        );
    }

    #[test]
    fn a_location_that_is_no_header_value_is_a_page_not_a_panic() {
        assert_eq!(see_other("/device").status(), StatusCode::SEE_OTHER);
        assert_eq!(see_other("/x\r\ny").status(), StatusCode::BAD_REQUEST);
    }
}
