//! Hardware orders: `POST /v1/orders` drafts one with provisional prices, `send-checkout`
//! re-prices it strictly and starts its saga, `cancel` cancels a draft or the saga, and
//! [`HardwareOrders`] shows a hardware order at `GET /v1/orders/{id}`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::addresses::{Destination, book_address, destination};
use super::pricing::{Bespoke, check_count, check_currency, line_request, pricing_error};
use super::{
    ItemQuantity, actor, check_courier, conflict, invalid, no_such, parse_id, required,
    store_error, text, text_up_to, to_json,
};
use crate::api::auth::Principal;
use crate::api::sagas::{ActionRequest, IdempotencyKey, api_key, apply_action, check_reason};
use crate::api::{ApiError, ApiJson, AppState, Shown, tenancy};
use crate::domain::hardware::directory::ContactRole;
use crate::domain::hardware::order::{self, PaymentEvent, PaymentStatus};
use crate::domain::order_code::new_order_code;
use crate::domain::pricing::{LineRequest, Scope};
use crate::engine::runtime::{StartError, StartSaga};
use crate::families::hardware::pricing::{price_lines, reprice_order};
use crate::families::hardware::store::{Created, NewHardwareOrder, NewItem, link_checkout_saga};
use crate::families::hardware::{HardwareSettings, SCENARIOS, WORKFLOW};
use crate::store::{self, Started};
use crate::telemetry as m;

/// The scenario of a line that names none.
const DEFAULT_SCENARIO: &str = "sensor_vendor_first_time";
/// Longest order note.
const MAX_NOTES: usize = 2000;

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineInput {
    pub sku: Option<String>,
    pub quantity: i64,
    /// One of the automation scenarios; `sensor_vendor_first_time` when absent.
    #[serde(default)]
    pub scenario: Option<String>,
    #[serde(default)]
    pub bespoke: Option<Bespoke>,
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrder {
    /// A company of the directory (`POST /v1/companies`).
    pub company_id: Option<String>,
    /// An active contact of the company; its primary billing contact when absent.
    #[serde(default)]
    pub billing_contact_id: Option<String>,
    /// An address of the company's book; its default billing address when absent.
    #[serde(default)]
    pub billing_address_id: Option<String>,
    /// Where the first shipment goes: an address of the book or an ad-hoc address; the
    /// company's default shipping address (as it is when the shipment is made) when absent.
    #[serde(default)]
    pub ship_to: Option<Destination>,
    /// For regional prices (`CA`).
    #[serde(default)]
    pub region: Option<String>,
    /// Defaults to `[hardware] default_currency`.
    #[serde(default)]
    pub currency: Option<String>,
    /// A configured courier; defaults to `[hardware] default_courier`.
    #[serde(default)]
    pub courier: Option<String>,
    pub lines: Vec<LineInput>,
    /// What the first shipment carries; everything when absent. The rest waits for a
    /// shipment an operator adds.
    #[serde(default)]
    pub initial_shipment: Option<Vec<ItemQuantity>>,
    #[serde(default)]
    pub notes: Option<String>,
}

/// The order's company, billing contact and billing address from the directory: the company
/// must exist (never created here), the contact be one of its active contacts (its primary
/// billing contact when none is named) and the address a live entry of its book (its default
/// billing address when none is named).
async fn check_directory(
    s: &AppState,
    req: &CreateOrder,
) -> Result<(String, Uuid, Uuid), ApiError> {
    let company_id = required("company_id", &req.company_id)?;
    let company = s.rt.store.company(&company_id).await?.ok_or_else(|| {
        invalid(
            "unknown_company",
            format!("company {company_id} is not in the directory: record it with POST /v1/companies first"),
        )
    })?;
    let contact_id = match text("billing_contact_id", &req.billing_contact_id)? {
        Some(contact_ref) => {
            let unknown = || {
                invalid(
                    "unknown_contact",
                    format!("billing_contact_id: company {company_id} has no contact {contact_ref}"),
                )
            };
            let id: Uuid = contact_ref.parse().map_err(|_| unknown())?;
            let contact = s
                .rt
                .store
                .contact_view(id)
                .await?
                .filter(|c| c.contact.company_id == company_id)
                .ok_or_else(unknown)?;
            if !contact.contact.active {
                return Err(invalid(
                    "unknown_contact",
                    format!("billing_contact_id: contact {id} is archived"),
                ));
            }
            id
        }
        None => s
            .rt
            .store
            .primary_contact(&company_id, ContactRole::Billing)
            .await?
            .ok_or_else(|| {
                invalid(
                    "no_billing_contact",
                    format!("billing_contact_id is required: company {company_id} has no primary billing contact"),
                )
            })?,
    };
    let billing = match text("billing_address_id", &req.billing_address_id)? {
        Some(id) => book_address(s, &company_id, &id, "billing_address_id").await?.id,
        None => company.default_billing_address_id.ok_or_else(|| {
            invalid(
                "no_billing_address",
                format!("billing_address_id is required: company {company_id} has no default billing address"),
            )
        })?,
    };
    Ok((company_id, contact_id, billing))
}

/// Each line as the resolver takes it, with its scenario: 1 to 100 lines, each SKU once.
fn check_lines(lines: &[LineInput]) -> Result<Vec<(LineRequest, String)>, ApiError> {
    check_count(lines.len())?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let n = i + 1;
        let req = line_request(n, &l.sku, l.quantity, &l.bespoke)?;
        if let Some(first) = seen.insert(req.sku.clone(), n) {
            return Err(invalid(
                "duplicate_sku",
                format!(
                    "line {n}: {} is already on line {first}; give each SKU once with its total quantity",
                    req.sku
                ),
            ));
        }
        let scenario = text(&format!("line {n}: scenario"), &l.scenario)?
            .unwrap_or_else(|| DEFAULT_SCENARIO.to_string());
        if !SCENARIOS.contains(&scenario.as_str()) {
            return Err(invalid(
                "unknown_scenario",
                format!(
                    "line {n} ({}): unknown scenario {scenario:?}; use one of: {}",
                    req.sku,
                    SCENARIOS.join(", ")
                ),
            ));
        }
        out.push((req, scenario));
    }
    Ok(out)
}

