//! Every lifecycle transition, legal and illegal.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;
use crate::engine::definition::{Known, parse};

const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "a"
action = "x"
compensation = "undo"
retry = { schedule = ["5m", "15m"] }

[[steps]]
name = "b"
action = "x"
retry = { schedule = ["1m"] }

[[steps]]
name = "c"
action = "x"
compensation = "undo"
compensation_retry = { schedule = ["10s"] }
wait = { signal = "done", timeout = "10m", poll = "x", max_polls = 2 }
retry = { schedule = ["1m"] }

[[steps]]
name = "d"
action = "x"
on_exhausted = "park"
"#;

fn def() -> Arc<WorkflowDef> {
    Arc::new(parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap())
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
}

fn at(d: Duration) -> DateTime<Utc> {
    now() + chrono::Duration::from_std(d).unwrap()
}

fn go(state: SagaState, event: Event) -> Decision {
    decide(&def(), &state, &event, now(), 0.5).unwrap_or_else(|e| panic!("{e}"))
}

fn illegal(state: SagaState, event: Event) -> IllegalTransition {
    decide(&def(), &state, &event, now(), 0.5).expect_err("should be illegal")
}

fn running(step: usize, attempt: u32) -> SagaState {
    SagaState::Running { step, attempt }
}

fn failed(retryable: bool) -> Event {
    Event::StepFailed {
        retryable,
        retry_after: None,
        reason: "boom".into(),
    }
}

fn waiting(polls: u32) -> SagaState {
    SagaState::Waiting {
        step: 2,
        attempt: 1,
        signal: "done".into(),
        until: now(),
        polls,
    }
}

fn compensating(step: usize, attempt: u32) -> SagaState {
    SagaState::Compensating {
        step,
        attempt,
        cause: Cause::Failure,
    }
}

#[test]
fn start_runs_the_first_step() {
    let d = go(SagaState::Pending, Event::Start);
    assert_eq!(
        (d.state, d.next, d.kind),
        (running(0, 1), Next::Now, "saga_started")
    );
}

#[test]
fn success_advances_and_the_last_step_completes() {
    assert_eq!(
        go(running(0, 1), Event::StepSucceeded { wait: false }).state,
        running(1, 1)
    );
    let d = go(running(3, 1), Event::StepSucceeded { wait: false });
    assert_eq!((d.state, d.next), (SagaState::Completed, Next::Idle));
}

#[test]
fn success_with_wait_starts_the_wait_until_its_timeout() {
    let d = go(running(2, 1), Event::StepSucceeded { wait: true });
    let until = at(Duration::from_secs(600));
    assert_eq!(
        d.state,
        SagaState::Waiting {
            step: 2,
            attempt: 1,
            signal: "done".into(),
            until,
            polls: 0
        }
    );
    assert_eq!(d.next, Next::At(until));
    // A step without a wait definition just moves on.
    assert_eq!(
        go(running(1, 1), Event::StepSucceeded { wait: true }).state,
        running(2, 1)
    );
}

#[test]
fn retryable_failure_follows_the_schedule() {
    let d = go(running(0, 1), failed(true));
    assert_eq!(
        (d.state, d.next, d.kind),
        (
            running(0, 2),
            Next::At(at(Duration::from_secs(300))),
            "step_retry_scheduled"
        )
    );
    let d = go(running(0, 2), failed(true));
    assert_eq!(d.next, Next::At(at(Duration::from_secs(900))));
}

#[test]
fn retry_after_wins_when_longer() {
    let e = Event::StepFailed {
        retryable: true,
        retry_after: Some(Duration::from_secs(7200)),
        reason: "429".into(),
    };
    assert_eq!(
        go(running(0, 1), e).next,
        Next::At(at(Duration::from_secs(7200)))
    );
}

#[test]
fn exhausted_or_permanent_compensates_from_the_failed_step_down() {
    // a has a compensation; b fails for good: compensation starts at a.
    let d = go(running(1, 2), failed(true));
    assert_eq!((d.state, d.kind), (compensating(0, 1), "step_failed"));
    // c fails permanently on its first attempt: c itself is undone first.
    assert_eq!(go(running(2, 1), failed(false)).state, compensating(2, 1));
}

