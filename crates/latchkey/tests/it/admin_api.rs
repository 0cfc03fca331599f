//! The admin API (`/admin/v1`, docs/admin.md) through the real router:
//! who may call it, CRUD compared with the CLI's `--json`, pagination
//! under concurrent inserts, problem documents, secret rotation.

use std::collections::HashSet;

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey::core::users::{NewUser, UserStore as _};
use serde_json::{Value, json};

use crate::common::first_party::{PASSWORD, first_party};
use crate::common::{TestClient, TestServer};

/// Every admin route, with a method and a concrete path.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/admin/v1/clients"),
    ("POST", "/admin/v1/clients"),
    ("GET", "/admin/v1/clients/x"),
    ("PATCH", "/admin/v1/clients/x"),
    ("DELETE", "/admin/v1/clients/x"),
    ("POST", "/admin/v1/clients/x/secret"),
    ("GET", "/admin/v1/users"),
    ("POST", "/admin/v1/users"),
    ("GET", "/admin/v1/users/x"),
    ("PATCH", "/admin/v1/users/x"),
    ("DELETE", "/admin/v1/users/x"),
    ("DELETE", "/admin/v1/users/x/sessions"),
    ("GET", "/admin/v1/keys"),
    ("POST", "/admin/v1/keys/rotate"),
    ("GET", "/admin/v1/audit"),
];

/// A client registered for admin tokens, and one such token.
pub struct AdminAccess {
    pub client: TestClient,
    pub token: String,
}

pub fn admin_audience(srv: &TestServer) -> String {
    format!("{}/admin", srv.url)
}

/// Registers a `client_credentials` client with `scope` and `audiences`.
async fn service_client(srv: &TestServer, scope: &str, audiences: Vec<String>) -> TestClient {
    srv.client(NewClient {
        name: "automation".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse(scope).unwrap()),
        audiences,
        ..NewClient::default()
    })
    .await
}

async fn cc_token(
    srv: &TestServer,
    client: &TestClient,
    scope: &str,
    resource: Option<&str>,
) -> String {
    let mut form = vec![("grant_type", "client_credentials"), ("scope", scope)];
    if let Some(r) = resource {
        form.push(("resource", r));
    }
    let resp = srv.token_basic(client, &form).await;
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn admin_access(srv: &TestServer) -> AdminAccess {
    let aud = admin_audience(srv);
    let client = service_client(srv, "latchkey:admin", vec![aud.clone()]).await;
    let token = cc_token(srv, &client, "latchkey:admin", Some(&aud)).await;
    AdminAccess { client, token }
}

/// Sends `method path` with an optional bearer token and JSON body.
pub async fn call(
    srv: &TestServer,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv.http.request(method, srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value, headers)
}

/// Asserts an RFC 9457 problem document with `status`; returns its detail.
fn problem(
    status: u16,
    body: &Value,
    headers: &reqwest::header::HeaderMap,
    expected: u16,
) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(
        headers[reqwest::header::CONTENT_TYPE],
        "application/problem+json",
        "{body}"
    );
    assert_eq!(body["status"], expected);
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body["detail"].as_str().unwrap_or("").to_owned()
}

