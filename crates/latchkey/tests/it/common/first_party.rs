//! Helpers for the user-facing flows: users, first-party clients, sign-in,
//! refresh, and a second `latchkey serve` process on the same database.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey::core::secret::Secret;
use latchkey::core::users::{NewUser, UserStore as _};
use latchkey_proto::{AccessTokenClaims, ErrorBody, TokenResponse};
use reqwest::StatusCode;

use super::{TestClient, TestDb, TestServer};

/// The password every test user gets unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery staple";

/// The scopes first-party test clients are registered for.
pub const SCOPES: &str = "openid profile email offline_access read write";

/// A first-party client that may sign users in with a password and refresh.
pub fn first_party(delivery: TokenDelivery) -> NewClient {
    NewClient {
        name: "app".into(),
        first_party: true,
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        scopes: Some(Scope::parse(SCOPES).unwrap()),
        audiences: vec!["https://api.example.com".into()],
        token_delivery: delivery,
        ..NewClient::default()
    }
}

/// The same, as a public client (no secret).
pub fn first_party_public(delivery: TokenDelivery) -> NewClient {
    NewClient {
        public: true,
        ..first_party(delivery)
    }
}

impl TestServer {
    /// Creates a user with [`PASSWORD`]; returns its id.
    pub async fn user(&self, email: &str, roles: &[&str]) -> String {
        self.user_with_password(email, roles, PASSWORD).await
    }

    pub async fn user_with_password(&self, email: &str, roles: &[&str], password: &str) -> String {
        let app = &self.server.app;
        let hash = app.passwords().hash(&Secret::new(password)).await.unwrap();
        let user = NewUser {
            email: email.into(),
            name: None,
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            unverified: false,
        }
        .build(hash, self.now())
        .unwrap();
        app.store().insert_user(&user).await.unwrap();
        user.id.to_string()
    }

    /// `POST /v1/signin` with HTTP Basic and a JSON body.
    pub async fn signin(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut body = serde_json::json!({"username": username, "password": password});
        if let Some(s) = scope {
            body["scope"] = s.into();
        }
        if client.secret.is_none() {
            // A public client names itself in the body (docs/first-party-apps.md).
            body["client_id"] = client.id.clone().into();
        }
        let req = self.http.post(self.url("/v1/signin")).json(&body);
        let req = match &client.secret {
            Some(secret) => req.basic_auth(&client.id, Some(secret)),
            None => req,
        };
        req.send().await.unwrap()
    }

    /// Signs `username` in with [`PASSWORD`] and returns the tokens.
    pub async fn signed_in(&self, client: &TestClient, username: &str) -> TokenResponse {
        let resp = self.signin(client, username, PASSWORD, None).await;
        assert_eq!(
            resp.status(),
            200,
            "sign-in failed: {}",
            resp.text().await.unwrap()
        );
        resp.json().await.unwrap()
    }

    /// `grant_type=refresh_token` at the token endpoint, with HTTP Basic (or
    /// the client id in the body for a public client).
    pub async fn refresh(
        &self,
        client: &TestClient,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        refresh_at(&self.http, &self.url, client, refresh_token, scope).await
    }

    /// The claims of an access token, verified by latchkey's own key set.
    pub fn claims(&self, access_token: &str) -> AccessTokenClaims {
        self.server
            .app
            .keys()
            .snapshot()
            .verify(
                access_token,
                latchkey::core::keys::JwtType::AccessToken,
                &self.server.app.settings().issuer,
                None,
                self.now(),
                0,
            )
            .unwrap()
    }
}

/// `grant_type=refresh_token` against any server base URL.
pub async fn refresh_at(
    http: &reqwest::Client,
    base: &str,
    client: &TestClient,
    refresh_token: &str,
    scope: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let req = http.post(format!("{base}/v1/oauth/token"));
    let req = match &client.secret {
        Some(secret) => req.basic_auth(&client.id, Some(secret)),
        None => {
            form.push(("client_id", &client.id));
            req
        }
    };
    req.form(&form).send().await.unwrap()
}

/// Asserts an OAuth error response and returns its body.
pub async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> ErrorBody {
    assert_eq!(resp.status(), StatusCode::from_u16(status).unwrap());
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.error, code, "{body:?}");
    body
}

/// Asserts a successful token response and returns it.
pub async fn expect_tokens(resp: reqwest::Response) -> TokenResponse {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Another `latchkey serve` process on the same database, killed on drop.
pub struct ChildServer {
    child: Child,
    pub url: String,
}

impl ChildServer {
    /// Starts it and waits until it is ready.
    pub async fn start(db: &TestDb, issuer: &str, env: &[(&str, &str)]) -> ChildServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
        cmd.args([
            "serve",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            issuer,
        ])
        .env("LATCHKEY_DATABASE_URL", &db.url)
        .env("LATCHKEY_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = ChildServer {
            child: cmd.spawn().unwrap(),
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let start = Instant::now();
        loop {
            let ready = http
                .get(format!("{}/health/ready", child.url))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ready {
                return child;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the second server did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
