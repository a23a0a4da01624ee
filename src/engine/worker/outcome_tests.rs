//! Every outcome an attempt can have, and the lifecycle event it becomes.

use std::path::Path;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::engine::action::OutboxRow;
use crate::engine::definition::{Known, WorkflowDef, parse};

const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "pay"
action = "x"
compensation = "undo"
"#;

fn def() -> WorkflowDef {
    parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap()
}

fn run(result: Result<StepOutcome, StepError>, phase: Phase) -> StepRun {
    StepRun::from_result(
        &def().steps[0],
        2,
        result,
        Duration::from_millis(1500),
        phase,
    )
}

fn ok(outcome: StepOutcome, phase: Phase) -> StepRun {
    run(Ok(outcome), phase)
}

#[test]
fn a_finished_action_succeeds_and_records_its_output() {
    let r = ok(StepOutcome::done(json!({ "paid": 5 })), Phase::Action);
    assert_eq!(r.event, Event::StepSucceeded { wait: false });
    assert_eq!(r.output, Some(("pay".into(), json!({ "paid": 5 }))));
    assert_eq!(
        r.detail,
        Some(json!({ "duration_ms": 1500.0, "phase": "action", "output": { "paid": 5 } }))
    );
    assert_eq!(r.error, None);
    assert_eq!(r.rewait, None);
}

#[test]
fn an_action_under_way_asks_for_the_wait() {
    let r = ok(StepOutcome::wait(json!({ "ref": "r1" })), Phase::Action);
    assert_eq!(r.event, Event::StepSucceeded { wait: true });
    assert_eq!(r.output, Some(("pay".into(), json!({ "ref": "r1" }))));
    // An action answering "not yet" also waits, and has nothing to record.
    let r = ok(StepOutcome::pending(), Phase::Action);
    assert_eq!(r.event, Event::StepSucceeded { wait: true });
    assert_eq!(r.output, None);
}

#[test]
fn a_poll_or_signal_saying_not_yet_keeps_waiting_with_no_output() {
    for phase in [Phase::Poll, Phase::Signal] {
        let r = ok(StepOutcome::pending(), phase);
        assert_eq!(r.event, Event::PollPending);
        assert_eq!(r.output, None);
        assert!(r.detail.as_ref().is_some_and(|d| d.get("output").is_none()));
    }
}

#[test]
fn a_signal_that_finishes_the_step_succeeds() {
    let r = ok(StepOutcome::done(json!({ "status": "ok" })), Phase::Signal);
    assert_eq!(r.event, Event::StepSucceeded { wait: false });
    assert_eq!(r.phase, Phase::Signal);
}

#[test]
fn any_successful_compensation_is_compensation_succeeded() {
    for outcome in [StepOutcome::done(json!({})), StepOutcome::pending()] {
        assert_eq!(
            ok(outcome, Phase::Compensation).event,
            Event::CompensationSucceeded
        );
    }
}

#[test]
fn a_retryable_error_carries_its_retry_after_and_becomes_last_error() {
    let err = StepError::Retryable {
        code: "rate_limited".into(),
        message: "slow down".into(),
        retry_after: Some(Duration::from_secs(9)),
    };
    let r = run(Err(err), Phase::Action);
    assert_eq!(
        r.event,
        Event::StepFailed {
            retryable: true,
            retry_after: Some(Duration::from_secs(9)),
            reason: "rate_limited: slow down".into(),
        }
    );
    let error = json!({ "code": "rate_limited", "message": "slow down", "step": "pay", "attempt": 2, "phase": "action" });
    assert_eq!(r.error, Some(error.clone()));
    assert_eq!(
        r.detail,
        Some(json!({ "duration_ms": 1500.0, "phase": "action", "error": error }))
    );
    assert_eq!(r.output, None);
}

#[test]
fn permanent_and_park_errors_map_to_their_events() {
    let r = run(Err(StepError::permanent("bad", "no")), Phase::Poll);
    assert_eq!(
        r.event,
        Event::StepFailed {
            retryable: false,
            retry_after: None,
            reason: "bad: no".into(),
        }
    );
    let r = run(Err(StepError::park("low_balance", "top up")), Phase::Action);
    assert_eq!(
        r.event,
        Event::Park {
            reason: "low_balance: top up".into()
        }
    );
}

#[test]
fn a_failed_compensation_is_retryable_only_for_a_retryable_error() {
    let r = run(Err(StepError::retryable("t", "m")), Phase::Compensation);
    assert_eq!(
        r.event,
        Event::CompensationFailed {
            retryable: true,
            reason: "t: m".into()
        }
    );
    for err in [StepError::permanent("p", "m"), StepError::park("k", "m")] {
        let r = run(Err(err), Phase::Compensation);
        assert!(matches!(
            r.event,
            Event::CompensationFailed {
                retryable: false,
                ..
            }
        ));
        assert_eq!(
            r.error.as_ref().map(|e| &e["phase"]),
            Some(&json!("compensation"))
        );
    }
}

#[test]
fn a_failure_with_effects_keeps_them_and_fails_like_its_error() {
    let outcome =
        StepOutcome::failed(StepError::permanent("declined", "no")).with_outbox(OutboxRow {
            topic: "t".into(),
            destination: None,
            payload: json!({}),
        });
    let r = ok(outcome, Phase::Action);
    assert!(matches!(
        r.event,
        Event::StepFailed {
            retryable: false,
            ..
        }
    ));
    assert_eq!(r.effects.outbox.len(), 1);
    assert_eq!(r.output, None);
    assert_eq!(
        r.error.as_ref().map(|e| &e["code"]),
        Some(&json!("declined"))
    );
}

#[test]
fn a_rewait_is_a_wait_timeout_that_records_nothing() {
    let until = chrono::Utc::now();
    let r = StepRun::rewait(until);
    assert_eq!(r.rewait, Some(until));
    assert_eq!(r.detail, None);
    assert_eq!(r.error, None);
}

#[test]
fn a_deferred_error_is_deferred_in_every_phase_and_stays_visible_as_last_error() {
    for phase in [
        Phase::Action,
        Phase::Poll,
        Phase::Signal,
        Phase::Compensation,
    ] {
        let err = StepError::deferred("held_paused", "reseller paused", Duration::from_secs(4));
        let r = run(Err(err), phase);
        assert_eq!(
            r.event,
            Event::Deferred {
                retry_in: Duration::from_secs(4),
                reason: "held_paused: reseller paused".into(),
            }
        );
        assert_eq!(
            r.error.as_ref().map(|e| e["code"].clone()),
            Some(json!("held_paused"))
        );
    }
}
