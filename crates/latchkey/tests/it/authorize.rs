//! The authorization code flow through the real pages (docs/browser-flows.md): every
//! failure the contract names, on both backends.

use latchkey_proto::{ErrorBody, IdTokenClaims, TokenResponse};
use serde_json::Value;

use crate::common::browser::{Browser, REDIRECT_URI, code_client, code_params, pkce};
use crate::common::{TestClient, TestServer, verify_with_jwks};

const EMAIL: &str = "ada@example.com";

async fn exchange(
    srv: &TestServer,
    client: &TestClient,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    match &client.secret {
        Some(_) => srv.token_basic(client, &form).await,
        None => {
            form.push(("client_id", client.id.as_str()));
            srv.http
                .post(srv.url("/v1/oauth/token"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    }
}

fn assert_page_headers(h: &reqwest::header::HeaderMap) {
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
}

both_backends! {
    /// Login, consent, code, tokens, ID token; then a second request rides the
    /// session and the remembered consent straight back with a code.
    async fn code_flow_end_to_end(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        let user_id = srv.user(EMAIL, &["reader"]).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();

        // Step 1: the authorization request sends the browser to the login page.
        let params = code_params(&client.id, &challenge, "openid profile email offline_access");
        let first = b.authorize(&params).await;
        assert_eq!(first.status, 303);
        let login_url = first.location.clone().unwrap();
        assert!(login_url.starts_with("/login?request="), "{login_url}");
        let login = b.get(&login_url).await;
        assert_eq!(login.status, 200);
        assert_page_headers(&login.headers);
        assert!(login.body.contains("<form method=\"post\""));
        assert!(login.body.contains("name=\"username\"") && login.body.contains("name=\"password\""));
        assert!(login.body.contains("Photo Printer"));

        // Step 2: a wrong password shows the form again.
        let wrong = b.submit_login(&login, EMAIL, "not it").await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("do not match"));

        // Step 3: the right one leads to the consent page.
        let after_login = b.submit_login(&login, EMAIL, crate::common::first_party::PASSWORD).await;
        assert_eq!(after_login.status, 303);
        let set_cookie: Vec<_> = after_login.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        let session_cookie = set_cookie.iter().find(|c| c.starts_with("latchkey_session=")).unwrap();
        assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
        assert!(!session_cookie.contains("Secure"), "http issuer: no Secure");
        let consent = b.get(after_login.location.as_deref().unwrap()).await;
        assert_eq!(consent.status, 200);
        assert_page_headers(&consent.headers);
        assert!(consent.body.contains("name=\"decision\" value=\"allow\""));
        assert!(consent.body.contains("name=\"decision\" value=\"deny\""));
        assert!(consent.body.contains("See your email address"));

        // Step 4: allow; back to the client with code, state and iss.
        let back = b.submit_consent(&consent, "allow").await;
        assert_eq!(back.status, 303);
        assert!(back.location.as_deref().unwrap().starts_with(REDIRECT_URI));
        assert_eq!(back.redirect_param("state").as_deref(), Some("st-123"));
        assert_eq!(back.redirect_param("iss").as_deref(), Some(srv.url.as_str()));
        let code = back.redirect_param("code").unwrap();

        // Step 5: exchange the code.
        let resp = exchange(&srv, &client, &code, &verifier).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tokens: TokenResponse = resp.json().await.unwrap();
        assert!(tokens.refresh_token.is_some(), "the client has the refresh_token grant");
        let id_token = tokens.id_token.clone().unwrap();
        let (header, claims): (_, IdTokenClaims) = verify_with_jwks(
            &id_token, &srv.jwks().await, jsonwebtoken::Algorithm::RS256, &srv.url, &client.id,
        ).unwrap();
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        assert_eq!(claims.sub, user_id);
        assert_eq!(claims.nonce.as_deref(), Some("n-456"));
        assert!(claims.auth_time.is_some());
        assert_eq!(
            claims.at_hash.as_deref(),
            Some(latchkey::core::tokens::at_hash(latchkey::core::keys::SigningAlg::RS256, &tokens.access_token).as_str())
        );

        // Userinfo answers the claims of the granted scopes.
        let info: Value = srv.http.get(srv.url("/v1/userinfo")).bearer_auth(&tokens.access_token)
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(info["sub"], user_id);
        assert_eq!(info["email"], EMAIL);
        let bad = srv.http.post(srv.url("/v1/userinfo")).bearer_auth("garbage").send().await.unwrap();
        assert_eq!(bad.status(), 401);
        assert_eq!(bad.headers()["www-authenticate"], "Bearer error=\"invalid_token\"");

        // Step 6: the session and the remembered consent: straight back.
        let (_v2, c2) = pkce();
        let again = b.authorize(&code_params(&client.id, &c2, "openid email")).await;
        assert_eq!(again.status, 303);
        assert!(again.redirect_param("code").is_some(), "{:?}", again.location);

        // A scope not yet consented to asks again.
        let (_v3, c3) = pkce();
        let more = b.authorize(&code_params(&client.id, &c3, "openid read")).await;
        assert!(more.location.as_deref().unwrap().starts_with("/consent"));

        // prompt=login forces the login page despite the session.
        let mut forced = code_params(&client.id, &c3, "openid");
        forced.push(("prompt", "login"));
        let forced = b.authorize(&forced).await;
        let forced_login = forced.location.clone().unwrap();
        assert!(forced_login.starts_with("/login"));

        // The request waiting for that login cannot be carried to the consent
        // page by hand and approved by the old session: the consent page sends
        // it back to the login, and a forged consent POST (with the login
        // page's own CSRF token) issues nothing.
        let by_hand = forced_login.replacen("/login", "/consent", 1);
        let skipped = b.get(&by_hand).await;
        assert_eq!(skipped.status, 303);
        assert!(skipped.location.as_deref().unwrap().starts_with("/login"), "{:?}", skipped.location);
        let login_page = b.get(&forced_login).await;
        let inputs = login_page.inputs();
        let forged = b
            .post(
                "/consent",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("request", inputs["request"].as_str()),
                    ("decision", "allow"),
                ],
            )
            .await;
        assert!(forged.redirect_param("code").is_none(), "{:?} {}", forged.location, forged.body);
        // The real login still completes the request.
        let done = b.submit_login(&login_page, EMAIL, crate::common::first_party::PASSWORD).await;
        let done = if done.location.as_deref().is_some_and(|l| l.starts_with("/consent")) {
            let consent = b.get(done.location.as_deref().unwrap()).await;
            b.submit_consent(&consent, "allow").await
        } else {
            done
        };
        assert!(done.redirect_param("code").is_some(), "{:?} {}", done.location, done.body);
    }
}

both_backends! {
    /// An unknown client or an unregistered redirect_uri: a 400 page, no redirect.
    async fn untrusted_requests_get_an_error_page(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        let b = Browser::new(&srv);
        let (_v, challenge) = pkce();
        let mut unknown = code_params("no-such-client", &challenge, "openid");
        let page = b.authorize(&unknown).await;
        assert_eq!(page.status, 400);
        assert!(page.location.is_none());
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_page_headers(&page.headers);

        for bad in ["http://evil.example/callback", "http://127.0.0.1:9/callback/", "http://127.0.0.1:9/callback?x=1"] {
            let mut params = code_params(&client.id, &challenge, "openid");
            params[2] = ("redirect_uri", bad);
            let page = b.authorize(&params).await;
            assert_eq!(page.status, 400, "{bad}");
            assert!(page.location.is_none());
        }
        unknown.retain(|(k, _)| *k != "redirect_uri");
        unknown[1] = ("client_id", client.id.as_str());
        let page = b.authorize(&unknown).await;
        assert_eq!(page.status, 400, "a missing redirect_uri is never guessed");

        // Garbage and duplicates never make a 500.
        let page = b.get("/v1/oauth/authorize?client_id=a&client_id=b").await;
        assert_eq!(page.status, 400);
        let page = b.get("/v1/oauth/authorize?%zz=%00").await;
        assert!(page.status < 500);
    }
}

both_backends! {
    /// Errors after the redirect_uri is trusted go back to the client with
    /// state and iss: PKCE missing or plain, response_type, prompt=none.
    async fn errors_redirect_with_state_and_iss(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (_v, challenge) = pkce();
        let check = |page: &crate::common::browser::Page, error: &str| {
            assert_eq!(page.status, 303, "{}", page.body);
            assert!(page.location.as_deref().unwrap().starts_with(REDIRECT_URI));
            assert_eq!(page.redirect_param("error").as_deref(), Some(error), "{:?}", page.location);
            assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));
            assert_eq!(page.redirect_param("iss").as_deref(), Some(srv.url.as_str()));
        };

        let mut no_pkce = code_params(&client.id, &challenge, "openid");
        no_pkce.retain(|(k, _)| !k.starts_with("code_challenge"));
        check(&b.authorize(&no_pkce).await, "invalid_request");

        let mut plain = code_params(&client.id, &challenge, "openid");
        plain.retain(|(k, _)| *k != "code_challenge_method");
        plain.push(("code_challenge_method", "plain"));
        check(&b.authorize(&plain).await, "invalid_request");

        let mut token = code_params(&client.id, &challenge, "openid");
        token[0] = ("response_type", "token");
        check(&b.authorize(&token).await, "unsupported_response_type");

        let mut scope = code_params(&client.id, &challenge, "openid admin");
        scope.truncate(8);
        check(&b.authorize(&scope).await, "invalid_scope");

        let mut target = code_params(&client.id, &challenge, "openid");
        target.push(("resource", "https://other.example.com"));
        check(&b.authorize(&target).await, "invalid_target");

        // prompt=none without a session.
        let mut none = code_params(&client.id, &challenge, "openid");
        none.push(("prompt", "none"));
        check(&b.authorize(&none).await, "login_required");

        // Signed in, but no consent yet: consent_required.
        let signed_in = b.authorize_through(&code_params(&client.id, &challenge, "openid"), EMAIL).await;
        assert!(signed_in.redirect_param("code").is_some());
        let mut none = code_params(&client.id, &challenge, "openid email");
        none.push(("prompt", "none"));
        check(&b.authorize(&none).await, "consent_required");

        // Consent denied: access_denied.
        let ask = b.authorize(&code_params(&client.id, &challenge, "openid email")).await;
        let consent = b.get(ask.location.as_deref().unwrap()).await;
        check(&b.submit_consent(&consent, "deny").await, "access_denied");

        // max_age=0 with an older sign-in: the login page again.
        srv.clock.advance(5);
        let mut aged = code_params(&client.id, &challenge, "openid");
        aged.push(("max_age", "1"));
        let page = b.authorize(&aged).await;
        assert!(page.location.as_deref().unwrap().starts_with("/login"));
    }
}

