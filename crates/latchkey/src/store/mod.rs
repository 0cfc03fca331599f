//! Storage on SQLite (embedded default) and PostgreSQL (production), behind the
//! domain's store traits.
//!
//! Both backends run the same SQL text: the schema and the queries are written
//! in the common subset of the two dialects (`$1` placeholders, `RETURNING`,
//! `ON CONFLICT`, partial indexes, `BIGINT` Unix seconds, `TEXT`, `BOOLEAN`).
//! [`on_pool!`] expands one query body for each pool type, so a query is written
//! once and type-checked against both drivers.
//!
//! **Invariant:** every timestamp is bound from the domain's clock; no query
//! calls the database's `now()`.

mod accounts;
mod audit;
mod browser;
mod bulk;
mod claim;
mod clients;
mod deny_list;
mod device;
mod dpop;
mod group;
mod keys;
mod mfa;
mod outbox;
mod par;
mod passkeys;
mod ratelimit;
mod refresh;
mod registration;
mod rotation;
mod secrets;
mod users;

pub use bulk::BulkToken;
pub use deny_list::DenyListTx;
pub use outbox::OutboxTx;
pub use refresh::RefreshTx;
pub use rotation::RotationItem;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::config::Settings;
use crate::core::error::Error;
use crate::core::health::{HealthStore, PoolStats};

/// A PostgreSQL connection idle longer than this is pinged before use.
const IDLE_PING_AFTER: Duration = Duration::from_secs(5);

/// A PostgreSQL pool of at most `max` connections (the main pool, and the
/// refresh lane's in `store::rotation`).
pub(crate) fn pg_pool_options(max: u32, acquire: Duration) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire)
        // A connection that the server dropped (failover, restart) is
        // noticed before use rather than failing a request. Only one that
        // sat idle is pinged: sqlx's `test_before_acquire` pings before every
        // use, a round trip per query that doubled the round trips of a
        // refresh; connections in steady use fail loudly and are replaced.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > IDLE_PING_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

/// The migrations, shared by both backends.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Migrations whose comments were reworded after release, with the SHA-384
/// checksum of their earlier text (`Store::accept_reworded_migrations`):
/// 0003 and 0007 cited sections of a document outside the repository.
const REWORDED_MIGRATIONS: [(i64, &str); 2] = [
    (
        3,
        "0a016abb5a71aaf769c809d8f1cf51068859656e6ffa946420b9c50ae3237fbb908c1ca9a98d342a544ad29cd28e52ca",
    ),
    (
        7,
        "247f623cb5fc05c41d1f3525d0b3c300d4c47e7f9e817735f50697fd4b11c8cd3d4737eaa36c46004bd7bb404beb6d0d",
    ),
];

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the database; cheap to clone (it is a pool).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) backend: Backend,
    /// SQLite only: this process's write transactions take turns here before
    /// `BEGIN IMMEDIATE`. Correctness does not depend on it (SQLite's write
    /// lock does that, across processes too); it spares writers of one
    /// process from contending inside SQLite, whose busy handler sleeps in
    /// steps of milliseconds, which would otherwise set the tail latency of
    /// every refresh. Never nest two `in_tx!` on one store.
    pub(crate) sqlite_write_gate: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Where refresh reads and rotations run (`store::rotation::RefreshConn`).
    pub(crate) refresh_conn: rotation::RefreshConn,
    /// This process's refresh-rotation queue (group commit, `store::rotation`).
    pub(crate) rotations: rotation::GroupCommit,
    /// This process's queue of refresh-token reads (`store::refresh`).
    pub(crate) finds: refresh::FindGroup,
    /// This process's queue of refresh claims, read and rotation in one
    /// step (`store::claim`).
    pub(crate) claims: claim::ClaimGroup,
}

/// Runs `$body` with `$pool` bound to the concrete pool of the backend. The body
/// is compiled once per backend, so the same query text serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => $body,
            $crate::store::Backend::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// Deletes in batches until a batch comes back short. `sql` is
