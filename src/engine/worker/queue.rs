//! The queue gate around an attempt. A step whose definition names a queue runs only on one
//! of that queue's slots, shared by every node on the database: the worker takes a slot
//! before the attempt (marking its job run active), keeps it alive with the lease's
//! heartbeat, and frees it once the attempt's checkpoint is settled (recording how the job
//! run ended). A full queue gives the saga back, unchanged, to be claimed again shortly. Steps
//! without a queue pass straight through: no statement, no lock.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use super::Worker;
use super::outcome::StepRun;
use super::saga::SagaRun;
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{Decision, SagaState};
use crate::engine::queues::{self, JobReport};
use crate::store::{JobEnd, JobMark, SlotClaim};
use crate::telemetry as m;

/// A queue slot this worker holds for the attempt in progress.
#[derive(Debug, Clone)]
pub(super) struct HeldSlot {
    queue: String,
    slot: i32,
    /// The step's index and name.
    index: usize,
    step: String,
    /// A step's own attempt (a job run); false for a compensation.
    job: bool,
    /// When the attempt got its slot: its processing time is measured on the wall clock, as
    /// the step duration metric is (the engine clock may stand still in tests and demos).
    since: Instant,
}

impl Worker {
    /// Takes a slot of the current step's queue, if it names one. False: the queue is full
    /// (the saga was given back, due again after `queue_recheck`) or the slot could not be
    /// taken (the lease runs out and the saga is due again).
    pub(super) async fn enter_queue(&self, def: &WorkflowDef, run: &mut SagaRun) -> bool {
        let (index, attempt, job) = match run.state {
            SagaState::Running { step, attempt } => (step, attempt, true),
            SagaState::Compensating { step, attempt, .. } => (step, attempt, false),
            // A wait only reads its signal or asks a provider how things stand.
            _ => return true,
        };
        let Some(step) = def.steps.get(index) else {
            return true;
        };
        let Some(queue) = step.queue.as_deref() else {
            return true;
        };
        // Start-up refuses a queue without a limit; a definition pinned from before still
        // runs, bounded by nothing rather than stuck.
        let Some(&limit) = self.rt.worker.queues.get(queue) else {
            return true;
        };
        let now = self.rt.clock.now();
        let mark = job.then(|| JobMark {
            step: &step.name,
            attempt: attempt as i32,
            max_attempts: step.retry.max_attempts() as i32,
            due_at: run.due_at,
        });
        let claim = SlotClaim {
            queue,
            limit,
            saga_id: run.id,
            owner: &self.id,
            held_until: run.lease_until,
            now,
            job: mark.clone(),
        };
        match self.rt.store.take_queue_slot(&claim).await {
            Ok(Some(slot)) => {
                // A fresh report for this attempt; unqueued steps never read theirs.
                run.report = JobReport::default();
                run.slot = Some(HeldSlot {
                    queue: queue.to_string(),
                    slot,
                    index,
                    step: step.name.clone(),
                    job,
                    since: Instant::now(),
                });
                true
            }
            Ok(None) => {
                metrics::counter!(m::QUEUE_FULL_TOTAL, "queue" => queue.to_string()).increment(1);
                let retry_at = now + self.recheck();
                debug!(queue, "queue full; the saga waits for a slot");
                if let Err(e) = self
                    .rt
                    .store
                    .wait_for_queue(
                        run.id,
                        &self.id,
                        run.version,
                        queue,
                        mark.as_ref(),
                        retry_at,
                        now,
                    )
                    .await
                {
                    warn!(error = %e, queue, "could not give a saga back to its full queue; its lease will expire");
                }
                false
            }
            Err(e) => {
                warn!(error = %e, queue, "could not take a queue slot; the lease will expire and the saga is due again");
                false
            }
        }
    }

    /// How the attempt of a queued step ended, for its job run (`None` when no job run is
    /// held: an unqueued step, a compensation).
    pub(super) fn job_end(
        &self,
        run: &SagaRun,
        decision: &Decision,
        step: &StepRun,
    ) -> Option<JobEnd> {
        let held = run.slot.as_ref().filter(|h| h.job)?;
        let (status, next_retry_at) =
            queues::status_after(held.index, &decision.state, &decision.next);
        let (progress, related) = run.report.current();
        Some(JobEnd {
            status,
            progress,
            related,
            last_error: step.error.clone(),
            next_retry_at,
        })
    }

    /// Frees the slot the attempt held once its checkpoint is settled, and records on its
    /// job run how it ended.
    pub(super) async fn leave_queue(&self, run: &mut SagaRun, end: Option<JobEnd>) {
        let Some(held) = run.slot.take() else {
            return;
        };
        let now = self.rt.clock.now();
        if let Err(e) = self
            .rt
            .store
            .free_queue_slot(
                &held.queue,
                held.slot,
                run.id,
                &self.id,
                &held.step,
                end.as_ref(),
                held.since.elapsed(),
                now,
            )
            .await
        {
            warn!(error = %e, queue = held.queue, "could not free a queue slot; it frees itself when the lease it was taken under runs out");
        }
    }

    /// The heartbeat's part for a held slot: it lives as long as the lease, and a changed
    /// progress report rides along.
    pub(super) async fn beat_queue(&self, run: &SagaRun, until: DateTime<Utc>) {
        let Some(held) = &run.slot else {
            return;
        };
        let report = if held.job {
            run.report.take_changed()
        } else {
            None
        };
        if let Err(e) = self
            .rt
            .store
            .beat_queue_slot(
                &held.queue,
                held.slot,
                run.id,
                &self.id,
                until,
                &held.step,
                report,
                self.rt.clock.now(),
            )
            .await
        {
            warn!(error = %e, queue = held.queue, "could not extend a queue slot");
        }
    }

    /// How long a saga waits for a full queue: the configured recheck plus up to half again,
    /// so sagas turned away together do not all come back together.
    fn recheck(&self) -> chrono::Duration {
        let base = self.rt.worker.queue_recheck.max(Duration::from_millis(10));
        let spread = base.mul_f64(1.0 + rand::random::<f64>() * 0.5);
        chrono::Duration::from_std(spread).unwrap_or(chrono::Duration::seconds(1))
    }
}
