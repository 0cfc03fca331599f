//! Sign-in attempt counters on both backends (see `core::ratelimit`).
//!
//! Every statement is one atomic upsert or update of the key's row: on
//! PostgreSQL `ON CONFLICT DO UPDATE` locks the row and evaluates its `SET`
//! and `WHERE` against the latest committed version, on SQLite the write lock
//! serializes writers; so concurrent attempts, in any number of processes,
//! see each other's slots and failures. `SET` expressions see the old row on
//! both backends.

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::ratelimit::{AttemptCount, AttemptCounterStore, Reservation, Settle};

use super::{Store, db_err, on_pool};

/// One atomic upsert: a new key starts at 1; a key whose window began at or
/// before `$3` (now - window) starts a new window at `$2` (now); otherwise the
/// count goes up by one.
const CHARGE: &str = "INSERT INTO signin_failures (counter_key, window_start, failures) \
     VALUES ($1, $2, 1) \
     ON CONFLICT (counter_key) DO UPDATE SET \
       failures = CASE WHEN signin_failures.window_start <= $3 THEN 1 \
                       ELSE signin_failures.failures + 1 END, \
       window_start = CASE WHEN signin_failures.window_start <= $3 THEN $2 \
                           ELSE signin_failures.window_start END \
     RETURNING window_start, failures";

/// Takes a slot in epoch `$4` if failures in the window (after `$3`) plus
/// live slots stay below `$5`. Live slots: both counts when the row's epoch
/// is `$4`, the newer one when it is `$4 - 1` (it becomes the older), none
/// when it is older still (those slots have lapsed). When the `WHERE` fails
/// nothing changes and nothing is returned. `$2` is now, `$1` the key.
const RESERVE: &str = "INSERT INTO signin_failures \
       (counter_key, window_start, failures, flight_epoch, in_flight, in_flight_prev) \
     VALUES ($1, $2, 0, $4, 1, 0) \
     ON CONFLICT (counter_key) DO UPDATE SET \
       in_flight_prev = CASE WHEN signin_failures.flight_epoch = $4 THEN signin_failures.in_flight_prev \
                             WHEN signin_failures.flight_epoch = $4 - 1 THEN signin_failures.in_flight \
                             ELSE 0 END, \
       in_flight = CASE WHEN signin_failures.flight_epoch = $4 THEN signin_failures.in_flight + 1 \
                        ELSE 1 END, \
       flight_epoch = $4 \
     WHERE (CASE WHEN signin_failures.window_start > $3 THEN signin_failures.failures ELSE 0 END) \
         + (CASE WHEN signin_failures.flight_epoch = $4 \
                   THEN signin_failures.in_flight + signin_failures.in_flight_prev \
                 WHEN signin_failures.flight_epoch = $4 - 1 THEN signin_failures.in_flight \
                 ELSE 0 END) < $5 \
     RETURNING CASE WHEN window_start > $3 THEN failures ELSE 0 END";

/// Gives back a slot taken in epoch `$2`: it is in `in_flight` while the
/// row's epoch is still `$2`, in `in_flight_prev` once the row has moved on
/// by one, and has lapsed otherwise. Shared by both settle statements.
macro_rules! give_back {
    () => {
        "in_flight = CASE WHEN signin_failures.flight_epoch = $2 \
                            AND signin_failures.in_flight > 0 \
                       THEN signin_failures.in_flight - 1 ELSE signin_failures.in_flight END, \
         in_flight_prev = CASE WHEN signin_failures.flight_epoch = $2 + 1 \
                                 AND signin_failures.in_flight_prev > 0 \
                            THEN signin_failures.in_flight_prev - 1 \
                            ELSE signin_failures.in_flight_prev END"
    };
}

/// A failure (`$1` key, `$2` epoch, `$3` now, `$4` now - window): the slot
/// back and one more failure; the first failure, or one after the window
/// has passed, starts a window at now. An upsert, so that a row purged
/// meanwhile still gets its failure.
const SETTLE_FAILURE: &str = concat!(
    "INSERT INTO signin_failures (counter_key, window_start, failures) VALUES ($1, $3, 1) \
     ON CONFLICT (counter_key) DO UPDATE SET \
       failures = CASE WHEN signin_failures.failures = 0 OR signin_failures.window_start <= $4 \
                       THEN 1 ELSE signin_failures.failures + 1 END, \
       window_start = CASE WHEN signin_failures.failures = 0 OR signin_failures.window_start <= $4 \
                           THEN $3 ELSE signin_failures.window_start END, ",
    give_back!()
);

/// Not a failure (`$1` key, `$2` epoch, `$3` forget): the slot back and,
/// for a success on a username, its failures forgotten.
const SETTLE_RELEASE: &str = concat!(
    "UPDATE signin_failures SET \
       failures = CASE WHEN $3 THEN 0 ELSE signin_failures.failures END, ",
    give_back!(),
    " WHERE counter_key = $1"
);

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

    async fn reserve_attempt(
        &self,
        key: &str,
        limit: i64,
        now: UnixTime,
        window: i64,
        epoch: i64,
    ) -> Result<Reservation> {
        let since = now - window;
        let reserved: Option<(i64,)> = on_pool!(self, pool => sqlx::query_as(RESERVE)
            .bind(key)
            .bind(now)
            .bind(since)
            .bind(epoch)
            .bind(limit)
            .fetch_optional(pool)
            .await)
        .map_err(db_err)?;
        if let Some((failures,)) = reserved {
            return Ok(Reservation::Reserved { failures });
        }
        // Refused a slot: locked, or merely busy? The row may have changed
        // since; either answer is then one a moment ago was right to give,
        // and a busy caller simply asks again.
        let row: Option<(i64, i64)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT window_start, failures FROM signin_failures WHERE counter_key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await)
        .map_err(db_err)?;
        Ok(match row {
            Some((window_start, failures)) if window_start > since && failures >= limit => {
                Reservation::Locked { window_start }
            }
            _ => Reservation::Busy,
        })
    }

    async fn settle_attempt(
        &self,
        key: &str,
        epoch: i64,
        settle: Settle,
        now: UnixTime,
        window: i64,
    ) -> Result<()> {
        on_pool!(self, pool => match settle {
            Settle::Failure => sqlx::query(SETTLE_FAILURE)
                .bind(key)
                .bind(epoch)
                .bind(now)
                .bind(now - window)
                .execute(pool)
                .await,
            Settle::Release | Settle::Forget => sqlx::query(SETTLE_RELEASE)
                .bind(key)
                .bind(epoch)
                .bind(settle == Settle::Forget)
                .execute(pool)
                .await,
        }
        .map(|_| ()))
        .map_err(db_err)
    }

    async fn purge_attempt_counters(&self, before: UnixTime, live_epoch: i64) -> Result<u64> {
        // Batched as `purge_in_batches` does, with the epoch as a third bound.
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let n = on_pool!(self, pool => sqlx::query(
                "DELETE FROM signin_failures WHERE counter_key IN \
                 (SELECT counter_key FROM signin_failures \
                  WHERE window_start <= $1 AND flight_epoch < $3 - 1 LIMIT $2)",
            )
            .bind(before)
            .bind(BATCH)
            .bind(live_epoch)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
            .map_err(db_err)?;
            total += n;
            if n < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
