//! No provider's number, byte or panic stops the engine: an absurd `Retry-After` waits a day
//! instead of panicking the worker or the outbox relay; a panicking outbox handler backs its
//! row off while the relay keeps delivering; NUL bytes and invalid UTF-8 from providers are
//! stored readably; and absurd quantities and amounts are refused at the API (422) before any
//! total can overflow. Real Postgres, the simulator on a real port, the app over HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode as AxumStatus};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use sagaflow::domain::money::Minor;
use sagaflow::domain::phone::PhoneNumber;
use sagaflow::domain::pricing::{PriceSource, Resolution};
use sagaflow::engine::clock::Clock;
use sagaflow::engine::outbox::{Delivery, DeliveryOutcome, OutboxHandler, OutboxRelay};
use sagaflow::families::data_bundle::customer_sms;
use sagaflow::families::hardware::store::{NewHardwareOrder, NewItem};
use sagaflow::providers::signature::sign_reseller;
use sagaflow::simulator::Fault;
use sagaflow::store::OutboxItem;

const MTN_PHONE: &str = "0241234567";
/// A day: the most a provider's `Retry-After` makes anything wait.
const DAY: chrono::Duration = chrono::Duration::days(1);
/// What a NUL or an invalid byte is stored as.
const REPLACED: char = '\u{FFFD}';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Places a 5 GB MTN order; returns (order, saga).
async fn place(h: &Harness, user: Uuid) -> (Uuid, Uuid) {
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "k1")],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": MTN_PHONE }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    (
        b["order_id"].as_str().unwrap().parse().unwrap(),
        b["saga_id"].as_str().unwrap().parse().unwrap(),
    )
}

fn fault(status: u16) -> Fault {
    Fault {
        status: Some(status),
        times: Some(1),
        ..Fault::default()
    }
}

async fn next_run_at(h: &Harness, saga: Uuid) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("SELECT next_run_at FROM sagas WHERE id = $1")
        .bind(saga)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

/// `(attempt, status, error_message, api_response)` of an order's fulfilment attempts.
async fn attempt_logs(h: &Harness, order: Uuid) -> Vec<(i32, String, Option<String>, Value)> {
    sqlx::query_as(
        "SELECT attempt_number, status, error_message, api_response FROM fulfillment_logs
         WHERE order_id = $1 ORDER BY attempt_number",
    )
    .bind(order)
    .fetch_all(h.pool())
    .await
    .unwrap()
}

/// `(outcome, status_code, error)` of every delivery attempt of the outbox's rows on `topic`.
async fn outbox_attempts(
    pool: &sqlx::PgPool,
    topic: &str,
) -> Vec<(String, Option<i32>, Option<String>)> {
    sqlx::query_as(
        "SELECT d.outcome, d.status_code, d.error FROM outbox_deliveries d
         JOIN outbox o ON o.id = d.outbox_id WHERE o.topic = $1 ORDER BY d.id",
    )
    .bind(topic)
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn signals_for(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Retry-After
// ---------------------------------------------------------------------------------------------

/// `Retry-After: 99999999999999` from the reseller once panicked the worker in date
/// arithmetic. It now waits a day (the clamp), and the order completes on the next attempt.
#[tokio::test]
async fn an_absurd_retry_after_from_the_reseller_waits_a_day_and_panics_nothing() {
    let h = harness(|_, _| {}).await;
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                retry_after_secs: Some(99_999_999_999_999),
                ..fault(429)
            }),
        )
        .unwrap();
    let user = h.funded(100.0).await;
    let (order, saga) = place(&h, user).await;
    let now = h.t.clock.now();
    h.t.run().await;

    assert_eq!(h.t.status(saga).await, "running", "a retry is scheduled");
    // The provider's wait beats the 5-minute schedule, but never by more than a day.
    assert_eq!(next_run_at(&h, saga).await, Some(now + DAY));
    let logs = attempt_logs(&h, order).await;
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].1, "failed");
    let retry_after: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT retry_after FROM fulfillment_logs WHERE order_id = $1")
            .bind(order)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(retry_after, Some(now + DAY));

    h.t.advance(Duration::from_secs(24 * 3600 - 1));
    h.t.run().await;
    assert_eq!(
        h.sim.stats().requests("reseller.create_order"),
        1,
        "not before the day"
    );
    h.t.advance(Duration::from_secs(1));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 2);
}

