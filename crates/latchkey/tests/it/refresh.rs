//! Refresh tokens through the real server (RFC 6749 §6, RFC 9700 §4.14,
//! docs/endpoints.md): rotation, reuse detection, the grace period, client binding,
//! scope narrowing, idle and absolute expiry.

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};

use crate::common::TestServer;
use crate::common::first_party::{expect_error, expect_tokens, first_party, first_party_public};

both_backends! {
    /// Every use returns a new refresh token and a new access token for the
    /// same user.
    async fn rotation(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let user = srv.user("alice@example.com", &["staff"]).await;
        let t0 = srv.signed_in(&app, "alice@example.com").await;
        let r0 = t0.refresh_token.unwrap();

        let t1 = expect_tokens(srv.refresh(&app, &r0, None).await).await;
        let r1 = t1.refresh_token.clone().unwrap();
        assert_ne!(r1, r0);
        assert_ne!(t1.access_token, t0.access_token);
        let claims = srv.claims(&t1.access_token);
        assert_eq!(claims.sub, user);
        assert_eq!(claims.roles.as_deref(), Some(&["staff".to_owned()][..]));
        assert_eq!(t1.scope, t0.scope, "without `scope`, the whole grant");

        let t2 = expect_tokens(srv.refresh(&app, &r1, None).await).await;
        assert_ne!(t2.refresh_token.unwrap(), r1);
    }
}

