//! `GET /v1/partner/products`: the catalogue an admitted partner may order from, served from
//! the router's cache.

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use serde_json::{Value, json};

use crate::api::AppState;
use crate::domain::money::Minor;
use crate::families::partner::store::Product;

use super::{PartnerApi, PartnerError};

fn product_json(p: &Product) -> Value {
    json!({
        "productId": p.id,
        "name": p.name,
        "description": p.description,
        "currency": p.currency,
        "prices": {
            "1_MONTH": Minor(p.price_1_month_minor).to_major_string(),
            "12_MONTHS": Minor(p.price_12_months_minor).to_major_string(),
        },
        "tenures": ["1_MONTH", "12_MONTHS"],
    })
}

#[utoipa::path(get, path = "/v1/partner/products", tag = "partner", security(("partner_key" = [])),
    responses((status = 200, description = "the partner's catalogue"), (status = 401, description = "bad key"), (status = 429, description = "rate limited")))]
pub(crate) async fn products(
    State(s): State<AppState>,
    Extension(api): Extension<Arc<PartnerApi>>,
    headers: HeaderMap,
) -> Result<Json<Value>, PartnerError> {
    let account = api.admit(&s, &headers).await?;
    let items = api.products(&s).await?;
    Ok(Json(json!({
        "partnerId": account.id,
        "products": items.iter().map(product_json).collect::<Vec<_>>(),
    })))
}