/// The same header from the SMS gateway once panicked the outbox relay (and, in its task,
/// killed it for good). The row now backs off a day as an ordinary retry.
#[tokio::test]
async fn an_absurd_retry_after_from_the_sms_gateway_backs_the_outbox_row_off_a_day() {
    let h = harness(|_, _| {}).await;
    // A failed first attempt writes the customer's "Retrying…" SMS to the outbox.
    h.sim
        .set_fault("reseller.create_order", Some(fault(500)))
        .unwrap();
    let user = h.funded(100.0).await;
    let (_, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "running");

    h.sim
        .set_fault(
            "sms.send",
            Some(Fault {
                retry_after_secs: Some(99_999_999_999_999),
                ..fault(429)
            }),
        )
        .unwrap();
    let relay = h.t.app.outbox_relay();
    let now = h.t.clock.now();
    assert_eq!(relay.deliver_due().await.unwrap(), 1);

    let (status, next): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT status, next_attempt_at FROM outbox WHERE topic = 'customer_sms'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(next, now + DAY, "the gateway's wait, clamped to a day");
    let attempts = outbox_attempts(h.pool(), "customer_sms").await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].0.as_str(), attempts[0].1),
        ("retry", Some(429))
    );

    // A day later it goes out.
    h.t.advance(Duration::from_secs(24 * 3600));
    assert_eq!(relay.deliver_due().await.unwrap(), 1);
    let status: String =
        sqlx::query_scalar("SELECT status FROM outbox WHERE topic = 'customer_sms'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(status, "delivered");
}

// ---------------------------------------------------------------------------------------------
// A panicking outbox handler
// ---------------------------------------------------------------------------------------------

const PANICS: &str = "test.panics_once";
const NORMAL: &str = "test.normal";

/// Panics on its first delivery, delivers afterwards.
#[derive(Default)]
struct PanicsOnce {
    panicked: AtomicBool,
}

#[async_trait]
impl OutboxHandler for PanicsOnce {
    async fn deliver(&self, _item: &OutboxItem, _now: DateTime<Utc>) -> Delivery {
        if !self.panicked.swap(true, Ordering::SeqCst) {
            panic!("test handler: first delivery blows up");
        }
        delivered()
    }
}

/// Delivers everything and counts it.
#[derive(Default)]
struct Counts(AtomicUsize);

#[async_trait]
impl OutboxHandler for Counts {
    async fn deliver(&self, _item: &OutboxItem, _now: DateTime<Utc>) -> Delivery {
        self.0.fetch_add(1, Ordering::SeqCst);
        delivered()
    }
}

fn delivered() -> Delivery {
    Delivery {
        outcome: DeliveryOutcome::Delivered,
        status_code: Some(200),
        latency_ms: 1,
        error: None,
        retry_after: None,
    }
}

async fn enqueue(pool: &sqlx::PgPool, topic: &str, now: DateTime<Utc>) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO outbox (topic, payload, next_attempt_at, created_at)
         VALUES ($1, '{}'::jsonb, $2, $2) RETURNING id",
    )
    .bind(topic)
    .bind(now)
    .fetch_one(pool)
    .await
    .unwrap()
}