/// `DELETE … WHERE key IN (SELECT key … WHERE <condition on $1> LIMIT $2)`:
/// short statements, so that a purge never holds SQLite's write lock (or
/// many PostgreSQL row locks) for long, and processes purging at once share
/// the work. Returns how many rows went.
///
/// On SQLite each batch takes this process's write turn like any other
/// writer, so a rotation waits behind at most one batch (FIFO) instead of
/// sleeping in SQLite's busy handler. Batches are small there and paced:
/// on a million-row database each deleted token touches two random index
/// pages that are rarely cached, so a batch of 250 held the write lock for
/// ≈ 25 ms and refreshes queued behind batch after batch (p99 212 ms,
/// 280/s, while the purge ran). A batch of 64 holds it a few milliseconds,
/// and after each batch the purge waits as long as the batch took, so that
/// it never holds the write turn more than half of the time.
pub(crate) async fn purge_in_batches(
    store: &Store,
    sql: &'static str,
    bound: crate::core::clock::UnixTime,
) -> Result<u64, Error> {
    let batch: i64 = match store.backend {
        Backend::Sqlite(_) => SQLITE_PURGE_BATCH,
        Backend::Postgres(_) => POSTGRES_PURGE_BATCH,
    };
    let mut total = 0;
    loop {
        let started = std::time::Instant::now();
        let n = match &store.backend {
            Backend::Sqlite(pool) => {
                async {
                    let mut conn = pool.acquire().await?;
                    let _turn = store.sqlite_write_gate.lock().await;
                    sqlx::query(sql)
                        .bind(bound)
                        .bind(batch)
                        .execute(&mut *conn)
                        .await
                        .map(|r| r.rows_affected())
                }
                .await
            }
            Backend::Postgres(pool) => sqlx::query(sql)
                .bind(bound)
                .bind(batch)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        }
        .map_err(db_err)?;
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
        if matches!(store.backend, Backend::Sqlite(_)) {
            tokio::time::sleep(started.elapsed()).await;
        }
    }
}

/// Rows per purge statement on SQLite (see [`purge_in_batches`]).
const SQLITE_PURGE_BATCH: i64 = 64;
/// Rows per purge statement on PostgreSQL, where a purge locks only the rows
/// it deletes.
const POSTGRES_PURGE_BATCH: i64 = 1000;

/// Runs `$body` inside a write transaction `$tx`; commits if the body yields
/// `Ok`, rolls back (by dropping the transaction) if it yields `Err`. Use it in a
/// function or block whose error type converts from `sqlx::Error`.
///
/// SQLite transactions start with `BEGIN IMMEDIATE`, taking the write lock up
/// front: a deferred transaction that reads and then writes can fail with
/// `SQLITE_BUSY` when another writer committed in between, and no busy timeout
/// helps that case.
macro_rules! in_tx {
    ($store:expr, $tx:ident => $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite(pool) => {
                // The connection first, then the turn: waiting for a
                // connection while holding the turn stalls every writer.
                let mut conn = pool.acquire().await?;
                let _turn = $store.sqlite_write_gate.lock().await;
                #[allow(unused_mut)]
                let mut $tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
            $crate::store::Backend::Postgres(pool) => {
                #[allow(unused_mut)]
                let mut $tx = pool.begin().await?;
                let out = $body;
                if out.is_ok() {
                    $tx.commit().await?;
                }
                out
            }
        }
    };
}
pub(crate) use in_tx;

/// Maps a driver error to the domain: a database that cannot be reached (or is
/// too busy to answer in time) is `temporarily_unavailable`, answered with 503;
/// anything else is an internal error whose cause is logged, not sent.
pub(crate) fn db_err(e: sqlx::Error) -> Error {
    let unavailable = || Error::TemporarilyUnavailable("the database is unavailable".into());
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => unavailable(),
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            // PostgreSQL: class 08 (connection), 57P0x (shutdown), 53 (resources).
            // SQLite: 5 SQLITE_BUSY, 6 SQLITE_LOCKED once the busy timeout ran out.
            // PostgreSQL 22021: a NUL in a text value (from an HTTP Basic
            // client id, say). Malformed input, not a server fault.
            if code == "22021" {
                return Error::invalid_request("the request contains a NUL character");
            }
            if code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || code == "5"
                || code == "6"
            {
                unavailable()
            } else {
                Error::internal(format!("database: {e}"))
            }
        }
        _ => Error::internal(format!("database: {e}")),
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        db_err(e)
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

