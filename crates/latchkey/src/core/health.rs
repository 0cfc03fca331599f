//! What the probes and the metrics scrape ask of the process: whether the
//! database answers, and how the connection pool is used.

use std::future::Future;
use std::time::Duration;

use super::Authority;
use super::error::Result;

/// How long a readiness probe waits for the database: a load balancer's
/// probe gives up after a few seconds, and a database that takes longer is
/// as good as away.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// A snapshot of the connection pool.
#[derive(Debug, Clone, Copy)]
pub struct PoolStats {
    /// Open connections, idle or in use.
    pub size: u32,
    pub idle: u32,
    pub max: u32,
}

/// The storage's own health.
///
/// Contract: `ping` is one cheap round trip to the database; `pool_stats`
/// reads counters in memory and never waits.
pub trait HealthStore: Send + Sync {
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;
    fn pool_stats(&self) -> PoolStats;
}

/// Whether the process can do its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    Ready,
    /// The database did not answer within two seconds.
    DatabaseUnreachable,
}

/// Readiness: the database answers within [`READY_TIMEOUT`].
pub async fn readiness<S: HealthStore>(auth: &Authority<S>) -> Readiness {
    match tokio::time::timeout(READY_TIMEOUT, auth.store.ping()).await {
        Ok(Ok(())) => Readiness::Ready,
        _ => Readiness::DatabaseUnreachable,
    }
}

/// The connection pool's use, for the metrics scrape.
pub fn pool_stats<S: HealthStore>(auth: &Authority<S>) -> PoolStats {
    auth.store.pool_stats()
}
