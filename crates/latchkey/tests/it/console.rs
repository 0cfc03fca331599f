//! The admin console (`/admin`, docs/admin.md) through the real router:
//! its sign-in through latchkey's own authorization code flow, who is
//! admitted, CSRF on its forms, and changes recorded with the
//! administrator as their actor. The console in a real browser is
//! `console_browser.rs`.

use latchkey::core::clients::ClientStore as _;

use crate::common::TestServer;
use crate::common::browser::{Browser, Page};
use crate::common::first_party::PASSWORD;

/// From `GET /admin` through the login page and back: the last answer
/// (the console's redirect home after its callback, or a refusal).
pub async fn sign_in(b: &Browser, email: &str) -> Page {
    // Step 1: no admission: the console starts its own sign-in.
    let page = b.get("/admin").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/admin/signin"));
    // Step 2: off to the authorization endpoint as a client.
    let start = b.get("/admin/signin").await;
    assert_eq!(start.status, 303);
    let authorize = start.location.clone().unwrap();
    assert!(authorize.starts_with("/v1/oauth/authorize?"), "{authorize}");
    assert!(authorize.contains("client_id=latchkey-admin-console"));
    assert!(authorize.contains("code_challenge_method=S256"));
    // Step 3: the login page, as for any client.
    let to_login = b.get(&authorize).await;
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = b.get(to_login.location.as_deref().unwrap()).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let back = b.submit_login(&login, email, PASSWORD).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let callback = back.location.clone().unwrap();
    assert!(callback.contains("/admin/callback?"), "{callback}");
    // Step 4: the callback redeems the code in-process.
    b.get(&callback).await
}

async fn admin_browser(srv: &TestServer) -> Browser {
    admin_browser_as(srv, "root@example.com").await
}

async fn admin_browser_as(srv: &TestServer, email: &str) -> Browser {
    srv.user(email, &["admin"]).await;
    let b = Browser::new(srv);
    let home = sign_in(&b, email).await;
    assert_eq!(home.status, 303, "{}", home.body);
    assert_eq!(home.location.as_deref(), Some("/admin"));
    b
}

/// The CSRF token of the console's forms on `page`.
fn csrf(page: &Page) -> String {
    page.inputs()["csrf_token"].clone()
}

both_backends! {
    async fn without_a_session_the_console_sends_the_browser_to_sign_in(db) {
        let srv = TestServer::start(&db).await;
        let b = Browser::new(&srv);
        for path in ["/admin", "/admin/clients", "/admin/users/x", "/admin/audit"] {
            let page = b.get(path).await;
            assert_eq!(page.status, 303, "{path}");
            assert_eq!(page.location.as_deref(), Some("/admin/signin"), "{path}");
        }
        // A form posted without an admission goes the same way.
        let page = b.post("/admin/keys/rotate", &[("csrf_token", "x")]).await;
        assert_eq!(page.status, 303);
        // The sign-in keeps its state in a cookie of the console's own.
        let start = b.get("/admin/signin").await;
        let set: Vec<_> = start.headers.get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_owned()).collect();
        let state = set.iter().find(|c| c.starts_with("latchkey_admin_state=")).unwrap();
        assert!(state.contains("HttpOnly") && state.contains("Path=/admin") && state.contains("SameSite=Lax"), "{state}");
    }
}

both_backends! {
    async fn an_administrator_signs_in_through_the_code_flow(db) {
        let srv = TestServer::start(&db).await;
        srv.user("root@example.com", &["admin"]).await;
        let b = Browser::new(&srv);
        let home = sign_in(&b, "root@example.com").await;
        assert_eq!(home.status, 303, "{}", home.body);
        assert_eq!(home.location.as_deref(), Some("/admin"));
        let cookie = home.headers.get_all("set-cookie").iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("latchkey_admin=")).unwrap();
        assert!(cookie.contains("HttpOnly") && cookie.contains("Path=/admin") && cookie.contains("SameSite=Lax"), "{cookie}");
        let page = b.get("/admin").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert!(page.body.contains("root@example.com"));
        assert!(page.body.contains("Overview"));
        assert_eq!(page.headers["x-frame-options"], "DENY");
        assert!(page.headers["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
        // The console is a registered client of this latchkey.
        assert!(srv.server.app.store().get_client(
            &latchkey::core::clients::ClientId::new("latchkey-admin-console")).await.unwrap().is_some());
        // A callback replayed (the code is single use) starts over.
        let replay = b.get("/admin/callback?code=x&state=y").await;
        assert_eq!(replay.location.as_deref(), Some("/admin/signin"));
    }
}

both_backends! {
    async fn a_user_without_the_admin_role_gets_a_clear_403(db) {
        let srv = TestServer::start(&db).await;
        srv.user("pat@example.com", &["staff"]).await;
        let b = Browser::new(&srv);
        let refused = sign_in(&b, "pat@example.com").await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.body.contains("Administrators only"), "{}", refused.body);
        // No admission was given: the console asks again.
        assert_eq!(b.get("/admin").await.location.as_deref(), Some("/admin/signin"));
    }
}

