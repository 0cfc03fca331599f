//! The outbox: durable side effects (e-mails, back-channel logout
//! notifications) as rows written in the same transaction as the change that
//! causes them, and delivered afterwards by a worker in every process.
//!
//! Why a table and not a send in the request: the request's answer and its
//! timing must not depend on a mail server or a client's endpoint (no user
//! enumeration through timing, no request hanging on a dead receiver), and a
//! crash between the change and the send must lose nothing. This is the
//! transactional-outbox pattern.
//!
//! How a message moves:
//!
//! ```text
//!  enqueue (in the cause's transaction)
//!     │  next_attempt_at = now
//!     ▼
//!  claim: a worker leases due rows (leased_until = now + lease, attempts + 1)
//!     │  PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer at a time
//!     ▼
//!  deliver (outside any transaction, bounded in time by the deliverer)
//!     ├─ Delivered  ─▶ complete: done_at = now
//!     ├─ Retry(why) ─▶ retry_later: next_attempt_at = now + backoff(attempts),
//!     │                 lease cleared; past expires_at ─▶ give_up
//!     └─ Permanent  ─▶ give_up: done_at = now, last_error = why
//! ```
//!
//! Two processes never deliver one row at once: a claim is one conditional
//! statement over rows whose lease has passed, so of two claimers one gets
//! the row. The lease (`outbox_lease_seconds`, 120 s) is far longer than any
//! deliverer's own timeout, so a row is claimed again only when the process
//! that held it died: delivery is at least once, and exactly once whenever
//! the worker that claimed a row lives to record the outcome.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::clock::{SharedClock, UnixTime};
use super::error::Result;

/// How long a claimed row stays with its worker. Every deliverer bounds its
/// own work far below this (seconds), so the lease only matters when a
/// process dies holding rows.
pub const OUTBOX_LEASE_SECONDS: i64 = 120;

/// The kind of a message: which deliverer takes it. A short, stable string
/// stored in the row (`email`, `backchannel_logout`).
pub type Kind = &'static str;

/// A message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    pub id: String,
    pub kind: String,
    /// What the deliverer needs, as JSON. Never a secret that could be
    /// derived later instead: the row outlives the request. (An e-mail's link
    /// is the exception: it is the message.)
    pub payload: String,
    pub created_at: UnixTime,
    /// Delivery is abandoned after this moment (a logout notification an hour
    /// late is useless; a verification e-mail a day late is, too).
    pub expires_at: UnixTime,
}

impl NewMessage {
    /// A message due at once, to be given up `lifetime_seconds` from `now`.
    pub fn new(
        kind: Kind,
        payload: impl Into<String>,
        now: UnixTime,
        lifetime_seconds: i64,
    ) -> Result<NewMessage> {
        Ok(NewMessage {
            id: super::secret::random_id(16)?,
            kind: kind.to_owned(),
            payload: payload.into(),
            created_at: now,
            expires_at: now.saturating_add(lifetime_seconds),
        })
    }
}

/// A claimed message, as the worker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Including the attempt this claim is for (1 on the first).
    pub attempts: i64,
}

/// What became of a message (for tests and operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageState {
    pub id: String,
    pub kind: String,
    pub attempts: i64,
    pub done_at: Option<UnixTime>,
    pub delivered: bool,
    pub last_error: Option<String>,
}

/// Storage of the outbox (`outbox` table).
///
/// Contract: a row handed out by `claim_outbox` is handed out again only
/// after its lease has passed or its holder released it; `complete`,
/// `retry_later` and `give_up` change a row only while the caller's lease
/// (`owner`) still holds it.
pub trait OutboxStore: Send + Sync {
    /// Stores messages outside any other transaction. (Flows whose change
    /// must commit together with the message use the store's transaction
    /// helper, `store::OutboxTx`.)
    fn enqueue(&self, messages: &[NewMessage]) -> impl Future<Output = Result<()>> + Send;

