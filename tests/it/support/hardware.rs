//! Shared by the hardware-order tests: the served app and the provider simulator on real ports
//! (signed webhooks come back over HTTP), a fresh database and a manual clock. The simulator
//! waits to be told to pay a checkout or move a parcel, so each test drives the order.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use sagaflow::simulator::ConfigPatch;

use super::orders::{Harness, harness};

/// The app with the default price book; the simulator charges each synced price id its
/// price-book amount, pays nothing and moves no parcel until told.
pub async fn hardware() -> Harness {
    hardware_with(|_| {}).await
}

/// [`hardware`] for tests that run automation steps out of attempts against a failing
/// bridge: six failures in a row would open the bridge's breaker (five by default), which
/// then holds the last attempts and an operator's retry for its cool-down, counted in real
/// seconds the test's clock does not move. Breakers have tests of their own
/// (`provider_gates`); here it opens only after more failures than these tests make.
pub async fn hardware_exhausting_automation() -> Harness {
    hardware_with(|s| s.providers.bridge.limits.breaker.failures = 10).await
}

/// [`hardware`] with settings changed by `tweak` first.
pub async fn hardware_with(tweak: impl FnOnce(&mut sagaflow::config::Settings)) -> Harness {
    let h = harness(|s, _| {
        // The manual clock is months from the wall clock the simulator signs with.
        s.providers.signature_tolerance = Duration::from_secs(3 * 365 * 24 * 3600);
        tweak(s);
    })
    .await;
    h.sim
        .configure(ConfigPatch {
            checkout_auto_complete: Some(false),
            courier_auto_progress: Some(false),
            prices: price_book(),
            ..Default::default()
        })
        .unwrap();
    seed_directory(&h).await;
    h
}

/// The company the test orders are for, as the directory holds it.
#[derive(Debug, Clone)]
pub struct Directory {
    /// Ada Lovelace, its primary billing contact.
    pub contact: Uuid,
    /// Its Toronto address, the default for shipping and billing.
    pub address: Uuid,
}

/// The operator requests that record `ACME` in the directory, in order: the company, a
/// primary billing contact, and one address that is the default for shipping and billing.
/// [`order_body`] orders for it.
pub fn acme_requests() -> [(&'static str, Value); 3] {
    let mut entry = address();
    entry["default_shipping"] = json!(true);
    entry["default_billing"] = json!(true);
    [
        (
            "/v1/companies",
            json!({"id": "ACME", "name": "Acme Sensors Ltd", "company_mirror_id": "legacy-acme"}),
        ),
        (
            "/v1/companies/ACME/contacts",
            json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test", "roles": ["billing"]}),
        ),
        ("/v1/companies/ACME/addresses", entry),
    ]
}

/// Records `ACME` ([`acme_requests`]) through the operator's routes.
pub async fn seed_directory(h: &Harness) -> Directory {
    let mut ids = Vec::new();
    for (path, body) in acme_requests() {
        let (s, b) = operator_post(h, path, &body).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
        ids.push(b["id"].clone());
    }
    Directory {
        contact: ids[1].as_str().unwrap().parse().unwrap(),
        address: ids[2].as_str().unwrap().parse().unwrap(),
    }
}

/// Records `ACME` as [`acme_requests`] does, straight in the database, for tests without the
/// served API.
pub async fn seed_directory_rows(pool: &sqlx::PgPool) -> Directory {
    let (contact, address) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO companies (id, name, company_mirror_id, created_at, updated_at)
         VALUES ('ACME', 'Acme Sensors Ltd', 'legacy-acme', now(), now())",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO contacts (id, company_id, first_name, last_name, email, created_at, updated_at)
         VALUES ($1, 'ACME', 'Ada', 'Lovelace', 'ada@acme.test', now(), now())",
    )
    .bind(contact)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO addresses (id, company_id, line1, city, region, postal_code, country, dedup_key,
             created_at, updated_at)
         VALUES ($1, 'ACME', '1 King St W', 'Toronto', 'ON', 'M5H 1A1', 'CA', 'acme', now(), now())",
    )
    .bind(address)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE companies SET default_shipping_address_id = $1, default_billing_address_id = $1
         WHERE id = 'ACME'",
    )
    .bind(address)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO company_contact_roles (id, company_id, contact_id, role, is_primary, created_at)
         VALUES ($1, 'ACME', $2, 'billing', true, now())",
    )
    .bind(Uuid::now_v7())
    .bind(contact)
    .execute(pool)
    .await
    .unwrap();
    Directory { contact, address }
}

