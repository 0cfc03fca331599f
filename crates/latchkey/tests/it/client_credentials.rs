//! The client credentials grant through the real server (RFC 6749 §4.4, docs/endpoints.md).

use jsonwebtoken::Algorithm;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;
use latchkey_proto::{AccessTokenClaims, Audience, ErrorBody, TokenResponse};
use reqwest::StatusCode;
use serde_json::Value;

use crate::common::{TestClient, TestServer, verify_with_jwks};

fn service(scopes: &str) -> NewClient {
    NewClient {
        name: "svc".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse(scopes).unwrap()),
        audiences: vec!["https://api.example.com".into(), "orders".into()],
        ..NewClient::default()
    }
}

async fn error_of(resp: reqwest::Response) -> (StatusCode, ErrorBody) {
    let status = resp.status();
    assert_eq!(resp.headers()["cache-control"], "no-store");
    (status, resp.json().await.unwrap())
}

both_backends! {
    /// Basic authentication; the token verifies against the JWKS with RS256,
    /// carries RFC 9068's header and claims, and the response is not cacheable.
    async fn basic_auth_token_verifies_with_jwks(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service("read write")).await;
        let resp = srv.token_basic(&c, &[("grant_type", "client_credentials"), ("scope", "read")]).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: TokenResponse = resp.json().await.unwrap();
        assert_eq!(body.token_type, "Bearer");
        assert_eq!(body.expires_in, 900);
        assert_eq!(body.scope, "read");
        assert!(body.refresh_token.is_none(), "client_credentials never issues a refresh token");

        let jwks = srv.jwks().await;
        let (header, claims): (_, AccessTokenClaims) =
            verify_with_jwks(&body.access_token, &jwks, Algorithm::RS256, &srv.url, &srv.url).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.alg, Algorithm::RS256);
        assert!(header.kid.is_some());
        assert_eq!(claims.iss, srv.url);
        assert_eq!(claims.sub, c.id);
        assert_eq!(claims.client_id, c.id);
        assert_eq!(claims.aud, Audience::One(srv.url.clone()));
        assert_eq!(claims.scope, "read");
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(!claims.jti.is_empty());
        assert!(claims.roles.is_none() && claims.email.is_none());

        // The same token refused under another algorithm: the verifier pins it.
        assert!(verify_with_jwks::<AccessTokenClaims>(&body.access_token, &jwks, Algorithm::ES256, &srv.url, &srv.url).is_err());
    }
}

both_backends! {
    /// client_secret_post, JSON bodies, and the default scope (all registered).
    async fn post_auth_and_json_body(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service("read write")).await;
        let secret = c.secret.clone().unwrap();
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .form(&[("grant_type", "client_credentials"), ("client_id", &c.id), ("client_secret", &secret)])
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: TokenResponse = resp.json().await.unwrap();
        assert_eq!(body.scope, "read write");

        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .json(&serde_json::json!({"grant_type": "client_credentials", "client_id": c.id, "client_secret": secret, "scope": "write"}))
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let body: TokenResponse = resp.json().await.unwrap();
        assert_eq!(body.scope, "write");
    }
}

both_backends! {
    /// RFC 8707: `resource` picks `aud` among the registered audiences.
    async fn resource_selects_audience(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service("read")).await;
        let jwks = srv.jwks().await;
        for (resources, expected) in [
            (vec!["https://api.example.com"], Audience::One("https://api.example.com".into())),
            (vec!["orders"], Audience::One("orders".into())),
            (vec!["orders", "https://api.example.com"], Audience::Many(vec!["orders".into(), "https://api.example.com".into()])),
        ] {
            let mut form = vec![("grant_type", "client_credentials")];
            form.extend(resources.iter().map(|r| ("resource", *r)));
            let resp = srv.token_basic(&c, &form).await;
            assert_eq!(resp.status(), 200, "{resources:?}");
            let body: TokenResponse = resp.json().await.unwrap();
            let (_, claims): (_, AccessTokenClaims) =
                verify_with_jwks(&body.access_token, &jwks, Algorithm::RS256, &srv.url, resources[0]).unwrap();
            assert_eq!(claims.aud, expected);
        }
        let resp = srv.token_basic(&c, &[("grant_type", "client_credentials"), ("resource", "https://evil.example")]).await;
        let (status, err) = error_of(resp).await;
        assert_eq!((status, err.error.as_str()), (StatusCode::BAD_REQUEST, "invalid_target"));
    }
}

