//! When the database refuses a checkpoint's domain write itself (a rule the write enforces, a
//! constraint, a trigger), running the step again would be refused again. `saga.rs` then
//! undoes what assembling the checkpoint changed in memory and records a failed attempt
//! instead, so the retry policy, then compensation or an operator, takes over. A connection
//! error is not a refusal: the saga is left to its lease and the step runs again.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::outcome::{Phase, StepRun};
use super::saga::SagaRun;
use crate::engine::action::{Effects, StepError};
use crate::engine::definition::WorkflowDef;
use crate::store::{self, NewEvent};

/// What assembling a checkpoint changes in the worker's copy of the saga, taken before, so a
/// refused write leaves nothing behind that was never written.
pub(super) struct Undo {
    carried: Vec<NewEvent>,
    data: Value,
    lease_until: DateTime<Utc>,
    phase: Phase,
}

impl Undo {
    /// Only domain writes can be refused this way, so only a step with some is worth the copy.
    pub(super) fn before(run: &SagaRun, step: &StepRun) -> Option<Self> {
        (!step.effects.writes.is_empty()).then(|| Self {
            carried: run.carried.clone(),
            data: run.data.clone(),
            lease_until: run.lease_until,
            phase: step.phase,
        })
    }

    /// Puts the copy back; answers the phase of the refused step.
    pub(super) fn restore(self, run: &mut SagaRun) -> Phase {
        (run.carried, run.data, run.lease_until) = (self.carried, self.data, self.lease_until);
        self.phase
    }
}

/// True when the database refused a checkpoint's domain write itself, as opposed to a
/// connection or a conflict that a rerun could get past.
pub(super) fn by_database(e: &store::Error) -> bool {
    match e {
        store::Error::Db(sqlx::Error::Protocol(_)) => true,
        store::Error::Db(sqlx::Error::Database(db)) => db
            .code()
            .is_some_and(|code| code.starts_with("23") || code == "P0001"),
        _ => false,
    }
}

/// The failed attempt that replaces a step whose domain write was refused: retryable, with
/// nothing the refused step said it did.
pub(super) fn failed_attempt(
    def: &WorkflowDef,
    run: &SagaRun,
    phase: Phase,
    e: &store::Error,
) -> Option<StepRun> {
    let step = def.steps.get(run.state.step()?)?;
    let err = StepError::retryable("domain_write_refused", e.to_string());
    Some(StepRun::failure(
        step,
        run.state.attempt(),
        err,
        0.0,
        phase,
        Effects::default(),
    ))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::engine::definition::{Known, parse};
    use crate::engine::lifecycle::{Event, SagaState};

    const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "record"
action = "x"
"#;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap()
    }

    fn with_write() -> StepRun {
        let mut step = StepRun::bare(Event::StepSucceeded { wait: false });
        step.effects
            .writes
            .push(Box::new(|_conn| Box::pin(async { Ok(()) })));
        step
    }

    #[test]
    fn only_a_step_with_domain_writes_keeps_a_copy() {
        let run = SagaRun::for_test(
            SagaState::Running {
                step: 0,
                attempt: 1,
            },
            now(),
        );
        let plain = StepRun::bare(Event::StepSucceeded { wait: false });
        assert!(Undo::before(&run, &plain).is_none());
        assert!(Undo::before(&run, &with_write()).is_some());
    }

    #[test]
    fn restoring_puts_back_events_data_and_lease() {
        let mut run = SagaRun::for_test(
            SagaState::Running {
                step: 0,
                attempt: 1,
            },
            now(),
        );
        run.carried.push(NewEvent {
            step: None,
            kind: "saga_started".into(),
            attempt: 0,
            detail: json!({}),
        });
        let undo = Undo::before(&run, &with_write()).unwrap();
        run.carried.clear();
        run.data["steps"] = json!({ "record": { "recorded": true } });
        run.lease_until = now() + chrono::Duration::seconds(30);
        assert_eq!(undo.restore(&mut run), Phase::Action);
        assert_eq!(run.carried.len(), 1);
        assert_eq!(run.data, json!({ "input": {} }));
        assert_eq!(run.lease_until, now());
    }

    #[test]
    fn the_replacement_is_a_retryable_failure_of_the_same_attempt() {
        let def = parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap();
        let run = SagaRun::for_test(
            SagaState::Running {
                step: 0,
                attempt: 2,
            },
            now(),
        );
        let e = store::Error::Db(sqlx::Error::Protocol("refused".into()));
        let failed = failed_attempt(&def, &run, Phase::Action, &e).unwrap();
        assert!(matches!(
            failed.event,
            Event::StepFailed {
                retryable: true,
                ..
            }
        ));
        let error = failed.error.unwrap();
        assert_eq!(error["code"], "domain_write_refused");
        assert_eq!(error["attempt"], 2);
        assert!(failed.effects.is_empty());
        // A saga with no step (already finished) has no attempt to fail.
        let done = SagaRun::for_test(SagaState::Completed, now());
        assert!(failed_attempt(&def, &done, Phase::Action, &e).is_none());
    }

    #[test]
    fn a_lost_connection_is_not_a_refusal() {
        assert!(by_database(&store::Error::Db(sqlx::Error::Protocol(
            "x".into()
        ))));
        assert!(!by_database(&store::Error::Db(sqlx::Error::PoolTimedOut)));
        assert!(!by_database(&store::Error::NotFound));
    }
}