/// The simulator's price for each synced price-book entry: its price-book amount, so what the
/// processor charges is what the order totals (checkout checks that it is).
pub fn price_book() -> BTreeMap<String, Option<i64>> {
    sagaflow::config::Settings::defaults()
        .unwrap()
        .section::<sagaflow::families::hardware::HardwareSettings>("hardware")
        .unwrap()
        .price_book
        .iter()
        .filter(|e| e.synced)
        .filter_map(|e| {
            let id = e.processor_price_id.clone()?;
            Some((id, Some((e.unit_amount * 100.0).round() as i64)))
        })
        .collect()
}

pub fn address() -> Value {
    json!({"line1": "1 King St W", "city": "Toronto", "region": "ON", "postal_code": "M5H 1A1", "country": "CA"})
}

/// A draft order body for the seeded `ACME` (its primary billing contact, default billing
/// and shipping address): `lines` as (sku, quantity, scenario).
pub fn order_body(lines: &[(&str, i32, &str)]) -> Value {
    json!({
        "company_id": "ACME",
        "region": "CA",
        "currency": "usd",
        "courier": "dhl",
        "lines": lines.iter().map(|(sku, q, scenario)| json!({"sku": sku, "quantity": q, "scenario": scenario})).collect::<Vec<_>>(),
    })
}

/// A POST as the operator (the harness sends POSTs as the shop's service token).
pub async fn operator_post(h: &Harness, path: &str, body: &Value) -> (StatusCode, Value) {
    let auth = super::bearer(super::OPERATOR_TOKEN);
    h.post_json(path, &[("authorization", &auth)], body).await
}

pub async fn create(h: &Harness, body: &Value) -> Value {
    let (s, b) = h.post_json("/v1/orders", &[], body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

pub fn id(v: &Value, key: &str) -> Uuid {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {v}"))
        .parse()
        .unwrap()
}

/// Sends the checkout; returns the saga id.
pub async fn send_checkout(h: &Harness, order: Uuid) -> Uuid {
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    id(&b, "saga_id")
}

pub async fn view(h: &Harness, order: Uuid) -> Value {
    let (s, b) = h.get(&format!("/v1/orders/{order}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// Posts to the simulator's control surface (pay a session, move a parcel).
pub async fn sim_post(h: &Harness, path: &str, body: Value) {
    let res = h
        .http
        .post(format!("{}{path}", h.sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
}

/// Waits until the saga has `n` signals stored (the simulator posts them asynchronously).
pub async fn signals(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

async fn signal_count(h: &Harness, saga: Uuid) -> i64 {
    h.count(&format!(
        "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
    ))
    .await
}

/// The customer pays (or the payment fails / the session expires): the simulator settles the
/// session and posts the signed event; then the worker runs.
pub async fn settle(h: &Harness, order: Uuid, saga: Uuid, outcome: &str) {
    let session = view(h, order).await["checkout_session"]
        .as_str()
        .expect("a checkout session")
        .to_string();
    let before = signal_count(h, saga).await;
    sim_post(
        h,
        &format!("/_sim/payments/{session}/complete?outcome={outcome}"),
        json!({}),
    )
    .await;
    signals(h, saga, before + 1).await;
    h.t.run().await;
}

pub async fn pay(h: &Harness, order: Uuid, saga: Uuid) {
    settle(h, order, saga, "paid").await;
}

/// The courier reports `status` for a tracking number; then the worker runs.
pub async fn courier(h: &Harness, saga: Uuid, tracking: &str, status: &str) {
    let before = signal_count(h, saga).await;
    sim_post(
        h,
        &format!("/_sim/courier/{tracking}/advance"),
        json!({ "status": status }),
    )
    .await;
    signals(h, saga, before + 1).await;
    h.t.run().await;
}

/// The order's shipments, in order.
pub async fn shipments(h: &Harness, order: Uuid) -> Vec<Value> {
    let v = view(h, order).await;
    let (s, f) = h
        .get(
            &format!("/v1/fulfillments/{}", v["fulfillment_id"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    f["shipments"].as_array().unwrap().clone()
}

pub fn tracking(shipment: &Value) -> String {
    shipment["tracking_number"]
        .as_str()
        .expect("booked")
        .to_string()
}

/// Domain event types of an order, oldest first.
pub async fn events(h: &Harness, order: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM domain_events WHERE order_id = $1 ORDER BY id")
        .bind(order)
        .fetch_all(h.pool())
        .await
        .unwrap()
}

/// Creates, sends and pays an order; returns (order, saga) with the first shipment booked.
pub async fn paid_order(h: &Harness, lines: &[(&str, i32, &str)]) -> (Uuid, Uuid) {
    let order = id(&create(h, &order_body(lines)).await, "id");
    let saga = send_checkout(h, order).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    pay(h, order, saga).await;
    (order, saga)
}
