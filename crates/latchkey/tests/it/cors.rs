//! CORS for browser apps on other origins (docs/cors-and-tls.md), through
//! the real router on a loopback port: per-client origins on the token,
//! revocation, UserInfo and first-party endpoints, preflights, look-alike
//! origins, credentials on the cookie endpoints, `*` on the public
//! metadata, and nothing at all anywhere else.

use std::collections::BTreeMap;

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey_proto::TokenResponse;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::json;

use crate::common::first_party::{PASSWORD, first_party_public};
use crate::common::{TestClient, TestServer};

/// Registered by `svc`, a confidential client with body delivery.
const APP: &str = "https://app.example.com";
/// Registered by `spa`, a public first-party client with cookie delivery.
const SPA: &str = "https://spa.example.com";
/// Registered by `other`, a client no request here authenticates as.
const OTHER: &str = "https://other.example.com";
/// Registered by nobody.
const EVIL: &str = "https://evil.example.net";
/// Origins that resemble [`APP`] and are not it.
const LOOK_ALIKES: &[&str] = &[
    "https://app.example.com:8443",
    "http://app.example.com",
    "https://app.example.com.evil.net",
    "https://evilapp.example.com",
    "https://sub.app.example.com",
    "https://app.example.co",
    "HTTPS://APP.EXAMPLE.COM",
    "https://app.example.com/",
    "null",
];

const EMAIL: &str = "ada@example.com";

/// Every `access-control-*` header of an answer.
fn cors(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("access-control-"))
        .map(|(name, value)| (name.as_str().to_owned(), value.to_str().unwrap().to_owned()))
        .collect()
}

fn varies_on_origin(headers: &HeaderMap) -> bool {
    headers
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|v| v.trim().eq_ignore_ascii_case("origin"))
}

/// The actual answer allowed `origin`, with credentials or not.
#[track_caller]
fn assert_allowed(headers: &HeaderMap, origin: &str, credentials: bool, what: &str) {
    let h = cors(headers);
    assert_eq!(
        h.get("access-control-allow-origin").map(String::as_str),
        Some(origin),
        "{what}: {h:?}"
    );
    assert_eq!(
        h.get("access-control-allow-credentials")
            .map(String::as_str),
        credentials.then_some("true"),
        "{what}: {h:?}"
    );
    assert!(varies_on_origin(headers), "{what}: no Vary: Origin");
}

/// No `Access-Control-Allow-*` (nor any other CORS header) at all.
#[track_caller]
fn assert_refused(headers: &HeaderMap, what: &str) {
    let h = cors(headers);
    assert!(h.is_empty(), "{what}: {h:?}");
}

/// A preflight for `path` from `origin`.
async fn preflight(srv: &TestServer, path: &str, origin: &str, method: &str) -> reqwest::Response {
    srv.http
        .request(reqwest::Method::OPTIONS, srv.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type, dpop, x-csrf-token",
        )
        .send()
        .await
        .unwrap()
}

/// The clients and the user of these tests.
struct Setup {
    srv: TestServer,
    svc: TestClient,
    spa: TestClient,
}

async fn setup(db: &crate::common::TestDb) -> Setup {
    let srv = TestServer::start(db).await;
    let svc = srv
        .client(NewClient {
            name: "svc".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read").unwrap()),
            allowed_origins: vec![APP.into()],
            ..NewClient::default()
        })
        .await;
    let spa = srv
        .client(NewClient {
            allowed_origins: vec![SPA.into()],
            ..first_party_public(TokenDelivery::Cookie)
        })
        .await;
    srv.client(NewClient {
        name: "other".into(),
        grant_types: vec![GrantType::ClientCredentials],
        allowed_origins: vec![OTHER.into()],
        ..NewClient::default()
    })
    .await;
    srv.user(EMAIL, &[]).await;
    Setup { srv, svc, spa }
}

