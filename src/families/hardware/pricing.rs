//! Pricing an order against the current price book: used by `POST /v1/orders` (provisional),
//! by `send-checkout` (strict, before the saga starts) and by the `price_resolve` step
//! (strict, then the snapshots lock).

use crate::domain::money::Minor;
use crate::domain::pricing::{
    LineRequest, NoAgreements, PriceAgreements, PriceSource, PricingError, Resolution, Scope,
    order_total, resolve,
};
use crate::families::hardware::store::{HardwareOrder, OrderItemRow};
use crate::store::Store;

/// The agreement hook the workflow uses. Price agreements are an interface only: swap this
/// for a real lookup and every path above picks it up.
pub(crate) fn agreements() -> &'static dyn PriceAgreements {
    &NoAgreements
}

/// Why an order could not be priced.
#[derive(Debug, thiserror::Error)]
pub enum PriceOrderError {
    #[error(transparent)]
    Pricing(#[from] PricingError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// Prices lines for a company, region and currency; the first line that cannot be priced is
/// the error (lines are numbered from 1).
pub(crate) async fn price_lines(
    store: &Store,
    lines: &[LineRequest],
    scope: &Scope<'_>,
) -> Result<Vec<Resolution>, PriceOrderError> {
    let skus: Vec<String> = lines.iter().map(|l| l.sku.clone()).collect();
    let book = store.price_entries(&skus).await?;
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        out.push(resolve(i + 1, line, scope, &book, agreements())?);
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

/// Re-prices a stored order's lines (bespoke lines keep their agreed amount), keyed by line
/// number. Lines whose snapshot is already locked keep it.
pub(crate) async fn reprice_order(
    store: &Store,
    order: &HardwareOrder,
    items: &[OrderItemRow],
    strict: bool,
) -> Result<Vec<(i32, Resolution)>, PriceOrderError> {
    let open: Vec<&OrderItemRow> = items
        .iter()
        .filter(|item| item.snapshot_locked_at.is_none())
        .collect();
    let skus: Vec<String> = open.iter().map(|i| i.sku.clone()).collect();
    let book = store.price_entries(&skus).await?;
    let scope = Scope {
        company_id: &order.company_id,
        region: order.region.as_deref(),
        currency: &order.currency,
        strict,
    };
    let mut out = Vec::with_capacity(open.len());
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
        out.push((
            item.line_no,
            resolve(line, &request, &scope, &book, agreements())?,
        ));
    }
    repriced_total(items, &out)?;
    Ok(out)
}
