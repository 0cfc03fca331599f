//! What verifying a token costs beyond the signature check.
//!
//! `rs256/raw_signature` is aws-lc-rs verifying the token's RSA-2048
//! signature with a key parsed once: the floor. `rs256/verifier` is the whole
//! [`Verifier::verify`] with a warm JWKS cache: split, base64url, header
//! JSON, key lookup, the same signature check, claims JSON and checks.
//!
//! ```sh
//! taskset -c 0 cargo bench -p latchkey-verify --bench verify
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use latchkey_proto::{Jwk, JwkSet};
use latchkey_verify::{Algorithm, JwksSource, Verifier, VerifierConfig};

const ISSUER: &str = "https://id.example.com";
const AUDIENCE: &str = "https://api.example.com";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Claims shaped like latchkey's `client_credentials` tokens.
fn claims() -> serde_json::Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    serde_json::json!({
        "iss": ISSUER, "sub": "6f1c9a6e-4c1e-4b9e-9d55-1d1b8f4f2a11", "aud": AUDIENCE,
        "exp": now + 900, "iat": now, "jti": "k2Jx3c1vQ0yS8aZ4bN7mPw",
        "client_id": "6f1c9a6e-4c1e-4b9e-9d55-1d1b8f4f2a11", "scope": "read write",
    })
}

fn signing_input(alg: &str, kid: &str) -> String {
    let header = serde_json::json!({"alg": alg, "typ": "at+jwt", "kid": kid});
    format!(
        "{}.{}",
        b64(&serde_json::to_vec(&header).unwrap()),
        b64(&serde_json::to_vec(&claims()).unwrap())
    )
}

fn verifier(jwk: Jwk, alg: Algorithm) -> Verifier {
    let mut config = VerifierConfig::new(ISSUER, AUDIENCE);
    config.algorithms = vec![alg];
    config.jwks = JwksSource::Static(JwkSet { keys: vec![jwk] });
    Verifier::new(config).unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    // RS256, RSA-2048: latchkey's default.
    let key = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
    let input = signing_input("RS256", "rsa-1");
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    let token = format!("{input}.{}", b64(&sig));
    let components: PublicKeyComponents<Vec<u8>> = key.public_key().into();
    let parsed = PublicKeyComponents {
        n: &components.n[..],
        e: &components.e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .unwrap();
    let jwk = Jwk {
        kty: "RSA".into(),
        kid: "rsa-1".into(),
        alg: Some("RS256".into()),
        use_: Some("sig".into()),
        n: Some(b64(&components.n)),
        e: Some(b64(&components.e)),
        crv: None,
        x: None,
        y: None,
    };
    let rs = verifier(jwk, Algorithm::RS256);
    rt.block_on(rs.verify(&token)).unwrap();

    let mut group = c.benchmark_group("rs256");
    group.bench_function("raw_signature", |b| {
        b.iter(|| parsed.verify_sig(black_box(input.as_bytes()), black_box(&sig)))
    });
    group.bench_function("verifier", |b| {
        b.iter(|| rt.block_on(rs.verify(black_box(&token))).unwrap())
    });
    let spki = parsed.as_ref().to_vec();
    group.bench_function("raw_signature_key_parsed_each_time", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &spki)
                .verify(black_box(input.as_bytes()), black_box(&sig))
        })
    });
    group.bench_function("block_on_overhead", |b| {
        b.iter(|| rt.block_on(async { black_box(1) }))
    });
    group.finish();

    // ES256, for comparison.
    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let input = signing_input("ES256", "ec-1");
    let sig = ec
        .sign(&SystemRandom::new(), input.as_bytes())
        .unwrap()
        .as_ref()
        .to_vec();
    let token = format!("{input}.{}", b64(&sig));
    let point = ec.public_key().as_ref().to_vec();
    let parsed = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &point).unwrap();
    let jwk = Jwk {
        kty: "EC".into(),
        kid: "ec-1".into(),
        alg: Some("ES256".into()),
        use_: Some("sig".into()),
        n: None,
        e: None,
        crv: Some("P-256".into()),
        x: Some(b64(&point[1..33])),
        y: Some(b64(&point[33..65])),
    };
    let es = verifier(jwk, Algorithm::ES256);
    rt.block_on(es.verify(&token)).unwrap();
    let mut group = c.benchmark_group("es256");
    group.bench_function("raw_signature", |b| {
        b.iter(|| parsed.verify_sig(black_box(input.as_bytes()), black_box(&sig)))
    });
    group.bench_function("verifier", |b| {
        b.iter(|| rt.block_on(es.verify(black_box(&token))).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
