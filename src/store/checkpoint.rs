//! Step 5 of a saga's flow: the one transition writer. It applies the `SagaRowUpdate` that
//! `engine::transition` built, with its history events and what commits with them, in one
//! fenced statement: a worker's checkpoint alone or batched with others (group commit), or an
//! operator's action under a row lock (`audit.rs`). Claims and leases are in `sagas.rs`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{Error, Result, Store, WAKE_CHANNEL};
use crate::engine::action::{Effects, OutboxRow};
use crate::engine::transition::{Due, LastError, SagaRowUpdate};

/// A history entry to append.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub step: Option<String>,
    pub kind: String,
    pub attempt: i32,
    pub detail: Value,
}

/// A worker's fence: every write after the claim must match the owner and the version the
/// worker last saw, or it was taken over (lease expired, an operator acted) and is dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub version: i64,
}

/// One worker transition, written in one transaction: the row update, its history events and
/// whatever the step hands back to commit with it.
pub struct Checkpoint {
    pub saga_id: Uuid,
    pub lease: Lease,
    /// Built by `engine::transition::row_update`: the saga-row rules live there.
    pub row: SagaRowUpdate,
    pub events: Vec<NewEvent>,
    /// The signal a waiting step has just read, marked consumed with the transition.
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

/// How the one writer knows the row is still the writer's to change.
pub(super) enum Fence<'a> {
    /// A worker's write: only while it still holds the lease at this version.
    Lease(&'a Lease),
    /// An operator's write: the caller's transaction has locked the row (`FOR UPDATE`) and
    /// read this version, so no one else can have moved it; any worker's lease is overridden.
    RowLock { version: i64 },
}

/// One saga's transition as the writer applies it; every field is something
/// [`CHECKPOINT_SQL`] binds.
pub(super) struct RowWrite<'a> {
    pub saga_id: Uuid,
    pub fence: Fence<'a>,
    pub row: &'a SagaRowUpdate,
    pub events: &'a [NewEvent],
    /// Who the history events are by: `system` for a worker, `operator:<name>`.
    pub actor: &'a str,
    pub consume_signal: Option<i64>,
    pub outbox: &'a [OutboxRow],
    pub correlations: &'a [String],
    pub now: DateTime<Utc>,
}

/// `recovering`: the lease holder's own checkpoint recorded its attempt, so the next one
/// starts fresh, unless the attempt never ran (`i.still_recovering`: held before it acted);
/// after an operator's write (no owner: retry, resume, cancel) whatever runs next may have
/// run before, perhaps under a holder the operator overtook, so it looks first.
///
/// The saga-row rules in SQL, once, for the single and the batched checkpoint alike: what a
/// transition sets, read from an input row `i` whose columns are those of [`RowValues`].
/// `$due_now` is when a saga being let go is due at once instead of at `i.next_run_at`: the
/// single statement's wait guard; the batch carries no waits, so there it is `false`.
macro_rules! set_row {
    ($due_now:literal) => {
        concat!(
            "status = i.status, state = i.state, data = COALESCE(i.data, s.data),
        current_step = i.current_step, attempt = i.attempt,
        next_run_at = CASE WHEN i.keep THEN COALESCE(i.next_run_at, s.next_run_at)
                           WHEN ",
            $due_now,
            " THEN i.now
                           ELSE i.next_run_at END,
        lease_owner = CASE WHEN i.keep THEN s.lease_owner ELSE NULL END,
        recovering = i.owner IS NULL OR i.still_recovering,
        lease_expires_at = CASE WHEN i.keep THEN COALESCE(i.next_run_at, s.lease_expires_at) ELSE NULL END,
        version = s.version + 1,
        event_seq = s.event_seq + i.n_events,
        last_error = CASE WHEN i.set_error THEN i.last_error ELSE s.last_error END,
        updated_at = i.now,
        finished_at = CASE WHEN i.finished THEN i.now ELSE NULL END"
        )
    };
}

/// The fence, once: the version always, the lease owner unless the row is locked instead
/// (`i.owner` NULL).
macro_rules! fenced {
    () => {
        "s.id = i.id AND s.version = i.version AND (i.owner IS NULL OR s.lease_owner = i.owner)"
    };
}

