//! [`Locale`]: the language a page is shown in, and the pages it is shown
//! with.
//!
//! The language is the first the catalogue has of (OIDC Core §3.1.2.1,
//! RFC 9110 §12.5.4):
//!
//! 1. the `ui_locales` of the pending authorization request the page is
//!    for (the `request` in the query; a posted form's `request` field is
//!    [`CsrfForm`]'s to read, which refines its `locale` the same way);
//! 2. the `ui_locales` of the request itself (the authorization endpoint's
//!    error pages);
//! 3. the `Accept-Language` header's ranges, by weight;
//! 4. English.
//!
//! [`CsrfForm`]: super::browser::CsrfForm

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::AppState;
use super::cookies;
use super::html::Pages;
use crate::core::authorize;

/// The language of the answer, with the pages (templates, catalogue,
/// stylesheet) it is rendered with. Extract it in a page handler and hand
/// it to `error::page` and `PageError`.
#[derive(Debug, Clone)]
pub struct Locale {
    lang: String,
    pages: Arc<Pages>,
}

impl Locale {
    /// The language `lang` of `pages` (a tag the catalogue has).
    pub fn new(pages: Arc<Pages>, lang: &str) -> Locale {
        Locale {
            lang: lang.to_owned(),
            pages,
        }
    }

    /// The tag, as `<html lang>` and `Content-Language` carry it.
    pub fn lang(&self) -> &str {
        &self.lang
    }

    pub fn pages(&self) -> &Pages {
        &self.pages
    }

    /// This locale, unless `ui_locales` (of the pending request a form was
    /// posted for) names a language the catalogue has: that one then.
    pub fn preferring(&self, ui_locales: Option<&str>) -> Locale {
        match ui_locales.and_then(|ui| self.pages.catalogue().ui_locale(ui)) {
            Some(lang) => Locale::new(self.pages.clone(), lang),
            None => self.clone(),
        }
    }

    /// The locale from the request alone (its `ui_locales` parameter and
    /// `Accept-Language`), without looking up a pending request: for the
    /// error pages of extractors, which answer before any lookup.
    pub fn from_headers(parts: &Parts) -> Locale {
        if let Some(l) = parts.extensions.get::<Locale>() {
            return l.clone();
        }
        let pages = pages_of(parts);
        let ui = query_param(parts, "ui_locales");
        let accept = parts
            .headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok());
        let lang = pages
            .catalogue()
            .negotiate(ui.as_deref(), accept)
            .to_owned();
        Locale { lang, pages }
    }
}

/// The router's pages (`http::router` adds them to every request).
fn pages_of(parts: &Parts) -> Arc<Pages> {
    parts
        .extensions
        .get::<Arc<Pages>>()
        .cloned()
        .unwrap_or_else(Pages::builtin)
}

/// The first value of a query parameter, read leniently: a malformed
/// query is `PageQuery`'s to refuse, not the language's.
fn query_param(parts: &Parts, name: &str) -> Option<String> {
    form_urlencoded::parse(parts.uri.query()?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl FromRequestParts<AppState> for Locale {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(l) = parts.extensions.get::<Locale>() {
            return Ok(l.clone());
        }
        let mut locale = Locale::from_headers(parts);
        if let Some(request_id) = query_param(parts, "request") {
            // The browser's own cookie, as `browser::Browser` reads it: a
            // pending request answers only the browser that started it.
            let browser = cookies::single(&parts.headers, cookies::BROWSER_COOKIE);
            locale = locale.preferring(
                pending_ui_locales(app, &request_id, browser)
                    .await
                    .as_deref(),
            );
        }
        parts.extensions.insert(locale.clone());
        Ok(locale)
    }
}

/// The `ui_locales` of the pending request `request_id`, if this browser's
/// and still pending. A failed lookup costs only the language.
pub async fn pending_ui_locales(
    app: &AppState,
    request_id: &str,
    browser: Option<&str>,
) -> Option<String> {
    match authorize::pending_ui_locales(app, request_id, browser).await {
        Ok(ui) => ui,
        Err(e) => {
            tracing::debug!(
                error = e.code(),
                "ui_locales of the pending request unknown"
            );
            None
        }
    }
}
