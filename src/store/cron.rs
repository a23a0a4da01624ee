//! Cron ticks, claimed once across all nodes through the unique (job, scheduled_for) row.

use chrono::{DateTime, Utc};

use super::{Result, StartWrite, Store};

impl Store {
    /// The newest tick already fired for a job, if any.
    pub(crate) async fn last_cron_tick(&self, job: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT max(scheduled_for) FROM cron_runs WHERE job = $1")
                .bind(job)
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

/// Claims a cron tick in its saga's start transaction (see `engine::Runtime::start`), so any
/// number of nodes fire it once. A tick already claimed refuses the start with
/// [`Error::Conflict`](super::Error::Conflict), which rolls the saga back.
pub(crate) fn claim_cron_tick(
    job: String,
    scheduled_for: DateTime<Utc>,
    node: String,
) -> StartWrite {
    Box::new(move |conn, saga_id, now| {
        Box::pin(async move {
            let claimed = sqlx::query(
                "INSERT INTO cron_runs (job, scheduled_for, fired_at, fired_by, saga_id)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (job, scheduled_for) DO NOTHING",
            )
            .bind(&job)
            .bind(scheduled_for)
            .bind(now)
            .bind(&node)
            .bind(saga_id)
            .execute(&mut *conn)
            .await?;
            if claimed.rows_affected() == 0 {
                return Err(super::Error::Conflict(format!(
                    "cron tick {job} at {scheduled_for} was already fired"
                )));
            }
            Ok(())
        })
    })
}

/// How long a periodic job's claims are kept: only the newest one decides what is due, and a
/// job that runs every two minutes would otherwise add hundreds of rows a day.
const PERIODIC_CLAIMS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

impl Store {
    /// Claims a periodic job's tick (no saga: `saga_id` stays empty). True when this node won
    /// it; false when another node already had. Claims older than a day are dropped.
    pub(crate) async fn claim_periodic_tick(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let claimed = sqlx::query(
            "INSERT INTO cron_runs (job, scheduled_for, fired_at, fired_by, saga_id)
             VALUES ($1, $2, $3, $4, NULL)
             ON CONFLICT (job, scheduled_for) DO NOTHING",
        )
        .bind(job)
        .bind(scheduled_for)
        .bind(now)
        .bind(node)
        .execute(&self.pool)
        .await?;
        sqlx::query("DELETE FROM cron_runs WHERE job = $1 AND scheduled_for < $2")
            .bind(job)
            .bind(scheduled_for - PERIODIC_CLAIMS_KEPT)
            .execute(&self.pool)
            .await?;
        Ok(claimed.rows_affected() == 1)
    }
}
