//! Pushed authorization requests (RFC 9126) through the real server:
//! `POST /v1/oauth/par`, then the authorization endpoint with `client_id`
//! and `request_uri` (docs/sender-constrained.md).

use latchkey::core::clients::{ClientPolicy, NewClient};
use serde_json::Value;

use crate::common::browser::{Browser, REDIRECT_URI, code_client, code_params, pkce};
use crate::common::dpop::DpopKey;
use crate::common::first_party::{expect_error, expect_tokens};
use crate::common::{TestClient, TestServer};

const PAR: &str = "/v1/oauth/par";

impl TestServer {
    /// Pushes `form` as `client` (HTTP Basic, or `client_id` for a public one).
    async fn push(&self, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
        let mut form = form.to_vec();
        let mut req = self.http.post(self.url(PAR));
        match &client.secret {
            Some(s) => req = req.basic_auth(&client.id, Some(s)),
            None => form.push(("client_id", &client.id)),
        }
        req.form(&form).send().await.unwrap()
    }
}

/// The `request_uri` of a successful push (201, `expires_in` 60).
async fn pushed(resp: reqwest::Response) -> String {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    assert!(
        uri.starts_with("urn:ietf:params:oauth:request_uri:"),
        "{uri}"
    );
    uri
}

both_backends! {
    /// Push, authorize by `request_uri`, redeem the code: the pushed
    /// parameters are the request (state, scope), and the request_uri works
    /// once.
    async fn push_then_authorize_once(db) {
        let srv = TestServer::start(&db).await;
        srv.user("alice@example.com", &[]).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let (verifier, challenge) = pkce();
        let params = code_params(&c.id, &challenge, "openid read");
        let uri = pushed(srv.push(&c, &params).await).await;

        let browser = Browser::new(&srv);
        let page = browser.authorize_through(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())], "alice@example.com").await;
        assert_eq!(page.redirect_param("state").as_deref(), Some("st-123"));
        assert_eq!(page.redirect_param("iss").as_deref(), Some(srv.url.as_str()));
        let code = page.redirect_param("code").expect("a code");
        let tokens = expect_tokens(srv.token_basic(&c, &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ]).await).await;
        assert_eq!(tokens.scope, "openid read");

        // Single use.
        let again = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert!(again.location.is_none(), "never a redirect for a bad request_uri");
    }
}

