//! Forged and malformed access tokens at latchkey's own endpoints that take
//! one (docs/endpoints.md): introspection answers `{"active": false}` for every one of
//! them, userinfo refuses every one, and nothing fetches a `jku`/`x5u` URL. The forgeries are the same as
//! latchkey-verify's attack suite, from its self-contained generator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::{Json, Router};
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::keys::{KeyState, KeyStore as _};
use latchkey::core::scope::Scope;
use serde_json::Value;

use crate::common::TestServer;
#[path = "../../../latchkey-verify/tests/it/forge.rs"]
#[allow(dead_code)]
mod forge;
use forge::{Attacker, Forger};

/// Serves the attacker's JWKS at every path and counts the hits, which must
/// stay at zero.
async fn attacker_server(attacker: &Attacker) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let jwks = attacker.jwks();
    let app = Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let jwks = jwks.clone();
        async move { Json(jwks) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

/// A forger holding this server's current key and one of its real tokens,
/// with the attacker's JWKS server (whose hit counter must stay at zero).
async fn forger_for(
    srv: &TestServer,
    claim_overrides: Value,
) -> (Forger, Attacker, Arc<AtomicUsize>) {
    let app = srv
        .client(NewClient {
            name: "app".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read admin").unwrap()),
            ..NewClient::default()
        })
        .await;
    let resp = srv
        .token_basic(
            &app,
            &[("grant_type", "client_credentials"), ("scope", "read")],
        )
        .await;
    assert_eq!(resp.status(), 200);
    let real_token = resp.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = srv
        .server
        .app
        .store()
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.state == KeyState::Current)
        .unwrap();
    let attacker = Attacker::new();
    let (attacker_url, hits) = attacker_server(&attacker).await;
    let forger = Forger {
        issuer: srv.url.clone(),
        audience: srv.url.clone(),
        now: srv.now(),
        kid: key.kid.clone(),
        real_key_pkcs8: key.private_key.0.clone(),
        real_token,
        attacker_url,
        claim_overrides,
    };
    (forger, attacker, hits)
}

both_backends! {
    async fn every_forgery_is_inactive_at_introspection(db) {
        let srv = TestServer::start(&db).await;
        let rs = srv
            .client(NewClient {
                name: "api".into(),
                grant_types: vec![GrantType::ClientCredentials],
                ..NewClient::default()
            })
            .await;
        let (forger, attacker, hits) = forger_for(&srv, Value::Null).await;
        let real_token = forger.real_token.clone();

        let introspect = |token: String| {
            let req = srv
                .http
                .post(srv.url("/v1/oauth/introspect"))
                .basic_auth(&rs.id, rs.secret.as_deref())
                .form(&[("token", token)]);
            async move {
                let resp = match req.send().await {
                    Ok(resp) => resp,
                    // The server may answer 413 and hang up while a client is
                    // still writing an oversized body: a broken pipe here.
                    Err(e) => return serde_json::json!({"status": 0, "error": e.to_string()}),
                };
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap();
                if status == 200 {
                    serde_json::from_str(&text).unwrap()
                } else {
                    serde_json::json!({"status": status, "body": text})
                }
            }
        };

        // The genuine token is active, so a refusal below is the forgery's doing.
        assert_eq!(introspect(forger.genuine()).await["active"], true);
        assert_eq!(introspect(real_token).await["active"], true);

        // Bodies over 16 KiB get 413 and an empty `token` is a missing
        // parameter (400), as on every endpoint.
        let attacks: Vec<_> = forger
            .attacks(&attacker)
            .into_iter()
            .filter(|a| !AUDIENCE_ONLY.contains(&a.name.as_str()))
            .collect();
        assert!(attacks.len() > 20, "the generator produced {} attacks", attacks.len());
        let mut accepted = Vec::new();
        for attack in attacks {
            let body = introspect(attack.token.clone()).await;
            let refused = body == serde_json::json!({"active": false})
                || (attack.name == "empty token" && body["status"] == 400)
                || (attack.name.starts_with("oversized")
                    && (body["status"] == 413 || body["status"] == 0));
            if !refused {
                accepted.push(format!("{}: {body}", attack.name));
            }
        }
        assert!(accepted.is_empty(), "introspection accepted forgeries: {accepted:#?}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "a jku/x5u URL was fetched");
    }
}

/// Introspection and userinfo answer for every audience latchkey issues to
/// (RFC 7662 §2.2: the resource server checks the `aud` it is told), so the
/// forgeries that differ from a genuine token only in `aud` are not refusals
/// they owe.
const AUDIENCE_ONLY: [&str; 3] = ["wrong aud", "aud array without us", "empty aud array"];

both_backends! {
    async fn every_forgery_is_refused_at_userinfo(db) {
        let srv = TestServer::start(&db).await;
        let user_id = srv.user("forged@example.com", &[]).await;
        // A real user and the openid scope: the genuine token is accepted, so
        // each refusal below is the forgery's doing.
        let overrides = serde_json::json!({"sub": user_id, "scope": "openid email"});
        let (forger, attacker, hits) = forger_for(&srv, overrides).await;
        let userinfo = |token: String| {
            let req = srv.http.get(srv.url("/v1/userinfo")).bearer_auth(token);
            async move {
                match req.send().await {
                    Ok(resp) => resp.status().as_u16(),
                    // Bytes no HTTP header may carry (no client can send
                    // them), or a head so large that the server hung up
                    // before the client had written it all.
                    Err(_) => 0,
                }
            }
        };
        assert_eq!(userinfo(forger.genuine()).await, 200);

        let mut accepted = Vec::new();
        for attack in forger.attacks(&attacker) {
            if AUDIENCE_ONLY.contains(&attack.name.as_str()) {
                continue;
            }
            let status = userinfo(attack.token.clone()).await;
            let unsendable_ok = status == 0
                && (attack.name.starts_with("oversized") || attack.token.bytes().any(|b| !(0x20..0x7f).contains(&b)));
            if status == 200 || status >= 500 || (status == 0 && !unsendable_ok) {
                accepted.push(format!("{}: {status}", attack.name));
            }
        }
        assert!(accepted.is_empty(), "userinfo accepted forgeries: {accepted:#?}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "a jku/x5u URL was fetched");
    }
}
