//! What the console's hardware pages read beyond the API's views: a filtered order list (for
//! the order list and a company's page), an invoice's payments with their allocation, and
//! which order a shipment, fulfilment or automation step belongs to (a job run links those).

use chrono::{DateTime, Utc};
use sqlx::FromRow;
use uuid::Uuid;

use crate::store::{Result, Store};

/// Which orders the console lists.
#[derive(Debug, Clone, Default)]
pub struct OrderListFilter {
    /// The order's payment status (`paid`, `checkout_sent`, …).
    pub status: Option<String>,
    pub company: Option<String>,
    /// Part of the order code, matched case-insensitively.
    pub code: Option<String>,
    pub limit: i64,
}

/// One order in a list, business key first.
#[derive(Debug, Clone, FromRow)]
pub struct OrderListRow {
    pub id: Uuid,
    pub order_code: String,
    pub company_id: String,
    pub company_name: String,
    pub payment_status: String,
    pub currency: String,
    pub total_minor: i64,
    pub fulfillment_status: Option<String>,
    pub invoice_id: Option<Uuid>,
    pub invoice_number: Option<String>,
    pub saga_status: Option<String>,
    pub failed_steps: i64,
    pub created_at: DateTime<Utc>,
}

/// A payment's share of one invoice.
#[derive(Debug, Clone, FromRow)]
pub struct AllocationRow {
    pub payment_id: Uuid,
    pub kind: String,
    pub provider_ref: String,
    pub payment_minor: i64,
    pub allocated_minor: i64,
    pub currency: String,
    pub paid_at: DateTime<Utc>,
    pub allocated_at: DateTime<Utc>,
}

impl Store {
    /// Orders, newest first, narrowed by `f`.
    pub(crate) async fn console_orders(&self, f: &OrderListFilter) -> Result<Vec<OrderListRow>> {
        // The code is matched literally: LIKE's wildcards are escaped.
        let code = f.code.as_deref().map(|c| {
            let escaped = c
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        Ok(sqlx::query_as::<_, OrderListRow>(
            "SELECT o.id, o.order_code, o.company_id, c.name AS company_name, o.payment_status,
                    o.currency, o.total_minor, f.status AS fulfillment_status,
                    i.id AS invoice_id, i.number AS invoice_number, s.status AS saga_status,
                    (SELECT count(*) FROM automation_steps a
                      WHERE a.order_id = o.id AND a.status = 'failed') AS failed_steps,
                    o.created_at
             FROM hardware_orders o
             JOIN companies c ON c.id = o.company_id
             LEFT JOIN fulfillment_orders f ON f.order_id = o.id
             LEFT JOIN invoices i ON i.order_id = o.id
             LEFT JOIN sagas s ON s.id = o.saga_id
             WHERE ($1::text IS NULL OR o.payment_status = $1)
               AND ($2::text IS NULL OR o.company_id = $2)
               AND ($3::text IS NULL OR o.order_code ILIKE $3)
             ORDER BY o.created_at DESC, o.id DESC LIMIT $4",
        )
        .bind(&f.status)
        .bind(&f.company)
        .bind(code)
        .bind(f.limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The payments allocated to an invoice, oldest first.
    pub(crate) async fn invoice_allocations(&self, invoice_id: Uuid) -> Result<Vec<AllocationRow>> {
        Ok(sqlx::query_as::<_, AllocationRow>(
            "SELECT p.id AS payment_id, p.kind, p.provider_ref, p.amount_minor AS payment_minor,
                    a.amount_minor AS allocated_minor, p.currency, p.created_at AS paid_at,
                    a.created_at AS allocated_at
             FROM payment_allocations a JOIN payment_records p ON p.id = a.payment_record_id
             WHERE a.invoice_id = $1 ORDER BY a.created_at, a.id",
        )
        .bind(invoice_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The order a shipment, fulfilment or automation step (`kind`) belongs to.
    pub(crate) async fn order_of(&self, kind: RecordKind, id: Uuid) -> Result<Option<Uuid>> {
        let sql = match kind {
            RecordKind::Shipment => {
                "SELECT f.order_id FROM shipments s JOIN fulfillment_orders f ON f.id = s.fulfillment_id
                 WHERE s.id = $1"
            }
            RecordKind::Fulfillment => "SELECT order_id FROM fulfillment_orders WHERE id = $1",
            RecordKind::AutomationStep => "SELECT order_id FROM automation_steps WHERE id = $1",
        };
        Ok(sqlx::query_scalar(sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }
}

/// A record of an order that has no page of its own in the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Shipment,
    Fulfillment,
    AutomationStep,
}
