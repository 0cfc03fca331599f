//! The DPoP proof `jti`s on both backends (see `core::dpop`).

use crate::core::clock::UnixTime;
use crate::core::dpop::DpopReplayStore;
use crate::core::error::Result;

use super::{Store, db_err, on_pool, purge_in_batches};

impl DpopReplayStore for Store {
    async fn record_dpop_jti(&self, key: &str, expires_at: UnixTime) -> Result<bool> {
        // One statement: the primary key decides between concurrent
        // inserts, in one process or many.
        let inserted = on_pool!(self, pool => sqlx::query(
            "INSERT INTO dpop_jtis (jti_key, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti_key) DO NOTHING",
        )
        .bind(key)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(inserted == 1)
    }

    async fn purge_dpop_jtis(&self, now: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM dpop_jtis WHERE jti_key IN \
                 (SELECT jti_key FROM dpop_jtis WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await
    }
}
