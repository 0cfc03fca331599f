//! Second factors end to end (docs/mfa.md), through the real router on a
//! loopback port, on both backends: TOTP enrolment on the account page
//! (codes computed here from the key the page shows), the two-step login,
//! `/v1/signin` + `/v1/signin/mfa`, replay and drift on the injected clock,
//! recovery codes, `amr`/`acr` in ID tokens, step-up, `--require-mfa`,
//! `mfa = "required"`, `user reset-mfa`, and wrong codes under the sign-in
//! limits.

use latchkey::core::clients::{ClientPolicy, NewClient, TokenDelivery};
use latchkey::core::settings::MfaPolicy;
use latchkey_proto::{IdTokenClaims, TokenResponse};

use crate::common::browser::{Browser, Page, code_client, code_params, pkce};
use crate::common::first_party::{ChildServer, PASSWORD, expect_error, expect_tokens, first_party};
use crate::common::totp::{self, Enrolled, code_at, submit_second_factor};
use crate::common::{TestClient, TestServer};

const EMAIL: &str = "ada@example.com";

/// The claims of an ID token, verified with the server's keys.
fn id_claims(srv: &TestServer, tokens: &TokenResponse) -> IdTokenClaims {
    let id_token = tokens.id_token.as_deref().expect("an ID token");
    srv.server
        .app
        .keys()
        .snapshot()
        .verify(
            id_token,
            latchkey::core::keys::JwtType::IdToken,
            &srv.url,
            None,
            srv.now(),
            0,
        )
        .unwrap()
}

fn amr(claims: &IdTokenClaims) -> Vec<&str> {
    claims
        .amr
        .as_ref()
        .expect("amr")
        .iter()
        .map(String::as_str)
        .collect()
}