/// The first shipment's plan: SKUs on the order, each once, within its quantity.
fn check_initial(
    plan: Option<&[ItemQuantity]>,
    lines: &[(LineRequest, String)],
) -> Result<Value, ApiError> {
    let Some(plan) = plan else {
        return Ok(Value::Null);
    };
    if plan.is_empty() {
        return Err(invalid(
            "invalid_initial_shipment",
            "initial_shipment: give at least one item, or leave it out to ship everything",
        ));
    }
    let mut seen = Vec::with_capacity(plan.len());
    let mut out = Vec::with_capacity(plan.len());
    for item in plan {
        let sku = item.sku.trim();
        let Some((line, _)) = lines.iter().find(|(l, _)| l.sku == sku) else {
            return Err(invalid(
                "invalid_initial_shipment",
                format!("initial_shipment: {sku} is not on the order's lines"),
            ));
        };
        if seen.contains(&sku) {
            return Err(invalid(
                "invalid_initial_shipment",
                format!("initial_shipment: {sku} is listed twice; give each SKU once"),
            ));
        }
        seen.push(sku);
        if item.quantity < 1 || item.quantity > i64::from(line.quantity) {
            return Err(invalid(
                "invalid_initial_shipment",
                format!(
                    "initial_shipment: {} of {sku} asked, but the order has {} (ask for 1 to {})",
                    item.quantity, line.quantity, line.quantity
                ),
            ));
        }
        out.push(json!({ "sku": sku, "quantity": item.quantity }));
    }
    Ok(Value::Array(out))
}

/// The first shipment's destination as the order keeps it until the shipment is made: a book
/// entry's id, an ad-hoc address, or null for the company's default (which must exist now).
async fn check_ship_to(
    s: &AppState,
    company_id: &str,
    ship_to: &Option<Destination>,
) -> Result<Value, ApiError> {
    if let Some(d) = ship_to {
        let (id, snapshot) = destination(s, company_id, d, "ship_to").await?;
        return Ok(match id {
            Some(id) => json!({ "address_id": id }),
            None => json!({ "address": snapshot }),
        });
    }
    let has_default =
        s.rt.store
            .company(company_id)
            .await?
            .and_then(|c| c.default_shipping_address_id)
            .is_some();
    if !has_default {
        return Err(invalid(
            "no_shipping_address",
            format!("ship_to is required: company {company_id} has no default shipping address"),
        ));
    }
    Ok(Value::Null)
}

