//! Operator pauses of a provider or one of its endpoints, and their audit: every pause and
//! resume writes a `provider_actions` row in the same transaction as the change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

/// A pause in force.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PauseRow {
    pub provider: String,
    /// Empty when the whole provider is paused.
    pub endpoint: String,
    pub reason: String,
    pub paused_by: String,
    pub paused_at: DateTime<Utc>,
}

/// One audited pause or resume.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ProviderAction {
    pub id: i64,
    pub provider: String,
    pub endpoint: String,
    pub action: String,
    pub reason: String,
    pub actor: String,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

/// Who pauses or resumes, and why.
#[derive(Debug, Clone)]
pub struct PauseBy<'a> {
    pub actor: &'a str,
    pub role: &'a str,
    pub reason: &'a str,
}

pub(crate) async fn all(pool: &PgPool) -> Result<Vec<PauseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, endpoint, reason, paused_by, paused_at FROM provider_pauses
         ORDER BY provider, endpoint",
    )
    .fetch_all(pool)
    .await
}

async fn audit(
    tx: &mut sqlx::PgConnection,
    provider: &str,
    endpoint: &str,
    action: &str,
    by: &PauseBy<'_>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provider_actions (provider, endpoint, action, reason, actor, role, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(provider)
    .bind(endpoint)
    .bind(action)
    .bind(by.reason)
    .bind(by.actor)
    .bind(by.role)
    .bind(at)
    .execute(tx)
    .await?;
    Ok(())
}

/// Pauses (or re-pauses with a new reason) and audits it.
pub(crate) async fn pause(
    pool: &PgPool,
    provider: &str,
    endpoint: &str,
    by: &PauseBy<'_>,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO provider_pauses (provider, endpoint, reason, paused_by, paused_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (provider, endpoint) DO UPDATE
         SET reason = EXCLUDED.reason, paused_by = EXCLUDED.paused_by,
             paused_at = EXCLUDED.paused_at",
    )
    .bind(provider)
    .bind(endpoint)
    .bind(by.reason)
    .bind(by.actor)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    audit(&mut tx, provider, endpoint, "pause", by, at).await?;
    tx.commit().await
}

/// Lifts a pause and audits it; `false` when there was none (nothing is written then).
pub(crate) async fn resume(
    pool: &PgPool,
    provider: &str,
    endpoint: &str,
    by: &PauseBy<'_>,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let gone = sqlx::query("DELETE FROM provider_pauses WHERE provider = $1 AND endpoint = $2")
        .bind(provider)
        .bind(endpoint)
        .execute(&mut *tx)
        .await?;
    // A provider-wide resume also closes an open breaker: the operator says the provider is
    // good again (a rotated key, say), so calls need not wait out the cool-down for a probe.
    let closed = if endpoint.is_empty() {
        sqlx::query(
            "UPDATE provider_breakers SET failures = 0, state = 'closed', opened_at = NULL,
                 probe_until = NULL
             WHERE provider = $1 AND state <> 'closed'",
        )
        .bind(provider)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    if gone.rows_affected() == 0 && closed == 0 {
        return Ok(false);
    }
    audit(&mut tx, provider, endpoint, "resume", by, at).await?;
    tx.commit().await?;
    Ok(true)
}

pub(crate) async fn actions(
    pool: &PgPool,
    provider: &str,
) -> Result<Vec<ProviderAction>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, provider, endpoint, action, reason, actor, role, created_at
         FROM provider_actions WHERE provider = $1 ORDER BY id",
    )
    .bind(provider)
    .fetch_all(pool)
    .await
}
