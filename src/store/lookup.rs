//! The console's one search box: which sagas an order code, a phone number, a partner's
//! orderId, an invoice or tracking number, or a saga id (whole or its shown tail) belongs to.
//! Each kind of key is looked up where it lives (the sagas, the data-bundle and partner
//! orders, the hardware orders with their checkouts, invoices and shipments), every lookup on
//! an index.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{Result, Store};

/// What the box was given, already told apart by the caller.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// The text as typed (trimmed) and upper-cased, for codes and numbers.
    pub texts: Vec<String>,
    /// A phone number in national form, when the text is one.
    pub phone: Option<String>,
    /// A whole saga id.
    pub id: Option<Uuid>,
    /// The last 8 hex digits of a saga id, lower-case.
    pub tail: Option<String>,
}

/// One saga found, with what matched.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LookupHit {
    pub id: Uuid,
    pub workflow: String,
    pub status: String,
    pub business_key: Option<String>,
    pub created_at: DateTime<Utc>,
    /// What matched: `saga id`, `order code`, `partner orderId`, `invoice number`,
    /// `tracking number` or `phone`.
    pub matched: String,
}

/// At most this many sagas answer one search.
pub const LOOKUP_LIMIT: i64 = 50;

impl Store {
    /// The sagas `l` names, newest first; a saga matched twice is listed once (its first
    /// match, in the order above).
    pub(crate) async fn lookup_sagas(&self, l: &Lookup) -> Result<Vec<LookupHit>> {
        Ok(sqlx::query_as(
            "WITH hit (saga_id, matched, rank) AS (
                SELECT id, 'saga id', 1 FROM sagas WHERE id = $3
                UNION ALL SELECT id, 'saga id', 1 FROM sagas WHERE right(id::text, 8) = $4
                UNION ALL SELECT id, 'order code', 2 FROM sagas WHERE business_key = ANY($1)
                UNION ALL SELECT saga_id, 'order code', 2 FROM orders WHERE order_code = ANY($1)
                UNION ALL SELECT o.saga_id, 'order code', 2 FROM hardware_orders o
                    WHERE o.order_code = ANY($1) AND o.saga_id IS NOT NULL
                UNION ALL SELECT c.saga_id, 'order code', 2 FROM hardware_checkouts c
                    JOIN hardware_orders o ON o.id = c.order_id WHERE o.order_code = ANY($1)
                UNION ALL SELECT saga_id, 'partner orderId', 3 FROM partner_orders
                    WHERE order_id = ANY($1)
                UNION ALL SELECT c.saga_id, 'invoice number', 4 FROM invoices i
                    JOIN hardware_checkouts c ON c.order_id = i.order_id WHERE i.number = ANY($1)
                UNION ALL SELECT c.saga_id, 'tracking number', 5 FROM shipments s
                    JOIN fulfillment_orders f ON f.id = s.fulfillment_id
                    JOIN hardware_checkouts c ON c.order_id = f.order_id
                    WHERE s.tracking_number = ANY($1)
                UNION ALL SELECT saga_id, 'phone', 6 FROM orders WHERE phone_number = $2
                UNION ALL SELECT saga_id, 'phone', 6 FROM partner_orders
                    WHERE ops_phone(customer_phone) = $2
             ), best AS (
                SELECT DISTINCT ON (saga_id) saga_id, matched FROM hit ORDER BY saga_id, rank
             )
             SELECT s.id, s.workflow, s.status, s.business_key, s.created_at, b.matched
             FROM best b JOIN sagas s ON s.id = b.saga_id
             ORDER BY s.created_at DESC, s.id DESC LIMIT $5",
        )
        .bind(&l.texts)
        .bind(&l.phone)
        .bind(l.id)
        .bind(&l.tail)
        .bind(LOOKUP_LIMIT)
        .fetch_all(&self.pool)
        .await?)
    }
}
