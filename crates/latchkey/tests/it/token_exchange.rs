//! Token exchange (RFC 8693; docs/logout-and-exchange.md) at the token
//! endpoint: a service chain web app → orders service → billing service,
//! each hop narrowing the audience (and maybe the scope) and adding itself
//! to `act`; and every way an exchange is refused.

use latchkey::core::audit::{AuditFilter, AuditStore as _};
use latchkey::core::clients::{GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey_proto::{AccessTokenClaims, Actor, TokenResponse};

use crate::common::first_party::{expect_error, first_party};
use crate::common::{TestClient, TestServer};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

/// A service that may exchange tokens for the given audiences.
fn service(name: &str, audiences: &[&str]) -> NewClient {
    NewClient {
        name: name.into(),
        grant_types: vec![GrantType::TokenExchange, GrantType::ClientCredentials],
        scopes: Some(Scope::parse("read write").unwrap()),
        audiences: audiences.iter().map(|a| (*a).to_owned()).collect(),
        ..NewClient::default()
    }
}

async fn exchange(
    srv: &TestServer,
    client: &TestClient,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut all = vec![("grant_type", GRANT), ("subject_token_type", AT)];
    all.extend_from_slice(form);
    srv.token_basic(client, &all).await
}

async fn ok(resp: reqwest::Response) -> TokenResponse {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

struct Chain {
    srv: TestServer,
    user: String,
    web: TestClient,
    orders: TestClient,
    billing: TestClient,
    /// The user's token from the web app (scope read write, aud the API).
    user_token: String,
}

async fn chain(db: &crate::common::TestDb) -> Chain {
    let srv = TestServer::start(db).await;
    let user = srv.user("eve@example.com", &["staff"]).await;
    let web = srv.client(first_party(TokenDelivery::Body)).await;
    // The web app calls orders (the subject's audience does not matter);
    // orders may exchange for itself and for billing; billing for nothing
    // but itself.
    let orders = srv.client(service("orders", &[ORDERS, BILLING])).await;
    let billing = srv.client(service("billing", &[BILLING])).await;
    let resp = srv
        .signin(
            &web,
            "eve@example.com",
            crate::common::first_party::PASSWORD,
            Some("read write email"),
        )
        .await;
    let tokens: TokenResponse = ok(resp).await;
    Chain {
        srv,
        user,
        web,
        orders,
        billing,
        user_token: tokens.access_token,
    }
}

both_backends! {
    async fn a_service_exchanges_the_users_token_for_the_next_hop(db) {
        let c = chain(&db).await;
        let srv = &c.srv;

        // Step 1: orders exchanges the user's token for one addressed to billing.
        let resp = exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("audience", BILLING)]).await;
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let t = ok(resp).await;
        assert_eq!(t.issued_token_type.as_deref(), Some(AT));
        assert_eq!(t.token_type, "Bearer");
        assert!(t.refresh_token.is_none() && t.id_token.is_none());
        let subject = srv.claims(&c.user_token);
        let claims: AccessTokenClaims = srv.claims(&t.access_token);
        assert_eq!(claims.sub, c.user, "the subject is kept");
        assert_eq!(claims.client_id, c.orders.id);
        assert!(claims.aud.contains(BILLING) && !claims.aud.contains(ORDERS));
        assert_eq!(claims.act, Some(Actor { sub: c.orders.id.clone(), act: None }));
        assert_eq!(claims.scope, subject.scope, "the subject's scope by default");
        assert_eq!(claims.roles, Some(vec!["staff".to_owned()]));
        assert_eq!(claims.email.as_deref(), Some("eve@example.com"));
        assert!(claims.exp <= subject.exp, "never outlives the subject token");
        assert_eq!(t.expires_in, claims.exp - srv.now());

        // Step 2: `resource` works as `audience` does.
        let t2 = ok(exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("resource", ORDERS)]).await).await;
        assert!(srv.claims(&t2.access_token).aud.contains(ORDERS));

        // Step 3: narrowing the scope is fine (email goes with its scope);
        // widening it is invalid_scope.
        let narrow = ok(exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("audience", BILLING), ("scope", "read")]).await).await;
        assert_eq!(narrow.scope, "read");
        let n = srv.claims(&narrow.access_token);
        assert_eq!(n.scope, "read");
        assert!(n.email.is_none());
        let wide = exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("audience", BILLING), ("scope", "read write admin")]).await;
        expect_error(wide, 400, "invalid_scope").await;

        // Step 4: billing exchanges orders' token again: act nests.
        let hop2 = ok(exchange(srv, &c.billing, &[("subject_token", &t.access_token), ("audience", BILLING)]).await).await;
        let h = srv.claims(&hop2.access_token);
        assert_eq!(h.sub, c.user);
        assert_eq!(h.client_id, c.billing.id);
        assert_eq!(h.act, Some(Actor {
            sub: c.billing.id.clone(),
            act: Some(Box::new(Actor { sub: c.orders.id.clone(), act: None })),
        }));

        // Step 5: each exchange is audited.
        srv.server.app.audit().flush().await;
        let events = srv.server.app.store().list_audit_events(&AuditFilter {
            user_id: Some(c.user.clone()), since: None, limit: 100,
        }).await.unwrap();
        let exchanges = events.iter().filter(|e| e.kind == "token_exchange" && e.outcome == "success").count();
        assert_eq!(exchanges, 4, "{events:?}");
        let _ = &c.web;
    }
}

