//! One refresh-token rotation against SQLite, through the domain core: find the
//! token, check its family, consume it and insert its successor in one
//! transaction, mint the new access token. What the HTTP layer adds on top is
//! measured by `bench/bench.py` (scenario `refresh`).
//!
//! `cargo bench -p latchkey --bench refresh`

// Benchmark setup: a failure is a broken benchmark, not a request path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use latchkey::config::Settings;
use latchkey::core::Authority;
use latchkey::core::clients::{ClientStore as _, GrantType, NewClient};
use latchkey::core::clock::{Clock as _, SystemClock};
use latchkey::core::grants::password::{self, PasswordSignin};
use latchkey::core::grants::refresh_token::{self, Presenter, RefreshRequest};
use latchkey::core::password::PasswordHasher;
use latchkey::core::scope::Scope;
use latchkey::core::secret::Secret;
use latchkey::core::users::{NewUser, UserStore as _};
use latchkey::store::Store;

fn bench_rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Arc::new(Settings {
        database_url: format!("sqlite://{}/bench.db", dir.path().display()),
        ..Settings::default()
    });
    let (auth, client) = rt.block_on(async {
        let store = Store::connect(&settings).await.unwrap();
        store.migrate().await.unwrap();
        let now = SystemClock.now();
        let (client, _) = NewClient {
            name: "bench".into(),
            first_party: true,
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: Some(Scope::parse("read").unwrap()),
            ..NewClient::default()
        }
        .build(now)
        .unwrap();
        store.insert_client(&client).await.unwrap();
        let hasher = PasswordHasher::new(
            settings.password_hash_memory_kib,
            settings.password_hash_iterations,
            settings.password_hash_parallelism,
            1,
        )
        .unwrap();
        let hash = hasher.hash(&Secret::new("bench-password")).await.unwrap();
        let user = NewUser {
            email: "bench@example.com".into(),
            name: None,
            roles: vec![],
            unverified: false,
        }
        .build(hash, now)
        .unwrap();
        store.insert_user(&user).await.unwrap();
        let auth = Authority::init(settings.clone(), store, Arc::new(SystemClock))
            .await
            .unwrap();
        (auth, client)
    });
    let first = rt
        .block_on(password::issue(
            &auth,
            &client,
            PasswordSignin {
                username: "bench@example.com",
                password: Secret::new("bench-password"),
                scope: None,
                resources: vec![],
                client_addr: None,
            },
        ))
        .unwrap();
    let mut token = first.refresh_token.unwrap().token;
    c.bench_function("refresh_rotation/sqlite", |b| {
        b.iter(|| {
            let issued = rt
                .block_on(refresh_token::rotate(
                    &auth,
                    RefreshRequest {
                        presenter: Presenter::Client(&client),
                        token: &token,
                        scope: None,
                        resources: &[],
                    },
                ))
                .unwrap();
            token = issued.refresh_token.unwrap().token;
        })
    });
}

criterion_group!(benches, bench_rotation);
criterion_main!(benches);
