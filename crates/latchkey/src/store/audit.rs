//! Audit events on both backends (see `core::audit`).

use crate::core::audit::{AuditEvent, AuditFilter, AuditQuery, AuditStore};
use crate::core::clock::UnixTime;
use crate::core::error::Result;

use super::{Store, db_err, on_pool, purge_in_batches};

type Row = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

impl AuditStore for Store {
    async fn insert_audit_events(&self, events: &[AuditEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        on_pool!(self, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO audit_events \
                 (id, at, kind, actor, user_id, client_id, address, outcome, detail) ",
            );
            q.push_values(events, |mut b, e| {
                b.push_bind(e.id.clone())
                    .push_bind(e.at)
                    .push_bind(e.kind.clone())
                    .push_bind(e.actor.clone())
                    .push_bind(e.user_id.clone())
                    .push_bind(e.client_id.clone())
                    .push_bind(e.address.clone())
                    .push_bind(e.outcome.clone())
                    .push_bind(e.detail.clone());
            });
            q.build().execute(pool).await.map(|_| ())
        })
        .map_err(db_err)
    }

    async fn list_audit_events(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>> {
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, at, kind, actor, user_id, client_id, address, outcome, detail \
             FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $1) AND at >= $2 \
             ORDER BY at, id LIMIT $3",
        )
        .bind(filter.user_id.as_deref())
        .bind(filter.since.unwrap_or(i64::MIN))
        .bind(filter.limit)
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        Ok(rows.into_iter().map(row_to_event).collect())
    }

    async fn search_audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        // Newest first walks down from the cursor: with no cursor, from
        // beyond any time (no event is at i64::MAX).
        let (sql, start) = if query.newest_first {
            (SEARCH_NEWEST_FIRST, i64::MAX)
        } else {
            (SEARCH_OLDEST_FIRST, i64::MIN)
        };
        let (after_at, after_id) = query.after.clone().unwrap_or((start, String::new()));
        let rows: Vec<Row> = on_pool!(self, pool => sqlx::query_as(sql)
        .bind(query.kind.as_deref())
        .bind(query.since.unwrap_or(i64::MIN))
        .bind(query.until.unwrap_or(i64::MAX))
        .bind(query.user.as_deref())
        .bind(query.user.as_ref().map(|u| format!("user:{u}")))
        .bind(query.client.as_deref())
        .bind(query.client.as_ref().map(|c| format!("client:{c}")))
        .bind(after_at)
        .bind(after_id)
        .bind(query.limit)
        .fetch_all(pool)
        .await)
        .map_err(db_err)?;
        Ok(rows.into_iter().map(row_to_event).collect())
    }

    async fn purge_audit_events(&self, before: UnixTime) -> Result<u64> {
        purge_in_batches(
            self,
            "DELETE FROM audit_events WHERE id IN \
                 (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)",
            before,
        )
        .await
    }
}

const SEARCH_OLDEST_FIRST: &str = "SELECT id, at, kind, actor, user_id, client_id, address, outcome, detail \
     FROM audit_events \
     WHERE ($1 IS NULL OR kind = $1) AND at >= $2 AND at <= $3 \
     AND ($4 IS NULL OR user_id = $4 OR actor = $5) \
     AND ($6 IS NULL OR client_id = $6 OR actor = $7) \
     AND (at > $8 OR (at = $8 AND id > $9)) \
     ORDER BY at, id LIMIT $10";

/// The same, newest first: the cursor names the last (oldest) row seen.
const SEARCH_NEWEST_FIRST: &str = "SELECT id, at, kind, actor, user_id, client_id, address, outcome, detail \
     FROM audit_events \
     WHERE ($1 IS NULL OR kind = $1) AND at >= $2 AND at <= $3 \
     AND ($4 IS NULL OR user_id = $4 OR actor = $5) \
     AND ($6 IS NULL OR client_id = $6 OR actor = $7) \
     AND (at < $8 OR (at = $8 AND id < $9)) \
     ORDER BY at DESC, id DESC LIMIT $10";

fn row_to_event(
    (id, at, kind, actor, user_id, client_id, address, outcome, detail): Row,
) -> AuditEvent {
    AuditEvent {
        id,
        at,
        kind,
        actor,
        user_id,
        client_id,
        address,
        outcome,
        detail,
    }
}