/// One transition in one statement (a chain of CTEs): the row, its history events, outbox
/// rows, provider references (attaching signals that came before them), the consumed signal
/// and a wake-up when the saga is let go due now.
const CHECKPOINT_SQL: &str = concat!(
    "
WITH u AS (
    UPDATE sagas s SET ",
    set_row!(
        "i.guard_signal IS NOT NULL AND (
                    s.signal_seq <> i.seen_seq
                 OR EXISTS (SELECT 1 FROM saga_signals g
                            WHERE g.saga_id = i.id AND g.name = ANY(string_to_array(i.guard_signal, '|')) AND g.consumed_at IS NULL)
                 OR EXISTS (SELECT 1 FROM saga_signals g
                            WHERE g.saga_id IS NULL AND g.correlation_key = ANY($25::text[])))"
    ),
    "
    FROM (SELECT $1::uuid AS id, $2::bigint AS version, $3::text AS owner, $4::text AS status,
                 $5::jsonb AS state, $6::jsonb AS data, $7::text AS current_step, $8::int AS attempt,
                 $9::timestamptz AS next_run_at, $10::bool AS keep, $11::bool AS set_error,
                 $12::jsonb AS last_error, $13::bool AS finished, $14::timestamptz AS now,
                 cardinality($15::text[]) AS n_events, $16::text AS guard_signal, $17::bigint AS seen_seq,
                 $28::bool AS still_recovering) i
    WHERE ",
    fenced!(),
    "
    RETURNING s.id, s.version, s.event_seq, s.signal_seq, s.next_run_at
), ev AS (
    INSERT INTO saga_events (saga_id, seq, step, kind, attempt, detail, actor, created_at)
    SELECT u.id, u.event_seq - cardinality($15::text[]) + e.ord::int, e.step, e.kind, e.attempt, e.detail, $21, $14
    FROM u, UNNEST($15::text[], $18::text[], $19::int[], $20::jsonb[]) WITH ORDINALITY AS e(kind, step, attempt, detail, ord)
), ob AS (
    INSERT INTO outbox (saga_id, topic, destination, payload, next_attempt_at, created_at)
    SELECT u.id, o.topic, o.destination, o.payload, $14, $14
    FROM u, UNNEST($22::text[], $23::text[], $24::jsonb[]) AS o(topic, destination, payload)
), corr AS (
    INSERT INTO saga_correlations (correlation_key, saga_id, created_at)
    SELECT k, u.id, $14 FROM u, UNNEST($25::text[]) AS k
    ON CONFLICT (correlation_key) DO NOTHING
), attach AS (
    UPDATE saga_signals g SET saga_id = u.id FROM u
    WHERE g.saga_id IS NULL AND g.correlation_key = ANY($25::text[])
), consumed AS (
    UPDATE saga_signals g SET consumed_at = $14 FROM u WHERE g.id = $26 AND g.saga_id = u.id
), wake AS (
    SELECT pg_notify($27, '') FROM u WHERE NOT $10::bool AND u.next_run_at <= $14
)
SELECT u.version, u.signal_seq FROM u LEFT JOIN wake ON true"
);

/// One row's values for the columns [`set_row!`] reads, from a [`SagaRowUpdate`]: the
/// Rust half of the one column list, shared by the single and the batched statement.
struct RowValues<'a> {
    status: &'static str,
    state: Value,
    data: Option<&'a Value>,
    current_step: Option<&'a str>,
    attempt: i32,
    next_run_at: Option<DateTime<Utc>>,
    keep: bool,
    set_error: bool,
    last_error: Option<&'a Value>,
    finished: bool,
    still_recovering: bool,
}

impl<'a> RowValues<'a> {
    fn of(row: &'a SagaRowUpdate) -> Result<Self> {
        let (keep, next_run_at) = match row.due {
            Due::Hold(renewed) => (true, renewed),
            Due::Release(at) => (false, at),
        };
        let (set_error, last_error) = match &row.last_error {
            LastError::Keep => (false, None),
            LastError::Clear => (true, None),
            LastError::Set(e) => (true, Some(e)),
        };
        Ok(Self {
            status: row.state.status(),
            state: serde_json::to_value(&row.state).map_err(|e| Error::Corrupt(e.to_string()))?,
            data: row.data.as_ref(),
            current_step: row.current_step.as_deref(),
            attempt: row.attempt,
            next_run_at,
            keep,
            set_error,
            last_error,
            finished: row.finished,
            still_recovering: row.still_recovering,
        })
    }
}

