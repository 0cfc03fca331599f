//! The sign-in limits under concurrency (docs/signin-limits.md): only
//! failures count, so concurrent right passwords never lock a user out; a
//! client that hangs up cannot leave anything behind nor escape its count;
//! and concurrent guesses never get more than the limit's worth of checks.
//! Real HTTP clients against a real listening server, on both backends, and
//! two `latchkey serve` processes on one PostgreSQL database.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use latchkey::core::audit::{AuditFilter, AuditStore as _};
use latchkey::core::clients::TokenDelivery;
use tokio::io::AsyncWriteExt as _;

use crate::common::first_party::{PASSWORD, expect_error, first_party_public};
use crate::common::process::{Process, free_port};
use crate::common::{TestClient, TestDb, TestServer};

const LIMIT: usize = 10;

/// `POST /v1/signin` for a public client against any base URL; the status
/// and the `error` of the answer.
async fn attempt(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    username: &str,
    password: &str,
) -> (u16, Option<String>) {
    let resp = http
        .post(format!("{base}/v1/signin"))
        .json(&serde_json::json!({
            "client_id": client_id, "username": username, "password": password,
        }))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (status, body["error"].as_str().map(str::to_owned))
}

/// `n` concurrent sign-ins, spread over `bases` in turn; their answers.
async fn burst(
    bases: &[&str],
    client_id: &str,
    username: &str,
    password: &str,
    n: usize,
) -> Vec<(u16, Option<String>)> {
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (http, base) = (http.clone(), bases[i % bases.len()].to_owned());
            let (client_id, username, password) = (
                client_id.to_owned(),
                username.to_owned(),
                password.to_owned(),
            );
            tokio::spawn(
                async move { attempt(&http, &base, &client_id, &username, &password).await },
            )
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    answers
}

fn count(answers: &[(u16, Option<String>)], status: u16, error: Option<&str>) -> usize {
    answers
        .iter()
        .filter(|(s, e)| *s == status && e.as_deref() == error)
        .count()
}

/// Asserts what 40 concurrent wrong passwords may get: at most the limit of
/// `invalid_grant` (each a password really checked), 429 for all the rest.
fn assert_guesses_capped(answers: &[(u16, Option<String>)]) {
    let checked = count(answers, 400, Some("invalid_grant"));
    let refused = count(answers, 429, Some("too_many_requests"));
    assert!(
        checked <= LIMIT,
        "{checked} wrong passwords were checked: {answers:?}"
    );
    assert_eq!(checked + refused, answers.len(), "{answers:?}");
}

