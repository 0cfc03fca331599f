//! Register → verify → sign in → the account page, in a real browser
//! (headless Chromium): the forms as a person fills them, the links as
//! they are e-mailed, the account page as it is painted. Screenshots are
//! saved under `target/screenshots/`: `register.png`, `register-done.png`,
//! `verify-email.png`, `account.png`.

use std::path::PathBuf;

use fantoccini::Locator;

use crate::accounts::{NEW_PASSWORD, server};
use crate::common::TestDb;
use crate::common::chromium::Chromium;
use crate::common::mail::MailCatcher;

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

/// Waits (at most 15 s) until the page's heading is `expected`: a click
/// navigates, and the next page may not be there yet.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_verify_sign_in_and_see_the_account_in_a_browser() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;
    let db = TestDb::sqlite().await;
    let mail = MailCatcher::start();
    let srv = server(&db, &mail, |_| {}).await;

    // Step 1: from the login page to the registration form.
    b.goto(&srv.url("/login")).await.unwrap();
    b.find(Locator::Css("a[href='/register']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(b, "Create an account").await;
    fill(b, "email", "Vera@Example.com").await;
    fill(b, "name", "Vera").await;
    fill(b, "password", NEW_PASSWORD).await;
    save(b, "register.png").await;
    submit(b).await;
    expect_heading(b, "Check your inbox").await;
    save(b, "register-done.png").await;

    // Step 2: the e-mailed link, opened in the same browser.
    let got = mail.wait_for("vera@example.com", 1).await;
    b.goto(&got[0].link("/verify-email").unwrap())
        .await
        .unwrap();
    expect_heading(b, "Email address confirmed").await;
    save(b, "verify-email.png").await;

    // Step 3: sign in from there, and on to the account page.
    b.find(Locator::Css("a.button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(b, "Sign in").await;
    fill(b, "username", "vera@example.com").await;
    fill(b, "password", NEW_PASSWORD).await;
    submit(b).await;
    expect_heading(b, "You are signed in").await;
    b.goto(&srv.url("/account")).await.unwrap();
    expect_heading(b, "Your account").await;
    let text = b
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("Vera@Example.com"), "{text}");
    assert!(text.contains("This browser"), "{text}");
    // The stylesheet got past the CSP: the sections are laid out.
    let laid_out = b
        .execute(
            "return getComputedStyle(document.querySelector('.item')).display;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(laid_out, "flex");
    save(b, "account.png").await;

    // Step 4: sign this browser out from the account page.
    b.find(Locator::Css("#sessions button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    expect_heading(b, "Sign in").await;
}