#[test]
fn failure_with_nothing_to_undo_ends_compensated() {
    let text = DEF.replace("compensation = \"undo\"\n", "");
    let d = Arc::new(parse(Path::new("t.toml"), &text, &Known::ANY).unwrap());
    let out = decide(&d, &running(0, 3), &failed(true), now(), 0.5).unwrap();
    assert_eq!(out.state, SagaState::Compensated);
}

#[test]
fn park_steps_park_and_actions_can_park_any_step() {
    let d = go(running(3, 1), failed(false));
    assert_eq!(
        (d.state, d.next),
        (
            SagaState::Parked {
                step: 3,
                attempt: 1,
                reason: "boom".into()
            },
            Next::Idle
        )
    );
    let d = go(
        running(0, 1),
        Event::Park {
            reason: "low balance".into(),
        },
    );
    assert_eq!(
        d.state,
        SagaState::Parked {
            step: 0,
            attempt: 1,
            reason: "low balance".into()
        }
    );
    let d = go(waiting(0), Event::Park { reason: "x".into() });
    assert!(matches!(d.state, SagaState::Parked { step: 2, .. }));
}

#[test]
fn compensation_walks_backwards_then_ends() {
    let d = go(compensating(2, 1), Event::CompensationSucceeded);
    assert_eq!(d.state, compensating(0, 1));
    let d = go(compensating(0, 1), Event::CompensationSucceeded);
    assert_eq!((d.state, d.next), (SagaState::Compensated, Next::Idle));
    let cancel = SagaState::Compensating {
        step: 0,
        attempt: 1,
        cause: Cause::Cancel,
    };
    assert_eq!(
        go(cancel, Event::CompensationSucceeded).state,
        SagaState::Cancelled
    );
}

#[test]
fn compensation_retries_then_fails_for_an_operator() {
    let e = Event::CompensationFailed {
        retryable: true,
        reason: "503".into(),
    };
    let d = go(compensating(2, 1), e.clone());
    assert_eq!(
        (d.state, d.next),
        (compensating(2, 2), Next::At(at(Duration::from_secs(10))))
    );
    let d = go(compensating(2, 2), e);
    assert_eq!(
        d.state,
        SagaState::Failed {
            step: 2,
            reason: "503".into(),
            cause: Cause::Failure
        }
    );
    let d = go(
        compensating(2, 1),
        Event::CompensationFailed {
            retryable: false,
            reason: "gone".into(),
        },
    );
    assert!(matches!(d.state, SagaState::Failed { step: 2, .. }));
}

#[test]
fn waits_end_by_signal_poll_or_timeout() {
    assert_eq!(
        go(waiting(0), Event::StepSucceeded { wait: false }).state,
        SagaState::Running {
            step: 3,
            attempt: 1
        }
    );
    let d = go(waiting(0), Event::PollPending);
    assert_eq!(
        d.state,
        SagaState::Waiting {
            step: 2,
            attempt: 1,
            signal: "done".into(),
            until: at(Duration::from_secs(600)),
            polls: 1
        }
    );
    // max_polls = 2: the second "not yet" fails the step (retryable: attempt 2 in a minute).
    let d = go(waiting(1), Event::PollPending);
    assert_eq!(d.state, running(2, 2));
    let d = go(waiting(0), Event::WaitTimedOut);
    assert_eq!((d.state, d.kind), (running(2, 2), "step_retry_scheduled"));
    // A failed signal on the last attempt compensates from the waiting step.
    let last = SagaState::Waiting {
        step: 2,
        attempt: 2,
        signal: "done".into(),
        until: now(),
        polls: 0,
    };
    assert_eq!(go(last, failed(true)).state, compensating(2, 1));
}

