//! `latchkey serve --demo` (docs/operations.md): the printed public client, user and
//! PKCE pair work through the browser flow as printed.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::TestDb;
use crate::common::browser::Browser;

struct Kill(std::process::Child);
impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = line.find(key).unwrap() + key.len();
    line[start..].split_whitespace().next().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_prints_a_working_browser_flow() {
    let db = TestDb::sqlite().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_latchkey"))
        .args([
            "serve",
            "--demo",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &base,
        ])
        .env("LATCHKEY_DATABASE_URL", &db.url)
        .env("LATCHKEY_LOG_LEVEL", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _guard = Kill(child);
    // Read the banner on a thread that keeps draining stdout afterwards (the
    // server must never write into a closed pipe).
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let lines = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
            let done = line.contains("code_verifier=");
            out.push(line);
            if done {
                break;
            }
        }
        out
    })
    .await
    .unwrap();
    let text = lines.join("\n");
    assert!(text.contains("confidential client"), "{text}");
    let user_line = lines.iter().find(|l| l.contains("password=")).unwrap();
    let (email, password) = (field(user_line, "email="), field(user_line, "password="));
    let authorize = lines
        .iter()
        .find(|l| l.contains("/v1/oauth/authorize?"))
        .unwrap()
        .trim()
        .to_owned();
    let verifier = field(lines.last().unwrap(), "code_verifier=").to_owned();
    let public_line = lines.iter().find(|l| l.contains("public client")).unwrap();
    let client_id = field(public_line, "client_id=").to_owned();

    // The browser flow, exactly as printed.
    let b = Browser::at(&base);
    let login = b
        .get(b.get(&authorize).await.location.as_deref().unwrap())
        .await;
    let consent = b.submit_login(&login, email, password).await;
    let consent = b.get(consent.location.as_deref().unwrap()).await;
    let back = b.submit_consent(&consent, "allow").await;
    let code = back.redirect_param("code").unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{base}/v1/oauth/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id.as_str()),
            ("redirect_uri", &format!("{base}/demo/callback")),
            ("code_verifier", verifier.as_str()),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["id_token"].is_string());
}
