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
