//! Refresh tokens and their families on both backends (see `core::refresh`).
//!
//! Rotation is one transaction of two statements: a conditional `UPDATE …
//! WHERE used_at IS NULL` that claims the presented token, then the `INSERT` of
//! its successor. SQLite runs it under `BEGIN IMMEDIATE` (one writer at a
//! time); on PostgreSQL a concurrent `UPDATE` of the same row waits for the
//! first transaction and then re-evaluates its `WHERE` on the committed row,
//! where `used_at` is no longer null, and matches nothing. Either way at most
//! one caller claims a token, and a crash before the commit leaves the token
//! unused and no successor: never two live successors.

use std::future::Future;

use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::refresh::{
    FamilyOrigin, NewFamily, RefreshFamily, RefreshTokenRecord, RefreshTokenStore,
    StoredRefreshToken, TokenOwner,
};
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;
use crate::core::users::UserId;

use super::{Backend, Store, db_err, in_tx, on_pool, purge_in_batches, text_to_list};

const INSERT_FAMILY: &str = "INSERT INTO refresh_families \
     (id, client_id, user_id, scope, auth_time, origin, created_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens \
     (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
     VALUES ($1, $2, $3, $4, NULL, NULL)";

const REVOKE_FAMILY: &str =
    "UPDATE refresh_families SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL";

const REVOKE_BY_ORIGIN: &str = "UPDATE refresh_families SET revoked_at = $1 \
     WHERE origin = $2 AND revoked_at IS NULL";

