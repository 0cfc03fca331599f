//! The first-party endpoints: `POST /v1/signin`, `POST /v1/refresh`,
//! `POST /v1/signout`. Extract, call `core::signin`, map.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::{FormOrJson, OptionalFormOrJson};
use super::client_addr::ClientAddr;
use super::client_auth;
use super::cookies;
use super::error::ApiError;
use super::headers::no_store;
use super::token::token_response;
use crate::core::first_party::{self, BrowserCredentials};
use crate::core::secret::Secret;

/// `POST /v1/signin`: HTTP Basic (or a public client's `client_id` in the
/// body) and `{"username", "password", "scope"}`; answers as the token
/// endpoint does.
pub async fn signin(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        let tokens = first_party::signin(app, &creds, params, client_addr).await?;
        Ok(token_response(tokens, app.settings()))
    })
    .await
}

/// `POST /v1/signin/mfa`: the client authentication of `/v1/signin` and
/// `{"mfa_token", "code"}` (or `"recovery_code"`); answers as the token
/// endpoint does.
pub async fn signin_mfa(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    let (app, params) = (&app, &params);
    client_auth::respond(&headers, params, |creds| async move {
        let tokens = first_party::signin_mfa(app, &creds, params, client_addr).await?;
        Ok(token_response(tokens, app.settings()))
    })
    .await
}

/// `POST /v1/refresh`: the refresh cookie plus `X-CSRF-Token`.
pub async fn refresh(
    State(app): State<AppState>,
    headers: HeaderMap,
    OptionalFormOrJson(params): OptionalFormOrJson,
) -> Response {
    let browser = browser_credentials(&headers);
    match first_party::refresh_with_cookie(&app, &browser, &params).await {
        Ok(tokens) => token_response(tokens, app.settings()),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// `POST /v1/signout`: 204 and cleared cookies once the family is revoked.
pub async fn signout(
    State(app): State<AppState>,
    headers: HeaderMap,
    OptionalFormOrJson(params): OptionalFormOrJson,
) -> Response {
    let basic = client_auth::tried_basic(&headers);
    let browser = browser_credentials(&headers);
    let creds = client_auth::credentials(&headers, &params);
    match first_party::signout(&app, &browser, creds, &params).await {
        Ok(()) => {
            let mut resp = StatusCode::NO_CONTENT.into_response();
            no_store(resp.headers_mut());
            cookies::clear_refresh(app.settings()).apply(resp.headers_mut());
            resp
        }
        Err(e) => ApiError::from(e)
            .with_basic_challenge(basic)
            .into_response(),
    }
}

fn browser_credentials(headers: &HeaderMap) -> BrowserCredentials<'_> {
    BrowserCredentials {
        refresh_cookie: cookies::single(headers, cookies::REFRESH_COOKIE).map(Secret::new),
        csrf_cookie: cookies::single(headers, cookies::CSRF_COOKIE),
        csrf_header: headers
            .get(cookies::CSRF_HEADER)
            .and_then(|v| v.to_str().ok()),
    }
}
