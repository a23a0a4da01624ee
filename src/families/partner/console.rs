//! The partner orders screens of the console: a list of partner orders with their licence's
//! expiry, and an order's page with its licence and each outbound webhook's delivery attempts,
//! the receiver's answer to each, and (for operators) a replay button. Operators also see the
//! latest partner API requests under the list (`partner_requests`, masked when written).
//! Served through `Family::console_routes`, behind the console's session.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::store_console::{ORDER_STATUSES, WebhookAttempt, WebhookRow};
use crate::api::auth::Principal;
use crate::api::ops::search::Cursor;
use crate::api::ui::csrf_ok;
use crate::api::ui::pages::{chrome, masked};
use crate::api::ui::view::{Choice, Chrome, opt_when, render, when};
use crate::api::{ApiError, AppState};
use crate::domain::money::Minor;

const PAGE: i64 = 50;

/// The console pages' part of the API document (HTML, session cookie).
#[derive(utoipa::OpenApi)]
#[openapi(paths(list, detail, replay))]
pub(crate) struct Doc;

/// The family's console pages.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/ui/partner/orders", get(list))
        .route("/ui/partner/orders/{id}", get(detail))
        .route(
            "/ui/partner/orders/{id}/webhooks/{outbox_id}/replay",
            post(replay),
        )
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub cursor: Option<String>,
}

pub struct OrderLine {
    pub id: String,
    pub partner: String,
    pub order_id: String,
    pub product: String,
    pub tenure: String,
    pub status: String,
    pub created: String,
    pub expires: String,
    pub licence_status: String,
}

/// One logged partner API request on the list page.
pub struct RequestLine {
    pub at: String,
    pub partner: String,
    pub key_hint: String,
    pub call: String,
    pub status: i32,
    pub answer: String,
}

/// How many logged requests the list page shows an operator.
const REQUESTS_SHOWN: i64 = 20;

#[derive(Template)]
#[template(path = "pictures_partner_list.html")]
pub struct PartnerListPage {
    pub chrome: Chrome,
    pub statuses: Vec<Choice>,
    pub rows: Vec<OrderLine>,
    pub next_href: Option<String>,
    pub error: Option<String>,
    /// The latest partner API requests; operators only, as for `GET /v1/partner/requests`.
    pub requests: Vec<RequestLine>,
}

/// `GET /ui/partner/orders`: newest first, filtered by status.
#[utoipa::path(get, path = "/ui/partner/orders", tag = "console", params(("status" = Option<String>, Query, description = "PROCESSING, FULFILLED or FAILED")), responses((status = 200, description = "HTML"), (status = 400, description = "unknown status or cursor")))]
pub async fn list(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = q.status.as_deref().filter(|st| !st.is_empty());
    let mut page = PartnerListPage {
        chrome: chrome(&who, "partner"),
        statuses: ORDER_STATUSES
            .iter()
            .map(|st| Choice {
                value: (*st).into(),
                label: st.to_lowercase(),
                selected: status == Some(*st),
            })
            .collect(),
        rows: Vec::new(),
        next_href: None,
        error: None,
        requests: Vec::new(),
    };
    let cursor = q.cursor.as_deref().map(Cursor::decode).transpose();
    let bad = match (status, &cursor) {
        (Some(st), _) if !ORDER_STATUSES.contains(&st) => Some(format!(
            "unknown status {st:?}: choose PROCESSING, FULFILLED or FAILED"
        )),
        (_, Err(e)) => Some(e.message.clone()),
        _ => None,
    };
    if let Some(e) = bad {
        page.error = Some(e);
        return Ok((StatusCode::BAD_REQUEST, render(&page)).into_response());
    }
    let after = cursor.ok().flatten().map(|c| (c.created_at, c.id));
    let rows = s.rt.store.partner_order_lines(status, after, PAGE).await?;
    page.next_href = (rows.len() as i64 == PAGE)
        .then(|| rows.last())
        .flatten()
        .map(|r| {
            let c = Cursor {
                created_at: r.created_at,
                id: r.id,
            }
            .encode();
            let mut pairs = vec![("cursor", c)];
            if let Some(st) = status {
                pairs.push(("status", st.to_string()));
            }
            format!(
                "/ui/partner/orders?{}",
                serde_urlencoded::to_string(pairs).unwrap_or_default()
            )
        });
    page.rows = rows
        .into_iter()
        .map(|r| OrderLine {
            id: r.id.to_string(),
            partner: r.partner_id,
            order_id: masked(&r.order_id),
            product: r.product_id,
            tenure: tenure(&r.tenure),
            status: r.status,
            created: when(&r.created_at),
            expires: r
                .expires_on
                .map(|d| d.to_string())
                .unwrap_or_else(|| "—".into()),
            licence_status: r.licence_status.unwrap_or_default(),
        })
        .collect();
    if who.can_operate() {
        page.requests =
            s.rt.store
                .partner_requests(None, REQUESTS_SHOWN)
                .await?
                .into_iter()
                .map(|r| RequestLine {
                    at: when(&r.received_at),
                    partner: r.partner_id.unwrap_or_else(|| "no account".into()),
                    key_hint: r.key_hint.unwrap_or_else(|| "—".into()),
                    call: format!("{} {}", r.method, r.path),
                    status: r.status,
                    answer: r.response_body.unwrap_or_default(),
                })
                .collect();
    }
    Ok(render(&page))
}

