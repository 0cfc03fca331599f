//! `private_key_jwt` client authentication (RFC 7523, OIDC Core §9)
//! through the real server: assertions signed with jsonwebtoken by RS256,
//! PS256, ES256 and EdDSA keys, registered inline or at a `jwks_uri`
//! served by a local axum server, at the token, introspection,
//! revocation and PAR endpoints; every bad assertion refused
//! (docs/sender-constrained.md).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey::core::clients::{ClientKeys, ClientPolicy, GrantType, NewClient};
use latchkey::core::scope::Scope;
use serde_json::{Value, json};

use crate::common::browser::{REDIRECT_URI, code_params, pkce};
use crate::common::dpop::{DpopKey, b64};
use crate::common::first_party::expect_tokens;
use crate::common::{TestClient, TestServer};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN: &str = "/v1/oauth/token";
const INTROSPECT: &str = "/v1/oauth/introspect";
const REVOKE: &str = "/v1/oauth/revoke";
const PAR: &str = "/v1/oauth/par";

/// A confidential client that signs in with keys: client_credentials for
/// the token endpoint, the code flow for PAR.
fn keyed_client(keys: ClientKeys) -> NewClient {
    NewClient {
        name: "keyed".into(),
        redirect_uris: vec![REDIRECT_URI.into()],
        grant_types: vec![GrantType::ClientCredentials, GrantType::AuthorizationCode],
        scopes: Some(Scope::parse("openid read").unwrap()),
        policy: ClientPolicy {
            keys: Some(keys),
            ..ClientPolicy::default()
        },
        ..NewClient::default()
    }
}

fn jwks(keys: &[(&DpopKey, &str)]) -> Value {
    json!({"keys": keys.iter().map(|(k, kid)| k.registered_jwk(kid)).collect::<Vec<_>>()})
}

