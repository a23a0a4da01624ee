//! `checkout`: opens a checkout session with the payment processor (keyed by the saga step),
//! then waits for its signed outcome; a poll asks the processor when no webhook comes and
//! expires a session left unpaid. The compensation refunds a paid order, or expires a session
//! still open, so nothing is left half done.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::json;

use super::{Deps, db_error, domain_write};
use crate::domain::hardware::order::PaymentEvent;
use crate::domain::pricing::PriceSource;
use crate::engine::action::{Action, Effect, Signal, StepContext, StepError, StepOutcome};
use crate::families::hardware::store::{
    HardwareOrder, Payment, mark_processing_in, move_payment_in, refund_payment_in,
    set_checkout_in, settle_payment_in, snapshot_billing_in,
};
use crate::families::provider_error;
use crate::providers::Error as ProviderError;
use crate::providers::payments::{CheckoutSession, LineItem, NewCheckoutSession, NewRefund};
use crate::providers::webhooks;

/// Recorded on the refund, the voided invoice and a checkout called off.
const UNDO_REASON: &str = "order undone";

pub(crate) struct Checkout(pub Deps);

impl Checkout {
    /// The order's billing contact and address from the directory as they are now: the
    /// snapshot checkout takes, and the e-mail the processor receipts go to.
    async fn billing(
        &self,
        order: &HardwareOrder,
    ) -> Result<(serde_json::Value, serde_json::Value, uuid::Uuid), StepError> {
        let store = &self.0.store;
        let contact = store
            .contact_view(order.billing_contact_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StepError::permanent("no_contact", "the billing contact is gone"))?
            .contact;
        let address = store
            .address(order.billing_address_id)
            .await
            .map_err(db_error)?
            .ok_or_else(|| StepError::permanent("no_address", "the billing address is gone"))?;
        let contact = json!({
            "contact_id": contact.id,
            "name": format!("{} {}", contact.first_name, contact.last_name).trim(),
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "email": contact.email,
            "phone": contact.phone,
        });
        let mut snapshot = address.fields().snapshot();
        snapshot["address_id"] = json!(address.id);
        Ok((contact, snapshot, address.id))
    }
}

