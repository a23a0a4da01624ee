//! After the lifecycle has decided: assemble the checkpoint that records the decision, i.e.
//! the history events, the step's output merged into the saga's data, and the row update from
//! `engine::transition`, fenced by this worker's lease. Pure (no clock, no database), so
//! `saga.rs` hands the result to the committer and the tests below check it directly.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::outcome::{Phase, StepRun};
use super::saga::SagaRun;
use crate::engine::definition::WorkflowDef;
use crate::engine::lifecycle::{Decision, Next, SagaState};
use crate::engine::transition::{self, Holder, LastError};
use crate::store::{Checkpoint, Lease, NewEvent};

/// The worker writing the checkpoint, as the lease rules need it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Writer<'a> {
    /// The lease owner: the fence, and the `worker` named in the history.
    pub(super) id: &'a str,
    /// How long a renewed lease lasts.
    pub(super) lease: Duration,
    /// False while the worker stops: the saga is let go even when it is due now.
    pub(super) go_on: bool,
}

/// The checkpoint that records `decision` for `run`, after `step`. Takes the carried events,
/// the step's output, error and effects out of their holders; merges the output into
/// `run.data` and moves `run.lease_until` when the lease is renewed, because the worker's copy
/// must match what is written.
pub(super) fn assemble(
    def: &WorkflowDef,
    run: &mut SagaRun,
    decision: &Decision,
    step: &mut StepRun,
    now: DateTime<Utc>,
    by: Writer<'_>,
) -> Checkpoint {
    let mut events = std::mem::take(&mut run.carried);
    if step.rewait.is_none() {
        events.extend(history(
            def,
            &run.state,
            decision,
            step.detail.take(),
            by.id,
        ));
    }
    if let Some((name, output)) = step.output.take() {
        merge_output(&mut run.data, step.phase, &name, output);
    }
    let holder = Holder::Lease {
        until: run.lease_until,
        length: by.lease,
        go_on: by.go_on,
    };
    let row = transition::row_update(def, decision, now, run.signal_seq, holder)
        .with_data(run.data.clone())
        .with_last_error(LastError::of_attempt(step.error.take()))
        .with_recovering(run.recovering);
    if let Some(until) = row.renewed_lease() {
        run.lease_until = until;
    }
    Checkpoint {
        saga_id: run.id,
        lease: Lease {
            owner: by.id.to_string(),
            version: run.version,
        },
        row,
        events,
        consume_signal: step.consume_signal,
        effects: std::mem::take(&mut step.effects),
        now,
    }
}

/// Keeps a checkpoint that rides on the next one (see `chain.rs`) in the worker's copy: its
/// history events join the carried ones and its output merges into `run.data`, so the next
/// checkpoint writes both. The lease and version stay as last written.
pub(super) fn carry(
    def: &WorkflowDef,
    run: &mut SagaRun,
    decision: &Decision,
    step: &mut StepRun,
    by: Writer<'_>,
) {
    let events = history(def, &run.state, decision, step.detail.take(), by.id);
    run.carried.extend(events);
    if let Some((name, output)) = step.output.take() {
        merge_output(&mut run.data, step.phase, &name, output);
    }
}

/// The history a transition from `from` writes: one event on the step that was acted on,
/// saying where it led, and a `saga_<status>` event when the saga settles.
pub(super) fn history(
    def: &WorkflowDef,
    from: &SagaState,
    decision: &Decision,
    detail: Option<Value>,
    worker: &str,
) -> Vec<NewEvent> {
    let mut detail = detail.unwrap_or_else(|| json!({}));
    if let Value::Object(map) = &mut detail {
        map.insert("to".into(), json!(decision.state.status()));
        map.insert("worker".into(), json!(worker));
        if let Next::At(t) = decision.next {
            map.insert("next_run_at".into(), json!(t));
        }
    }
    let mut events = vec![NewEvent {
        step: transition::step_name(def, from),
        kind: decision.kind.into(),
        attempt: from.attempt() as i32,
        detail,
    }];
    if decision.state.is_settled() {
        events.push(NewEvent {
            step: None,
            kind: format!("saga_{}", decision.state.status()),
            attempt: 0,
            detail: json!({}),
        });
    }
    events
}

/// Records a step's output under `steps.<name>` (compensations under `compensations.<name>`).
/// A signal's or poll's output merges into what the action recorded before the wait, so the
/// reference the action kept survives the answer.
pub(super) fn merge_output(data: &mut Value, phase: Phase, name: &str, output: Value) {
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

#[cfg(test)]
#[path = "checkpoint_tests.rs"]
mod tests;
