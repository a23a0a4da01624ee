//! The legacy operation an operator may launch with a fallback (`launch_legacy: true`): the
//! step's scenario run once more through the bridge, under a correlation id of its own, and
//! recorded on the order's timeline (`automation.legacy_operation_launched`) whether or not the
//! fallback is then recorded.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use crate::api::{ApiError, AppState};
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::store::AutomationRow;
use crate::providers::Providers;
use crate::providers::bridge::AutomationRequest;

/// Runs the step's scenario through the bridge; the bridge's run id and the correlation id, or
/// 502 `legacy_operation_failed` (nothing recorded) when the bridge refuses or fails.
pub(crate) async fn launch(
    s: &AppState,
    providers: &Arc<Providers>,
    settings: &HardwareSettings,
    step: &AutomationRow,
    saga_id: Option<uuid::Uuid>,
    by: &str,
) -> Result<serde_json::Value, ApiError> {
    let order = s.rt.store.hardware_order(step.order_id).await?;
    // Keyed by the saga and the step, as every bridge reference is, so a repeated launch runs
    // the operation once.
    let correlation_id = match saga_id {
        Some(saga) => format!("{saga}:fallback:{}", step.id),
        None => format!("{}:fallback", step.id),
    };
    let mut payload = step.payload.clone();
    payload["fallback_by"] = json!(by);
    let request = AutomationRequest {
        reference: correlation_id.clone(),
        scenario: step.scenario.clone(),
        order_id: order.map(|o| o.order_code).unwrap_or_default(),
        sku: step.payload["sku"].as_str().unwrap_or_default().to_string(),
        quantity: i32::try_from(step.payload["quantity"].as_i64().unwrap_or(1)).unwrap_or(1),
        payload,
    };
    let timeout = settings.policy(&step.scenario).timeout;
    let run = providers
        .bridge
        .run_automation(&request, timeout)
        .await
        .result
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "legacy_operation_failed",
                format!("the bridge did not run the legacy operation: {e}; nothing was recorded"),
            )
        })?;
    let detail = json!({
        "scenario": step.scenario,
        "correlation_id": correlation_id,
        "bridge_reference": run.id,
        "by": by,
    });
    s.rt.store
        .record_legacy_operation(step.id, step.order_id, &detail, s.rt.clock.now())
        .await?;
    Ok(detail)
}
