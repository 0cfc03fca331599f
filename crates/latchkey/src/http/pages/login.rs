//! `GET, POST /login`: the login page of the browser flows (fields
//! `username`, `password`, `csrf_token`, `request`, `return_to`). What a
//! login does is `core::login`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{expired, signed_in, to_second_factor};
use crate::core::accounts;
use crate::core::csrf::FormScope;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::login::{self, LoginAttempt, LoginOutcome, LoginPrompt};
use crate::core::params::Params;
use crate::core::passkeys;
use crate::core::secret::Secret;
use crate::core::sessions::Session;
use crate::http::AppState;
use crate::http::browser::{Browser, CsrfForm, PageForm, PageQuery};
use crate::http::client_addr::ClientAddr;
use crate::http::error::{PageError, PageStatus, page};
use crate::http::html::View;
use crate::http::locale::Locale;

/// The catalogue key of the refusal of a wrong email or password.
pub const WRONG_PASSWORD: &str = "login.wrong_password";

/// The catalogue key of the refusal of a user whose address is not
/// verified yet (`email_verification = "required"`).
pub const UNVERIFIED: &str = "login.unverified";

/// The link to `/register` while registration is open.
pub fn register_href(app: &AppState, request_id: &str) -> Option<String> {
    if !accounts::registration_open(app.settings()) {
        return None;
    }
    Some(if request_id.is_empty() {
        paths::REGISTER_PAGE.to_owned()
    } else {
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("request", request_id)
            .finish();
        format!("{}?{q}", paths::REGISTER_PAGE)
    })
}

/// What the login template shows.
#[derive(Debug, Serialize)]
pub struct LoginView<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    pub request_id: &'a str,
    pub username: &'a str,
    /// A catalogue key.
    pub error: Option<&'static str>,
    /// Whether to offer "Sign in with a passkey" (the issuer's host is a
    /// domain: `core::passkeys::available`).
    pub passkeys: bool,
    /// A catalogue key: why a passkey did not sign the user in.
    pub passkey_error: Option<&'static str>,
    /// Where to go after a login outside an authorization request (the
    /// device page); see `core::login::return_to`.
    pub return_to: &'a str,
    /// `/register` (for the same pending request) while registration is
    /// open; no link otherwise.
    pub register_href: Option<String>,
}

impl View for LoginView<'_> {
    const TEMPLATE: &'static str = "login.html";
}

/// The posted login form. No `Debug`: people type passwords into the
/// username field too.
pub struct LoginForm {
    request_id: String,
    username: String,
    password: Secret,
    return_to: Option<String>,
    /// The token the form carried, good by now: the form shown again after
    /// a wrong password carries it again.
    csrf_token: String,
}

impl PageForm for LoginForm {
    /// The pending request the form was shown for (empty outside one).
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Request(params.get("request").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let field = |name| params.get(name).unwrap_or("").to_owned();
        Ok(LoginForm {
            request_id: field("request"),
            username: field("username"),
            password: Secret::new(field("password")),
            return_to: params.get("return_to").map(str::to_owned),
            csrf_token: field("csrf_token"),
        })
    }
}

pub async fn get(
    State(app): State<AppState>,
    browser: Browser,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let request_id = params.get("request").unwrap_or("");
    let return_to = login::return_to(params.get("return_to")).unwrap_or("");
    let answer = match login::prompt(&app, request_id, browser.existing()).await {
        Ok(LoginPrompt::Form {
            client_name,
            login_hint,
        }) => page(
            PageStatus::Shown,
            &locale,
            &LoginView {
                client_name: client_name.as_deref(),
                csrf_token: &browser.csrf_token(&app, FormScope::Request(request_id)),
                request_id,
                username: login_hint.as_deref().unwrap_or(""),
                error: None,
                passkeys: passkeys::available(app.settings()),
                passkey_error: None,
                return_to,
                register_href: register_href(&app, request_id),
            },
        ),
        Ok(LoginPrompt::Expired) => expired(&locale),
        Err(e) => PageError(e, locale).into_response(),
    };
    (browser.cookie(), answer).into_response()
}

pub async fn post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<LoginForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let attempt = LoginAttempt {
        request_id: &form.request_id,
        username: &form.username,
        password: &form.password,
        return_to: form.return_to.as_deref(),
        client_addr,
    };
    let previous = submitted.visitor.browser.session_cookie();
    match login::complete(&app, submitted.browser(), previous, attempt).await {
        Ok(LoginOutcome::SecondFactor { challenge }) => to_second_factor(&challenge),
        Ok(LoginOutcome::SignedIn { session, next }) => signed_in(&app, &session, next, locale),
        Ok(LoginOutcome::Refused {
            client_name,
            unverified,
        }) => page(
            PageStatus::WrongCredentials,
            locale,
            &LoginView {
                client_name: client_name.as_deref(),
                csrf_token: &form.csrf_token,
                request_id: &form.request_id,
                username: &form.username,
                error: Some(if unverified {
                    UNVERIFIED
                } else {
                    WRONG_PASSWORD
                }),
                passkeys: passkeys::available(app.settings()),
                passkey_error: None,
                return_to: login::return_to(form.return_to.as_deref()).unwrap_or(""),
                register_href: register_href(&app, &form.request_id),
            },
        ),
        Ok(LoginOutcome::Expired) => expired(locale),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}
