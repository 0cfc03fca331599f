//! `GET, POST /v1/oauth/authorize` (RFC 6749 §4.1.1): extract, call
//! `core::authorize::authorize`, map. The RFC 6749 §4.1 diagram, step by
//! step against the handlers, opens `core::authorize`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::FormOrJson;
use super::browser::{BrowserSession, PageQuery};
use super::error::PageError;
use super::locale::Locale;
use super::pages::authorize_outcome;
use crate::core::authorize;
use crate::core::params::Params;

pub async fn get(
    State(app): State<AppState>,
    PageQuery(params): PageQuery,
    visitor: BrowserSession,
    locale: Locale,
) -> Response {
    run(&app, &visitor, &locale, &params).await
}

pub async fn post(
    State(app): State<AppState>,
    visitor: BrowserSession,
    locale: Locale,
    FormOrJson(params): FormOrJson,
) -> Response {
    run(&app, &visitor, &locale, &params).await
}

/// Step (A). A pending request is bound to the browser's value, so a fresh
/// one is set on every answer. An error page speaks the request's own
/// `ui_locales` (a POSTed request carries it in the body).
async fn run(
    app: &AppState,
    visitor: &BrowserSession,
    locale: &Locale,
    params: &Params,
) -> Response {
    let browser = &visitor.browser;
    let locale = locale.preferring(params.get("ui_locales"));
    let answer =
        match authorize::authorize(app, params, browser.value(), visitor.session.as_ref()).await {
            Ok(outcome) => authorize_outcome(outcome, &locale),
            Err(e) => PageError(e, locale).into_response(),
        };
    (browser.cookie(), answer).into_response()
}
