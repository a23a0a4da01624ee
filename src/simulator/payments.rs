//! The simulated Stripe-compatible processor: form-encoded checkout sessions (create, read,
//! expire) and refunds with Bearer auth and `Idempotency-Key`, an optional price list, and a
//! signed `checkout.session.*` event whenever a session is paid, fails or expires.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, post};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::callbacks;
use super::events::{SignedEvent, payment_event};
use super::state::{Sim, bearer_ok, header, json_response};
use crate::providers::payments::{CheckoutSession, Refund, SESSION_NOT_OPEN};
use crate::providers::webhooks;

/// Price of a line that names a synced `price_…` id, in minor units, when the simulator has no
/// price list (`SimulatorConfig::prices` empty).
const CATALOGUE_PRICE: i64 = 1000;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(get_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/refunds", post(create_refund))
        .route("/_sim/payments/{id}/complete", post(complete_now))
        .route("/pay/{id}", get(hosted_page))
        .route("/pay/{id}/cancel", get(hosted_cancel))
}

fn stripe_error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message}}),
    )
}

/// A Stripe error about one parameter (`param` names it, as Stripe's errors do).
fn param_error(status: u16, code: &str, param: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"type": "invalid_request_error", "code": code, "param": param,
                          "message": message}}),
    )
}

fn authorised(sim: &Sim, headers: &HeaderMap) -> bool {
    let key = sim.lock().config.providers.payments.secret_key.clone();
    bearer_ok(headers, key.expose())
}

fn unauthorised() -> Response {
    let (status, body) = stripe_error(401, "invalid_api_key", "Invalid API Key provided");
    json_response(status, body)
}

fn form(body: &[u8]) -> Option<BTreeMap<String, String>> {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .ok()
        .map(|pairs| pairs.into_iter().collect())
}

async fn create_session(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("payments.create_session", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        let key2 = key.clone();
        let bytes = body.clone();
        s.idempotent(
            "payments.create_session",
            key.as_deref(),
            &body,
            move || async move {
                let Some(params) = form(&bytes) else {
                    return stripe_error(400, "parameter_invalid", "Invalid form body");
                };
                if params.get("success_url").is_none_or(String::is_empty) {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        "Missing required param: success_url.",
                    );
                }
                let prices = s2.lock().config.prices.clone();
                let mut total = 0i64;
                let mut currency = None;
                let mut i = 0;
                while let Some(quantity) = params.get(&format!("line_items[{i}][quantity]")) {
                    let quantity: i64 = quantity.parse().unwrap_or(0);
                    let named = params.get(&format!("line_items[{i}][price]"));
                    // A price created through `POST /v1/prices` charges its own amount.
                    let created = named.and_then(|p| super::prices::amount_of(&s2, p));
                    let unit = match named {
                        Some(_) if created.is_some() => created.unwrap_or_default(),
                        Some(_) if prices.is_empty() => CATALOGUE_PRICE,
                        Some(price) => match prices.get(price) {
                            Some(amount) => *amount,
                            None => {
                                return param_error(
                                    400,
                                    "resource_missing",
                                    &format!("line_items[{i}][price]"),
                                    &format!("No such price: '{price}'"),
                                );
                            }
                        },
                        None => params
                            .get(&format!("line_items[{i}][price_data][unit_amount]"))
                            .and_then(|a| a.parse().ok())
                            .unwrap_or(0),
                    };
                    if currency.is_none() {
                        currency = params
                            .get(&format!("line_items[{i}][price_data][currency]"))
                            .cloned();
                    }
                    total += unit * quantity;
                    i += 1;
                }
                if i == 0 || total <= 0 {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        "line_items must hold at least one priced line",
                    );
                }
                let metadata: BTreeMap<String, String> = params
                    .iter()
                    .filter_map(|(k, v)| {
                        let name = k.strip_prefix("metadata[")?.strip_suffix(']')?;
                        Some((name.to_string(), v.clone()))
                    })
                    .collect();
                let (session, delay, auto) = {
                    let mut state = s2.lock();
                    let n = state.records.next();
                    let id = format!("cs_test_sim{n:06}");
                    let session = CheckoutSession {
                        url: Some(format!("{}/pay/{id}", s2.0.base_url)),
                        id: id.clone(),
                        status: Some("open".into()),
                        payment_status: Some("unpaid".into()),
                        amount_total: Some(total),
                        currency: Some(currency.unwrap_or_else(|| "usd".into())),
                        client_reference_id: params.get("client_reference_id").cloned(),
                        payment_intent: None,
                        metadata,
                    };
                    let back = |name: &str| params.get(name).cloned().unwrap_or_default();
                    state
                        .records
                        .return_urls
                        .insert(id.clone(), (back("success_url"), back("cancel_url")));
                    state.records.sessions.insert(id, session.clone());
                    (
                        session,
                        state.config.completion_delay_ms,
                        state.config.checkout_auto_complete,
                    )
                };
                s2.record_delivery(
                    "payments.create_session",
                    key2.as_deref().unwrap_or(&session.id),
                );
                if auto {
                    let s3 = s2.clone();
                    let id = session.id.clone();
                    callbacks::after(&s2, Duration::from_millis(delay), async move {
                        settle(&s3, &id, Settlement::Paid).await;
                    });
                }
                (200, session_json(&session))
            },
        )
        .await
    })
    .await
}