/// `POST /v1/signin/mfa` with HTTP Basic and a JSON body.
async fn signin_mfa(
    srv: &TestServer,
    base: &str,
    client: &TestClient,
    body: serde_json::Value,
) -> reqwest::Response {
    srv.http
        .post(format!("{base}/v1/signin/mfa"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// `/v1/signin` for a user with a second factor: the `mfa_token`.
async fn mfa_token(srv: &TestServer, client: &TestClient) -> String {
    let resp = srv.signin(client, EMAIL, PASSWORD, Some("openid")).await;
    let body = expect_error(resp, 401, "mfa_required").await;
    assert_eq!(body.mfa_methods.as_deref(), Some(&["otp".to_owned()][..]));
    body.mfa_token.expect("an mfa_token")
}

/// Redeems the code of the redirect `done` for tokens.
async fn redeem(
    srv: &TestServer,
    client: &TestClient,
    done: &Page,
    verifier: &str,
) -> TokenResponse {
    let code = done
        .redirect_param("code")
        .unwrap_or_else(|| panic!("no code: {:?} {}", done.location, done.body));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", crate::common::browser::REDIRECT_URI),
        ("code_verifier", verifier),
    ];
    form.push(("client_id", client.id.as_str()));
    let resp = srv
        .http
        .post(srv.url("/v1/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    expect_tokens(resp).await
}

/// A first-party code client (no consent page), public.
fn app_client() -> NewClient {
    NewClient {
        first_party: true,
        ..code_client(true)
    }
}

both_backends! {
    /// Enrol on `/account/totp`, then sign in through an authorization
    /// request: the password leads to `/login/mfa`, a wrong code shows the
    /// form again (401), the right one continues the request; the ID token
    /// says `pwd otp mfa` and `acr` "2". Before enrolling, the same flow
    /// gave `pwd` and "1".
    async fn totp_enrolment_and_two_step_login(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(app_client()).await;
        srv.user(EMAIL, &[]).await;

        // Step 1: one factor: amr pwd, acr 1.
        let (verifier, challenge) = pkce();
        let b = Browser::new(&srv);
        let done = b
            .authorize_through(&code_params(&client.id, &challenge, "openid"), EMAIL)
            .await;
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(amr(&claims), ["pwd"]);
        assert_eq!(claims.acr.as_deref(), Some("1"));

        // Step 2: enrol in that browser; the account page lists it.
        let account = b.get("/account").await;
        assert!(account.body.contains(">Off<") && account.body.contains(">Set up<"), "{}", account.body);
        let Enrolled { key, .. } = totp::enrol_signed_in(&srv, &b).await;
        let account = b.get("/account").await;
        assert!(account.body.contains("Authenticator app"));
        assert!(account.body.contains(">On<") && account.body.contains(">Manage<"), "{}", account.body);

        // Step 3: a new browser: the password leads to the second step.
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let first = b.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let login = b.get(first.location.as_deref().unwrap()).await;
        let after = b.submit_login(&login, EMAIL, PASSWORD).await;
        assert_eq!(after.status, 303, "{}", after.body);
        let to_mfa = after.location.clone().unwrap();
        assert!(to_mfa.starts_with("/login/mfa?challenge="), "{to_mfa}");
        // No session yet: the cookie was not set.
        assert!(after.headers.get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("latchkey_session=")));
        let page = b.get(&to_mfa).await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("name=\"code\"") && page.body.contains("name=\"recovery_code\""));
        assert!(page.body.contains("Photo Printer"));

        // Another browser cannot use the challenge.
        let other = Browser::new(&srv);
        assert_eq!(other.get(&to_mfa).await.status, 400);

        // Step 4: a wrong code, then the right one.
        let wrong = submit_second_factor(&b, &page, "code", "000000").await;
        assert_eq!(wrong.status, 401);
        assert!(wrong.body.contains("not right"), "{}", wrong.body);
        let done = submit_second_factor(&b, &page, "code", &code_at(&key, srv.now())).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
        assert_eq!(claims.acr.as_deref(), Some("2"));

        // The challenge was single use.
        let again = submit_second_factor(&b, &page, "code", &code_at(&key, srv.now() + 30)).await;
        assert_eq!(again.status, 400, "{}", again.body);
    }
}

both_backends! {
    /// `/v1/signin` answers `mfa_required` with a token; `/v1/signin/mfa`
    /// with the code gives the tokens, `amr` `pwd otp mfa`, `acr` "2". The
    /// same code is refused the second time (replay), one step of drift
    /// either way is accepted, two are not.
    async fn signin_mfa_replay_and_drift(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let Enrolled { key, .. } = totp::enrol(&srv, EMAIL).await;
        let base = srv.url.clone();

        let token = mfa_token(&srv, &client).await;
        let now = srv.now();
        let code = code_at(&key, now);
        let tokens = expect_tokens(
            signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code})).await,
        )
        .await;
        let claims = id_claims(&srv, &tokens);
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
        assert_eq!(claims.acr.as_deref(), Some("2"));
        assert!(tokens.refresh_token.is_some());

        // Replay: the same code, with a new token.
        let token = mfa_token(&srv, &client).await;
        let replay = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code})).await;
        expect_error(replay, 400, "invalid_grant").await;

        // Drift: two steps either way are refused, one step is accepted.
        srv.clock.advance(300);
        let now = srv.now();
        for t in [now - 60, now + 60] {
            let token = mfa_token(&srv, &client).await;
            let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, t)})).await;
            expect_error(r, 400, "invalid_grant").await;
        }
        for t in [now - 30, now + 30] {
            let token = mfa_token(&srv, &client).await;
            let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, t)})).await;
            expect_tokens(r).await;
        }
        // The step at `now` lies before the last accepted one (`now + 30`):
        // refused too, so that no code older than an accepted one works.
        let token = mfa_token(&srv, &client).await;
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, now)})).await;
        expect_error(r, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// An `mfa_token` is single use, lives 5 minutes on the injected clock,
    /// and is the client's it was given to.
    async fn mfa_token_single_use_lifetime_and_client(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        let other = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let Enrolled { key, .. } = totp::enrol(&srv, EMAIL).await;
        let base = srv.url.clone();

        // Another client cannot spend it.
        let token = mfa_token(&srv, &client).await;
        let r = signin_mfa(&srv, &base, &other, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        expect_error(r, 400, "invalid_grant").await;
        // Its client can, once.
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        expect_tokens(r).await;
        srv.clock.advance(30);
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        expect_error(r, 400, "invalid_grant").await;

        // 299 seconds later it still works; 300 seconds later it does not.
        let token = mfa_token(&srv, &client).await;
        srv.clock.advance(299);
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        expect_tokens(r).await;
        let token = mfa_token(&srv, &client).await;
        srv.clock.advance(300);
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        expect_error(r, 400, "invalid_grant").await;

        // Neither field, or both: a bad request.
        let token = mfa_token(&srv, &client).await;
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token})).await;
        expect_error(r, 400, "invalid_request").await;
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": "1", "recovery_code": "2"})).await;
        expect_error(r, 400, "invalid_request").await;
        // A wrong secret is the client's failure, as at /v1/signin.
        let r = srv
            .http
            .post(srv.url("/v1/signin/mfa"))
            .basic_auth(&client.id, Some("wrong"))
            .json(&serde_json::json!({"mfa_token": token, "code": "123456"}))
            .send()
            .await
            .unwrap();
        expect_error(r, 401, "invalid_client").await;
    }
}

