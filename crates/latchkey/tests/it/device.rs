//! The device authorization grant (RFC 8628): the device authorization
//! endpoint, polling the token endpoint, and the `/device` page driven by a
//! cookie-jar browser.

use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;
use latchkey_proto::TokenResponse;
use serde_json::Value;

use crate::common::browser::{Browser, Page};
use crate::common::first_party::{PASSWORD, expect_error, expect_tokens};
use crate::common::{TestClient, TestServer};

const DEVICE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A public TV app registered for the device grant (and refresh).
fn tv_app(refresh: bool) -> NewClient {
    let mut grant_types = vec![GrantType::DeviceCode];
    if refresh {
        grant_types.push(GrantType::RefreshToken);
    }
    NewClient {
        name: "Living Room TV".into(),
        public: true,
        grant_types,
        scopes: Some(Scope::parse("openid profile email read").unwrap()),
        ..NewClient::default()
    }
}

/// `POST /v1/oauth/device_authorization` as a public client.
async fn device_authorization(srv: &TestServer, client: &TestClient, scope: &str) -> Value {
    let resp = srv
        .http
        .post(srv.url("/v1/oauth/device_authorization"))
        .form(&[("client_id", client.id.as_str()), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

/// One poll of the token endpoint by a public client.
async fn poll(srv: &TestServer, client: &TestClient, device_code: &str) -> reqwest::Response {
    srv.http
        .post(srv.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", DEVICE_GRANT),
            ("device_code", device_code),
            ("client_id", client.id.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

/// The device-page steps of a browser (issue 4's cookie-jar [`Browser`],
/// which shows every redirect hop).
trait DevicePages {
    /// Opens `url` (a `/device` URL) without a session, is sent to the login
    /// page, signs in, and is sent back: returns the device page.
    async fn open_signed_in(&self, url: &str, email: &str) -> Page;
    /// Types `code` on the device page `page`.
    async fn enter(&self, page: &Page, code: &str) -> Page;
    /// Presses `decision` on the confirmation page `confirm`.
    async fn decide(&self, confirm: &Page, decision: &str) -> Page;
    /// The whole page side: sign in, type `typed`, answer `decision`.
    async fn approve(&self, email: &str, typed: &str, decision: &str);
}

impl DevicePages for Browser {
    async fn open_signed_in(&self, url: &str, email: &str) -> Page {
        // Step 1: no session yet, so /device sends us to the login page.
        let first = self.get(url).await;
        check_page_headers(&first);
        assert_eq!(first.status, 303);
        let to_login = first.location.clone().unwrap();
        assert!(to_login.starts_with("/login?return_to="), "{to_login}");
        let login = self.get(&to_login).await;
        assert_eq!(login.status, 200);
        let inputs = login.inputs();
        assert!(inputs["return_to"].starts_with("/device"));
        // Step 2: sign in; the login page returns to /device.
        let back = self
            .post(
                "/login",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("request", ""),
                    ("return_to", inputs["return_to"].as_str()),
                    ("username", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(back.status, 303, "{}", back.body);
        let location = back.location.clone().unwrap();
        assert!(location.starts_with("/device"), "{location}");
        let page = self.get(&location).await;
        check_page_headers(&page);
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(
            page.inputs().contains_key("user_code"),
            "expected the device page: {}",
            page.body
        );
        page
    }

    async fn enter(&self, page: &Page, code: &str) -> Page {
        let inputs = page.inputs();
        let answer = self
            .post(
                "/device",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("user_code", code),
                ],
            )
            .await;
        check_page_headers(&answer);
        answer
    }

    async fn decide(&self, confirm: &Page, decision: &str) -> Page {
        let inputs = confirm.inputs();
        let answer = self
            .post(
                "/device",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("user_code", inputs["user_code"].as_str()),
                    ("decision", decision),
                ],
            )
            .await;
        check_page_headers(&answer);
        answer
    }

    async fn approve(&self, email: &str, typed: &str, decision: &str) {
        let page = self.open_signed_in("/device", email).await;
        let confirm = self.enter(&page, typed).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        assert!(confirm.body.contains("Living Room TV"));
        assert!(
            confirm.body.contains("value=\"allow\"") && confirm.body.contains("value=\"deny\"")
        );
        let done = self.decide(&confirm, decision).await;
        assert_eq!(done.status, 200, "{}", done.body);
    }
}

fn check_page_headers(page: &Page) {
    let h = &page.headers;
    if h.get("content-type")
        .is_some_and(|v| v.to_str().unwrap().starts_with("text/html"))
    {
        assert_eq!(h["x-frame-options"], "DENY");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert_eq!(h["cache-control"], "no-store");
    }
}

both_backends! {
    /// The whole flow with the `oauth2` crate as the device and a cookie-jar
    /// browser as the person: code from the verification_uri_complete,
    /// tokens (access, refresh, ID) on the next poll, and only once.
    async fn full_flow_with_oauth2_crate(db) {
        use oauth2::basic::BasicClient;
        use oauth2::{
            ClientId, DeviceAuthorizationUrl, Scope as OScope, StandardDeviceAuthorizationResponse,
            TokenResponse as _, TokenUrl,
        };
        let srv = TestServer::start(&db).await;
        srv.user("alice@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let client = BasicClient::new(ClientId::new(c.id.clone()))
            .set_token_uri(TokenUrl::new(srv.url("/v1/oauth/token")).unwrap())
            .set_device_authorization_url(
                DeviceAuthorizationUrl::new(srv.url("/v1/oauth/device_authorization")).unwrap(),
            );
        let http = oauth2::reqwest::Client::builder()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        // Step 1: the device asks for codes.
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            .add_scope(OScope::new("openid".into()))
            .add_scope(OScope::new("profile".into()))
            .add_scope(OScope::new("read".into()))
            .request_async(&http)
            .await
            .unwrap();
        let user_code = details.user_code().secret().clone();
        assert_eq!(user_code.len(), 9);
        assert_eq!(&user_code[4..5], "-");
        assert!(user_code.chars().all(|ch| ch == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(ch)));
        assert_eq!(details.verification_uri().url().as_str(), srv.url("/device"));
        let complete = details.verification_uri_complete().unwrap().secret().clone();
        assert_eq!(complete, format!("{}/device?user_code={user_code}", srv.url));
        assert_eq!(details.expires_in().as_secs(), 600);
        assert_eq!(details.interval().as_secs(), 5);
        assert!(details.device_code().secret().len() >= 43);

        // Step 2: before the person acts, the device is told to wait.
        expect_error(poll(&srv, &c, details.device_code().secret()).await, 400, "authorization_pending").await;

        // Step 3: the person opens the complete URI, signs in, and finds the
        // code filled in; confirms; allows.
        let browser = Browser::new(&srv);
        let page = browser.open_signed_in(&complete, "alice@example.com").await;
        assert_eq!(page.inputs()["user_code"], user_code, "the code is pre-filled");
        let confirm = browser.enter(&page, &user_code).await;
        assert_eq!(confirm.status, 200);
        assert!(confirm.body.contains("Living Room TV"));
        assert!(confirm.body.contains("See your name"), "scopes in plain words: {}", confirm.body);
        let done = browser.decide(&confirm, "allow").await;
        assert_eq!(done.status, 200);
        assert!(done.body.contains("Device connected"));

        // Step 4: the oauth2 crate polls (its sleeps move the manual clock)
        // and gets the tokens.
        let clock = srv.clock.clone();
        let token = client
            .exchange_device_access_token(&details)
            .request_async(
                &http,
                move |d| {
                    clock.advance(i64::try_from(d.as_secs()).unwrap());
                    std::future::ready(())
                },
                None,
            )
            .await
            .unwrap();
        assert!(token.refresh_token().is_some());
        let claims = srv.claims(token.access_token().secret());
        assert_eq!(claims.client_id, c.id);
        assert_eq!(claims.scope, "openid profile read");

        // Step 5: tokens once; the code is spent.
        let second = poll(&srv, &c, details.device_code().secret()).await;
        expect_error(second, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Every polling answer of RFC 8628 §3.5, slow_down's growing interval,
    /// another client's poll, and the endpoint's own refusals.
    async fn polling_errors_and_slow_down(db) {
        let srv = TestServer::start(&db).await;
        srv.user("bob@example.com", &[]).await;
        let c = srv.client(tv_app(false)).await;
        let other = srv.client(NewClient { name: "Other".into(), ..tv_app(false) }).await;

        // Discovery lists the endpoint and the grant.
        let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration"))
            .send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["device_authorization_endpoint"], srv.url("/v1/oauth/device_authorization"));
        assert!(meta["grant_types_supported"].as_array().unwrap().iter().any(|g| g == DEVICE_GRANT));

        // The device authorization endpoint checks the client's grant and scope.
        let no_grant = srv.client(NewClient {
            name: "cc".into(),
            public: true,
            grant_types: vec![GrantType::RefreshToken],
            ..NewClient::default()
        }).await;
        let resp = srv.http.post(srv.url("/v1/oauth/device_authorization"))
            .form(&[("client_id", no_grant.id.as_str())]).send().await.unwrap();
        expect_error(resp, 400, "unauthorized_client").await;
        let resp = srv.http.post(srv.url("/v1/oauth/device_authorization"))
            .form(&[("client_id", c.id.as_str()), ("scope", "admin")]).send().await.unwrap();
        expect_error(resp, 400, "invalid_scope").await;
        let resp = srv.http.post(srv.url("/v1/oauth/device_authorization"))
            .form(&[("client_id", "nobody")]).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;

        let d = device_authorization(&srv, &c, "read").await;
        let code = d["device_code"].as_str().unwrap();

        // Pending, then too fast: slow_down, and the interval grows by 5 s.
        expect_error(poll(&srv, &c, code).await, 400, "authorization_pending").await;
        expect_error(poll(&srv, &c, code).await, 400, "slow_down").await;
        srv.clock.advance(5);
        // 5 s was the old interval; it is 10 s now.
        expect_error(poll(&srv, &c, code).await, 400, "slow_down").await;
        srv.clock.advance(14);
        // 15 s now: 14 is still too soon.
        expect_error(poll(&srv, &c, code).await, 400, "slow_down").await;
        srv.clock.advance(20);
        expect_error(poll(&srv, &c, code).await, 400, "authorization_pending").await;

        // Another client holding the device code learns nothing.
        srv.clock.advance(30);
        expect_error(poll(&srv, &other, code).await, 400, "invalid_grant").await;
        // Unknown and missing codes.
        expect_error(poll(&srv, &c, "not-a-code").await, 400, "invalid_grant").await;
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .form(&[("grant_type", DEVICE_GRANT), ("client_id", c.id.as_str())])
            .send().await.unwrap();
        expect_error(resp, 400, "invalid_request").await;

        // The person denies: access_denied.
        Browser::new(&srv).approve("bob@example.com", d["user_code"].as_str().unwrap(), "deny").await;
        expect_error(poll(&srv, &c, code).await, 400, "access_denied").await;

        // Past expires_in: expired_token.
        srv.clock.advance(601);
        expect_error(poll(&srv, &c, code).await, 400, "expired_token").await;
    }
}

both_backends! {
    /// The person types the code in lower case without the dash; the device
    /// gets its tokens once (no refresh token: the client lacks that grant;
    /// an ID token: openid was granted), and a second poll is refused.
    async fn lowercase_code_without_dash_and_double_redemption(db) {
        let srv = TestServer::start(&db).await;
        srv.user("carol@example.com", &[]).await;
        let c = srv.client(tv_app(false)).await;
        let d = device_authorization(&srv, &c, "openid read").await;
        let code = d["device_code"].as_str().unwrap();
        let typed = d["user_code"].as_str().unwrap().replace('-', "").to_lowercase();
        Browser::new(&srv).approve("carol@example.com", &typed, "allow").await;

        let tokens: TokenResponse = expect_tokens(poll(&srv, &c, code).await).await;
        assert!(tokens.refresh_token.is_none());
        assert!(tokens.id_token.is_some());
        assert_eq!(tokens.scope, "openid read");

        srv.clock.advance(5);
        expect_error(poll(&srv, &c, code).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// A code past its lifetime: the device gets expired_token, and the page
    /// no longer accepts the user code.
    async fn expired_codes(db) {
        let srv = TestServer::start(&db).await;
        srv.user("dan@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let d = device_authorization(&srv, &c, "read").await;
        srv.clock.advance(600);
        expect_error(poll(&srv, &c, d["device_code"].as_str().unwrap()).await, 400, "expired_token").await;

        let browser = Browser::new(&srv);
        let page = browser.open_signed_in("/device", "dan@example.com").await;
        let answer = browser.enter(&page, d["user_code"].as_str().unwrap()).await;
        assert_eq!(answer.status, 400);
        assert!(answer.body.contains("not valid or has expired"));

        // The background purge keeps it one more lifetime, so that a late poll
        // is still told expired_token, then deletes it.
        let purged = latchkey::core::housekeeping::purge_expired(&srv.server.app).await.unwrap();
        assert_eq!(purged.device_codes, 0);
        srv.clock.advance(600);
        expect_error(poll(&srv, &c, d["device_code"].as_str().unwrap()).await, 400, "expired_token").await;
        let purged = latchkey::core::housekeeping::purge_expired(&srv.server.app).await.unwrap();
        assert_eq!(purged.device_codes, 1);
    }
}

both_backends! {
    /// Guessing user codes: five wrong ones per session and window, then 429
    /// with Retry-After — even for the right code; the address has a higher
    /// limit of its own, so one guesser does not lock out everyone behind
    /// the same NAT, but many guessers from one address are refused too.
    async fn wrong_code_brute_force_is_refused(db) {
        let srv = TestServer::start_with(&db, |s| s.device_user_code_max_failures_per_address = 7).await;
        srv.user("eve@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let d = device_authorization(&srv, &c, "read").await;
        let browser = Browser::new(&srv);
        let page = browser.open_signed_in("/device", "eve@example.com").await;
        for guess in ["BCDF-GHJK", "bcdfghjl", "nonsense", "", "ZZZZ-ZZZZ"] {
            let answer = browser.enter(&page, guess).await;
            assert_eq!(answer.status, 400, "{}", answer.body);
        }
        let refused = browser.enter(&page, d["user_code"].as_str().unwrap()).await;
        assert_eq!(refused.status, 429, "{}", refused.body);
        assert!(refused.headers.contains_key("retry-after"));
        assert!(refused.body.contains("Too many"));

        // Another browser from the same address still gets in with the right
        // code (5 wrong ones from this address so far, below its 7)...
        let second = Browser::new(&srv);
        let page = second.open_signed_in("/device", "eve@example.com").await;
        assert_eq!(second.enter(&page, d["user_code"].as_str().unwrap()).await.status, 200);
        // ...but once the address has used up its own allowance, every session
        // from it is refused, the right code included.
        for guess in ["BCDF-GHJK", "ZZZZ-ZZZZ"] {
            assert_eq!(second.enter(&page, guess).await.status, 400);
        }
        let third = Browser::new(&srv);
        let third_page = third.open_signed_in("/device", "eve@example.com").await;
        assert_eq!(third.enter(&third_page, d["user_code"].as_str().unwrap()).await.status, 429);

        // After the window (longer than the code's life: a new code), the
        // right code works again.
        srv.clock.advance(15 * 60 + 1);
        let d = device_authorization(&srv, &c, "read").await;
        let confirm = second.enter(&page, d["user_code"].as_str().unwrap()).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
    }
}

both_backends! {
    /// A form post without this browser's CSRF token is refused.
    async fn csrf_is_required(db) {
        let srv = TestServer::start(&db).await;
        srv.user("fay@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let d = device_authorization(&srv, &c, "read").await;
        let browser = Browser::new(&srv);
        browser.open_signed_in("/device", "fay@example.com").await;
        let answer = browser
            .post("/device", &[("csrf_token", "forged"), ("user_code", d["user_code"].as_str().unwrap())])
            .await;
        assert_eq!(answer.status, 403);
        check_page_headers(&answer);

        // A confirmation page left open by one user cannot approve for another
        // who has signed in since in the same browser: its token was bound to
        // the session that loaded it.
        srv.user("gus@example.com", &[]).await;
        let page = browser.get("/device").await;
        let confirm = browser.enter(&page, d["user_code"].as_str().unwrap()).await;
        assert_eq!(confirm.status, 200, "{}", confirm.body);
        let login = browser.get("/login?return_to=%2Fdevice").await;
        let inputs = login.inputs();
        let switched = browser
            .post(
                "/login",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("request", ""),
                    ("return_to", inputs["return_to"].as_str()),
                    ("username", "gus@example.com"),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(switched.status, 303, "{}", switched.body);
        let stale = browser.decide(&confirm, "allow").await;
        assert_eq!(stale.status, 403, "{}", stale.body);
        expect_error(poll(&srv, &c, d["device_code"].as_str().unwrap()).await, 400, "authorization_pending").await;
    }
}

both_backends! {
    /// Concurrent polls of an approved device code: exactly one gets tokens,
    /// every other one `invalid_grant` (the redemption is one conditional
    /// UPDATE in the transaction that stores the refresh family).
    async fn concurrent_polls_redeem_once(db) {
        let srv = TestServer::start(&db).await;
        srv.user("gus@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let d = device_authorization(&srv, &c, "read").await;
        Browser::new(&srv).approve("gus@example.com", d["user_code"].as_str().unwrap(), "allow").await;
        let code = d["device_code"].as_str().unwrap();
        let mut polls = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (http, url, id, code) = (srv.http.clone(), srv.url("/v1/oauth/token"), c.id.clone(), code.to_owned());
            polls.spawn(async move {
                http.post(url)
                    .form(&[("grant_type", DEVICE_GRANT), ("device_code", code.as_str()), ("client_id", id.as_str())])
                    .send()
                    .await
                    .unwrap()
            });
        }
        let mut ok = 0;
        while let Some(resp) = polls.join_next().await {
            let resp = resp.unwrap();
            match resp.status().as_u16() {
                200 => ok += 1,
                400 => {
                    let body: Value = resp.json().await.unwrap();
                    assert_eq!(body["error"], "invalid_grant", "{body}");
                }
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!(ok, 1);
    }
}

both_backends! {
    /// The `DeviceStore` contract: a colliding user code is refused (the
    /// caller retries); a decision changes only a pending, unexpired code;
    /// a redemption succeeds once, only when approved and unexpired.
    async fn store_contract(db) {
        use latchkey::core::clients::ClientStore as _;
        use latchkey::core::codes::Issued;
        use latchkey::core::decision::Decision;
        use latchkey::core::device::{DeviceDecision, DeviceStatus, DeviceStore as _, StoredDevice};
        use latchkey::core::secret::SecretHash;
        use latchkey::core::users::{NewUser, UserStore as _};

        let store = db.store().await;
        let now = 1_700_000_000;
        let (client, _) = tv_app(false).build(now).unwrap();
        store.insert_client(&client).await.unwrap();
        let user = NewUser { email: "hal@example.com".into(), ..Default::default() }
            .build("x".into(), now)
            .unwrap();
        store.insert_user(&user).await.unwrap();
        let device = |code: &str, user_code: &str| StoredDevice {
            hash: SecretHash::of(code),
            user_code_hash: user_code.into(),
            client_id: client.id.clone(),
            scope: Scope::parse("read").unwrap(),
            audience: vec!["aud".into()],
            created_at: now,
            expires_at: now + 600,
            interval_seconds: 5,
            last_polled_at: None,
            status: DeviceStatus::Pending,
            user_id: None,
            auth_time: None,
        };
        let a = device("device-a", "user-a");
        assert!(store.insert_device(&a).await.unwrap());
        assert!(!store.insert_device(&device("device-b", "user-a")).await.unwrap(), "user code collision");
        assert_eq!(store.find_device_by_user_code("user-a").await.unwrap().unwrap(), a);

        let issued = Issued { access_jti: "j", access_expires_at: now + 900, family: None };
        assert!(!store.redeem_device(&a.hash, issued, now).await.unwrap(), "pending: nothing to redeem");
        let allow = DeviceDecision { decision: Decision::Allow, user_id: &user.id, auth_time: now - 10 };
        assert!(!store.decide_device(&a.hash, allow, now + 600).await.unwrap(), "expired");
        assert!(store.decide_device(&a.hash, allow, now).await.unwrap());
        assert!(!store.decide_device(&a.hash, DeviceDecision { decision: Decision::Deny, ..allow }, now).await.unwrap(), "decided once");
        let got = store.find_device(&a.hash).await.unwrap().unwrap();
        assert_eq!(got.status, DeviceStatus::Approved);
        assert_eq!(got.user_id.as_ref(), Some(&user.id));
        assert_eq!(got.auth_time, Some(now - 10));

        store.record_device_poll(&a.hash, 10, now + 1).await.unwrap();
        let got = store.find_device(&a.hash).await.unwrap().unwrap();
        assert_eq!((got.interval_seconds, got.last_polled_at), (10, Some(now + 1)));

        assert!(store.redeem_device(&a.hash, issued, now).await.unwrap());
        assert!(!store.redeem_device(&a.hash, issued, now).await.unwrap(), "at most once");
        assert_eq!(store.find_device(&a.hash).await.unwrap().unwrap().status, DeviceStatus::Redeemed);

        assert_eq!(store.purge_devices(now + 599).await.unwrap(), 0);
        assert_eq!(store.purge_devices(now + 600).await.unwrap(), 1);
        assert!(store.find_device(&a.hash).await.unwrap().is_none());
    }
}

both_backends! {
    /// `user revoke-sessions` between the approval and the device's next poll:
    /// the device gets access_denied, not a fresh family that outlives the
    /// revocation.
    async fn revoke_sessions_denies_an_approved_device(db) {
        let srv = TestServer::start(&db).await;
        let user_id = srv.user("frank@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let d = device_authorization(&srv, &c, "read").await;
        let code = d["device_code"].as_str().unwrap();
        Browser::new(&srv)
            .approve("frank@example.com", d["user_code"].as_str().unwrap(), "allow")
            .await;
        let out = db.cli(&["user", "revoke-sessions", &user_id]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        expect_error(poll(&srv, &c, code).await, 400, "access_denied").await;
    }
}
