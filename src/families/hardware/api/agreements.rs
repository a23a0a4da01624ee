//! Price agreements over HTTP: list, read (with the audit trail), create, edit and archive.
//! Operators write; viewers and operators read. Agreements are a company's commercial terms, so
//! service tokens reach none of these routes.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use uuid::Uuid;

use super::pricing::check_currency;
use super::{actor, invalid, no_such, required, store_error, text, to_json};
use crate::api::auth::Principal;
use crate::api::{ApiError, ApiJson, AppState};
use crate::domain::money::Minor;
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::price_sync::refresh_gauges;
use crate::families::hardware::store::{
    AgreementFilter, AgreementPatch, AgreementRow, NewAgreement,
};

/// Longest agreement note.
const MAX_NOTES: usize = 2000;

/// An agreement as the API shows it: the row and where it stands now (`scheduled`, `active`,
/// `expired` or `archived`).
fn shown(row: &AgreementRow, now: DateTime<Utc>) -> Result<Value, ApiError> {
    let mut body = to_json(row)?;
    body["state"] = match row.archived_at {
        Some(_) => json!("archived"),
        None => to_json(&row.terms().state(now))?,
    };
    Ok(body)
}

/// A unit price in major units (120.00), as minor units within the limit every amount keeps.
fn unit_amount(raw: f64) -> Result<i64, ApiError> {
    Minor::from_major(raw)
        .filter(|m| m.0 > 0 && m.0 <= Minor::MAX)
        .map(|m| m.0)
        .ok_or_else(|| {
            invalid(
                "invalid_body",
                format!(
                    "unit_amount must be above 0 and at most {}",
                    Minor(Minor::MAX)
                ),
            )
        })
}

/// The gauges follow every change; a failure to read them is logged, never the caller's.
async fn refresh(s: &AppState) {
    if let Err(e) = refresh_gauges(&s.rt.store, s.rt.clock.now()).await {
        tracing::warn!(error = %e, "refreshing the price-agreement gauges failed");
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgreement {
    pub company_id: Option<String>,
    pub sku: Option<String>,
    /// Defaults to `[hardware] default_currency`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Unit price in major units (120.00).
    pub unit_amount: f64,
    /// RFC 3339; now when absent.
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// RFC 3339, exclusive; open-ended when absent.
    #[serde(default)]
    pub valid_until: Option<DateTime<Utc>>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// Creates an agreement, unsynced until the price sync gives it a processor price.
#[utoipa::path(post, path = "/v1/price-agreements", operation_id = "create_price_agreement", tag = "hardware", request_body = CreateAgreement,
    responses((status = 201, description = "the agreement"),
        (status = 409, description = "its window overlaps a live agreement for the same company, SKU and currency"),
        (status = 422, description = "unknown company or SKU, a bad amount, currency or window")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(who): Extension<Principal>,
    ApiJson(req): ApiJson<CreateAgreement>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = s.rt.clock.now();
    let new = NewAgreement {
        id: format!("pa-{}", Uuid::now_v7().simple()),
        company_id: required("company_id", &req.company_id)?,
        sku: required("sku", &req.sku)?,
        currency: check_currency(
            req.currency
                .as_deref()
                .unwrap_or(&settings.default_currency),
        )?,
        unit_amount_minor: unit_amount(req.unit_amount)?,
        valid_from: req.valid_from.unwrap_or(now),
        valid_until: req.valid_until,
        notes: super::text_up_to("notes", &req.notes, MAX_NOTES)?,
    };
    let row = s.rt.store.create_agreement(&new, &actor(&who), now).await?;
    refresh(&s).await;
    Ok((StatusCode::CREATED, Json(shown(&row, now)?)))
}

/// A field that may be sent as `null` to clear it: absent is `None`, `null` is `Some(None)`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditAgreement {
    /// A new unit price (major units): the agreement needs a new processor price and is
    /// unsynced until the price sync runs.
    #[serde(default)]
    pub unit_amount: Option<f64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub valid_from: Option<DateTime<Utc>>,
    /// `null` makes the window open-ended.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub valid_until: Option<Option<DateTime<Utc>>>,
    /// `null` clears the notes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub notes: Option<Option<String>>,
}

/// Edits a live agreement; the audit trail keeps it before and after.
#[utoipa::path(patch, path = "/v1/price-agreements/{id}", operation_id = "edit_price_agreement", tag = "hardware", request_body = EditAgreement,
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, description = "the agreement"), (status = 404, description = "no such agreement"),
        (status = 409, description = "archived, or the new window overlaps another live agreement"),
        (status = 422, description = "nothing to change, or a bad amount, currency or window")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<EditAgreement>,
) -> Result<Json<Value>, ApiError> {
    let patch = AgreementPatch {
        unit_amount_minor: req.unit_amount.map(unit_amount).transpose()?,
        currency: req.currency.as_deref().map(check_currency).transpose()?,
        valid_from: req.valid_from,
        valid_until: req.valid_until,
        notes: match &req.notes {
            None => None,
            Some(n) => Some(super::text_up_to("notes", n, MAX_NOTES)?),
        },
    };
    if patch.unit_amount_minor.is_none()
        && patch.currency.is_none()
        && patch.valid_from.is_none()
        && patch.valid_until.is_none()
        && patch.notes.is_none()
    {
        return Err(invalid(
            "invalid_body",
            "nothing to change: give unit_amount, currency, valid_from, valid_until or notes",
        ));
    }
    let now = s.rt.clock.now();
    let row =
        s.rt.store
            .update_agreement(&id, &patch, &actor(&who), now)
            .await
            .map_err(store_error("price agreement"))?;
    refresh(&s).await;
    Ok(Json(shown(&row, now)?))
}

