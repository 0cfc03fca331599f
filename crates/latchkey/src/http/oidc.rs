//! OpenID Connect endpoints: `GET, POST /v1/userinfo` (OIDC Core §5.3) and
//! `GET, POST /v1/oauth/logout` (RP-Initiated Logout 1.0).

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::authorize::query_params;
use super::body::OptionalFormOrJson;
use super::cookies;
use super::error::{ApiError, error_page};
use super::pages::{message, see_other};
use super::token::no_store;
use crate::core::oidc::{self, LogoutTarget};
use crate::core::params::Params;
use crate::core::sessions;

/// The Bearer token of the `Authorization` header (RFC 6750 §2.1).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// `GET, POST /v1/userinfo`: `sub` and the claims of the granted scopes.
pub async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Response {
    match oidc::userinfo(&app, bearer(&headers)).await {
        Ok(claims) => {
            let mut resp = Json(claims).into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

pub async fn logout_get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match query_params(query.as_deref()) {
        Ok(params) => logout(&app, &headers, &params).await,
        Err(e) => error_page(&e),
    }
}

pub async fn logout_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    OptionalFormOrJson(params): OptionalFormOrJson,
) -> Response {
    logout(&app, &headers, &params).await
}

/// Ends the browser session (server row deleted, cookie cleared), then
/// redirects to a registered `post_logout_redirect_uri` with `state`, or
/// shows the "signed out" page.
async fn logout(app: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    let result = async {
        sessions::end(
            &app.store,
            cookies::single(headers, cookies::SESSION_COOKIE),
        )
        .await?;
        oidc::logout_target(
            app,
            params.get("id_token_hint"),
            params.get("client_id"),
            params.get("post_logout_redirect_uri"),
            params.get("state"),
        )
        .await
    }
    .await;
    let mut resp = match result {
        Ok(LogoutTarget::Redirect(url)) => see_other(&url),
        Ok(LogoutTarget::Page) => message(
            StatusCode::OK,
            "You are signed out",
            "Your session has ended. You can close this page.",
            None,
        ),
        Err(e) => return error_page(&e),
    };
    cookies::set_lax(
        resp.headers_mut(),
        &app.settings,
        cookies::SESSION_COOKIE,
        "",
        0,
    );
    resp
}
