//! What the browser tests do to a page through WebDriver (fantoccini), as a
//! person would: fill a field, press a button, wait for the next page, keep
//! a screenshot. Every wait is bounded (15 s) and fails with what the page
//! showed instead.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fantoccini::Locator;

/// How long a wait for the next page lasts before the test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// `target/screenshots/`, where the browser tests leave their pictures
/// (the ones the docs show are copied to `docs/screenshots/`).
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of the page as `dir/name`; a blank picture fails the test.
pub async fn screenshot_to(b: &fantoccini::Client, dir: PathBuf, name: &str) {
    let png = b.screenshot().await.unwrap();
    assert!(png.len() > 1000, "{name}: an empty screenshot");
    std::fs::write(dir.join(name), png).unwrap();
}

/// A screenshot of the page under `target/screenshots/`.
pub async fn save(b: &fantoccini::Client, name: &str) {
    screenshot_to(b, screenshot_dir(), name).await;
}

/// Types `value` into the field `css` (emptied first).
pub async fn fill(b: &fantoccini::Client, css: &str, value: &str) {
    let field = b.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub async fn click(b: &fantoccini::Client, css: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Presses the page's primary button.
pub async fn submit(b: &fantoccini::Client) {
    click(b, "button.primary").await;
}

/// The text of the element `css`.
pub async fn text(b: &fantoccini::Client, css: &str) -> String {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Waits until the text of the first `css` element passes `ok`; fails with
/// `what` and the text seen last.
async fn wait_for_text(b: &fantoccini::Client, css: &str, what: &str, ok: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = match b.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&seen) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: the page shows {seen:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the page's heading is `expected`: a click navigates, and the
/// next page may not be there yet.
pub async fn expect_heading(b: &fantoccini::Client, expected: &str) {
    wait_for_text(
        b,
        "h1",
        &format!("the heading is not {expected:?}"),
        |seen| seen == expected,
    )
    .await;
}

/// Waits until the page's `main` says `expected`.
pub async fn expect_text(b: &fantoccini::Client, expected: &str) {
    wait_for_text(
        b,
        "main",
        &format!("the page does not say {expected:?}"),
        |seen| seen.contains(expected),
    )
    .await;
}

/// Waits until the browser is at a URL starting with `prefix`; returns it.
pub async fn expect_url(b: &fantoccini::Client, prefix: &str) -> url::Url {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let url = b.current_url().await.unwrap();
        if url.as_str().starts_with(prefix) {
            return url;
        }
        assert!(Instant::now() < deadline, "at {url}, not {prefix}…");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Signs in on the login page the browser is at, with a password.
pub async fn password_login(b: &fantoccini::Client, email: &str, password: &str) {
    fill(b, "input[name=username]", email).await;
    fill(b, "input[name=password]", password).await;
    submit(b).await;
}
