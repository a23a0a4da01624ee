//! Running one saga, from its claim (or hand-off) until it stops being due now. Each turn runs
//! one attempt (`attempt.rs`), asks the lifecycle what the outcome means, and commits the
//! checkpoint (`checkpoint.rs`) through the group committer. The worker keeps the lease and
//! goes straight on while the saga is due now, so a saga of quick steps costs no re-claim
//! between them, and a run of internal steps one commit in all (`chain.rs`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info_span, warn};
use uuid::Uuid;

use super::Worker;
use super::chain::{self, Link};
use super::checkpoint::{self, Writer};
use super::finished;
use super::outcome::StepRun;
use super::queue::HeldSlot;
use super::refused::{self, Undo};
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{self, Decision, Event, IllegalTransition, Next, SagaState};
use crate::engine::queues::JobReport;
use crate::engine::transition::{self, Holder};
use crate::store::{ClaimedSaga, NewEvent};
use crate::telemetry as m;

/// The worker's copy of a saga it holds. It must match the row after every commit; a
/// refused write is undone in it (`refused.rs`) so a retry starts from what was written.
pub(super) struct SagaRun {
    pub(super) id: Uuid,
    pub(super) workflow: String,
    pub(super) state: SagaState,
    pub(super) data: Value,
    /// The fence version: moves with every commit this worker makes.
    pub(super) version: i64,
    /// The signal counter as last read, for the wait guard.
    pub(super) signal_seq: i64,
    pub(super) created_at: DateTime<Utc>,
    /// When this worker's lease runs out, as last written (claim, heartbeat or checkpoint).
    pub(super) lease_until: DateTime<Utc>,
    /// History events waiting to ride on the next checkpoint.
    pub(super) carried: Vec<NewEvent>,
    /// The next attempt ran before and its outcome was never recorded (see
    /// [`crate::engine::action::Execution::Recovered`]); cleared once an attempt has run.
    pub(super) recovering: bool,
    /// When the next attempt became due: the claim's due time, then each commit's time. A
    /// queued step's job run counts its wait from here.
    pub(super) due_at: DateTime<Utc>,
    /// The queue slot the attempt in progress holds (`queue.rs`).
    pub(super) slot: Option<HeldSlot>,
    /// What the attempt in progress reports (progress, the record it works on).
    pub(super) report: JobReport,
    /// The retry spread sample of the attempt in progress: drawn before it runs, so its
    /// context can say when a retry would be due and the checkpoint schedules that very time.
    pub(super) jitter: f64,
}

impl From<ClaimedSaga> for SagaRun {
    fn from(saga: ClaimedSaga) -> Self {
        Self {
            id: saga.id,
            workflow: saga.workflow,
            state: saga.state,
            data: saga.data,
            version: saga.version,
            signal_seq: saga.signal_seq,
            created_at: saga.created_at,
            lease_until: saga.lease_until,
            carried: Vec::new(),
            recovering: saga.recovering,
            due_at: saga.due_at,
            slot: None,
            report: JobReport::default(),
            jitter: 0.5,
        }
    }
}

#[cfg(test)]
impl SagaRun {
    /// A saga held since `now` with a lease running out then, at version 3.
    pub(super) fn for_test(state: SagaState, now: DateTime<Utc>) -> Self {
        Self {
            id: Uuid::nil(),
            workflow: "t".into(),
            state,
            data: json!({ "input": {} }),
            version: 3,
            signal_seq: 0,
            created_at: now,
            lease_until: now,
            carried: Vec::new(),
            recovering: false,
            due_at: now,
            slot: None,
            report: JobReport::default(),
            jitter: 0.5,
        }
    }
}

/// What the saga's loop does after a commit.
enum Turn {
    /// Due now, lease kept: run the next attempt.
    GoOn,
    /// Let go (due later, waiting, settled), fenced out, or left to its lease.
    Stop,
    /// The database refused the checkpoint: record this failed attempt instead.
    Refused(Box<StepRun>),
}

