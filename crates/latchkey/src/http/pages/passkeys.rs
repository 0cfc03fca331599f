//! Passkeys' pages (docs/mfa.md, "Passkeys"): `/account/passkeys` (the
//! list; POST registers one), `/account/passkeys/options` (the options of
//! `navigator.credentials.create`, JSON), `/account/passkeys/remove`, and
//! the login page's "Sign in with a passkey": `/login/passkey/options` (the
//! options of `navigator.credentials.get`) and `/login/passkey`. The
//! ceremonies are `core::passkeys`; `/assets/passkeys.js` runs the
//! browser's half.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::account::when;
use super::login::{LoginView, register_href};
use super::{expired, signed_in, to_second_factor};
use crate::core::csrf::FormScope;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::login::{self, LoginOutcome};
use crate::core::params::Params;
use crate::core::passkeys::{self, PasskeyLogin, Registered, Started};
use crate::core::sessions::Session;
use crate::http::AppState;
use crate::http::browser::{BrowserSession, CsrfForm, PageForm, PageQuery};
use crate::http::error::{PageError, PageStatus, ok_json, page, see_other};
use crate::http::html::View;
use crate::http::locale::Locale;

/// The catalogue key of a refused passkey sign-in.
pub const PASSKEY_FAILED: &str = "passkeys.failed";

/// One passkey on its page.
#[derive(Debug, Serialize)]
pub struct PasskeyLine {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// `/account/passkeys`.
#[derive(Debug, Serialize)]
pub struct PasskeysView<'a> {
    pub passkeys: Vec<PasskeyLine>,
    pub csrf_token: &'a str,
    /// A catalogue key: what the last form did.
    pub notice: Option<&'static str>,
    /// A catalogue key: why the last form failed.
    pub error: Option<&'static str>,
}

impl View for PasskeysView<'_> {
    const TEMPLATE: &'static str = "passkeys.html";
}

/// What a started ceremony answers: the id to post back, and the options
/// for the browser (`{"publicKey": …}`).
#[derive(Debug, Serialize)]
struct StartedBody<'a> {
    ceremony: &'a str,
    options: &'a serde_json::Value,
}

fn started(s: &Started) -> Response {
    ok_json(&StartedBody {
        ceremony: s.ceremony.expose(),
        options: &s.options,
    })
}

/// To the login page, which comes back here.
fn login_first() -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", paths::ACCOUNT_PASSKEYS)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_PAGE))
}

/// A `303` back to the passkeys page with what happened.
fn back(key: &str, value: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    see_other(&format!("{}?{q}", paths::ACCOUNT_PASSKEYS))
}

fn flash(params: &Params) -> (Option<&'static str>, Option<&'static str>) {
    let notice = match params.get("done") {
        Some("added") => Some("passkeys.added"),
        Some("removed") => Some("passkeys.removed"),
        _ => None,
    };
    let error = match params.get("error") {
        Some("failed") => Some("passkeys.failed_register"),
        Some("duplicate") => Some("passkeys.duplicate"),
        _ => None,
    };
    (notice, error)
}

pub async fn get(
    State(app): State<AppState>,
    visitor: BrowserSession,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let Some(session) = visitor.session else {
        return login_first();
    };
    let list = match passkeys::list(&app, &session.user_id).await {
        Ok(l) => l,
        Err(e) => return PageError(e, locale).into_response(),
    };
    let csrf = visitor
        .browser
        .csrf_token(&app, FormScope::Account(&session));
    let (notice, error) = flash(&params);
    let view = PasskeysView {
        passkeys: list
            .into_iter()
            .map(|p| PasskeyLine {
                id: p.id,
                name: p.name,
                created_at: when(p.created_at),
                last_used_at: p.last_used_at.map(when),
            })
            .collect(),
        csrf_token: &csrf,
        notice,
        error,
    };
    let answer = page(PageStatus::Shown, &locale, &view);
    (visitor.browser.cookie(), answer).into_response()
}

/// Every form of the page is bound to the session that loaded it.
fn account_scope<'a>(_: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>> {
    session.map(FormScope::Account)
}

/// The start of a registration: only the CSRF token.
pub struct StartForm;

impl PageForm for StartForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn from_params(_: &Params) -> Result<Self, Error> {
        Ok(StartForm)
    }
}

pub async fn options(State(app): State<AppState>, submitted: CsrfForm<StartForm>) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    match passkeys::start_registration(&app, session, submitted.browser()).await {
        Ok(s) => started(&s),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

/// A finished registration. No `Debug`: it carries the attestation.
pub struct RegisterForm {
    ceremony: String,
    credential: String,
    name: String,
}

impl PageForm for RegisterForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let field = |name| params.get(name).unwrap_or("").to_owned();
        Ok(RegisterForm {
            ceremony: field("ceremony"),
            credential: field("credential"),
            name: field("name"),
        })
    }
}