/// A hardware order as the API shows it: the order view with its automation steps, payments
/// and shipments; `None` if `id` is not a hardware order.
pub(crate) async fn order_json(s: &AppState, id: Uuid) -> Result<Option<Value>, ApiError> {
    let Some(view) = s.rt.store.hardware_order_view(id).await? else {
        return Ok(None);
    };
    let steps = s.rt.store.automation_steps_for_order(id).await?;
    let payments = s.rt.store.payments_for_order(id).await?;
    let shipments = match view.fulfillment_id {
        Some(f) => {
            s.rt.store
                .fulfillment_view(f)
                .await?
                .map(|f| f.shipments)
                .unwrap_or_default()
        }
        None => Vec::new(),
    };
    let mut body = to_json(&view)?;
    body["automation_steps"] = to_json(&steps)?;
    body["payments"] = to_json(&payments)?;
    body["shipments"] = to_json(&shipments)?;
    body["checkouts"] = to_json(&s.rt.store.checkouts_for_order(id).await?)?;
    Ok(Some(body))
}

/// Drafts a hardware order with provisional price snapshots (unsynced prices are allowed
/// until checkout). An `Idempotency-Key` makes a retry answer the first order.
#[utoipa::path(post, path = "/v1/orders", operation_id = "create_hardware_order", tag = "hardware", request_body = CreateOrder,
    params(("Idempotency-Key" = Option<String>, Header, description = "optional; a retry with the same body answers the first order")),
    responses((status = 201, description = "the draft order"), (status = 200, description = "the same request again"),
        (status = 409, description = "key reused with another body"),
        (status = 422, description = "a field or line that does not fit; the message names it")))]
