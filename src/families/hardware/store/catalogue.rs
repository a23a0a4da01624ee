//! The price book (products and their global or regional entries, upserted from `[hardware]`
//! at start-up).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::money::Minor;
use crate::domain::pricing::Entry;
use crate::store::{Error, Result, Store};

/// One price-book entry as configured.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PriceSeed {
    pub id: String,
    pub sku: String,
    /// Product name, shown on order lines and invoices.
    pub name: String,
    /// Omitted for the global price.
    #[serde(default)]
    pub region: Option<String>,
    pub currency: String,
    /// Unit price in major units (149.00).
    pub unit_amount: f64,
    #[serde(default)]
    pub processor_price_id: Option<String>,
    /// The processor holds `processor_price_id` at this amount.
    #[serde(default)]
    pub synced: bool,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    id: String,
    sku: String,
    name: String,
    region: Option<String>,
    currency: String,
    unit_amount_minor: i64,
    processor_price_id: Option<String>,
    synced: bool,
}

impl Store {
    /// Upserts the configured price book. Entries no longer configured stay (old snapshots
    /// name them) but their products are marked inactive when no entry remains. An entry the
    /// price sync synced keeps its processor price while its amount and currency stay.
    pub(crate) async fn seed_price_book(
        &self,
        seeds: &[PriceSeed],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool().begin().await?;
        for seed in seeds {
            let amount = Minor::from_major(seed.unit_amount)
                .filter(|m| m.0 > 0)
                .ok_or_else(|| Error::Corrupt(format!("bad unit_amount for {}", seed.id)))?;
            sqlx::query(
                "INSERT INTO price_book_products (sku, name, active, updated_at) VALUES ($1, $2, true, $3)
                 ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, active = true, updated_at = EXCLUDED.updated_at",
            )
            .bind(&seed.sku)
            .bind(&seed.name)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO price_book_entries
                     (id, sku, region, currency, unit_amount_minor, processor_price_id, synced, updated_at)
                 VALUES ($1, $2, $3, lower($4), $5, $6, $7, $8)
                 ON CONFLICT (id) DO UPDATE SET sku = EXCLUDED.sku, region = EXCLUDED.region,
                     currency = EXCLUDED.currency, unit_amount_minor = EXCLUDED.unit_amount_minor,
                     -- A price the price sync gave the processor stays synced across restarts
                     -- while the configured amount and currency are those it synced.
                     processor_price_id = CASE WHEN NOT EXCLUDED.synced AND price_book_entries.synced
                             AND price_book_entries.unit_amount_minor = EXCLUDED.unit_amount_minor
                             AND price_book_entries.currency = EXCLUDED.currency
                         THEN price_book_entries.processor_price_id ELSE EXCLUDED.processor_price_id END,
                     synced = EXCLUDED.synced OR (price_book_entries.synced
                             AND price_book_entries.unit_amount_minor = EXCLUDED.unit_amount_minor
                             AND price_book_entries.currency = EXCLUDED.currency),
                     revision = price_book_entries.revision
                         + CASE WHEN price_book_entries.unit_amount_minor = EXCLUDED.unit_amount_minor
                                 AND price_book_entries.currency = EXCLUDED.currency THEN 0 ELSE 1 END,
                     updated_at = EXCLUDED.updated_at",
            )
            .bind(&seed.id)
            .bind(&seed.sku)
            .bind(&seed.region)
            .bind(&seed.currency)
            .bind(amount.0)
            .bind(&seed.processor_price_id)
            .bind(seed.synced)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Every entry of the given products (active products only).
    pub(crate) async fn price_entries(&self, skus: &[String]) -> Result<Vec<Entry>> {
        let rows = sqlx::query_as::<_, EntryRow>(
            "SELECT e.id, e.sku, p.name, e.region, e.currency, e.unit_amount_minor,
                    e.processor_price_id, e.synced
             FROM price_book_entries e JOIN price_book_products p USING (sku)
             WHERE p.active AND e.sku = ANY($1)
             ORDER BY e.id",
        )
        .bind(skus)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Entry {
                id: r.id,
                sku: r.sku,
                name: r.name,
                region: r.region,
                currency: r.currency,
                unit_amount_minor: r.unit_amount_minor,
                processor_price_id: r.processor_price_id,
                synced: r.synced,
            })
            .collect())
    }

    /// Marks a price-book entry synced (or not) with the processor; what an operator does once
    /// the processor holds the price.
    pub async fn set_price_synced(
        &self,
        entry_id: &str,
        synced: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let done =
            sqlx::query("UPDATE price_book_entries SET synced = $2, updated_at = $3 WHERE id = $1")
                .bind(entry_id)
                .bind(synced)
                .bind(now)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}
