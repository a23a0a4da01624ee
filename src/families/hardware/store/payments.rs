//! Money moments of an order that touch several entities at once: a payment settles (order
//! paid, payment recorded, invoice issued and allocated) and a refund undoes it (order
//! refunded, refund recorded, invoice voided).

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::invoices::{allocate_payments_in, issue_invoice_in, record_payment_in, void_invoice_in};
use super::orders::{lock_status_of_order, move_payment_in, set_payment_intent_in};
use crate::domain::hardware::order::{PaymentEvent, PaymentStatus};
use crate::store::Result;

/// What the processor reported for a paid checkout.
#[derive(Debug, Clone)]
pub struct Payment {
    pub session_id: String,
    pub payment_intent: String,
    pub amount_minor: i64,
    pub currency: String,
}

/// The processor says a checkout is paying but not paid yet (an async payment method).
pub(crate) async fn mark_processing_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    session_id: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    if lock_status_of_order(conn, order_id).await? == PaymentStatus::CheckoutSent {
        let payload = json!({ "session_id": session_id });
        move_payment_in(conn, order_id, PaymentEvent::Processing, payload, now).await?;
    }
    Ok(())
}

/// A paid checkout: the order passes through payment processing to paid, the payment is
/// recorded, and (the order being prepaid) its invoice is issued and the payment allocated.
pub(crate) async fn settle_payment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    payment: &Payment,
    now: DateTime<Utc>,
) -> Result<()> {
    mark_processing_in(conn, order_id, &payment.session_id, now).await?;
    let payload = json!({
        "session_id": payment.session_id,
        "payment_intent": payment.payment_intent,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
    });
    move_payment_in(conn, order_id, PaymentEvent::Pay, payload, now).await?;
    set_payment_intent_in(conn, order_id, &payment.payment_intent, now).await?;
    record_payment_in(
        conn,
        order_id,
        "payment",
        payment.amount_minor,
        &payment.currency,
        &payment.payment_intent,
        now,
    )
    .await?;
    issue_invoice_in(conn, order_id, now).await?;
    allocate_payments_in(conn, order_id, now).await
}

/// A refund went through: the order is refunded, the refund recorded (negative) and the
/// invoice voided.
pub(crate) async fn refund_payment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    refund_id: &str,
    amount_minor: i64,
    currency: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let payload = json!({ "refund_id": refund_id, "amount_minor": amount_minor, "reason": reason });
    move_payment_in(conn, order_id, PaymentEvent::Refund, payload, now).await?;
    record_payment_in(
        conn,
        order_id,
        "refund",
        -amount_minor,
        currency,
        refund_id,
        now,
    )
    .await?;
    void_invoice_in(conn, order_id, reason, now).await
}
