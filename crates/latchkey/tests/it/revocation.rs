//! Revocation (RFC 7009) and introspection (RFC 7662) of every kind of token
//! (docs/endpoints.md), through the real server.

use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey_proto::{IntrospectionResponse, TokenResponse};
use serde_json::Value;

use crate::common::first_party::{expect_error, expect_tokens, first_party, first_party_public};
use crate::common::{TestClient, TestServer};

/// A confidential client that resource servers use to introspect.
fn resource_server() -> NewClient {
    NewClient {
        name: "api".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse("read").unwrap()),
        ..NewClient::default()
    }
}

async fn introspect(
    srv: &TestServer,
    as_client: &TestClient,
    token: &str,
) -> IntrospectionResponse {
    let resp = srv
        .http
        .post(srv.url("/v1/oauth/introspect"))
        .basic_auth(&as_client.id, as_client.secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let text = resp.text().await.unwrap();
    let body: IntrospectionResponse = serde_json::from_str(&text).unwrap();
    if !body.active {
        assert_eq!(
            text, r#"{"active":false}"#,
            "an inactive token says nothing more"
        );
    }
    body
}

async fn revoke(srv: &TestServer, as_client: &TestClient, token: &str, hint: Option<&str>) -> u16 {
    let mut form = vec![("token", token)];
    if let Some(h) = hint {
        form.push(("token_type_hint", h));
    }
    let req = srv.http.post(srv.url("/v1/oauth/revoke"));
    let req = match &as_client.secret {
        Some(s) => req.basic_auth(&as_client.id, Some(s)),
        None => {
            form.push(("client_id", &as_client.id));
            req
        }
    };
    let resp = req.form(&form).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        assert_eq!(resp.headers()["cache-control"], "no-store");
    }
    status
}

both_backends! {
    /// A live access token is active with its claims; expired, revoked (jti
    /// on the deny list), signed by a key not in the JWKS, or garbage: not.
    async fn access_tokens(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let rs = srv.client(resource_server()).await;
        let user = srv.user("alice@example.com", &["admin"]).await;
        let tokens = expect_tokens(srv.signin(&app, "alice@example.com", crate::common::first_party::PASSWORD, Some("openid email read")).await).await;
        let at = tokens.access_token;

        // Live.
        let live = introspect(&srv, &rs, &at).await;
        let claims = srv.claims(&at);
        assert!(live.active);
        assert_eq!(live.sub.as_deref(), Some(user.as_str()));
        assert_eq!(live.client_id.as_deref(), Some(app.id.as_str()));
        assert_eq!(live.scope.as_deref(), Some("email openid read"));
        assert_eq!(live.username.as_deref(), Some("alice@example.com"));
        assert_eq!(live.token_type.as_deref(), Some("Bearer"));
        assert_eq!(live.iss.as_deref(), Some(srv.url.as_str()));
        assert_eq!((live.exp, live.iat), (Some(claims.exp), Some(claims.iat)));
        assert_eq!(live.jti.as_deref(), Some(claims.jti.as_str()));
        assert_eq!(live.aud, Some(claims.aud.clone()));

        // Without the email scope, the username comes from the user record.
        let no_email = expect_tokens(srv.signin(&app, "alice@example.com", crate::common::first_party::PASSWORD, Some("read")).await).await;
        assert_eq!(introspect(&srv, &rs, &no_email.access_token).await.username.as_deref(), Some("alice@example.com"));

        // Revoked by another client: nothing happens (200 all the same).
        assert_eq!(revoke(&srv, &rs, &at, Some("access_token")).await, 200);
        assert!(introspect(&srv, &rs, &at).await.active);
        // Revoked by its client: the jti is denied.
        assert_eq!(revoke(&srv, &app, &at, None).await, 200);
        assert!(!introspect(&srv, &rs, &at).await.active);
        // Revoking twice is fine.
        assert_eq!(revoke(&srv, &app, &at, Some("refresh_token")).await, 200);

        // Expired.
        let other = srv.signed_in(&app, "alice@example.com").await.access_token;
        assert!(introspect(&srv, &rs, &other).await.active);
        srv.clock.advance(900);
        assert!(!introspect(&srv, &rs, &other).await.active);
        // Revoking an expired token is a no-op, with 200.
        assert_eq!(revoke(&srv, &app, &other, None).await, 200);

        // Signed by a key this server never published (another server, same
        // issuer and audience).
        let stranger_db = crate::common::TestDb::sqlite().await;
        let issuer = srv.url.clone();
        let stranger = TestServer::start_with(&stranger_db, move |s| s.issuer = issuer).await;
        let sc = stranger.client(resource_server()).await;
        let foreign: TokenResponse = stranger.token_basic(&sc, &[("grant_type", "client_credentials")]).await.json().await.unwrap();
        assert!(!introspect(&srv, &rs, &foreign.access_token).await.active);

        // Garbage of every shape.
        for junk in ["", "garbage", "a.b.c", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", &"z".repeat(9000)] {
            if junk.is_empty() {
                continue;
            }
            assert!(!introspect(&srv, &rs, junk).await.active, "{junk}");
            assert_eq!(revoke(&srv, &app, junk, None).await, 200, "{junk}");
        }
    }
}

