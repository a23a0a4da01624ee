//! The data-bundle family's metrics: finished orders and delivery time by network, failed
//! fulfilment attempts by error code, and the reseller balance beside its threshold. The
//! Orders and Providers dashboards and the low-balance alert query these names.

use metrics::{describe_counter, describe_gauge, describe_histogram};
use serde_json::Value;

use crate::domain::phone::Network;
use crate::engine::hooks::SagaHooks;
use crate::telemetry::OrderKpis;

pub const ORDERS_TOTAL: &str = "sagaflow_data_bundle_orders_total";
pub const DELIVERY_SECONDS: &str = "sagaflow_data_bundle_delivery_seconds";
pub const ERRORS_TOTAL: &str = "sagaflow_data_bundle_errors_total";
/// Gauge: the reseller balance seen at the last pre-check or balance watch read, in GHS (label
/// `provider`).
pub const RESELLER_BALANCE: &str = "sagaflow_reseller_balance";
/// The configured `low_balance_threshold`, beside each reseller balance, so the alert compares
/// with the setting rather than a copy of it.
pub const RESELLER_BALANCE_THRESHOLD: &str = "sagaflow_reseller_balance_threshold";

pub(super) fn describe() {
    describe_counter!(
        ORDERS_TOTAL,
        "Finished data-bundle orders, by network and outcome."
    );
    describe_histogram!(
        DELIVERY_SECONDS,
        metrics::Unit::Seconds,
        "Time from order to delivered data bundle, by network."
    );
    describe_counter!(
        ERRORS_TOTAL,
        "Failed data-bundle fulfilment attempts, by network and error code."
    );
    describe_gauge!(
        RESELLER_BALANCE_THRESHOLD,
        "Configured reseller balance (GHS) under which data-bundle orders are not submitted."
    );
    describe_gauge!(
        RESELLER_BALANCE,
        "Provider wallet balance (GHS) seen at the last fulfilment pre-check or balance watch read."
    );
}

/// Networks are a closed set; anything else (a malformed input) is folded into `other` so a
/// bad input cannot mint a series.
fn network_label(network: &str) -> &'static str {
    Network::ALL
        .into_iter()
        .map(|n| n.as_str())
        .find(|n| n.eq_ignore_ascii_case(network))
        .unwrap_or("other")
}

/// A fulfilment attempt failed with `code` (a provider error code, a closed set).
pub(super) fn fulfilment_error(network: &str, code: &'static str) {
    metrics::counter!(ERRORS_TOTAL, "network" => network_label(network), "code" => code)
        .increment(1);
}

/// The order KPIs of `data_bundle` sagas: every order workflow's, plus the network's.
pub(super) struct Kpis;

/// A data-bundle saga's start places its order.
const ORDER: OrderKpis = OrderKpis {
    kind: super::WORKFLOW,
    placed_at_start: true,
};

impl SagaHooks for Kpis {
    fn started(&self, input: &Value) {
        ORDER.started(input);
    }

    fn finished(&self, outcome: &'static str, input: &Value, secs: f64) {
        ORDER.finished(outcome, input, secs);
        let network = network_label(input["network"].as_str().unwrap_or_default());
        metrics::counter!(ORDERS_TOTAL, "network" => network, "outcome" => outcome).increment(1);
        if outcome == "completed" {
            metrics::histogram!(DELIVERY_SECONDS, "network" => network).record(secs);
        }
    }
}
