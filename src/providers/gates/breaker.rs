//! The breaker, one row per provider shared by every node: consecutive failures counted in
//! the row, opened at the threshold, one probe claimed atomically after the cool-down, closed
//! by a success and re-opened by a failed probe.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// A breaker row as the cache and `GET /v1/providers` read it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BreakerRow {
    pub provider: String,
    /// `closed`, `open` or `half_open`.
    pub state: String,
    pub failures: i32,
    pub opened_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

pub(crate) async fn ensure(pool: &PgPool, provider: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO provider_breakers (provider) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(provider)
        .execute(pool)
        .await?;
    Ok(())
}

pub(crate) async fn all(pool: &PgPool) -> Result<Vec<BreakerRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, state, failures, opened_at, last_error, last_error_at
         FROM provider_breakers ORDER BY provider",
    )
    .fetch_all(pool)
    .await
}

/// Claims the one probe of an open breaker whose cool-down has passed. Only one node's
/// update matches: the others see `probe_until` set and stay held. A probe that never
/// reports (its node died) frees the claim at `probe_until`.
pub(crate) async fn claim_probe(
    pool: &PgPool,
    provider: &str,
    cool_down: Duration,
    probe_ttl: Duration,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE provider_breakers SET state = 'half_open',
             probe_until = clock_timestamp() + make_interval(secs => $3)
         WHERE provider = $1 AND state IN ('open', 'half_open')
           AND opened_at + make_interval(secs => $2) <= clock_timestamp()
           AND (probe_until IS NULL OR probe_until < clock_timestamp())",
    )
    .bind(provider)
    .bind(cool_down.as_secs_f64())
    .bind(probe_ttl.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Counts a failure; at `threshold` consecutive ones (or when a probe fails) the breaker
/// opens from now. A late failure while already open leaves the cool-down where it was.
pub(crate) async fn failed(
    pool: &PgPool,
    provider: &str,
    threshold: u32,
    error: &str,
) -> Result<(), sqlx::Error> {
    let threshold = if threshold == 0 {
        i64::MAX
    } else {
        i64::from(threshold)
    };
    sqlx::query(
        "UPDATE provider_breakers SET
             failures = failures + 1,
             last_error = $3, last_error_at = clock_timestamp(),
             opened_at = CASE WHEN state = 'half_open' OR (state = 'closed' AND failures + 1 >= $2)
                              THEN clock_timestamp() ELSE opened_at END,
             state = CASE WHEN state = 'half_open' OR failures + 1 >= $2
                          THEN 'open' ELSE state END,
             probe_until = NULL
         WHERE provider = $1",
    )
    .bind(provider)
    .bind(threshold)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// A call the provider answered: the count starts again and an open breaker closes.
pub(crate) async fn succeeded(pool: &PgPool, provider: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE provider_breakers SET failures = 0, state = 'closed', opened_at = NULL,
             probe_until = NULL
         WHERE provider = $1 AND (failures > 0 OR state <> 'closed')",
    )
    .bind(provider)
    .execute(pool)
    .await?;
    Ok(())
}