#[test]
fn operator_retry() {
    let parked = SagaState::Parked {
        step: 3,
        attempt: 1,
        reason: "x".into(),
    };
    assert_eq!(go(parked, Event::OperatorRetry).state, running(3, 1));
    let f = SagaState::Failed {
        step: 2,
        reason: "x".into(),
        cause: Cause::Cancel,
    };
    assert_eq!(
        go(f, Event::OperatorRetry).state,
        SagaState::Compensating {
            step: 2,
            attempt: 1,
            cause: Cause::Cancel
        }
    );
    let d = go(running(0, 2), Event::OperatorRetry);
    assert_eq!((d.state, d.next), (running(0, 2), Next::Now));
    assert_eq!(go(waiting(0), Event::OperatorRetry).state, running(2, 1));
}

#[test]
fn operator_resume() {
    let parked = SagaState::Parked {
        step: 1,
        attempt: 2,
        reason: "x".into(),
    };
    assert_eq!(go(parked, Event::OperatorResume).state, running(2, 1));
    let d = go(waiting(1), Event::OperatorResume);
    assert_eq!(d.next, Next::Now);
    assert!(matches!(d.state, SagaState::Waiting { until, polls: 1, .. } if until == now()));
    let f = SagaState::Failed {
        step: 2,
        reason: "x".into(),
        cause: Cause::Failure,
    };
    assert_eq!(go(f, Event::OperatorResume).state, compensating(0, 1));
}

#[test]
fn operator_cancel_undoes_attempted_steps() {
    assert_eq!(
        go(SagaState::Pending, Event::OperatorCancel).state,
        SagaState::Cancelled
    );
    assert_eq!(
        go(running(1, 1), Event::OperatorCancel).state,
        SagaState::Compensating {
            step: 0,
            attempt: 1,
            cause: Cause::Cancel
        }
    );
    assert_eq!(
        go(waiting(0), Event::OperatorCancel).state,
        SagaState::Compensating {
            step: 2,
            attempt: 1,
            cause: Cause::Cancel
        }
    );
    let parked = SagaState::Parked {
        step: 3,
        attempt: 1,
        reason: "x".into(),
    };
    assert_eq!(
        go(parked, Event::OperatorCancel).state,
        SagaState::Compensating {
            step: 2,
            attempt: 1,
            cause: Cause::Cancel
        }
    );
    let f = SagaState::Failed {
        step: 2,
        reason: "x".into(),
        cause: Cause::Failure,
    };
    assert_eq!(go(f, Event::OperatorCancel).state, SagaState::Cancelled);
}

#[test]
fn illegal_transitions_are_errors_not_panics() {
    for done in [
        SagaState::Completed,
        SagaState::Compensated,
        SagaState::Cancelled,
    ] {
        for e in [
            Event::OperatorRetry,
            Event::OperatorResume,
            Event::OperatorCancel,
            Event::Start,
            Event::StepSucceeded { wait: false },
        ] {
            let err = illegal(done.clone(), e.clone());
            assert_eq!(err.status, done.status());
            assert_eq!(err.event, e.name());
        }
    }
    assert_eq!(
        illegal(SagaState::Completed, Event::OperatorRetry).to_string(),
        "cannot retry a saga that is completed"
    );
    assert_eq!(
        illegal(SagaState::Pending, Event::OperatorRetry).event,
        "retry"
    );
    assert_eq!(
        illegal(SagaState::Pending, Event::OperatorResume).event,
        "resume"
    );
    assert_eq!(
        illegal(running(0, 1), Event::OperatorResume).event,
        "resume"
    );
    assert_eq!(
        illegal(running(0, 1), Event::CompensationSucceeded).event,
        "compensation_succeeded"
    );
    assert_eq!(
        illegal(compensating(0, 1), Event::OperatorCancel).event,
        "cancel"
    );
    assert_eq!(
        illegal(compensating(0, 1), Event::OperatorRetry).event,
        "retry"
    );
    assert_eq!(
        illegal(compensating(0, 1), Event::StepSucceeded { wait: false }).event,
        "step_succeeded"
    );
    assert_eq!(illegal(waiting(0), Event::Start).event, "start");
    let parked = SagaState::Parked {
        step: 3,
        attempt: 1,
        reason: "x".into(),
    };
    assert_eq!(
        illegal(parked, Event::StepSucceeded { wait: false }).event,
        "step_succeeded"
    );
    let f = SagaState::Failed {
        step: 2,
        reason: "x".into(),
        cause: Cause::Failure,
    };
    assert_eq!(
        illegal(f, Event::CompensationSucceeded).event,
        "compensation_succeeded"
    );
}