pub(crate) async fn create(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(who): Extension<Principal>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateOrder>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let key = match headers.contains_key("idempotency-key") {
        true => Some(IdempotencyKey::from_headers(&headers)?.0),
        false => None,
    };
    // serde_json's maps are sorted and the struct's fields fixed: the same body hashes the same.
    let canonical = serde_json::to_vec(&req).map_err(|_| ApiError::internal())?;
    let (company_id, contact_id, billing_address_id) = check_directory(&s, &req).await?;
    let lines = check_lines(&req.lines)?;
    let initial = check_initial(req.initial_shipment.as_deref(), &lines)?;
    let region = text("region", &req.region)?.map(|r| r.to_ascii_uppercase());
    let currency = check_currency(
        req.currency
            .as_deref()
            .unwrap_or(&settings.default_currency),
    )?;
    let courier = check_courier(
        &s.settings,
        req.courier.as_deref().unwrap_or(&settings.default_courier),
    )?;
    let notes = text_up_to("notes", &req.notes, MAX_NOTES)?;
    let ship_to = check_ship_to(&s, &company_id, &req.ship_to).await?;
    let requests: Vec<LineRequest> = lines.iter().map(|(l, _)| l.clone()).collect();
    let scope = Scope {
        company_id: &company_id,
        region: region.as_deref(),
        currency: &currency,
        strict: false,
    };
    let priced = price_lines(&s.rt.store, &requests, &scope, s.rt.clock.now())
        .await
        .map_err(pricing_error)?;
    let items = priced
        .into_iter()
        .zip(lines)
        .map(|(price, (_, scenario))| NewItem { scenario, price })
        .collect();
    let new = NewHardwareOrder {
        id: Uuid::now_v7(),
        order_code: new_order_code("HW"),
        company_id,
        billing_contact_id: contact_id,
        billing_address_id,
        region,
        currency,
        courier_code: courier,
        options: json!({ "initial_shipment": initial, "notes": notes, "ship_to": ship_to }),
        items,
        // Scoped by caller: two callers may happen to send the same key.
        idempotency_key: key.map(|k| format!("{WORKFLOW}:{}:{k}", who.name)),
        request_hash: hex::encode(Sha256::digest(canonical)),
        created_by: who.name.clone(),
    };
    let (status, id) = match s
        .rt
        .store
        .create_hardware_order(&new, s.rt.clock.now())
        .await
    {
        Ok(Created::New(id)) => {
            m::order_placed(WORKFLOW);
            (StatusCode::CREATED, id)
        }
        Ok(Created::Replayed(id)) => (StatusCode::OK, id),
        Err(store::Error::IdempotencyConflict { saga_id: order }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "idempotency_conflict",
                format!(
                    "this Idempotency-Key already created order {order} with a different request"
                ),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let body = order_json(&s, id).await?.ok_or_else(ApiError::internal)?;
    Ok((status, Json(body)))
}

/// `GET /v1/orders/{id}` for hardware orders.
pub(crate) struct HardwareOrders;

#[async_trait::async_trait]
impl crate::api::OrderView for HardwareOrders {
    async fn show(&self, s: &AppState, id: Uuid) -> Result<Option<Shown>, ApiError> {
        let Some(order) = s.rt.store.hardware_order(id).await? else {
            return Ok(None);
        };
        Ok(order_json(s, id).await?.map(|body| Shown {
            body,
            owner: Some(order.created_by),
        }))
    }
}

/// What a checkout start answers, first time or again.
fn checkout_answer(order: Uuid, saga: Uuid, payment_status: &str) -> Value {
    json!({ "order_id": order, "saga_id": saga, "payment_status": payment_status })
}

/// The saga's idempotency key for the order's next checkout: the first is the order's own,
/// each recovery after a failed or expired payment gets a new one.
fn checkout_key(order: Uuid, attempts_so_far: i64) -> String {
    match attempts_so_far {
        0 => format!("{WORKFLOW}:{order}"),
        n => format!("{WORKFLOW}:{order}:checkout-{}", n + 1),
    }
}

/// Re-prices the draft strictly (every line must be chargeable by a synced processor price)
/// and starts its `hardware_order` saga, which locks the prices and opens the checkout. After
/// a failed or expired payment it recovers the order: a new saga opens a new session under a
/// new idempotency key, and the old session stays in `checkouts`. With an `Idempotency-Key`,
/// the same request again (its answer lost to a restart) answers the checkout it started.
#[utoipa::path(post, path = "/v1/orders/{id}/send-checkout", operation_id = "send_hardware_checkout", tag = "hardware",
    params(("id" = String, Path, description = "order id"),
        ("Idempotency-Key" = Option<String>, Header, description = "optional; the same request again answers the checkout it started")),
    responses((status = 202, description = "saga started: order_id, saga_id, payment_status"),
        (status = 200, description = "the same request again: the checkout it started"),
        (status = 404, description = "no such hardware order"),
        (status = 409, description = "not a draft or a failed or expired checkout, or the previous checkout's saga still runs"),
        (status = 422, description = "a line cannot be charged (`price_not_synced`) or priced (`pricing_error`); the message names it")))]