both_backends! {
    /// A wrong verifier fails; a replayed code fails and kills what the first
    /// redemption issued (access token denied, refresh family revoked).
    async fn code_replay_revokes_the_first_tokens(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(false)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let back = b.authorize_through(&code_params(&client.id, &challenge, "openid offline_access"), EMAIL).await;
        let code = back.redirect_param("code").unwrap();

        let (wrong, _) = pkce();
        let resp = exchange(&srv, &client, &code, &wrong).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.json::<ErrorBody>().await.unwrap().error, "invalid_grant");

        let first: TokenResponse = exchange(&srv, &client, &code, &verifier).await.json().await.unwrap();
        let introspect = |token: String| {
            let srv = &srv;
            let client = &client;
            async move {
                let v: Value = srv.http.post(srv.url("/v1/oauth/introspect"))
                    .basic_auth(&client.id, client.secret.as_deref())
                    .form(&[("token", token.as_str())]).send().await.unwrap().json().await.unwrap();
                v["active"].as_bool().unwrap()
            }
        };
        assert!(introspect(first.access_token.clone()).await);

        let replay = exchange(&srv, &client, &code, &verifier).await;
        assert_eq!(replay.status(), 400);
        assert_eq!(replay.json::<ErrorBody>().await.unwrap().error, "invalid_grant");
        assert!(!introspect(first.access_token.clone()).await, "the replay denies the first access token");
        let refresh = srv.token_basic(&client, &[
            ("grant_type", "refresh_token"),
            ("refresh_token", first.refresh_token.as_deref().unwrap()),
        ]).await;
        assert_eq!(refresh.status(), 400);
        assert_eq!(refresh.json::<ErrorBody>().await.unwrap().error, "invalid_grant");

        // An expired code (60 s) fails too.
        let (v2, c2) = pkce();
        let back = b.authorize_through(&code_params(&client.id, &c2, "openid"), EMAIL).await;
        let code = back.redirect_param("code").unwrap();
        srv.clock.advance(61);
        let resp = exchange(&srv, &client, &code, &v2).await;
        assert_eq!(resp.status(), 400);
    }
}

