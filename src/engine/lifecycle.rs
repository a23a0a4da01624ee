//! The saga lifecycle as a statig state machine, used as a pure decider: an event goes in with
//! the saga's persisted state, the next state and when the saga is next due come out. No I/O
//! happens here, so restoring the machine (which re-runs entry actions) is always safe.
//!
//! Over 500 lines on purpose: it is one statig machine, whose states and their handlers read
//! best side by side; its tests already live in `lifecycle_tests.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use statig::prelude::*;

use super::definition::{OnExhausted, WorkflowDef};

/// The persisted lifecycle state. The serde tags are a storage contract: never rename them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SagaState {
    Pending,
    Running {
        step: usize,
        attempt: u32,
    },
    Waiting {
        step: usize,
        attempt: u32,
        signal: String,
        until: DateTime<Utc>,
        polls: u32,
    },
    Compensating {
        step: usize,
        attempt: u32,
        cause: Cause,
    },
    Completed,
    Compensated,
    /// A compensation failed for good: held for an operator.
    Failed {
        step: usize,
        reason: String,
        cause: Cause,
    },
    /// A step failed for good on a `park` step: held for an operator.
    Parked {
        step: usize,
        attempt: u32,
        reason: String,
    },
    Cancelled,
}

/// Why compensation runs; decides whether it ends as `compensated` or `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    Failure,
    Cancel,
}

impl SagaState {
    /// The plain `status` column that queries and dashboards use.
    pub fn status(&self) -> &'static str {
        match self {
            SagaState::Pending => "pending",
            SagaState::Running { .. } => "running",
            SagaState::Waiting { .. } => "waiting",
            SagaState::Compensating { .. } => "compensating",
            SagaState::Completed => "completed",
            SagaState::Compensated => "compensated",
            SagaState::Failed { .. } => "failed",
            SagaState::Parked { .. } => "parked",
            SagaState::Cancelled => "cancelled",
        }
    }

    pub(crate) fn is_terminal(&self) -> bool {
        matches!(
            self,
            SagaState::Completed | SagaState::Compensated | SagaState::Cancelled
        )
    }

    /// Finished, or held for an operator (parked, failed): the saga does nothing more on its
    /// own. Such a transition ends the worker's run and gets a `saga_<status>` history event.
    pub(crate) fn is_settled(&self) -> bool {
        self.is_terminal() || matches!(self, SagaState::Failed { .. } | SagaState::Parked { .. })
    }

    /// The step index this state is about, if any.
    pub fn step(&self) -> Option<usize> {
        match self {
            SagaState::Running { step, .. }
            | SagaState::Waiting { step, .. }
            | SagaState::Compensating { step, .. }
            | SagaState::Failed { step, .. }
            | SagaState::Parked { step, .. } => Some(*step),
            _ => None,
        }
    }

    pub fn attempt(&self) -> u32 {
        match self {
            SagaState::Running { attempt, .. }
            | SagaState::Waiting { attempt, .. }
            | SagaState::Compensating { attempt, .. }
            | SagaState::Parked { attempt, .. } => *attempt,
            _ => 0,
        }
    }
}

/// What happened, as the worker or an operator reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A worker picked up a pending saga.
    Start,
    /// The step's action (or its signal, or its poll) finished; `wait` asks for the step's wait.
    StepSucceeded {
        wait: bool,
    },
    StepFailed {
        retryable: bool,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The action asked to hold the saga for an operator straight away.
    Park {
        reason: String,
    },
    /// The action could not tell whether the provider acted: looked at again after a delay
    /// while attempts remain, then held for an operator (never compensated, never resubmitted).
    OutcomeUnknown {
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The work was held before it reached the provider: run it again at the same attempt
    /// after `retry_in`, spending nothing of the retry budget.
    Deferred {
        retry_in: Duration,
        reason: String,
    },
    /// A poll answered "not yet".
    PollPending,
    /// The wait's timeout passed with no signal and the step has no poll action.
    WaitTimedOut,
    CompensationSucceeded,
    CompensationFailed {
        retryable: bool,
        reason: String,
    },
    OperatorRetry,
    OperatorResume,
    OperatorCancel,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Start => "start",
            Event::StepSucceeded { .. } => "step_succeeded",
            Event::StepFailed { .. } => "step_failed",
            Event::Park { .. } => "park",
            Event::OutcomeUnknown { .. } => "outcome_unknown",
            Event::Deferred { .. } => "deferred",
            Event::PollPending => "poll_pending",
            Event::WaitTimedOut => "wait_timed_out",
            Event::CompensationSucceeded => "compensation_succeeded",
            Event::CompensationFailed { .. } => "compensation_failed",
            Event::OperatorRetry => "retry",
            Event::OperatorResume => "resume",
            Event::OperatorCancel => "cancel",
        }
    }
}

