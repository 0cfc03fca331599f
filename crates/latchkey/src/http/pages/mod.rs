//! The HTML pages of the browser flows: `/login`, `/consent`, `/device`.
//!
//! A page handler has the shape of an API handler: extractors, one `core`
//! call that returns an outcome enum, one `match` that maps each outcome to
//! a template or a redirect.
//!
//! ```text
//! pub async fn post(
//!     State(app): State<AppState>,                  // the Authority
//!     form: CsrfForm<ConsentForm>,                  // browser + session + checked form
//! ) -> Response {
//!     let outcome = authorize::consent(&app, …).await;   // one core call
//!     match outcome {                               // one mapping
//!         Ok(Some(next)) => authorize_outcome(next),
//!         Ok(None) => expired(),
//!         Err(e) => PageError(e).into_response(),
//!     }
//! }
//! ```
//!
//! - Read the browser with `http::browser`'s extractors: [`Browser`] (no
//!   database), [`BrowserSession`] (plus the live session, one lookup),
//!   [`CsrfForm<T>`] for a posted form (implement [`PageForm`] for `T`:
//!   its fields and what its CSRF token is bound to), [`PageQuery`].
//! - Give each template a context struct that implements [`View`] (its
//!   fields are the template's variables) and send it with
//!   `error::page(PageStatus::…, &view)`; redirect with `error::see_other`;
//!   answer a `core::Error` with `PageError`. Never name a status code
//!   here: `http::error` chooses them.
//! - A handler that binds something to a fresh browser value (a pending
//!   request, a form's CSRF token) returns `browser.cookie()` with its
//!   answer, so that the browser keeps the value.
//! - Rules (who may see what, where a login returns to, what a decision
//!   does) live in `core`; a page only maps their outcome.
//!
//! [`Browser`]: super::browser::Browser
//! [`BrowserSession`]: super::browser::BrowserSession
//! [`CsrfForm<T>`]: super::browser::CsrfForm
//! [`PageForm`]: super::browser::PageForm
//! [`PageQuery`]: super::browser::PageQuery
//! [`View`]: super::html::View

pub mod consent;
pub mod device;
pub mod login;

use axum::response::Response;

use super::error::{PageError, PageStatus, page, see_other};
use super::html::MessageView;
use crate::core::authorize::AuthorizeOutcome;
use crate::core::discovery::paths;

/// Maps the authorization decision to a response: an error page, or a `303`
/// to the client, the login page or the consent page.
pub fn authorize_outcome(outcome: AuthorizeOutcome) -> Response {
    use axum::response::IntoResponse as _;
    match outcome {
        AuthorizeOutcome::ErrorPage(e) => PageError(e).into_response(),
        AuthorizeOutcome::Redirect(url) => see_other(&url),
        AuthorizeOutcome::LoginRequired { request_id } => {
            to_page(paths::LOGIN_PAGE, request_id.expose())
        }
        AuthorizeOutcome::ConsentRequired { request_id } => {
            to_page(paths::CONSENT_PAGE, request_id.expose())
        }
    }
}

/// A `303` to one of the pages, for the pending request `request_id`.
pub fn to_page(path: &str, request_id: &str) -> Response {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("request", request_id)
        .finish();
    see_other(&format!("{path}?{q}"))
}

/// A page with a heading and a sentence (signed in, signed out).
pub fn message(heading: &str, message: &str) -> Response {
    page(
        PageStatus::Shown,
        &MessageView {
            heading,
            message,
            detail: None,
        },
    )
}

/// The page for a request id that is unknown, expired, already used, or
/// started in another browser.
pub fn expired() -> Response {
    page(
        PageStatus::Invalid,
        &MessageView {
            heading: "This sign-in link has expired",
            message: "Go back to the application and start again.",
            detail: None,
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::http::html;
    use axum::http::{StatusCode, header};

    /// Every page's view renders with its template, so that a mistake
    /// fails here and not at a user's first request.
    #[test]
    fn every_page_renders() {
        let r = page(
            PageStatus::Shown,
            &login::LoginView {
                client_name: Some("<Demo>"),
                csrf_token: "t",
                request_id: "r",
                username: "",
                error: None,
                return_to: "",
            },
        );
        assert_eq!(r.status(), StatusCode::OK);
        let r = page(
            PageStatus::Shown,
            &consent::ConsentView {
                client_name: "Demo",
                user_email: "a@example.com",
                scopes: vec!["See your name".into()],
                csrf_token: "t",
                request_id: "r",
            },
        );
        assert_eq!(r.status(), StatusCode::OK);
        for (view, hidden) in [
            (
                html::render(&consent::ConsentView {
                    client_name: "Demo",
                    user_email: "a@example.com",
                    scopes: vec!["See your name".into()],
                    csrf_token: "t",
                    request_id: "r",
                }),
                r#"<input type="hidden" name="request" value="r">"#,
            ),
            (
                html::render(&device::DeviceConfirmView {
                    client_name: "TV",
                    user_email: "a@example.com",
                    user_code: "WDJB-MJHT".into(),
                    scopes: vec!["See your name".into()],
                    csrf_token: "t",
                }),
                r#"<input type="hidden" name="user_code" value="WDJB-MJHT">"#,
            ),
        ] {
            let text = view.unwrap();
            assert!(text.contains(hidden), "{text}");
            assert!(text.contains(r#"<input type="hidden" name="csrf_token" value="t">"#));
            assert!(text.contains(r#"name="decision" value="allow""#));
            assert!(text.contains(r#"name="decision" value="deny""#));
            assert!(text.contains("See your name"));
        }
        let r = page(
            PageStatus::Invalid,
            &device::DeviceEntryView {
                csrf_token: "t",
                user_email: "a@example.com",
                user_code: "WDJB",
                error: Some("no"),
            },
        );
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let r = message("Signed out", "Bye");
        assert!(r.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        assert_eq!(expired().status(), StatusCode::BAD_REQUEST);
    }
}