impl Worker {
    /// Runs a held saga to where it stops being due now, tracking it for a drain meanwhile.
    pub(super) async fn run_saga(&self, saga: ClaimedSaga, shutdown: &CancellationToken) {
        let span = info_span!("saga", saga_id = %saga.id, workflow = %saga.workflow);
        let id = saga.id;
        self.track(id, Some(saga.version));
        self.drive(saga, shutdown).instrument(span).await;
        self.track(id, None);
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
        let mut run = SagaRun::from(saga);
        let mut refused: Option<StepRun> = None;
        loop {
            // A failed attempt that replaces a refused checkpoint is not replaced again: if
            // even that cannot be written, the saga is left to its lease.
            let replacing = refused.is_some();
            if shutdown.is_cancelled() {
                let now = self.rt.clock.now();
                let _ = self
                    .rt
                    .store
                    .release(run.id, &self.id, run.version, now)
                    .await;
                return;
            }
            let step = match refused.take() {
                Some(failed) => failed,
                None => {
                    if let Err(e) = start(&def, &mut run, self.rt.clock.now()) {
                        error!(error = %e, "cannot start saga");
                        return;
                    }
                    if !self.enter_queue(&def, &mut run).await {
                        return;
                    }
                    run.jitter = rand::random();
                    match self.attempt(&def, &mut run).await {
                        Some(step) => step,
                        None => return,
                    }
                }
            };
            if let Some(name) = run.state.step().and_then(|i| def.steps.get(i)) {
                super::crash_point::before_checkpoint(&run.workflow, &name.name, step.phase);
            }
            let now = self.rt.clock.now();
            let decision = match decide(&def, &run.state, &step, now, run.jitter) {
                Ok(d) => d,
                Err(e) => {
                    // Only reachable through a bug: the worker sent an event the state
                    // cannot take. Leave the saga to its lease rather than guess.
                    error!(error = %e, "illegal transition from the worker");
                    return;
                }
            };
            // How the queued step's job run ended, read before the checkpoint takes the step.
            let job_end = self.job_end(&run, &decision, &step);
            let turn = self
                .commit(&def, &mut run, decision, step, now, shutdown)
                .await;
            // A refused checkpoint is replaced by a failed attempt, which keeps the slot and
            // records the job run's end instead; anything else lets the slot go now.
            if replacing || !matches!(turn, Turn::Refused(_)) {
                self.leave_queue(&mut run, job_end).await;
            }
            match turn {
                Turn::GoOn => {}
                Turn::Stop => return,
                Turn::Refused(_) if replacing => return,
                Turn::Refused(failed) => refused = Some(*failed),
            }
        }
    }

    /// Commits the checkpoint that records `decision` and brings `run` up to date with it.
    async fn commit(
        &self,
        def: &WorkflowDef,
        run: &mut SagaRun,
        decision: Decision,
        mut step: StepRun,
        now: DateTime<Utc>,
        shutdown: &CancellationToken,
    ) -> Turn {
        // Hooks count what happened, so they run only once the checkpoint has committed.
        let hooks = std::mem::take(&mut step.effects.committed);
        let writer = Writer {
            id: &self.id,
            lease: self.rt.worker.lease,
            go_on: !shutdown.is_cancelled(),
        };
        let chained = {
            let holder = Holder::Lease {
                until: run.lease_until,
                length: writer.lease,
                go_on: writer.go_on,
            };
            let row = transition::row_update(def, &decision, now, run.signal_seq, holder);
            let link = Link {
                from: &run.state,
                step: &step,
                row: &row,
                slotted: run.slot.is_some(),
                hooks: !hooks.is_empty(),
            };
            self.chains(def, &decision, &link)
        };
        if chained {
            checkpoint::carry(def, run, &decision, &mut step, writer);
            run.state = decision.state;
            run.due_at = now;
            return Turn::GoOn;
        }
        // Taken only for a checkpoint that is written: it copies the carried events and data.
        let undo = Undo::before(run, &step);
        let cp = checkpoint::assemble(def, run, &decision, &mut step, now, writer);
        let goes_on = cp.row.goes_on();
        match self.committer.commit(cp).await {
            Ok(Some(done)) => {
                hooks.into_iter().for_each(|hook| hook());
                run.version = done.version;
                run.signal_seq = done.signal_seq;
                self.track(run.id, Some(run.version));
                run.state = decision.state;
                if run.state.is_settled() {
                    finished::saga_settled(&self.rt.hooks, run, now);
                }
                // The next attempt is due from this commit on.
                run.due_at = now;
                if goes_on { Turn::GoOn } else { Turn::Stop }
            }
            Ok(None) => {
                metrics::counter!(m::FENCED_WRITES_TOTAL).increment(1);
                warn!("checkpoint fenced out: lease lost or an operator acted; result dropped");
                Turn::Stop
            }
            Err(e) => {
                if let Some(refusal) = refused::refusal(&e) {
                    // Running the step again would most likely be refused again: record a
                    // failed attempt instead, so the retry policy (with its backoff, then
                    // compensation or an operator) takes over.
                    warn!(error = %e, ?refusal, "the database refused the checkpoint; recording a failed attempt");
                    let phase = undo.restore(run);
                    if let Some(failed) = refused::failed_attempt(def, run, phase, refusal, &e) {
                        return Turn::Refused(Box::new(failed));
                    }
                }
                error!(error = %e, "checkpoint failed; the lease will expire and the step run again, marked as a recovery");
                Turn::Stop
            }
        }
    }
}

