//! The billing portal's rows: single-use links, the sessions they open, and the checkouts a
//! billing contact starts for an invoice's balance. Every read a portal page makes names the
//! session's company in its `WHERE`, so another company's invoice is simply not found.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::invoices::{COLUMNS, InvoiceRow, allocate_in, invoice_in};
use super::lock_status;
use crate::domain::hardware::invoice::{self, InvoiceEvent, InvoiceStatus};
use crate::store::{Error, Result, SessionLimits, SessionTable, Store};

/// The portal's sessions, answering the company they are for.
const PORTAL: SessionTable = SessionTable {
    name: "portal_sessions",
    answer: "company_id",
};

/// A payment the company made (or a refund it got), with the invoices it was allocated to.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PortalPaymentLine {
    pub id: Uuid,
    /// `payment` (through the processor), `manual` (a bank transfer) or `refund`.
    pub kind: String,
    pub amount_minor: i64,
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

/// One allocation of a payment to an invoice, by the invoice's number.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PortalAllocation {
    pub payment_record_id: Uuid,
    pub invoice_id: Uuid,
    pub number: Option<String>,
    pub amount_minor: i64,
}

/// A checkout opened from the portal for an invoice's balance.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PortalCheckout {
    pub session_id: String,
    pub invoice_id: Uuid,
    pub number: Option<String>,
    pub company_id: String,
    pub amount_minor: i64,
    pub currency: String,
    /// `open`, `paid`, `cancelled` or `expired`.
    pub status: String,
}

