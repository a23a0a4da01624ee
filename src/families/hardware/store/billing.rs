//! Billing beyond one invoice per paid order: manual invoices drafted, edited and issued for
//! a company; adjustment and credit-note lines whose amounts the total follows; the invoice
//! list; and the daily overdue run.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use super::invoices::{COLUMNS, InvoiceRow, emit_billing_in, invoice_in, issue_draft_in};
use super::lock_status;
use crate::domain::hardware::billing::{Balance, LineKind, add_line};
use crate::domain::hardware::invoice::InvoiceStatus;
use crate::domain::money::Minor;
use crate::store::{Error, Result, Store};

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct InvoiceLineRow {
    pub id: Uuid,
    pub kind: String,
    pub order_item_id: Option<Uuid>,
    pub description: String,
    pub quantity: i32,
    pub unit_amount_minor: i64,
    pub amount_minor: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
}

/// A line of a manual invoice as drafted.
#[derive(Debug, Clone)]
pub struct NewLine {
    pub description: String,
    pub quantity: i32,
    pub unit_amount_minor: i64,
}

/// Which invoices a list shows.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub company: Option<String>,
    pub status: Option<InvoiceStatus>,
    /// `Some(true)`: unpaid and past due at `now`; `Some(false)`: everything else.
    pub overdue: Option<bool>,
    /// A service sees only the invoices of orders it drafted.
    pub tenant: Option<String>,
    pub limit: i64,
}

/// The total of manual lines, or an error past `Minor::MAX`.
fn lines_total(lines: &[NewLine]) -> Result<i64> {
    Minor::total(
        lines
            .iter()
            .map(|l| l.unit_amount_minor * i64::from(l.quantity)),
    )
    .map(|m| m.0)
    .ok_or_else(|| Error::Invalid(format!("the lines total more than {}", Minor::MAX)))
}

