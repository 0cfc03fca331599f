//! The accounts' pages (docs/accounts.md): `/register`, `/verify-email`,
//! `/forgot-password`, `/reset-password`, `/account` and its forms
//! (`/account/password`, `/account/sign-out`, `/account/consents/revoke`).
//! What each does is `core::accounts`; these map its outcomes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::expired;
use crate::core::accounts::{
    self, ChangeOutcome, Overview, RegisterOutcome, Registration, ResetOutcome, SignOutTarget,
};
use crate::core::clients::ClientId;
use crate::core::csrf::FormScope;
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::login::{self, LoginPrompt};
use crate::core::params::Params;
use crate::core::password_rules::Broken;
use crate::core::secret::Secret;
use crate::core::sessions::Session;
use crate::http::AppState;
use crate::http::browser::{Browser, BrowserSession, CsrfForm, PageForm, PageQuery};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::error::{PageError, PageStatus, page, see_other};
use crate::http::html::View;
use crate::http::locale::Locale;

/// The `/register` form.
#[derive(Debug, Serialize)]
pub struct RegisterView<'a> {
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    pub request_id: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    /// A catalogue key (a broken password rule, a malformed address).
    pub error: Option<&'static str>,
    pub min_length: usize,
    /// The login page, for the same pending request.
    pub login_href: &'a str,
}

impl View for RegisterView<'_> {
    const TEMPLATE: &'static str = "register.html";
}

/// A page that says what happened and offers where to go next.
#[derive(Debug, Serialize)]
pub struct NoticeView<'a> {
    pub heading: &'static str,
    pub message: &'static str,
    pub link_href: Option<&'a str>,
    pub link_label: Option<&'static str>,
}

impl View for NoticeView<'_> {
    const TEMPLATE: &'static str = "notice.html";
}

/// `/verify-email`'s answer.
#[derive(Debug, Serialize)]
pub struct VerifyEmailView {
    pub heading: &'static str,
    pub message: &'static str,
}

impl View for VerifyEmailView {
    const TEMPLATE: &'static str = "verify_email.html";
}

#[derive(Debug, Serialize)]
pub struct ForgotView<'a> {
    pub csrf_token: &'a str,
    pub email: &'a str,
}

impl View for ForgotView<'_> {
    const TEMPLATE: &'static str = "forgot_password.html";
}

#[derive(Debug, Serialize)]
pub struct ResetView<'a> {
    pub csrf_token: &'a str,
    pub token: &'a str,
    pub error: Option<&'static str>,
    pub min_length: usize,
}

impl View for ResetView<'_> {
    const TEMPLATE: &'static str = "reset_password.html";
}

/// One browser session on the account page.
#[derive(Debug, Serialize)]
pub struct SessionLine {
    pub handle: String,
    pub created_at: String,
    pub last_used_at: String,
    pub current: bool,
}

/// One signed-in app on the account page.
#[derive(Debug, Serialize)]
pub struct AppLine {
    pub family_id: String,
    pub client_name: String,
    pub created_at: String,
    pub last_used_at: String,
}

/// One consent on the account page.
#[derive(Debug, Serialize)]
pub struct ConsentLine {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
}

/// A line of the account page's "Second factors" section (rendered only
/// when some are given): catalogue keys for its label, status and action,
/// and the page the action links to (`/account/totp`, `/account/passkeys`).
#[derive(Debug, Clone, Serialize)]
pub struct FactorLine {
    pub label: &'static str,
    pub status: Option<&'static str>,
    pub action: &'static str,
    pub href: &'static str,
}

/// The account page.
#[derive(Debug, Serialize)]
pub struct AccountView<'a> {
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub email_verified: bool,
    pub sessions: Vec<SessionLine>,
    pub apps: Vec<AppLine>,
    pub consents: Vec<ConsentLine>,
    pub csrf_token: &'a str,
    /// A catalogue key: what the last form did.
    pub notice: Option<&'static str>,
    /// A catalogue key: why the last form failed.
    pub error: Option<&'static str>,
    pub min_length: usize,
    /// The second factors' section; `None` hides it.
    pub second_factors: Option<Vec<FactorLine>>,
}

impl View for AccountView<'_> {
    const TEMPLATE: &'static str = "account.html";
}

pub use crate::http::html::when;

