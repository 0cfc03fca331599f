//! DPoP (RFC 9449) through the real server: bound tokens from every grant,
//! every misused proof refused, public clients' refresh tokens bound to the
//! key, userinfo and introspection, server nonces, and replay across
//! processes (docs/sender-constrained.md).

use jsonwebtoken::Algorithm;
use latchkey::core::clients::{ClientPolicy, GrantType, NewClient, TokenDelivery};
use latchkey::core::scope::Scope;
use latchkey_proto::{AccessTokenClaims, ErrorBody, TokenResponse};
use serde_json::Value;

use crate::common::browser::{Browser, code_client, code_params, pkce};
use crate::common::dpop::{DpopKey, Proof, hs256_proof, unsigned_proof};
use crate::common::first_party::{
    PASSWORD, expect_error, expect_tokens, first_party, first_party_public,
};
use crate::common::{TestClient, TestServer};

const TOKEN: &str = "/v1/oauth/token";

fn service() -> NewClient {
    NewClient {
        name: "svc".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse("read").unwrap()),
        ..NewClient::default()
    }
}

impl TestServer {
    /// A token request with HTTP Basic (or a public client's `client_id`)
    /// and these `DPoP` headers.
    async fn token_dpop(
        &self,
        client: &TestClient,
        form: &[(&str, &str)],
        proofs: &[&str],
    ) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        let mut req = self.http.post(self.url(TOKEN));
        match &client.secret {
            Some(s) => req = req.basic_auth(&client.id, Some(s)),
            None => form.push(("client_id", &client.id)),
        }
        for p in proofs {
            req = req.header("DPoP", *p);
        }
        req.form(&form).send().await.unwrap()
    }

    /// `GET /v1/userinfo` with `Authorization: <scheme> <token>` and proofs.
    async fn userinfo(&self, scheme: &str, token: &str, proofs: &[&str]) -> reqwest::Response {
        let mut req = self
            .http
            .get(self.url("/v1/userinfo"))
            .header("Authorization", format!("{scheme} {token}"));
        for p in proofs {
            req = req.header("DPoP", *p);
        }
        req.send().await.unwrap()
    }

    fn token_url(&self) -> String {
        self.url(TOKEN)
    }
}

fn claims_of(srv: &TestServer, token: &str) -> AccessTokenClaims {
    srv.claims(token)
}

/// Asserts a DPoP-bound token response bound to `key`.
fn assert_bound(srv: &TestServer, body: &TokenResponse, key: &DpopKey) {
    assert_eq!(body.token_type, "DPoP");
    let claims = claims_of(srv, &body.access_token);
    assert_eq!(
        claims.cnf.as_ref().map(|c| c.jkt.as_str()),
        Some(key.jkt().as_str())
    );
}

both_backends! {
    /// client_credentials with a proof of each algorithm: token_type DPoP,
    /// `cnf.jkt` the key's RFC 7638 thumbprint (computed by the test), and
    /// introspection reports the binding. Without a proof: a Bearer token.
    async fn client_credentials_binds_every_algorithm(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service()).await;
        for key in [DpopKey::es256(), DpopKey::ed25519(), DpopKey::rsa(Algorithm::RS256), DpopKey::rsa(Algorithm::PS256)] {
            let proof = key.proof("POST", &srv.token_url(), srv.now());
            let body = expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&proof]).await).await;
            assert_bound(&srv, &body, &key);
            let intro: Value = srv.http.post(srv.url("/v1/oauth/introspect"))
                .basic_auth(&c.id, c.secret.as_deref())
                .form(&[("token", body.access_token.as_str())])
                .send().await.unwrap().json().await.unwrap();
            assert_eq!(intro["active"], true);
            assert_eq!(intro["token_type"], "DPoP");
            assert_eq!(intro["cnf"]["jkt"], key.jkt());
        }
        let plain = expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[]).await).await;
        assert_eq!(plain.token_type, "Bearer");
        assert!(claims_of(&srv, &plain.access_token).cnf.is_none());

        // Discovery lists the proof algorithms.
        let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        assert_eq!(meta["dpop_signing_alg_values_supported"], serde_json::json!(["ES256", "EdDSA", "RS256", "PS256"]));
    }
}

