//! Bounded staleness for the in-memory mirrors of shared tables (registered
//! clients, the access-token deny list): each mirror is checked against a
//! generation counter in the database that every writer bumps in the same
//! transaction as its change.
//!
//! Before a mirror is used, the counter is re-read if it was last read more
//! than `revalidate_ms` ago. Under load that is one tiny read every few
//! milliseconds for the whole process instead of one query per request; a
//! change made by another process is seen within `revalidate_ms`.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use super::error::Result;

/// The last generation a mirror was validated against.
pub struct Generation {
    /// `i64::MIN` until the first read: nothing validated yet.
    value: AtomicI64,
    /// Milliseconds since `epoch` at the last read of the counter.
    checked_ms: AtomicU64,
    checking: AtomicBool,
    epoch: Instant,
    revalidate_ms: u64,
}

/// What [`Generation::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The mirror is as fresh as the bound promises.
    Fresh,
    /// The counter moved (or was read for the first time): rebuild or empty
    /// the mirror before using it.
    Changed,
}

const UNKNOWN: i64 = i64::MIN;

impl Generation {
    pub fn new(revalidate_ms: u64) -> Self {
        Generation {
            value: AtomicI64::new(UNKNOWN),
            checked_ms: AtomicU64::new(0),
            checking: AtomicBool::new(false),
            epoch: Instant::now(),
            revalidate_ms,
        }
    }

    /// Re-reads the counter with `read` when due. One caller at a time
    /// re-reads; the others go on with the mirror, which is then at most
    /// `revalidate_ms` old — except before the first read, when nobody may
    /// trust the mirror and every caller reads the counter itself.
    pub async fn check<F, Fut>(&self, read: F) -> Result<Freshness>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64>>,
    {
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let last = self.checked_ms.load(Ordering::Acquire);
        let unknown = self.value.load(Ordering::Acquire) == UNKNOWN;
        let due = unknown || now_ms.saturating_sub(last) >= self.revalidate_ms;
        if !due {
            return Ok(Freshness::Fresh);
        }
        if self.checking.swap(true, Ordering::AcqRel) {
            return if unknown {
                self.reread(read, now_ms).await
            } else {
                Ok(Freshness::Fresh)
            };
        }
        // Reset the flag even if this future is dropped mid-read (a client
        // that disconnects): a flag stuck at `true` would stop every later
        // re-read and leave the mirror stale for good.
        let _reset = ResetOnDrop(&self.checking);
        self.reread(read, now_ms).await
    }

    /// The generation last seen, for callers that must tell whether a change
    /// was seen while they read the database.
    pub fn current(&self) -> i64 {
        self.value.load(Ordering::Acquire)
    }

    /// Forgets the generation, so that the next [`check`](Self::check)
    /// reports [`Freshness::Changed`]: for a mirror whose rebuild failed.
    pub fn invalidate(&self) {
        self.value.store(UNKNOWN, Ordering::Release);
    }

    async fn reread<F, Fut>(&self, read: F, now_ms: u64) -> Result<Freshness>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<i64>>,
    {
        let current = read().await?;
        let before = self.value.swap(current, Ordering::AcqRel);
        self.checked_ms.store(now_ms, Ordering::Release);
        Ok(if before == current {
            Freshness::Fresh
        } else {
            Freshness::Changed
        })
    }
}

struct ResetOnDrop<'a>(&'a AtomicBool);

impl Drop for ResetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn first_check_changes_then_fresh_until_the_counter_moves() {
        let g = Generation::new(0);
        assert_eq!(
            g.check(|| async { Ok(5) }).await.unwrap(),
            Freshness::Changed
        );
        assert_eq!(g.check(|| async { Ok(5) }).await.unwrap(), Freshness::Fresh);
        assert_eq!(
            g.check(|| async { Ok(6) }).await.unwrap(),
            Freshness::Changed
        );
        g.invalidate();
        assert_eq!(
            g.check(|| async { Ok(6) }).await.unwrap(),
            Freshness::Changed
        );
    }

    #[tokio::test]
    async fn not_due_within_the_bound() {
        let g = Generation::new(60_000);
        assert_eq!(
            g.check(|| async { Ok(1) }).await.unwrap(),
            Freshness::Changed
        );
        // Within the bound the counter is not read at all.
        let fresh = g.check(|| async { panic!("read within the bound") }).await;
        assert_eq!(fresh.unwrap(), Freshness::Fresh);
    }

    #[tokio::test]
    async fn a_dropped_check_does_not_stop_later_ones() {
        let g = Generation::new(0);
        assert_eq!(
            g.check(|| async { Ok(1) }).await.unwrap(),
            Freshness::Changed
        );
        // A check abandoned mid-read, as when a client disconnects.
        let pending = g.check(std::future::pending::<Result<i64>>);
        let _ = tokio::time::timeout(std::time::Duration::from_millis(1), pending).await;
        assert_eq!(
            g.check(|| async { Ok(2) }).await.unwrap(),
            Freshness::Changed
        );
    }
}