both_backends! {
    async fn a_demoted_administrator_is_refused_at_the_next_click(db) {
        let srv = TestServer::start(&db).await;
        let b = admin_browser(&srv).await;
        let store = srv.server.app.store();
        use latchkey::core::users::UserStore as _;
        let root = store.find_user_by_email("root@example.com").await.unwrap().unwrap();
        store.update_user_profile(&root.id, None, &[], srv.now()).await.unwrap();
        let page = b.get("/admin/users").await;
        assert_eq!(page.status, 403, "{}", page.body);
    }
}

both_backends! {
    async fn console_forms_need_their_csrf_token(db) {
        let srv = TestServer::start(&db).await;
        let b = admin_browser(&srv).await;
        let victim = srv.user("vic@example.com", &[]).await;
        let path = format!("/admin/users/{victim}");
        let refused = b.post(&path, &[("name", "x"), ("disabled", "on")]).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        let forged = b.post(&path, &[("csrf_token", "forged"), ("disabled", "on")]).await;
        assert_eq!(forged.status, 403);
        // Another browser's admission does not lend its token.
        let other = admin_browser_as(&srv, "second@example.com").await;
        let token = csrf(&other.get(&path).await);
        assert_eq!(b.post(&path, &[("csrf_token", &token), ("disabled", "on")]).await.status, 403);
        use latchkey::core::users::UserStore as _;
        let user = srv.server.app.store()
            .get_user(&latchkey::core::users::UserId::new(victim.as_str())).await.unwrap().unwrap();
        assert!(!user.disabled, "nothing changed");
    }
}

both_backends! {
    async fn a_change_in_the_console_is_audited_with_the_administrator(db) {
        let srv = TestServer::start(&db).await;
        let b = admin_browser(&srv).await;
        let victim = srv.user("vic@example.com", &["staff"]).await;
        let path = format!("/admin/users/{victim}");
        let form = b.get(&path).await;
        assert_eq!(form.status, 200, "{}", form.body);
        let saved = b.post(&path, &[
            ("csrf_token", &csrf(&form)),
            ("name", "Vic"),
            ("roles", "staff ops"),
            ("disabled", "on"),
            ("email_verified", "on"),
        ]).await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        assert_eq!(saved.location.as_deref(), Some(format!("{path}?done=saved").as_str()));
        use latchkey::core::users::UserStore as _;
        let user = srv.server.app.store()
            .get_user(&latchkey::core::users::UserId::new(victim.as_str())).await.unwrap().unwrap();
        assert!(user.disabled);
        assert_eq!(user.roles, ["ops", "staff"]);
        // The audit page names the administrator.
        let audit = b.get("/admin/audit?type=user_disable").await;
        assert_eq!(audit.status, 200, "{}", audit.body);
        assert!(audit.body.contains("root@example.com"), "{}", audit.body);
        assert!(audit.body.contains("user_disable"));
        let root = srv.server.app.store().find_user_by_email("root@example.com").await.unwrap().unwrap();
        let events = latchkey::core::audit::AuditStore::search_audit_events(
            srv.server.app.store(),
            &latchkey::core::audit::AuditQuery {
                kind: Some("user_disable".into()),
                limit: 10,
                ..Default::default()
            },
        ).await.unwrap();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].actor, format!("user:{}", root.id));
        assert_eq!(events[0].user_id.as_deref(), Some(victim.as_str()));
        // A bad filter is a 400 page, not a 500.
        let bad = b.get("/admin/audit?since=yesterday").await;
        assert_eq!(bad.status, 400, "{}", bad.body);
    }
}