both_backends! {
    /// Every malformed or misused proof is `invalid_dpop_proof` (400), and
    /// none of them issues a token.
    async fn misused_proofs_are_refused(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(service()).await;
        let key = DpopKey::es256();
        let other = DpopKey::es256();
        let url = srv.token_url();
        let now = srv.now();
        let good = || Proof::new("POST", &url, now);
        let with = |f: &dyn Fn(&mut Proof)| {
            let mut p = good();
            f(&mut p);
            key.sign(&p)
        };
        let replayed = key.proof("POST", &url, now);
        expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&replayed]).await).await;

        let mut no_typ = good();
        no_typ.typ = "JWT".into();
        let cases: Vec<(&str, Vec<String>)> = vec![
            ("wrong htm", vec![with(&|p| p.htm = "GET".into())]),
            ("wrong htu", vec![with(&|p| p.htu = srv.url("/v1/oauth/revoke"))]),
            ("htu on another host", vec![with(&|p| p.htu = "https://evil.example/v1/oauth/token".into())]),
            ("stale iat", vec![with(&|p| p.iat = now - 120)]),
            ("future iat", vec![with(&|p| p.iat = now + 120)]),
            ("replayed jti", vec![replayed.clone()]),
            ("typ not dpop+jwt", vec![key.sign(&no_typ)]),
            ("no jwk", vec![key.sign_without_jwk(&good())]),
            ("jwk of another key", vec![key.sign_with_jwk(&good(), &other.jwk)]),
            ("private key in the jwk", vec![key.sign_with_private_jwk(&good())]),
            ("alg none", vec![unsigned_proof(&key.jwk, &good())]),
            ("HS256 with a symmetric jwk", vec![hs256_proof(&good())]),
            ("garbage", vec!["not.a.jwt".into()]),
            ("two proofs", vec![key.proof("POST", &url, now), key.proof("POST", &url, now)]),
        ];
        for (name, proofs) in cases {
            let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
            let resp = srv.token_dpop(&c, &[("grant_type", "client_credentials")], &proofs).await;
            assert_eq!(resp.status(), 400, "{name}");
            let body: ErrorBody = resp.json().await.unwrap();
            assert_eq!(body.error, "invalid_dpop_proof", "{name}: {body:?}");
        }
        // A query string on htu is ignored (RFC 9449 §4.3 point 9).
        let ok = key.sign(&Proof::new("POST", &format!("{url}?x=1"), now));
        expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&ok]).await).await;
        // The iat window is 60 s either side, by the injected clock.
        srv.clock.advance(59);
        let old = key.proof("POST", &url, now);
        expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&old]).await).await;
    }
}

both_backends! {
    /// A client registered with `require_dpop` gets nothing without a proof.
    async fn required_dpop(db) {
        let srv = TestServer::start(&db).await;
        let c = srv.client(NewClient { policy: ClientPolicy { require_dpop: true, ..ClientPolicy::default() }, ..service() }).await;
        expect_error(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[]).await, 400, "invalid_dpop_proof").await;
        let key = DpopKey::ed25519();
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let body = expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&proof]).await).await;
        assert_bound(&srv, &body, &key);
    }
}

