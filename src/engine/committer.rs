//! Group commit: a worker's saga tasks hand their checkpoints to one committer, which writes
//! whatever is queued at that moment as one statement and one commit. It never waits to fill a
//! batch, so a lone saga pays no extra latency; under load, batches form on their own.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};
use tracing::warn;

use crate::store::{self, Checkpoint, Committed, Store};

type Reply = oneshot::Sender<store::Result<Option<Committed>>>;

/// Sends checkpoints to the committer task; cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::UnboundedSender<(Checkpoint, Reply)>,
    store: Store,
}

/// Most checkpoints in one statement.
const MAX_BATCH: usize = 64;
/// Batches writing at the same time (each on its own connection).
const IN_FLIGHT: usize = 4;

impl Committer {
    /// Spawns the committer task; it ends when every `Committer` clone is dropped.
    pub fn spawn(store: Store) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<(Checkpoint, Reply)>();
        let fallback = store.clone();
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(IN_FLIGHT));
            while let Some(first) = rx.recv().await {
                let mut lean = Vec::new();
                for (cp, reply) in std::iter::once(first)
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()))
                    .take(MAX_BATCH)
                {
                    if cp.is_lean() {
                        lean.push((cp, reply));
                    } else {
                        // Effects, waits and signals need their own transaction.
                        let store = store.clone();
                        tokio::spawn(async move {
                            let _ = reply.send(store.checkpoint(cp).await);
                        });
                    }
                }
                if lean.is_empty() {
                    continue;
                }
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let store = store.clone();
                tokio::spawn(async move {
                    write(&store, lean).await;
                    drop(slot);
                });
            }
        });
        Self {
            tx,
            store: fallback,
        }
    }

    /// Writes one checkpoint (possibly with others); `Ok(None)` when fenced out.
    pub async fn commit(&self, cp: Checkpoint) -> store::Result<Option<Committed>> {
        let (reply, answer) = oneshot::channel();
        if let Err(mpsc::error::SendError((cp, _))) = self.tx.send((cp, reply)) {
            return self.store.checkpoint(cp).await;
        }
        match answer.await {
            Ok(result) => result,
            Err(_) => Err(store::Error::Corrupt(
                "the committer stopped before answering".into(),
            )),
        }
    }
}

async fn write(store: &Store, batch: Vec<(Checkpoint, Reply)>) {
    if batch.len() == 1 {
        if let Some((cp, reply)) = batch.into_iter().next() {
            let _ = reply.send(store.checkpoint(cp).await);
        }
        return;
    }
    let (cps, replies): (Vec<Checkpoint>, Vec<Reply>) = batch.into_iter().unzip();
    match store.checkpoint_batch(&cps).await {
        Ok(results) => {
            for (reply, r) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(r));
            }
        }
        Err(e) => {
            // One bad row must not sink the others: write them one by one.
            warn!(error = %e, size = cps.len(), "batched checkpoint failed; writing one by one");
            for (cp, reply) in cps.into_iter().zip(replies) {
                let _ = reply.send(store.checkpoint(cp).await);
            }
        }
    }
}
