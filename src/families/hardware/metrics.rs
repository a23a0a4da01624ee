//! The hardware family's metrics, recorded by its steps (`ship` on each delivery, `automate`
//! on each bridge attempt, the price sync and the legacy syncs). The Orders dashboard's
//! Hardware orders row and the `SagaflowHardwareAutomationFailing`, `SagaflowPriceSync*`,
//! `SagaflowPriceAgreements*` and `SagaflowLegacySync*` alerts query them.

use metrics::{describe_counter, describe_gauge, describe_histogram};

pub const SHIPMENT_DELIVERY_SECONDS: &str = "sagaflow_shipment_delivery_seconds";
pub const AUTOMATION_RUNS_TOTAL: &str = "sagaflow_automation_runs_total";
pub const PRICE_SYNC_FAILURES_TOTAL: &str = "sagaflow_price_sync_failures_total";
pub const PRICE_AGREEMENTS_UNSYNCED: &str = "sagaflow_price_agreements_unsynced";
pub const PRICE_AGREEMENTS_EXPIRING: &str = "sagaflow_price_agreements_expiring";
pub const PRICE_AGREEMENTS_CHECKED: &str = "sagaflow_price_agreements_checked_timestamp_seconds";
pub const LEGACY_SYNC_FAILURES_TOTAL: &str = "sagaflow_legacy_sync_failures_total";
pub const LEGACY_DRIFT_RECORDS: &str = "sagaflow_legacy_drift_records";

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
    describe_counter!(
        PRICE_SYNC_FAILURES_TOTAL,
        "Price sync: processor calls that failed, by what was being synced (agreement, entry)."
    );
    describe_gauge!(
        PRICE_AGREEMENTS_UNSYNCED,
        "Live price agreements the payment processor does not hold yet: strict checkouts refuse their lines."
    );
    describe_gauge!(
        PRICE_AGREEMENTS_EXPIRING,
        "Price agreements in force that end within 14 days."
    );
    describe_gauge!(
        PRICE_AGREEMENTS_CHECKED,
        metrics::Unit::Seconds,
        "When this node last read the price-agreement gauges from the database (Unix time): alerts take the freshest node's values."
    );
    describe_counter!(
        LEGACY_SYNC_FAILURES_TOTAL,
        "Bridge calls of legacy mirror refreshes and drift checks that failed, by entity (company, asset, device) and operation (refresh, drift)."
    );
    describe_gauge!(
        LEGACY_DRIFT_RECORDS,
        "Records the last drift check flagged, by entity and kind (missing_mirror, orphaned, stale, inconsistent)."
    );
}
