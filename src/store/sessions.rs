//! Console sessions, kept on the server: the cookie holds a random id, this table its SHA-256
//! and which token signed in, so neither the cookie nor a copy of the table is a credential
//! for the API, and signing out ends the session everywhere.

use chrono::{DateTime, Utc};

use super::{Result, Store};

/// How long a session lives: since it was last used, and at most since it began.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    pub idle: chrono::Duration,
    pub absolute: chrono::Duration,
}

impl Store {
    /// Records a new session under the hash of its id.
    pub(crate) async fn create_session(
        &self,
        id_sha256: &str,
        token_sha256: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<()> {
        // Sessions left to expire without a sign-out go when the next one begins.
        sqlx::query("DELETE FROM console_sessions WHERE created_at <= $1 OR last_seen <= $2")
            .bind(now - limits.absolute)
            .bind(now - limits.idle)
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO console_sessions (id_sha256, token_sha256, created_at, last_seen)
             VALUES ($1, $2, $3, $3)",
        )
        .bind(id_sha256)
        .bind(token_sha256)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The token hash of a live session, marking it used now; an expired one is deleted and
    /// answers `None`, as does an unknown one.
    pub(crate) async fn use_session(
        &self,
        id_sha256: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let live: Option<String> = sqlx::query_scalar(
            "UPDATE console_sessions SET last_seen = $2
             WHERE id_sha256 = $1 AND last_seen > $3 AND created_at > $4
             RETURNING token_sha256",
        )
        .bind(id_sha256)
        .bind(now)
        .bind(now - limits.idle)
        .bind(now - limits.absolute)
        .fetch_optional(&self.pool)
        .await?;
        if live.is_none() {
            self.end_session(id_sha256).await?;
        }
        Ok(live)
    }

    /// Ends a session (sign-out, or found expired).
    pub(crate) async fn end_session(&self, id_sha256: &str) -> Result<()> {
        sqlx::query("DELETE FROM console_sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
