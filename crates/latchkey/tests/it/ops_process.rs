//! The real `latchkey serve` under signals (docs/errors.md):
//! SIGTERM drains requests in flight and exits cleanly; `kill -9` in the
//! middle of refresh rotations (batched by group commit) and sign-ins loses
//! no token whose answer reached its client and never leaves two live
//! successors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::common::process::{Process, free_port};
use crate::common::{Backend, TestDb};

both_backends! {
    async fn sigterm_finishes_requests_in_flight_then_exits(db) {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let mut server = Process::start(&db, free_port(), &log, &[]).await;
        let addr = server.url.trim_start_matches("http://").to_owned();

        // Step 1: a request in flight: its head and half its body sent.
        let body = b"grant_type=client_credentials&client_id=nobody";
        let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /v1/oauth/token HTTP/1.1\r\nHost: x\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        conn.write_all(head.as_bytes()).await.unwrap();
        conn.write_all(&body[..10]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;

        // Step 2: SIGTERM. New connections are refused soon after.
        server.signal("TERM");
        let mut refused = false;
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tokio::net::TcpStream::connect(&addr).await.is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "still accepting after SIGTERM");

        // Step 3: the request in flight still gets its whole answer.
        conn.write_all(&body[10..]).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer))
            .await
            .expect("the answer came within the grace period")
            .unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        assert!(answer.contains("invalid_client"), "{answer}");

        // Step 4: the process exits by itself, successfully, pools closed.
        let status = server.wait_exit(Duration::from_secs(15)).await.expect("exited");
        assert!(status.success(), "{status}: {}", server.logs());
        assert!(server.logs().contains("stopped"), "{}", server.logs());
    }
}

/// What a worker knows at the moment of the crash.
#[derive(Debug, Default)]
struct Ledger {
    /// Refresh tokens whose 200 answer reached the client, never presented.
    unused: Vec<String>,
    /// Tokens presented in a request whose answer never came.
    in_flight: Vec<String>,
    rotations: usize,
    signins: usize,
}

