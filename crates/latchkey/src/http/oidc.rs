//! OpenID Connect endpoints: `GET, POST /v1/userinfo` (OIDC Core §5.3) and
//! `GET, POST /v1/oauth/logout` (RP-Initiated Logout 1.0).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::OptionalFormOrJson;
use super::browser::{Browser, PageQuery};
use super::cookies;
use super::dpop;
use super::error::{ApiError, PageError, Scheme, see_other};
use super::headers::no_store;
use super::locale::Locale;
use super::pages::message;
use crate::core::oidc::{self, LogoutTarget};
use crate::core::params::Params;
use crate::core::revocation::PresentedToken;

/// `GET, POST /v1/userinfo`: `sub` and the claims of the granted scopes.
pub async fn userinfo(State(app): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let proof = dpop::proof_header(&headers);
    let found = dpop::access_token(&headers);
    let presented = found.map(|(scheme, token)| match scheme {
        Scheme::Bearer => PresentedToken::Bearer(token),
        Scheme::Dpop => PresentedToken::Dpop {
            token,
            proof: &proof,
        },
    });
    let scheme = found.map_or(Scheme::Bearer, |(s, _)| s);
    match oidc::userinfo(&app, presented, method.as_str()).await {
        Ok(claims) => {
            let mut resp = Json(claims).into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => ApiError::from(e).at_resource(scheme).into_response(),
    }
}

pub async fn logout_get(
    State(app): State<AppState>,
    PageQuery(params): PageQuery,
    browser: Browser,
    locale: Locale,
) -> Response {
    logout(&app, &browser, &locale, &params).await
}

pub async fn logout_post(
    State(app): State<AppState>,
    browser: Browser,
    locale: Locale,
    OptionalFormOrJson(params): OptionalFormOrJson,
) -> Response {
    logout(&app, &browser, &locale, &params).await
}

/// Ends the browser session (server row deleted, cookie cleared), then
/// redirects to a registered `post_logout_redirect_uri` with `state`, or
/// shows the "signed out" page.
async fn logout(app: &AppState, browser: &Browser, locale: &Locale, params: &Params) -> Response {
    let locale = locale.preferring(params.get("ui_locales"));
    let answer = match oidc::logout(app, browser.session_cookie(), params).await {
        Ok(LogoutTarget::Redirect(url)) => see_other(&url),
        Ok(LogoutTarget::Page) => message(
            &locale,
            "message.signed_out_heading",
            "message.signed_out_body",
            None,
        ),
        Err(e) => return PageError(e, locale).into_response(),
    };
    (cookies::clear_session(app.settings()), answer).into_response()
}
