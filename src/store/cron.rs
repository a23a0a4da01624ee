//! Cron ticks, claimed once across all nodes through the unique (job, scheduled_for) row.

use chrono::{DateTime, Utc};

use super::{NewSaga, Result, Started, Store};

impl Store {
    /// The newest tick already fired for a job, if any.
    pub async fn last_cron_tick(&self, job: &str) -> Result<Option<DateTime<Utc>>> {
        Ok(
            sqlx::query_scalar("SELECT max(scheduled_for) FROM cron_runs WHERE job = $1")
                .bind(job)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Claims the tick and starts its saga in one transaction. `None` when another node got
    /// there first.
    pub async fn fire_cron_tick(
        &self,
        job: &str,
        scheduled_for: DateTime<Utc>,
        node: &str,
        saga: &NewSaga,
        now: DateTime<Utc>,
    ) -> Result<Option<Started>> {
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(
            "INSERT INTO cron_runs (job, scheduled_for, fired_at, fired_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job, scheduled_for) DO NOTHING",
        )
        .bind(job)
        .bind(scheduled_for)
        .bind(now)
        .bind(node)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let started = Self::start_saga_in(&mut tx, saga, now).await?;
        sqlx::query("UPDATE cron_runs SET saga_id = $3 WHERE job = $1 AND scheduled_for = $2")
            .bind(job)
            .bind(scheduled_for)
            .bind(started.id())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(started))
    }
}
