//! The end of a saga's run as the worker sees it: a committed checkpoint settled the saga
//! (finished, or held for an operator). The engine's own counters are recorded here, and the
//! one call that reaches a workflow family's KPIs is [`family_saga_finished`].

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::saga::SagaRun;
use crate::telemetry as m;

/// Records that `run` settled at `now`: how it ended and how long it took, by workflow.
pub(super) fn saga_settled(run: &SagaRun, now: DateTime<Utc>) {
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
    family_saga_finished(&run.workflow, outcome, &run.data, secs);
    metrics::histogram!(m::SAGA_DURATION_SECONDS, "workflow" => run.workflow.clone(), "outcome" => outcome)
        .record(secs);
}

/// The one place the engine reaches a family's business metrics (orders finished, lead and
/// delivery time, by kind and network): `telemetry::order_finished` knows which workflows are
/// orders. A per-family "saga finished" hook, given the same arguments, replaces this call.
fn family_saga_finished(workflow: &str, outcome: &'static str, data: &Value, secs: f64) {
    m::order_finished(workflow, outcome, &data["input"], secs);
}