both_backends! {
    /// Each recovery code works once, in place of a code, typed in any
    /// case and with spaces; on the login page too.
    async fn recovery_codes_are_single_use(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let Enrolled { recovery_codes, .. } = totp::enrol(&srv, EMAIL).await;
        let base = srv.url.clone();

        let token = mfa_token(&srv, &client).await;
        let typed = recovery_codes[0].to_uppercase().replace('-', " ");
        let tokens = expect_tokens(
            signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "recovery_code": typed})).await,
        )
        .await;
        assert_eq!(amr(&id_claims(&srv, &tokens)), ["pwd", "otp", "mfa"]);
        let token = mfa_token(&srv, &client).await;
        let again = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "recovery_code": recovery_codes[0]})).await;
        expect_error(again, 400, "invalid_grant").await;

        // The login page takes one in `recovery_code`.
        let b = Browser::new(&srv);
        let login = b.get("/login").await;
        let after = b.submit_login(&login, EMAIL, PASSWORD).await;
        let page = b.get(after.location.as_deref().unwrap()).await;
        let used = submit_second_factor(&b, &page, "recovery_code", &recovery_codes[0]).await;
        assert_eq!(used.status, 401);
        let done = submit_second_factor(&b, &page, "recovery_code", &recovery_codes[1]).await;
        assert_eq!(done.status, 200, "{}", done.body);
        assert!(done.body.contains("You are signed in"));
        // Eight left, says the enrolment page.
        let setup = b.get("/account/totp").await;
        assert!(setup.body.contains("Recovery codes left: 8"), "{}", setup.body);
    }
}

both_backends! {
    /// A live one-factor session steps up for `acr_values=2`: the second
    /// step, then a code whose ID token says two factors. Without
    /// `acr_values` the same session gets a code at once, with `acr` "1".
    async fn step_up_with_acr_values(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(app_client()).await;
        srv.user(EMAIL, &[]).await;

        // Browser A signs in with the password alone (no factor yet).
        let a = Browser::new(&srv);
        let login = a.get("/login").await;
        assert_eq!(a.submit_login(&login, EMAIL, PASSWORD).await.status, 200);
        // The user enrols in browser B; A's session keeps its one factor.
        let Enrolled { key, .. } = totp::enrol(&srv, EMAIL).await;

        let (verifier, challenge) = pkce();
        let done = a.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(claims.acr.as_deref(), Some("1"));

        let (verifier, challenge) = pkce();
        let mut params = code_params(&client.id, &challenge, "openid");
        params.push(("acr_values", "2"));
        let step_up = a.authorize(&params).await;
        let to_mfa = step_up.location.clone().unwrap();
        assert!(to_mfa.starts_with("/login/mfa?challenge="), "{to_mfa}");
        let page = a.get(&to_mfa).await;
        let done = submit_second_factor(&a, &page, "code", &code_at(&key, srv.now())).await;
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
        assert_eq!(claims.acr.as_deref(), Some("2"));

        // The session has two factors now: the next acr_values=2 request
        // needs nothing more. With prompt=none a one-factor session would
        // have been told login_required.
        let (verifier, challenge) = pkce();
        let mut params = code_params(&client.id, &challenge, "openid");
        params.push(("acr_values", "2"));
        params.push(("prompt", "none"));
        let done = a.authorize(&params).await;
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(claims.acr.as_deref(), Some("2"));
    }
}

