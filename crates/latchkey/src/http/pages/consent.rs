//! `GET, POST /consent` (SPEC §6): the user allows or denies a client the
//! scopes it asked for. The form's buttons are `name="decision"`,
//! `value="allow"` / `value="deny"`.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::login::expired;
use super::{render, see_other};
use crate::core::authorize;
use crate::core::csrf::{self, FormScope};
use crate::core::decision::Decision;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::scope::Scope;
use crate::core::sessions::{self, BrowserSession};
use crate::core::users::UserStore as _;
use crate::http::AppState;
use crate::http::authorize::{Browser, outcome_response, query_params};
use crate::http::body::FormOrJson;
use crate::http::cookies;
use crate::http::error::error_page;

async fn session(app: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>, Error> {
    sessions::current(
        &app.store,
        &app.settings,
        cookies::single(headers, cookies::SESSION_COOKIE),
        app.clock.now(),
    )
    .await
}

fn login_again(request_id: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("request", request_id)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_PAGE))
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    async {
        let params = query_params(query.as_deref())?;
        let browser = Browser::of(&headers);
        let request_id = params.get("request").unwrap_or("");
        let Some(req) = authorize::load_pending(&app, request_id, browser.existing()).await? else {
            return Ok(expired());
        };
        let Some(session) = session(&app, &headers).await? else {
            return Ok(login_again(request_id));
        };
        if !req.awaits_consent_of(&session) {
            // Still waiting for its login (or another session's consent).
            return Ok(login_again(request_id));
        }
        let Some(user) = app.store.get_user(&session.user_id).await? else {
            return Ok(login_again(request_id));
        };
        let Some(client) = authorize::client_for(&app, &req).await? else {
            return Ok(expired());
        };
        let scope = Scope::parse(&req.scope)?;
        let csrf = csrf::form_token(
            &app.server_key,
            browser.value(),
            FormScope::Request(request_id),
        );
        Ok::<_, Error>(render(
            StatusCode::OK,
            "consent.html",
            minijinja::context! {
                client_name => client.name.clone(),
                user_email => user.email,
                scopes => authorize::describe_scope(&scope),
                csrf_token => csrf,
                request_id => request_id,
            },
        ))
    }
    .await
    .unwrap_or_else(|e| error_page(&e))
}

pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    post_inner(&app, &headers, &params)
        .await
        .unwrap_or_else(|e| error_page(&e))
}

async fn post_inner(
    app: &AppState,
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
    let decision = Decision::parse(params.get(Decision::FIELD).unwrap_or(""))?;
    let Some(browser_value) = browser.existing() else {
        return Ok(expired());
    };
    let Some(session) = session(app, headers).await? else {
        return Ok(login_again(request_id));
    };
    match authorize::consent(app, request_id, browser_value, &session, decision).await? {
        Some(outcome) => Ok(outcome_response(outcome)),
        None => Ok(expired()),
    }
}
