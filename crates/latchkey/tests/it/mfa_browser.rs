//! Enrolling an authenticator app and signing in with it, in a real browser
//! (headless Chromium), without JavaScript on the pages: the QR code is
//! painted (inline SVG past the CSP), the key read from the page, the code
//! typed as a person would. Screenshots under `target/screenshots/`:
//! `mfa-enrol.png` (the setup page), `mfa-recovery.png` (the codes, once),
//! `mfa-login.png` (the second step).

use fantoccini::Locator;

use crate::common::chromium::Chromium;
use crate::common::first_party::PASSWORD;
use crate::common::totp::{base32_decode, code_at};
use crate::common::webdriver::{expect_heading, fill, password_login, save, submit};
use crate::common::{TestDb, TestServer};

const EMAIL: &str = "grace@example.com";

async fn sign_in_with_password(b: &fantoccini::Client, srv: &TestServer) {
    b.goto(&srv.url("/login")).await.unwrap();
    password_login(b, EMAIL, PASSWORD).await;
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
    fill(b, "input[name=code]", &code_at(&key, srv.now())).await;
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
    fill(b, "input[name=code]", &code_at(&key, srv.now())).await;
    submit(b).await;
    expect_heading(b, "You are signed in").await;
}