impl Setup {
    async fn client_credentials(&self, origin: Option<&str>, secret: &str) -> reqwest::Response {
        let mut req = self
            .srv
            .http
            .post(self.srv.url("/v1/oauth/token"))
            .basic_auth(&self.svc.id, Some(secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "read")]);
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        req.send().await.unwrap()
    }

    fn secret(&self) -> &str {
        self.svc.secret.as_deref().unwrap()
    }

    /// `/v1/signin` as the cookie SPA, from `origin`.
    async fn signin(&self, origin: &str) -> reqwest::Response {
        self.srv
            .http
            .post(self.srv.url("/v1/signin"))
            .header("origin", origin)
            .json(&json!({
                "client_id": self.spa.id,
                "username": EMAIL,
                "password": PASSWORD,
                "scope": "openid profile email",
            }))
            .send()
            .await
            .unwrap()
    }

    /// POSTs to a cookie endpoint with the cookies of `set` and the CSRF
    /// header, from `origin`.
    async fn cookie_post(&self, path: &str, set: &[String], origin: &str) -> reqwest::Response {
        let value = |name: &str| {
            set.iter()
                .find_map(|c| c.strip_prefix(&format!("{name}=")))
                .and_then(|c| c.split(';').next())
                .unwrap()
                .to_owned()
        };
        let (refresh, csrf) = (value("latchkey_refresh"), value("latchkey_csrf"));
        self.srv
            .http
            .post(self.srv.url(path))
            .header("origin", origin)
            .header(
                "cookie",
                format!("latchkey_refresh={refresh}; latchkey_csrf={csrf}"),
            )
            .header("x-csrf-token", csrf)
            .send()
            .await
            .unwrap()
    }
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

const LISTED: &[(&str, &str)] = &[
    ("/v1/oauth/token", "POST"),
    ("/v1/oauth/revoke", "POST"),
    ("/v1/userinfo", "GET"),
    ("/v1/userinfo", "POST"),
    ("/v1/signin", "POST"),
    ("/v1/refresh", "POST"),
    ("/v1/signout", "POST"),
];

both_backends! {
    /// A preflight from an origin some client registered: 204, the origin,
    /// the methods, the headers, a max age; credentials on the cookie
    /// endpoints, and on the endpoints that set the cookie when a cookie
    /// client registered the origin.
    async fn registered_origins_pass_preflight_on_every_listed_path(db) {
        let s = setup(&db).await;
        for &(path, method) in LISTED {
            for (origin, cookie_client) in [(APP, false), (SPA, true), (OTHER, false)] {
                let resp = preflight(&s.srv, path, origin, method).await;
                let what = format!("preflight {method} {path} from {origin}");
                assert_eq!(resp.status(), 204, "{what}");
                let h = cors(resp.headers());
                assert_eq!(h.get("access-control-allow-origin").map(String::as_str), Some(origin), "{what}");
                assert!(h["access-control-allow-methods"].contains(method), "{what}: {h:?}");
                let allowed = h["access-control-allow-headers"].to_ascii_lowercase();
                for header in ["authorization", "content-type", "dpop", "x-csrf-token"] {
                    assert!(allowed.contains(header), "{what}: {header} not in {allowed}");
                }
                assert!(h["access-control-max-age"].parse::<u32>().unwrap() > 0, "{what}");
                let credentials = match path {
                    "/v1/refresh" | "/v1/signout" => true,
                    "/v1/oauth/token" | "/v1/signin" => cookie_client,
                    _ => false,
                };
                assert_eq!(
                    h.get("access-control-allow-credentials").map(String::as_str),
                    credentials.then_some("true"),
                    "{what}"
                );
                assert!(varies_on_origin(resp.headers()), "{what}");
            }
        }
    }
}

both_backends! {
    /// A preflight from an origin nobody registered, or a look-alike of a
    /// registered one: 204 and no CORS header, so the browser stops there.
    async fn other_origins_fail_preflight(db) {
        let s = setup(&db).await;
        for &(path, method) in LISTED {
            for origin in std::iter::once(&EVIL).chain(LOOK_ALIKES) {
                let resp = preflight(&s.srv, path, origin, method).await;
                let what = format!("preflight {method} {path} from {origin}");
                assert_eq!(resp.status(), 204, "{what}");
                assert_refused(resp.headers(), &what);
                assert!(varies_on_origin(resp.headers()), "{what}");
            }
        }
    }
}

