//! Register → verify → sign in → the account page, in a real browser
//! (headless Chromium): the forms as a person fills them, the links as
//! they are e-mailed, the account page as it is painted. Screenshots are
//! saved under `target/screenshots/`: `register.png`, `register-done.png`,
//! `verify-email.png`, `account.png`.

use fantoccini::Locator;

use crate::accounts::{NEW_PASSWORD, server};
use crate::common::TestDb;
use crate::common::chromium::Chromium;
use crate::common::mail::MailCatcher;
use crate::common::webdriver::{expect_heading, fill, save, submit};

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
    fill(b, "input[name=email]", "Vera@Example.com").await;
    fill(b, "input[name=name]", "Vera").await;
    fill(b, "input[name=password]", NEW_PASSWORD).await;
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
    fill(b, "input[name=username]", "vera@example.com").await;
    fill(b, "input[name=password]", NEW_PASSWORD).await;
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
