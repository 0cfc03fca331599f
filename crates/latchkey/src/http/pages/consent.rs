//! `GET, POST /consent`: the user allows or denies a client the scopes it
//! asked for. The form's buttons are `name="decision"`, `value="allow"` /
//! `value="deny"`. What a decision does is `core::authorize::consent`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{authorize_outcome, expired, to_page};
use crate::core::authorize::{self, ConsentPrompt, ScopeItem};
use crate::core::csrf::FormScope;
use crate::core::decision::Decision;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::sessions::Session;
use crate::http::AppState;
use crate::http::browser::{BrowserSession, CsrfForm, PageForm, PageQuery};
use crate::http::error::{PageError, PageStatus, page};
use crate::http::html::View;
use crate::http::locale::Locale;

/// What the consent template shows.
#[derive(Debug, Serialize)]
pub struct ConsentView<'a> {
    pub client_name: &'a str,
    pub user_email: &'a str,
    /// The scopes in plain words (catalogue keys).
    pub scopes: Vec<ScopeItem>,
    pub csrf_token: &'a str,
    pub request_id: &'a str,
}

impl View for ConsentView<'_> {
    const TEMPLATE: &'static str = "consent.html";
}

/// The posted consent form.
#[derive(Debug)]
pub struct ConsentForm {
    request_id: String,
    decision: Decision,
}

impl PageForm for ConsentForm {
    /// The pending request the question was asked for.
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Request(params.get("request").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(ConsentForm {
            request_id: params.get("request").unwrap_or("").to_owned(),
            // Absent is as bad as anything else but allow or deny.
            decision: Decision::parse(params.get(Decision::FIELD).unwrap_or(""))?,
        })
    }
}

pub async fn get(
    State(app): State<AppState>,
    PageQuery(params): PageQuery,
    visitor: BrowserSession,
    locale: Locale,
) -> Response {
    let request_id = params.get("request").unwrap_or("");
    let browser = &visitor.browser;
    let prompt = authorize::consent_prompt(
        &app,
        request_id,
        browser.existing(),
        visitor.session.as_ref(),
    )
    .await;
    match prompt {
        Ok(ConsentPrompt::Ask {
            client_name,
            user_email,
            scopes,
        }) => page(
            PageStatus::Shown,
            &locale,
            &ConsentView {
                client_name: &client_name,
                user_email: &user_email,
                scopes,
                csrf_token: &browser.csrf_token(&app, FormScope::Request(request_id)),
                request_id,
            },
        ),
        Ok(ConsentPrompt::SignIn) => to_page(paths::LOGIN_PAGE, request_id),
        Ok(ConsentPrompt::Expired) => expired(&locale),
        Err(e) => PageError(e, locale).into_response(),
    }
}

pub async fn post(State(app): State<AppState>, submitted: CsrfForm<ConsentForm>) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let session = submitted.visitor.session.as_ref();
    match authorize::consent(
        &app,
        &form.request_id,
        submitted.browser(),
        session,
        form.decision,
    )
    .await
    {
        Ok(Some(next)) => authorize_outcome(next, locale),
        Ok(None) => expired(locale),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}
