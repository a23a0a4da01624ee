//! Hardware orders over HTTP: draft orders, checkout, cancellation, fulfilments, shipments,
//! automation steps, price quotes and timelines. Each route sits behind its role; the
//! handlers parse into types, make one store call and map its answer.

pub(crate) mod addresses;
pub(crate) mod agreements;
pub(crate) mod automation;
pub(crate) mod billing;
pub(crate) mod companies;
pub(crate) mod contacts;
pub(crate) mod fulfillments;
pub(crate) mod invoices;
pub(crate) mod legacy;
pub(crate) mod legacy_operation;
pub(crate) mod orders;
pub(crate) mod price_sync;
pub(crate) mod pricing;
pub(crate) mod shipments;
pub(crate) mod support;
pub(crate) mod timeline;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};

use crate::api::auth::{self, Principal, Role, Tokens};
use crate::api::{ApiError, AppState, guard};
use crate::config::Settings;
use crate::families::hardware::HardwareSettings;
use crate::families::hardware::store::AddressFields;
use crate::store;

/// The hardware routes' part of the API document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        orders::create, orders::send_checkout, orders::cancel,
        fulfillments::show, fulfillments::add_shipment,
        shipments::show, shipments::edit, shipments::report_status,
        automation::retry, automation::fallback, pricing::quote,
        timeline::order, timeline::shipment,
        billing::show, billing::pdf, billing::list, billing::create, billing::edit, billing::issue,
        billing::add_line, invoices::record_payment,
        support::set_order_status, support::create_fulfillment, support::queue_automation,
        support::edit_automation,
        companies::create, companies::show, companies::edit, companies::search,
        contacts::list, contacts::add, contacts::edit, contacts::archive, contacts::assign_role,
        addresses::list, addresses::add, addresses::edit, addresses::archive,
        addresses::save_from_shipment,
        agreements::list, agreements::show, agreements::create, agreements::edit, agreements::archive,
        price_sync::start, price_sync::resolution, legacy::refresh, legacy::reports,
        crate::families::hardware::portal::links::create,
    ),
    tags((name = "hardware", description = "Hardware orders: drafts, checkout, fulfilment, shipments, automation, pricing and timelines")),
)]
pub(crate) struct Doc;

/// The hardware routes, each behind its role: operators and services draft, check out and
/// cancel orders; operators alone touch shipments, automation, the company directory, price
/// agreements and legacy syncs; every token may read orders and what hangs off them, viewers
/// and operators the directory, agreements and drift reports.
pub fn routes(
    tokens: &Tokens,
    settings: Arc<HardwareSettings>,
    providers: Arc<crate::providers::Providers>,
) -> Router<AppState> {
    let signal = guard(tokens, auth::SIGNAL)(
        Router::new()
            .route("/v1/orders", post(orders::create))
            .route("/v1/orders/{id}/send-checkout", post(orders::send_checkout))
            .route("/v1/orders/{id}/cancel", post(orders::cancel)),
    );
    let read = guard(tokens, auth::READ_OR_SERVICE)(
        Router::new()
            .route("/v1/orders/{id}/timeline", get(timeline::order))
            .route("/v1/fulfillments/{id}", get(fulfillments::show))
            .route("/v1/shipments/{id}", get(shipments::show))
            .route("/v1/shipments/{id}/timeline", get(timeline::shipment))
            .route("/v1/invoices", get(billing::list))
            .route("/v1/invoices/{id}", get(billing::show))
            .route("/v1/pricing/quote", post(pricing::quote))
            .route(
                "/v1/pricing/resolutions/{order_item_id}",
                get(price_sync::resolution),
            ),
    );
    // Agreements (a company's commercial terms) and legacy reports: operators and viewers only.
    let agreements_read = guard(tokens, auth::READ)(
        Router::new()
            .route("/v1/price-agreements", get(agreements::list))
            .route("/v1/price-agreements/{id}", get(agreements::show))
            .route("/v1/legacy-sync/reports", get(legacy::reports)),
    );
    let directory = guard(tokens, auth::READ)(
        Router::new()
            .route("/v1/companies", get(companies::search))
            .route("/v1/companies/{id}", get(companies::show))
            .route("/v1/companies/{id}/contacts", get(contacts::list))
            .route("/v1/companies/{id}/addresses", get(addresses::list)),
    );
    let operate = guard(tokens, auth::OPERATE)(
        Router::new()
            .route(
                "/v1/fulfillments/{id}/shipments",
                post(fulfillments::add_shipment),
            )
            .route("/v1/shipments/{id}", patch(shipments::edit))
            .route("/v1/shipments/{id}/status", post(shipments::report_status))
            .route("/v1/invoices/{id}/payments", post(invoices::record_payment))
            .route("/v1/invoices", post(billing::create))
            .route("/v1/invoices/{id}", patch(billing::edit))
            .route("/v1/invoices/{id}/issue", post(billing::issue))
            .route("/v1/invoices/{id}/lines", post(billing::add_line))
            .route("/v1/companies", post(companies::create))
            .route("/v1/companies/{id}", patch(companies::edit))
            .route("/v1/companies/{id}/contacts", post(contacts::add))
            .route("/v1/companies/{id}/addresses", post(addresses::add))
            .route("/v1/contacts/{id}", patch(contacts::edit))
            .route("/v1/contacts/{id}/archive", post(contacts::archive))
            .route("/v1/contacts/{id}/roles", post(contacts::assign_role))
            .route("/v1/addresses/{id}", patch(addresses::edit))
            .route("/v1/addresses/{id}/archive", post(addresses::archive))
            .route(
                "/v1/shipments/{id}/save-address",
                post(addresses::save_from_shipment),
            )
            .route("/v1/orders/{id}/status", patch(support::set_order_status))
            .route("/v1/fulfillments", post(support::create_fulfillment))
            .route(
                "/v1/shipments/{id}/automation-steps",
                post(support::queue_automation),
            )
            .route("/v1/automation-steps/{id}", patch(support::edit_automation))
            .route("/v1/automation-steps/{id}/retry", post(automation::retry))
            .route(
                "/v1/automation-steps/{id}/fallback",
                post(automation::fallback),
            )
            .route("/v1/price-agreements", post(agreements::create))
            .route(
                "/v1/price-agreements/{id}",
                axum::routing::patch(agreements::edit).delete(agreements::archive),
            )
            .route("/v1/pricing/sync", post(price_sync::start))
            .route("/v1/legacy-sync/{entity}/refresh", post(legacy::refresh)),
    );
    // The billing portal: its link API and its pages, with this family's settings and
    // providers.
    let portal = crate::families::hardware::portal::routes(tokens);
    signal
        .merge(portal)
        .merge(read)
        .merge(directory)
        .merge(agreements_read)
        .merge(operate)
        .layer(axum::Extension(settings))
        .layer(axum::Extension(providers))
}