async fn outbox_status(pool: &sqlx::PgPool, id: i64) -> String {
    sqlx::query_scalar("SELECT status FROM outbox WHERE id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}

/// Waits (real time: the relay polls every half second) until `check` holds.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The relay's own loop, as `serve` runs it: a handler that panics fails its attempt (logged,
/// backed off), the relay keeps delivering the other topic, and the row goes out next time.
#[tokio::test]
async fn a_panicking_outbox_handler_backs_its_row_off_and_the_relay_keeps_delivering() {
    let t = crate::support::app().await;
    let pool = t.app.store().pool().clone();
    let normal = Arc::new(Counts::default());
    let handlers: HashMap<String, Arc<dyn OutboxHandler>> = HashMap::from([
        (
            PANICS.to_string(),
            Arc::new(PanicsOnce::default()) as Arc<dyn OutboxHandler>,
        ),
        (NORMAL.to_string(), normal.clone() as Arc<dyn OutboxHandler>),
    ]);
    let clock = Arc::new(t.clock.clone());
    let relay = OutboxRelay::new(t.app.store().clone(), clock.clone(), handlers);
    let now = clock.now();
    let bad = enqueue(&pool, PANICS, now).await;
    let first = enqueue(&pool, NORMAL, now).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));

    // The panic is one failed attempt: logged, and the row is due again after the backoff.
    eventually("the panicking row's attempt is logged", || async {
        !outbox_attempts(&pool, PANICS).await.is_empty()
    })
    .await;
    let attempts = outbox_attempts(&pool, PANICS).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].0, "retry");
    let error = attempts[0].2.clone().unwrap_or_default();
    assert!(
        error.contains("panicked") && error.contains("first delivery blows up"),
        "{error}"
    );
    let (status, next): (String, DateTime<Utc>) =
        sqlx::query_as("SELECT status, next_attempt_at FROM outbox WHERE id = $1")
            .bind(bad)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(status, "pending");
    assert!(
        next > now && next <= now + chrono::Duration::seconds(6),
        "backed off by the relay's first delay (5s ± 10%): {next}"
    );
    eventually("the other topic is delivered", || async {
        outbox_status(&pool, first).await == "delivered"
    })
    .await;

    // The relay is still running: a row written now is delivered too.
    let second = enqueue(&pool, NORMAL, clock.now()).await;
    eventually("a later row of the other topic is delivered", || async {
        outbox_status(&pool, second).await == "delivered"
    })
    .await;
    assert_eq!(normal.0.load(Ordering::SeqCst), 2);
    assert_eq!(outbox_status(&pool, bad).await, "pending", "not due yet");

    // Past the backoff the row that panicked goes out.
    t.clock.advance(Duration::from_secs(10));
    eventually("the row that panicked is delivered", || async {
        outbox_status(&pool, bad).await == "delivered"
    })
    .await;
    let attempts = outbox_attempts(&pool, PANICS).await;
    assert_eq!(
        attempts.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
        ["retry", "delivered"]
    );

    stop.cancel();
    task.await
        .expect("the relay stopped on shutdown, not by a panic");
}

// ---------------------------------------------------------------------------------------------
// NUL bytes and invalid UTF-8
// ---------------------------------------------------------------------------------------------