/// The invoice columns qualified with `i.`, for the joins below.
fn invoice_columns() -> String {
    COLUMNS
        .split(',')
        .map(|c| format!("i.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Store {
    /// Records a link for `company_id` under the hash of its token, expiring at `expires_at`;
    /// `NotFound` for a company the directory does not hold.
    pub(crate) async fn create_portal_link(
        &self,
        token_sha256: &str,
        company_id: &str,
        created_by: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let inserted = sqlx::query(
            "INSERT INTO portal_links (token_sha256, company_id, created_by, created_at, expires_at)
             SELECT $1, id, $3, $4, $5 FROM companies WHERE id = $2",
        )
        .bind(token_sha256)
        .bind(company_id)
        .bind(created_by)
        .bind(now)
        .bind(expires_at)
        .execute(self.pool())
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }

    /// Uses a link: marks it used and starts a session for its company, in one transaction.
    /// The `UPDATE … WHERE used_at IS NULL` takes the row lock, so of two concurrent opens one
    /// gets the company and the other `None`, as do an unknown, used or expired link.
    pub(crate) async fn open_portal_link(
        &self,
        token_sha256: &str,
        session_sha256: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let mut tx = self.pool().begin().await?;
        let company: Option<String> = sqlx::query_scalar(
            "UPDATE portal_links SET used_at = $2
             WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING company_id",
        )
        .bind(token_sha256)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(company) = company else {
            return Ok(None);
        };
        sqlx::query(
            "INSERT INTO portal_sessions (id_sha256, company_id, link_sha256, created_at, last_seen)
             VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(session_sha256)
        .bind(&company)
        .bind(token_sha256)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(company))
    }

    /// The company of a live portal session, marking it used now; an expired one is deleted
    /// and answers `None`, as does an unknown one.
    pub(crate) async fn use_portal_session(
        &self,
        id_sha256: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        self.use_session_in(&PORTAL, id_sha256, limits, now).await
    }

    /// Ends a portal session (sign-out, or found expired).
    pub(crate) async fn end_portal_session(&self, id_sha256: &str) -> Result<()> {
        self.end_session_in(&PORTAL, id_sha256).await
    }

    /// The company's invoices a customer may see (issued or later, never a draft), newest
    /// first.
    pub(crate) async fn portal_invoices(&self, company_id: &str) -> Result<Vec<InvoiceRow>> {
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {} FROM invoices i
             WHERE i.company_id = $1 AND i.status <> 'draft'
             ORDER BY i.issued_at DESC NULLS LAST, i.id DESC LIMIT 500",
            invoice_columns()
        ))
        .bind(company_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// One of the company's invoices; `None` for a draft or another company's.
    pub(crate) async fn portal_invoice(
        &self,
        company_id: &str,
        id: Uuid,
    ) -> Result<Option<InvoiceRow>> {
        Ok(sqlx::query_as::<_, InvoiceRow>(&format!(
            "SELECT {} FROM invoices i
             WHERE i.id = $1 AND i.company_id = $2 AND i.status <> 'draft'",
            invoice_columns()
        ))
        .bind(id)
        .bind(company_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The company's payments and refunds, newest first, and their allocations to its
    /// invoices.
    pub(crate) async fn portal_payments(
        &self,
        company_id: &str,
    ) -> Result<(Vec<PortalPaymentLine>, Vec<PortalAllocation>)> {
        let payments = sqlx::query_as::<_, PortalPaymentLine>(
            "SELECT p.id, p.kind, p.amount_minor, p.currency, p.created_at FROM payment_records p
             WHERE p.invoice_id IN (SELECT id FROM invoices WHERE company_id = $1)
                OR p.order_id IN (SELECT id FROM hardware_orders WHERE company_id = $1)
             ORDER BY p.created_at DESC, p.id DESC LIMIT 500",
        )
        .bind(company_id)
        .fetch_all(self.pool())
        .await?;
        let allocations = sqlx::query_as::<_, PortalAllocation>(
            "SELECT a.payment_record_id, a.invoice_id, i.number, a.amount_minor
             FROM payment_allocations a JOIN invoices i ON i.id = a.invoice_id
             WHERE i.company_id = $1 ORDER BY a.created_at, a.id",
        )
        .bind(company_id)
        .fetch_all(self.pool())
        .await?;
        Ok((payments, allocations))
    }

    /// Records a checkout opened for an invoice's balance.
    pub(crate) async fn open_portal_checkout(
        &self,
        checkout: &PortalCheckout,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO portal_payments (session_id, invoice_id, company_id, amount_minor, currency,
                 status, created_at)
             VALUES ($1, $2, $3, $4, $5, 'open', $6)",
        )
        .bind(&checkout.session_id)
        .bind(checkout.invoice_id)
        .bind(&checkout.company_id)
        .bind(checkout.amount_minor)
        .bind(&checkout.currency)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A checkout opened from the portal, by the processor's session id.
    pub(crate) async fn portal_checkout(&self, session_id: &str) -> Result<Option<PortalCheckout>> {
        Ok(sqlx::query_as::<_, PortalCheckout>(
            "SELECT p.session_id, p.invoice_id, i.number, p.company_id, p.amount_minor, p.currency,
                    p.status
             FROM portal_payments p JOIN invoices i ON i.id = p.invoice_id
             WHERE p.session_id = $1",
        )
        .bind(session_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The order a checkout session was opened for (its current one or an earlier attempt's):
    /// its code, total, currency and that session's payment state.
    pub(crate) async fn order_checkout_state(
        &self,
        session_id: &str,
    ) -> Result<Option<(String, i64, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT o.order_code, o.total_minor, o.currency,
                    CASE WHEN o.checkout_session = $1 THEN o.payment_status
                         ELSE coalesce(c.outcome, 'checkout_sent') END
             FROM hardware_orders o
             LEFT JOIN hardware_checkouts c ON c.order_id = o.id AND c.session_id = $1
             WHERE o.checkout_session = $1 OR c.session_id = $1
             LIMIT 1",
        )
        .bind(session_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// An open portal checkout ended unpaid: `cancelled` by the contact or `expired`.
    pub(crate) async fn close_portal_checkout(
        &self,
        session_id: &str,
        status: &'static str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE portal_payments SET status = $2, settled_at = $3
             WHERE session_id = $1 AND status = 'open'",
        )
        .bind(session_id)
        .bind(status)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// A portal checkout the processor reports paid: the payment is recorded once (by its
    /// processor reference) and allocated to the invoice up to its balance, and the checkout
    /// marked paid, in one transaction. A second report changes nothing. A payment that is not
    /// the checkout's amount or currency is refused (`Conflict`) and nothing is kept, as the
    /// order checkout leaves a mismatched payment to an operator.
    pub(crate) async fn settle_portal_checkout(
        &self,
        session_id: &str,
        payment_ref: &str,
        amount_minor: i64,
        currency: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let row: Option<(Uuid, i64, String, String)> = sqlx::query_as(
            "SELECT invoice_id, amount_minor, currency, status FROM portal_payments
             WHERE session_id = $1 FOR UPDATE",
        )
        .bind(session_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((invoice_id, asked, asked_currency, status)) = row else {
            return Err(Error::NotFound);
        };
        if status == "paid" {
            return Ok(());
        }
        if asked != amount_minor || !asked_currency.eq_ignore_ascii_case(currency) {
            return Err(Error::Conflict(format!(
                "checkout {session_id} was paid {amount_minor} {currency}, it asked {asked} {asked_currency}"
            )));
        }
        let from: InvoiceStatus = lock_status(&mut tx, "invoices", invoice_id).await?;
        let inv = invoice_in(&mut tx, invoice_id)
            .await?
            .ok_or(Error::NotFound)?;
        let payment = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO payment_records (id, order_id, invoice_id, kind, amount_minor, currency,
                 provider_ref, actor, created_at)
             VALUES ($1, $2, $3, 'payment', $4, $5, $6, 'portal', $7)",
        )
        .bind(payment)
        .bind(inv.order_id)
        .bind(inv.id)
        .bind(amount_minor)
        .bind(&inv.currency)
        .bind(payment_ref)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The balance may have shrunk since checkout opened (a bank transfer came in): only
        // what is still due is allocated; a void invoice takes nothing, and the rest of the
        // payment stays recorded, unallocated, for Support to refund.
        let due = inv.total_minor - inv.allocated_minor;
        let take = amount_minor.min(due);
        let event = InvoiceEvent::ApplyPayment {
            settles: take == due,
        };
        if take > 0
            && let Ok(to) = invoice::apply(from, event)
        {
            let payload = serde_json::json!({
                "number": inv.number, "allocated_minor": take, "balance_minor": due - take,
                "via": "portal", "session_id": session_id,
            });
            allocate_in(
                &mut tx,
                &inv,
                payment,
                take,
                to,
                inv.order_id,
                &payload,
                now,
            )
            .await?;
        }
        sqlx::query(
            "UPDATE portal_payments SET status = 'paid', settled_at = $2 WHERE session_id = $1",
        )
        .bind(session_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
