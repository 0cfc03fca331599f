//! Enrolling an authenticator app and signing in with it, in a real browser
//! (headless Chromium), without JavaScript on the pages: the QR code is
//! painted (inline SVG past the CSP), the key read from the page, the code
//! typed as a person would. Screenshots under `target/screenshots/`:
//! `mfa-enrol.png` (the setup page), `mfa-recovery.png` (the codes, once),
//! `mfa-login.png` (the second step).

use std::path::PathBuf;

use fantoccini::Locator;

use crate::common::chromium::Chromium;
use crate::common::first_party::PASSWORD;
use crate::common::totp::{base32_decode, code_at};
use crate::common::{TestDb, TestServer};

const EMAIL: &str = "grace@example.com";

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn save(b: &fantoccini::Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.len() > 1000, "{name}: an empty screenshot");
    std::fs::write(screenshot_dir().join(name), png).unwrap();
}

async fn fill(b: &fantoccini::Client, name: &str, value: &str) {
    b.find(Locator::Css(&format!("input[name={name}]")))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
}

async fn submit(b: &fantoccini::Client) {
    b.find(Locator::Css("button.primary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits (at most 15 s) until the page's heading is `expected`.
async fn expect_heading(b: &fantoccini::Client, expected: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let seen = match b.find(Locator::Css("h1")).await {
            Ok(h) => h.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if seen == expected {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the heading is {seen:?}, not {expected:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn sign_in_with_password(b: &fantoccini::Client, srv: &TestServer) {
    b.goto(&srv.url("/login")).await.unwrap();
    fill(b, "username", EMAIL).await;
    fill(b, "password", PASSWORD).await;
    submit(b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_an_authenticator_app_and_sign_in_with_it_in_a_browser() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;
    let db = TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    srv.user(EMAIL, &[]).await;

    // Step 1: signed in with the password, to the setup page from the
    // account page.
    sign_in_with_password(b, &srv).await;
    expect_heading(b, "You are signed in").await;
    b.goto(&srv.url("/account")).await.unwrap();
    b.find(Locator::Css("a[href='/account/totp']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(b, "Authenticator app").await;

    // The QR code is painted: an SVG of a real size.
    let size = b
        .execute(
            "const r = document.querySelector('.qr svg').getBoundingClientRect();
             return [r.width, r.height];",
            vec![],
        )
        .await
        .unwrap();
    assert!(size[0].as_f64().unwrap() >= 150.0, "{size}");
    save(b, "mfa-enrol.png").await;

    // Step 2: the key as the page shows it, the code an app would show.
    let key = b
        .find(Locator::Css("#secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = base32_decode(key.trim());
    fill(b, "code", &code_at(&key, srv.now())).await;
    submit(b).await;
    expect_heading(b, "Authenticator app").await;
    let codes = b
        .find_all(Locator::Css(".recovery-codes code"))
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    save(b, "mfa-recovery.png").await;
    srv.clock.advance(30);

    // Step 3: signed out, then in again: the second step.
    b.delete_all_cookies().await.unwrap();
    sign_in_with_password(b, &srv).await;
    expect_heading(b, "Two-step verification").await;
    save(b, "mfa-login.png").await;
    fill(b, "code", &code_at(&key, srv.now())).await;
    submit(b).await;
    expect_heading(b, "You are signed in").await;
}
