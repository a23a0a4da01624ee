//! The partner's webhooks: ORDER_FULFILLED (the `notify` step) and ORDER_FAILED (the last
//! compensation, after the sales order is cancelled). Both are outbox rows written in the
//! checkpoint; the relay signs, sends, retries and logs every attempt.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::OrderInput;
use crate::engine::action::{Action, Effect, OutboxRow, StepContext, StepError, StepOutcome};
use crate::families::partner::store::fail_partner_order_in;
use crate::families::partner::webhook_delivery::TOPIC;

/// One signed partner event. `event_id` is stable per saga and event, so a rerun step cannot
/// send a second, different event (the receiver deduplicates on it too).
pub(crate) fn partner_event(
    webhook: &str,
    event_type: &str,
    event_id: String,
    mut body: Value,
    now: DateTime<Utc>,
) -> OutboxRow {
    if let Value::Object(map) = &mut body {
        map.insert("event".into(), json!(event_type));
        map.insert("eventId".into(), json!(event_id));
        map.insert("timestamp".into(), json!(now));
    }
    OutboxRow {
        topic: TOPIC.into(),
        destination: Some(webhook.to_string()),
        payload: json!({
            "partner": webhook,
            "event_type": event_type,
            "event_id": event_id,
            "body": body,
        }),
    }
}

pub(crate) struct OrderFulfilled;

#[async_trait]
impl Action for OrderFulfilled {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let fulfil = ctx.output_of("fulfil").cloned().unwrap_or(Value::Null);
        let body = json!({
            "orderId": order.order_id,
            "status": "FULFILLED",
            "productId": order.product_id,
            "tenure": order.tenure,
            "activationReference": fulfil["activation_reference"],
            "expiresOn": fulfil["expires_on"],
        });
        let event_id = format!("{}:ORDER_FULFILLED", ctx.saga_id);
        Ok(
            StepOutcome::done(json!({ "event_id": event_id })).with_outbox(partner_event(
                &order.webhook,
                "ORDER_FULFILLED",
                event_id.clone(),
                body,
                ctx.now,
            )),
        )
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}

pub(crate) struct OrderFailed;

#[async_trait]
impl Action for OrderFailed {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = OrderInput::from_ctx(ctx)?;
        let body = json!({
            "orderId": order.order_id,
            "status": "FAILED",
            "productId": order.product_id,
            "errorCode": "FULFILMENT_FAILED",
            "message": "The licence could not be provisioned; the order was not charged.",
        });
        let event_id = format!("{}:ORDER_FAILED", ctx.saga_id);
        let (id, now) = (order.partner_order_id, ctx.now);
        Ok(StepOutcome::done(json!({ "event_id": event_id }))
            .with_outbox(partner_event(
                &order.webhook,
                "ORDER_FAILED",
                event_id.clone(),
                body,
                ctx.now,
            ))
            .with_write(Box::new(move |conn| {
                Box::pin(async move { fail_partner_order_in(conn, id, now).await })
            })))
    }

    fn effect(&self) -> Effect {
        Effect::Internal
    }
}