both_backends! {
    /// Every RFC 6749 §5.2 error the client credentials grant can meet.
    async fn every_error_case(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service("read")).await;
        let wrong = TestClient { id: c.id.clone(), secret: Some("wrong".into()) };
        let unknown = TestClient { id: "nobody".into(), secret: Some("x".into()) };
        let pw_only = srv.client(NewClient {
            name: "pw".into(),
            grant_types: vec![GrantType::Password],
            ..NewClient::default()
        }).await;

        // (client, form, status, error)
        type Case<'a> = (&'a TestClient, Vec<(&'a str, &'a str)>, u16, &'a str);
        let cases: Vec<Case> = vec![
            (&wrong, vec![("grant_type", "client_credentials")], 401, "invalid_client"),
            (&unknown, vec![("grant_type", "client_credentials")], 401, "invalid_client"),
            (&pw_only, vec![("grant_type", "client_credentials")], 400, "unauthorized_client"),
            (&c, vec![("grant_type", "client_credentials"), ("scope", "admin")], 400, "invalid_scope"),
            (&c, vec![("grant_type", "client_credentials"), ("scope", "read\"")], 400, "invalid_scope"),
            (&c, vec![("grant_type", "urn:example:magic")], 400, "unsupported_grant_type"),
            (&c, vec![("grant_type", "implicit")], 400, "unsupported_grant_type"),
            (&c, vec![], 400, "invalid_request"),
            (&c, vec![("grant_type", "client_credentials"), ("grant_type", "client_credentials")], 400, "invalid_request"),
        ];
        for (client, form, status, error) in cases {
            let resp = srv.token_basic(client, &form).await;
            let basic_challenge = resp.headers().get("www-authenticate").cloned();
            let (got_status, body) = error_of(resp).await;
            assert_eq!((got_status.as_u16(), body.error.as_str()), (status, error), "{form:?}");
            assert!(body.error_description.is_some());
            if status == 401 {
                assert!(basic_challenge.unwrap().to_str().unwrap().starts_with("Basic"), "401 after Basic carries a Basic challenge");
            }
        }

        // No credentials at all, and a secret in two places.
        let resp = srv.http.post(srv.url("/v1/oauth/token")).form(&[("grant_type", "client_credentials")]).send().await.unwrap();
        assert_eq!(error_of(resp).await.1.error, "invalid_client");
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .form(&[("grant_type", "client_credentials"), ("client_secret", c.secret.as_deref().unwrap())])
            .send().await.unwrap();
        assert_eq!(error_of(resp).await.1.error, "invalid_request");

        // Wrong content type.
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .header("content-type", "text/plain")
            .body("grant_type=client_credentials")
            .send().await.unwrap();
        let (status, body) = error_of(resp).await;
        assert_eq!((status.as_u16(), body.error.as_str()), (400, "invalid_request"));

        // Malformed JSON.
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .header("content-type", "application/json")
            .body("{\"grant_type\": ")
            .send().await.unwrap();
        assert_eq!(error_of(resp).await.1.error, "invalid_request");

        // A body over 16 KiB gets 413, however it is sent.
        let big = format!("grant_type=client_credentials&scope={}", "a".repeat(17 * 1024));
        let resp = srv.http.post(srv.url("/v1/oauth/token"))
            .basic_auth(&c.id, c.secret.as_deref())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send().await.unwrap();
        assert_eq!(resp.status(), 413);
        let head = "POST /v1/oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned();
        let mut raw = head.into_bytes();
        for chunk in big.as_bytes().chunks(1024) {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        let answer = crate::common::raw_http(srv.server.addr, &raw).await;
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");

        // GET is not how tokens are requested.
        let resp = srv.http.get(srv.url("/v1/oauth/token")).send().await.unwrap();
        assert_eq!(resp.status(), 405);
    }
}