#[async_trait]
impl Action for Checkout {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let items = self
            .0
            .store
            .hardware_order_items(order.id)
            .await
            .map_err(db_error)?;
        let line_items = items
            .iter()
            .map(|item| {
                let quantity = u32::try_from(item.quantity).unwrap_or(0);
                match (&item.processor_price_id, item.price_type.as_str()) {
                    (Some(price_id), t) if t != PriceSource::Bespoke.as_str() => LineItem::Price {
                        price_id: price_id.clone(),
                        quantity,
                    },
                    _ => LineItem::Inline {
                        name: format!("{} {}", item.sku, item.description),
                        currency: item.currency.clone(),
                        unit_amount: item.unit_amount_minor,
                        quantity,
                    },
                }
            })
            .collect();
        let (contact, address, address_id) = self.billing(&order).await?;
        let settings = &self.0.settings;
        let expires_at = ctx
            .output_of("price_resolve")
            .and_then(|o| o["checkout_expires_at"].as_i64());
        let request = NewCheckoutSession {
            success_url: settings.success_url.clone(),
            cancel_url: settings.cancel_url.clone(),
            line_items,
            client_reference_id: Some(order.id.to_string()),
            customer_email: contact["email"].as_str().map(str::to_string),
            expires_at,
            metadata: BTreeMap::from([
                ("order_id".to_string(), order.id.to_string()),
                ("order_code".to_string(), order.order_code.clone()),
                ("saga_id".to_string(), ctx.saga_id.to_string()),
            ]),
        };
        let session = self
            .0
            .providers
            .payments
            .create_checkout_session(&request, &ctx.idempotency_key)
            .await
            .result
            .map_err(provider_error)?;
        let (order_id, now) = (order.id, ctx.now);
        let (id, url) = (session.id.clone(), session.url.clone());
        Ok(StepOutcome::wait(json!({
            "session_id": session.id,
            "checkout_url": session.url,
            "amount_total": session.amount_total,
        }))
        .correlate(webhooks::payments::reference(&session.id))
        .with_write(domain_write(move |conn| {
            Box::pin(async move {
                set_checkout_in(conn, order_id, &id, url.as_deref(), now).await?;
                snapshot_billing_in(conn, order_id, &contact, &address, address_id, now).await?;
                let payload = json!({ "session_id": id, "checkout_url": url });
                move_payment_in(conn, order_id, PaymentEvent::SendCheckout, payload, now).await?;
                Ok(())
            })
        })))
    }

    async fn on_signal(
        &self,
        ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let kind = signal.payload["type"].as_str().unwrap_or_default();
        let claimed: CheckoutSession =
            serde_json::from_value(signal.payload["data"]["object"].clone()).map_err(|e| {
                StepError::permanent("invalid_event", format!("payment event body: {e}"))
            })?;
        // Only the session this saga opened speaks for this order.
        if order.checkout_session.as_deref() != Some(claimed.id.as_str()) {
            tracing::warn!(order = %order.id, session = %claimed.id, "a payment event about another checkout session; ignored");
            return Ok(StepOutcome::pending());
        }
        Ok(match kind {
            "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
                // An event claims the order is paid: the processor itself is asked, so only
                // its own word settles an order.
                let session = self
                    .0
                    .providers
                    .payments
                    .get_checkout_session(&claimed.id)
                    .await
                    .result
                    .map_err(provider_error)?;
                session_outcome(&order, &session, ctx)
            }
            "checkout.session.async_payment_failed" => failed(&order, &claimed, ctx),
            "checkout.session.expired" => expired(&order, &claimed, ctx),
            // Another event about the session changes nothing: keep waiting.
            _ => StepOutcome::pending(),
        })
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey {
            provider: "payments",
        }
    }
}

/// Why a session the processor reports paid does not settle this order: it is another
/// saga's session, or its amount or currency is not the order's. `None` when it matches.
fn mismatch(order: &HardwareOrder, session: &CheckoutSession, ctx: &StepContext) -> Option<String> {
    let saga = ctx.saga_id.to_string();
    if order.checkout_session.as_deref() != Some(session.id.as_str()) {
        return Some(format!("session {} is not the order's", session.id));
    }
    if session.metadata.get("saga_id").is_some_and(|s| *s != saga) {
        return Some(format!("session {} was opened by another saga", session.id));
    }
    if session.amount_total != Some(order.total_minor) {
        return Some(format!(
            "session {} is for {:?}, the order totals {}",
            session.id, session.amount_total, order.total_minor
        ));
    }
    if !session
        .currency
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case(&order.currency))
    {
        return Some(format!(
            "session {} is in {:?}, the order in {}",
            session.id, session.currency, order.currency
        ));
    }
    None
}

/// What a session's state means for the order: paid, still paying, expired, or still open.
fn session_outcome(
    order: &HardwareOrder,
    session: &CheckoutSession,
    ctx: &StepContext,
) -> StepOutcome {
    let (order_id, now) = (order.id, ctx.now);
    let session_id = session.id.clone();
    match (session.status.as_deref(), session.payment_status.as_deref()) {
        (_, Some("paid")) => {
            if let Some(why) = mismatch(order, session, ctx) {
                // Paid, but not what this order asked for: an operator decides.
                return StepOutcome::failed(StepError::park("payment_mismatch", why));
            }
            let payment = Payment {
                session_id: session.id.clone(),
                payment_intent: session
                    .payment_intent
                    .clone()
                    .unwrap_or_else(|| format!("session:{}", session.id)),
                amount_minor: session.amount_total.unwrap_or(order.total_minor),
                currency: session
                    .currency
                    .clone()
                    .unwrap_or_else(|| order.currency.clone()),
            };
            StepOutcome::done(json!({
                "payment_intent": payment.payment_intent,
                "amount_minor": payment.amount_minor,
            }))
            .with_write(domain_write(move |conn| {
                Box::pin(async move { settle_payment_in(conn, order_id, &payment, now).await })
            }))
        }
        (Some("complete"), _) => StepOutcome::pending().with_write(domain_write(move |conn| {
            Box::pin(async move { mark_processing_in(conn, order_id, &session_id, now).await })
        })),
        (Some("expired"), _) => expired(order, session, ctx),
        _ => StepOutcome::pending(),
    }
}

