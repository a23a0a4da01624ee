//! The hardware order list and one order's page: its lines with where each price came from,
//! checkout sessions and payments, the invoice and its balance, the fulfilment's shipments
//! with their items and tracking, the automation steps with their attempts (and, for
//! operators, retry and fallback), and the merged timeline.

use std::sync::Arc;

use askama::Template;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::{HardwareSettings, given, label, money};
use crate::api::auth::Principal;
use crate::api::ui::pages::{chrome, masked};
use crate::api::ui::view::{Chrome, opt_when, render, short_id, when};
use crate::api::{ApiError, AppState, parse_id};
use crate::domain::hardware::automation::{self, AutomationEvent, AutomationStatus};
use crate::families::hardware::store::{
    AutomationRow, OrderItemRow, OrderListFilter, RecordKind, ShipmentView, TimelineEntry,
};

/// Orders one list page shows.
const LIST_LIMIT: i64 = 200;

/// The statuses an order's payment goes through, for the list's filter.
pub(crate) const ORDER_STATUSES: &[&str] = &[
    "draft",
    "checkout_sent",
    "payment_processing",
    "paid",
    "payment_failed",
    "checkout_expired",
    "refunded",
    "cancelled",
];

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub company: Option<String>,
    pub q: Option<String>,
}

/// One order in a table, business key first.
pub struct OrderLine {
    pub id: String,
    pub code: String,
    pub company_id: String,
    pub company: String,
    pub status: String,
    pub total: String,
    pub fulfillment: String,
    pub invoice_id: String,
    pub invoice: String,
    pub saga_status: String,
    pub failed_steps: i64,
    pub created: String,
}

pub(crate) fn order_lines(
    rows: &[crate::families::hardware::store::OrderListRow],
) -> Vec<OrderLine> {
    rows.iter()
        .map(|r| OrderLine {
            id: r.id.to_string(),
            code: r.order_code.clone(),
            company_id: r.company_id.clone(),
            company: r.company_name.clone(),
            status: label(&r.payment_status),
            total: money(r.total_minor, &r.currency),
            fulfillment: r
                .fulfillment_status
                .as_deref()
                .map(label)
                .unwrap_or_else(|| "—".into()),
            invoice_id: r.invoice_id.map(|i| i.to_string()).unwrap_or_default(),
            invoice: r.invoice_number.clone().unwrap_or_else(|| "draft".into()),
            saga_status: r.saga_status.clone().unwrap_or_default(),
            failed_steps: r.failed_steps,
            created: when(&r.created_at),
        })
        .collect()
}

pub struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "hardware_orders.html")]
pub struct OrdersPage {
    pub chrome: Chrome,
    pub statuses: Vec<Choice>,
    pub company: String,
    pub q: String,
    pub rows: Vec<OrderLine>,
    pub error: Option<String>,
}

/// Hardware orders, newest first, by status, company and order code.
#[utoipa::path(get, path = "/ui/orders", tag = "console", responses((status = 200, description = "HTML"), (status = 400, description = "HTML: unknown status")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = given(&q.status);
    let filter = OrderListFilter {
        status: status.clone(),
        company: given(&q.company),
        code: given(&q.q),
        limit: LIST_LIMIT,
    };
    let statuses = ORDER_STATUSES
        .iter()
        .map(|v| Choice {
            value: v,
            label: label(v),
            selected: status.as_deref() == Some(*v),
        })
        .collect();
    let bad = status
        .as_deref()
        .filter(|st| !ORDER_STATUSES.contains(st))
        .map(|st| format!("There is no order status {st:?}; choose one from the list."));
    let rows = match bad {
        Some(_) => Vec::new(),
        None => order_lines(&s.rt.store.console_orders(&filter).await?),
    };
    let mut res = render(&OrdersPage {
        chrome: chrome(&who, "hardware"),
        statuses,
        company: filter.company.unwrap_or_default(),
        q: filter.code.unwrap_or_default(),
        rows,
        error: bad.clone(),
    });
    if bad.is_some() {
        *res.status_mut() = axum::http::StatusCode::BAD_REQUEST;
    }
    Ok(res)
}

