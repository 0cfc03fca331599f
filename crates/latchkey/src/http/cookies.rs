//! Every cookie latchkey sets, with its attributes, and reading cookies off a
//! request; parsing and `Set-Cookie` serialization are the `cookie` crate's
//! (through `axum-extra`).
//!
//! - `latchkey_refresh` and `latchkey_csrf`: the refresh token of a
//!   cookie-delivery client (`HttpOnly`, `SameSite=Strict`, `Path=/v1`) and
//!   its double-submit CSRF token (script-readable, `Path=/`).
//! - `latchkey_session` and `latchkey_browser`: the browser session of the
//!   HTML flows and the value that names the browser (`HttpOnly`,
//!   `SameSite=Lax`, `Path=/`).
//!
//! All are `Secure` when the issuer is https: TLS is often ended by a proxy,
//! so the issuer's scheme says what the browser sees, not the listener's.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponseParts, ResponseParts};
use axum_extra::extract::cookie::{Cookie, SameSite};

use crate::config::Settings;

/// The refresh token of a cookie-delivery client.
pub const REFRESH_COOKIE: &str = "latchkey_refresh";
/// The double-submit CSRF token that goes with it.
pub const CSRF_COOKIE: &str = "latchkey_csrf";
/// The header a script copies the CSRF cookie into.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The browser session of the HTML flows.
pub const SESSION_COOKIE: &str = "latchkey_session";
/// The admin console's admission (`core::admin::console`).
pub const ADMIN_COOKIE: &str = "latchkey_admin";
/// The `state` of a console sign-in under way.
pub const ADMIN_STATE_COOKIE: &str = "latchkey_admin_state";
/// Only the console's pages ever carry its cookies.
const ADMIN_PATH: &str = "/admin";

/// A random value naming the browser, to which pending authorization
/// requests and the forms' CSRF tokens are bound before anyone signs in.
pub const BROWSER_COOKIE: &str = "latchkey_browser";

/// Only requests under `/v1` (`/v1/refresh`, `/v1/signout`, and the token
/// endpoint) ever carry the refresh cookie.
const REFRESH_PATH: &str = "/v1";
/// The CSRF cookie must be readable by the app's scripts on any page of the
/// origin, and `document.cookie` only shows cookies whose path covers the
/// page's: hence `/`.
const CSRF_PATH: &str = "/";

/// Every value of cookie `name` on the request (normally one; several mean
/// someone planted a second one, which the callers refuse). A value in
/// double quotes is read without them (RFC 6265 §4.1.1 allows quoting).
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .filter(|c| c.name() == name)
        .filter_map(|c| c.value_raw().map(trim_quotes))
        .collect()
}

/// The cookie crate's `value_trimmed`, on the borrowed raw value (the
/// parsed `Cookie` does not outlive this module's iterator).
fn trim_quotes(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// The single value of cookie `name`; `None` when absent, empty or repeated.
pub fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    match values(headers, name).as_slice() {
        [one] if !one.is_empty() => Some(one),
        _ => None,
    }
}

/// Cookies to set on a response, in order (`Set-Cookie` headers appended,
/// never merged).
#[derive(Default, Clone)]
#[must_use]
pub struct SetCookies(Vec<Cookie<'static>>);

/// Names only: the values are session ids and tokens.
impl std::fmt::Debug for SetCookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|c| c.name()))
            .finish()
    }
}

impl SetCookies {
    pub fn none() -> Self {
        SetCookies(Vec::new())
    }

    /// Appends the headers to `headers` directly (for responses built by
    /// hand rather than returned as parts).
    pub fn apply(self, headers: &mut HeaderMap) {
        for c in self.0 {
            // Values are base64url or empty and the attributes fixed ASCII:
            // always a valid header value; if one ever were not, no cookie
            // is better than a panic.
            if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }

    fn with(mut self, c: Cookie<'static>) -> Self {
        self.0.push(c);
        self
    }
}

impl IntoResponseParts for SetCookies {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        self.apply(res.headers_mut());
        Ok(res)
    }
}

/// A cookie with the attributes every latchkey cookie shares. `max_age` 0
/// deletes it (the value is then empty).
fn build(
    settings: &Settings,
    name: &'static str,
    value: &str,
    path: &'static str,
    same_site: SameSite,
    http_only: bool,
    max_age: i64,
) -> Cookie<'static> {
    Cookie::build((name, value.to_owned()))
        .max_age(time::Duration::seconds(max_age.max(0)))
        .path(path)
        .http_only(http_only)
        .same_site(same_site)
        .secure(settings.secure_cookies())
        .build()
}

/// The two cookies of a refresh token. Both expire with the token.
pub fn refresh(
    settings: &Settings,
    refresh_token: &str,
    csrf_token: &str,
    max_age: i64,
) -> SetCookies {
    SetCookies::none()
        .with(build(
            settings,
            REFRESH_COOKIE,
            refresh_token,
            REFRESH_PATH,
            SameSite::Strict,
            true,
            max_age,
        ))
        .with(build(
            settings,
            CSRF_COOKIE,
            csrf_token,
            CSRF_PATH,
            SameSite::Strict,
            false,
            max_age,
        ))
}

/// Deletes both refresh cookies: same name, path and attributes, empty
/// value, `Max-Age=0`.
pub fn clear_refresh(settings: &Settings) -> SetCookies {
    refresh(settings, "", "", 0)
}

