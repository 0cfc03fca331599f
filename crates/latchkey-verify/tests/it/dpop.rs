//! DPoP-bound tokens at a resource server (RFC 9449 §7, docs/resource-servers.md):
//! the attack suite extended with what a bound token adds. A bound token
//! as Bearer, a proof for another URL or method, a replayed proof, a proof
//! by another key, without `ath` or a stale one: 401 `INVALID_TOKEN` with
//! `WWW-Authenticate: DPoP error="invalid_token"`, through the extractor
//! and the layer alike.

use axum::Router;
use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use jsonwebtoken::Algorithm as JoseAlg;
use latchkey_verify::{Algorithm, DpopMode, Verifier};
use tower::ServiceExt as _;

use crate::attacks::protected;
use crate::common::{Latchkey, TOKEN_PATH, TestClient};
use crate::dpop_keys::{DpopKey, Proof};

const RESOURCE: &str = "http://resource.example";
const CHALLENGE: &str = r#"DPoP error="invalid_token""#;

/// A DPoP-bound access token from latchkey's token endpoint.
async fn bound_token(lk: &Latchkey, client: &TestClient, key: &DpopKey) -> String {
    let proof = key.proof("POST", &lk.url(TOKEN_PATH), lk.now());
    let resp = lk
        .http
        .post(lk.url(TOKEN_PATH))
        .basic_auth(&client.id, Some(&client.secret))
        .header("DPoP", proof)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials&scope=read%20admin")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: latchkey_proto::TokenResponse = resp.json().await.unwrap();
    assert_eq!(body.token_type, "DPoP");
    body.access_token
}

fn verifier(lk: &Latchkey, mode: DpopMode) -> Verifier {
    lk.verifier_with(|c| {
        c.public_url = Some(RESOURCE.into());
        c.dpop = mode;
        c.algorithms = vec![Algorithm::RS256];
    })
}

/// Status, challenge and body of `GET path` with these headers.
async fn call(
    app: &Router,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let challenge = resp
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, challenge, String::from_utf8(body.to_vec()).unwrap())
}

both_backends! {
    /// A bound token with a good proof passes through the extractor and the
    /// layer; every misuse is refused with the DPoP challenge.
    async fn bound_tokens_need_their_proof(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read admin").await;
        let key = DpopKey::es256();
        let token = bound_token(&lk, &client, &key).await;
        let app = protected(verifier(&lk, DpopMode::Either));
        let now = lk.now();
        let auth = format!("DPoP {token}");
        let proof_for = |method: &str, path: &str| key.sign(&Proof::new(method, &format!("{RESOURCE}{path}"), now).for_token(&token));

        // Good: extractor, and layer.
        for path in ["/me", "/layered/admin"] {
            let (status, _, body) = call(&app, "GET", path, &[("authorization", &auth), ("dpop", &proof_for("GET", path))]).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
        }
        // A query string on the request is not part of htu.
        let (status, _, _) = call(&app, "GET", "/me?x=1", &[("authorization", &auth), ("dpop", &proof_for("GET", "/me"))]).await;
        assert_eq!(status, StatusCode::OK);

        let replayed = proof_for("GET", "/me");
        assert_eq!(call(&app, "GET", "/me", &[("authorization", &auth), ("dpop", &replayed)]).await.0, StatusCode::OK);
        let mut stale = Proof::new("GET", &format!("{RESOURCE}/me"), now - 120).for_token(&token);
        stale.jti = "stale".into();
        let mut no_ath = Proof::new("GET", &format!("{RESOURCE}/me"), now);
        no_ath.ath = None;
        let other_key = DpopKey::es256().sign(&Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token(&token));
        let other_token = key.sign(&Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token("another.token.value"));
        let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
            ("bound token as Bearer", vec![("authorization", format!("Bearer {token}"))]),
            ("bound token as Bearer with a proof", vec![("authorization", format!("Bearer {token}")), ("dpop", proof_for("GET", "/me"))]),
            ("no proof", vec![("authorization", auth.clone())]),
            ("two proofs", vec![("authorization", auth.clone()), ("dpop", proof_for("GET", "/me")), ("dpop", proof_for("GET", "/me"))]),
            ("replayed proof", vec![("authorization", auth.clone()), ("dpop", replayed.clone())]),
            ("proof for another URL", vec![("authorization", auth.clone()), ("dpop", proof_for("GET", "/admin"))]),
            ("proof for another method", vec![("authorization", auth.clone()), ("dpop", proof_for("POST", "/me"))]),
            ("proof for another host", vec![("authorization", auth.clone()), ("dpop", key.sign(&Proof::new("GET", "http://evil.example/me", now).for_token(&token)))]),
            ("stale proof", vec![("authorization", auth.clone()), ("dpop", key.sign(&stale))]),
            ("proof without ath", vec![("authorization", auth.clone()), ("dpop", key.sign(&no_ath))]),
            ("proof for another token", vec![("authorization", auth.clone()), ("dpop", other_token)]),
            ("proof by another key", vec![("authorization", auth.clone()), ("dpop", other_key)]),
            ("proof with a private jwk", vec![("authorization", auth.clone()), ("dpop", key.sign_with_private_jwk(&Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token(&token)))]),
            ("unsigned proof", vec![("authorization", auth.clone()), ("dpop", crate::dpop_keys::unsigned_proof(&key.jwk, &Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token(&token)))]),
            ("HS256 proof", vec![("authorization", auth.clone()), ("dpop", crate::dpop_keys::hs256_proof(&Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token(&token)))]),
        ];
        for (name, headers) in cases {
            let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            for path in ["/me", "/layered/admin"] {
                let (status, challenge, body) = call(&app, "GET", path, &headers).await;
                assert_eq!(status, StatusCode::UNAUTHORIZED, "{name} at {path}");
                assert_eq!(challenge.as_deref(), Some(CHALLENGE), "{name} at {path}");
                assert_eq!(body, r#"{"code":"INVALID_TOKEN"}"#, "{name} at {path}");
            }
        }
    }
}

