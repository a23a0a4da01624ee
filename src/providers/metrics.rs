//! Metric names for provider calls; the engine describes them at start-up.

/// Counter of provider calls, labelled `provider`, `endpoint` and `outcome`
/// (`ok`, `retryable`, `permanent`).
pub const PROVIDER_REQUESTS_TOTAL: &str = "sagaflow_provider_requests_total";

/// Histogram of provider call latency in seconds, with the same labels.
pub const PROVIDER_REQUEST_DURATION_SECONDS: &str = "sagaflow_provider_request_duration_seconds";

/// Counter of outbound partner webhook deliveries, labelled `outcome`
/// (`delivered`, `retryable`, `permanent`).
pub const PARTNER_WEBHOOK_DELIVERIES_TOTAL: &str = "sagaflow_partner_webhook_deliveries_total";

/// Counter of provider answers refusing sagaflow's own credentials (401 or 403), labelled
/// `provider`. Any increase pages (`SagaflowProviderCredentialsRejected`).
pub const PROVIDER_CREDENTIALS_REJECTED_TOTAL: &str =
    "sagaflow_provider_credentials_rejected_total";

/// Counter of provider calls held before they were sent, labelled `provider` and `reason`
/// (`rate`, `concurrency`, `breaker`, `paused`).
pub const PROVIDER_HELD_TOTAL: &str = "sagaflow_provider_held_total";

/// Gauge: 1 while a provider's breaker is open or half open, else 0; labelled `provider`.
pub const PROVIDER_BREAKER_OPEN: &str = "sagaflow_provider_breaker_open";

/// Gauge: 1 while an operator pauses a provider (or one of its endpoints), else 0.
pub const PROVIDER_PAUSED: &str = "sagaflow_provider_paused";