both_backends! {
    /// No token, garbage, expired, another audience: 401. No admin scope,
    /// or a user without the role admin: 403. On every route.
    async fn who_may_call_it(db) {
        let srv = TestServer::start(&db).await;
        let aud = admin_audience(&srv);
        let admin = admin_access(&srv).await;

        // A token for the default audience, though with the admin scope.
        let other_aud = service_client(&srv, "latchkey:admin", vec![]).await;
        let wrong_audience = cc_token(&srv, &other_aud, "latchkey:admin", None).await;
        // The right audience without the scope.
        let no_scope_client = service_client(&srv, "read", vec![aud.clone()]).await;
        let no_scope = cc_token(&srv, &no_scope_client, "read", Some(&aud)).await;
        // Users: the scope is granted only to a user with the role admin.
        let app = srv.client(NewClient {
            scopes: Some(Scope::parse("openid latchkey:admin").unwrap()),
            audiences: vec![aud.clone()],
            ..first_party(TokenDelivery::Body)
        }).await;
        srv.user("boss@example.com", &["admin"]).await;
        srv.user("clerk@example.com", &["staff"]).await;
        let user_token = |who: &'static str| {
            let srv = &srv;
            let app = &app;
            let aud = aud.clone();
            async move {
                let resp = srv.token_basic(app, &[
                    ("grant_type", "password"), ("username", who), ("password", PASSWORD),
                    ("scope", "openid latchkey:admin"), ("resource", &aud),
                ]).await;
                let body: Value = resp.json().await.unwrap();
                (body["access_token"].as_str().unwrap().to_owned(), body["scope"].as_str().unwrap().to_owned())
            }
        };
        let (boss, boss_scope) = user_token("boss@example.com").await;
        assert!(boss_scope.contains("latchkey:admin"));
        let (clerk, clerk_scope) = user_token("clerk@example.com").await;
        assert!(!clerk_scope.contains("latchkey:admin"), "a user without the role admin is not granted the scope");

        for (method, path) in ROUTES {
            for token in [None, Some("garbage"), Some(wrong_audience.as_str())] {
                let (s, b, h) = call(&srv, token, method, path, None).await;
                problem(s, &b, &h, 401);
                assert!(h[reqwest::header::WWW_AUTHENTICATE].to_str().unwrap().starts_with("Bearer"));
            }
            for token in [&no_scope, &clerk] {
                let (s, b, h) = call(&srv, Some(token), method, path, None).await;
                problem(s, &b, &h, 403);
            }
        }
        // The admins get through (a read for each).
        for token in [&admin.token, &boss] {
            let (s, b, _) = call(&srv, Some(token), "GET", "/admin/v1/clients", None).await;
            assert_eq!(s, 200, "{b}");
        }
        // A user who loses the role loses the API at once, token or not.
        let boss_id = srv.server.app.store().find_user_by_email("boss@example.com").await.unwrap().unwrap().id;
        let (s, _, _) = call(&srv, Some(&admin.token), "PATCH", &format!("/admin/v1/users/{boss_id}"), Some(json!({"roles": []}))).await;
        assert_eq!(s, 200);
        let (s, b, h) = call(&srv, Some(&boss), "GET", "/admin/v1/clients", None).await;
        problem(s, &b, &h, 403);
        // Expired: 401.
        srv.clock.advance(srv.server.app.settings().access_token_ttl_seconds + 1);
        let (s, b, h) = call(&srv, Some(&admin.token), "GET", "/admin/v1/clients", None).await;
        problem(s, &b, &h, 401);
    }
}

