//! The verifier against a real latchkey: real tokens, key rotation through a
//! refetch, the refetch limits, and what happens while latchkey is away.

use std::sync::Arc;
use std::time::Duration;

use latchkey_verify::{FetchError, JwksSource, Verifier, VerifierConfig, VerifyError};

use latchkey::core::keys::KeyStore as _;

use crate::common::{DISCOVERY_PATH, JWKS_PATH, Latchkey, kid_of};
use crate::forge::{Attacker, Forger, good_claims};

both_backends! {
    async fn a_real_token_is_accepted(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read write").await;
        let token = lk.token(&client, "read write").await;
        let verifier = lk.verifier();
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims.iss, lk.issuer);
        assert_eq!(claims.sub, client.id);
        assert_eq!(claims.client_id, client.id);
        assert!(claims.aud.contains(&lk.issuer));
        assert_eq!(claims.scope, "read write");
        assert!(claims.has_scope("write"));
        // The second time costs no request to latchkey.
        verifier.verify(&token).await.unwrap();
        assert_eq!(lk.hits.get(DISCOVERY_PATH), 1);
        assert_eq!(lk.hits.get(JWKS_PATH), 1);
        // Scope requirements.
        verifier.verify_with_scopes(&token, &["read", "write"]).await.unwrap();
        assert_eq!(
            verifier.verify_with_scopes(&token, &["read", "admin"]).await,
            Err(VerifyError::InsufficientScope("admin".into()))
        );
    }
}

both_backends! {
    async fn rotation_is_followed_through_a_refetch(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        // No refetch limit here: this test is about following rotations;
        // the limit has its own test below.
        let verifier = lk.verifier_with(|c| c.refetch_interval = Duration::ZERO);

        // Step 1: a token of the first key; the JWKS is fetched once.
        let first = lk.token(&client, "read").await;
        verifier.verify(&first).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 1);

        // Step 2: rotate. The new current key was published as *next* before
        // it signed, so the cached JWKS already knows it: no refetch.
        lk.rotate().await;
        let second = lk.token(&client, "read").await;
        assert_ne!(kid_of(&second), kid_of(&first));
        verifier.verify(&second).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 1, "the next key was already known");

        // Step 3: rotate again. This key was published after our fetch: the
        // unknown kid makes the verifier refetch, once, however many
        // requests carry it at the same moment.
        lk.rotate().await;
        let third = lk.token(&client, "read").await;
        let mut tasks = Vec::new();
        for _ in 0..100 {
            let verifier = verifier.clone();
            let token = third.clone();
            tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        assert_eq!(lk.hits.get(JWKS_PATH), 2, "one refetch for 100 concurrent requests");

        // Step 4: the tokens of the retired keys still verify, with no fetch.
        verifier.verify(&first).await.unwrap();
        verifier.verify(&second).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 2);
        assert_eq!(lk.hits.get(DISCOVERY_PATH), 1, "jwks_uri is remembered");
    }
}

both_backends! {
    /// Forged kids cannot make the verifier hammer latchkey: one fetch in
    /// flight, and no refetch within the interval (default 10 s) of the last.
    async fn unknown_kids_refetch_at_most_once_per_interval(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let attacker = Attacker::new();
        let claims = good_claims(&lk.issuer, &lk.issuer, lk.now());
        let flood = |verifier: &Verifier| {
            let mut tasks = Vec::new();
            for i in 0..200 {
                let token = attacker.token(&format!("kid-{i}"), &claims);
                let verifier = verifier.clone();
                tasks.push(tokio::spawn(async move { verifier.verify(&token).await }));
            }
            tasks
        };

        // Step 1: a cold verifier hit by 200 forged kids at once fetches the
        // JWKS once (its first load), not 200 times.
        let cold = lk.verifier();
        for task in flood(&cold) {
            assert!(matches!(task.await.unwrap(), Err(VerifyError::Invalid(_))));
        }
        assert_eq!(lk.hits.get(JWKS_PATH), 1, "200 unknown kids, one fetch");
        // The keys it loaded serve real tokens with no further fetch.
        cold.verify(&lk.token(&client, "read").await).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 1);

        // Step 2: a warm verifier, flooded within the interval: no refetch.
        let warm = lk.verifier();
        warm.verify(&lk.token(&client, "read").await).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 2);
        for task in flood(&warm) {
            assert!(matches!(task.await.unwrap(), Err(VerifyError::Invalid(_))));
        }
        assert_eq!(lk.hits.get(JWKS_PATH), 2, "no refetch within the interval");

        // Step 3: a rotation within the interval: its key was published as
        // next, so real tokens keep verifying without a refetch.
        lk.rotate().await;
        warm.verify(&lk.token(&client, "read").await).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 2);
    }
}

