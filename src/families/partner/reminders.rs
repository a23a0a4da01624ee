//! `partner.expiry_reminders`, the one step of the daily `licence_expiry_reminder` cron
//! workflow: an EXPIRY_REMINDER webhook for each active licence expiring within `within_days`
//! that has had none for that expiry date.
//!
//! Once per licence per expiry, however many nodes or runs: the reminder rows are claimed by
//! their primary key in the same checkpoint that writes the outbox rows (see
//! `store::partner::claim_reminders_in`).

use async_trait::async_trait;
use serde_json::json;

use super::webhook::partner_event;
use super::{Deps, db_error};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::partner::store::claim_reminders_in;

/// Most reminders one run sends; the next day's run picks up any rest.
const BATCH: i64 = 500;

pub(crate) struct ExpiryReminders(pub Deps);

#[async_trait]
impl Action for ExpiryReminders {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let within = ctx.input["within_days"].as_i64().unwrap_or(7).clamp(0, 366);
        let today = ctx.now.date_naive();
        let until = today + chrono::Duration::days(within);
        let due = self
            .0
            .store
            .licences_due_reminder(today, until, BATCH)
            .await
            .map_err(db_error)?;
        let mut outcome = StepOutcome::done(json!({ "reminded": due.len(), "until": until }));
        let mut claimed = Vec::with_capacity(due.len());
        for licence in &due {
            let Some(account) = self
                .0
                .settings
                .accounts
                .iter()
                .find(|a| a.id == licence.partner_id)
            else {
                tracing::warn!(partner = %licence.partner_id, "licence of an unconfigured partner; no reminder");
                continue;
            };
            let days_left = (licence.expires_on - today).num_days();
            let event_id = format!("expiry:{}:{}", licence.id, licence.expires_on);
            let body = json!({
                "orderId": licence.order_id,
                "activationReference": licence.activation_reference,
                "productId": licence.product_id,
                "customerId": licence.customer_id,
                "expiresOn": licence.expires_on,
                "daysLeft": days_left,
            });
            outcome = outcome.with_outbox(partner_event(
                &account.webhook,
                "EXPIRY_REMINDER",
                event_id,
                body,
                ctx.now,
            ));
            claimed.push((licence.id, licence.expires_on));
        }
        let (saga, now) = (ctx.saga_id, ctx.now);
        Ok(outcome.with_write(Box::new(move |conn| {
            Box::pin(async move { claim_reminders_in(conn, &claimed, saga, now).await })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
