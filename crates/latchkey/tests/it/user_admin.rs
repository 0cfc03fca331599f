//! `latchkey user disable` and `user revoke-sessions`, run as the binary
//! against the database a server is using (docs/operations.md).

use latchkey::core::clients::TokenDelivery;
use serde_json::Value;

use crate::common::TestServer;
use crate::common::first_party::{PASSWORD, expect_error, expect_tokens, first_party};

both_backends! {
    /// `revoke-sessions` kills every refresh token of the user at once; the
    /// user may sign in again. Other users are untouched.
    async fn revoke_sessions_kills_refresh_tokens(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let alice = srv.user("alice@example.com", &[]).await;
        srv.user("bob@example.com", &[]).await;
        let a1 = srv.signed_in(&app, "alice@example.com").await.refresh_token.unwrap();
        let a2 = srv.signed_in(&app, "alice@example.com").await.refresh_token.unwrap();
        let a2 = expect_tokens(srv.refresh(&app, &a2, None).await).await.refresh_token.unwrap();
        let b1 = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();

        let out = db.cli_json(&["user", "revoke-sessions", &alice, "--json"]);
        assert_eq!(out["id"], Value::from(alice.clone()));
        assert_eq!(out["revoked_refresh_token_families"], 2);

        for r in [&a1, &a2] {
            expect_error(srv.refresh(&app, r, None).await, 400, "invalid_grant").await;
        }
        expect_tokens(srv.refresh(&app, &b1, None).await).await;
        srv.signed_in(&app, "alice@example.com").await;
    }
}

both_backends! {
    /// `disable` (by id or email) refuses sign-ins and kills refresh tokens.
    async fn disable_refuses_signin_and_kills_refresh_tokens(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let carol = srv.user("carol@example.com", &[]).await;
        let r = srv.signed_in(&app, "carol@example.com").await.refresh_token.unwrap();

        let out = db.cli_json(&["user", "disable", "Carol@Example.com", "--json"]);
        assert_eq!(out["id"], Value::from(carol.clone()));
        assert_eq!(out["disabled"], true);
        assert_eq!(out["revoked_refresh_token_families"], 1);

        expect_error(srv.refresh(&app, &r, None).await, 400, "invalid_grant").await;
        expect_error(srv.signin(&app, "carol@example.com", PASSWORD, None).await, 400, "invalid_grant").await;
        let list = db.cli_json(&["user", "list", "--json"]);
        assert_eq!(list[0]["disabled"], true);

        // Unknown users are an error, not a silent success.
        let out = db.cli(&["user", "disable", "nobody@example.com"]);
        assert!(!out.status.success());
        let out = db.cli(&["user", "revoke-sessions", "00000000-0000-0000-0000-000000000000"]);
        assert!(!out.status.success());
    }
}