impl Worker {
    /// Whether the checkpoint recording `decision` may ride on the next one (`chain.rs`).
    fn chains(&self, def: &WorkflowDef, decision: &Decision, link: &Link<'_>) -> bool {
        chain::defers(def, decision, link, |action| {
            self.rt.registry.get(action).map(|a| a.effect())
        })
    }
}

/// Starts a pending saga in memory. Starting is not worth a commit of its own: its
/// `saga_started` event rides on the first step's checkpoint.
fn start(
    def: &Arc<WorkflowDef>,
    run: &mut SagaRun,
    now: DateTime<Utc>,
) -> Result<(), IllegalTransition> {
    if run.state != SagaState::Pending {
        return Ok(());
    }
    let d = lifecycle::decide(def, &run.state, &Event::Start, now, 0.0)?;
    run.carried.push(NewEvent {
        step: None,
        kind: d.kind.into(),
        attempt: 0,
        detail: json!({}),
    });
    run.state = d.state;
    Ok(())
}

/// What the lifecycle makes of `step` in `state`. A wait woken with nothing for it changes
/// nothing: the same state is written back, due at the wait's timeout.
fn decide(
    def: &Arc<WorkflowDef>,
    state: &SagaState,
    step: &StepRun,
    now: DateTime<Utc>,
    jitter: f64,
) -> Result<Decision, IllegalTransition> {
    match step.rewait {
        Some(until) => Ok(Decision {
            state: state.clone(),
            next: Next::At(until),
            kind: "wait_resumed",
        }),
        None => lifecycle::decide(def, state, &step.event, now, jitter),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::engine::definition::{Known, parse};

    const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "a"
action = "x"
wait = { signal = "done", timeout = "10m" }
"#;

    fn def() -> Arc<WorkflowDef> {
        Arc::new(parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap())
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn run(state: SagaState) -> SagaRun {
        SagaRun::for_test(state, now())
    }

    #[test]
    fn a_pending_saga_starts_in_memory_and_carries_its_start_event() {
        let mut r = run(SagaState::Pending);
        start(&def(), &mut r, now()).unwrap();
        assert_eq!(
            r.state,
            SagaState::Running {
                step: 0,
                attempt: 1
            }
        );
        assert_eq!(r.carried.len(), 1);
        assert_eq!(r.carried[0].kind, "saga_started");
        assert_eq!(r.version, 3, "nothing was written");
    }

    #[test]
    fn a_started_saga_is_left_alone() {
        let mut r = run(SagaState::Running {
            step: 0,
            attempt: 2,
        });
        start(&def(), &mut r, now()).unwrap();
        assert_eq!(
            r.state,
            SagaState::Running {
                step: 0,
                attempt: 2
            }
        );
        assert!(r.carried.is_empty());
    }

    #[test]
    fn a_spurious_wake_up_writes_the_same_wait_back() {
        let until = now() + chrono::Duration::minutes(5);
        let waiting = SagaState::Waiting {
            step: 0,
            attempt: 1,
            signal: "done".into(),
            until,
            polls: 0,
        };
        let d = decide(&def(), &waiting, &StepRun::rewait(until), now(), 0.5).unwrap();
        assert_eq!(d.state, waiting);
        assert_eq!(d.next, Next::At(until));
    }

    #[test]
    fn any_other_step_goes_to_the_lifecycle() {
        let running = SagaState::Running {
            step: 0,
            attempt: 1,
        };
        let step = StepRun::bare(Event::StepSucceeded { wait: false });
        let d = decide(&def(), &running, &step, now(), 0.5).unwrap();
        assert_eq!(d.state, SagaState::Completed);
        assert!(decide(&def(), &SagaState::Completed, &step, now(), 0.5).is_err());
    }
}
