//! Starting sagas, claiming them for a worker (and the lease's heartbeat and release),
//! reading them and listing them. Writing their transitions is `checkpoint.rs`.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Error, Result, Store, WAKE_CHANNEL};
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
    /// The next attempt may have run before without its outcome being recorded.
    pub recovering: bool,
    /// When the saga became due, for queue-lag measurement.
    pub due_at: DateTime<Utc>,
    /// When the lease this claim took runs out.
    pub lease_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// A start request, after the API has parsed and checked it.
#[derive(Debug, Clone)]
pub struct NewSaga {
    pub workflow: String,
    pub workflow_version: i32,
    pub input: Value,
    pub business_key: Option<String>,
    pub idempotency_key: Option<String>,
    /// Hash of the request body, so a reused key with a different body is refused.
    pub request_hash: Option<String>,
    /// Who started it: `system`, `cron:<job>`, or the API caller.
    pub actor: String,
}

/// The starter's own rows (an order, a cron claim, a bulk job's targets), written in the
/// start's transaction right after a new saga's row, given its id and the start's time. It
/// never runs for a replayed idempotency key. An error rolls the whole start back.
pub type StartWrite = Box<
    dyn for<'c> FnOnce(&'c mut PgConnection, Uuid, DateTime<Utc>) -> BoxFuture<'c, Result<()>>
        + Send,
>;

/// The answer to a start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    Created(Uuid),
    /// The idempotency key was seen before with the same request.
    Existing(Uuid),
}

impl Started {
    pub fn id(self) -> Uuid {
        match self {
            Started::Created(id) | Started::Existing(id) => id,
        }
    }
}

/// A saga as operators see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct SagaRow {
    pub id: Uuid,
    pub workflow: String,
    pub workflow_version: i32,
    pub business_key: Option<String>,
    pub status: String,
    pub state: Value,
    pub data: Value,
    pub current_step: Option<String>,
    pub attempt: i32,
    pub next_run_at: Option<DateTime<Utc>>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub last_error: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One history entry.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct EventRow {
    pub seq: i32,
    pub step: Option<String>,
    pub kind: String,
    pub attempt: i32,
    pub detail: Value,
    pub actor: String,
    pub created_at: DateTime<Utc>,
}

