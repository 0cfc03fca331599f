//! The HTTP layer: an axum router over the domain core. Handlers extract, call
//! `core`, and map the result; OAuth decisions live in `core`, and nothing
//! here touches the store.
//!
//! **Invariant:** only `http::error` chooses status codes (`.ci/invariants.sh`
//! checks it, with a short allow-list), and every wire error string comes from
//! `core::Error::code`.

mod accounts;
mod admin;
mod assets;
mod authorize;
mod body;
mod browser;
mod client_addr;
mod client_auth;
mod console;
mod cookies;
mod cors;
mod device;
mod discovery;
mod dpop;
pub mod error;
mod headers;
mod health;
pub mod html;
mod limits;
pub mod locale;
pub mod metrics;
mod oidc;
pub mod pages;
mod par;
mod registration;
mod revocation;
mod serve;
mod signin;
mod theme;
pub mod tls;
mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use admin::openapi_json;
pub use serve::{serve, serve_with};

use crate::core::Authority;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::settings::Settings;
use crate::store::Store;
use error::{ApiError, Refusal};
use html::{Pages, ThemeError};

/// The state every handler shares.
pub type AppState = Arc<Authority<Store>>;

/// Every route template, for the `route` label of the request metrics.
pub const ROUTES: &[&str] = &[
    paths::OPENID_CONFIGURATION,
    paths::OAUTH_METADATA,
    paths::JWKS,
    paths::TOKEN,
    paths::REVOCATION,
    paths::INTROSPECTION,
    paths::SIGNIN,
    paths::SIGNIN_MFA,
    paths::REFRESH,
    paths::SIGNOUT,
    paths::AUTHORIZE,
    paths::LOGIN_PAGE,
    paths::LOGIN_MFA_PAGE,
    paths::CONSENT_PAGE,
    paths::USERINFO,
    paths::LOGOUT,
    paths::DEVICE_AUTHORIZATION,
    paths::DEVICE_PAGE,
    paths::SIGNUP,
    paths::PASSWORD_FORGOT,
    paths::PASSWORD_RESET,
    paths::REGISTER_PAGE,
    paths::VERIFY_EMAIL_PAGE,
    paths::FORGOT_PASSWORD_PAGE,
    paths::RESET_PASSWORD_PAGE,
    paths::ACCOUNT_PAGE,
    paths::ACCOUNT_PASSWORD,
    paths::ACCOUNT_SIGN_OUT,
    paths::ACCOUNT_REVOKE_CONSENT,
    paths::ACCOUNT_PASSKEYS,
    paths::ACCOUNT_PASSKEYS_OPTIONS,
    paths::ACCOUNT_PASSKEYS_REMOVE,
    paths::LOGIN_PASSKEY,
    paths::LOGIN_PASSKEY_OPTIONS,
    paths::ACCOUNT_TOTP,
    html::STYLESHEET_PATH,
    paths::PASSKEYS_SCRIPT,
    "/health/live",
    "/health/ready",
    "/metrics",
    paths::REGISTRATION,
    paths::REGISTRATION_CLIENT,
    admin::paths::CLIENTS,
    admin::paths::CLIENT,
    admin::paths::CLIENT_SECRET,
    admin::paths::USERS,
    admin::paths::USER,
    admin::paths::USER_SESSIONS,
    admin::paths::KEYS,
    admin::paths::KEYS_ROTATE,
    admin::paths::AUDIT,
    admin::paths::OPENAPI,
    console::paths::HOME,
    console::paths::SIGN_IN,
    console::paths::CALLBACK,
    console::paths::SIGN_OUT,
    console::paths::CLIENTS,
    console::paths::CLIENT_NEW,
    console::paths::CLIENT,
    console::paths::CLIENT_DELETE,
    console::paths::CLIENT_SECRET,
    console::paths::USERS,
    console::paths::USER_NEW,
    console::paths::USER,
    console::paths::USER_DELETE,
    console::paths::USER_SESSIONS,
    console::paths::KEYS,
    console::paths::KEYS_ROTATE,
    console::paths::AUDIT,
];

