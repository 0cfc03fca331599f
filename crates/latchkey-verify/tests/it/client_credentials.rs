//! The client-credentials helper against a real latchkey: one request for
//! many callers, renewal before expiry, errors surfaced and shared.

use std::sync::Arc;
use std::time::Duration;

use latchkey::core::clock::Clock as _;
use latchkey_verify::{ClientCredentials, ClientCredentialsConfig, TokenError};

use crate::common::{Latchkey, TOKEN_PATH, TestClient};

/// A helper for `client` on `lk`, on latchkey's clock.
fn helper(
    lk: &Latchkey,
    client: &TestClient,
    tweak: impl FnOnce(&mut ClientCredentialsConfig),
) -> ClientCredentials {
    let mut config = ClientCredentialsConfig::new(lk.url(TOKEN_PATH), &client.id, &client.secret);
    let clock = lk.clock.clone();
    config.clock = Arc::new(move || clock.now());
    tweak(&mut config);
    ClientCredentials::new(config).unwrap()
}

both_backends! {
    async fn one_request_for_100_concurrent_callers(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read write").await;
        let tokens = helper(&lk, &client, |c| c.scope = Some("read".into()));

        let mut tasks = Vec::new();
        for _ in 0..100 {
            let tokens = tokens.clone();
            tasks.push(tokio::spawn(async move { tokens.token().await }));
        }
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap().unwrap());
        }
        assert_eq!(lk.hits.get(TOKEN_PATH), 1, "one token request for 100 callers");
        assert!(got.iter().all(|t| t == &got[0]));

        // The token is real: it verifies, with the scope asked for.
        let claims = lk.verifier().verify(got[0].as_str()).await.unwrap();
        assert_eq!(claims.sub, client.id);
        assert_eq!(claims.scope, "read");
        assert!(got[0].bearer().starts_with("Bearer ey"));
        assert_eq!(format!("{:?}", got[0]), "AccessToken(<redacted>)");

        // Later callers get the cached token.
        tokens.token().await.unwrap();
        assert_eq!(lk.hits.get(TOKEN_PATH), 1);
    }
}

both_backends! {
    async fn renewed_before_expiry(db) {
        let lk = Latchkey::start_with(&db, |s| s.access_token_ttl_seconds = 3).await;
        let client = lk.client("read").await;
        let tokens = helper(&lk, &client, |c| c.renew_before = Duration::from_secs(1));

        // Step 1: a 3 s token, renewed 1 s before it expires.
        let first = tokens.token().await.unwrap();
        lk.clock.advance(1);
        assert_eq!(tokens.token().await.unwrap(), first);
        assert_eq!(lk.hits.get(TOKEN_PATH), 1);

        // Step 2: 2 s in, one second left: renewed, with one request however
        // many ask.
        lk.clock.advance(1);
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let tokens = tokens.clone();
            tasks.push(tokio::spawn(async move { tokens.token().await.unwrap() }));
        }
        let mut renewed = Vec::new();
        for task in tasks {
            renewed.push(task.await.unwrap());
        }
        assert_eq!(lk.hits.get(TOKEN_PATH), 2);
        assert!(renewed.iter().all(|t| t == &renewed[0]));
        assert_ne!(renewed[0], first);
        // The old token had not expired yet when it was replaced.
        let verifier = lk.verifier_with(|c| c.leeway = Duration::ZERO);
        verifier.verify(first.as_str()).await.unwrap();
        verifier.verify(renewed[0].as_str()).await.unwrap();
    }
}

both_backends! {
    async fn errors_are_surfaced_and_shared(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;

        // A wrong secret: latchkey's refusal, as it said it, to every caller,
        // with one request.
        let wrong = TestClient { id: client.id.clone(), secret: "not-the-secret".into() };
        let tokens = helper(&lk, &wrong, |_| {});
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let tokens = tokens.clone();
            tasks.push(tokio::spawn(async move { tokens.token().await }));
        }
        for task in tasks {
            match task.await.unwrap() {
                Err(TokenError::Refused { status: 401, error, .. }) => assert_eq!(error, "invalid_client"),
                other => panic!("expected invalid_client, got {other:?}"),
            }
        }
        assert_eq!(lk.hits.get(TOKEN_PATH), 1);

        // A scope the client may not have.
        let tokens = helper(&lk, &client, |c| c.scope = Some("admin".into()));
        match tokens.token().await {
            Err(TokenError::Refused { status: 400, error, .. }) => assert_eq!(error, "invalid_scope"),
            other => panic!("expected invalid_scope, got {other:?}"),
        }
    }
}

both_backends! {
    async fn a_valid_token_outlives_a_failed_renewal(db) {
        let mut lk = Latchkey::start_with(&db, |s| s.access_token_ttl_seconds = 300).await;
        let client = lk.client("read").await;
        let tokens = helper(&lk, &client, |c| c.http_timeout = Duration::from_secs(2));
        let first = tokens.token().await.unwrap();
        lk.stop().await;

        // In the renewal window, latchkey unreachable: the old token, still
        // valid, is what callers get.
        lk.clock.advance(250);
        assert_eq!(tokens.token().await.unwrap(), first);
        // Past its expiry: the failure itself.
        lk.clock.advance(100);
        assert!(matches!(tokens.token().await, Err(TokenError::Http(_))));
    }
}