fn tenure(raw: &str) -> String {
    match raw {
        "1_MONTH" => "1 month".into(),
        "12_MONTHS" => "12 months".into(),
        other => other.into(),
    }
}

/// One attempt on the order page.
pub struct AttemptLine {
    pub attempt: i32,
    pub at: String,
    pub outcome: String,
    pub status_code: String,
    pub answer: String,
    pub latency: String,
}

/// One webhook on the order page.
pub struct WebhookLine {
    pub id: i64,
    pub event_type: String,
    pub event_id: String,
    pub status: String,
    pub created: String,
    pub delivered: String,
    pub attempts: Vec<AttemptLine>,
}

pub struct LicenceView {
    pub activation_reference: String,
    pub sales_order_id: String,
    pub status: String,
    pub expires_on: String,
    /// `in 12 days`, `today`, `3 days ago`.
    pub expires_in: String,
    pub renewals: i32,
}

#[derive(Template)]
#[template(path = "pictures_partner_order.html")]
pub struct PartnerOrderPage {
    pub chrome: Chrome,
    pub id: String,
    pub partner: String,
    pub order_id: String,
    pub product: String,
    pub tenure: String,
    pub status: String,
    pub price: String,
    pub customer: String,
    pub saga_id: String,
    pub created: String,
    pub licence: Option<LicenceView>,
    pub webhooks: Vec<WebhookLine>,
    pub notice: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct NoticeQuery {
    pub notice: Option<String>,
}

fn parse_order_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::bad_request("invalid_id", "partner order id must be a UUID"))
}

fn webhook_line(w: WebhookRow, attempts: &[WebhookAttempt]) -> WebhookLine {
    let text = |k: &str| {
        w.payload
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    WebhookLine {
        id: w.id,
        event_type: if w.topic == super::webhook_delivery::TOPIC {
            text("event_type")
        } else {
            w.topic.clone()
        },
        event_id: text("event_id"),
        status: w.status,
        created: when(&w.created_at),
        delivered: opt_when(&w.delivered_at),
        attempts: attempts
            .iter()
            .filter(|a| a.outbox_id == w.id)
            .map(|a| AttemptLine {
                attempt: a.attempt,
                at: when(&a.created_at),
                outcome: a.outcome.clone(),
                status_code: a
                    .status_code
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "no answer".into()),
                // The recorded error quotes the receiver's body (its message, or the first
                // characters of a non-JSON body); an accepted delivery's body is not kept.
                answer: match (&a.error, a.outcome.as_str()) {
                    (Some(e), _) => masked(e),
                    (None, "delivered") => "accepted".into(),
                    (None, _) => "—".into(),
                },
                latency: format!("{} ms", a.latency_ms),
            })
            .collect(),
    }
}

