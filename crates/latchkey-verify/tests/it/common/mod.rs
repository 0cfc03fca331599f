//! Test harness: a real latchkey, in-process, on SQLite or PostgreSQL, with
//! a counting layer in front of its real router so that tests can assert how
//! often the verifier and the client helper call it.
//!
//! Adapted from `crates/latchkey/tests/it/common` (only the parts needed
//! here; an integration-test crate cannot import another's harness).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::middleware::Next;
use latchkey::config::Settings;
use latchkey::core::clients::{ClientStore as _, GrantType, NewClient};
use latchkey::core::clock::{Clock as _, ManualClock, SharedClock};
use latchkey::core::keys::{KeyState, KeyStore as _};
use latchkey::core::scope::Scope;
use latchkey::http::AppState;
use latchkey_verify::{Verifier, VerifierConfig};
use sqlx::Connection as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The environment variable naming the PostgreSQL server for tests.
pub const PG_ENV: &str = "LATCHKEY_TEST_POSTGRES_URL";

/// Set to `1` (CI does) to make a PostgreSQL test fail, not skip, when
/// [`PG_ENV`] is unset; an unreachable server fails it either way.
pub const REQUIRE_PG_ENV: &str = "LATCHKEY_REQUIRE_POSTGRES";

/// PostgreSQL variants skipped so far in this run.
static PG_SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Says that this test's PostgreSQL variant was skipped, with a running
/// count, straight to the process's stderr: the test harness captures what
/// `eprintln!` prints for a passing test, and a skip that reports `ok`
/// unseen is how missing coverage goes unnoticed.
fn report_postgres_skip() {
    use std::io::Write as _;
    let n = PG_SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("a test");
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED ({PG_ENV} unset): {test} [{n} PostgreSQL variant(s) skipped so far in this run]"
    );
}

/// Expands to one test per backend: `<name>::sqlite` and `<name>::postgres`.
/// The body sees `$db: TestDb`.
macro_rules! both_backends {
    ($(#[$meta:meta])* async fn $name:ident($db:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $db = $crate::common::TestDb::sqlite().await;
                $body
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some($db) = $crate::common::TestDb::postgres().await else {
                    return;
                };
                $body
            }
        }
    };
}

/// A fresh, empty database: a temporary SQLite file, or a PostgreSQL schema of
/// its own that is dropped when the `TestDb` is.
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("latchkey.db");
        TestDb {
            url: format!("sqlite://{}", path.display()),
            _dir: Some(dir),
            pg_schema: None,
        }
    }

    /// `None` when PostgreSQL is not configured: the test then passes
    /// without running, and [`report_postgres_skip`] says so where a reader
    /// sees it. With `LATCHKEY_REQUIRE_POSTGRES=1` (CI) it fails instead.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(PG_ENV) else {
            assert!(
                std::env::var(REQUIRE_PG_ENV).map_or(true, |v| v != "1"),
                "{REQUIRE_PG_ENV}=1 but {PG_ENV} is unset: this PostgreSQL test must run"
            );
            report_postgres_skip();
            return None;
        };
        let schema = format!("lkv_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{PG_ENV}={base} is set but unreachable: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
            _dir: None,
            pg_schema: Some((base, schema)),
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg_schema.take() else {
            return;
        };
        // Drop cannot await; a short-lived thread with its own runtime can.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP SCHEMA IF EXISTS {schema} CASCADE"
                    )))
                    .execute(&mut conn)
                    .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

/// Requests per path, counted in front of latchkey's router.
#[derive(Default)]
pub struct Hits(Mutex<HashMap<String, usize>>);

impl Hits {
    pub fn get(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn add(&self, path: &str) {
        *self.0.lock().unwrap().entry(path.to_owned()).or_default() += 1;
    }
}

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";
pub const TOKEN_PATH: &str = "/v1/oauth/token";

/// A latchkey server on a loopback port: the real application and router,
/// with a manual clock starting at the real time.
pub struct Latchkey {
    pub app: AppState,
    pub issuer: String,
    pub clock: Arc<ManualClock>,
    pub hits: Arc<Hits>,
    pub http: reqwest::Client,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// A registered client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl Latchkey {
    pub async fn start(db: &TestDb) -> Latchkey {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> Latchkey {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let issuer = format!("http://{addr}");
        let mut settings = Settings {
            database_url: db.url.clone(),
            bind: addr.to_string(),
            issuer: issuer.clone(),
            // Keep test pools small: many tests run at once.
            database_max_connections: 4,
            ..Settings::default()
        };
        tweak(&mut settings);
        let settings = settings.validated().unwrap();
        let clock = ManualClock::starting_now();
        let app = latchkey::app::build(settings, clock.clone() as SharedClock)
            .await
            .unwrap();
        let hits = Arc::new(Hits::default());
        let counter = hits.clone();
        let router = latchkey::http::router(app.clone()).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let counter = counter.clone();
                async move {
                    counter.add(req.uri().path());
                    next.run(req).await
                }
            },
        ));
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(latchkey::http::serve(
            listener,
            router,
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            },
            Duration::from_secs(1),
        ));
        Latchkey {
            app,
            issuer,
            clock,
            hits,
            http: reqwest::Client::new(),
            stop,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Stops serving; the port refuses connections afterwards.
    pub async fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// A `client_credentials` client with these scopes.
    pub async fn client(&self, scopes: &str) -> TestClient {
        let new = NewClient {
            name: "svc".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse(scopes).unwrap()),
            ..NewClient::default()
        };
        let (client, secret) = new.build(self.now()).unwrap();
        self.app.store().insert_client(&client).await.unwrap();
        TestClient {
            id: client.id.to_string(),
            secret: secret.unwrap().expose().to_owned(),
        }
    }

    /// A real access token from the token endpoint.
    pub async fn token(&self, client: &TestClient, scope: &str) -> String {
        let resp = self
            .http
            .post(self.url(TOKEN_PATH))
            .basic_auth(&client.id, Some(&client.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&scope={scope}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "token request failed");
        let body: latchkey_proto::TokenResponse = resp.json().await.unwrap();
        body.access_token
    }

    /// `keys rotate`, then the reload every process does within
    /// `key_refresh_seconds`.
    pub async fn rotate(&self) {
        let app = &self.app;
        latchkey::core::keys::rotate(
            app.store(),
            app.settings().signing_alg,
            self.now(),
            app.settings().retired_key_lifetime(),
        )
        .await
        .unwrap();
        app.reload_keys().await.unwrap();
    }

    /// The kid and PKCS#8 private key latchkey currently signs with.
    pub async fn current_key(&self) -> (String, Vec<u8>) {
        let keys = self.app.store().list_keys().await.unwrap();
        let key = keys
            .into_iter()
            .find(|k| k.state == KeyState::Current)
            .unwrap();
        (key.kid, key.private_key.0)
    }

    /// A verifier for this server, with the given tweaks, sharing its clock.
    pub fn verifier_with(&self, tweak: impl FnOnce(&mut VerifierConfig)) -> Verifier {
        let mut config = VerifierConfig::new(&self.issuer, &self.issuer);
        let clock = self.clock.clone();
        config.clock = Arc::new(move || clock.now());
        tweak(&mut config);
        Verifier::new(config).unwrap()
    }

    pub fn verifier(&self) -> Verifier {
        self.verifier_with(|_| {})
    }
}

impl Drop for Latchkey {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// The `kid` of a compact JWS, read without verifying anything.
pub fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    value["kid"].as_str().unwrap().to_owned()
}