both_backends! {
    /// Clients and users: what the API creates the CLI shows identically,
    /// and the other way round; changes and deletions are seen by both,
    /// and each is in the audit trail naming who made it.
    async fn crud_round_trips_match_the_cli(db) {
        let srv = TestServer::start(&db).await;
        let admin = admin_access(&srv).await;
        let t = Some(admin.token.as_str());

        // Step 1: a client through the API, shown by the CLI.
        let (s, created, _) = call(&srv, t, "POST", "/admin/v1/clients", Some(json!({
            "name": "billing", "grant_types": ["client_credentials"], "scope": "read write",
            "audiences": ["https://api.example.com"],
        }))).await;
        assert_eq!(s, 201, "{created}");
        let id = created["client_id"].as_str().unwrap().to_owned();
        assert!(created["client_secret"].as_str().unwrap().len() >= 43);
        let (s, shown, _) = call(&srv, t, "GET", &format!("/admin/v1/clients/{id}"), None).await;
        assert_eq!(s, 200);
        assert_eq!(shown, db.cli_json(&["client", "show", &id, "--json"]));
        let mut without_secret = created.clone();
        without_secret.as_object_mut().unwrap().remove("client_secret");
        assert_eq!(without_secret, shown);

        // Step 2: changed through the API.
        let (s, patched, _) = call(&srv, t, "PATCH", &format!("/admin/v1/clients/{id}"), Some(json!({
            "name": "billing v2", "scope": "read",
        }))).await;
        assert_eq!(s, 200, "{patched}");
        assert_eq!(patched["name"], "billing v2");
        assert_eq!(patched["scope"], "read");
        assert_eq!(patched, db.cli_json(&["client", "show", &id, "--json"]));

        // Step 3: a client made by the CLI, shown by the API.
        let cli_made = db.cli_json(&["client", "create", "--name", "spa", "--public",
            "--redirect-uri", "http://127.0.0.1:3000/cb", "--json"]);
        let cli_id = cli_made["client_id"].as_str().unwrap();
        let (_, api_view, _) = call(&srv, t, "GET", &format!("/admin/v1/clients/{cli_id}"), None).await;
        assert_eq!(api_view, cli_made);
        let (_, list, _) = call(&srv, t, "GET", "/admin/v1/clients", None).await;
        let cli_list = db.cli_json(&["client", "list", "--json"]);
        assert_eq!(list["items"], cli_list);
        assert_eq!(list["next_cursor"], Value::Null);

        // Step 4: deleted through the API; the CLI no longer finds it.
        let (s, del, _) = call(&srv, t, "DELETE", &format!("/admin/v1/clients/{id}"), None).await;
        assert_eq!(s, 200);
        assert_eq!(del, json!({"client_id": id, "deleted": true}));
        assert!(!db.cli(&["client", "show", &id]).status.success());
        let (s, b, h) = call(&srv, t, "GET", &format!("/admin/v1/clients/{id}"), None).await;
        problem(s, &b, &h, 404);

        // Step 5: a user through the API, listed by the CLI.
        let (s, user, _) = call(&srv, t, "POST", "/admin/v1/users", Some(json!({
            "email": "ada@example.com", "name": "Ada", "roles": ["staff"], "password": PASSWORD,
        }))).await;
        assert_eq!(s, 201, "{user}");
        let uid = user["id"].as_str().unwrap().to_owned();
        let cli_users = db.cli_json(&["user", "list", "--json"]);
        assert_eq!(cli_users[0], user);
        let (_, shown, _) = call(&srv, t, "GET", &format!("/admin/v1/users/{uid}"), None).await;
        assert_eq!(shown, user);
        assert!(!serde_json::to_string(&shown).unwrap().contains("argon2"));
        // The same email again: refused, naming the field.
        let (s, b, h) = call(&srv, t, "POST", "/admin/v1/users", Some(json!({
            "email": "ADA@example.com", "password": PASSWORD,
        }))).await;
        assert!(problem(s, &b, &h, 400).starts_with("email"));

        // Step 6: changed; disabled (their sign-in then fails); sessions; deleted.
        let (s, changed, _) = call(&srv, t, "PATCH", &format!("/admin/v1/users/{uid}"), Some(json!({
            "name": "Ada L.", "roles": ["admin", "staff"], "disabled": true,
        }))).await;
        assert_eq!(s, 200, "{changed}");
        assert_eq!(changed["name"], "Ada L.");
        assert_eq!(changed["roles"], json!(["admin", "staff"]));
        assert_eq!(changed["disabled"], true);
        assert_eq!(db.cli_json(&["user", "list", "--json"])[0], changed);
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let resp = srv.signin(&app, "ada@example.com", PASSWORD, None).await;
        assert_eq!(resp.status(), 400);
        let (s, _, _) = call(&srv, t, "PATCH", &format!("/admin/v1/users/{uid}"), Some(json!({"disabled": false}))).await;
        assert_eq!(s, 200);
        srv.signed_in(&app, "ada@example.com").await;
        let (s, revoked, _) = call(&srv, t, "DELETE", &format!("/admin/v1/users/{uid}/sessions"), None).await;
        assert_eq!(s, 200, "{revoked}");
        assert_eq!(revoked["revoked_refresh_token_families"], 1);
        let (s, _, _) = call(&srv, t, "DELETE", &format!("/admin/v1/users/{uid}"), None).await;
        assert_eq!(s, 200);
        let (s, b, h) = call(&srv, t, "GET", &format!("/admin/v1/users/{uid}"), None).await;
        problem(s, &b, &h, 404);
        assert_eq!(db.cli_json(&["user", "list", "--json"]), json!([]));

        // Step 7: keys, as the CLI lists them; a rotation through the API.
        let (_, keys, _) = call(&srv, t, "GET", "/admin/v1/keys", None).await;
        assert_eq!(keys["items"], db.cli_json(&["keys", "list", "--json"]));
        let (s, rotated, _) = call(&srv, t, "POST", "/admin/v1/keys/rotate", None).await;
        assert_eq!(s, 200, "{rotated}");
        let next_before = keys["items"].as_array().unwrap().iter().find(|k| k["state"] == "next").unwrap();
        assert_eq!(rotated["current"], next_before["kid"]);
        // The server signs with the new current key at once.
        let token = cc_token(&srv, &admin.client, "latchkey:admin", Some(&admin_audience(&srv))).await;
        let header: Value = {
            use base64::Engine as _;
            let h = token.split('.').next().unwrap();
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
        };
        assert_eq!(header["kid"], rotated["current"]);

        // Step 8: every change is in the audit trail, naming who made it.
        let actor = format!("client:{}", admin.client.id);
        for kind in ["client_create", "client_update", "client_delete", "user_create",
                     "user_update", "user_disable", "user_enable", "user_revoke_sessions",
                     "user_delete", "keys_rotate"] {
            let (s, page, _) = call(&srv, t, "GET", &format!("/admin/v1/audit?type={kind}"), None).await;
            assert_eq!(s, 200, "{page}");
            let items = page["items"].as_array().unwrap();
            assert!(items.iter().any(|e| e["actor"] == actor.as_str()), "{kind}: {page}");
        }
        // Filters: by client (subject or actor), and by time.
        let (_, page, _) = call(&srv, t, "GET", &format!("/admin/v1/audit?client={id}"), None).await;
        let mut kinds: Vec<&str> = page["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
        // Within one second, events are ordered by id, not by time.
        kinds.sort();
        assert_eq!(kinds, ["client_create", "client_delete", "client_update"]);
        let (_, page, _) = call(&srv, t, "GET", &format!("/admin/v1/audit?client={}&type=client_delete", admin.client.id), None).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "the actor matches too");
        let (_, page, _) = call(&srv, t, "GET", "/admin/v1/audit?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z", None).await;
        assert_eq!(page["items"], json!([]));
    }
}

