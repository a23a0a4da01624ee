//! Data-bundle rows: the package catalogue, wallets and their ledger, orders, fulfilment
//! attempt logs, notifications and receipts; and the balance watch's provider readings
//! ([`balances`]).
//!
//! Functions named `*_in` run on a caller's connection: steps use them inside the checkpoint
//! transaction (a `DomainWrite`), so the rows commit with the saga's state or not at all.
//!
//! The writes steps make inside their checkpoint are in [`writes`]; the console's reads in
//! [`console`].

mod balances;
mod console;
mod writes;

pub use balances::*;
pub use console::*;
pub use writes::*;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::FromRow;
use uuid::Uuid;

use crate::domain::money::Minor;
use crate::families::data_bundle::PackageSeed;
use crate::families::data_bundle::status::{AttemptStatus, FulfillmentStatus, OrderStatus};
use crate::store::{Error, Result, StartWrite, Store};

/// One catalogue entry.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Package {
    pub id: String,
    pub network: String,
    pub size_gb: i32,
    pub price_minor: i64,
    pub active: bool,
}

/// An order as the API creates it.
#[derive(Debug, Clone)]
pub struct NewBundleOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub package_id: String,
    pub network: String,
    pub size_gb: i32,
    pub price_minor: i64,
    pub phone_number: String,
    pub order_code: String,
}

/// An order with its saga's status.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct BundleOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub package_id: String,
    pub network: String,
    pub size_gb: i32,
    pub price_minor: i64,
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    #[sqlx(try_from = "String")]
    pub fulfillment_status: FulfillmentStatus,
    pub phone_number: String,
    pub order_code: String,
    pub saga_id: Uuid,
    pub saga_status: String,
    pub last_error: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One provider attempt, as a step records it.
#[derive(Debug, Clone)]
pub struct AttemptLog {
    pub order_id: Uuid,
    pub network: String,
    pub phone_masked: String,
    pub status: AttemptStatus,
    pub attempt_number: i32,
    pub max_attempts: i32,
    pub provider: String,
    pub reference: String,
    pub external_order_id: Option<String>,
    pub api_request: Option<Value>,
    pub api_response: Option<Value>,
    pub error_message: Option<String>,
    pub retry_after: Option<DateTime<Utc>>,
}

/// A logged attempt, for the API and tests.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct AttemptRow {
    pub attempt_number: i32,
    pub max_attempts: i32,
    #[sqlx(try_from = "String")]
    pub status: AttemptStatus,
    pub provider: String,
    pub network: String,
    pub phone_masked: String,
    pub reference: String,
    pub external_order_id: Option<String>,
    pub error_message: Option<String>,
    pub retry_after: Option<DateTime<Utc>>,
    pub fulfilled_at: Option<DateTime<Utc>>,
}

const ORDER_COLUMNS: &str = "o.id, o.user_id, o.package_id, o.network, o.size_gb, o.price_minor, o.status, \
     o.fulfillment_status, o.phone_number, o.order_code, o.saga_id, s.status AS saga_status, s.last_error, \
     o.created_at, o.updated_at";

