//! Passkeys (docs/mfa.md, "Passkeys") in a real browser: headless Chromium
//! with a virtual authenticator of WebAuthn's WebDriver extension, against
//! a server whose issuer is `http://localhost:<port>` (WebAuthn needs a
//! secure context and a domain for the RP id; `localhost` is both).
//! Register on `/account/passkeys`, sign in with the passkey alone through
//! an authorization code flow, and see a cloned authenticator (the same
//! private key with a stale sign counter) refused. Screenshots:
//! `docs/screenshots/passkeys-account.png`, `passkeys-login.png`.
//!
//! And through plain HTTP: what the pages refuse (no CSRF token, a
//! credential that is not one, a ceremony of another browser) is a page
//! with the status of its error, never a 500.

use std::path::PathBuf;

use base64::Engine as _;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;

use crate::common::browser::{Browser, pkce};
use crate::common::chromium::Chromium;
use crate::common::first_party::PASSWORD;
use crate::common::webdriver::{self, click, expect_text, expect_url, fill, password_login};
use crate::common::{TestDb, TestServer};

/// A server whose issuer (and so the WebAuthn RP id and origin) is
/// `http://localhost:<port>`; returns it and that base URL.
pub async fn localhost_server(db: &TestDb) -> (TestServer, String) {
    let srv = TestServer::start_with(db, |s| {
        s.issuer = s.issuer.replace("127.0.0.1", "localhost");
    })
    .await;
    let base = srv.url.replace("127.0.0.1", "localhost");
    (srv, base)
}

/// A first-party public client (no consent page) that redirects to a path
/// of the server itself, so that the browser lands on a URL it can read.
pub fn client(base: &str) -> NewClient {
    NewClient {
        name: "Notes".into(),
        public: true,
        first_party: true,
        redirect_uris: vec![format!("{base}/callback")],
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: Some(Scope::parse("openid profile email").unwrap()),
        ..NewClient::default()
    }
}

/// A screenshot for the passkeys guide, straight into `docs/screenshots/`.
pub async fn screenshot(b: &fantoccini::Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    webdriver::screenshot_to(b, dir, name).await;
}