/// Reseller answers with NUL (raw, and as a JSON escape) and invalid UTF-8 are stored with
/// U+FFFD in their place, in the attempt log's response and its error. Before, Postgres
/// refused them and the write recording the attempt failed.
#[tokio::test]
async fn nul_bytes_and_invalid_utf8_in_reseller_answers_are_stored_readably() {
    let h = harness(|_, _| {}).await;
    // A JSON error whose message holds a \u0000 escape and an invalid byte…
    let json_body = [
        &br#"{"success":false,"message":"upstream\u0000broke "#[..],
        b"\xff",
        br#" here"}"#,
    ]
    .concat();
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                body_hex: Some(hex::encode(&json_body)),
                ..fault(500)
            }),
        )
        .unwrap();
    let user = h.funded(100.0).await;
    let (order, saga) = place(&h, user).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "running");

    // …then a body that is not JSON at all, with a raw NUL and a broken UTF-8 sequence.
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                body_hex: Some(hex::encode(b"gateway \x00 down \xc3(")),
                ..fault(502)
            }),
        )
        .unwrap();
    h.t.advance(Duration::from_secs(5 * 60));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "running");
    h.t.advance(Duration::from_secs(15 * 60));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");

    let logs = attempt_logs(&h, order).await;
    let statuses: Vec<_> = logs.iter().map(|l| (l.0, l.1.as_str())).collect();
    assert_eq!(statuses, [(1, "failed"), (2, "failed"), (3, "success")]);
    let first_error = logs[0].2.clone().unwrap_or_default();
    assert!(
        first_error.contains(&format!("upstream{REPLACED}broke {REPLACED} here")),
        "{first_error}"
    );
    assert_eq!(
        logs[0].3["body"]["message"],
        format!("upstream{REPLACED}broke {REPLACED} here")
    );
    assert_eq!(
        logs[1].3["body"],
        format!("gateway {REPLACED} down {REPLACED}(")
    );
    let second_error = logs[1].2.clone().unwrap_or_default();
    assert!(
        second_error.contains(REPLACED) && !second_error.contains('\0'),
        "{second_error}"
    );
    // The order reads back over the API.
    let (s, view) = h.get(&format!("/v1/orders/{order}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["attempts"].as_array().map(Vec::len), Some(3));
}

/// The SMS gateway's refusal quotes a NUL: the outbox's delivery log keeps the error (cleaned)
/// and the row backs off. Before, the log was refused and the row stayed leased, unlogged.
#[tokio::test]
async fn a_nul_in_the_sms_gateways_answer_is_kept_in_the_outbox_delivery_log() {
    let h = harness(|_, _| {}).await;
    let phone = PhoneNumber::parse(MTN_PHONE).unwrap();
    let row = customer_sms::row(&phone, "Your data is on its way", "robust:sms:1");
    let now = h.t.clock.now();
    sqlx::query(
        "INSERT INTO outbox (topic, destination, payload, next_attempt_at, created_at)
         VALUES ($1, $2, $3, $4, $4)",
    )
    .bind(&row.topic)
    .bind(&row.destination)
    .bind(&row.payload)
    .bind(now)
    .execute(h.pool())
    .await
    .unwrap();
    h.sim
        .set_fault(
            "sms.send",
            Some(Fault {
                body_hex: Some(hex::encode(br#"{"message":"sms\u0000gateway \u0000busy"}"#)),
                ..fault(503)
            }),
        )
        .unwrap();
    let relay = h.t.app.outbox_relay();
    assert_eq!(relay.deliver_due().await.unwrap(), 1);
    let attempts = outbox_attempts(h.pool(), "customer_sms").await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].0.as_str(), attempts[0].1),
        ("retry", Some(503))
    );
    let error = attempts[0].2.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("sms{REPLACED}gateway {REPLACED}busy")),
        "{error}"
    );
    let (status, last_error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM outbox WHERE topic = 'customer_sms'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert_eq!(status, "pending");
    assert_eq!(last_error.as_deref(), Some(error.as_str()));

    // Once the gateway recovers the message goes out.
    h.t.advance(Duration::from_secs(10));
    assert_eq!(relay.deliver_due().await.unwrap(), 1);
    assert_eq!(h.sim.stats().deliveries("sms.send", "robust:sms:1"), 1);
}

/// A signed webhook whose payload holds a `\u0000` escape is stored, cleaned, instead of
/// being refused by Postgres (a 500 the provider would send again, forever).
#[tokio::test]
async fn a_webhook_payload_with_a_nul_escape_is_stored_cleaned() {
    let h = harness(|_, _| {}).await;
    let body = br#"{"event":"order.status_changed","timestamp":"2026-03-01T09:01:00Z",
        "order":{"id":987654,"status":"completed","message":"done\u0000!","recipient_phone":"0241234567",
                 "network":"MTN","created_at":"2026-03-01 09:00:00","updated_at":"2026-03-01 09:01:00"}}"#;
    let secret =
        h.t.app
            .settings
            .providers
            .reseller
            .webhook_secret
            .expose()
            .to_string();
    let signature = sign_reseller(secret.as_bytes(), body);
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/webhooks/reseller",
            &[("x-webhook-signature", &signature)],
            Some(body.to_vec()),
        )
        .await;
    assert!(s.is_success(), "{s} {b}");
    let message: String = sqlx::query_scalar(
        "SELECT payload #>> '{order,message}' FROM saga_signals
         WHERE correlation_key = 'reseller:987654'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(message, format!("done{REPLACED}!"));
}

// ---------------------------------------------------------------------------------------------
// Bounded quantities and amounts
// ---------------------------------------------------------------------------------------------

fn hardware_order(lines: Value) -> Value {
    json!({
        "company_id": "ACME",
        "currency": "usd",
        "courier": "dhl",
        "lines": lines,
    })
}

