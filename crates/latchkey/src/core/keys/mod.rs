//! Signing keys: their life cycle (docs/operations.md), the JWKS, and
//! signing JWTs.
//!
//! A key moves through three states:
//!
//! ```text
//!   generated ──> next ──(keys rotate)──> current ──(keys rotate)──> retired ──(expiry)──> deleted
//!                 published                published + signing        published
//! ```
//!
//! The *next* key is published before it signs anything, so that resource servers
//! that cache the JWKS already know it when it starts signing; a *retired* key
//! stays published until every token it can have signed has expired.
//!
//! Keys live in the database so that every process signs with the same current
//! key and publishes the same JWKS. Each process holds a parsed copy in a
//! [`KeyRing`] and reloads it every `key_refresh_seconds`.

mod material;
mod ring;

use std::fmt;
use std::future::Future;

pub use ring::{JwtType, KeyRing, KeySet};

use super::clock::UnixTime;
use super::error::{Error, Result};
use super::secret;

/// The JWS algorithms latchkey signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, RSA-2048: what every JOSE library accepts.
    #[default]
    RS256,
    /// RSASSA-PSS with SHA-256, RSA-2048: what the FAPI 2.0 profile
    /// accepts of RSA (it forbids PKCS#1 v1.5).
    PS256,
    /// ECDSA P-256 with SHA-256: ~25 times cheaper to sign.
    ES256,
    /// Ed25519 (RFC 8037): cheaper still.
    EdDSA,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::PS256 => "PS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(SigningAlg::RS256),
            "PS256" => Some(SigningAlg::PS256),
            "ES256" => Some(SigningAlg::ES256),
            "EdDSA" => Some(SigningAlg::EdDSA),
            _ => None,
        }
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Current,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Next => "next",
            KeyState::Current => "current",
            KeyState::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "next" => Some(KeyState::Next),
            "current" => Some(KeyState::Current),
            "retired" => Some(KeyState::Retired),
            _ => None,
        }
    }
}

/// A private key in PKCS#8 DER. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct PrivateKeyDer(pub Vec<u8>);

impl fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyDer(<redacted>)")
    }
}

/// A key as the database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub private_key: PrivateKeyDer,
    pub created_at: UnixTime,
    /// When it became current.
    pub activated_at: Option<UnixTime>,
    /// When it was retired.
    pub retired_at: Option<UnixTime>,
    /// When a retired key may leave the JWKS: no token it signed is still valid.
    pub remove_after: Option<UnixTime>,
}

impl StoredKey {
    /// Generates a new key in the given state. Runs on the blocking pool: an
    /// RSA-2048 key takes tens to hundreds of milliseconds.
    pub async fn generate(alg: SigningAlg, state: KeyState, now: UnixTime) -> Result<Self> {
        let der = tokio::task::spawn_blocking(move || material::KeyPair::generate(alg))
            .await
            .map_err(Error::internal)??;
        Ok(StoredKey {
            kid: secret::random_id(12)?,
            alg,
            state,
            private_key: PrivateKeyDer(der),
            created_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            retired_at: None,
            remove_after: None,
        })
    }

    /// Whether it belongs in the JWKS at `now`.
    pub fn is_published(&self, now: UnixTime) -> bool {
        match self.state {
            KeyState::Next | KeyState::Current => true,
            KeyState::Retired => self.remove_after.is_none_or(|t| t > now),
        }
    }
}

/// Storage of signing keys.
///
/// Contract: at most one key is `current` and at most one is `next` at any time,
/// whatever processes do concurrently (the schema enforces it).
pub trait KeyStore: Send + Sync {
    /// Every stored key, in any state.
    fn list_keys(&self) -> impl Future<Output = Result<Vec<StoredKey>>> + Send;

    /// Inserts keys all together or not at all. Returns `false`, inserting
    /// nothing, if that would make two `current` or two `next` keys (another
    /// process got there first).
    fn insert_keys(&self, keys: &[StoredKey]) -> impl Future<Output = Result<bool>> + Send;

    /// In one transaction: the current key becomes retired (removable after
    /// `remove_after`), the next key becomes current, and `new_next` is inserted.
    /// Fails, changing nothing, if there is no next key or another rotation won
    /// the race.
    fn rotate_keys(
        &self,
        new_next: &StoredKey,
        now: UnixTime,
        remove_after: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Deletes retired keys whose `remove_after` has passed; returns how many.
    fn purge_keys(&self, now: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// Makes sure a current and a next key exist, generating what is missing (first
/// start). Safe to run in several processes at once: the loser of the race
/// discards what it generated.
pub async fn ensure_keys<S: KeyStore>(store: &S, alg: SigningAlg, now: UnixTime) -> Result<()> {
    let keys = store.list_keys().await?;
    let has = |s: KeyState| keys.iter().any(|k| k.state == s);
    let mut missing = Vec::new();
    if !has(KeyState::Current) {
        missing.push(StoredKey::generate(alg, KeyState::Current, now).await?);
    }
    if !has(KeyState::Next) {
        missing.push(StoredKey::generate(alg, KeyState::Next, now).await?);
    }
    if !missing.is_empty() && !store.insert_keys(&missing).await? {
        tracing::info!("another process created the signing keys first");
    }
    Ok(())
}

/// The outcome of a rotation, for the CLI to print.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub retired: Option<String>,
    pub current: String,
    pub next: String,
}

/// Rotates: next → current, current → retired, and a new next key with
/// `alg`. `retire_for` is how long the retired key must stay published: the
/// longest token lifetime, plus the time other processes may take to notice the
/// rotation (they keep signing with the old key until they reload).
pub async fn rotate<S: KeyStore>(
    store: &S,
    alg: SigningAlg,
    now: UnixTime,
    retire_for: i64,
) -> Result<Rotation> {
    ensure_keys(store, alg, now).await?;
    let before = store.list_keys().await?;
    let retired = before
        .iter()
        .find(|k| k.state == KeyState::Current)
        .map(|k| k.kid.clone());
    let current = before
        .iter()
        .find(|k| k.state == KeyState::Next)
        .map(|k| k.kid.clone())
        .ok_or_else(|| Error::internal("no next key to promote"))?;
    let new_next = StoredKey::generate(alg, KeyState::Next, now).await?;
    store
        .rotate_keys(&new_next, now, now.saturating_add(retire_for))
        .await?;
    Ok(Rotation {
        retired,
        current,
        next: new_next.kid,
    })
}
