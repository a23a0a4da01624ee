//! The balance watch's readings in `provider_balances`: one row per read, a day kept per
//! provider.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::store::{Result, Store};

/// How long readings are kept: enough to see a balance fall over a day, no more.
const KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

/// One balance read: a balance and currency, or the error that stopped it.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct BalanceReading {
    pub balance: Option<f64>,
    pub currency: Option<String>,
    pub read_at: DateTime<Utc>,
    pub error: Option<String>,
}

impl Store {
    /// Stores a reading of `provider`'s balance and drops its readings older than a day.
    pub async fn record_provider_balance(
        &self,
        provider: &str,
        reading: &BalanceReading,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO provider_balances (provider, balance, currency, read_at, error)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(provider)
        .bind(reading.balance)
        .bind(&reading.currency)
        .bind(reading.read_at)
        .bind(&reading.error)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM provider_balances WHERE provider = $1 AND read_at < $2")
            .bind(provider)
            .bind(reading.read_at - KEPT)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `provider`'s newest reading that returned a balance, and its newest reading of any kind
    /// (a failed one, when the latest read failed).
    pub async fn latest_provider_balance(
        &self,
        provider: &str,
    ) -> Result<(Option<BalanceReading>, Option<BalanceReading>)> {
        const COLUMNS: &str = "SELECT balance, currency, read_at, error FROM provider_balances";
        let read = sqlx::query_as(&format!(
            "{COLUMNS} WHERE provider = $1 AND error IS NULL ORDER BY read_at DESC, id DESC LIMIT 1"
        ))
        .bind(provider)
        .fetch_optional(self.pool())
        .await?;
        let newest = sqlx::query_as(&format!(
            "{COLUMNS} WHERE provider = $1 ORDER BY read_at DESC, id DESC LIMIT 1"
        ))
        .bind(provider)
        .fetch_optional(self.pool())
        .await?;
        Ok((read, newest))
    }
}
