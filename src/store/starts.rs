//! Many sagas started in one statement, the group commit of starts: each row with its first
//! history event, leased at birth to this process's worker or left due now for any worker.
//! A start whose idempotency key was seen before is left out here; the caller answers it
//! through the single start, which finds the earlier saga or refuses the reuse.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use super::sagas::leased_at_birth;
use super::{Error, Result, Store, WAKE_CHANNEL};
use crate::engine::lifecycle::SagaState;
use crate::store::{ClaimedSaga, NewSaga};

/// One start in a batch.
pub struct BatchStart<'a> {
    pub new: &'a NewSaga,
    pub now: DateTime<Utc>,
    /// The worker in this process that runs it at once, and until when.
    pub lease: Option<(&'a str, DateTime<Utc>)>,
}

/// The same row and first event as the single start's statement, one input row per saga.
/// At most one NOTIFY per batch: a wake-up says "look", however many are due.
const BATCH_START_SQL: &str = "
WITH input AS (
    SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[], $7::jsonb[],
                         $8::timestamptz[], $9::jsonb[], $10::text[], $11::text[], $12::timestamptz[])
        AS t(id, workflow, workflow_version, business_key, idempotency_key, request_hash, data, now, detail,
             actor, owner, lease_until)
), ins AS (
    INSERT INTO sagas (id, workflow, workflow_version, business_key, idempotency_key, request_hash,
                       status, state, data, attempt, next_run_at, event_seq, created_at, updated_at,
                       lease_owner, lease_expires_at)
    SELECT id, workflow, workflow_version, business_key, idempotency_key, request_hash, 'pending', $13,
           data, 0, COALESCE(lease_until, now), 1, now, now, owner, lease_until
    FROM input
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, lease_owner
), ev AS (
    INSERT INTO saga_events (saga_id, seq, kind, detail, actor, created_at)
    SELECT i.id, 1, 'saga_created', i.detail, i.actor, i.now FROM input i JOIN ins USING (id)
), wake AS (
    SELECT pg_notify($14, '') FROM ins WHERE lease_owner IS NULL LIMIT 1
)
SELECT ins.id FROM ins LEFT JOIN wake ON true";

impl Store {
    /// Starts every saga of `batch` whose idempotency key is new, in one statement and one
    /// commit. Answers in the input's order: the new id and, when leased, the claim to hand
    /// over; `None` where the key was seen before (in the table, or earlier in the batch).
    pub(crate) async fn start_batch(
        &self,
        batch: &[BatchStart<'_>],
    ) -> Result<Vec<Option<(Uuid, Option<ClaimedSaga>)>>> {
        let n = batch.len();
        let ids: Vec<Uuid> = (0..n).map(|_| Uuid::now_v7()).collect();
        let datas: Vec<_> = batch
            .iter()
            .map(|s| json!({ "input": s.new.input, "steps": {} }))
            .collect();
        let details: Vec<_> = batch
            .iter()
            .map(|s| json!({ "workflow": s.new.workflow, "version": s.new.workflow_version }))
            .collect();
        let state =
            serde_json::to_value(SagaState::Pending).map_err(|e| Error::Corrupt(e.to_string()))?;
        let rows = sqlx::query(BATCH_START_SQL)
            .bind(&ids)
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.workflow.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.workflow_version)
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.business_key.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.idempotency_key.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.request_hash.as_deref())
                    .collect::<Vec<_>>(),
            )
            .bind(&datas)
            .bind(batch.iter().map(|s| s.now).collect::<Vec<_>>())
            .bind(&details)
            .bind(
                batch
                    .iter()
                    .map(|s| s.new.actor.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.lease.map(|(owner, _)| owner))
                    .collect::<Vec<_>>(),
            )
            .bind(
                batch
                    .iter()
                    .map(|s| s.lease.map(|(_, until)| until))
                    .collect::<Vec<_>>(),
            )
            .bind(&state)
            .bind(WAKE_CHANNEL)
            .fetch_all(&self.pool)
            .await?;
        let mut inserted = std::collections::HashSet::with_capacity(rows.len());
        for r in rows {
            inserted.insert(r.try_get::<Uuid, _>(0)?);
        }
        Ok(batch
            .iter()
            .zip(ids)
            .zip(datas)
            .map(|((s, id), data)| {
                inserted.contains(&id).then(|| {
                    let claimed = s
                        .lease
                        .map(|(_, until)| leased_at_birth(id, s.new, data, s.now, until));
                    (id, claimed)
                })
            })
            .collect())
    }
}