both_backends! {
    async fn an_exchange_is_refused_for_bad_subjects_targets_and_clients(db) {
        let c = chain(&db).await;
        let srv = &c.srv;

        // An audience the client is not registered for.
        let r = exchange(srv, &c.billing, &[("subject_token", &c.user_token), ("audience", ORDERS)]).await;
        expect_error(r, 400, "invalid_target").await;

        // A client not registered for the grant.
        let r = exchange(srv, &c.web, &[("subject_token", &c.user_token)]).await;
        expect_error(r, 400, "unauthorized_client").await;
        // A public client, even registered for it.
        let public = srv.client(NewClient { public: true, grant_types: vec![GrantType::TokenExchange], ..service("spa", &[BILLING]) }).await;
        let r = srv.http.post(srv.url("/v1/oauth/token")).form(&[
            ("grant_type", GRANT), ("client_id", public.id.as_str()),
            ("subject_token", c.user_token.as_str()), ("subject_token_type", AT),
        ]).send().await.unwrap();
        expect_error(r, 400, "unauthorized_client").await;

        // Not an access token of ours, or the wrong token type.
        let r = exchange(srv, &c.orders, &[("subject_token", "not-a-token")]).await;
        expect_error(r, 400, "invalid_grant").await;
        let r = srv.token_basic(&c.orders, &[
            ("grant_type", GRANT), ("subject_token", &c.user_token),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:id_token"),
        ]).await;
        expect_error(r, 400, "invalid_request").await;
        let r = srv.token_basic(&c.orders, &[("grant_type", GRANT), ("subject_token_type", AT)]).await;
        expect_error(r, 400, "invalid_request").await;

        // An actor token must be the exchanging client's own.
        let own = ok(srv.token_basic(&c.orders, &[("grant_type", "client_credentials")]).await).await;
        let other = ok(srv.token_basic(&c.billing, &[("grant_type", "client_credentials")]).await).await;
        ok(exchange(srv, &c.orders, &[
            ("subject_token", &c.user_token), ("audience", BILLING),
            ("actor_token", &own.access_token), ("actor_token_type", AT),
        ]).await).await;
        let r = exchange(srv, &c.orders, &[
            ("subject_token", &c.user_token), ("audience", BILLING),
            ("actor_token", &other.access_token), ("actor_token_type", AT),
        ]).await;
        expect_error(r, 400, "invalid_grant").await;
        let r = exchange(srv, &c.orders, &[
            ("subject_token", &c.user_token), ("actor_token", &own.access_token),
        ]).await;
        expect_error(r, 400, "invalid_request").await;

        // A revoked subject token.
        let exchanged = ok(exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("audience", BILLING)]).await).await;
        let revoked = srv.http.post(srv.url("/v1/oauth/revoke"))
            .basic_auth(&c.web.id, c.web.secret.as_deref())
            .form(&[("token", c.user_token.as_str())])
            .send().await.unwrap();
        assert_eq!(revoked.status(), 200);
        let r = exchange(srv, &c.orders, &[("subject_token", &c.user_token), ("audience", BILLING)]).await;
        expect_error(r, 400, "invalid_grant").await;

        // An expired subject token (the one exchanged before the revocation
        // expires with its subject).
        srv.clock.advance(srv.server.app.settings().access_token_ttl_seconds + 1);
        let r = exchange(srv, &c.billing, &[("subject_token", &exchanged.access_token), ("audience", BILLING)]).await;
        expect_error(r, 400, "invalid_grant").await;
    }
}

both_backends! {
    async fn discovery_lists_the_grant_and_back_channel_logout(db) {
        let srv = TestServer::start(&db).await;
        let meta: serde_json::Value = srv.http.get(srv.url("/.well-known/openid-configuration"))
            .send().await.unwrap().json().await.unwrap();
        let grants: Vec<&str> = meta["grant_types_supported"].as_array().unwrap()
            .iter().map(|g| g.as_str().unwrap()).collect();
        assert!(grants.contains(&GRANT));
        assert_eq!(meta["backchannel_logout_supported"], true);
        assert_eq!(meta["backchannel_logout_session_supported"], true);
    }
}
