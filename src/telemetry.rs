//! Tracing set-up and metric names.

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
pub const COMPENSATIONS_TOTAL: &str = "sagaflow_compensations_total";
pub const CRON_TICKS_TOTAL: &str = "sagaflow_cron_ticks_total";
pub const SIGNALS_TOTAL: &str = "sagaflow_signals_total";

/// Buckets for step and saga durations: 1 ms to about 3 hours.
const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0, 10800.0,
];

static PROMETHEUS: std::sync::OnceLock<metrics_exporter_prometheus::PrometheusHandle> =
    std::sync::OnceLock::new();

/// Installs the Prometheus recorder once per process and describes every metric, so the
/// exposition carries `# HELP` lines. Later calls return the same handle.
pub fn prometheus() -> metrics_exporter_prometheus::PrometheusHandle {
    PROMETHEUS
        .get_or_init(|| {
            use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DURATION_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Another recorder (a test harness) may already be installed; ours still renders.
            let _ = metrics::set_global_recorder(recorder);
            describe();
            handle
        })
        .clone()
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
    describe_counter!(COMPENSATIONS_TOTAL, "Compensation attempts, by outcome.");
    describe_counter!(
        CRON_TICKS_TOTAL,
        "Cron ticks fired (once across all nodes)."
    );
    describe_counter!(SIGNALS_TOTAL, "Signals received, by result.");
    describe_delivery();
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
}
