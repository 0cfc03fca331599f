//! `GET, POST /device` (RFC 8628 §3.3): the page where a person types the
//! user code their device shows, then allows or denies it.
//!
//! Without a browser session the page sends the browser to the login page,
//! which comes back here (`return_to`). `GET /device?user_code=…` (the
//! `verification_uri_complete`) pre-fills the code. A `POST` with
//! `user_code` alone shows the confirmation page, naming the client and the
//! scopes; a `POST` with `decision=allow|deny` as well decides. Every `POST`
//! carries a CSRF token bound to the browser and the session; what a
//! submission does is `core::device::submit`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::message;
use crate::core::authorize::{self, ScopeItem};
use crate::core::csrf::FormScope;
use crate::core::decision::Decision;
use crate::core::device::{self, DevicePage, DeviceStep, PendingDevice};
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::sessions::Session;
use crate::http::AppState;
use crate::http::browser::{BrowserSession, CsrfForm, PageForm, PageQuery};
use crate::http::client_addr::ClientAddr;
use crate::http::error::{PageError, PageStatus, page, see_other};
use crate::http::html::View;
use crate::http::locale::Locale;

/// The catalogue keys of the code-entry page's refusals.
pub const UNKNOWN_CODE: &str = "device.unknown_code";
pub const NO_LONGER_PENDING: &str = "device.no_longer_pending";

/// A pre-filled code longer than this is not echoed back.
const MAX_PREFILL_LEN: usize = 16;

/// What the code-entry template shows.
#[derive(Debug, Serialize)]
pub struct DeviceEntryView<'a> {
    pub csrf_token: &'a str,
    pub user_email: &'a str,
    /// The code to pre-fill (from `verification_uri_complete`, or as typed).
    pub user_code: &'a str,
    /// A catalogue key.
    pub error: Option<&'static str>,
}

impl View for DeviceEntryView<'_> {
    const TEMPLATE: &'static str = "device.html";
}

/// What the confirmation template shows.
#[derive(Debug, Serialize)]
pub struct DeviceConfirmView<'a> {
    pub client_name: &'a str,
    pub user_email: &'a str,
    /// The code in its display form, `XXXX-XXXX`.
    pub user_code: String,
    /// The scopes in plain words (catalogue keys).
    pub scopes: Vec<ScopeItem>,
    pub csrf_token: &'a str,
}

impl View for DeviceConfirmView<'_> {
    const TEMPLATE: &'static str = "device_confirm.html";
}

/// The posted device form. No `Debug`: it holds a user code.
pub struct DeviceForm {
    user_code: String,
    /// `None`: the code alone (show the confirmation).
    decision: Option<Decision>,
    csrf_token: String,
}

impl PageForm for DeviceForm {
    /// The session that loaded the page; without one, sign in first and
    /// come back with the code typed.
    fn csrf_scope<'a>(_: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>> {
        session.map(FormScope::DevicePage)
    }

    fn unbound(params: &Params, _: &Locale) -> Response {
        login_first(params.get("user_code"))
    }

    fn from_params(params: &Params) -> Result<Self, Error> {
        Ok(DeviceForm {
            user_code: params.get("user_code").unwrap_or("").to_owned(),
            decision: params
                .get(Decision::FIELD)
                .map(Decision::parse)
                .transpose()?,
            csrf_token: params.get("csrf_token").unwrap_or("").to_owned(),
        })
    }
}

/// To the login page, which returns to `/device` (with the code, if any).
fn login_first(user_code: Option<&str>) -> Response {
    let back = match user_code.filter(|c| !c.is_empty() && c.len() <= MAX_PREFILL_LEN) {
        Some(c) => {
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("user_code", c)
                .finish();
            format!("{}?{q}", paths::DEVICE_PAGE)
        }
        None => paths::DEVICE_PAGE.to_owned(),
    };
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("return_to", &back)
        .finish();
    see_other(&format!("{}?{q}", paths::LOGIN_PAGE))
}

