//! First-party password sign-in through the real server: `POST /v1/signin`
//! and `grant_type=password` (docs/first-party-apps.md, RFC 6749 §4.3), with the brute-force
//! limits.

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey::core::users::UserStore as _;
use latchkey_proto::{Audience, IdTokenClaims, TokenResponse};

use crate::common::first_party::{
    PASSWORD, expect_error, expect_tokens, first_party, first_party_public,
};
use crate::common::{TestServer, verify_with_jwks};

both_backends! {
    /// Basic + JSON: an RFC 9068 access token for the user, with roles, and
    /// an opaque refresh token, never cached.
    async fn signin_json_with_basic(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let alice = srv.user("Alice@Example.com", &["admin", "staff"]).await;

        let resp = srv.signin(&app, "alice@example.com", PASSWORD, Some("openid email read")).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let tokens: TokenResponse = resp.json().await.unwrap();
        assert_eq!(tokens.token_type, "Bearer");
        assert_eq!(tokens.expires_in, 900);
        assert_eq!(tokens.scope, "email openid read");
        let refresh = tokens.refresh_token.unwrap();
        assert!(refresh.len() >= 43, "at least 256 bits, base64url");
        assert!(!refresh.contains('.'), "opaque, not a JWT");

        let claims = srv.claims(&tokens.access_token);
        assert_eq!(claims.sub, alice);
        assert_eq!(claims.client_id, app.id);
        assert_eq!(claims.iss, srv.url);
        assert_eq!(claims.aud, Audience::One(srv.url.clone()));
        assert_eq!(claims.roles.as_deref(), Some(&["admin".to_owned(), "staff".to_owned()][..]));
        assert_eq!(claims.email.as_deref(), Some("Alice@Example.com"));
        assert!(claims.auth_time.is_some());
        assert_eq!(claims.exp - claims.iat, 900);
    }
}

both_backends! {
    /// `email` is in the token only with the email scope.
    async fn email_claim_needs_email_scope(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("bob@example.com", &[]).await;
        let tokens = expect_tokens(srv.signin(&app, "bob@example.com", PASSWORD, Some("openid read")).await).await;
        let claims = srv.claims(&tokens.access_token);
        assert!(claims.email.is_none());
        assert_eq!(claims.roles.as_deref(), Some(&[][..]), "a user's token always carries roles");
    }
}

both_backends! {
    /// A public client names itself in the body; form bodies work too; and the
    /// token endpoint's password grant is the same sign-in.
    async fn public_client_form_body_and_password_grant(db) {
        let srv = TestServer::start(&db).await;
        let spa = srv.client(first_party_public(TokenDelivery::Body)).await;
        let carol = srv.user("carol@example.com", &[]).await;

        let tokens = srv.signed_in(&spa, "carol@example.com").await;
        assert_eq!(srv.claims(&tokens.access_token).sub, carol);

        let resp = srv.http.post(srv.url("/v1/signin"))
            .form(&[("client_id", spa.id.as_str()), ("username", "carol@example.com"), ("password", PASSWORD), ("scope", "read")])
            .send().await.unwrap();
        let tokens = expect_tokens(resp).await;
        assert_eq!(tokens.scope, "read");

        let confidential = srv.client(first_party(TokenDelivery::Body)).await;
        let resp = srv.token_basic(&confidential, &[
            ("grant_type", "password"), ("username", "carol@example.com"), ("password", PASSWORD),
            ("scope", "openid read"), ("resource", "https://api.example.com"),
        ]).await;
        let tokens = expect_tokens(resp).await;
        assert!(tokens.refresh_token.is_some());
        let claims = srv.claims(&tokens.access_token);
        assert_eq!(claims.sub, carol);
        assert_eq!(claims.aud, Audience::One("https://api.example.com".into()));
    }
}

both_backends! {
    /// Unknown user and wrong password: the same status and body.
    async fn unknown_user_and_wrong_password_look_the_same(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("dave@example.com", &[]).await;
        let wrong = srv.signin(&app, "dave@example.com", "not the password", None).await;
        let (s1, h1, b1) = (wrong.status(), wrong.headers().clone(), wrong.text().await.unwrap());
        let unknown = srv.signin(&app, "nobody@example.com", PASSWORD, None).await;
        let (s2, h2, b2) = (unknown.status(), unknown.headers().clone(), unknown.text().await.unwrap());
        assert_eq!(s1, 400);
        assert_eq!((s1, &b1), (s2, &b2));
        assert_eq!(h1.get("www-authenticate"), h2.get("www-authenticate"));
        let body: serde_json::Value = serde_json::from_str(&b1).unwrap();
        assert_eq!(body["error"], "invalid_grant");
        assert!(!b1.contains("dave"), "the answer does not echo the username");
    }
}

