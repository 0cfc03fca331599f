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

async fn heading(b: &fantoccini::Client) -> String {
    b.find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
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
    assert_eq!(heading(b).await, "Create an account");
    fill(b, "email", "Vera@Example.com").await;
    fill(b, "name", "Vera").await;
    fill(b, "password", NEW_PASSWORD).await;
    save(b, "register.png").await;
    submit(b).await;
    assert_eq!(heading(b).await, "Check your inbox");
    save(b, "register-done.png").await;

    // Step 2: the e-mailed link, opened in the same browser.
    let got = mail.wait_for("vera@example.com", 1).await;
    b.goto(&got[0].link("/verify-email").unwrap())
        .await
        .unwrap();
    assert_eq!(heading(b).await, "Email address confirmed");
    save(b, "verify-email.png").await;

    // Step 3: sign in from there, and on to the account page.
    b.find(Locator::Css("a.button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(heading(b).await, "Sign in");
    fill(b, "username", "vera@example.com").await;
    fill(b, "password", NEW_PASSWORD).await;
    submit(b).await;
    assert_eq!(heading(b).await, "You are signed in");
    b.goto(&srv.url("/account")).await.unwrap();
    assert_eq!(heading(b).await, "Your account");
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
    assert_eq!(heading(b).await, "Sign in");
}
