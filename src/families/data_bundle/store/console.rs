//! What the console's data-bundle screens read: the order list with its filters and stats
//! cards, the fulfilment report, one order's attempts with the provider's exchange, and the
//! links between a refunded order and the order that placed it again.
//!
//! An order's dashboard state (`success`, `failed`, `pending`) is derived in SQL from the order
//! and its saga, so the list, the cards and the report agree on it:
//! - `success`: the order is completed (delivered);
//! - `failed`: the order failed (refunded), its saga is failed or parked, or its last attempt
//!   failed and the saga waits to retry it;
//! - `pending`: anything still on its way.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::store::{Error, Result, Store};

/// The states the list filters by, in the order the console offers them.
pub const STATES: [&str; 3] = ["success", "failed", "pending"];

/// The list's filters, already checked: a known network and state, a phone in national form.
#[derive(Debug, Clone, Default)]
pub struct BundleFilter {
    pub network: Option<String>,
    pub state: Option<String>,
    /// National form (`0241234567`), as orders store it.
    pub phone: Option<String>,
    pub created_from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub created_before: Option<DateTime<Utc>>,
}

/// One order as the list and the report show it.
#[derive(Debug, Clone, FromRow)]
pub struct BundleLine {
    pub id: Uuid,
    pub order_code: String,
    pub phone_number: String,
    pub network: String,
    pub size_gb: i32,
    pub price_minor: i64,
    pub state: String,
    pub saga_id: Uuid,
    pub saga_status: String,
    pub attempts: i64,
    pub provider: Option<String>,
    pub provider_reference: Option<String>,
    pub error_code: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub fulfilled_at: Option<DateTime<Utc>>,
}

/// The cards above the list: over the list's filters but its state.
#[derive(Debug, Clone, Default, FromRow)]
pub struct BundleStats {
    pub total: i64,
    pub success: i64,
    pub failed: i64,
    pub pending: i64,
    /// What delivered orders were paid, in pesewas.
    pub revenue_minor: i64,
}

