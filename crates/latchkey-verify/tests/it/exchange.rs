//! A token from a token exchange (RFC 8693; docs/logout-and-exchange.md)
//! at a real resource server: the `protected_api` example, run as it is,
//! accepts it for the audience it was exchanged for, shows its `act`, and
//! another service (another audience) refuses it.

use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::scope::Scope;

use crate::common::{Latchkey, TOKEN_PATH, TestClient};

#[allow(dead_code)]
#[path = "../../examples/protected_api.rs"]
mod protected_api;

const ORDERS: &str = "https://orders.example";
const BILLING: &str = "https://billing.example";

/// `protected_api` for `audience` on a loopback port; its base URL.
async fn api(lk: &Latchkey, audience: &str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (issuer, audience) = (lk.issuer.clone(), audience.to_owned());
    tokio::spawn(async move {
        let _ = protected_api::serve(listener, &issuer, &audience).await;
    });
    url
}

async fn registered(lk: &Latchkey, new: NewClient) -> TestClient {
    let (client, secret) = new.build(lk.now()).unwrap();
    latchkey::core::clients::ClientStore::insert_client(lk.app.store(), &client)
        .await
        .unwrap();
    TestClient {
        id: client.id.to_string(),
        secret: secret.unwrap().expose().to_owned(),
    }
}

both_backends! {
    async fn an_exchanged_token_is_accepted_for_its_audience_only(db) {
        let lk = Latchkey::start(&db).await;
        // Step 1: the caller's token (here a service acting for itself,
        // addressed to orders).
        let caller = registered(&lk, NewClient {
            name: "web".into(),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: Some(Scope::parse("read").unwrap()),
            audiences: vec![ORDERS.into()],
            ..NewClient::default()
        }).await;
        let orders = registered(&lk, NewClient {
            name: "orders".into(),
            grant_types: vec![GrantType::TokenExchange],
            audiences: vec![BILLING.into()],
            ..NewClient::default()
        }).await;
        let resp = lk.http.post(lk.url(TOKEN_PATH))
            .basic_auth(&caller.id, Some(&caller.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("grant_type=client_credentials&scope=read&resource={ORDERS}"))
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let subject: latchkey_proto::TokenResponse = resp.json().await.unwrap();

        // Step 2: orders exchanges it for billing.
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange")
            .append_pair("subject_token", &subject.access_token)
            .append_pair("subject_token_type", "urn:ietf:params:oauth:token-type:access_token")
            .append_pair("audience", BILLING)
            .finish();
        let resp = lk.http.post(lk.url(TOKEN_PATH))
            .basic_auth(&orders.id, Some(&orders.secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let exchanged: latchkey_proto::TokenResponse = resp.json().await.unwrap();

        // Step 3: billing's API accepts it and sees who acts; orders' API
        // (another audience) refuses it, and billing refuses the original.
        let billing_api = api(&lk, BILLING).await;
        let orders_api = api(&lk, ORDERS).await;
        let get = |base: &str, token: &str| {
            lk.http.get(format!("{base}/me")).bearer_auth(token).send()
        };
        let me = get(&billing_api, &exchanged.access_token).await.unwrap();
        assert_eq!(me.status(), 200);
        let claims: latchkey_verify::AccessTokenClaims = me.json().await.unwrap();
        assert_eq!(claims.sub, caller.id, "the subject is the caller");
        assert_eq!(claims.act, Some(latchkey_verify::Actor { sub: orders.id.clone(), act: None }));
        let refused = get(&orders_api, &exchanged.access_token).await.unwrap();
        assert_eq!(refused.status(), 401);
        let refused = get(&billing_api, &subject.access_token).await.unwrap();
        assert_eq!(refused.status(), 401);
        let original = get(&orders_api, &subject.access_token).await.unwrap();
        assert_eq!(original.status(), 200);
    }
}
