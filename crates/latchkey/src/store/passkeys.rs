//! `passkeys` and `webauthn_ceremonies` on both backends
//! (`migrations/0065_passkeys.sql`; see `core::passkeys`).

use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::passkeys::{Ceremony, CeremonyKind, PasskeyStore, StoredPasskey};
use crate::core::secret::SecretHash;
use crate::core::users::UserId;

use super::{Store, db_err, on_pool, purge_in_batches};

type PasskeyRow = (
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
);

fn passkey(r: PasskeyRow) -> StoredPasskey {
    let (id, user_id, credential_id, passkey, name, sign_count, created_at, last_used_at) = r;
    StoredPasskey {
        id,
        user_id: UserId::from(user_id),
        credential_id,
        passkey,
        name,
        sign_count,
        created_at,
        last_used_at,
    }
}

impl PasskeyStore for Store {
    async fn insert_passkey(&self, p: &StoredPasskey) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, passkey, name, sign_count, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (credential_id) DO NOTHING",
        )
        .bind(&p.id)
        .bind(p.user_id.as_str())
        .bind(&p.credential_id)
        .bind(&p.passkey)
        .bind(&p.name)
        .bind(p.sign_count)
        .bind(p.created_at)
        .bind(p.last_used_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done == 1)
    }

    async fn list_passkeys(&self, user_id: &UserId) -> Result<Vec<StoredPasskey>> {
        let rows: Vec<PasskeyRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, credential_id, passkey, name, sign_count, created_at, \
             last_used_at FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",
        )
            .bind(user_id.as_str())
            .fetch_all(pool)
            .await)
        .map_err(db_err)?;
        Ok(rows.into_iter().map(passkey).collect())
    }

    async fn find_passkey(&self, credential_id: &str) -> Result<Option<StoredPasskey>> {
        let row: Option<PasskeyRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, user_id, credential_id, passkey, name, sign_count, created_at, \
             last_used_at FROM passkeys WHERE credential_id = $1",
        )
            .bind(credential_id)
            .fetch_optional(pool)
            .await)
        .map_err(db_err)?;
        Ok(row.map(passkey))
    }

    async fn record_passkey_use(
        &self,
        id: &str,
        passkey: &str,
        sign_count: i64,
        previous: i64,
        now: UnixTime,
    ) -> Result<bool> {
        // Conditional on the counter it was checked against: of two
        // assertions checked at once against one counter, one is recorded.
        let done = on_pool!(self, pool => sqlx::query(
            "UPDATE passkeys SET passkey = $1, sign_count = $2, last_used_at = $3 \
             WHERE id = $4 AND sign_count = $5",
        )
        .bind(passkey)
        .bind(sign_count)
        .bind(now)
        .bind(id)
        .bind(previous)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done == 1)
    }

    async fn delete_passkey(&self, user_id: &UserId, id: &str) -> Result<bool> {
        let done = on_pool!(self, pool => sqlx::query(
            "DELETE FROM passkeys WHERE user_id = $1 AND id = $2",
        )
        .bind(user_id.as_str())
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(done == 1)
    }

    async fn delete_user_passkeys(&self, user_id: &UserId) -> Result<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM passkeys WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn insert_ceremony(&self, c: &Ceremony) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO webauthn_ceremonies (id_hash, browser_hash, kind, user_id, state, \
             expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(c.id_hash.as_str())
        .bind(c.browser_hash.as_str())
        .bind(c.kind.as_str())
        .bind(c.user_id.as_ref().map(UserId::as_str))
        .bind(&c.state)
        .bind(c.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn take_ceremony(
        &self,
        id_hash: &SecretHash,
        browser_hash: &SecretHash,
    ) -> Result<Option<Ceremony>> {
        // One statement: of concurrent finishes, the one whose DELETE
        // removed the row gets it.
        let row: Option<(String, Option<String>, String, i64)> =
            on_pool!(self, pool => sqlx::query_as(
                "DELETE FROM webauthn_ceremonies WHERE id_hash = $1 AND browser_hash = $2 \
                 RETURNING kind, user_id, state, expires_at",
            )
            .bind(id_hash.as_str())
            .bind(browser_hash.as_str())
            .fetch_optional(pool)
            .await)
            .map_err(db_err)?;
        let Some((kind, user_id, state, expires_at)) = row else {
            return Ok(None);
        };
        let kind = CeremonyKind::parse(&kind)
            .ok_or_else(|| Error::internal(format!("unknown ceremony kind {kind:?}")))?;
        Ok(Some(Ceremony {
            id_hash: id_hash.clone(),
            browser_hash: browser_hash.clone(),
            kind,
            user_id: user_id.map(UserId::from),
            state,
            expires_at,
        }))
    }

    async fn purge_ceremonies(&self, now: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM webauthn_ceremonies WHERE id_hash IN \
                 (SELECT id_hash FROM webauthn_ceremonies WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await
    }
}