async fn token_call(
    http: &reqwest::Client,
    url: &str,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> Result<(u16, Value), ()> {
    let resp = http
        .post(format!("{url}/v1/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .map_err(|_| ())?;
    let status = resp.status().as_u16();
    let body = resp.json::<Value>().await.map_err(|_| ())?;
    Ok((status, body))
}

/// Rows that break "one live token per live family" (docs/endpoints.md, docs/errors.md).
async fn families_with_two_live_tokens(db: &TestDb) -> i64 {
    let sql = "SELECT COUNT(*) FROM (SELECT t.family_id FROM refresh_tokens t \
               JOIN refresh_families f ON f.id = t.family_id \
               WHERE t.used_at IS NULL AND f.revoked_at IS NULL \
               GROUP BY t.family_id HAVING COUNT(*) > 1) AS x";
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.unwrap();
            pool.close().await;
            n
        }
    }
}

/// `sum` and `count` of the rotation batch-size summary in `/metrics`.
async fn batch_sizes(http: &reqwest::Client, url: &str) -> (f64, f64) {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    (
        value("latchkey_refresh_rotation_batch_size_sum "),
        value("latchkey_refresh_rotation_batch_size_count "),
    )
}

both_backends! {
    async fn kill_9_mid_stream_loses_no_answered_refresh_token(db) {
        // Step 1: a client and a user, by the CLI.
        let c = db.cli_json(&[
            "client", "create", "--name", "app", "--grant-type", "password",
            "--grant-type", "refresh_token", "--scope", "read", "--json",
        ]);
        let id = c["client_id"].as_str().unwrap().to_owned();
        let secret = c["client_secret"].as_str().unwrap().to_owned();
        let out = db.cli_with_stdin(
            &["user", "create", "--email", "ada@example.com", "--password-stdin", "--json"],
            Some("a long enough password\n"),
        );
        assert!(out.status.success());
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let mut server = Process::start(&db, free_port(), &log, &[]).await;
        let url = server.url.clone();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
        let signin = [("grant_type", "password"), ("username", "ada@example.com"), ("password", "a long enough password")];

        // Step 2: rotation workers (each on its own family) and sign-in workers.
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let mut workers = Vec::new();
        // Enough rotation workers that rotations meet in the group-commit
        // queue: the crash lands among batches of several.
        for _ in 0..16 {
            let (http, url, id, secret, ledger) = (http.clone(), url.clone(), id.clone(), secret.clone(), ledger.clone());
            let (status, body) = token_call(&http, &url, &id, &secret, &signin).await.unwrap();
            assert_eq!(status, 200, "{body}");
            let mut current = body["refresh_token"].as_str().unwrap().to_owned();
            workers.push(tokio::spawn(async move {
                loop {
                    match token_call(&http, &url, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &current)]).await {
                        Ok((200, body)) => {
                            current = body["refresh_token"].as_str().unwrap().to_owned();
                            ledger.lock().unwrap().rotations += 1;
                        }
                        Ok((status, body)) => panic!("a rotation failed before the crash: {status} {body}"),
                        Err(()) => {
                            ledger.lock().unwrap().in_flight.push(current);
                            return;
                        }
                    }
                }
            }));
        }
        for _ in 0..2 {
            let (http, url, id, secret, ledger) = (http.clone(), url.clone(), id.clone(), secret.clone(), ledger.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    match token_call(&http, &url, &id, &secret, &signin).await {
                        Ok((200, body)) => {
                            let mut l = ledger.lock().unwrap();
                            l.unused.push(body["refresh_token"].as_str().unwrap().to_owned());
                            l.signins += 1;
                        }
                        Ok((status, body)) => panic!("a sign-in failed before the crash: {status} {body}"),
                        Err(()) => return,
                    }
                }
            }));
        }

        // Step 3: kill -9 in the middle of it all, once there is enough of
        // it (a condition, not a guess at how long a slow machine needs).
        crate::common::wait_until("enough load before the crash", Duration::from_secs(60), || async {
            let l = ledger.lock().unwrap();
            l.rotations > 10 && l.signins > 0
        })
        .await;
        // ...and once some batch has carried more than one rotation (the sum
        // of batch sizes exceeds their count): the crash lands among batches.
        crate::common::wait_until("a rotation batch of several", Duration::from_secs(60), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let (sum, count) = batch_sizes(&http, &url).await;
                sum > count
            }
        })
        .await;
        server.kill9();
        for w in workers {
            tokio::time::timeout(Duration::from_secs(15), w).await.expect("workers stop").unwrap();
        }
        assert_eq!(families_with_two_live_tokens(&db).await, 0, "two live successors after the crash");
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        assert!(ledger.rotations > 10 && ledger.signins > 0, "too little load: {ledger:?}");

        // Step 4: restart on the same database.
        let server = Process::start(&db, free_port(), &log, &[]).await;
        let url = server.url.clone();
        let refresh = |t: String| {
            let (http, url, id, secret) = (http.clone(), url.clone(), id.clone(), secret.clone());
            async move {
                token_call(&http, &url, &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &t)]).await.unwrap()
            }
        };
        // Every token whose 200 reached the client works exactly once.
        for t in ledger.unused.iter() {
            let (status, body) = refresh(t.clone()).await;
            assert_eq!(status, 200, "an answered sign-in's token was lost: {body}");
            let (status, body) = refresh(t.clone()).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "worked twice");
        }
        // A token whose rotation's answer was lost: the rotation either
        // committed (the token is spent) or did not (it works, once).
        let mut spent = 0;
        for t in ledger.in_flight.iter() {
            let (status, body) = refresh(t.clone()).await;
            match status {
                200 => {
                    let (status, _) = refresh(t.clone()).await;
                    assert_eq!(status, 400, "worked twice");
                }
                400 => {
                    assert_eq!(body["error"], "invalid_grant");
                    spent += 1;
                }
                other => panic!("unexpected {other}: {body}"),
            }
        }
        eprintln!("crash test: {} rotations, {} sign-ins, {} answers lost, {spent} spent", ledger.rotations, ledger.signins, ledger.in_flight.len());
        assert_eq!(families_with_two_live_tokens(&db).await, 0);
        drop(server);
    }
}