fn failed(order: &HardwareOrder, session: &CheckoutSession, ctx: &StepContext) -> StepOutcome {
    let (order_id, now, id) = (order.id, ctx.now, session.id.clone());
    StepOutcome::failed(StepError::permanent(
        "payment_failed",
        format!("the payment for checkout {} failed", session.id),
    ))
    .with_write(domain_write(move |conn| {
        Box::pin(async move {
            mark_processing_in(conn, order_id, &id, now).await?;
            let payload = json!({ "session_id": id });
            move_payment_in(conn, order_id, PaymentEvent::Fail, payload, now).await?;
            Ok(())
        })
    }))
}

fn expired(order: &HardwareOrder, session: &CheckoutSession, ctx: &StepContext) -> StepOutcome {
    let (order_id, now, id) = (order.id, ctx.now, session.id.clone());
    StepOutcome::failed(StepError::permanent(
        "checkout_expired",
        format!("checkout {} expired unpaid", session.id),
    ))
    .with_write(expire_write(order_id, id, now))
}

fn expire_write(
    order_id: uuid::Uuid,
    session_id: String,
    now: chrono::DateTime<chrono::Utc>,
) -> crate::engine::action::DomainWrite {
    domain_write(move |conn| {
        Box::pin(async move {
            let payload = json!({ "session_id": session_id });
            move_payment_in(conn, order_id, PaymentEvent::Expire, payload, now).await?;
            Ok(())
        })
    })
}

/// Asks the processor about the session when no webhook came in time. A session still open
/// is expired now, so a customer cannot pay for an order the saga has given up on.
pub(crate) struct Poll(pub Deps);

#[async_trait]
impl Action for Poll {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let Some(session_id) = order.checkout_session.clone() else {
            return Err(StepError::retryable(
                "no_session",
                "the checkout session is not recorded yet",
            ));
        };
        let payments = &self.0.providers.payments;
        let session = payments
            .get_checkout_session(&session_id)
            .await
            .result
            .map_err(provider_error)?;
        if session.status.as_deref() != Some("open") {
            return Ok(session_outcome(&order, &session, ctx));
        }
        match payments
            .expire_checkout_session(&session_id, &format!("{}:expire", ctx.idempotency_key))
            .await
            .result
        {
            Ok(session) => Ok(expired(&order, &session, ctx)),
            // Paid in the meantime: the next poll (or the webhook) reads the payment.
            Err(e @ ProviderError::InvalidState { .. }) => Err(StepError::retryable(
                "session_changed",
                format!("the session changed while expiring it: {e}"),
            )),
            Err(e) => Err(provider_error(e)),
        }
    }

    fn effect(&self) -> Effect {
        // Expiring a session is an effect, sent with its own key.
        Effect::ProviderKey {
            provider: "payments",
        }
    }
}

/// Undoes the checkout: refunds a paid order (and voids its invoice), expires a session that
/// is still open, and leaves an order that never paid alone.
pub(crate) struct Refund(pub Deps);

