//! `GET /metrics`: Prometheus text, requests by route template
//! and status, latencies, tokens by grant and algorithm, errors by code,
//! refresh reuse, rate-limit refusals, Argon2 queue depth, pool usage.

use latchkey::core::audit::{AuditFilter, AuditStore as _};
use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;

use crate::common::TestServer;
use crate::common::first_party::{self, PASSWORD};

both_backends! {
    async fn metrics_count_requests_tokens_and_errors(db) {
        let server = TestServer::start(&db).await;
        let svc = server.client(NewClient {
            name: "svc".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read").unwrap()),
            ..NewClient::default()
        }).await;
        let app = server.client(first_party::first_party(TokenDelivery::Body)).await;
        server.user("ada@example.com", &[]).await;

        // Step 1: a token, an error, a sign-in, a refresh, a reuse, a lockout.
        let resp = server.token_basic(&svc, &[("grant_type", "client_credentials")]).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().contains_key("x-request-id"));
        let resp = server.token_basic(&svc, &[("grant_type", "password")]).await;
        assert_eq!(resp.status(), 400);
        let tokens = server.signed_in(&app, "ada@example.com").await;
        let r1 = tokens.refresh_token.unwrap();
        assert_eq!(server.refresh(&app, &r1, None).await.status(), 200);
        assert_eq!(server.refresh(&app, &r1, None).await.status(), 400);
        for _ in 0..11 {
            let _ = server.signin(&app, "bob@example.com", "wrong", None).await;
        }
        let resp = server.signin(&app, "bob@example.com", PASSWORD, None).await;
        assert_eq!(resp.status(), 429);
        // A path with a token in it is counted as unmatched, not by its text.
        let resp = server.http.get(server.url("/v1/oauth/token/secret-looking-path")).send().await.unwrap();
        assert_eq!(resp.status(), 404);

        // Step 2: scrape.
        let resp = server.http.get(server.url("/metrics")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = resp.text().await.unwrap();
        for needle in [
            r#"latchkey_http_requests_total{route="/v1/oauth/token",method="POST",status="200"}"#,
            r#"latchkey_http_requests_total{route="/v1/oauth/token",method="POST",status="400"}"#,
            r#"latchkey_http_requests_total{route="/v1/signin",method="POST",status="429"}"#,
            r#"route="unmatched",method="GET",status="404""#,
            r#"latchkey_http_request_duration_seconds_bucket{route="/v1/oauth/token",le="0.005"}"#,
            r#"latchkey_tokens_issued_total{grant="client_credentials",alg="RS256"}"#,
            r#"latchkey_tokens_issued_total{grant="password",alg="RS256"}"#,
            r#"latchkey_tokens_issued_total{grant="refresh_token",alg="RS256"}"#,
            r#"latchkey_oauth_errors_total{error="invalid_grant"}"#,
            r#"latchkey_oauth_errors_total{error="too_many_requests"}"#,
            "latchkey_refresh_reuse_detected_total",
            "latchkey_rate_limited_total",
            "latchkey_password_hash_queue_depth",
            r#"latchkey_db_pool_connections{state="idle"}"#,
            r#"latchkey_db_pool_connections{state="in_use"}"#,
            "latchkey_db_pool_max_connections",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert!(!text.contains("secret-looking-path"));

        // Step 3: the lockout and the reuse are in the audit trail too.
        server.server.app.audit().flush().await;
        let events = server.server.app.store()
            .list_audit_events(&AuditFilter { limit: 1000, ..AuditFilter::default() })
            .await
            .unwrap();
        let refused = events.iter().find(|e| e.kind == "signin_refused").expect("a lockout event");
        assert_eq!(refused.outcome, "refused");
        assert_eq!(refused.address.as_deref(), Some("127.0.0.1"));
        assert_eq!(refused.client_id.as_deref(), Some(app.id.as_str()));
        let reuse = events.iter().find(|e| e.kind == "refresh_reuse").expect("a reuse event");
        assert!(reuse.detail.as_deref().unwrap().contains("revoked"));
    }
}
