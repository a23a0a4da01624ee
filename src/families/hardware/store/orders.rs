//! Hardware orders and their lines: create a draft with provisional price snapshots, lock the
//! snapshots at checkout, move the payment status, and read an order with its balance.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::events::{DomainEvent, emit_in};
use super::{corrupt, decide, lock_tag};
use crate::domain::hardware::order::{self, PaymentEvent, PaymentStatus};
use crate::domain::money::Minor;
use crate::domain::pricing::{PricingError, Resolution};
use crate::store::{Error, Result, StartWrite, Store};

/// A draft order as the API builds it, lines already priced.
#[derive(Debug, Clone)]
pub struct NewHardwareOrder {
    pub id: Uuid,
    pub order_code: String,
    pub company_id: String,
    pub billing_contact_id: Uuid,
    pub billing_address_id: Uuid,
    pub region: Option<String>,
    pub currency: String,
    pub courier_code: String,
    pub options: Value,
    pub items: Vec<NewItem>,
    pub idempotency_key: Option<String>,
    pub request_hash: String,
    pub created_by: String,
}

/// One line with its provisional snapshot.
#[derive(Debug, Clone)]
pub struct NewItem {
    pub scenario: String,
    pub price: Resolution,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct OrderItemRow {
    pub id: Uuid,
    pub line_no: i32,
    pub sku: String,
    pub description: String,
    pub quantity: i32,
    pub scenario: String,
    pub price_type: String,
    pub price_book_entry_id: Option<String>,
    pub price_agreement_id: Option<String>,
    pub processor_price_id: Option<String>,
    pub unit_amount_minor: i64,
    pub currency: String,
    pub bespoke_notes: Option<String>,
    /// Set once checkout locked the snapshot; it never changes after.
    pub snapshot_locked_at: Option<DateTime<Utc>>,
}

/// The order row.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct HardwareOrder {
    pub id: Uuid,
    pub order_code: String,
    pub company_id: String,
    pub billing_contact_id: Uuid,
    pub billing_address_id: Uuid,
    /// The billing contact and address as they were when checkout was sent (null before).
    pub billing_contact: Option<Value>,
    pub billing_address: Option<Value>,
    pub region: Option<String>,
    pub currency: String,
    pub courier_code: String,
    pub payment_status: String,
    pub total_minor: i64,
    pub options: Value,
    pub saga_id: Option<Uuid>,
    pub checkout_session: Option<String>,
    pub checkout_url: Option<String>,
    pub payment_intent: Option<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// An order as the API shows it: lines, fulfilment, invoice and money.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    #[serde(flatten)]
    pub order: HardwareOrder,
    pub kind: &'static str,
    pub company_name: String,
    pub items: Vec<OrderItemRow>,
    pub fulfillment_id: Option<Uuid>,
    pub fulfillment_status: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub invoice_number: Option<String>,
    pub invoice_status: Option<String>,
    /// Money received, refunds subtracted.
    pub paid_minor: i64,
    /// What the live invoice still asks for (0 when paid or void, the total before one exists).
    pub balance_minor: i64,
    pub saga_status: Option<String>,
}

/// What a create under an idempotency key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    New(Uuid),
    Replayed(Uuid),
}