pub struct ItemLine {
    pub line_no: i32,
    pub sku: String,
    pub description: String,
    pub quantity: i32,
    pub unit: String,
    pub amount: String,
    /// Where the price came from, in words.
    pub source: String,
    /// The agreement or price-book entry it came from.
    pub source_ref: String,
    pub locked: String,
}

/// A price type in words.
fn provenance(item: &OrderItemRow) -> (String, String) {
    let (words, reference) = match item.price_type.as_str() {
        "PRICE_AGREEMENT" => ("Price agreement", item.price_agreement_id.clone()),
        "PRICEBOOK_REGIONAL" => ("Regional price book", item.price_book_entry_id.clone()),
        "PRICEBOOK_GLOBAL" => ("Global price book", item.price_book_entry_id.clone()),
        "BESPOKE" => ("Bespoke price", item.bespoke_notes.clone()),
        other => (other, None),
    };
    (words.to_string(), reference.unwrap_or_default())
}

pub struct CheckoutLine {
    pub attempt: i32,
    pub session: String,
    pub outcome: String,
    pub created: String,
}

pub struct PaymentLine {
    pub kind: String,
    pub amount: String,
    pub reference: String,
    pub at: String,
}

pub struct ShipmentBox {
    pub id: String,
    pub seq: i32,
    pub status: String,
    pub courier: String,
    pub tracking: String,
    pub tracking_url: String,
    pub destination: String,
    pub items: Vec<(String, i32)>,
}

pub struct AttemptLine {
    pub at: String,
    pub kind: String,
    pub attempt: String,
    pub error: String,
}

pub struct StepLine {
    pub id: String,
    pub scenario: String,
    pub shipment: String,
    pub status: String,
    pub attempts: String,
    pub next_attempt: String,
    pub last_error: String,
    pub fallback_note: String,
    /// What the scenario's manual fallback is, from its policy.
    pub fallback_hint: String,
    pub attempt_log: Vec<AttemptLine>,
    pub can_retry: bool,
    pub can_fallback: bool,
}

pub struct TimelineLine {
    pub at: String,
    pub source: String,
    pub kind: String,
    pub step: String,
    pub actor: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "hardware_order.html")]
pub struct OrderPage {
    pub chrome: Chrome,
    pub id: String,
    pub code: String,
    pub company_id: String,
    pub company: String,
    pub status: String,
    pub total: String,
    pub paid: String,
    pub balance: String,
    pub saga_id: String,
    pub saga_short: String,
    pub saga_status: String,
    pub billing_contact: String,
    pub checkout_session: String,
    pub payment_intent: String,
    pub created: String,
    pub items: Vec<ItemLine>,
    pub checkouts: Vec<CheckoutLine>,
    pub payments: Vec<PaymentLine>,
    pub invoice_id: String,
    pub invoice_number: String,
    pub invoice_status: String,
    pub fulfillment_status: String,
    pub shipments: Vec<ShipmentBox>,
    pub steps: Vec<StepLine>,
    pub timeline: Vec<TimelineLine>,
    pub notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    pub notice: Option<String>,
}

