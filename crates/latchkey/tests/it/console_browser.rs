//! The admin console in a real browser (headless Chromium): an
//! administrator signs in through latchkey's own login page, registers a
//! client (which then gets a token), disables a user (whose sign-in then
//! fails), and finds the change in the audit log under their own name; a
//! user without the role `admin` is refused. Screenshots are saved under
//! `target/screenshots/admin-*.png` (copied to docs/screenshots/).

use fantoccini::Locator;
use latchkey::core::clients::TokenDelivery;

use crate::common::chromium::Chromium;
use crate::common::first_party::{PASSWORD, first_party};
use crate::common::webdriver::{click, expect_heading, fill, password_login, save, text};
use crate::common::{TestClient, TestDb, TestServer};

/// The login page, filled in and sent.
async fn log_in(b: &fantoccini::Client, email: &str) {
    expect_heading(b, "Sign in").await;
    password_login(b, email, PASSWORD).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_manages_clients_users_and_reads_the_audit_log() {
    let Some(browser) = Chromium::start().await else {
        return;
    };
    let b = &browser.client;
    b.set_window_size(1280, 860).await.unwrap();
    let db = TestDb::sqlite().await;
    let srv = TestServer::start(&db).await;
    srv.user("ada@example.com", &["admin"]).await;
    srv.user("grace@example.com", &["staff"]).await;
    srv.user("linus@example.com", &[]).await;
    let app = srv.client(first_party(TokenDelivery::Body)).await;
    srv.signed_in(&app, "grace@example.com").await;

    // Step 1: the console sends the browser to latchkey's own login page,
    // and comes back to the overview.
    b.goto(&srv.url("/admin")).await.unwrap();
    log_in(b, "ada@example.com").await;
    expect_heading(b, "Overview").await;
    assert!(text(b, ".me-email").await.contains("ada@example.com"));
    // The stylesheet got past the CSP: the frame is laid out as a grid.
    let laid_out = b
        .execute(
            "return getComputedStyle(document.querySelector('.frame')).display;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(laid_out, "grid");
    save(b, "admin-dashboard.png").await;

    // Step 2: a new client for a service, with the keyboard-usable form.
    click(b, "a[href='/admin/clients']").await;
    expect_heading(b, "Clients").await;
    click(b, "a[href='/admin/clients/new']").await;
    expect_heading(b, "New client").await;
    fill(b, "#name", "Billing service").await;
    click(b, "input[name=grant_authorization_code]").await;
    click(b, "input[name=grant_refresh_token]").await;
    click(b, "input[name=grant_client_credentials]").await;
    save(b, "admin-client-new.png").await;
    click(b, ".actions button.primary").await;
    expect_heading(b, "Client created").await;
    let id = text(b, "#client-id").await;
    let secret = text(b, "#client-secret").await;
    save(b, "admin-client-created.png").await;
    // It works at once.
    let client = TestClient {
        id: id.clone(),
        secret: Some(secret),
    };
    let resp = srv
        .token_basic(&client, &[("grant_type", "client_credentials")])
        .await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    b.goto(&srv.url("/admin/clients")).await.unwrap();
    expect_heading(b, "Clients").await;
    assert!(text(b, "table.data").await.contains("Billing service"));
    save(b, "admin-clients.png").await;

    // Step 3: find a user, disable them; their sign-in then fails.
    click(b, "a[href='/admin/users']").await;
    expect_heading(b, "Users").await;
    fill(b, "#q", "grace").await;
    click(b, ".search button").await;
    expect_heading(b, "Users").await;
    let rows = text(b, "table.data tbody").await;
    assert!(
        rows.contains("grace@example.com") && !rows.contains("linus"),
        "{rows}"
    );
    save(b, "admin-users.png").await;
    click(b, "table.data a.strong").await;
    expect_heading(b, "grace@example.com").await;
    click(b, "input[name=disabled]").await;
    click(b, ".actions button.primary").await;
    expect_heading(b, "grace@example.com").await;
    assert_eq!(text(b, "p.note").await, "Saved.");
    save(b, "admin-user.png").await;
    let refused = srv.signin(&app, "grace@example.com", PASSWORD, None).await;
    assert_ne!(refused.status(), 200);

    // Step 4: the audit log, filtered to the change, names the administrator.
    click(b, "a[href='/admin/audit']").await;
    expect_heading(b, "Audit log").await;
    b.find(Locator::Css("#type option[value=user_disable]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    click(b, ".filter-actions button").await;
    expect_heading(b, "Audit log").await;
    let rows = text(b, "table.data tbody").await;
    assert!(rows.contains("user_disable"), "{rows}");
    assert!(rows.contains("ada@example.com"), "{rows}");
    save(b, "admin-audit.png").await;

    // Step 5: the signing keys, rotated.
    click(b, "a[href='/admin/keys']").await;
    expect_heading(b, "Signing keys").await;
    click(b, ".page-head button.primary").await;
    expect_heading(b, "Signing keys").await;
    save(b, "admin-keys.png").await;

    // Step 6: someone without the role admin is refused, clearly.
    click(b, ".me button").await;
    expect_heading(b, "You are signed out").await;
    b.goto(&srv.url("/admin")).await.unwrap();
    log_in(b, "linus@example.com").await;
    expect_heading(b, "Administrators only").await;
    save(b, "admin-forbidden.png").await;
}
