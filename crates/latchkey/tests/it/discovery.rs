//! Discovery, the JWKS, health, and the shape of unknown routes (docs/operations.md, docs/endpoints.md).

use serde_json::Value;

use crate::common::TestServer;

both_backends! {
    async fn metadata_and_jwks_shape(db) {
        let srv = TestServer::start(&db).await;
        let oidc: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        let oauth: Value = srv.http.get(srv.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        assert_eq!(oidc, oauth, "both documents carry the same content");
        assert_eq!(oidc["issuer"], srv.url);
        assert_eq!(oidc["token_endpoint"], srv.url("/v1/oauth/token"));
        assert_eq!(oidc["jwks_uri"], srv.url("/.well-known/jwks.json"));
        assert_eq!(oidc["subject_types_supported"], serde_json::json!(["public"]));
        assert_eq!(
            oidc["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
        );
        assert!(oidc["grant_types_supported"].as_array().unwrap().contains(&Value::from("client_credentials")));
        assert_eq!(oidc["id_token_signing_alg_values_supported"], serde_json::json!(["RS256"]));

        let resp = srv.http.get(srv.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let jwks: Value = resp.json().await.unwrap();
        let keys = jwks["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2, "a current and a next key from the first start");
        for k in keys {
            assert_eq!(k["kty"], "RSA");
            assert_eq!(k["alg"], "RS256");
            assert_eq!(k["use"], "sig");
            assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
            assert!(k["n"].as_str().is_some_and(|n| n.len() >= 342), "RSA-2048 modulus");
            assert_eq!(k["e"], "AQAB");
            assert!(k.get("d").is_none() && k.get("p").is_none(), "no private member is ever published");
        }
    }
}

both_backends! {
    async fn health_and_unknown_routes(db) {
        let srv = TestServer::start(&db).await;
        let live = srv.http.get(srv.url("/health/live")).send().await.unwrap();
        assert_eq!(live.status(), 200);
        let ready = srv.http.get(srv.url("/health/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        assert!(ready.headers().contains_key("x-request-id"));

        let resp = srv.http.get(srv.url("/no/such/thing")).send().await.unwrap();
        assert_eq!(resp.status(), 404);
        let body: Value = resp.json().await.unwrap();
        assert!(body["error"].is_string());
    }
}

both_backends! {
    /// Readiness follows the database: 503 once the pool is gone.
    async fn ready_is_503_without_database(db) {
        let srv = TestServer::start(&db).await;
        srv.server.app.store().close().await;
        let ready = srv.http.get(srv.url("/health/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
        // Discovery and the JWKS are served from memory and keep answering.
        let jwks = srv.http.get(srv.url("/.well-known/jwks.json")).send().await.unwrap();
        assert_eq!(jwks.status(), 200);
    }
}
