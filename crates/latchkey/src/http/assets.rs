//! `GET /assets/passkeys.js`: the one script, which runs the WebAuthn
//! ceremonies of the passkey forms (served from this origin: the pages'
//! CSP allows scripts from `'self'` only, and no inline script).
//!
//! `GET /assets/latchkey.css`: the pages' stylesheet (built in, or the
//! theme's `latchkey.css`), with the brand colour's variables on top.
//! Pages link it as `/assets/latchkey.css?v=<hash>`: that URL is cached for
//! a year, and a new stylesheet is a new URL; every URL answers `ETag` and
//! `304` to a matching `If-None-Match`.

use std::sync::Arc;

use axum::Extension;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::error;
use super::html::Pages;

pub async fn stylesheet(
    Extension(pages): Extension<Arc<Pages>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let sheet = pages.stylesheet();
    let current = query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "v" && v == sheet.version)
    });
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    error::stylesheet(sheet, if_none_match, current)
}

/// The script of the passkey forms.
pub const SCRIPT: &str = include_str!("pages/templates/passkeys.js");

pub async fn script() -> Response {
    error::script(SCRIPT)
}