fn text(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// A snapshot's address on one line.
fn one_line(address: &Value) -> String {
    ["line1", "line2", "city", "region", "postal_code", "country"]
        .iter()
        .map(|k| text(address, k))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Only links that leave for the courier over http(s) become links.
fn safe_url(url: Option<&str>) -> String {
    url.filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .unwrap_or_default()
        .to_string()
}

fn shipment_box(v: &ShipmentView) -> ShipmentBox {
    let s = &v.shipment;
    ShipmentBox {
        id: s.id.to_string(),
        seq: s.seq,
        status: label(&s.status),
        courier: s.courier_code.to_uppercase(),
        tracking: s.tracking_number.clone().unwrap_or_default(),
        tracking_url: safe_url(s.tracking_url.as_deref()),
        destination: one_line(&s.address_snapshot),
        items: v
            .items
            .iter()
            .map(|i| (i.sku.clone(), i.quantity))
            .collect(),
    }
}

fn step_line(
    a: &AutomationRow,
    shipments: &[ShipmentView],
    timeline: &[TimelineEntry],
    settings: &HardwareSettings,
) -> StepLine {
    let from: Option<AutomationStatus> = a.status.parse().ok();
    let can = |e| from.is_some_and(|f| automation::apply(f, e).is_ok());
    let shipment = shipments
        .iter()
        .find(|v| v.items.iter().any(|i| i.id == a.shipment_item_id))
        .map(|v| {
            let sku = v
                .items
                .iter()
                .find(|i| i.id == a.shipment_item_id)
                .map(|i| format!("{} × {}", i.sku, i.quantity))
                .unwrap_or_default();
            format!("Shipment {} · {sku}", v.shipment.seq)
        })
        .unwrap_or_default();
    let attempt_log = timeline
        .iter()
        .filter(|e| e.source == "domain" && e.subject == Some(a.id))
        .map(|e| AttemptLine {
            at: when(&e.at),
            kind: e.kind.clone(),
            attempt: match (e.detail.get("attempt"), e.detail.get("max_attempts")) {
                (Some(n), Some(m)) if !n.is_null() => format!("{n} of {m}"),
                _ => String::new(),
            },
            error: masked(&text(&e.detail, "error")),
        })
        .collect();
    StepLine {
        id: a.id.to_string(),
        scenario: label(&a.scenario),
        shipment,
        status: a.status.clone(),
        attempts: format!("{} of {}", a.attempts, a.max_attempts),
        next_attempt: opt_when(&a.next_attempt_at),
        last_error: masked(a.last_error.as_deref().unwrap_or_default()),
        fallback_note: a.fallback_note.clone().unwrap_or_default(),
        fallback_hint: settings.policy(&a.scenario).fallback,
        attempt_log,
        can_retry: can(AutomationEvent::Retry),
        can_fallback: can(AutomationEvent::Fallback),
    }
}

/// One hardware order.
#[utoipa::path(get, path = "/ui/orders/{id}", tag = "console", params(("id" = String, Path, description = "order id")),
    responses((status = 200, description = "HTML"), (status = 400, description = "not a UUID"), (status = 404, description = "no such order")))]
