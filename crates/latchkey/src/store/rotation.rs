//! Refresh-token rotation with group commit (see `core::refresh` for what a
//! rotation means, ARCHITECTURE.md "Refresh tokens" for why it is shaped so).
//!
//! A rotation is a conditional `UPDATE … WHERE used_at IS NULL` that claims
//! the presented token, and the `INSERT` of its successor, in one
//! transaction. Done one request at a time, each rotation pays a whole
//! transaction: on SQLite two thread switches to the connection's worker
//! thread and back plus a turn at the write lock, on PostgreSQL a round trip
//! and a WAL flush. Here the rotations that wait at the same moment share
//! them: every process has one queue; a worker takes whatever has queued up
//! (at most [`MAX_BATCH`]), runs all of it as one transaction — on SQLite one
//! multi-statement text, so one hop to the connection's thread; on
//! PostgreSQL one statement, so one round trip and one commit — and answers
//! each request only after that commit returned. Nothing waits on a timer: a
//! lone rotation goes at once, and a batch grows only while the previous one
//! is running.
//!
//! What each request is told does not depend on who shared its batch:
//! - the claim is the same predicate as the single statement's, evaluated
//!   per token, so of any number of requests for one token at most one is
//!   told `true` (duplicates inside one batch are answered `false` without
//!   being sent: the first of them is the one that may win);
//! - if the batch fails as a whole (a unique or foreign-key violation that
//!   belongs to one item, a deadlock on PostgreSQL), it is rolled back and
//!   every item is run again alone, so an item that fails fails by itself
//!   and its batch-mates commit; if the database is unreachable, every item
//!   gets that answer (503) rather than being retried one by one;
//! - a crash before the commit leaves every token of the batch unused and
//!   no successor; after it, each claimed token used and its one successor
//!   stored. A client never sees a successor that is not durable at the
//!   configured `synchronous` level.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use sqlx::{PgPool, SqlitePool};
use tokio::sync::Mutex;

use crate::core::clock::UnixTime;
use crate::core::error::{Error, Result};
use crate::core::refresh::RefreshTokenRecord;
use crate::core::secret::SecretHash;

use super::group::Group;
use super::{Backend, db_err};

/// How the PostgreSQL connections of the refresh lane plan: once per
/// statement and connection (a generic plan, kept), and only with index
/// probes and nested loops. Every statement on the lane (reads, claims,
/// rotations: a batch as arrays joined to `refresh_tokens` by its primary
/// key, then to the family and user by theirs) is a key lookup, for which
/// that is the right plan at any table size. Left to itself PostgreSQL
/// chose, for a kept statement, a generic plan fitted to the table as it was
/// at the statement's sixth run; on a new database that was a sequential
/// scan and a hash join, which every later batch repeated against a table
/// that had grown (3,029 full scans of `refresh_tokens`, 39 million rows
/// read, in one 12-second benchmark). Planning every batch instead avoided
/// that but spent 40 % of PostgreSQL's CPU per refresh on parsing and
/// planning (profile in docs/PERFORMANCE.md). Set per connection, these
/// settings touch nothing outside the lane.
const LANE_PLANNING: [(&str, &str); 4] = [
    ("plan_cache_mode", "force_generic_plan"),
    ("enable_seqscan", "off"),
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
];

/// Workers of the claim and rotation groups on PostgreSQL: one batch
/// travels while the next gathers. (SQLite has one writer anyway.)
const PG_WORKERS: usize = 2;

/// Workers of the read group (`store::refresh`), on either database.
pub(crate) const FIND_WORKERS: usize = 2;

/// The PostgreSQL refresh lane's connections, besides the main pool: one
/// per worker of the claim, rotation and read groups.
const PG_LANE_CONNECTIONS: u32 = (2 * PG_WORKERS + FIND_WORKERS) as u32;

/// The most rotations one transaction carries. Past a few dozen a larger
/// batch saves nothing measurable and only lengthens the write lock's hold.
pub(crate) const MAX_BATCH: usize = 64;

/// Claims a token for rotation: only if unused, unexpired, and in a live
/// family. `$1` is now, `$2` the successor's hash, `$3` the presented token's
/// hash. (The batched statements below spell the same predicate per item.)
macro_rules! claim {
    () => {
        "UPDATE refresh_tokens SET used_at = $1, successor_hash = $2 \
         WHERE hash = $3 AND used_at IS NULL AND expires_at > $1 \
         AND EXISTS (SELECT 1 FROM refresh_families f \
                     WHERE f.id = refresh_tokens.family_id \
                     AND f.revoked_at IS NULL AND f.expires_at > $1)"
    };
}