#[async_trait]
impl Action for Refund {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = self.0.order(ctx).await?;
        let payments = &self.0.providers.payments;
        match order.payment_status.as_str() {
            "paid" => self.refund(ctx, &order).await,
            "checkout_sent" | "payment_processing" => {
                let Some(session_id) = order.checkout_session.clone() else {
                    return Ok(StepOutcome::done(json!({ "refunded": false })));
                };
                let key = format!("{}:expire", ctx.idempotency_key);
                match payments
                    .expire_checkout_session(&session_id, &key)
                    .await
                    .result
                {
                    // The customer can no longer pay, and the order says it was called off.
                    Ok(_) => {
                        let (order_id, now) = (order.id, ctx.now);
                        let out = json!({ "expired": session_id });
                        Ok(StepOutcome::done(out).with_write(domain_write(move |conn| {
                            Box::pin(async move {
                                let payload =
                                    json!({ "session_id": session_id, "reason": UNDO_REASON });
                                move_payment_in(conn, order_id, PaymentEvent::Cancel, payload, now)
                                    .await?;
                                Ok(())
                            })
                        })))
                    }
                    Err(ProviderError::InvalidState { .. }) => {
                        // Not open any more: paid (refund it next attempt), still paying, or
                        // expired by the processor.
                        let session = payments
                            .get_checkout_session(&session_id)
                            .await
                            .result
                            .map_err(provider_error)?;
                        match (session.status.as_deref(), session.payment_status.as_deref()) {
                            (_, Some("paid")) => {
                                if let Some(why) = mismatch(&order, &session, ctx) {
                                    // Paid, but not as this order asked: an operator settles it.
                                    return Err(StepError::permanent("payment_mismatch", why));
                                }
                                let settle = session_outcome(&order, &session, ctx);
                                let mut out = StepOutcome::failed(StepError::retryable(
                                    "paid_meanwhile",
                                    "the checkout was paid while being undone; refunding next",
                                ));
                                out.effects = settle.effects;
                                Ok(out)
                            }
                            (Some("expired"), _) => {
                                Ok(StepOutcome::done(json!({ "expired": session_id }))
                                    .with_write(expire_write(order.id, session_id, ctx.now)))
                            }
                            _ => Err(StepError::retryable(
                                "payment_processing",
                                "the payment is still processing; it can be refunded once it settles",
                            )),
                        }
                    }
                    Err(e) => Err(provider_error(e)),
                }
            }
            _ => Ok(StepOutcome::done(json!({ "refunded": false }))),
        }
    }

    fn effect(&self) -> Effect {
        Effect::ProviderKey {
            provider: "payments",
        }
    }
}

impl Refund {
    async fn refund(
        &self,
        ctx: &StepContext,
        order: &HardwareOrder,
    ) -> Result<StepOutcome, StepError> {
        let Some(intent) = order.payment_intent.clone() else {
            return Err(StepError::permanent(
                "no_payment_intent",
                "a paid order without a payment reference",
            ));
        };
        let paid = self
            .0
            .store
            .payments_for_order(order.id)
            .await
            .map_err(db_error)?
            .iter()
            .filter(|p| p.kind == "payment")
            // The processor's amounts: summed without the chance of an overflow panic.
            .fold(0i64, |sum, p| sum.saturating_add(p.amount_minor));
        let refund = self
            .0
            .providers
            .payments
            .create_refund(
                &NewRefund {
                    payment_intent: intent.clone(),
                    amount: None,
                    reason: Some("requested_by_customer".into()),
                    metadata: BTreeMap::from([("order_id".to_string(), order.id.to_string())]),
                },
                &ctx.idempotency_key,
            )
            .await
            .result
            .map_err(provider_error)?;
        let amount = refund.amount.unwrap_or(paid);
        let (order_id, currency, now) = (order.id, order.currency.clone(), ctx.now);
        let refund_id = refund.id.clone();
        let reason = UNDO_REASON.to_string();
        Ok(
            StepOutcome::done(json!({ "refund_id": refund.id, "amount_minor": amount }))
                .with_write(domain_write(move |conn| {
                    Box::pin(async move {
                        refund_payment_in(
                            conn, order_id, &refund_id, amount, &currency, &reason, now,
                        )
                        .await
                    })
                })),
        )
    }
}
