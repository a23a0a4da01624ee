//! The request log's retention: a daily periodic job (not a saga) drops partner API requests
//! older than `[partner] request_log_days`, so a caller that floods the API with refused
//! requests cannot grow `partner_requests` without bound.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tracing::info;

use super::Deps;
use crate::engine::periodic::{PeriodicJob, PeriodicTask};

/// The job's name, its key in `cron_runs`.
pub const JOB: &str = "partner.request_log_prune";

/// The pruning job, when a schedule is set and a retention is configured.
pub(super) fn jobs(deps: &Deps) -> Vec<PeriodicJob> {
    if deps.settings.request_log_days == 0 {
        return Vec::new();
    }
    deps.settings
        .request_log_prune
        .iter()
        .filter(|s| !s.trim().is_empty())
        .map(|schedule| PeriodicJob {
            name: JOB.to_string(),
            schedule: schedule.clone(),
            task: Arc::new(RequestPrune(deps.clone())),
        })
        .collect()
}

struct RequestPrune(Deps);

#[async_trait]
impl PeriodicTask for RequestPrune {
    async fn run(&self, now: DateTime<Utc>) -> Result<(), String> {
        let days = i64::from(self.0.settings.request_log_days);
        // A retention longer than the calendar reaches back has nothing to drop.
        let Some(before) = now.checked_sub_signed(chrono::Duration::days(days)) else {
            return Ok(());
        };
        let gone = self
            .0
            .store
            .prune_partner_requests(before)
            .await
            .map_err(|e| format!("pruning the partner request log: {e}"))?;
        info!(gone, %before, "partner request log pruned");
        Ok(())
    }
}