both_backends! {
    /// Presenting a rotated token revokes the family: the newest token dies too.
    async fn reuse_revokes_the_family(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("bob@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();
        let r1 = expect_tokens(srv.refresh(&app, &r0, None).await).await.refresh_token.unwrap();
        let r2 = expect_tokens(srv.refresh(&app, &r1, None).await).await.refresh_token.unwrap();

        // Step 2: the thief (or the victim) replays r0.
        expect_error(srv.refresh(&app, &r0, None).await, 400, "invalid_grant").await;
        // Step 3: everything in the family is dead, the newest token too.
        expect_error(srv.refresh(&app, &r2, None).await, 400, "invalid_grant").await;
        expect_error(srv.refresh(&app, &r1, None).await, 400, "invalid_grant").await;

        // Another sign-in starts a new, independent family.
        let fresh = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();
        expect_tokens(srv.refresh(&app, &fresh, None).await).await;
    }
}

both_backends! {
    /// Grace period on: a repeat within the window gets the same successor
    /// (and a fresh access token); the family lives on. After the window, a
    /// repeat is reuse and the family dies.
    async fn grace_period_repeats_are_idempotent(db) {
        let srv = TestServer::start_with(&db, |s| s.refresh_reuse_grace_seconds = 10).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("carol@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "carol@example.com").await.refresh_token.unwrap();

        let first = expect_tokens(srv.refresh(&app, &r0, None).await).await;
        srv.clock.advance(9);
        let again = expect_tokens(srv.refresh(&app, &r0, Some("read")).await).await;
        assert_eq!(again.refresh_token, first.refresh_token, "the same successor, not a new branch");
        assert_ne!(again.access_token, first.access_token, "a fresh access token");
        assert_eq!(again.scope, "read");
        let r1 = first.refresh_token.unwrap();

        // The family is intact: the successor rotates normally.
        let r2 = expect_tokens(srv.refresh(&app, &r1, None).await).await.refresh_token.unwrap();

        // Step 2: past the window, replaying r1 is reuse.
        srv.clock.advance(10);
        expect_error(srv.refresh(&app, &r1, None).await, 400, "invalid_grant").await;
        expect_error(srv.refresh(&app, &r2, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Within the window, a repeat of a token whose successor has itself been
    /// rotated is not a harmless race any more: the family dies.
    async fn grace_does_not_resurrect_an_old_branch(db) {
        let srv = TestServer::start_with(&db, |s| s.refresh_reuse_grace_seconds = 60).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("dan@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "dan@example.com").await.refresh_token.unwrap();
        let r1 = expect_tokens(srv.refresh(&app, &r0, None).await).await.refresh_token.unwrap();
        let r2 = expect_tokens(srv.refresh(&app, &r1, None).await).await.refresh_token.unwrap();
        expect_error(srv.refresh(&app, &r0, None).await, 400, "invalid_grant").await;
        expect_error(srv.refresh(&app, &r2, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Grace period off (the default): the first repeat kills the family.
    async fn grace_period_off(db) {
        let srv = TestServer::start(&db).await;
        assert_eq!(srv.server.app.settings().refresh_reuse_grace_seconds, 0);
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("eve@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "eve@example.com").await.refresh_token.unwrap();
        let r1 = expect_tokens(srv.refresh(&app, &r0, None).await).await.refresh_token.unwrap();
        expect_error(srv.refresh(&app, &r0, None).await, 400, "invalid_grant").await;
        expect_error(srv.refresh(&app, &r1, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// A token is bound to its client: another client gets `invalid_grant`,
    /// and the attempt changes nothing for the rightful client.
    async fn another_client_is_refused(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let other = srv.client(first_party(TokenDelivery::Body)).await;
        let public = srv.client(first_party_public(TokenDelivery::Body)).await;
        srv.user("fay@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "fay@example.com").await.refresh_token.unwrap();
        expect_error(srv.refresh(&other, &r0, None).await, 400, "invalid_grant").await;
        expect_error(srv.refresh(&public, &r0, None).await, 400, "invalid_grant").await;
        expect_tokens(srv.refresh(&app, &r0, None).await).await;
    }
}

both_backends! {
    /// A refresh may narrow the scope for its access token, never widen it;
    /// an `invalid_scope` consumes nothing; the next refresh without `scope`
    /// gets the whole original grant back (RFC 6749 §6).
    async fn scope_narrows_but_never_widens(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("gus@example.com", &[]).await;
        let t0 = expect_tokens(srv.signin(&app, "gus@example.com", crate::common::first_party::PASSWORD, Some("openid email read")).await).await;
        let r0 = t0.refresh_token.unwrap();

        let narrow = expect_tokens(srv.refresh(&app, &r0, Some("read")).await).await;
        assert_eq!(narrow.scope, "read");
        assert_eq!(srv.claims(&narrow.access_token).scope, "read");
        assert!(srv.claims(&narrow.access_token).email.is_none(), "email only with the email scope");
        let r1 = narrow.refresh_token.unwrap();

        // Wider than the grant, though within the registration: refused.
        expect_error(srv.refresh(&app, &r1, Some("read write")).await, 400, "invalid_scope").await;
        expect_error(srv.refresh(&app, &r1, Some("admin")).await, 400, "invalid_scope").await;

        // r1 was not consumed by the refusals.
        let full = expect_tokens(srv.refresh(&app, &r1, None).await).await;
        assert_eq!(full.scope, "email openid read");
    }
}

both_backends! {
    /// Idle expiry: a token unused for `refresh_token_idle_ttl_seconds` is
    /// dead; each rotation starts a new idle period.
    async fn idle_expiry(db) {
        let srv = TestServer::start(&db).await;
        let idle = srv.server.app.settings().refresh_token_idle_ttl_seconds;
        assert_eq!(idle, 7 * 24 * 3600);
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("hal@example.com", &[]).await;
        let mut r = srv.signed_in(&app, "hal@example.com").await.refresh_token.unwrap();
        for _ in 0..2 {
            srv.clock.advance(idle - 1);
            r = expect_tokens(srv.refresh(&app, &r, None).await).await.refresh_token.unwrap();
        }
        srv.clock.advance(idle);
        expect_error(srv.refresh(&app, &r, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Absolute expiry: however often it is refreshed, a family ends
    /// `refresh_token_absolute_ttl_seconds` after the sign-in.
    async fn absolute_expiry(db) {
        let srv = TestServer::start(&db).await;
        let absolute = srv.server.app.settings().refresh_token_absolute_ttl_seconds;
        assert_eq!(absolute, 30 * 24 * 3600);
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("ida@example.com", &[]).await;
        let mut r = srv.signed_in(&app, "ida@example.com").await.refresh_token.unwrap();
        // Every 6 days, for 30 days: day 6, 12, 18, 24 work.
        for _ in 0..4 {
            srv.clock.advance(6 * 24 * 3600);
            r = expect_tokens(srv.refresh(&app, &r, None).await).await.refresh_token.unwrap();
        }
        // Day 29: still within the absolute lifetime.
        srv.clock.advance(5 * 24 * 3600);
        r = expect_tokens(srv.refresh(&app, &r, None).await).await.refresh_token.unwrap();
        // Day 30: over, though the last token is only a day old.
        srv.clock.advance(24 * 3600);
        expect_error(srv.refresh(&app, &r, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// Garbage, unknown tokens and a missing parameter are clean 400s; a
    /// client without the refresh_token grant is `unauthorized_client`.
    async fn bad_refresh_requests(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        for token in ["garbage", "a.b.c", &"x".repeat(10_000), "Ωmega"] {
            expect_error(srv.refresh(&app, token, None).await, 400, "invalid_grant").await;
        }
        let resp = srv.token_basic(&app, &[("grant_type", "refresh_token")]).await;
        expect_error(resp, 400, "invalid_request").await;

        let no_refresh = srv.client(NewClient {
            grant_types: vec![GrantType::Password],
            ..first_party(TokenDelivery::Body)
        }).await;
        expect_error(srv.refresh(&no_refresh, "anything", None).await, 400, "unauthorized_client").await;
    }
}

both_backends! {
    /// The `oauth2` crate as a real client: the password grant, then refresh.
    async fn oauth2_crate_password_and_refresh(db) {
        use oauth2::basic::BasicClient;
        use oauth2::{
            AuthUrl, ClientId, ClientSecret, RefreshToken, ResourceOwnerPassword,
            ResourceOwnerUsername, Scope as OScope, TokenResponse as _, TokenUrl,
        };
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let user = srv.user("jan@example.com", &[]).await;
        let client = BasicClient::new(ClientId::new(app.id.clone()))
            .set_client_secret(ClientSecret::new(app.secret.clone().unwrap()))
            .set_auth_uri(AuthUrl::new(srv.url("/v1/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(srv.url("/v1/oauth/token")).unwrap());
        let http = oauth2::reqwest::Client::builder()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        let username = ResourceOwnerUsername::new("jan@example.com".into());
        let password = ResourceOwnerPassword::new(crate::common::first_party::PASSWORD.into());
        let tokens = client
            .exchange_password(&username, &password)
            .add_scope(OScope::new("openid".into()))
            .add_scope(OScope::new("read".into()))
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(srv.claims(tokens.access_token().secret()).sub, user);
        let refresh = tokens.refresh_token().unwrap().clone();

        let refreshed = client
            .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(srv.claims(refreshed.access_token().secret()).sub, user);
        assert_ne!(refreshed.refresh_token().unwrap().secret(), refresh.secret());
        let scopes: Vec<String> = refreshed.scopes().unwrap().iter().map(|s| s.to_string()).collect();
        assert_eq!(scopes, ["openid", "read"]);

        // The used token is now refused through the crate too.
        let again = client
            .exchange_refresh_token(&RefreshToken::new(refresh.secret().clone()))
            .request_async(&http)
            .await;
        assert!(again.is_err());
    }
}