/// Archives an agreement: it prices nothing from now on; orders it priced keep their snapshot.
#[utoipa::path(delete, path = "/v1/price-agreements/{id}", operation_id = "archive_price_agreement", tag = "hardware",
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, description = "the archived agreement"), (status = 404, description = "no such agreement"),
        (status = 409, description = "already archived")))]
pub(crate) async fn archive(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let now = s.rt.clock.now();
    let row =
        s.rt.store
            .archive_agreement(&id, &actor(&who), now)
            .await
            .map_err(store_error("price agreement"))?;
    refresh(&s).await;
    Ok(Json(shown(&row, now)?))
}

/// One agreement with its audit trail, oldest first.
#[utoipa::path(get, path = "/v1/price-agreements/{id}", operation_id = "show_price_agreement", tag = "hardware",
    params(("id" = String, Path, description = "agreement id")),
    responses((status = 200, description = "the agreement and its audit trail"), (status = 404, description = "no such agreement")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let (row, audit) =
        s.rt.store
            .agreement(&id)
            .await?
            .ok_or_else(|| no_such("price agreement"))?;
    let mut body = shown(&row, s.rt.clock.now())?;
    body["audit"] = to_json(&audit)?;
    Ok(Json(body))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    company_id: Option<String>,
    sku: Option<String>,
    #[serde(default)]
    include_archived: bool,
    limit: Option<i64>,
}

/// Agreements by company and SKU, archived ones only when asked.
#[utoipa::path(get, path = "/v1/price-agreements", operation_id = "list_price_agreements", tag = "hardware",
    params(("company_id" = Option<String>, Query, description = "one company's"), ("sku" = Option<String>, Query, description = "one product's"),
        ("include_archived" = Option<bool>, Query, description = "archived agreements too"), ("limit" = Option<i64>, Query, description = "1 to 500, 100 by default")),
    responses((status = 200, description = "the agreements"), (status = 400, description = "a bad query")))]
pub(crate) async fn list(
    State(s): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request(
            "invalid_limit",
            "limit must be between 1 and 500",
        ));
    }
    let filter = AgreementFilter {
        company_id: text("company_id", &q.company_id)?,
        sku: text("sku", &q.sku)?,
        include_archived: q.include_archived,
    };
    let now = s.rt.clock.now();
    let rows = s.rt.store.list_agreements(&filter, limit).await?;
    let items = rows
        .iter()
        .map(|r| shown(r, now))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "items": items })))
}
