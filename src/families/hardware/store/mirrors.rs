//! The legacy mirrors (`company_mirrors`, `asset_mirrors`, `device_mirrors`), the drift
//! reports (`legacy_sync_reports`) and the legacy syncs' domain events, which belong to no
//! order.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};
use uuid::Uuid;

use crate::domain::legacy::{Drift, Entity, LegacyRecord, MirrorRecord};
use crate::store::{Result, Store};

/// One flagged record of a drift check.
#[derive(Debug, Clone, PartialEq)]
pub struct Flagged {
    pub entity: Entity,
    pub legacy_id: String,
    pub kind: Drift,
    pub detail: Value,
}

/// A drift report as stored and shown.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct ReportRow {
    pub id: Uuid,
    /// The drift check that found it (a `legacy_drift` saga).
    pub saga_id: Uuid,
    pub entity: String,
    pub legacy_id: String,
    pub kind: String,
    pub detail: Value,
    pub detected_at: DateTime<Utc>,
    /// When a later check found the record in agreement; open until then.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Which reports a list shows.
#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub entity: Option<String>,
    pub kind: Option<String>,
    pub open_only: bool,
}

/// Copies bridge records into the entity's mirror; each keeps the legacy version it copied.
pub(crate) async fn upsert_mirrors_in(
    conn: &mut PgConnection,
    entity: Entity,
    records: &[LegacyRecord],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO {} (legacy_id, data, source_updated_at, refreshed_at)
         SELECT * FROM UNNEST($1::text[], $2::jsonb[], $3::timestamptz[], $4::timestamptz[])
         ON CONFLICT (legacy_id) DO UPDATE SET data = EXCLUDED.data,
             source_updated_at = EXCLUDED.source_updated_at, refreshed_at = EXCLUDED.refreshed_at",
        entity.mirror_table()
    );
    let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
    let data: Vec<&Value> = records.iter().map(|r| &r.data).collect();
    let versions: Vec<DateTime<Utc>> = records.iter().map(|r| r.updated_at).collect();
    let at = vec![now; records.len()];
    sqlx::query(&sql)
        .bind(ids)
        .bind(data)
        .bind(versions)
        .bind(at)
        .execute(conn)
        .await?;
    Ok(())
}

/// Removes mirrors of records the bridge no longer holds: every one not in `keep` after a full
/// refresh, or just `ids` after a refresh by id. Returns how many went.
pub(crate) async fn remove_mirrors_in(
    conn: &mut PgConnection,
    entity: Entity,
    keep: Option<&BTreeSet<String>>,
    ids: &[String],
) -> Result<u64, sqlx::Error> {
    let table = entity.mirror_table();
    let done = match keep {
        Some(keep) => {
            let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE NOT (legacy_id = ANY($1))"
            ))
            .bind(keep)
            .execute(conn)
            .await?
        }
        None => {
            sqlx::query(&format!("DELETE FROM {table} WHERE legacy_id = ANY($1)"))
                .bind(ids)
                .execute(conn)
                .await?
        }
    };
    Ok(done.rows_affected())
}

/// A legacy sync's event (`legacy.sync_requested`, `legacy.sync_completed`), about the sync
/// saga and no order.
pub(crate) async fn emit_legacy_event_in(
    conn: &mut PgConnection,
    event_type: &'static str,
    saga_id: Uuid,
    payload: &Value,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO domain_events (event_type, aggregate_id, order_id, payload, source_module, created_at)
         VALUES ($1, $2, NULL, $3, 'legacy', $4)",
    )
    .bind(event_type)
    .bind(saga_id)
    .bind(payload)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a drift check over `checked` entities: a flagged record with an open report of the
