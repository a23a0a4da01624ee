//! The end of a saga's run as the worker sees it: a committed checkpoint settled the saga
//! (finished, or held for an operator). The engine's own counters are recorded here, and the
//! workflow's hooks hear of it (its family's order KPIs), without the engine knowing which
//! family that is.

use chrono::{DateTime, Utc};

use super::saga::SagaRun;
use crate::engine::hooks::Hooks;
use crate::telemetry as m;

/// Records that `run` settled at `now`: how it ended and how long it took, by workflow.
pub(super) fn saga_settled(hooks: &Hooks, run: &SagaRun, now: DateTime<Utc>) {
    let outcome = run.state.status();
    let counter = match outcome {
        "completed" => m::SAGAS_COMPLETED_TOTAL,
        "compensated" => m::SAGAS_COMPENSATED_TOTAL,
        "cancelled" => m::SAGAS_CANCELLED_TOTAL,
        "failed" => m::SAGAS_FAILED_TOTAL,
        _ => m::SAGAS_PARKED_TOTAL,
    };
    metrics::counter!(counter, "workflow" => run.workflow.clone()).increment(1);
    let secs = (now - run.created_at)
        .to_std()
        .unwrap_or_default()
        .as_secs_f64();
    hooks.finished(&run.workflow, outcome, &run.data["input"], secs);
    metrics::histogram!(m::SAGA_DURATION_SECONDS, "workflow" => run.workflow.clone(), "outcome" => outcome)
        .record(secs);
}