impl Store {
    /// Wraps a pool and starts this process's rotation workers (on the
    /// current tokio runtime).
    fn new(backend: Backend) -> Store {
        let sqlite_write_gate = std::sync::Arc::<tokio::sync::Mutex<()>>::default();
        let refresh_conn = rotation::RefreshConn::new(&backend);
        let rotations = rotation::GroupCommit::start(&refresh_conn, sqlite_write_gate.clone());
        let finds = refresh::start_find_group(&refresh_conn);
        let claims = claim::start(&refresh_conn, sqlite_write_gate.clone());
        Store {
            backend,
            sqlite_write_gate,
            refresh_conn,
            rotations,
            finds,
            claims,
        }
    }

    /// Connects to the database the URL names: `sqlite:` or `postgres:`.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Store> {
        let url = settings.database_url.as_str();
        let acquire = Duration::from_secs(settings.database_acquire_timeout_seconds);
        if url.starts_with("sqlite:") {
            // WAL lets readers proceed while one writer commits. synchronous=NORMAL
            // keeps every commit across a process crash (only an OS crash or power
            // loss can lose the last ones) and nearly doubles write throughput; see
            // ARCHITECTURE.md.
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(if settings.sqlite_synchronous_full {
                    SqliteSynchronous::Full
                } else {
                    SqliteSynchronous::Normal
                })
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.database_max_connections.max(1))
                .min_connections(1)
                // A file has no peer to hang up: pinging before every use
                // would only add a trip to the connection's thread.
                .test_before_acquire(false)
                .acquire_timeout(acquire)
                .connect_with(opts)
                .await?;
            Ok(Store::new(Backend::Sqlite(pool)))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let mut opts = PgConnectOptions::from_str(url)?.application_name("latchkey");
            if settings.database_statement_timeout_seconds > 0 {
                // Bounded statements: a query stuck behind a lock or a failing
                // disk is cancelled by the server and answered 503.
                opts = opts.options([(
                    "statement_timeout",
                    format!("{}s", settings.database_statement_timeout_seconds),
                )]);
            }
            let pool = pg_pool_options(settings.database_max_connections.max(1), acquire)
                .connect_with(opts)
                .await?;
            Ok(Store::new(Backend::Postgres(pool)))
        } else {
            anyhow::bail!("database_url must start with sqlite: or postgres:, got {url:?}")
        }
    }

    /// Applies any pending migration. Safe to run from several processes at once:
    /// sqlx takes a database lock around the migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.accept_reworded_migrations().await?;
        on_pool!(self, pool => MIGRATOR.run(pool).await)?;
        Ok(())
    }

    /// sqlx refuses a database on which an applied migration's file has
    /// changed (it compares checksums of the whole text). Where only a
    /// migration's comments were reworded ([`REWORDED_MIGRATIONS`]), a
    /// database that applied the earlier text is told the new checksum: only
    /// a row holding exactly the earlier checksum is changed, so any other
    /// difference is still refused.
    async fn accept_reworded_migrations(&self) -> anyhow::Result<()> {
        let applied = match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await?,
            Backend::Postgres(pool) => sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM pg_tables \
                 WHERE schemaname = current_schema() AND tablename = '_sqlx_migrations'",
            )
            .fetch_one(pool)
            .await?,
        };
        if applied == 0 {
            return Ok(());
        }
        for (version, earlier) in REWORDED_MIGRATIONS {
            let earlier = (0..earlier.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&earlier[i..i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()?;
            let Some(now) = MIGRATOR.iter().find(|m| m.version == version) else {
                continue;
            };
            let now = now.checksum.to_vec();
            const SQL: &str =
                "UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2 AND checksum = $3";
            on_pool!(self, pool => sqlx::query(SQL)
                .bind(now)
                .bind(version)
                .bind(earlier)
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Which backend this is, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await)
    }
}

/// The database's health, for the probes and the metrics scrape.
impl HealthStore for Store {
    /// A cheap round trip.
    async fn ping(&self) -> Result<(), Error> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))
            .map_err(db_err)
    }

    fn pool_stats(&self) -> PoolStats {
        on_pool!(self, pool => PoolStats {
            size: pool.size(),
            idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            max: pool.options().get_max_connections(),
        })
    }
}

/// Lists stored as JSON arrays of strings in a `TEXT` column.
pub(crate) fn list_to_text(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".to_owned())
}

pub(crate) fn text_to_list(text: &str) -> Result<Vec<String>, Error> {
    serde_json::from_str(text).map_err(|e| Error::internal(format!("corrupt list column: {e}")))
}
