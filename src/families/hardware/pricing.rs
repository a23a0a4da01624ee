//! Pricing an order against the company's price agreements and the current price book: used
//! by `POST /v1/orders` (provisional), by `send-checkout` (strict, before the saga starts) and
//! by the `price_resolve` step (strict, then the snapshots lock with their full resolution).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::domain::money::Minor;
use crate::domain::price_agreements::AgreementBook;
use crate::domain::pricing::{
    Entry, LineRequest, PriceSource, PricingError, Resolution, Scope, order_total, resolve,
};
use crate::domain::pricing_trace::candidates;
use crate::families::hardware::store::{HardwareOrder, OrderItemRow};
use crate::store::Store;

/// Why an order could not be priced.
#[derive(Debug, thiserror::Error)]
pub enum PriceOrderError {
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// What the resolver reads for one company's lines: the price book of their SKUs and the
/// company's agreements, in force or not, fixed at `at`.
struct Sources {
    book: Vec<Entry>,
    agreements: AgreementBook,
}

async fn sources(
    store: &Store,
    company_id: &str,
    skus: &[String],
    at: DateTime<Utc>,
) -> Result<Sources, crate::store::Error> {
    Ok(Sources {
        book: store.price_entries(skus).await?,
        agreements: store.agreement_book(company_id, skus, at).await?,
    })
}

/// Prices lines for a company, region and currency at `at`; the first line that cannot be
/// priced is the error (lines are numbered from 1).
pub(crate) async fn price_lines(
    store: &Store,
    lines: &[LineRequest],
    scope: &Scope<'_>,
    at: DateTime<Utc>,
) -> Result<Vec<Resolution>, PriceOrderError> {
    let skus: Vec<String> = lines.iter().map(|l| l.sku.clone()).collect();
    let src = sources(store, scope.company_id, &skus, at).await?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        out.push(resolve(i + 1, line, scope, &src.book, &src.agreements)?);
    }
    order_total(&out)?;
    Ok(out)
}

/// The order's total once `repriced` lines replace their stored price (locked lines keep
/// theirs), refused past `Minor::MAX` rather than overflowing.
pub(crate) fn repriced_total(
    items: &[OrderItemRow],
    repriced: &[(i32, Resolution)],
) -> Result<i64, PricingError> {
    let lines = items.iter().map(|item| {
        repriced.iter().find(|(n, _)| *n == item.line_no).map_or(
            item.unit_amount_minor
                .saturating_mul(i64::from(item.quantity)),
            |(_, p)| p.line_total_minor,
        )
    });
    Minor::total(lines)
        .map(|t| t.0)
        .ok_or(PricingError::TotalTooLarge)
}

/// A stored order's open lines, re-priced, with each line's full resolution (what
/// `GET /v1/pricing/resolutions/{order_item_id}` shows once the snapshot is taken).
pub(crate) struct Repriced {
    pub lines: Vec<(i32, Resolution)>,
    pub traces: Vec<(i32, Value)>,
}

/// Re-prices a stored order's lines at `at` (bespoke lines keep their agreed amount), keyed by
/// line number. Lines whose snapshot is already locked keep it.
pub(crate) async fn reprice_order(
    store: &Store,
    order: &HardwareOrder,
    items: &[OrderItemRow],
    strict: bool,
    at: DateTime<Utc>,
) -> Result<Repriced, PriceOrderError> {
    let open: Vec<&OrderItemRow> = items
        .iter()
        .filter(|item| item.snapshot_locked_at.is_none())
        .collect();
    let skus: Vec<String> = open.iter().map(|i| i.sku.clone()).collect();
    let src = sources(store, &order.company_id, &skus, at).await?;
    let scope = Scope {
        company_id: &order.company_id,
        region: order.region.as_deref(),
        currency: &order.currency,
        strict,
    };
    let mut out = Repriced {
        lines: Vec::with_capacity(open.len()),
        traces: Vec::with_capacity(open.len()),
    };
    for item in open {
        let request = LineRequest {
            sku: item.sku.clone(),
            quantity: item.quantity,
            bespoke: (item.price_type == PriceSource::Bespoke.as_str()).then(|| {
                (
                    item.unit_amount_minor,
                    item.bespoke_notes.clone().unwrap_or_default(),
                )
            }),
        };
        let line = usize::try_from(item.line_no).unwrap_or(0);
        let resolution = resolve(line, &request, &scope, &src.book, &src.agreements)?;
        let weighed = candidates(&item.sku, &scope, &src.book, &src.agreements, &resolution);
        out.traces.push((
            item.line_no,
            json!({
                "order_item_id": item.id,
                "line": item.line_no,
                "sku": item.sku,
                "quantity": item.quantity,
                "scope": {
                    "company_id": scope.company_id,
                    "region": scope.region,
                    "currency": scope.currency,
                    "strict": strict,
                    "at": at,
                },
                "result": resolution,
                "candidates": weighed,
            }),
        ));
        out.lines.push((item.line_no, resolution));
    }
    repriced_total(items, &out.lines)?;
    Ok(out)
}
