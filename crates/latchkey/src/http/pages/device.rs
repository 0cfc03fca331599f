//! `GET, POST /device` (RFC 8628 §3.3, SPEC §6): the page where a person
//! types the user code their device shows, then allows or denies it.
//!
//! Without a browser session the page sends the browser to the login page,
//! which comes back here (`return_to`). `GET /device?user_code=…` (the
//! `verification_uri_complete`) pre-fills the code. A `POST` with
//! `user_code` alone shows the confirmation page, naming the client and the
//! scopes; a `POST` with `decision=allow|deny` as well decides. Every `POST`
//! carries a CSRF token bound to the browser; each code typed is charged to
//! the user-code limits of `core::device` before it is looked up.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{message, render, see_other};
use crate::core::authorize;
use crate::core::csrf::{self, FormScope};
use crate::core::decision::Decision;
use crate::core::device::{self, PendingDevice};
use crate::core::discovery::paths;
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::sessions::{self, BrowserSession};
use crate::core::users::UserStore as _;
use crate::http::AppState;
use crate::http::authorize::{Browser, query_params};
use crate::http::body::FormOrJson;
use crate::http::client_addr::ClientAddr;
use crate::http::cookies;
use crate::http::error::error_page;

/// A pre-filled code longer than this is not echoed back.
const MAX_PREFILL_LEN: usize = 16;

async fn session(app: &AppState, headers: &HeaderMap) -> Result<Option<BrowserSession>, Error> {
    sessions::current(
        &app.store,
        &app.settings,
        cookies::single(headers, cookies::SESSION_COOKIE),
        app.clock.now(),
    )
    .await
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

/// The code-entry page.
fn entry_page(
    status: StatusCode,
    csrf_token: &str,
    user_email: &str,
    user_code: &str,
    error: Option<&str>,
) -> Response {
    let user_code = if user_code.len() <= MAX_PREFILL_LEN {
        user_code
    } else {
        ""
    };
    render(
        status,
        "device.html",
        minijinja::context! { csrf_token, user_email, user_code, error },
    )
}

pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let browser = Browser::of(&headers);
    let mut resp = async {
        let params = query_params(query.as_deref())?;
        let user_code = params.get("user_code");
        let Some(session) = session(&app, &headers).await? else {
            return Ok(login_first(user_code));
        };
        let email = user_email(&app, &session).await?;
        let csrf = csrf::form_token(
            &app.server_key,
            browser.value(),
            FormScope::DevicePage(&session),
        );
        Ok::<_, Error>(entry_page(
            StatusCode::OK,
            &csrf,
            &email,
            user_code.unwrap_or(""),
            None,
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
    match post_inner(&app, client_addr, &headers, &params).await {
        Ok(resp) => resp,
        Err(Error::TooManyRequests { retry_after }) => too_many(retry_after),
        Err(e) => error_page(&e),
    }
}

async fn post_inner(
    app: &AppState,
    client_addr: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, Error> {
    let browser = Browser::of(headers);
    let typed = params.get("user_code").unwrap_or("");
    let Some(session) = session(app, headers).await? else {
        return Ok(login_first(Some(typed)));
    };
    csrf::check_form(
        &app.server_key,
        browser.existing(),
        FormScope::DevicePage(&session),
        params.get("csrf_token"),
    )?;
    let decision = params
        .get(Decision::FIELD)
        .map(Decision::parse)
        .transpose()?;
    let csrf = params.get("csrf_token").unwrap_or("");
    let email = user_email(app, &session).await?;
    let Some(pending) = device::lookup(app, typed, &session, client_addr).await? else {
        return Ok(entry_page(
            StatusCode::BAD_REQUEST,
            csrf,
            &email,
            typed,
            Some(
                "That code is not valid or has expired. Check the code on your device \
                 and try again.",
            ),
        ));
    };
    let Some(decision) = decision else {
        return Ok(confirm_page(csrf, &email, &pending));
    };
    if !device::decide(app, &pending, &session, decision).await? {
        return Ok(entry_page(
            StatusCode::BAD_REQUEST,
            csrf,
            &email,
            "",
            Some("That code has expired or was already used. Start again on your device."),
        ));
    }
    Ok(match decision {
        Decision::Allow => message(
            StatusCode::OK,
            "Device connected",
            &format!(
                "{} now has access. You can return to your device.",
                pending.client_name
            ),
            None,
        ),
        Decision::Deny => message(
            StatusCode::OK,
            "Request denied",
            "The device was not given access. You can close this page.",
            None,
        ),
    })
}

fn confirm_page(csrf_token: &str, user_email: &str, p: &PendingDevice) -> Response {
    render(
        StatusCode::OK,
        "device_confirm.html",
        minijinja::context! {
            client_name => p.client_name.clone(),
            user_email,
            user_code => p.user_code.display(),
            scopes => authorize::describe_scope(&p.device.scope),
            csrf_token,
        },
    )
}

/// 429: too many wrong codes from this session or address.
fn too_many(retry_after: u64) -> Response {
    let mut resp = message(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many attempts",
        "Too many wrong codes were entered. Wait a few minutes, then try again.",
        None,
    );
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    resp
}

async fn user_email(app: &AppState, session: &BrowserSession) -> Result<String, Error> {
    Ok(app
        .store
        .get_user(&session.user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::http::pages::login::return_path;

    #[test]
    fn pages_render_with_security_headers() {
        let r = entry_page(StatusCode::OK, "t", "a@example.com", "WDJB-MJHT", None);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::X_FRAME_OPTIONS], "DENY");
        let r = too_many(42);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }

    #[test]
    fn login_redirects_only_to_the_device_page() {
        let r = login_first(Some("WDJB-MJHT"));
        assert_eq!(
            r.headers()[header::LOCATION],
            "/login?return_to=%2Fdevice%3Fuser_code%3DWDJB-MJHT"
        );
        assert_eq!(return_path(Some("/device")), Some("/device"));
        assert_eq!(
            return_path(Some("/device?user_code=A")),
            Some("/device?user_code=A")
        );
        for bad in [
            "//evil.example",
            "https://evil.example/device",
            "/devicex",
            "/device/../consent",
            "/device?x\r\nSet-Cookie: a=b",
            "",
        ] {
            assert_eq!(return_path(Some(bad)), None, "{bad:?}");
        }
    }
}
