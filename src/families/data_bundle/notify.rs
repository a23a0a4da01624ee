//! `notify` (SMS plus in-app notification once the bundle is delivered) and `invoice` (the
//! receipt row). Neither can undo a delivered bundle: their workflow steps park rather than
//! compensate, and a refused SMS does not fail the order. An SMS provider refusing our own
//! credentials parks the saga (`provider_credentials`) so the text goes once the key is fixed.

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, OrderInput};
use crate::domain::money::Minor;
use crate::engine::action::{Action, Effect, StepContext, StepError, StepOutcome};
use crate::families::credentials::park_if_rejected;
use crate::families::data_bundle::store::{NewNotification, notify_in_app_in, write_receipt_in};

/// SMS attempts before the step gives up on the text and records that it was not sent.
const SMS_ATTEMPTS: u32 = 3;

pub(crate) struct Notify(pub Deps);

#[async_trait]
impl Action for Notify {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let phone = order.phone()?;
        let text = format!(
            "Your {} {}GB data bundle has been delivered to {}. Order {}.",
            order.network,
            order.size_gb,
            phone.masked(),
            order.order_code
        );
        let attempt = self
            .0
            .providers
            .sms
            .send(&phone, &text, &ctx.idempotency_key)
            .await;
        let sms = match attempt.result {
            Ok(sent) => json!({ "message_id": sent.message_id, "status": sent.status }),
            // Held by a provider gate: never sent, so wait without spending an attempt.
            Err(e @ crate::providers::Error::Held { .. }) => {
                return Err(crate::families::provider_error(e));
            }
            Err(e) => {
                // Our own key refused: park until it is fixed, so the customer's SMS still
                // goes once an operator resumes the saga.
                if let Some(park) = park_if_rejected(&e) {
                    return Err(park);
                }
                if e.retryable() && ctx.attempt < SMS_ATTEMPTS {
                    return Err(StepError::Retryable {
                        code: e.code().to_string(),
                        message: e.to_string(),
                        retry_after: e.retry_after(),
                    });
                }
                json!({ "error": e.code() })
            }
        };
        let note = NewNotification {
            user_id: order.user_id,
            order_id: Some(order.order_id),
            kind: "delivered".into(),
            message: text,
            dedup_key: ctx.idempotency_key.clone(),
        };
        let now = ctx.now;
        Ok(
            StepOutcome::done(json!({ "sms": sms, "in_app": true })).with_write(Box::new(
                move |conn| {
                    Box::pin(async move { notify_in_app_in(conn, &note, now).await.map(drop) })
                },
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey { provider: "sms" }
    }
}

pub(crate) struct Invoice;

#[async_trait]
impl Action for Invoice {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let price = ctx
            .output_of("price_resolve")
            .and_then(|o| o["price_minor"].as_i64())
            .unwrap_or_default();
        let receipt_no = format!("RCPT-{}", order.order_code);
        let detail = json!({
            "order_code": order.order_code,
            "network": order.network,
            "size_gb": order.size_gb,
            "amount": Minor(price).to_major_string(),
            "currency": "GHS",
            "external_id": ctx.output_of("fulfill").map(|f| f["external_id"].clone()),
        });
        let (order_id, now, no) = (order.order_id, ctx.now, receipt_no.clone());
        Ok(
            StepOutcome::done(json!({ "receipt_no": receipt_no })).with_write(Box::new(
                move |conn| {
                    Box::pin(async move {
                        write_receipt_in(conn, order_id, &no, price, &detail, now).await
                    })
                },
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
