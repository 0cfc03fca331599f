//! axum and tower integration: the [`Authenticated`] extractor, the
//! [`VerifyLayer`], and the error responses of RFC 6750 §3 with the bodies
//! of docs/resource-servers.md.
//!
//! | failure | status | body | `WWW-Authenticate` |
//! |---|---|---|---|
//! | no token | 401 | `{"code":"INVALID_TOKEN"}` | `Bearer` |
//! | expired | 401 | `{"code":"TOKEN_EXPIRED"}` | `Bearer error="invalid_token", error_description="the access token has expired"` |
//! | any other | 401 | `{"code":"INVALID_TOKEN"}` | `Bearer error="invalid_token"` |
//! | scope missing | 403 | `{"code":"INSUFFICIENT_SCOPE"}` | `Bearer error="insufficient_scope"` |

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Json;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use latchkey_proto::AccessTokenClaims;
use tower::{Layer, Service};

use crate::error::VerifyError;
use crate::verifier::{Verifier, require_scopes};

/// The claims of a verified access token.
///
/// As an extractor it verifies the `Authorization: Bearer` token with the
/// [`Verifier`] in the router's state (any state `S` with
/// `Verifier: FromRef<S>`; the `Verifier` itself will do), or takes the
/// claims a [`VerifyLayer`] already verified for this request. A failure
/// answers the request with the matching 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub AccessTokenClaims);

impl Authenticated {
    /// `Err(InsufficientScope)` unless the token carries `scope`; with `?`
    /// in a handler returning `Result<_, VerifyError>`, that is a 403.
    pub fn require_scope(&self, scope: &str) -> Result<(), VerifyError> {
        require_scopes(&self.0, [scope])
    }

    pub fn claims(&self) -> &AccessTokenClaims {
        &self.0
    }

    /// Who acts for the subject, when the token came from a token exchange
    /// (RFC 8693 §4.1): `act.sub` is the service that exchanged it, and
    /// `act.act` the one before, and so on. `None` for a token the subject's
    /// own client got directly.
    pub fn actor(&self) -> Option<&latchkey_proto::Actor> {
        self.0.act.as_ref()
    }

    /// The actors from the most recent to the first (RFC 8693 §4.1: "the
    /// least recent actor is the most deeply nested"); empty when none.
    pub fn actor_chain(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut act = self.0.act.as_ref();
        while let Some(a) = act {
            out.push(a.sub.as_str());
            act = a.act.as_deref();
        }
        out
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Verifier: FromRef<S>,
{
    type Rejection = VerifyError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(done) = parts.extensions.get::<Authenticated>() {
            return Ok(done.clone());
        }
        let verifier = Verifier::from_ref(state);
        let claims = verifier
            .verify_request(&parts.headers, &parts.method, original_uri(parts))
            .await?;
        Ok(Authenticated(claims))
    }
}

/// How an access token came: `Authorization: Bearer` (RFC 6750 §2.1) or
/// `Authorization: DPoP` (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    Dpop,
}

/// The token of the request's `Authorization` header and its scheme,
/// `Bearer` or `DPoP`, with [`bearer_token`]'s rules otherwise.
pub fn presented_token(headers: &HeaderMap) -> Result<(Scheme, &str), VerifyError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(VerifyError::Missing);
    };
    if values.next().is_some() {
        return Err(VerifyError::Invalid("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| VerifyError::Invalid("Authorization header is not ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let scheme = if scheme.eq_ignore_ascii_case("Bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("DPoP") {
        Scheme::Dpop
    } else {
        return Err(VerifyError::Missing);
    };
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(VerifyError::Invalid("empty token"));
    }
    Ok((scheme, token))
}

/// The URI the client sent, which its DPoP proof names: inside a nested
/// router axum strips the prefix from `parts.uri` and keeps the original
/// aside.
fn original_uri(parts: &Parts) -> &http::Uri {
    parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or(&parts.uri, |o| &o.0)
}

/// The token of the request's `Authorization: Bearer` header (RFC 6750
/// §2.1).
///
/// No `Authorization` header, or one with another scheme, is
/// [`VerifyError::Missing`]: the request carries no bearer credentials, and
/// RFC 6750 §3.1 says such a challenge has no error code. `Bearer` with an
/// empty or malformed token, or two `Authorization` headers, is
/// [`VerifyError::Invalid`]. Tokens in the query string or a form body
/// (RFC 6750 §2.2, §2.3) are not looked at: they end up in logs.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, VerifyError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(VerifyError::Missing);
    };
    if values.next().is_some() {
        return Err(VerifyError::Invalid("more than one Authorization header"));
    }
    let value = value
        .to_str()
        .map_err(|_| VerifyError::Invalid("Authorization header is not ASCII"))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    // RFC 7235 §2.1: the scheme is case-insensitive.
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Err(VerifyError::Missing);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(VerifyError::Invalid("empty token"));
    }
    Ok(token)
}

