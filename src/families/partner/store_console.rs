//! Partner orders as the console reads them: a page of orders with their licence, and an
//! order's outbound webhooks (its own saga's, and its licence's expiry reminders' and expiry
//! notice) with every delivery attempt.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use crate::store::{Result, Store};

/// One row of the console's partner order list.
#[derive(Debug, Clone, FromRow)]
pub struct PartnerOrderLine {
    pub id: Uuid,
    pub partner_id: String,
    pub order_id: String,
    pub product_id: String,
    pub tenure: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_on: Option<NaiveDate>,
    pub licence_status: Option<String>,
}

/// An outbound webhook of an order: its outbox row.
#[derive(Debug, Clone, FromRow)]
pub struct WebhookRow {
    pub id: i64,
    pub saga_id: Option<Uuid>,
    pub topic: String,
    pub payload: Value,
    pub status: String,
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One delivery attempt of a webhook, with the receiver's answer: its status code and, when
/// it refused, the error that quotes its body (cut to a snippet when recorded).
#[derive(Debug, Clone, FromRow)]
pub struct WebhookAttempt {
    pub outbox_id: i64,
    pub attempt: i32,
    pub outcome: String,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The statuses a partner order can have (the filter refuses others).
pub const ORDER_STATUSES: &[&str] = &["PROCESSING", "FULFILLED", "FAILED"];

impl Store {
    /// Newest first, after the `(created_at, id)` cursor, optionally of one status.
    pub async fn partner_order_lines(
        &self,
        status: Option<&str>,
        after: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<PartnerOrderLine>> {
        Ok(sqlx::query_as(
            "SELECT o.id, o.partner_id, o.order_id, o.product_id, o.tenure, o.status, o.created_at,
                    l.expires_on, l.status AS licence_status
             FROM partner_orders o LEFT JOIN licences l ON l.partner_order_id = o.id
             WHERE ($1::text IS NULL OR o.status = $1)
               AND ($2::timestamptz IS NULL OR (o.created_at, o.id) < ($2, $3))
             ORDER BY o.created_at DESC, o.id DESC LIMIT $4",
        )
        .bind(status)
        .bind(after.map(|a| a.0))
        .bind(after.map(|a| a.1))
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The order's webhooks, oldest first, and all their attempts in order: its own saga's,
    /// and its licence's expiry reminders and expiry notice (a cron run's saga sends those
    /// for many licences, so only the ones whose event id names this licence).
    pub async fn partner_order_webhooks(
        &self,
        order_saga: Uuid,
        licence_id: Option<i64>,
    ) -> Result<(Vec<WebhookRow>, Vec<WebhookAttempt>)> {
        let rows: Vec<WebhookRow> = sqlx::query_as(
            "SELECT id, saga_id, topic, payload, status, attempts, created_at, delivered_at
             FROM outbox
             WHERE saga_id = $1
                OR (saga_id IN (SELECT saga_id FROM licence_reminders
                                WHERE licence_id = $2 AND saga_id IS NOT NULL)
                    AND payload->>'event_id' LIKE 'expiry:' || $2 || ':%')
                OR (saga_id IN (SELECT saga_id FROM licence_expiries
                                WHERE licence_id = $2 AND saga_id IS NOT NULL)
                    AND payload->>'event_id' LIKE 'expired:' || $2 || ':%')
             ORDER BY id",
        )
        .bind(order_saga)
        .bind(licence_id)
        .fetch_all(self.pool())
        .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let attempts = sqlx::query_as(
            "SELECT outbox_id, attempt, outcome, status_code, latency_ms, error, created_at
             FROM outbox_deliveries WHERE outbox_id = ANY($1) ORDER BY outbox_id, id",
        )
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        Ok((rows, attempts))
    }
}
