//! Device authorizations (RFC 8628) on both backends (see `core::device`).
//!
//! Statuses are bound as parameters spelled by `DeviceStatus::as_str`, the
//! one mapping between the enum and the column: no status literal appears
//! in the SQL.
//!
//! Redeeming a device code is one transaction: the conditional `UPDATE …
//! WHERE status = <approved>` that at most one caller wins (SQLite: `BEGIN
//! IMMEDIATE` serializes writers; PostgreSQL: a second `UPDATE` waits for
//! the row lock and then matches nothing), and the `INSERT` of the refresh
//! family it issues. Either both commit or neither does.

use crate::core::clients::ClientId;
use crate::core::clock::UnixTime;
use crate::core::codes::Issued;
use crate::core::device::{DeviceDecision, DeviceStatus, DeviceStore, StoredDevice};
use crate::core::error::{Error, Result};
use crate::core::scope::Scope;
use crate::core::secret::SecretHash;
use crate::core::users::UserId;

use super::refresh::RefreshTx;
use super::{Store, db_err, in_tx, is_unique_violation, list_to_text, on_pool, text_to_list};

/// The columns of [`DeviceRow`], for `concat!`.
macro_rules! columns {
    () => {
        "hash, user_code_hash, client_id, scope, audience, created_at, expires_at, \
         interval_seconds, last_polled_at, status, user_id, auth_time"
    };
}

#[derive(sqlx::FromRow)]
struct DeviceRow {
    hash: String,
    user_code_hash: String,
    client_id: String,
    scope: String,
    audience: String,
    created_at: i64,
    expires_at: i64,
    interval_seconds: i64,
    last_polled_at: Option<i64>,
    status: String,
    user_id: Option<String>,
    auth_time: Option<i64>,
}

impl DeviceRow {
    fn into_device(self) -> Result<StoredDevice> {
        Ok(StoredDevice {
            hash: SecretHash::from_stored(self.hash),
            user_code_hash: self.user_code_hash,
            client_id: ClientId::new(self.client_id),
            scope: Scope::parse(&self.scope)?,
            audience: text_to_list(&self.audience)?,
            created_at: self.created_at,
            expires_at: self.expires_at,
            interval_seconds: self.interval_seconds,
            last_polled_at: self.last_polled_at,
            status: DeviceStatus::parse(&self.status)?,
            user_id: self.user_id.map(UserId::new),
            auth_time: self.auth_time,
        })
    }
}

impl DeviceStore for Store {
    async fn insert_device(&self, d: &StoredDevice) -> Result<bool> {
        let result = on_pool!(self, pool => sqlx::query(
            "INSERT INTO device_codes \
             (hash, user_code_hash, client_id, scope, audience, created_at, expires_at, \
              interval_seconds, last_polled_at, status, user_id, auth_time) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, NULL, NULL)",
        )
        .bind(d.hash.as_str())
        .bind(&d.user_code_hash)
        .bind(d.client_id.as_str())
        .bind(d.scope.to_string())
        .bind(list_to_text(&d.audience))
        .bind(d.created_at)
        .bind(d.expires_at)
        .bind(d.interval_seconds)
        .bind(d.status.as_str())
        .execute(pool)
        .await
        .map(|_| ()));
        match result {
            Ok(()) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    async fn find_device(&self, hash: &SecretHash) -> Result<Option<StoredDevice>> {
        let row: Option<DeviceRow> = on_pool!(self, pool => sqlx::query_as(
            concat!("SELECT ", columns!(), " FROM device_codes WHERE hash = $1"))
            .bind(hash.as_str())
            .fetch_optional(pool)
            .await)
        .map_err(db_err)?;
        row.map(DeviceRow::into_device).transpose()
    }

    async fn find_device_by_user_code(&self, user_code_hash: &str) -> Result<Option<StoredDevice>> {
        let row: Option<DeviceRow> = on_pool!(self, pool => sqlx::query_as(
            concat!("SELECT ", columns!(), " FROM device_codes WHERE user_code_hash = $1"))
            .bind(user_code_hash)
            .fetch_optional(pool)
            .await)
        .map_err(db_err)?;
        row.map(DeviceRow::into_device).transpose()
    }

    async fn record_device_poll(
        &self,
        hash: &SecretHash,
        interval_seconds: i64,
        now: UnixTime,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE device_codes SET last_polled_at = $1, \
             interval_seconds = CASE WHEN interval_seconds > $2 THEN interval_seconds ELSE $2 END \
             WHERE hash = $3",
        )
        .bind(now)
        .bind(interval_seconds)
        .bind(hash.as_str())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn decide_device(
        &self,
        hash: &SecretHash,
        decision: DeviceDecision<'_>,
        now: UnixTime,
    ) -> Result<bool> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE device_codes SET status = $1, user_id = $2, auth_time = $3, decided_at = $4 \
             WHERE hash = $5 AND status = $6 AND expires_at > $4",
        )
        .bind(decision.status().as_str())
        .bind(decision.user_id.as_str())
        .bind(decision.recorded_auth_time())
        .bind(now)
        .bind(hash.as_str())
        .bind(DeviceStatus::Pending.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)?;
        Ok(n == 1)
    }

    async fn redeem_device(
        &self,
        hash: &SecretHash,
        issued: Issued<'_>,
        now: UnixTime,
    ) -> Result<bool> {
        in_tx!(self, tx => {
                let taken = sqlx::query(
                    "UPDATE device_codes SET status = $3, redeemed_at = $1 \
                     WHERE hash = $2 AND status = $4 AND expires_at > $1",
                )
                .bind(now)
                .bind(hash.as_str())
                .bind(DeviceStatus::Redeemed.as_str())
                .bind(DeviceStatus::Approved.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if taken == 1
                    && let Some(family) = issued.family
                {
                    RefreshTx::insert_family(&mut *tx, family).await?;
                }
                Ok::<bool, Error>(taken == 1)
        })
    }

    async fn deny_user_devices(&self, user_id: &UserId) -> Result<u64> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE device_codes SET status = $2 WHERE user_id = $1 AND status = $3",
        )
        .bind(user_id.as_str())
        .bind(DeviceStatus::Denied.as_str())
        .bind(DeviceStatus::Approved.as_str())
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))
        .map_err(db_err)
    }

    async fn purge_devices(&self, before: UnixTime) -> Result<u64> {
        on_pool!(self, pool => sqlx::query("DELETE FROM device_codes WHERE expires_at <= $1")
            .bind(before)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(db_err)
    }
}