/// The claim a saga started leased to this process's worker hands over: pending, at version 0.
pub(super) fn leased_at_birth(
    id: Uuid,
    new: &NewSaga,
    data: Value,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> ClaimedSaga {
    ClaimedSaga {
        id,
        workflow: new.workflow.clone(),
        workflow_version: new.workflow_version,
        state: SagaState::Pending,
        data,
        version: 0,
        signal_seq: 0,
        previous_owner: None,
        recovering: false,
        due_at: now,
        lease_until,
        created_at: now,
    }
}

const SAGA_COLUMNS: &str = "id, workflow, workflow_version, business_key, status, state, data, current_step, attempt, \
     next_run_at, lease_owner, lease_expires_at, last_error, created_at, updated_at, finished_at";

impl Store {
    /// Inserts a saga (or finds the one its idempotency key already started) and its first
    /// history event, in one statement. Product code starts sagas through
    /// `engine::Runtime::start`, which also counts, runs hooks and wakes workers; this is for
    /// the bench, which measures the store alone.
    pub async fn start_saga(&self, new: &NewSaga, now: DateTime<Utc>) -> Result<Started> {
        self.start_saga_with(new, now, None, None)
            .await
            .map(|(started, _)| started)
    }

    /// Inserts a saga, optionally already leased to `lease` (a worker in this process), and
    /// runs the starter's `write` in the same transaction when the saga is new. Without a
    /// write the insert is one autocommitted statement.
    pub(crate) async fn start_saga_with(
        &self,
        new: &NewSaga,
        now: DateTime<Utc>,
        lease: Option<(&str, DateTime<Utc>)>,
        write: Option<StartWrite>,
    ) -> Result<(Started, Option<ClaimedSaga>)> {
        let Some(write) = write else {
            let mut conn = self.pool.acquire().await?;
            return Self::insert_saga(&mut conn, new, now, lease).await;
        };
        let mut tx = self.pool.begin().await?;
        let (started, claimed) = Self::insert_saga(&mut tx, new, now, lease).await?;
        match started {
            Started::Created(id) => {
                write(&mut tx, id, now).await?;
                tx.commit().await?;
            }
            Started::Existing(_) => tx.rollback().await?,
        }
        Ok((started, claimed))
    }

    /// Starts a saga already leased to `owner` until `lease_until`, for a worker in this
    /// process to run at once: no claim round trip, no wake-up delay. A key seen before
    /// returns the existing saga and no claim (whoever holds it runs it).
    pub async fn start_saga_claimed(
        &self,
        new: &NewSaga,
        now: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<(Started, Option<ClaimedSaga>)> {
        self.start_saga_with(new, now, Some((owner, lease_until)), None)
            .await
    }

    async fn insert_saga(
        conn: &mut PgConnection,
        new: &NewSaga,
        now: DateTime<Utc>,
        lease: Option<(&str, DateTime<Utc>)>,
    ) -> Result<(Started, Option<ClaimedSaga>)> {
        let id = Uuid::now_v7();
        let data = json!({ "input": new.input, "steps": {} });
        let state =
            serde_json::to_value(SagaState::Pending).map_err(|e| Error::Corrupt(e.to_string()))?;
        let detail = json!({ "workflow": new.workflow, "version": new.workflow_version });
        let inserted: Option<Uuid> = sqlx::query_scalar(
            "WITH ins AS (
                INSERT INTO sagas (id, workflow, workflow_version, business_key, idempotency_key, request_hash,
                                   status, state, data, attempt, next_run_at, event_seq, created_at, updated_at,
                                   lease_owner, lease_expires_at)
                VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, 0, COALESCE($14, $9), 1, $9, $9, $13, $14)
                ON CONFLICT (idempotency_key) DO NOTHING
                RETURNING id
             ), ev AS (
                INSERT INTO saga_events (saga_id, seq, kind, detail, actor, created_at)
                SELECT id, 1, 'saga_created', $10, $11, $9 FROM ins
             ), wake AS (
                -- A saga leased at birth is run by its starter; nobody else needs waking.
                SELECT pg_notify($12, '') AS n FROM ins WHERE $13::text IS NULL
             )
             SELECT ins.id FROM ins LEFT JOIN wake ON true",
        )
        .bind(id)
        .bind(&new.workflow)
        .bind(new.workflow_version)
        .bind(&new.business_key)
        .bind(&new.idempotency_key)
        .bind(&new.request_hash)
        .bind(&state)
        .bind(&data)
        .bind(now)
        .bind(&detail)
        .bind(&new.actor)
        .bind(WAKE_CHANNEL)
        .bind(lease.map(|(owner, _)| owner))
        .bind(lease.map(|(_, until)| until))
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(id) = inserted {
            let claimed =
                lease.map(|(_, lease_until)| leased_at_birth(id, new, data, now, lease_until));
            return Ok((Started::Created(id), claimed));
        }
        let (existing, hash): (Uuid, Option<String>) =
            sqlx::query_as("SELECT id, request_hash FROM sagas WHERE idempotency_key = $1")
                .bind(&new.idempotency_key)
                .fetch_one(&mut *conn)
                .await?;
        if hash == new.request_hash {
            Ok((Started::Existing(existing), None))
        } else {
            Err(Error::IdempotencyConflict { saga_id: existing })
        }
    }

    /// Whether saga `id` was started by the request that hashes to `request_hash`: a start
    /// whose own key is not the caller's (a family's, derived from its order) tells the
    /// caller's repeat from another request by the hash alone.
    pub async fn started_by_request(&self, id: Uuid, request_hash: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sagas WHERE id = $1 AND request_hash = $2)",
        )
        .bind(id)
        .bind(request_hash)
        .fetch_one(&self.pool)
        .await?)
    }

    pub(crate) async fn get_saga(&self, id: Uuid) -> Result<SagaRow> {
        sqlx::query_as::<_, SagaRow>(&format!("SELECT {SAGA_COLUMNS} FROM sagas WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)
    }

    pub async fn history(&self, id: Uuid) -> Result<Vec<EventRow>> {
        Ok(sqlx::query_as::<_, EventRow>(
            "SELECT seq, step, kind, attempt, detail, actor, created_at FROM saga_events WHERE saga_id = $1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }
}

/// The lease: a worker claims due sagas, extends the lease while a long step runs, and gives
/// sagas back when it stops. Every write after the claim is fenced by `(lease_owner, version)`.
impl Store {
    /// Claims up to `limit` due sagas for `owner` until `lease_until`, in one statement that
    /// commits before any action runs. An expired lease is due again: this query is also the
    /// lease reaper. It takes a lease over only half a lease after it ran out, not at once: a
    /// provider call its holder sent before then has that long to land before the new holder
    /// looks for it (see docs/architecture.md, "No step outlives its lease").
    pub async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ClaimedSaga>> {
        let taken_over_before = now - (lease_until - now) / 2;
        let rows = sqlx::query(
            "WITH due AS (
                SELECT id, lease_owner AS prev_owner, next_run_at AS due_at FROM sagas
                WHERE next_run_at <= $1 AND (lease_owner IS NULL OR next_run_at <= $5)
                ORDER BY next_run_at
                LIMIT $2
                FOR UPDATE SKIP LOCKED
             )
             UPDATE sagas s SET lease_owner = $3, lease_expires_at = $4, next_run_at = $4, version = s.version + 1,
                    -- A lease still on the row at a claim has expired: its holder died mid-step.
                    recovering = s.recovering OR due.prev_owner IS NOT NULL
             FROM due WHERE s.id = due.id
             RETURNING s.id, s.workflow, s.workflow_version, s.state, s.data, s.version, s.signal_seq,
                       due.prev_owner, s.recovering, due.due_at, s.created_at",
        )
        .bind(now)
        .bind(limit)
        .bind(owner)
        .bind(lease_until)
        .bind(taken_over_before)
        // Planned afresh each time, never from a cached generic plan: one made while the
        // table was small joins through a sequential scan of `sagas` for good (seen in the
        // bench with autovacuum off), which costs a scan of the whole table per claim.
        .persistent(false)
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
                    recovering: r.try_get("recovering")?,
                    due_at: r.try_get("due_at")?,
                    lease_until,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
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

    /// Gives a saga back, due at `now`, without a state change (graceful shutdown). Only
    /// between attempts: a step cut short goes back through [`Store::release_interrupted`].
    pub async fn release(
        &self,
        id: Uuid,
        owner: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.release_marked(id, owner, version, now, false).await
    }

    /// Gives back a saga whose step was cut short (a drain that ran out of time): its next
    /// run is marked as a recovery, as the step may have acted.
    pub async fn release_interrupted(
        &self,
        id: Uuid,
        owner: &str,
        version: i64,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.release_marked(id, owner, version, now, true).await
    }

    async fn release_marked(
        &self,
        id: Uuid,
        owner: &str,
        version: i64,
        now: DateTime<Utc>,
        interrupted: bool,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE sagas SET lease_owner = NULL, lease_expires_at = NULL, next_run_at = $4,
                              recovering = recovering OR $5
             WHERE id = $1 AND lease_owner = $2 AND version = $3",
        )
        .bind(id)
        .bind(owner)
        .bind(version)
        .bind(now)
        .bind(interrupted)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Makes the sagas a provider gate deferred on `provider` due at `now`: after a resume
    /// they go on at once rather than when their deferral ends. Only unleased ones; a saga a
    /// worker holds is that worker's to schedule. Returns how many were woken.
    pub async fn wake_held(&self, provider: &str, now: DateTime<Utc>) -> Result<u64> {
        let woken = sqlx::query(
            "UPDATE sagas SET next_run_at = $2
             WHERE next_run_at > $2 AND lease_owner IS NULL
               AND last_error->>'code' = 'provider_held'
               AND starts_with(last_error->>'message', $1 || ': ')",
        )
        .bind(provider)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(woken.rows_affected())
    }
}