/// Sends `body` as raw bytes, so bodies `serde_json::Value` cannot hold can be sent too.
async fn post_raw(
    t: &crate::support::TestApp,
    path: &str,
    token: &str,
    body: &str,
) -> (AxumStatus, Value) {
    let req = Request::builder()
        .method("POST")
        .uri(path)
        .header("authorization", crate::support::bearer(token))
        .header("content-type", "application/json")
        .header("idempotency-key", Uuid::now_v7().to_string())
        .body(Body::from(body.to_string()))
        .unwrap();
    t.send(req).await
}

async fn count(t: &crate::support::TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap()
}

/// Quantities and prices that would overflow a total are refused (422) with a message naming
/// the line, for orders and quotes alike, and nothing is created.
#[tokio::test]
async fn absurd_hardware_quantities_and_prices_are_refused_before_a_total_can_overflow() {
    let t = crate::support::app().await;
    crate::support::hardware::seed_directory_rows(t.app.store().pool()).await;
    let line = |sku: &str, quantity: Value, bespoke: Option<Value>| {
        let mut l = json!({"sku": sku, "quantity": quantity});
        if let Some(b) = bespoke {
            l["bespoke"] = json!({"unit_amount": b});
        }
        l
    };
    let cases: Vec<(Value, &str)> = vec![
        // Quantities: past MAX_QUANTITY, negative, a float past i64, a string.
        (
            json!([line("SENSOR-T1", json!(i64::MAX), None)]),
            "invalid_quantity",
        ),
        (
            json!([line("SENSOR-T1", json!(-3), None)]),
            "invalid_quantity",
        ),
        (
            json!([line("SENSOR-T1", json!(1e30), None)]),
            "invalid_body",
        ),
        (
            json!([line("SENSOR-T1", json!("NaN"), None)]),
            "invalid_body",
        ),
        // Bespoke prices: past the limit on their own, or absurd.
        (
            json!([line("SENSOR-T1", json!(1), Some(json!(8e13)))]),
            "invalid_bespoke",
        ),
        (
            json!([line("SENSOR-T1", json!(1), Some(json!(1e300)))]),
            "invalid_bespoke",
        ),
        (
            json!([line("SENSOR-T1", json!(1), Some(json!(-5.0)))]),
            "invalid_bespoke",
        ),
        (
            json!([line("SENSOR-T1", json!(1), Some(json!("NaN")))]),
            "invalid_body",
        ),
        // Within the limit per unit, past it per line…
        (
            json!([line("SENSOR-T1", json!(10_000), Some(json!(1e12)))]),
            "amount_too_large",
        ),
        // …and within it per line, past it for the order.
        (
            json!([
                line("SENSOR-T1", json!(10_000), Some(json!(1e9))),
                line("SENSOR-H2", json!(10_000), Some(json!(1e9))),
            ]),
            "amount_too_large",
        ),
    ];
    for (lines, code) in &cases {
        let (s, b) = t
            .call(
                "POST",
                "/v1/orders",
                Some(hardware_order(lines.clone())),
                &[],
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (AxumStatus::UNPROCESSABLE_ENTITY, Some(*code)),
            "{lines}: {b}"
        );
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{b}"
        );
        let (s, b) = t
            .call(
                "POST",
                "/v1/pricing/quote",
                Some(json!({"currency": "usd", "lines": lines})),
                &[],
            )
            .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (AxumStatus::UNPROCESSABLE_ENTITY, Some(*code)),
            "quote {lines}: {b}"
        );
    }
    let (s, b) = post_raw(
        &t,
        "/v1/orders",
        crate::support::OPERATOR_TOKEN,
        &hardware_order(json!([])).to_string().replace(
            r#""lines":[]"#,
            r#""lines":[{"sku":"SENSOR-T1","quantity":1e999999}]"#,
        ),
    )
    .await;
    assert!(s.is_client_error(), "{s} {b}");
    assert_eq!(
        count(&t, "SELECT count(*) FROM hardware_orders").await,
        0,
        "nothing created"
    );

    // The largest order the limits allow still goes through, and its total is exact.
    let at_limit = json!([
        line("SENSOR-T1", json!(10_000), Some(json!(5e8))),
        line("SENSOR-H2", json!(10_000), Some(json!(5e8))),
    ]);
    let (s, b) = t
        .call("POST", "/v1/orders", Some(hardware_order(at_limit)), &[])
        .await;
    assert_eq!(s, AxumStatus::CREATED, "{b}");
    assert_eq!(b["total_minor"], Minor::MAX);
}