both_backends! {
    /// A disabled user is refused with the same answer, right password or not.
    async fn disabled_user_is_refused(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let erin = srv.user("erin@example.com", &[]).await;
        srv.server.app.store().set_user_disabled(&erin.as_str().into(), true, srv.now()).await.unwrap();
        let refused = srv.signin(&app, "erin@example.com", PASSWORD, None).await;
        let body = expect_error(refused, 400, "invalid_grant").await;
        let wrong = srv.signin(&app, "nobody@example.com", PASSWORD, None).await;
        assert_eq!(expect_error(wrong, 400, "invalid_grant").await, body);
    }
}

both_backends! {
    /// Registration decides: no password grant → `unauthorized_client`; no
    /// refresh_token grant → no refresh token; a scope outside the
    /// registration → `invalid_scope`; a bad secret → 401 with a challenge.
    async fn client_registration_is_enforced(db) {
        let srv = TestServer::start(&db).await;
        srv.user("frank@example.com", &[]).await;
        let no_password = srv.client(NewClient {
            grant_types: vec![GrantType::RefreshToken],
            ..first_party(TokenDelivery::Body)
        }).await;
        expect_error(srv.signin(&no_password, "frank@example.com", PASSWORD, None).await, 400, "unauthorized_client").await;

        let no_refresh = srv.client(NewClient {
            grant_types: vec![GrantType::Password],
            ..first_party(TokenDelivery::Body)
        }).await;
        let tokens = srv.signed_in(&no_refresh, "frank@example.com").await;
        assert!(tokens.refresh_token.is_none());

        let app = srv.client(first_party(TokenDelivery::Body)).await;
        expect_error(srv.signin(&app, "frank@example.com", PASSWORD, Some("admin")).await, 400, "invalid_scope").await;

        let mut bad = app.clone();
        bad.secret = Some("wrong".into());
        let resp = srv.signin(&bad, "frank@example.com", PASSWORD, None).await;
        assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        expect_error(resp, 401, "invalid_client").await;

        // Malformed requests are 400s, never 500s.
        let resp = srv.http.post(srv.url("/v1/signin")).basic_auth(&app.id, app.secret.as_deref())
            .json(&serde_json::json!({"username": "frank@example.com"})).send().await.unwrap();
        expect_error(resp, 400, "invalid_request").await;
        let resp = srv.http.post(srv.url("/v1/signin")).basic_auth(&app.id, app.secret.as_deref())
            .header("content-type", "application/json").body("{\"username\": [1]}").send().await.unwrap();
        expect_error(resp, 400, "invalid_request").await;
        let resp = srv.http.post(srv.url("/v1/signin")).basic_auth(&app.id, app.secret.as_deref())
            .json(&serde_json::json!({"username": "x".repeat(15_000), "password": "p"})).send().await.unwrap();
        expect_error(resp, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// After 10 failures for one username within the window: 429 with
    /// `Retry-After`, even with the right password, until the window passes.
    async fn username_limit_and_its_window(db) {
        let srv = TestServer::start_with(&db, |s| s.signin_slowdown_ms = 0).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("gina@example.com", &[]).await;
        srv.user("hank@example.com", &[]).await;

        for _ in 0..10 {
            expect_error(srv.signin(&app, "gina@example.com", "guess", None).await, 400, "invalid_grant").await;
        }
        // Step 2: the username is now refused, right password included; the
        // username is matched case-insensitively.
        for (username, password) in [("gina@example.com", "guess"), ("GINA@example.com", PASSWORD)] {
            let resp = srv.signin(&app, username, password, None).await;
            let retry: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=900).contains(&retry), "{retry}");
            expect_error(resp, 429, "too_many_requests").await;
        }
        // Another username from the same address is not affected.
        srv.signed_in(&app, "hank@example.com").await;

        // Step 3: just before the window ends, still refused; after it, the
        // counter has decayed and the right password works.
        srv.clock.advance(899);
        let resp = srv.signin(&app, "gina@example.com", PASSWORD, None).await;
        assert_eq!(resp.headers()["retry-after"], "1");
        expect_error(resp, 429, "too_many_requests").await;
        srv.clock.advance(1);
        srv.signed_in(&app, "gina@example.com").await;
    }
}

both_backends! {
    /// A success forgets the username's failures: a user who mistypes now and
    /// then is never locked out.
    async fn success_resets_the_username_counter(db) {
        let srv = TestServer::start_with(&db, |s| s.signin_slowdown_ms = 0).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("ivan@example.com", &[]).await;
        for _ in 0..3 {
            for _ in 0..9 {
                expect_error(srv.signin(&app, "ivan@example.com", "typo", None).await, 400, "invalid_grant").await;
            }
            srv.signed_in(&app, "ivan@example.com").await;
        }
    }
}

