//! Logs and the audit trail (docs/operations.md), through the real binary: the
//! whole flow suite at trace level, then a search of everything logged for
//! every secret the flows used.

use std::time::Duration;

use serde_json::Value;

use crate::common::process::{Process, free_port};

/// The `Set-Cookie` value of `name`.
fn cookie(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned()
}

async fn form(
    http: &reqwest::Client,
    url: String,
    id: &str,
    secret: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    http.post(url)
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap()
}

both_backends! {
    async fn no_secret_reaches_the_logs_and_security_events_are_audited(db) {
        // Step 1: a confidential client, a cookie client and a user, by the CLI.
        let svc = db.cli_json(&[
            "client", "create", "--name", "svc", "--grant-type", "client_credentials",
            "--grant-type", "password", "--grant-type", "refresh_token",
            "--scope", "read", "--json",
        ]);
        let (id, secret) = (svc["client_id"].as_str().unwrap().to_owned(), svc["client_secret"].as_str().unwrap().to_owned());
        let web = db.cli_json(&[
            "client", "create", "--name", "web", "--first-party", "--grant-type", "password",
            "--grant-type", "refresh_token", "--scope", "read",
            "--token-delivery", "cookie", "--json",
        ]);
        let (web_id, web_secret) = (web["client_id"].as_str().unwrap().to_owned(), web["client_secret"].as_str().unwrap().to_owned());
        let password = "Tr0ub4dor&3-very-secret-password";
        let wrong_password = "hunter2-wrong-secret-password";
        let user = db.cli_with_stdin(&["user", "create", "--email", "ada@example.com", "--password-stdin", "--json"], Some(&format!("{password}\n")));
        assert!(user.status.success(), "{}", String::from_utf8_lossy(&user.stderr));
        let user_id = serde_json::from_slice::<Value>(&user.stdout).unwrap()["id"].as_str().unwrap().to_owned();

        // Step 2: the server at trace level, JSON logs.
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("serve.log");
        let mut server = Process::start(&db, free_port(), &log, &[
            ("LATCHKEY_LOG_LEVEL", "trace"),
            ("LATCHKEY_LOG_FORMAT", "json"),
        ]).await;
        let http = reqwest::Client::new();
        let url = |p: &str| format!("{}{p}", server.url);
        let mut secrets: Vec<String> = vec![secret.clone(), web_secret.clone(), password.into(), wrong_password.into()];

        // Step 3: client credentials.
        let resp = form(&http, url("/v1/oauth/token"), &id, &secret, &[("grant_type", "client_credentials")]).await;
        assert_eq!(resp.status(), 200);
        let request_id = resp.headers().get("x-request-id").unwrap().to_str().unwrap().to_owned();
        let cc: Value = resp.json().await.unwrap();
        let cc_token = cc["access_token"].as_str().unwrap().to_owned();
        secrets.push(cc_token.clone());

        // Step 4: sign-in, a wrong password, refresh, reuse.
        let signin = |pw: &str| http.post(url("/v1/signin")).basic_auth(&id, Some(&secret))
            .json(&serde_json::json!({"username": "ada@example.com", "password": pw})).send();
        let resp = signin(wrong_password).await.unwrap();
        assert_eq!(resp.status(), 400);
        let resp = signin(password).await.unwrap();
        assert_eq!(resp.status(), 200);
        let tokens: Value = resp.json().await.unwrap();
        let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
        secrets.push(tokens["access_token"].as_str().unwrap().to_owned());
        secrets.push(r1.clone());
        let resp = form(&http, url("/v1/oauth/token"), &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
        assert_eq!(resp.status(), 200);
        let refreshed: Value = resp.json().await.unwrap();
        let r2 = refreshed["refresh_token"].as_str().unwrap().to_owned();
        secrets.push(r2.clone());
        secrets.push(refreshed["access_token"].as_str().unwrap().to_owned());
        let resp = form(&http, url("/v1/oauth/token"), &id, &secret, &[("grant_type", "refresh_token"), ("refresh_token", &r1)]).await;
        assert_eq!(resp.status(), 400, "reuse is refused");

        // Step 5: introspect and revoke.
        for t in [&cc_token, &r2] {
            let resp = form(&http, url("/v1/oauth/introspect"), &id, &secret, &[("token", t)]).await;
            assert_eq!(resp.status(), 200);
        }
        let resp = signin(password).await.unwrap();
        let fresh: Value = resp.json().await.unwrap();
        let r3 = fresh["refresh_token"].as_str().unwrap().to_owned();
        secrets.push(r3.clone());
        for t in [&cc_token, &r3] {
            let resp = form(&http, url("/v1/oauth/revoke"), &id, &secret, &[("token", t)]).await;
            assert_eq!(resp.status(), 200);
        }

        // Step 6: cookie sign-in and cookie refresh.
        let resp = http.post(url("/v1/signin")).basic_auth(&web_id, Some(&web_secret))
            .json(&serde_json::json!({"username": "ada@example.com", "password": password})).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let (refresh, csrf) = (cookie(&resp, "latchkey_refresh"), cookie(&resp, "latchkey_csrf"));
        secrets.push(refresh.clone());
        let resp = http.post(url("/v1/refresh"))
            .header("cookie", format!("latchkey_refresh={refresh}; latchkey_csrf={csrf}"))
            .header("x-csrf-token", &csrf).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        secrets.push(cookie(&resp, "latchkey_refresh"));
        let body: Value = resp.json().await.unwrap();
        secrets.push(body["access_token"].as_str().unwrap().to_owned());

        // Step 7: stop it (SIGTERM flushes the audit queue) and read the logs.
        server.signal("TERM");
        let status = server.wait_exit(Duration::from_secs(15)).await.expect("exits on SIGTERM");
        assert!(status.success(), "{status}");
        let logs = server.logs();
        assert!(logs.lines().count() > 50, "trace level logs plenty");
        for line in logs.lines().filter(|l| l.starts_with('{')) {
            serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        }
        assert!(logs.contains(&request_id), "the request id is on the request's lines");
        for s in &secrets {
            assert!(!logs.contains(s.as_str()), "a secret reached the logs: {s}");
            // Not even the signature part of a JWT, or a long prefix of a token.
            let tail = &s[s.len().saturating_sub(20)..];
            assert!(!logs.contains(tail), "part of a secret reached the logs: {tail}");
        }
        assert!(logs.contains("\"target\":\"audit\""), "audit events are logged under target audit");

        // Step 8: the audit trail, by the CLI.
        let all = db.cli_json(&["audit", "list", "--json"]);
        let kinds: Vec<(String, String)> = all.as_array().unwrap().iter()
            .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
            .collect();
        for expected in [
            ("client_create", "success"), ("user_create", "success"),
            ("signin", "failure"), ("signin", "success"),
            ("refresh_reuse", "refused"), ("revoke", "success"),
        ] {
            assert!(kinds.iter().any(|(k, o)| k == expected.0 && o == expected.1), "{expected:?} missing from {kinds:?}");
        }
        let text = serde_json::to_string(&all).unwrap();
        for s in &secrets {
            assert!(!text.contains(s.as_str()), "a secret reached the audit trail");
        }
        let failed = all.as_array().unwrap().iter().find(|e| e["kind"] == "signin" && e["outcome"] == "failure").unwrap();
        assert_eq!(failed["address"], "127.0.0.1");
        assert_eq!(failed["client_id"], id.as_str());
        assert_eq!(failed["user_id"], user_id.as_str());
        let mine = db.cli_json(&["audit", "list", "--user", &user_id, "--since", "1h", "--json"]);
        assert!(mine.as_array().unwrap().len() >= 4);
        assert!(mine.as_array().unwrap().iter().all(|e| e["user_id"] == user_id.as_str()));
        let future = db.cli_json(&["audit", "list", "--since", "2999-01-01T00:00:00Z", "--json"]);
        assert_eq!(future.as_array().unwrap().len(), 0);
        let bad = db.cli(&["audit", "list", "--since", "yesterday"]);
        assert!(!bad.status.success());
    }
}
