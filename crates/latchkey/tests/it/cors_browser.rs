//! CORS in a real browser: a page served from a second local origin (a
//! tiny axum server on another port) runs `fetch` against latchkey's token
//! endpoint, and Chromium lets it read the answer only when the page's
//! origin is registered for the client the request authenticates as.

use axum::response::Html;
use latchkey::core::clients::{NewClient, TokenDelivery};
use serde_json::{Value, json};

use crate::common::chromium::Chromium;
use crate::common::first_party::{PASSWORD, first_party_public};
use crate::common::{TestDb, TestServer};

/// The app: a page whose script posts a JSON token request (which the
/// browser preflights, `application/json` not being a "simple" type) and
/// reports what it could read.
const PAGE: &str = r#"<!doctype html>
<html><head><title>app</title></head><body><p>app</p>
<script>
window.tokenRequest = async (url, body) => {
  try {
    const resp = await fetch(url, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
    return {status: resp.status, body: await resp.json()};
  } catch (e) {
    return {error: String(e)};
  }
};
</script></body></html>"#;

/// Serves [`PAGE`] on a loopback port of its own: another origin than
/// latchkey's. Returns the origin.
async fn serve_app() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().route("/", axum::routing::get(|| async { Html(PAGE) }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_origin_reads_the_token_answer_only_when_registered() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;
    let db = TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    let app_origin = serve_app().await;
    assert_ne!(app_origin, srv.url, "two origins");
    let registered = srv
        .client(NewClient {
            allowed_origins: vec![app_origin.clone()],
            ..first_party_public(TokenDelivery::Body)
        })
        .await;
    let unregistered = srv.client(first_party_public(TokenDelivery::Body)).await;
    srv.user("ada@example.com", &[]).await;

    // Step 1: the app's page, from its own origin.
    b.goto(&format!("{app_origin}/")).await.unwrap();
    let request = |client_id: &str| {
        json!({
            "grant_type": "password",
            "client_id": client_id,
            "username": "ada@example.com",
            "password": PASSWORD,
            "scope": "openid",
        })
    };
    let token_url = srv.url("/v1/oauth/token");
    let token_url = &token_url;
    let fetch = |body: Value| async move {
        b.execute_async(
            "const [url, body, done] = arguments; window.tokenRequest(url, body).then(done);",
            vec![json!(token_url), body],
        )
        .await
        .unwrap()
    };

    // Step 2: as the client that registered the page's origin: the
    // preflight passes and the page reads the tokens.
    let seen = fetch(request(&registered.id)).await;
    assert_eq!(seen["status"], 200, "{seen}");
    assert!(
        seen["body"]["access_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty()),
        "{seen}"
    );

    // Step 3: as a client that did not: the preflight passes (the origin is
    // registered by some client), the request is answered, and the browser
    // withholds the answer from the page.
    let seen = fetch(request(&unregistered.id)).await;
    assert!(
        seen.get("status").is_none(),
        "the page read the answer: {seen}"
    );
    assert!(
        seen["error"].as_str().unwrap().contains("TypeError"),
        "{seen}"
    );

    // Step 4: a wrong password for the registered client: an error the page
    // can read (and act on).
    let mut wrong = request(&registered.id);
    wrong["password"] = json!("wrong");
    let seen = fetch(wrong).await;
    assert_eq!(seen["status"], 400, "{seen}");
    assert_eq!(seen["body"]["error"], "invalid_grant", "{seen}");
    b.clone().close().await.unwrap();
}