/// One rotation on PostgreSQL: the claim, and the successor inserted into
/// the claimed token's family, as one statement. `$4` is the successor's
/// expiry.
const ROTATE_PG: &str = concat!(
    "WITH claimed AS (",
    claim!(),
    " RETURNING family_id) \
     INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
     SELECT $2, family_id, $1, $4, NULL, NULL FROM claimed"
);

/// One rotation on SQLite, a whole transaction in one text: the claim; the
/// successor, inserted only if the claim changed a row (`changes()` counts
/// the most recent `INSERT`/`UPDATE`/`DELETE`); then `SELECT changes()`,
/// which is 1 if the successor was inserted. (Summing rows affected would not
/// do: SQLite reports the last DML's count for `BEGIN` and `COMMIT` too.)
const ROTATE_SQLITE: &str = concat!(
    "BEGIN IMMEDIATE; ",
    claim!(),
    "; INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
     SELECT $2, family_id, $1, $4, NULL, NULL FROM refresh_tokens WHERE hash = $3 AND changes() = 1; \
     SELECT changes(); \
     COMMIT"
);

/// A batch on PostgreSQL, one statement whatever its size: the items come
/// as four arrays (presented hash, successor hash, successor expiry, now);
/// the claim's `RETURNING` feeds the successors' `INSERT`, and the claimed
/// hashes come back. Under READ COMMITTED a token claimed meanwhile by
/// another transaction is re-checked after its lock is released and no
/// longer matches `used_at IS NULL`, exactly as in the single statement.
const ROTATE_BATCH_PG: &str = "WITH b AS ( \
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) \
         AS b(used, succ, exp, now)), \
     claimed AS ( \
       UPDATE refresh_tokens t SET used_at = b.now, successor_hash = b.succ FROM b \
       WHERE t.hash = b.used AND t.used_at IS NULL AND t.expires_at > b.now \
       AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id \
                   AND f.revoked_at IS NULL AND f.expires_at > b.now) \
       RETURNING t.hash, t.family_id, b.succ, b.exp, b.now), \
     inserted AS ( \
       INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
       SELECT succ, family_id, now, exp, NULL, NULL FROM claimed) \
     SELECT hash FROM claimed";

/// A batch on SQLite, one text whatever its size (so one prepared statement
/// in the cache): `$1` is a JSON array of `[presented hash, successor hash,
/// successor expiry, now]`. SQLite has no DML in a CTE, so the successors
/// are inserted first, for exactly the tokens the claim will match (the same
/// predicate, in the same `IMMEDIATE` transaction: nothing changes in
/// between but those inserts), then the claim runs and returns what it
/// claimed. The `NOT IN` keeps a successor just inserted from being claimed
/// in the same batch as if it had been presented. `CROSS JOIN` makes the
/// batch the outer loop, so each item is one primary-key lookup whatever
/// the size of the table.
const ROTATE_BATCH_SQLITE: &str = "BEGIN IMMEDIATE; \
     INSERT INTO refresh_tokens (hash, family_id, issued_at, expires_at, used_at, successor_hash) \
       SELECT b.value ->> 1, t.family_id, b.value ->> 3, b.value ->> 2, NULL, NULL \
       FROM json_each($1) AS b CROSS JOIN refresh_tokens AS t \
       WHERE t.hash = b.value ->> 0 AND t.used_at IS NULL AND t.expires_at > b.value ->> 3 \
       AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = t.family_id \
                   AND f.revoked_at IS NULL AND f.expires_at > b.value ->> 3); \
     UPDATE refresh_tokens SET used_at = b.value ->> 3, successor_hash = b.value ->> 1 \
       FROM json_each($1) AS b \
       WHERE refresh_tokens.hash = b.value ->> 0 AND refresh_tokens.used_at IS NULL \
       AND refresh_tokens.expires_at > b.value ->> 3 \
       AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.id = refresh_tokens.family_id \
                   AND f.revoked_at IS NULL AND f.expires_at > b.value ->> 3) \
       AND refresh_tokens.hash NOT IN (SELECT value ->> 1 FROM json_each($1)) \
       RETURNING refresh_tokens.hash; \
     COMMIT";

/// One rotation to run.
#[derive(Debug, Clone)]
pub struct RotationItem {
    /// The presented token's hash.
    pub used: SecretHash,
    /// Its successor, to insert into the same family.
    pub successor: RefreshTokenRecord,
    pub now: UnixTime,
}

/// This process's rotation queue. Cheap to clone; the workers stop when the
/// last clone is dropped.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    group: Group<RotationItem, Result<bool>>,
}

