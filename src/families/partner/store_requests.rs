//! The partner API's request log (`partner_requests`): one row per request, written after the
//! answer, already masked and bounded by the caller; read newest first by support, and pruned
//! daily (`request_prune`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::FromRow;

use crate::store::{Result, Store};

/// A request as it is recorded.
#[derive(Debug, Clone)]
pub struct NewPartnerRequest {
    pub partner_id: Option<String>,
    pub key_hint: Option<String>,
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub status: i32,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i32,
    pub received_at: DateTime<Utc>,
}

/// A recorded request, for the API and the console.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct PartnerRequestRow {
    pub id: i64,
    /// The account whose key matched; null when none did.
    pub partner_id: Option<String>,
    /// The first characters of the key sent, the rest masked.
    pub key_hint: Option<String>,
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub status: i32,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    pub duration_ms: i32,
    pub received_at: DateTime<Utc>,
}

impl Store {
    pub(crate) async fn record_partner_request(&self, r: &NewPartnerRequest) -> Result<()> {
        sqlx::query(
            "INSERT INTO partner_requests (partner_id, key_hint, method, path, idempotency_key, status,
                 request_body, response_body, duration_ms, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&r.partner_id)
        .bind(&r.key_hint)
        .bind(&r.method)
        .bind(&r.path)
        .bind(&r.idempotency_key)
        .bind(r.status)
        .bind(&r.request_body)
        .bind(&r.response_body)
        .bind(r.duration_ms)
        .bind(r.received_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Drops requests received before `before`, a batch at a time so a large backlog never
    /// holds one long transaction; returns how many went.
    pub(crate) async fn prune_partner_requests(&self, before: DateTime<Utc>) -> Result<u64> {
        const BATCH: i64 = 5_000;
        let mut gone = 0;
        loop {
            let n = sqlx::query(
                "DELETE FROM partner_requests WHERE id IN (
                     SELECT id FROM partner_requests WHERE received_at < $1 LIMIT $2)",
            )
            .bind(before)
            .bind(BATCH)
            .execute(self.pool())
            .await?
            .rows_affected();
            gone += n;
            if n < BATCH as u64 {
                return Ok(gone);
            }
        }
    }

    /// The latest `limit` requests, newest first; of one account when `partner_id` is given.
    pub async fn partner_requests(
        &self,
        partner_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PartnerRequestRow>> {
        Ok(sqlx::query_as(
            "SELECT id, partner_id, key_hint, method, path, idempotency_key, status, request_body,
                    response_body, duration_ms, received_at
             FROM partner_requests WHERE ($1::text IS NULL OR partner_id = $1)
             ORDER BY id DESC LIMIT $2",
        )
        .bind(partner_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
