//! Refresh tokens and their families on both backends (see `core::refresh`).
//!
//! Rotation lives in `store::rotation` (group commit): a conditional `UPDATE
//! … WHERE used_at IS NULL` that claims the presented token, then the
//! `INSERT` of its successor, in one transaction shared with the rotations
//! waiting at the same moment. SQLite runs it under `BEGIN IMMEDIATE` (one
//! writer at a time); on PostgreSQL a concurrent `UPDATE` of the same row
//! waits for the first transaction and then re-evaluates its `WHERE` on the
//! committed row, where `used_at` is no longer null, and matches nothing.
//! Either way at most one caller claims a token, and a crash before the
//! commit leaves the token unused and no successor: never two live
//! successors.

use std::collections::HashMap;
use std::future::Future;

use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::dpop::Jkt;
use crate::core::error::{Error, Result};
use crate::core::refresh::{
    Claim, Claimed, FamilyOrigin, NewFamily, RefreshFamily, RefreshTokenRecord, RefreshTokenStore,
    StoredRefreshToken, TokenOwner,
};
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;
use crate::core::users::UserId;

use super::group::Group;
use super::rotation::{FIND_WORKERS, RefreshConn, RotationItem};
use super::{Store, db_err, in_tx, on_pool, purge_in_batches, text_to_list};

const INSERT_FAMILY: &str = "INSERT INTO refresh_families \
     (id, client_id, user_id, scope, auth_time, origin, created_at, expires_at, revoked_at, \
     dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

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
                    .bind(f.dpop_jkt.as_ref().map(Jkt::as_str))
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

#[derive(sqlx::FromRow, Clone)]
pub(super) struct FoundRow {
    pub(super) hash: String,
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
    dpop_jkt: Option<String>,
    email: String,
    roles: String,
    disabled: bool,
}

impl FoundRow {
    pub(super) fn into_found(self) -> Result<StoredRefreshToken> {
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
                dpop_jkt: self.dpop_jkt.map(Jkt::new),
            },
            owner: TokenOwner {
                email: self.email,
                roles: text_to_list(&self.roles)?,
                disabled: self.disabled,
            },
        })
    }
}

macro_rules! found_columns {
    () => {
        "SELECT t.hash, t.family_id, t.issued_at, t.expires_at, t.used_at, \
         t.successor_hash, f.client_id, f.user_id, f.scope, f.auth_time, f.origin, \
         f.created_at AS family_created_at, f.expires_at AS family_expires_at, f.revoked_at, \
         f.dpop_jkt, u.email, u.roles, u.disabled "
    };
}
pub(super) use found_columns;

const FIND: &str = concat!(
    found_columns!(),
    "FROM refresh_tokens t \
     JOIN refresh_families f ON f.id = t.family_id \
     JOIN users u ON u.id = f.user_id \
     WHERE t.hash = $1"
);

/// Several tokens in one query on SQLite: `$1` is a JSON array of hashes;
/// the batch is the outer loop (`CROSS JOIN`), one primary-key probe each.
const FIND_MANY_SQLITE: &str = concat!(
    found_columns!(),
    "FROM json_each($1) AS b CROSS JOIN refresh_tokens t ON t.hash = b.value \
     JOIN refresh_families f ON f.id = t.family_id \
     JOIN users u ON u.id = f.user_id"
);

/// Several tokens in one query on PostgreSQL.
pub(super) const FIND_MANY_PG: &str = concat!(
    found_columns!(),
    "FROM refresh_tokens t \
     JOIN refresh_families f ON f.id = t.family_id \
     JOIN users u ON u.id = f.user_id \
     WHERE t.hash = ANY($1)"
);

/// The reads of a refresh request, grouped as rotations are: the finds
/// waiting at one moment share one query, so one hop to a SQLite
/// connection's thread (or one PostgreSQL round trip) instead of one each.
/// Reads take no lock, so two workers run batches side by side.
pub(crate) type FindGroup = Group<SecretHash, Result<Option<StoredRefreshToken>>>;

/// Up to this many finds share a query.
const MAX_FIND_BATCH: usize = 64;

pub(crate) fn start_find_group(conn: &RefreshConn) -> FindGroup {
    let backend = conn.clone();
    Group::start(
        FIND_WORKERS,
        MAX_FIND_BATCH,
        move |hashes: Vec<SecretHash>| {
            let backend = backend.clone();
            async move { find_batch(&backend, &hashes).await }
        },
    )
}

async fn find_one(backend: &RefreshConn, hash: &SecretHash) -> Result<Option<StoredRefreshToken>> {
    let row: Option<FoundRow> = match backend {
        RefreshConn::Sqlite(lane) => {
            async {
                let mut conn = lane.lock().await?;
                let row = sqlx::query_as(FIND)
                    .bind(hash.as_str())
                    .fetch_optional(conn.conn()?)
                    .await?;
                conn.done();
                Ok(row)
            }
            .await
        }
        RefreshConn::Postgres(pool) => {
            sqlx::query_as(FIND)
                .bind(hash.as_str())
                .fetch_optional(pool)
                .await
        }
    }
    .map_err(db_err)?;
    row.map(FoundRow::into_found).transpose()
}

