//! Cross-site request forgery defences, both kinds in one place.
//!
//! - **Forms** (the login, consent and `/device` pages): every form carries a
//!   token bound to the browser that loaded it, `HMAC(server key, browser ‖
//!   scope)`, where the browser is its `latchkey_browser` cookie and the
//!   scope is what the form acts on ([`FormScope`]). A page loaded by
//!   another browser, or for another request, yields a token that does not
//!   match. Nothing is stored: any process can recompute the token.
//! - **Cookie-delivered refresh tokens** (`POST /v1/refresh`, `POST
//!   /v1/signout`): the double submit of the OWASP CSRF Prevention Cheat
//!   Sheet, made *signed*: the `X-CSRF-Token` header must equal the
//!   script-readable `latchkey_csrf` cookie, and that value must be the HMAC
//!   of the `HttpOnly` refresh cookie. A cookie planted by a sibling
//!   subdomain (which can set cookies but not read ours) cannot stand in for
//!   it, because nobody without the server key can compute the HMAC.
//!
//! Every comparison is constant time.

use super::error::{Error, Result};
use super::secret::{self, Secret, ServerKey};
use super::sessions::Session;

/// HMAC purpose of the forms' tokens.
const FORM_PURPOSE: &str = "page-csrf";
/// HMAC purpose of the token bound to a cookie-delivered refresh token.
pub const REFRESH_COOKIE_PURPOSE: &str = "refresh-csrf";

/// What a form's token is bound to, besides the browser.
#[derive(Debug, Clone, Copy)]
pub enum FormScope<'a> {
    /// The login or consent page of the pending authorization request with
    /// this id; the empty id for the login page outside any flow.
    Request(&'a str),
    /// The `/device` page, for the session that loaded it: a confirmation
    /// page left open by one user cannot approve a device for another who
    /// signed in since in the same browser.
    DevicePage(&'a Session),
    /// The forms of `/account`, for the session that loaded the page.
    Account(&'a Session),
    /// The forms of the admin console (`/admin`), for the session its
    /// admission was granted in.
    Console(&'a Session),
}

impl FormScope<'_> {
    /// The bytes the HMAC covers after the browser. The device page's form
    /// is `device\n<session id hash>`, which no request id (base64url) can
    /// spell, so the two kinds of tokens never collide.
    fn bound_to(&self) -> String {
        match self {
            FormScope::Request(id) => (*id).to_owned(),
            FormScope::DevicePage(session) => format!("device\n{}", session.id_hash.as_str()),
            FormScope::Account(session) => format!("account\n{}", session.id_hash.as_str()),
            FormScope::Console(session) => format!("console\n{}", session.id_hash.as_str()),
        }
    }
}

/// The CSRF token of a form shown to the browser whose `latchkey_browser`
/// cookie is `browser`.
pub fn form_token(key: &ServerKey, browser: &str, scope: FormScope<'_>) -> String {
    key.mac_token(
        FORM_PURPOSE,
        format!("{browser}\n{}", scope.bound_to()).as_bytes(),
    )
}

/// Checks a submitted form's token: `presented` must be the token of this
/// `browser` (the request's `latchkey_browser` cookie; `None` when it has
/// none) for `scope`.
pub fn check_form(
    key: &ServerKey,
    browser: Option<&str>,
    scope: FormScope<'_>,
    presented: Option<&str>,
) -> Result<()> {
    let ok = match (browser, presented) {
        (Some(b), Some(p)) => secret::constant_time_eq(&form_token(key, b, scope), p),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidCsrfToken(
            "the form's security token is missing or belongs to another browser; \
             reload the page and try again"
                .into(),
        ))
    }
}

/// The double-submit token that goes with a cookie-delivered refresh token:
/// its HMAC, so that it is random per issuance and yet cannot be chosen by
/// whoever can plant a cookie.
pub fn refresh_cookie_token(key: &ServerKey, refresh_token: &Secret) -> Secret {
    Secret::new(key.mac_token(REFRESH_COOKIE_PURPOSE, refresh_token.expose().as_bytes()))
}

/// Checks the double submit of `/v1/refresh` and `/v1/signout`: the
/// `X-CSRF-Token` header must equal the `latchkey_csrf` cookie and be the
/// token bound to the refresh cookie.
pub fn check_refresh_cookie(
    key: &ServerKey,
    refresh_cookie: &Secret,
    csrf_cookie: Option<&str>,
    csrf_header: Option<&str>,
) -> Result<()> {
    let refused = || Error::InvalidCsrfToken("the X-CSRF-Token header is missing or wrong".into());
    let (Some(cookie), Some(header)) = (csrf_cookie, csrf_header) else {
        return Err(refused());
    };
    let expected = refresh_cookie_token(key, refresh_cookie);
    // Both comparisons run whatever the first one says.
    let cookie_ok = secret::constant_time_eq(cookie, header);
    let bound_ok = secret::constant_time_eq(expected.expose(), header);
    if cookie_ok & bound_ok {
        Ok(())
    } else {
        Err(refused())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::core::secret::SecretHash;

    fn session(id: &str) -> Session {
        Session {
            id_hash: SecretHash::of(id),
            user_id: crate::core::users::UserId::new("u"),
            auth_time: 0,
            created_at: 0,
            idle_expires_at: 10,
            expires_at: 10,
        }
    }

    #[test]
    fn form_tokens_depend_on_browser_and_scope() {
        let key = ServerKey::from_secret("k");
        let req = FormScope::Request("req");
        let t = form_token(&key, "browser-a", req);
        assert!(check_form(&key, Some("browser-a"), req, Some(&t)).is_ok());
        assert!(check_form(&key, Some("browser-b"), req, Some(&t)).is_err());
        assert!(
            check_form(
                &key,
                Some("browser-a"),
                FormScope::Request("other"),
                Some(&t)
            )
            .is_err()
        );
        assert!(check_form(&key, None, req, Some(&t)).is_err());
        assert!(check_form(&key, Some("browser-a"), req, None).is_err());

        let (s1, s2) = (session("s1"), session("s2"));
        let d = form_token(&key, "browser-a", FormScope::DevicePage(&s1));
        assert!(
            check_form(
                &key,
                Some("browser-a"),
                FormScope::DevicePage(&s1),
                Some(&d)
            )
            .is_ok()
        );
        assert!(
            check_form(
                &key,
                Some("browser-a"),
                FormScope::DevicePage(&s2),
                Some(&d)
            )
            .is_err()
        );
        assert!(check_form(&key, Some("browser-a"), req, Some(&d)).is_err());
    }

    #[test]
    fn refresh_cookie_token_is_bound_to_the_refresh_token() {
        let key = ServerKey::from_secret("k");
        let refresh = Secret::new("r1");
        let good = refresh_cookie_token(&key, &refresh);
        let g = good.expose();
        assert!(check_refresh_cookie(&key, &refresh, Some(g), Some(g)).is_ok());
        assert!(check_refresh_cookie(&key, &refresh, Some(g), None).is_err());
        assert!(check_refresh_cookie(&key, &refresh, None, Some(g)).is_err());
        assert!(check_refresh_cookie(&key, &refresh, Some("x"), Some("x")).is_err());
        assert!(check_refresh_cookie(&key, &refresh, Some(g), Some("x")).is_err());
        let other = refresh_cookie_token(&key, &Secret::new("r2"));
        let o = other.expose();
        assert!(check_refresh_cookie(&key, &refresh, Some(o), Some(o)).is_err());
    }
}
