//! Cookie delivery for browser apps: the refresh token only ever in
//! an `HttpOnly` cookie, `POST /v1/refresh` with the double-submit CSRF
//! header, `POST /v1/signout`.

use latchkey::core::clients::TokenDelivery;
use latchkey_proto::TokenResponse;
use reqwest::header::{HeaderMap, SET_COOKIE};

use crate::common::TestServer;
use crate::common::first_party::{
    PASSWORD, expect_error, expect_tokens, first_party, first_party_public,
};

/// The `Set-Cookie` headers of a response.
fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// `actual` sets the same cookies as `expected`, attribute by attribute
/// (name, value, `Max-Age`, `Path`, `HttpOnly`, `SameSite`, `Secure`, and no
/// other), in the same order; the order of attributes within one header is
/// the serializer's.
fn assert_same_cookies<E: AsRef<str>>(actual: &[String], expected: &[E]) {
    use axum_extra::extract::cookie::Cookie;
    let attrs = |c: &Cookie| {
        (
            c.name().to_owned(),
            c.value().to_owned(),
            c.max_age(),
            c.path().map(str::to_owned),
            c.http_only(),
            c.same_site(),
            c.secure(),
            c.domain().map(str::to_owned),
            c.expires(),
        )
    };
    assert_eq!(actual.len(), expected.len(), "{actual:?}");
    for (a, e) in actual.iter().zip(expected) {
        let (pa, pe) = (
            Cookie::parse(a.as_str()).unwrap(),
            Cookie::parse(e.as_ref()).unwrap(),
        );
        assert_eq!(attrs(&pa), attrs(&pe), "{a} is not {}", e.as_ref());
        assert_eq!(
            a.split(';').count(),
            e.as_ref().split(';').count(),
            "{a} has other attributes than {}",
            e.as_ref()
        );
    }
}

/// The value of cookie `name` among `Set-Cookie` headers.
fn cookie_value(set: &[String], name: &str) -> String {
    let line = set
        .iter()
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} in {set:?}"));
    line.split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

/// A browser's cookie jar, reduced to what these tests need.
struct Browser {
    refresh: String,
    csrf: String,
}

impl Browser {
    fn from(set: &[String]) -> Browser {
        Browser {
            refresh: cookie_value(set, "latchkey_refresh"),
            csrf: cookie_value(set, "latchkey_csrf"),
        }
    }

    fn cookie_header(&self) -> String {
        format!(
            "latchkey_refresh={}; latchkey_csrf={}",
            self.refresh, self.csrf
        )
    }
}

async fn post(
    srv: &TestServer,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
) -> reqwest::Response {
    let mut req = srv.http.post(srv.url(path));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    req.send().await.unwrap()
}

both_backends! {
    /// The exact cookies of a sign-in on an http issuer: no `Secure`; the
    /// refresh token is nowhere in the body.
    async fn signin_sets_cookies_not_body(db) {
        let srv = TestServer::start(&db).await;
        let spa = srv.client(first_party_public(TokenDelivery::Cookie)).await;
        srv.user("alice@example.com", &[]).await;
        let resp = srv.signin(&spa, "alice@example.com", PASSWORD, None).await;
        assert_eq!(resp.status(), 200);
        let set = set_cookies(resp.headers());
        let text = resp.text().await.unwrap();
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert!(body.get("refresh_token").is_none(), "{text}");
        assert!(body["access_token"].is_string());

        let browser = Browser::from(&set);
        assert!(!text.contains(&browser.refresh), "the refresh token never reaches script");
        let max_age = 7 * 24 * 3600;
        assert_same_cookies(&set, &[
            format!("latchkey_refresh={}; Max-Age={max_age}; Path=/v1; HttpOnly; SameSite=Strict", browser.refresh),
            format!("latchkey_csrf={}; Max-Age={max_age}; Path=/; SameSite=Strict", browser.csrf),
        ]);
        assert_ne!(browser.refresh, browser.csrf);
    }
}

