//! Partner subscription rows: the licence catalogue, partner orders (unique by the partner's
//! orderId and by Idempotency-Key), licences and expiry reminders.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::money::Minor;
use crate::families::partner::ProductSeed;
use crate::store::{Error, Result, StartWrite, Store};

/// A licence product.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub description: String,
    pub price_1_month_minor: i64,
    pub price_12_months_minor: i64,
    pub currency: String,
}

/// An order as the partner API accepts it.
#[derive(Debug, Clone)]
pub struct NewPartnerOrder {
    pub id: Uuid,
    pub partner_id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub product_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: String,
    pub tenure: String,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct PartnerOrder {
    pub id: Uuid,
    pub partner_id: String,
    pub order_id: String,
    pub idempotency_key: String,
    pub request_hash: String,
    pub product_id: String,
    pub customer_id: String,
    pub customer_name: String,
    pub customer_email: String,
    pub customer_phone: String,
    pub tenure: String,
    pub status: String,
    pub price_minor: Option<i64>,
    pub sales_order_id: Option<String>,
    pub sales_order_attempted: bool,
    pub activation_reference: Option<String>,
    pub saga_id: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Why an order was refused as a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// The orderId exists under another key or with another body.
    OrderId,
    /// The key was used for another order.
    IdempotencyKey,
}

/// The answer to placing a partner order.
#[derive(Debug, Clone)]
pub enum PartnerPlaced {
    Created(PartnerOrder),
    /// Same key, same body: the stored order.
    Replayed(PartnerOrder),
    Duplicate(Duplicate),
}

/// A licence.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct LicenceRow {
    pub id: i64,
    pub partner_order_id: Uuid,
    pub partner_id: String,
    pub activation_reference: String,
    pub sales_order_id: String,
    pub product_id: String,
    pub customer_id: String,
    pub tenure: String,
    pub status: String,
    pub expires_on: NaiveDate,
    pub renewals: i32,
    /// The partner's orderId.
    pub order_id: String,
}

const ORDER_COLUMNS: &str = "id, partner_id, order_id, idempotency_key, request_hash, product_id, customer_id, \
     customer_name, customer_email, customer_phone, tenure, status, price_minor, sales_order_id, \
     sales_order_attempted, activation_reference, saga_id, created_at, updated_at";

const LICENCE_COLUMNS: &str = "l.id, l.partner_order_id, l.partner_id, l.activation_reference, l.sales_order_id, \
     l.product_id, l.customer_id, l.tenure, l.status, l.expires_on, l.renewals, o.order_id";

