//! Accounts end to end (docs/accounts.md), through the real router on a
//! loopback port, with a real SMTP server on 127.0.0.1: registration,
//! verification, sign-in, registration inside an authorization request,
//! duplicate addresses, password reset (and what it kills), single use and
//! expiry of both links, the password rules, the account page, the JSON
//! endpoints' client authentication.

use latchkey::core::clients::TokenDelivery;
use latchkey::core::settings::{EmailVerification, Registration, Settings};
use latchkey_proto::TokenResponse;

use crate::common::browser::{Browser, Page, REDIRECT_URI, code_client, code_params, pkce};
use crate::common::first_party::{PASSWORD, expect_error, expect_tokens, first_party};
use crate::common::mail::MailCatcher;
use crate::common::{TestClient, TestDb, TestServer};

/// A password no rule refuses.
pub const NEW_PASSWORD: &str = "purple elephant on a unicycle";

/// A server with registration open and e-mail through `mail`.
pub async fn server(
    db: &TestDb,
    mail: &MailCatcher,
    tweak: impl FnOnce(&mut Settings),
) -> TestServer {
    let url = mail.url();
    TestServer::start_with(db, move |s| {
        s.registration = Registration::Open;
        s.smtp_url = Some(url);
        s.outbox_poll_interval_ms = 50;
        tweak(s);
    })
    .await
}