both_backends! {
    /// A request_uri is bound to the client that pushed it, lives 60 s by
    /// the injected clock, and is refused with another client_id or none.
    async fn bound_to_client_and_short_lived(db) {
        let srv = TestServer::start(&db).await;
        srv.user("bob@example.com", &[]).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let other = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let (_, challenge) = pkce();
        let params = code_params(&c.id, &challenge, "openid");
        let browser = Browser::new(&srv);

        let uri = pushed(srv.push(&c, &params).await).await;
        let page = browser.authorize(&[("client_id", other.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 400);
        // Taken by that attempt: gone for its own client too.
        let page = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 400);

        let uri = pushed(srv.push(&c, &params).await).await;
        let page = browser.authorize(&[("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 400, "client_id is required with request_uri");

        let uri = pushed(srv.push(&c, &params).await).await;
        srv.clock.advance(61);
        let page = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 400, "expired after 60 s");

        let uri = pushed(srv.push(&c, &params).await).await;
        srv.clock.advance(59);
        let page = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 303, "still valid at 59 s: {}", page.body);

        let page = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", "urn:ietf:params:oauth:request_uri:made-up")]).await;
        assert_eq!(page.status, 400);
    }
}

both_backends! {
    /// The push is authenticated like the token endpoint and validated at
    /// once: errors come back as JSON.
    async fn pushes_are_authenticated_and_validated(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let (_, challenge) = pkce();
        let params = code_params(&c.id, &challenge, "openid");
        // No credentials at all, a wrong secret, an unknown client.
        let resp = srv.http.post(srv.url(PAR)).form(&params).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        let resp = srv.http.post(srv.url(PAR)).basic_auth(&c.id, Some("wrong")).form(&params).send().await.unwrap();
        expect_error(resp, 401, "invalid_client").await;
        let stranger = TestClient { id: "nobody".into(), secret: Some("x".into()) };
        let mut theirs = params.clone();
        theirs.retain(|(k, _)| *k != "client_id");
        expect_error(srv.push(&stranger, &theirs).await, 401, "invalid_client").await;
        // Validation: an unregistered redirect_uri, a request_uri inside,
        // a bad scope, another client_id.
        let mut bad = params.clone();
        bad.retain(|(k, _)| *k != "redirect_uri");
        bad.push(("redirect_uri", "https://evil.example/cb"));
        expect_error(srv.push(&c, &bad).await, 400, "invalid_request").await;
        let mut bad = params.clone();
        bad.push(("request_uri", "urn:x"));
        expect_error(srv.push(&c, &bad).await, 400, "invalid_request").await;
        let mut bad = params.clone();
        bad.retain(|(k, _)| *k != "scope");
        bad.push(("scope", "openid admin"));
        expect_error(srv.push(&c, &bad).await, 400, "invalid_scope").await;
        let other = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let mut bad = params.clone();
        bad.retain(|(k, _)| *k != "client_id");
        bad.push(("client_id", other.id.as_str()));
        expect_error(srv.push(&c, &bad).await, 400, "invalid_request").await;
        // Discovery names the endpoint.
        let meta: Value = srv.http.get(srv.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["pushed_authorization_request_endpoint"], srv.url(PAR));
        assert_eq!(meta["require_pushed_authorization_requests"], false);
    }
}

both_backends! {
    /// `--require-par`: that client's plain authorization requests are
    /// refused on a page; other clients are not affected.
    async fn required_per_client(db) {
        let srv = TestServer::start(&db).await;
        srv.user("carol@example.com", &[]).await;
        let strict = srv.client(NewClient { public: false, policy: ClientPolicy { require_par: true, ..ClientPolicy::default() }, ..code_client(false) }).await;
        let relaxed = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let (_, challenge) = pkce();
        let browser = Browser::new(&srv);
        let page = browser.authorize(&code_params(&strict.id, &challenge, "openid")).await;
        assert_eq!(page.status, 400, "{}", page.body);
        assert!(page.location.is_none());
        let page = browser.authorize(&code_params(&relaxed.id, &challenge, "openid")).await;
        assert_eq!(page.status, 303);
        let uri = pushed(srv.push(&strict, &code_params(&strict.id, &challenge, "openid")).await).await;
        let page = browser.authorize(&[("client_id", strict.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 303, "{}", page.body);
    }
}

both_backends! {
    /// `require_pushed_authorization_requests = true`: every client.
    async fn required_globally(db) {
        let srv = TestServer::start_with(&db, |s| s.require_pushed_authorization_requests = true).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let (_, challenge) = pkce();
        let browser = Browser::new(&srv);
        let page = browser.authorize(&code_params(&c.id, &challenge, "openid")).await;
        assert_eq!(page.status, 400);
        let uri = pushed(srv.push(&c, &code_params(&c.id, &challenge, "openid")).await).await;
        let page = browser.authorize(&[("client_id", c.id.as_str()), ("request_uri", uri.as_str())]).await;
        assert_eq!(page.status, 303);
        let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["require_pushed_authorization_requests"], true);
    }
}

both_backends! {
    /// A DPoP proof at the PAR endpoint binds the request to its key
    /// (RFC 9449 §10.1); a `dpop_jkt` naming another key is refused.
    async fn dpop_proof_at_par(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let key = DpopKey::es256();
        let (_, challenge) = pkce();
        let mut params = code_params(&c.id, &challenge, "openid");
        let other = DpopKey::es256().jkt();
        params.push(("dpop_jkt", other.as_str()));
        let proof = key.proof("POST", &srv.url(PAR), srv.now());
        let resp = srv.http.post(srv.url(PAR)).basic_auth(&c.id, c.secret.as_deref()).header("DPoP", proof).form(&params).send().await.unwrap();
        expect_error(resp, 400, "invalid_dpop_proof").await;
        params.pop();
        let proof = key.proof("POST", &srv.url(PAR), srv.now());
        let resp = srv.http.post(srv.url(PAR)).basic_auth(&c.id, c.secret.as_deref()).header("DPoP", proof).form(&params).send().await.unwrap();
        pushed(resp).await;
    }
}

both_backends! {
    /// The store contract: a pushed request is taken at most once, even by
    /// concurrent takers.
    async fn store_contract(db) {
        use latchkey::core::clients::ClientStore as _;
        use latchkey::core::par::{PushedRequest, PushedRequestStore as _};
        use latchkey::core::secret::SecretHash;
        let store = db.store().await;
        let (client, _) = code_client(true).build(1000).unwrap();
        store.insert_client(&client).await.unwrap();
        let h = SecretHash::of("id-1");
        let p = PushedRequest { client_id: client.id.clone(), params: vec![("scope".into(), "openid".into())], expires_at: 2000 };
        store.insert_pushed(&h, &p).await.unwrap();
        let takers = futures_util::future::join_all((0..6).map(|_| {
            let s = store.clone();
            let h = h.clone();
            async move { s.take_pushed(&h).await.unwrap() }
        })).await;
        let got: Vec<_> = takers.into_iter().flatten().collect();
        assert_eq!(got, vec![p.clone()]);
        store.insert_pushed(&SecretHash::of("id-2"), &PushedRequest { expires_at: 1500, ..p.clone() }).await.unwrap();
        store.insert_pushed(&SecretHash::of("id-3"), &PushedRequest { expires_at: 2500, ..p }).await.unwrap();
        assert_eq!(store.purge_pushed(2000).await.unwrap(), 1);
        assert!(store.take_pushed(&SecretHash::of("id-3")).await.unwrap().is_some());
    }
}