/// The claims of a good assertion by `client` for `aud`.
fn claims(client: &str, aud: &str, now: i64) -> Value {
    json!({
        "iss": client, "sub": client, "aud": aud,
        "exp": now + 60, "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

impl TestServer {
    /// POSTs `form` to `path` authenticated by `assertion` alone.
    async fn with_assertion(
        &self,
        path: &str,
        assertion: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = form.to_vec();
        form.push(("client_assertion_type", ASSERTION_TYPE));
        form.push(("client_assertion", assertion));
        self.http
            .post(self.url(path))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// client_credentials with an assertion by `key` (kid `kid`) for `c`.
    async fn cc(&self, c: &TestClient, key: &DpopKey, kid: &str) -> reqwest::Response {
        let a = key.sign_jwt(Some(kid), &claims(&c.id, &self.url, self.now()));
        self.with_assertion(TOKEN, &a, &[("grant_type", "client_credentials")])
            .await
    }
}

/// Asserts a 401 `invalid_client`.
async fn refused(resp: reqwest::Response, what: &str) {
    let status = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(status, 401, "{what}: {body}");
    assert_eq!(body["error"], "invalid_client", "{what}: {body}");
}

both_backends! {
    /// Each algorithm, inline keys, at every endpoint that authenticates
    /// clients; `aud` the issuer or the endpoint's URL.
    async fn every_algorithm_at_every_endpoint(db) {
        let srv = TestServer::start(&db).await;
        for key in [DpopKey::rsa(Algorithm::RS256), DpopKey::rsa(Algorithm::PS256), DpopKey::es256(), DpopKey::ed25519()] {
            let alg = format!("{:?}", key.alg);
            let c = srv.client(keyed_client(ClientKeys::Jwks(jwks(&[(&key, "k1")])))).await;
            assert!(c.secret.is_none(), "no secret for a private_key_jwt client");
            let sign = |aud: &str| key.sign_jwt(Some("k1"), &claims(&c.id, aud, srv.now()));

            // Step 1: the token endpoint, aud the issuer.
            let tokens = expect_tokens(srv.with_assertion(TOKEN, &sign(&srv.url), &[("grant_type", "client_credentials"), ("scope", "read")]).await).await;
            // Step 2: introspection, aud the endpoint's URL.
            let resp = srv.with_assertion(INTROSPECT, &sign(&srv.url(INTROSPECT)), &[("token", tokens.access_token.as_str())]).await;
            assert_eq!(resp.status(), 200, "{alg}");
            let body: Value = resp.json().await.unwrap();
            assert_eq!(body["active"], true, "{alg}");
            assert_eq!(body["client_id"], c.id.as_str(), "{alg}");
            // Step 3: revocation, aud the token endpoint's URL (RFC 7523 §3).
            let resp = srv.with_assertion(REVOKE, &sign(&srv.url(TOKEN)), &[("token", tokens.access_token.as_str())]).await;
            assert_eq!(resp.status(), 200, "{alg}");
            let body: Value = srv.with_assertion(INTROSPECT, &sign(&srv.url), &[("token", tokens.access_token.as_str())]).await.json().await.unwrap();
            assert_eq!(body["active"], false, "{alg}: revoked");
            // Step 4: PAR.
            let (_, challenge) = pkce();
            let params = code_params(&c.id, &challenge, "openid");
            let resp = srv.with_assertion(PAR, &sign(&srv.url(PAR)), &params).await;
            assert_eq!(resp.status(), 201, "{alg}");
        }
        // Discovery lists the method and its algorithms.
        let meta: Value = srv.http.get(srv.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
        for field in ["token_endpoint_auth_methods_supported", "introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"] {
            assert!(meta[field].as_array().unwrap().contains(&json!("private_key_jwt")), "{field}");
        }
        for field in ["token_endpoint_auth_signing_alg_values_supported", "introspection_endpoint_auth_signing_alg_values_supported", "revocation_endpoint_auth_signing_alg_values_supported"] {
            assert_eq!(meta[field], json!(["ES256", "EdDSA", "RS256", "PS256"]), "{field}");
        }
    }
}

both_backends! {
    /// Expired, future, too long-lived, replayed, wrong iss/sub/aud, another
    /// key, `alg: none`, HS256, no `jti`, the wrong assertion type, and a
    /// keyed client naming itself without an assertion: all
    /// `invalid_client`.
    async fn bad_assertions_are_refused(db) {
        let srv = TestServer::start(&db).await;
        let key = DpopKey::es256();
        let other = DpopKey::es256();
        let c = srv.client(keyed_client(ClientKeys::Jwks(jwks(&[(&key, "k1")])))).await;
        let now = srv.now();
        let id = c.id.as_str();
        let good = || claims(id, &srv.url, now);
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = good();
            f(&mut c);
            c
        };
        let cc = [("grant_type", "client_credentials")];
        let hs256 = {
            let mut h = Header::new(Algorithm::HS256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, &good(), &EncodingKey::from_secret(b"a shared secret of thirty-two by")).unwrap()
        };
        let none = format!(
            "{}.{}.",
            b64(serde_json::to_vec(&json!({"alg": "none", "kid": "k1"})).unwrap()),
            b64(serde_json::to_vec(&good()).unwrap())
        );
        let cases: Vec<(&str, String)> = vec![
            ("expired", key.sign_jwt(Some("k1"), &with(&|c| c["exp"] = (now - 120).into()))),
            ("exp more than 5 minutes ahead", key.sign_jwt(Some("k1"), &with(&|c| c["exp"] = (now + 3600).into()))),
            ("iat in the future", key.sign_jwt(Some("k1"), &with(&|c| c["iat"] = (now + 600).into()))),
            ("nbf in the future", key.sign_jwt(Some("k1"), &with(&|c| c["nbf"] = (now + 600).into()))),
            ("no exp", key.sign_jwt(Some("k1"), &with(&|c| { c.as_object_mut().unwrap().remove("exp"); }))),
            ("no jti", key.sign_jwt(Some("k1"), &with(&|c| { c.as_object_mut().unwrap().remove("jti"); }))),
            ("iss another client", key.sign_jwt(Some("k1"), &with(&|c| c["iss"] = "someone-else".into()))),
            ("sub another client", key.sign_jwt(Some("k1"), &with(&|c| c["sub"] = "someone-else".into()))),
            ("aud another server", key.sign_jwt(Some("k1"), &with(&|c| c["aud"] = "https://elsewhere.example".into()))),
            ("aud another path", key.sign_jwt(Some("k1"), &with(&|c| c["aud"] = srv.url("/v1/userinfo").into()))),
            ("another key, same kid", other.sign_jwt(Some("k1"), &good())),
            ("another key, no kid", other.sign_jwt(None, &good())),
            ("unknown kid", key.sign_jwt(Some("nope"), &good())),
            ("alg none", none),
            ("HS256", hs256),
            ("garbage", "not.a.jwt".into()),
        ];
        for (what, assertion) in &cases {
            refused(srv.with_assertion(TOKEN, assertion, &cc).await, what).await;
        }

        // Replayed: the second use of one assertion.
        let once = key.sign_jwt(Some("k1"), &good());
        expect_tokens(srv.with_assertion(TOKEN, &once, &cc).await).await;
        refused(srv.with_assertion(TOKEN, &once, &cc).await, "replayed").await;

        // Another assertion type, with a good assertion.
        let a = key.sign_jwt(Some("k1"), &good());
        let resp = srv.http.post(srv.url(TOKEN)).form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ("client_assertion", a.as_str()),
        ]).send().await.unwrap();
        refused(resp, "saml2-bearer").await;
        // Naming itself is not enough for a client with keys.
        let resp = srv.http.post(srv.url(TOKEN)).form(&[("grant_type", "client_credentials"), ("client_id", id)]).send().await.unwrap();
        refused(resp, "client_id alone").await;
        // A good assertion with a client_id naming another client.
        let a = key.sign_jwt(Some("k1"), &good());
        let resp = srv.http.post(srv.url(TOKEN)).form(&[
            ("grant_type", "client_credentials"), ("client_id", "another"),
            ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", a.as_str()),
        ]).send().await.unwrap();
        refused(resp, "client_id of another client").await;
        // An assertion and a secret together: two methods.
        let a = key.sign_jwt(Some("k1"), &good());
        let resp = srv.http.post(srv.url(TOKEN)).basic_auth(id, Some("x")).form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE), ("client_assertion", a.as_str()),
        ]).send().await.unwrap();
        assert_eq!(resp.status(), 400);

        // A client with a secret cannot use an assertion, even a well-signed one.
        let secret_client = srv.client(NewClient { policy: ClientPolicy::default(), ..keyed_client(ClientKeys::Jwks(json!({}))) }).await;
        let a = key.sign_jwt(Some("k1"), &claims(&secret_client.id, &srv.url, now));
        refused(srv.with_assertion(TOKEN, &a, &cc).await, "a secret client's assertion").await;
        // Still fine after all that.
        expect_tokens(srv.cc(&c, &key, "k1").await).await;
    }
}