impl Store {
    /// Creates a draft order for a company of the directory (the API checked it, its contact
    /// and its address; the foreign keys hold them to one company), its lines and
    /// `order.created`, in one transaction. A repeated key with the same request answers the first order.
    pub async fn create_hardware_order(
        &self,
        new: &NewHardwareOrder,
        now: DateTime<Utc>,
    ) -> Result<Created> {
        let mut tx = self.pool().begin().await?;
        if let Some(key) = &new.idempotency_key {
            // Serialises creates under one key so the loser of a race sees the winner's row.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            let seen: Option<(Uuid, Option<String>)> = sqlx::query_as(
                "SELECT id, request_hash FROM hardware_orders WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((id, hash)) = seen {
                return match hash.as_deref() == Some(new.request_hash.as_str()) {
                    true => Ok(Created::Replayed(id)),
                    false => Err(Error::IdempotencyConflict { saga_id: id }),
                };
            }
        }
        // The API priced these lines with `price_lines`, which refuses a total past
        // Minor::MAX; refused here too rather than overflowed.
        let total = Minor::total(new.items.iter().map(|i| i.price.line_total_minor))
            .ok_or_else(|| Error::Invalid(PricingError::TotalTooLarge.to_string()))?
            .0;
        sqlx::query(
            "INSERT INTO hardware_orders (id, order_code, company_id, billing_contact_id, billing_address_id,
                 region, currency, courier_code, payment_status, total_minor, options,
                 idempotency_key, request_hash, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'draft', $9, $10, $11, $12, $13, $14, $14)",
        )
        .bind(new.id)
        .bind(&new.order_code)
        .bind(&new.company_id)
        .bind(new.billing_contact_id)
        .bind(new.billing_address_id)
        .bind(&new.region)
        .bind(&new.currency)
        .bind(&new.courier_code)
        .bind(total)
        .bind(&new.options)
        .bind(&new.idempotency_key)
        .bind(&new.request_hash)
        .bind(&new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (i, item) in new.items.iter().enumerate() {
            let p = &item.price;
            sqlx::query(
                "INSERT INTO hardware_order_items (id, order_id, line_no, sku, description, quantity,
                     scenario, price_type, price_book_entry_id, price_agreement_id, processor_price_id,
                     unit_amount_minor, currency, bespoke_notes)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(Uuid::now_v7())
            .bind(new.id)
            .bind(i as i32 + 1)
            .bind(&p.sku)
            .bind(&p.description)
            .bind(p.quantity)
            .bind(&item.scenario)
            .bind(p.source.as_str())
            .bind(&p.price_book_entry_id)
            .bind(&p.price_agreement_id)
            .bind(&p.processor_price_id)
            .bind(p.unit_amount_minor)
            .bind(&p.currency)
            .bind(&p.bespoke_notes)
            .execute(&mut *tx)
            .await?;
        }
        let event = DomainEvent {
            event_type: "order.created",
            aggregate_id: new.id,
            order_id: new.id,
            payload: json!({
                "order_code": new.order_code,
                "company_id": new.company_id,
                "total_minor": total,
                "currency": new.currency,
                "lines": new.items.len(),
            }),
            source_module: "orders",
        };
        emit_in(&mut tx, &event, now).await?;
        tx.commit().await?;
        Ok(Created::New(new.id))
    }

    pub async fn hardware_order(&self, id: Uuid) -> Result<Option<HardwareOrder>> {
        let mut conn = self.pool().acquire().await?;
        Ok(order_in(&mut conn, id).await?)
    }

    pub(crate) async fn hardware_order_items(&self, order_id: Uuid) -> Result<Vec<OrderItemRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(items_in(&mut conn, order_id).await?)
    }

    /// The order with its lines, fulfilment, invoice and balance; `None` if it is not a
    /// hardware order.
    pub(crate) async fn hardware_order_view(&self, id: Uuid) -> Result<Option<OrderView>> {
        let mut conn = self.pool().acquire().await?;
        let Some(order) = order_in(&mut conn, id).await? else {
            return Ok(None);
        };
        let items = items_in(&mut conn, id).await?;
        #[derive(FromRow)]
        struct Summary {
            company_name: String,
            fulfillment_id: Option<Uuid>,
            fulfillment_status: Option<String>,
            invoice_id: Option<Uuid>,
            invoice_number: Option<String>,
            invoice_status: Option<String>,
            invoice_total: Option<i64>,
            invoice_allocated: Option<i64>,
            paid_minor: i64,
            saga_status: Option<String>,
        }
        let s = sqlx::query_as::<_, Summary>(
            "SELECT c.name AS company_name, f.id AS fulfillment_id, f.status AS fulfillment_status,
                    i.id AS invoice_id, i.number AS invoice_number, i.status AS invoice_status,
                    i.total_minor AS invoice_total, i.allocated_minor AS invoice_allocated,
                    coalesce((SELECT sum(amount_minor) FROM payment_records p WHERE p.order_id = o.id), 0)::bigint AS paid_minor,
                    s.status AS saga_status
             FROM hardware_orders o
             JOIN companies c ON c.id = o.company_id
             LEFT JOIN fulfillment_orders f ON f.order_id = o.id
             LEFT JOIN invoices i ON i.order_id = o.id
             LEFT JOIN sagas s ON s.id = o.saga_id
             WHERE o.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let balance = match (
            s.invoice_status.as_deref(),
            s.invoice_total,
            s.invoice_allocated,
        ) {
            (Some("void"), _, _) => 0,
            (Some(_), Some(total), Some(allocated)) => total - allocated,
            _ if order.payment_status == "refunded" || order.payment_status == "cancelled" => 0,
            _ => order.total_minor - s.paid_minor,
        };
        Ok(Some(OrderView {
            order,
            kind: "hardware",
            company_name: s.company_name,
            items,
            fulfillment_id: s.fulfillment_id,
            fulfillment_status: s.fulfillment_status,
            invoice_id: s.invoice_id,
            invoice_number: s.invoice_number,
            invoice_status: s.invoice_status,
            paid_minor: s.paid_minor,
            balance_minor: balance,
            saga_status: s.saga_status,
        }))
    }
}