/// A cookie of the browser flows: `HttpOnly`, `SameSite=Lax` (sent on the
/// top-level navigation that brings the browser back from a client site to
/// `/v1/oauth/authorize`, not on cross-site subrequests or posts), `Path=/`.
fn lax(settings: &Settings, name: &'static str, value: &str, max_age: i64) -> SetCookies {
    SetCookies::none().with(build(
        settings,
        name,
        value,
        "/",
        SameSite::Lax,
        true,
        max_age,
    ))
}

/// The session cookie of a new browser session.
pub fn session(settings: &Settings, id: &str, max_age: i64) -> SetCookies {
    lax(settings, SESSION_COOKIE, id, max_age)
}

/// Deletes the session cookie (logout).
pub fn clear_session(settings: &Settings) -> SetCookies {
    lax(settings, SESSION_COOKIE, "", 0)
}

/// How long the `latchkey_browser` cookie lives (a year): it names the
/// browser, not a person, and carries no authority by itself.
const BROWSER_COOKIE_MAX_AGE: i64 = 365 * 24 * 3600;

/// The cookie that names a browser seen for the first time.
pub fn browser(settings: &Settings, value: &str) -> SetCookies {
    lax(settings, BROWSER_COOKIE, value, BROWSER_COOKIE_MAX_AGE)
}

/// A cookie of the console: `HttpOnly`, `SameSite=Lax` (the callback is
/// a top-level navigation back from the authorization endpoint),
/// `Path=/admin`.
fn console_cookie(
    settings: &Settings,
    name: &'static str,
    value: &str,
    max_age: i64,
) -> SetCookies {
    SetCookies::none().with(build(
        settings,
        name,
        value,
        ADMIN_PATH,
        SameSite::Lax,
        true,
        max_age,
    ))
}

/// The console's admission ticket.
pub fn admin(settings: &Settings, ticket: &str, max_age: i64) -> SetCookies {
    console_cookie(settings, ADMIN_COOKIE, ticket, max_age)
}

/// Deletes the console's admission (sign-out).
pub fn clear_admin(settings: &Settings) -> SetCookies {
    console_cookie(settings, ADMIN_COOKIE, "", 0)
}

/// The `state` of a console sign-in, for the callback to compare.
pub fn admin_state(settings: &Settings, state: &str) -> SetCookies {
    console_cookie(
        settings,
        ADMIN_STATE_COOKIE,
        state,
        crate::core::admin::console::STATE_TTL_SECONDS,
    )
}

/// Deletes the `state` cookie once the callback has used it.
pub fn clear_admin_state(settings: &Settings) -> SetCookies {
    console_cookie(settings, ADMIN_STATE_COOKIE, "", 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(cookies: SetCookies) -> Vec<String> {
        let mut h = HeaderMap::new();
        cookies.apply(&mut h);
        h.get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// `a` and `b` name the same cookie with the same attributes, whatever
    /// their order.
    fn same(a: &str, b: &str) -> bool {
        let (a, b) = (Cookie::parse(a).unwrap(), Cookie::parse(b).unwrap());
        a == b && a.same_site() == b.same_site() && a.path() == b.path()
    }

    #[test]
    fn parses_and_refuses_repeats() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; latchkey_csrf=xyz ;b=2"),
        );
        assert_eq!(single(&h, "latchkey_csrf"), Some("xyz"));
        assert_eq!(single(&h, "latchkey_refresh"), None);
        h.append(
            header::COOKIE,
            HeaderValue::from_static("latchkey_csrf=other"),
        );
        assert_eq!(single(&h, "latchkey_csrf"), None);
    }

    #[test]
    fn quoted_values_and_garbage() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("junk; latchkey_session=\"abc\"; =x; ;"),
        );
        assert_eq!(single(&h, "latchkey_session"), Some("abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("latchkey_session="),
        );
        assert_eq!(single(&h, "latchkey_session"), None);
    }

    #[test]
    fn attributes() {
        let https = Settings {
            issuer: "https://id.example.com".into(),
            ..Settings::default()
        };
        let all = set(refresh(&https, "r", "c", 60));
        assert_eq!(all.len(), 2);
        assert!(same(
            &all[0],
            "latchkey_refresh=r; Max-Age=60; Path=/v1; HttpOnly; SameSite=Strict; Secure"
        ));
        assert!(same(
            &all[1],
            "latchkey_csrf=c; Max-Age=60; Path=/; SameSite=Strict; Secure"
        ));
        assert!(!all[1].contains("HttpOnly"), "{all:?}");
        let cleared = set(clear_refresh(&Settings::default()));
        assert!(same(
            &cleared[0],
            "latchkey_refresh=; Max-Age=0; Path=/v1; HttpOnly; SameSite=Strict"
        ));
        assert!(!cleared[0].contains("Secure"), "{cleared:?}");
    }

    #[test]
    fn browser_flow_cookies_are_lax_http_only_and_secure_on_https() {
        let https = Settings {
            issuer: "https://id.example.com".into(),
            ..Settings::default()
        };
        let a = set(session(&https, "s", 60));
        let b = set(clear_session(&Settings::default()));
        assert!(same(
            &a[0],
            "latchkey_session=s; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        ));
        assert!(same(
            &b[0],
            "latchkey_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        ));
        assert!(b[0].starts_with("latchkey_session=;"), "{b:?}");
        assert!(!b[0].contains("Secure"), "{b:?}");
    }
}
