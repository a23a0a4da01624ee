//! One attempt: the work the saga's current state calls for (a step's action, a wait's
//! signal or poll, a compensation), under the step's timeout, with the lease heartbeating
//! while it runs. It reports what happened as a [`StepRun`]; `saga.rs` decides on it. No
//! transaction is open here: actions call providers, and their writes come back as effects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::{debug, error, warn};

use super::Worker;
use super::lease::Watch;
use super::outcome::{Phase, StepRun};
use super::saga::SagaRun;
use crate::engine::action::{Action, Execution, StepContext, StepError, StepOutcome};
use crate::engine::definition::{StepDef, WorkflowDef};
use crate::engine::lifecycle::{Event, SagaState};
use crate::engine::unwind;
use crate::telemetry as m;

impl Worker {
    /// Does the work the current state calls for and reports it as a lifecycle event.
    /// `None` means there is nothing to write: the saga was let go, or its step dropped
    /// because the lease is no longer certain to be this worker's.
    pub(super) async fn attempt(
        &self,
        def: &Arc<WorkflowDef>,
        run: &mut SagaRun,
    ) -> Option<StepRun> {
        match run.state.clone() {
            SagaState::Running { step, attempt } => {
                let s = &def.steps[step];
                self.run_step(run, s, attempt).await
            }
            SagaState::Waiting {
                step,
                attempt,
                signal,
                until,
                ..
            } => {
                let s = &def.steps[step];
                self.run_wait(run, s, attempt, &signal, until).await
            }
            SagaState::Compensating { step, attempt, .. } => {
                let s = &def.steps[step];
                self.run_compensation(run, s, attempt).await
            }
            other => {
                warn!(
                    status = other.status(),
                    "claimed a saga with nothing due; releasing it"
                );
                let _ = self
                    .rt
                    .store
                    .release(run.id, &self.id, run.version, self.far_future())
                    .await;
                None
            }
        }
    }

    /// Where a claimed saga with nothing to do is put: out of the way of the claim query, so
    /// it is not claimed again and again, yet still a row an operator can find.
    fn far_future(&self) -> DateTime<Utc> {
        self.rt.clock.now() + chrono::Duration::days(3650)
    }

    /// What the action may read. `suffix` is `:undo` for a compensation: it gets its own
    /// idempotency key and its own retry budget.
    fn context(&self, run: &SagaRun, step: &StepDef, attempt: u32, suffix: &str) -> StepContext {
        let policy = if suffix.is_empty() {
            &step.retry
        } else {
            &step.compensation_retry
        };
        let execution = if run.recovering {
            Execution::Recovered
        } else if attempt > 1 {
            Execution::Retry
        } else {
            Execution::First
        };
        StepContext {
            saga_id: run.id,
            workflow: run.workflow.clone(),
            step: step.name.clone(),
            attempt,
            max_attempts: policy.max_attempts(),
            retry_delay: policy.delay_before(attempt + 1, run.jitter),
            idempotency_key: format!("{}:{}{suffix}", run.id, step.name),
            input: run.data.get("input").cloned().unwrap_or(Value::Null),
            outputs: run.data.get("steps").cloned().unwrap_or(Value::Null),
            now: self.rt.clock.now(),
            saga_created_at: run.created_at,
            execution,
            report: run.report.clone(),
        }
    }

    /// Counts what the attempt's execution and result say about recovery: the attempt ran
    /// again after an unrecorded run, or it could not tell whether a provider acted. Once an
    /// attempt has run, the saga's next one is no longer a recovery; one held before it acted
    /// (deferred) has not run, so whatever ran before it still may have.
    fn count_recovery(
        &self,
        run: &mut SagaRun,
        ctx: &StepContext,
        result: &Result<StepOutcome, StepError>,
    ) {
        if matches!(result, Err(StepError::Deferred { .. })) {
            return;
        }
        if ctx.execution == Execution::Recovered {
            metrics::counter!(m::RECOVERED_ATTEMPTS_TOTAL, "workflow" => run.workflow.clone(), "step" => ctx.step.clone()).increment(1);
        }
        run.recovering = false;
        let failure = match result {
            Err(e) => Some(e),
            Ok(outcome) => outcome.failure.as_ref(),
        };
        if let Some(StepError::Unknown { provider, .. }) = failure {
            metrics::counter!(m::UNKNOWN_OUTCOMES_TOTAL, "provider" => provider.clone())
                .increment(1);
        }
    }

