//! The worker's side of the store: claim due sagas in a batch, checkpoint each transition in
//! one fenced statement, heartbeat long steps, and release leases on shutdown.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Error, Result, Store, WAKE_CHANNEL};
use crate::engine::action::Effects;
use crate::engine::lifecycle::SagaState;

/// A saga a worker holds the lease on.
#[derive(Debug, Clone)]
pub struct ClaimedSaga {
    pub id: Uuid,
    pub workflow: String,
    pub workflow_version: i32,
    pub state: SagaState,
    pub data: Value,
    /// The fence: every later write must match it.
    pub version: i64,
    pub signal_seq: i64,
    /// Set when another worker's lease had expired: a crash being recovered.
    pub previous_owner: Option<String>,
    /// When the saga became due, for queue-lag measurement.
    pub due_at: DateTime<Utc>,
    /// When the lease this claim took runs out.
    pub lease_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A history entry to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub step: Option<String>,
    pub kind: String,
    pub attempt: i32,
    pub detail: Value,
}

/// One transition, written in one transaction.
pub struct Checkpoint {
    pub saga_id: Uuid,
    pub owner: String,
    /// The version the worker last saw; a mismatch means the saga was taken over.
    pub version: i64,
    pub state: SagaState,
    pub data: Value,
    pub current_step: Option<String>,
    pub attempt: i32,
    /// `Some(t)`: due at `t`, lease released. `None`: nothing due (waits for an event).
    pub next_run_at: Option<DateTime<Utc>>,
    /// Keep the lease and go on running. `next_run_at`, when set, is then the new lease
    /// expiry; when `None` the lease is left as it is, so the update touches no indexed
    /// column and Postgres can write it as a HOT update.
    pub keep_lease: bool,
    /// Entering a wait: the signal name and the signal counter seen at claim. If a signal
    /// came in meanwhile, the saga is made due now instead of sleeping until the timeout.
    pub wait_guard: Option<(String, i64)>,
    pub last_error: Option<Value>,
    pub events: Vec<NewEvent>,
    pub consume_signal: Option<i64>,
    pub effects: Effects,
    pub now: DateTime<Utc>,
}

/// What a checkpoint that passed its fence leaves behind.
#[derive(Debug, Clone, Copy)]
pub struct Committed {
    pub version: i64,
    pub signal_seq: i64,
}

const CHECKPOINT_SQL: &str = "
WITH u AS (
    UPDATE sagas SET
        status = $3, state = $4, data = $5, current_step = $6, attempt = $7,
        next_run_at = CASE
            WHEN $11::bool THEN COALESCE($10, next_run_at)
            WHEN $8::text IS NOT NULL AND (
                    signal_seq <> $9
                 OR EXISTS (SELECT 1 FROM saga_signals g
                            WHERE g.saga_id = $1 AND g.name = ANY(string_to_array($8, '|')) AND g.consumed_at IS NULL)
                 OR EXISTS (SELECT 1 FROM saga_signals g
                            WHERE g.saga_id IS NULL AND g.correlation_key = ANY($17::text[])))
                THEN $12
            ELSE $10 END,
        lease_owner = CASE WHEN $11::bool THEN lease_owner ELSE NULL END,
        lease_expires_at = CASE WHEN $11::bool THEN COALESCE($10, lease_expires_at) ELSE NULL END,
        version = version + 1,
        event_seq = event_seq + cardinality($14::text[]),
        last_error = $13,
        updated_at = $12,
        finished_at = CASE WHEN $21::bool THEN $12 ELSE NULL END
    WHERE id = $1 AND version = $2 AND lease_owner = $22
    RETURNING id, version, event_seq, signal_seq, next_run_at
), ev AS (
    INSERT INTO saga_events (saga_id, seq, step, kind, attempt, detail, actor, created_at)
    SELECT u.id, u.event_seq - cardinality($14::text[]) + e.ord::int, e.step, e.kind, e.attempt, e.detail, 'system', $12
    FROM u, UNNEST($14::text[], $15::text[], $16::int[], $18::jsonb[]) WITH ORDINALITY AS e(kind, step, attempt, detail, ord)
), ob AS (
    INSERT INTO outbox (saga_id, topic, destination, payload, next_attempt_at, created_at)
    SELECT u.id, o.topic, o.destination, o.payload, $12, $12
    FROM u, UNNEST($23::text[], $24::text[], $25::jsonb[]) AS o(topic, destination, payload)
), corr AS (
    INSERT INTO saga_correlations (correlation_key, saga_id, created_at)
    SELECT k, u.id, $12 FROM u, UNNEST($17::text[]) AS k
    ON CONFLICT (correlation_key) DO NOTHING
), attach AS (
    UPDATE saga_signals g SET saga_id = u.id FROM u
    WHERE g.saga_id IS NULL AND g.correlation_key = ANY($17::text[])
), consumed AS (
    UPDATE saga_signals g SET consumed_at = $12 FROM u WHERE g.id = $19 AND g.saga_id = u.id
), wake AS (
    SELECT pg_notify($20, '') FROM u WHERE NOT $11::bool AND u.next_run_at <= $12
)
SELECT u.version, u.signal_seq FROM u LEFT JOIN wake ON true";