/// Writes a whole `/v1/signin` request on a fresh connection and hangs up
/// without reading the answer.
async fn send_and_hang_up(addr: SocketAddr, client_id: &str, username: &str, password: &str) {
    let body = serde_json::json!({
        "client_id": client_id, "username": username, "password": password,
    })
    .to_string();
    let request = format!(
        "POST /v1/signin HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.shutdown().await.unwrap();
    drop(stream);
}

/// Sign-in audit events so far: (failures, refusals).
async fn signin_events(srv: &TestServer) -> (usize, usize) {
    srv.server.app.audit().flush().await;
    let events = srv
        .server
        .app
        .store()
        .list_audit_events(&AuditFilter {
            limit: 10_000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let failures = events
        .iter()
        .filter(|e| e.kind == "signin" && e.outcome == "failure")
        .count();
    let refusals = events.iter().filter(|e| e.kind == "signin_refused").count();
    (failures, refusals)
}

async fn server(db: &TestDb) -> (TestServer, TestClient) {
    let srv = TestServer::start_with(db, |s| s.signin_slowdown_ms = 0).await;
    let spa = srv.client(first_party_public(TokenDelivery::Body)).await;
    (srv, spa)
}

both_backends! {
    /// 64 concurrent sign-ins of one user with the right password all
    /// succeed, and so do the next ones: attempts in flight are not failures.
    async fn concurrent_right_passwords_all_succeed(db) {
        let (srv, spa) = server(&db).await;
        srv.user("ada@example.com", &[]).await;
        let bases = [srv.url.as_str()];
        let answers = burst(&bases, &spa.id, "ada@example.com", PASSWORD, 64).await;
        assert_eq!(count(&answers, 200, None), 64, "{answers:?}");
        let answers = burst(&bases, &spa.id, "ada@example.com", PASSWORD, 16).await;
        assert_eq!(count(&answers, 200, None), 16, "{answers:?}");
        srv.signed_in(&spa, "ada@example.com").await;
    }
}

both_backends! {
    /// 40 concurrent wrong passwords: at most the limit's worth reach the
    /// password check (`invalid_grant`), the rest are refused; then the
    /// username is locked, right password included.
    async fn concurrent_wrong_passwords_are_capped_at_the_limit(db) {
        let (srv, spa) = server(&db).await;
        srv.user("bea@example.com", &[]).await;
        let answers = burst(&[srv.url.as_str()], &spa.id, "bea@example.com", "guess", 40).await;
        assert_guesses_capped(&answers);
        let (failures, _) = signin_events(&srv).await;
        assert!(failures <= LIMIT, "{failures} checks failed");
        let (status, error) = attempt(&srv.http, &srv.url, &spa.id, "bea@example.com", PASSWORD).await;
        assert_eq!((status, error.as_deref()), (429, Some("too_many_requests")));
    }
}

both_backends! {
    /// Clients that send a wrong password and hang up at once are still
    /// checked to the end and counted: 15 of them lock the username.
    async fn abandoned_wrong_passwords_still_count(db) {
        let (srv, spa) = server(&db).await;
        srv.user("cleo@example.com", &[]).await;
        let addr: SocketAddr = srv.url.trim_start_matches("http://").parse().unwrap();
        for _ in 0..15 {
            send_and_hang_up(addr, &spa.id, "cleo@example.com", "guess").await;
        }
        // Step 2: wait (bounded) until the server has settled all 15: each
        // ends as a failure or a refusal in the audit trail.
        let start = Instant::now();
        loop {
            let (failures, refusals) = signin_events(&srv).await;
            if failures + refusals >= 15 {
                assert_eq!((failures, refusals), (LIMIT, 15 - LIMIT), "only the limit is checked");
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "only {failures} + {refusals} of 15 settled");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Step 3: the username is locked, even with the right password.
        let resp = srv.signin(&spa, "cleo@example.com", PASSWORD, None).await;
        assert!(resp.headers().contains_key("retry-after"));
        expect_error(resp, 429, "too_many_requests").await;
    }
}

both_backends! {
    /// Clients that send the right password and hang up at once (a load
    /// tester cut short) leave nothing behind: the user signs in afterwards.
    async fn abandoned_right_passwords_do_not_lock_out(db) {
        let (srv, spa) = server(&db).await;
        srv.user("dora@example.com", &[]).await;
        let addr: SocketAddr = srv.url.trim_start_matches("http://").parse().unwrap();
        for _ in 0..20 {
            send_and_hang_up(addr, &spa.id, "dora@example.com", PASSWORD).await;
        }
        srv.signed_in(&spa, "dora@example.com").await;
        let answers = burst(&[srv.url.as_str()], &spa.id, "dora@example.com", PASSWORD, 16).await;
        assert_eq!(count(&answers, 200, None), 16, "{answers:?}");
    }
}

/// The same promises with two `latchkey serve` processes sharing one
/// PostgreSQL database, the requests spread over both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_the_limits() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = [("LATCHKEY_SIGNIN_SLOWDOWN_MS", "0")];
    let a = Process::start(&db, free_port(), &dir.path().join("a.log"), &env).await;
    let b = Process::start(&db, free_port(), &dir.path().join("b.log"), &env).await;
    let bases = [a.url.as_str(), b.url.as_str()];
    let spa = db.cli_json(&[
        "client",
        "create",
        "--json",
        "--name",
        "spa",
        "--public",
        "--first-party",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
    ]);
    let spa = spa["client_id"].as_str().unwrap().to_owned();
    for email in ["eve@example.com", "fay@example.com"] {
        let out = db.cli_with_stdin(
            &[
                "user",
                "create",
                "--json",
                "--email",
                email,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Step 1: right passwords, 64 at once over both processes, then more.
    let answers = burst(&bases, &spa, "eve@example.com", PASSWORD, 64).await;
    assert_eq!(count(&answers, 200, None), 64, "{answers:?}");
    let answers = burst(&bases, &spa, "eve@example.com", PASSWORD, 16).await;
    assert_eq!(count(&answers, 200, None), 16, "{answers:?}");

    // Step 2: wrong passwords, 40 at once over both: capped at the limit,
    // and then the username is locked in both processes.
    let answers = burst(&bases, &spa, "fay@example.com", "guess", 40).await;
    assert_guesses_capped(&answers);
    let http = reqwest::Client::new();
    for base in &bases {
        let (status, error) = attempt(&http, base, &spa, "fay@example.com", PASSWORD).await;
        assert_eq!((status, error.as_deref()), (429, Some("too_many_requests")));
    }
    // The other user is not affected.
    let (status, _) = attempt(&http, bases[1], &spa, "eve@example.com", PASSWORD).await;
    assert_eq!(status, 200);
}