impl Store {
    /// Upserts the configured licence catalogue; products no longer configured are hidden.
    pub(crate) async fn seed_partner_products(
        &self,
        seeds: &[ProductSeed],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let mut ids = Vec::with_capacity(seeds.len());
        for p in seeds {
            let (Some(month), Some(year)) = (
                Minor::from_major(p.price_1_month),
                Minor::from_major(p.price_12_months),
            ) else {
                return Err(Error::Corrupt(format!("bad price for product {}", p.id)));
            };
            sqlx::query(
                "INSERT INTO partner_products (id, name, description, price_1_month_minor, price_12_months_minor,
                     currency, active, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, true, $7)
                 ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, description = EXCLUDED.description,
                     price_1_month_minor = EXCLUDED.price_1_month_minor,
                     price_12_months_minor = EXCLUDED.price_12_months_minor,
                     currency = EXCLUDED.currency, active = true, updated_at = EXCLUDED.updated_at",
            )
            .bind(&p.id)
            .bind(&p.name)
            .bind(&p.description)
            .bind(month.0)
            .bind(year.0)
            .bind(&p.currency)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(p.id.clone());
        }
        sqlx::query(
            "UPDATE partner_products SET active = false, updated_at = $2 WHERE NOT (id = ANY($1))",
        )
        .bind(&ids)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn partner_products(&self) -> Result<Vec<Product>> {
        Ok(sqlx::query_as(
            "SELECT id, name, description, price_1_month_minor, price_12_months_minor, currency
             FROM partner_products WHERE active ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The order an orderId or key already placed, as the answer to a repeat: the same
    /// request replayed, or a duplicate of one kind.
    pub(crate) async fn existing_partner_order(
        &self,
        order: &NewPartnerOrder,
    ) -> Result<Option<PartnerPlaced>> {
        let found: Vec<PartnerOrder> = sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM partner_orders
             WHERE partner_id = $1 AND (order_id = $2 OR idempotency_key = $3)"
        ))
        .bind(&order.partner_id)
        .bind(&order.order_id)
        .bind(&order.idempotency_key)
        .fetch_all(self.pool())
        .await?;
        let Some(first) = found.into_iter().next() else {
            return Ok(None);
        };
        Ok(Some(
            if first.idempotency_key == order.idempotency_key
                && first.request_hash == order.request_hash
            {
                PartnerPlaced::Replayed(first)
            } else if first.order_id == order.order_id {
                PartnerPlaced::Duplicate(Duplicate::OrderId)
            } else {
                PartnerPlaced::Duplicate(Duplicate::IdempotencyKey)
            },
        ))
    }

    pub(crate) async fn partner_order(&self, id: Uuid) -> Result<Option<PartnerOrder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM partner_orders WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn partner_order_by_ref(
        &self,
        partner_id: &str,
        order_id: &str,
    ) -> Result<Option<PartnerOrder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM partner_orders WHERE partner_id = $1 AND order_id = $2"
        ))
        .bind(partner_id)
        .bind(order_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Notes that a sales order was asked for, and its id once known. Committed on its own,
    /// straight after the CRM call, so a compensation can always find what to cancel.
    pub(crate) async fn note_sales_order(
        &self,
        partner_order_id: Uuid,
        sales_order_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE partner_orders SET sales_order_attempted = true,
                 sales_order_id = COALESCE($2, sales_order_id), updated_at = $3 WHERE id = $1",
        )
        .bind(partner_order_id)
        .bind(sales_order_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn licence_for_order(&self, partner_order_id: Uuid) -> Result<Option<LicenceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences l JOIN partner_orders o ON o.id = l.partner_order_id
             WHERE l.partner_order_id = $1"
        ))
        .bind(partner_order_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub(crate) async fn licence_by_activation(
        &self,
        partner_id: &str,
        activation_reference: &str,
    ) -> Result<Option<LicenceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences l JOIN partner_orders o ON o.id = l.partner_order_id
             WHERE l.partner_id = $1 AND l.activation_reference = $2"
        ))
        .bind(partner_id)
        .bind(activation_reference)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Active licences expiring in `[from, to]` that have had no reminder for that expiry.
    pub(crate) async fn licences_due_reminder(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        limit: i64,
    ) -> Result<Vec<LicenceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences l JOIN partner_orders o ON o.id = l.partner_order_id
             WHERE l.status = 'ACTIVE' AND l.expires_on BETWEEN $1 AND $2
               AND NOT EXISTS (SELECT 1 FROM licence_reminders r
                               WHERE r.licence_id = l.id AND r.expires_on = l.expires_on)
             ORDER BY l.expires_on, l.id LIMIT $3"
        ))
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Active licences whose term ended before `today` (a licence is good through its
    /// `expires_on` day) and that have not been expired for that date yet, oldest first.
    pub(crate) async fn licences_due_expiry(
        &self,
        today: NaiveDate,
        limit: i64,
    ) -> Result<Vec<LicenceRow>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {LICENCE_COLUMNS} FROM licences l JOIN partner_orders o ON o.id = l.partner_order_id
             WHERE l.status = 'ACTIVE' AND l.expires_on < $1
               AND NOT EXISTS (SELECT 1 FROM licence_expiries x
                               WHERE x.licence_id = l.id AND x.expires_on = l.expires_on)
             ORDER BY l.expires_on, l.id LIMIT $2"
        ))
        .bind(today)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// Expiry rows written so far: `(licence_id, expires_on)`.
    pub async fn licence_expiries(&self) -> Result<Vec<(i64, NaiveDate)>> {
        Ok(sqlx::query_as(
            "SELECT licence_id, expires_on FROM licence_expiries ORDER BY licence_id, expires_on",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Reminder rows written so far: `(licence_id, expires_on)`.
    pub async fn licence_reminders(&self) -> Result<Vec<(i64, NaiveDate)>> {
        Ok(sqlx::query_as(
            "SELECT licence_id, expires_on FROM licence_reminders ORDER BY licence_id, expires_on",
        )
        .fetch_all(self.pool())
        .await?)
    }
}

/// Records the licence and marks the order fulfilled.
#[derive(Debug, Clone)]
pub struct NewLicence {
    pub partner_order_id: Uuid,
    pub partner_id: String,
    pub activation_reference: String,
    pub sales_order_id: String,
    pub product_id: String,
    pub customer_id: String,
    pub tenure: String,
    pub expires_on: NaiveDate,
}

pub(crate) async fn fulfil_partner_order_in(
    conn: &mut PgConnection,
    l: &NewLicence,
    price_minor: i64,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO licences (partner_order_id, partner_id, activation_reference, sales_order_id, product_id,
             customer_id, tenure, status, expires_on, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'ACTIVE', $8, $9, $9)
         ON CONFLICT (partner_order_id) DO NOTHING",
    )
    .bind(l.partner_order_id)
    .bind(&l.partner_id)
    .bind(&l.activation_reference)
    .bind(&l.sales_order_id)
    .bind(&l.product_id)
    .bind(&l.customer_id)
    .bind(&l.tenure)
    .bind(l.expires_on)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE partner_orders SET status = 'FULFILLED', sales_order_id = $2, activation_reference = $3,
             price_minor = $4, updated_at = $5 WHERE id = $1",
    )
    .bind(l.partner_order_id)
    .bind(&l.sales_order_id)
    .bind(&l.activation_reference)
    .bind(price_minor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) async fn fail_partner_order_in(
    conn: &mut PgConnection,
    partner_order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE partner_orders SET status = 'FAILED', updated_at = $2 WHERE id = $1")
        .bind(partner_order_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Claims one reminder per (licence, expiry). A plain INSERT on purpose: if another run got
/// there first, the conflict aborts the whole checkpoint (outbox rows included), and the step,
/// run again, no longer sees that licence as due. So a reminder is never sent twice.
pub(crate) async fn claim_reminders_in(
    conn: &mut PgConnection,
    due: &[(i64, NaiveDate)],
    saga_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (licence_id, expires_on) in due {
        sqlx::query(
            "INSERT INTO licence_reminders (licence_id, expires_on, saga_id, sent_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(licence_id)
        .bind(expires_on)
        .bind(saga_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Claims one expiry per (licence, expiry date) and marks the licence EXPIRED, unless a
/// renewal moved its date meanwhile. A plain INSERT, as for reminders: a run that lost the
/// race aborts its whole checkpoint (outbox rows included) and, run again, sees nothing due.
pub(crate) async fn expire_licences_in(
    conn: &mut PgConnection,
    due: &[(i64, NaiveDate)],
    saga_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (licence_id, expires_on) in due {
        sqlx::query(
            "INSERT INTO licence_expiries (licence_id, expires_on, saga_id, expired_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(licence_id)
        .bind(expires_on)
        .bind(saga_id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        let changed = sqlx::query(
            "UPDATE licences SET status = 'EXPIRED', updated_at = $3
             WHERE id = $1 AND expires_on = $2 AND status = 'ACTIVE'",
        )
        .bind(licence_id)
        .bind(expires_on)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        if changed.rows_affected() != 1 {
            // Renewed between the read and this checkpoint: announce nothing, look again.
            return Err(sqlx::Error::Protocol(format!(
                "licence {licence_id} changed before it could expire"
            )));
        }
    }
    Ok(())
}

/// Extends a licence after a renewal.
pub(crate) async fn renew_licence_in(
    conn: &mut PgConnection,
    licence_id: i64,
    new_expiry: NaiveDate,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE licences SET expires_on = GREATEST(expires_on, $2), renewals = renewals + 1, status = 'ACTIVE',
             updated_at = $3 WHERE id = $1",
    )
    .bind(licence_id)
    .bind(new_expiry)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Writes the partner order row in its saga's start transaction (see `Runtime::start`). The
/// unique indexes on (partner, orderId) and (partner, key) settle a race between two identical
/// requests: the loser's start rolls back with a unique violation.
pub(crate) fn insert_partner_order(order: NewPartnerOrder) -> StartWrite {
    Box::new(move |conn, saga_id, now| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO partner_orders (id, partner_id, order_id, idempotency_key, request_hash, product_id,
                     customer_id, customer_name, customer_email, customer_phone, tenure, status, saga_id,
                     created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'PROCESSING', $12, $13, $13)",
            )
            .bind(order.id)
            .bind(&order.partner_id)
            .bind(&order.order_id)
            .bind(&order.idempotency_key)
            .bind(&order.request_hash)
            .bind(&order.product_id)
            .bind(&order.customer_id)
            .bind(&order.customer_name)
            .bind(&order.customer_email)
            .bind(&order.customer_phone)
            .bind(&order.tenure)
            .bind(saga_id)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    })
}
