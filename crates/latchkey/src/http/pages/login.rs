//! `GET, POST /login` (SPEC §6): the login page of the browser flows.
//!
//! The password is checked by `core::signin::check_password`, under the same
//! brute-force limits as `/v1/signin`. A successful login replaces any
//! session the browser had (a new id, so a planted session id is useless)
//! and continues the pending authorization request.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{message, render, see_other};
use crate::core::authorize;
use crate::core::csrf::{self, FormScope};
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::secret::Secret;
use crate::core::sessions::{self, SessionStore as _};
use crate::core::signin;
use crate::http::AppState;
use crate::http::authorize::{Browser, outcome_response, query_params};
use crate::http::body::FormOrJson;
use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::error::error_page;

/// What the login template shows.
pub struct LoginView<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    pub request_id: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
    /// Where to go after a login outside an authorization request (the
    /// device page); see [`return_path`].
    pub return_to: &'a str,
}

pub fn page(status: StatusCode, v: LoginView<'_>) -> Response {
    render(
        status,
        "login.html",
        minijinja::context! {
            client_name => v.client_name,
            csrf_token => v.csrf_token,
            request_id => v.request_id,
            username => v.username,
            error => v.error,
            return_to => v.return_to,
        },
    )
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let params = match query_params(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return error_page(&e),
    };
    let browser = Browser::of(&headers);
    let request_id = params.get("request").unwrap_or("");
    let return_to = return_path(params.get("return_to")).unwrap_or("");
    let mut resp = async {
        let (client_name, hint) = if request_id.is_empty() {
            (None, None)
        } else {
            let Some(req) = authorize::load_pending(&app, request_id, browser.existing()).await?
            else {
                return Ok(expired());
            };
            let client = authorize::client_for(&app, &req).await?;
            (client.map(|c| c.name.clone()), req.login_hint)
        };
        let csrf = csrf::form_token(
            &app.server_key,
            browser.value(),
            FormScope::Request(request_id),
        );
        Ok::<_, Error>(page(
            StatusCode::OK,
            LoginView {
                client_name: client_name.as_deref(),
                csrf_token: &csrf,
                request_id,
                username: hint.as_deref().unwrap_or(""),
                error: None,
                return_to,
            },
        ))
    }
    .await
    .unwrap_or_else(|e| error_page(&e));
    browser.set_if_new(resp.headers_mut(), &app.settings);
    resp
}

pub async fn post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    post_inner(&app, client_addr, &headers, &params)
        .await
        .unwrap_or_else(|e| error_page(&e))
}

async fn post_inner(
    app: &AppState,
    client_addr: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, Error> {
    let browser = Browser::of(headers);
    let request_id = params.get("request").unwrap_or("");
    csrf::check_form(
        &app.server_key,
        browser.existing(),
        FormScope::Request(request_id),
        params.get("csrf_token"),
    )?;
    let Some(browser_value) = browser.existing() else {
        return Ok(expired());
    };
    let pending = if request_id.is_empty() {
        None
    } else {
        match authorize::load_pending(app, request_id, Some(browser_value)).await? {
            Some(p) => Some(p),
            None => return Ok(expired()),
        }
    };
    let username = params.get("username").unwrap_or("");
    let password = Secret::new(params.get("password").unwrap_or(""));
    let client_id = pending.as_ref().map(|p| p.client_id.as_str());
    let user = match signin::check_password(app, username, &password, client_addr, client_id).await
    {
        Ok(user) => user,
        Err(Error::InvalidGrant(_)) => {
            let client = match &pending {
                Some(p) => authorize::client_for(app, p).await?,
                None => None,
            };
            return Ok(page(
                StatusCode::UNAUTHORIZED,
                LoginView {
                    client_name: client.as_ref().map(|c| c.name.as_str()),
                    csrf_token: params.get("csrf_token").unwrap_or(""),
                    request_id,
                    username,
                    error: Some("That email and password do not match. Please try again."),
                    return_to: return_path(params.get("return_to")).unwrap_or(""),
                },
            ));
        }
        Err(e) => return Err(e),
    };
    // A new session id on every login: a session id planted before the
    // login (session fixation) never becomes an authenticated one.
    sessions::end(
        &app.store,
        cookies::single(headers, cookies::SESSION_COOKIE),
    )
    .await?;
    let now = app.clock.now();
    let (id, session) = sessions::start(&app.settings, &user.id, now)?;
    app.store.insert_session(&session).await?;

    let mut resp = match pending {
        Some(_) => match authorize::resume(app, request_id, browser_value, &session).await? {
            Some(outcome) => outcome_response(outcome),
            None => expired(),
        },
        None => match return_path(params.get("return_to")) {
            Some(back) => see_other(back),
            None => message(
                StatusCode::OK,
                "You are signed in",
                "You can close this page and return to the application.",
                None,
            ),
        },
    };
    cookies::set_lax(
        resp.headers_mut(),
        &app.settings,
        cookies::SESSION_COOKIE,
        id.expose(),
        app.settings.session_absolute_ttl_seconds,
    );
    Ok(resp)
}

/// A `return_to` the login page may send the browser back to: only the
/// device page of this server (never an absolute URL: no open redirect).
pub fn return_path(return_to: Option<&str>) -> Option<&str> {
    let device = crate::core::discovery::paths::DEVICE_PAGE;
    return_to.filter(|r| {
        *r == device
            || r.strip_prefix(device)
                .is_some_and(|rest| rest.starts_with('?') && !rest.contains(['\r', '\n', '#']))
    })
}

/// The page for a request id that is unknown, expired, already used, or
/// started in another browser.
pub fn expired() -> Response {
    message(
        StatusCode::BAD_REQUEST,
        "This sign-in link has expired",
        "Go back to the application and start again.",
        None,
    )
}
