//! A company's address book: list, add, edit, archive, and the destinations orders and
//! shipments name (an entry of the book, or an ad-hoc address a shipment can save to it).
//! Exact duplicates within a company are refused, compared normalised.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::companies::nullable;
use super::{Address, invalid, no_such, parse_id, store_error, text, to_json};
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::hardware::directory::ValidationStatus;
use crate::families::hardware::store::{AddressPatch, AddressRow, Defaults};
use crate::store;

/// A duplicate is 409 `duplicate_address`; an unknown row 404 naming `what`.
fn book_error(what: &'static str) -> impl Fn(store::Error) -> ApiError {
    move |e| match e {
        store::Error::Conflict(m) if m.contains("already has this address") => {
            ApiError::new(StatusCode::CONFLICT, "duplicate_address", m)
        }
        other => store_error(what)(other),
    }
}

fn check_status(v: &Option<String>) -> Result<Option<ValidationStatus>, ApiError> {
    v.as_deref()
        .map(|s| {
            s.trim().parse().map_err(|_| {
                invalid(
                    "invalid_body",
                    format!(
                        "validation_status {s:?}: use unvalidated, valid, invalid or overridden"
                    ),
                )
            })
        })
        .transpose()
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Include archived addresses (and contacts).
    #[serde(default)]
    pub archived: Option<bool>,
}

/// The company's address book, newest first.
#[utoipa::path(get, path = "/v1/companies/{id}/addresses", operation_id = "list_addresses", tag = "hardware",
    params(("id" = String, Path, description = "company id"), ListQuery),
    responses((status = 200, description = "{addresses: [...]}"), (status = 404, description = "no such company")))]
pub(crate) async fn list(
    State(s): State<AppState>,
    Path(company): Path<String>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    s.rt.store
        .company(&company)
        .await?
        .ok_or_else(|| no_such("company"))?;
    let rows =
        s.rt.store
            .addresses_of(&company, q.archived.unwrap_or(false))
            .await?;
    Ok(Json(json!({ "addresses": rows })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAddress {
    /// A name for the entry ("Warehouse").
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub line1: Option<String>,
    #[serde(default)]
    pub line2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    /// `unvalidated` (default), `valid`, `invalid` or `overridden`.
    #[serde(default)]
    pub validation_status: Option<String>,
    /// Make it the company's default shipping address.
    #[serde(default)]
    pub default_shipping: bool,
    /// Make it the company's default billing address.
    #[serde(default)]
    pub default_billing: bool,
}

impl NewAddress {
    fn address(&self) -> Address {
        Address {
            line1: self.line1.clone(),
            line2: self.line2.clone(),
            city: self.city.clone(),
            region: self.region.clone(),
            postal_code: self.postal_code.clone(),
            country: self.country.clone(),
        }
    }
}

/// Adds an address to the company's book, optionally as a default.
#[utoipa::path(post, path = "/v1/companies/{id}/addresses", operation_id = "add_address", tag = "hardware",
    params(("id" = String, Path, description = "company id")), request_body = NewAddress,
    responses((status = 201, description = "the address"), (status = 404, description = "no such company"),
        (status = 409, description = "`duplicate_address`: the book already has it"),
        (status = 422, description = "a missing part or an unknown validation status")))]
pub(crate) async fn add(
    State(s): State<AppState>,
    Path(company): Path<String>,
    ApiJson(req): ApiJson<NewAddress>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let fields = req.address().fields("address")?;
    let label = text("label", &req.label)?;
    let status = check_status(&req.validation_status)?.unwrap_or(ValidationStatus::Unvalidated);
    let row =
        s.rt.store
            .add_address(
                &company,
                &fields,
                label.as_deref(),
                status,
                Defaults {
                    shipping: req.default_shipping,
                    billing: req.default_billing,
                },
                s.rt.clock.now(),
            )
            .await
            .map_err(book_error("company"))?;
    Ok((StatusCode::CREATED, Json(to_json(&row)?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressChange {
    /// A new label, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub label: Option<Option<String>>,
    #[serde(default)]
    pub line1: Option<String>,
    /// A new second line, or null to remove it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub line2: Option<Option<String>>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    #[serde(default)]
    pub postal_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub validation_status: Option<String>,
}

/// Edits a live address: the parts sent replace the stored ones. Changed parts make it
/// unvalidated again unless a `validation_status` comes with them.
#[utoipa::path(patch, path = "/v1/addresses/{id}", operation_id = "edit_address", tag = "hardware",
    params(("id" = String, Path, description = "address id")), request_body = AddressChange,
    responses((status = 200, description = "the address, changed"), (status = 404, description = "no such address"),
        (status = 409, description = "archived, or the change makes it a duplicate (`duplicate_address`)"),
        (status = 422, description = "a blank required part, nothing to change, or an unknown status")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AddressChange>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "address")?;
    let current =
        s.rt.store
            .address(id)
            .await?
            .ok_or_else(|| no_such("address"))?;
    let touches_parts = req.line1.is_some()
        || req.line2.is_some()
        || req.city.is_some()
        || req.region.is_some()
        || req.postal_code.is_some()
        || req.country.is_some();
    let fields = if touches_parts {
        let merged = Address {
            line1: req.line1.clone().or(Some(current.line1.clone())),
            line2: req.line2.clone().unwrap_or(current.line2.clone()),
            city: req.city.clone().or(Some(current.city.clone())),
            region: req.region.clone().unwrap_or(current.region.clone()),
            postal_code: req
                .postal_code
                .clone()
                .or(Some(current.postal_code.clone())),
            country: req.country.clone().or(Some(current.country.clone())),
        };
        Some(merged.fields("address")?)
    } else {
        None
    };
    let label = match &req.label {
        None => None,
        Some(l) => Some(text("label", l)?),
    };
    let patch = AddressPatch {
        fields,
        label,
        validation_status: check_status(&req.validation_status)?,
    };
    if patch.fields.is_none() && patch.label.is_none() && patch.validation_status.is_none() {
        return Err(invalid("nothing_to_change", "the body changes nothing"));
    }
    let row =
        s.rt.store
            .edit_address(id, &patch, s.rt.clock.now())
            .await
            .map_err(book_error("address"))?;
    Ok(Json(to_json(&row)?))
}

/// Archives an address: it leaves the book and stops being a default; what used it keeps its
/// snapshot.
#[utoipa::path(post, path = "/v1/addresses/{id}/archive", operation_id = "archive_address", tag = "hardware",
    params(("id" = String, Path, description = "address id")),
    responses((status = 200, description = "the address, archived"), (status = 404, description = "no such address"),
        (status = 409, description = "already archived")))]
pub(crate) async fn archive(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id, "address")?;
    let row =
        s.rt.store
            .archive_address(id, s.rt.clock.now())
            .await
            .map_err(store_error("address"))?;
    Ok(Json(to_json(&row)?))
}

/// Where a shipment goes: an entry of the company's address book, or an ad-hoc address
/// (kept on the shipment only, until saved to the book).
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    #[serde(default)]
    pub address_id: Option<String>,
    #[serde(default)]
    pub address: Option<Address>,
}