both_backends! {
    /// A client registered `--require-mfa`, and a user with no second
    /// factor: after the password, enrolment, the recovery codes, then on
    /// to the client with a two-factor ID token.
    async fn require_mfa_client_makes_users_enrol(db) {
        let srv = TestServer::start(&db).await;
        let client = srv
            .client(NewClient {
                policy: ClientPolicy {
                    require_mfa: true,
                    ..ClientPolicy::default()
                },
                ..app_client()
            })
            .await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let (verifier, challenge) = pkce();
        let first = b.authorize(&code_params(&client.id, &challenge, "openid")).await;
        let login = b.get(first.location.as_deref().unwrap()).await;
        let after = b.submit_login(&login, EMAIL, PASSWORD).await;
        let to_enrol = after.location.clone().unwrap();
        assert!(to_enrol.starts_with("/account/totp?request="), "{to_enrol}");
        let setup = b.get(&to_enrol).await;
        assert!(setup.body.contains("needs a second factor"), "{}", setup.body);
        let key = totp::shown_key(&setup);
        let inputs = setup.inputs();
        let codes = b
            .post(
                "/account/totp",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("action", "confirm"),
                    ("request", inputs["request"].as_str()),
                    ("code", code_at(&key, srv.now()).as_str()),
                ],
            )
            .await;
        assert_eq!(totp::shown_recovery_codes(&codes).len(), 10);
        let inputs = codes.inputs();
        let done = b
            .post(
                "/account/totp",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("action", "continue"),
                    ("request", inputs["request"].as_str()),
                ],
            )
            .await;
        let claims = id_claims(&srv, &redeem(&srv, &client, &done, &verifier).await);
        assert_eq!(amr(&claims), ["pwd", "otp", "mfa"]);
        assert_eq!(claims.acr.as_deref(), Some("2"));
    }
}

both_backends! {
    /// `mfa = "required"`: `/v1/signin` answers `mfa_enrollment_required`
    /// to a user with no second factor, and the login page sends them to
    /// enrol; once enrolled, `/v1/signin` asks for the code.
    async fn required_setting_forces_enrolment(db) {
        let srv = TestServer::start_with(&db, |s| s.mfa = MfaPolicy::Required).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let r = srv.signin(&client, EMAIL, PASSWORD, None).await;
        let body = expect_error(r, 401, "mfa_enrollment_required").await;
        assert!(body.mfa_token.is_none());

        let b = Browser::new(&srv);
        let login = b.get("/login").await;
        let after = b.submit_login(&login, EMAIL, PASSWORD).await;
        assert_eq!(after.location.as_deref(), Some("/account/totp"));
        totp::enrol_signed_in(&srv, &b).await;
        mfa_token(&srv, &client).await;
    }
}

both_backends! {
    /// `latchkey user reset-mfa ID` removes the second factors: the next
    /// sign-in needs the password only; the audit trail names it.
    async fn reset_mfa_from_the_cli(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        let id = srv.user(EMAIL, &[]).await;
        totp::enrol(&srv, EMAIL).await;
        mfa_token(&srv, &client).await;

        let out = db.cli_json(&["user", "reset-mfa", &id, "--json"]);
        assert_eq!(out["second_factors_removed"], true);
        let out = db.cli_json(&["user", "reset-mfa", &id, "--json"]);
        assert_eq!(out["second_factors_removed"], false);
        let tokens = srv.signed_in(&client, EMAIL).await;
        assert!(!tokens.access_token.is_empty());
        let events = db.cli_json(&["audit", "list", "--json"]);
        assert!(events.to_string().contains("user_reset_mfa"), "{events}");
    }
}

both_backends! {
    /// Wrong codes are failures of the username's counter: with a limit of
    /// 3, three wrong codes lock the user out (429) even with a right code
    /// or the right password.
    async fn wrong_codes_count_toward_the_limits(db) {
        let srv = TestServer::start_with(&db, |s| {
            s.signin_max_failures_per_username = 3;
            s.signin_slowdown_ms = 0;
        })
        .await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let Enrolled { key, .. } = totp::enrol(&srv, EMAIL).await;
        let base = srv.url.clone();
        let token = mfa_token(&srv, &client).await;
        for _ in 0..3 {
            let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": "000000"})).await;
            expect_error(r, 400, "invalid_grant").await;
        }
        let r = signin_mfa(&srv, &base, &client, serde_json::json!({"mfa_token": token, "code": code_at(&key, srv.now())})).await;
        let retry = r.headers().get("retry-after").cloned();
        expect_error(r, 429, "too_many_requests").await;
        assert!(retry.is_some());
        let r = srv.signin(&client, EMAIL, PASSWORD, None).await;
        expect_error(r, 429, "too_many_requests").await;
    }
}

