//! The outbox contract (`core::outbox`) on both backends: leases keep two
//! workers apart, failures are retried with backoff until the message
//! expires, a dead worker's lease passes, and the worker records outcomes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use latchkey::core::clock::{Clock as _, ManualClock, SharedClock};
use latchkey::core::outbox::{
    Deliverer, Delivery, DeliveryFuture, Message, NewMessage, OUTBOX_LEASE_SECONDS,
    OutboxStore as _, Signal, Worker, WorkerConfig, backoff_seconds,
};

/// A deliverer that fails its first `fail_first` attempts, then succeeds,
/// counting every attempt (the outbox's own mechanism is what is under test;
/// the real deliverers have tests against real receivers).
struct Flaky {
    fail_first: usize,
    attempts: AtomicUsize,
}

impl Deliverer for Flaky {
    fn kind(&self) -> &'static str {
        "test"
    }
    fn deliver<'a>(&'a self, _m: &'a Message) -> DeliveryFuture<'a> {
        Box::pin(async move {
            let n = self.attempts.fetch_add(1, Ordering::SeqCst);
            if n < self.fail_first {
                Delivery::Retry("receiver down".into())
            } else {
                Delivery::Delivered
            }
        })
    }
}

both_backends! {
    async fn two_claimers_take_disjoint_rows_and_a_dead_lease_passes(db) {
        let store = db.store().await;
        let clock = ManualClock::starting_now();
        let now = clock.now();
        let msgs: Vec<NewMessage> = (0..10)
            .map(|i| NewMessage::new("test", format!("{{\"n\":{i}}}"), now, 3600).unwrap())
            .collect();
        store.enqueue(&msgs).await.unwrap();

        // Step 1: two workers claim at the same moment: every row goes to one.
        let (a, b) = tokio::join!(
            store.claim_outbox("a", now, OUTBOX_LEASE_SECONDS, 6),
            store.claim_outbox("b", now, OUTBOX_LEASE_SECONDS, 6),
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        assert_eq!(a.len() + b.len(), 10, "every row claimed once");
        let mut ids: Vec<&str> = a.iter().chain(b.iter()).map(|m| m.id.as_str()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 10, "no row claimed twice");
        assert!(a.iter().chain(b.iter()).all(|m| m.attempts == 1));

        // Step 2: nothing is due while the leases hold.
        assert!(store.claim_outbox("c", now + 1, OUTBOX_LEASE_SECONDS, 100).await.unwrap().is_empty());

        // Step 3: "a" completes its rows; "b" dies holding its own. Past the
        // lease, "c" gets b's rows (attempt 2) and none of a's.
        for m in &a {
            store.complete_outbox(&m.id, "a", now + 1).await.unwrap();
        }
        let later = now + OUTBOX_LEASE_SECONDS + 1;
        let c = store.claim_outbox("c", later, OUTBOX_LEASE_SECONDS, 100).await.unwrap();
        assert_eq!(c.len(), b.len());
        assert!(c.iter().all(|m| m.attempts == 2));

        // Step 4: the dead worker's late outcome changes nothing: the lease is c's.
        for m in &b {
            store.complete_outbox(&m.id, "b", later).await.unwrap();
        }
        let states = store.list_outbox("test").await.unwrap();
        let delivered = states.iter().filter(|s| s.delivered).count();
        assert_eq!(delivered, a.len(), "b's stale completion was ignored");

        // Step 5: done rows are purged after the cut-off, pending ones never.
        let purged = store.purge_outbox(now + 2).await.unwrap();
        assert_eq!(purged as usize, a.len());
        assert_eq!(store.list_outbox("test").await.unwrap().len(), c.len());
    }
}

both_backends! {
    async fn the_worker_retries_with_backoff_until_delivered_or_expired(db) {
        let store = db.store().await;
        let clock = ManualClock::starting_now();
        let now = clock.now();
        let flaky = Arc::new(Flaky { fail_first: 2, attempts: AtomicUsize::new(0) });
        let worker = Worker::new(
            clock.clone() as SharedClock,
            WorkerConfig::default(),
            Signal::default(),
            vec![flaky.clone()],
        )
        .unwrap();
        let keep = NewMessage::new("test", "{}", now, 3600).unwrap();
        // Expires before its first retry would be due.
        let doomed = NewMessage::new("test", "{}", now, 0).unwrap();
        store.enqueue(std::slice::from_ref(&keep)).await.unwrap();

        // Step 1: first attempt fails; the row waits its backoff.
        assert_eq!(worker.round(&store).await.unwrap(), 1);
        assert_eq!(worker.round(&store).await.unwrap(), 0, "not due before its backoff");
        clock.advance(backoff_seconds(1));
        // Step 2: second attempt fails; the backoff doubles.
        assert_eq!(worker.round(&store).await.unwrap(), 1);
        clock.advance(backoff_seconds(2) - 1);
        assert_eq!(worker.round(&store).await.unwrap(), 0);
        clock.advance(1);
        // Step 3: third attempt delivers.
        assert_eq!(worker.round(&store).await.unwrap(), 1);
        let s = store.list_outbox("test").await.unwrap();
        assert_eq!(s.len(), 1);
        assert!(s[0].delivered);
        assert_eq!(s[0].attempts, 3);
        assert_eq!(flaky.attempts.load(Ordering::SeqCst), 3);

        // Step 4: a message whose retry would fall past its expiry is given up.
        let flaky2 = Arc::new(Flaky { fail_first: usize::MAX, attempts: AtomicUsize::new(0) });
        let worker2 = Worker::new(clock.clone() as SharedClock, WorkerConfig::default(), Signal::default(), vec![flaky2]).unwrap();
        let mut doomed = doomed;
        doomed.created_at = clock.now();
        doomed.expires_at = clock.now();
        store.enqueue(&[doomed.clone()]).await.unwrap();
        assert_eq!(worker2.round(&store).await.unwrap(), 1);
        let s = store.list_outbox("test").await.unwrap();
        let d = s.iter().find(|m| m.id == doomed.id).unwrap();
        assert!(d.done_at.is_some() && !d.delivered);
        assert_eq!(d.last_error.as_deref(), Some("receiver down"));
        clock.advance(3600);
        assert_eq!(worker2.round(&store).await.unwrap(), 0, "a given-up message is never retried");
    }
}
