//! Dynamic client registration (RFC 7591) and its management (RFC 7592),
//! with initial access tokens made by `latchkey client initial-token`.

use serde_json::{Value, json};

use crate::common::{TestClient, TestServer};

async fn register(srv: &TestServer, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = srv.http.post(srv.url("/v1/oauth/register")).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn initial_token(db: &crate::common::TestDb, args: &[&str]) -> String {
    let mut all = vec!["client", "initial-token", "--json"];
    all.extend_from_slice(args);
    db.cli_json(&all)["initial_access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn service() -> Value {
    json!({"client_name": "robot", "grant_types": ["client_credentials"], "scope": "read"})
}

both_backends! {
    /// A token with uses and an expiry: registration works while it lasts;
    /// missing, unknown, expired and used-up tokens are refused; the
    /// registered client gets tokens; discovery names the endpoint.
    async fn registration_needs_a_live_initial_token(db) {
        let srv = TestServer::start(&db).await;
        let doc: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(doc["registration_endpoint"], format!("{}/v1/oauth/register", srv.url));

        // Missing and unknown tokens.
        assert_eq!(register(&srv, None, service()).await.0, 401);
        assert_eq!(register(&srv, Some("not-a-token"), service()).await.0, 401);

        // Two uses.
        let token = initial_token(&db, &["--uses", "2"]);
        let (s, reg) = register(&srv, Some(&token), service()).await;
        assert_eq!(s, 201, "{reg}");
        let client = TestClient {
            id: reg["client_id"].as_str().unwrap().to_owned(),
            secret: Some(reg["client_secret"].as_str().unwrap().to_owned()),
        };
        assert_eq!(reg["client_secret_expires_at"], 0);
        assert_eq!(reg["grant_types"], json!(["client_credentials"]));
        assert_eq!(reg["token_endpoint_auth_method"], "client_secret_basic");
        assert!(reg["registration_access_token"].as_str().unwrap().len() >= 43);
        assert_eq!(reg["registration_client_uri"], format!("{}/v1/oauth/register/{}", srv.url, client.id));
        let resp = srv.token_basic(&client, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
        assert_eq!(resp.status(), 200, "the registered client gets tokens");

        // Bad metadata costs no use.
        let (s, e) = register(&srv, Some(&token), json!({"redirect_uris": ["/relative"]})).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_redirect_uri")), "{e}");
        let (s, e) = register(&srv, Some(&token), json!({"grant_types": ["authorization_code"]})).await;
        assert_eq!((s, e["error"].as_str()), (400, Some("invalid_redirect_uri")), "{e}");
        for bad in [
            json!({"grant_types": ["password"]}),
            json!({"grant_types": ["implicit"]}),
            json!({"token_endpoint_auth_method": "private_key_jwt", "grant_types": ["client_credentials"]}),
            json!({"token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            json!({"grant_types": ["client_credentials"], "scope": "latchkey:admin"}),
            json!({"grant_types": "client_credentials"}),
        ] {
            let (s, e) = register(&srv, Some(&token), bad.clone()).await;
            assert_eq!((s, e["error"].as_str()), (400, Some("invalid_client_metadata")), "{bad}: {e}");
        }
        let (s, _) = register(&srv, Some(&token), service()).await;
        assert_eq!(s, 201, "the second use");
        let (s, e) = register(&srv, Some(&token), service()).await;
        assert_eq!(s, 401, "used up: {e}");
        assert_eq!(e["error"], "invalid_token");

        // An expired token. The CLI's clock is the system's, which has run
        // on since the server's manual clock started: step well past it.
        let token = initial_token(&db, &["--expires-in", "60"]);
        srv.clock.advance(3600);
        assert_eq!(register(&srv, Some(&token), service()).await.0, 401);
    }
}

both_backends! {
    /// RFC 7592: the registration access token reads, replaces and deletes
    /// its own registration, and nothing else.
    async fn the_registration_access_token_manages_its_client(db) {
        let srv = TestServer::start(&db).await;
        let token = initial_token(&db, &[]);
        let spa = json!({
            "client_name": "spa", "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1:5173/cb"], "response_types": ["code"],
            "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email",
            "some_extension": "ignored",
        });
        let (s, reg) = register(&srv, Some(&token), spa).await;
        assert_eq!(s, 201, "{reg}");
        assert!(reg.get("client_secret").is_none(), "a public client has no secret");
        let uri = reg["registration_client_uri"].as_str().unwrap().to_owned();
        let rat = reg["registration_access_token"].as_str().unwrap().to_owned();
        let (_, other) = register(&srv, Some(&token), service()).await;
        let other_rat = other["registration_access_token"].as_str().unwrap();

        // Read.
        let resp = srv.http.get(&uri).bearer_auth(&rat).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let read: Value = resp.json().await.unwrap();
        assert_eq!(read["client_name"], "spa");
        assert_eq!(read["scope"], "email openid");
        for bad in [None, Some(other_rat), Some("nope")] {
            let mut req = srv.http.get(&uri);
            if let Some(t) = bad {
                req = req.bearer_auth(t);
            }
            assert_eq!(req.send().await.unwrap().status(), 401);
        }

        // Replace.
        let id = reg["client_id"].as_str().unwrap();
        let resp = srv.http.put(&uri).bearer_auth(&rat).json(&json!({
            "client_id": id, "client_name": "spa 2", "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1:5173/callback"],
            "grant_types": ["authorization_code"],
        })).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let put: Value = resp.json().await.unwrap();
        assert_eq!(put["client_name"], "spa 2");
        assert_eq!(put["redirect_uris"], json!(["http://127.0.0.1:5173/callback"]));
        let shown = db.cli_json(&["client", "show", id, "--json"]);
        assert_eq!(shown["name"], "spa 2");
        let resp = srv.http.put(&uri).bearer_auth(&rat).json(&json!({
            "client_id": id, "redirect_uris": ["nope"], "token_endpoint_auth_method": "none",
        })).send().await.unwrap();
        assert_eq!(resp.status(), 400);
        let e: Value = resp.json().await.unwrap();
        assert_eq!(e["error"], "invalid_redirect_uri");

        // Delete.
        let resp = srv.http.delete(&uri).bearer_auth(&rat).send().await.unwrap();
        assert_eq!(resp.status(), 204);
        assert!(!db.cli(&["client", "show", id]).status.success());
        assert_eq!(srv.http.get(&uri).bearer_auth(&rat).send().await.unwrap().status(), 401);
    }
}

both_backends! {
    /// `registration_open_dcr = true`: no initial token needed.
    async fn open_registration(db) {
        let srv = TestServer::start_with(&db, |s| s.registration_open_dcr = true).await;
        let (s, reg) = register(&srv, None, service()).await;
        assert_eq!(s, 201, "{reg}");
        // A wrong token is still refused rather than ignored.
        assert_eq!(register(&srv, Some("nope"), service()).await.0, 401);
    }
}