both_backends! {
    /// One address gets at most `signin_max_failures_per_address` failures per
    /// window, whatever usernames it tries; then every sign-in from it is
    /// refused until the window passes.
    async fn address_limit(db) {
        let srv = TestServer::start_with(&db, |s| {
            s.signin_slowdown_ms = 0;
            s.signin_max_failures_per_address = 5;
            s.signin_failure_window_seconds = 60;
        }).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("judy@example.com", &[]).await;
        for i in 0..5 {
            expect_error(srv.signin(&app, &format!("user{i}@example.com"), "guess", None).await, 400, "invalid_grant").await;
        }
        let resp = srv.signin(&app, "judy@example.com", PASSWORD, None).await;
        assert!(resp.headers().contains_key("retry-after"));
        expect_error(resp, 429, "too_many_requests").await;
        // The password grant shares the limit.
        let resp = srv.token_basic(&app, &[("grant_type", "password"), ("username", "judy@example.com"), ("password", PASSWORD)]).await;
        expect_error(resp, 429, "too_many_requests").await;
        srv.clock.advance(60);
        srv.signed_in(&app, "judy@example.com").await;
    }
}

both_backends! {
    /// A burst of concurrent guesses cannot outrun the counter: attempts are
    /// charged before the password is checked, so at most the limit of them
    /// ever reach it.
    async fn concurrent_guesses_are_counted(db) {
        let srv = TestServer::start_with(&db, |s| s.signin_slowdown_ms = 0).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("kim@example.com", &[]).await;
        let mut tasks = Vec::new();
        for _ in 0..25 {
            let (http, url, app) = (srv.http.clone(), srv.url("/v1/signin"), app.clone());
            tasks.push(tokio::spawn(async move {
                http.post(url).basic_auth(&app.id, app.secret.as_deref())
                    .json(&serde_json::json!({"username": "kim@example.com", "password": "guess"}))
                    .send().await.unwrap().status().as_u16()
            }));
        }
        let mut statuses = Vec::new();
        for t in tasks {
            statuses.push(t.await.unwrap());
        }
        let guesses = statuses.iter().filter(|s| **s == 400).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!((guesses, refused), (10, 15), "{statuses:?}");
    }
}

both_backends! {
    /// Behind a trusted proxy, the address is the rightmost untrusted
    /// `X-Forwarded-For` entry; from anyone else the header is ignored.
    async fn forwarded_for_only_from_trusted_proxies(db) {
        let srv = TestServer::start_with(&db, |s| {
            s.signin_slowdown_ms = 0;
            s.signin_max_failures_per_address = 2;
            s.trusted_proxies = "127.0.0.1".parse().unwrap();
        }).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("lena@example.com", &[]).await;
        let attempt = |xff: &'static str, password: &'static str| {
            let (http, url, app) = (srv.http.clone(), srv.url("/v1/signin"), app.clone());
            async move {
                http.post(url).basic_auth(&app.id, app.secret.as_deref())
                    .header("x-forwarded-for", xff)
                    .json(&serde_json::json!({"username": "lena@example.com", "password": password}))
                    .send().await.unwrap().status().as_u16()
            }
        };
        assert_eq!(attempt("203.0.113.1", "guess").await, 400);
        assert_eq!(attempt("203.0.113.1", "guess").await, 400);
        assert_eq!(attempt("203.0.113.1", PASSWORD).await, 429, "this client is out of attempts");
        // A client-written entry to the left is not believed.
        assert_eq!(attempt("198.51.100.7, 203.0.113.1", PASSWORD).await, 429);
        // Another client behind the same proxy is not affected.
        assert_eq!(attempt("203.0.113.2", PASSWORD).await, 200);

        // Without trusted proxies, the header changes nothing: all of these
        // come from 127.0.0.1.
        let plain = TestServer::start_with(&db, |s| {
            s.signin_slowdown_ms = 0;
            s.signin_max_failures_per_address = 2;
        }).await;
        let app = plain.client(first_party(TokenDelivery::Body)).await;
        for (xff, status) in [("192.0.2.1", 400), ("192.0.2.2", 400), ("192.0.2.3", 429)] {
            let resp = plain.http.post(plain.url("/v1/signin")).basic_auth(&app.id, app.secret.as_deref())
                .header("x-forwarded-for", xff)
                .json(&serde_json::json!({"username": "lena@example.com", "password": "guess"}))
                .send().await.unwrap();
            assert_eq!(resp.status(), status);
        }
    }
}