both_backends! {
    /// Password grant, public client: the refresh token is bound to the key
    /// (RFC 9449 §5). Refreshing without a proof, or with another key's,
    /// is `invalid_grant` and spends nothing; with the key, it works and the
    /// new access token is bound again.
    async fn public_client_refresh_is_bound(db) {
        let srv = TestServer::start(&db).await;
        srv.user("alice@example.com", &[]).await;
        let c = srv.client(first_party_public(TokenDelivery::Body)).await;
        let key = DpopKey::es256();
        let url = srv.token_url();
        let proof = key.proof("POST", &url, srv.now());
        let first = expect_tokens(srv.token_dpop(&c, &[("grant_type", "password"), ("username", "alice@example.com"), ("password", PASSWORD)], &[&proof]).await).await;
        assert_bound(&srv, &first, &key);
        let refresh = first.refresh_token.clone().unwrap();

        expect_error(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], &[]).await, 400, "invalid_grant").await;
        let other = DpopKey::es256().proof("POST", &url, srv.now());
        expect_error(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], &[&other]).await, 400, "invalid_grant").await;

        let proof = key.proof("POST", &url, srv.now());
        let second = expect_tokens(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", &refresh)], &[&proof]).await).await;
        assert_bound(&srv, &second, &key);
        // The refresh token rotated, and the successor is bound as well.
        let next = second.refresh_token.unwrap();
        expect_error(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", &next)], &[]).await, 400, "invalid_grant").await;
        let proof = key.proof("POST", &url, srv.now());
        expect_tokens(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", &next)], &[&proof]).await).await;
    }
}

both_backends! {
    /// A confidential client's refresh token is bound to its authentication,
    /// not to the key: it refreshes without a proof (a Bearer token then),
    /// or with one (a DPoP token).
    async fn confidential_refresh_is_not_key_bound(db) {
        let srv = TestServer::start(&db).await;
        srv.user("bob@example.com", &[]).await;
        let c = srv.client(first_party(TokenDelivery::Body)).await;
        let key = DpopKey::ed25519();
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let first = expect_tokens(srv.token_dpop(&c, &[("grant_type", "password"), ("username", "bob@example.com"), ("password", PASSWORD)], &[&proof]).await).await;
        assert_bound(&srv, &first, &key);
        let second = expect_tokens(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", first.refresh_token.as_deref().unwrap())], &[]).await).await;
        assert_eq!(second.token_type, "Bearer");
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let third = expect_tokens(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", second.refresh_token.as_deref().unwrap())], &[&proof]).await).await;
        assert_bound(&srv, &third, &key);
    }
}

both_backends! {
    /// The authorization code grant with a proof at the token endpoint.
    async fn authorization_code_with_dpop(db) {
        let srv = TestServer::start(&db).await;
        srv.user("carol@example.com", &[]).await;
        let c = srv.client(code_client(true)).await;
        let (verifier, challenge) = pkce();
        let browser = Browser::new(&srv);
        let page = browser.authorize_through(&code_params(&c.id, &challenge, "openid offline_access"), "carol@example.com").await;
        let code = page.redirect_param("code").expect("a code");
        let key = DpopKey::rsa(Algorithm::PS256);
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let body = expect_tokens(srv.token_dpop(&c, &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", crate::common::browser::REDIRECT_URI),
            ("code_verifier", &verifier),
        ], &[&proof]).await).await;
        assert_bound(&srv, &body, &key);
        // A public client: the refresh token is bound too.
        expect_error(srv.token_dpop(&c, &[("grant_type", "refresh_token"), ("refresh_token", body.refresh_token.as_deref().unwrap())], &[]).await, 400, "invalid_grant").await;
    }
}

both_backends! {
    /// `dpop_jkt` binds the code (RFC 9449 §10): redeeming it without a
    /// proof, or with a proof by another key, is `invalid_grant` and does
    /// not use the code up; the key it names redeems it. A malformed
    /// `dpop_jkt` goes back to the client as `invalid_request`.
    async fn dpop_jkt_binds_the_code(db) {
        let srv = TestServer::start(&db).await;
        srv.user("erin@example.com", &[]).await;
        let c = srv.client(code_client(true)).await;
        let key = DpopKey::es256();
        let jkt = key.jkt();
        let (verifier, challenge) = pkce();
        let mut params = code_params(&c.id, &challenge, "openid");
        params.push(("dpop_jkt", jkt.as_str()));
        let browser = Browser::new(&srv);
        let page = browser.authorize_through(&params, "erin@example.com").await;
        let code = page.redirect_param("code").expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", crate::common::browser::REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        // Step 1: no proof, then a proof by another key: refused.
        expect_error(srv.token_dpop(&c, &form, &[]).await, 400, "invalid_grant").await;
        let other = DpopKey::es256().proof("POST", &srv.token_url(), srv.now());
        expect_error(srv.token_dpop(&c, &form, &[&other]).await, 400, "invalid_grant").await;
        // Step 2: the named key redeems it, and the tokens are bound to it.
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let body = expect_tokens(srv.token_dpop(&c, &form, &[&proof]).await).await;
        assert_bound(&srv, &body, &key);

        // A dpop_jkt that is no thumbprint: an error redirect.
        let mut params = code_params(&c.id, &challenge, "openid");
        params.push(("dpop_jkt", "not-a-thumbprint"));
        let page = browser.authorize(&params).await;
        assert_eq!(page.redirect_param("error").as_deref(), Some("invalid_request"));
    }
}

both_backends! {
    /// A DPoP proof at the PAR endpoint binds the code like `dpop_jkt`
    /// (RFC 9449 §10.1): only that key redeems it.
    async fn dpop_proof_at_par_binds_the_code(db) {
        let srv = TestServer::start(&db).await;
        srv.user("fred@example.com", &[]).await;
        let c = srv.client(NewClient { public: false, ..code_client(false) }).await;
        let key = DpopKey::ed25519();
        let (verifier, challenge) = pkce();
        let params = code_params(&c.id, &challenge, "openid");
        let par = srv.url("/v1/oauth/par");
        let proof = key.proof("POST", &par, srv.now());
        let resp = srv.http.post(&par).basic_auth(&c.id, c.secret.as_deref()).header("DPoP", proof).form(&params).send().await.unwrap();
        assert_eq!(resp.status(), 201);
        let pushed: Value = resp.json().await.unwrap();
        let uri = pushed["request_uri"].as_str().unwrap();
        let browser = Browser::new(&srv);
        let page = browser.authorize_through(&[("client_id", c.id.as_str()), ("request_uri", uri)], "fred@example.com").await;
        let code = page.redirect_param("code").expect("a code");
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", crate::common::browser::REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ];
        expect_error(srv.token_dpop(&c, &form, &[]).await, 400, "invalid_grant").await;
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let body = expect_tokens(srv.token_dpop(&c, &form, &[&proof]).await).await;
        assert_bound(&srv, &body, &key);
    }
}

both_backends! {
    /// The device grant with a proof on the successful poll.
    async fn device_code_with_dpop(db) {
        use crate::device::{DevicePages as _, device_authorization, tv_app};
        let srv = TestServer::start(&db).await;
        srv.user("dave@example.com", &[]).await;
        let c = srv.client(tv_app(true)).await;
        let details = device_authorization(&srv, &c, "openid read").await;
        let browser = Browser::new(&srv);
        browser.approve("dave@example.com", details["user_code"].as_str().unwrap(), "allow").await;
        let key = DpopKey::es256();
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let body = expect_tokens(srv.token_dpop(&c, &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", details["device_code"].as_str().unwrap()),
        ], &[&proof]).await).await;
        assert_bound(&srv, &body, &key);
    }
}

both_backends! {
    /// userinfo: a bound token works only as `DPoP` with a proof for this
    /// request whose `ath` is the token's hash, by the token's key.
    async fn userinfo_checks_the_binding(db) {
        let srv = TestServer::start(&db).await;
        srv.user("erin@example.com", &[]).await;
        let c = srv.client(first_party_public(TokenDelivery::Body)).await;
        let key = DpopKey::es256();
        let proof = key.proof("POST", &srv.token_url(), srv.now());
        let tokens = expect_tokens(srv.token_dpop(&c, &[("grant_type", "password"), ("username", "erin@example.com"), ("password", PASSWORD), ("scope", "openid email")], &[&proof]).await).await;
        let at = tokens.access_token.as_str();
        let ui = srv.url("/v1/userinfo");
        let now = srv.now();

        let ok = key.sign(&Proof::new("GET", &ui, now).for_token(at));
        let resp = srv.userinfo("DPoP", at, &[&ok]).await;
        assert_eq!(resp.status(), 200);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["email"], "erin@example.com");

        let check = |resp: reqwest::Response, code: &'static str| async move {
            assert_eq!(resp.status(), 401, "{code}");
            let challenge = resp.headers()["www-authenticate"].to_str().unwrap().to_owned();
            let body: ErrorBody = resp.json().await.unwrap();
            assert_eq!(body.error, code);
            challenge
        };
        // As Bearer: refused.
        let ch = check(srv.userinfo("Bearer", at, &[]).await, "invalid_token").await;
        assert!(ch.starts_with("Bearer error=\"invalid_token\""), "{ch}");
        // As DPoP without a proof, a replayed proof, a wrong ath, another
        // method, another key.
        let ch = check(srv.userinfo("DPoP", at, &[]).await, "invalid_dpop_proof").await;
        assert_eq!(ch, "DPoP error=\"invalid_dpop_proof\"");
        check(srv.userinfo("DPoP", at, &[&ok]).await, "invalid_dpop_proof").await;
        let wrong_ath = key.sign(&Proof::new("GET", &ui, now).for_token("another token"));
        check(srv.userinfo("DPoP", at, &[&wrong_ath]).await, "invalid_dpop_proof").await;
        let no_ath = key.proof("GET", &ui, now);
        check(srv.userinfo("DPoP", at, &[&no_ath]).await, "invalid_dpop_proof").await;
        let post = key.sign(&Proof::new("POST", &ui, now).for_token(at));
        check(srv.userinfo("DPoP", at, &[&post]).await, "invalid_dpop_proof").await;
        let stranger = DpopKey::es256().sign(&Proof::new("GET", &ui, now).for_token(at));
        let ch = check(srv.userinfo("DPoP", at, &[&stranger]).await, "invalid_token").await;
        assert_eq!(ch, "DPoP error=\"invalid_token\"");

        // A Bearer token sent as DPoP is refused too.
        let plain = srv.client(first_party_public(TokenDelivery::Body)).await;
        let bearer = expect_tokens(srv.token_dpop(&plain, &[("grant_type", "password"), ("username", "erin@example.com"), ("password", PASSWORD), ("scope", "openid")], &[]).await).await;
        let p = key.sign(&Proof::new("GET", &ui, now).for_token(&bearer.access_token));
        check(srv.userinfo("DPoP", &bearer.access_token, &[&p]).await, "invalid_token").await;
        assert_eq!(srv.userinfo("Bearer", &bearer.access_token, &[]).await.status(), 200);
    }
}