impl GroupCommit {
    /// Starts the workers on the current tokio runtime: one on SQLite (it has
    /// one writer anyway), two on PostgreSQL (one batch can travel while the
    /// next one is gathered and sent).
    pub(crate) fn start(conn: &RefreshConn, gate: Arc<Mutex<()>>) -> GroupCommit {
        let workers = conn.writers();
        let backend = conn.clone();
        let group = Group::start(workers, MAX_BATCH, move |items: Vec<RotationItem>| {
            let (backend, gate) = (backend.clone(), gate.clone());
            async move { rotate_batch(&backend, &gate, &items).await }
        });
        GroupCommit { group }
    }

    /// Queues one rotation and waits for the commit of its batch.
    pub(crate) async fn rotate(&self, item: RotationItem) -> Result<bool> {
        self.group.call(item).await.unwrap_or_else(|| {
            Err(Error::TemporarilyUnavailable(
                "the store is shutting down".into(),
            ))
        })
    }
}

/// Rotates `items` as one transaction when there are several, and returns
/// one answer per item, in order: whether that item's token was claimed (and
/// its successor stored). What an item is told does not depend on its
/// batch-mates; see the module's documentation.
pub(crate) async fn rotate_batch(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    items: &[RotationItem],
) -> Vec<Result<bool>> {
    #[allow(clippy::cast_precision_loss)] // ok: a count, at most MAX_BATCH
    metrics::histogram!("latchkey_refresh_rotation_batch_size").record(items.len() as f64);
    let lead = leads(items, |i| i.used.as_str());
    let leaders: Vec<&RotationItem> = items
        .iter()
        .zip(&lead)
        .filter_map(|(i, l)| l.then_some(i))
        .collect();
    if leaders.len() == 1 {
        let mut out = Vec::with_capacity(items.len());
        for (item, l) in items.iter().zip(&lead) {
            out.push(if *l {
                rotate_one(backend, gate, item).await
            } else {
                Ok(false)
            });
        }
        return out;
    }
    match rotate_many(backend, gate, &leaders).await {
        Ok(claimed) => items
            .iter()
            .zip(&lead)
            .map(|(i, l)| Ok(*l && claimed.contains(i.used.as_str())))
            .collect(),
        Err(e) => after_failed_batch(e, items, |item| rotate_one(backend, gate, item)).await,
    }
}

/// Which items of a batch lead it: the first for each token (`key`). Later
/// ones for the same token are the same request again, which lost the race
/// to the first; they are not sent, and are told that it was not theirs.
pub(crate) fn leads<'a, T>(items: &'a [T], key: impl Fn(&'a T) -> &'a str) -> Vec<bool> {
    let mut seen = HashSet::new();
    items.iter().map(|i| seen.insert(key(i))).collect()
}

/// The answers to a batch whose transaction failed, so rolled back: nothing
/// of it happened. If the database is unreachable every item is told so
/// (503) rather than retried one by one; otherwise each item runs again
/// alone (`alone`), in order, so that the one that failed the batch fails by
/// itself and its batch-mates commit.
pub(crate) async fn after_failed_batch<'a, T, O, Fut>(
    e: sqlx::Error,
    items: &'a [T],
    alone: impl Fn(&'a T) -> Fut,
) -> Vec<Result<O>>
where
    Fut: Future<Output = Result<O>>,
{
    let mapped = db_err(e);
    if let Error::TemporarilyUnavailable(why) = &mapped {
        return items
            .iter()
            .map(|_| Err(Error::TemporarilyUnavailable(why.clone())))
            .collect();
    }
    metrics::counter!("latchkey_refresh_rotation_batches_split_total").increment(1);
    tracing::debug!(error = %mapped, "a refresh batch failed; running its items one by one");
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(alone(item).await);
    }
    out
}

