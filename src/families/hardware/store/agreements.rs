//! `price_agreements` and their audit trail: create, edit, archive, read; the agreements a
//! company's lines resolve against; and what the price sync reads and marks synced.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgConnection};

use crate::domain::price_agreements::{AgreementBook, AgreementTerms, check_window};
use crate::store::{Error, Result, Store};

/// An agreement as stored and shown.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct AgreementRow {
    pub id: String,
    pub company_id: String,
    pub sku: String,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub notes: Option<String>,
    pub processor_price_id: Option<String>,
    pub synced: bool,
    pub synced_at: Option<DateTime<Utc>>,
    pub revision: i32,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AgreementRow {
    pub fn terms(&self) -> AgreementTerms {
        AgreementTerms {
            id: self.id.clone(),
            company_id: self.company_id.clone(),
            sku: self.sku.clone(),
            currency: self.currency.clone(),
            unit_amount_minor: self.unit_amount_minor,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            processor_price_id: self.processor_price_id.clone(),
            synced: self.synced,
        }
    }
}

/// One line of an agreement's audit trail.
#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct AgreementAuditRow {
    pub id: i64,
    pub action: String,
    pub actor: String,
    pub before: Option<Value>,
    pub after: Value,
    pub created_at: DateTime<Utc>,
}

/// A new agreement, checked by the API.
#[derive(Debug, Clone)]
pub struct NewAgreement {
    pub id: String,
    pub company_id: String,
    pub sku: String,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub valid_from: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub notes: Option<String>,
}

/// What an edit changes; `None` keeps the field. `valid_until: Some(None)` makes the window
/// open-ended, `notes: Some(None)` clears the notes.
#[derive(Debug, Clone, Default)]
pub struct AgreementPatch {
    pub unit_amount_minor: Option<i64>,
    pub currency: Option<String>,
    pub valid_from: Option<DateTime<Utc>>,
    pub valid_until: Option<Option<DateTime<Utc>>>,
    pub notes: Option<Option<String>>,
}

/// Which agreements a list shows.
#[derive(Debug, Clone, Default)]
pub struct AgreementFilter {
    pub company_id: Option<String>,
    pub sku: Option<String>,
    pub include_archived: bool,
}

/// A price the processor must hold before strict checkouts can charge it: an agreement's or a
/// price-book entry's, at its current revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, FromRow)]
pub struct PriceToSync {
    /// `agreement` or `entry`.
    pub kind: String,
    pub id: String,
    pub sku: String,
    pub product_name: String,
    pub currency: String,
    pub unit_amount_minor: i64,
    pub revision: i32,
    pub processor_price_id: Option<String>,
}

const COLUMNS: &str = "id, company_id, sku, currency, unit_amount_minor, valid_from, valid_until, notes,
    processor_price_id, synced, synced_at, revision, archived_at, created_by, created_at, updated_at";

fn snapshot(row: &AgreementRow) -> Value {
    serde_json::to_value(row).unwrap_or(Value::Null)
}