both_backends! {
    /// `dpop_require_nonce`: a proof without the server's nonce gets
    /// `use_dpop_nonce` and a `DPoP-Nonce` header (400 at the token
    /// endpoint, 401 at userinfo); the retry with it succeeds.
    async fn server_nonces(db) {
        let srv = TestServer::start_with(&db, |s| s.dpop_require_nonce = true).await;
        let c = srv.client(service()).await;
        let key = DpopKey::es256();
        let url = srv.token_url();
        let resp = srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.proof("POST", &url, srv.now())]).await;
        assert_eq!(resp.status(), 400);
        let nonce = resp.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        assert_eq!(resp.json::<ErrorBody>().await.unwrap().error, "use_dpop_nonce");
        let mut p = Proof::new("POST", &url, srv.now());
        p.nonce = Some(nonce.clone());
        let body = expect_tokens(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.sign(&p)]).await).await;
        assert_bound(&srv, &body, &key);
        // A made-up nonce is refused the same way.
        let mut p = Proof::new("POST", &url, srv.now());
        p.nonce = Some("1.forged".into());
        expect_error(srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.sign(&p)]).await, 400, "use_dpop_nonce").await;
        // Nonces expire: two windows later the old one is stale.
        srv.clock.advance(700);
        let mut p = Proof::new("POST", &url, srv.now());
        p.nonce = Some(nonce.clone());
        let stale = srv.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.sign(&p)]).await;
        assert_eq!(stale.status(), 400);
        let fresh = stale.headers()["dpop-nonce"].to_str().unwrap().to_owned();
        assert_ne!(fresh, nonce);
        let nonce = fresh;

        // userinfo: 401 with the DPoP challenge and a nonce.
        srv.user("frank@example.com", &[]).await;
        let app = srv.client(first_party_public(TokenDelivery::Body)).await;
        let mut p = Proof::new("POST", &url, srv.now());
        p.nonce = Some(nonce.clone());
        let tokens = expect_tokens(srv.token_dpop(&app, &[("grant_type", "password"), ("username", "frank@example.com"), ("password", PASSWORD), ("scope", "openid")], &[&key.sign(&p)]).await).await;
        let ui = srv.url("/v1/userinfo");
        let resp = srv.userinfo("DPoP", &tokens.access_token, &[&key.sign(&Proof::new("GET", &ui, srv.now()).for_token(&tokens.access_token))]).await;
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "DPoP error=\"use_dpop_nonce\"");
        assert!(resp.headers().contains_key("dpop-nonce"));
        let mut p = Proof::new("GET", &ui, srv.now()).for_token(&tokens.access_token);
        p.nonce = Some(nonce);
        assert_eq!(srv.userinfo("DPoP", &tokens.access_token, &[&key.sign(&p)]).await.status(), 200);
    }
}

