//! Step 2 of a saga's flow: the worker. It claims due sagas in batches (or takes them handed
//! over in memory by `Runtime::start`), runs each one's steps back to back while the lease is
//! held, beats its heartbeat, and drains on shutdown. This file is the claim loop; the rest of
//! the flow is one file per concept:
//!
//! - `saga.rs`: one saga, from claim to where it stops being due now;
//! - `attempt.rs`: one attempt (action, signal, poll or compensation) under its timeout;
//! - `outcome.rs`: what an attempt returned, as the lifecycle event it means (pure);
//! - `checkpoint.rs`: the checkpoint that records a decision (pure);
//! - `chain.rs`: when a checkpoint may ride on the next one (pure);
//! - `refused.rs`: a domain write the database refused becomes a failed attempt;
//! - `queue.rs`: the per-queue slot an attempt of a queued step runs on;
//! - `finished.rs`: what is recorded when a saga settles;
//! - `crash_point.rs`: the crash tests' abort between an action and its checkpoint.

mod attempt;
mod chain;
mod checkpoint;
mod crash_point;
mod finished;
mod lease;
mod outcome;
mod queue;
mod refused;
mod saga;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, warn};
use uuid::Uuid;

use super::committer::Committer;
use super::runtime::{Handoff, LocalWorker, Runtime};
use super::transition;
use crate::store::{self, ClaimedSaga};
use crate::telemetry as m;

/// The hand-offs this worker has not picked up yet.
type Inbox = mpsc::UnboundedReceiver<Handoff>;

/// One worker node's claim loop. Cheap to clone; clones share the in-flight table.
#[derive(Clone)]
pub struct Worker {
    rt: Arc<Runtime>,
    /// Lease owner name: unique per process so a restarted node never mistakes old leases.
    id: String,
    /// Sagas held right now, with their fence version, so a drain can release them.
    inflight: Arc<Mutex<HashMap<Uuid, i64>>>,
    /// Writes this worker's checkpoints, several sagas per commit under load.
    committer: Committer,
    /// How many sagas this worker runs at once; claims and hand-offs share it.
    permits: Arc<Semaphore>,
    /// Sagas started in this process and handed straight over (see `Runtime::start`).
    inbox: mpsc::UnboundedSender<Handoff>,
    /// Taken by the one `run` loop; a second `run` finds it gone.
    inbox_rx: Arc<Mutex<Option<Inbox>>>,
}

