//! The only place with SQL: sagas, their history, signals, the outbox, cron claims and the
//! definitions sagas are pinned to. Every time written here comes from the engine's Clock.

mod audit;
mod bulk;
mod charts;
mod checkpoint;
mod cron;
mod definitions;
mod job_runs;
mod lookup;
mod ops;
mod outbox;
mod queues;
mod sagas;
mod sessions;
mod signals;
mod starts;

use sqlx::PgPool;
use sqlx::migrate::Migrator;

pub(crate) use audit::action_name;
pub(crate) use audit::insert_audit_in;
pub use audit::{Actor, AuditRow, LockedSaga, OperatorWrite};
pub use bulk::{BulkItem, BulkProgress, NewBulkJob};
pub use charts::ProviderRate;
pub use checkpoint::{Checkpoint, Committed, Lease, NewEvent};
pub(crate) use cron::claim_cron_tick;
pub use job_runs::{JobRunFilter, JobRunRow, JobTotals};
pub use lookup::{LOOKUP_LIMIT, Lookup, LookupHit};
pub use ops::{ExportRow, Order, Overview, QueueRow, SagaSearch, SearchPage, WorkflowStats};
pub use outbox::{AttemptRecord, DeliveryRow, OutboxItem};
pub(crate) use queues::{JobEnd, JobMark, SlotClaim};
pub use sagas::{ClaimedSaga, EventRow, NewSaga, SagaRow, StartWrite, Started};
pub use sessions::SessionLimits;
pub(crate) use sessions::SessionTable;
pub use signals::{Delivered, Forward, NewSignal};
pub use starts::BatchStart;

/// The schema, embedded so `sagaflow migrate` works from anywhere.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Errors of the storage layer. Handlers map these; they never see `sqlx::Error` itself.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("not found")]
    NotFound,
    #[error("idempotency key already used for a different request")]
    IdempotencyConflict { saga_id: uuid::Uuid },
    #[error(transparent)]
    Illegal(#[from] crate::engine::lifecycle::IllegalTransition),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Definition(String),
    /// The entity's state does not allow the change (409, with the current state).
    #[error("{0}")]
    Conflict(String),
    /// The request names something that does not fit (422), such as an unknown SKU.
    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: PgPool,
    /// Long reads (the CSV export) run here, never on `pool`: see
    /// `DatabaseSettings::read_connections`.
    reads: PgPool,
}

impl Store {
    /// A store whose long reads share `pool` (tools, the bench).
    pub fn new(pool: PgPool) -> Self {
        Self {
            reads: pool.clone(),
            pool,
        }
    }

    /// A store whose long reads use `reads`, a pool of their own.
    pub fn with_reads(pool: PgPool, reads: PgPool) -> Self {
        Self { pool, reads }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers and every embedded migration has been applied.
    pub async fn ready(&self) -> Result<bool> {
        let applied: i64 =
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(applied as usize >= MIGRATOR.iter().count())
    }
}

/// The channel LISTEN/NOTIFY uses to wake workers early.
pub const WAKE_CHANNEL: &str = "sagaflow_wake";