both_backends! {
    /// Walking the users and the audit trail page by page to the end while
    /// others are inserted: no item twice, every item that existed at the
    /// start seen.
    async fn pagination_is_stable_under_concurrent_inserts(db) {
        let srv = TestServer::start(&db).await;
        let admin = admin_access(&srv).await;
        let store = srv.server.app.store().clone();
        let now = srv.now();
        let mut before = HashSet::new();
        for i in 0..30 {
            let u = NewUser { email: format!("u{i:02}@example.com"), ..NewUser::default() }
                .build("not-a-hash".into(), now - 100 + (i % 3))
                .unwrap();
            store.insert_user(&u).await.unwrap();
            before.insert(u.id.to_string());
        }
        let writer = {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    let u = NewUser { email: format!("late{i}@example.com"), ..NewUser::default() }
                        .build("not-a-hash".into(), now - 100 + (i % 5))
                        .unwrap();
                    store.insert_user(&u).await.unwrap();
                    tokio::task::yield_now().await;
                }
            })
        };
        let mut seen = HashSet::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let path = match &cursor {
                Some(c) => format!("/admin/v1/users?limit=4&cursor={c}"),
                None => "/admin/v1/users?limit=4".to_owned(),
            };
            let (s, page, _) = call(&srv, Some(&admin.token), "GET", &path, None).await;
            assert_eq!(s, 200, "{page}");
            for u in page["items"].as_array().unwrap() {
                assert!(seen.insert(u["id"].as_str().unwrap().to_owned()), "seen twice: {u}");
            }
            pages += 1;
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        writer.await.unwrap();
        assert!(pages >= 8);
        assert!(before.is_subset(&seen), "every user present at the start is seen");

        // Search: part of the email, case-insensitively; `%` is no wildcard.
        let (_, page, _) = call(&srv, Some(&admin.token), "GET", "/admin/v1/users?q=U0&limit=200", None).await;
        assert_eq!(page["items"].as_array().unwrap().len(), 10);
        let (_, page, _) = call(&srv, Some(&admin.token), "GET", "/admin/v1/users?q=%25", None).await;
        assert_eq!(page["items"], json!([]));

        // The audit trail pages the same way.
        for _ in 0..7 {
            call(&srv, Some(&admin.token), "POST", "/admin/v1/clients", Some(json!({"name": "c"}))).await;
        }
        let mut seen = HashSet::new();
        let mut cursor = String::new();
        loop {
            let (_, page, _) = call(&srv, Some(&admin.token), "GET",
                &format!("/admin/v1/audit?type=client_create&limit=2{cursor}"), None).await;
            for e in page["items"].as_array().unwrap() {
                assert!(seen.insert(e["id"].as_str().unwrap().to_owned()));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = format!("&cursor={c}"),
                None => break,
            }
        }
        assert_eq!(seen.len(), 7);
    }
}

