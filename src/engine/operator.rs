//! Operator actions (retry, resume, cancel), the engine's half: the store locks the saga row
//! and hands it over, the lifecycle decides, `transition` turns the decision into the row
//! update, and the store writes it with the writer every checkpoint uses, with the history
//! event and the audit row, in the locked transaction. The API, the console and bulk jobs all
//! come through here (`Runtime::operate` when they have a runtime).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::action::DomainWrite;
use super::definition::WorkflowDef;
use super::lifecycle::{self, Decision, Event, SagaState};
use super::transition::{self, Holder, SagaRowUpdate};
use crate::store::{self, Actor, NewEvent, OperatorWrite, Store, action_name};

/// Applies an operator's retry, resume or cancel to saga `id` of `def`: decided by the
/// lifecycle (an illegal one is `store::Error::Illegal`, a 409), recorded in the history with
/// the operator's name and reason, fenced against any worker holding the saga, and written to
/// the audit table (with a bulk job's item outcome) in the same transaction.
pub(crate) async fn apply(
    store: &Store,
    id: Uuid,
    event: Event,
    def: &Arc<WorkflowDef>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> store::Result<SagaState> {
    apply_with(store, id, event, def, actor, now, None).await
}

/// [`apply`] with a domain write (an automation step requeued, a fallback recorded) that
/// commits in the same transaction, after the saga row is locked and the action found legal.
pub(crate) async fn apply_with(
    store: &Store,
    id: Uuid,
    event: Event,
    def: &Arc<WorkflowDef>,
    actor: &Actor,
    now: DateTime<Utc>,
    write: Option<DomainWrite>,
) -> store::Result<SagaState> {
    let mut locked = store.lock_saga(id).await?;
    let decision = lifecycle::decide(def, &locked.state, &event, now, rand::random::<f64>())?;
    if let Some(write) = write {
        write(locked.conn()).await?;
    }
    let row = transition::row_update(def, &decision, now, locked.signal_seq, Holder::Operator);
    let history = history_event(&row, &decision, &locked.state, actor);
    locked
        .commit(OperatorWrite {
            row: &row,
            event: history,
            actor,
            action: action_name(&event),
            now,
        })
        .await?;
    Ok(decision.state)
}

/// The history entry an operator's action writes: on the step the saga is now at, with who
/// acted, in what role and why.
fn history_event(
    row: &SagaRowUpdate,
    decision: &Decision,
    from: &SagaState,
    actor: &Actor,
) -> NewEvent {
    let mut detail = json!({
        "reason": actor.reason,
        "from": from.status(),
        "to": decision.state.status(),
        "role": actor.role,
    });
    if let (Some(job), Value::Object(map)) = (actor.job_id, &mut detail) {
        map.insert("job_id".into(), json!(job));
    }
    NewEvent {
        step: row.current_step.clone(),
        kind: decision.kind.into(),
        attempt: row.attempt,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use chrono::TimeZone;

    use super::*;
    use crate::engine::definition::{Known, parse};
    use crate::engine::transition::{Due, LastError};

    const DEF: &str = r#"
name = "t"
version = 1

[[steps]]
name = "a"
action = "x"
on_exhausted = "park"

[[steps]]
name = "b"
action = "x"
"#;

    fn def() -> Arc<WorkflowDef> {
        Arc::new(parse(Path::new("t.toml"), DEF, &Known::ANY).unwrap())
    }

    fn actor(job: Option<Uuid>) -> Actor {
        Actor {
            name: "ana".into(),
            role: "operator".into(),
            reason: "provider fixed".into(),
            job_id: job,
        }
    }

    fn retry_parked() -> (SagaState, Decision, SagaRowUpdate) {
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        let from = SagaState::Parked {
            step: 0,
            attempt: 3,
            reason: "boom".into(),
        };
        let d = lifecycle::decide(&def(), &from, &Event::OperatorRetry, now, 0.5).unwrap();
        let row = transition::row_update(&def(), &d, now, 7, Holder::Operator);
        (from, d, row)
    }

    #[test]
    fn an_operator_write_keeps_data_and_last_error_and_drops_the_lease() {
        let (_, _, row) = retry_parked();
        assert_eq!(row.data, None);
        assert_eq!(row.last_error, LastError::Keep);
        assert!(matches!(row.due, Due::Release(Some(_))));
    }

    #[test]
    fn the_history_event_names_the_new_step_and_the_operator() {
        let (from, d, row) = retry_parked();
        let ev = history_event(&row, &d, &from, &actor(None));
        assert_eq!(ev.step.as_deref(), Some("a"));
        assert_eq!(ev.kind, "operator_retry");
        assert_eq!(ev.attempt, 1);
        assert_eq!(
            ev.detail,
            json!({ "reason": "provider fixed", "from": "parked", "to": "running", "role": "operator" })
        );
    }

    #[test]
    fn a_bulk_job_is_named_in_the_history() {
        let (from, d, row) = retry_parked();
        let job = Uuid::nil();
        let ev = history_event(&row, &d, &from, &actor(Some(job)));
        assert_eq!(ev.detail["job_id"], json!(job));
    }
}