pub async fn register(State(app): State<AppState>, submitted: CsrfForm<RegisterForm>) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    let form = &submitted.form;
    match passkeys::finish_registration(
        &app,
        session,
        submitted.browser(),
        &form.ceremony,
        &form.credential,
        &form.name,
    )
    .await
    {
        Ok(Registered::Added) => back("done", "added"),
        Ok(Registered::Failed) => back("error", "failed"),
        Ok(Registered::Duplicate) => back("error", "duplicate"),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

pub struct RemoveForm {
    passkey: String,
}

impl PageForm for RemoveForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(RemoveForm {
            passkey: params.require("passkey")?.to_owned(),
        })
    }
}

pub async fn remove(State(app): State<AppState>, submitted: CsrfForm<RemoveForm>) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    match passkeys::remove(&app, session, &submitted.form.passkey).await {
        Ok(_) => back("done", "removed"),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

// --- the login page's passkey form ------------------------------------------

/// The start of a passkey sign-in: the login form's CSRF token (bound to
/// its pending request).
pub struct LoginStartForm;

impl PageForm for LoginStartForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Request(params.get("request").unwrap_or("")))
    }

    fn from_params(_: &Params) -> Result<Self, Error> {
        Ok(LoginStartForm)
    }
}

pub async fn login_options(
    State(app): State<AppState>,
    submitted: CsrfForm<LoginStartForm>,
) -> Response {
    match passkeys::start_authentication(&app, submitted.browser()).await {
        Ok(s) => started(&s),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

/// The posted passkey sign-in. No `Debug`: it carries the assertion.
pub struct LoginForm {
    request_id: String,
    ceremony: String,
    credential: String,
    return_to: Option<String>,
    csrf_token: String,
}

impl PageForm for LoginForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Request(params.get("request").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let field = |name| params.get(name).unwrap_or("").to_owned();
        Ok(LoginForm {
            request_id: field("request"),
            ceremony: field("ceremony"),
            credential: field("credential"),
            return_to: params.get("return_to").map(str::to_owned),
            csrf_token: field("csrf_token"),
        })
    }
}

pub async fn login(State(app): State<AppState>, submitted: CsrfForm<LoginForm>) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let attempt = PasskeyLogin {
        request_id: &form.request_id,
        ceremony: &form.ceremony,
        credential: &form.credential,
        return_to: form.return_to.as_deref(),
    };
    let previous = submitted.visitor.browser.session_cookie();
    match passkeys::sign_in(&app, submitted.browser(), previous, attempt).await {
        Ok(LoginOutcome::SecondFactor { challenge }) => to_second_factor(&challenge),
        Ok(LoginOutcome::SignedIn { session, next }) => signed_in(&app, &session, next, locale),
        Ok(LoginOutcome::Refused { client_name, .. }) => page(
            PageStatus::WrongCredentials,
            locale,
            &LoginView {
                client_name: client_name.as_deref(),
                csrf_token: &form.csrf_token,
                request_id: &form.request_id,
                username: "",
                error: None,
                passkeys: true,
                passkey_error: Some(PASSKEY_FAILED),
                return_to: login::return_to(form.return_to.as_deref()).unwrap_or(""),
                register_href: register_href(&app, &form.request_id),
            },
        ),
        Ok(LoginOutcome::Expired) => expired(locale),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

// --- the passkey as the second step (`/login/mfa`) ---------------------------

/// The start of a passkey second step: the `/login/mfa` page's CSRF token,
/// bound to its challenge.
pub struct MfaStartForm;

impl PageForm for MfaStartForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Challenge(params.get("challenge").unwrap_or("")))
    }

    fn from_params(_: &Params) -> Result<Self, Error> {
        Ok(MfaStartForm)
    }
}

pub async fn second_factor_options(
    State(app): State<AppState>,
    submitted: CsrfForm<MfaStartForm>,
) -> Response {
    match passkeys::start_authentication(&app, submitted.browser()).await {
        Ok(s) => started(&s),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

/// The posted passkey second step. No `Debug`: it carries the assertion.
pub struct MfaPasskeyForm {
    challenge: String,
    ceremony: String,
    credential: String,
    csrf_token: String,
}

impl PageForm for MfaPasskeyForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Challenge(params.get("challenge").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let field = |name| params.get(name).unwrap_or("").to_owned();
        Ok(MfaPasskeyForm {
            challenge: field("challenge"),
            ceremony: field("ceremony"),
            credential: field("credential"),
            csrf_token: field("csrf_token"),
        })
    }
}

pub async fn second_factor(
    State(app): State<AppState>,
    submitted: CsrfForm<MfaPasskeyForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let previous = submitted.visitor.browser.session_cookie();
    let outcome = passkeys::second_factor(
        &app,
        submitted.browser(),
        previous,
        &form.challenge,
        &form.ceremony,
        &form.credential,
    )
    .await;
    super::mfa::answer(
        &app,
        locale,
        &form.csrf_token,
        &form.challenge,
        PASSKEY_FAILED,
        outcome,
    )
}
