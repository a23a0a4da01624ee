//! When a checkpoint may ride on the next one, and every reason it may not.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::engine::action::OutboxRow;
use crate::engine::definition::{Known, parse};
use crate::engine::lifecycle::{self, Event};
use crate::engine::transition::{self, Holder, SagaRowUpdate};

const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "price"
action = "inner"

[[steps]]
name = "reserve"
action = "inner"

[[steps]]
name = "pack"
action = "inner"
queue = "packing"

[[steps]]
name = "charge"
action = "keyed"

[[steps]]
name = "invoice"
action = "inner"
"#;

const LEASE: Duration = Duration::from_secs(30);

fn def() -> Arc<WorkflowDef> {
    Arc::new(parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn effect(action: &str) -> Option<Effect> {
    match action {
        "inner" => Some(Effect::Internal),
        "keyed" => Some(Effect::ProviderKey { provider: "p" }),
        _ => None,
    }
}

fn at(step: usize) -> SagaState {
    SagaState::Running { step, attempt: 1 }
}

/// The decision after `step` at `from`, and the row a worker whose lease runs out
/// `lease_left` seconds from now would write for it.
fn decided(
    def: &Arc<WorkflowDef>,
    from: &SagaState,
    step: &StepRun,
    lease_left: i64,
    go_on: bool,
) -> (Decision, SagaRowUpdate) {
    let decision = lifecycle::decide(def, from, &step.event, now(), 0.5).unwrap();
    let holder = Holder::Lease {
        until: now() + chrono::Duration::seconds(lease_left),
        length: LEASE,
        go_on,
    };
    let row = transition::row_update(def, &decision, now(), 0, holder);
    (decision, row)
}

/// Whether a checkpoint after `step` at `from` defers, for a worker whose lease runs out
/// `lease_left` seconds from now.
fn check(from: usize, step: &StepRun, lease_left: i64, go_on: bool, slotted: bool) -> bool {
    let def = def();
    let from = at(from);
    let (decision, row) = decided(&def, &from, step, lease_left, go_on);
    let link = Link {
        from: &from,
        step,
        row: &row,
        slotted,
        hooks: false,
    };
    defers(&def, &decision, &link, effect)
}

fn done() -> StepRun {
    StepRun::bare(Event::StepSucceeded { wait: false })
}

#[test]
fn an_internal_step_before_another_rides_on_the_next_checkpoint() {
    assert!(check(0, &done(), 25, true, false));
}

#[test]
fn the_step_before_a_queued_one_commits() {
    assert!(def().steps[2].queue.is_some());
    assert!(!check(1, &done(), 25, true, false));
}

#[test]
fn an_attempt_that_held_a_queue_slot_commits() {
    assert!(!check(0, &done(), 25, true, true));
}

#[test]
fn the_step_before_an_outside_effect_commits_first() {
    // `pack` -> `charge`, with the queue rule set aside: the charge's effect alone ends it.
    let def = def();
    let (from, step) = (at(2), done());
    let (decision, row) = decided(&def, &from, &step, 25, true);
    let link = Link {
        from: &from,
        step: &step,
        row: &row,
        slotted: false,
        hooks: false,
    };
    let mut unqueued = (*def).clone();
    unqueued.steps[2].queue = None;
    assert!(!defers(&unqueued, &decision, &link, effect));
    assert!(defers(&unqueued, &decision, &link, |_| Some(
        Effect::Internal
    )));
}

#[test]
fn a_step_with_an_outside_effect_commits_its_own_checkpoint() {
    assert!(!check(3, &done(), 25, true, false));
}

#[test]
fn the_last_step_commits_the_settled_saga() {
    assert!(!check(4, &done(), 25, true, false));
}

#[test]
fn a_lease_that_needs_renewing_commits() {
    assert!(!check(0, &done(), 10, true, false));
}

#[test]
fn a_stopping_worker_commits() {
    assert!(!check(0, &done(), 25, false, false));
}

#[test]
fn a_failure_commits() {
    let failed = StepRun {
        error: Some(serde_json::json!({ "code": "x" })),
        ..StepRun::bare(Event::StepFailed {
            retryable: true,
            retry_after: None,
            reason: "x".into(),
        })
    };
    assert!(!check(0, &failed, 25, true, false));
}

#[test]
fn rows_to_write_commit() {
    let mut step = done();
    step.effects.outbox.push(OutboxRow {
        topic: "t".into(),
        destination: None,
        payload: serde_json::json!({}),
    });
    assert!(!check(0, &step, 25, true, false));
}

#[test]
fn hooks_waiting_for_the_commit_commit() {
    let def = def();
    let (from, step) = (at(0), done());
    let (decision, row) = decided(&def, &from, &step, 25, true);
    let mut link = Link {
        from: &from,
        step: &step,
        row: &row,
        slotted: false,
        hooks: false,
    };
    assert!(defers(&def, &decision, &link, effect));
    link.hooks = true;
    assert!(!defers(&def, &decision, &link, effect));
}