/// Links a new checkout saga to its order, in the saga's start transaction (see
/// `Runtime::start`), and records the attempt in `hardware_checkouts`. The order must be a
/// draft without a saga, or a failed or expired checkout whose saga is over (a recovery);
/// checked again under the row lock, so two checkouts racing start one saga.
pub(crate) fn link_checkout_saga(order_id: Uuid) -> StartWrite {
    Box::new(move |conn, saga_id, now| {
        Box::pin(async move {
            let row: Option<(String, Option<Uuid>)> = sqlx::query_as(
                "SELECT payment_status, saga_id FROM hardware_orders WHERE id = $1 FOR UPDATE",
            )
            .bind(order_id)
            .fetch_optional(&mut *conn)
            .await?;
            let (status, linked) = row.ok_or(Error::NotFound)?;
            let from: PaymentStatus = status.parse().map_err(corrupt)?;
            if let Some(existing) = linked {
                if !from.is_recoverable() {
                    return Err(Error::Conflict(format!(
                        "checkout was already sent for this order (saga {existing}); it is {status}"
                    )));
                }
                let running: Option<String> = sqlx::query_scalar(
                    "SELECT status FROM sagas WHERE id = $1
                     AND status NOT IN ('completed', 'compensated', 'cancelled')",
                )
                .bind(existing)
                .fetch_optional(&mut *conn)
                .await?;
                if let Some(running) = running {
                    return Err(Error::Conflict(format!(
                        "the previous checkout's saga {existing} is still {running}"
                    )));
                }
                sqlx::query(
                    "UPDATE hardware_checkouts SET outcome = $3 WHERE order_id = $1 AND saga_id = $2",
                )
                .bind(order_id)
                .bind(existing)
                .bind(&status)
                .execute(&mut *conn)
                .await?;
            }
            order::apply(from, PaymentEvent::SendCheckout)?;
            sqlx::query(
                "INSERT INTO hardware_checkouts (order_id, attempt, saga_id, created_at)
                 SELECT $1, coalesce(max(attempt), 0) + 1, $2, $3 FROM hardware_checkouts WHERE order_id = $1",
            )
            .bind(order_id)
            .bind(saga_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            // The old session stays in the history; the new saga opens its own.
            sqlx::query(
                "UPDATE hardware_orders SET saga_id = $2, checkout_session = NULL, checkout_url = NULL,
                     updated_at = $3 WHERE id = $1",
            )
            .bind(order_id)
            .bind(saga_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    })
}

/// One checkout attempt of an order: its saga, the session it opened and how it ended
/// (`None` while it is the order's current one).
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct CheckoutAttempt {
    pub attempt: i32,
    pub saga_id: Uuid,
    pub session_id: Option<String>,
    pub outcome: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Every checkout the order opened, oldest first.
    pub(crate) async fn checkouts_for_order(&self, order_id: Uuid) -> Result<Vec<CheckoutAttempt>> {
        Ok(sqlx::query_as::<_, CheckoutAttempt>(
            "SELECT attempt, saga_id, session_id, outcome, created_at FROM hardware_checkouts
             WHERE order_id = $1 ORDER BY attempt",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// How many checkouts the order has opened.
    pub(crate) async fn checkout_attempts(&self, order_id: Uuid) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT count(*) FROM hardware_checkouts WHERE order_id = $1")
                .bind(order_id)
                .fetch_one(self.pool())
                .await?,
        )
    }
}

pub(crate) async fn order_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<HardwareOrder>, sqlx::Error> {
    sqlx::query_as::<_, HardwareOrder>(
        "SELECT id, order_code, company_id, billing_contact_id, billing_address_id, billing_contact,
                billing_address, region,
                currency, courier_code, payment_status, total_minor, options, saga_id, checkout_session,
                checkout_url, payment_intent, created_by, created_at, updated_at
         FROM hardware_orders WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

pub(crate) async fn items_in(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Vec<OrderItemRow>, sqlx::Error> {
    sqlx::query_as::<_, OrderItemRow>(
        "SELECT id, line_no, sku, description, quantity, scenario, price_type, price_book_entry_id,
                price_agreement_id, processor_price_id, unit_amount_minor, currency, bespoke_notes,
                snapshot_locked_at
         FROM hardware_order_items WHERE order_id = $1 ORDER BY line_no",
    )
    .bind(order_id)
    .fetch_all(conn)
    .await
}

/// Writes the checkout-time prices and locks every snapshot of the order; a locked line is
/// left alone (the trigger would refuse a change anyway).
pub(crate) async fn lock_snapshots_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    lines: &[(i32, Resolution)],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (line_no, p) in lines {
        sqlx::query(
            "UPDATE hardware_order_items SET price_type = $3, price_book_entry_id = $4,
                 price_agreement_id = $5, processor_price_id = $6, unit_amount_minor = $7,
                 currency = $8, snapshot_locked_at = $9
             WHERE order_id = $1 AND line_no = $2 AND snapshot_locked_at IS NULL",
        )
        .bind(order_id)
        .bind(line_no)
        .bind(p.source.as_str())
        .bind(&p.price_book_entry_id)
        .bind(&p.price_agreement_id)
        .bind(&p.processor_price_id)
        .bind(p.unit_amount_minor)
        .bind(&p.currency)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "UPDATE hardware_orders SET total_minor = (SELECT sum(unit_amount_minor * quantity)
             FROM hardware_order_items WHERE order_id = $1), updated_at = $2 WHERE id = $1",
    )
    .bind(order_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

fn payment_target(event: PaymentEvent) -> PaymentStatus {
    match event {
        PaymentEvent::SendCheckout => PaymentStatus::CheckoutSent,
        PaymentEvent::Processing => PaymentStatus::PaymentProcessing,
        PaymentEvent::Pay => PaymentStatus::Paid,
        PaymentEvent::Fail => PaymentStatus::PaymentFailed,
        PaymentEvent::Expire => PaymentStatus::CheckoutExpired,
        PaymentEvent::Refund => PaymentStatus::Refunded,
        PaymentEvent::Cancel => PaymentStatus::Cancelled,
    }
}

fn payment_event_type(to: PaymentStatus) -> &'static str {
    match to {
        PaymentStatus::Draft => "order.created",
        PaymentStatus::CheckoutSent => "order.checkout_sent",
        PaymentStatus::PaymentProcessing => "order.payment_processing",
        PaymentStatus::Paid => "order.paid",
        PaymentStatus::PaymentFailed => "order.payment_failed",
        PaymentStatus::CheckoutExpired => "order.checkout_expired",
        PaymentStatus::Refunded => "order.refunded",
        PaymentStatus::Cancelled => "order.cancelled",
    }
}

/// Moves the order's payment status and records the event (with `payload`). `None` when the
/// order already was there.
pub(crate) async fn move_payment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    event: PaymentEvent,
    payload: Value,
    now: DateTime<Utc>,
) -> Result<Option<PaymentStatus>> {
    let from: PaymentStatus = lock_status_of_order(conn, order_id).await?;
    let Some(to) = decide(from, event, order::apply, payment_target(event))? else {
        return Ok(None);
    };
    sqlx::query("UPDATE hardware_orders SET payment_status = $2, updated_at = $3 WHERE id = $1")
        .bind(order_id)
        .bind(to.as_str())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let event = DomainEvent {
        event_type: payment_event_type(to),
        aggregate_id: order_id,
        order_id,
        payload,
        source_module: "payments",
    };
    emit_in(conn, &event, now).await?;
    Ok(Some(to))
}

/// The order's payment status, under its row lock.
pub(super) async fn lock_status_of_order(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<PaymentStatus> {
    lock_tag(conn, "hardware_orders", "payment_status", id).await
}

/// Records the checkout session the processor opened for the order.
pub(crate) async fn set_checkout_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    session: &str,
    url: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE hardware_orders SET checkout_session = $2, checkout_url = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(order_id)
    .bind(session)
    .bind(url)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    // The session belongs to the order's current checkout attempt.
    sqlx::query(
        "UPDATE hardware_checkouts SET session_id = $2 WHERE order_id = $1
             AND saga_id = (SELECT saga_id FROM hardware_orders WHERE id = $1)",
    )
    .bind(order_id)
    .bind(session)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records the processor's payment reference once paid.
pub(crate) async fn set_payment_intent_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    intent: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE hardware_orders SET payment_intent = $2, updated_at = $3 WHERE id = $1")
        .bind(order_id)
        .bind(intent)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// Cancels an order that never got past checkout (a draft or an open checkout); an order
/// that was paid, refunded or expired keeps its status.
pub(crate) async fn cancel_unpaid_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let status = lock_status_of_order(conn, order_id).await?;
    if matches!(status, PaymentStatus::Draft | PaymentStatus::CheckoutSent) {
        move_payment_in(
            conn,
            order_id,
            PaymentEvent::Cancel,
            json!({ "by": "saga" }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Snapshots the billing contact and address onto the order as checkout is sent, and marks
/// the address used.
pub(crate) async fn snapshot_billing_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    contact: &Value,
    address: &Value,
    address_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE hardware_orders SET billing_contact = $2, billing_address = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(order_id)
    .bind(contact)
    .bind(address)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    super::directory::touch_address_in(conn, address_id, now).await
}
