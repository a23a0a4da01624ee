//! Group commit of starts: `Runtime::start` hands a start that writes nothing of its own to
//! one task, which inserts whatever starts are queued at that moment in one statement and one
//! commit. Like the checkpoint committer it never waits to fill a batch, so a lone start pays
//! no extra latency; under load, batches form on their own. Starts that write rows of their
//! own (an order, a cron claim) keep their own transaction.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::warn;

use crate::store::{self, BatchStart, ClaimedSaga, NewSaga, Started, Store};

type Answer = store::Result<(Started, Option<ClaimedSaga>)>;

/// One start waiting for its batch.
struct Queued {
    new: NewSaga,
    now: DateTime<Utc>,
    lease: Option<(String, DateTime<Utc>)>,
    reply: oneshot::Sender<Answer>,
}

/// Most starts in one statement.
const MAX_BATCH: usize = 64;
/// Batches writing at the same time (each on its own connection).
const IN_FLIGHT: usize = 4;

/// Sends starts to the batching task; the task ends when this is dropped.
pub(super) struct Starter {
    tx: mpsc::UnboundedSender<Queued>,
    store: Store,
}

impl Starter {
    pub(super) fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
        let batches = store.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            while let Some(first) = rx.recv().await {
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                // Whatever queued while a slot was busy joins this batch.
                let batch: Vec<Queued> = std::iter::once(first)
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    .take(MAX_BATCH)
                    .collect();
                let store = batches.clone();
                tokio::spawn(async move {
                    write(&store, batch).await;
                    drop(slot);
                });
            }
        });
        Self { tx, store }
    }

    /// Starts one saga, possibly in a batch with others; `lease` as in
    /// [`Store::start_saga_with`].
    pub(super) async fn start(
        &self,
        new: NewSaga,
        now: DateTime<Utc>,
        lease: Option<(&str, DateTime<Utc>)>,
    ) -> Answer {
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            new,
            now,
            lease: lease.map(|(owner, until)| (owner.to_string(), until)),
            reply,
        };
        if let Err(mpsc::error::SendError(q)) = self.tx.send(queued) {
            return one(&self.store, &q).await;
        }
        answer.await.unwrap_or_else(|_| {
            Err(store::Error::Corrupt(
                "the start batcher stopped before answering".into(),
            ))
        })
    }
}

/// The single start's statement for one queued start.
async fn one(store: &Store, q: &Queued) -> Answer {
    let lease = q
        .lease
        .as_ref()
        .map(|(owner, until)| (owner.as_str(), *until));
    store.start_saga_with(&q.new, q.now, lease, None).await
}

async fn write(store: &Store, batch: Vec<Queued>) {
    if batch.len() == 1 {
        for q in batch {
            let answer = one(store, &q).await;
            let _ = q.reply.send(answer);
        }
        return;
    }
    let starts: Vec<BatchStart<'_>> = batch
        .iter()
        .map(|q| BatchStart {
            new: &q.new,
            now: q.now,
            lease: q
                .lease
                .as_ref()
                .map(|(owner, until)| (owner.as_str(), *until)),
        })
        .collect();
    let results = store.start_batch(&starts).await;
    drop(starts);
    match results {
        Ok(results) => {
            for (q, inserted) in batch.into_iter().zip(results) {
                let answer = match inserted {
                    Some((id, claimed)) => Ok((Started::Created(id), claimed)),
                    // A key seen before: the single start finds the saga or refuses the reuse.
                    None => one(store, &q).await,
                };
                let _ = q.reply.send(answer);
            }
        }
        Err(e) => {
            // One bad start must not sink the others: write them one by one.
            warn!(error = %e, size = batch.len(), "batched start failed; starting one by one");
            for q in batch {
                let answer = one(store, &q).await;
                let _ = q.reply.send(answer);
            }
        }
    }
}
