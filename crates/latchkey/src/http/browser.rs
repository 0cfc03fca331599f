//! The extractors of the browser flows, so that every page handler reads the
//! same few things the same way:
//!
//! - [`Browser`]: the `latchkey_browser` cookie that names the browser (or a
//!   fresh value the response must set), and the `latchkey_session` cookie
//!   it presented. No database.
//! - [`BrowserSession`]: the browser and its live session, looked up once
//!   per request (cached in the request's extensions, so that a handler and
//!   [`CsrfForm`] share the one lookup).
//! - [`CsrfForm<T>`]: a form body, accepted only with a CSRF token bound to
//!   this browser (and to what the form type [`PageForm`] names), else
//!   refused with the error page.
//! - [`PageQuery`]: a page's query string, duplicates refused.
//!
//! The page's language is `http::locale::Locale`, an extractor too;
//! [`CsrfForm`] carries the one its form's pending request asks for.
//!
//! Rejections are responses already (`http::error::PageError` pages, or the
//! JSON answers of `http::body` for a body that cannot be read).

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::body::FormOrJson;
use super::cookies::{self, SetCookies};
use super::error::PageError;
use super::locale::{self, Locale};
use crate::core::csrf::{self, FormScope};
use crate::core::error::Error;
use crate::core::params::Params;
use crate::core::secret::{self, Secret};
use crate::core::sessions::{self, Session};

/// Cookie values longer than this are treated as absent.
const MAX_BROWSER_LEN: usize = 128;

/// The browser's `latchkey_browser` value, the one it sent or a fresh one,
/// and the session cookie it presented (if any).
#[derive(Debug, Clone)]
pub struct Browser {
    value: Secret,
    is_new: bool,
    /// The `Set-Cookie` for a fresh value (empty when the browser sent one).
    set: SetCookies,
    session_cookie: Option<Secret>,
}

impl Browser {
    fn read(parts: &Parts, app: &AppState) -> Browser {
        let session_cookie =
            cookies::single(&parts.headers, cookies::SESSION_COOKIE).map(Secret::new);
        match cookies::single(&parts.headers, cookies::BROWSER_COOKIE)
            .filter(|v| v.len() <= MAX_BROWSER_LEN)
        {
            Some(v) => Browser {
                value: Secret::new(v),
                is_new: false,
                set: SetCookies::none(),
                session_cookie,
            },
            None => {
                // The OS CSPRNG failing is beyond rescue here; an empty
                // value binds nothing, is never set, and every later check
                // refuses it.
                let value = secret::random_token().unwrap_or_default();
                let set = if value.is_empty() {
                    SetCookies::none()
                } else {
                    cookies::browser(app.settings(), &value)
                };
                Browser {
                    value: Secret::new(value),
                    is_new: true,
                    set,
                    session_cookie,
                }
            }
        }
    }

    /// The value the browser sent, if it sent one: only that can prove a
    /// form came from this browser.
    pub fn existing(&self) -> Option<&str> {
        (!self.is_new && !self.value.expose().is_empty()).then_some(self.value.expose())
    }

    /// The value to bind new things to (sent or fresh). A handler that
    /// binds something to it returns [`Browser::cookie`] with its answer.
    pub fn value(&self) -> &str {
        self.value.expose()
    }

    /// The `Set-Cookie` that names a new browser (nothing for a known one).
    pub fn cookie(&self) -> SetCookies {
        self.set.clone()
    }

    /// The `latchkey_session` cookie as presented (live or not).
    pub fn session_cookie(&self) -> Option<&str> {
        self.session_cookie.as_ref().map(Secret::expose)
    }

    /// The CSRF token of a form shown to this browser, for `scope` (see
    /// [`PageForm::csrf_scope`]).
    pub fn csrf_token(&self, app: &AppState, scope: FormScope<'_>) -> String {
        csrf::form_token(app.server_key(), self.value(), scope)
    }
}

impl FromRequestParts<AppState> for Browser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(b) = parts.extensions.get::<Browser>() {
            return Ok(b.clone());
        }
        let b = Browser::read(parts, app);
        parts.extensions.insert(b.clone());
        Ok(b)
    }
}

