//! The first-party cookies (SPEC §5): reading them off a request and writing
//! `Set-Cookie` headers with exactly the attributes the contract names.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::Settings;

/// The refresh token of a cookie-delivery client.
pub const REFRESH_COOKIE: &str = "latchkey_refresh";
/// The double-submit CSRF token that goes with it.
pub const CSRF_COOKIE: &str = "latchkey_csrf";
/// The header a script copies the CSRF cookie into.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Only requests under `/v1` (`/v1/refresh`, `/v1/signout`, and the token
/// endpoint) ever carry the refresh cookie.
const REFRESH_PATH: &str = "/v1";
/// The CSRF cookie must be readable by the app's scripts on any page of the
/// origin, and `document.cookie` only shows cookies whose path covers the
/// page's: hence `/`.
const CSRF_PATH: &str = "/";

/// Every value of cookie `name` on the request (normally one; several mean
/// someone planted a second one, which the callers refuse).
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .filter(|(k, _)| k.trim() == name)
        .map(|(_, v)| v.trim())
        .collect()
}

/// The single value of cookie `name`; `None` when absent, empty or repeated.
pub fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    match values(headers, name).as_slice() {
        [one] if !one.is_empty() => Some(one),
        _ => None,
    }
}

/// Appends the two cookies of a refresh token. Both expire with the token.
pub fn set_refresh_cookies(
    headers: &mut HeaderMap,
    settings: &Settings,
    refresh_token: &str,
    csrf_token: &str,
    max_age: i64,
) {
    let secure = settings.secure_cookies();
    append(
        headers,
        REFRESH_COOKIE,
        refresh_token,
        REFRESH_PATH,
        true,
        secure,
        max_age,
    );
    append(
        headers,
        CSRF_COOKIE,
        csrf_token,
        CSRF_PATH,
        false,
        secure,
        max_age,
    );
}

/// Appends headers that delete both cookies: same name, path and attributes,
/// empty value, `Max-Age=0`.
pub fn clear_refresh_cookies(headers: &mut HeaderMap, settings: &Settings) {
    let secure = settings.secure_cookies();
    append(headers, REFRESH_COOKIE, "", REFRESH_PATH, true, secure, 0);
    append(headers, CSRF_COOKIE, "", CSRF_PATH, false, secure, 0);
}

/// The browser session of the HTML flows (SPEC §6).
pub const SESSION_COOKIE: &str = "latchkey_session";
/// A random value naming the browser, to which pending authorization
/// requests and the forms' CSRF tokens are bound before anyone signs in.
pub const BROWSER_COOKIE: &str = "latchkey_browser";

/// Appends a cookie of the browser flows: `HttpOnly`, `SameSite=Lax` (sent
/// on the top-level navigation that brings the browser back from a client
/// site to `/v1/oauth/authorize`, not on cross-site subrequests or posts),
/// `Path=/`, `Secure` when the issuer is https. `max_age` 0 deletes it.
pub fn set_lax(
    headers: &mut HeaderMap,
    settings: &Settings,
    name: &str,
    value: &str,
    max_age: i64,
) {
    let mut cookie = format!(
        "{name}={value}; Max-Age={}; Path=/; HttpOnly; SameSite=Lax",
        max_age.max(0)
    );
    if settings.secure_cookies() {
        cookie.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, v);
    }
}

fn append(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    http_only: bool,
    secure: bool,
    max_age: i64,
) {
    let mut cookie = format!("{name}={value}; Max-Age={}; Path={path}", max_age.max(0));
    if http_only {
        cookie.push_str("; HttpOnly");
    }
    cookie.push_str("; SameSite=Strict");
    if secure {
        cookie.push_str("; Secure");
    }
    // Values are base64url and the attributes fixed ASCII: always a valid
    // header value; if one ever were not, no cookie is better than a panic.
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(header::SET_COOKIE, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn attributes() {
        let mut h = HeaderMap::new();
        let https = Settings {
            issuer: "https://id.example.com".into(),
            ..Settings::default()
        };
        set_refresh_cookies(&mut h, &https, "r", "c", 60);
        let all: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            all,
            [
                "latchkey_refresh=r; Max-Age=60; Path=/v1; HttpOnly; SameSite=Strict; Secure",
                "latchkey_csrf=c; Max-Age=60; Path=/; SameSite=Strict; Secure",
            ]
        );
    }

    #[test]
    fn browser_flow_cookies_are_lax_http_only_and_secure_on_https() {
        let mut h = HeaderMap::new();
        let https = Settings {
            issuer: "https://id.example.com".into(),
            ..Settings::default()
        };
        set_lax(&mut h, &https, SESSION_COOKIE, "s", 60);
        set_lax(&mut h, &Settings::default(), SESSION_COOKIE, "", 0);
        let all: Vec<&str> = h
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            all,
            [
                "latchkey_session=s; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure",
                "latchkey_session=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax",
            ]
        );
    }
}
