//! Sign-in attempt counters on both backends (see `core::ratelimit`).

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::ratelimit::{AttemptCount, AttemptCounterStore};

use super::{Store, db_err, on_pool, purge_in_batches};

/// One atomic upsert: a new key starts at 1; a key whose window began at or
/// before `$3` (now - window) starts a new window at `$2` (now); otherwise the
/// count goes up by one. `SET` expressions see the old row on both backends.
const CHARGE: &str = "INSERT INTO signin_failures (counter_key, window_start, failures) \
     VALUES ($1, $2, 1) \
     ON CONFLICT (counter_key) DO UPDATE SET \
       failures = CASE WHEN signin_failures.window_start <= $3 THEN 1 \
                       ELSE signin_failures.failures + 1 END, \
       window_start = CASE WHEN signin_failures.window_start <= $3 THEN $2 \
                           ELSE signin_failures.window_start END \
     RETURNING window_start, failures";

impl AttemptCounterStore for Store {
    async fn charge_attempt(&self, key: &str, now: UnixTime, window: i64) -> Result<AttemptCount> {
        let (window_start, attempts): (i64, i64) = on_pool!(self, pool => sqlx::query_as(CHARGE)
            .bind(key)
            .bind(now)
            .bind(now - window)
            .fetch_one(pool)
            .await)
        .map_err(db_err)?;
        Ok(AttemptCount {
            window_start,
            attempts,
        })
    }

    async fn forgive_attempt(&self, key: &str, window_start: UnixTime) -> Result<()> {
        on_pool!(self, pool => sqlx::query(
            "UPDATE signin_failures SET failures = failures - 1 \
             WHERE counter_key = $1 AND window_start = $2 AND failures > 0",
        )
        .bind(key)
        .bind(window_start)
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn clear_attempts(&self, key: &str) -> Result<()> {
        on_pool!(self, pool => sqlx::query("DELETE FROM signin_failures WHERE counter_key = $1")
            .bind(key)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(db_err)
    }

    async fn purge_attempt_counters(&self, before: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM signin_failures WHERE counter_key IN \
                 (SELECT counter_key FROM signin_failures WHERE window_start <= $1 LIMIT $2)",
            before,
        )
        .await
    }
}