both_backends! {
    /// An assertion accepted by one server process is refused by another
    /// on the same database: the `jti` record is shared.
    async fn replay_across_processes(db) {
        let a = TestServer::start(&db).await;
        let b = TestServer::start(&db).await;
        let key = DpopKey::ed25519();
        let c = a.client(keyed_client(ClientKeys::Jwks(jwks(&[(&key, "k1")])))).await;
        let mut claims = claims(&c.id, &a.url, a.now());
        claims["aud"] = json!([a.url, b.url]);
        let assertion = key.sign_jwt(Some("k1"), &claims);
        let cc = [("grant_type", "client_credentials")];
        expect_tokens(a.with_assertion(TOKEN, &assertion, &cc).await).await;
        refused(b.with_assertion(TOKEN, &assertion, &cc).await, "replayed at another process").await;
        expect_tokens(b.cc(&c, &key, "k1").await).await;
    }
}

/// What the local JWKS server answers at each path.
#[derive(Clone)]
struct Served {
    /// `/jwks`: the current set (rotation swaps it).
    set: Arc<Mutex<Value>>,
}

async fn jwks_handler(State(s): State<Served>) -> axum::response::Response {
    let set = s.set.lock().unwrap().clone();
    axum::Json(set).into_response()
}

async fn redirect_handler() -> axum::response::Response {
    (StatusCode::FOUND, [(header::LOCATION, "/jwks")]).into_response()
}