both_backends! {
    /// `Secure` follows the issuer's scheme, not the listener's.
    async fn https_issuer_adds_secure(db) {
        let srv = TestServer::start_with(&db, |s| s.issuer = "https://id.example.test".into()).await;
        let spa = srv.client(first_party_public(TokenDelivery::Cookie)).await;
        srv.user("bob@example.com", &[]).await;
        let resp = srv.signin(&spa, "bob@example.com", PASSWORD, None).await;
        assert_eq!(resp.status(), 200);
        let set = set_cookies(resp.headers());
        assert_eq!(set.len(), 2);
        let browser = Browser::from(&set);
        let max_age = 7 * 24 * 3600;
        assert_same_cookies(&set, &[
            format!("latchkey_refresh={}; Max-Age={max_age}; Path=/v1; HttpOnly; SameSite=Strict; Secure", browser.refresh),
            format!("latchkey_csrf={}; Max-Age={max_age}; Path=/; SameSite=Strict; Secure", browser.csrf),
        ]);

        // Clearing carries the same attributes.
        let resp = post(&srv, "/v1/signout", Some(&browser.cookie_header()), Some(&browser.csrf)).await;
        assert_eq!(resp.status(), 204);
        assert_same_cookies(&set_cookies(resp.headers()), &[
            "latchkey_refresh=; Max-Age=0; Path=/v1; HttpOnly; SameSite=Strict; Secure",
            "latchkey_csrf=; Max-Age=0; Path=/; SameSite=Strict; Secure",
        ]);
    }
}