/// When the saga is next due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Run again straight away (the worker keeps its lease and goes on).
    Now,
    /// A durable timer: a retry delay or a wait's timeout.
    At(DateTime<Utc>),
    /// Nothing is due: finished, or held for an operator.
    Idle,
}

/// The decider's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub state: SagaState,
    pub next: Next,
    /// The history event kind that records this transition.
    pub kind: &'static str,
}

/// The event is not legal in the saga's current state; the API answers 409.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {event} a saga that is {status}")]
pub struct IllegalTransition {
    pub status: &'static str,
    pub event: &'static str,
}

/// Decides the next state. `jitter` is a sample in `[0, 1)` for retry spread.
pub fn decide(
    def: &Arc<WorkflowDef>,
    state: &SagaState,
    event: &Event,
    now: DateTime<Utc>,
    jitter: f64,
) -> Result<Decision, IllegalTransition> {
    let mut ctx = Ctx {
        def: def.clone(),
        now,
        jitter,
        decided: None,
    };
    let mut machine = Lifecycle.uninitialized_state_machine();
    *machine.state_mut() = State::from(state.clone());
    let mut machine = machine.init_with_context(&mut ctx);
    machine.handle_with_context(event, &mut ctx);
    match ctx.decided {
        Some((next, kind)) => Ok(Decision {
            state: SagaState::from(machine.state().clone()),
            next,
            kind,
        }),
        None => Err(IllegalTransition {
            status: state.status(),
            event: event.name(),
        }),
    }
}

/// statig's context: the definition, the time, and the decision being built.
pub struct Ctx {
    def: Arc<WorkflowDef>,
    now: DateTime<Utc>,
    jitter: f64,
    decided: Option<(Next, &'static str)>,
}

impl Ctx {
    fn go(&mut self, to: State, next: Next, kind: &'static str) -> Outcome<State> {
        self.decided = Some((next, kind));
        Transition(to)
    }

    fn after(&self, delay: Duration) -> DateTime<Utc> {
        super::clock::later(self.now, delay)
    }

    /// Moves past `step`: the next step, or completion.
    fn advance(&mut self, step: usize, kind: &'static str) -> Outcome<State> {
        if step + 1 < self.def.steps.len() {
            self.go(State::running(step + 1, 1), Next::Now, kind)
        } else {
            self.go(State::completed(), Next::Idle, kind)
        }
    }

    fn step_succeeded(&mut self, step: usize, attempt: u32, wait: bool) -> Outcome<State> {
        match (&self.def.steps[step].wait, wait) {
            (Some(w), true) => {
                let until = self.after(w.timeout);
                let signal = w.signal.clone();
                self.go(
                    State::waiting(step, attempt, signal, until, 0),
                    Next::At(until),
                    "wait_started",
                )
            }
            _ => self.advance(step, "step_succeeded"),
        }
    }

    fn step_failed(
        &mut self,
        step: usize,
        attempt: u32,
        retryable: bool,
        retry_after: Option<Duration>,
        reason: &str,
    ) -> Outcome<State> {
        if retryable && let Some(retry) = self.retry(step, attempt, retry_after) {
            return retry;
        }
        self.failed_for_good(step, attempt, reason.to_string())
    }

