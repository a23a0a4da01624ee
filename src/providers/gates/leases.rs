//! Concurrency permits shared across nodes: a lease row per call in flight, taken under a
//! lock on the gate row so two nodes cannot both see room for the last permit, and carrying
//! an expiry so a node that dies mid-call gives its permits back on its own.

use std::time::Duration;

use sqlx::PgPool;
use uuid::Uuid;

/// Takes a permit when fewer than `limit` unexpired ones are held. The count runs in its own
/// statement after the lock is granted, so it sees every permit committed before.
pub(crate) async fn take(
    pool: &PgPool,
    provider: &str,
    scope: &str,
    limit: u32,
    holder: &str,
    ttl: Duration,
) -> Result<Option<Uuid>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM provider_gates WHERE provider = $1 AND scope = $2 FOR UPDATE")
        .bind(provider)
        .bind(scope)
        .execute(&mut *tx)
        .await?;
    let id = Uuid::now_v7();
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let taken: Option<(Uuid,)> = sqlx::query_as(
        "INSERT INTO provider_leases (id, provider, scope, holder, expires_at)
         SELECT $3, $1, $2, $4, clock_timestamp() + make_interval(secs => $5::float8 / 1000)
         WHERE (SELECT count(*) FROM provider_leases
                WHERE provider = $1 AND scope = $2 AND expires_at > clock_timestamp()) < $6
         RETURNING id",
    )
    .bind(provider)
    .bind(scope)
    .bind(id)
    .bind(holder)
    .bind(ttl_ms as f64)
    .bind(i64::from(limit))
    .fetch_optional(&mut *tx)
    .await?;
    // Expired permits of dead nodes are cleared while the lock is held anyway.
    sqlx::query(
        "DELETE FROM provider_leases
         WHERE provider = $1 AND scope = $2 AND expires_at <= clock_timestamp()",
    )
    .bind(provider)
    .bind(scope)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(taken.map(|(id,)| id))
}

/// Gives permits back once their call has ended.
pub(crate) async fn release(pool: &PgPool, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query("DELETE FROM provider_leases WHERE id = ANY($1)")
        .bind(ids)
        .execute(pool)
        .await?;
    Ok(())
}
