//! Initial access tokens and registration access tokens on both backends
//! (see `core::registration`).

use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::registration::RegistrationStore;
use crate::core::secret::SecretHash;

use super::{Store, db_err, on_pool};

impl RegistrationStore for Store {
    async fn insert_initial_token(
        &self,
        hash: &SecretHash,
        expires_at: Option<UnixTime>,
        uses: Option<i64>,
        now: UnixTime,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO initial_access_tokens (token_hash, expires_at, uses_left, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(hash.as_str())
        .bind(expires_at)
        .bind(uses)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn spend_initial_token(&self, hash: &SecretHash, now: UnixTime) -> Result<bool> {
        // One statement: of concurrent registrations for the last use, one
        // updates the row and the others find nothing to update.
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE initial_access_tokens SET uses_left = uses_left - 1 \
             WHERE token_hash = $1 AND (expires_at IS NULL OR expires_at > $2) \
             AND (uses_left IS NULL OR uses_left > 0)",
        )
        .bind(hash.as_str())
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn set_registration_token(&self, client: &ClientId, hash: &SecretHash) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE clients SET registration_token_hash = $1 WHERE id = $2",
        )
        .bind(hash.as_str())
        .bind(client.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn registration_token(&self, client: &ClientId) -> Result<Option<SecretHash>> {
        let row: Option<Option<String>> = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT registration_token_hash FROM clients WHERE id = $1",
        )
        .bind(client.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        Ok(row.flatten().map(SecretHash::from_stored))
    }
}