/// A hardware order and its issued invoice, made through the store: `total_minor` 1007.
async fn issued_invoice(t: &crate::support::TestApp) -> Uuid {
    let store = t.app.store();
    let acme = crate::support::hardware::seed_directory_rows(store.pool()).await;
    let order = NewHardwareOrder {
        id: Uuid::now_v7(),
        order_code: "HW-ROBUST-1".into(),
        company_id: "ACME".into(),
        billing_contact_id: acme.contact,
        billing_address_id: acme.address,
        region: None,
        currency: "usd".into(),
        courier_code: "dhl".into(),
        options: json!({}),
        items: vec![NewItem {
            scenario: "sensor_return".into(),
            price: Resolution {
                sku: "SENSOR-T1".into(),
                description: "Temperature sensor T1".into(),
                quantity: 1,
                source: PriceSource::Bespoke,
                price_book_entry_id: None,
                price_agreement_id: None,
                processor_price_id: None,
                unit_amount_minor: 1007,
                line_total_minor: 1007,
                currency: "usd".into(),
                synced: true,
                bespoke_notes: Some("test".into()),
            },
        }],
        idempotency_key: None,
        request_hash: String::new(),
        created_by: "test".into(),
    };
    store
        .create_hardware_order(&order, Utc::now())
        .await
        .unwrap();
    store.issue_invoice(order.id, Utc::now()).await.unwrap().id
}

/// Manual payments of absurd amounts are refused (422) and leave the invoice as it was.
#[tokio::test]
async fn absurd_manual_invoice_payments_are_refused_and_change_nothing() {
    let t = crate::support::app().await;
    let invoice = issued_invoice(&t).await;
    let path = format!("/v1/invoices/{invoice}/payments");
    for amount in [
        json!(i64::MAX),
        json!(Minor::MAX + 1),
        json!(-1),
        json!(0),
        json!(1e30),
        json!(12.5),
        json!("NaN"),
        json!("1000"),
    ] {
        let (s, b) = t
            .call(
                "POST",
                &path,
                Some(json!({"amount_minor": amount, "reference": "BANK-1"})),
                &[],
            )
            .await;
        assert_eq!(s, AxumStatus::UNPROCESSABLE_ENTITY, "{amount}: {b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{b}"
        );
    }
    let (s, b) = post_raw(
        &t,
        &path,
        crate::support::OPERATOR_TOKEN,
        r#"{"amount_minor": NaN, "reference": "BANK-1"}"#,
    )
    .await;
    assert_eq!(s, AxumStatus::BAD_REQUEST, "not JSON: {b}");
    let (s, invoice_now) = t
        .call("GET", &format!("/v1/invoices/{invoice}"), None, &[])
        .await;
    assert_eq!(s, AxumStatus::OK);
    assert_eq!(
        (
            invoice_now["status"].as_str(),
            invoice_now["allocated_minor"].as_i64()
        ),
        (Some("issued"), Some(0)),
        "{invoice_now}"
    );
    assert_eq!(count(&t, "SELECT count(*) FROM payment_records").await, 0);

    // A real payment still settles it.
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 1007, "reference": "BANK-2"})),
            &[],
        )
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (AxumStatus::OK, Some("paid")),
        "{b}"
    );
}