both_backends! {
    async fn cached_keys_keep_serving_while_latchkey_is_away(db) {
        let mut lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        let verifier = lk.verifier_with(|c| {
            c.refetch_interval = Duration::ZERO;
            c.http_timeout = Duration::from_secs(2);
        });
        verifier.verify(&token).await.unwrap();

        lk.stop().await;
        // Known keys: still verified, locally.
        verifier.verify(&token).await.unwrap();
        // An unknown kid: the refetch fails, the token is refused, and the
        // cached keys survive the failure.
        let attacker = Attacker::new();
        let forged = attacker.token("new-kid", &good_claims(&lk.issuer, &lk.issuer, lk.now()));
        assert!(matches!(verifier.verify(&forged).await, Err(VerifyError::Invalid(_))));
        assert!(matches!(verifier.refresh().await, Err(FetchError::Http { .. })));
        verifier.verify(&token).await.unwrap();
    }
}

both_backends! {
    async fn a_verifier_started_before_latchkey_recovers(db) {
        // The verifier's first fetch fails (nothing listens there yet)...
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        let wrong = lk.verifier_with(|c| {
            c.jwks = JwksSource::Url("http://127.0.0.1:9/jwks.json".into());
            c.refetch_interval = Duration::ZERO;
            c.http_timeout = Duration::from_secs(2);
        });
        assert!(matches!(wrong.verify(&token).await, Err(VerifyError::Invalid(_))));
        // ...and a verifier pointed at the JWKS URL directly works.
        let direct = lk.verifier_with(|c| c.jwks = JwksSource::Url(lk.url(JWKS_PATH)));
        direct.verify(&token).await.unwrap();
        assert_eq!(lk.hits.get(DISCOVERY_PATH), 0);
    }
}

both_backends! {
    async fn discovery_naming_another_issuer_is_refused(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        // The same server under another name: OIDC Discovery §4.3 says the
        // document's issuer must be the one we asked.
        let alias = lk.issuer.replace("127.0.0.1", "localhost");
        let mut config = VerifierConfig::new(alias.clone(), lk.issuer.clone());
        config.refetch_interval = Duration::ZERO;
        let verifier = Verifier::new(config).unwrap();
        assert!(matches!(verifier.refresh().await, Err(FetchError::IssuerMismatch { .. })));
        assert!(matches!(verifier.verify(&token).await, Err(VerifyError::Invalid(_))));
        assert_eq!(lk.hits.get(JWKS_PATH), 0);
    }
}

both_backends! {
    async fn a_static_jwks_needs_no_fetch(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        let jwks: latchkey_proto::JwkSet =
            lk.http.get(lk.url(JWKS_PATH)).send().await.unwrap().json().await.unwrap();
        let before = lk.hits.get(JWKS_PATH);
        let verifier = lk.verifier_with(|c| c.jwks = JwksSource::Static(jwks));
        verifier.verify(&token).await.unwrap();
        assert_eq!(verifier.refresh().await, Err(FetchError::Static));
        assert_eq!(lk.hits.get(JWKS_PATH), before);
    }
}

both_backends! {
    /// `exp`, `nbf` and `iat` with the 30 s leeway, on the server's clock.
    async fn time_claims_honour_the_leeway(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        let claims = lk.verifier().verify(&token).await.unwrap();
        let at = |t: i64| {
            lk.verifier_with(move |c| c.clock = Arc::new(move || t))
        };
        // exp + leeway is the first instant it is refused (RFC 7519 §4.1.4).
        at(claims.exp + 29).verify(&token).await.unwrap();
        assert_eq!(at(claims.exp + 30).verify(&token).await, Err(VerifyError::Expired));
        assert_eq!(at(claims.exp + 100_000).verify(&token).await, Err(VerifyError::Expired));
        // A verifier whose clock is behind tolerates the leeway, no more.
        at(claims.iat - 30).verify(&token).await.unwrap();
        assert!(matches!(at(claims.iat - 31).verify(&token).await, Err(VerifyError::Invalid(_))));
        // No leeway at all.
        let strict = lk.verifier_with(|c| {
            c.leeway = Duration::ZERO;
            c.clock = Arc::new(move || claims.exp);
        });
        assert_eq!(strict.verify(&token).await, Err(VerifyError::Expired));
    }
}

