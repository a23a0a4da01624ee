//! The company directory's companies: record one (tied to its legacy record), read, change
//! (name, legacy id, payment terms, default shipping and billing addresses) and search.
//! Operators keep the directory; viewers and operators read it. Service tokens place orders
//! naming its ids but cannot browse it: it holds every customer's people and addresses.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{invalid, no_such, required, store_error, text, to_json};
use crate::api::{ApiError, ApiJson, AppState};
use crate::families::hardware::store::{CompanyPatch, NewCompany};
use crate::store;

/// Longest company id.
const MAX_ID: usize = 64;
/// Most companies one search answers.
const SEARCH_LIMIT: i64 = 100;
/// Longest payment terms, in days.
const MAX_TERMS: i64 = 365;

/// Reads a field that may be absent (`None`), null (`Some(None)`) or set.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCompanyBody {
    /// Letters, digits, `-`, `_` and `.`; made up when absent.
    #[serde(default)]
    pub id: Option<String>,
    pub name: Option<String>,
    /// The legacy system's id for the company.
    pub company_mirror_id: Option<String>,
    /// Days an invoice gives the company to pay; 0 (the default) is prepaid.
    #[serde(default)]
    pub payment_terms_days: Option<i64>,
}

fn check_id(id: &str) -> Result<(), ApiError> {
    let fits = !id.is_empty()
        && id.len() <= MAX_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        Ok(())
    } else {
        Err(invalid(
            "invalid_body",
            format!("id {id:?}: use 1 to {MAX_ID} letters, digits, '-', '_' or '.'"),
        ))
    }
}

fn check_terms(days: Option<i64>) -> Result<Option<i32>, ApiError> {
    match days {
        None => Ok(None),
        Some(d) if (0..=MAX_TERMS).contains(&d) => Ok(i32::try_from(d).ok()),
        Some(d) => Err(invalid(
            "invalid_body",
            format!("payment_terms_days {d}: give 0 (prepaid) to {MAX_TERMS} days"),
        )),
    }
}

/// A company with its default addresses spelt out.
async fn company_json(s: &AppState, id: &str) -> Result<Value, ApiError> {
    let company =
        s.rt.store
            .company(id)
            .await?
            .ok_or_else(|| no_such("company"))?;
    let mut body = to_json(&company)?;
    for (field, address) in [
        (
            "default_shipping_address",
            company.default_shipping_address_id,
        ),
        (
            "default_billing_address",
            company.default_billing_address_id,
        ),
    ] {
        body[field] = match address {
            Some(a) => to_json(&s.rt.store.address(a).await?)?,
            None => Value::Null,
        };
    }
    Ok(body)
}

/// Records a company.
#[utoipa::path(post, path = "/v1/companies", operation_id = "create_company", tag = "hardware", request_body = NewCompanyBody,
    responses((status = 201, description = "the company"), (status = 409, description = "the id is taken"),
        (status = 422, description = "a missing or malformed field; the message names it")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    ApiJson(req): ApiJson<NewCompanyBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = match text("id", &req.id)? {
        Some(id) => {
            check_id(&id)?;
            id
        }
        None => format!("co-{}", Uuid::now_v7().simple()),
    };
    let new = NewCompany {
        id,
        name: required("name", &req.name)?,
        company_mirror_id: required("company_mirror_id", &req.company_mirror_id)?,
        payment_terms_days: check_terms(req.payment_terms_days)?.unwrap_or(0),
    };
    let row = s
        .rt
        .store
        .create_company(&new, s.rt.clock.now())
        .await
        .map_err(|e| match e {
            store::Error::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "company_exists", m),
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(company_json(&s, &row.id).await?)))
}

/// A company with its default addresses.
#[utoipa::path(get, path = "/v1/companies/{id}", operation_id = "show_company", tag = "hardware",
    params(("id" = String, Path, description = "company id")),
    responses((status = 200, description = "the company"), (status = 404, description = "no such company")))]
pub(crate) async fn show(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(company_json(&s, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanyChange {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company_mirror_id: Option<String>,
    #[serde(default)]
    pub payment_terms_days: Option<i64>,
    /// An address of the company's book, or null to clear the default.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_shipping_address_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub default_billing_address_id: Option<Option<String>>,
}

fn address_ref(field: &str, v: &Option<Option<String>>) -> Result<Option<Option<Uuid>>, ApiError> {
    match v {
        None => Ok(None),
        Some(None) => Ok(Some(None)),
        Some(Some(s)) => s.trim().parse().map(|id| Some(Some(id))).map_err(|_| {
            invalid(
                "invalid_body",
                format!("{field} {s:?} is not an address id"),
            )
        }),
    }
}

/// Changes a company: its name, legacy id, payment terms or default addresses.
#[utoipa::path(patch, path = "/v1/companies/{id}", operation_id = "edit_company", tag = "hardware",
    params(("id" = String, Path, description = "company id")), request_body = CompanyChange,
    responses((status = 200, description = "the company, changed"), (status = 404, description = "no such company"),
        (status = 422, description = "nothing to change, a blank field, or a default that is not a live address of the company")))]
pub(crate) async fn edit(
    State(s): State<AppState>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<CompanyChange>,
) -> Result<Json<Value>, ApiError> {
    let blank = |field: &str, v: &Option<String>| -> Result<Option<String>, ApiError> {
        match v {
            None => Ok(None),
            Some(_) => text(field, v)?
                .map(Some)
                .ok_or_else(|| invalid("invalid_body", format!("{field} cannot be blank"))),
        }
    };
    let patch = CompanyPatch {
        name: blank("name", &req.name)?,
        company_mirror_id: blank("company_mirror_id", &req.company_mirror_id)?,
        payment_terms_days: check_terms(req.payment_terms_days)?,
        default_shipping_address_id: address_ref(
            "default_shipping_address_id",
            &req.default_shipping_address_id,
        )?,
        default_billing_address_id: address_ref(
            "default_billing_address_id",
            &req.default_billing_address_id,
        )?,
    };
    if patch.name.is_none()
        && patch.company_mirror_id.is_none()
        && patch.payment_terms_days.is_none()
        && patch.default_shipping_address_id.is_none()
        && patch.default_billing_address_id.is_none()
    {
        return Err(invalid("nothing_to_change", "the body changes nothing"));
    }
    s.rt.store
        .update_company(&id, &patch, s.rt.clock.now())
        .await
        .map_err(|e| match e {
            store::Error::Invalid(m) => invalid("unknown_address", m),
            other => store_error("company")(other),
        })?;
    Ok(Json(company_json(&s, &id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Part of the name, id or legacy id (any case).
    #[serde(default)]
    pub search: Option<String>,
}

/// Companies by name; `search` narrows them to those whose name, id or legacy id contains it.
#[utoipa::path(get, path = "/v1/companies", operation_id = "search_companies", tag = "hardware", params(SearchQuery),
    responses((status = 200, description = "{companies: [...]}, at most 100"), (status = 400, description = "an unknown query parameter")))]
pub(crate) async fn search(
    State(s): State<AppState>,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let search = text("search", &q.search)?;
    let rows =
        s.rt.store
            .search_companies(search.as_deref(), SEARCH_LIMIT)
            .await?;
    Ok(Json(json!({ "companies": rows })))
}
