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

/// A table of server-side sessions keyed by `id_sha256`, with `created_at` and `last_seen`:
/// its name and the column a live session answers with. Both are constants of the code,
/// never input, so they are safe to write into the statement.
pub(crate) struct SessionTable {
    pub name: &'static str,
    pub answer: &'static str,
}

/// The console's sessions, answering the token that signed in.
const CONSOLE: SessionTable = SessionTable {
    name: "console_sessions",
    answer: "token_sha256",
};

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
        self.use_session_in(&CONSOLE, id_sha256, limits, now).await
    }

    /// Ends a session (sign-out, or found expired).
    pub(crate) async fn end_session(&self, id_sha256: &str) -> Result<()> {
        self.end_session_in(&CONSOLE, id_sha256).await
    }

    /// `table`'s answer for a live session, marking it used now; an expired one is deleted
    /// and answers `None`, as does an unknown one.
    pub(crate) async fn use_session_in(
        &self,
        table: &SessionTable,
        id_sha256: &str,
        limits: SessionLimits,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        let live: Option<String> = sqlx::query_scalar(&format!(
            "UPDATE {} SET last_seen = $2
             WHERE id_sha256 = $1 AND last_seen > $3 AND created_at > $4
             RETURNING {}",
            table.name, table.answer
        ))
        .bind(id_sha256)
        .bind(now)
        .bind(now - limits.idle)
        .bind(now - limits.absolute)
        .fetch_optional(&self.pool)
        .await?;
        if live.is_none() {
            self.end_session_in(table, id_sha256).await?;
        }
        Ok(live)
    }

    /// Ends a session of `table` (sign-out, or found expired).
    pub(crate) async fn end_session_in(&self, table: &SessionTable, id_sha256: &str) -> Result<()> {
        sqlx::query(&format!("DELETE FROM {} WHERE id_sha256 = $1", table.name))
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
