//! Accounts, the operator's and the operations' side: the `latchkey user`
//! commands as a binary, e-mail delivery through the outbox (a mail server
//! that comes up late, two processes sending each e-mail once, a `kill -9`
//! that loses nothing), and answers that never tell whether an address
//! has an account.

use std::time::Duration;

use latchkey::core::clients::TokenDelivery;
use latchkey::core::outbox::OutboxStore as _;
use serde_json::Value;

use crate::accounts::{NEW_PASSWORD, post_json, server, submit_register};
use crate::common::browser::Browser;
use crate::common::first_party::{PASSWORD, expect_error, expect_tokens, first_party};
use crate::common::mail::MailCatcher;
use crate::common::process::{Process, free_port};
use crate::common::{TestClient, TestServer, wait_until};

both_backends! {
    /// `user show|set-password|enable|verify-email|delete`, each with
    /// `--json`, as the binary, against the server's database.
    async fn the_user_commands(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let id = srv.user("kim@example.com", &["staff"]).await;
        let refresh = srv.signed_in(&app, "kim@example.com").await.refresh_token.unwrap();

        // show, by id and by address.
        let shown = db.cli_json(&["user", "show", &id, "--json"]);
        assert_eq!(shown["email"], "kim@example.com");
        assert_eq!(shown["email_verified"], true, "operator-made users start verified");
        assert_eq!(shown["roles"], serde_json::json!(["staff"]));
        assert!(shown.get("password_hash").is_none());
        assert_eq!(db.cli_json(&["user", "show", "KIM@example.com", "--json"])["id"], Value::from(id.clone()));
        assert!(!db.cli(&["user", "show", "nobody@example.com"]).status.success());

        // set-password: the rules apply; then every session ends.
        let weak = db.cli_with_stdin(&["user", "set-password", &id, "--password-stdin"], Some("password\n"));
        assert!(!weak.status.success());
        assert!(String::from_utf8_lossy(&weak.stderr).contains("most common"));
        let out = db.cli_with_stdin(&["user", "set-password", &id, "--password-stdin", "--json"], Some(&format!("{NEW_PASSWORD}\n")));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out["revoked_refresh_token_families"], 1);
        expect_error(srv.refresh(&app, &refresh, None).await, 400, "invalid_grant").await;
        expect_error(srv.signin(&app, "kim@example.com", PASSWORD, None).await, 400, "invalid_grant").await;
        expect_tokens(srv.signin(&app, "kim@example.com", NEW_PASSWORD, None).await).await;

        // disable, then enable.
        db.cli_json(&["user", "disable", &id, "--json"]);
        expect_error(srv.signin(&app, "kim@example.com", NEW_PASSWORD, None).await, 400, "invalid_grant").await;
        let enabled = db.cli_json(&["user", "enable", &id, "--json"]);
        assert_eq!(enabled["disabled"], false);
        expect_tokens(srv.signin(&app, "kim@example.com", NEW_PASSWORD, None).await).await;

        // verify-email: a self-registered user becomes able to sign in.
        let mail = MailCatcher::start();
        drop(srv);
        let srv = server(&db, &mail, |_| {}).await;
        let app2 = srv.client(first_party(TokenDelivery::Body)).await;
        let resp = post_json(&srv, &app2, "/v1/signup", serde_json::json!({"email": "lou@example.com", "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 201);
        expect_error(srv.signin(&app2, "lou@example.com", NEW_PASSWORD, None).await, 400, "invalid_grant").await;
        let lou = db.cli_json(&["user", "show", "lou@example.com", "--json"]);
        assert_eq!(lou["email_verified"], false);
        let verified = db.cli_json(&["user", "verify-email", "lou@example.com", "--json"]);
        assert_eq!(verified["email_verified"], true);
        expect_tokens(srv.signin(&app2, "lou@example.com", NEW_PASSWORD, None).await).await;

        // delete: the user and its tokens are gone; the address is free.
        let deleted = db.cli_json(&["user", "delete", &id, "--json"]);
        assert_eq!(deleted["deleted"], true);
        assert!(!db.cli(&["user", "show", &id]).status.success());
        assert!(!db.cli(&["user", "delete", &id]).status.success());
        expect_error(srv.signin(&app2, "kim@example.com", NEW_PASSWORD, None).await, 400, "invalid_grant").await;
        let list = db.cli_json(&["user", "list", "--json"]);
        assert_eq!(list.as_array().unwrap().len(), 1);
        // The audit trail names what the operator did.
        let audit = db.cli_json(&["audit", "list", "--json"]);
        let kinds: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
        for k in ["user_set_password", "user_enable", "user_verify_email", "user_delete"] {
            assert!(kinds.contains(&k), "{k} in {kinds:?}");
        }
    }
}

both_backends! {
    /// The mail server is down when the e-mail is committed: the answer
    /// does not wait for it, the outbox retries with backoff, and the
    /// e-mail arrives once the server is up — once.
    async fn an_email_waits_for_the_mail_server(db) {
        let port = free_port();
        let mail_url = format!("smtp://127.0.0.1:{port}");
        let srv = TestServer::start_with(&db, |s| {
            s.registration = latchkey::core::settings::Registration::Open;
            s.smtp_url = Some(mail_url);
            s.outbox_poll_interval_ms = 50;
        }).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let started = std::time::Instant::now();
        let resp = post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": "max@example.com", "password": NEW_PASSWORD})).await;
        assert_eq!(resp.status(), 201);
        assert!(started.elapsed() < Duration::from_secs(5));

        // Step 1: attempts fail while nothing listens.
        let store = srv.server.app.store().clone();
        wait_until("a failed attempt", Duration::from_secs(10), || {
            let store = store.clone();
            async move {
                store.list_outbox("email").await.unwrap().first().is_some_and(|m| m.attempts >= 1 && m.last_error.is_some())
            }
        }).await;
        assert!(!store.list_outbox("email").await.unwrap()[0].delivered);

        // Step 2: the server comes up; the backoff passes; it arrives once.
        let mail = MailCatcher::start_on(port);
        srv.clock.advance(600);
        let got = mail.wait_for("max@example.com", 1).await;
        assert!(got[0].link("/verify-email").is_some());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(mail.all().len(), 1);
        let state = &store.list_outbox("email").await.unwrap()[0];
        assert!(state.delivered && state.attempts >= 2, "{state:?}");
    }
}

/// A first-party client registered with the CLI (for server processes).
fn cli_client(db: &crate::common::TestDb) -> TestClient {
    let out = db.cli_json(&[
        "client",
        "create",
        "--name",
        "app",
        "--first-party",
        "--grant-type",
        "password",
        "--json",
    ]);
    TestClient {
        id: out["client_id"].as_str().unwrap().to_owned(),
        secret: out["client_secret"].as_str().map(str::to_owned),
    }
}

async fn signup_at(http: &reqwest::Client, base: &str, client: &TestClient, email: &str) -> u16 {
    http.post(format!("{base}/v1/signup"))
        .basic_auth(&client.id, client.secret.as_deref())
        .json(&serde_json::json!({"email": email, "password": NEW_PASSWORD}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

both_backends! {
    /// Two server processes on one database, both with outbox workers:
    /// every e-mail is sent exactly once.
    async fn two_processes_send_each_email_once(db) {
        let mail = MailCatcher::start();
        let dir = tempfile::tempdir().unwrap();
        let mail_url = mail.url();
        let env = [
            ("LATCHKEY_REGISTRATION", "open"),
            ("LATCHKEY_SMTP_URL", mail_url.as_str()),
            ("LATCHKEY_OUTBOX_POLL_INTERVAL_MS", "10"),
        ];
        let a = Process::start(&db, free_port(), &dir.path().join("a.log"), &env).await;
        let b = Process::start(&db, free_port(), &dir.path().join("b.log"), &env).await;
        let client = cli_client(&db);
        let http = reqwest::Client::new();
        let n = 16;
        let mut tasks = Vec::new();
        for i in 0..n {
            let base = if i % 2 == 0 { a.url.clone() } else { b.url.clone() };
            let (http, client) = (http.clone(), client.clone());
            tasks.push(tokio::spawn(async move {
                signup_at(&http, &base, &client, &format!("u{i}@example.com")).await
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 201);
        }
        for i in 0..n {
            mail.wait_for(&format!("u{i}@example.com"), 1).await;
        }
        // Both workers have had many more rounds since: still once each.
        tokio::time::sleep(Duration::from_millis(800)).await;
        assert_eq!(mail.all().len(), n, "{:?}", mail.all().iter().map(|m| &m.to).collect::<Vec<_>>());
    }
}

both_backends! {
    /// `kill -9` after the e-mail was committed and before it could be
    /// sent (the mail server was down): the next process sends it.
    async fn kill_9_before_sending_loses_no_email(db) {
        let dead = free_port();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("a.log");
        let dead_url = format!("smtp://127.0.0.1:{dead}");
        let mut a = Process::start(&db, free_port(), &log, &[
            ("LATCHKEY_REGISTRATION", "open"),
            ("LATCHKEY_SMTP_URL", dead_url.as_str()),
            ("LATCHKEY_OUTBOX_POLL_INTERVAL_MS", "10"),
        ]).await;
        let client = cli_client(&db);
        let http = reqwest::Client::new();
        assert_eq!(signup_at(&http, &a.url, &client, "ned@example.com").await, 201);
        a.kill9();
        let store = db.store().await;
        let rows = store.list_outbox("email").await.unwrap();
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].delivered, "{:?}", rows[0]);

        let mail = MailCatcher::start();
        let _b = Process::start(&db, free_port(), &dir.path().join("b.log"), &[
            ("LATCHKEY_REGISTRATION", "open"),
            ("LATCHKEY_SMTP_URL", mail.url().as_str()),
            ("LATCHKEY_OUTBOX_POLL_INTERVAL_MS", "10"),
        ]).await;
        let got = mail.wait_for("ned@example.com", 1).await;
        assert!(got[0].link("/verify-email").is_some());
        // The link was never logged by the process that had an smtp_url.
        let token = got[0].token("/verify-email").unwrap();
        assert!(!std::fs::read_to_string(&log).unwrap().contains(&token));
    }
}

/// An answer with what may legitimately differ between two requests
/// blanked: the date, the request id, the browser cookie's value.
fn comparable(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let mut hs: Vec<(String, String)> = headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id"))
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("");
            let v = match v.split_once('=') {
                Some((name, rest)) if k == "set-cookie" => {
                    format!("{name}=*;{}", rest.split_once(';').map_or("", |r| r.1))
                }
                _ => v.to_owned(),
            };
            (k.as_str().to_owned(), v)
        })
        .collect();
    hs.sort();
    (status, hs, body.to_owned())
}

both_backends! {
    /// Every accounts endpoint answers a known and an unknown address alike:
    /// status, headers, and body (modulo the address as typed and a random
    /// id). Two addresses of equal length, so that even `Content-Length`
    /// must match.
    async fn known_and_unknown_addresses_are_answered_alike(db) {
        let mail = MailCatcher::start();
        let srv = server(&db, &mail, |_| {}).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        srv.user("known1@example.com", &[]).await;
        let (known, unknown) = ("known1@example.com", "nobody@example.com");

        // POST /v1/signup.
        let mut answers = Vec::new();
        for email in [known, unknown] {
            let resp = post_json(&srv, &app, "/v1/signup", serde_json::json!({"email": email, "password": NEW_PASSWORD})).await;
            let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["email"], email);
            let blank = serde_json::json!({"id": body["id"].as_str().unwrap().len(), "email": "*", "email_verified": body["email_verified"]});
            answers.push(comparable(status, &headers, &blank.to_string()));
        }
        assert_eq!(answers[0], answers[1], "/v1/signup");

        // POST /v1/password/forgot (the unknown address has now registered:
        // use another one).
        let mut answers = Vec::new();
        for email in [known, "nobod2@example.com"] {
            let resp = post_json(&srv, &app, "/v1/password/forgot", serde_json::json!({"email": email})).await;
            let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
            answers.push(comparable(status, &headers, &resp.text().await.unwrap()));
        }
        assert_eq!(answers[0], answers[1], "/v1/password/forgot");

        // The pages, each from a fresh browser.
        for (page, path, field, nobody) in [
            ("/register", "/register", "email", "nobod3@example.com"),
            ("/forgot-password", "/forgot-password", "email", "nobod4@example.com"),
        ] {
            let mut answers = Vec::new();
            for email in [known, nobody] {
                let b = Browser::new(&srv);
                let form = b.get(page).await;
                let inputs = form.inputs();
                let answer = if path == "/register" {
                    submit_register(&b, &form, email, NEW_PASSWORD).await
                } else {
                    b.post(path, &[("csrf_token", inputs["csrf_token"].as_str()), (field, email)]).await
                };
                answers.push(comparable(answer.status, &answer.headers, &answer.body));
            }
            assert_eq!(answers[0], answers[1], "{page}");
        }

        // And each known address got its e-mails: the two signups, the
        // reset request (JSON and page).
        mail.wait_for(known, 4).await;
    }
}
