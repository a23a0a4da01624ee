//! The company directory: the one place a company's default shipping address changes. Drafting
//! an order never does, so one shop's order cannot move where another's shipments go.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Address, invalid, required};
use crate::api::{ApiError, ApiJson, AppState};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyAddress {
    /// The company's name, when it is new to the directory.
    #[serde(default)]
    pub name: Option<String>,
    pub shipping_address: Address,
}

/// Sets a company's default shipping address (creating the company when a name is given).
#[utoipa::path(put, path = "/v1/companies/{id}/shipping-address", operation_id = "set_company_shipping_address", tag = "hardware",
    params(("id" = String, Path, description = "company id")), request_body = CompanyAddress,
    responses((status = 200, description = "the company"), (status = 422, description = "a missing address field, or a new company without a name")))]
pub(crate) async fn set_shipping_address(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CompanyAddress>,
) -> Result<Json<Value>, ApiError> {
    let id = required("id", &Some(id))?;
    let address = req.shipping_address.check("shipping_address")?;
    let name = super::text("name", &req.name)?;
    let known = s.rt.store.company(&id).await?;
    let name = match (name, known) {
        (Some(name), _) => name,
        (None, Some(c)) => c.name,
        (None, None) => {
            return Err(invalid(
                "invalid_body",
                format!("company {id} is new: give its name"),
            ));
        }
    };
    s.rt.store
        .set_company_address(&id, &name, &address, s.rt.clock.now())
        .await?;
    Ok(Json(
        json!({ "id": id, "name": name, "default_shipping_address": address }),
    ))
}