both_backends! {
    /// The actual requests: the origin of the client the request
    /// authenticated as is allowed, on success and on a refusal after
    /// authentication alike (the app must read its `invalid_scope`).
    async fn the_authenticated_clients_origin_is_allowed(db) {
        let s = setup(&db).await;

        // Step 1: the token endpoint, for the confidential client.
        let resp = s.client_credentials(Some(APP), s.secret()).await;
        assert_eq!(resp.status(), 200);
        assert_allowed(resp.headers(), APP, false, "token");
        assert!(cors(resp.headers())["access-control-expose-headers"].contains("WWW-Authenticate"));
        let issued: TokenResponse = resp.json().await.unwrap();
        let resp = s
            .srv
            .http
            .post(s.srv.url("/v1/oauth/token"))
            .header("origin", APP)
            .basic_auth(&s.svc.id, s.svc.secret.as_deref())
            .form(&[("grant_type", "client_credentials"), ("scope", "admin")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        assert_allowed(resp.headers(), APP, false, "token refused after authentication");

        // Step 2: revocation.
        let resp = s
            .srv
            .http
            .post(s.srv.url("/v1/oauth/revoke"))
            .header("origin", APP)
            .basic_auth(&s.svc.id, s.svc.secret.as_deref())
            .form(&[("token", issued.access_token.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_allowed(resp.headers(), APP, false, "revoke");

        // Step 3: the cookie SPA signs in: credentials, as it gets cookies.
        let resp = s.signin(SPA).await;
        assert_eq!(resp.status(), 200);
        assert_allowed(resp.headers(), SPA, true, "signin");
        let set = set_cookies(resp.headers());
        let tokens: TokenResponse = resp.json().await.unwrap();

        // Step 4: UserInfo, for the client the access token was issued to.
        for method in [reqwest::Method::GET, reqwest::Method::POST] {
            let resp = s
                .srv
                .http
                .request(method.clone(), s.srv.url("/v1/userinfo"))
                .header("origin", SPA)
                .bearer_auth(&tokens.access_token)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_allowed(resp.headers(), SPA, false, &format!("userinfo {method}"));
        }

        // Step 5: the cookie endpoints, for the client of the cookie.
        let resp = s.cookie_post("/v1/refresh", &set, SPA).await;
        assert_eq!(resp.status(), 200);
        assert_allowed(resp.headers(), SPA, true, "refresh");
        // The rotated cookie again: refused, and still the SPA's to read.
        let resp = s.cookie_post("/v1/refresh", &set, SPA).await;
        assert_eq!(resp.status(), 400, "reuse");
        assert_allowed(resp.headers(), SPA, true, "refused refresh");
        let set = set_cookies_of_first(&s).await;
        let resp = s.cookie_post("/v1/signout", &set, SPA).await;
        assert_eq!(resp.status(), 204);
        assert_allowed(resp.headers(), SPA, true, "signout");
        let resp = s.cookie_post("/v1/refresh", &set, SPA).await;
        assert_eq!(resp.status(), 400, "signed out");
        assert_allowed(resp.headers(), SPA, true, "refresh after signout");
    }
}

/// The cookies of a fresh sign-in of the SPA.
async fn set_cookies_of_first(s: &Setup) -> Vec<String> {
    let resp = s.signin(SPA).await;
    assert_eq!(resp.status(), 200);
    set_cookies(resp.headers())
}

both_backends! {
    /// Any origin but the authenticated client's gets no CORS header, and
    /// the request is otherwise answered as usual.
    async fn other_origins_get_no_cors_headers(db) {
        let s = setup(&db).await;
        let others = [EVIL, OTHER, SPA].into_iter().chain(LOOK_ALIKES.iter().copied());
        for origin in others {
            let resp = s.client_credentials(Some(origin), s.secret()).await;
            assert_eq!(resp.status(), 200, "answered as usual from {origin}");
            assert_refused(resp.headers(), origin);
            assert!(varies_on_origin(resp.headers()));
            let _: TokenResponse = resp.json().await.unwrap();
        }
        // Failed client authentication: no client, no CORS header.
        let resp = s.client_credentials(Some(APP), "wrong").await;
        assert_eq!(resp.status(), 401);
        assert_refused(resp.headers(), "wrong secret");

        // The SPA's sign-in and cookie refresh from the confidential
        // client's origin: done, and unreadable by that page.
        let resp = s.signin(APP).await;
        assert_eq!(resp.status(), 200);
        assert_refused(resp.headers(), "signin from another client's origin");
        let set = set_cookies(resp.headers());
        let resp = s.cookie_post("/v1/refresh", &set, OTHER).await;
        assert_eq!(resp.status(), 200);
        assert_refused(resp.headers(), "refresh from another client's origin");
        for origin in LOOK_ALIKES {
            let resp = s.signin(origin).await;
            assert_eq!(resp.status(), 200);
            assert_refused(resp.headers(), origin);
        }
    }
}

both_backends! {
    /// Servers and scripts send no `Origin`: nothing changes for them.
    async fn requests_without_origin_work_as_before(db) {
        let s = setup(&db).await;
        let resp = s.client_credentials(None, s.secret()).await;
        assert_eq!(resp.status(), 200);
        assert_refused(resp.headers(), "no Origin");
        assert!(varies_on_origin(resp.headers()));
        let resp = s.signin_without_origin().await;
        assert_eq!(resp.status(), 200);
        assert_refused(resp.headers(), "no Origin");
    }
}

impl Setup {
    async fn signin_without_origin(&self) -> reqwest::Response {
        self.srv
            .http
            .post(self.srv.url("/v1/signin"))
            .json(&json!({"client_id": self.spa.id, "username": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
    }
}

both_backends! {
    /// Discovery and the JWKS are public: `*`, for any origin or none, and
    /// their preflights too.
    async fn public_metadata_is_readable_from_anywhere(db) {
        let s = setup(&db).await;
        for path in [
            "/.well-known/openid-configuration",
            "/.well-known/oauth-authorization-server",
            "/.well-known/jwks.json",
        ] {
            for origin in [Some(EVIL), Some("null"), None] {
                let mut req = s.srv.http.get(s.srv.url(path));
                if let Some(o) = origin {
                    req = req.header("origin", o);
                }
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), 200);
                let h = cors(resp.headers());
                assert_eq!(h.get("access-control-allow-origin").map(String::as_str), Some("*"), "{path} {origin:?}");
                assert!(!h.contains_key("access-control-allow-credentials"));
            }
            let resp = preflight(&s.srv, path, EVIL, "GET").await;
            assert_eq!(resp.status(), 204);
            assert_eq!(cors(resp.headers())["access-control-allow-origin"], "*");
        }
    }
}

both_backends! {
    /// The authorization endpoint, the HTML pages and everything else
    /// never send a CORS header, even to a registered origin.
    async fn no_cors_on_authorize_pages_and_the_rest(db) {
        let s = setup(&db).await;
        let authorize = format!(
            "/v1/oauth/authorize?response_type=code&client_id={}&redirect_uri=x",
            s.spa.id
        );
        for path in [
            authorize.as_str(),
            "/login",
            "/consent",
            "/device",
            "/v1/oauth/logout",
            "/health/live",
            "/metrics",
            "/nowhere",
        ] {
            for origin in [APP, SPA] {
                let resp = s.srv.http.get(s.srv.url(path)).header("origin", origin).send().await.unwrap();
                assert_refused(resp.headers(), &format!("GET {path}"));
                let resp = preflight(&s.srv, path, origin, "POST").await;
                assert_refused(resp.headers(), &format!("preflight {path}"));
            }
        }
        // Introspection is for resource servers, not browsers.
        let resp = s
            .srv
            .http
            .post(s.srv.url("/v1/oauth/introspect"))
            .header("origin", APP)
            .basic_auth(&s.svc.id, s.svc.secret.as_deref())
            .form(&[("token", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_refused(resp.headers(), "introspect");
    }
}

both_backends! {
    /// Origins registered or removed by the CLI (another process) are
    /// honoured as soon as the clients generation is re-read; the CLI
    /// normalises what it is given and refuses what is not an origin.
    async fn origins_follow_registrations_made_elsewhere(db) {
        let srv = TestServer::start_with(&db, |s| s.client_cache_revalidate_ms = 0).await;
        let late = "https://late.example.com";
        let resp = preflight(&srv, "/v1/oauth/token", late, "POST").await;
        assert_refused(resp.headers(), "before registration");

        let created = db.cli_json(&[
            "client", "create", "--name", "late",
            "--grant-type", "client_credentials",
            "--allowed-origin", "HTTPS://Late.Example.com:443",
            "--allowed-origin", "http://localhost:5173",
            "--json",
        ]);
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let shown = db.cli_json(&["client", "show", &id, "--json"]);
        assert_eq!(shown["allowed_origins"], json!(["http://localhost:5173", late]));

        let resp = preflight(&srv, "/v1/oauth/token", late, "POST").await;
        assert_eq!(cors(resp.headers()).get("access-control-allow-origin").map(String::as_str), Some(late));
        let resp = srv
            .http
            .post(srv.url("/v1/oauth/token"))
            .header("origin", late)
            .basic_auth(&id, Some(&secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_allowed(resp.headers(), late, false, "a client made by the CLI");

        db.cli_json(&["client", "delete", &id, "--json"]);
        let resp = preflight(&srv, "/v1/oauth/token", late, "POST").await;
        assert_refused(resp.headers(), "after deletion");

        for bad in ["https://app.example.com/", "https://*.example.com", "null", "app.example.com"] {
            let out = db.cli(&["client", "create", "--name", "x", "--allowed-origin", bad]);
            assert!(!out.status.success(), "{bad} accepted");
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("allowed origin"), "{bad}: {err}");
        }
    }
}
