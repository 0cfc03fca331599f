//! The access-token deny list (RFC 7009 §2: "the authorization server
//! invalidates the token"): the `jti`s of revoked access tokens, kept until
//! the tokens expire. Self-contained tokens cannot be recalled from the
//! resource servers that verify them alone; latchkey's own endpoints
//! (introspection, userinfo) and resource servers that introspect do see
//! the revocation.
//!
//! Entries are written by revocation ([`deny`]) and, inside the transaction
//! that revokes a replayed authorization code's grant, by the store itself
//! (`CodeStore::revoke_code_grant`); read through the in-memory mirror
//! ([`DenyListCache`], [`is_denied`]); purged by `core::housekeeping`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{PoisonError, RwLock};

use super::Authority;
use super::clock::UnixTime;
use super::error::Result;
use super::generation::{Freshness, Generation};

/// Storage of the access-token deny list.
///
/// Contract: a denied `jti` stays denied until the purge after its
/// `expires_at`, by which time the token itself has expired.
pub trait DenyListStore: Send + Sync {
    /// Puts `jti` on the deny list until `expires_at`. Idempotent.
    fn deny_access_token(
        &self,
        jti: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Whether `jti` is on the deny list.
    fn is_access_token_denied(&self, jti: &str) -> impl Future<Output = Result<bool>> + Send;

    /// The deny list's generation: bumped in the same transaction as every
    /// insert, by this method and by `store::DenyListTx::deny_access_token` alike.
    fn deny_list_generation(&self) -> impl Future<Output = Result<i64>> + Send;

    /// Up to `limit` entries whose token has not expired at `now`.
    fn list_denied_access_tokens(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<(String, UnixTime)>>> + Send;

    /// Deletes entries whose token has expired at `now`.
    fn purge_denied_access_tokens(&self, now: UnixTime)
    -> impl Future<Output = Result<u64>> + Send;
}

/// The deny list mirrored in memory, so that introspection and userinfo cost
/// no database query per request (the list is tiny: revoked tokens that have
/// not expired yet, 15 minutes at most by default). Checked against the
/// `deny_list` generation (see [`Generation`]): a revocation by another
/// process is seen within `client_cache_revalidate_ms`; one by this process
/// at once ([`note`](Self::note)). Past `MAX_ENTRIES` live entries the mirror
/// is dropped and every check asks the database, so that a flood of
/// revocations cannot grow memory without bound.
pub struct DenyListCache {
    generation: Generation,
    /// `None`: too many entries to mirror; ask the database.
    entries: RwLock<Option<HashMap<String, UnixTime>>>,
}

impl DenyListCache {
    pub const MAX_ENTRIES: usize = 100_000;

    pub fn new(revalidate_ms: u64) -> Self {
        DenyListCache {
            generation: Generation::new(revalidate_ms),
            entries: RwLock::new(None),
        }
    }

    /// Whether `jti` is on the deny list, within the staleness bound.
    pub async fn is_denied<S: DenyListStore>(
        &self,
        store: &S,
        jti: &str,
        now: UnixTime,
    ) -> Result<bool> {
        if self
            .generation
            .check(|| store.deny_list_generation())
            .await?
            == Freshness::Changed
        {
            match store
                .list_denied_access_tokens(now, Self::MAX_ENTRIES as i64 + 1)
                .await
            {
                Ok(rows) => {
                    let mirror =
                        (rows.len() <= Self::MAX_ENTRIES).then(|| rows.into_iter().collect());
                    *self.write() = mirror;
                }
                Err(e) => {
                    // Not rebuilt: the next check must try again rather than
                    // trust a mirror of an older generation.
                    self.generation.invalidate();
                    return Err(e);
                }
            }
        }
        if let Some(map) = self.read().as_ref() {
            return Ok(map.contains_key(jti));
        }
        store.is_access_token_denied(jti).await
    }

    /// Records a denial this process has just committed.
    pub fn note(&self, jti: &str, expires_at: UnixTime) {
        let mut entries = self.write();
        if let Some(map) = entries.as_mut() {
            if map.len() >= Self::MAX_ENTRIES {
                *entries = None;
            } else {
                map.insert(jti.to_owned(), expires_at);
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<HashMap<String, UnixTime>>> {
        // A poisoned lock means a panic mid-insert; the map is still valid.
        self.entries.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<HashMap<String, UnixTime>>> {
        self.entries.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Puts an access token's `jti` on the deny list until `expires_at`, and
/// tells this process's mirror at once.
pub async fn deny<S: DenyListStore>(
    auth: &Authority<S>,
    jti: &str,
    expires_at: UnixTime,
) -> Result<()> {
    auth.store.deny_access_token(jti, expires_at).await?;
    auth.denied.note(jti, expires_at);
    Ok(())
}

/// Whether the access token `jti` was revoked, within the mirror's
/// staleness bound.
pub async fn is_denied<S: DenyListStore>(auth: &Authority<S>, jti: &str) -> Result<bool> {
    auth.denied
        .is_denied(&auth.store, jti, auth.clock.now())
        .await
}
