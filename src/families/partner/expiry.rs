//! `partner.expire_licences`, the one step of the daily `licence_expiry` cron workflow: each
//! active licence whose term has ended becomes EXPIRED and its partner gets a signed
//! SUBSCRIPTION_EXPIRED webhook through the outbox.
//!
//! Once per licence per expiry date, however many nodes or runs: the expiry rows are claimed
//! by their primary key in the same checkpoint that flips the status and writes the outbox
//! rows (see `store::expire_licences_in`).

use async_trait::async_trait;
use serde_json::json;

use super::webhook::partner_event;
use super::{Deps, db_error};
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::partner::store::expire_licences_in;

/// The event a partner receives when a licence's term has ended.
pub(crate) const SUBSCRIPTION_EXPIRED: &str = "SUBSCRIPTION_EXPIRED";

/// Most licences one run expires; the next day's run picks up any rest.
const BATCH: i64 = 500;

pub(crate) struct ExpireLicences(pub Deps);

#[async_trait]
impl Action for ExpireLicences {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let today = ctx.now.date_naive();
        let due = self
            .0
            .store
            .licences_due_expiry(today, BATCH)
            .await
            .map_err(db_error)?;
        let mut claimed = Vec::with_capacity(due.len());
        let mut outbox = Vec::with_capacity(due.len());
        for licence in &due {
            let Some(account) = self
                .0
                .settings
                .accounts
                .iter()
                .find(|a| a.id == licence.partner_id)
            else {
                // Still expired: the status must not outlive the term because of a config gap.
                tracing::warn!(partner = %licence.partner_id, "licence of an unconfigured partner expired; no webhook");
                claimed.push((licence.id, licence.expires_on));
                continue;
            };
            let body = json!({
                "orderId": licence.order_id,
                "activationReference": licence.activation_reference,
                "productId": licence.product_id,
                "customerId": licence.customer_id,
                "expiresOn": licence.expires_on,
                "status": "EXPIRED",
            });
            outbox.push(partner_event(
                &account.webhook,
                SUBSCRIPTION_EXPIRED,
                format!("expired:{}:{}", licence.id, licence.expires_on),
                body,
                ctx.now,
            ));
            claimed.push((licence.id, licence.expires_on));
        }
        let mut outcome = StepOutcome::done(json!({ "expired": claimed.len(), "before": today }));
        for row in outbox {
            outcome = outcome.with_outbox(row);
        }
        let (saga, now) = (ctx.saga_id, ctx.now);
        Ok(outcome.with_write(Box::new(move |conn| {
            Box::pin(async move { expire_licences_in(conn, &claimed, saga, now).await })
        })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
