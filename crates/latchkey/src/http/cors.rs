//! CORS for browser apps on other origins (the Fetch standard's CORS
//! protocol; docs/cors-and-tls.md): one layer around the router, so that no
//! handler carries CORS logic.
//!
//! - Discovery and the JWKS are public: `Access-Control-Allow-Origin: *`.
//! - The token, revocation, UserInfo and first-party endpoints answer a
//!   request whose `Origin` is registered for the client the request acted
//!   for — the client that authenticated, the client of the refresh cookie,
//!   the client an access token was issued to, as `core` noted it
//!   ([`origins::with_acting_client`]) — with that origin in
//!   `Access-Control-Allow-Origin`. Any other origin gets no
//!   `Access-Control-Allow-*` header, and the request is otherwise answered
//!   as usual (the browser withholds the answer from the page). They always
//!   carry `Vary: Origin`, so that no cache hands one origin's answer to
//!   another.
//! - Their preflights cannot name a client (a preflight carries no
//!   credentials and no body), so they are allowed when any client
//!   registered the origin ([`origins::OriginIndex`]); the actual request is
//!   still decided per client.
//! - Every other path (the authorization endpoint, the HTML pages, the admin
//!   and health endpoints) never gets a CORS header.
//!
//! tower-http's `CorsLayer` does not fit: it decides from the request alone,
//! before the handler runs, and gives the preflight and the actual response
//! the same answer, whereas here the actual answer depends on which client
//! the request authenticated as, known only once `core` has checked it.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use crate::core::clients::TokenDelivery;
use crate::core::discovery::paths;
use crate::core::origins::{self, OriginClients};

/// How long a browser may cache a preflight answer, in seconds. Short, so
/// that an origin removed from every client stops being preflighted soon;
/// the actual answers are decided per request regardless.
const MAX_AGE_SECONDS: &str = "600";
/// What an app's `fetch` may send: client authentication or an access
/// token, a JSON body, a DPoP proof (RFC 9449), the CSRF header of the
/// cookie endpoints.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP, X-CSRF-Token";
/// The response headers an app may read beyond the CORS-safelisted ones:
/// the challenge of a 401, the wait of a 429 or 503, a DPoP nonce.
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Retry-After, DPoP-Nonce";

/// The layer's state: the application, and the origin index it keeps.
#[derive(Clone)]
pub struct Cors {
    app: AppState,
}

impl Cors {
    pub fn new(app: AppState) -> Self {
        Cors { app }
    }
}

/// When an answer may carry `Access-Control-Allow-Credentials: true`,
/// which lets the page send and receive cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// Never: the endpoint takes no cookie and sets none.
    Never,
    /// `/v1/refresh`, `/v1/signout`: they read the refresh cookie.
    Always,
    /// `/v1/signin` and the token endpoint: they set the refresh cookie for
    /// a cookie-delivery client, which a browser accepts across origins only
    /// on a credentialed request.
    CookieClients,
}

/// What a path answers to CORS.
#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Anyone may read it.
    Public,
    /// Per client (the module's doc).
    PerClient {
        methods: &'static str,
        credentials: Credentials,
    },
}

fn policy(path: &str) -> Option<Policy> {
    let per_client = |methods, credentials| {
        Some(Policy::PerClient {
            methods,
            credentials,
        })
    };
    match path {
        paths::OPENID_CONFIGURATION | paths::OAUTH_METADATA | paths::JWKS => Some(Policy::Public),
        paths::TOKEN | paths::SIGNIN | paths::SIGNIN_MFA => {
            per_client("POST", Credentials::CookieClients)
        }
        paths::REVOCATION => per_client("POST", Credentials::Never),
        paths::USERINFO => per_client("GET, POST", Credentials::Never),
        paths::REFRESH | paths::SIGNOUT => per_client("POST", Credentials::Always),
        _ => None,
    }
}

/// The layer (`axum::middleware::from_fn_with_state`).
pub async fn layer(State(cors): State<Cors>, req: Request, next: Next) -> Response {
    let Some(policy) = policy(req.uri().path()) else {
        return next.run(req).await;
    };
    let origin = req.headers().get(header::ORIGIN).cloned();
    let preflight = req.method() == Method::OPTIONS
        && origin.is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match policy {
        Policy::Public if preflight => {
            let mut resp = super::error::no_content();
            let h = resp.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
            resp
        }
        Policy::Public => {
            let mut resp = next.run(req).await;
            resp.headers_mut().insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            resp
        }
        Policy::PerClient {
            methods,
            credentials,
        } => {
            let mut resp = if preflight {
                let registered = registrations(&cors, origin.as_ref()).await;
                preflight_answer(origin, &registered, methods, credentials)
            } else {
                let (mut resp, client) = origins::with_acting_client(next.run(req)).await;
                if let (Some(origin), Some(client)) = (origin, client) {
                    let registered = registrations(&cors, Some(&origin)).await;
                    if let Some(r) = registered.client(&client) {
                        let credentials = match credentials {
                            Credentials::Never => false,
                            Credentials::Always => true,
                            Credentials::CookieClients => r.token_delivery == TokenDelivery::Cookie,
                        };
                        allow(resp.headers_mut(), origin, credentials);
                        resp.headers_mut().insert(
                            header::ACCESS_CONTROL_EXPOSE_HEADERS,
                            HeaderValue::from_static(EXPOSE_HEADERS),
                        );
                    }
                }
                resp
            };
            resp.headers_mut()
                .append(header::VARY, HeaderValue::from_static("Origin"));
            resp
        }
    }
}

/// The clients that registered `origin`; none when it is absent, or when
/// the index cannot be read (the database is away and the index was never
/// built): refusing is the safe answer, and the request itself still runs.
async fn registrations(cors: &Cors, origin: Option<&HeaderValue>) -> OriginClients {
    let Some(origin) = origin.and_then(|o| o.to_str().ok()) else {
        return OriginClients::default();
    };
    match origins::registrations(&cors.app, origin).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "the origin index is unavailable; no CORS headers");
            OriginClients::default()
        }
    }
}

/// 204, with the CORS headers only when some client registered the origin.
fn preflight_answer(
    origin: Option<HeaderValue>,
    registered: &OriginClients,
    methods: &'static str,
    credentials: Credentials,
) -> Response {
    let mut resp = super::error::no_content();
    if let Some(origin) = origin.filter(|_| registered.any()) {
        let credentials = match credentials {
            Credentials::Never => false,
            Credentials::Always => true,
            Credentials::CookieClients => registered.any_cookie_client(),
        };
        let h = resp.headers_mut();
        allow(h, origin, credentials);
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOW_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(MAX_AGE_SECONDS),
        );
    }
    resp
}

fn allow(h: &mut HeaderMap, origin: HeaderValue, credentials: bool) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}