impl Store {
    /// Upserts the configured catalogue; packages no longer configured are deactivated.
    pub(crate) async fn seed_packages(
        &self,
        seeds: &[PackageSeed],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        let mut ids = Vec::with_capacity(seeds.len());
        for seed in seeds {
            let price = crate::domain::money::Minor::from_major(seed.price).ok_or_else(|| {
                crate::store::Error::Corrupt(format!("bad price for {}", seed.id()))
            })?;
            sqlx::query(
                "INSERT INTO packages (id, network, size_gb, price_minor, active, updated_at)
                 VALUES ($1, $2, $3, $4, true, $5)
                 ON CONFLICT (id) DO UPDATE SET price_minor = EXCLUDED.price_minor, active = true,
                     updated_at = EXCLUDED.updated_at",
            )
            .bind(seed.id())
            .bind(seed.network.as_str())
            .bind(seed.size_gb as i32)
            .bind(price.0)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            ids.push(seed.id());
        }
        sqlx::query("UPDATE packages SET active = false, updated_at = $2 WHERE NOT (id = ANY($1))")
            .bind(&ids)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn packages(&self) -> Result<Vec<Package>> {
        Ok(sqlx::query_as(
            "SELECT id, network, size_gb, price_minor, active FROM packages WHERE active ORDER BY network, size_gb",
        )
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn package(&self, id: &str) -> Result<Option<Package>> {
        Ok(sqlx::query_as(
            "SELECT id, network, size_gb, price_minor, active FROM packages WHERE id = $1 AND active",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The order a saga was started for (a replayed key answers with it).
    pub(crate) async fn bundle_order_of_saga(&self, saga_id: Uuid) -> Result<Option<BundleOrder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN sagas s ON s.id = o.saga_id WHERE o.saga_id = $1"
        ))
        .bind(saga_id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub(crate) async fn bundle_order(&self, id: Uuid) -> Result<Option<BundleOrder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN sagas s ON s.id = o.saga_id WHERE o.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Every logged provider attempt of an order, oldest first.
    pub(crate) async fn fulfillment_attempts(&self, order_id: Uuid) -> Result<Vec<AttemptRow>> {
        Ok(sqlx::query_as(
            "SELECT attempt_number, max_attempts, status, provider, network, phone_masked, reference,
                    external_order_id, error_message, retry_after, fulfilled_at
             FROM fulfillment_logs WHERE order_id = $1 ORDER BY attempt_number",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Records one provider attempt. It commits on its own, before the checkpoint: the call
    /// happened whatever becomes of the step. A rerun of the same attempt overwrites its row.
    pub(crate) async fn log_attempt(&self, log: &AttemptLog, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO fulfillment_logs (order_id, network, phone_masked, status, attempt_number, max_attempts,
                 provider, reference, external_order_id, api_request, api_response, error_message, retry_after,
                 created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
             ON CONFLICT (order_id, attempt_number) DO UPDATE SET status = EXCLUDED.status,
                 provider = EXCLUDED.provider, reference = EXCLUDED.reference,
                 external_order_id = COALESCE(EXCLUDED.external_order_id, fulfillment_logs.external_order_id),
                 api_request = COALESCE(EXCLUDED.api_request, fulfillment_logs.api_request),
                 api_response = COALESCE(EXCLUDED.api_response, fulfillment_logs.api_response),
                 error_message = EXCLUDED.error_message, retry_after = EXCLUDED.retry_after,
                 updated_at = EXCLUDED.updated_at",
        )
        .bind(log.order_id)
        .bind(&log.network)
        .bind(&log.phone_masked)
        .bind(log.status.as_str())
        .bind(log.attempt_number)
        .bind(log.max_attempts)
        .bind(&log.provider)
        .bind(&log.reference)
        .bind(&log.external_order_id)
        .bind(&log.api_request)
        .bind(&log.api_response)
        .bind(&log.error_message)
        .bind(log.retry_after)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks earlier attempts that are still open as failed (a retry only starts after one).
    /// One whose failure nobody recorded (its wait ran out in the engine) gets this retry's
    /// start as the time its retry was due.
    pub(crate) async fn close_open_attempts(
        &self,
        order_id: Uuid,
        before_attempt: i32,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE fulfillment_logs SET status = $5, error_message = COALESCE(error_message, $3),
                 retry_after = COALESCE(retry_after, $4), updated_at = $4
             WHERE order_id = $1 AND attempt_number < $2 AND status = ANY($6)",
        )
        .bind(order_id)
        .bind(before_attempt)
        .bind(reason)
        .bind(now)
        .bind(AttemptStatus::Failed.as_str())
        .bind(AttemptStatus::open_tags())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Credits a wallet (creating it) once per idempotency key, recording who did; returns
    /// the balance. The key again with another amount or wallet is a conflict: a retry must
    /// be the same request, or it would be read as "done" when it never was.
    pub(crate) async fn top_up_wallet(
        &self,
        user_id: Uuid,
        amount_minor: i64,
        key: &str,
        (actor, owner): (&str, Option<&str>),
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO wallets (user_id, balance_minor, updated_at, owner) VALUES ($1, 0, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(user_id)
        .bind(now)
        .bind(owner)
        .execute(&mut *tx)
        .await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO wallet_ledger (user_id, kind, amount_minor, idempotency_key, actor, created_at)
             VALUES ($1, 'top_up', $2, $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
        )
        .bind(user_id)
        .bind(amount_minor)
        .bind(key)
        .bind(actor)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        if inserted.is_none() {
            let first: Option<(Uuid, i64)> = sqlx::query_as(
                "SELECT user_id, amount_minor FROM wallet_ledger WHERE idempotency_key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if first != Some((user_id, amount_minor)) {
                return Err(Error::Conflict(
                    "this Idempotency-Key already made a different top-up".into(),
                ));
            }
        }
        if inserted.is_some() {
            // A balance stays within Minor::MAX, so no number of top-ups overflows it; the
            // refused top-up rolls back with its ledger row.
            let credited = sqlx::query(
                "UPDATE wallets SET balance_minor = balance_minor + $2, updated_at = $3
                 WHERE user_id = $1 AND balance_minor <= $4 - $2",
            )
            .bind(user_id)
            .bind(amount_minor)
            .bind(now)
            .bind(Minor::MAX)
            .execute(&mut *tx)
            .await?;
            if credited.rows_affected() == 0 {
                return Err(Error::Invalid(format!(
                    "a wallet holds at most {} GHS; this top-up would pass it",
                    Minor(Minor::MAX)
                )));
            }
        }
        let balance = sqlx::query_scalar("SELECT balance_minor FROM wallets WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(balance)
    }

    /// Who owns a wallet (`Some(None)`: an operator opened it); `None` when the user has none.
    pub(crate) async fn wallet_owner(&self, user_id: Uuid) -> Result<Option<Option<String>>> {
        Ok(
            sqlx::query_scalar("SELECT owner FROM wallets WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// A wallet's balance; `None` when the user has none.
    pub async fn wallet_balance(&self, user_id: Uuid) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT balance_minor FROM wallets WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    /// The ledger rows of one order: `(kind, amount_minor)`, oldest first.
    pub async fn order_ledger(&self, order_id: Uuid) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT kind, amount_minor FROM wallet_ledger WHERE order_id = $1 ORDER BY id",
        )
        .bind(order_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// Whether a ledger row exists for this key (a debit already made).
    pub(crate) async fn ledger_has(&self, key: &str) -> Result<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM wallet_ledger WHERE idempotency_key = $1)",
        )
        .bind(key)
        .fetch_one(self.pool())
        .await?)
    }

    /// An in-app notification, written once per dedup key.
    /// Records an in-app notification; false when one with its dedup key already exists.
    pub(crate) async fn notify_in_app(
        &self,
        n: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(notify_in_app_in(&mut *self.pool().acquire().await?, n, now).await?)
    }
}

/// Writes the order row in its saga's start transaction (see `Runtime::start`).
pub(crate) fn insert_order(order: NewBundleOrder) -> StartWrite {
    Box::new(move |conn, saga_id, now| {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO orders (id, user_id, package_id, network, size_gb, price_minor, status,
                     fulfillment_status, phone_number, order_code, saga_id, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $11, $12, $7, $8, $9, $10, $10)",
            )
            .bind(order.id)
            .bind(order.user_id)
            .bind(&order.package_id)
            .bind(&order.network)
            .bind(order.size_gb)
            .bind(order.price_minor)
            .bind(&order.phone_number)
            .bind(&order.order_code)
            .bind(saga_id)
            .bind(now)
            .bind(OrderStatus::Pending.as_str())
            .bind(FulfillmentStatus::Pending.as_str())
            .execute(&mut *conn)
            .await?;
            Ok(())
        })
    })
}