/// `POST path` with the first-party client's HTTP Basic and a JSON body.
pub async fn post_json(
    srv: &TestServer,
    client: &TestClient,
    path: &str,
    body: serde_json::Value,
) -> reqwest::Response {
    srv.http
        .post(srv.url(path))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Fills in and posts the `/register` form of `page`.
pub async fn submit_register(b: &Browser, page: &Page, email: &str, password: &str) -> Page {
    let inputs = page.inputs();
    b.post(
        "/register",
        &[
            ("csrf_token", inputs["csrf_token"].as_str()),
            ("request", inputs["request"].as_str()),
            ("email", email),
            ("name", "Zoe"),
            ("password", password),
        ],
    )
    .await
}

both_backends! {
    /// Register on the page → e-mail → verify → sign in; before the
    /// verification the right password is refused (the default
    /// `email_verification = "required"`), and the link works once.
    async fn register_verify_sign_in(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let b = Browser::new(&srv);

        // Step 1: the form, then the answer: "check your inbox".
        let form = b.get("/register").await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains(r#"name="email""#) && form.body.contains(r#"name="password""#));
        let done = submit_register(&b, &form, "Zoe@Example.com", NEW_PASSWORD).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Check your inbox"), "{}", done.body);

        // Step 2: the e-mail, with its link to /verify-email.
        let got = mail.wait_for("zoe@example.com", 1).await;
        let link = got[0].link("/verify-email").expect("a verification link");
        assert!(link.starts_with(&format!("{}/verify-email?token=", srv.url)), "{link}");

        // Step 3: not verified yet: the right password is refused, saying why.
        let resp = srv.signin(&app, "zoe@example.com", NEW_PASSWORD, None).await;
        let err = expect_error(resp, 400, "invalid_grant").await;
        assert!(err.error_description.unwrap().contains("not verified"));
        let login = b.get("/login").await;
        let refused = b.submit_login(&login, "zoe@example.com", NEW_PASSWORD).await;
        assert_eq!(refused.status, 401);
        assert!(refused.body.contains("not confirmed yet"), "{}", refused.body);

        // Step 4: the link verifies, once.
        let verified = b.get(&link).await;
        assert_eq!(verified.status, 200, "{}", verified.body);
        assert!(verified.body.contains("Email address confirmed"));
        let again = b.get(&link).await;
        assert_eq!(again.status, 400);
        assert!(again.body.contains("This link does not work"));

        // Step 5: signed in, by the API and on the page.
        let tokens = expect_tokens(srv.signin(&app, "zoe@example.com", NEW_PASSWORD, None).await).await;
        assert!(tokens.refresh_token.is_some());
        let login = b.get("/login").await;
        let ok = b.submit_login(&login, "zoe@example.com", NEW_PASSWORD).await;
        assert_eq!(ok.status, 200, "{}", ok.body);
        // Exactly one e-mail went out.
        assert_eq!(mail.to("zoe@example.com").len(), 1);
    }
}

both_backends! {
    /// Registration inside an authorization request: the login page links
    /// to /register for the same request, and once the address is verified
    /// the browser signs in and lands back at the client with a code.
    async fn registration_during_an_authorization_request_lands_back_with_a_code(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let client = srv.client(code_client(true)).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();

        // Step 1: the request sends the browser to the login page, which
        // links to /register for this request.
        let start = b.authorize(&code_params(&client.id, &challenge, "openid email")).await;
        let login_url = start.location.clone().unwrap();
        assert!(login_url.starts_with("/login?request="), "{login_url}");
        let request_id = login_url.trim_start_matches("/login?request=").to_owned();
        let login = b.get(&login_url).await;
        let register_href = format!("/register?request={request_id}");
        assert!(unescaped(&login.body).contains(&register_href), "{}", login.body);
        assert!(login.body.contains("/forgot-password"));

        // Step 2: register; the answer offers to continue to the same request.
        let form = b.get(&register_href).await;
        assert_eq!(form.status, 200, "{}", form.body);
        assert!(form.body.contains("Photo Printer"), "names the client");
        let done = submit_register(&b, &form, "ann@example.com", NEW_PASSWORD).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(unescaped(&done.body).contains(&format!("href=\"{login_url}\"")), "{}", done.body);

        // Step 3: verify, continue, sign in, allow: back at the client.
        let got = mail.wait_for("ann@example.com", 1).await;
        assert_eq!(b.get(&got[0].link("/verify-email").unwrap()).await.status, 200);
        let login = b.get(&login_url).await;
        let mut page = b.submit_login(&login, "ann@example.com", NEW_PASSWORD).await;
        if page.location.as_deref().is_some_and(|l| l.starts_with("/consent")) {
            let consent = b.get(page.location.as_deref().unwrap()).await;
            page = b.submit_consent(&consent, "allow").await;
        }
        let location = page.location.clone().unwrap_or_default();
        assert!(location.starts_with(REDIRECT_URI), "{location} {}", page.body);
        let code = page.redirect_param("code").expect("a code");
        assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));

        // Step 4: the code is good.
        let resp = srv
            .http
            .post(srv.url("/v1/oauth/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
                ("client_id", client.id.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let tokens = expect_tokens(resp).await;
        assert!(tokens.id_token.is_some());
    }
}

both_backends! {
    /// With `email_verification = "optional"` the new user signs in at once.
    async fn optional_verification_signs_in_at_once(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |s| s.email_verification = EmailVerification::Optional).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let resp = post_json(&srv, &app, "/v1/signup",
            serde_json::json!({"email": "opt@example.com", "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 201);
        expect_tokens(srv.signin(&app, "opt@example.com", NEW_PASSWORD, None).await).await;
        // The e-mail still goes out.
        mail.wait_for("opt@example.com", 1).await;
    }
}

both_backends! {
    /// An address that has an account (typed in another case) is answered
    /// exactly like a new one, and gets the "you already have an account"
    /// e-mail instead of a second verification link. No second user.
    async fn a_known_address_is_answered_like_a_new_one(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;

        let first = post_json(&srv, &app, "/v1/signup",
            serde_json::json!({"email": "bo@example.com", "password": NEW_PASSWORD, "name": "Bo"})).await;
        assert_eq!(first.status(), 201);
        assert_eq!(first.headers()["cache-control"], "no-store");
        let first: serde_json::Value = first.json().await.unwrap();
        let second = post_json(&srv, &app, "/v1/signup",
            serde_json::json!({"email": "BO@Example.COM", "password": "another fine password"})).await;
        assert_eq!(second.status(), 201);
        let second: serde_json::Value = second.json().await.unwrap();
        for v in [&first, &second] {
            let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["email", "email_verified", "id"], "{v}");
            assert_eq!(v["email_verified"], false);
        }
        assert_eq!(second["email"], "BO@Example.COM", "the address as typed");
        assert_ne!(first["id"], second["id"], "the known user's id is not given away");

        let got = mail.wait_for("bo@example.com", 2).await;
        let (verify, known): (Vec<_>, Vec<_>) =
            got.iter().partition(|m| m.link("/verify-email").is_some());
        assert_eq!(verify.len(), 1, "one verification e-mail");
        assert_eq!(known.len(), 1);
        assert!(known[0].subject().contains("already have an account"), "{}", known[0].subject());
        assert!(known[0].text().contains("/forgot-password"));
        // Still one user, with the first password.
        assert_eq!(
            latchkey::core::accounts::list_users(srv.server.app.store()).await.unwrap().len(),
            1
        );
        let login = srv.server.app.store();
        let user = latchkey::core::accounts::find_user(login, "bo@example.com").await.unwrap().unwrap();
        assert_eq!(user.email, "bo@example.com");
        assert_eq!(user.name.as_deref(), Some("Bo"));
    }
}

/// A user signed in twice: tokens from `/v1/signin` and a browser session.
async fn signed_in_everywhere(
    srv: &TestServer,
    app: &TestClient,
    email: &str,
    password: &str,
) -> (TokenResponse, Browser) {
    let tokens = expect_tokens(srv.signin(app, email, password, None).await).await;
    let b = Browser::new(srv);
    let login = b.get("/login").await;
    let page = b.submit_login(&login, email, password).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(b.get("/account").await.status, 200);
    (tokens, b)
}

both_backends! {
    /// Forgot → e-mail → reset: the new password works; the old one, the
    /// old refresh tokens and the old browser sessions are dead. The link
    /// works once; a refused password leaves it usable.
    async fn a_reset_kills_the_old_password_tokens_and_sessions(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("cy@example.com", &[]).await;
        let (old, browser) = signed_in_everywhere(&srv, &app, "cy@example.com", PASSWORD).await;

        // Step 1: ask for a link (JSON), get it by e-mail.
        let resp = post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": "CY@example.com"})).await;
        assert_eq!(resp.status(), 202);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let got = mail.wait_for("cy@example.com", 1).await;
        let token = got[0].token("/reset-password").expect("a reset link");

        // Step 2: a refused password names the rule and keeps the link.
        let resp = post_json(&srv, &app, "/v1/password/reset",
            serde_json::json!({"token": token, "password": "password1"})).await;
        let err = expect_error(resp, 400, "invalid_request").await;
        assert!(err.error_description.unwrap().contains("most common"));

        // Step 3: reset.
        let resp = post_json(&srv, &app, "/v1/password/reset",
            serde_json::json!({"token": token, "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 204, "{}", resp.text().await.unwrap());

        // Step 4: what it killed, and what it did not sign in.
        expect_error(srv.signin(&app, "cy@example.com", PASSWORD, None).await, 400, "invalid_grant").await;
        let refresh = old.refresh_token.unwrap();
        expect_error(srv.refresh(&app, &refresh, None).await, 400, "invalid_grant").await;
        let account = browser.get("/account").await;
        assert_eq!(account.status, 303, "the browser session ended");
        assert!(account.location.unwrap().starts_with("/login"));
        expect_tokens(srv.signin(&app, "cy@example.com", NEW_PASSWORD, None).await).await;

        // Step 5: the link worked once.
        let resp = post_json(&srv, &app, "/v1/password/reset",
            serde_json::json!({"token": token, "password": "yet another good password"})).await;
        expect_error(resp, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// The same reset through the pages.
    async fn the_reset_pages(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        srv.user("di@example.com", &[]).await;
        let b = Browser::new(&srv);
        let form = b.get("/forgot-password").await;
        assert_eq!(form.status, 200);
        let inputs = form.inputs();
        let sent = b.post("/forgot-password", &[("csrf_token", inputs["csrf_token"].as_str()), ("email", "di@example.com")]).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let got = mail.wait_for("di@example.com", 1).await;
        let link = got[0].link("/reset-password").unwrap();
        let page = b.get(&link).await;
        assert_eq!(page.status, 200);
        let inputs = page.inputs();
        assert!(inputs.contains_key("token"));
        // Too short: the form again, naming the rule.
        let short = b.post("/reset-password", &[("csrf_token", inputs["csrf_token"].as_str()), ("token", inputs["token"].as_str()), ("password", "abc")]).await;
        assert_eq!(short.status, 400);
        assert!(short.body.contains("at least 8 characters"), "{}", short.body);
        let done = b.post("/reset-password", &[("csrf_token", inputs["csrf_token"].as_str()), ("token", inputs["token"].as_str()), ("password", NEW_PASSWORD)]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("Password changed"));
        let reused = b.post("/reset-password", &[("csrf_token", inputs["csrf_token"].as_str()), ("token", inputs["token"].as_str()), ("password", NEW_PASSWORD)]).await;
        assert_eq!(reused.status, 400);
        // Another browser's CSRF token is refused.
        let other = Browser::new(&srv);
        let refused = other.post("/reset-password", &[("csrf_token", inputs["csrf_token"].as_str()), ("token", "x"), ("password", NEW_PASSWORD)]).await;
        assert_eq!(refused.status, 403);
    }
}

both_backends! {
    /// Both links expire: verification after 24 h, reset after 30 min (by
    /// the injected clock).
    async fn links_expire(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("ed@example.com", &[]).await;
        post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": "fay@example.com", "password": NEW_PASSWORD})).await;
        post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": "ed@example.com"})).await;
        let verify = mail.wait_for("fay@example.com", 1).await[0].link("/verify-email").unwrap();
        let reset = mail.wait_for("ed@example.com", 1).await[0].token("/reset-password").unwrap();

        // 30 minutes and a second: the reset link is dead, the verification
        // link still works...
        srv.clock.advance(30 * 60 + 1);
        let resp = post_json(&srv, &app, "/v1/password/reset", serde_json::json!({"token": reset, "password": NEW_PASSWORD})).await;
        expect_error(resp, 400, "invalid_grant").await;
        // ... until 24 hours have passed.
        srv.clock.advance(24 * 3600);
        let b = Browser::new(&srv);
        assert_eq!(b.get(&verify).await.status, 400);
        expect_error(srv.signin(&app, "fay@example.com", NEW_PASSWORD, None).await, 400, "invalid_grant").await;

        // A fresh reset link works (within its 30 minutes).
        post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": "ed@example.com"})).await;
        let reset = mail.wait_for("ed@example.com", 2).await[1].token("/reset-password").unwrap();
        srv.clock.advance(29 * 60);
        let resp = post_json(&srv, &app, "/v1/password/reset", serde_json::json!({"token": reset, "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 204);
    }
}

both_backends! {
    /// Each password rule, named in the error, on the JSON endpoint and the
    /// page; `password_min_length` moves the first one.
    async fn password_rules_are_named(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |s| s.password_min_length = 12).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        for (password, says) in [
            ("elevenchars", "at least 12 characters"),
            ("qwerty123456", "most common"),
            ("LeaveMeAlone", "most common"),
            (&"x".repeat(257) as &str, "at most 256"),
        ] {
            let resp = post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": "gil@example.com", "password": password})).await;
            let err = expect_error(resp, 400, "invalid_request").await;
            let d = err.error_description.unwrap();
            assert!(d.contains(says), "{password}: {d}");
        }
        let b = Browser::new(&srv);
        let form = b.get("/register").await;
        let page = submit_register(&b, &form, "gil@example.com", "qwerasdfzxcv").await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("one of the most common"), "{}", page.body);
        assert!(page.body.contains("value=\"gil@example.com\""), "the address is kept");
        let page = submit_register(&b, &form, "not-an-address", NEW_PASSWORD).await;
        assert_eq!(page.status, 400);
        assert!(page.body.contains("not an email address"));
        // Nothing was stored or sent.
        assert!(latchkey::core::accounts::list_users(srv.server.app.store()).await.unwrap().is_empty());
        assert!(mail.all().is_empty());
    }
}

both_backends! {
    /// Registration closed (the default): the page and the endpoint are 404.
    async fn closed_registration_is_not_there(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |s| s.registration = Registration::Closed).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let b = Browser::new(&srv);
        assert_eq!(b.get("/register").await.status, 404);
        let login = b.get("/login").await;
        assert!(!login.body.contains("/register"), "no link while closed");
        let resp = post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": "h@example.com", "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 404);
        // Forgetting a password works whatever the registration.
        let resp = post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": "h@example.com"})).await;
        assert_eq!(resp.status(), 202);
    }
}

both_backends! {
    /// The JSON endpoints authenticate the client as /v1/signin does and
    /// need the password grant.
    async fn the_json_endpoints_authenticate_the_client(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let wrong = TestClient { id: app.id.clone(), secret: Some("wrong".into()) };
        let code_only = srv.client(code_client(false)).await;
        for path in ["/v1/signup", "/v1/password/forgot", "/v1/password/reset"] {
            let body = serde_json::json!({"email": "i@example.com", "password": NEW_PASSWORD, "token": "t"});
            let resp = post_json(&srv, &wrong, path, body.clone()).await;
            assert!(resp.headers().contains_key("www-authenticate"), "{path}");
            expect_error(resp, 401, "invalid_client").await;
            expect_error(post_json(&srv, &code_only, path, body.clone()).await, 400, "unauthorized_client").await;
        }
        // A missing field is invalid_request.
        let resp = post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": "i@example.com"})).await;
        expect_error(resp, 400, "invalid_request").await;
        assert!(mail.all().is_empty());
    }
}

both_backends! {
    /// The account page: profile, browser sessions and signed-in apps with
    /// sign-out, consents with revocation (which also ends the app's
    /// refresh tokens), and a password change that ends every other
    /// session and family.
    async fn the_account_page(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        srv.user("jo@example.com", &[]).await;
        let client = srv.client(code_client(true)).await;
        let first_party_app = srv.client(first_party(TokenDelivery::Body)).await;

        // Without a session: to the login page and back.
        let anon = Browser::new(&srv);
        let to_login = anon.get("/account").await;
        assert_eq!(to_login.status, 303);
        assert_eq!(to_login.location.as_deref(), Some("/login?return_to=%2Faccount"));
        let login = anon.get(to_login.location.as_deref().unwrap()).await;
        let inputs = login.inputs();
        assert_eq!(inputs["return_to"], "/account");
        let back = anon.post("/login", &[
            ("csrf_token", inputs["csrf_token"].as_str()),
            ("request", ""),
            ("return_to", "/account"),
            ("username", "jo@example.com"),
            ("password", PASSWORD),
        ]).await;
        assert_eq!(back.location.as_deref(), Some("/account"), "{}", back.body);

        // Step 1: consent to a third-party app and get its tokens.
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let page = b.authorize_through(&code_params(&client.id, &challenge, "openid offline_access"), "jo@example.com").await;
        let code = page.redirect_param("code").unwrap();
        let tokens = expect_tokens(srv.http.post(srv.url("/v1/oauth/token")).form(&[
            ("grant_type", "authorization_code"), ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI), ("code_verifier", verifier.as_str()),
            ("client_id", client.id.as_str())]).send().await.unwrap()).await;
        let app_refresh = tokens.refresh_token.unwrap();
        let fp = expect_tokens(srv.signin(&first_party_app, "jo@example.com", PASSWORD, None).await).await;

        // Step 2: the page lists both sessions, both apps, the consent.
        let page = b.get("/account").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("jo@example.com"));
        assert!(page.body.contains("This browser"));
        assert!(page.body.contains("Photo Printer"));
        assert!(page.body.contains(">app<"), "the first-party app: {}", page.body);
        assert_eq!(page.body.matches("name=\"session\"").count(), 2, "two browser sessions");
        assert_eq!(page.body.matches("name=\"app\"").count(), 2, "two apps");
        assert_eq!(page.body.matches("name=\"client_id\"").count(), 1, "one consent");
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert_eq!(page.headers["cache-control"], "no-store");

        // Step 3: sign the other browser out from here.
        let csrf = page.inputs()["csrf_token"].clone();
        let mine = current_handle(&page.body);
        let other = session_handles(&page.body).into_iter().find(|h| *h != mine).unwrap();
        let out = b.post("/account/sign-out", &[("csrf_token", csrf.as_str()), ("session", other.as_str())]).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some("/account?done=signed_out"));
        assert_eq!(anon.get("/account").await.status, 303, "the other browser is signed out");
        assert_eq!(b.get("/account").await.status, 200, "this one is not");

        // Step 4: sign the first-party app out.
        let page = b.get("/account").await;
        let family = app_families(&page.body);
        assert_eq!(family.len(), 2);
        // Which family is the first-party one: the one that is not revoked
        // by revoking the consent below; sign both out in turn instead.
        let out = b.post("/account/sign-out", &[("csrf_token", csrf.as_str()), ("app", family[0].as_str())]).await;
        assert_eq!(out.status, 303);
        let page = b.get("/account").await;
        assert_eq!(app_families(&page.body).len(), 1);

        // Step 5: revoke the consent: the app's refresh token dies with it.
        let out = b.post("/account/consents/revoke", &[("csrf_token", csrf.as_str()), ("client_id", client.id.as_str())]).await;
        assert_eq!(out.location.as_deref(), Some("/account?done=revoked"));
        let page = b.get("/account?done=revoked").await;
        assert!(page.body.contains("Access revoked."));
        assert_eq!(page.body.matches("name=\"client_id\"").count(), 0);
        expect_error(srv.refresh(&client, &app_refresh, None).await, 400, "invalid_grant").await;
        // Consent is asked again.
        let again = b.authorize(&code_params(&client.id, &challenge, "openid")).await;
        assert!(again.location.unwrap().starts_with("/consent"));

        // A form from another browser (or no token) is refused.
        let refused = anon.post("/account/consents/revoke", &[("csrf_token", csrf.as_str()), ("client_id", client.id.as_str())]).await;
        assert_eq!(refused.status, 303, "no session there: sign in first");
        let third = Browser::new(&srv);
        let login = third.get("/login").await;
        third.submit_login(&login, "jo@example.com", PASSWORD).await;
        let refused = third.post("/account/sign-out", &[("csrf_token", csrf.as_str()), ("app", "x")]).await;
        assert_eq!(refused.status, 403, "a token bound to another session");

        // Step 6: change the password: wrong current one, weak new one,
        // then done; every other session and family ends, this one stays.
        let fp2 = expect_tokens(srv.signin(&first_party_app, "jo@example.com", PASSWORD, None).await).await;
        let out = b.post("/account/password", &[("csrf_token", csrf.as_str()), ("current_password", "nope nope nope"), ("new_password", NEW_PASSWORD)]).await;
        assert_eq!(out.location.as_deref(), Some("/account?error=wrong_password"));
        let out = b.post("/account/password", &[("csrf_token", csrf.as_str()), ("current_password", PASSWORD), ("new_password", "iloveyou")]).await;
        assert_eq!(out.location.as_deref(), Some("/account?error=too_common"));
        assert!(b.get(out.location.as_deref().unwrap()).await.body.contains("most common"));
        let out = b.post("/account/password", &[("csrf_token", csrf.as_str()), ("current_password", PASSWORD), ("new_password", NEW_PASSWORD)]).await;
        assert_eq!(out.location.as_deref(), Some("/account?done=password"));
        assert_eq!(b.get("/account").await.status, 200, "this session stays");
        assert_eq!(third.get("/account").await.status, 303, "the others end");
        expect_error(srv.refresh(&first_party_app, fp2.refresh_token.as_deref().unwrap(), None).await, 400, "invalid_grant").await;
        drop(fp);
        expect_tokens(srv.signin(&first_party_app, "jo@example.com", NEW_PASSWORD, None).await).await;

        // Step 7: signing this browser's own session out ends it.
        let page = b.get("/account").await;
        let mine = current_handle(&page.body);
        let out = b.post("/account/sign-out", &[("csrf_token", csrf.as_str()), ("session", mine.as_str())]).await;
        assert_eq!(out.status, 303);
        assert_eq!(b.get("/account").await.status, 303);
    }
}

/// A page's HTML with the escapes of attribute values undone.
fn unescaped(html: &str) -> String {
    html.replace("&#x2f;", "/").replace("&amp;", "&")
}

/// The values of the hidden `session` inputs of the account page.
fn session_handles(body: &str) -> Vec<String> {
    hidden_values(body, "session")
}

fn app_families(body: &str) -> Vec<String> {
    hidden_values(body, "app")
}

fn hidden_values(body: &str, name: &str) -> Vec<String> {
    let key = format!("name=\"{name}\" value=\"");
    body.match_indices(&key)
        .map(|(i, _)| {
            let rest = &body[i + key.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The handle of the session marked "This browser".
fn current_handle(body: &str) -> String {
    let at = body
        .find("<strong>This browser</strong>")
        .expect("the current session");
    let rest = &body[at..];
    let key = "name=\"session\" value=\"";
    let start = rest.find(key).unwrap() + key.len();
    rest[start..start + rest[start..].find('"').unwrap()].to_owned()
}