/// The destination as the shipment stores it: the book entry's id (if any) and the snapshot.
/// 422 unless exactly one of the two is given and an `address_id` is a live address of
/// `company`.
pub(crate) async fn destination(
    s: &AppState,
    company: &str,
    d: &Destination,
    field: &str,
) -> Result<(Option<Uuid>, Value), ApiError> {
    match (&d.address_id, &d.address) {
        (Some(id), None) => {
            let row = book_address(s, company, id, &format!("{field}.address_id")).await?;
            Ok((Some(row.id), row.fields().snapshot()))
        }
        (None, Some(a)) => Ok((None, a.check(&format!("{field}.address"))?)),
        _ => Err(invalid(
            "invalid_body",
            format!("{field}: give either address_id (from the address book) or address"),
        )),
    }
}

/// A live address of `company`'s book named by `id`; 422 `unknown_address` otherwise.
pub(crate) async fn book_address(
    s: &AppState,
    company: &str,
    id: &str,
    field: &str,
) -> Result<AddressRow, ApiError> {
    let unknown = || {
        invalid(
            "unknown_address",
            format!("{field}: company {company} has no address {id}"),
        )
    };
    let parsed: Uuid = id.trim().parse().map_err(|_| unknown())?;
    let row = s.rt.store.address(parsed).await?.ok_or_else(unknown)?;
    if row.company_id != company {
        return Err(unknown());
    }
    if row.archived_at.is_some() {
        return Err(invalid(
            "unknown_address",
            format!("{field}: address {id} is archived"),
        ));
    }
    Ok(row)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveAddress {
    #[serde(default)]
    pub label: Option<String>,
    /// Make it the company's default shipping address.
    #[serde(default)]
    pub default_shipping: bool,
}

/// Saves a shipment's ad-hoc destination to its company's address book; the shipment then
/// points at the new entry.
#[utoipa::path(post, path = "/v1/shipments/{id}/save-address", operation_id = "save_shipment_address", tag = "hardware",
    params(("id" = String, Path, description = "shipment id")), request_body = SaveAddress,
    responses((status = 201, description = "{shipment, address}"), (status = 404, description = "no such shipment"),
        (status = 409, description = "already in the book, or a duplicate of an entry (`duplicate_address`)")))]
pub(crate) async fn save_from_shipment(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SaveAddress>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "shipment")?;
    let label = text("label", &req.label)?;
    let (shipment, address) =
        s.rt.store
            .save_shipment_address(
                id,
                label.as_deref(),
                Defaults {
                    shipping: req.default_shipping,
                    billing: false,
                },
                s.rt.clock.now(),
            )
            .await
            .map_err(book_error("shipment"))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "shipment": shipment, "address": address })),
    ))
}