both_backends! {
    /// The `oauth2` crate, as a user's client would use it.
    async fn oauth2_crate_client(db) {
        use oauth2::basic::BasicClient;
        use oauth2::{ClientId, ClientSecret, Scope as OScope, TokenResponse as _, TokenUrl};
        let srv = TestServer::start(&db).await;
        let c = srv.client(service("read write")).await;
        let client = BasicClient::new(ClientId::new(c.id.clone()))
            .set_client_secret(ClientSecret::new(c.secret.clone().unwrap()))
            .set_token_uri(TokenUrl::new(srv.url("/v1/oauth/token")).unwrap());
        let http = oauth2::reqwest::Client::builder()
            .redirect(oauth2::reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let token = client
            .exchange_client_credentials()
            .add_scope(OScope::new("write".into()))
            .request_async(&http)
            .await
            .unwrap();
        assert_eq!(token.scopes().unwrap()[0].as_str(), "write");
        let jwks = srv.jwks().await;
        let (_, claims): (_, Value) =
            verify_with_jwks(token.access_token().secret(), &jwks, Algorithm::RS256, &srv.url, &srv.url).unwrap();
        assert_eq!(claims["client_id"], Value::String(c.id.clone()));

        // And its error path: a wrong secret is an invalid_client it can read.
        let bad = BasicClient::new(ClientId::new(c.id.clone()))
            .set_client_secret(ClientSecret::new("nope".into()))
            .set_token_uri(TokenUrl::new(srv.url("/v1/oauth/token")).unwrap());
        let err = bad.exchange_client_credentials().request_async(&http).await.unwrap_err();
        match err {
            oauth2::RequestTokenError::ServerResponse(r) => {
                assert_eq!(r.error().as_ref(), "invalid_client");
            }
            other => panic!("unexpected error: {other:?}"),
        }
    }
}

both_backends! {
    /// ES256 and EdDSA keys sign tokens that verify with their JWKS entries.
    async fn other_signing_algorithms(db) {
        for (name, alg) in [("ES256", Algorithm::ES256), ("EdDSA", Algorithm::EdDSA)] {
            // A fresh database per algorithm: keys are generated on first start.
            let fresh = match db.backend {
                crate::common::Backend::Sqlite => crate::common::TestDb::sqlite().await,
                crate::common::Backend::Postgres => crate::common::TestDb::postgres().await.unwrap(),
            };
            let srv = TestServer::start_with(&fresh, |s| s.signing_alg = latchkey::core::keys::SigningAlg::parse(name).unwrap()).await;
            let c = srv.client(service("read")).await;
            let resp = srv.token_basic(&c, &[("grant_type", "client_credentials")]).await;
            assert_eq!(resp.status(), 200);
            let body: TokenResponse = resp.json().await.unwrap();
            let jwks = srv.jwks().await;
            assert!(jwks.keys.iter().all(|k| k.alg.as_deref() == Some(name)));
            let (header, _): (_, AccessTokenClaims) =
                verify_with_jwks(&body.access_token, &jwks, alg, &srv.url, &srv.url).unwrap();
            assert_eq!(header.alg, alg);
            let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
            assert_eq!(meta["id_token_signing_alg_values_supported"], serde_json::json!([name]));
        }
    }
}

both_backends! {
    /// A client deleted by another process (the CLI) stops authenticating
    /// within `client_cache_revalidate_ms`, although the server keeps
    /// registered clients in memory.
    async fn deleted_client_is_refused_at_once(db) {
        let srv = TestServer::start(&db).await;
        let bound = srv.server.app.settings().client_cache_revalidate_ms;
        let c = srv.client(service("read")).await;
        for _ in 0..3 {
            let resp = srv.token_basic(&c, &[("grant_type", "client_credentials")]).await;
            assert_eq!(resp.status(), 200);
        }
        let out = db.cli(&["client", "delete", &c.id]);
        assert!(out.status.success());
        // The server re-reads the clients' generation every `bound` ms:
        // poll until it refuses, rather than sleep against the real clock.
        crate::common::wait_until(
            &format!("the deletion reaches the server (bound {bound} ms)"),
            std::time::Duration::from_secs(30),
            || async {
                let resp = srv.token_basic(&c, &[("grant_type", "client_credentials")]).await;
                match resp.status().as_u16() {
                    200 => false,
                    _ => {
                        assert_eq!(error_of(resp).await.1.error, "invalid_client");
                        true
                    }
                }
            },
        )
        .await;
        // And it stays refused.
        let resp = srv.token_basic(&c, &[("grant_type", "client_credentials")]).await;
        assert_eq!(error_of(resp).await.1.error, "invalid_client");
    }
}
