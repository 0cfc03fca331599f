//! The JWT attack suite (docs/resource-servers.md): every forged or malformed token from
//! [`crate::forge`] is refused, by the verifier and through the axum
//! extractor and layer with exactly docs/resource-servers.md's status, body and
//! `WWW-Authenticate`; URLs in `jku`/`x5u` are never fetched.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt as _;
use latchkey_verify::{
    AccessTokenClaims, Algorithm, Authenticated, Verifier, VerifyError, VerifyLayer,
};
use tower::ServiceExt as _;

use crate::common::Latchkey;
use crate::forge::{Attack, Attacker, Expect, Forger, es256_attacks};

/// The attacker's web server: serves the attacker's JWKS at every path, and
/// counts the requests it gets (which must stay at zero).
async fn attacker_server(attacker: &Attacker) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let jwks = attacker.jwks();
    let app = Router::new().fallback(move || {
        let counter = counter.clone();
        let jwks = jwks.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            Json(jwks)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, hits)
}

pub async fn forger(lk: &Latchkey, attacker_url: &str) -> Forger {
    let client = lk.client("read admin").await;
    let real_token = lk.token(&client, "read").await;
    let (kid, real_key_pkcs8) = lk.current_key().await;
    Forger {
        issuer: lk.issuer.clone(),
        audience: lk.issuer.clone(),
        now: lk.now(),
        kid,
        real_key_pkcs8,
        real_token,
        attacker_url: attacker_url.to_owned(),
        claim_overrides: serde_json::Value::Null,
    }
}

/// `None` when the verifier answered as `attack.expect` says; otherwise what
/// went wrong.
fn judge(attack: &Attack, result: &Result<AccessTokenClaims, VerifyError>) -> Option<String> {
    let ok = matches!(
        (attack.expect, result),
        (Expect::Invalid, Err(VerifyError::Invalid(_)))
            | (Expect::Expired, Err(VerifyError::Expired))
    );
    (!ok).then(|| {
        format!(
            "{:?}: expected {:?}, got {result:?}",
            attack.name, attack.expect
        )
    })
}

async fn check_all(verifier: &Verifier, attacks: &[Attack]) {
    let mut failures = Vec::new();
    for attack in attacks {
        let result = verifier.verify(&attack.token).await;
        failures.extend(judge(attack, &result));
    }
    assert!(
        failures.is_empty(),
        "attacks not refused as expected:\n{}",
        failures.join("\n")
    );
}

/// A protected service: `/me` through the extractor, `/admin` through the
/// extractor and `require_scope`, `/layered/admin` through the layer.
pub fn protected(verifier: Verifier) -> Router {
    Router::new()
        .route(
            "/me",
            get(|Authenticated(claims): Authenticated| async move { Json(claims) }),
        )
        .route(
            "/admin",
            get(|auth: Authenticated| async move {
                auth.require_scope("admin")?;
                Ok::<_, VerifyError>("admin ok")
            }),
        )
        .nest(
            "/layered",
            Router::new()
                .route(
                    "/admin",
                    get(
                        |axum::Extension(auth): axum::Extension<Authenticated>| async move {
                            auth.0.sub
                        },
                    ),
                )
                .layer(VerifyLayer::new(verifier.clone()).require_scope("admin")),
        )
        .with_state(verifier)
}