both_backends! {
    async fn a_token_for_another_audience_is_refused(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        let other = lk.verifier_with(|c| c.audiences = vec!["https://billing.example".into()]);
        assert!(matches!(other.verify(&token).await, Err(VerifyError::Invalid(_))));
        let several = lk.verifier_with(|c| {
            c.audiences = vec!["https://billing.example".into(), lk.issuer.clone()];
        });
        several.verify(&token).await.unwrap();
    }
}

both_backends! {
    /// A JWKS older than `max_age` (by the injected clock: no sleeping) is
    /// refreshed behind the requests' backs: they keep being served from the
    /// cache meanwhile, and then a key latchkey no longer publishes is
    /// forgotten.
    async fn a_stale_jwks_is_refreshed_in_the_background(db) {
        let lk = Latchkey::start(&db).await;
        let client = lk.client("read").await;
        let verifier = lk.verifier_with(|c| {
            c.max_age = Duration::from_secs(300);
            c.refetch_interval = Duration::ZERO;
        });
        // A token signed with a key latchkey held, with claims good now.
        let signed_with = |(kid, key): &(String, Vec<u8>)| Forger {
            issuer: lk.issuer.clone(),
            audience: lk.issuer.clone(),
            now: lk.now(),
            kid: kid.clone(),
            real_key_pkcs8: key.clone(),
            real_token: String::new(),
            attacker_url: String::new(),
            claim_overrides: serde_json::Value::Null,
        }
        .genuine();

        // Step 1: the verifier caches the JWKS with the first key.
        let old = lk.current_key().await;
        verifier.verify(&signed_with(&old)).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 1);

        // Step 2: latchkey rotates, and drops the old key from its JWKS (as
        // it does once every token the key signed has expired).
        lk.rotate().await;
        let gone = lk.now() + lk.app.settings().retired_key_lifetime() + 1;
        assert_eq!(lk.app.store().purge_keys(gone).await.unwrap(), 1);
        lk.app.reload_keys().await.unwrap();
        assert!(lk.app.store().list_keys().await.unwrap().iter().all(|k| k.kid != old.0));

        // Step 3: until `max_age` has passed, the cache serves the old key
        // without asking latchkey.
        lk.clock.advance(299);
        verifier.verify(&signed_with(&old)).await.unwrap();
        assert_eq!(lk.hits.get(JWKS_PATH), 1);

        // Step 4: at `max_age`, a verification is still answered from the
        // cache, and schedules a refresh without waiting for it.
        lk.clock.advance(1);
        verifier.verify(&signed_with(&old)).await.unwrap();

        // Step 5: once the refresh has swapped the cache (polled, bounded),
        // the old key is forgotten; the new current key (published as next
        // before it signed) still works.
        let start = std::time::Instant::now();
        loop {
            match verifier.verify(&signed_with(&old)).await {
                Err(VerifyError::Invalid("unknown signing key")) => break,
                Ok(_) => {}
                Err(other) => panic!("refused for another reason: {other:?}"),
            }
            assert!(start.elapsed() < Duration::from_secs(30), "the old key was never forgotten");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(lk.hits.get(JWKS_PATH) >= 2, "forgotten through a refetch");
        verifier.verify(&signed_with(&lk.current_key().await)).await.unwrap();
        verifier.verify(&lk.token(&client, "read").await).await.unwrap();
    }
}

both_backends! {
    /// PS256 end to end: a latchkey with `signing_alg = "PS256"` publishes
    /// `alg: PS256` keys and signs with RSASSA-PSS; a verifier configured
    /// for PS256 accepts its tokens, one for RS256 only refuses them (the
    /// key's `alg` pins the algorithm).
    async fn ps256_end_to_end(db) {
        let lk = Latchkey::start_with(&db, |s| s.signing_alg = latchkey::core::keys::SigningAlg::PS256).await;
        let client = lk.client("read").await;
        let token = lk.token(&client, "read").await;
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, jsonwebtoken::Algorithm::PS256);
        let verifier = lk.verifier_with(|c| c.algorithms = vec![latchkey_verify::Algorithm::PS256]);
        let claims = verifier.verify(&token).await.unwrap();
        assert_eq!(claims.sub, client.id);
        let rs256_only = lk.verifier_with(|c| c.algorithms = vec![latchkey_verify::Algorithm::RS256]);
        assert!(rs256_only.verify(&token).await.is_err());
    }
}