both_backends! {
    /// CSRF tokens: missing, or from another browser, are refused on the
    /// login and consent forms; a request id from another browser is too.
    async fn csrf_tokens_are_bound_to_the_browser(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        let (_v, challenge) = pkce();
        let params = code_params(&client.id, &challenge, "openid");
        let pw = crate::common::first_party::PASSWORD;

        let a = Browser::new(&srv);
        let b = Browser::new(&srv);
        let la = a.get(a.authorize(&params).await.location.as_deref().unwrap()).await;
        let lb = b.get(b.authorize(&params).await.location.as_deref().unwrap()).await;
        let ia = la.inputs();
        let ib = lb.inputs();

        let missing = a.post("/login", &[("request", ia["request"].as_str()), ("username", EMAIL), ("password", pw)]).await;
        assert_eq!(missing.status, 403);
        assert_page_headers(&missing.headers);
        let foreign = a.post("/login", &[
            ("request", ia["request"].as_str()), ("csrf_token", ib["csrf_token"].as_str()),
            ("username", EMAIL), ("password", pw),
        ]).await;
        assert_eq!(foreign.status, 403);
        // B's own token with A's request id: the request belongs to A.
        let stolen = b.post("/login", &[
            ("request", ia["request"].as_str()), ("csrf_token", ib["csrf_token"].as_str()),
            ("username", EMAIL), ("password", pw),
        ]).await;
        assert!(stolen.status == 403 || stolen.status == 400, "{}", stolen.status);
        assert!(b.get(&format!("/login?request={}", ia["request"])).await.status == 400);

        // The consent form.
        let to_consent = a.submit_login(&la, EMAIL, pw).await;
        let consent = a.get(to_consent.location.as_deref().unwrap()).await;
        let ic = consent.inputs();
        let missing = a.post("/consent", &[("request", ic["request"].as_str()), ("decision", "allow")]).await;
        assert_eq!(missing.status, 403);
        let foreign = a.post("/consent", &[
            ("request", ic["request"].as_str()), ("csrf_token", ib["csrf_token"].as_str()), ("decision", "allow"),
        ]).await;
        assert_eq!(foreign.status, 403);
        let ok = a.submit_consent(&consent, "allow").await;
        assert!(ok.redirect_param("code").is_some());
    }
}