/// One provider attempt with its redacted exchange, for the order page.
#[derive(Debug, Clone, FromRow)]
pub struct AttemptDetail {
    pub attempt_number: i32,
    pub max_attempts: i32,
    pub status: String,
    pub provider: String,
    pub phone_masked: String,
    pub reference: String,
    pub external_order_id: Option<String>,
    pub api_request: Option<Value>,
    pub api_response: Option<Value>,
    pub error_message: Option<String>,
    pub retry_after: Option<DateTime<Utc>>,
    pub fulfilled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The orders linked to one: the one it placed again, and the one that placed it again.
#[derive(Debug, Clone, Default, FromRow)]
pub struct ReorderLinks {
    pub reorder_number: i32,
    pub reorder_of: Option<Uuid>,
    pub reorder_of_code: Option<String>,
    pub reordered_as: Option<Uuid>,
    pub reordered_as_code: Option<String>,
}

/// Orders with their derived state and last attempt, filtered by `$1..$4`.
const LINES: &str = "
    SELECT o.id, o.order_code, o.phone_number, o.network, o.size_gb, o.price_minor,
        CASE WHEN o.status = 'completed' THEN 'success'
             WHEN o.status = 'failed' OR s.status IN ('failed', 'parked')
                  OR (s.status = 'running' AND la.last_status = 'failed') THEN 'failed'
             ELSE 'pending' END AS state,
        o.saga_id, s.status AS saga_status, coalesce(la.attempts, 0) AS attempts,
        la.provider, la.provider_reference, s.last_error ->> 'code' AS error_code,
        o.created_at, o.updated_at, la.fulfilled_at
    FROM orders o
    JOIN sagas s ON s.id = o.saga_id
    LEFT JOIN LATERAL (
        SELECT count(*) AS attempts,
            (array_agg(f.status ORDER BY f.attempt_number DESC))[1] AS last_status,
            (array_agg(f.provider ORDER BY f.attempt_number DESC))[1] AS provider,
            (array_agg(f.external_order_id ORDER BY f.attempt_number DESC))[1] AS provider_reference,
            max(f.fulfilled_at) AS fulfilled_at
        FROM fulfillment_logs f WHERE f.order_id = o.id
    ) la ON true
    WHERE ($1::text IS NULL OR o.network = $1)
      AND ($2::text IS NULL OR o.phone_number = $2)
      AND ($3::timestamptz IS NULL OR o.created_at >= $3)
      AND ($4::timestamptz IS NULL OR o.created_at < $4)";

/// The report's cap: a download larger than this is narrowed by its filters.
pub const REPORT_LIMIT: i64 = 10_000;

impl Store {
    /// One page of the list, newest first, after the keyset `after` (`created_at`, `id`).
    pub async fn bundle_lines(
        &self,
        f: &BundleFilter,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<BundleLine>> {
        Ok(sqlx::query_as(&format!(
            "SELECT * FROM ({LINES}) x
             WHERE ($5::text IS NULL OR x.state = $5)
               AND ($6::timestamptz IS NULL OR (x.created_at, x.id) < ($6, $7))
             ORDER BY x.created_at DESC, x.id DESC LIMIT $8"
        ))
        .bind(&f.network)
        .bind(&f.phone)
        .bind(f.created_from)
        .bind(f.created_before)
        .bind(&f.state)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// One order as the list shows it (its derived state), whatever the filters.
    pub async fn bundle_line(&self, id: Uuid) -> Result<Option<BundleLine>> {
        Ok(
            sqlx::query_as(&format!("SELECT * FROM ({LINES}) x WHERE x.id = $5"))
                .bind(None::<String>)
                .bind(None::<String>)
                .bind(None::<DateTime<Utc>>)
                .bind(None::<DateTime<Utc>>)
                .bind(id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The cards: counts by state and the revenue of delivered orders, over every filter but
    /// the state (each card then narrows the list to its state).
    pub async fn bundle_stats(&self, f: &BundleFilter) -> Result<BundleStats> {
        Ok(sqlx::query_as(&format!(
            "SELECT count(*) AS total,
                 count(*) FILTER (WHERE state = 'success') AS success,
                 count(*) FILTER (WHERE state = 'failed') AS failed,
                 count(*) FILTER (WHERE state = 'pending') AS pending,
                 coalesce(sum(price_minor) FILTER (WHERE state = 'success'), 0)::bigint AS revenue_minor
             FROM ({LINES}) x"
        ))
        .bind(&f.network)
        .bind(&f.phone)
        .bind(f.created_from)
        .bind(f.created_before)
        .fetch_one(self.pool())
        .await?)
    }

    /// Every provider attempt of an order with its exchange, oldest first.
    pub async fn bundle_attempt_details(&self, order_id: Uuid) -> Result<Vec<AttemptDetail>> {
        Ok(sqlx::query_as(
            "SELECT attempt_number, max_attempts, status, provider, phone_masked, reference,
                    external_order_id, api_request, api_response, error_message, retry_after,
                    fulfilled_at, created_at
             FROM fulfillment_logs WHERE order_id = $1 ORDER BY attempt_number",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The orders linked to `order_id` by a placing again, with their codes.
    pub async fn reorder_links(&self, order_id: Uuid) -> Result<ReorderLinks> {
        Ok(sqlx::query_as(
            "SELECT o.reorder_number, o.reorder_of, p.order_code AS reorder_of_code,
                    o.reordered_as, n.order_code AS reordered_as_code
             FROM orders o
             LEFT JOIN orders p ON p.id = o.reorder_of
             LEFT JOIN orders n ON n.id = o.reordered_as
             WHERE o.id = $1",
        )
        .bind(order_id)
        .fetch_optional(self.pool())
        .await?
        .unwrap_or_default())
    }
}

/// Links a new order to the refunded one it places again, both ways, in the new saga's start
/// transaction. The original may be placed again once: a second link is a conflict, so no
/// path (a new key, a race) can place two.
pub(crate) async fn link_reorder_in(
    conn: &mut PgConnection,
    original: Uuid,
    new: Uuid,
    number: i32,
) -> Result<()> {
    let claimed = sqlx::query(
        "UPDATE orders SET reordered_as = $2 WHERE id = $1 AND reordered_as IS NULL AND status = 'failed'",
    )
    .bind(original)
    .bind(new)
    .execute(&mut *conn)
    .await?;
    if claimed.rows_affected() == 0 {
        return Err(Error::Conflict(
            "this order was placed again already, or is no longer failed".into(),
        ));
    }
    sqlx::query("UPDATE orders SET reorder_of = $1, reorder_number = $3 WHERE id = $2")
        .bind(original)
        .bind(new)
        .bind(number)
        .execute(&mut *conn)
        .await?;
    Ok(())
}
