use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::secret::ServerSecretStore;

use super::{Store, on_pool};

impl ServerSecretStore for Store {
    async fn get_or_create_secret(
        &self,
        name: &str,
        candidate: &str,
        now: UnixTime,
    ) -> Result<String> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        let value: String = on_pool!(self, pool => sqlx::query_scalar(
            "SELECT value FROM server_secrets WHERE name = $1",
        )
        .bind(name)
        .fetch_one(pool)
        .await)?;
        Ok(value)
    }
}