impl Store {
    /// Writes one worker transition. `Ok(None)` means the fence failed: the lease was lost or
    /// an operator acted, and the result is dropped.
    pub async fn checkpoint(&self, mut cp: Checkpoint) -> Result<Option<Committed>> {
        let writes = std::mem::take(&mut cp.effects.writes);
        let needs_tx = !writes.is_empty() || !cp.effects.correlations.is_empty();
        if !needs_tx {
            let mut conn = self.pool.acquire().await?;
            return write_row(&mut conn, &cp.as_write()).await;
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
        let committed = write_row(&mut tx, &cp.as_write()).await?;
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
}

/// The one transition writer: applies a [`SagaRowUpdate`] under its fence, with its history
/// events and what commits with them, in one statement. `Ok(None)` when the fence failed.
pub(super) async fn write_row(
    conn: &mut PgConnection,
    w: &RowWrite<'_>,
) -> Result<Option<Committed>> {
    let v = RowValues::of(w.row)?;
    let (owner, version) = match &w.fence {
        Fence::Lease(lease) => (Some(lease.owner.as_str()), lease.version),
        Fence::RowLock { version } => (None, *version),
    };
    let (guard_signal, seen_seq) = match &w.row.wait_guard {
        Some(g) => (Some(g.signal.as_str()), g.seen_signal_seq),
        None => (None, 0),
    };
    let kinds: Vec<&str> = w.events.iter().map(|e| e.kind.as_str()).collect();
    let steps: Vec<Option<&str>> = w.events.iter().map(|e| e.step.as_deref()).collect();
    let attempts: Vec<i32> = w.events.iter().map(|e| e.attempt).collect();
    let details: Vec<&Value> = w.events.iter().map(|e| &e.detail).collect();
    let topics: Vec<&str> = w.outbox.iter().map(|o| o.topic.as_str()).collect();
    let destinations: Vec<Option<&str>> =
        w.outbox.iter().map(|o| o.destination.as_deref()).collect();
    let payloads: Vec<&Value> = w.outbox.iter().map(|o| &o.payload).collect();
    let row = sqlx::query(CHECKPOINT_SQL)
        .bind(w.saga_id) // $1
        .bind(version) // $2
        .bind(owner) // $3
        .bind(v.status) // $4
        .bind(&v.state) // $5
        .bind(v.data) // $6
        .bind(v.current_step) // $7
        .bind(v.attempt) // $8
        .bind(v.next_run_at) // $9
        .bind(v.keep) // $10
        .bind(v.set_error) // $11
        .bind(v.last_error) // $12
        .bind(v.finished) // $13
        .bind(w.now) // $14
        .bind(&kinds) // $15
        .bind(guard_signal) // $16
        .bind(seen_seq) // $17
        .bind(&steps) // $18
        .bind(&attempts) // $19
        .bind(&details) // $20
        .bind(w.actor) // $21
        .bind(&topics) // $22
        .bind(&destinations) // $23
        .bind(&payloads) // $24
        .bind(w.correlations) // $25
        .bind(w.consume_signal) // $26
        .bind(WAKE_CHANNEL) // $27
        .bind(v.still_recovering) // $28
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
/// commit for the whole batch. The same column list and fence as [`CHECKPOINT_SQL`], one input
/// row per saga. Each row is fenced on its own; a fenced row is simply absent from the answer.
const BATCH_SQL: &str = concat!(
    "
WITH input AS (
    SELECT * FROM UNNEST($1::uuid[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[], $7::text[],
                         $8::int[], $9::timestamptz[], $10::bool[], $11::bool[], $12::jsonb[], $13::bool[],
                         $14::timestamptz[], $15::int[], $23::bool[])
        AS t(id, version, owner, status, state, data, current_step, attempt, next_run_at, keep, set_error,
             last_error, finished, now, n_events, still_recovering)
), u AS (
    UPDATE sagas s SET ",
    set_row!("false"),
    "
    FROM input i
    WHERE ",
    fenced!(),
    "
    RETURNING s.id, s.version, s.event_seq, s.signal_seq, s.next_run_at, i.n_events, i.now, i.keep
), ev AS (
    INSERT INTO saga_events (saga_id, seq, step, kind, attempt, detail, actor, created_at)
    SELECT u.id, u.event_seq - u.n_events + e.ord, e.step, e.kind, e.attempt, e.detail, 'system', u.now
    FROM u JOIN UNNEST($16::uuid[], $17::int[], $18::text[], $19::text[], $20::int[], $21::jsonb[])
                AS e(saga_id, ord, step, kind, attempt, detail) ON e.saga_id = u.id
), wake AS (
    SELECT pg_notify($22, '') FROM u WHERE NOT u.keep AND u.next_run_at <= u.now LIMIT 1
)
SELECT u.id, u.version, u.signal_seq FROM u LEFT JOIN wake ON true"
);

impl Checkpoint {
    /// True when the checkpoint can ride in a batch: nothing but the saga row and its events.
    pub(crate) fn is_lean(&self) -> bool {
        self.effects.is_empty() && self.row.wait_guard.is_none() && self.consume_signal.is_none()
    }

    fn as_write(&self) -> RowWrite<'_> {
        RowWrite {
            saga_id: self.saga_id,
            fence: Fence::Lease(&self.lease),
            row: &self.row,
            events: &self.events,
            actor: "system",
            consume_signal: self.consume_signal,
            outbox: &self.effects.outbox,
            correlations: &self.effects.correlations,
            now: self.now,
        }
    }
}

impl Store {
    /// Writes lean checkpoints of several sagas in one statement (group commit). Answers in the
    /// input's order; `None` where the fence failed.
    pub(crate) async fn checkpoint_batch(
        &self,
        cps: &[Checkpoint],
    ) -> Result<Vec<Option<Committed>>> {
        let n = cps.len();
        let mut ids = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut owners = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut datas = Vec::with_capacity(n);
        let mut steps = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut nexts = Vec::with_capacity(n);
        let mut keeps = Vec::with_capacity(n);
        let mut set_errors = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        let mut finished = Vec::with_capacity(n);
        let mut nows = Vec::with_capacity(n);
        let mut n_events = Vec::with_capacity(n);
        let mut still_recovering = Vec::with_capacity(n);
        let (mut e_saga, mut e_ord, mut e_step, mut e_kind, mut e_attempt, mut e_detail) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for cp in cps {
            let v = RowValues::of(&cp.row)?;
            ids.push(cp.saga_id);
            versions.push(cp.lease.version);
            owners.push(cp.lease.owner.as_str());
            statuses.push(v.status);
            states.push(v.state);
            datas.push(v.data);
            steps.push(v.current_step);
            attempts.push(v.attempt);
            nexts.push(v.next_run_at);
            keeps.push(v.keep);
            set_errors.push(v.set_error);
            errors.push(v.last_error);
            finished.push(v.finished);
            nows.push(cp.now);
            n_events.push(cp.events.len() as i32);
            still_recovering.push(v.still_recovering);
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
            .bind(&owners)
            .bind(&statuses)
            .bind(&states)
            .bind(&datas)
            .bind(&steps)
            .bind(&attempts)
            .bind(&nexts)
            .bind(&keeps)
            .bind(&set_errors)
            .bind(&errors)
            .bind(&finished)
            .bind(&nows)
            .bind(&n_events)
            .bind(&e_saga)
            .bind(&e_ord)
            .bind(&e_step)
            .bind(&e_kind)
            .bind(&e_attempt)
            .bind(&e_detail)
            .bind(WAKE_CHANNEL)
            .bind(&still_recovering)
            // Planned afresh with the batch's real size, like the claim (`sagas.rs`): a cached
            // generic plan from a small table hash-joins through a scan of all of `sagas`.
            .persistent(false)
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
