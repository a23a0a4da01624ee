//! Tracing set-up, metric names and the Prometheus recorder.
//!
//! Every metric the product emits is named here and described in [`describe`], so the
//! exposition at `GET /metrics` carries a `# HELP` line for each. Names follow Prometheus
//! conventions: a `sagaflow_` prefix, base units in the name, `_total` on counters, real
//! histograms with explicit buckets, and labels of bounded cardinality only (workflow, step,
//! outcome, provider, network: never a saga id, phone number or order code).
//!
//! `dashboards/` queries these names; `tests/it/metrics_live.rs` fails when a panel asks for a
//! metric the live exposition does not carry.

/// Installs the tracing subscriber; `RUST_LOG` filters, `SAGAFLOW_LOG_JSON=1` switches to JSON.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = if std::env::var("SAGAFLOW_LOG_JSON").is_ok_and(|v| v == "1") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) is harmless; the first subscriber stays.
    let _ = result;
}

/// Installs the tracing subscriber writing to `file` (the demo's log), without colours;
/// `RUST_LOG` filters as above.
pub fn init_tracing_to_file(file: std::fs::File) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(std::sync::Mutex::new(file))
        .try_init();
}

// Metric names. Units are in the names; counters end in `_total`; labels are bounded
// (workflow, step, outcome: never a saga id, phone number or order code).
pub const SAGAS_STARTED_TOTAL: &str = "sagaflow_sagas_started_total";
pub const SAGAS_COMPLETED_TOTAL: &str = "sagaflow_sagas_completed_total";
pub const SAGAS_COMPENSATED_TOTAL: &str = "sagaflow_sagas_compensated_total";
pub const SAGAS_FAILED_TOTAL: &str = "sagaflow_sagas_failed_total";
pub const SAGAS_PARKED_TOTAL: &str = "sagaflow_sagas_parked_total";
pub const SAGAS_CANCELLED_TOTAL: &str = "sagaflow_sagas_cancelled_total";
pub const STEP_DURATION_SECONDS: &str = "sagaflow_step_duration_seconds";
pub const STEP_ATTEMPTS_TOTAL: &str = "sagaflow_step_attempts_total";
pub const STEP_RETRIES_TOTAL: &str = "sagaflow_step_retries_total";
pub const SAGA_DURATION_SECONDS: &str = "sagaflow_saga_duration_seconds";
pub const CLAIM_LAG_SECONDS: &str = "sagaflow_claim_lag_seconds";
pub const LEASES_RECLAIMED_TOTAL: &str = "sagaflow_leases_reclaimed_total";
pub const FENCED_WRITES_TOTAL: &str = "sagaflow_fenced_writes_total";
/// Attempts that ran again after an earlier run of the same attempt left no record.
pub const RECOVERED_ATTEMPTS_TOTAL: &str = "sagaflow_recovered_attempts_total";
/// Attempts that could not tell whether a provider acted, by provider.
pub const UNKNOWN_OUTCOMES_TOTAL: &str = "sagaflow_unknown_outcomes_total";
pub const COMPENSATIONS_TOTAL: &str = "sagaflow_compensations_total";
pub const CRON_TICKS_TOTAL: &str = "sagaflow_cron_ticks_total";
pub const SIGNALS_TOTAL: &str = "sagaflow_signals_total";
/// Attempts turned away because their step's queue had no free slot, by queue.
pub const QUEUE_FULL_TOTAL: &str = "sagaflow_queue_full_total";

// Refreshed from the database by `engine::gauges` (worker role), so they are true for the whole
// cluster rather than for one process's view.
pub const SAGAS_IN_FLIGHT: &str = "sagaflow_sagas_in_flight";
pub const OLDEST_RUNNABLE_AGE_SECONDS: &str = "sagaflow_oldest_runnable_saga_age_seconds";
pub const OLDEST_WAITING_AGE_SECONDS: &str = "sagaflow_oldest_waiting_saga_age_seconds";
pub const OUTBOX_PENDING: &str = "sagaflow_outbox_pending";
/// Slots of each queue held by a live lease right now, and each queue's configured limit.
pub const QUEUE_SLOTS_IN_USE: &str = "sagaflow_queue_slots_in_use";
pub const QUEUE_LIMIT: &str = "sagaflow_queue_limit";
/// Wall-clock time (Unix seconds) a worker last showed it was alive (each claim poll, and every
/// 15 s while all its slots are busy); "no worker heartbeat" alerts on `time() - max(...)`.
pub const WORKER_HEARTBEAT_SECONDS: &str = "sagaflow_worker_last_heartbeat_timestamp_seconds";

// HTTP API, recorded by `api::http_metrics` with the matched route template.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "sagaflow_http_request_duration_seconds";

// Business KPIs.
pub const ORDERS_PLACED_TOTAL: &str = "sagaflow_orders_placed_total";
pub const ORDERS_FINISHED_TOTAL: &str = "sagaflow_orders_finished_total";
pub const ORDER_LEAD_TIME_SECONDS: &str = "sagaflow_order_fulfilment_lead_time_seconds";
// A family's own metrics live in its folder (`metrics.rs`) and are described by its
// `Family::describe_metrics`. Histograms of business durations are named `*_delivery_seconds`
// so they get the lead-time buckets below without this file naming them.