/// Status, `WWW-Authenticate` and body of one request.
pub async fn call(
    app: &Router,
    path: &str,
    authorization: &[&str],
) -> (StatusCode, Option<String>, String) {
    let mut req = Request::get(path);
    for value in authorization {
        req = req.header("authorization", *value);
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

pub const INVALID: (StatusCode, &str, &str) = (
    StatusCode::UNAUTHORIZED,
    r#"Bearer error="invalid_token""#,
    r#"{"code":"INVALID_TOKEN"}"#,
);
pub const EXPIRED: (StatusCode, &str, &str) = (
    StatusCode::UNAUTHORIZED,
    r#"Bearer error="invalid_token", error_description="the access token has expired""#,
    r#"{"code":"TOKEN_EXPIRED"}"#,
);
pub const FORBIDDEN: (StatusCode, &str, &str) = (
    StatusCode::FORBIDDEN,
    r#"Bearer error="insufficient_scope""#,
    r#"{"code":"INSUFFICIENT_SCOPE"}"#,
);
pub const MISSING: (StatusCode, &str, &str) = (
    StatusCode::UNAUTHORIZED,
    "Bearer",
    r#"{"code":"INVALID_TOKEN"}"#,
);

fn expected(got: &(StatusCode, Option<String>, String), want: (StatusCode, &str, &str)) -> bool {
    got.0 == want.0 && got.1.as_deref() == Some(want.1) && got.2 == want.2
}

both_backends! {
    async fn forged_tokens_are_refused(db) {
        let lk = Latchkey::start(&db).await;
        let attacker = Attacker::new();
        let (attacker_url, attacker_hits) = attacker_server(&attacker).await;
        let forger = forger(&lk, &attacker_url).await;
        let verifier = lk.verifier();

        // Step 1: the controls are accepted: the real token, and a token the
        // forger signs with latchkey's real key and right claims. Without
        // them, every refusal below could be a broken verifier.
        verifier.verify(&forger.real_token).await.unwrap();
        let genuine = verifier.verify(&forger.genuine()).await.unwrap();
        assert_eq!(genuine.sub, "forged-subject");

        // Step 2: every attack is refused as it should be.
        let attacks = forger.attacks(&attacker);
        assert!(attacks.len() > 100, "the table has {} cases", attacks.len());
        check_all(&verifier, &attacks).await;

        // Step 3: the same through HTTP, via the extractor and via the layer.
        let app = protected(verifier.clone());
        let mut failures = Vec::new();
        let mut sent = 0;
        for attack in &attacks {
            let value = format!("Bearer {}", attack.token);
            // A few malformed tokens cannot even be put in a header (a
            // newline): no client can send them.
            if HeaderValue::from_str(&value).is_err() {
                continue;
            }
            let want = match attack.expect {
                Expect::Invalid => INVALID,
                Expect::Expired => EXPIRED,
            };
            for path in ["/me", "/admin", "/layered/admin"] {
                let got = call(&app, path, &[&value]).await;
                if !expected(&got, want) {
                    failures.push(format!("{:?} on {path}: got {got:?}", attack.name));
                }
            }
            sent += 1;
        }
        assert!(sent > 100);
        assert!(failures.is_empty(), "HTTP answers differ:\n{}", failures.join("\n"));

        // Step 4: the attacker's URLs were never fetched, and the forged kids
        // cost latchkey at most one JWKS refetch.
        assert_eq!(attacker_hits.load(Ordering::SeqCst), 0, "a jku/x5u URL was fetched");
        assert!(lk.hits.get(crate::common::JWKS_PATH) <= 2);
    }
}

both_backends! {
    /// docs/resource-servers.md's responses, exactly, for the cases that are not forgeries.
    async fn responses_are_exactly_as_the_contract_says(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read admin").await;
        let read = lk.token(&client, "read").await;
        let admin = lk.token(&client, "read admin").await;
        let app = protected(lk.verifier());
        let bearer = |t: &str| format!("Bearer {t}");

        // No token, or credentials of another scheme: no error code (RFC 6750 §3.1).
        for path in ["/me", "/admin", "/layered/admin"] {
            assert!(expected(&call(&app, path, &[]).await, MISSING), "{path}");
            assert!(expected(&call(&app, path, &["Basic dXNlcjpwYXNz"]).await, MISSING), "{path}");
        }
        // "Bearer" without a token, and two Authorization headers.
        assert!(expected(&call(&app, "/me", &["Bearer"]).await, INVALID));
        assert!(expected(&call(&app, "/me", &["Bearer   "]).await, INVALID));
        assert!(expected(&call(&app, "/me", &[&bearer(&read), &bearer(&read)]).await, INVALID));
        assert!(expected(&call(&app, "/layered/admin", &[&bearer(&admin), &bearer(&admin)]).await, INVALID));

        // A valid token: the claims, whatever the case of the scheme.
        let (status, _, body) = call(&app, "/me", &[&bearer(&read)]).await;
        assert_eq!(status, StatusCode::OK);
        let claims: AccessTokenClaims = serde_json::from_str(&body).unwrap();
        assert_eq!(claims.sub, client.id);
        assert_eq!(claims.scope, "read");
        let (status, _, _) = call(&app, "/me", &[&format!("bearer {read}")]).await;
        assert_eq!(status, StatusCode::OK);

        // Scope: 403 without it, 200 with it.
        assert!(expected(&call(&app, "/admin", &[&bearer(&read)]).await, FORBIDDEN));
        assert!(expected(&call(&app, "/layered/admin", &[&bearer(&read)]).await, FORBIDDEN));
        let (status, _, body) = call(&app, "/admin", &[&bearer(&admin)]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, "admin ok"));
        let (status, _, body) = call(&app, "/layered/admin", &[&bearer(&admin)]).await;
        assert_eq!((status, body), (StatusCode::OK, client.id.clone()));

        // Expired: the verifier's clock moves past exp + leeway.
        let clock = lk.clock.clone();
        let later = lk.verifier_with(move |c| {
            c.clock = Arc::new(move || latchkey::core::clock::Clock::now(&*clock) + 900 + 30);
        });
        let app = protected(later);
        for path in ["/me", "/admin", "/layered/admin"] {
            assert!(expected(&call(&app, path, &[&bearer(&admin)]).await, EXPIRED), "{path}");
        }
    }
}

both_backends! {
    /// CVE-2022-21449 ("psychic signatures") and other ES256 forgeries, for
    /// a verifier configured for ES256 against a latchkey that signs ES256.
    async fn es256_forgeries_are_refused(db) {
        let lk = Latchkey::start_with(&db, |s| s.signing_alg = latchkey::core::keys::SigningAlg::ES256).await;
        let client = lk.client("read admin").await;
        let real = lk.token(&client, "read").await;
        let kid = crate::common::kid_of(&real);
        let es256 = lk.verifier_with(|c| c.algorithms = vec![Algorithm::ES256]);
        es256.verify(&real).await.unwrap();

        let attacks = es256_attacks(&kid, &lk.issuer, &lk.issuer, lk.now(), &real);
        check_all(&es256, &attacks).await;

        // A verifier left at the default (RS256) does not use the EC key at
        // all, even for a genuine token.
        let rs256 = lk.verifier();
        assert!(matches!(rs256.verify(&real).await, Err(VerifyError::Invalid(_))));
    }
}

both_backends! {
    async fn eddsa_tokens_verify_when_allowed(db) {
        let lk = Latchkey::start_with(&db, |s| s.signing_alg = latchkey::core::keys::SigningAlg::EdDSA).await;
        let client = lk.client("read").await;
        let real = lk.token(&client, "read").await;
        let eddsa = lk.verifier_with(|c| c.algorithms = vec![Algorithm::EdDSA]);
        assert_eq!(eddsa.verify(&real).await.unwrap().sub, client.id);
        let mut sig_flipped = real.clone().into_bytes();
        let last = sig_flipped.len() - 3;
        sig_flipped[last] = if sig_flipped[last] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(sig_flipped).unwrap();
        assert!(matches!(eddsa.verify(&forged).await, Err(VerifyError::Invalid(_))));
        let es_only = lk.verifier_with(|c| c.algorithms = vec![Algorithm::ES256]);
        assert!(matches!(es_only.verify(&real).await, Err(VerifyError::Invalid(_))));
    }
}
