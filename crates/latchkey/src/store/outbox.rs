//! The outbox on both backends (see `core::outbox`).
//!
//! A claim is one `UPDATE … WHERE id IN (SELECT … LIMIT n) RETURNING …`. On
//! PostgreSQL the inner `SELECT` takes `FOR UPDATE SKIP LOCKED`, so two
//! workers claiming at once take disjoint rows without waiting for each
//! other; on SQLite the statement runs under the database's single write
//! lock, which serializes claimers across processes by itself. The only SQL
//! that differs between the backends is that clause.

use std::future::Future;

use crate::core::clock::UnixTime;
use crate::core::error::Result;
use crate::core::outbox::{Message, MessageState, NewMessage, OutboxStore};

use super::{Backend, Store, db_err, on_pool};

const INSERT: &str = "INSERT INTO outbox \
     (id, kind, payload, created_at, expires_at, next_attempt_at, attempts) \
     VALUES ($1, $2, $3, $4, $5, $4, 0)";

const CLAIM_SQLITE: &str = "UPDATE outbox \
     SET leased_until = $1, lease_owner = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox \
         WHERE done_at IS NULL AND next_attempt_at <= $3 \
           AND (leased_until IS NULL OR leased_until <= $3) \
         ORDER BY next_attempt_at LIMIT $4) \
     RETURNING id, kind, payload, created_at, expires_at, attempts";

const CLAIM_POSTGRES: &str = "UPDATE outbox \
     SET leased_until = $1, lease_owner = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM outbox \
         WHERE done_at IS NULL AND next_attempt_at <= $3 \
           AND (leased_until IS NULL OR leased_until <= $3) \
         ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
     RETURNING id, kind, payload, created_at, expires_at, attempts";

const COMPLETE: &str = "UPDATE outbox \
     SET done_at = $1, delivered = TRUE, leased_until = NULL, last_error = NULL \
     WHERE id = $2 AND lease_owner = $3 AND done_at IS NULL";

const RETRY: &str = "UPDATE outbox \
     SET next_attempt_at = $1, leased_until = NULL, last_error = $2 \
     WHERE id = $3 AND lease_owner = $4 AND done_at IS NULL";

const GIVE_UP: &str = "UPDATE outbox \
     SET done_at = $1, delivered = FALSE, leased_until = NULL, last_error = $2 \
     WHERE id = $3 AND lease_owner = $4 AND done_at IS NULL";

/// Enqueueing inside a caller's transaction, so that a message commits (or
/// not) together with the change that causes it. Implemented for both
/// backends' connections, for use on the `tx` of [`in_tx!`](super::in_tx):
/// `OutboxTx::enqueue(&mut *tx, &message).await?`.
pub trait OutboxTx {
    fn enqueue(
        &mut self,
        message: &NewMessage,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
}

macro_rules! impl_outbox_tx {
    ($conn:ty) => {
        impl OutboxTx for $conn {
            async fn enqueue(&mut self, m: &NewMessage) -> Result<(), sqlx::Error> {
                sqlx::query(INSERT)
                    .bind(&m.id)
                    .bind(&m.kind)
                    .bind(&m.payload)
                    .bind(m.created_at)
                    .bind(m.expires_at)
                    .execute(&mut *self)
                    .await?;
                Ok(())
            }
        }
    };
}

impl_outbox_tx!(sqlx::SqliteConnection);
impl_outbox_tx!(sqlx::PgConnection);

type ClaimRow = (String, String, String, i64, i64, i64);
type StateRow = (String, String, i64, Option<i64>, bool, Option<String>);

impl OutboxStore for Store {
    async fn enqueue(&self, messages: &[NewMessage]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let r: Result<(), sqlx::Error> = async {
            super::in_tx!(self, tx => {
                let mut out = Ok(());
                for m in messages {
                    if let Err(e) = OutboxTx::enqueue(&mut *tx, m).await {
                        out = Err(e);
                        break;
                    }
                }
                out
            })
        }
        .await;
        r.map_err(db_err)
    }

    async fn claim_outbox(
        &self,
        owner: &str,
        now: UnixTime,
        lease_seconds: i64,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let sql = match &self.backend {
            Backend::Sqlite(_) => CLAIM_SQLITE,
            Backend::Postgres(_) => CLAIM_POSTGRES,
        };
        let rows: Vec<ClaimRow> = on_pool!(self, pool => sqlx::query_as(sql)
            .bind(now.saturating_add(lease_seconds))
            .bind(owner)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, kind, payload, created_at, expires_at, attempts)| Message {
                    id,
                    kind,
                    payload,
                    created_at,
                    expires_at,
                    attempts,
                },
            )
            .collect())
    }

    async fn complete_outbox(&self, id: &str, owner: &str, now: UnixTime) -> Result<()> {
        on_pool!(self, pool => sqlx::query(COMPLETE)
            .bind(now)
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(db_err)
    }

    async fn retry_outbox(
        &self,
        id: &str,
        owner: &str,
        next_attempt_at: UnixTime,
        error: &str,
    ) -> Result<()> {
        self.settle(RETRY, id, owner, next_attempt_at, error).await
    }

    async fn give_up_outbox(
        &self,
        id: &str,
        owner: &str,
        now: UnixTime,
        error: &str,
    ) -> Result<()> {
        self.settle(GIVE_UP, id, owner, now, error).await
    }

    async fn list_outbox(&self, kind: &str) -> Result<Vec<MessageState>> {
        let rows: Vec<StateRow> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, kind, attempts, done_at, delivered, last_error FROM outbox \
             WHERE kind = $1 ORDER BY created_at, id",
        )
        .bind(kind)
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(
                |(id, kind, attempts, done_at, delivered, last_error)| MessageState {
                    id,
                    kind,
                    attempts,
                    done_at,
                    delivered,
                    last_error,
                },
            )
            .collect())
    }

    async fn purge_outbox(&self, before: UnixTime) -> Result<u64> {
        super::purge_in_batches(
            self,
            "DELETE FROM outbox WHERE id IN \
                 (SELECT id FROM outbox WHERE done_at IS NOT NULL AND done_at < $1 LIMIT $2)",
            before,
        )
        .await
    }
}

impl Store {
    /// A failed attempt, settled by the lease holder: `RETRY` (at `at`) or
    /// `GIVE_UP` (done at `at`); both record the failure's text.
    async fn settle(
        &self,
        sql: &'static str,
        id: &str,
        owner: &str,
        at: UnixTime,
        error: &str,
    ) -> Result<()> {
        on_pool!(self, pool => sqlx::query(sql)
            .bind(at)
            .bind(truncate(error))
            .bind(id)
            .bind(owner)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(db_err)
    }
}

/// Failure texts are kept short: they are for operators, and a receiver's
/// error page must not grow the table.
fn truncate(s: &str) -> &str {
    match s.char_indices().nth(500) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