both_backends! {
    /// Bad bodies and parameters: problem documents naming the field, 4xx,
    /// never a 500.
    async fn bad_input_is_a_problem_document(db) {
        let srv = TestServer::start(&db).await;
        let admin = admin_access(&srv).await;
        let t = Some(admin.token.as_str());
        let raw = |body: &'static str| {
            let srv = &srv;
            let token = admin.token.clone();
            async move {
                let resp = srv.http.post(srv.url("/admin/v1/clients")).bearer_auth(token)
                    .header("content-type", "application/json").body(body).send().await.unwrap();
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                (status, resp.json::<Value>().await.unwrap(), headers)
            }
        };
        let (s, b, h) = raw("not json").await;
        problem(s, &b, &h, 400);
        let (s, b, h) = raw("{}").await;
        assert!(problem(s, &b, &h, 422).contains("name"), "{b}");
        let (s, b, h) = raw(r#"{"name": 5}"#).await;
        assert!(problem(s, &b, &h, 422).starts_with("name"), "{b}");
        let (s, b, h) = raw(r#"{"name": "x", "bogus": 1}"#).await;
        assert!(problem(s, &b, &h, 422).contains("bogus"), "{b}");
        let (s, b, h) = raw(r#"{"name": "x", "grant_types": ["implicit"]}"#).await;
        assert!(problem(s, &b, &h, 422).starts_with("grant_types"), "{b}");

        for (body, field) in [
            (json!({"name": " "}), "name"),
            (json!({"name": "x", "redirect_uris": ["relative"]}), "redirect_uris"),
            (json!({"name": "x", "public": true, "grant_types": ["client_credentials"]}), "grant_types"),
            (json!({"name": "x", "grant_types": ["authorization_code"]}), "redirect_uris"),
            (json!({"name": "x", "allowed_origins": ["https://a.example/"]}), "allowed_origins"),
            (json!({"name": "x", "scope": "a\"b"}), "scope"),
        ] {
            let (s, b, h) = call(&srv, t, "POST", "/admin/v1/clients", Some(body)).await;
            assert!(problem(s, &b, &h, 400).starts_with(field), "{field}: {b}");
        }
        for (body, field) in [
            (json!({"email": "nope", "password": PASSWORD}), "email"),
            (json!({"email": "a@example.com", "password": ""}), "password"),
            (json!({"email": "a@example.com", "password": PASSWORD, "roles": ["a b"]}), "roles"),
        ] {
            let (s, b, h) = call(&srv, t, "POST", "/admin/v1/users", Some(body)).await;
            assert!(problem(s, &b, &h, 400).starts_with(field), "{field}: {b}");
        }
        for (path, field) in [
            ("/admin/v1/users?limit=0", "limit"),
            ("/admin/v1/users?limit=abc", "query"),
            ("/admin/v1/users?cursor=garbage", "cursor"),
            ("/admin/v1/audit?since=yesterday", "since"),
            ("/admin/v1/audit?until=2026-13-01T00:00:00Z", "until"),
        ] {
            let (s, b, h) = call(&srv, t, "GET", path, None).await;
            assert!(problem(s, &b, &h, 400).starts_with(field), "{path}: {b}");
        }
        let (s, b, h) = call(&srv, t, "POST", "/admin/v1/clients/nope/secret", Some(json!({"grace_seconds": -1}))).await;
        assert!(problem(s, &b, &h, 400).starts_with("grace_seconds"), "{b}");
        let (s, b, h) = call(&srv, t, "PATCH", "/admin/v1/users/nope", Some(json!({"name": "x"}))).await;
        problem(s, &b, &h, 404);
        let big = "x".repeat(20_000);
        let (s, b, h) = call(&srv, t, "POST", "/admin/v1/clients", Some(json!({"name": big}))).await;
        problem(s, &b, &h, 413);
    }
}

both_backends! {
    /// A rotated secret: without grace the old one stops at once; with
    /// grace both work until it ends. The CLI does the same.
    async fn secret_rotation_with_and_without_grace(db) {
        let srv = TestServer::start_with(&db, |s| s.client_cache_revalidate_ms = 0).await;
        let admin = admin_access(&srv).await;
        let t = Some(admin.token.as_str());
        let svc = service_client(&srv, "read", vec![]).await;
        let works = |secret: String| {
            let srv = &srv;
            let id = svc.id.clone();
            async move {
                let c = TestClient { id, secret: Some(secret) };
                srv.token_basic(&c, &[("grant_type", "client_credentials")]).await.status().as_u16()
            }
        };
        let s0 = svc.secret.clone().unwrap();
        assert_eq!(works(s0.clone()).await, 200);

        // Without grace (an empty body is the default).
        let (s, r, _) = call(&srv, t, "POST", &format!("/admin/v1/clients/{}/secret", svc.id), None).await;
        assert_eq!(s, 200, "{r}");
        assert_eq!(r["previous_secret_expires_at"], Value::Null);
        let s1 = r["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(works(s0.clone()).await, 401);
        assert_eq!(works(s1.clone()).await, 200);

        // With 60 s of grace.
        let (_, r, _) = call(&srv, t, "POST", &format!("/admin/v1/clients/{}/secret", svc.id), Some(json!({"grace_seconds": 60}))).await;
        let s2 = r["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(r["previous_secret_expires_at"], srv.now() + 60);
        assert_eq!(works(s1.clone()).await, 200);
        assert_eq!(works(s2.clone()).await, 200);
        srv.clock.advance(61);
        assert_eq!(works(s1.clone()).await, 401);
        assert_eq!(works(s2.clone()).await, 200);

        // The CLI, with grace; the server sees it.
        let r = db.cli_json(&["client", "rotate-secret", &svc.id, "--grace", "3600", "--json"]);
        let s3 = r["client_secret"].as_str().unwrap().to_owned();
        assert!(r["previous_secret_expires_at"].is_i64());
        assert_eq!(works(s2.clone()).await, 200);
        assert_eq!(works(s3.clone()).await, 200);
        assert_eq!(works(s1).await, 401);
        let (_, shown, _) = call(&srv, t, "GET", &format!("/admin/v1/clients/{}", svc.id), None).await;
        assert_eq!(shown["previous_secret_expires_at"], r["previous_secret_expires_at"]);

        // A public client has no secret to rotate.
        let public = srv.client(NewClient { name: "spa".into(), public: true, redirect_uris: vec!["http://127.0.0.1/cb".into()], ..NewClient::default() }).await;
        let (s, b, h) = call(&srv, t, "POST", &format!("/admin/v1/clients/{}/secret", public.id), None).await;
        problem(s, &b, &h, 400);
    }
}

both_backends! {
    /// The OpenAPI document is served, is 3.1, and describes every route
    /// with its problems.
    async fn openapi_document_describes_every_route(db) {
        let srv = TestServer::start(&db).await;
        let (s, doc, _) = call(&srv, None, "GET", "/admin/v1/openapi.json", None).await;
        assert_eq!(s, 200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
        for (method, path) in ROUTES {
            let path = path.replace("/x", "/{id}");
            let op = &doc["paths"][&path][method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} missing");
            for status in ["200", "401", "403", "400"] {
                if status == "200" && (*method == "POST") && (path == "/admin/v1/clients" || path == "/admin/v1/users") {
                    assert!(op["responses"]["201"].is_object());
                    continue;
                }
                assert!(op["responses"][status].is_object(), "{method} {path} {status}");
            }
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