both_backends! {
    /// Logout ends the session everywhere: cookie cleared and server row gone;
    /// it redirects only to a registered post_logout_redirect_uri.
    async fn logout_and_user_revocation_end_sessions(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        let user_id = srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let back = b.authorize_through(&code_params(&client.id, &challenge, "openid"), EMAIL).await;
        let tokens: TokenResponse = exchange(&srv, &client, &back.redirect_param("code").unwrap(), &verifier)
            .await.json().await.unwrap();
        let id_token = tokens.id_token.unwrap();
        let mut none = code_params(&client.id, &challenge, "openid");
        none.push(("prompt", "none"));
        assert!(b.authorize(&none).await.redirect_param("code").is_some());

        // Log out: the ID token is a hint even once expired.
        srv.clock.advance(3600);
        let url = url::Url::parse_with_params(&srv.url("/v1/oauth/logout"), &[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", crate::common::browser::POST_LOGOUT_URI),
            ("state", "bye"),
        ]).unwrap();
        let out = b.get(url.as_str()).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some(format!("{}?state=bye", crate::common::browser::POST_LOGOUT_URI).as_str()));
        let cleared = out.headers.get_all("set-cookie").iter().any(|v| {
            let v = v.to_str().unwrap();
            v.starts_with("latchkey_session=;") && v.contains("Max-Age=0")
        });
        assert!(cleared);
        let page = b.authorize(&none).await;
        assert_eq!(page.redirect_param("error").as_deref(), Some("login_required"));
        // The server row is gone too (not just this browser's cookie).
        use latchkey::core::sessions::SessionStore as _;
        assert_eq!(srv.server.app.store().delete_user_sessions(&user_id.as_str().into(), srv.now()).await.unwrap(), 0);

        // An unregistered post_logout_redirect_uri: the signed-out page.
        let url = url::Url::parse_with_params(&srv.url("/v1/oauth/logout"), &[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", "http://evil.example/"),
        ]).unwrap();
        let out = b.get(url.as_str()).await;
        assert_eq!(out.status, 200);
        assert!(out.location.is_none());
        assert!(out.body.contains("signed out"));
        assert_page_headers(&out.headers);

        // user revoke-sessions ends browser sessions too.
        let b2 = Browser::new(&srv);
        b2.authorize_through(&code_params(&client.id, &challenge, "openid"), EMAIL).await;
        assert!(b2.authorize(&none).await.redirect_param("code").is_some());
        let revoked = latchkey::core::accounts::revoke_sessions(srv.server.app.store(), &user_id.as_str().into(), srv.now()).await.unwrap();
        assert_eq!(revoked.browser_sessions, 1);
        assert_eq!(b2.authorize(&none).await.redirect_param("error").as_deref(), Some("login_required"));
    }
}

