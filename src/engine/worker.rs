//! The worker: claim due sagas in batches, run each saga's steps back to back while the lease
//! is held (no re-claim between steps), checkpoint after every transition, heartbeat long
//! steps, and drain on shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info_span, warn};
use uuid::Uuid;

use super::action::{Action, Effects, OutcomeKind, StepContext, StepError, StepOutcome};
use super::committer::Committer;
use super::definition::{StepDef, WorkflowDef};
use super::lifecycle::{self, Event, Next, SagaState};
use super::runtime::{Handoff, LocalWorker, Runtime};
use super::transition::{self, Holder, LastError};
use crate::store::{Checkpoint, ClaimedSaga, Lease, NewEvent};
use crate::telemetry as m;

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
    inbox_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Handoff>>>>,
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
        let settings = self.rt.worker.clone();
        let permits = self.permits.clone();
        let Some(mut inbox) = self
            .inbox_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            error!("this worker is already running");
            return;
        };
        self.rt.set_local_worker(LocalWorker {
            id: self.id.clone(),
            permits: permits.clone(),
            inbox: self.inbox.clone(),
        });
        let mut tasks = JoinSet::new();
        loop {
            while tasks.try_join_next().is_some() {}
            if shutdown.is_cancelled() {
                break;
            }
            while let Ok(handed) = inbox.try_recv() {
                self.spawn_handed(&mut tasks, handed, &shutdown);
            }
            let free = permits.available_permits();
            if free == 0 {
                // Every slot is busy: no claim runs, but the worker is alive and says so, or
                // the "no worker heartbeat" alert would fire on a saturated node.
                tokio::select! {
                    _ = tasks.join_next() => {}
                    _ = tokio::time::sleep(Duration::from_secs(15)) => Self::beat(),
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let want = (free as i64).min(settings.claim_batch.max(1));
            let claimed = match self.claim(want).await {
                Ok(c) => c,
                Err(e) => {
                    error!(error = %e, "claim failed");
                    tokio::select! {
                        _ = tokio::time::sleep(settings.poll_interval) => {}
                        _ = shutdown.cancelled() => break,
                    }
                    continue;
                }
            };
            let got = claimed.len() as i64;
            for saga in claimed {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    // A hand-off took the room meanwhile: give the saga back, due now.
                    let _ = self
                        .rt
                        .store
                        .release(saga.id, &self.id, saga.version, self.rt.clock.now())
                        .await;
                    continue;
                };
                let me = self.clone();
                let stop = shutdown.clone();
                tasks.spawn(async move {
                    me.run_saga(saga, &stop).await;
                    drop(permit);
                });
            }
            if got < want {
                tokio::select! {
                    Some(handed) = inbox.recv() => self.spawn_handed(&mut tasks, handed, &shutdown),
                    _ = self.rt.wake.notified() => {}
                    _ = tokio::time::sleep(settings.poll_interval) => {}
                    _ = shutdown.cancelled() => break,
                }
            }
        }
        self.rt.clear_local_worker(&self.id);
        // Hand-offs that raced the shutdown are still ours: release them for another node.
        inbox.close();
        while let Some((saga, _permit)) = inbox.recv().await {
            let _ = self
                .rt
                .store
                .release(saga.id, &self.id, saga.version, self.rt.clock.now())
                .await;
        }
        let drained = tokio::time::timeout(settings.shutdown_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
            self.release_all().await;
        }
    }

    fn spawn_handed(
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

    /// Runs a saga this worker already holds (one started leased to it) until it stops being
    /// due now. The bench uses it to time the hand-off path without the run loop.
    pub async fn run_claimed(&self, saga: ClaimedSaga) {
        self.run_saga(saga, &CancellationToken::new()).await;
    }

    /// Claims one batch and runs it to where each saga stops being due now. Returns how many
    /// sagas were claimed. Tests use this to drive sagas without sleeping.
    pub async fn process_one(&self) -> crate::store::Result<usize> {
        let claimed = self.claim(self.rt.worker.claim_batch.max(1)).await?;
        let n = claimed.len();
        let never = CancellationToken::new();
        let runs = claimed.into_iter().map(|s| self.run_saga(s, &never));
        futures::future::join_all(runs).await;
        Ok(n)
    }

    /// Repeats [`Worker::process_one`] until nothing is due at the clock's current time.
    pub async fn run_until_idle(&self) -> crate::store::Result<usize> {
        let mut total = 0;
        loop {
            match self.process_one().await? {
                0 => return Ok(total),
                n => total += n,
            }
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

    async fn claim(&self, limit: i64) -> crate::store::Result<Vec<ClaimedSaga>> {
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

    fn lease_from(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::from_std(self.rt.worker.lease)
            .unwrap_or(chrono::Duration::seconds(30))
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
            if let Err(e) = self.rt.store.release(id, &self.id, version, now).await {
                warn!(saga_id = %id, error = %e, "could not release lease on shutdown; it will expire");
            }
        }
    }

    fn hold(&self, id: Uuid, version: Option<i64>) {
        let mut held = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
        match version {
            Some(v) => held.insert(id, v),
            None => held.remove(&id),
        };
    }

    async fn run_saga(&self, saga: ClaimedSaga, shutdown: &CancellationToken) {
        let span = info_span!("saga", saga_id = %saga.id, workflow = %saga.workflow);
        let id = saga.id;
        self.hold(id, Some(saga.version));
        self.drive(saga, shutdown).instrument(span).await;
        self.hold(id, None);
    }

    /// Runs transitions while the saga stays due now and the lease holds.
    async fn drive(&self, saga: ClaimedSaga, shutdown: &CancellationToken) {
        let def = match self
            .rt
            .definition(&saga.workflow, saga.workflow_version)
            .await
        {
            Ok(Some(def)) => def,
            other => {
                error!(version = saga.workflow_version, result = ?other.err(), "definition not available; saga left for a node that has it");
                return; // the lease expires and the saga is due again
            }
        };
        let mut run = SagaRun {
            id: saga.id,
            workflow: saga.workflow,
            state: saga.state,
            data: saga.data,
            version: saga.version,
            signal_seq: saga.signal_seq,
            created_at: saga.created_at,
            lease_until: saga.lease_until,
            carried: Vec::new(),
        };
        // A failed attempt standing in for a step whose domain write the database refused.
        let mut refused: Option<StepRun> = None;
        loop {
            if shutdown.is_cancelled() {
                let _ = self
                    .rt
                    .store
                    .release(run.id, &self.id, run.version, self.rt.clock.now())
                    .await;
                return;
            }
            let step = match refused.take() {
                Some(step) => Some(step),
                None => self.execute(&def, &mut run).await,
            };
            let Some(mut step) = step else {
                return;
            };
            let now = self.rt.clock.now();
            let decision = if let Some(until) = step.rewait {
                lifecycle::Decision {
                    state: run.state.clone(),
                    next: Next::At(until),
                    kind: "wait_resumed",
                }
            } else if let Event::Start = step.event {
                // Starting is not worth a commit of its own: it rides on the first step's.
                match lifecycle::decide(&def, &run.state, &step.event, now, rand::random()) {
                    Ok(d) => {
                        run.carried.push(NewEvent {
                            step: None,
                            kind: d.kind.into(),
                            attempt: 0,
                            detail: json!({}),
                        });
                        run.state = d.state;
                        continue;
                    }
                    Err(e) => {
                        error!(error = %e, "cannot start saga");
                        return;
                    }
                }
            } else {
                match lifecycle::decide(&def, &run.state, &step.event, now, rand::random()) {
                    Ok(d) => d,
                    Err(e) => {
                        // Only reachable through a bug: the worker sent an event the state
                        // cannot take. Leave the saga to its lease rather than guess.
                        error!(error = %e, "illegal transition from the worker");
                        return;
                    }
                }
            };
            let keep_going = decision.next == Next::Now && !shutdown.is_cancelled();
            // What a refused domain write must not leave behind in memory.
            let before = (!step.effects.writes.is_empty()).then(|| {
                (
                    run.carried.clone(),
                    run.data.clone(),
                    run.lease_until,
                    step.phase,
                )
            });
            let hooks = std::mem::take(&mut step.effects.committed);
            let cp = self.checkpoint_for(&def, &mut run, &decision, &mut step, now, keep_going);
            match self.committer.commit(cp).await {
                Ok(Some(c)) => {
                    hooks.into_iter().for_each(|hook| hook());
                    run.version = c.version;
                    run.signal_seq = c.signal_seq;
                    self.hold(run.id, Some(run.version));
                    run.state = decision.state;
                    if run.state.is_terminal()
                        || matches!(
                            run.state,
                            SagaState::Failed { .. } | SagaState::Parked { .. }
                        )
                    {
                        self.record_end(&run, now);
                    }
                }
                Ok(None) => {
                    metrics::counter!(m::FENCED_WRITES_TOTAL).increment(1);
                    warn!("checkpoint fenced out: lease lost or an operator acted; result dropped");
                    return;
                }
                Err(e) => {
                    if let (Some((carried, data, lease_until, phase)), true) =
                        (before, refused_write(&e))
                    {
                        // Running the step again would write the same thing and be refused
                        // again: record a failed attempt instead, so the retry policy (and
                        // then compensation or an operator) takes over.
                        warn!(error = %e, "the database refused the step's domain write; recording a failed attempt");
                        (run.carried, run.data, run.lease_until) = (carried, data, lease_until);
                        refused = self.refused_attempt(&def, &run, phase, &e);
                        if refused.is_some() {
                            continue;
                        }
                    }
                    error!(error = %e, "checkpoint failed; the lease will expire and the step run again");
                    return;
                }
            }
            if !keep_going {
                return;
            }
        }
    }

    /// The failed attempt that replaces a step whose domain write was refused.
    fn refused_attempt(
        &self,
        def: &WorkflowDef,
        run: &SagaRun,
        phase: Phase,
        e: &crate::store::Error,
    ) -> Option<StepRun> {
        let step = def.steps.get(run.state.step()?)?;
        let err = StepError::retryable("domain_write_refused", e.to_string());
        Some(StepRun::failure(
            step,
            run.state.attempt(),
            err,
            0.0,
            phase,
            Effects::default(),
        ))
    }

    fn record_end(&self, run: &SagaRun, now: DateTime<Utc>) {
        let outcome = run.state.status();
        let wf = run.workflow.clone();
        let counter = match outcome {
            "completed" => m::SAGAS_COMPLETED_TOTAL,
            "compensated" => m::SAGAS_COMPENSATED_TOTAL,
            "cancelled" => m::SAGAS_CANCELLED_TOTAL,
            "failed" => m::SAGAS_FAILED_TOTAL,
            _ => m::SAGAS_PARKED_TOTAL,
        };
        metrics::counter!(counter, "workflow" => wf.clone()).increment(1);
        let secs = (now - run.created_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        m::order_finished(&wf, outcome, &run.data["input"], secs);
        metrics::histogram!(m::SAGA_DURATION_SECONDS, "workflow" => wf, "outcome" => outcome)
            .record(secs);
    }

    /// Does the work the current state calls for and reports it as a lifecycle event.
    /// `None` means there is nothing to do (the saga was released).
    async fn execute(&self, def: &Arc<WorkflowDef>, run: &mut SagaRun) -> Option<StepRun> {
        match run.state.clone() {
            SagaState::Pending => Some(StepRun::bare(Event::Start)),
            SagaState::Running { step, attempt } => {
                let s = &def.steps[step];
                Some(self.run_step(run, s, attempt).await)
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
                Some(self.run_compensation(run, s, attempt).await)
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

    fn far_future(&self) -> DateTime<Utc> {
        self.rt.clock.now() + chrono::Duration::days(3650)
    }

    fn context(&self, run: &SagaRun, step: &StepDef, attempt: u32, suffix: &str) -> StepContext {
        let policy = if suffix.is_empty() {
            &step.retry
        } else {
            &step.compensation_retry
        };
        StepContext {
            saga_id: run.id,
            workflow: run.workflow.clone(),
            step: step.name.clone(),
            attempt,
            max_attempts: policy.max_attempts(),
            idempotency_key: format!("{}:{}{suffix}", run.id, step.name),
            input: run.data.get("input").cloned().unwrap_or(Value::Null),
            outputs: run.data.get("steps").cloned().unwrap_or(Value::Null),
            now: self.rt.clock.now(),
        }
    }

    fn action(&self, name: &str) -> Result<Arc<dyn Action>, StepError> {
        self.rt.registry.get(name).ok_or_else(|| {
            StepError::park(
                "action_missing",
                format!("action {name} is not registered on this node"),
            )
        })
    }

    async fn run_step(&self, run: &mut SagaRun, step: &StepDef, attempt: u32) -> StepRun {
        let ctx = self.context(run, step, attempt, "");
        let started = Instant::now();
        let result = match self.action(&step.action) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await,
            Err(e) => Err(e),
        };
        let elapsed = started.elapsed();
        metrics::counter!(m::STEP_ATTEMPTS_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone()).increment(1);
        if attempt > 1 {
            metrics::counter!(m::STEP_RETRIES_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone()).increment(1);
        }
        let outcome_label = if result.is_ok() { "ok" } else { "error" };
        metrics::histogram!(m::STEP_DURATION_SECONDS, "workflow" => run.workflow.clone(), "step" => step.name.clone(), "outcome" => outcome_label)
            .record(elapsed.as_secs_f64());
        StepRun::from_result(step, attempt, result, elapsed, Phase::Action)
    }

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
                Ok(action) => action.on_signal(&ctx, &sig).await,
                Err(e) => Err(e),
            };
            let mut out =
                StepRun::from_result(step, attempt, result, Duration::ZERO, Phase::Signal);
            out.consume_signal = Some(sig.id);
            return Some(out);
        }
        if self.rt.clock.now() < until {
            // Woken early with nothing for this wait: go back to sleep until the timeout.
            return Some(StepRun {
                rewait: Some(until),
                ..StepRun::bare(Event::WaitTimedOut)
            });
        }
        let poll = step.wait.as_ref().and_then(|w| w.poll.clone());
        let Some(poll) = poll else {
            return Some(
                StepRun::bare(Event::WaitTimedOut).with_detail(json!({ "signal": signal })),
            );
        };
        let started = Instant::now();
        let result = match self.action(&poll) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await,
            Err(e) => Err(e),
        };
        Some(StepRun::from_result(
            step,
            attempt,
            result,
            started.elapsed(),
            Phase::Poll,
        ))
    }

    async fn run_compensation(&self, run: &mut SagaRun, step: &StepDef, attempt: u32) -> StepRun {
        let ctx = self.context(run, step, attempt, ":undo");
        let started = Instant::now();
        let name = step.compensation.clone().unwrap_or_default();
        let result = match self.action(&name) {
            Ok(action) => self.timed(run, step.timeout, action.run(&ctx)).await,
            Err(e) => Err(e),
        };
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!(m::COMPENSATIONS_TOTAL, "workflow" => run.workflow.clone(), "step" => step.name.clone(), "outcome" => outcome).increment(1);
        StepRun::from_result(
            step,
            attempt,
            result,
            started.elapsed(),
            Phase::Compensation,
        )
    }

    /// Runs an action under the step's timeout, extending the lease while it runs.
    async fn timed(
        &self,
        run: &mut SagaRun,
        timeout: Option<Duration>,
        fut: impl std::future::Future<Output = Result<StepOutcome, StepError>>,
    ) -> Result<StepOutcome, StepError> {
        let limit = timeout.unwrap_or(Duration::from_secs(24 * 3600));
        let every = (self.rt.worker.lease / 3).max(Duration::from_millis(50));
        let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let fut = tokio::time::timeout(limit, fut);
        tokio::pin!(fut);
        loop {
            tokio::select! {
                res = &mut fut => {
                    return res.unwrap_or_else(|_| Err(StepError::retryable("timeout", format!("step ran longer than {}", humantime::format_duration(limit)))));
                }
                _ = beat.tick() => {
                    let until = self.lease_from(self.rt.clock.now());
                    match self.rt.store.heartbeat(run.id, &self.id, run.version, until).await {
                        Ok(true) => {
                            run.lease_until = until;
                            debug!("lease extended");
                        }
                        Ok(false) => warn!("lease lost while the step ran; its checkpoint will be dropped"),
                        Err(e) => warn!(error = %e, "heartbeat failed"),
                    }
                }
            }
        }
    }

    fn checkpoint_for(
        &self,
        def: &WorkflowDef,
        run: &mut SagaRun,
        d: &lifecycle::Decision,
        step: &mut StepRun,
        now: DateTime<Utc>,
        keep_going: bool,
    ) -> Checkpoint {
        let acted_on = run
            .state
            .step()
            .and_then(|i| def.steps.get(i))
            .map(|s| s.name.clone());
        let mut events = std::mem::take(&mut run.carried);
        if step.rewait.is_none() {
            let mut detail = step.detail.take().unwrap_or_else(|| json!({}));
            if let Value::Object(map) = &mut detail {
                map.insert("to".into(), json!(d.state.status()));
                map.insert("worker".into(), json!(self.id));
                if let Next::At(t) = d.next {
                    map.insert("next_run_at".into(), json!(t));
                }
            }
            events.push(NewEvent {
                step: acted_on,
                kind: d.kind.into(),
                attempt: run.state.attempt() as i32,
                detail,
            });
            if d.state.is_terminal()
                || matches!(d.state, SagaState::Failed { .. } | SagaState::Parked { .. })
            {
                events.push(NewEvent {
                    step: None,
                    kind: format!("saga_{}", d.state.status()),
                    attempt: 0,
                    detail: json!({}),
                });
            }
        }
        if let Some((name, output)) = step.output.take() {
            merge_output(&mut run.data, step.phase, &name, output);
        }
        let holder = Holder::Lease {
            until: run.lease_until,
            length: self.rt.worker.lease,
            go_on: keep_going,
        };
        let row = transition::row_update(def, d, now, run.signal_seq, holder)
            .with_data(run.data.clone())
            .with_last_error(LastError::of_attempt(step.error.take()));
        if let Some(until) = row.renewed_lease() {
            run.lease_until = until;
        }
        Checkpoint {
            saga_id: run.id,
            lease: Lease {
                owner: self.id.clone(),
                version: run.version,
            },
            row,
            events,
            consume_signal: step.consume_signal,
            effects: std::mem::take(&mut step.effects),
            now,
        }
    }
}

/// The in-memory copy of a claimed saga.
struct SagaRun {
    id: Uuid,
    workflow: String,
    state: SagaState,
    data: Value,
    version: i64,
    signal_seq: i64,
    created_at: DateTime<Utc>,
    /// When this worker's lease runs out, as last written (claim, heartbeat or checkpoint).
    lease_until: DateTime<Utc>,
    /// History events waiting to ride on the next checkpoint.
    carried: Vec<NewEvent>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Action,
    Signal,
    Poll,
    Compensation,
}

/// What running one state's work produced.
struct StepRun {
    event: Event,
    /// (step name, output) to record in the saga's data.
    output: Option<(String, Value)>,
    phase: Phase,
    detail: Option<Value>,
    error: Option<Value>,
    effects: Effects,
    consume_signal: Option<i64>,
    /// A spurious wake-up: write the same waiting state back, due at this time, with no
    /// history event.
    rewait: Option<DateTime<Utc>>,
}

impl StepRun {
    fn bare(event: Event) -> Self {
        Self {
            event,
            output: None,
            phase: Phase::Action,
            detail: None,
            error: None,
            effects: Effects::default(),
            consume_signal: None,
            rewait: None,
        }
    }

    fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    fn from_result(
        step: &StepDef,
        attempt: u32,
        result: Result<StepOutcome, StepError>,
        elapsed: Duration,
        phase: Phase,
    ) -> Self {
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        match result {
            Ok(mut outcome) if outcome.failure.is_some() => {
                let effects = std::mem::take(&mut outcome.effects);
                let err = outcome.failure.take();
                let err = err.unwrap_or_else(|| StepError::retryable("internal", "no failure"));
                Self::failure(step, attempt, err, duration_ms, phase, effects)
            }
            Ok(outcome) => {
                let event = match (phase, outcome.kind) {
                    (Phase::Compensation, _) => Event::CompensationSucceeded,
                    (Phase::Poll | Phase::Signal, OutcomeKind::Pending) => Event::PollPending,
                    (_, OutcomeKind::Wait) => Event::StepSucceeded { wait: true },
                    (Phase::Action, OutcomeKind::Pending) => Event::StepSucceeded { wait: true },
                    (_, OutcomeKind::Done) => Event::StepSucceeded { wait: false },
                };
                let output = (outcome.kind != OutcomeKind::Pending)
                    .then(|| (step.name.clone(), outcome.output.clone()));
                let mut detail = json!({ "duration_ms": duration_ms, "phase": phase.label() });
                if outcome.kind != OutcomeKind::Pending {
                    detail["output"] = outcome.output;
                }
                Self {
                    event,
                    output,
                    phase,
                    detail: Some(detail),
                    error: None,
                    effects: outcome.effects,
                    consume_signal: None,
                    rewait: None,
                }
            }
            Err(err) => Self::failure(step, attempt, err, duration_ms, phase, Effects::default()),
        }
    }

    /// A failed attempt: the error decides the event; `effects` still commit with it.
    fn failure(
        step: &StepDef,
        attempt: u32,
        err: StepError,
        duration_ms: f64,
        phase: Phase,
        effects: Effects,
    ) -> Self {
        let error = json!({
            "code": err.code(),
            "message": err.message(),
            "step": step.name,
            "attempt": attempt,
            "phase": phase.label(),
        });
        let event = match (&err, phase) {
            (StepError::Retryable { .. }, Phase::Compensation) => Event::CompensationFailed {
                retryable: true,
                reason: err.to_string(),
            },
            (_, Phase::Compensation) => Event::CompensationFailed {
                retryable: false,
                reason: err.to_string(),
            },
            (StepError::Retryable { retry_after, .. }, _) => Event::StepFailed {
                retryable: true,
                retry_after: *retry_after,
                reason: err.to_string(),
            },
            (StepError::Permanent { .. }, _) => Event::StepFailed {
                retryable: false,
                retry_after: None,
                reason: err.to_string(),
            },
            (StepError::Park { .. }, _) => Event::Park {
                reason: err.to_string(),
            },
        };
        Self {
            event,
            output: None,
            phase,
            detail: Some(
                json!({ "duration_ms": duration_ms, "phase": phase.label(), "error": error }),
            ),
            error: Some(error),
            effects,
            consume_signal: None,
            rewait: None,
        }
    }
}

/// True when the database refused a checkpoint's domain write itself (a rule the write
/// enforces, a constraint, a trigger), as opposed to a connection or a conflict that a rerun
/// could get past.
fn refused_write(e: &crate::store::Error) -> bool {
    match e {
        crate::store::Error::Db(sqlx::Error::Protocol(_)) => true,
        crate::store::Error::Db(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|code| code.starts_with("23") || code == "P0001"),
        _ => false,
    }
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Action => "action",
            Phase::Signal => "signal",
            Phase::Poll => "poll",
            Phase::Compensation => "compensation",
        }
    }
}

/// Records a step's output under `steps.<name>` (compensations under `compensations.<name>`).
/// A signal's or poll's output merges into what the action recorded before the wait.
fn merge_output(data: &mut Value, phase: Phase, name: &str, output: Value) {
    let section = if phase == Phase::Compensation {
        "compensations"
    } else {
        "steps"
    };
    if !data.is_object() {
        *data = json!({});
    }
    let slot = &mut data[section];
    if !slot.is_object() {
        *slot = json!({});
    }
    match (&mut slot[name], output) {
        (Value::Object(existing), Value::Object(new))
            if matches!(phase, Phase::Signal | Phase::Poll) =>
        {
            existing.extend(new)
        }
        (target, output) => *target = output,
    }
}