/// Refresh-token statements that run inside a caller's transaction, for flows
/// whose other writes must commit or fail together with them: redeeming an
/// authorization code and issuing its tokens; detecting a replayed code and
/// revoking what it issued (with `DenyListTx` for its access token).
///
/// Implemented for both backends' connections, so it works on the `tx` of
/// [`in_tx!`](super::in_tx), whichever backend the body is compiled for:
///
/// ```text
/// let r: Result<bool, sqlx::Error> = async {
///     in_tx!(self, tx => async {
///         let taken = sqlx::query("UPDATE codes SET used_at = $1 WHERE hash = $2 AND used_at IS NULL")
///             .bind(now).bind(code_hash).execute(&mut *tx).await?.rows_affected();
///         if taken == 1 {
///             if let Some(family) = family {
///                 RefreshTx::insert_family(&mut *tx, family).await?;
///             }
///         }
///         Ok(taken == 1)
///     }.await)
/// }.await;
/// ```
pub trait RefreshTx {
    /// Inserts a family and its first token (see `core::refresh::family::start`).
    fn insert_family(
        &mut self,
        new: &NewFamily,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;

    /// Revokes a family; returns whether it was live.
    fn revoke_family(
        &mut self,
        family_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<bool, sqlx::Error>> + Send;

    /// Revokes every live family issued from `origin`; returns how many.
    fn revoke_families_by_origin(
        &mut self,
        origin: &FamilyOrigin,
        now: UnixTime,
    ) -> impl Future<Output = Result<u64, sqlx::Error>> + Send;
}

/// One implementation, compiled for each backend's connection type.
macro_rules! impl_refresh_tx {
    ($conn:ty) => {
        impl RefreshTx for $conn {
            async fn insert_family(&mut self, new: &NewFamily) -> Result<(), sqlx::Error> {
                let f = &new.family;
                sqlx::query(INSERT_FAMILY)
                    .bind(&f.id)
                    .bind(f.client_id.as_str())
                    .bind(f.user_id.as_str())
                    .bind(f.scope.to_string())
                    .bind(f.auth_time)
                    .bind(f.origin.as_ref().map(FamilyOrigin::to_stored))
                    .bind(f.created_at)
                    .bind(f.expires_at)
                    .bind(f.revoked_at)
                    .execute(&mut *self)
                    .await?;
                let t = &new.first_token;
                sqlx::query(INSERT_TOKEN)
                    .bind(t.hash.as_str())
                    .bind(&t.family_id)
                    .bind(t.issued_at)
                    .bind(t.expires_at)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }

            async fn revoke_family(
                &mut self,
                family_id: &str,
                now: UnixTime,
            ) -> Result<bool, sqlx::Error> {
                let n = sqlx::query(REVOKE_FAMILY)
                    .bind(now)
                    .bind(family_id)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                Ok(n > 0)
            }

            async fn revoke_families_by_origin(
                &mut self,
                origin: &FamilyOrigin,
                now: UnixTime,
            ) -> Result<u64, sqlx::Error> {
                Ok(sqlx::query(REVOKE_BY_ORIGIN)
                    .bind(now)
                    .bind(origin.to_stored())
                    .execute(&mut *self)
                    .await?
                    .rows_affected())
            }
        }
    };
}

impl_refresh_tx!(sqlx::SqliteConnection);
impl_refresh_tx!(sqlx::PgConnection);

#[derive(sqlx::FromRow)]
struct FoundRow {
    hash: String,
    family_id: String,
    issued_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
    successor_hash: Option<String>,
    client_id: String,
    user_id: String,
    scope: String,
    auth_time: Option<i64>,
    origin: Option<String>,
    family_created_at: i64,
    family_expires_at: i64,
    revoked_at: Option<i64>,
    email: String,
    roles: String,
    disabled: bool,
}

impl FoundRow {
    fn into_found(self) -> Result<StoredRefreshToken> {
        Ok(StoredRefreshToken {
            record: RefreshTokenRecord {
                hash: SecretHash::from_stored(self.hash),
                family_id: self.family_id.clone(),
                issued_at: self.issued_at,
                expires_at: self.expires_at,
            },
            used_at: self.used_at,
            successor_hash: self.successor_hash.map(SecretHash::from_stored),
            family: RefreshFamily {
                id: self.family_id,
                client_id: ClientId::new(self.client_id),
                user_id: UserId::new(self.user_id),
                scope: Scope::parse(&self.scope)?,
                auth_time: self.auth_time,
                origin: self
                    .origin
                    .as_deref()
                    .map(FamilyOrigin::from_stored)
                    .transpose()?,
                created_at: self.family_created_at,
                expires_at: self.family_expires_at,
                revoked_at: self.revoked_at,
            },
            owner: TokenOwner {
                email: self.email,
                roles: text_to_list(&self.roles)?,
                disabled: self.disabled,
            },
        })
    }
}

const FIND: &str = "SELECT t.hash, t.family_id, t.issued_at, t.expires_at, t.used_at, \
     t.successor_hash, f.client_id, f.user_id, f.scope, f.auth_time, f.origin, \
     f.created_at AS family_created_at, f.expires_at AS family_expires_at, f.revoked_at, \
     u.email, u.roles, u.disabled \
     FROM refresh_tokens t \
     JOIN refresh_families f ON f.id = t.family_id \
     JOIN users u ON u.id = f.user_id \
     WHERE t.hash = $1";

/// Claims a token for rotation: only if unused, unexpired, and in a live
/// family. `$1` is now, `$2` the successor's hash, `$3` the presented token's
/// hash, `$4` the successor's expiry.
macro_rules! claim {
    () => {
        "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2 \
         WHERE hash = $3 AND used_at IS NULL AND expires_at > $1 \
         AND EXISTS (SELECT 1 FROM refresh_families f \
                     WHERE f.id = refresh_tokens.family_id \
                     AND f.revoked_at IS NULL AND f.expires_at > $1)"
    };
}

/// Rotation on PostgreSQL: the claim, and the successor inserted into the
/// claimed token's family, as one statement.
const ROTATE_PG: &str = concat!(
    "WITH claimed AS (",
    claim!(),
    " RETURNING family_id) \
     INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
     SELECT $2, family_id, $1, $4, NULL, NULL FROM claimed"
);

/// Rotation on SQLite, a whole transaction in one text: the claim; the
/// successor, inserted only if the claim changed a row (`changes()` counts the
/// most recent `INSERT`/`UPDATE`/`DELETE`); then `SELECT changes()`, which is
/// 1 if the successor was inserted. (Summing rows affected would not do:
/// SQLite reports the last DML's count for `BEGIN` and `COMMIT` too.) If
/// anything stops it half-way (an error, or the request being dropped), the
/// connection is closed rather than reused ([`CloseUnlessDone`]), and closing
/// rolls the open transaction back.
const ROTATE_SQLITE: &str = concat!(
    "BEGIN IMMEDIATE; ",
    claim!(),
    "; INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
     SELECT $2, family_id, $1, $4, NULL, NULL FROM refresh_tokens WHERE hash = $3 AND changes() = 1; \
     SELECT changes(); \
     COMMIT"
);

/// A pooled SQLite connection that goes back to the pool only if `done` was
/// called; otherwise (an error, or the future dropped mid-way) it is closed,
/// which rolls back a transaction its statements left open.
struct CloseUnlessDone(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl CloseUnlessDone {
    fn done(mut self) {
        // Dropping the connection here returns it to the pool.
        drop(self.0.take());
    }
}

impl Drop for CloseUnlessDone {
    fn drop(&mut self) {
        if let Some(conn) = self.0.as_mut() {
            conn.close_on_drop();
        }
    }
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

impl RefreshTokenStore for Store {
    async fn insert_family(&self, new: &NewFamily) -> Result<()> {
        let r: Result<(), sqlx::Error> =
            async { in_tx!(self, tx => RefreshTx::insert_family(&mut *tx, new).await) }.await;
        r.map_err(db_err)
    }

    async fn find_refresh_token(&self, hash: &SecretHash) -> Result<Option<StoredRefreshToken>> {
        let row: Option<FoundRow> = on_pool!(self, pool => sqlx::query_as(FIND)
            .bind(hash.as_str())
            .fetch_optional(pool)
            .await)
        .map_err(db_err)?;
        row.map(FoundRow::into_found).transpose()
    }

    async fn rotate_refresh_token(
        &self,
        used: &SecretHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
    ) -> Result<bool> {
        let r: Result<bool, sqlx::Error> = match &self.backend {
            // One statement: a data-modifying CTE claims the token and the
            // INSERT takes its family from what the claim returned; nothing
            // claimed, nothing inserted. One round trip, atomic on its own.
            Backend::Postgres(pool) => sqlx::query(ROTATE_PG)
                .bind(now)
                .bind(successor.hash.as_str())
                .bind(used.as_str())
                .bind(successor.expires_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1),
            // SQLite has no DML in CTEs: the whole transaction (BEGIN
            // IMMEDIATE, claim, insert, COMMIT) travels to the connection's
            // thread as one call, instead of one call per statement.
            Backend::Sqlite(pool) => {
                async {
                    // The connection first, then the turn: waiting for a
                    // connection while holding the turn stalls every writer.
                    let mut conn = CloseUnlessDone(Some(pool.acquire().await?));
                    let _turn = self.sqlite_write_gate.lock().await;
                    let inserted: Vec<i64> = match conn.0.as_mut() {
                        Some(c) => {
                            sqlx::query_scalar(ROTATE_SQLITE)
                                .bind(now)
                                .bind(successor.hash.as_str())
                                .bind(used.as_str())
                                .bind(successor.expires_at)
                                .fetch_all(&mut **c)
                                .await?
                        }
                        None => Vec::new(),
                    };
                    conn.done();
                    Ok(inserted == [1])
                }
                .await
            }
        };
        match r {
            Ok(done) => Ok(done),
            // The family was purged between the claim's check and the insert
            // (it had just been revoked or expired): nothing was rotated.
            Err(e) if is_foreign_key_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn revoke_family(&self, family_id: &str, now: UnixTime) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(REVOKE_FAMILY)
            .bind(now)
            .bind(family_id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n > 0)
    }

    async fn revoke_user_families(&self, user_id: &UserId, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(user_id.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn revoke_families_by_origin(&self, origin: &FamilyOrigin, now: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(REVOKE_BY_ORIGIN)
            .bind(now)
            .bind(origin.to_stored())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn purge_refresh_tokens(&self, now: UnixTime) -> Result<u64> {
        let mut total = 0;
        // Families past their absolute lifetime, or revoked: their tokens go
        // with them (ON DELETE CASCADE). A token of a revoked family is
        // refused whether its row is there or not.
        total += purge_in_batches(
            self,
                "DELETE FROM refresh_families WHERE id IN \
                 (SELECT id FROM refresh_families WHERE expires_at <= $1 OR revoked_at IS NOT NULL LIMIT $2)",
            now,
        )
        .await?;
        // Tokens past their idle lifetime, used or not. A used token is kept
        // until then so that its reuse is still detected.
        total += purge_in_batches(
            self,
            "DELETE FROM refresh_tokens WHERE hash IN \
                 (SELECT hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await?;
        Ok(total)
    }
}
