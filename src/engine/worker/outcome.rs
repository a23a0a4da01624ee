//! Between an attempt and the lifecycle: what an action, a signal, a poll or a compensation
//! returned becomes a [`StepRun`], whose `event` is what `lifecycle::decide` is asked about.
//! Pure; `attempt.rs` produces these, `saga.rs` decides on them, `checkpoint.rs` writes them.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::engine::action::{Effects, OutcomeKind, StepError, StepOutcome};
use crate::engine::definition::StepDef;
use crate::engine::lifecycle::Event;

/// Which kind of work produced a result: it decides the lifecycle event and where the output
/// is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Action,
    Signal,
    Poll,
    Compensation,
}

impl Phase {
    /// The name the history and `last_error` use.
    pub(super) fn label(self) -> &'static str {
        match self {
            Phase::Action => "action",
            Phase::Signal => "signal",
            Phase::Poll => "poll",
            Phase::Compensation => "compensation",
        }
    }
}

/// What running one state's work produced.
pub(super) struct StepRun {
    pub(super) event: Event,
    /// (step name, output) to record in the saga's data.
    pub(super) output: Option<(String, Value)>,
    pub(super) phase: Phase,
    /// The history event's detail: duration, phase, and the output or the error.
    pub(super) detail: Option<Value>,
    /// The new `last_error`: set by a failure, cleared by anything else.
    pub(super) error: Option<Value>,
    pub(super) effects: Effects,
    /// The signal a waiting step read, consumed with the checkpoint.
    pub(super) consume_signal: Option<i64>,
    /// A spurious wake-up: write the same waiting state back, due at this time, with no
    /// history event.
    pub(super) rewait: Option<DateTime<Utc>>,
}

impl StepRun {
    /// An event with nothing else to record.
    pub(super) fn bare(event: Event) -> Self {
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

    pub(super) fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    /// A woken wait with nothing for it: back to sleep until `until`.
    pub(super) fn rewait(until: DateTime<Utc>) -> Self {
        Self {
            rewait: Some(until),
            ..Self::bare(Event::WaitTimedOut)
        }
    }

    /// The outcome-to-event mapping: what `phase`'s result means to the lifecycle.
    pub(super) fn from_result(
        step: &StepDef,
        attempt: u32,
        result: Result<StepOutcome, StepError>,
        elapsed: Duration,
        phase: Phase,
    ) -> Self {
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        match result {
            Ok(mut outcome) if outcome.failure.is_some() => {
                // `StepOutcome::failed`: a failure whose effects still commit.
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
                // "Not yet" has no output worth keeping; anything else is the step's result.
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
    pub(super) fn failure(
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
            // Held before it was sent, in any phase: the same attempt comes due again.
            (StepError::Deferred { retry_in, .. }, _) => Event::Deferred {
                retry_in: *retry_in,
                reason: err.to_string(),
            },
            (StepError::Retryable { .. } | StepError::Unknown { .. }, Phase::Compensation) => {
                Event::CompensationFailed {
                    retryable: true,
                    reason: err.to_string(),
                }
            }
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
            (StepError::Unknown { retry_after, .. }, _) => Event::OutcomeUnknown {
                retry_after: *retry_after,
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

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