async fn insert_items_in(
    conn: &mut PgConnection,
    invoice: Uuid,
    lines: &[NewLine],
    actor: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for l in lines {
        sqlx::query(
            "INSERT INTO invoice_lines (id, invoice_id, kind, description, quantity, unit_amount_minor,
                 amount_minor, created_at, created_by)
             VALUES ($1, $2, 'item', $3, $4, $5, $6, $7, $8)",
        )
        .bind(Uuid::now_v7())
        .bind(invoice)
        .bind(&l.description)
        .bind(l.quantity)
        .bind(l.unit_amount_minor)
        .bind(l.unit_amount_minor * i64::from(l.quantity))
        .bind(now)
        .bind(actor)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Locks a manual invoice; a conflict unless it is a manual draft.
async fn lock_manual_draft(conn: &mut PgConnection, id: Uuid) -> Result<()> {
    let status: InvoiceStatus = lock_status(conn, "invoices", id).await?;
    let kind: String = sqlx::query_scalar("SELECT kind FROM invoices WHERE id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    if kind != "manual" {
        return Err(Error::Conflict(
            "an order's invoice is made from its order: only manual invoices are edited".into(),
        ));
    }
    if status != InvoiceStatus::Draft {
        return Err(Error::Conflict(format!(
            "cannot edit the invoice: it is {}",
            status.as_str()
        )));
    }
    Ok(())
}

impl Store {
    /// Drafts a manual invoice for a company.
    pub(crate) async fn create_manual_invoice(
        &self,
        company: &str,
        currency: &str,
        lines: &[NewLine],
        notes: Option<&str>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<InvoiceRow> {
        let total = lines_total(lines)?;
        let mut tx = self.pool().begin().await?;
        sqlx::query("SELECT 1 FROM companies WHERE id = $1 FOR SHARE")
            .bind(company)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO invoices (id, company_id, kind, status, currency, total_minor, notes,
                 created_by, created_at, updated_at)
             VALUES ($1, $2, 'manual', 'draft', $3, $4, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(company)
        .bind(currency)
        .bind(total)
        .bind(notes)
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_items_in(&mut tx, id, lines, actor, now).await?;
        let payload = json!({ "company_id": company, "total_minor": total });
        emit_billing_in(&mut tx, "invoice.drafted", id, None, &payload, now).await?;
        let row = invoice_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Edits a manual draft: its lines (all replaced), currency or notes.
    pub(crate) async fn edit_manual_invoice(
        &self,
        id: Uuid,
        lines: Option<&[NewLine]>,
        currency: Option<&str>,
        notes: Option<Option<&str>>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<InvoiceRow> {
        let mut tx = self.pool().begin().await?;
        lock_manual_draft(&mut tx, id).await?;
        if let Some(lines) = lines {
            let total = lines_total(lines)?;
            sqlx::query("DELETE FROM invoice_lines WHERE invoice_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            insert_items_in(&mut tx, id, lines, actor, now).await?;
            sqlx::query("UPDATE invoices SET total_minor = $2 WHERE id = $1")
                .bind(id)
                .bind(total)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query(
            "UPDATE invoices SET currency = coalesce($2, currency),
                 notes = CASE WHEN $3 THEN $4 ELSE notes END, updated_at = $5 WHERE id = $1",
        )
        .bind(id)
        .bind(currency)
        .bind(notes.is_some())
        .bind(notes.flatten())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row = invoice_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Issues a manual draft: numbered, and due by its company's payment terms.
    pub(crate) async fn issue_manual_invoice(
        &self,
        id: Uuid,
        now: DateTime<Utc>,
    ) -> Result<InvoiceRow> {
        let mut tx = self.pool().begin().await?;
        lock_manual_draft(&mut tx, id).await?;
        let lines: i64 =
            sqlx::query_scalar("SELECT count(*) FROM invoice_lines WHERE invoice_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if lines == 0 {
            return Err(Error::Invalid(
                "an invoice without lines cannot be issued".into(),
            ));
        }
        issue_draft_in(&mut tx, id, now).await?;
        let row = invoice_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// Adds an adjustment or credit-note line to any invoice still open; its total (and, when
    /// nothing is left owed, its status) follows.
    pub(crate) async fn add_invoice_line(
        &self,
        id: Uuid,
        kind: LineKind,
        description: &str,
        amount_minor: i64,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<InvoiceRow> {
        let mut tx = self.pool().begin().await?;
        let status: InvoiceStatus = lock_status(&mut tx, "invoices", id).await?;
        let inv = invoice_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        let after = add_line(
            Balance {
                status,
                total_minor: inv.total_minor,
                allocated_minor: inv.allocated_minor,
            },
            kind,
            amount_minor,
        )
        .map_err(|e| Error::Conflict(e.to_string()))?;
        sqlx::query(
            "INSERT INTO invoice_lines (id, invoice_id, kind, description, quantity, unit_amount_minor,
                 amount_minor, created_at, created_by)
             VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7)",
        )
        .bind(Uuid::now_v7())
        .bind(id)
        .bind(kind.as_str())
        .bind(description)
        .bind(amount_minor)
        .bind(now)
        .bind(actor)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE invoices SET total_minor = $2, status = $3,
                 paid_at = CASE WHEN $3 = 'paid' THEN $4 ELSE paid_at END, updated_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(after.total_minor)
        .bind(after.status.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = match kind {
            LineKind::Credit => "invoice.credited",
            _ => "invoice.adjusted",
        };
        let payload = json!({
            "number": inv.number, "amount_minor": amount_minor, "total_minor": after.total_minor,
            "balance_minor": after.due_minor(), "description": description,
        });
        emit_billing_in(&mut tx, event, id, inv.order_id, &payload, now).await?;
        if after.status == InvoiceStatus::Paid && status != InvoiceStatus::Paid {
            emit_billing_in(&mut tx, "invoice.paid", id, inv.order_id, &payload, now).await?;
        }
        let row = invoice_in(&mut tx, id).await?.ok_or(Error::NotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    pub(crate) async fn invoice_lines(&self, id: Uuid) -> Result<Vec<InvoiceLineRow>> {
        Ok(sqlx::query_as::<_, InvoiceLineRow>(
            "SELECT id, kind, order_item_id, description, quantity, unit_amount_minor, amount_minor,
                    created_at, created_by
             FROM invoice_lines WHERE invoice_id = $1
             ORDER BY array_position(ARRAY['item','adjustment','credit'], kind), created_at NULLS FIRST, id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Invoices, newest first, narrowed by `filter` (overdue is judged at `now`).
    pub(crate) async fn list_invoices(
        &self,
        filter: &InvoiceFilter,
        now: DateTime<Utc>,
    ) -> Result<Vec<InvoiceRow>> {
        let columns = COLUMNS
            .split(',')
            .map(|c| format!("i.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {columns} FROM invoices i LEFT JOIN hardware_orders o ON o.id = i.order_id
             WHERE ($1::text IS NULL OR i.company_id = $1)
               AND ($2::text IS NULL OR i.status = $2)
               AND ($3::boolean IS NULL OR $3 = (i.status IN ('issued', 'partially_paid') AND i.due_at < $4))
               AND ($5::text IS NULL OR o.created_by = $5)
             ORDER BY i.created_at DESC, i.id DESC LIMIT $6"
        ))
        .bind(&filter.company)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.overdue)
        .bind(now)
        .bind(&filter.tenant)
        .bind(filter.limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Open invoices past due at `now` that the overdue run has not flagged yet, oldest due
    /// first, at most `limit`.
    pub(crate) async fn overdue_candidates(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<Uuid>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM invoices
             WHERE status IN ('issued', 'partially_paid') AND overdue_at IS NULL AND due_at < $1
             ORDER BY due_at, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}

/// Flags each of `ids` overdue and records `invoice.overdue`, checked again under the row
/// lock (paid meanwhile, or flagged by another run, it is skipped). Returns how many.
pub(crate) async fn mark_overdue_in(
    conn: &mut PgConnection,
    ids: &[Uuid],
    saga: Uuid,
    now: DateTime<Utc>,
) -> Result<usize> {
    use crate::domain::hardware::billing::is_overdue;
    let mut marked = 0;
    for id in ids {
        let status: InvoiceStatus = lock_status(conn, "invoices", *id).await?;
        let Some(inv) = invoice_in(conn, *id).await? else {
            continue;
        };
        if inv.overdue_at.is_some() || !is_overdue(status, inv.due_at, now) {
            continue;
        }
        sqlx::query("UPDATE invoices SET overdue_at = $2, updated_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        let payload = json!({
            "number": inv.number, "company_id": inv.company_id, "due_at": inv.due_at,
            "balance_minor": inv.total_minor - inv.allocated_minor, "saga_id": saga,
        });
        emit_billing_in(conn, "invoice.overdue", *id, inv.order_id, &payload, now).await?;
        marked += 1;
    }
    Ok(marked)
}