both_backends! {
    /// Refresh tokens: live is active for its own client only; rotated and
    /// revoked are not. Revoking one revokes its family; another client's
    /// revocation changes nothing.
    async fn refresh_tokens(db) {
        let srv = TestServer::start(&db).await;
        let app = srv.client(first_party(TokenDelivery::Body)).await;
        let other = srv.client(first_party(TokenDelivery::Body)).await;
        let rs = srv.client(resource_server()).await;
        let user = srv.user("bob@example.com", &[]).await;
        let r0 = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();

        let live = introspect(&srv, &app, &r0).await;
        assert!(live.active);
        assert_eq!(live.token_type.as_deref(), Some("refresh_token"));
        assert_eq!(live.client_id.as_deref(), Some(app.id.as_str()));
        assert_eq!(live.sub.as_deref(), Some(user.as_str()));
        assert_eq!(live.username.as_deref(), Some("bob@example.com"));
        assert_eq!(live.exp, Some(srv.now() + 7 * 24 * 3600));
        assert!(live.scope.is_some());
        // Nobody else learns anything about it.
        assert!(!introspect(&srv, &rs, &r0).await.active);
        assert!(!introspect(&srv, &other, &r0).await.active);

        // Rotated: inactive.
        let r1 = expect_tokens(srv.refresh(&app, &r0, None).await).await.refresh_token.unwrap();
        assert!(!introspect(&srv, &app, &r0).await.active);
        assert!(introspect(&srv, &app, &r1).await.active);

        // Another client revokes: 200, nothing happens.
        assert_eq!(revoke(&srv, &other, &r1, Some("refresh_token")).await, 200);
        assert!(introspect(&srv, &app, &r1).await.active);

        // Its client revokes: the family is dead.
        assert_eq!(revoke(&srv, &app, &r1, Some("refresh_token")).await, 200);
        assert!(!introspect(&srv, &app, &r1).await.active);
        expect_error(srv.refresh(&app, &r1, None).await, 400, "invalid_grant").await;

        // Revoking an earlier token of a family kills the newest too.
        let s0 = srv.signed_in(&app, "bob@example.com").await.refresh_token.unwrap();
        let s1 = expect_tokens(srv.refresh(&app, &s0, None).await).await.refresh_token.unwrap();
        assert_eq!(revoke(&srv, &app, &s0, Some("access_token")).await, 200, "a wrong hint is harmless");
        expect_error(srv.refresh(&app, &s1, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// A public client may revoke its own tokens (RFC 7009 §2.1) but cannot
    /// introspect (RFC 7662 §4); requests without client authentication are
    /// 401, without `token` 400.
    async fn client_authentication(db) {
        let srv = TestServer::start(&db).await;
        let spa = srv.client(first_party_public(TokenDelivery::Body)).await;
        let rs = srv.client(resource_server()).await;
        srv.user("carol@example.com", &[]).await;
        let r0 = srv.signed_in(&spa, "carol@example.com").await.refresh_token.unwrap();

        let resp = srv.http.post(srv.url("/v1/oauth/introspect")).form(&[("token", r0.as_str()), ("client_id", spa.id.as_str())]).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        let resp = srv.http.post(srv.url("/v1/oauth/introspect")).form(&[("token", r0.as_str())]).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        let resp = srv.http.post(srv.url("/v1/oauth/revoke")).form(&[("token", r0.as_str())]).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        let resp = srv.http.post(srv.url("/v1/oauth/revoke")).basic_auth(&rs.id, Some("wrong")).form(&[("token", r0.as_str())]).send().await.unwrap();
        assert!(resp.headers().contains_key("www-authenticate"));
        expect_error(resp, 401, "invalid_client").await;
        let resp = srv.http.post(srv.url("/v1/oauth/revoke")).basic_auth(&rs.id, rs.secret.as_deref()).form(&[("token_type_hint", "refresh_token")]).send().await.unwrap();
        expect_error(resp, 400, "invalid_request").await;

        assert_eq!(revoke(&srv, &spa, &r0, None).await, 200);
        expect_error(srv.refresh(&spa, &r0, None).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// A client_credentials token is revocable by its client and then
    /// inactive; the `oauth2` crate reads the introspection answers.
    async fn client_credentials_tokens_and_oauth2_introspection(db) {
        use oauth2::basic::BasicClient;
        use oauth2::{AccessToken, ClientId, ClientSecret, IntrospectionUrl, TokenIntrospectionResponse as _};
        let srv = TestServer::start(&db).await;
        let svc = srv.client(resource_server()).await;
        let rs = srv.client(resource_server()).await;
        let token: TokenResponse = srv.token_basic(&svc, &[("grant_type", "client_credentials")]).await.json().await.unwrap();

        let client = BasicClient::new(ClientId::new(rs.id.clone()))
            .set_client_secret(ClientSecret::new(rs.secret.clone().unwrap()))
            .set_introspection_url(IntrospectionUrl::new(srv.url("/v1/oauth/introspect")).unwrap());
        let http = oauth2::reqwest::Client::new();
        let at = AccessToken::new(token.access_token.clone());
        let answer = client.introspect(&at).request_async(&http).await.unwrap();
        assert!(answer.active());
        assert_eq!(answer.client_id().map(|c| c.to_string()), Some(svc.id.clone()));
        assert_eq!(answer.sub(), Some(svc.id.as_str()));
        assert!(answer.username().is_none(), "a client's own token has no username");

        assert_eq!(revoke(&srv, &svc, &token.access_token, None).await, 200);
        let answer = client.introspect(&at).request_async(&http).await.unwrap();
        assert!(!answer.active());
    }
}

both_backends! {
    /// Discovery lists the endpoints, grants and methods of this issue.
    async fn discovery_lists_revocation_and_introspection(db) {
        let srv = TestServer::start(&db).await;
        let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["revocation_endpoint"], srv.url("/v1/oauth/revoke"));
        assert_eq!(meta["introspection_endpoint"], srv.url("/v1/oauth/introspect"));
        let grants = meta["grant_types_supported"].as_array().unwrap();
        for g in ["client_credentials", "password", "refresh_token"] {
            assert!(grants.contains(&Value::from(g)), "{g}");
        }
        assert_eq!(meta["revocation_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]));
        assert_eq!(meta["introspection_endpoint_auth_methods_supported"], serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt"]));
    }
}

both_backends! {
    /// The deny list is shared through the database although every process
    /// mirrors it in memory: an access token revoked through one process is
    /// inactive at once there, and at another process within the mirror's
    /// revalidation bound.
    async fn revoked_access_token_is_inactive_in_every_process(db) {
        let a = TestServer::start(&db).await;
        let issuer = a.url.clone();
        let b = TestServer::start_with(&db, |s| s.issuer = issuer).await;
        let bound = b.server.app.settings().client_cache_revalidate_ms;
        let app = a
            .client(NewClient {
                name: "app".into(),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: Some(Scope::parse("read").unwrap()),
                ..NewClient::default()
            })
            .await;
        let rs = a.client(resource_server()).await;
        let resp = a.token_basic(&app, &[("grant_type", "client_credentials")]).await;
        let at = expect_tokens(resp).await.access_token;
        // Step 1: both processes mirror the (empty) list and call the token active.
        assert!(introspect(&a, &rs, &at).await.active);
        assert!(introspect(&b, &rs, &at).await.active);
        // Step 2: revoke through `a`.
        assert_eq!(revoke(&a, &app, &at, None).await, 200);
        assert!(!introspect(&a, &rs, &at).await.active, "the revoking process knows at once");
        // Step 3: `b` sees it once its mirror revalidates (every `bound`
        // ms): polled, so that a slow machine cannot fail the test.
        crate::common::wait_until(
            &format!("the revocation reaches the other process (bound {bound} ms)"),
            std::time::Duration::from_secs(30),
            || async { !introspect(&b, &rs, &at).await.active },
        )
        .await;
    }
}