/// `/login`, for a pending request if any.
fn login_href(request_id: &str) -> String {
    with_request(paths::LOGIN_PAGE, request_id)
}

fn with_request(path: &str, request_id: &str) -> String {
    if request_id.is_empty() {
        return path.to_owned();
    }
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("request", request_id)
        .finish();
    format!("{path}?{q}")
}

// --- /register -------------------------------------------------------------

pub async fn register_get(
    State(app): State<AppState>,
    browser: Browser,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    if let Err(e) = accounts::require_open(app.settings()) {
        return PageError(e, locale).into_response();
    }
    let request_id = params.get("request").unwrap_or("");
    let answer = match login::prompt(&app, request_id, browser.existing()).await {
        Ok(LoginPrompt::Form { client_name, .. }) => page(
            PageStatus::Shown,
            &locale,
            &RegisterView {
                client_name: client_name.as_deref(),
                csrf_token: &browser.csrf_token(&app, FormScope::Request(request_id)),
                request_id,
                email: "",
                name: "",
                error: None,
                min_length: app.settings().password_min_length,
                login_href: &login_href(request_id),
            },
        ),
        Ok(LoginPrompt::Expired) => expired(&locale),
        Err(e) => PageError(e, locale).into_response(),
    };
    (browser.cookie(), answer).into_response()
}

/// The posted `/register` form. No `Debug`: it holds a password.
pub struct RegisterForm {
    request_id: String,
    email: String,
    name: String,
    password: Secret,
    csrf_token: String,
}

impl PageForm for RegisterForm {
    fn csrf_scope<'a>(params: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
        Some(FormScope::Request(params.get("request").unwrap_or("")))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let field = |name| params.get(name).unwrap_or("").to_owned();
        Ok(RegisterForm {
            request_id: field("request"),
            email: field("email"),
            name: field("name"),
            password: Secret::new(field("password")),
            csrf_token: field("csrf_token"),
        })
    }
}

pub async fn register_post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<RegisterForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    let name = form.name.trim();
    let outcome = accounts::register_form(
        &app,
        Registration {
            email: &form.email,
            password: &form.password,
            name: (!name.is_empty()).then_some(name),
            client_addr,
        },
    )
    .await;
    let again = |error: &'static str| {
        page(
            PageStatus::Invalid,
            locale,
            &RegisterView {
                client_name: None,
                csrf_token: &form.csrf_token,
                request_id: &form.request_id,
                email: &form.email,
                name: &form.name,
                error: Some(error),
                min_length: app.settings().password_min_length,
                login_href: &login_href(&form.request_id),
            },
        )
    };
    match outcome {
        Ok(RegisterOutcome::Done(_)) => page(
            PageStatus::Shown,
            locale,
            &NoticeView {
                heading: "notice.registered_heading",
                message: "notice.registered_body",
                link_href: Some(&login_href(&form.request_id)),
                link_label: Some("notice.continue"),
            },
        ),
        Ok(RegisterOutcome::Broken(rule)) => again(rule.key()),
        Ok(RegisterOutcome::InvalidEmail) => again("register.invalid_email"),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

// --- /verify-email ---------------------------------------------------------

pub async fn verify_email(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let token = params.get("token").unwrap_or("");
    match accounts::verify_email(&app, token, client_addr).await {
        Ok(true) => page(
            PageStatus::Shown,
            &locale,
            &VerifyEmailView {
                heading: "notice.verified_heading",
                message: "notice.verified_body",
            },
        ),
        Ok(false) => page(
            PageStatus::Invalid,
            &locale,
            &VerifyEmailView {
                heading: "notice.bad_link_heading",
                message: "notice.bad_link_body",
            },
        ),
        Err(e) => PageError(e, locale).into_response(),
    }
}

// --- /forgot-password ------------------------------------------------------

pub async fn forgot_get(State(app): State<AppState>, browser: Browser, locale: Locale) -> Response {
    let answer = page(
        PageStatus::Shown,
        &locale,
        &ForgotView {
            csrf_token: &browser.csrf_token(&app, FormScope::Request("")),
            email: "",
        },
    );
    (browser.cookie(), answer).into_response()
}

/// A form bound to the browser only (forgot, reset).
fn no_request<'a>(_: &'a Params, _: Option<&'a Session>) -> Option<FormScope<'a>> {
    Some(FormScope::Request(""))
}

pub struct ForgotForm {
    email: String,
}

impl PageForm for ForgotForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        no_request(params, s)
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(ForgotForm {
            email: params.get("email").unwrap_or("").to_owned(),
        })
    }
}

