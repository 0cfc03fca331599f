//! The HTML pages of the browser flows (SPEC §6): rendering from minijinja
//! templates compiled into the binary, and the security headers every page
//! carries.
//!
//! Every page is sent with `X-Frame-Options: DENY` and a CSP with
//! `frame-ancestors 'none'` (no clickjacking of the login or consent
//! buttons), `Cache-Control: no-store` (a shared computer's back button
//! shows no form with a CSRF token), `X-Content-Type-Options: nosniff` and
//! `Referrer-Policy: no-referrer` (URLs carry request ids). The stylesheet
//! is inline and allowed by its SHA-256 in the CSP; no script runs at all.
//! The CSP has no `form-action`: browsers apply it to the redirect that
//! follows a form post too, and the consent form's answer is a redirect to
//! the client's `redirect_uri`, which is checked against the registration
//! instead.

pub mod consent;
pub mod device;
pub mod login;

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use minijinja::Environment;

/// The stylesheet, inlined into every page.
pub const STYLE: &str = include_str!("templates/style.css");

/// Each template: its name and text.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("message.html", include_str!("templates/message.html")),
    ("device.html", include_str!("templates/device.html")),
    (
        "device_confirm.html",
        include_str!("templates/device_confirm.html"),
    ),
];

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, text) in TEMPLATES {
        // A broken template fails its render below (and the unit test that
        // renders every page), never the process.
        if let Err(e) = env.add_template(name, text) {
            tracing::error!(template = name, error = %e, "template does not compile");
        }
    }
    env
});

static CSP: LazyLock<String> = LazyLock::new(|| {
    let hash = STANDARD.encode(crate::core::secret::sha256(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
         base-uri 'none'; frame-ancestors 'none'"
    )
});

/// Renders `template` with `ctx` (plus the stylesheet) into a page with
/// every security header.
pub fn render(status: StatusCode, template: &str, ctx: minijinja::Value) -> Response {
    let ctx = minijinja::context! { style => STYLE, ..ctx };
    let body = ENV.get_template(template).and_then(|t| t.render(ctx));
    match body {
        Ok(html) => {
            let mut resp = (status, Html(html)).into_response();
            security_headers(resp.headers_mut());
            resp
        }
        Err(e) => {
            tracing::error!(template, error = %e, "template failed to render");
            let mut resp = (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Something went wrong.</p>"),
            )
                .into_response();
            security_headers(resp.headers_mut());
            resp
        }
    }
}

/// A page with a heading and a sentence (signed out, signed in, errors).
pub fn message(status: StatusCode, heading: &str, message: &str, detail: Option<&str>) -> Response {
    render(
        status,
        "message.html",
        minijinja::context! { heading, message, detail },
    )
}

/// The headers every HTML page carries (SPEC §6).
pub fn security_headers(h: &mut HeaderMap) {
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// A `303 See Other` to `location` (after a form post the browser follows
/// it with a GET), with the page headers.
pub fn see_other(location: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => {
            return message(
                StatusCode::BAD_REQUEST,
                "Something is wrong with this request",
                "The address to return to is not valid.",
                None,
            );
        }
    }
    security_headers(resp.headers_mut());
    resp
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every template compiles and renders, so a mistake fails here and not
    /// at a user's first request.
    #[test]
    fn every_page_renders() {
        for (name, _) in TEMPLATES {
            ENV.get_template(name).unwrap();
        }
        let r = login::page(
            StatusCode::OK,
            login::LoginView {
                client_name: Some("<Demo>"),
                csrf_token: "t",
                request_id: "r",
                username: "",
                error: None,
                return_to: "",
            },
        );
        assert_eq!(r.status(), StatusCode::OK);
        let r = message(StatusCode::OK, "Signed out", "Bye", None);
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
    }
}