both_backends! {
    /// `/v1/refresh`: 403 without or with a wrong `X-CSRF-Token`, 200 with the
    /// right one; it rotates and sets new cookies.
    async fn refresh_needs_the_csrf_header(db) {
        let srv = TestServer::start(&db).await;
        let spa = srv.client(first_party_public(TokenDelivery::Cookie)).await;
        let user = srv.user("carol@example.com", &[]).await;
        let resp = srv.signin(&spa, "carol@example.com", PASSWORD, Some("openid read")).await;
        let browser = Browser::from(&set_cookies(resp.headers()));
        let cookie = browser.cookie_header();

        expect_error(post(&srv, "/v1/refresh", Some(&cookie), None).await, 403, "invalid_csrf_token").await;
        expect_error(post(&srv, "/v1/refresh", Some(&cookie), Some("wrong")).await, 403, "invalid_csrf_token").await;
        // The CSRF cookie alone (without the header) is not enough either, nor
        // a header matching a planted CSRF cookie.
        let planted = format!("latchkey_refresh={}; latchkey_csrf=planted", browser.refresh);
        expect_error(post(&srv, "/v1/refresh", Some(&planted), Some("planted")).await, 403, "invalid_csrf_token").await;

        let resp = post(&srv, "/v1/refresh", Some(&cookie), Some(&browser.csrf)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let next = Browser::from(&set_cookies(resp.headers()));
        let tokens: TokenResponse = resp.json().await.unwrap();
        assert!(tokens.refresh_token.is_none());
        assert_eq!(srv.claims(&tokens.access_token).sub, user);
        assert_eq!(tokens.scope, "openid read");
        assert_ne!(next.refresh, browser.refresh);
        assert_ne!(next.csrf, browser.csrf, "a new CSRF token per issuance");

        // The new cookies work; the old ones are spent (and replaying them is reuse).
        let resp = post(&srv, "/v1/refresh", Some(&next.cookie_header()), Some(&next.csrf)).await;
        assert_eq!(resp.status(), 200);
        expect_error(post(&srv, "/v1/refresh", Some(&cookie), Some(&browser.csrf)).await, 400, "invalid_grant").await;

        // Without any cookie: nothing to refresh.
        expect_error(post(&srv, "/v1/refresh", None, Some("x")).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Sign-out with the cookie: 403 without CSRF; with it, 204, cleared
    /// cookies, and the family is dead.
    async fn signout_with_cookie(db) {
        let srv = TestServer::start(&db).await;
        let spa = srv.client(first_party_public(TokenDelivery::Cookie)).await;
        srv.user("dan@example.com", &[]).await;
        let resp = srv.signin(&spa, "dan@example.com", PASSWORD, None).await;
        let browser = Browser::from(&set_cookies(resp.headers()));
        let cookie = browser.cookie_header();

        expect_error(post(&srv, "/v1/signout", Some(&cookie), None).await, 403, "invalid_csrf_token").await;
        expect_error(post(&srv, "/v1/signout", Some(&cookie), Some("nope")).await, 403, "invalid_csrf_token").await;

        let resp = post(&srv, "/v1/signout", Some(&cookie), Some(&browser.csrf)).await;
        assert_eq!(resp.status(), 204);
        assert_same_cookies(&set_cookies(resp.headers()), &[
            "latchkey_refresh=; Max-Age=0; Path=/v1; HttpOnly; SameSite=Strict",
            "latchkey_csrf=; Max-Age=0; Path=/; SameSite=Strict",
        ]);
        expect_error(post(&srv, "/v1/refresh", Some(&cookie), Some(&browser.csrf)).await, 400, "invalid_grant").await;

        // Signing out again, or with no cookie at all, is fine.
        assert_eq!(post(&srv, "/v1/signout", Some(&cookie), Some(&browser.csrf)).await.status(), 204);
        assert_eq!(post(&srv, "/v1/signout", None, None).await.status(), 204);
    }
}

both_backends! {
    /// Sign-out with `refresh_token` in the body and client authentication
    /// (a server-side app); another client cannot sign someone else out.
    async fn signout_with_client_authentication(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let other = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("eve@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "eve@example.com").await.refresh_token.unwrap();

        // No client authentication: 401.
        let resp = srv.http.post(srv.url("/v1/signout")).form(&[("refresh_token", r0.as_str())]).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        // Another client: accepted, nothing happens.
        let resp = srv.http.post(srv.url("/v1/signout")).basic_auth(&other.id, other.secret.as_deref())
            .form(&[("refresh_token", r0.as_str())]).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        let r1 = expect_tokens(srv.refresh(&app, &r0, None).await).await.refresh_token.unwrap();

        let resp = srv.http.post(srv.url("/v1/signout")).basic_auth(&app.id, app.secret.as_deref())
            .json(&serde_json::json!({"refresh_token": r1})).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        expect_error(srv.refresh(&app, &r1, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// `/v1/refresh` serves only cookie clients: a body client's token planted
    /// in the cookie is refused (its owner would never see the new token).
    async fn refresh_cookie_is_for_cookie_clients(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("fay@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "fay@example.com").await.refresh_token.unwrap();
        let csrf = srv.server.app.server_key().mac_token(
            latchkey::core::csrf::REFRESH_COOKIE_PURPOSE,
            r0.as_bytes(),
        );
        let cookie = format!("latchkey_refresh={r0}; latchkey_csrf={csrf}");
        expect_error(post(&srv, "/v1/refresh", Some(&cookie), Some(&csrf)).await, 400, "invalid_grant").await;
        // Untouched.
        expect_tokens(srv.refresh(&app, &r0, None).await).await;
    }
}

both_backends! {
    /// A confidential cookie client refreshing at the token endpoint still
    /// gets its new refresh token as a cookie, never in the body.
    async fn token_endpoint_delivers_cookie_clients_by_cookie(db) {
        let srv = TestServer::start(&db).await;
        let bff = srv.client(first_party(TokenDelivery::Cookie)).await;
        srv.user("gus@example.com", &[]).await;
        let resp = srv.token_basic(&bff, &[("grant_type", "password"), ("username", "gus@example.com"), ("password", PASSWORD)]).await;
        let set = set_cookies(resp.headers());
        let tokens = expect_tokens(resp).await;
        assert!(tokens.refresh_token.is_none());
        let browser = Browser::from(&set);
        let resp = srv.refresh(&bff, &browser.refresh, None).await;
        let set = set_cookies(resp.headers());
        assert!(expect_tokens(resp).await.refresh_token.is_none());
        assert_eq!(set.len(), 2);
    }
}
