//! Signals: webhooks and operator messages addressed to a waiting saga. Stored, deduplicated
//! and used to wake the saga in one transaction; never lost if they arrive early.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{Result, Store, WAKE_CHANNEL};
use crate::domain::storable;
use crate::engine::action::Signal;

/// A signal to store.
#[derive(Debug, Clone)]
pub struct NewSignal {
    /// The saga it is for, when the sender knows it.
    pub saga_id: Option<Uuid>,
    /// Or the provider reference it is for (for example `reseller:123`).
    pub correlation_key: Option<String>,
    pub name: String,
    /// The provider's event id; a second delivery with the same key changes nothing.
    pub dedup_key: String,
    pub payload: Value,
}

/// What happened to a delivered signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Stored for this saga, which was woken if it was waiting.
    Accepted(Uuid),
    /// Seen before; nothing changed.
    Duplicate,
    /// No saga answers to the reference yet; kept, and attached when one registers it.
    Uncorrelated,
}

/// An outbox row that goes with a signal the first time it is stored (a forward of the
/// provider's event), so the event is forwarded exactly when it is accepted.
#[derive(Debug, Clone)]
pub struct Forward {
    pub topic: &'static str,
    pub payload: Value,
}

impl Store {
    pub(crate) async fn deliver_signal(
        &self,
        s: &NewSignal,
        now: DateTime<Utc>,
    ) -> Result<Delivered> {
        self.deliver_signal_forwarding(s, None, now).await
    }

    /// [`Store::deliver_signal`], writing `forward` as an outbox row in the same transaction
    /// unless the signal is a duplicate: a provider's retry forwards nothing twice.
    pub(crate) async fn deliver_signal_forwarding(
        &self,
        s: &NewSignal,
        forward: Option<&Forward>,
        now: DateTime<Utc>,
    ) -> Result<Delivered> {
        let mut tx = self.pool.begin().await?;
        let delivered = Self::deliver_signal_in(&mut tx, s, now).await?;
        if let (Some(f), false) = (forward, delivered == Delivered::Duplicate) {
            let saga_id = match delivered {
                Delivered::Accepted(id) => Some(id),
                _ => None,
            };
            sqlx::query(
                "INSERT INTO outbox (saga_id, topic, destination, payload, next_attempt_at, created_at)
                 VALUES ($1, $2, NULL, $3, $4, $4)",
            )
            .bind(saga_id)
            .bind(f.topic)
            .bind(storable::json_ref(&f.payload).as_ref())
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(delivered)
    }

    /// [`Store::deliver_signal`] inside a caller's transaction, so the signal commits with
    /// the change it announces.
    pub(crate) async fn deliver_signal_in(
        tx: &mut PgConnection,
        s: &NewSignal,
        now: DateTime<Utc>,
    ) -> Result<Delivered> {
        // What a provider or caller sent, made storable: Postgres refuses `\u0000` in jsonb
        // and NUL in text, and a refused webhook would be sent again and refused again.
        let payload = storable::json_ref(&s.payload);
        let (name, dedup_key) = (storable::text(&s.name), storable::text(&s.dedup_key));
        let correlation_key = s.correlation_key.as_deref().map(storable::text);
        let mut saga_id = s.saga_id;
        if saga_id.is_none()
            && let Some(key) = &correlation_key
        {
            // Pairs with the lock a checkpoint takes when it registers this reference.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                .bind(key.as_ref())
                .execute(&mut *tx)
                .await?;
            saga_id = sqlx::query_scalar(
                "SELECT saga_id FROM saga_correlations WHERE correlation_key = $1",
            )
            .bind(key.as_ref())
            .fetch_optional(&mut *tx)
            .await?;
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO saga_signals (saga_id, correlation_key, name, dedup_key, payload, received_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
        )
        .bind(saga_id)
        .bind(correlation_key.as_deref())
        .bind(name.as_ref())
        .bind(dedup_key.as_ref())
        .bind(payload.as_ref())
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            return Ok(Delivered::Duplicate);
        }
        let Some(saga_id) = saga_id else {
            return Ok(Delivered::Uncorrelated);
        };
        // Bumping signal_seq takes the row lock, so a worker checkpointing its way into a
        // wait either sees this signal or is seen by it. The wake only touches a waiting saga
        // nobody holds: one a worker holds mid-poll keeps its lease as its due time, or a
        // second worker could claim it; the holder's checkpoint sees the new signal_seq and
        // lets the saga go due now.
        sqlx::query(
            "WITH u AS (
                UPDATE sagas SET signal_seq = signal_seq + 1,
                       next_run_at = CASE WHEN status = 'waiting' AND lease_owner IS NULL THEN $2
                                          ELSE next_run_at END
                WHERE id = $1 RETURNING status, lease_owner
             )
             SELECT pg_notify($3, '') FROM u WHERE status = 'waiting' AND lease_owner IS NULL",
        )
        .bind(saga_id)
        .bind(now)
        .bind(WAKE_CHANNEL)
        .execute(&mut *tx)
        .await?;
        Ok(Delivered::Accepted(saga_id))
    }

    /// The oldest unconsumed signal of that name for the saga. `name` may list alternatives
    /// separated by `|` (a step whose provider is chosen at run time waits for either).
    pub(crate) async fn pending_signal(&self, saga_id: Uuid, name: &str) -> Result<Option<Signal>> {
        let row: Option<(i64, String, Value)> = sqlx::query_as(
            "SELECT id, name, payload FROM saga_signals
             WHERE saga_id = $1 AND name = ANY(string_to_array($2, '|')) AND consumed_at IS NULL
             ORDER BY id LIMIT 1",
        )
        .bind(saga_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, name, payload)| Signal { id, name, payload }))
    }
}
