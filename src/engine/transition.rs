//! Step 4 of a saga's flow, second half: the lifecycle has decided, and this turns the
//! decision and its definition into the one update of the saga row that records it. Pure: a
//! worker's checkpoint and an operator's action both build their row update here, and the
//! store writes it with one writer (fenced by the worker's lease, or by the row lock an
//! operator's transaction holds). A rule about the row (when it is next due, who keeps the
//! lease, when it counts as finished) is therefore changed in this file and nowhere else.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::definition::WorkflowDef;
use super::lifecycle::{Decision, Next, SagaState};

/// Everything one transition sets on the saga row. The store adds only what no rule decides:
/// the version bump, the history counter and the time of the write.
#[derive(Debug, Clone, PartialEq)]
pub struct SagaRowUpdate {
    /// The new lifecycle state: the row's `status` and `state` columns both come from it.
    pub state: SagaState,
    /// The name of the step the new state is about, so listings need not read the state.
    pub current_step: Option<String>,
    pub attempt: i32,
    /// When the saga is next due and what becomes of the lease.
    pub due: Due,
    /// Set when the new state waits for a signal: a signal that came in while the step ran
    /// must not be slept through, so the writer makes the saga due at once if it sees one.
    pub wait_guard: Option<WaitGuard>,
    /// Completed, compensated or cancelled: `finished_at` is set. It is cleared otherwise,
    /// because only these three states are ends.
    pub finished: bool,
    /// The saga's data (input and step outputs) as the worker holds it. `None` leaves the
    /// column alone: an operator's action changes the state, never the data.
    pub data: Option<Value>,
    /// What becomes of `last_error`.
    pub last_error: LastError,
    /// A worker's write keeps `recovering` set: the attempt that may have run before has not
    /// run since (it was held before it acted, or never reached). Any other worker write
    /// clears it; an operator's always sets it.
    pub still_recovering: bool,
}

/// The due time and the lease, together: `next_run_at` is also the lease expiry while a
/// worker holds the saga (see docs/architecture.md, "One column for due time, leases and
/// timers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// The worker keeps its lease and goes straight on to the next step. `Some(t)` renews the
    /// lease until `t`; `None` leaves lease and due time as they are, so the update touches no
    /// indexed column and Postgres writes it as a HOT update.
    Hold(Option<DateTime<Utc>>),
    /// Any lease is cleared. Due at `Some(t)` (now, a retry delay, a wait's timeout), or
    /// never (`None`: waiting for a signal with no timer, finished, held for an operator),
    /// which keeps the row out of the claim query's partial index.
    Release(Option<DateTime<Utc>>),
}

/// A wait being entered: its signal name (alternatives joined by `|`) and the saga's signal
/// counter as last seen, so the writer can tell whether a delivery came in since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitGuard {
    pub signal: String,
    pub seen_signal_seq: i64,
}

/// What a transition does to the row's `last_error`.
#[derive(Debug, Clone, PartialEq)]
pub enum LastError {
    /// Left as it is: an operator's action does not erase why the saga needed one.
    Keep,
    /// The attempt that led here did not fail.
    Clear,
    /// The attempt that led here failed with this error.
    Set(Value),
}

impl LastError {
    /// The worker's rule: each attempt's error replaces the last one, or clears it.
    pub(crate) fn of_attempt(error: Option<Value>) -> Self {
        error.map_or(LastError::Clear, LastError::Set)
    }
}

/// Who writes the transition, and so what happens to the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A worker under its lease, which runs out at `until` and lasts `length` when renewed.
    /// `go_on` is false while the worker stops: a saga due now is then let go, due now, for
    /// another node.
    Lease {
        until: DateTime<Utc>,
        length: Duration,
        go_on: bool,
    },
    /// An operator, under a row lock: whoever held the lease loses it (the version bump fences
    /// the worker's next checkpoint out), and the saga is due when the decision says.
    Operator,
}

/// The row update that records `decision` for a saga of `def`, written at `now`.
/// `seen_signal_seq` is the saga's signal counter as the writer last read it.
pub(crate) fn row_update(
    def: &WorkflowDef,
    decision: &Decision,
    now: DateTime<Utc>,
    seen_signal_seq: i64,
    holder: Holder,
) -> SagaRowUpdate {
    let state = &decision.state;
    let due = match holder {
        Holder::Lease {
            until,
            length,
            go_on: true,
        } if decision.next == Next::Now => Due::Hold(renewal(until, length, now)),
        _ => Due::Release(due_at(decision.next, now)),
    };
    let wait_guard = match state {
        SagaState::Waiting { signal, .. } => Some(WaitGuard {
            signal: signal.clone(),
            seen_signal_seq,
        }),
        _ => None,
    };
    SagaRowUpdate {
        current_step: step_name(def, state),
        attempt: state.attempt() as i32,
        due,
        wait_guard,
        finished: state.is_terminal(),
        data: None,
        last_error: LastError::Keep,
        still_recovering: false,
        state: state.clone(),
    }
}

impl SagaRowUpdate {
    /// Writes the worker's copy of the saga's data with the transition.
    pub(crate) fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    pub(crate) fn with_last_error(mut self, last_error: LastError) -> Self {
        self.last_error = last_error;
        self
    }

    /// Keeps `recovering` set when the worker's copy still says so (see `still_recovering`).
    pub(crate) fn with_recovering(mut self, recovering: bool) -> Self {
        self.still_recovering = recovering;
        self
    }

    /// True when the worker keeps the saga and runs its next step at once.
    pub(crate) fn goes_on(&self) -> bool {
        matches!(self.due, Due::Hold(_))
    }

    /// The new lease expiry, when this update renews the lease.
    pub(crate) fn renewed_lease(&self) -> Option<DateTime<Utc>> {
        match self.due {
            Due::Hold(renewed) => renewed,
            Due::Release(_) => None,
        }
    }
}

/// When a decision's saga is next due, for a writer that lets go of it.
pub(crate) fn due_at(next: Next, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match next {
        Next::Now => Some(now),
        Next::At(t) => Some(t),
        Next::Idle => None,
    }
}

/// A lease taken or renewed at `now`.
pub(crate) fn lease_until(now: DateTime<Utc>, length: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(length).unwrap_or(chrono::Duration::seconds(30))
}

/// Renews a lease only once half of it is gone: most checkpoints of a saga running straight
/// through then leave `next_run_at` alone, which is what lets them be HOT updates.
fn renewal(until: DateTime<Utc>, length: Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let half = chrono::Duration::from_std(length / 2).unwrap_or_default();
    (until - now < half).then(|| lease_until(now, length))
}

/// The name of the step `state` is about.
pub(crate) fn step_name(def: &WorkflowDef, state: &SagaState) -> Option<String> {
    state
        .step()
        .and_then(|i| def.steps.get(i))
        .map(|s| s.name.clone())
}

#[cfg(test)]
#[path = "transition_tests.rs"]
mod tests;
