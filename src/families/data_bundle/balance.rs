//! The balance watch: a periodic job (not a saga) that reads the reseller's balance on
//! `[bundles] balance_poll`, so the balance gauge and its low-balance alert stay fresh when no
//! orders flow, and `GET /v1/providers/reseller/balance`, which shows the newest reading.
//!
//! AT-iShare exposes no balance endpoint (its 402 on submit is the only sign), so only the
//! reseller is watched.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Extension, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tracing::warn;

use super::Deps;
use super::lookup::Route;
use super::metrics::{RESELLER_BALANCE, RESELLER_BALANCE_THRESHOLD};
use super::store::BalanceReading;
use crate::api::auth::{self, Tokens};
use crate::api::{ApiError, AppState, guard};
use crate::engine::periodic::{PeriodicJob, PeriodicTask};
use crate::families::credentials::credentials_rejected;

/// The periodic job's name, its key in `cron_runs`.
pub const JOB: &str = "data_bundle.balance_poll";

/// The currency the reseller's balance is in when it does not say.
const DEFAULT_CURRENCY: &str = "GHS";

/// The balance watch's job, when `[bundles] balance_poll` is set.
pub(super) fn jobs(deps: &Deps) -> Vec<PeriodicJob> {
    deps.settings
        .balance_poll
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|schedule| PeriodicJob {
            name: JOB.to_string(),
            schedule: schedule.clone(),
            task: Arc::new(BalancePoll(deps.clone())),
        })
        .collect()
}

/// Reads the reseller's balance, sets the gauges the low-balance alert compares and stores
/// the reading (or the error that stopped it).
pub(crate) struct BalancePoll(pub Deps);

#[async_trait]
impl PeriodicTask for BalancePoll {
    async fn run(&self, now: DateTime<Utc>) -> Result<(), String> {
        let provider = Route::Reseller.provider();
        let attempt = self.0.providers.reseller.get_balance().await;
        let (reading, failure) = match attempt.result {
            Ok(b) => {
                metrics::gauge!(RESELLER_BALANCE, "provider" => provider).set(b.balance);
                let reading = BalanceReading {
                    balance: Some(b.balance),
                    currency: Some(
                        b.currency
                            .filter(|c| !c.trim().is_empty())
                            .unwrap_or_else(|| DEFAULT_CURRENCY.to_string()),
                    ),
                    read_at: now,
                    error: None,
                };
                (reading, None)
            }
            Err(e) => {
                // Counted and alerted like a step's: the key every order needs was refused.
                credentials_rejected(&e);
                warn!(code = e.code(), "reseller balance read failed");
                let reading = BalanceReading {
                    balance: None,
                    currency: None,
                    read_at: now,
                    error: Some(e.to_string()),
                };
                (reading, Some(e.to_string()))
            }
        };
        // Beside every reading, so the alert compares with the setting even before any order.
        metrics::gauge!(RESELLER_BALANCE_THRESHOLD, "provider" => provider)
            .set(self.0.settings.low_balance_threshold);
        self.0
            .store
            .record_provider_balance(provider, &reading)
            .await
            .map_err(|e| format!("balance reading not stored: {e}"))?;
        failure.map_or(Ok(()), Err)
    }
}

/// The configured threshold, for the route.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Threshold(f64);

/// `GET /v1/providers/reseller/balance`: operators and viewers.
pub(super) fn routes(tokens: &Tokens, threshold: f64) -> Router<AppState> {
    guard(tokens, auth::READ)(
        Router::new()
            .route("/v1/providers/reseller/balance", get(reseller_balance))
            .layer(Extension(Threshold(threshold))),
    )
}

/// The balance route's part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(reseller_balance))]
pub(crate) struct Doc;

#[utoipa::path(get, path = "/v1/providers/reseller/balance", tag = "orders",
    responses((status = 200, description = "the reseller's newest balance reading (null before the first), the configured threshold, whether the balance is under it, when it was read and how long ago, and the newest read's error when the latest read failed")))]
pub(crate) async fn reseller_balance(
    State(s): State<AppState>,
    Extension(Threshold(threshold)): Extension<Threshold>,
) -> Result<Json<Value>, ApiError> {
    let provider = Route::Reseller.provider();
    let (read, newest) = s.rt.store.latest_provider_balance(provider).await?;
    let now = s.rt.clock.now();
    // The newest read's error, unless a later read succeeded.
    let last_error = newest.as_ref().and_then(|n| n.error.clone());
    let last_error_at = last_error.as_ref().and(newest.as_ref()).map(|n| n.read_at);
    let balance = read.as_ref().and_then(|r| r.balance);
    Ok(Json(json!({
        "provider": provider,
        "balance": balance,
        "currency": read.as_ref().and_then(|r| r.currency.clone()),
        "threshold": threshold,
        "low": balance.map(|b| b < threshold),
        "read_at": read.as_ref().map(|r| r.read_at),
        "age_seconds": read.as_ref().map(|r| (now - r.read_at).num_seconds().max(0)),
        "last_error": last_error,
        "last_error_at": last_error_at,
    })))
}