fn session_json(session: &CheckoutSession) -> Value {
    let mut value = json!(session);
    if let Some(map) = value.as_object_mut() {
        map.insert("object".into(), json!("checkout.session"));
        map.insert("mode".into(), json!("payment"));
    }
    value
}

/// How an open session ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settlement {
    /// `complete` / `paid`: `checkout.session.completed`.
    Paid,
    /// `complete` / `unpaid` (a delayed payment method failed):
    /// `checkout.session.async_payment_failed`.
    Failed,
    /// `expired` / `unpaid`: `checkout.session.expired`.
    Expired,
}

impl Settlement {
    fn event_type(self) -> &'static str {
        match self {
            Settlement::Paid => "checkout.session.completed",
            Settlement::Failed => "checkout.session.async_payment_failed",
            Settlement::Expired => "checkout.session.expired",
        }
    }
}

/// Ends an open session and signs its event. Returns the session as it now is and the event,
/// which is `None` when the session was no longer open (nothing changed); `None` for an
/// unknown session.
fn transition(
    sim: &Sim,
    id: &str,
    how: Settlement,
) -> Option<(CheckoutSession, Option<SignedEvent>)> {
    let mut state = sim.lock();
    let n = state.records.next();
    let secret = state.config.providers.payments.webhook_secret.clone();
    let session = state.records.sessions.get_mut(id)?;
    if session.status.as_deref() != Some("open") {
        return Some((session.clone(), None));
    }
    match how {
        Settlement::Paid => {
            session.status = Some("complete".into());
            session.payment_status = Some("paid".into());
            session.payment_intent = Some(format!("pi_test_sim{n:06}"));
        }
        Settlement::Failed => {
            session.status = Some("complete".into());
            session.payment_status = Some("unpaid".into());
        }
        Settlement::Expired => {
            session.status = Some("expired".into());
        }
    }
    let session = session.clone();
    let event = payment_event(
        secret.expose(),
        &format!("evt_sim{n:06}"),
        how.event_type(),
        &session_json(&session),
        Utc::now(),
    );
    Some((session, Some(event)))
}

/// Ends an open session and posts the signed event. No-op if already settled.
async fn settle(sim: &Sim, id: &str, how: Settlement) -> Option<CheckoutSession> {
    let (session, event) = transition(sim, id, how)?;
    if let Some(event) = event {
        callbacks::send(sim, &webhooks::payments::CONTRACT, id, event).await;
    }
    Some(session)
}

#[derive(Deserialize)]
struct CompleteQuery {
    /// `paid` (default), `failed` or `expired`.
    outcome: Option<String>,
}

async fn complete_now(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Query(q): Query<CompleteQuery>,
) -> Response {
    let how = match q.outcome.as_deref() {
        None | Some("paid") => Settlement::Paid,
        Some("failed") => Settlement::Failed,
        Some("expired") => Settlement::Expired,
        Some(other) => {
            return json_response(
                400,
                json!({"error": {"message":
                    format!("outcome must be paid, failed or expired, not {other:?}")}}),
            );
        }
    };
    match settle(&sim, &id, how).await {
        Some(session) => json_response(200, session_json(&session)),
        None => json_response(404, json!({"error": {"message": "no such session"}})),
    }
}

/// `POST /v1/checkout/sessions/{id}/expire`: an open session expires and its signed
/// `checkout.session.expired` event is posted in the background; any other session is 400
/// `checkout_session_not_open`, worded as Stripe words it.
async fn expire_session(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let s = sim.clone();
    sim.run("payments.expire_session", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        // The path is part of the request: the same key for another session is refused.
        let mut request = format!("/v1/checkout/sessions/{id}/expire\n").into_bytes();
        request.extend_from_slice(&body);
        let s2 = s.clone();
        let key2 = key.clone();
        s.idempotent(
            "payments.expire_session",
            key.as_deref(),
            &request,
            move || async move {
                let Some((session, event)) = transition(&s2, &id, Settlement::Expired) else {
                    return stripe_error(
                        404,
                        "resource_missing",
                        &format!("No such checkout.session: '{id}'"),
                    );
                };
                let Some(event) = event else {
                    let status = session.status.as_deref().unwrap_or("unknown");
                    return stripe_error(
                        400,
                        SESSION_NOT_OPEN,
                        &format!(
                            "Only Checkout Sessions with a status in [\"open\"] can be expired. \
                             This Checkout Session has a status of `{status}`."
                        ),
                    );
                };
                s2.record_delivery("payments.expire_session", key2.as_deref().unwrap_or(&id));
                let s3 = s2.clone();
                callbacks::after(&s2, Duration::ZERO, async move {
                    callbacks::send(&s3, &webhooks::payments::CONTRACT, &id, event).await;
                });
                (200, session_json(&session))
            },
        )
        .await
    })
    .await
}

