//! Builds the large database of the "flat with size" benchmark
//! (`bench/bench.py --big`; docs/benchmarking.md): a million users, a million
//! live refresh families, a million expired refresh tokens for the purge to
//! delete, and 100,000 deny-listed access-token `jti`s. Everything goes in
//! through the store's bulk-insert API (`store::Store::insert_*_bulk`), so the
//! rows are what the store itself writes; nothing here is hand-written SQL.
//!
//! ```sh
//! cargo run --release -p latchkey --example bench_fixture -- \
//!     --database-url sqlite://big.db --users 1000000 --denied 100000
//! ```
//!
//! Users are `fixture<N>@example.com` with password `bench-password`; they
//! share one Argon2id hash (hashing a million passwords would take hours and
//! change nothing: a sign-in verifies one hash whatever the others are).
//! Each user has one family (client `fixture`), holding a live token and its
//! used predecessor, expired a day ago: the purge's million rows.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use clap::Parser;
use latchkey::config::Settings;
use latchkey::core::clients::{ClientStore as _, GrantType, NewClient};
use latchkey::core::clock::{Clock as _, SystemClock};
use latchkey::core::password::PasswordHasher;
use latchkey::core::refresh::{FamilyOrigin, RefreshFamily, RefreshTokenRecord};
use latchkey::core::scope::Scope;
use latchkey::core::secret::{Secret, SecretHash};
use latchkey::core::users::NewUser;
use latchkey::store::{BulkToken, Store};

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    /// Users, and as many live families and expired tokens.
    #[arg(long, default_value_t = 1_000_000)]
    users: usize,
    /// Deny-listed access-token `jti`s (live for a day).
    #[arg(long, default_value_t = 100_000)]
    denied: usize,
    /// Rows per transaction.
    #[arg(long, default_value_t = 20_000)]
    chunk: usize,
}

const DAY: i64 = 86_400;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let settings = Settings {
        database_url: args.database_url.clone(),
        ..Settings::default()
    };
    let store = Store::connect(&settings).await?;
    store.migrate().await?;
    let now = SystemClock.now();
    let started = Instant::now();

    // Step 1: a client to hang the families on.
    let (client, _) = NewClient {
        name: "fixture".into(),
        first_party: true,
        grant_types: vec![GrantType::Password, GrantType::RefreshToken],
        scopes: Some(Scope::parse("read")?),
        ..NewClient::default()
    }
    .build(now)?;
    store.insert_client(&client).await?;

    // Step 2: one Argon2id hash with the server's parameters, for everyone.
    let hasher = PasswordHasher::new(
        settings.password_hash_memory_kib,
        settings.password_hash_iterations,
        settings.password_hash_parallelism,
        1,
    )?;
    let hash = hasher.hash(&Secret::new("bench-password")).await?;
    let scope = Scope::parse("read")?;

    // Step 3: users, families, tokens, in chunks.
    let mut done = 0;
    while done < args.users {
        let range = done..(done + args.chunk).min(args.users);
        let mut users = Vec::with_capacity(range.len());
        let mut families = Vec::with_capacity(range.len());
        let mut tokens = Vec::with_capacity(2 * range.len());
        for i in range.clone() {
            let user = NewUser {
                email: format!("fixture{i}@example.com"),
                name: None,
                roles: vec![],
                unverified: false,
            }
            .build(hash.clone(), now - 30 * DAY)?;
            let family = RefreshFamily {
                id: uuid::Uuid::new_v4().to_string(),
                client_id: client.id.clone(),
                user_id: user.id.clone(),
                scope: scope.clone(),
                auth_time: Some(now - 8 * DAY),
                origin: Some(FamilyOrigin::Password),
                created_at: now - 8 * DAY,
                expires_at: now + 22 * DAY,
                revoked_at: None,
            };
            let live = SecretHash::of(&format!("fixture-live-{i}"));
            tokens.push(BulkToken {
                record: RefreshTokenRecord {
                    hash: SecretHash::of(&format!("fixture-old-{i}")),
                    family_id: family.id.clone(),
                    issued_at: now - 8 * DAY,
                    expires_at: now - DAY,
                },
                used_at: Some(now - 2 * DAY),
                successor_hash: Some(live.clone()),
            });
            tokens.push(BulkToken {
                record: RefreshTokenRecord {
                    hash: live,
                    family_id: family.id.clone(),
                    issued_at: now - 2 * DAY,
                    expires_at: now + 5 * DAY,
                },
                used_at: None,
                successor_hash: None,
            });
            users.push(user);
            families.push(family);
        }
        store.insert_users_bulk(&users).await?;
        store.insert_families_bulk(&families).await?;
        store.insert_refresh_tokens_bulk(&tokens).await?;
        done = range.end;
        eprintln!(
            "{done} users, families and expired tokens ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
    }

    // Step 4: the deny list.
    let denied: Vec<(String, i64)> = (0..args.denied)
        .map(|i| (format!("fixture-jti-{i}"), now + DAY))
        .collect();
    for chunk in denied.chunks(args.chunk) {
        store.deny_access_tokens_bulk(chunk).await?;
    }
    eprintln!(
        "{} deny-listed jti; done in {:.0} s",
        args.denied,
        started.elapsed().as_secs_f64()
    );
    store.close().await;
    Ok(())
}
