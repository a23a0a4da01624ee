//! `POST /v1/pricing/quote`: what lines would cost for a company, region and currency, and
//! whether checkout could charge them. Also the line checks and pricing-error mapping that
//! order creation and checkout share.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{invalid, required, text};
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::money::Minor;
use crate::domain::pricing::{LineRequest, PricingError, Scope, order_total};
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::pricing::{PriceOrderError, price_lines};

/// Most lines one order (or quote) may have.
pub(crate) const MAX_LINES: usize = 100;
/// Most units of one line.
pub(crate) const MAX_QUANTITY: i64 = 10_000;

/// A price agreed outside the price book.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Bespoke {
    /// Unit price in major units (120.00).
    pub unit_amount: f64,
    /// Why the price is bespoke.
    #[serde(default)]
    pub notes: Option<String>,
}

/// 422 for an unsynced price (`price_not_synced`) or any other pricing failure
/// (`pricing_error`); the message names the line.
pub(crate) fn pricing_error(e: PriceOrderError) -> ApiError {
    match e {
        PriceOrderError::Pricing(p @ PricingError::Unsynced { .. }) => {
            invalid("price_not_synced", p.to_string())
        }
        PriceOrderError::Pricing(
            p @ (PricingError::OutOfRange { .. } | PricingError::TotalTooLarge),
        ) => invalid("amount_too_large", p.to_string()),
        PriceOrderError::Pricing(p) => invalid("pricing_error", p.to_string()),
        PriceOrderError::Store(e) => e.into(),
    }
}

/// 1 to [`MAX_LINES`] lines.
pub(crate) fn check_count(count: usize) -> Result<(), ApiError> {
    if count == 0 {
        return Err(invalid("invalid_lines", "lines: give at least one line"));
    }
    if count > MAX_LINES {
        return Err(invalid(
            "invalid_lines",
            format!("lines: at most {MAX_LINES} lines, got {count}"),
        ));
    }
    Ok(())
}

/// One line (numbered from 1) as the resolver takes it, or a 422 naming it.
pub(crate) fn line_request(
    line: usize,
    sku: &Option<String>,
    quantity: i64,
    bespoke: &Option<Bespoke>,
) -> Result<LineRequest, ApiError> {
    let sku = required(&format!("line {line}: sku"), sku)?;
    if !(1..=MAX_QUANTITY).contains(&quantity) {
        return Err(invalid(
            "invalid_quantity",
            format!("line {line} ({sku}): quantity must be between 1 and {MAX_QUANTITY}"),
        ));
    }
    let bespoke = match bespoke {
        None => None,
        Some(b) => {
            // Bounded so that no quantity or number of lines can make a total overflow.
            let amount = Minor::from_major(b.unit_amount)
                .filter(|m| m.0 > 0 && m.0 <= Minor::MAX)
                .ok_or_else(|| {
                    invalid(
                        "invalid_bespoke",
                        format!(
                            "line {line} ({sku}): bespoke.unit_amount must be above 0 and at most {}",
                            Minor(Minor::MAX)
                        ),
                    )
                })?;
            let notes = text(&format!("line {line} ({sku}): bespoke.notes"), &b.notes)?;
            Some((amount.0, notes.unwrap_or_default()))
        }
    };
    Ok(LineRequest {
        sku,
        // Within MAX_QUANTITY, checked above.
        quantity: i32::try_from(quantity).unwrap_or(i32::MAX),
        bespoke,
    })
}

/// A currency code: three ASCII letters, lowercased.
pub(crate) fn check_currency(raw: &str) -> Result<String, ApiError> {
    let code = raw.trim().to_ascii_lowercase();
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err(invalid(
            "invalid_currency",
            format!("currency {raw:?} must be a three-letter code such as usd"),
        ));
    }
    Ok(code)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteLine {
    pub sku: Option<String>,
    pub quantity: i64,
    #[serde(default)]
    pub bespoke: Option<Bespoke>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    /// The buying company: its price agreements in force apply before the price book.
    #[serde(default)]
    pub company_id: Option<String>,
    /// A region with its own prices (`CA`); the global price otherwise.
    #[serde(default)]
    pub region: Option<String>,
    /// Defaults to `[hardware] default_currency`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Refuse (422 `price_not_synced`) a line the processor cannot charge by price id.
    #[serde(default)]
    pub strict: bool,
    pub lines: Vec<QuoteLine>,
}

/// Prices lines without creating anything: each line's price and where it came from, the
/// total, and whether checkout could charge every line (`checkout_ready`).
#[utoipa::path(post, path = "/v1/pricing/quote", operation_id = "quote_prices", tag = "hardware", request_body = QuoteRequest,
    responses((status = 200, description = "each line's price, the total and checkout readiness"),
        (status = 422, description = "bad line, unknown SKU, no price, or (strict) an unsynced price; the message names the line")))]
pub(crate) async fn quote(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    ApiJson(req): ApiJson<QuoteRequest>,
) -> Result<Json<Value>, ApiError> {
    check_count(req.lines.len())?;
    let lines = req
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| line_request(i + 1, &l.sku, l.quantity, &l.bespoke))
        .collect::<Result<Vec<_>, _>>()?;
    let company = text("company_id", &req.company_id)?.unwrap_or_default();
    let region = text("region", &req.region)?.map(|r| r.to_ascii_uppercase());
    let currency = check_currency(
        req.currency
            .as_deref()
            .unwrap_or(&settings.default_currency),
    )?;
    let scope = Scope {
        company_id: &company,
        region: region.as_deref(),
        currency: &currency,
        strict: req.strict,
    };
    let priced = price_lines(&s.rt.store, &lines, &scope, s.rt.clock.now())
        .await
        .map_err(pricing_error)?;
    let items: Vec<Value> = priced
        .iter()
        .enumerate()
        .map(|(i, p)| {
            json!({
                "line": i + 1,
                "sku": p.sku,
                "description": p.description,
                "quantity": p.quantity,
                "source": p.source.as_str(),
                "price_book_entry_id": p.price_book_entry_id,
                "price_agreement_id": p.price_agreement_id,
                "processor_price_id": p.processor_price_id,
                "unit_amount_minor": p.unit_amount_minor,
                "line_total_minor": p.line_total_minor,
                "currency": p.currency,
                "synced": p.synced,
                "bespoke_notes": p.bespoke_notes,
            })
        })
        .collect();
    // price_lines refused a total past Minor::MAX, so this sum cannot overflow.
    let total = order_total(&priced).map_err(|e| invalid("amount_too_large", e.to_string()))?;
    Ok(Json(json!({
        "lines": items,
        "total_minor": total,
        "currency": currency,
        "region": region,
        "checkout_ready": priced.iter().all(|p| p.synced),
    })))
}
