//! Second factors on both backends (see `core::mfa`;
//! `migrations/0060_mfa.sql`).
//!
//! What must happen once is one conditional statement: a TOTP step is
//! accepted by the `UPDATE … WHERE last_step < $step` that moves it
//! forward, a recovery code by the `UPDATE … WHERE used_at IS NULL` that
//! spends it, a challenge by the `DELETE` that takes it. On PostgreSQL a
//! second such statement waits for the first one's row lock and then
//! matches nothing; on SQLite writers are serialized.

use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::mfa::{
    Amr, Challenge, ChallengeContext, ChallengeKind, MfaStore, SecondFactors, StoredTotp,
};
use crate::core::secret::SecretHash;
use crate::core::users::UserId;

use super::{Store, db_err, in_tx, on_pool};

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    user_id: String,
    kind: String,
    bound_to: String,
    amr: String,
    auth_time: i64,
    context: String,
    created_at: i64,
    expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct TotpRow {
    secret: String,
    confirmed: bool,
    last_step: Option<i64>,
    created_at: i64,
}

impl MfaStore for Store {
    async fn second_factors(&self, user_id: &UserId) -> Result<SecondFactors> {
        // One row, whatever the user has.
        let (totp, codes, passkeys): (i64, i64, i64) = on_pool!(self, pool => sqlx::query_as(
            "SELECT \
               (SELECT COUNT(*) FROM mfa_totp WHERE user_id = $1 AND confirmed), \
               (SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = $1 AND used_at IS NULL), \
               (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
        )
        .bind(user_id.as_str())
        .fetch_one(pool)
        .await)
        .map_err(db_err)?;
        Ok(SecondFactors {
            totp: totp > 0,
            recovery_codes: u32::try_from(codes).unwrap_or(u32::MAX),
            passkeys: u32::try_from(passkeys).unwrap_or(u32::MAX),
        })
    }

    async fn insert_challenge(&self, id_hash: &SecretHash, c: &Challenge) -> Result<()> {
        let context = serde_json::to_string(&c.context).map_err(Error::internal)?;
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO mfa_challenges \
             (id_hash, user_id, kind, bound_to, amr, auth_time, context, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id_hash.as_str())
        .bind(c.user_id.as_str())
        .bind(c.kind.as_str())
        .bind(&c.bound_to)
        .bind(c.amr.to_stored())
        .bind(c.auth_time)
        .bind(context)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn find_challenge(&self, id_hash: &SecretHash) -> Result<Option<Challenge>> {
        let row: Option<ChallengeRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT user_id, kind, bound_to, amr, auth_time, context, created_at, expires_at \
             FROM mfa_challenges WHERE id_hash = $1",
        )
        .bind(id_hash.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        let Some(r) = row else {
            return Ok(None);
        };
        let context: ChallengeContext = serde_json::from_str(&r.context)
            .map_err(|e| Error::internal(format!("corrupt challenge context: {e}")))?;
        Ok(Some(Challenge {
            user_id: UserId::new(r.user_id),
            kind: ChallengeKind::parse(&r.kind)?,
            bound_to: r.bound_to,
            amr: Amr::from_stored(&r.amr)?,
            auth_time: r.auth_time,
            context,
            created_at: r.created_at,
            expires_at: r.expires_at,
        }))
    }

    async fn take_challenge(&self, id_hash: &SecretHash, now: UnixTime) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "DELETE FROM mfa_challenges WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash.as_str())
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn purge_challenges(&self, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM mfa_challenges WHERE expires_at <= $1")
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn find_totp(&self, user_id: &UserId) -> Result<Option<StoredTotp>> {
        let row: Option<TotpRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT secret, confirmed, last_step, created_at FROM mfa_totp WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        Ok(row.map(|r| StoredTotp {
            sealed: r.secret,
            confirmed: r.confirmed,
            last_step: r.last_step,
            created_at: r.created_at,
        }))
    }

    async fn begin_totp(&self, user_id: &UserId, sealed: &str, now: UnixTime) -> Result<bool> {
        // Inserts, or replaces an unconfirmed secret; a confirmed one stays.
        let n = on_pool!(self, pool => sqlx::query(
            "INSERT INTO mfa_totp (user_id, secret, confirmed, last_step, created_at, confirmed_at) \
             VALUES ($1, $2, FALSE, NULL, $3, NULL) \
             ON CONFLICT (user_id) DO UPDATE SET secret = $2, created_at = $3, last_step = NULL \
             WHERE NOT mfa_totp.confirmed",
        )
        .bind(user_id.as_str())
        .bind(sealed)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn confirm_totp(
        &self,
        user_id: &UserId,
        step: i64,
        recovery_hashes: &[String],
        now: UnixTime,
    ) -> Result<bool> {
        in_tx!(self, tx => async {
            let n = sqlx::query(
                "UPDATE mfa_totp SET confirmed = TRUE, confirmed_at = $2, last_step = $3 \
                 WHERE user_id = $1 AND NOT confirmed",
            )
            .bind(user_id.as_str())
            .bind(now)
            .bind(step)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n != 1 {
                return Ok::<bool, Error>(false);
            }
            sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            for h in recovery_hashes {
                sqlx::query(
                    "INSERT INTO mfa_recovery_codes (user_id, code_hash, created_at, used_at) \
                     VALUES ($1, $2, $3, NULL)",
                )
                .bind(user_id.as_str())
                .bind(h)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            Ok(true)
        }
        .await)
    }

    async fn accept_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE mfa_totp SET last_step = $2 \
             WHERE user_id = $1 AND confirmed AND (last_step IS NULL OR last_step < $2)",
        )
        .bind(user_id.as_str())
        .bind(step)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn reseal_totp(&self, user_id: &UserId, old: &str, new: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE mfa_totp SET secret = $3 WHERE user_id = $1 AND secret = $2",
        )
        .bind(user_id.as_str())
        .bind(old)
        .bind(new)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn delete_totp(&self, user_id: &UserId) -> Result<bool> {
        in_tx!(self, tx => async {
            let n = sqlx::query("DELETE FROM mfa_totp WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM mfa_recovery_codes WHERE user_id = $1")
                .bind(user_id.as_str())
                .execute(&mut *tx)
                .await?;
            Ok::<bool, Error>(n > 0)
        }
        .await)
    }

    async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &str,
        now: UnixTime,
    ) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE mfa_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(code_hash)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn reset_mfa(&self, user_id: &UserId) -> Result<bool> {
        in_tx!(self, tx => async {
            let mut n = 0;
            for sql in [
                "DELETE FROM mfa_totp WHERE user_id = $1",
                "DELETE FROM mfa_recovery_codes WHERE user_id = $1",
                "DELETE FROM mfa_challenges WHERE user_id = $1",
                // A lost phone may hold a passkey too (migrations/0065).
                "DELETE FROM passkeys WHERE user_id = $1",
            ] {
                n += sqlx::query(sql)
                    .bind(user_id.as_str())
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            Ok::<bool, Error>(n > 0)
        }
        .await)
    }
}