#[test]
fn persisted_state_json_is_a_stable_contract() {
    let w = SagaState::Waiting {
        step: 2,
        attempt: 1,
        signal: "done".into(),
        until: now(),
        polls: 0,
    };
    assert_eq!(
        serde_json::to_string(&w).unwrap(),
        r#"{"state":"waiting","step":2,"attempt":1,"signal":"done","until":"2026-01-01T12:00:00Z","polls":0}"#
    );
    assert_eq!(
        serde_json::to_string(&SagaState::Pending).unwrap(),
        r#"{"state":"pending"}"#
    );
    let all = [
        SagaState::Pending,
        running(1, 2),
        w,
        compensating(0, 3),
        SagaState::Completed,
        SagaState::Compensated,
        SagaState::Failed {
            step: 1,
            reason: "r".into(),
            cause: Cause::Cancel,
        },
        SagaState::Parked {
            step: 1,
            attempt: 1,
            reason: "r".into(),
        },
        SagaState::Cancelled,
    ];
    for s in all {
        let back: SagaState = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}

#[test]
fn an_unknown_outcome_is_looked_at_again_then_parked_never_compensated() {
    let unknown = || Event::OutcomeUnknown {
        retry_after: None,
        reason: "outcome_unknown: reseller: history truncated".into(),
    };
    // Step a compensates when its retries run out; an unknown outcome retries instead...
    let d = go(running(0, 1), unknown());
    assert_eq!(d.state, running(0, 2));
    assert_eq!(d.next, Next::At(at(Duration::from_secs(300))));
    // ...and once they are spent it parks rather than undo an effect that may exist.
    let d = go(running(0, 3), unknown());
    assert_eq!(
        d.state,
        SagaState::Parked {
            step: 0,
            attempt: 3,
            reason: "outcome_unknown: reseller: history truncated".into()
        }
    );
    assert_eq!(d.next, Next::Idle);
    // A provider's Retry-After stretches the delay, as for a retryable failure.
    let d = go(
        running(1, 1),
        Event::OutcomeUnknown {
            retry_after: Some(Duration::from_secs(600)),
            reason: "x".into(),
        },
    );
    assert_eq!(d.next, Next::At(at(Duration::from_secs(600))));
    // A poll that cannot tell is the same.
    let d = go(waiting(0), unknown());
    assert_eq!(d.state, running(2, 2));
}

fn deferred() -> Event {
    Event::Deferred {
        retry_in: Duration::from_secs(7),
        reason: "held: paused".into(),
    }
}

#[test]
fn a_deferred_step_keeps_its_attempt_even_on_its_last_one() {
    // Step b allows two attempts; deferring the second must neither fail nor spend it.
    let d = go(running(1, 2), deferred());
    assert_eq!(
        (d.state, d.next, d.kind),
        (
            running(1, 2),
            Next::At(at(Duration::from_secs(7))),
            "step_deferred"
        )
    );
}

#[test]
fn a_deferred_poll_keeps_its_polls_and_a_deferred_compensation_its_attempt() {
    let d = go(waiting(1), deferred());
    let later = at(Duration::from_secs(7));
    assert_eq!(
        (d.state, d.next),
        (
            SagaState::Waiting {
                step: 2,
                attempt: 1,
                signal: "done".into(),
                until: later,
                polls: 1
            },
            Next::At(later)
        )
    );
    let d = go(compensating(2, 2), deferred());
    assert_eq!(
        (d.state, d.next, d.kind),
        (compensating(2, 2), Next::At(later), "compensation_deferred")
    );
}