    /// The next attempt, after the policy's delay (or the provider's `Retry-After` when
    /// longer); `None` when the policy allows no more.
    fn retry(
        &mut self,
        step: usize,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Outcome<State>> {
        let delay = self.def.steps[step]
            .retry
            .delay_before(attempt + 1, self.jitter)?;
        let delay = retry_after.map_or(delay, |r| r.max(delay));
        let at = self.after(delay);
        Some(self.go(
            State::running(step, attempt + 1),
            Next::At(at),
            "step_retry_scheduled",
        ))
    }

    /// Nobody knows whether the step acted: another attempt (which looks first) while the
    /// policy allows one, then an operator, whatever `on_exhausted` says, as compensating an
    /// effect that may exist is as wrong as going on without it.
    fn outcome_unknown(
        &mut self,
        step: usize,
        attempt: u32,
        retry_after: Option<Duration>,
        reason: &str,
    ) -> Outcome<State> {
        if let Some(retry) = self.retry(step, attempt, retry_after) {
            return retry;
        }
        self.go(
            State::parked(step, attempt, reason.to_string()),
            Next::Idle,
            "step_parked",
        )
    }

    /// Retries are spent or the error is permanent: `on_exhausted` decides.
    fn failed_for_good(&mut self, step: usize, attempt: u32, reason: String) -> Outcome<State> {
        match self.def.steps[step].on_exhausted {
            OnExhausted::Park => self.go(
                State::parked(step, attempt, reason),
                Next::Idle,
                "step_parked",
            ),
            OnExhausted::Compensate => self.compensate_from(step, Cause::Failure, "step_failed"),
        }
    }

    /// Starts undoing from `from` (inclusive: an attempted step may have had an effect, so its
    /// compensation runs too and must tolerate an action that did nothing).
    fn compensate_from(&mut self, from: usize, cause: Cause, kind: &'static str) -> Outcome<State> {
        match self.def.compensable_at_or_before(from) {
            Some(j) => self.go(State::compensating(j, 1, cause), Next::Now, kind),
            None => self.finish_compensation(cause, kind),
        }
    }

    /// Moves to the compensation before `step`, or ends.
    fn compensate_below(
        &mut self,
        step: usize,
        cause: Cause,
        kind: &'static str,
    ) -> Outcome<State> {
        match step.checked_sub(1) {
            Some(k) => self.compensate_from(k, cause, kind),
            None => self.finish_compensation(cause, kind),
        }
    }

    fn finish_compensation(&mut self, cause: Cause, kind: &'static str) -> Outcome<State> {
        match cause {
            Cause::Failure => self.go(State::compensated(), Next::Idle, kind),
            Cause::Cancel => self.go(State::cancelled(), Next::Idle, kind),
        }
    }
}

/// The statig machine. It has no shared storage; everything lives in the state or the context.
#[derive(Debug, Default)]
pub struct Lifecycle;

#[state_machine(
    initial = "State::pending()",
    state(derive(Debug, Clone, PartialEq)),
    superstate(derive(Debug))
)]
impl Lifecycle {
    #[state]
    fn pending(context: &mut Ctx, event: &Event) -> Outcome<State> {
        match event {
            Event::Start => context.go(State::running(0, 1), Next::Now, "saga_started"),
            Event::OperatorCancel => context.go(State::cancelled(), Next::Idle, "operator_cancel"),
            _ => Super,
        }
    }

    #[state(superstate = "in_progress")]
    fn running(
        step: &mut usize,
        attempt: &mut u32,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        match event {
            Event::StepSucceeded { wait } => context.step_succeeded(*step, *attempt, *wait),
            Event::StepFailed {
                retryable,
                retry_after,
                reason,
            } => context.step_failed(*step, *attempt, *retryable, *retry_after, reason),
            Event::Deferred { retry_in, .. } => {
                let at = context.after(*retry_in);
                context.go(
                    State::running(*step, *attempt),
                    Next::At(at),
                    "step_deferred",
                )
            }
            // "Retry now": a saga sitting out a retry delay runs at once.
            Event::OperatorRetry => {
                context.go(State::running(*step, *attempt), Next::Now, "operator_retry")
            }
            _ => Super,
        }
    }

    #[state(superstate = "in_progress")]
    fn waiting(
        step: &mut usize,
        attempt: &mut u32,
        signal: &mut String,
        until: &mut DateTime<Utc>,
        polls: &mut u32,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        let _ = until;
        match event {
            Event::StepSucceeded { .. } => context.advance(*step, "step_succeeded"),
            Event::StepFailed {
                retryable,
                retry_after,
                reason,
            } => context.step_failed(*step, *attempt, *retryable, *retry_after, reason),
            // A held poll (or signal read): the wait's clock is already past, so it simply
            // comes due again later, with the same polls counted.
            Event::Deferred { retry_in, .. } => {
                let at = context.after(*retry_in);
                context.go(
                    State::waiting(*step, *attempt, signal.clone(), at, *polls),
                    Next::At(at),
                    "step_deferred",
                )
            }
            Event::PollPending => {
                let wait = context.def.steps[*step].wait.clone();
                match wait {
                    Some(w) if *polls + 1 < w.max_polls => {
                        let next_until = context.after(w.timeout);
                        context.go(
                            State::waiting(*step, *attempt, signal.clone(), next_until, *polls + 1),
                            Next::At(next_until),
                            "poll_pending",
                        )
                    }
                    _ => context.step_failed(
                        *step,
                        *attempt,
                        true,
                        None,
                        &format!("no answer for {signal} after {} polls", *polls + 1),
                    ),
                }
            }
            Event::WaitTimedOut => context.step_failed(
                *step,
                *attempt,
                true,
                None,
                &format!("timed out waiting for {signal}"),
            ),
            // Resume ends the wait now: the worker polls (or times the step out) straight away.
            Event::OperatorResume => {
                let now = context.now;
                context.go(
                    State::waiting(*step, *attempt, signal.clone(), now, *polls),
                    Next::Now,
                    "operator_resume",
                )
            }
            Event::OperatorRetry => {
                context.go(State::running(*step, 1), Next::Now, "operator_retry")
            }
            _ => Super,
        }
    }