impl Worker {
    pub fn new(rt: Arc<Runtime>, name: &str) -> Self {
        let (inbox, inbox_rx) = mpsc::unbounded_channel();
        Self {
            id: format!("{name}-{}", Uuid::now_v7().simple()),
            inflight: Arc::default(),
            committer: Committer::spawn(rt.store.clone()),
            permits: Arc::new(Semaphore::new(rt.worker.concurrency.max(1))),
            inbox,
            inbox_rx: Arc::new(Mutex::new(Some(inbox_rx))),
            rt,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Runs until `shutdown` fires, then stops claiming, lets in-flight steps finish for up
    /// to the configured drain time, and releases whatever is still held.
    pub async fn run(self, shutdown: CancellationToken) {
        let taken = self
            .inbox_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(mut inbox) = taken else {
            error!("this worker is already running");
            return;
        };
        self.rt.set_local_worker(LocalWorker {
            id: self.id.clone(),
            permits: self.permits.clone(),
            inbox: self.inbox.clone(),
        });
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            if shutdown.is_cancelled() {
                break;
            }
            while let Ok(handed) = inbox.try_recv() {
                self.spawn(&mut tasks, handed, &shutdown);
            }
            let free = self.permits.available_permits();
            if free == 0 {
                self.wait_for_room(&mut tasks, &shutdown).await;
                continue;
            }
            let want = (free as i64).min(self.rt.worker.claim_batch.max(1));
            let claimed = match self.claim(want).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    error!(error = %e, "claim failed");
                    self.pause(&shutdown).await;
                    continue;
                }
            };
            let short = (claimed.len() as i64) < want;
            self.spawn_claimed(&mut tasks, claimed, &shutdown).await;
            if short {
                self.wait_for_work(&mut inbox, &mut tasks, &shutdown).await;
            }
        }
        self.drain(inbox, tasks).await;
    }

    /// Runs a saga this worker already holds (one started leased to it) until it stops being
    /// due now. The bench uses it to time the hand-off path without the run loop.
    pub async fn run_claimed(&self, saga: ClaimedSaga) {
        self.run_saga(saga, &CancellationToken::new()).await;
    }

    /// Claims one batch and runs it to where each saga stops being due now. Returns how many
    /// sagas were claimed. Tests use this to drive sagas without sleeping.
    pub async fn process_one(&self) -> store::Result<usize> {
        let claimed = self.claim(self.rt.worker.claim_batch.max(1)).await?;
        let n = claimed.len();
        let never = CancellationToken::new();
        let runs = claimed.into_iter().map(|s| self.run_saga(s, &never));
        futures::future::join_all(runs).await;
        Ok(n)
    }

    /// Repeats [`Worker::process_one`] until nothing is due at the clock's current time.
    pub async fn run_until_idle(&self) -> store::Result<usize> {
        let mut total = 0;
        loop {
            match self.process_one().await? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    /// Every slot is busy: no claim runs until a saga finishes, but the worker is alive and
    /// says so, or the "no worker heartbeat" alert would fire on a saturated node.
    async fn wait_for_room(&self, tasks: &mut JoinSet<()>, shutdown: &CancellationToken) {
        tokio::select! {
            _ = tasks.join_next() => {}
            _ = tokio::time::sleep(Duration::from_secs(15)) => Self::beat(),
            _ = shutdown.cancelled() => {}
        }
    }

    /// The last claim found less than there was room for: sleep until a hand-off, a wake-up
    /// (a start, a signal, a NOTIFY) or the poll interval, which is what guarantees progress.
    async fn wait_for_work(
        &self,
        inbox: &mut Inbox,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
    ) {
        tokio::select! {
            Some(handed) = inbox.recv() => self.spawn(tasks, handed, shutdown),
            _ = self.rt.wake.notified() => {}
            _ = tokio::time::sleep(self.rt.worker.poll_interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Backs off after a failed claim.
    async fn pause(&self, shutdown: &CancellationToken) {
        tokio::select! {
            _ = tokio::time::sleep(self.rt.worker.poll_interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Runs each claimed saga on a slot of its own.
    async fn spawn_claimed(
        &self,
        tasks: &mut JoinSet<()>,
        claimed: Vec<ClaimedSaga>,
        shutdown: &CancellationToken,
    ) {
        for saga in claimed {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => self.spawn(tasks, (saga, permit), shutdown),
                Err(_) => {
                    // A hand-off took the room meanwhile: give the saga back, due now.
                    let now = self.rt.clock.now();
                    let _ = self
                        .rt
                        .store
                        .release(saga.id, &self.id, saga.version, now)
                        .await;
                }
            }
        }
    }

    /// Runs one saga on the slot reserved for it; the slot frees when the run ends.
    fn spawn(
        &self,
        tasks: &mut JoinSet<()>,
        (saga, permit): Handoff,
        shutdown: &CancellationToken,
    ) {
        let me = self.clone();
        let stop = shutdown.clone();
        tasks.spawn(async move {
            me.run_saga(saga, &stop).await;
            drop(permit);
        });
    }

    /// Stops: no new hand-offs, in-flight sagas finish for up to the drain time, and whatever
    /// is still held afterwards is released, due now, for another node.
    async fn drain(&self, mut inbox: Inbox, mut tasks: JoinSet<()>) {
        self.rt.clear_local_worker(&self.id);
        // Hand-offs that raced the shutdown are still ours: release them for another node.
        inbox.close();
        while let Some((saga, _permit)) = inbox.recv().await {
            let now = self.rt.clock.now();
            let _ = self
                .rt
                .store
                .release(saga.id, &self.id, saga.version, now)
                .await;
        }
        let drained = tokio::time::timeout(self.rt.worker.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            self.release_all().await;
        }
    }

    /// Marks this worker alive. Wall time, not the engine clock: the alert compares it with
    /// Prometheus's time().
    fn beat() {
        metrics::gauge!(m::WORKER_HEARTBEAT_SECONDS).set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64(),
        );
    }

    async fn claim(&self, limit: i64) -> store::Result<Vec<ClaimedSaga>> {
        let now = self.rt.clock.now();
        Self::beat();
        let claimed = self
            .rt
            .store
            .claim(&self.id, now, self.lease_from(now), limit)
            .await?;
        for saga in &claimed {
            let lag = (now - saga.due_at)
                .to_std()
                .unwrap_or_default()
                .as_secs_f64();
            metrics::histogram!(m::CLAIM_LAG_SECONDS, "workflow" => saga.workflow.clone())
                .record(lag);
            if saga.previous_owner.is_some() {
                metrics::counter!(m::LEASES_RECLAIMED_TOTAL).increment(1);
            }
        }
        Ok(claimed)
    }

    /// A lease taken or extended at `now`.
    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        transition::lease_until(now, self.rt.worker.lease)
    }

    async fn release_all(&self) {
        let held: Vec<(Uuid, i64)> = self
            .inflight
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        let now = self.rt.clock.now();
        for (id, version) in held {
            // These steps were cut short mid-attempt: whatever runs them next must look first.
            if let Err(e) = self
                .rt
                .store
                .release_interrupted(id, &self.id, version, now)
                .await
            {
                warn!(saga_id = %id, error = %e, "could not release lease on shutdown; it will expire");
            }
        }
        if let Err(e) = self.rt.store.free_queue_slots_of(&self.id).await {
            warn!(error = %e, "could not free queue slots on shutdown; they free themselves when their leases run out");
        }
    }

    /// Records that saga `id` is held at `version` (`None`: no longer held), for a drain.
    fn track(&self, id: Uuid, version: Option<i64>) {
        let mut held = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        match version {
            Some(v) => held.insert(id, v),
            None => held.remove(&id),
        };
    }
}