/// The claims of a JWT, unverified (the ID token's signature is checked by
/// the OIDC tests; here only what it says matters).
pub fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Redeems the code of `callback` for `client_id`'s tokens.
pub async fn redeem(
    srv: &TestServer,
    base: &str,
    client_id: &str,
    verifier: &str,
    callback: &url::Url,
) -> serde_json::Value {
    let code = callback
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code in {callback}"));
    let resp = srv
        .http
        .post(srv.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{base}/callback")),
            ("client_id", client_id),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// An authorization request of `client_id` at `base`; returns its URL and
/// the PKCE verifier.
pub fn authorize_url(base: &str, client_id: &str) -> (String, String) {
    let (verifier, challenge) = pkce();
    let redirect = format!("{base}/callback");
    let url = url::Url::parse_with_params(
        &format!("{base}/v1/oauth/authorize"),
        &[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect.as_str()),
            ("scope", "openid email"),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .unwrap();
    (url.to_string(), verifier)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_sign_in_and_refuse_a_clone_in_a_browser() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;
    let db = TestDb::sqlite().await;
    let (srv, base) = localhost_server(&db).await;
    let user_id = srv.user("pia@example.com", &[]).await;
    let app = srv.client(client(&base)).await;
    let authenticator = browser.add_authenticator().await;

    // Step 1: the passkeys page sends a browser without a session to sign
    // in, and back.
    b.goto(&format!("{base}/account/passkeys")).await.unwrap();
    expect_url(b, &format!("{base}/login")).await;
    password_login(b, "pia@example.com", PASSWORD).await;
    expect_url(b, &format!("{base}/account/passkeys")).await;
    expect_text(b, "You have no passkey yet.").await;

    // Step 2: register one, named.
    fill(b, "#passkey-name", "Laptop").await;
    click(b, "#passkey-register button").await;
    expect_text(b, "Passkey added.").await;
    expect_text(b, "Laptop").await;
    expect_text(b, "never used").await;
    screenshot(b, "passkeys-account.png").await;
    let held = browser.credentials(&authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        held[0]["isResidentCredential"], true,
        "a discoverable credential"
    );
    assert_eq!(held[0]["rpId"], "localhost");

    // Step 3: signed out, an authorization request; on the login page,
    // "Sign in with a passkey", no username, no password.
    b.delete_all_cookies().await.unwrap();
    let (url, verifier) = authorize_url(&base, &app.id);
    b.goto(&url).await.unwrap();
    expect_url(b, &format!("{base}/login")).await;
    expect_text(b, "Sign in with a passkey").await;
    screenshot(b, "passkeys-login.png").await;
    click(b, "#passkey-signin button").await;
    let callback = expect_url(b, &format!("{base}/callback")).await;
    let tokens = redeem(&srv, &base, &app.id, &verifier, &callback).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["sub"], user_id.as_str());
    // A passkey with user verification is two factors (RFC 8176).
    assert_eq!(id_token["acr"], "2", "{id_token}");
    let amr = id_token["amr"].to_string();
    for m in ["\"user\"", "\"mfa\""] {
        assert!(amr.contains(m), "{amr}");
    }
    assert!(amr.contains("\"hwk\"") || amr.contains("\"swk\""), "{amr}");
    assert!(!amr.contains("\"pwd\""), "{amr}");

    // Step 3b: the password alone no longer signs this user in: the second
    // step asks for the passkey, and the ID token says both were used.
    b.delete_all_cookies().await.unwrap();
    let (url, verifier) = authorize_url(&base, &app.id);
    b.goto(&url).await.unwrap();
    expect_url(b, &format!("{base}/login")).await;
    password_login(b, "pia@example.com", PASSWORD).await;
    expect_url(b, &format!("{base}/login/mfa")).await;
    expect_text(b, "Use a passkey").await;
    click(b, "#passkey-mfa button").await;
    let callback = expect_url(b, &format!("{base}/callback")).await;
    let tokens = redeem(&srv, &base, &app.id, &verifier, &callback).await;
    let id_token = claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["acr"], "2", "{id_token}");
    let amr = id_token["amr"].to_string();
    for m in ["\"pwd\"", "\"user\"", "\"mfa\""] {
        assert!(amr.contains(m), "{amr}");
    }

    // The page lists when the passkey was last used.
    b.goto(&format!("{base}/account/passkeys")).await.unwrap();
    expect_text(b, "last used").await;

    // Step 4: the same private key in another authenticator, with a sign
    // counter below the one the server saw: refused, and no session.
    let mut cloned = browser.credentials(&authenticator).await.remove(0);
    assert!(cloned["signCount"].as_u64().unwrap() >= 1, "{cloned}");
    cloned["signCount"] = serde_json::json!(0);
    browser.remove_authenticator(&authenticator).await;
    let clone = browser.add_authenticator().await;
    browser.add_credential(&clone, cloned).await;
    b.delete_all_cookies().await.unwrap();
    b.goto(&format!("{base}/login")).await.unwrap();
    expect_text(b, "Sign in with a passkey").await;
    click(b, "#passkey-signin button").await;
    expect_text(b, "That passkey could not sign you in.").await;
    b.goto(&format!("{base}/account")).await.unwrap();
    expect_url(b, &format!("{base}/login")).await;
}

both_backends! {
    /// What the passkey endpoints refuse, over plain HTTP: no CSRF token
    /// (403), a credential that is not one or a ceremony that is not this
    /// browser's (the login page again, 401), a registration without a
    /// session (to the login page); never a 500. The options are JSON and
    /// the ceremony is single use.
    async fn refusals(db) {
        let (srv, base) = localhost_server(&db).await;
        srv.user("pia@example.com", &[]).await;
        let b = Browser::at(&base);
        let login = b.get("/login").await;
        assert_eq!(login.status, 200);
        assert!(login.body.contains(r#"<script src="/assets/passkeys.js"></script>"#), "{}", login.body);
        let csrf = login.inputs()["csrf_token"].clone();

        // No token: refused before anything is stored.
        let page = b.post("/login/passkey/options", &[]).await;
        assert_eq!(page.status, 403, "{}", page.body);

        // The options: a challenge, no credential named (discoverable).
        let resp = b
            .http
            .post(format!("{base}/login/passkey/options"))
            .form(&[("csrf_token", csrf.as_str()), ("request", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let started: serde_json::Value = resp.json().await.unwrap();
        let ceremony = started["ceremony"].as_str().unwrap().to_owned();
        let pk = &started["options"]["publicKey"];
        assert!(pk["challenge"].as_str().unwrap().len() >= 22, "{pk}");
        assert_eq!(pk["rpId"], "localhost");
        assert!(pk.get("allowCredentials").is_none_or(|a| a.as_array().unwrap().is_empty()), "{pk}");

        // Garbage for a credential: the login page again, saying so.
        for credential in ["", "{}", "not json", &"x".repeat(10_000)] {
            let page = b
                .post(
                    "/login/passkey",
                    &[
                        ("csrf_token", csrf.as_str()),
                        ("request", ""),
                        ("ceremony", ceremony.as_str()),
                        ("credential", credential),
                    ],
                )
                .await;
            assert_eq!(page.status, 401, "{}", page.body);
            assert!(page.body.contains("That passkey could not sign you in."), "{}", page.body);
        }

        // Another browser with this browser's ceremony id: refused too.
        let other = Browser::at(&base);
        let other_login = other.get("/login").await;
        let page = other
            .post(
                "/login/passkey",
                &[
                    ("csrf_token", other_login.inputs()["csrf_token"].as_str()),
                    ("request", ""),
                    ("ceremony", ceremony.as_str()),
                    ("credential", "{}"),
                ],
            )
            .await;
        assert_eq!(page.status, 401, "{}", page.body);

        // The account's passkey pages want a session.
        let page = b.get("/account/passkeys").await;
        assert_eq!(page.status, 303);
        assert_eq!(page.location.as_deref(), Some("/login?return_to=%2Faccount%2Fpasskeys"));
        let page = b.post("/account/passkeys", &[("csrf_token", csrf.as_str())]).await;
        assert_ne!(page.status, 500);

        // The script is served from our origin, as JavaScript.
        let js = b.get("/assets/passkeys.js").await;
        assert_eq!(js.status, 200);
        assert_eq!(js.headers["content-type"], "text/javascript; charset=utf-8");
        assert!(js.body.contains("navigator.credentials.create"));
    }
}

both_backends! {
    /// Signed in with a password, the passkeys page starts a registration
    /// (a discoverable credential with user verification, none of the
    /// user's passkeys again) and refuses a finish that is not one.
    async fn registration_options(db) {
        let (srv, base) = localhost_server(&db).await;
        srv.user("pia@example.com", &[]).await;
        let b = Browser::at(&base);
        let login = b.get("/login?return_to=%2Faccount%2Fpasskeys").await;
        let done = b
            .post(
                "/login",
                &[
                    ("csrf_token", login.inputs()["csrf_token"].as_str()),
                    ("request", ""),
                    ("return_to", "/account/passkeys"),
                    ("username", "pia@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(done.location.as_deref(), Some("/account/passkeys"), "{}", done.body);
        let page = b.get("/account/passkeys").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("You have no passkey yet."), "{}", page.body);
        assert!(page.body.contains("data-passkey-unsupported"), "the no-script message: {}", page.body);
        let csrf = page.inputs()["csrf_token"].clone();

        let resp = b
            .http
            .post(format!("{base}/account/passkeys/options"))
            .form(&[("csrf_token", csrf.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let started: serde_json::Value = resp.json().await.unwrap();
        let pk = &started["options"]["publicKey"];
        assert_eq!(pk["rp"]["id"], "localhost");
        assert_eq!(pk["user"]["name"], "pia@example.com");
        assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
        assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
        assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");

        let ceremony = started["ceremony"].as_str().unwrap();
        let page = b
            .post(
                "/account/passkeys",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("ceremony", ceremony),
                    ("credential", "{\"id\":\"x\"}"),
                    ("name", "Laptop"),
                ],
            )
            .await;
        assert_eq!(page.location.as_deref(), Some("/account/passkeys?error=failed"));
        // The ceremony was used up by that attempt.
        let page = b
            .post(
                "/account/passkeys",
                &[
                    ("csrf_token", csrf.as_str()),
                    ("ceremony", ceremony),
                    ("credential", "{}"),
                ],
            )
            .await;
        assert_eq!(page.location.as_deref(), Some("/account/passkeys?error=failed"));
        let page = b.get("/account/passkeys?error=failed").await;
        assert!(page.body.contains("The passkey could not be added."), "{}", page.body);
    }
}

both_backends! {
    /// An issuer whose host is an IP address has no WebAuthn RP id: the
    /// login page offers no passkey (and loads no script), and the
    /// passkey endpoints answer 404, not 500.
    async fn not_offered_without_a_domain(db) {
        let srv = TestServer::start(&db).await;
        let b = Browser::new(&srv);
        let login = b.get("/login").await;
        assert_eq!(login.status, 200);
        assert!(!login.body.contains("passkey"), "{}", login.body);
        assert!(!login.body.contains("<script"), "{}", login.body);
        let csrf = login.inputs()["csrf_token"].clone();
        let page = b
            .post("/login/passkey/options", &[("csrf_token", csrf.as_str()), ("request", "")])
            .await;
        assert_eq!(page.status, 404, "{}", page.body);
    }
}
