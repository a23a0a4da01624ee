//! Invoices, their lines, payment records and allocations. Numbers (INV-000001, …) come from a
//! counter row bumped in the issuing transaction: gap-free, and unique under concurrency.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::events::{DomainEvent, emit_in};
use super::{decide, lock_status};
use crate::domain::hardware::billing::due_at;
use crate::domain::hardware::invoice::{self, InvoiceEvent, InvoiceStatus};
use crate::store::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct InvoiceRow {
    pub id: Uuid,
    /// The order it bills; `None` for a manual invoice.
    pub order_id: Option<Uuid>,
    pub company_id: String,
    /// `order` or `manual`.
    pub kind: String,
    pub number: Option<String>,
    pub status: String,
    pub currency: String,
    pub total_minor: i64,
    pub allocated_minor: i64,
    pub issued_at: Option<DateTime<Utc>>,
    /// Issue plus the company's payment terms.
    pub due_at: Option<DateTime<Utc>>,
    /// When the daily overdue run flagged it.
    pub overdue_at: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub created_by: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    pub void_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct PaymentRow {
    pub id: Uuid,
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub provider_ref: String,
    pub created_at: DateTime<Utc>,
}

pub(crate) const COLUMNS: &str =
    "id, order_id, company_id, kind, number, status, currency, total_minor, allocated_minor,
    issued_at, due_at, overdue_at, notes, created_by, paid_at, voided_at, void_reason";

impl Store {
    pub(crate) async fn invoice_for_order(&self, order_id: Uuid) -> Result<Option<InvoiceRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(invoice_of_in(&mut conn, order_id).await?)
    }

    pub async fn payments_for_order(&self, order_id: Uuid) -> Result<Vec<PaymentRow>> {
        Ok(sqlx::query_as::<_, PaymentRow>(
            "SELECT id, kind, amount_minor, currency, provider_ref, created_at FROM payment_records
             WHERE order_id = $1 ORDER BY created_at, id",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Issues the order's invoice in a transaction of its own (what the invoice step's write
    /// does inside a checkpoint); used where only the numbering is under test.
    pub async fn issue_invoice(&self, order_id: Uuid, now: DateTime<Utc>) -> Result<InvoiceRow> {
        let mut tx = self.pool().begin().await?;
        let row = issue_invoice_in(&mut tx, order_id, now).await?;
        tx.commit().await?;
        Ok(row)
    }
}

pub(crate) async fn invoice_of_in(
    conn: &mut PgConnection,
    order_id: Uuid,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as::<_, InvoiceRow>(&format!(
        "SELECT {COLUMNS} FROM invoices WHERE order_id = $1"
    ))
    .bind(order_id)
    .fetch_optional(conn)
    .await
}

/// The order's invoice, issued: created from the order's lines and numbered if it had none,
/// left alone if it was already issued (or voided).
pub async fn issue_invoice_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<InvoiceRow> {
    let id = match invoice_of_in(conn, order_id).await? {
        Some(existing) => existing.id,
        None => {
            let id = Uuid::now_v7();
            sqlx::query(
                "INSERT INTO invoices (id, order_id, company_id, kind, status, currency, total_minor,
                     created_at, updated_at)
                 SELECT $1, id, company_id, 'order', 'draft', currency, total_minor, $3, $3
                 FROM hardware_orders WHERE id = $2",
            )
            .bind(id)
            .bind(order_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            sqlx::query(
                "INSERT INTO invoice_lines (id, invoice_id, order_item_id, description, quantity,
                     unit_amount_minor, amount_minor, kind, created_at)
                 SELECT gen_random_uuid(), $1, id, sku || ' ' || description, quantity, unit_amount_minor,
                        unit_amount_minor * quantity, 'item', $3
                 FROM hardware_order_items WHERE order_id = $2 ORDER BY line_no",
            )
            .bind(id)
            .bind(order_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            id
        }
    };
    issue_draft_in(conn, id, now).await?;
    invoice_in(conn, id).await?.ok_or(Error::NotFound)
}

/// Issues a draft invoice: the next gap-free number, and a due date from its company's
/// payment terms (`invoice.issued`). An invoice already issued is left alone.
pub(crate) async fn issue_draft_in(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let from: InvoiceStatus = lock_status(conn, "invoices", id).await?;
    if from != InvoiceStatus::Draft {
        return Ok(());
    }
    invoice::apply(from, InvoiceEvent::Issue)?;
    let terms: i32 = sqlx::query_scalar(
        "SELECT c.payment_terms_days FROM invoices i JOIN companies c ON c.id = i.company_id
         WHERE i.id = $1",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let n: i64 = sqlx::query_scalar(
        "UPDATE invoice_counters SET last = last + 1 WHERE name = 'INV' RETURNING last",
    )
    .fetch_one(&mut *conn)
    .await?;
    let number = format!("INV-{n:06}");
    let due = due_at(now, terms);
    let (total, order_id): (i64, Option<Uuid>) = sqlx::query_as(
        "UPDATE invoices SET status = 'issued', number = $2, issued_at = $3, due_at = $4, updated_at = $3
         WHERE id = $1 RETURNING total_minor, order_id",
    )
    .bind(id)
    .bind(&number)
    .bind(now)
    .bind(due)
    .fetch_one(&mut *conn)
    .await?;
    let payload = json!({ "number": number, "total_minor": total, "due_at": due });
    emit_billing_in(conn, "invoice.issued", id, order_id, &payload, now).await?;
    Ok(())
}

/// Records a billing event: an order's invoice belongs to its order's timeline, a manual
/// one to none.
pub(crate) async fn emit_billing_in(
    conn: &mut PgConnection,
    event_type: &'static str,
    invoice_id: Uuid,
    order_id: Option<Uuid>,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO domain_events (event_type, aggregate_id, order_id, payload, source_module, created_at)
         VALUES ($1, $2, $3, $4, 'billing', $5)",
    )
    .bind(event_type)
    .bind(invoice_id)
    .bind(order_id)
    .bind(payload)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

pub(crate) async fn invoice_in(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<InvoiceRow>, sqlx::Error> {
    sqlx::query_as::<_, InvoiceRow>(&format!("SELECT {COLUMNS} FROM invoices WHERE id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// Records money in (positive) or out (negative) once per provider reference.
pub(crate) async fn record_payment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    kind: &str,
    amount_minor: i64,
    currency: &str,
    provider_ref: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO payment_records (id, order_id, kind, amount_minor, currency, provider_ref, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (provider_ref) DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(order_id)
    .bind(kind)
    .bind(amount_minor)
    .bind(currency)
    .bind(provider_ref)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Allocates the order's unallocated payments to its invoice, up to what the invoice still
/// asks: `invoice.partially_paid` or `invoice.paid`. A void invoice takes nothing (409).
pub(crate) async fn allocate_payments_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(inv) = invoice_of_in(conn, order_id).await? else {
        return Ok(());
    };
    let from: InvoiceStatus = lock_status(conn, "invoices", inv.id).await?;
    let open: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT p.id, p.amount_minor - coalesce((SELECT sum(a.amount_minor) FROM payment_allocations a
                                                  WHERE a.payment_record_id = p.id), 0)::bigint
         FROM payment_records p WHERE p.order_id = $1 AND p.kind IN ('payment', 'manual') ORDER BY p.created_at, p.id",
    )
    .bind(order_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut due = inv.total_minor - inv.allocated_minor;
    let mut allocated = 0;
    for (payment_id, unallocated) in open {
        let take = unallocated.min(due);
        if take <= 0 {
            continue;
        }
        let settles = take == due;
        decide(
            from,
            InvoiceEvent::ApplyPayment { settles },
            invoice::apply,
            InvoiceStatus::Void,
        )?;
        sqlx::query(
            "INSERT INTO payment_allocations (id, payment_record_id, invoice_id, amount_minor, created_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(Uuid::now_v7())
        .bind(payment_id)
        .bind(inv.id)
        .bind(take)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        due -= take;
        allocated += take;
    }
    if allocated == 0 {
        return Ok(());
    }
    let to = if due == 0 {
        InvoiceStatus::Paid
    } else {
        InvoiceStatus::PartiallyPaid
    };
    sqlx::query(
        "UPDATE invoices SET status = $2, allocated_minor = allocated_minor + $3,
             paid_at = CASE WHEN $2 = 'paid' THEN $4 ELSE paid_at END, updated_at = $4
         WHERE id = $1",
    )
    .bind(inv.id)
    .bind(to.as_str())
    .bind(allocated)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let event = DomainEvent {
        event_type: if to == InvoiceStatus::Paid {
            "invoice.paid"
        } else {
            "invoice.partially_paid"
        },
        aggregate_id: inv.id,
        order_id,
        payload: json!({ "number": inv.number, "allocated_minor": allocated, "balance_minor": due }),
        source_module: "billing",
    };
    emit_in(conn, &event, now).await?;
    Ok(())
}

/// Voids the order's invoice (if it has one that is not void yet) with the reason.
pub(crate) async fn void_invoice_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(inv) = invoice_of_in(conn, order_id).await? else {
        return Ok(());
    };
    let from: InvoiceStatus = lock_status(conn, "invoices", inv.id).await?;
    if decide(
        from,
        InvoiceEvent::Void,
        invoice::apply,
        InvoiceStatus::Void,
    )?
    .is_none()
    {
        return Ok(());
    }
    sqlx::query(
        "UPDATE invoices SET status = 'void', voided_at = $2, void_reason = $3, updated_at = $2 WHERE id = $1",
    )
    .bind(inv.id)
    .bind(now)
    .bind(reason)
    .execute(&mut *conn)
    .await?;
    let event = DomainEvent {
        event_type: "invoice.voided",
        aggregate_id: inv.id,
        order_id,
        payload: json!({ "number": inv.number, "reason": reason }),
        source_module: "billing",
    };
    emit_in(conn, &event, now).await?;
    Ok(())
}

impl Store {
    pub async fn invoice(&self, id: Uuid) -> Result<Option<InvoiceRow>> {
        let mut conn = self.pool().acquire().await?;
        Ok(invoice_in(&mut conn, id).await?)
    }

    /// A payment received outside the processor (a bank transfer Support recorded): stored
    /// once per reference and allocated to the invoice, in one transaction. An invoice that
    /// cannot take it (void, already paid, still a draft) is a conflict and nothing is kept.
    pub(crate) async fn record_manual_payment(
        &self,
        invoice_id: Uuid,
        amount_minor: i64,
        reference: &str,
        actor: &crate::store::Actor,
        now: DateTime<Utc>,
    ) -> Result<InvoiceRow> {
        let mut tx = self.pool().begin().await?;
        let from: InvoiceStatus = lock_status(&mut tx, "invoices", invoice_id).await?;
        let inv = invoice_in(&mut tx, invoice_id)
            .await?
            .ok_or(Error::NotFound)?;
        let due = inv.total_minor - inv.allocated_minor;
        // The state first: a void invoice is void whatever the amount.
        invoice::apply(
            from,
            InvoiceEvent::ApplyPayment {
                settles: amount_minor >= due,
            },
        )?;
        if amount_minor > due {
            return Err(Error::Conflict(format!(
                "a payment of {amount_minor} is more than the {due} the invoice still asks"
            )));
        }
        let who = format!("{}:{}", actor.role, actor.name);
        let Some(order_id) = inv.order_id else {
            // A manual invoice: the payment names the invoice and is allocated to it alone.
            pay_manual_invoice_in(&mut tx, &inv, amount_minor, reference, &who, now).await?;
            let row = invoice_in(&mut tx, invoice_id)
                .await?
                .ok_or(Error::NotFound)?;
            tx.commit().await?;
            return Ok(row);
        };
        record_payment_in(
            &mut tx,
            order_id,
            "manual",
            amount_minor,
            &inv.currency,
            reference,
            now,
        )
        .await?;
        sqlx::query(
            "UPDATE payment_records SET actor = $2 WHERE provider_ref = $1 AND actor IS NULL",
        )
        .bind(reference)
        .bind(&who)
        .execute(&mut *tx)
        .await?;
        allocate_payments_in(&mut tx, order_id, now).await?;
        let row = invoice_in(&mut tx, invoice_id)
            .await?
            .ok_or(Error::NotFound)?;
        // Money recorded by hand names who recorded it, in the audit trail with the order's
        // saga (an invoice exists only once checkout started one).
        let saga: Option<Uuid> =
            sqlx::query_scalar("SELECT saga_id FROM hardware_orders WHERE id = $1")
                .bind(order_id)
                .fetch_one(&mut *tx)
                .await?;
        if let Some(saga) = saga {
            let statuses = (from.as_str(), row.status.as_str());
            crate::store::insert_audit_in(&mut tx, saga, "invoice_payment", actor, statuses, now)
                .await?;
        }
        tx.commit().await?;
        Ok(row)
    }
}

/// A payment of a manual invoice: recorded against the invoice (its reference once) and
/// allocated to it; the invoice becomes partially paid or paid.
async fn pay_manual_invoice_in(
    conn: &mut PgConnection,
    inv: &InvoiceRow,
    amount_minor: i64,
    reference: &str,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    let payment = Uuid::now_v7();
    let inserted = sqlx::query(
        "INSERT INTO payment_records (id, invoice_id, kind, amount_minor, currency, provider_ref, actor, created_at)
         VALUES ($1, $2, 'manual', $3, $4, $5, $6, $7) ON CONFLICT (provider_ref) DO NOTHING",
    )
    .bind(payment)
    .bind(inv.id)
    .bind(amount_minor)
    .bind(&inv.currency)
    .bind(reference)
    .bind(actor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        // The same reference again: recorded the first time.
        return Ok(());
    }
    let due = inv.total_minor - inv.allocated_minor - amount_minor;
    let to = if due == 0 {
        InvoiceStatus::Paid
    } else {
        InvoiceStatus::PartiallyPaid
    };
    let payload =
        json!({ "number": inv.number, "allocated_minor": amount_minor, "balance_minor": due });
    allocate_in(conn, inv, payment, amount_minor, to, None, &payload, now).await
}

/// Allocates `amount_minor` of `payment` to `inv`, moves the invoice to `to` (paid or
/// partially paid), and emits `invoice.paid` or `invoice.partially_paid` with `payload`:
/// the one allocation step of a manual payment and a portal payment.
#[allow(clippy::too_many_arguments)]
pub(super) async fn allocate_in(
    conn: &mut PgConnection,
    inv: &InvoiceRow,
    payment: Uuid,
    amount_minor: i64,
    to: InvoiceStatus,
    order_id: Option<Uuid>,
    payload: &serde_json::Value,
    now: DateTime<Utc>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO payment_allocations (id, payment_record_id, invoice_id, amount_minor, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(payment)
    .bind(inv.id)
    .bind(amount_minor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE invoices SET status = $2, allocated_minor = allocated_minor + $3,
             paid_at = CASE WHEN $2 = 'paid' THEN $4 ELSE paid_at END, updated_at = $4
         WHERE id = $1",
    )
    .bind(inv.id)
    .bind(to.as_str())
    .bind(amount_minor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let event = if to == InvoiceStatus::Paid {
        "invoice.paid"
    } else {
        "invoice.partially_paid"
    };
    emit_billing_in(conn, event, inv.id, order_id, payload, now).await?;
    Ok(())
}
