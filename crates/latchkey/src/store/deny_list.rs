//! The access-token deny list on both backends (see `core::deny_list`).
//!
//! Every insert bumps the `deny_list` generation in the same transaction,
//! so that every process's mirror notices (see `core::generation`).

use std::future::Future;

use crate::core::clock::UnixTime;
use crate::core::deny_list::DenyListStore;
use crate::core::error::Result;

use super::{Store, db_err, in_tx, on_pool, purge_in_batches};

const BUMP_DENY_LIST: &str =
    "UPDATE cache_generations SET generation = generation + 1 WHERE name = 'deny_list'";

const DENY_JTI: &str = "INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti) DO NOTHING";

/// The deny-list insert, inside a caller's transaction (revoking a replayed
/// code's grant denies its access token in the transaction that revokes
/// its family). Implemented for both backends' connections, like
/// `RefreshTx`.
pub trait DenyListTx {
    /// Puts an access token's `jti` on the deny list until `expires_at`, and
    /// bumps the generation.
    fn deny_access_token(
        &mut self,
        jti: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

macro_rules! impl_deny_list_tx {
    ($conn:ty) => {
        impl DenyListTx for $conn {
            async fn deny_access_token(
                &mut self,
                jti: &str,
                expires_at: UnixTime,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(DENY_JTI)
                    .bind(jti)
                    .bind(expires_at)
                    .execute(&mut *self)
                    .await?;
                // Processes mirror the deny list; tell them it changed.
                sqlx::query(BUMP_DENY_LIST).execute(&mut *self).await?;
                Ok(())
            }
        }
    };
}

impl_deny_list_tx!(sqlx::SqliteConnection);
impl_deny_list_tx!(sqlx::PgConnection);

impl DenyListStore for Store {
    async fn deny_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        // The insert and the generation bump commit together.
        let r: std::result::Result<(), sqlx::Error> =
            async { in_tx!(self, tx => tx.deny_access_token(jti, expires_at).await) }.await;
        r.map_err(db_err)
    }

    async fn deny_list_generation(&self) -> Result<i64> {
        on_pool!(self, pool => sqlx::query_scalar(
            "SELECT generation FROM cache_generations WHERE name = 'deny_list'",
        )
        .fetch_one(pool)
        .await)
        .map_err(db_err)
    }

    async fn list_denied_access_tokens(
        &self,
        now: UnixTime,
        limit: i64,
    ) -> Result<Vec<(String, UnixTime)>> {
        on_pool!(self, pool => sqlx::query_as(
            "SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at > $1 LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await)
        .map_err(db_err)
    }

    async fn is_access_token_denied(&self, jti: &str) -> Result<bool> {
        let found: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT expires_at FROM revoked_access_tokens WHERE jti = $1",
        )
        .bind(jti)
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        Ok(found.is_some())
    }

    async fn purge_denied_access_tokens(&self, now: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM revoked_access_tokens WHERE jti IN \
                 (SELECT jti FROM revoked_access_tokens WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await
    }
}