/// The browser and its live session, if it has one.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    pub browser: Browser,
    pub session: Option<Session>,
}

impl FromRequestParts<AppState> for BrowserSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Response> {
        if let Some(s) = parts.extensions.get::<BrowserSession>() {
            return Ok(s.clone());
        }
        let Ok(browser) = Browser::from_request_parts(parts, app).await;
        let session = sessions::current(app, browser.session_cookie())
            .await
            .map_err(|e| PageError(e, Locale::from_headers(parts)).into_response())?;
        let found = BrowserSession { browser, session };
        parts.extensions.insert(found.clone());
        Ok(found)
    }
}

/// A page's query string, parsed as every other set of parameters is
/// (duplicates refused); a malformed one gets the error page.
pub struct PageQuery(pub Params);

impl<S: Send + Sync> FromRequestParts<S> for PageQuery {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, PageError> {
        let query = parts.uri.query().unwrap_or("");
        Params::from_form(query.as_bytes())
            .map(PageQuery)
            .map_err(|e| PageError(e, Locale::from_headers(parts)))
    }
}

/// A form one of the pages posts.
pub trait PageForm: Sized {
    /// What the form's CSRF token is bound to besides the browser, read
    /// from the raw fields and the session before anything else of the form
    /// is trusted: the pending request for the login and consent forms, the
    /// session for the device page's. `None`: the form cannot be bound (it
    /// needs a session and there is none); [`PageForm::unbound`] answers.
    fn csrf_scope<'a>(params: &'a Params, session: Option<&'a Session>) -> Option<FormScope<'a>>;

    /// The answer to a form that cannot be bound: the CSRF refusal, unless
    /// the page knows better (the device page sends a browser without a
    /// session to sign in first).
    fn unbound(_params: &Params, locale: &Locale) -> Response {
        PageError(
            Error::InvalidCsrfToken(
                "this form needs a session; sign in, reload the page and try again".into(),
            ),
            locale.clone(),
        )
        .into_response()
    }

    /// The form's fields, once the token is known good.
    fn from_params(params: &Params) -> Result<Self, Error>;
}

/// A form whose CSRF token (field `csrf_token`) is bound to this browser:
/// another browser's token, or none, is refused with 403 and the error
/// page, before the form's fields are read.
pub struct CsrfForm<T> {
    pub form: T,
    /// The browser, its session, and the value the token proved.
    pub visitor: BrowserSession,
    /// The language of the answer: as [`Locale`] extracts it, preferring
    /// the `ui_locales` of the pending request the form's `request` field
    /// names (a form's page speaks the language its GET spoke).
    pub locale: Locale,
}

impl<T> CsrfForm<T> {
    /// The `latchkey_browser` value the form's token was bound to: the
    /// check proved the browser sent it.
    pub fn browser(&self) -> &str {
        self.visitor.browser.value()
    }
}

impl<T: PageForm> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, app: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let visitor = BrowserSession::from_request_parts(&mut parts, app).await?;
        let Ok(locale) = Locale::from_request_parts(&mut parts, app).await;
        let FormOrJson(params) =
            FormOrJson::from_request(Request::from_parts(parts, body), app).await?;
        let locale = match params.get("request") {
            Some(request_id) => locale.preferring(
                locale::pending_ui_locales(app, request_id, visitor.browser.existing())
                    .await
                    .as_deref(),
            ),
            None => locale,
        };
        let Some(scope) = T::csrf_scope(&params, visitor.session.as_ref()) else {
            return Err(T::unbound(&params, &locale));
        };
        csrf::check_form(
            app.server_key(),
            visitor.browser.existing(),
            scope,
            params.get("csrf_token"),
        )
        .map_err(|e| PageError(e, locale.clone()).into_response())?;
        let form =
            T::from_params(&params).map_err(|e| PageError(e, locale.clone()).into_response())?;
        Ok(CsrfForm {
            form,
            visitor,
            locale,
        })
    }
}
