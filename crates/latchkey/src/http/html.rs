//! HTML rendering for the browser flows: minijinja templates compiled into
//! the binary, one context struct per template ([`View`]), and the security
//! headers every page carries. It chooses no status code: `http::error` does
//! (`error::page`), so this module depends on nothing else in `http`.
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

use std::sync::LazyLock;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use minijinja::Environment;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// The stylesheet, inlined into every page.
pub const STYLE: &str = include_str!("pages/templates/style.css");

/// Each template: its name and text. A page's template is named after its
/// path (`login.html` for `/login`).
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("pages/templates/base.html")),
    (
        "decision.html",
        include_str!("pages/templates/decision.html"),
    ),
    ("login.html", include_str!("pages/templates/login.html")),
    ("consent.html", include_str!("pages/templates/consent.html")),
    ("message.html", include_str!("pages/templates/message.html")),
    ("device.html", include_str!("pages/templates/device.html")),
    (
        "device_confirm.html",
        include_str!("pages/templates/device_confirm.html"),
    ),
];

/// What a template shows: a struct whose fields are the template's
/// variables, so that a page cannot pass a variable its template does not
/// expect, nor forget one, without the compiler seeing the struct change.
pub trait View: Serialize {
    /// The template file this view fills.
    const TEMPLATE: &'static str;
}

/// A page with a heading and a sentence: signed in, signed out, device
/// connected, and every error page.
#[derive(Debug, Serialize)]
pub struct MessageView<'a> {
    pub heading: &'a str,
    pub message: &'a str,
    /// A line under the message, shown as an alert (an error's
    /// client-safe description).
    pub detail: Option<&'a str>,
}

impl View for MessageView<'_> {
    const TEMPLATE: &'static str = "message.html";
}

/// What a browser gets when a template fails to render (a bug, which the
/// unit test that renders every page is there to catch first).
pub const FALLBACK: &str = "<!doctype html><title>Error</title><p>Something went wrong.</p>";

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
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
         base-uri 'none'; frame-ancestors 'none'"
    )
});

/// Fills `V::TEMPLATE` with `view` (plus the stylesheet).
pub fn render<V: View>(view: &V) -> Result<String, minijinja::Error> {
    let fields = minijinja::Value::from(minijinja::value::Serde(view));
    let ctx = minijinja::context! { style => STYLE, ..fields };
    ENV.get_template(V::TEMPLATE)?.render(ctx)
}

/// The headers every HTML page carries, and the redirects between pages too.
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Every template compiles, so that a mistake fails here and not at a
    /// user's first request (each page module renders its own views).
    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            ENV.get_template(name).unwrap();
        }
        let html = render(&MessageView {
            heading: "Signed <out>",
            message: "Bye",
            detail: None,
        })
        .unwrap();
        assert!(html.contains("Signed &lt;out&gt;"), "autoescaped: {html}");
    }
}
