//! A database outage (docs/errors.md): PostgreSQL behind a TCP proxy
//! that the test cuts. While it is cut, readiness is 503, what needs the
//! database answers 503 `temporarily_unavailable` within a bounded time (no
//! 500, no hang), the JWKS and discovery are served from memory, and a cached
//! client keeps getting client_credentials tokens; once restored, service
//! resumes by itself.

use std::time::{Duration, Instant};

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use serde_json::Value;

use crate::common::first_party::{self, expect_tokens};
use crate::common::proxy::TcpProxy;
use crate::common::{TestDb, TestServer};

/// How long any request may take while the database is cut: the acquire
/// timeout (1 s here) plus slack for a loaded CI machine.
const BOUND: Duration = Duration::from_secs(6);

async fn timed(req: reqwest::RequestBuilder) -> (u16, Value, Duration) {
    let start = Instant::now();
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, body, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_gives_503_keeps_jwks_and_recovers() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // Step 1: a server whose database connections all go through the proxy.
    let proxy = TcpProxy::start("127.0.0.1:5432".into()).await;
    let proxied = db
        .url
        .replace("127.0.0.1:5432", &format!("127.0.0.1:{}", proxy.port));
    assert_ne!(
        proxied, db.url,
        "the test database URL names 127.0.0.1:5432"
    );
    let server = TestServer::start_with(&db, |s| {
        s.database_url = proxied.clone();
        s.database_acquire_timeout_seconds = 1;
        s.database_statement_timeout_seconds = 2;
    })
    .await;
    let svc = server
        .client(NewClient {
            name: "svc".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read").unwrap()),
            ..NewClient::default()
        })
        .await;
    let app = server
        .client(first_party::first_party(TokenDelivery::Body))
        .await;
    server.user("ada@example.com", &[]).await;
    let refresh = server
        .signed_in(&app, "ada@example.com")
        .await
        .refresh_token
        .unwrap();
    expect_tokens(
        server
            .token_basic(&svc, &[("grant_type", "client_credentials")])
            .await,
    )
    .await;

    // Step 2: cut the database.
    proxy.cut();
    let http = &server.http;
    let (status, _, took) = timed(http.get(server.url("/health/ready"))).await;
    assert_eq!(status, 503);
    assert!(took < BOUND, "readiness answered in {took:?}");
    let (status, _, _) = timed(http.get(server.url("/health/live"))).await;
    assert_eq!(status, 200);
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let (status, body, _) = timed(http.get(server.url(path))).await;
        assert_eq!(status, 200, "{path} is served from memory");
        assert!(body.is_object());
    }
    let (status, body, took) = timed(
        http.post(server.url("/v1/oauth/token"))
            .basic_auth(&app.id, app.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(took < BOUND, "refresh answered in {took:?}");
    let (status, body, took) = timed(
        http.post(server.url("/v1/signin"))
            .basic_auth(&app.id, app.secret.as_deref())
            .json(&serde_json::json!({"username": "ada@example.com", "password": first_party::PASSWORD})),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(took < BOUND, "sign-in answered in {took:?}");
    // A cached client still gets service tokens: they need no database.
    let (status, body, took) = timed(
        http.post(server.url("/v1/oauth/token"))
            .basic_auth(&svc.id, svc.secret.as_deref())
            .form(&[("grant_type", "client_credentials")]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(took < BOUND);
    // Many at once: still bounded, still no 500.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let req = http
            .post(server.url("/v1/oauth/token"))
            .basic_auth(&app.id, app.secret.as_deref())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh.as_str()),
            ]);
        tasks.push(tokio::spawn(timed(req)));
    }
    for t in tasks {
        let (status, body, took) = t.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert!(took < BOUND * 2, "answered in {took:?}");
    }

    // A request that outlives request_timeout_seconds (here the acquire
    // timeout is longer) is abandoned with the same JSON 503.
    let impatient = TestServer::start_with(&db, |s| {
        s.database_url = proxied.clone();
        s.database_acquire_timeout_seconds = 5;
        s.request_timeout_seconds = 1;
    });
    proxy.restore();
    let impatient = impatient.await;
    proxy.cut();
    let (status, body, took) = timed(
        http.post(impatient.url("/v1/oauth/token"))
            .basic_auth(&app.id, app.secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(took < Duration::from_secs(3), "abandoned after {took:?}");
    impatient.server.shutdown().await;

    // Step 3: restore it; service resumes without a restart.
    proxy.restore();
    let start = Instant::now();
    loop {
        let (status, _, _) = timed(http.get(server.url("/health/ready"))).await;
        if status == 200 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "not ready again after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The refresh token was never consumed by the failed attempts.
    let tokens = expect_tokens(server.refresh(&app, &refresh, None).await).await;
    assert!(tokens.refresh_token.is_some());
    expect_tokens(
        server
            .signin(&app, "ada@example.com", first_party::PASSWORD, None)
            .await,
    )
    .await;
    server.server.shutdown().await;
}