/// Buckets for step and saga durations, lags and ages: 1 ms to about 3 hours.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 10800.0,
];

/// Buckets for HTTP requests: the API answers in milliseconds; anything past 10 s is broken.
const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets for order lead times and deliveries: seconds (a bundle) to a week (a shipment).
const LEAD_TIME_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 21600.0, 86400.0,
    259200.0, 604800.0,
];

static PROMETHEUS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Installs the Prometheus recorder once per process and describes every metric, so the
/// exposition carries `# HELP` lines. Later calls return the same handle.
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            // The first matching rule wins, so the specific ones come before the `_seconds`
            // catch-all. Every histogram here is a `_seconds` one, so none falls back to a
            // summary. The bucket lists are constants and non-empty: these cannot fail.
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(HTTP_REQUEST_DURATION_SECONDS.into()),
                    HTTP_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(ORDER_LEAD_TIME_SECONDS.into()),
                        LEAD_TIME_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Suffix("_delivery_seconds".into()),
                        LEAD_TIME_BUCKETS,
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                })
                .expect("constant, non-empty bucket lists");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test harness) may already be installed; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            // Label-less counters of rare events start at 0, so dashboards and alerts see
            // "none yet" rather than an absent series.
            metrics::counter!(LEASES_RECLAIMED_TOTAL).increment(0);
            metrics::counter!(FENCED_WRITES_TOTAL).increment(0);
            handle
        })
        .clone()
}

/// Starts the recovery counters at 0 for every step and every provider an action verifies
/// with, so dashboards and alerts see "none yet" rather than an absent series.
pub(crate) fn zero_recovery_series(
    catalog: &crate::engine::definition::Catalog,
    registry: &crate::engine::action::ActionRegistry,
) {
    for def in catalog.all() {
        for step in &def.steps {
            metrics::counter!(RECOVERED_ATTEMPTS_TOTAL, "workflow" => def.name.clone(), "step" => step.name.clone()).increment(0);
        }
    }
    for queue in catalog
        .all()
        .flat_map(|def| def.steps.iter().filter_map(|s| s.queue.clone()))
    {
        metrics::counter!(QUEUE_FULL_TOTAL, "queue" => queue).increment(0);
    }
    for provider in registry.verified_providers() {
        metrics::counter!(UNKNOWN_OUTCOMES_TOTAL, "provider" => provider).increment(0);
    }
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(SAGAS_STARTED_TOTAL, "Sagas started, by workflow.");
    describe_counter!(SAGAS_COMPLETED_TOTAL, "Sagas that completed every step.");
    describe_counter!(
        SAGAS_COMPENSATED_TOTAL,
        "Sagas that failed and were fully compensated."
    );
    describe_counter!(
        SAGAS_FAILED_TOTAL,
        "Sagas whose compensation failed for good (held for an operator)."
    );
    describe_counter!(
        SAGAS_PARKED_TOTAL,
        "Sagas parked for an operator after a step failed for good."
    );
    describe_counter!(SAGAS_CANCELLED_TOTAL, "Sagas cancelled by an operator.");
    describe_histogram!(
        STEP_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Duration of one step attempt."
    );
    describe_counter!(STEP_ATTEMPTS_TOTAL, "Step attempts, first tries included.");
    describe_counter!(STEP_RETRIES_TOTAL, "Step attempts after the first.");
    describe_histogram!(
        SAGA_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Time from start to a final or held state."
    );
    describe_histogram!(
        CLAIM_LAG_SECONDS,
        metrics::Unit::Seconds,
        "How late a saga was claimed after it became due."
    );
    describe_counter!(
        LEASES_RECLAIMED_TOTAL,
        "Sagas claimed after another worker's lease expired."
    );
    describe_counter!(
        FENCED_WRITES_TOTAL,
        "Checkpoints dropped because the lease was lost or an operator acted."
    );
    describe_counter!(
        RECOVERED_ATTEMPTS_TOTAL,
        "Attempts run again after a crash, a lost lease, a failed checkpoint or a cut-short drain; they look before they act."
    );
    describe_counter!(
        UNKNOWN_OUTCOMES_TOTAL,
        "Attempts that could not prove whether the provider acted; looked at again later, never resubmitted."
    );
    describe_counter!(COMPENSATIONS_TOTAL, "Compensation attempts, by outcome.");
    describe_counter!(
        QUEUE_FULL_TOTAL,
        "Attempts put back because every slot of their step's queue was taken, by queue."
    );
    describe_counter!(
        CRON_TICKS_TOTAL,
        "Cron ticks fired (once across all nodes)."
    );
    describe_counter!(SIGNALS_TOTAL, "Signals received, by result.");
    describe_delivery();
    describe_state();
    describe_business();
}

