//! The domain: OAuth 2.0 and OpenID Connect semantics, with no HTTP and no SQL.
//!
//! **Invariant:** nothing under `core` imports `axum` or `sqlx`. Storage is
//! reached through the traits defined here (one per concept), implemented by
//! `crate::store` for SQLite and PostgreSQL.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod backchannel;
pub mod client_assertion;
pub mod clients;
pub mod clock;
pub mod codes;
pub mod consent;
pub mod csrf;
pub mod decision;
pub mod deny_list;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod first_party;
pub mod generation;
pub mod grants;
pub mod health;
pub mod housekeeping;
pub mod i18n;
pub mod keys;
pub mod login;
pub mod mail;
pub mod oidc;
pub mod origins;
pub mod outbox;
pub mod par;
pub mod params;
pub mod passkeys;
pub mod password;
pub mod password_rules;
pub mod prompt;
pub mod ratelimit;
pub mod refresh;
pub mod registration;
pub mod revocation;
pub mod scope;
pub mod secret;
pub mod session_end;
pub mod sessions;
pub mod settings;
pub mod signin;
pub mod tokens;
pub mod users;

use std::sync::Arc;

use settings::Settings;

pub use error::{Error, Result};

/// Every storage contract the domain relies on.
pub trait Storage:
    clients::ClientStore
    + keys::KeyStore
    + secret::ServerSecretStore
    + users::UserStore
    + refresh::RefreshTokenStore
    + deny_list::DenyListStore
    + dpop::DpopReplayStore
    + par::PushedRequestStore
    + ratelimit::AttemptCounterStore
    + audit::AuditStore
    + sessions::SessionStore
    + authorize::PendingRequestStore
    + codes::CodeStore
    + consent::ConsentStore
    + device::DeviceStore
    + outbox::OutboxStore
    + accounts::AccountStore
    + health::HealthStore
    + registration::RegistrationStore
    + passkeys::PasskeyStore
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> Storage for T where
    T: clients::ClientStore
        + keys::KeyStore
        + secret::ServerSecretStore
        + users::UserStore
        + refresh::RefreshTokenStore
        + deny_list::DenyListStore
        + dpop::DpopReplayStore
        + par::PushedRequestStore
        + ratelimit::AttemptCounterStore
        + audit::AuditStore
        + sessions::SessionStore
        + authorize::PendingRequestStore
        + codes::CodeStore
        + consent::ConsentStore
        + device::DeviceStore
        + outbox::OutboxStore
        + accounts::AccountStore
        + health::HealthStore
        + registration::RegistrationStore
        + passkeys::PasskeyStore
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The authorization server's state: settings, storage, keys and the clock.
/// One per process, shared by every request.
///
/// The fields are private to `core`: the flows in `core` use them, and
/// everything else (the HTTP layer, the CLI, the wiring, tests) reads them
/// through the accessors below, so nothing outside the domain can replace
/// a part of the state or reach a cache behind the domain's back.
pub struct Authority<S> {
    settings: Arc<Settings>,
    store: S,
    keys: keys::KeyRing,
    clock: clock::SharedClock,
    passwords: password::PasswordHasher,
    /// The HMAC key shared by every process (see [`secret::ServerKey`]).
    server_key: secret::ServerKey,
    /// Registered clients, kept in memory (see [`clients::ClientCache`]).
    clients: clients::ClientCache,
    /// The audit trail's queue (see [`audit::AuditLog`]).
    audit: audit::AuditLog,
    /// The access-token deny list, mirrored in memory (see
    /// [`deny_list::DenyListCache`]).
    denied: deny_list::DenyListCache,
    /// Wakes this process's outbox worker after a flow committed a message
    /// (see [`outbox`]).
    outbox: outbox::Signal,
    /// Which clients registered which browser origins, mirrored in memory
    /// for CORS (see [`origins::OriginIndex`]).
    origins: origins::OriginIndex,
    /// Clients' `jwks_uri` documents, fetched and cached (see
    /// [`client_assertion::JwksFetcher`]).
    jwks: client_assertion::JwksFetcher,
}

impl<S> Authority<S> {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The storage, for what runs beside the flows: the CLI's admin
    /// commands, the wiring, tests. (`http` never calls it; see
    /// ARCHITECTURE.md.)
    pub fn store(&self) -> &S {
        &self.store
    }

    /// This process's parsed signing keys (the JWKS and discovery read it).
    pub fn keys(&self) -> &keys::KeyRing {
        &self.keys
    }

    pub fn clock(&self) -> &clock::SharedClock {
        &self.clock
    }

    /// The current time by the injected clock.
    pub fn now(&self) -> clock::UnixTime {
        self.clock.now()
    }

    pub fn passwords(&self) -> &password::PasswordHasher {
        &self.passwords
    }

    pub fn server_key(&self) -> &secret::ServerKey {
        &self.server_key
    }

    pub fn audit(&self) -> &audit::AuditLog {
        &self.audit
    }

    pub fn outbox(&self) -> &outbox::Signal {
        &self.outbox
    }
}

impl<S: Storage> Authority<S> {
    /// Builds the state: loads (or, on first start, creates) the shared HMAC key
    /// and the signing keys, and computes the dummy password hash. Once per
    /// process.
    pub async fn init(
        settings: Arc<Settings>,
        store: S,
        clock: clock::SharedClock,
    ) -> Result<Self> {
        let candidate = secret::random_token()?;
        let shared = store
            .get_or_create_secret(secret::ServerKey::NAME, &candidate, clock.now())
            .await?;
        let server_key = secret::ServerKey::from_secret(&shared);
        let (m, t, p, n) = (
            settings.password_hash_memory_kib,
            settings.password_hash_iterations,
            settings.password_hash_parallelism,
            settings.max_concurrent_password_hashes(),
        );
        // One Argon2 run for the dummy hash: off the async workers.
        let passwords =
            tokio::task::spawn_blocking(move || password::PasswordHasher::new(m, t, p, n))
                .await
                .map_err(Error::internal)??;
        let settings_revalidate_ms = settings.client_cache_revalidate_ms;
        let auth = Authority {
            settings,
            store: store.clone(),
            keys: keys::KeyRing::default(),
            clock,
            passwords,
            server_key,
            clients: clients::ClientCache::new(settings_revalidate_ms),
            audit: audit::AuditLog::spawn(store.clone()),
            denied: deny_list::DenyListCache::new(settings_revalidate_ms),
            outbox: outbox::Signal::default(),
            origins: origins::OriginIndex::new(settings_revalidate_ms),
            jwks: client_assertion::JwksFetcher::default(),
        };
        auth.init_keys().await?;
        Ok(auth)
    }

    /// Creates any missing key (first start) and loads the key ring.
    pub async fn init_keys(&self) -> Result<()> {
        keys::ensure_keys(&self.store, self.settings.signing_alg, self.clock.now()).await?;
        self.reload_keys().await?;
        Ok(())
    }

    /// Reloads the key ring from the database (after a rotation by another
    /// process, or when a retired key expires). Returns whether it changed.
    pub async fn reload_keys(&self) -> Result<bool> {
        let stored = self.store.list_keys().await?;
        self.keys.load(&stored, self.clock.now())
    }
}
