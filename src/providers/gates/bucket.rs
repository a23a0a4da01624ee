//! The shared token bucket: refilled for the time since its last take and taken from in one
//! `UPDATE … RETURNING`, so two nodes taking at once never both spend the last token (the
//! second's WHERE is re-checked against the first's committed row).

use sqlx::PgPool;

use super::limits::Rate;

/// Takes one token from `(provider, scope)`'s bucket. `Ok(None)` means empty: the wait
/// until the next token is returned instead, in seconds.
pub(crate) async fn take(
    pool: &PgPool,
    provider: &str,
    scope: &str,
    rate: Rate,
) -> Result<Result<(), f64>, sqlx::Error> {
    // `t.now` is read before the row lock is waited for; a row another taker moved later
    // than it refills by nothing rather than by a negative amount.
    let row: Option<(f64,)> = sqlx::query_as(
        "WITH t AS (SELECT clock_timestamp() AS now)
         UPDATE provider_gates g SET
             tokens = LEAST($3, g.tokens
                 + GREATEST(0, EXTRACT(EPOCH FROM t.now - g.refilled_at)::float8) * $4) - 1,
             refilled_at = GREATEST(g.refilled_at, t.now)
         FROM t
         WHERE g.provider = $1 AND g.scope = $2
           AND LEAST($3, g.tokens
                 + GREATEST(0, EXTRACT(EPOCH FROM t.now - g.refilled_at)::float8) * $4) >= 1
         RETURNING g.tokens",
    )
    .bind(provider)
    .bind(scope)
    .bind(rate.capacity)
    .bind(rate.per_second)
    .fetch_optional(pool)
    .await?;
    match row {
        Some(_) => Ok(Ok(())),
        None => {
            // Empty: roughly how long until a token is back, read without a lock.
            let left: Option<(f64,)> = sqlx::query_as(
                "SELECT LEAST($3, tokens + GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp()
                        - refilled_at)::float8) * $4)
                 FROM provider_gates WHERE provider = $1 AND scope = $2",
            )
            .bind(provider)
            .bind(scope)
            .bind(rate.capacity)
            .bind(rate.per_second)
            .fetch_optional(pool)
            .await?;
            let have = left.map_or(0.0, |(t,)| t.clamp(0.0, 1.0));
            Ok(Err((1.0 - have) / rate.per_second))
        }
    }
}

/// Makes sure the gate row exists, full, so the hot path only ever updates it.
pub(crate) async fn ensure(
    pool: &PgPool,
    provider: &str,
    scope: &str,
    capacity: f64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provider_gates (provider, scope, tokens) VALUES ($1, $2, $3)
         ON CONFLICT (provider, scope) DO NOTHING",
    )
    .bind(provider)
    .bind(scope)
    .bind(capacity)
    .execute(pool)
    .await?;
    Ok(())
}
