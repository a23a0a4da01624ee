//! When the database answers a checkpoint with an error (a rule a domain write enforces, a
//! constraint, a trigger, a value it cannot store), running the step again would most likely
//! fail the same way, and re-running it every lease would loop forever uncounted. `saga.rs`
//! then undoes what assembling the checkpoint changed in memory and records a failed attempt
//! instead, so the retry policy with its backoff, then compensation or an operator, takes
//! over. A lost connection is not such an answer: nothing can be recorded, so the saga is left
//! to its lease, and the re-run reaches the action marked as a recovery.

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
    pub(super) fn before(run: &SagaRun, step: &StepRun) -> Self {
        Self {
            carried: run.carried.clone(),
            data: run.data.clone(),
            lease_until: run.lease_until,
            phase: step.phase,
        }
    }

    /// Puts the copy back; answers the phase of the refused step.
    pub(super) fn restore(self, run: &mut SagaRun) -> Phase {
        (run.carried, run.data, run.lease_until) = (self.carried, self.data, self.lease_until);
        self.phase
    }
}

/// Why a checkpoint failed, as far as what happens next is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// A domain write broke a rule the database enforces (SQLSTATE 23xxx, a trigger's
    /// P0001): the step's own doing.
    DomainWrite,
    /// Any other answer from the database (a value it cannot store, a statement it refused):
    /// it would most likely answer the same again.
    Checkpoint,
}

/// What the database's answer means: `None` when there was no answer to go by (the
/// connection, the pool), so nothing can be recorded now.
pub(super) fn refusal(e: &store::Error) -> Option<Refusal> {
    match e {
        store::Error::Db(sqlx::Error::Database(db))
            if db
                .code()
                .is_some_and(|code| code.starts_with("23") || code == "P0001") =>
        {
            Some(Refusal::DomainWrite)
        }
        store::Error::Db(
            sqlx::Error::Database(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Encode(_)
            | sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. },
        ) => Some(Refusal::Checkpoint),
        store::Error::Corrupt(_) => Some(Refusal::Checkpoint),
        _ => None,
    }
}

/// The failed attempt that replaces a step whose checkpoint was refused: retryable, with
/// nothing the refused step said it did.
pub(super) fn failed_attempt(
    def: &WorkflowDef,
    run: &SagaRun,
    phase: Phase,
    refusal: Refusal,
    e: &store::Error,
) -> Option<StepRun> {
    let step = def.steps.get(run.state.step()?)?;
    let code = match refusal {
        Refusal::DomainWrite => "domain_write_refused",
        Refusal::Checkpoint => "checkpoint_failed",
    };
    let err = StepError::retryable(code, e.to_string());
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
        let undo = Undo::before(&run, &with_write());
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
        let failed = failed_attempt(&def, &run, Phase::Action, Refusal::DomainWrite, &e).unwrap();
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
        assert!(failed_attempt(&def, &done, Phase::Action, Refusal::Checkpoint, &e).is_none());
        let other = failed_attempt(&def, &run, Phase::Action, Refusal::Checkpoint, &e).unwrap();
        assert_eq!(other.error.unwrap()["code"], "checkpoint_failed");
    }

    #[test]
    fn a_lost_connection_is_not_a_refusal() {
        assert_eq!(
            refusal(&store::Error::Db(sqlx::Error::Protocol("x".into()))),
            Some(Refusal::Checkpoint)
        );
        assert_eq!(
            refusal(&store::Error::Corrupt("x".into())),
            Some(Refusal::Checkpoint)
        );
        assert_eq!(refusal(&store::Error::Db(sqlx::Error::PoolTimedOut)), None);
        assert_eq!(
            refusal(&store::Error::Db(sqlx::Error::Io(std::io::Error::other(
                "reset"
            )))),
            None
        );
        assert_eq!(refusal(&store::Error::NotFound), None);
    }
}