/// The pages for `settings` (brand, theme, catalogues), every page
/// rendered once in every language: a theme that fails is refused here,
/// with an error naming its file. `serve` calls it before anything else.
pub fn load_pages(settings: &Settings) -> Result<Arc<Pages>, ThemeError> {
    let pages = theme::load(settings)?;
    pages.check(&pages::samples())?;
    Ok(Arc::new(pages))
}

/// The whole application: every route and every cross-cutting layer, with
/// the pages of `app.settings()`. `app::build` has refused a theme that does
/// not load; should it fail here all the same (its files changed since),
/// the built-in pages serve.
pub fn router(app: AppState) -> Router {
    let pages = load_pages(app.settings()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "the theme does not load; serving the built-in pages");
        Pages::builtin()
    });
    router_with_pages(app, pages)
}

/// [`router`] with pages loaded already.
pub fn router_with_pages(app: AppState, pages: Arc<Pages>) -> Router {
    let timeout = Duration::from_secs(app.settings().request_timeout_seconds);
    metrics::install();
    Router::new()
        .route(paths::OPENID_CONFIGURATION, get(discovery::metadata))
        .route(paths::OAUTH_METADATA, get(discovery::metadata))
        .route(paths::JWKS, get(discovery::jwks))
        .route(paths::TOKEN, post(token::token))
        .route(paths::REVOCATION, post(revocation::revoke))
        .route(paths::INTROSPECTION, post(revocation::introspect))
        .route(paths::SIGNIN, post(signin::signin))
        .route(paths::SIGNIN_MFA, post(signin::signin_mfa))
        .route(paths::REFRESH, post(signin::refresh))
        .route(paths::SIGNOUT, post(signin::signout))
        .route(paths::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(paths::PAR, post(par::push))
        .route(
            paths::LOGIN_PAGE,
            get(pages::login::get).post(pages::login::post),
        )
        .route(
            paths::LOGIN_MFA_PAGE,
            get(pages::mfa::get).post(pages::mfa::post),
        )
        .route(
            paths::CONSENT_PAGE,
            get(pages::consent::get).post(pages::consent::post),
        )
        .route(
            paths::DEVICE_AUTHORIZATION,
            post(device::device_authorization),
        )
        .route(
            paths::DEVICE_PAGE,
            get(pages::device::get).post(pages::device::post),
        )
        .route(paths::SIGNUP, post(accounts::signup))
        .route(paths::PASSWORD_FORGOT, post(accounts::forgot))
        .route(paths::PASSWORD_RESET, post(accounts::reset))
        .route(
            paths::REGISTER_PAGE,
            get(pages::account::register_get).post(pages::account::register_post),
        )
        .route(paths::VERIFY_EMAIL_PAGE, get(pages::account::verify_email))
        .route(
            paths::FORGOT_PASSWORD_PAGE,
            get(pages::account::forgot_get).post(pages::account::forgot_post),
        )
        .route(
            paths::RESET_PASSWORD_PAGE,
            get(pages::account::reset_get).post(pages::account::reset_post),
        )
        .route(paths::ACCOUNT_PAGE, get(pages::account::account))
        .route(
            paths::ACCOUNT_PASSWORD,
            post(pages::account::change_password),
        )
        .route(paths::ACCOUNT_SIGN_OUT, post(pages::account::sign_out))
        .route(
            paths::ACCOUNT_TOTP,
            get(pages::mfa::totp_get).post(pages::mfa::totp_post),
        )
        .route(
            paths::ACCOUNT_REVOKE_CONSENT,
            post(pages::account::revoke_consent),
        )
        .route(
            paths::ACCOUNT_PASSKEYS,
            get(pages::passkeys::get).post(pages::passkeys::register),
        )
        .route(
            paths::ACCOUNT_PASSKEYS_OPTIONS,
            post(pages::passkeys::options),
        )
        .route(
            paths::ACCOUNT_PASSKEYS_REMOVE,
            post(pages::passkeys::remove),
        )
        .route(paths::LOGIN_PASSKEY, post(pages::passkeys::login))
        .route(
            paths::LOGIN_PASSKEY_OPTIONS,
            post(pages::passkeys::login_options),
        )
        .route(
            paths::LOGIN_MFA_PASSKEY,
            post(pages::passkeys::second_factor),
        )
        .route(
            paths::LOGIN_MFA_PASSKEY_OPTIONS,
            post(pages::passkeys::second_factor_options),
        )
        .route(paths::PASSKEYS_SCRIPT, get(assets::script))
        .route(paths::USERINFO, get(oidc::userinfo).post(oidc::userinfo))
        .route(paths::LOGOUT, get(oidc::logout_get).post(oidc::logout_post))
        .route(html::STYLESHEET_PATH, get(assets::stylesheet))
        .route(paths::REGISTRATION, post(registration::register))
        .route(
            paths::REGISTRATION_CLIENT,
            get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        )
        .route(
            admin::paths::CLIENTS,
            get(admin::list_clients).post(admin::create_client),
        )
        .route(
            admin::paths::CLIENT,
            get(admin::get_client)
                .patch(admin::patch_client)
                .delete(admin::delete_client),
        )
        .route(admin::paths::CLIENT_SECRET, post(admin::rotate_secret))
        .route(
            admin::paths::USERS,
            get(admin::list_users).post(admin::create_user),
        )
        .route(
            admin::paths::USER,
            get(admin::get_user)
                .patch(admin::patch_user)
                .delete(admin::delete_user),
        )
        .route(
            admin::paths::USER_SESSIONS,
            axum::routing::delete(admin::revoke_sessions),
        )
        .route(admin::paths::KEYS, get(admin::list_keys))
        .route(admin::paths::KEYS_ROTATE, post(admin::rotate_keys))
        .route(admin::paths::AUDIT, get(admin::list_audit))
        .route(admin::paths::OPENAPI, get(admin::openapi))
        .route(console::paths::HOME, get(console::dashboard))
        .route(console::paths::SIGN_IN, get(console::sign_in))
        .route(console::paths::CALLBACK, get(console::callback))
        .route(console::paths::SIGN_OUT, post(console::sign_out))
        .route(
            console::paths::CLIENTS,
            get(console::clients).post(console::clients_create),
        )
        .route(console::paths::CLIENT_NEW, get(console::client_new))
        .route(
            console::paths::CLIENT,
            get(console::client_get).post(console::client_post),
        )
        .route(console::paths::CLIENT_DELETE, post(console::client_delete))
        .route(console::paths::CLIENT_SECRET, post(console::client_rotate))
        .route(
            console::paths::USERS,
            get(console::users).post(console::users_create),
        )
        .route(console::paths::USER_NEW, get(console::user_new))
        .route(
            console::paths::USER,
            get(console::user_get).post(console::user_post),
        )
        .route(console::paths::USER_DELETE, post(console::user_delete))
        .route(
            console::paths::USER_SESSIONS,
            post(console::user_revoke_sessions),
        )
        .route(console::paths::KEYS, get(console::keys))
        .route(console::paths::KEYS_ROTATE, post(console::keys_rotate))
        .route(console::paths::AUDIT, get(console::audit))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(pages))
        .layer(DefaultBodyLimit::max(body::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            limits::deadline,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            // Defence in depth: handlers do not panic, but if one did, the client
            // gets a JSON error and the process keeps serving.
            ApiError::from(Error::internal("a handler panicked")).into_response()
        }))
        // Outside the handlers, whose logic it stays out of; inside the
        // metrics, so that preflights are counted too.
        .layer(axum::middleware::from_fn_with_state(
            cors::Cors::new(app.clone()),
            cors::layer,
        ))
        // Outside the panic and timeout layers, so that their answers are
        // counted too; inside the trace span, so its logs carry the request id.
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(axum::middleware::from_fn(limits::enforce))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                // The path only: query strings can carry codes and tokens.
                let request_id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                tracing::info_span!(
                    "request",
                    method = %req.method(),
                    path = %req.uri().path(),
                    request_id = %request_id,
                )
            }),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(app)
}

async fn not_found(uri: axum::http::Uri) -> Response {
    Refusal::NoSuchEndpoint.for_path(uri.path())
}

async fn method_not_allowed(uri: axum::http::Uri) -> Response {
    Refusal::MethodNotAllowed.for_path(uri.path())
}