/// same kind keeps it (its detail refreshed); a new one opens a report; open reports of those
/// entities that were not flagged again are resolved.
pub(crate) async fn record_drift_in(
    conn: &mut PgConnection,
    saga_id: Uuid,
    checked: &[Entity],
    flagged: &[Flagged],
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let entities: Vec<&str> = checked.iter().map(|e| e.as_str()).collect();
    let keys: Vec<String> = flagged
        .iter()
        .map(|f| {
            format!(
                "{}\u{1f}{}\u{1f}{}",
                f.entity.as_str(),
                f.legacy_id,
                f.kind.as_str()
            )
        })
        .collect();
    sqlx::query(
        "UPDATE legacy_sync_reports SET resolved_at = $3
         WHERE resolved_at IS NULL AND entity = ANY($1)
           AND NOT (entity || chr(31) || legacy_id || chr(31) || kind = ANY($2))",
    )
    .bind(&entities)
    .bind(&keys)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for f in flagged {
        let kept = sqlx::query(
            "UPDATE legacy_sync_reports SET detail = $4, saga_id = $5
             WHERE resolved_at IS NULL AND entity = $1 AND legacy_id = $2 AND kind = $3",
        )
        .bind(f.entity.as_str())
        .bind(&f.legacy_id)
        .bind(f.kind.as_str())
        .bind(&f.detail)
        .bind(saga_id)
        .execute(&mut *conn)
        .await?;
        if kept.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO legacy_sync_reports (id, saga_id, entity, legacy_id, kind, detail, detected_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(Uuid::now_v7())
            .bind(saga_id)
            .bind(f.entity.as_str())
            .bind(&f.legacy_id)
            .bind(f.kind.as_str())
            .bind(&f.detail)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

#[derive(FromRow)]
struct MirrorRow {
    legacy_id: String,
    data: Value,
    source_updated_at: DateTime<Utc>,
}

impl Store {
    /// An operator's legacy operation, launched with a fallback, on the order's timeline.
    pub(crate) async fn record_legacy_operation(
        &self,
        step_id: Uuid,
        order_id: Uuid,
        detail: &Value,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut conn = self.pool().acquire().await?;
        let event = super::events::DomainEvent {
            event_type: "automation.legacy_operation_launched",
            aggregate_id: step_id,
            order_id,
            payload: detail.clone(),
            source_module: "automation",
        };
        super::events::emit_in(&mut conn, &event, now).await?;
        Ok(())
    }

    /// Every mirror of an entity.
    pub(crate) async fn mirrors(&self, entity: Entity) -> Result<Vec<MirrorRecord>> {
        let rows = sqlx::query_as::<_, MirrorRow>(&format!(
            "SELECT legacy_id, data, source_updated_at FROM {} ORDER BY legacy_id",
            entity.mirror_table()
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| MirrorRecord {
                id: r.legacy_id,
                source_updated_at: r.source_updated_at,
                data: r.data,
            })
            .collect())
    }

    /// Companies whose legacy id names no company mirror: (company id, legacy id).
    pub(crate) async fn companies_without_mirror(&self) -> Result<Vec<(String, String)>> {
        Ok(sqlx::query_as(
            "SELECT c.id, c.company_mirror_id FROM companies c
             WHERE c.company_mirror_id IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM company_mirrors m WHERE m.legacy_id = c.company_mirror_id)
             ORDER BY c.id",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// Drift reports, newest first.
    pub(crate) async fn legacy_reports(
        &self,
        filter: &ReportFilter,
        limit: i64,
    ) -> Result<Vec<ReportRow>> {
        Ok(sqlx::query_as::<_, ReportRow>(
            "SELECT id, saga_id, entity, legacy_id, kind, detail, detected_at, resolved_at
             FROM legacy_sync_reports
             WHERE ($1::text IS NULL OR entity = $1) AND ($2::text IS NULL OR kind = $2)
               AND (NOT $3 OR resolved_at IS NULL)
             ORDER BY detected_at DESC, entity, legacy_id LIMIT $4",
        )
        .bind(&filter.entity)
        .bind(&filter.kind)
        .bind(filter.open_only)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }
}
