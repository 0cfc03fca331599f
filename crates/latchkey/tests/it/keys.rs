//! Key rotation seen from the outside: tokens signed before a rotation keep
//! verifying, new tokens carry the new `kid`, and every process follows
//! (docs/operations.md, docs/endpoints.md).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey_proto::{AccessTokenClaims, JwkSet, TokenResponse};

use crate::common::{TestClient, TestDb, TestServer, verify_with_jwks};

async fn token_at(http: &reqwest::Client, base: &str, c: &TestClient) -> String {
    let resp = http
        .post(format!("{base}/v1/oauth/token"))
        .basic_auth(&c.id, c.secret.as_deref())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json::<TokenResponse>().await.unwrap().access_token
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Polls until `f` holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < limit,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A second `latchkey serve` process on the same database.
struct ChildServer {
    child: Child,
    url: String,
}

impl ChildServer {
    fn start(db: &TestDb, issuer: &str) -> ChildServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args([
                "serve",
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--issuer",
                issuer,
            ])
            .env("LATCHKEY_DATABASE_URL", &db.url)
            .env("LATCHKEY_KEY_REFRESH_SECONDS", "1")
            .env("LATCHKEY_LOG_LEVEL", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        ChildServer {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both_backends! {
    async fn rotation_is_followed_by_every_process(db) {
        let srv = TestServer::start_with(&db, |s| s.key_refresh_seconds = 1).await;
        let c = srv.client(NewClient {
            name: "svc".into(),
            grant_types: vec![GrantType::ClientCredentials],
            ..NewClient::default()
        }).await;
        let other = ChildServer::start(&db, &srv.url);
        let http = srv.http.clone();
        eventually(Duration::from_secs(20), || async {
            http.get(format!("{}/health/ready", other.url)).send().await.is_ok_and(|r| r.status() == 200)
        }).await;

        // Step 1: both processes publish the same JWKS and sign with the same key.
        let jwks_a = srv.jwks().await;
        let jwks_b: JwkSet = http.get(format!("{}/.well-known/jwks.json", other.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks_a, jwks_b);
        let before = token_at(&http, &srv.url, &c).await;
        let before_b = token_at(&http, &other.url, &c).await;
        assert_eq!(kid_of(&before), kid_of(&before_b));

        // Step 2: rotate from the CLI, as an operator would.
        let rotated = db.cli_json(&["keys", "rotate", "--json"]);
        assert_eq!(rotated["retired"], kid_of(&before));
        let new_kid = rotated["current"].as_str().unwrap().to_owned();
        assert!(jwks_a.find(&new_kid).is_some(), "the new current key was published as next before it signed");

        // Step 3: both processes switch within the refresh period.
        for base in [&srv.url, &other.url] {
            eventually(Duration::from_secs(10), || async { kid_of(&token_at(&http, base, &c).await) == new_kid }).await;
        }

        // Step 4: the old token still verifies against the new JWKS; so does a new one.
        let jwks = srv.jwks().await;
        assert_eq!(jwks.keys.len(), 3, "retired, current and next");
        let after = token_at(&http, &srv.url, &c).await;
        for t in [&before, &before_b, &after] {
            verify_with_jwks::<AccessTokenClaims>(t, &jwks, Algorithm::RS256, &srv.url, &srv.url).unwrap();
        }
        let jwks_b: JwkSet = http.get(format!("{}/.well-known/jwks.json", other.url)).send().await.unwrap().json().await.unwrap();
        assert_eq!(jwks, jwks_b);
    }
}

both_backends! {
    /// A retired key leaves the JWKS once every token it signed has expired.
    async fn retired_key_is_removed_after_its_tokens_expire(db) {
        let srv = TestServer::start_with(&db, |s| s.key_refresh_seconds = 1).await;
        let app = &srv.server.app;
        let first = app.keys().snapshot().current().unwrap().0.to_owned();
        let retire_for = app.settings().retired_key_lifetime();
        latchkey::core::keys::rotate(app.store(), app.settings().signing_alg, srv.now(), retire_for).await.unwrap();
        app.reload_keys().await.unwrap();
        assert!(srv.jwks().await.find(&first).is_some());

        srv.clock.advance(retire_for - 5);
        latchkey::core::keys::KeyStore::purge_keys(app.store(), srv.now()).await.unwrap();
        app.reload_keys().await.unwrap();
        assert!(srv.jwks().await.find(&first).is_some(), "still published while its tokens may live");

        srv.clock.advance(10);
        latchkey::core::keys::KeyStore::purge_keys(app.store(), srv.now()).await.unwrap();
        app.reload_keys().await.unwrap();
        let jwks = srv.jwks().await;
        assert!(jwks.find(&first).is_none(), "removed once they cannot");
        assert_eq!(jwks.keys.len(), 2);
    }
}
