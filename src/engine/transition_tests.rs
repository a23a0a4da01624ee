//! Every rule a transition applies to the saga row, for workers and operators.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::engine::definition::{Known, parse};
use crate::engine::lifecycle::{Cause, Event, decide};

const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "a"
action = "x"
compensation = "undo"
retry = { schedule = ["5m"] }

[[steps]]
name = "b"
action = "x"
wait = { signal = "done|also", timeout = "10m" }
on_exhausted = "park"
"#;

const LEASE: Duration = Duration::from_secs(30);

fn def() -> Arc<WorkflowDef> {
    Arc::new(parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn secs(n: i64) -> DateTime<Utc> {
    now() + chrono::Duration::seconds(n)
}

fn decision(state: SagaState, next: Next) -> Decision {
    Decision {
        state,
        next,
        kind: "k",
    }
}

fn running(step: usize, attempt: u32) -> SagaState {
    SagaState::Running { step, attempt }
}

/// A worker whose lease runs out `left` seconds from now.
fn worker(left: i64, go_on: bool) -> Holder {
    Holder::Lease {
        until: secs(left),
        length: LEASE,
        go_on,
    }
}

fn update(d: &Decision, holder: Holder) -> SagaRowUpdate {
    row_update(&def(), d, now(), 4, holder)
}

#[test]
fn going_straight_on_with_most_of_the_lease_left_touches_neither_lease_nor_due_time() {
    let u = update(&decision(running(1, 1), Next::Now), worker(25, true));
    assert_eq!(u.due, Due::Hold(None));
    assert!(u.goes_on());
    assert_eq!(u.renewed_lease(), None);
}

#[test]
fn going_straight_on_with_half_the_lease_gone_renews_it() {
    let u = update(&decision(running(1, 1), Next::Now), worker(14, true));
    assert_eq!(u.due, Due::Hold(Some(secs(30))));
    assert_eq!(u.renewed_lease(), Some(secs(30)));
}

#[test]
fn a_stopping_worker_lets_a_saga_due_now_go_due_now() {
    let u = update(&decision(running(1, 1), Next::Now), worker(25, false));
    assert_eq!(u.due, Due::Release(Some(now())));
    assert!(!u.goes_on());
}

#[test]
fn a_timer_releases_the_lease_and_is_the_due_time() {
    let u = update(
        &decision(running(0, 2), Next::At(secs(300))),
        worker(25, true),
    );
    assert_eq!(u.due, Due::Release(Some(secs(300))));
    assert_eq!(u.current_step.as_deref(), Some("a"));
    assert_eq!(u.attempt, 2);
    assert!(!u.finished);
}

#[test]
fn idle_is_never_due() {
    let u = update(
        &decision(SagaState::Completed, Next::Idle),
        worker(25, true),
    );
    assert_eq!(u.due, Due::Release(None));
    assert!(u.finished);
    assert_eq!(u.current_step, None);
    assert_eq!(u.attempt, 0);
}

#[test]
fn only_the_three_ends_are_finished() {
    let ends = [
        SagaState::Completed,
        SagaState::Compensated,
        SagaState::Cancelled,
    ];
    for state in ends {
        assert!(update(&decision(state, Next::Idle), Holder::Operator).finished);
    }
    let held = [
        SagaState::Parked {
            step: 1,
            attempt: 1,
            reason: "r".into(),
        },
        SagaState::Failed {
            step: 0,
            reason: "r".into(),
            cause: Cause::Failure,
        },
    ];
    for state in held {
        assert!(state.is_settled());
        let u = update(&decision(state, Next::Idle), Holder::Operator);
        assert!(!u.finished);
        assert_eq!(u.due, Due::Release(None));
    }
}

#[test]
fn entering_a_wait_carries_the_guard_with_the_counter_seen() {
    let waiting = SagaState::Waiting {
        step: 1,
        attempt: 1,
        signal: "done|also".into(),
        until: secs(600),
        polls: 0,
    };
    let u = update(&decision(waiting, Next::At(secs(600))), worker(25, true));
    assert_eq!(
        u.wait_guard,
        Some(WaitGuard {
            signal: "done|also".into(),
            seen_signal_seq: 4,
        })
    );
    assert_eq!(u.current_step.as_deref(), Some("b"));
    assert_eq!(u.due, Due::Release(Some(secs(600))));
}

#[test]
fn no_other_state_has_a_wait_guard() {
    let u = update(&decision(running(1, 1), Next::Now), worker(25, true));
    assert_eq!(u.wait_guard, None);
}

#[test]
fn an_operator_always_releases_and_leaves_data_and_error_alone() {
    let d = decide(
        &def(),
        &SagaState::Parked {
            step: 1,
            attempt: 1,
            reason: "r".into(),
        },
        &Event::OperatorRetry,
        now(),
        0.5,
    )
    .unwrap();
    let u = update(&d, Holder::Operator);
    assert_eq!(u.due, Due::Release(Some(now())));
    assert_eq!(u.state, running(1, 1));
    assert_eq!(u.data, None);
    assert_eq!(u.last_error, LastError::Keep);
}

#[test]
fn a_worker_writes_its_data_and_its_attempt_error() {
    let u = update(
        &decision(running(0, 2), Next::At(secs(300))),
        worker(25, true),
    )
    .with_data(json!({ "input": {} }))
    .with_last_error(LastError::of_attempt(Some(json!({ "code": "x" }))));
    assert_eq!(u.data, Some(json!({ "input": {} })));
    assert_eq!(u.last_error, LastError::Set(json!({ "code": "x" })));
    assert_eq!(LastError::of_attempt(None), LastError::Clear);
}

#[test]
fn due_at_maps_every_next() {
    assert_eq!(due_at(Next::Now, now()), Some(now()));
    assert_eq!(due_at(Next::At(secs(9)), now()), Some(secs(9)));
    assert_eq!(due_at(Next::Idle, now()), None);
}

#[test]
fn a_lease_lasts_its_length() {
    assert_eq!(lease_until(now(), LEASE), secs(30));
}
