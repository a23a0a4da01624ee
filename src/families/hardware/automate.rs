//! `automate`: runs each delivered item's automation step against the legacy device/asset
//! bridge under its scenario's policy (attempts, delay, timeout). A step out of attempts is
//! marked failed with `automation.step_failed` and the saga parks for an operator, who retries
//! the step or runs its manual fallback.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use super::metrics as m;
use super::{Deps, db_error, domain_write};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{AttemptOutcome, AutomationRow, record_attempt_in};
use crate::providers::bridge::AutomationRequest;

pub(crate) struct Automate(pub Deps);

#[async_trait]
impl Action for Automate {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let steps = self
            .0
            .store
            .automation_steps_for_order(order.id)
            .await
            .map_err(db_error)?;
        let now = ctx.now;
        let mut attempts: Vec<(AutomationRow, AttemptOutcome)> = Vec::new();
        // Steps whose call a provider gate held: never sent, so no attempt is recorded, and
        // the saga waits (keeping its own attempt) until the gate may let them through.
        let mut held: Vec<Uuid> = Vec::new();
        let mut held_until: Option<(DateTime<Utc>, crate::providers::Error)> = None;
        let due_now: Vec<&AutomationRow> = steps.iter().filter(|s| due(s, now)).collect();
        for (done, step) in due_now.iter().enumerate() {
            // Each device or asset call may take a while: the job run shows which and how far.
            ctx.report.relate("automation_step", step.id, None);
            ctx.report.items(done, due_now.len());
            match self.attempt(ctx, &order.order_code, step, now).await {
                Ok(outcome) => attempts.push(((*step).clone(), outcome)),
                Err((retry_in, e)) => {
                    held.push(step.id);
                    let at = crate::engine::clock::later(now, retry_in);
                    if held_until.as_ref().is_none_or(|(h, _)| at < *h) {
                        held_until = Some((at, e));
                    }
                }
            }
        }
        ctx.report.items(due_now.len(), due_now.len());
        // Where every step stands once this round's attempts are recorded.
        let mut failed = Vec::new();
        let mut next_retry: Option<DateTime<Utc>> = None;
        for step in &steps {
            let round = attempts
                .iter()
                .find(|(s, _)| s.id == step.id)
                .map(|(_, o)| o);
            match (round, step.status.as_str()) {
                (Some(AttemptOutcome::Succeeded { .. }), _) => {}
                (
                    Some(AttemptOutcome::Failed {
                        retry_at: None,
                        error,
                    }),
                    _,
                ) => failed.push((step, error.clone())),
                (
                    Some(AttemptOutcome::Failed {
                        retry_at: Some(at), ..
                    }),
                    _,
                ) => {
                    next_retry = Some(next_retry.map_or(*at, |n| n.min(*at)));
                }
                (None, "failed") => {
                    failed.push((step, step.last_error.clone().unwrap_or_default()))
                }
                (None, _) if held.contains(&step.id) => {}
                (None, "queued" | "retrying") => {
                    let at = step.next_attempt_at.unwrap_or(now);
                    next_retry = Some(next_retry.map_or(at, |n| n.min(at)));
                }
                (None, _) => {}
            }
        }
        let summary: Vec<_> = attempts
            .iter()
            .map(|(s, o)| json!({ "id": s.id, "scenario": s.scenario, "succeeded": matches!(o, AttemptOutcome::Succeeded { .. }) }))
            .collect();
        let outcome = if let Some((step, error)) = failed.first() {
            let policy = self.0.settings.policy(&step.scenario);
            StepOutcome::failed(StepError::park(
                "automation_failed",
                format!(
                    "automation step {} ({}) failed after {} attempts: {error}. Retry it, or run the \
                     fallback and record it: {}",
                    step.id, step.scenario, step.max_attempts, policy.fallback
                ),
            ))
        } else if let Some((_, e)) = held_until.filter(|(h, _)| next_retry.is_none_or(|n| *h <= n))
        {
            // The gate's own message names the provider, so a resume finds and wakes the saga.
            StepOutcome::failed(crate::families::provider_error(e))
        } else if let Some(at) = next_retry {
            let wait = (at - now).to_std().unwrap_or_default();
            StepOutcome::failed(StepError::Retryable {
                code: "automation_retrying".into(),
                message: format!("automation steps wait for their next attempt at {at}"),
                retry_after: Some(wait),
            })
        } else {
            StepOutcome::done(json!({ "steps": steps.len(), "attempted": summary }))
        };
        Ok(outcome.with_write(domain_write(move |conn| {
            Box::pin(async move {
                for (step, outcome) in &attempts {
                    record_attempt_in(conn, step.id, outcome, now).await?;
                }
                Ok(())
            })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "bridge" }
    }
}

fn due(step: &AutomationRow, now: DateTime<Utc>) -> bool {
    matches!(step.status.as_str(), "queued" | "retrying")
        && step.next_attempt_at.is_none_or(|at| at <= now)
}

impl Automate {
    /// One call to the bridge, keyed by the automation step so a repeat is not run twice. The
    /// key starts with the saga's id, as every provider key does, so a provider's records say
    /// which order an effect was for. `Err` is a call a provider gate held, never sent: no
    /// attempt to record, and how soon the gate may let it through.
    async fn attempt(
        &self,
        ctx: &StepContext,
        order_code: &str,
        step: &AutomationRow,
        now: DateTime<Utc>,
    ) -> Result<AttemptOutcome, (std::time::Duration, crate::providers::Error)> {
        let policy = self.0.settings.policy(&step.scenario);
        let request = AutomationRequest {
            reference: format!("{}:automate:{}", ctx.saga_id, step.id),
            scenario: step.scenario.clone(),
            order_id: order_code.to_string(),
            sku: step.payload["sku"].as_str().unwrap_or_default().to_string(),
            quantity: step.payload["quantity"].as_i64().unwrap_or(1) as i32,
            payload: step.payload.clone(),
        };
        let result = self
            .0
            .providers
            .bridge
            .run_automation(&request, policy.timeout)
            .await
            .result;
        let result = match result {
            Err(e @ crate::providers::Error::Held { retry_in, .. }) => return Err((retry_in, e)),
            other => other,
        };
        let label = match &result {
            Ok(_) => "succeeded",
            Err(_) => "failed_attempt",
        };
        metrics::counter!(m::AUTOMATION_RUNS_TOTAL, "scenario" => step.scenario.clone(), "outcome" => label)
            .increment(1);
        Ok(match result {
            Ok(done) => AttemptOutcome::Succeeded { reference: done.id },
            Err(e) => {
                let spent = step.attempts + 1 >= step.max_attempts || !e.retryable();
                let delay = chrono::Duration::from_std(policy.retry_delay).unwrap_or_default();
                AttemptOutcome::Failed {
                    error: e.to_string(),
                    retry_at: (!spent).then_some(now + delay),
                }
            }
        })
    }
}