both_backends! {
    /// A hash made with weaker parameters than configured is replaced by a
    /// stronger one at the next successful sign-in.
    async fn weaker_hash_is_upgraded_on_signin(db) {
        let srv = TestServer::start_with(&db, |s| s.password_hash_iterations = 3).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let weak = latchkey::core::password::PasswordHasher::new(19456, 2, 1, 1).unwrap();
        let hash = weak.hash(&latchkey::core::secret::Secret::new(PASSWORD)).await.unwrap();
        let user = latchkey::core::users::NewUser { email: "mia@example.com".into(), ..Default::default() }
            .build(hash.clone(), srv.now()).unwrap();
        srv.server.app.store().insert_user(&user).await.unwrap();

        srv.signed_in(&app, "mia@example.com").await;
        let stored = srv.server.app.store().get_user(&user.id).await.unwrap().unwrap().password_hash;
        assert_ne!(stored, hash);
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"), "{stored}");
        // And the new hash works.
        srv.signed_in(&app, "mia@example.com").await;
    }
}

both_backends! {
    /// The scope defaults to everything the client is registered for.
    async fn default_scope_is_the_registration(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(NewClient {
            scopes: Some(Scope::parse("read write").unwrap()),
            ..first_party(TokenDelivery::Body)
        }).await;
        srv.user("ned@example.com", &[]).await;
        let tokens = srv.signed_in(&app, "ned@example.com").await;
        assert_eq!(tokens.scope, "read write");
    }
}

both_backends! {
    /// NUL characters (which PostgreSQL text cannot hold) are a 400 wherever
    /// they come in, never a 500.
    async fn nul_characters_are_bad_requests(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let resp = srv.signin(&app, "a\u{0}b@example.com", PASSWORD, None).await;
        expect_error(resp, 400, "invalid_request").await;
        let resp = srv.http.post(srv.url("/v1/signin"))
            .json(&serde_json::json!({"client_id": "x\u{0}y", "username": "u", "password": "p"}))
            .send().await.unwrap();
        expect_error(resp, 400, "invalid_request").await;
        // Through HTTP Basic, form-decoded: %00 in the client id.
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .basic_auth("x%00y", Some("secret"))
            .form(&[("grant_type", "password"), ("username", "u"), ("password", "p")])
            .send().await.unwrap();
        assert!(resp.status() == 400 || resp.status() == 401, "{}", resp.status());
    }
}

both_backends! {
    /// With `openid`, `/v1/signin` and the password grant answer with an ID
    /// token as the code flow's (verified with the published JWKS; `aud` is
    /// the client id; `at_hash` binds the access token), without `nonce` and
    /// with `amr: ["pwd"]`; without `openid`, none.
    async fn id_token_with_openid_only(db) {
        use base64::Engine as _;

        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let olga = srv.user("olga@example.com", &[]).await;
        let jwks = srv.jwks().await;
        let check = |tokens: &TokenResponse| {
            let id_token = tokens.id_token.as_deref().expect("an ID token with openid");
            let (header, claims): (_, IdTokenClaims) = verify_with_jwks(
                id_token, &jwks, jsonwebtoken::Algorithm::RS256, &srv.url, &app.id,
            ).unwrap();
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            assert_eq!(claims.iss, srv.url);
            assert_eq!(claims.sub, olga);
            assert_eq!(claims.aud, Audience::One(app.id.clone()));
            assert_eq!(claims.amr, Some(vec!["pwd".to_owned()]));
            assert_eq!(claims.nonce, None);
            assert_eq!(claims.auth_time, Some(srv.now()));
            assert_eq!(claims.exp - claims.iat, 900);
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tokens.access_token.as_bytes());
            let at_hash = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]);
            assert_eq!(claims.at_hash, Some(at_hash));
        };

        // Step 1: /v1/signin.
        let tokens = expect_tokens(srv.signin(&app, "olga@example.com", PASSWORD, Some("openid email")).await).await;
        check(&tokens);
        // Step 2: the token endpoint's password grant.
        let resp = srv.token_basic(&app, &[
            ("grant_type", "password"), ("username", "olga@example.com"), ("password", PASSWORD),
            ("scope", "openid read"),
        ]).await;
        check(&expect_tokens(resp).await);
        // Step 3: without openid, neither gives one.
        let tokens = expect_tokens(srv.signin(&app, "olga@example.com", PASSWORD, Some("email read")).await).await;
        assert_eq!(tokens.id_token, None);
        let resp = srv.token_basic(&app, &[
            ("grant_type", "password"), ("username", "olga@example.com"), ("password", PASSWORD),
            ("scope", "read"),
        ]).await;
        assert_eq!(expect_tokens(resp).await.id_token, None);
    }
}
