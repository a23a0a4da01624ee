//! The overview's pictures: sagas started, completed and compensated per interval, and each
//! provider's error rate, over a window. One grouped query each, binned with `date_bin` from
//! the window's start and served by the indexes of migration 0093.

use chrono::{DateTime, Duration, Utc};

use super::{Result, Store};

/// A provider's calls and failures over a window.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRate {
    /// The data-bundle provider (`reseller`, `ishare`), or `outbox:<topic>` for outbound
    /// deliveries such as partner webhooks.
    pub provider: String,
    pub calls: i64,
    pub errors: i64,
}

impl Store {
    /// `(interval start, started, completed, compensated)` for the intervals with any; the
    /// caller fills the empty ones.
    pub async fn saga_activity(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        step: Duration,
    ) -> Result<Vec<(DateTime<Utc>, i64, i64, i64)>> {
        Ok(sqlx::query_as(
            "WITH ev AS (
                SELECT created_at AS at, 'started' AS what FROM sagas
                 WHERE created_at >= $1 AND created_at < $2
                UNION ALL
                SELECT finished_at, status FROM sagas
                 WHERE finished_at >= $1 AND finished_at < $2 AND status IN ('completed', 'compensated')
             )
             SELECT date_bin(make_interval(secs => $3), at, $1) AS bucket,
                    count(*) FILTER (WHERE what = 'started'),
                    count(*) FILTER (WHERE what = 'completed'),
                    count(*) FILTER (WHERE what = 'compensated')
             FROM ev GROUP BY 1 ORDER BY 1",
        )
        .bind(from)
        .bind(to)
        .bind(step.num_seconds() as f64)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Settled provider calls and how many failed: data-bundle fulfilment attempts (a pending
    /// attempt has no answer yet, so it is not counted) and outbound deliveries by topic.
    pub async fn provider_rates(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ProviderRate>> {
        Ok(sqlx::query_as(
            "SELECT provider, count(*) AS calls, count(*) FILTER (WHERE failed) AS errors FROM (
                SELECT provider, status = 'failed' AS failed FROM fulfillment_logs
                 WHERE created_at >= $1 AND created_at < $2 AND status IN ('success', 'failed')
                UNION ALL
                SELECT 'outbox:' || o.topic, d.outcome <> 'delivered' FROM outbox_deliveries d
                  JOIN outbox o ON o.id = d.outbox_id
                 WHERE d.created_at >= $1 AND d.created_at < $2
             ) calls GROUP BY provider ORDER BY provider",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?)
    }
}
