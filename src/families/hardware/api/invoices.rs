//! A payment received outside the processor (a bank transfer), recorded against an invoice
//! and allocated to it at once: partially paid, then paid. A void or settled invoice takes no
//! payment (409).

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use super::billing::invoice_json;
use super::{invalid, parse_id, required, store_error};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::money::Minor;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualPayment {
    /// In minor units (cents); at most what the invoice still asks.
    pub amount_minor: i64,
    /// The bank's or Support's reference; a second payment with it changes nothing.
    pub reference: Option<String>,
}

/// Records a payment and allocates it: the invoice becomes partially paid or paid.
#[utoipa::path(post, path = "/v1/invoices/{id}/payments", operation_id = "record_invoice_payment", tag = "hardware", params(("id" = String, Path, description = "invoice id")),
    request_body = ManualPayment,
    responses((status = 200, description = "the invoice after allocation"), (status = 404, description = "no such invoice"),
        (status = 409, description = "the invoice is void, paid, or asks for less"),
        (status = 422, description = "an amount that is not 1 to 10^15 cents, or no reference")))]
pub(crate) async fn record_payment(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ManualPayment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "invoice")?;
    // Bounded like every amount the API takes, so the invoice's sums cannot overflow.
    if !(1..=Minor::MAX).contains(&req.amount_minor) {
        return Err(invalid(
            "invalid_body",
            format!(
                "amount_minor must be a positive number of cents, at most {}",
                Minor::MAX
            ),
        ));
    }
    let reference = required("reference", &req.reference)?;
    let actor = crate::store::Actor {
        name: who.name.clone(),
        role: who.role.as_str().into(),
        reason: format!("manual payment {reference} of {} cents", req.amount_minor),
        job_id: None,
    };
    let invoice =
        s.rt.store
            .record_manual_payment(
                id,
                req.amount_minor,
                &format!("manual:{reference}"),
                &actor,
                s.rt.clock.now(),
            )
            .await
            .map_err(store_error("invoice"))?;
    Ok((StatusCode::OK, Json(invoice_json(&s, &invoice).await?)))
}