pub(crate) use crate::api::parse_id;

/// 422 with a code and a message naming what to fix.
pub(crate) fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
}

/// 409: the entity's state does not allow the change.
pub(crate) fn conflict(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "illegal_transition", message)
}

/// 404 naming the entity.
pub(crate) fn no_such(what: &str) -> ApiError {
    ApiError::not_found(format!("no such {what}"))
}

/// A store error, with "not found" naming the entity rather than a saga.
pub(crate) fn store_error(what: &'static str) -> impl Fn(store::Error) -> ApiError {
    move |e| match e {
        store::Error::NotFound => no_such(what),
        other => ApiError::from(other),
    }
}

/// How the caller appears on the entities it changes: `operator:<name>` or `service:<name>`.
pub(crate) fn actor(who: &Principal) -> String {
    match who.role {
        Role::Service => who.start_actor(),
        _ => format!("operator:{}", who.name),
    }
}

/// A postal address as sent. Required fields are checked by [`Address::check`] so the 422
/// names the field.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
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
}

/// Longest free-text field of an address or contact.
const MAX_FIELD: usize = 200;

/// A trimmed optional text: `None` when absent or blank; 422 naming `field` when too long.
pub(crate) fn text(field: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    text_up_to(field, value, MAX_FIELD)
}

/// [`text`] with its own length limit.
pub(crate) fn text_up_to(
    field: &str,
    value: &Option<String>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.chars().count() > max => Err(invalid(
            "invalid_body",
            format!("{field} is longer than {max} characters"),
        )),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// A required trimmed text: 422 naming `field` when absent or blank.
pub(crate) fn required(field: &str, value: &Option<String>) -> Result<String, ApiError> {
    text(field, value)?.ok_or_else(|| invalid("invalid_body", format!("{field} is required")))
}

impl Address {
    /// The address as stored (trimmed, required fields present), or a 422 naming the first
    /// missing field under `field` (`billing_address.city`).
    pub fn check(&self, field: &str) -> Result<serde_json::Value, ApiError> {
        Ok(self.fields(field)?.snapshot())
    }

    /// [`Address::check`], as the directory's parts.
    pub fn fields(&self, field: &str) -> Result<AddressFields, ApiError> {
        let name = |f: &str| format!("{field}.{f}");
        Ok(AddressFields {
            line1: required(&name("line1"), &self.line1)?,
            line2: text(&name("line2"), &self.line2)?,
            city: required(&name("city"), &self.city)?,
            region: text(&name("region"), &self.region)?,
            postal_code: required(&name("postal_code"), &self.postal_code)?,
            country: required(&name("country"), &self.country)?.to_ascii_uppercase(),
        })
    }
}

/// A courier code that `[providers.courier.carriers]` configures, lowercased; 422 listing the
/// configured ones otherwise.
pub(crate) fn check_courier(settings: &Settings, code: &str) -> Result<String, ApiError> {
    let code = code.trim().to_ascii_lowercase();
    let carriers = &settings.providers.courier.carriers;
    if carriers.contains_key(&code) {
        return Ok(code);
    }
    let known: Vec<&str> = carriers.keys().map(String::as_str).collect();
    Err(invalid(
        "unknown_courier",
        format!(
            "courier {code:?} is not configured; use one of: {}",
            known.join(", ")
        ),
    ))
}

/// A quantity of one SKU, for a shipment.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemQuantity {
    pub sku: String,
    pub quantity: i64,
}

/// Serialises a row for a response.
pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(value).map_err(|_| ApiError::internal())
}
