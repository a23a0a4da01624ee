//! The outbox: rows written in checkpoint transactions, claimed here for delivery, with a log
//! of every attempt and a replay operation.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::{Error, Result, Store};
use crate::domain::storable;

/// An outbox row claimed for one delivery attempt.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct OutboxItem {
    pub id: i64,
    pub saga_id: Option<Uuid>,
    pub topic: String,
    pub destination: Option<String>,
    pub payload: Value,
    /// This attempt's number, from 1.
    pub attempts: i32,
    pub status: String,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// One logged attempt.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DeliveryRow {
    pub attempt: i32,
    pub outcome: String,
    pub status_code: Option<i32>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What to record after an attempt.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub outcome: &'static str,
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    pub error: Option<String>,
    /// `Some` to try again then; `None` with a non-delivered outcome parks the row as `dead`.
    pub retry_at: Option<DateTime<Utc>>,
}

/// How much of a failed delivery's error is kept and shown.
const ERROR_SNIPPET_CHARS: usize = 300;

/// The first `max` characters of `text`, with `…` when it was cut.
fn snippet(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]).into(),
        None => text.into(),
    }
}

const ITEM_COLUMNS: &str = "id, saga_id, topic, destination, payload, attempts, status, last_error, created_at, delivered_at";

impl Store {
    /// Claims due rows; each claim pushes `next_attempt_at` to `lease_until`, so a relay that
    /// dies mid-delivery only delays the row.
    pub(crate) async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        Ok(sqlx::query_as::<_, OutboxItem>(&format!(
            "UPDATE outbox SET next_attempt_at = $2, attempts = attempts + 1
             WHERE id IN (SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= $1
                          ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING {ITEM_COLUMNS}"
        ))
        .bind(now)
        .bind(lease_until)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Logs an attempt and moves the row on: delivered, due again, or dead.
    pub(crate) async fn record_delivery(
        &self,
        item: &OutboxItem,
        rec: &AttemptRecord,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let status = match (rec.outcome, rec.retry_at) {
            ("delivered", _) => "delivered",
            (_, Some(_)) => "pending",
            _ => "dead",
        };
        // A handler's error text often quotes the receiver's answer; Postgres refuses a NUL
        // in text, and a refused log would leave the row to its lease forever.
        // And only a snippet: `/v1/outbox` shows it, and a receiver's error page is theirs.
        let error = rec
            .error
            .as_deref()
            .map(|e| storable::text(&snippet(e, ERROR_SNIPPET_CHARS)).into_owned());
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO outbox_deliveries (outbox_id, attempt, outcome, status_code, latency_ms, error, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(item.id)
        .bind(item.attempts)
        .bind(rec.outcome)
        .bind(rec.status_code.map(i32::from))
        .bind(i64::try_from(rec.latency_ms).unwrap_or(i64::MAX))
        .bind(error.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE outbox SET status = $2, next_attempt_at = COALESCE($3, next_attempt_at), last_error = $4,
                    delivered_at = CASE WHEN $2 = 'delivered' THEN $5 ELSE delivered_at END
             WHERE id = $1",
        )
        .bind(item.id)
        .bind(status)
        .bind(rec.retry_at)
        .bind(error.as_deref())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Sets a row pending and due now, whatever its status (a `dead` row gets another go, a
    /// delivered one is sent again) and, for a row a saga wrote, records who replayed it and
    /// why in the saga's audit trail, in the same transaction.
    pub(crate) async fn replay_outbox_audited(
        &self,
        id: i64,
        actor: &super::Actor,
        now: DateTime<Utc>,
    ) -> Result<OutboxItem> {
        let mut tx = self.pool.begin().await?;
        let before: Option<(Option<Uuid>, String)> =
            sqlx::query_as("SELECT saga_id, status FROM outbox WHERE id = $1 FOR UPDATE")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let (saga_id, from) = before.ok_or(Error::NotFound)?;
        let item = sqlx::query_as::<_, OutboxItem>(&format!(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $2 WHERE id = $1 RETURNING {ITEM_COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        if let Some(saga_id) = saga_id {
            let action = format!("outbox_replay:{id}");
            super::audit::insert_audit_in(
                &mut tx,
                saga_id,
                &action,
                actor,
                (&from, "pending"),
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(item)
    }

    pub(crate) async fn outbox_item(&self, id: i64) -> Result<(OutboxItem, Vec<DeliveryRow>)> {
        let item = sqlx::query_as::<_, OutboxItem>(&format!(
            "SELECT {ITEM_COLUMNS} FROM outbox WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        let log = sqlx::query_as::<_, DeliveryRow>(
            "SELECT attempt, outcome, status_code, latency_ms, error, created_at
             FROM outbox_deliveries WHERE outbox_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        Ok((item, log))
    }

    /// Rows of a saga, or of a status, newest first.
    pub(crate) async fn list_outbox(
        &self,
        saga_id: Option<Uuid>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<OutboxItem>> {
        Ok(sqlx::query_as::<_, OutboxItem>(&format!(
            "SELECT {ITEM_COLUMNS} FROM outbox
             WHERE ($1::uuid IS NULL OR saga_id = $1) AND ($2::text IS NULL OR status = $2)
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(saga_id)
        .bind(status)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::snippet;

    #[test]
    fn errors_are_cut_to_a_snippet_on_a_character_boundary() {
        assert_eq!(snippet("short", 300), "short");
        let long = "é".repeat(400);
        let cut = snippet(&long, 300);
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
    }
}