/// `GET /ui/partner/orders/{id}`: the order, its licence, and its webhooks' deliveries.
#[utoipa::path(get, path = "/ui/partner/orders/{id}", tag = "console", params(("id" = String, Path, description = "partner order id")), responses((status = 200, description = "HTML"), (status = 404, description = "no such order")))]
pub async fn detail(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Query(n): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let id = parse_order_id(&id)?;
    let order =
        s.rt.store
            .partner_order(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no partner order has this id"))?;
    let licence = s.rt.store.licence_for_order(id).await?;
    let (hooks, attempts) =
        s.rt.store
            .partner_order_webhooks(order.saga_id, licence.as_ref().map(|l| l.id))
            .await?;
    let today = s.rt.clock.now().date_naive();
    Ok(render(&PartnerOrderPage {
        chrome: chrome(&who, "partner"),
        id: order.id.to_string(),
        partner: order.partner_id,
        order_id: masked(&order.order_id),
        product: order.product_id,
        tenure: tenure(&order.tenure),
        status: order.status,
        price: order
            .price_minor
            .map(|p| Minor(p).to_string())
            .unwrap_or_else(|| "—".into()),
        customer: format!(
            "{} ({}, {}, {})",
            order.customer_name,
            order.customer_id,
            masked(&order.customer_email),
            masked(&order.customer_phone)
        ),
        saga_id: order.saga_id.to_string(),
        created: when(&order.created_at),
        licence: licence.map(|l| {
            let days = (l.expires_on - today).num_days();
            LicenceView {
                activation_reference: l.activation_reference,
                sales_order_id: l.sales_order_id,
                status: l.status,
                expires_on: l.expires_on.to_string(),
                expires_in: match days {
                    0 => "today".into(),
                    1 => "tomorrow".into(),
                    d if d > 0 => format!("in {d} days"),
                    -1 => "yesterday".into(),
                    d => format!("{} days ago", -d),
                },
                renewals: l.renewals,
            }
        }),
        webhooks: hooks
            .into_iter()
            .map(|w| webhook_line(w, &attempts))
            .collect(),
        notice: n.notice,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplayForm {
    pub reason: String,
    pub csrf: String,
}

fn back(order: Uuid, text: &str) -> Response {
    let q = serde_urlencoded::to_string([("notice", text)]).unwrap_or_default();
    Redirect::to(&format!("/ui/partner/orders/{order}?{q}#webhooks")).into_response()
}

/// `POST /ui/partner/orders/{id}/webhooks/{outbox_id}/replay`: operators only, CSRF-checked,
/// with a reason; the same replay as `POST /v1/outbox/{id}/replay`, audited on the order's
/// saga. A webhook that is not this order's is not found.
#[utoipa::path(post, path = "/ui/partner/orders/{id}/webhooks/{outbox_id}/replay", tag = "console",
    params(("id" = String, Path, description = "partner order id"), ("outbox_id" = i64, Path, description = "the webhook's outbox row")),
    responses((status = 303, description = "back to the order"), (status = 403, description = "not an operator, or a stale form"), (status = 404, description = "not this order's webhook")))]
pub async fn replay(
    State(s): State<AppState>,
    Extension(who): Extension<Principal>,
    Path((id, outbox_id)): Path<(String, String)>,
    Form(f): Form<ReplayForm>,
) -> Result<Response, ApiError> {
    if !csrf_ok(&who, &f.csrf) {
        return Ok((
            StatusCode::FORBIDDEN,
            Html("This form has expired; reload the page and try again."),
        )
            .into_response());
    }
    if !who.can_operate() {
        return Ok((
            StatusCode::FORBIDDEN,
            Html("Only operators can replay webhooks."),
        )
            .into_response());
    }
    let id = parse_order_id(&id)?;
    let outbox_id: i64 = outbox_id
        .parse()
        .map_err(|_| ApiError::bad_request("invalid_id", "webhook id must be a number"))?;
    let order =
        s.rt.store
            .partner_order(id)
            .await?
            .ok_or_else(|| ApiError::not_found("no partner order has this id"))?;
    let licence = s.rt.store.licence_for_order(id).await?;
    let (hooks, _) =
        s.rt.store
            .partner_order_webhooks(order.saga_id, licence.as_ref().map(|l| l.id))
            .await?;
    if !hooks.iter().any(|h| h.id == outbox_id) {
        return Err(ApiError::not_found("this order has no such webhook"));
    }
    match crate::api::outbox::replay_row(&s, &who, outbox_id, &f.reason).await {
        Ok(_) => Ok(back(
            id,
            &format!("Webhook {outbox_id} queued for delivery again"),
        )),
        // The form requires a reason, so only a hand-made post lands here; it changes nothing.
        Err(e) if e.status == StatusCode::BAD_REQUEST => Ok((
            StatusCode::BAD_REQUEST,
            Html(format!(
                "Not replayed: {}. <a href=\"/ui/partner/orders/{id}\">Back to the order</a>",
                e.message
            )),
        )
            .into_response()),
        Err(e) => Err(e),
    }
}
