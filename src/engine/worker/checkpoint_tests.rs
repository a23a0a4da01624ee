//! The checkpoint a worker assembles for each kind of decision.

use std::path::Path;
use std::time::Duration;

use chrono::TimeZone;

use super::*;
use crate::engine::action::OutboxRow;
use crate::engine::definition::{Known, parse};
use crate::engine::lifecycle::Event;
use crate::engine::transition::{Due, LastError};

const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "pay"
action = "x"
compensation = "refund"

[[steps]]
name = "ship"
action = "x"
wait = { signal = "shipped", timeout = "10m" }
"#;

const LEASE: Duration = Duration::from_secs(30);

fn def() -> WorkflowDef {
    parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(n)
}

/// A saga at step `pay` whose lease runs out 25 seconds from now.
fn run() -> SagaRun {
    let mut run = SagaRun::for_test(
        SagaState::Running {
            step: 0,
            attempt: 2,
        },
        now(),
    );
    run.lease_until = secs(25);
    run
}

fn writer(go_on: bool) -> Writer<'static> {
    Writer {
        id: "w-1",
        lease: LEASE,
        go_on,
    }
}

fn decision(state: SagaState, next: Next, kind: &'static str) -> Decision {
    Decision { state, next, kind }
}

fn succeeded(output: Value) -> StepRun {
    let mut step = StepRun::bare(Event::StepSucceeded { wait: false });
    step.output = Some(("pay".into(), output));
    step.detail = Some(json!({ "duration_ms": 3.0, "phase": "action" }));
    step
}

fn to_ship() -> Decision {
    decision(
        SagaState::Running {
            step: 1,
            attempt: 1,
        },
        Next::Now,
        "step_succeeded",
    )
}

#[test]
fn a_step_that_succeeds_is_recorded_on_the_step_it_acted_on() {
    let mut r = run();
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({ "paid": 5 })),
        now(),
        writer(true),
    );
    assert_eq!(cp.events.len(), 1);
    let ev = &cp.events[0];
    assert_eq!(ev.step.as_deref(), Some("pay"));
    assert_eq!(ev.kind, "step_succeeded");
    assert_eq!(ev.attempt, 2, "the attempt that ran, not the next one");
    assert_eq!(
        ev.detail,
        json!({ "duration_ms": 3.0, "phase": "action", "to": "running", "worker": "w-1" })
    );
    assert_eq!(cp.row.current_step.as_deref(), Some("ship"));
    assert_eq!(cp.row.attempt, 1);
}

#[test]
fn the_output_is_merged_and_written_with_the_row() {
    let mut r = run();
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({ "paid": 5 })),
        now(),
        writer(true),
    );
    let expected = json!({ "input": {}, "steps": { "pay": { "paid": 5 } } });
    assert_eq!(r.data, expected);
    assert_eq!(cp.row.data, Some(expected));
    assert_eq!(cp.row.last_error, LastError::Clear);
}

#[test]
fn the_fence_is_this_workers_lease_at_the_version_it_holds() {
    let mut r = run();
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({})),
        now(),
        writer(true),
    );
    assert_eq!(cp.saga_id, r.id);
    assert_eq!(cp.lease.owner, "w-1");
    assert_eq!(cp.lease.version, 3);
    assert_eq!(cp.now, now());
}

#[test]
fn going_on_with_a_fresh_lease_leaves_it_alone_and_a_spent_one_is_renewed() {
    let mut r = run();
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({})),
        now(),
        writer(true),
    );
    assert_eq!(cp.row.due, Due::Hold(None));
    assert_eq!(r.lease_until, secs(25));

    let mut r = run();
    r.lease_until = secs(10);
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({})),
        now(),
        writer(true),
    );
    assert_eq!(cp.row.due, Due::Hold(Some(secs(30))));
    assert_eq!(
        r.lease_until,
        secs(30),
        "the worker's copy follows the renewal"
    );
}

#[test]
fn a_stopping_worker_lets_go_even_when_due_now() {
    let mut r = run();
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({})),
        now(),
        writer(false),
    );
    assert_eq!(cp.row.due, Due::Release(Some(now())));
    assert!(cp.is_lean());
}

#[test]
fn a_retry_names_its_time_and_keeps_the_error() {
    let mut r = run();
    let mut step = StepRun::bare(Event::StepFailed {
        retryable: true,
        retry_after: None,
        reason: "x".into(),
    });
    step.error = Some(json!({ "code": "timeout" }));
    let d = decision(
        SagaState::Running {
            step: 0,
            attempt: 3,
        },
        Next::At(secs(300)),
        "step_retry_scheduled",
    );
    let cp = assemble(&def(), &mut r, &d, &mut step, now(), writer(true));
    assert_eq!(cp.events[0].detail["next_run_at"], json!(secs(300)));
    assert_eq!(cp.row.due, Due::Release(Some(secs(300))));
    assert_eq!(
        cp.row.last_error,
        LastError::Set(json!({ "code": "timeout" }))
    );
}

