//! The access-token deny list on both backends (see `core::revocation`).

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::revocation::DenyListStore;

use super::refresh::RefreshTx as _;
use super::{Store, db_err, in_tx, on_pool, purge_in_batches};

impl DenyListStore for Store {
    async fn deny_access_token(&self, jti: &str, expires_at: UnixTime) -> Result<()> {
        // The insert and the generation bump commit together (RefreshTx's).
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
