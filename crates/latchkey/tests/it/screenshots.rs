//! The login page in a real browser (headless Chromium): what the CSP lets
//! through is what a person sees, so the stylesheet, the brand colour (a
//! CSS variable in the served stylesheet, no inline style) and a logo on
//! another origin are checked in the rendered page, not in its HTML. The
//! screenshots are saved under `target/screenshots/` for a person to look
//! at: `login-en.png`, `login-de.png`, `login-brand.png`,
//! `consent-brand-fr.png`, `error-brand-es.png`, `device-confirm-brand.png`.

use std::path::PathBuf;

use axum::http::header;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;
use serde_json::{Value, json};

use crate::common::browser::{code_client, code_params, pkce};
use crate::common::chromium::Chromium;
use crate::common::first_party::PASSWORD;
use crate::common::{TestDb, TestServer};

const LOGO: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="168" height="40" viewBox="0 0 168 40"><rect x="0" y="4" width="32" height="32" rx="8" fill="#0f766e"/><path d="M9 27 16 11l7 16M11.5 22h9" stroke="#fff" stroke-width="3" fill="none" stroke-linecap="round" stroke-linejoin="round"/><text x="42" y="28" font-family="Helvetica, Arial, sans-serif" font-size="22" font-weight="700" fill="#134e4a">Acme ID</text></svg>"##;

/// Serves [`LOGO`] from a loopback port of its own: another origin than
/// latchkey's. Returns the logo's URL.
async fn serve_logo() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/logo.svg", listener.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/logo.svg",
        axum::routing::get(|| async { ([(header::CONTENT_TYPE, "image/svg+xml")], LOGO) }),
    );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The authorization URL of a fresh code request, with `extra` parameters.
fn authorize_url(srv: &TestServer, client_id: &str, extra: &[(&str, &str)]) -> String {
    let (_, challenge) = pkce();
    let mut params = code_params(client_id, &challenge, "openid profile email offline_access");
    params.extend_from_slice(extra);
    url::Url::parse_with_params(&srv.url("/v1/oauth/authorize"), &params)
        .unwrap()
        .to_string()
}

/// What the browser made of the page: its language, the button's colour
/// as painted, the heading, and whether the logo (if any) loaded.
async fn rendered(b: &fantoccini::Client) -> Value {
    // Wait for the logo to load (or fail) before looking.
    b.execute_async(
        "const done = arguments[arguments.length - 1];
         const img = document.querySelector('img.logo');
         if (!img || img.complete) { done(null); } else { img.onload = img.onerror = () => done(null); }",
        vec![],
    )
    .await
    .unwrap();
    b.execute(
        "const button = document.querySelector('button.primary');
         const img = document.querySelector('img.logo');
         return {
           lang: document.documentElement.lang,
           button: button ? getComputedStyle(button).backgroundColor : null,
           button_text: button ? getComputedStyle(button).color : null,
           card_radius: getComputedStyle(document.querySelector('.card')).borderTopLeftRadius,
           heading: document.querySelector('h1').textContent,
           logo_width: img ? img.naturalWidth : null,
         };",
        vec![],
    )
    .await
    .unwrap()
}

async fn save(b: &fantoccini::Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.len() > 1000, "{name}: an empty screenshot");
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_as_a_browser_shows_it() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;

    // Step 1: the built-in look, in English, then German by ui_locales.
    let db = TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    let client = srv.client(code_client(true)).await;
    b.goto(&authorize_url(&srv, &client.id, &[("ui_locales", "en")]))
        .await
        .unwrap();
    let seen = rendered(b).await;
    assert_eq!(seen["lang"], "en", "{seen}");
    assert_eq!(seen["heading"], "Sign in");
    // The stylesheet got past the CSP: the built-in blue, rounded card.
    assert_eq!(seen["button"], "rgb(59, 91, 219)", "{seen}");
    assert_eq!(seen["card_radius"], "14px", "{seen}");
    save(b, "login-en.png").await;

    b.goto(&authorize_url(&srv, &client.id, &[("ui_locales", "de")]))
        .await
        .unwrap();
    let seen = rendered(b).await;
    assert_eq!(seen["lang"], "de", "{seen}");
    assert_eq!(seen["heading"], "Anmelden");
    save(b, "login-de.png").await;

    // Step 2: a brand: name, colour (white text on it), and a logo served from another origin, which the CSP allows by name.
    let logo = serve_logo().await;
    let db2 = TestDb::sqlite().await;
    let branded = TestServer::start_with(&db2, |s| {
        s.brand_name = "Acme ID".into();
        s.brand_color = Some("#0f766e".parse().unwrap());
        s.brand_logo_url = Some(logo.clone());
    })
    .await;
    let client = branded.client(code_client(true)).await;
    b.goto(&authorize_url(
        &branded,
        &client.id,
        &[("ui_locales", "en")],
    ))
    .await
    .unwrap();
    let seen = rendered(b).await;
    assert_eq!(
        seen["button"], "rgb(15, 118, 110)",
        "the brand colour: {seen}"
    );
    assert_eq!(seen["button_text"], "rgb(255, 255, 255)", "{seen}");
    assert_eq!(seen["logo_width"], json!(168), "the logo loaded: {seen}");
    save(b, "login-brand.png").await;

    // Step 3: sign in (the form, as a person submits it) and look at the
    // consent page, in French.
    branded.user("ada@example.com", &[]).await;
    b.goto(&authorize_url(
        &branded,
        &client.id,
        &[("ui_locales", "fr")],
    ))
    .await
    .unwrap();
    b.execute(
        "document.getElementById('username').value = arguments[0];
         document.getElementById('password').value = arguments[1];
         document.querySelector('form').submit();",
        vec![json!("ada@example.com"), json!(PASSWORD)],
    )
    .await
    .unwrap();
    // The submit navigates; wait for the consent page.
    let mut seen = Value::Null;
    for _ in 0..100 {
        let url = b.current_url().await.unwrap();
        if url.path() == "/consent" {
            seen = rendered(b).await;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(seen["lang"], "fr", "{seen}");
    assert!(
        seen["heading"]
            .as_str()
            .unwrap()
            .contains("souhaite accéder à votre compte"),
        "{seen}"
    );
    save(b, "consent-brand-fr.png").await;

    // Step 4: an error page (an unknown client, never redirected to), in
    // Spanish, with the developer's detail in English.
    b.goto(&authorize_url(
        &branded,
        "no-such-client",
        &[("ui_locales", "es")],
    ))
    .await
    .unwrap();
    let seen = rendered(b).await;
    assert_eq!(seen["lang"], "es", "{seen}");
    save(b, "error-brand-es.png").await;

    // Step 5: the device confirmation page (still signed in from step 3),
    // in the browser's own language.
    let tv = branded
        .client(NewClient {
            name: "Living Room TV".into(),
            public: true,
            grant_types: vec![GrantType::DeviceCode],
            scopes: Some(Scope::parse("openid profile email").unwrap()),
            ..NewClient::default()
        })
        .await;
    let started: Value = branded
        .http
        .post(branded.url("/v1/oauth/device_authorization"))
        .form(&[("client_id", tv.id.as_str()), ("scope", "openid profile")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    b.goto(started["verification_uri_complete"].as_str().unwrap())
        .await
        .unwrap();
    b.execute("document.querySelector('form').submit();", vec![])
        .await
        .unwrap();
    let mut confirmed = false;
    for _ in 0..100 {
        let source = b.source().await.unwrap();
        if source.contains("name=\"decision\"") {
            confirmed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(confirmed, "the confirmation page");
    save(b, "device-confirm-brand.png").await;
}