async fn big_handler(State(s): State<Served>) -> axum::response::Response {
    // The real set, padded past 64 KiB: only the size cap refuses it.
    let mut set = s.set.lock().unwrap().clone();
    set["padding"] = "x".repeat(100 * 1024).into();
    axum::Json(set).into_response()
}

async fn slow_handler(State(s): State<Served>) -> axum::response::Response {
    tokio::time::sleep(Duration::from_secs(30)).await;
    let set = s.set.lock().unwrap().clone();
    axum::Json(set).into_response()
}

/// Serves `set` on 127.0.0.1 at `/jwks`, `/redirect` (302 to `/jwks`),
/// `/big` and `/slow`; returns the base URL.
async fn jwks_server(set: Arc<Mutex<Value>>) -> String {
    let app = axum::Router::new()
        .route("/jwks", axum::routing::get(jwks_handler))
        .route("/redirect", axum::routing::get(redirect_handler))
        .route("/big", axum::routing::get(big_handler))
        .route("/slow", axum::routing::get(slow_handler))
        .with_state(Served { set });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

both_backends! {
    /// Keys at a `jwks_uri`: fetched, cached, and a rotation picked up by
    /// an unknown `kid` (at most once per 10 s, by the injected clock).
    async fn jwks_uri_and_rotation(db) {
        let srv = TestServer::start_with(&db, |s| s.jwks_uri_allow_private = true).await;
        let (a, b) = (DpopKey::rsa(Algorithm::PS256), DpopKey::es256());
        let set = Arc::new(Mutex::new(jwks(&[(&a, "a")])));
        let base = jwks_server(set.clone()).await;
        let c = srv.client(keyed_client(ClientKeys::JwksUri(format!("{base}/jwks")))).await;
        expect_tokens(srv.cc(&c, &a, "a").await).await;

        // Step 1: the client rotates to key b. Within 10 s of the last
        // fetch, an unknown kid does not fetch again.
        *set.lock().unwrap() = jwks(&[(&b, "b")]);
        refused(srv.cc(&c, &b, "b").await, "refetch too soon").await;
        // Step 2: 11 s later it does, and b works; a is gone.
        srv.clock.advance(11);
        expect_tokens(srv.cc(&c, &b, "b").await).await;
        refused(srv.cc(&c, &a, "a").await, "the rotated-out key").await;

        // Every endpoint takes it.
        let assertion = b.sign_jwt(Some("b"), &claims(&c.id, &srv.url, srv.now()));
        let resp = srv.with_assertion(INTROSPECT, &assertion, &[("token", "garbage")]).await;
        assert_eq!(resp.status(), 200);
    }
}

both_backends! {
    /// A `jwks_uri` that redirects, answers more than 64 KiB, or too
    /// slowly is refused (`invalid_client`), although each leads to the
    /// right keys; and without `jwks_uri_allow_private` a loopback
    /// `http` URI is never fetched.
    async fn jwks_uri_bounds(db) {
        let srv = TestServer::start_with(&db, |s| s.jwks_uri_allow_private = true).await;
        let key = DpopKey::es256();
        let set = Arc::new(Mutex::new(jwks(&[(&key, "k")])));
        let base = jwks_server(set).await;
        for (path, what) in [("redirect", "a redirect"), ("big", "over 64 KiB"), ("slow", "too slow")] {
            let c = srv.client(keyed_client(ClientKeys::JwksUri(format!("{base}/{path}")))).await;
            refused(srv.cc(&c, &key, "k").await, what).await;
        }
        // The same keys straight from /jwks work: the refusals were the bounds.
        let c = srv.client(keyed_client(ClientKeys::JwksUri(format!("{base}/jwks")))).await;
        expect_tokens(srv.cc(&c, &key, "k").await).await;

        // A server without the setting does not fetch from 127.0.0.1.
        let strict = TestServer::start(&db).await;
        let c = strict.client(keyed_client(ClientKeys::JwksUri(format!("{base}/jwks")))).await;
        refused(strict.cc(&c, &key, "k").await, "loopback without jwks_uri_allow_private").await;
    }
}

both_backends! {
    /// `client create --token-endpoint-auth-method private_key_jwt --jwks
    /// FILE`: no secret, the method in the view; the client then
    /// authenticates with its key. `--jwks-uri` shows in the view.
    async fn cli_registers_keys(db) {
        let key = DpopKey::ed25519();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwks.json");
        std::fs::write(&file, serde_json::to_vec(&jwks(&[(&key, "cli")])).unwrap()).unwrap();
        let created = db.cli_json(&[
            "client", "create", "--name", "signer", "--grant-type", "client_credentials",
            "--token-endpoint-auth-method", "private_key_jwt", "--jwks", file.to_str().unwrap(), "--json",
        ]);
        assert!(created.get("client_secret").is_none(), "{created}");
        assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(created["public"], false);
        let srv = TestServer::start(&db).await;
        let c = TestClient { id: created["client_id"].as_str().unwrap().to_owned(), secret: None };
        expect_tokens(srv.cc(&c, &key, "cli").await).await;

        let by_uri = db.cli_json(&[
            "client", "create", "--name", "fetcher", "--grant-type", "client_credentials",
            "--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", "https://keys.example.com/jwks.json", "--json",
        ]);
        assert_eq!(by_uri["jwks_uri"], "https://keys.example.com/jwks.json");
        // private_key_jwt without keys, or a private key in the set: refused.
        let out = db.cli(&["client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt"]);
        assert!(!out.status.success());
        let mut private = jwks(&[(&key, "p")]);
        private["keys"][0]["d"] = "AAAA".into();
        std::fs::write(&file, serde_json::to_vec(&private).unwrap()).unwrap();
        let out = db.cli(&["client", "create", "--name", "x", "--token-endpoint-auth-method", "private_key_jwt", "--jwks", file.to_str().unwrap()]);
        assert!(!out.status.success());
    }
}

both_backends! {
    /// The store contract: one assertion key is recorded once, even by
    /// concurrent callers; expired ones are purged (with the rest, by
    /// housekeeping).
    async fn replay_store_contract(db) {
        use latchkey::core::client_assertion::AssertionReplayStore as _;
        let store = db.store().await;
        assert!(store.record_assertion_jti("k1", 100).await.unwrap());
        assert!(!store.record_assertion_jti("k1", 100).await.unwrap());
        assert!(store.record_assertion_jti("k2", 200).await.unwrap());
        let wins = futures_util::future::join_all((0..8).map(|_| {
            let s = store.clone();
            async move { s.record_assertion_jti("k3", 300).await.unwrap() }
        }))
        .await;
        assert_eq!(wins.iter().filter(|w| **w).count(), 1);
        assert_eq!(store.purge_assertion_jtis(150).await.unwrap(), 1);
        assert!(store.record_assertion_jti("k1", 400).await.unwrap(), "purged, so new again");
        assert!(!store.record_assertion_jti("k2", 400).await.unwrap());
    }
}
