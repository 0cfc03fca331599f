//! Test harness: databases on both backends, servers on loopback ports, the CLI
//! binary, and helpers that register clients.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;

use latchkey::app::Server;
use latchkey::config::Settings;
use latchkey::core::clients::{ClientStore as _, NewClient};
use latchkey::core::clock::{Clock, ManualClock, SharedClock};
use latchkey::store::Store;
use sqlx::Connection as _;

pub mod browser;
pub mod chromium;
pub mod dpop;
pub mod first_party;
pub mod mail;
pub mod process;
pub mod proxy;
pub mod totp;
pub mod webdriver;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database: a temporary SQLite file, or a PostgreSQL schema of
/// its own that is dropped when the `TestDb` is.
pub struct TestDb {
    pub backend: Backend,
    /// The URL latchkey connects with.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_schema: Option<(String, String)>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let path: PathBuf = dir.path().join("latchkey.db");
        TestDb {
            backend: Backend::Sqlite,
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
        let schema = format!("lk_test_{}", uuid::Uuid::new_v4().simple());
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
            backend: Backend::Postgres,
            url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
            _dir: None,
            pg_schema: Some((base, schema)),
        })
    }

    /// Settings for a server on this database, with everything else default.
    pub fn settings(&self) -> Settings {
        Settings {
            database_url: self.url.clone(),
            bind: "127.0.0.1:0".into(),
            // Keep test pools small: many tests run at once against one server.
            database_max_connections: 4,
            ..Settings::default()
        }
    }

    /// A connected, migrated store on this database.
    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.settings()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Runs the `latchkey` binary against this database.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write as _;
        use std::process::{Command, Stdio};
        let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
            .args(args)
            .env("LATCHKEY_DATABASE_URL", &self.url)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        drop(child.stdin.take());
        child.wait_with_output().unwrap()
    }

    /// Runs the CLI, asserts success, and parses its `--json` stdout.
    pub fn cli_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "latchkey {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "latchkey {args:?} printed no JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
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

/// A latchkey server on a loopback port, on a test database.
pub struct TestServer {
    pub server: Server,
    pub url: String,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
}

impl TestServer {
    /// Starts a server whose issuer is its own URL, with a manual clock starting
    /// at the real time.
    pub async fn start(db: &TestDb) -> TestServer {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: &TestDb, tweak: impl FnOnce(&mut Settings)) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let url = format!("http://{addr}");
        let mut settings = db.settings();
        settings.issuer = url.clone();
        tweak(&mut settings);
        let settings = settings.validated().unwrap();
        let clock = ManualClock::starting_now();
        let app = latchkey::app::build(settings, clock.clone() as SharedClock)
            .await
            .unwrap();
        let server = Server::from_parts(listener, app);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        TestServer {
            server,
            url,
            clock,
            http,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Registers a client directly in the store; returns it with its secret.
    pub async fn client(&self, new: NewClient) -> TestClient {
        let (client, secret) = new.build(self.now()).unwrap();
        self.server
            .app
            .store()
            .insert_client(&client)
            .await
            .unwrap();
        TestClient {
            id: client.id.to_string(),
            secret: secret.map(|s| s.expose().to_owned()),
        }
    }

    /// POSTs a form to the token endpoint with HTTP Basic for `client`.
    pub async fn token_basic(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/v1/oauth/token"))
            .basic_auth(&client.id, client.secret.as_deref())
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The JWKS the server publishes.
    pub async fn jwks(&self) -> latchkey_proto::JwkSet {
        self.http
            .get(self.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: Option<String>,
}

/// Verifies a JWT with the published JWKS, independently of latchkey's own
/// verification code: jsonwebtoken, with the algorithm fixed by the test.
pub fn verify_with_jwks<T: serde::de::DeserializeOwned>(
    token: &str,
    jwks: &latchkey_proto::JwkSet,
    alg: jsonwebtoken::Algorithm,
    issuer: &str,
    audience: &str,
) -> Result<(jsonwebtoken::Header, T), String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.clone().ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in JWKS")?;
    let json = serde_json::to_value(jwk).unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(json).map_err(|e| e.to_string())?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    let data = jsonwebtoken::decode::<T>(token, &key, &validation).map_err(|e| e.to_string())?;
    Ok((header, data.claims))
}

/// Sends raw bytes to the server and returns everything it answers (for
/// requests a well-behaved client cannot make).
pub async fn raw_http(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    // The server may answer and close before reading everything; that is fine.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut out),
    )
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Polls `condition` until it holds, failing the test if it has not within
/// `limit`: for effects another process (or a background task) makes at a
/// time the test cannot know. Never a timed assertion: a slow machine only
/// takes longer.
pub async fn wait_until<F, Fut>(what: &str, limit: std::time::Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !condition().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