impl Store {
    /// Claims up to `limit` due sagas for `owner` until `lease_until`, in one statement that
    /// commits before any action runs. An expired lease is simply due again: this query is
    /// also the lease reaper.
    pub async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedSaga>> {
        let rows = sqlx::query(
            "WITH due AS (
                SELECT id, lease_owner AS prev_owner, next_run_at AS due_at FROM sagas
                WHERE next_run_at <= $1
                ORDER BY next_run_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
             )
             UPDATE sagas s SET lease_owner = $3, lease_expires_at = $4, next_run_at = $4, version = s.version + 1
             FROM due WHERE s.id = due.id
             RETURNING s.id, s.workflow, s.workflow_version, s.state, s.data, s.version, s.signal_seq,
                       due.prev_owner, due.due_at, s.created_at",
        )
        .bind(now)
        .bind(limit)
        .bind(owner)
        .bind(lease_until)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let state: Value = r.try_get("state")?;
                Ok(ClaimedSaga {
                    id: r.try_get("id")?,
                    workflow: r.try_get("workflow")?,
                    workflow_version: r.try_get("workflow_version")?,
                    state: serde_json::from_value(state)
                        .map_err(|e| Error::Corrupt(e.to_string()))?,
                    data: r.try_get("data")?,
                    version: r.try_get("version")?,
                    signal_seq: r.try_get("signal_seq")?,
                    previous_owner: r.try_get("prev_owner")?,
                    due_at: r.try_get("due_at")?,
                    lease_until,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Writes one transition. `Ok(None)` means the fence failed: the lease was lost or an
    /// operator acted, and the result is dropped.
    pub async fn checkpoint(&self, mut cp: Checkpoint) -> Result<Option<Committed>> {
        let writes = std::mem::take(&mut cp.effects.writes);
        let needs_tx = !writes.is_empty() || !cp.effects.correlations.is_empty();
        if !needs_tx {
            let mut conn = self.pool.acquire().await?;
            return run_checkpoint(&mut conn, &cp).await;
        }
        let mut tx = self.pool.begin().await?;
        if !cp.effects.correlations.is_empty() {
            // Serialises with webhook delivery on the same references, so a signal that is
            // being stored right now is either seen here or finds this saga's correlation.
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext(k)) FROM (SELECT unnest($1::text[]) AS k ORDER BY 1) keys")
                .bind(&cp.effects.correlations)
                .execute(&mut *tx)
                .await?;
        }
        let committed = run_checkpoint(&mut tx, &cp).await?;
        if committed.is_none() {
            tx.rollback().await?;
            return Ok(None);
        }
        for write in writes {
            write(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(committed)
    }

    /// Extends a lease while a long step runs. False when the lease is no longer ours.
    pub async fn heartbeat(
        &self,
        id: Uuid,
        owner: &str,
        version: i64,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sagas SET lease_expires_at = $4, next_run_at = $4
             WHERE id = $1 AND lease_owner = $2 AND version = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(version)
        .bind(lease_until)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Gives a saga back, due now, without a state change (graceful shutdown).
    pub async fn release(
        &self,
        id: Uuid,
        owner: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL, next_run_at = $4
             WHERE id = $1 AND lease_owner = $2 AND version = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(version)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

async fn run_checkpoint(conn: &mut PgConnection, cp: &Checkpoint) -> Result<Option<Committed>> {
    let state = serde_json::to_value(&cp.state).map_err(|e| Error::Corrupt(e.to_string()))?;
    let keep = cp.keep_lease;
    let next = cp.next_run_at;
    let (guard_signal, seen_seq) = match &cp.wait_guard {
        Some((name, seq)) => (Some(name.as_str()), *seq),
        None => (None, 0),
    };
    let kinds: Vec<&str> = cp.events.iter().map(|e| e.kind.as_str()).collect();
    let steps: Vec<Option<&str>> = cp.events.iter().map(|e| e.step.as_deref()).collect();
    let attempts: Vec<i32> = cp.events.iter().map(|e| e.attempt).collect();
    let details: Vec<&Value> = cp.events.iter().map(|e| &e.detail).collect();
    let topics: Vec<&str> = cp.effects.outbox.iter().map(|o| o.topic.as_str()).collect();
    let destinations: Vec<Option<&str>> = cp
        .effects
        .outbox
        .iter()
        .map(|o| o.destination.as_deref())
        .collect();
    let payloads: Vec<&Value> = cp.effects.outbox.iter().map(|o| &o.payload).collect();
    let row = sqlx::query(CHECKPOINT_SQL)
        .bind(cp.saga_id) // $1
        .bind(cp.version) // $2
        .bind(cp.state.status()) // $3
        .bind(&state) // $4
        .bind(&cp.data) // $5
        .bind(&cp.current_step) // $6
        .bind(cp.attempt) // $7
        .bind(guard_signal) // $8
        .bind(seen_seq) // $9
        .bind(next) // $10
        .bind(keep) // $11
        .bind(cp.now) // $12
        .bind(&cp.last_error) // $13
        .bind(&kinds) // $14
        .bind(&steps) // $15
        .bind(&attempts) // $16
        .bind(&cp.effects.correlations) // $17
        .bind(&details) // $18
        .bind(cp.consume_signal) // $19
        .bind(WAKE_CHANNEL) // $20
        .bind(cp.state.is_terminal()) // $21
        .bind(&cp.owner) // $22
        .bind(&topics) // $23
        .bind(&destinations) // $24
        .bind(&payloads) // $25
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => Ok(Some(Committed {
            version: r.try_get(0)?,
            signal_seq: r.try_get(1)?,
        })),
        None => Ok(None),
    }
}

/// Many sagas' lean checkpoints (no effects, no wait, no signal) in one statement: one
/// commit for the whole batch. Each row is fenced on its own; a fenced row is simply absent
/// from the answer.
const BATCH_SQL: &str = "
WITH input AS (
    SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::jsonb[], $5::jsonb[], $6::text[], $7::int[],
                         $8::timestamptz[], $9::bool[], $10::jsonb[], $11::bool[], $12::text[], $13::int[],
                         $14::timestamptz[])
        AS t(id, version, status, state, data, current_step, attempt, next_run_at, keep, last_error, finished,
             owner, n_events, now)
), u AS (
    UPDATE sagas s SET
        status = i.status, state = i.state, data = i.data, current_step = i.current_step, attempt = i.attempt,
        next_run_at = CASE WHEN i.keep THEN COALESCE(i.next_run_at, s.next_run_at) ELSE i.next_run_at END,
        lease_owner = CASE WHEN i.keep THEN s.lease_owner ELSE NULL END,
        lease_expires_at = CASE WHEN i.keep THEN COALESCE(i.next_run_at, s.lease_expires_at) ELSE NULL END,
        version = s.version + 1,
        event_seq = s.event_seq + i.n_events,
        last_error = i.last_error,
        updated_at = i.now,
        finished_at = CASE WHEN i.finished THEN i.now ELSE NULL END
    FROM input i
    WHERE s.id = i.id AND s.version = i.version AND s.lease_owner = i.owner
    RETURNING s.id, s.version, s.event_seq, s.signal_seq, s.next_run_at, i.n_events, i.now, i.keep
), ev AS (
    INSERT INTO saga_events (saga_id, seq, step, kind, attempt, detail, actor, created_at)
    SELECT u.id, u.event_seq - u.n_events + e.ord, e.step, e.kind, e.attempt, e.detail, 'system', u.now
    FROM u JOIN UNNEST($15::uuid[], $16::int[], $17::text[], $18::text[], $19::int[], $20::jsonb[])
                AS e(saga_id, ord, step, kind, attempt, detail) ON e.saga_id = u.id
), wake AS (
    SELECT pg_notify($21, '') FROM u WHERE NOT u.keep AND u.next_run_at <= u.now LIMIT 1
)
SELECT u.id, u.version, u.signal_seq FROM u LEFT JOIN wake ON true";

impl Checkpoint {
    /// True when the checkpoint can ride in a batch: nothing but the saga row and its events.
    pub fn is_lean(&self) -> bool {
        self.effects.is_empty() && self.wait_guard.is_none() && self.consume_signal.is_none()
    }
}

impl Store {
    /// Writes lean checkpoints of several sagas in one statement (group commit). Answers in the
    /// input's order; `None` where the fence failed.
    pub async fn checkpoint_batch(&self, cps: &[Checkpoint]) -> Result<Vec<Option<Committed>>> {
        let mut ids = Vec::with_capacity(cps.len());
        let mut versions = Vec::with_capacity(cps.len());
        let mut statuses = Vec::with_capacity(cps.len());
        let mut states = Vec::with_capacity(cps.len());
        let mut datas = Vec::with_capacity(cps.len());
        let mut steps = Vec::with_capacity(cps.len());
        let mut attempts = Vec::with_capacity(cps.len());
        let mut nexts = Vec::with_capacity(cps.len());
        let mut keeps = Vec::with_capacity(cps.len());
        let mut errors = Vec::with_capacity(cps.len());
        let mut finished = Vec::with_capacity(cps.len());
        let mut owners = Vec::with_capacity(cps.len());
        let mut n_events = Vec::with_capacity(cps.len());
        let mut nows = Vec::with_capacity(cps.len());
        let (mut e_saga, mut e_ord, mut e_step, mut e_kind, mut e_attempt, mut e_detail) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for cp in cps {
            ids.push(cp.saga_id);
            versions.push(cp.version);
            statuses.push(cp.state.status());
            states
                .push(serde_json::to_value(&cp.state).map_err(|e| Error::Corrupt(e.to_string()))?);
            datas.push(&cp.data);
            steps.push(cp.current_step.as_deref());
            attempts.push(cp.attempt);
            nexts.push(cp.next_run_at);
            keeps.push(cp.keep_lease);
            errors.push(cp.last_error.as_ref());
            finished.push(cp.state.is_terminal());
            owners.push(cp.owner.as_str());
            n_events.push(cp.events.len() as i32);
            nows.push(cp.now);
            for (i, e) in cp.events.iter().enumerate() {
                e_saga.push(cp.saga_id);
                e_ord.push(i as i32 + 1);
                e_step.push(e.step.as_deref());
                e_kind.push(e.kind.as_str());
                e_attempt.push(e.attempt);
                e_detail.push(&e.detail);
            }
        }
        let rows = sqlx::query(BATCH_SQL)
            .bind(&ids)
            .bind(&versions)
            .bind(&statuses)
            .bind(&states)
            .bind(&datas)
            .bind(&steps)
            .bind(&attempts)
            .bind(&nexts)
            .bind(&keeps)
            .bind(&errors)
            .bind(&finished)
            .bind(&owners)
            .bind(&n_events)
            .bind(&nows)
            .bind(&e_saga)
            .bind(&e_ord)
            .bind(&e_step)
            .bind(&e_kind)
            .bind(&e_attempt)
            .bind(&e_detail)
            .bind(WAKE_CHANNEL)
            .fetch_all(&self.pool)
            .await?;
        let mut done = std::collections::HashMap::with_capacity(rows.len());
        for r in rows {
            let id: Uuid = r.try_get(0)?;
            done.insert(
                id,
                Committed {
                    version: r.try_get(1)?,
                    signal_seq: r.try_get(2)?,
                },
            );
        }
        Ok(ids.iter().map(|id| done.get(id).copied()).collect())
    }
}
