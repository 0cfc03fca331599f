//! Pushed authorization requests on both backends (see `core::par`).

use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::par::{PushedRequest, PushedRequestStore};
use crate::core::secret::SecretHash;

use super::{Store, db_err, on_pool, purge_in_batches};

impl PushedRequestStore for Store {
    async fn insert_pushed(&self, id_hash: &SecretHash, pushed: &PushedRequest) -> Result<()> {
        let params = serde_json::to_string(&pushed.params).map_err(Error::internal)?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO pushed_requests (id_hash, client_id, params, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(id_hash.as_str())
        .bind(pushed.client_id.as_str())
        .bind(&params)
        .bind(pushed.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn take_pushed(&self, id_hash: &SecretHash) -> Result<Option<PushedRequest>> {
        // One statement: of concurrent takers, the one whose DELETE removed
        // the row gets it.
        let row: Option<(String, String, i64)> = on_pool!(self, pool => sqlx::query_as(
            "DELETE FROM pushed_requests WHERE id_hash = $1 \
             RETURNING client_id, params, expires_at",
        )
        .bind(id_hash.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        let Some((client_id, params, expires_at)) = row else {
            return Ok(None);
        };
        let params: Vec<(String, String)> = serde_json::from_str(&params)
            .map_err(|e| Error::internal(format!("corrupt pushed request: {e}")))?;
        Ok(Some(PushedRequest {
            client_id: ClientId::new(client_id),
            params,
            expires_at,
        }))
    }

    async fn purge_pushed(&self, now: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM pushed_requests WHERE id_hash IN \
                 (SELECT id_hash FROM pushed_requests WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await
    }
}