#[test]
fn a_settled_saga_gets_its_own_history_event() {
    let from = SagaState::Running {
        step: 1,
        attempt: 1,
    };
    let d = decision(SagaState::Completed, Next::Idle, "step_succeeded");
    let events = history(&def(), &from, &d, None, "w-1");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["step_succeeded", "saga_completed"]);
    assert_eq!(events[1].step, None);
    let parked = decision(
        SagaState::Parked {
            step: 1,
            attempt: 1,
            reason: "r".into(),
        },
        Next::Idle,
        "step_parked",
    );
    assert_eq!(
        history(&def(), &from, &parked, None, "w-1")[1].kind,
        "saga_parked"
    );
    assert_eq!(history(&def(), &from, &to_ship(), None, "w-1").len(), 1);
}

#[test]
fn carried_events_ride_first() {
    let mut r = run();
    r.carried.push(NewEvent {
        step: None,
        kind: "saga_started".into(),
        attempt: 0,
        detail: json!({}),
    });
    let cp = assemble(
        &def(),
        &mut r,
        &to_ship(),
        &mut succeeded(json!({})),
        now(),
        writer(true),
    );
    let kinds: Vec<&str> = cp.events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["saga_started", "step_succeeded"]);
    assert!(r.carried.is_empty());
}

#[test]
fn a_rewait_writes_the_wait_back_with_no_event_and_its_guard() {
    let waiting = SagaState::Waiting {
        step: 1,
        attempt: 1,
        signal: "shipped".into(),
        until: secs(600),
        polls: 0,
    };
    let mut r = SagaRun::for_test(waiting.clone(), now());
    r.signal_seq = 7;
    let d = decision(waiting, Next::At(secs(600)), "wait_resumed");
    let cp = assemble(
        &def(),
        &mut r,
        &d,
        &mut StepRun::rewait(secs(600)),
        now(),
        writer(true),
    );
    assert!(cp.events.is_empty());
    assert_eq!(cp.row.due, Due::Release(Some(secs(600))));
    let guard = cp
        .row
        .wait_guard
        .as_ref()
        .map(|g| (g.signal.as_str(), g.seen_signal_seq));
    assert_eq!(guard, Some(("shipped", 7)));
    assert!(!cp.is_lean(), "a wait needs the single statement's guard");
}

#[test]
fn effects_and_the_consumed_signal_go_with_the_checkpoint() {
    let mut r = run();
    let mut step = succeeded(json!({}));
    step.consume_signal = Some(42);
    step.effects.outbox.push(OutboxRow {
        topic: "t".into(),
        destination: None,
        payload: json!({}),
    });
    let cp = assemble(&def(), &mut r, &to_ship(), &mut step, now(), writer(true));
    assert_eq!(cp.consume_signal, Some(42));
    assert_eq!(cp.effects.outbox.len(), 1);
    assert!(step.effects.outbox.is_empty());
    assert!(!cp.is_lean());
}

#[test]
fn outputs_go_under_steps_and_compensations() {
    let mut data = json!({ "input": {} });
    merge_output(&mut data, Phase::Action, "pay", json!({ "ref": "p1" }));
    merge_output(
        &mut data,
        Phase::Compensation,
        "pay",
        json!({ "refunded": true }),
    );
    assert_eq!(
        data,
        json!({ "input": {}, "steps": { "pay": { "ref": "p1" } }, "compensations": { "pay": { "refunded": true } } })
    );
}

#[test]
fn a_signal_merges_into_what_the_action_recorded_and_an_action_replaces_it() {
    let mut data = json!({ "steps": { "ship": { "ref": "s1", "status": "sent" } } });
    merge_output(
        &mut data,
        Phase::Signal,
        "ship",
        json!({ "status": "delivered" }),
    );
    assert_eq!(
        data["steps"]["ship"],
        json!({ "ref": "s1", "status": "delivered" })
    );
    merge_output(&mut data, Phase::Poll, "ship", json!({ "polled": true }));
    assert_eq!(data["steps"]["ship"]["ref"], "s1");
    merge_output(&mut data, Phase::Action, "ship", json!({ "ref": "s2" }));
    assert_eq!(data["steps"]["ship"], json!({ "ref": "s2" }));
}

#[test]
fn data_that_is_not_an_object_is_started_over() {
    let mut data = Value::Null;
    merge_output(&mut data, Phase::Action, "pay", json!(1));
    assert_eq!(data, json!({ "steps": { "pay": 1 } }));
}