/// Absurd top-ups are refused (422) and credit nothing; a wallet near its limit refuses a
/// top-up that would pass it instead of overflowing (once a 500 from Postgres).
#[tokio::test]
async fn absurd_top_ups_are_refused_and_a_wallet_balance_cannot_overflow() {
    let t = crate::support::app().await;
    let user = Uuid::now_v7();
    let path = format!("/v1/wallets/{user}/top-ups");
    for amount in [
        json!(1e30),
        json!(f64::MAX),
        json!(i64::MAX),
        json!(-5),
        json!(0),
        json!(0.001),
        json!(100_000.01),
        json!("NaN"),
        json!("100"),
    ] {
        let (s, b) = post_raw(
            &t,
            &path,
            crate::support::SERVICE_TOKEN,
            &json!({ "amount": amount }).to_string(),
        )
        .await;
        assert_eq!(s, AxumStatus::UNPROCESSABLE_ENTITY, "{amount}: {b}");
    }
    let (s, b) = post_raw(
        &t,
        &path,
        crate::support::SERVICE_TOKEN,
        r#"{"amount": 1e999999}"#,
    )
    .await;
    assert!(s.is_client_error(), "{s} {b}");
    assert_eq!(count(&t, "SELECT count(*) FROM wallet_ledger").await, 0);

    // A size past u32 is no package either.
    let (s, b) = post_raw(
        &t,
        "/v1/orders/data-bundles",
        crate::support::SERVICE_TOKEN,
        &json!({"user_id": user, "network": "MTN", "size": 1e30, "phone_number": MTN_PHONE})
            .to_string(),
    )
    .await;
    assert_eq!(s, AxumStatus::UNPROCESSABLE_ENTITY, "{b}");

    // A balance at the limit, then one past i64's reach: both refuse more, and change nothing.
    let pool = t.app.store().pool();
    for balance in [Minor::MAX - 100, i64::MAX - 10] {
        sqlx::query(
            "INSERT INTO wallets (user_id, balance_minor, updated_at, owner)
             VALUES ($1, $2, now(), 'shop')
             ON CONFLICT (user_id) DO UPDATE SET balance_minor = $2",
        )
        .bind(user)
        .bind(balance)
        .execute(pool)
        .await
        .unwrap();
        let (s, b) = post_raw(
            &t,
            &path,
            crate::support::SERVICE_TOKEN,
            r#"{"amount": 100}"#,
        )
        .await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (AxumStatus::UNPROCESSABLE_ENTITY, Some("wallet_limit")),
            "{b}"
        );
        let now: i64 = sqlx::query_scalar("SELECT balance_minor FROM wallets WHERE user_id = $1")
            .bind(user)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(now, balance, "unchanged");
        assert_eq!(count(&t, "SELECT count(*) FROM wallet_ledger").await, 0);
    }
}

/// The partner API has no amounts, only text: numbers where text belongs and text Postgres
/// cannot store are refused in the partner's format (400), and no order or saga is made.
#[tokio::test]
async fn absurd_partner_requests_are_refused_and_change_nothing() {
    let t = crate::support::app().await;
    let good = json!({
        "orderId": "P-1", "productId": "OFFICE-BASIC", "customerId": "C-1",
        "customerName": "Ada Lovelace", "customerEmail": "ada@example.com",
        "customerPhone": "+233241234567", "tenure": "1_MONTH",
    });
    let with = |field: &str, value: Value| {
        let mut body = good.clone();
        body[field] = value;
        body.to_string()
    };
    for (body, code) in [
        (with("tenure", json!(1e30)), "INVALID_JSON"),
        (with("orderId", json!(i64::MAX)), "INVALID_JSON"),
        (
            with("tenure", json!("99999999999_MONTHS")),
            "INVALID_TENURE",
        ),
        (with("tenure", json!("NaN")), "INVALID_TENURE"),
        (
            with("customerName", json!("Ada\u{0}Lovelace")),
            "VALIDATION_ERROR",
        ),
        (with("orderId", json!("P-\u{0}")), "VALIDATION_ERROR"),
    ] {
        let (s, b) = post_raw(&t, "/v1/partner/fulfilment", "sim_partner_api_key", &body).await;
        assert_eq!(
            (s, b["errorCode"].as_str()),
            (AxumStatus::BAD_REQUEST, Some(code)),
            "{body}: {b}"
        );
    }
    assert_eq!(count(&t, "SELECT count(*) FROM partner_orders").await, 0);
    assert_eq!(count(&t, "SELECT count(*) FROM sagas").await, 0);
}