fn describe_state() {
    use metrics::{describe_gauge, describe_histogram};
    describe_gauge!(
        SAGAS_IN_FLIGHT,
        "Unfinished sagas by workflow and status, refreshed from the database."
    );
    describe_gauge!(
        OLDEST_RUNNABLE_AGE_SECONDS,
        metrics::Unit::Seconds,
        "How long the oldest due saga has been waiting for a worker, by workflow (0 when none)."
    );
    describe_gauge!(
        OLDEST_WAITING_AGE_SECONDS,
        metrics::Unit::Seconds,
        "Time since the oldest saga in waiting last changed state, by workflow (0 when none)."
    );
    describe_gauge!(
        QUEUE_SLOTS_IN_USE,
        "Slots of each queue held by a live lease, across the nodes, refreshed from the database."
    );
    describe_gauge!(QUEUE_LIMIT, "Each queue's concurrency limit on this node.");
    describe_gauge!(
        OUTBOX_PENDING,
        "Outbox messages not yet delivered (pending), refreshed from the database."
    );
    describe_gauge!(
        WORKER_HEARTBEAT_SECONDS,
        metrics::Unit::Seconds,
        "Unix time of this worker's last claim poll."
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "HTTP API request duration, by route template, method and status class."
    );
}

fn describe_business() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(ORDERS_PLACED_TOTAL, "Orders accepted, by kind.");
    describe_counter!(
        ORDERS_FINISHED_TOTAL,
        "Orders whose saga reached a final or held state, by kind and outcome."
    );
    describe_histogram!(
        ORDER_LEAD_TIME_SECONDS,
        metrics::Unit::Seconds,
        "Fulfilment lead time of completed orders (paid to completed), by kind."
    );
}

/// An order of `kind` was accepted (its saga started). Kinds are the families' order
/// workflows, a closed set.
pub fn order_placed(kind: &'static str) {
    metrics::counter!(ORDERS_PLACED_TOTAL, "kind" => kind).increment(1);
}

/// An order's saga reached a final or held state `secs` after it began.
pub fn order_finished(kind: &'static str, outcome: &'static str, secs: f64) {
    metrics::counter!(ORDERS_FINISHED_TOTAL, "kind" => kind, "outcome" => outcome).increment(1);
    if outcome == "completed" {
        metrics::histogram!(ORDER_LEAD_TIME_SECONDS, "kind" => kind).record(secs);
    }
}

pub const OUTBOX_ATTEMPTS_TOTAL: &str = "sagaflow_outbox_delivery_attempts_total";
pub const OUTBOX_FAILURES_TOTAL: &str = "sagaflow_outbox_delivery_failures_total";
pub const WEBHOOKS_RECEIVED_TOTAL: &str = "sagaflow_webhooks_received_total";

fn describe_delivery() {
    use crate::providers::metrics as p;
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        OUTBOX_ATTEMPTS_TOTAL,
        "Outbox delivery attempts, by topic and outcome."
    );
    describe_counter!(
        OUTBOX_FAILURES_TOTAL,
        "Outbox delivery attempts that did not deliver."
    );
    describe_counter!(
        WEBHOOKS_RECEIVED_TOTAL,
        "Inbound provider webhooks, by provider and result."
    );
    describe_counter!(
        p::PROVIDER_HELD_TOTAL,
        "Provider calls held before they were sent, by provider and reason (rate, concurrency, breaker, paused)."
    );
    metrics::describe_gauge!(
        p::PROVIDER_BREAKER_OPEN,
        "1 while the provider's breaker is open or half open."
    );
    metrics::describe_gauge!(
        p::PROVIDER_PAUSED,
        "1 while an operator pauses the provider or one of its endpoints."
    );
    describe_counter!(
        p::PROVIDER_REQUESTS_TOTAL,
        "Requests to providers, by provider, endpoint and outcome class."
    );
    describe_histogram!(
        p::PROVIDER_REQUEST_DURATION_SECONDS,
        metrics::Unit::Seconds,
        "Provider request latency."
    );
    describe_counter!(
        p::PARTNER_WEBHOOK_DELIVERIES_TOTAL,
        "Partner webhook deliveries, by outcome."
    );
    describe_counter!(
        p::PROVIDER_CREDENTIALS_REJECTED_TOTAL,
        "Provider calls refused with 401 or 403: sagaflow's own credentials were rejected."
    );
}

/// The order KPIs of a workflow that fulfils orders of `kind`; a family hands it to the
/// engine as the workflow's saga hooks.
pub struct OrderKpis {
    pub kind: &'static str,
    /// True when starting the saga places the order (data bundles, partner orders); false when
    /// the family counts the placement itself (a hardware order is placed as a draft, before
    /// checkout starts its saga).
    pub placed_at_start: bool,
}

impl crate::engine::hooks::SagaHooks for OrderKpis {
    fn started(&self, _input: &serde_json::Value) {
        if self.placed_at_start {
            order_placed(self.kind);
        }
    }

    fn finished(&self, outcome: &'static str, _input: &serde_json::Value, secs: f64) {
        order_finished(self.kind, outcome, secs);
    }
}