pub async fn forgot_post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<ForgotForm>,
) -> Response {
    let locale = &submitted.locale;
    match accounts::forgot_password(&app, &submitted.form.email, client_addr).await {
        // Always the same answer, a malformed address included.
        Ok(()) | Err(Error::InvalidRequest(_)) => page(
            PageStatus::Shown,
            locale,
            &NoticeView {
                heading: "notice.reset_sent_heading",
                message: "notice.reset_sent_body",
                link_href: Some(paths::LOGIN_PAGE),
                link_label: Some("notice.sign_in"),
            },
        ),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

// --- /reset-password -------------------------------------------------------

pub async fn reset_get(
    State(app): State<AppState>,
    browser: Browser,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let token = params.get("token").unwrap_or("");
    let answer = page(
        PageStatus::Shown,
        &locale,
        &ResetView {
            csrf_token: &browser.csrf_token(&app, FormScope::Request("")),
            token,
            error: None,
            min_length: app.settings().password_min_length,
        },
    );
    (browser.cookie(), answer).into_response()
}

/// No `Debug`: it holds a password and a reset token.
pub struct ResetForm {
    token: String,
    password: Secret,
    csrf_token: String,
}

impl PageForm for ResetForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        no_request(params, s)
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(ResetForm {
            token: params.get("token").unwrap_or("").to_owned(),
            password: Secret::new(params.get("password").unwrap_or("")),
            csrf_token: params.get("csrf_token").unwrap_or("").to_owned(),
        })
    }
}

pub async fn reset_post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<ResetForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    match accounts::reset_password(&app, &form.token, &form.password, client_addr).await {
        Ok(ResetOutcome::Done(_)) => page(
            PageStatus::Shown,
            locale,
            &NoticeView {
                heading: "notice.reset_done_heading",
                message: "notice.reset_done_body",
                link_href: Some(paths::LOGIN_PAGE),
                link_label: Some("notice.sign_in"),
            },
        ),
        Ok(ResetOutcome::BadToken) => page(
            PageStatus::Invalid,
            locale,
            &NoticeView {
                heading: "notice.bad_link_heading",
                message: "notice.bad_link_body",
                link_href: Some(paths::FORGOT_PASSWORD_PAGE),
                link_label: Some("login.forgot"),
            },
        ),
        Ok(ResetOutcome::Broken(rule)) => page(
            PageStatus::Invalid,
            locale,
            &ResetView {
                csrf_token: &form.csrf_token,
                token: &form.token,
                error: Some(rule.key()),
                min_length: app.settings().password_min_length,
            },
        ),
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

// --- /account --------------------------------------------------------------

/// To the login page, which comes back to `/account`.
fn login_first() -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", paths::ACCOUNT_PAGE)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_PAGE))
}

/// What `?done=` and `?error=` (set by the forms' redirects) show.
fn flash(params: &Params) -> (Option<&'static str>, Option<&'static str>) {
    let notice = match params.get("done") {
        Some("signed_out") => Some("account.signed_out"),
        Some("revoked") => Some("account.revoked"),
        Some("password") => Some("account.password_changed"),
        _ => None,
    };
    let error = match params.get("error") {
        Some("wrong_password") => Some("account.wrong_password"),
        Some("too_short") => Some(Broken::TooShort.key()),
        Some("too_long") => Some(Broken::TooLong.key()),
        Some("too_common") => Some(Broken::Common.key()),
        _ => None,
    };
    (notice, error)
}

pub async fn account(
    State(app): State<AppState>,
    visitor: BrowserSession,
    locale: Locale,
    PageQuery(params): PageQuery,
) -> Response {
    let Some(session) = visitor.session else {
        return login_first();
    };
    let overview = match accounts::overview(&app, &session).await {
        Ok(o) => o,
        Err(e) => return PageError(e, locale).into_response(),
    };
    let csrf = visitor
        .browser
        .csrf_token(&app, FormScope::Account(&session));
    let (notice, error) = flash(&params);
    let answer = page(
        PageStatus::Shown,
        &locale,
        &account_view(
            &overview,
            &csrf,
            notice,
            error,
            app.settings().password_min_length,
        ),
    );
    (visitor.browser.cookie(), answer).into_response()
}

