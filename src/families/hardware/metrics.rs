//! The hardware family's metrics, recorded by its steps (`ship` on each delivery, `automate`
//! on each bridge attempt). The Orders dashboard's Hardware orders row and the
//! `SagaflowHardwareAutomationFailing` alert query them.

use metrics::{describe_counter, describe_histogram};

pub const SHIPMENT_DELIVERY_SECONDS: &str = "sagaflow_shipment_delivery_seconds";
pub const AUTOMATION_RUNS_TOTAL: &str = "sagaflow_automation_runs_total";

pub(super) fn describe() {
    describe_histogram!(
        SHIPMENT_DELIVERY_SECONDS,
        metrics::Unit::Seconds,
        "Hardware shipments: time from shipped to delivered."
    );
    describe_counter!(
        AUTOMATION_RUNS_TOTAL,
        "Hardware automation attempts against the legacy bridge, by scenario and outcome (succeeded, failed_attempt)."
    );
}