/// One rotation in a transaction of its own.
pub(crate) async fn rotate_one(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    item: &RotationItem,
) -> Result<bool> {
    let r: Result<bool, sqlx::Error> = match backend {
        // One statement: a data-modifying CTE claims the token and the
        // INSERT takes its family from what the claim returned; nothing
        // claimed, nothing inserted. One round trip, atomic on its own.
        RefreshConn::Postgres(pool) => sqlx::query(ROTATE_PG)
            .bind(item.now)
            .bind(item.successor.hash.as_str())
            .bind(item.used.as_str())
            .bind(item.successor.expires_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected() == 1),
        // SQLite has no DML in CTEs: the whole transaction (BEGIN
        // IMMEDIATE, claim, insert, COMMIT) travels to the connection's
        // thread as one call, instead of one call per statement.
        RefreshConn::Sqlite(lane) => {
            async {
                let (mut conn, _turn) = lane.turn(gate).await?;
                let inserted: Vec<i64> = sqlx::query_scalar(ROTATE_SQLITE)
                    .bind(item.now)
                    .bind(item.successor.hash.as_str())
                    .bind(item.used.as_str())
                    .bind(item.successor.expires_at)
                    .fetch_all(conn.conn()?)
                    .await?;
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

/// Several rotations (distinct presented tokens) in one transaction.
/// Returns the presented hashes that were claimed; an error means nothing
/// was (the transaction rolled back).
pub(crate) async fn rotate_many(
    backend: &RefreshConn,
    gate: &Mutex<()>,
    items: &[&RotationItem],
) -> Result<HashSet<String>, sqlx::Error> {
    let claimed: Vec<String> = match backend {
        RefreshConn::Postgres(pool) => rotate_many_pg(pool, items).await?,
        RefreshConn::Sqlite(lane) => {
            let items = items.iter().map(|i| {
                serde_json::json!([
                    i.used.as_str(),
                    i.successor.hash.as_str(),
                    i.successor.expires_at,
                    i.now
                ])
            });
            let rows = lane.write_batch(gate, ROTATE_BATCH_SQLITE, items).await?;
            rows.iter()
                .map(|r| sqlx::Row::try_get::<String, _>(r, 0))
                .collect::<Result<_, _>>()?
        }
    };
    Ok(claimed.into_iter().collect())
}

async fn rotate_many_pg(
    pool: &PgPool,
    items: &[&RotationItem],
) -> Result<Vec<String>, sqlx::Error> {
    let used: Vec<&str> = items.iter().map(|i| i.used.as_str()).collect();
    let succ: Vec<&str> = items.iter().map(|i| i.successor.hash.as_str()).collect();
    let exp: Vec<i64> = items.iter().map(|i| i.successor.expires_at).collect();
    let now: Vec<i64> = items.iter().map(|i| i.now).collect();
    sqlx::query_scalar(ROTATE_BATCH_PG)
        .bind(used)
        .bind(succ)
        .bind(exp)
        .bind(now)
        .fetch_all(pool)
        .await
}

/// The connections refresh reads and rotations run on. On SQLite that is one
/// connection of its own (outside the pool), shared by the find and the
/// rotation workers: a SQLite connection discards its page cache whenever
/// another connection has written, so with reads on one pooled connection
/// and writes on another every read started cold and re-read its pages from
/// the file (`pread` was 7 % of the server's CPU under refresh load). On one
/// connection the writer's own commits keep its cache valid.
#[derive(Debug, Clone)]
pub(crate) enum RefreshConn {
    Sqlite(Arc<Lane>),
    Postgres(PgPool),
}

impl RefreshConn {
    /// Workers of a group that writes (claims, rotations).
    pub(crate) fn writers(&self) -> usize {
        match self {
            RefreshConn::Sqlite(_) => 1,
            RefreshConn::Postgres(_) => PG_WORKERS,
        }
    }

    pub(crate) fn new(backend: &Backend) -> RefreshConn {
        match backend {
            Backend::Sqlite(pool) => RefreshConn::Sqlite(Arc::new(Lane {
                pool: pool.clone(),
                conn: Mutex::new(None),
            })),
            Backend::Postgres(pool) => {
                let opts = (*pool.connect_options()).clone().options(LANE_PLANNING);
                RefreshConn::Postgres(
                    super::pg_pool_options(
                        PG_LANE_CONNECTIONS,
                        pool.options().get_acquire_timeout(),
                    )
                    .connect_lazy_with(opts),
                )
            }
        }
    }
}

/// The lane connection's page cache: 16 MiB (negative = KiB).
const LANE_CACHE: &str = "PRAGMA cache_size = -16384";

/// One SQLite connection, opened on first use with the pool's options and
/// reopened after a failure.
#[derive(Debug)]
pub(crate) struct Lane {
    pool: SqlitePool,
    conn: Mutex<Option<sqlx::SqliteConnection>>,
}

impl Lane {
    /// Runs a batch text under this process's write turn and returns its
    /// rows: `sql`'s one parameter is the batch, a JSON array with one array
    /// per item (`json_each` on the SQLite side; one prepared statement
    /// whatever the batch's size).
    pub(crate) async fn write_batch(
        &self,
        gate: &Mutex<()>,
        sql: &'static str,
        items: impl Iterator<Item = serde_json::Value>,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, sqlx::Error> {
        let json = serde_json::Value::Array(items.collect()).to_string();
        let (mut conn, _turn) = self.turn(gate).await?;
        let rows = sqlx::query(sql).bind(json).fetch_all(conn.conn()?).await?;
        conn.done();
        Ok(rows)
    }

    /// The connection, for reads.
    pub(crate) async fn lock(&self) -> Result<LaneGuard<'_>, sqlx::Error> {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            let mut opened = sqlx::ConnectOptions::connect(&*self.pool.connect_options()).await?;
            // Every refresh probes two random index pages (the token's hash,
            // its family); on a large database a bigger cache than the
            // default 2 MiB keeps the upper levels of those indexes and more
            // of their leaves. Memory is taken only as pages are used.
            sqlx::query(LANE_CACHE).execute(&mut opened).await?;
            *conn = Some(opened);
        }
        Ok(LaneGuard { conn, done: false })
    }

    /// The connection and this process's write turn
    /// ([`super::Store::sqlite_write_gate`]), for a write. The connection
    /// first, then the turn: waiting for the connection while holding the
    /// turn would stall every other writer.
    pub(crate) async fn turn<'g>(
        &self,
        gate: &'g Mutex<()>,
    ) -> Result<(LaneGuard<'_>, tokio::sync::MutexGuard<'g, ()>), sqlx::Error> {
        let conn = self.lock().await?;
        Ok((conn, gate.lock().await))
    }
}

/// The lane's connection, kept only if `done` is called; otherwise (an
/// error, or the future dropped mid-way) it is closed, which rolls back a
/// transaction its statements left open, and the next use opens a new one.
pub(crate) struct LaneGuard<'a> {
    conn: tokio::sync::MutexGuard<'a, Option<sqlx::SqliteConnection>>,
    done: bool,
}

impl LaneGuard<'_> {
    pub(crate) fn conn(&mut self) -> Result<&mut sqlx::SqliteConnection, sqlx::Error> {
        self.conn.as_mut().ok_or(sqlx::Error::PoolClosed)
    }

    pub(crate) fn done(mut self) {
        self.done = true;
    }
}