    #[state(superstate = "in_progress")]
    fn parked(
        step: &mut usize,
        attempt: &mut u32,
        reason: &mut String,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        let _ = (attempt, reason);
        match event {
            Event::OperatorRetry => {
                context.go(State::running(*step, 1), Next::Now, "operator_retry")
            }
            // Resume: the operator has done the step by hand; carry on after it.
            Event::OperatorResume => context.advance(*step, "operator_resume"),
            _ => Super,
        }
    }

    /// Shared by running, waiting and parked: a step has been attempted, so cancelling undoes
    /// from it; an action may also park the saga.
    #[superstate]
    fn in_progress(
        step: &mut usize,
        attempt: &mut u32,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        match event {
            Event::OperatorCancel => {
                context.compensate_from(*step, Cause::Cancel, "operator_cancel")
            }
            Event::Park { reason } => context.go(
                State::parked(*step, *attempt, reason.clone()),
                Next::Idle,
                "step_parked",
            ),
            Event::OutcomeUnknown {
                retry_after,
                reason,
            } => context.outcome_unknown(*step, *attempt, *retry_after, reason),
            _ => Super,
        }
    }

    #[state]
    fn compensating(
        step: &mut usize,
        attempt: &mut u32,
        cause: &mut Cause,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        match event {
            Event::CompensationSucceeded => {
                context.compensate_below(*step, *cause, "compensation_succeeded")
            }
            Event::Deferred { retry_in, .. } => {
                let at = context.after(*retry_in);
                context.go(
                    State::compensating(*step, *attempt, *cause),
                    Next::At(at),
                    "compensation_deferred",
                )
            }
            Event::CompensationFailed { retryable, reason } => {
                let policy = &context.def.steps[*step].compensation_retry;
                let delay = if *retryable {
                    policy.delay_before(*attempt + 1, context.jitter)
                } else {
                    None
                };
                match delay {
                    Some(d) => {
                        let at = context.after(d);
                        context.go(
                            State::compensating(*step, *attempt + 1, *cause),
                            Next::At(at),
                            "compensation_retry_scheduled",
                        )
                    }
                    None => context.go(
                        State::failed(*step, reason.clone(), *cause),
                        Next::Idle,
                        "compensation_failed",
                    ),
                }
            }
            _ => Super,
        }
    }

    #[state]
    fn failed(
        step: &mut usize,
        reason: &mut String,
        cause: &mut Cause,
        context: &mut Ctx,
        event: &Event,
    ) -> Outcome<State> {
        let _ = reason;
        match event {
            Event::OperatorRetry => context.go(
                State::compensating(*step, 1, *cause),
                Next::Now,
                "operator_retry",
            ),
            // Resume: the operator undid this step by hand; go on with the ones before it.
            Event::OperatorResume => context.compensate_below(*step, *cause, "operator_resume"),
            Event::OperatorCancel => context.go(State::cancelled(), Next::Idle, "operator_cancel"),
            _ => Super,
        }
    }

    #[state]
    fn completed(event: &Event) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn compensated(event: &Event) -> Outcome<State> {
        let _ = event;
        Super
    }

    #[state]
    fn cancelled(event: &Event) -> Outcome<State> {
        let _ = event;
        Super
    }
}

impl From<SagaState> for State {
    fn from(s: SagaState) -> Self {
        match s {
            SagaState::Pending => State::pending(),
            SagaState::Running { step, attempt } => State::running(step, attempt),
            SagaState::Waiting {
                step,
                attempt,
                signal,
                until,
                polls,
            } => State::waiting(step, attempt, signal, until, polls),
            SagaState::Compensating {
                step,
                attempt,
                cause,
            } => State::compensating(step, attempt, cause),
            SagaState::Completed => State::completed(),
            SagaState::Compensated => State::compensated(),
            SagaState::Failed {
                step,
                reason,
                cause,
            } => State::failed(step, reason, cause),
            SagaState::Parked {
                step,
                attempt,
                reason,
            } => State::parked(step, attempt, reason),
            SagaState::Cancelled => State::cancelled(),
        }
    }
}

impl From<State> for SagaState {
    fn from(s: State) -> Self {
        match s {
            State::Pending {} => SagaState::Pending,
            State::Running { step, attempt } => SagaState::Running { step, attempt },
            State::Waiting {
                step,
                attempt,
                signal,
                until,
                polls,
            } => SagaState::Waiting {
                step,
                attempt,
                signal,
                until,
                polls,
            },
            State::Compensating {
                step,
                attempt,
                cause,
            } => SagaState::Compensating {
                step,
                attempt,
                cause,
            },
            State::Completed {} => SagaState::Completed,
            State::Compensated {} => SagaState::Compensated,
            State::Failed {
                step,
                reason,
                cause,
            } => SagaState::Failed {
                step,
                reason,
                cause,
            },
            State::Parked {
                step,
                attempt,
                reason,
            } => SagaState::Parked {
                step,
                attempt,
                reason,
            },
            State::Cancelled {} => SagaState::Cancelled,
        }
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