/// The hosted payment page: visiting it pays the session (a demo convenience) and, as the
/// processor's page does, sends the customer on to the session's `success_url` with
/// `{CHECKOUT_SESSION_ID}` filled in.
async fn hosted_page(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match settle(&sim, &id, Settlement::Paid).await {
        Some(session) => match return_url(&sim, &id, true) {
            Some(url) => redirect(&url),
            None => json_response(
                200,
                json!({"paid": session.payment_status.as_deref() == Some("paid"), "session": id}),
            ),
        },
        None => json_response(404, json!({"error": {"message": "no such session"}})),
    }
}

/// The hosted page's "back" link: the customer leaves without paying and lands on the
/// session's `cancel_url`; the session stays open until it expires.
async fn hosted_cancel(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match return_url(&sim, &id, false) {
        Some(url) => redirect(&url),
        None => json_response(404, json!({"error": {"message": "no such session"}})),
    }
}

/// The session's success or cancel URL, its `{CHECKOUT_SESSION_ID}` filled in.
fn return_url(sim: &Sim, id: &str, success: bool) -> Option<String> {
    let state = sim.lock();
    let (ok, cancel) = state.records.return_urls.get(id)?;
    let url = if success { ok } else { cancel };
    (!url.is_empty()).then(|| url.replace("{CHECKOUT_SESSION_ID}", id))
}

fn redirect(url: &str) -> Response {
    let mut res = Response::new(axum::body::Body::empty());
    *res.status_mut() = axum::http::StatusCode::SEE_OTHER;
    if let Ok(v) = axum::http::HeaderValue::from_str(url) {
        res.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    res
}

async fn get_session(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let s = sim.clone();
    sim.run("payments.get_session", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let state = s.lock();
        match state.records.sessions.get(&id) {
            Some(session) => json_response(200, session_json(session)),
            None => {
                let (status, body) = stripe_error(
                    404,
                    "resource_missing",
                    &format!("No such checkout.session: '{id}'"),
                );
                json_response(status, body)
            }
        }
    })
    .await
}

async fn create_refund(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    let s = sim.clone();
    sim.run("payments.create_refund", async move {
        if !authorised(&s, &headers) {
            return unauthorised();
        }
        let key = header(&headers, "idempotency-key").map(str::to_string);
        let s2 = s.clone();
        let key2 = key.clone();
        let bytes = body.clone();
        s.idempotent(
            "payments.create_refund",
            key.as_deref(),
            &body,
            move || async move {
                let Some(params) = form(&bytes) else {
                    return stripe_error(400, "parameter_invalid", "Invalid form body");
                };
                let Some(intent) = params.get("payment_intent").cloned() else {
                    return stripe_error(
                        400,
                        "parameter_missing",
                        "Missing required param: payment_intent.",
                    );
                };
                let refund = {
                    let mut state = s2.lock();
                    let paid = state
                        .records
                        .sessions
                        .values()
                        .find(|session| session.payment_intent.as_deref() == Some(intent.as_str()))
                        .and_then(|session| session.amount_total);
                    let Some(paid) = paid else {
                        return stripe_error(
                            400,
                            "resource_missing",
                            &format!("No such payment_intent: '{intent}'"),
                        );
                    };
                    let already = state.records.refunded.get(&intent).copied().unwrap_or(0);
                    let amount = params
                        .get("amount")
                        .and_then(|a| a.parse::<i64>().ok())
                        .unwrap_or(paid - already);
                    if amount <= 0 || already + amount > paid {
                        return stripe_error(
                            400,
                            "charge_already_refunded",
                            "Refund exceeds the amount paid",
                        );
                    }
                    let n = state.records.next();
                    let refund = Refund {
                        id: format!("re_test_sim{n:06}"),
                        amount: Some(amount),
                        status: Some("succeeded".into()),
                        payment_intent: Some(intent.clone()),
                    };
                    state.records.refunded.insert(intent, already + amount);
                    state
                        .records
                        .refunds
                        .insert(refund.id.clone(), refund.clone());
                    refund
                };
                s2.record_delivery(
                    "payments.create_refund",
                    key2.as_deref().unwrap_or(&refund.id),
                );
                let mut value = json!(refund);
                if let Some(map) = value.as_object_mut() {
                    map.insert("object".into(), json!("refund"));
                }
                (200, value)
            },
        )
        .await
    })
    .await
}