    /// Leases up to `limit` due messages (not done, `next_attempt_at <= now`,
    /// not leased or lease passed) to `owner` until `now + lease_seconds`,
    /// counting an attempt on each.
    fn claim_outbox(
        &self,
        owner: &str,
        now: UnixTime,
        lease_seconds: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Message>>> + Send;

    /// Marks a message delivered.
    fn complete_outbox(
        &self,
        id: &str,
        owner: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Releases a message to be tried again at `next_attempt_at`.
    fn retry_outbox(
        &self,
        id: &str,
        owner: &str,
        next_attempt_at: UnixTime,
        error: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Marks a message abandoned (a permanent failure, or expired).
    fn give_up_outbox(
        &self,
        id: &str,
        owner: &str,
        now: UnixTime,
        error: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Every message of `kind`, oldest first (tests, `latchkey` operators).
    fn list_outbox(&self, kind: &str) -> impl Future<Output = Result<Vec<MessageState>>> + Send;

    /// Deletes messages done before `before` (`core::housekeeping`).
    fn purge_outbox(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Delivered,
    /// A transient failure (connection refused, timeout, 5xx): try again
    /// later. The text is logged and kept on the row; it must carry no secret.
    Retry(String),
    /// The message can never be delivered (malformed payload, a receiver
    /// that refuses it for good).
    Permanent(String),
}

/// The future a deliverer returns.
pub type DeliveryFuture<'a> = Pin<Box<dyn Future<Output = Delivery> + Send + 'a>>;

/// Delivers the messages of one kind. Implementations bound their own time
/// (connect and total timeouts well under `OUTBOX_LEASE_SECONDS`) and size,
/// and follow no redirects.
pub trait Deliverer: Send + Sync + 'static {
    fn kind(&self) -> Kind;
    fn deliver<'a>(&'a self, message: &'a Message) -> DeliveryFuture<'a>;
}

/// When to try again after `attempts` failed attempts: 2^(attempts-1)
/// seconds, so 1, 2, 4, … capped at five minutes; an hour of retries is
/// about sixteen attempts.
pub fn backoff_seconds(attempts: i64) -> i64 {
    let exp = attempts.saturating_sub(1).clamp(0, 16) as u32;
    (1i64 << exp).min(300)
}

/// The worker's configuration.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How often the worker looks for due rows when nothing woke it.
    pub poll_interval: Duration,
    /// Rows claimed per round (and so deliveries in flight at most).
    pub batch: i64,
    /// Seconds a claimed row stays this worker's (`outbox_lease_seconds`).
    pub lease_seconds: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            poll_interval: Duration::from_secs(1),
            batch: 16,
            lease_seconds: OUTBOX_LEASE_SECONDS,
        }
    }
}

/// The outbox worker of one process: claims due rows, hands each to the
/// deliverer of its kind, records the outcome. Cheap to clone; [`Worker::wake`]
/// lets a flow that just enqueued skip the poll interval.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

struct WorkerInner {
    owner: String,
    clock: SharedClock,
    config: WorkerConfig,
    deliverers: HashMap<&'static str, Arc<dyn Deliverer>>,
    wake: Signal,
}

/// Wakes the worker of this process: flows call [`Signal::wake`] after
/// committing a message, so that it goes out without waiting for the poll.
/// (Other processes find it at their next poll.)
#[derive(Debug, Clone, Default)]
pub struct Signal(Arc<tokio::sync::Notify>);

impl Signal {
    pub fn wake(&self) {
        self.0.notify_one();
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("owner", &self.inner.owner)
            .field("kinds", &self.inner.deliverers.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Worker {
    pub fn new(
        clock: SharedClock,
        config: WorkerConfig,
        wake: Signal,
        deliverers: Vec<Arc<dyn Deliverer>>,
    ) -> Result<Worker> {
        Ok(Worker {
            inner: Arc::new(WorkerInner {
                // Unique per process (and per worker), so leases tell holders apart.
                owner: super::secret::random_id(12)?,
                clock,
                config,
                deliverers: deliverers.into_iter().map(|d| (d.kind(), d)).collect(),
                wake,
            }),
        })
    }

    /// Asks the worker to look for due rows now.
    pub fn wake(&self) {
        self.inner.wake.wake();
    }

    /// Runs forever: a round, then waits for a wake-up or the poll interval.
    pub async fn run<S: OutboxStore>(self, store: S) {
        loop {
            match self.round(&store).await {
                // A full batch: there may be more due rows right away.
                Ok(n) if n as i64 >= self.inner.config.batch => continue,
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "outbox round failed; retrying"),
            }
            let _ = tokio::time::timeout(
                self.inner.config.poll_interval,
                self.inner.wake.0.notified(),
            )
            .await;
        }
    }

    /// One round: claims due rows and delivers them concurrently (at most
    /// `batch` at once). Returns how many rows it claimed.
    pub async fn round<S: OutboxStore>(&self, store: &S) -> Result<usize> {
        let inner = &self.inner;
        let now = inner.clock.now();
        let claimed = store
            .claim_outbox(
                &inner.owner,
                now,
                inner.config.lease_seconds,
                inner.config.batch,
            )
            .await?;
        let n = claimed.len();
        let results =
            futures_util::future::join_all(claimed.iter().map(|m| self.attempt(store, m))).await;
        for r in results {
            if let Err(e) = r {
                tracing::warn!(error = %e, "recording an outbox outcome failed");
            }
        }
        Ok(n)
    }

    async fn attempt<S: OutboxStore>(&self, store: &S, m: &Message) -> Result<()> {
        let inner = &self.inner;
        let outcome = match inner.deliverers.get(m.kind.as_str()) {
            Some(d) => d.deliver(m).await,
            // Another process (a newer version) may know this kind: leave it.
            None => Delivery::Retry(format!("no deliverer for kind {}", m.kind)),
        };
        let now = inner.clock.now();
        match outcome {
            Delivery::Delivered => {
                tracing::debug!(id = %m.id, kind = %m.kind, "outbox message delivered");
                store.complete_outbox(&m.id, &inner.owner, now).await
            }
            Delivery::Permanent(why) => {
                tracing::warn!(id = %m.id, kind = %m.kind, error = %why, "outbox message refused for good");
                store.give_up_outbox(&m.id, &inner.owner, now, &why).await
            }
            Delivery::Retry(why) => {
                let next = now + backoff_seconds(m.attempts);
                if next > m.expires_at {
                    tracing::warn!(id = %m.id, kind = %m.kind, error = %why, attempts = m.attempts, "outbox message expired undelivered");
                    store.give_up_outbox(&m.id, &inner.owner, now, &why).await
                } else {
                    tracing::info!(id = %m.id, kind = %m.kind, error = %why, attempts = m.attempts, "outbox delivery failed; will retry");
                    store.retry_outbox(&m.id, &inner.owner, next, &why).await
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff_seconds(1), 1);
        assert_eq!(backoff_seconds(2), 2);
        assert_eq!(backoff_seconds(5), 16);
        assert_eq!(backoff_seconds(10), 300);
        assert_eq!(backoff_seconds(1000), 300);
        assert_eq!(backoff_seconds(0), 1);
    }
}