/// One answer per hash, in order.
async fn find_batch(
    backend: &RefreshConn,
    hashes: &[SecretHash],
) -> Vec<Result<Option<StoredRefreshToken>>> {
    if hashes.len() == 1 {
        let mut out = Vec::with_capacity(1);
        for h in hashes {
            out.push(find_one(backend, h).await);
        }
        return out;
    }
    let rows: Result<Vec<FoundRow>, sqlx::Error> = match backend {
        RefreshConn::Sqlite(lane) => {
            let json =
                serde_json::Value::from(hashes.iter().map(|h| h.as_str()).collect::<Vec<_>>())
                    .to_string();
            async {
                let mut conn = lane.lock().await?;
                let rows = sqlx::query_as(FIND_MANY_SQLITE)
                    .bind(json)
                    .fetch_all(conn.conn()?)
                    .await?;
                conn.done();
                Ok(rows)
            }
            .await
        }
        RefreshConn::Postgres(pool) => {
            let list: Vec<&str> = hashes.iter().map(|h| h.as_str()).collect();
            sqlx::query_as(FIND_MANY_PG)
                .bind(list)
                .fetch_all(pool)
                .await
        }
    };
    match rows {
        Ok(rows) => {
            let mut by_hash: HashMap<String, FoundRow> =
                rows.into_iter().map(|r| (r.hash.clone(), r)).collect();
            // A hash asked twice gets the row twice.
            let mut out = Vec::with_capacity(hashes.len());
            for (i, h) in hashes.iter().enumerate() {
                let again = hashes[i + 1..].iter().any(|later| later == h);
                let row = if again {
                    by_hash.get(h.as_str()).cloned()
                } else {
                    by_hash.remove(h.as_str())
                };
                out.push(row.map(FoundRow::into_found).transpose());
            }
            out
        }
        Err(_) => {
            // Each alone: its own answer, its own error.
            let mut out = Vec::with_capacity(hashes.len());
            for h in hashes {
                out.push(find_one(backend, h).await);
            }
            out
        }
    }
}

impl Store {
    /// Runs `items` as the rotation workers run a batch — one transaction
    /// for all of them, each item answered as if it had been alone — and
    /// returns one answer per item, in order. The request path goes through
    /// the queue instead (`rotate_refresh_token`); this is the same step
    /// without the queue, so that the conformance tests can choose what
    /// shares a batch.
    pub async fn rotate_refresh_tokens(&self, items: &[RotationItem]) -> Vec<Result<bool>> {
        super::rotation::rotate_batch(&self.refresh_conn, &self.sqlite_write_gate, items).await
    }
}

impl Store {
    /// Runs `claims` as the claim worker runs a batch (`store::claim`), one
    /// answer per claim, in order: the same step without the queue, so that
    /// the conformance tests can choose what shares a batch.
    pub async fn claim_refresh_tokens(&self, claims: &[Claim<'_>]) -> Vec<Result<Option<Claimed>>> {
        let items: Vec<_> = claims.iter().map(super::claim::ClaimItem::new).collect();
        super::claim::claim_batch(&self.refresh_conn, &self.sqlite_write_gate, &items).await
    }
}

impl RefreshTokenStore for Store {
    async fn insert_family(&self, new: &NewFamily) -> Result<()> {
        let r: Result<(), sqlx::Error> =
            async { in_tx!(self, tx => RefreshTx::insert_family(&mut *tx, new).await) }.await;
        r.map_err(db_err)
    }

    async fn find_refresh_token(&self, hash: &SecretHash) -> Result<Option<StoredRefreshToken>> {
        self.finds.call(hash.clone()).await.unwrap_or_else(|| {
            Err(Error::TemporarilyUnavailable(
                "the store is shutting down".into(),
            ))
        })
    }

    async fn rotate_refresh_token(
        &self,
        used: &SecretHash,
        successor: &RefreshTokenRecord,
        now: UnixTime,
    ) -> Result<bool> {
        // Group commit: this rotation shares a transaction with the others
        // waiting at this moment (`store::rotation`).
        self.rotations
            .rotate(RotationItem {
                used: used.clone(),
                successor: successor.clone(),
                now,
            })
            .await
    }

    async fn claim_refresh_token(&self, claim: &Claim<'_>) -> Result<Option<Claimed>> {
        // Grouped: this claim shares a transaction with the others waiting
        // at this moment (`store::claim`).
        self.claims
            .call(super::claim::ClaimItem::new(claim))
            .await
            .unwrap_or_else(|| {
                Err(Error::TemporarilyUnavailable(
                    "the store is shutting down".into(),
                ))
            })
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

    async fn revoke_user_family(
        &self,
        user_id: &UserId,
        family_id: &str,
        now: UnixTime,
    ) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE refresh_families SET revoked_at = $1 \
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(family_id)
        .bind(user_id.as_str())
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
        // Two statements, each on its own index (`refresh_families_expires`,
        // `refresh_families_revoked`): an `OR` of the two conditions scanned
        // the whole table. `revoked_at` comes from the clock, so every
        // revoked family has `revoked_at <= now` (one written by a process
        // whose clock runs ahead goes at a later purge).
        total += purge_in_batches(
            self,
            "DELETE FROM refresh_families WHERE id IN \
                 (SELECT id FROM refresh_families WHERE expires_at <= $1 LIMIT $2)",
            now,
        )
        .await?;
        total += purge_in_batches(
            self,
            "DELETE FROM refresh_families WHERE id IN \
                 (SELECT id FROM refresh_families WHERE revoked_at <= $1 LIMIT $2)",
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