both_backends! {
    /// A code accepted by one `latchkey serve` process is refused by
    /// another on the same database.
    async fn replay_refused_across_processes(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let Enrolled { key, .. } = totp::enrol(&srv, EMAIL).await;
        let other = ChildServer::start(&db, &srv.url, &[]).await;
        // This process's clock is the real one plus the step the
        // enrolment moved it on (which accepted the step of the real time);
        // the child's is the real one. The code of the next step is within
        // both windows, and later than the one accepted.
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let code = code_at(&key, real + 30);
        let body = |token: &str| serde_json::json!({"mfa_token": token, "code": code});

        let token = mfa_token(&srv, &client).await;
        let first = signin_mfa(&srv, &srv.url, &client, body(&token)).await;
        expect_tokens(first).await;
        let resp = srv
            .http
            .post(format!("{}/v1/signin", other.url))
            .basic_auth(&client.id, client.secret.as_deref())
            .json(&serde_json::json!({"username": EMAIL, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let token = expect_error(resp, 401, "mfa_required").await.mfa_token.unwrap();
        let replay = signin_mfa(&srv, &other.url, &client, body(&token)).await;
        expect_error(replay, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// The enrolment page survives a reload (the same key), refuses a
    /// wrong code, and removing TOTP makes the next sign-in one-step.
    async fn enrolment_page_reload_wrong_code_and_removal(db) {
        let srv = TestServer::start(&db).await;
        let client = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user(EMAIL, &[]).await;
        let b = Browser::new(&srv);
        let login = b.get("/login").await;
        b.submit_login(&login, EMAIL, PASSWORD).await;
        let first = b.get("/account/totp").await;
        let second = b.get("/account/totp").await;
        assert_eq!(totp::shown_key(&first), totp::shown_key(&second));
        let inputs = second.inputs();
        let wrong = b
            .post(
                "/account/totp",
                &[
                    ("csrf_token", inputs["csrf_token"].as_str()),
                    ("action", "confirm"),
                    ("code", "000000"),
                ],
            )
            .await;
        assert_eq!(wrong.status, 400);
        assert!(wrong.body.contains("does not match"));
        // Without a session: to the login page, and back.
        let anon = Browser::new(&srv);
        let r = anon.get("/account/totp").await;
        assert_eq!(r.location.as_deref(), Some("/login?return_to=%2Faccount%2Ftotp"));

        totp::enrol_signed_in(&srv, &b).await;
        mfa_token(&srv, &client).await;
        let enrolled = b.get("/account/totp").await;
        assert!(enrolled.body.contains("Recovery codes left: 10"));
        let inputs = enrolled.inputs();
        let removed = b
            .post(
                "/account/totp",
                &[("csrf_token", inputs["csrf_token"].as_str()), ("action", "remove")],
            )
            .await;
        assert_eq!(removed.location.as_deref(), Some("/account"));
        srv.signed_in(&client, EMAIL).await;
    }
}

both_backends! {
    /// The store's promises: of concurrent acceptances of one step exactly
    /// one wins, and never a step at or before the last; a recovery code
    /// and a challenge are each taken once.
    async fn store_takes_each_step_code_and_challenge_once(db) {
        use latchkey::core::mfa::MfaStore as _;
        use latchkey::core::users::UserId;
        let srv = TestServer::start(&db).await;
        let uid = UserId::new(srv.user(EMAIL, &[]).await);
        let store = srv.server.app.store().clone();
        let now = srv.now();
        assert!(store.begin_totp(&uid, "v1.x.y", now).await.unwrap());
        assert!(store.confirm_totp(&uid, 10, &["h1".to_owned()], now).await.unwrap());
        // Confirmed: a new secret cannot replace it.
        assert!(!store.begin_totp(&uid, "v1.x.z", now).await.unwrap());
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (store, uid) = (store.clone(), uid.clone());
            tasks.push(tokio::spawn(async move { store.accept_totp_step(&uid, 11).await.unwrap() }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        assert!(!store.accept_totp_step(&uid, 10).await.unwrap());
        assert!(store.accept_totp_step(&uid, 12).await.unwrap());

        let mut tasks = Vec::new();
        for _ in 0..8 {
            let (store, uid) = (store.clone(), uid.clone());
            tasks.push(tokio::spawn(async move { store.use_recovery_code(&uid, "h1", now).await.unwrap() }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        assert!(store.reset_mfa(&uid).await.unwrap());
        assert!(!store.reset_mfa(&uid).await.unwrap());
        assert!(store.find_totp(&uid).await.unwrap().is_none());
    }
}

/// Discovery names the `acr` values and the claims.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_lists_acr_values() {
    let db = crate::common::TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    let meta: serde_json::Value = srv
        .http
        .get(srv.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["acr_values_supported"], serde_json::json!(["1", "2"]));
    let claims = meta["claims_supported"].as_array().unwrap();
    assert!(claims.contains(&"acr".into()) && claims.contains(&"amr".into()));
}