pub async fn get(
    State(app): State<AppState>,
    PageQuery(params): PageQuery,
    visitor: BrowserSession,
    locale: Locale,
) -> Response {
    let user_code = params.get("user_code");
    let browser = &visitor.browser;
    let answer = match &visitor.session {
        None => login_first(user_code),
        Some(session) => match device::open(&app, session).await {
            Ok(opened) => entry_page(
                &locale,
                PageStatus::Shown,
                &browser.csrf_token(&app, FormScope::DevicePage(session)),
                &opened.user_email,
                user_code.unwrap_or(""),
                None,
            ),
            Err(e) => PageError(e, locale).into_response(),
        },
    };
    (browser.cookie(), answer).into_response()
}

pub async fn post(
    State(app): State<AppState>,
    ClientAddr(client_addr): ClientAddr,
    submitted: CsrfForm<DeviceForm>,
) -> Response {
    let form = &submitted.form;
    let locale = &submitted.locale;
    // The form's binding required the session.
    let Some(session) = &submitted.visitor.session else {
        return login_first(Some(&form.user_code));
    };
    match device::submit(&app, session, &form.user_code, form.decision, client_addr).await {
        Ok(DevicePage { user_email, step }) => {
            let csrf = &form.csrf_token;
            let entry =
                |status, code, error| entry_page(locale, status, csrf, &user_email, code, error);
            match step {
                DeviceStep::Enter => entry(PageStatus::Shown, "", None),
                DeviceStep::UnknownCode => {
                    entry(PageStatus::Invalid, &form.user_code, Some(UNKNOWN_CODE))
                }
                DeviceStep::Confirm(pending) => confirm_page(locale, csrf, &user_email, &pending),
                DeviceStep::NoLongerPending => {
                    entry(PageStatus::Invalid, "", Some(NO_LONGER_PENDING))
                }
                DeviceStep::Allowed { client_name } => message(
                    locale,
                    "message.device_allowed_heading",
                    "message.device_allowed_body",
                    Some(&client_name),
                ),
                DeviceStep::Denied => message(
                    locale,
                    "message.device_denied_heading",
                    "message.device_denied_body",
                    None,
                ),
            }
        }
        Err(e) => PageError(e, locale.clone()).into_response(),
    }
}

/// The code-entry page.
fn entry_page(
    locale: &Locale,
    status: PageStatus,
    csrf_token: &str,
    user_email: &str,
    user_code: &str,
    error: Option<&'static str>,
) -> Response {
    let user_code = if user_code.len() <= MAX_PREFILL_LEN {
        user_code
    } else {
        ""
    };
    page(
        status,
        locale,
        &DeviceEntryView {
            csrf_token,
            user_email,
            user_code,
            error,
        },
    )
}

fn confirm_page(
    locale: &Locale,
    csrf_token: &str,
    user_email: &str,
    p: &PendingDevice,
) -> Response {
    page(
        PageStatus::Shown,
        locale,
        &DeviceConfirmView {
            client_name: &p.client_name,
            user_email,
            user_code: p.user_code.display(),
            scopes: authorize::describe_scope(&p.device.scope),
            csrf_token,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::{StatusCode, header};

    #[test]
    fn pages_render_with_security_headers() {
        let en = Locale::new(crate::http::html::Pages::builtin(), "en");
        let r = entry_page(
            &en,
            PageStatus::Shown,
            "t",
            "a@example.com",
            "WDJB-MJHT",
            None,
        );
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let r = PageError(Error::TooManyRequests { retry_after: 42 }, en).into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    #[test]
    fn login_comes_back_to_the_device_page() {
        let r = login_first(Some("WDJB-MJHT"));
        assert_eq!(
            r.headers()[header::LOCATION],
            "/login?return_to=%2Fdevice%3Fuser_code%3DWDJB-MJHT"
        );
        // Only such paths are followed back: `core::login::return_to`
        // (tested there).
        assert!(crate::core::login::return_to(Some("/device?user_code=WDJB-MJHT")).is_some());
    }
}