pub async fn show(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Extension(settings): Extension<Arc<HardwareSettings>>,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "order")?;
    let store = &s.rt.store;
    let view = store
        .hardware_order_view(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such hardware order"))?;
    let o = &view.order;
    let shipments = match view.fulfillment_id {
        Some(f) => store
            .fulfillment_view(f)
            .await?
            .map(|f| f.shipments)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let timeline = store.order_timeline(id).await?;
    let steps = store.automation_steps_for_order(id).await?;
    let contact = o.billing_contact.clone().unwrap_or(Value::Null);
    let billing_contact = match contact.is_null() {
        true => "set at checkout".to_string(),
        false => masked(&format!(
            "{} {} <{}> {}",
            text(&contact, "first_name"),
            text(&contact, "last_name"),
            text(&contact, "email"),
            text(&contact, "phone"),
        ))
        .trim()
        .to_string(),
    };
    let items = view
        .items
        .iter()
        .map(|i| {
            let (source, source_ref) = provenance(i);
            ItemLine {
                line_no: i.line_no,
                sku: i.sku.clone(),
                description: i.description.clone(),
                quantity: i.quantity,
                unit: money(i.unit_amount_minor, &i.currency),
                amount: money(i.unit_amount_minor * i64::from(i.quantity), &i.currency),
                source,
                source_ref,
                locked: opt_when(&i.snapshot_locked_at),
            }
        })
        .collect();
    let page = OrderPage {
        chrome: chrome(&who, "hardware"),
        id: o.id.to_string(),
        code: o.order_code.clone(),
        company_id: o.company_id.clone(),
        company: view.company_name.clone(),
        status: label(&o.payment_status),
        total: money(o.total_minor, &o.currency),
        paid: money(view.paid_minor, &o.currency),
        balance: money(view.balance_minor, &o.currency),
        saga_id: o.saga_id.map(|i| i.to_string()).unwrap_or_default(),
        saga_short: o.saga_id.map(|i| short_id(&i)).unwrap_or_default(),
        saga_status: view.saga_status.clone().unwrap_or_default(),
        billing_contact,
        checkout_session: o.checkout_session.clone().unwrap_or_default(),
        payment_intent: o.payment_intent.clone().unwrap_or_default(),
        created: when(&o.created_at),
        items,
        checkouts: store
            .checkouts_for_order(id)
            .await?
            .iter()
            .map(|c| CheckoutLine {
                attempt: c.attempt,
                session: c.session_id.clone().unwrap_or_default(),
                outcome: c.outcome.clone().unwrap_or_else(|| "current".into()),
                created: when(&c.created_at),
            })
            .collect(),
        payments: store
            .payments_for_order(id)
            .await?
            .iter()
            .map(|p| PaymentLine {
                kind: p.kind.clone(),
                amount: money(p.amount_minor, &p.currency),
                reference: p.provider_ref.clone(),
                at: when(&p.created_at),
            })
            .collect(),
        invoice_id: view.invoice_id.map(|i| i.to_string()).unwrap_or_default(),
        invoice_number: view
            .invoice_number
            .clone()
            .unwrap_or_else(|| "draft".into()),
        invoice_status: view
            .invoice_status
            .as_deref()
            .map(label)
            .unwrap_or_default(),
        fulfillment_status: view
            .fulfillment_status
            .as_deref()
            .map(label)
            .unwrap_or_else(|| "not started".into()),
        steps: steps
            .iter()
            .map(|a| step_line(a, &shipments, &timeline, &settings))
            .collect(),
        shipments: shipments.iter().map(shipment_box).collect(),
        timeline: timeline
            .iter()
            .map(|e| TimelineLine {
                at: when(&e.at),
                source: e.source.clone(),
                kind: e.kind.clone(),
                step: e.step.clone().unwrap_or_default(),
                actor: e.actor.clone().unwrap_or_default(),
                detail: masked(&crate::api::ui::view::pretty(&e.detail)),
            })
            .collect(),
        notice: n.notice,
    };
    Ok(render(&page))
}

/// A record without a page of its own opens its order's page at its section.
async fn open_in_order(
    s: &AppState,
    kind: RecordKind,
    raw: &str,
    (what, anchor): (&str, &str),
) -> Result<Response, ApiError> {
    let id: Uuid = parse_id(raw, what)?;
    let order =
        s.rt.store
            .order_of(kind, id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no such {what}")))?;
    Ok(Redirect::to(&format!("/ui/orders/{order}#{anchor}-{id}")).into_response())
}

/// A shipment: its order's page, at the shipment.
#[utoipa::path(get, path = "/ui/shipments/{id}", tag = "console", params(("id" = String, Path, description = "shipment id")),
    responses((status = 303, description = "to the order's page"), (status = 404, description = "no such shipment")))]
pub async fn shipment(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    open_in_order(&s, RecordKind::Shipment, &id, ("shipment", "shipment")).await
}

/// A fulfilment: its order's page, at the shipments.
#[utoipa::path(get, path = "/ui/fulfillments/{id}", tag = "console", params(("id" = String, Path, description = "fulfilment id")),
    responses((status = 303, description = "to the order's page"), (status = 404, description = "no such fulfilment")))]
pub async fn fulfillment(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    open_in_order(
        &s,
        RecordKind::Fulfillment,
        &id,
        ("fulfilment", "fulfillment"),
    )
    .await
}

/// An automation step: its order's page, at the step.
#[utoipa::path(get, path = "/ui/automation-steps/{id}", tag = "console", params(("id" = String, Path, description = "automation step id")),
    responses((status = 303, description = "to the order's page"), (status = 404, description = "no such automation step")))]
pub async fn automation_step(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    open_in_order(
        &s,
        RecordKind::AutomationStep,
        &id,
        ("automation step", "step"),
    )
    .await
}