async fn audit_in(
    conn: &mut PgConnection,
    id: &str,
    action: &str,
    actor: &str,
    before: Option<&AgreementRow>,
    after: &AgreementRow,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO price_agreement_audit (agreement_id, action, actor, before, after, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(action)
    .bind(actor)
    .bind(before.map(snapshot))
    .bind(snapshot(after))
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Refuses an agreement whose window overlaps another live one of the same company, SKU and
/// currency. The advisory lock serialises writers of that triple, so two concurrent creates
/// cannot both pass the check.
async fn refuse_clash(conn: &mut PgConnection, terms: &AgreementTerms) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
        .bind(format!(
            "price_agreement:{}:{}:{}",
            terms.company_id, terms.sku, terms.currency
        ))
        .execute(&mut *conn)
        .await?;
    let others = sqlx::query_as::<_, AgreementRow>(&format!(
        "SELECT {COLUMNS} FROM price_agreements
         WHERE company_id = $1 AND sku = $2 AND currency = $3 AND archived_at IS NULL AND id <> $4"
    ))
    .bind(&terms.company_id)
    .bind(&terms.sku)
    .bind(&terms.currency)
    .bind(&terms.id)
    .fetch_all(&mut *conn)
    .await?;
    if let Some(other) = others.iter().find(|o| terms.clashes_with(&o.terms())) {
        return Err(Error::Conflict(format!(
            "agreement {} already prices {} in {} for company {} from {}{}; end or archive it first",
            other.id,
            other.sku,
            other.currency,
            other.company_id,
            other.valid_from.to_rfc3339(),
            other
                .valid_until
                .map(|u| format!(" until {}", u.to_rfc3339()))
                .unwrap_or_default(),
        )));
    }
    Ok(())
}

async fn locked_in(conn: &mut PgConnection, id: &str) -> Result<AgreementRow> {
    sqlx::query_as::<_, AgreementRow>(&format!(
        "SELECT {COLUMNS} FROM price_agreements WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .ok_or(Error::NotFound)
}

impl Store {
    /// Creates an agreement with its `created` audit line. An unknown company or SKU, or a
    /// window that overlaps a live agreement for the same company, SKU and currency, is
    /// refused and nothing is written.
    pub(crate) async fn create_agreement(
        &self,
        new: &NewAgreement,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AgreementRow> {
        check_window(new.valid_from, new.valid_until).map_err(|e| Error::Invalid(e.to_string()))?;
        let mut tx = self.pool().begin().await?;
        let company: Option<i32> = sqlx::query_scalar("SELECT 1 FROM companies WHERE id = $1")
            .bind(&new.company_id)
            .fetch_optional(&mut *tx)
            .await?;
        if company.is_none() {
            return Err(Error::Invalid(format!(
                "company_id: no company {:?}",
                new.company_id
            )));
        }
        let product: Option<i32> =
            sqlx::query_scalar("SELECT 1 FROM price_book_products WHERE sku = $1 AND active")
                .bind(&new.sku)
                .fetch_optional(&mut *tx)
                .await?;
        if product.is_none() {
            return Err(Error::Invalid(format!(
                "sku: {:?} is not an active product of the price book",
                new.sku
            )));
        }
        let terms = AgreementTerms {
            id: new.id.clone(),
            company_id: new.company_id.clone(),
            sku: new.sku.clone(),
            currency: new.currency.clone(),
            unit_amount_minor: new.unit_amount_minor,
            valid_from: new.valid_from,
            valid_until: new.valid_until,
            processor_price_id: None,
            synced: false,
        };
        refuse_clash(&mut tx, &terms).await?;
        let row = sqlx::query_as::<_, AgreementRow>(&format!(
            "INSERT INTO price_agreements (id, company_id, sku, currency, unit_amount_minor,
                 valid_from, valid_until, notes, created_by, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
        ))
        .bind(&new.id)
        .bind(&new.company_id)
        .bind(&new.sku)
        .bind(&new.currency)
        .bind(new.unit_amount_minor)
        .bind(new.valid_from)
        .bind(new.valid_until)
        .bind(&new.notes)
        .bind(actor)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit_in(&mut tx, &row.id, "created", actor, None, &row, now).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Edits a live agreement. A new amount or currency needs a new processor price: the
    /// agreement turns unsynced (strict checkouts refuse it until the price sync runs) and its
    /// revision moves on.
    pub(crate) async fn update_agreement(
        &self,
        id: &str,
        patch: &AgreementPatch,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AgreementRow> {
        let mut tx = self.pool().begin().await?;
        let before = locked_in(&mut tx, id).await?;
        if before.archived_at.is_some() {
            return Err(Error::Conflict(format!(
                "agreement {id} is archived and can no longer change"
            )));
        }
        let mut terms = before.terms();
        if let Some(amount) = patch.unit_amount_minor {
            terms.unit_amount_minor = amount;
        }
        if let Some(currency) = &patch.currency {
            terms.currency = currency.clone();
        }
        if let Some(from) = patch.valid_from {
            terms.valid_from = from;
        }
        if let Some(until) = patch.valid_until {
            terms.valid_until = until;
        }
        check_window(terms.valid_from, terms.valid_until)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        refuse_clash(&mut tx, &terms).await?;
        let repriced = terms.unit_amount_minor != before.unit_amount_minor
            || terms.currency != before.currency;
        let notes = match &patch.notes {
            Some(n) => n.clone(),
            None => before.notes.clone(),
        };
        let after = sqlx::query_as::<_, AgreementRow>(&format!(
            "UPDATE price_agreements SET unit_amount_minor = $2, currency = $3, valid_from = $4,
                 valid_until = $5, notes = $6, updated_at = $7,
                 synced = synced AND NOT $8, revision = revision + CASE WHEN $8 THEN 1 ELSE 0 END
             WHERE id = $1 RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(terms.unit_amount_minor)
        .bind(&terms.currency)
        .bind(terms.valid_from)
        .bind(terms.valid_until)
        .bind(&notes)
        .bind(now)
        .bind(repriced)
        .fetch_one(&mut *tx)
        .await?;
        audit_in(&mut tx, id, "updated", actor, Some(&before), &after, now).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Archives an agreement: it no longer prices anything, and orders already priced by it
    /// keep their snapshot. Archiving twice is a conflict.
    pub(crate) async fn archive_agreement(
        &self,
        id: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<AgreementRow> {
        let mut tx = self.pool().begin().await?;
        let before = locked_in(&mut tx, id).await?;
        if before.archived_at.is_some() {
            return Err(Error::Conflict(format!(
                "agreement {id} is already archived"
            )));
        }
        let after = sqlx::query_as::<_, AgreementRow>(&format!(
            "UPDATE price_agreements SET archived_at = $2, updated_at = $2 WHERE id = $1
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        audit_in(&mut tx, id, "archived", actor, Some(&before), &after, now).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// An agreement with its audit trail, oldest first.
    pub(crate) async fn agreement(
        &self,
        id: &str,
    ) -> Result<Option<(AgreementRow, Vec<AgreementAuditRow>)>> {
        let Some(row) = sqlx::query_as::<_, AgreementRow>(&format!(
            "SELECT {COLUMNS} FROM price_agreements WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        else {
            return Ok(None);
        };
        let audit = sqlx::query_as::<_, AgreementAuditRow>(
            "SELECT id, action, actor, before, after, created_at FROM price_agreement_audit
             WHERE agreement_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        Ok(Some((row, audit)))
    }

    pub(crate) async fn list_agreements(
        &self,
        filter: &AgreementFilter,
        limit: i64,
    ) -> Result<Vec<AgreementRow>> {
        Ok(sqlx::query_as::<_, AgreementRow>(&format!(
            "SELECT {COLUMNS} FROM price_agreements
             WHERE ($1::text IS NULL OR company_id = $1) AND ($2::text IS NULL OR sku = $2)
               AND ($3 OR archived_at IS NULL)
             ORDER BY company_id, sku, valid_from, id LIMIT $4"
        ))
        .bind(&filter.company_id)
        .bind(&filter.sku)
        .bind(filter.include_archived)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The company's live agreements for these SKUs, as the resolver sees them at `at`.
    pub(crate) async fn agreement_book(
        &self,
        company_id: &str,
        skus: &[String],
        at: DateTime<Utc>,
    ) -> Result<AgreementBook> {
        let rows = sqlx::query_as::<_, AgreementRow>(&format!(
            "SELECT {COLUMNS} FROM price_agreements
             WHERE company_id = $1 AND sku = ANY($2) AND archived_at IS NULL ORDER BY id"
        ))
        .bind(company_id)
        .bind(skus)
        .fetch_all(self.pool())
        .await?;
        Ok(AgreementBook {
            at,
            terms: rows.iter().map(AgreementRow::terms).collect(),
        })
    }

    /// Unsynced prices, oldest change first: live agreements that have not ended by `now`
    /// and entries of active products.
    pub(crate) async fn prices_to_sync(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<PriceToSync>> {
        Ok(sqlx::query_as::<_, PriceToSync>(
            "SELECT kind, id, sku, product_name, currency, unit_amount_minor, revision, processor_price_id
             FROM (
                SELECT 'agreement' AS kind, a.id, a.sku, p.name AS product_name, a.currency,
                       a.unit_amount_minor, a.revision, a.processor_price_id, a.updated_at
                FROM price_agreements a JOIN price_book_products p USING (sku)
                WHERE NOT a.synced AND a.archived_at IS NULL
                  AND (a.valid_until IS NULL OR a.valid_until > $1)
                UNION ALL
                SELECT 'entry', e.id, e.sku, p.name, e.currency, e.unit_amount_minor, e.revision,
                       e.processor_price_id, e.updated_at
                FROM price_book_entries e JOIN price_book_products p USING (sku)
                WHERE NOT e.synced AND p.active
             ) t ORDER BY updated_at, kind, id LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// (unsynced live agreements, agreements in force that end within `within`), for the
    /// pricing gauges.
    pub(crate) async fn agreement_health(
        &self,
        now: DateTime<Utc>,
        within: Duration,
    ) -> Result<(i64, i64)> {
        let horizon = now.checked_add_signed(within).unwrap_or(now);
        Ok(sqlx::query_as(
            "SELECT count(*) FILTER (WHERE NOT synced AND (valid_until IS NULL OR valid_until > $1)),
                    count(*) FILTER (WHERE valid_from <= $1 AND valid_until > $1 AND valid_until <= $2)
             FROM price_agreements WHERE archived_at IS NULL",
        )
        .bind(now)
        .bind(horizon)
        .fetch_one(self.pool())
        .await?)
    }
}

/// Records that the processor holds `price` for this revision of an agreement or entry. A
/// price changed since the sync read it (another revision) stays unsynced for the next run.
/// Returns whether the row was marked.
pub(crate) async fn mark_price_synced_in(
    conn: &mut PgConnection,
    item: &PriceToSync,
    price: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    if item.kind == "entry" {
        let done = sqlx::query(
            "UPDATE price_book_entries SET processor_price_id = $3, synced = true, synced_at = $4,
                 updated_at = $4
             WHERE id = $1 AND revision = $2 AND NOT synced",
        )
        .bind(&item.id)
        .bind(item.revision)
        .bind(price)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        return Ok(done.rows_affected() > 0);
    }
    let before = sqlx::query_as::<_, AgreementRow>(&format!(
        "SELECT {COLUMNS} FROM price_agreements WHERE id = $1 AND revision = $2 AND NOT synced
         FOR UPDATE"
    ))
    .bind(&item.id)
    .bind(item.revision)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(before) = before else {
        return Ok(false);
    };
    let after = sqlx::query_as::<_, AgreementRow>(&format!(
        "UPDATE price_agreements SET processor_price_id = $2, synced = true, synced_at = $3,
             updated_at = $3
         WHERE id = $1 RETURNING {COLUMNS}"
    ))
    .bind(&item.id)
    .bind(price)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    audit_in(
        conn,
        &item.id,
        "synced",
        "system:price_sync",
        Some(&before),
        &after,
        now,
    )
    .await?;
    Ok(true)
}

/// Stores each line's full resolution under its order item (by line number). A resolution
/// recorded when the snapshot locked is never rewritten.
pub(crate) async fn record_resolutions_in(
    conn: &mut PgConnection,
    order_id: uuid::Uuid,
    traces: &[(i32, Value)],
    locked: bool,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    for (line_no, trace) in traces {
        sqlx::query(
            "INSERT INTO pricing_resolutions (order_item_id, order_id, resolution, locked, resolved_at)
             SELECT id, order_id, $3, $4, $5 FROM hardware_order_items WHERE order_id = $1 AND line_no = $2
             ON CONFLICT (order_item_id) DO UPDATE SET resolution = EXCLUDED.resolution,
                 locked = EXCLUDED.locked, resolved_at = EXCLUDED.resolved_at
             WHERE NOT pricing_resolutions.locked",
        )
        .bind(order_id)
        .bind(line_no)
        .bind(trace)
        .bind(locked)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored resolution: (the order it belongs to, the order's creator, whether it is locked,
/// when, the resolution).
pub(crate) type StoredResolution = (uuid::Uuid, String, bool, DateTime<Utc>, Value);

impl Store {
    pub(crate) async fn pricing_resolution(
        &self,
        order_item_id: uuid::Uuid,
    ) -> Result<Option<StoredResolution>> {
        Ok(sqlx::query_as(
            "SELECT r.order_id, o.created_by, r.locked, r.resolved_at, r.resolution
             FROM pricing_resolutions r JOIN hardware_orders o ON o.id = r.order_id
             WHERE r.order_item_id = $1",
        )
        .bind(order_item_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The order an item belongs to and its creator, for a 404 that says whether the item
    /// exists without a resolution.
    pub(crate) async fn order_item_owner(
        &self,
        order_item_id: uuid::Uuid,
    ) -> Result<Option<(uuid::Uuid, String)>> {
        Ok(sqlx::query_as(
            "SELECT o.id, o.created_by FROM hardware_order_items i
             JOIN hardware_orders o ON o.id = i.order_id WHERE i.id = $1",
        )
        .bind(order_item_id)
        .fetch_optional(self.pool())
        .await?)
    }
}