both_backends! {
    /// The three modes: bound only refuses Bearer tokens; Bearer only
    /// refuses bound ones; either (default) takes both kinds, each its way.
    /// Every algorithm latchkey accepts for proofs works here too.
    async fn modes_and_algorithms(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read admin").await;
        let bearer = lk.token(&client, "read").await;
        let now = lk.now();
        for key in [DpopKey::es256(), DpopKey::ed25519(), DpopKey::rsa(JoseAlg::RS256), DpopKey::rsa(JoseAlg::PS256)] {
            let token = bound_token(&lk, &client, &key).await;
            let proof = || key.sign(&Proof::new("GET", &format!("{RESOURCE}/me"), now).for_token(&token));
            let dpop_auth = format!("DPoP {token}");
            let either = protected(verifier(&lk, DpopMode::Either));
            assert_eq!(call(&either, "GET", "/me", &[("authorization", &dpop_auth), ("dpop", &proof())]).await.0, StatusCode::OK, "{:?}", key.alg);
            let bound_only = protected(verifier(&lk, DpopMode::BoundOnly));
            assert_eq!(call(&bound_only, "GET", "/me", &[("authorization", &dpop_auth), ("dpop", &proof())]).await.0, StatusCode::OK);
            let bearer_only = protected(verifier(&lk, DpopMode::BearerOnly));
            let (status, challenge, _) = call(&bearer_only, "GET", "/me", &[("authorization", &dpop_auth), ("dpop", &proof())]).await;
            assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(CHALLENGE)));
        }
        let bearer_auth = format!("Bearer {bearer}");
        assert_eq!(call(&protected(verifier(&lk, DpopMode::Either)), "GET", "/me", &[("authorization", &bearer_auth)]).await.0, StatusCode::OK);
        assert_eq!(call(&protected(verifier(&lk, DpopMode::BearerOnly)), "GET", "/me", &[("authorization", &bearer_auth)]).await.0, StatusCode::OK);
        let (status, challenge, _) = call(&protected(verifier(&lk, DpopMode::BoundOnly)), "GET", "/me", &[("authorization", &bearer_auth)]).await;
        assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(CHALLENGE)));
        // A Bearer token sent as DPoP is refused too.
        let (status, challenge, _) = call(&protected(verifier(&lk, DpopMode::Either)), "GET", "/me", &[("authorization", &format!("DPoP {bearer}"))]).await;
        assert_eq!((status, challenge.as_deref()), (StatusCode::UNAUTHORIZED, Some(CHALLENGE)));
    }
}