impl Drop for LaneGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            // Dropping the connection closes it.
            self.conn.take();
        }
    }
}

pub(crate) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

#[cfg(test)]
mod tests {
    use sqlx::Executor as _;

    use super::*;

    /// The plans the PostgreSQL lane keeps for its batch statements probe
    /// indexes even on a new database, where `refresh_tokens` is empty and
    /// was never analyzed: the state in which PostgreSQL's own choice of a
    /// kept plan was a sequential scan and a hash join.
    #[tokio::test]
    async fn the_postgres_lane_keeps_index_plans_on_a_new_database() {
        let Ok(base) = std::env::var("LATCHKEY_TEST_POSTGRES_URL") else {
            assert_ne!(
                std::env::var("LATCHKEY_REQUIRE_POSTGRES").as_deref(),
                Ok("1"),
                "LATCHKEY_REQUIRE_POSTGRES=1 but LATCHKEY_TEST_POSTGRES_URL is unset"
            );
            return;
        };
        let schema = format!("lk_lane_{}", uuid::Uuid::new_v4().simple());
        let admin = sqlx::PgPool::connect(&base).await.unwrap();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let settings = crate::config::Settings {
            database_url: format!("{base}{sep}options=-csearch_path%3D{schema}"),
            ..crate::config::Settings::default()
        };
        let store = super::super::Store::connect(&settings).await.unwrap();
        store.migrate().await.unwrap();
        let RefreshConn::Postgres(lane) = &store.refresh_conn else {
            panic!("a PostgreSQL store has a PostgreSQL lane");
        };
        let mut conn = lane.acquire().await.unwrap();
        let statements = [
            (
                "claim",
                super::super::claim::CLAIM_BATCH_PG,
                "'{a}', '{b}', '{1}', '{2}', '{c}', '{NULL}'",
            ),
            ("rotate", ROTATE_BATCH_PG, "'{a}', '{b}', '{2}', '{1}'"),
            ("find", super::super::refresh::FIND_MANY_PG, "'{a}'"),
        ];
        for (name, sql, args) in statements {
            conn.execute(sqlx::AssertSqlSafe(format!("PREPARE {name} AS {sql}")))
                .await
                .unwrap();
            let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "EXPLAIN EXECUTE {name}({args})"
            )))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            let plan = plan.join("\n");
            assert!(
                plan.contains("Index Scan using refresh_tokens_pkey")
                    || plan.contains("Bitmap Index Scan on refresh_tokens_pkey")
                        && !plan.contains("Seq Scan on refresh_tokens")
                        && !plan.contains("Hash Join"),
                "{name}: the lane's plan must probe refresh_tokens by its key:\n{plan}"
            );
        }
        drop(conn);
        drop(store);
        admin
            .execute(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .await
            .unwrap();
    }
}