both_backends! {
    async fn clients_are_created_with_their_secret_shown_once_and_rotated(db) {
        // Every change is seen at once (no cache staleness to wait out).
        let srv = TestServer::start_with(&db, |s| s.client_cache_revalidate_ms = 0).await;
        let b = admin_browser(&srv).await;
        let form = b.get("/admin/clients/new").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let created = b.post("/admin/clients", &[
            ("csrf_token", &csrf(&form)),
            ("name", "Billing"),
            ("grant_client_credentials", "on"),
        ]).await;
        assert_eq!(created.status, 200, "{}", created.body);
        let secret = between(&created.body, "id=\"client-secret\">", "<");
        let id = between(&created.body, "id=\"client-id\">", "<");
        let client = crate::common::TestClient { id: id.clone(), secret: Some(secret.clone()) };
        let resp = srv.token_basic(&client, &[("grant_type", "client_credentials")]).await;
        assert_eq!(resp.status(), 200);
        // A refused registration shows the form again with the field named.
        let bad = b.post("/admin/clients", &[
            ("csrf_token", &csrf(&form)),
            ("name", "Web"),
            ("grant_authorization_code", "on"),
            ("redirect_uris", "not a uri"),
        ]).await;
        assert_eq!(bad.status, 400, "{}", bad.body);
        assert!(bad.body.contains("redirect_uris"), "{}", bad.body);
        // Rotation with a grace period: both secrets work meanwhile.
        let rotated = b.post(&format!("/admin/clients/{id}/secret"), &[
            ("csrf_token", &csrf(&form)),
            ("grace_seconds", "600"),
        ]).await;
        assert_eq!(rotated.status, 200, "{}", rotated.body);
        let new_secret = between(&rotated.body, "id=\"client-secret\">", "<");
        assert_ne!(new_secret, secret);
        for s in [&secret, &new_secret] {
            let c = crate::common::TestClient { id: id.clone(), secret: Some(s.clone()) };
            assert_eq!(srv.token_basic(&c, &[("grant_type", "client_credentials")]).await.status(), 200);
        }
        // Deleted: its secret no longer works.
        let deleted = b.post(&format!("/admin/clients/{id}/delete"), &[("csrf_token", &csrf(&form))]).await;
        assert_eq!(deleted.status, 303);
        assert_eq!(deleted.location.as_deref(), Some("/admin/clients?done=deleted"));
        let c = crate::common::TestClient { id: id.clone(), secret: Some(new_secret) };
        assert_eq!(srv.token_basic(&c, &[("grant_type", "client_credentials")]).await.status(), 401);
        // Unknown ids are a 404 page.
        assert_eq!(b.get("/admin/clients/nope").await.status, 404);
    }
}

both_backends! {
    async fn every_console_page_renders_for_an_administrator(db) {
        let srv = TestServer::start(&db).await;
        let b = admin_browser(&srv).await;
        let uid = srv.user("vic@example.com", &[]).await;
        for path in ["/admin", "/admin/clients", "/admin/clients/new", "/admin/users",
                     "/admin/users/new", "/admin/users?q=vic", "/admin/keys", "/admin/audit",
                     "/admin/audit?type=login&since=2020-01-01T00:00&until=2099-01-01T00:00",
                     "/admin/clients/latchkey-admin-console", &format!("/admin/users/{uid}")] {
            let page = b.get(path).await;
            assert_eq!(page.status, 200, "{path}: {}", page.body);
        }
        let users = b.get("/admin/users?q=vic").await;
        assert!(users.body.contains("vic@example.com"));
        assert!(!users.body.contains(">root@example.com</a>"));
        // Key rotation from the console.
        let keys = b.get("/admin/keys").await;
        let rotated = b.post("/admin/keys/rotate", &[("csrf_token", &csrf(&keys))]).await;
        assert_eq!(rotated.location.as_deref(), Some("/admin/keys?done=rotated"));
        // Signing out of the console ends the session too.
        let out = b.post("/admin/signout", &[("csrf_token", &csrf(&keys))]).await;
        assert_eq!(out.status, 200, "{}", out.body);
        assert_eq!(b.get("/admin").await.location.as_deref(), Some("/admin/signin"));
    }
}

both_backends! {
    async fn revoking_a_users_sessions_from_the_console_ends_the_admission_too(db) {
        let srv = TestServer::start(&db).await;
        let b = admin_browser(&srv).await;
        use latchkey::core::users::UserStore as _;
        let root = srv.server.app.store().find_user_by_email("root@example.com").await.unwrap().unwrap();
        let path = format!("/admin/users/{}", root.id);
        let page = b.get(&path).await;
        let done = b.post(&format!("{path}/sessions"), &[("csrf_token", &csrf(&page))]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        // The browser session the admission was bound to has ended.
        assert_eq!(b.get("/admin").await.location.as_deref(), Some("/admin/signin"));
    }
}

fn between(body: &str, start: &str, end: &str) -> String {
    let from = body
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {body}"))
        + start.len();
    let len = body[from..].find(end).unwrap();
    body[from..from + len].to_owned()
}

both_backends! {
    /// The first administrator is made with the CLI: `user set-roles`
    /// promotes an existing user, who may then open the console.
    async fn the_cli_makes_an_administrator(db) {
        let srv = TestServer::start(&db).await;
        srv.user("eve@example.com", &["staff"]).await;
        let shown = db.cli_json(&["user", "set-roles", "eve@example.com", "--role", "admin", "--role", "staff", "--json"]);
        assert_eq!(shown["roles"], serde_json::json!(["admin", "staff"]));
        let b = Browser::new(&srv);
        let home = sign_in(&b, "eve@example.com").await;
        assert_eq!(home.location.as_deref(), Some("/admin"), "{}", home.body);
        // No role at all: refused at the next click.
        db.cli_json(&["user", "set-roles", "eve@example.com", "--json"]);
        assert_eq!(b.get("/admin").await.status, 403);
        let unknown = db.cli(&["user", "set-roles", "nobody@example.com", "--role", "admin"]);
        assert!(!unknown.status.success());
    }
}
