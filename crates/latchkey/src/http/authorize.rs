//! `GET, POST /v1/oauth/authorize` (RFC 6749 §4.1.1) and the browser-side
//! glue the pages share: the `latchkey_browser` cookie, mapping an
//! `AuthorizeOutcome` to a response. The RFC 6749 §4.1 diagram, step by step
//! against the handlers, opens `core::authorize`.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::AppState;
use super::body::FormOrJson;
use super::cookies;
use super::error::error_page;
use super::pages::see_other;
use crate::config::Settings;
use crate::core::authorize::{self, AuthorizeOutcome};
use crate::core::discovery::paths;
use crate::core::error::Result;
use crate::core::params::Params;
use crate::core::secret;
use crate::core::sessions;

/// How long the `latchkey_browser` cookie lives (a year): it names the
/// browser, not a person, and carries no authority by itself.
const BROWSER_COOKIE_MAX_AGE: i64 = 365 * 24 * 3600;

/// Cookie values longer than this are treated as absent.
const MAX_BROWSER_LEN: usize = 128;

/// The browser's `latchkey_browser` value: the one it sent, or a fresh one
/// that the response must set.
pub struct Browser {
    value: String,
    is_new: bool,
}

impl Browser {
    pub fn of(headers: &HeaderMap) -> Browser {
        match cookies::single(headers, cookies::BROWSER_COOKIE)
            .filter(|v| v.len() <= MAX_BROWSER_LEN)
        {
            Some(v) => Browser {
                value: v.to_owned(),
                is_new: false,
            },
            // The OS CSPRNG failing is beyond rescue here; an empty value
            // binds nothing and every later check refuses it.
            None => Browser {
                value: secret::random_token().unwrap_or_default(),
                is_new: true,
            },
        }
    }

    /// The value the browser sent, if it sent one: only that can prove a
    /// form came from this browser.
    pub fn existing(&self) -> Option<&str> {
        (!self.is_new && !self.value.is_empty()).then_some(self.value.as_str())
    }

    /// The value to bind new things to (sent or fresh).
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn set_if_new(&self, headers: &mut HeaderMap, settings: &Settings) {
        if self.is_new && !self.value.is_empty() {
            cookies::set_lax(
                headers,
                settings,
                cookies::BROWSER_COOKIE,
                &self.value,
                BROWSER_COOKIE_MAX_AGE,
            );
        }
    }
}

/// A query string's parameters (duplicates refused, as everywhere).
pub fn query_params(query: Option<&str>) -> Result<Params> {
    Params::from_form(query.unwrap_or("").as_bytes())
}

/// Maps the domain's decision to a response: an error page, or a `303` to
/// the client, the login page or the consent page.
pub fn outcome_response(outcome: AuthorizeOutcome) -> Response {
    let page = |path: &str, id: &str| {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("request", id)
            .finish();
        see_other(&format!("{path}?{q}"))
    };
    match outcome {
        AuthorizeOutcome::ErrorPage(e) => error_page(&e),
        AuthorizeOutcome::Redirect(url) => see_other(&url),
        AuthorizeOutcome::LoginRequired { request_id } => {
            page(paths::LOGIN_PAGE, request_id.expose())
        }
        AuthorizeOutcome::ConsentRequired { request_id } => {
            page(paths::CONSENT_PAGE, request_id.expose())
        }
    }
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    match query_params(query.as_deref()) {
        Ok(params) => run(&app, &headers, &params).await,
        Err(e) => error_page(&e),
    }
}

pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    FormOrJson(params): FormOrJson,
) -> Response {
    run(&app, &headers, &params).await
}

async fn run(app: &AppState, headers: &HeaderMap, params: &Params) -> Response {
    let browser = Browser::of(headers);
    let result = async {
        let session = sessions::current(
            &app.store,
            &app.settings,
            cookies::single(headers, cookies::SESSION_COOKIE),
            app.clock.now(),
        )
        .await?;
        authorize::authorize(app, params, browser.value(), session.as_ref()).await
    }
    .await;
    let mut resp = match result {
        Ok(outcome) => outcome_response(outcome),
        Err(e) => error_page(&e),
    };
    browser.set_if_new(resp.headers_mut(), &app.settings);
    resp
}