fn account_view<'a>(
    o: &'a Overview,
    csrf_token: &'a str,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    min_length: usize,
) -> AccountView<'a> {
    AccountView {
        email: &o.user.email,
        name: o.user.name.as_deref(),
        email_verified: o.user.email_verified,
        sessions: o
            .sessions
            .iter()
            .map(|s| SessionLine {
                handle: s.handle.clone(),
                created_at: when(s.created_at),
                last_used_at: when(s.last_used_at),
                current: s.current,
            })
            .collect(),
        apps: o
            .apps
            .iter()
            .map(|a| AppLine {
                family_id: a.family_id.clone(),
                client_name: a.client_name.clone(),
                created_at: when(a.created_at),
                last_used_at: when(a.last_used_at),
            })
            .collect(),
        consents: o
            .consents
            .iter()
            .map(|c| ConsentLine {
                client_id: c.client_id.to_string(),
                client_name: c.client_name.clone(),
                scope: c.scope.to_string(),
            })
            .collect(),
        csrf_token,
        notice,
        error,
        min_length,
        second_factors: None,
    }
}

/// Every `/account` form is bound to the session that loaded the page; a
/// browser without one signs in first.
fn account_scope<'a>(_: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>> {
    session.map(FormScope::Account)
}

/// No `Debug`: it holds passwords.
pub struct PasswordForm {
    current: Secret,
    new: Secret,
}

impl PageForm for PasswordForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(PasswordForm {
            current: Secret::new(params.get("current_password").unwrap_or("")),
            new: Secret::new(params.get("new_password").unwrap_or("")),
        })
    }
}

/// A `303` back to the account page with what happened.
fn back(key: &str, value: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair(key, value)
        .finish();
    see_other(&format!("{}?{q}", paths::ACCOUNT_PAGE))
}

pub async fn change_password(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<PasswordForm>,
) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    let form = &submitted.form;
    match accounts::change_password(&app, session, &form.current, &form.new, client_addr).await {
        Ok(ChangeOutcome::Changed(_)) => back("done", "password"),
        Ok(ChangeOutcome::WrongPassword) => back("error", "wrong_password"),
        Ok(ChangeOutcome::Broken(rule)) => back(
            "error",
            match rule {
                Broken::TooShort => "too_short",
                Broken::TooLong => "too_long",
                Broken::Common => "too_common",
            },
        ),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

pub struct SignOutForm {
    target: Option<SignOutTarget>,
}

impl PageForm for SignOutForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        let target = match (params.get("session"), params.get("app")) {
            (Some(s), None) => Some(SignOutTarget::Session(s.to_owned())),
            (None, Some(a)) => Some(SignOutTarget::App(a.to_owned())),
            _ => None,
        };
        Ok(SignOutForm { target })
    }
}

pub async fn sign_out(State(app): State<AppState>, submitted: CsrfForm<SignOutForm>) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    let Some(target) = &submitted.form.target else {
        return PageError(
            Error::invalid_request("name one session or one app"),
            submitted.locale.clone(),
        )
        .into_response();
    };
    match accounts::sign_out(&app, session, target).await {
        Ok(true) => (cookies::clear_session(app.settings()), login_first()).into_response(),
        Ok(false) => back("done", "signed_out"),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}

pub struct ConsentForm {
    client_id: String,
}

impl PageForm for ConsentForm {
    fn csrf_scope<'a>(params: &'a Params, s: Option<&'a Session>) -> Option<FormScope<'a>> {
        account_scope(params, s)
    }

    fn unbound(_: &Params, _: &Locale) -> Response {
        login_first()
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(ConsentForm {
            client_id: params.require("client_id")?.to_owned(),
        })
    }
}

pub async fn revoke_consent(
    State(app): State<AppState>,
    submitted: CsrfForm<ConsentForm>,
) -> Response {
    let Some(session) = &submitted.visitor.session else {
        return login_first();
    };
    let client = ClientId::new(submitted.form.client_id.clone());
    match accounts::revoke_consent(&app, session, &client).await {
        Ok(_) => back("done", "revoked"),
        Err(e) => PageError(e, submitted.locale.clone()).into_response(),
    }
}