both_backends! {
    /// A proof accepted by one server process is refused by another on the
    /// same database: the `jti` record is shared.
    async fn replay_across_processes(db) {
        let a = TestServer::start(&db).await;
        let b = TestServer::start(&db).await;
        let c = a.client(service()).await;
        let key = DpopKey::es256();
        // Both servers must accept the same htu: give them one issuer? They
        // each have their own; the proof names A's URL, and B is asked with
        // a proof for B's URL that reuses A's jti and key.
        let mut p = Proof::new("POST", &a.token_url(), a.now());
        expect_tokens(a.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.sign(&p)]).await).await;
        p.htu = b.token_url();
        expect_error(b.token_dpop(&c, &[("grant_type", "client_credentials")], &[&key.sign(&p)]).await, 400, "invalid_dpop_proof").await;
        // A fresh jti is fine at B.
        let fresh = key.proof("POST", &b.token_url(), b.now());
        expect_tokens(b.token_dpop(&c, &[("grant_type", "client_credentials")], &[&fresh]).await).await;
    }
}

both_backends! {
    /// The store contract: one key is recorded once; expired ones are purged.
    async fn replay_store_contract(db) {
        use latchkey::core::dpop::DpopReplayStore as _;
        let store = db.store().await;
        assert!(store.record_dpop_jti("k1", 100).await.unwrap());
        assert!(!store.record_dpop_jti("k1", 100).await.unwrap());
        assert!(store.record_dpop_jti("k2", 200).await.unwrap());
        // Concurrent inserts of one key: exactly one wins.
        let wins = futures_util::future::join_all((0..8).map(|_| {
            let s = store.clone();
            async move { s.record_dpop_jti("k3", 300).await.unwrap() }
        }))
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        assert_eq!(store.purge_dpop_jtis(150).await.unwrap(), 1);
        assert!(store.record_dpop_jti("k1", 400).await.unwrap(), "purged, so new again");
        assert!(!store.record_dpop_jti("k2", 400).await.unwrap());
    }
}