pub(crate) async fn send_checkout(
    State(s): State<AppState>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "order")?;
    let keyed = match headers.contains_key("idempotency-key") {
        true => Some(api_key(&who, &IdempotencyKey::from_headers(&headers)?)),
        false => None,
    };
    let order =
        s.rt.store
            .hardware_order(id)
            .await?
            .ok_or_else(|| no_such("order"))?;
    tenancy::visible(&who, Some(&order.created_by), "hardware order")?;
    let input = json!({ "order_id": id });
    // The caller's key is part of the saga's request hash: the saga itself is keyed by the
    // order, so this is what tells the same request again from another one.
    let request_hash = hex::encode(Sha256::digest(
        json!({ "input": input, "key": keyed }).to_string(),
    ));
    if let Some(saga) = order.saga_id
        && keyed.is_some()
        && s.rt.store.started_by_request(saga, &request_hash).await?
    {
        return Ok((
            StatusCode::OK,
            Json(checkout_answer(id, saga, &order.payment_status)),
        ));
    }
    // The store decides again under a row lock; checking first keeps pricing errors from
    // hiding the real answer for an order past its draft.
    let from: PaymentStatus = order
        .payment_status
        .parse()
        .map_err(|_| ApiError::internal())?;
    if let Some(saga) = order.saga_id
        && !from.is_recoverable()
    {
        return Err(conflict(format!(
            "checkout was already sent for this order (saga {saga}); it is {}",
            order.payment_status
        )));
    }
    order::apply(from, PaymentEvent::SendCheckout).map_err(|e| conflict(e.to_string()))?;
    let items = s.rt.store.hardware_order_items(id).await?;
    reprice_order(
        &s.rt.store,
        &order,
        &items,
        settings.strict_prices,
        s.rt.clock.now(),
    )
    .await
    .map_err(pricing_error)?;
    let start = StartSaga {
        workflow: WORKFLOW.into(),
        request_hash: Some(request_hash),
        input,
        business_key: Some(order.order_code.clone()),
        idempotency_key: Some(checkout_key(id, s.rt.store.checkout_attempts(id).await?)),
        actor: actor(&who),
    };
    let (answer, started) = match s.rt.start(start, Some(link_checkout_saga(id))).await {
        Ok(Started::Created(saga)) => (StatusCode::ACCEPTED, saga),
        // The same request, sent twice at once: the other one started the saga.
        Ok(Started::Existing(saga)) if keyed.is_some() => (StatusCode::OK, saga),
        // The key is the order's: another checkout of it started the saga since we looked.
        Ok(Started::Existing(saga))
        | Err(StartError::Store(store::Error::IdempotencyConflict { saga_id: saga })) => {
            return Err(conflict(format!(
                "checkout was already sent for this order (saga {saga})"
            )));
        }
        Err(StartError::Store(e)) => return Err(store_error("order")(e)),
        Err(e) => return Err(e.into()),
    };
    let payment_status =
        s.rt.store
            .hardware_order(id)
            .await?
            .map(|o| o.payment_status)
            .unwrap_or(order.payment_status);
    Ok((answer, Json(checkout_answer(id, started, &payment_status))))
}

/// Cancels an order: a draft directly; an order with a running saga through it (refund,
/// cancel shipments not yet moving, …) unless a shipment is already on its way.
#[utoipa::path(post, path = "/v1/orders/{id}/cancel", operation_id = "cancel_hardware_order", tag = "hardware", params(("id" = String, Path, description = "order id")),
    request_body = ActionRequest,
    responses((status = 200, description = "the draft, cancelled"), (status = 202, description = "the saga is cancelling: order_id, saga_id, status"),
        (status = 404, description = "no such hardware order"),
        (status = 409, description = "already over, or a shipment is in transit or delivered")))]
pub(crate) async fn cancel(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ActionRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = parse_id(&id, "order")?;
    let reason = check_reason(&req.reason)?;
    let order =
        s.rt.store
            .hardware_order(id)
            .await?
            .ok_or_else(|| no_such("order"))?;
    tenancy::visible(&who, Some(&order.created_by), "hardware order")?;
    let over = || {
        conflict(format!(
            "cannot cancel the order: it is {}",
            order.payment_status
        ))
    };
    let Some(saga_id) = order.saga_id else {
        if order.payment_status != PaymentStatus::Draft.as_str() {
            return Err(over());
        }
        s.rt.store
            .cancel_draft_order_because(id, &actor(&who), &reason, s.rt.clock.now())
            .await
            .map_err(store_error("order"))?;
        let body = order_json(&s, id).await?.ok_or_else(ApiError::internal)?;
        return Ok((StatusCode::OK, Json(body)));
    };
    let saga = s.rt.store.get_saga(saga_id).await?;
    if matches!(
        saga.status.as_str(),
        "completed" | "compensated" | "cancelled"
    ) {
        return Err(over());
    }
    if let Some(f) = s.rt.store.fulfillment_for_order(id).await? {
        let shipments =
            s.rt.store
                .fulfillment_view(f.id)
                .await?
                .map(|v| v.shipments)
                .unwrap_or_default();
        if let Some(moving) = shipments
            .iter()
            .find(|v| matches!(v.shipment.status.as_str(), "in_transit" | "delivered"))
        {
            return Err(conflict(format!(
                "cannot cancel the order: shipment {} is {}",
                moving.shipment.seq, moving.shipment.status
            )));
        }
    }
    let state = apply_action(&s, &who, saga_id, "cancel", &reason).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "order_id": id, "saga_id": saga_id, "status": state.status() })),
    ))
}
