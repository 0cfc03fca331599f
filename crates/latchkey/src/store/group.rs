//! The queue behind group commit: requests that arrive while a batch is
//! running wait together and go as the next batch, one transaction or one
//! query for all of them (see `store::rotation` for the why). No timer: a
//! lone request goes at once, and a batch grows only while the previous one
//! runs.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Mutex, mpsc, oneshot};

type Queued<I, O> = (I, oneshot::Sender<O>);

/// A queue of `I`s answered with `O`s by `workers` tasks, each running one
/// batch of at most `max` at a time. Cheap to clone; the workers stop when
/// the last clone is dropped.
pub(crate) struct Group<I, O> {
    queue: mpsc::UnboundedSender<Queued<I, O>>,
}

impl<I, O> Clone for Group<I, O> {
    fn clone(&self) -> Self {
        Group {
            queue: self.queue.clone(),
        }
    }
}

impl<I, O> std::fmt::Debug for Group<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Group")
    }
}

impl<I: Send + 'static, O: Send + 'static> Group<I, O> {
    /// Starts the workers on the current tokio runtime. `step` answers a
    /// batch: one `O` per `I`, in order.
    pub(crate) fn start<F, Fut>(workers: usize, max: usize, step: F) -> Self
    where
        F: Fn(Vec<I>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Vec<O>> + Send + 'static,
    {
        let (queue, rx) = mpsc::unbounded_channel::<Queued<I, O>>();
        let rx = Arc::new(Mutex::new(rx));
        let step = Arc::new(step);
        for _ in 0..workers.max(1) {
            let (rx, step) = (rx.clone(), step.clone());
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else {
                            return;
                        };
                        let mut batch = vec![first];
                        while batch.len() < max {
                            match rx.try_recv() {
                                Ok(r) => batch.push(r),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    let (items, replies): (Vec<I>, Vec<_>) = batch.into_iter().unzip();
                    let answers = step(items).await;
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        // The caller may have gone (its client hung up): what
                        // the batch did stands all the same.
                        let _ = reply.send(answer);
                    }
                }
            });
        }
        Group { queue }
    }

    /// Queues `item` and waits for its answer; `None` if the workers are
    /// gone (the runtime is shutting down).
    pub(crate) async fn call(&self, item: I) -> Option<O> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((item, reply)).ok()?;
        answer.await.ok()
    }
}
