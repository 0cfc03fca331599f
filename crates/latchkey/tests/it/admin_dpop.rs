//! DPoP-bound admin tokens (RFC 9449 §7.1) at `/admin/v1`: accepted as
//! `Authorization: DPoP` with a proof of the very request, refused as
//! Bearer, and every misused proof refused with a problem document and a
//! `DPoP` challenge. Also the client policy fields through `PATCH`.

use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;
use serde_json::{Value, json};

use crate::common::dpop::{DpopKey, Proof};
use crate::common::{TestClient, TestServer};

/// A `client_credentials` client for admin tokens.
async fn admin_client(srv: &TestServer) -> TestClient {
    srv.client(NewClient {
        name: "automation".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse("latchkey:admin").unwrap()),
        audiences: vec![format!("{}/admin", srv.url)],
        ..NewClient::default()
    })
    .await
}

/// An admin token bound to `key`.
async fn bound_token(srv: &TestServer, client: &TestClient, key: &DpopKey) -> String {
    let aud = format!("{}/admin", srv.url);
    let proof = key.proof("POST", &srv.url("/v1/oauth/token"), srv.now());
    let resp = srv
        .http
        .post(srv.url("/v1/oauth/token"))
        .basic_auth(&client.id, client.secret.as_deref())
        .header("DPoP", proof)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "latchkey:admin"),
            ("resource", aud.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn send(
    srv: &TestServer,
    method: &str,
    path: &str,
    authorization: &str,
    proof: Option<&str>,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = srv
        .http
        .request(m, srv.url(path))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

both_backends! {
    async fn a_dpop_bound_admin_token_works_only_as_dpop_with_a_proof(db) {
        let srv = TestServer::start(&db).await;
        let client = admin_client(&srv).await;
        let key = DpopKey::es256();
        let at = bound_token(&srv, &client, &key).await;
        let url = srv.url("/admin/v1/clients");
        let now = srv.now();

        // Step 1: DPoP with a proof of this request: served.
        let ok = key.sign(&Proof::new("GET", &url, now).for_token(&at));
        let (status, body, _) = send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&ok), None).await;
        assert_eq!(status, 200, "{body}");
        assert!(body["items"].is_array());

        // Step 2: every misuse is a 401 problem with a DPoP challenge.
        let refused = |(status, body, headers): (u16, Value, reqwest::header::HeaderMap), code: &str| {
            assert_eq!(status, 401, "{code}: {body}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(body["error"], code, "{body}");
            headers["www-authenticate"].to_str().unwrap().to_owned()
        };
        // As Bearer.
        let ch = refused(send(&srv, "GET", "/admin/v1/clients", &format!("Bearer {at}"), None, None).await, "invalid_token");
        assert!(ch.starts_with("Bearer"), "{ch}");
        // Without a proof; the same proof again; a proof of another method,
        // another URL, another token; by another key.
        let ch = refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), None, None).await, "invalid_dpop_proof");
        assert_eq!(ch, "DPoP error=\"invalid_dpop_proof\"");
        refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&ok), None).await, "invalid_dpop_proof");
        let post = key.sign(&Proof::new("POST", &url, now).for_token(&at));
        refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&post), None).await, "invalid_dpop_proof");
        let elsewhere = key.sign(&Proof::new("GET", &srv.url("/admin/v1/users"), now).for_token(&at));
        refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&elsewhere), None).await, "invalid_dpop_proof");
        let other_token = key.sign(&Proof::new("GET", &url, now).for_token("another"));
        refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&other_token), None).await, "invalid_dpop_proof");
        let stranger = DpopKey::es256().sign(&Proof::new("GET", &url, now).for_token(&at));
        let ch = refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {at}"), Some(&stranger), None).await, "invalid_token");
        assert_eq!(ch, "DPoP error=\"invalid_token\"");

        // Step 3: a Bearer token sent as DPoP is refused too.
        let aud = format!("{}/admin", srv.url);
        let plain = srv.token_basic(&client, &[("grant_type", "client_credentials"), ("scope", "latchkey:admin"), ("resource", &aud)]).await;
        let plain: Value = plain.json().await.unwrap();
        let plain = plain["access_token"].as_str().unwrap();
        let p = key.sign(&Proof::new("GET", &url, now).for_token(plain));
        refused(send(&srv, "GET", "/admin/v1/clients", &format!("DPoP {plain}"), Some(&p), None).await, "invalid_token");
        // And works as Bearer.
        let (status, _, _) = send(&srv, "GET", "/admin/v1/clients", &format!("Bearer {plain}"), None, None).await;
        assert_eq!(status, 200);

        // Step 4: a change by DPoP names the client as its actor, and the
        // policy fields are patchable.
        let target = admin_client(&srv).await;
        let path = format!("/admin/v1/clients/{}", target.id);
        let purl = srv.url(&path);
        let proof = key.sign(&Proof::new("PATCH", &purl, now).for_token(&at));
        let (status, body, _) = send(&srv, "PATCH", &path, &format!("DPoP {at}"), Some(&proof), Some(json!({
            "require_dpop": true,
            "require_par": true,
            "backchannel_logout_uri": "https://rp.example.com/bc",
        }))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["require_dpop"], true);
        assert_eq!(body["require_par"], true);
        assert_eq!(body["backchannel_logout_uri"], "https://rp.example.com/bc");
        let stored = latchkey::core::clients::ClientStore::get_client(
            srv.server.app.store(), &latchkey::core::clients::ClientId::new(target.id.clone())).await.unwrap().unwrap();
        assert!(stored.policy.require_dpop && stored.policy.require_par);
        assert_eq!(stored.backchannel_logout_uri.as_deref(), Some("https://rp.example.com/bc"));
        // A bad URI names its field; the empty string removes it.
        let proof = key.sign(&Proof::new("PATCH", &purl, now).for_token(&at));
        let (status, body, _) = send(&srv, "PATCH", &path, &format!("DPoP {at}"), Some(&proof), Some(json!({
            "backchannel_logout_uri": "ftp://rp.example.com/bc#x",
        }))).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["detail"].as_str().unwrap().starts_with("backchannel_logout_uri"), "{body}");
        let proof = key.sign(&Proof::new("PATCH", &purl, now).for_token(&at));
        let (status, body, _) = send(&srv, "PATCH", &path, &format!("DPoP {at}"), Some(&proof), Some(json!({
            "backchannel_logout_uri": "",
            "require_dpop": false,
        }))).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["backchannel_logout_uri"], Value::Null);
        assert_eq!(body["require_dpop"], false);
    }
}
