//! Minting an access token, next to the bare signature it is built around: the
//! difference is what claims, JSON and base64 cost on top of the crypto.
//!
//! `cargo bench -p latchkey --bench tokens`

// Benchmark setup: a failure is a broken benchmark, not a request path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::config::Settings;
use latchkey::core::clients::{GrantType, NewClient};
use latchkey::core::keys::{KeyRing, KeyState, SigningAlg, StoredKey};
use latchkey::core::scope::Scope;
use latchkey::core::tokens::{self, Subject};

fn bench_mint(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = Settings::default();
    let (client, _) = NewClient {
        name: "bench".into(),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: Some(Scope::parse("read write").unwrap()),
        ..NewClient::default()
    }
    .build(0)
    .unwrap();
    let scope = Scope::parse("read").unwrap();
    for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
        let key = rt
            .block_on(StoredKey::generate(alg, KeyState::Current, 0))
            .unwrap();
        let ring = KeyRing::default();
        ring.load(&[key], 0).unwrap();
        let keys = ring.snapshot();
        c.bench_function(&format!("mint_access_token/{alg}"), |b| {
            b.iter(|| {
                let aud = vec![settings.issuer.clone()];
                black_box(
                    tokens::mint_access_token(
                        &keys,
                        &settings,
                        1_800_000_000,
                        &client,
                        &Subject::Client,
                        &scope,
                        aud,
                        None,
                    )
                    .unwrap(),
                )
            })
        });
    }

    // The floor: one RSA-2048 PKCS#1 v1.5 SHA-256 signature over a token-sized
    // message with a key parsed once.
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
    let kp = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let kp = RsaKeyPair::from_pkcs8(kp.as_der().unwrap().as_ref()).unwrap();
    let msg = vec![b'x'; 400];
    let rng = aws_lc_rs::rand::SystemRandom::new();
    c.bench_function("raw_rsa2048_sign", |b| {
        b.iter(|| {
            let mut sig = vec![0u8; kp.public_modulus_len()];
            kp.sign(&RSA_PKCS1_SHA256, &rng, black_box(&msg), &mut sig)
                .unwrap();
            black_box(sig)
        })
    });
}

criterion_group!(benches, bench_mint);
criterion_main!(benches);
