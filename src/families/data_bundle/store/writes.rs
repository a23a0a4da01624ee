//! The data-bundle rows a step changes inside its checkpoint transaction (a `DomainWrite`):
//! wallet debits and refunds, order and attempt status, in-app notifications and receipts.
//! Each runs on the caller's connection, so it commits with the saga's state or not at all.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::families::data_bundle::status::{AttemptStatus, FulfillmentStatus, OrderStatus};
use crate::store::Result;

/// Debits a wallet once per key. The UPDATE only matches when the balance covers the amount
/// (the CHECK backs it up); when it does not, the error aborts the whole checkpoint and the
/// step, run again, sees the short balance and fails with a clear reason.
pub(crate) async fn debit_wallet_in(
    conn: &mut PgConnection,
    user_id: Uuid,
    order_id: Uuid,
    amount_minor: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO wallet_ledger (user_id, order_id, kind, amount_minor, idempotency_key, created_at)
         VALUES ($1, $2, 'debit', $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(user_id)
    .bind(order_id)
    .bind(-amount_minor)
    .bind(key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_none() {
        return Ok(());
    }
    let updated = sqlx::query(
        "UPDATE wallets SET balance_minor = balance_minor - $2, updated_at = $3
         WHERE user_id = $1 AND balance_minor >= $2",
    )
    .bind(user_id)
    .bind(amount_minor)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

/// Refunds what `debit_key` took, once (keyed by `refund_key`). Nothing to do when no debit
/// was made, so it is safe as the compensation of a checkout that failed.
pub(crate) async fn refund_wallet_in(
    conn: &mut PgConnection,
    debit_key: &str,
    refund_key: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let debit: Option<(Uuid, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT user_id, order_id, amount_minor FROM wallet_ledger WHERE idempotency_key = $1 AND kind = 'debit'",
    )
    .bind(debit_key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((user_id, order_id, debited)) = debit else {
        return Ok(());
    };
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO wallet_ledger (user_id, order_id, kind, amount_minor, idempotency_key, created_at)
         VALUES ($1, $2, 'refund', $3, $4, $5) ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    )
    .bind(user_id)
    .bind(order_id)
    .bind(-debited)
    .bind(refund_key)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        sqlx::query(
            "UPDATE wallets SET balance_minor = balance_minor + $2, updated_at = $3 WHERE user_id = $1",
        )
        .bind(user_id)
        .bind(-debited)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Sets an order's status and fulfilment status.
pub(crate) async fn set_order_status_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    status: OrderStatus,
    fulfillment_status: FulfillmentStatus,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE orders SET status = $2, fulfillment_status = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(order_id)
    .bind(status.as_str())
    .bind(fulfillment_status.as_str())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks one attempt delivered and the order completed.
pub(crate) async fn complete_fulfillment_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    attempt: i32,
    external_order_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE fulfillment_logs SET status = $5, fulfilled_at = $3, error_message = NULL,
             external_order_id = COALESCE($4, external_order_id), updated_at = $3
         WHERE order_id = $1 AND attempt_number = $2",
    )
    .bind(order_id)
    .bind(attempt)
    .bind(now)
    .bind(external_order_id)
    .bind(AttemptStatus::Success.as_str())
    .execute(&mut *conn)
    .await?;
    set_order_status_in(
        conn,
        order_id,
        OrderStatus::Completed,
        FulfillmentStatus::Completed,
        now,
    )
    .await
}

/// A submission the provider reported failed, and when the retry that follows it is due.
#[derive(Debug, Clone)]
pub struct FailedAttempt {
    pub order_id: Uuid,
    pub attempt_number: i32,
    pub error_message: String,
    pub retry_after: Option<DateTime<Utc>>,
}

/// Marks one submission failed, unless it was already settled (a late failure after a
/// delivery changes nothing).
pub(crate) async fn fail_attempt_in(
    conn: &mut PgConnection,
    f: &FailedAttempt,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE fulfillment_logs SET status = $3, error_message = $4, retry_after = $5, updated_at = $6
         WHERE order_id = $1 AND attempt_number = $2 AND status <> $7",
    )
    .bind(f.order_id)
    .bind(f.attempt_number)
    .bind(AttemptStatus::Failed.as_str())
    .bind(&f.error_message)
    .bind(f.retry_after)
    .bind(now)
    .bind(AttemptStatus::Success.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks every open attempt failed and the order failed.
pub(crate) async fn fail_order_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE fulfillment_logs SET status = $3, updated_at = $2
         WHERE order_id = $1 AND status = ANY($4)",
    )
    .bind(order_id)
    .bind(now)
    .bind(AttemptStatus::Failed.as_str())
    .bind(AttemptStatus::open_tags())
    .execute(&mut *conn)
    .await?;
    set_order_status_in(
        conn,
        order_id,
        OrderStatus::Failed,
        FulfillmentStatus::Failed,
        now,
    )
    .await
}

/// An in-app notification.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user_id: Uuid,
    pub order_id: Option<Uuid>,
    pub kind: String,
    pub message: String,
    pub dedup_key: String,
}

/// Records an in-app notification once per dedup key; true when this call recorded it.
pub(crate) async fn notify_in_app_in(
    conn: &mut PgConnection,
    n: &NewNotification,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO notifications (user_id, order_id, kind, message, dedup_key, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedup_key) DO NOTHING",
    )
    .bind(n.user_id)
    .bind(n.order_id)
    .bind(&n.kind)
    .bind(&n.message)
    .bind(&n.dedup_key)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The receipt of a completed order, written once.
pub(crate) async fn write_receipt_in(
    conn: &mut PgConnection,
    order_id: Uuid,
    receipt_no: &str,
    amount_minor: i64,
    detail: &Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO receipts (order_id, receipt_no, amount_minor, detail, created_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO NOTHING",
    )
    .bind(order_id)
    .bind(receipt_no)
    .bind(amount_minor)
    .bind(detail)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