both_backends! {
    /// Of concurrent redemptions of one code, exactly one gets tokens.
    async fn concurrent_redemptions_yield_one_success(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let back = b.authorize_through(&code_params(&client.id, &challenge, "openid"), EMAIL).await;
        let code = back.redirect_param("code").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let http = srv.http.clone();
            let url = srv.url("/v1/oauth/token");
            let form: Vec<(String, String)> = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", verifier.as_str()),
                ("client_id", client.id.as_str()),
            ]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
            tasks.push(tokio::spawn(async move {
                let resp = http.post(url).form(&form).send().await.unwrap();
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap();
                (status, body["error"].as_str().map(str::to_owned))
            }));
        }
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        // Exactly one success; every other redemption is the replay answer
        // of RFC 6749 §4.1.2, `invalid_grant`, and nothing else.
        let successes = results.iter().filter(|r| **r == (200, None)).count();
        let replays = results.iter().filter(|r| **r == (400, Some("invalid_grant".to_owned()))).count();
        assert_eq!((successes, replays), (1, 7), "{results:?}");
    }
}

both_backends! {
    /// The login page shares /v1/signin's brute-force limits: 429 page.
    async fn login_page_is_rate_limited(db) {
        let srv = TestServer::start_with(&db, |s| {
            s.signin_slowdown_ms = 0;
            s.signin_max_failures_per_username = 3;
        }).await;
        let client = srv.client(code_client(true)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (_v, challenge) = pkce();
        let login = b.get(b.authorize(&code_params(&client.id, &challenge, "openid")).await.location.as_deref().unwrap()).await;
        for _ in 0..3 {
            assert_eq!(b.submit_login(&login, EMAIL, "wrong").await.status, 401);
        }
        let refused = b.submit_login(&login, EMAIL, crate::common::first_party::PASSWORD).await;
        assert_eq!(refused.status, 429);
        assert!(refused.headers.contains_key("retry-after"));
        assert_page_headers(&refused.headers);
    }
}