    /// The registered action; one missing on this node parks the saga rather than failing
    /// it, as another node (or a deploy) may have it.
    fn action(&self, name: &str) -> Result<Arc<dyn Action>, StepError> {
        self.rt.registry.get(name).ok_or_else(|| {
            StepError::park(
                "action_missing",
                format!("action {name} is not registered on this node"),
            )
        })
    }

    /// A step's action, counted and timed per workflow and step.
    async fn run_step(&self, run: &mut SagaRun, step: &StepDef, attempt: u32) -> Option<StepRun> {
        let ctx = self.context(run, step, attempt, "");
        let started = Instant::now();
        let result = match self.action(&step.action) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await?,
            Err(e) => Err(e),
        };
        self.count_recovery(run, &ctx, &result);
        let elapsed = started.elapsed();
        if matches!(result, Err(StepError::Deferred { .. })) {
            // Held before the provider saw it: not an attempt, so not counted as one.
            return Some(StepRun::from_result(
                step,
                attempt,
                result,
                elapsed,
                Phase::Action,
            ));
        }
        metrics::counter!(m::STEP_ATTEMPTS_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone()).increment(1);
        if attempt > 1 {
            metrics::counter!(m::STEP_RETRIES_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone()).increment(1);
        }
        let outcome_label = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(m::STEP_DURATION_SECONDS, "workflow" => run.workflow.clone(), "step" => step.name.clone(), "outcome" => outcome_label)
            .record(elapsed.as_secs_f64());
        Some(StepRun::from_result(
            step,
            attempt,
            result,
            elapsed,
            Phase::Action,
        ))
    }

    /// A waiting step: read the oldest matching signal if one came, else go back to sleep
    /// until the timeout, else (timed out) poll, or fail the attempt when there is no poll.
    async fn run_wait(
        &self,
        run: &mut SagaRun,
        step: &StepDef,
        attempt: u32,
        signal: &str,
        until: DateTime<Utc>,
    ) -> Option<StepRun> {
        let ctx = self.context(run, step, attempt, "");
        let pending = match self.rt.store.pending_signal(run.id, signal).await {
            Ok(p) => p,
            Err(e) => {
                error!(error = %e, "could not read signals; the lease will expire and this runs again");
                return None;
            }
        };
        if let Some(sig) = pending {
            let result = match self.action(&step.action) {
                Ok(action) => {
                    self.timed(run, step.timeout, action.on_signal(&ctx, &sig))
                        .await?
                }
                Err(e) => Err(e),
            };
            self.count_recovery(run, &ctx, &result);
            let held = matches!(result, Err(StepError::Deferred { .. }));
            let mut out =
                StepRun::from_result(step, attempt, result, Duration::ZERO, Phase::Signal);
            // A held read leaves the signal for the run that comes due later.
            out.consume_signal = (!held).then_some(sig.id);
            return Some(out);
        }
        if self.rt.clock.now() < until {
            // Woken early with nothing for this wait: go back to sleep until the timeout.
            return Some(StepRun::rewait(until));
        }
        let poll = step.wait.as_ref().and_then(|w| w.poll.clone());
        let Some(poll) = poll else {
            return Some(
                StepRun::bare(Event::WaitTimedOut).with_detail(json!({ "signal": signal })),
            );
        };
        let started = Instant::now();
        let result = match self.action(&poll) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await?,
            Err(e) => Err(e),
        };
        self.count_recovery(run, &ctx, &result);
        Some(StepRun::from_result(
            step,
            attempt,
            result,
            started.elapsed(),
            Phase::Poll,
        ))
    }

    /// Undoes a step; its idempotency key ends in `:undo`.
    async fn run_compensation(
        &self,
        run: &mut SagaRun,
        step: &StepDef,
        attempt: u32,
    ) -> Option<StepRun> {
        let ctx = self.context(run, step, attempt, ":undo");
        let started = Instant::now();
        let name = step.compensation.clone().unwrap_or_default();
        let result = match self.action(&name) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await?,
            Err(e) => Err(e),
        };
        self.count_recovery(run, &ctx, &result);
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(m::COMPENSATIONS_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone(), "outcome" => outcome).increment(1);
        Some(StepRun::from_result(
            step,
            attempt,
            result,
            started.elapsed(),
            Phase::Compensation,
        ))
    }

    /// Runs an action under the step's timeout, extending the lease while it runs. A panic in
    /// the action parks the saga (a bug no retry fixes, and the action may have acted).
    ///
    /// `None`: the step was dropped because the lease is, or may be, no longer this worker's:
    /// lost to another worker or an operator, or not renewed in time (`lease.rs`). Nothing is
    /// written; the saga is left to its lease as a crash would leave it, for whoever holds it
    /// next to run the step again as a recovery.
    async fn timed(
        &self,
        run: &mut SagaRun,
        timeout: Option<Duration>,
        fut: impl std::future::Future<Output = Result<StepOutcome, StepError>>,
    ) -> Option<Result<StepOutcome, StepError>> {
        let limit = timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let mut watch = self.watch(run);
        let mut next_beat = watch.renew_at();
        let fut = tokio::time::timeout(limit, unwind::catch(fut));
        tokio::pin!(fut);
        loop {
            tokio::select! {
                // A finished action wins over a renewal or giving up that fell due meanwhile.
                biased;
                res = &mut fut => {
                    return Some(match res {
                        Ok(Ok(result)) => result,
                        Ok(Err(panic)) => {
                            error!(panic = %panic, "the action panicked; parking the saga");
                            Err(StepError::park("action_panicked", format!("the action panicked: {panic}")))
                        }
                        Err(_) => Err(StepError::retryable("timeout", format!("step ran longer than {}", humantime::format_duration(limit)))),
                    });
                }
                _ = tokio::time::sleep_until(next_beat) => {
                    // The renewal may not outlast the lease it renews; the action waits meanwhile.
                    match tokio::time::timeout_at(watch.expires(), self.renew(run)).await {
                        Ok(Ok(true)) => {
                            watch = self.watch(run);
                            next_beat = watch.renew_at();
                            debug!("lease extended");
                        }
                        Ok(Ok(false)) => {
                            warn!("lease lost while the step ran; dropping the step, whose checkpoint could only be fenced out");
                            return None;
                        }
                        Ok(Err(e)) => {
                            warn!(error = %e, "heartbeat failed");
                            next_beat = watch.retry_at(Instant::now().into());
                        }
                        Err(_) => {
                            warn!("heartbeat still unanswered when the lease ran out");
                            next_beat = watch.retry_at(Instant::now().into());
                        }
                    }
                }
                _ = tokio::time::sleep_until(watch.give_up_at()) => {
                    // Not given back: a call the step had sent may still be landing, and the
                    // rest of the lease is its time to land before anyone else may look.
                    warn!("the lease could not be renewed before it ran out; dropping the step, as a crash would, for the next holder to run again as a recovery");
                    return None;
                }
            }
        }
    }

    /// The lease as last written, from now on in real time.
    fn watch(&self, run: &SagaRun) -> Watch {
        let now = self.rt.clock.now();
        Watch::new(
            run.lease_until,
            now,
            Instant::now().into(),
            self.rt.worker.lease,
        )
    }

    /// Extends the lease (and the queue slot with it). False when it is no longer ours.
    async fn renew(&self, run: &mut SagaRun) -> crate::store::Result<bool> {
        let until = self.lease_from(self.rt.clock.now());
        let renewed = self
            .rt
            .store
            .heartbeat(run.id, &self.id, run.version, until)
            .await?;
        if renewed {
            run.lease_until = until;
            self.beat_queue(run, until).await;
        }
        Ok(renewed)
    }
}