impl IntoResponse for VerifyError {
    fn into_response(self) -> Response {
        let (status, challenge) = match &self {
            VerifyError::Missing => (StatusCode::UNAUTHORIZED, "Bearer"),
            VerifyError::Expired => (
                StatusCode::UNAUTHORIZED,
                r#"Bearer error="invalid_token", error_description="the access token has expired""#,
            ),
            VerifyError::Invalid(_) => {
                (StatusCode::UNAUTHORIZED, r#"Bearer error="invalid_token""#)
            }
            VerifyError::InvalidDpop(_) => {
                (StatusCode::UNAUTHORIZED, r#"DPoP error="invalid_token""#)
            }
            VerifyError::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                r#"Bearer error="insufficient_scope""#,
            ),
        };
        if let VerifyError::Invalid(why) | VerifyError::InvalidDpop(why) = &self {
            tracing::debug!(why, "refused an access token");
        }
        #[derive(serde::Serialize)]
        struct Body {
            code: &'static str,
        }
        (
            status,
            [(WWW_AUTHENTICATE, HeaderValue::from_static(challenge))],
            Json(Body { code: self.code() }),
        )
            .into_response()
    }
}

/// A tower layer that lets through only requests with a valid bearer token
/// (and, optionally, given scopes), and puts [`Authenticated`] into the
/// request's extensions for the handler.
///
/// ```no_run
/// # use axum::{Router, routing::get, Extension};
/// # use latchkey_verify::{Authenticated, Verifier, VerifyLayer};
/// # fn app(verifier: Verifier) -> Router {
/// Router::new()
///     .route("/reports", get(|Extension(auth): Extension<Authenticated>| async move {
///         auth.0.sub
///     }))
///     .layer(VerifyLayer::new(verifier).require_scope("reports:read"))
/// # }
/// ```
#[derive(Clone)]
pub struct VerifyLayer {
    verifier: Verifier,
    scopes: Arc<[String]>,
}

impl VerifyLayer {
    pub fn new(verifier: Verifier) -> Self {
        VerifyLayer {
            verifier,
            scopes: Arc::from(Vec::new()),
        }
    }

    /// Also requires `scope` (403 `INSUFFICIENT_SCOPE` without it). May be
    /// called several times; every scope is then required.
    #[must_use]
    pub fn require_scope(self, scope: impl Into<String>) -> Self {
        let mut scopes = self.scopes.to_vec();
        scopes.push(scope.into());
        VerifyLayer {
            verifier: self.verifier,
            scopes: scopes.into(),
        }
    }
}

impl<S> Layer<S> for VerifyLayer {
    type Service = VerifyService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyService {
            inner,
            verifier: self.verifier.clone(),
            scopes: self.scopes.clone(),
        }
    }
}

/// The service of [`VerifyLayer`].
#[derive(Clone)]
pub struct VerifyService<S> {
    inner: S,
    verifier: Verifier,
    scopes: Arc<[String]>,
}

impl<S, B> Service<Request<B>> for VerifyService<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone that was polled ready is the one that must be called;
        // leave a fresh clone behind for the next request.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let verifier = self.verifier.clone();
        let scopes = self.scopes.clone();
        Box::pin(async move {
            // The body stays apart while we await: it need not be `Sync`.
            let (mut parts, body) = req.into_parts();
            let verified = async {
                let claims = verifier
                    .verify_request(&parts.headers, &parts.method, original_uri(&parts))
                    .await?;
                require_scopes(&claims, scopes.iter().map(String::as_str))?;
                Ok::<_, VerifyError>(claims)
            }
            .await;
            match verified {
                Ok(claims) => {
                    parts.extensions.insert(Authenticated(claims));
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(e) => Ok(e.into_response()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_token_parsing() {
        let ok = |v: &[&str]| bearer_token(&headers(v)).map(str::to_owned);
        assert_eq!(ok(&["Bearer abc"]), Ok("abc".into()));
        assert_eq!(ok(&["bearer abc"]), Ok("abc".into()));
        assert_eq!(ok(&["BEARER  abc "]), Ok("abc".into()));
        assert_eq!(ok(&[]), Err(VerifyError::Missing));
        assert_eq!(ok(&["Basic dTpw"]), Err(VerifyError::Missing));
        assert_eq!(ok(&["Bearerabc"]), Err(VerifyError::Missing));
        assert!(matches!(ok(&["Bearer"]), Err(VerifyError::Invalid(_))));
        assert!(matches!(ok(&["Bearer "]), Err(VerifyError::Invalid(_))));
        assert!(matches!(
            ok(&["Bearer a", "Bearer a"]),
            Err(VerifyError::Invalid(_))
        ));
        let mut non_ascii = HeaderMap::new();
        non_ascii.insert(
            AUTHORIZATION,
            HeaderValue::from_bytes(b"Bearer \xff").unwrap(),
        );
        assert!(matches!(
            bearer_token(&non_ascii),
            Err(VerifyError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn responses_carry_the_contract_codes() {
        let cases = [
            (VerifyError::Missing, 401, "Bearer", "INVALID_TOKEN"),
            (
                VerifyError::Expired,
                401,
                r#"Bearer error="invalid_token", error_description="the access token has expired""#,
                "TOKEN_EXPIRED",
            ),
            (
                VerifyError::Invalid("x"),
                401,
                r#"Bearer error="invalid_token""#,
                "INVALID_TOKEN",
            ),
            (
                VerifyError::InvalidDpop("x"),
                401,
                r#"DPoP error="invalid_token""#,
                "INVALID_TOKEN",
            ),
            (
                VerifyError::InsufficientScope("admin".into()),
                403,
                r#"Bearer error="insufficient_scope""#,
                "INSUFFICIENT_SCOPE",
            ),
        ];
        for (error, status, challenge, code) in cases {
            let resp = error.into_response();
            assert_eq!(resp.status().as_u16(), status);
            assert_eq!(resp.headers()[WWW_AUTHENTICATE], challenge);
            let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
            assert_eq!(body, format!(r#"{{"code":"{code}"}}"#).as_bytes());
        }
    }
}
