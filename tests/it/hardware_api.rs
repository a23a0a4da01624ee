//! The hardware-order API: drafting with provisional prices, idempotency, validation, quotes,
//! checkout refused for unsynced prices, cancellation, fulfilments and shipments, automation
//! retries and fallbacks, timelines, and ids that are malformed or unknown.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;
use sagaflow::config::Settings;
use sagaflow::engine::action::{Action, StepContext, StepError, StepOutcome};
use sagaflow::engine::clock::Clock;
use sagaflow::families::hardware::HardwareSettings;
use sagaflow::families::hardware::store::{
    AttemptOutcome, PriceSeed, book_shipment_in, create_fulfillment_in, move_shipment_in,
    queue_automation_in, record_attempt_in,
};

/// The price book the tests price against: T1 globally and in CA, H2 and G1 globally, and
/// X9 whose processor price is not synced yet.
fn price_book() -> Vec<PriceSeed> {
    let seed =
        |id: &str, sku: &str, name: &str, region: Option<&str>, amount: f64, synced| PriceSeed {
            id: id.into(),
            sku: sku.into(),
            name: name.into(),
            region: region.map(str::to_string),
            currency: "usd".into(),
            unit_amount: amount,
            processor_price_id: Some(format!("price_{id}")),
            synced,
        };
    vec![
        seed(
            "pb-t1-global-usd",
            "SENSOR-T1",
            "Temperature sensor T1",
            None,
            149.0,
            true,
        ),
        seed(
            "pb-t1-ca-usd",
            "SENSOR-T1",
            "Temperature sensor T1",
            Some("CA"),
            159.0,
            true,
        ),
        seed(
            "pb-h2-global-usd",
            "SENSOR-H2",
            "Humidity sensor H2",
            None,
            99.0,
            true,
        ),
        seed(
            "pb-g1-global-usd",
            "GATEWAY-G1",
            "LoRa gateway G1",
            None,
            499.0,
            true,
        ),
        seed(
            "pb-x9-global-usd",
            "SENSOR-X9",
            "Vibration sensor X9",
            None,
            229.0,
            false,
        ),
    ]
}

async fn hardware_settings() -> Settings {
    let mut s = settings().await;
    s.edit_section("hardware", |h: &mut HardwareSettings| {
        h.price_book = price_book();
        h.strict_prices = true;
        h.default_courier = "dhl".into();
        h.default_currency = "usd".into();
    })
    .unwrap();
    s
}

/// The app, with `ACME` in the directory.
async fn app() -> TestApp {
    let t = app_with(hardware_settings().await, |_| {}).await;
    seed_acme(&t).await;
    t
}

/// Records `ACME`: Ada Lovelace its primary billing contact and a Toronto address its default
/// for shipping and billing.
async fn seed_acme(t: &TestApp) {
    let mut entry = address("Toronto");
    entry["default_shipping"] = json!(true);
    entry["default_billing"] = json!(true);
    for (path, body) in [
        (
            "/v1/companies",
            json!({ "id": "ACME", "name": "Acme Sensors Ltd", "company_mirror_id": "legacy-acme" }),
        ),
        (
            "/v1/companies/ACME/contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.test",
                    "phone": "+1 555 0100", "roles": ["billing"] }),
        ),
        ("/v1/companies/ACME/addresses", entry),
    ] {
        let (s, b) = t.call("POST", path, Some(body), &[]).await;
        assert_eq!(s, StatusCode::CREATED, "{path}: {b}");
    }
}

fn address(city: &str) -> Value {
    json!({ "line1": "1 Main St", "line2": null, "city": city, "region": "ON",
            "postal_code": "M5V 2T6", "country": "CA" })
}

/// The order of the API's example: a regional line, an unsynced one and a bespoke one.
fn order_body() -> Value {
    json!({
        "company_id": "ACME",
        "region": "CA",
        "lines": [
            { "sku": "SENSOR-T1", "quantity": 3 },
            { "sku": "SENSOR-X9", "quantity": 1, "scenario": "sensor_return" },
            { "sku": "GATEWAY-G1", "quantity": 1, "bespoke": { "unit_amount": 120.0, "notes": "trade-in" } },
        ],
        "initial_shipment": [{ "sku": "SENSOR-T1", "quantity": 2 }],
        "notes": "rush",
    })
}

/// An order every line of which the processor can charge.
fn synced_body() -> Value {
    let mut body = order_body();
    body["lines"] = json!([
        { "sku": "SENSOR-T1", "quantity": 3 },
        { "sku": "SENSOR-H2", "quantity": 1 },
    ]);
    body
}

async fn create(t: &TestApp, body: Value) -> Value {
    let (s, o) = t.call("POST", "/v1/orders", Some(body), &[]).await;
    assert_eq!(s, StatusCode::CREATED, "{o}");
    o
}

fn id_of(v: &Value, field: &str) -> Uuid {
    v[field].as_str().unwrap().parse().unwrap()
}

async fn count(t: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap()
}

fn kinds(timeline: &Value) -> Vec<String> {
    timeline["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["kind"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_draft_order_gets_provisional_prices_and_reads_back() {
    let t = app().await;
    let o = create(&t, order_body()).await;
    assert_eq!(o["kind"], "hardware");
    assert_eq!(o["payment_status"], "draft");
    assert!(o["saga_id"].is_null());
    assert!(o["order_code"].as_str().unwrap().starts_with("HW-"));
    assert_eq!(o["created_by"], "olivia");
    assert_eq!(o["courier_code"], "dhl", "the default courier");
    assert_eq!(o["currency"], "usd", "the default currency");
    assert_eq!(o["company_name"], "Acme Sensors Ltd");
    // The order names its directory entries; the snapshot waits for checkout.
    assert!(o["billing_contact_id"].is_string(), "{o}");
    assert!(o["billing_address_id"].is_string(), "{o}");
    assert!(o["billing_contact"].is_null());
    let items = o["items"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0]["sku"], "SENSOR-T1");
    assert_eq!(items[0]["price_type"], "PRICEBOOK_REGIONAL");
    assert_eq!(items[0]["price_book_entry_id"], "pb-t1-ca-usd");
    assert_eq!(items[0]["unit_amount_minor"], 15900);
    assert_eq!(items[0]["scenario"], "sensor_vendor_first_time");
    assert_eq!(
        items[1]["price_type"], "PRICEBOOK_GLOBAL",
        "no regional X9 price"
    );
    assert_eq!(items[1]["price_book_entry_id"], "pb-x9-global-usd");
    assert_eq!(items[1]["unit_amount_minor"], 22900);
    assert_eq!(items[1]["scenario"], "sensor_return");
    assert_eq!(items[2]["price_type"], "BESPOKE");
    assert_eq!(items[2]["unit_amount_minor"], 12000);
    assert_eq!(items[2]["bespoke_notes"], "trade-in");
    assert!(items.iter().all(|i| i["snapshot_locked_at"].is_null()));
    assert_eq!(o["total_minor"], 3 * 15900 + 22900 + 12000);
    assert_eq!(o["balance_minor"], 3 * 15900 + 22900 + 12000);
    assert_eq!(
        o["options"],
        json!({ "initial_shipment": [{ "sku": "SENSOR-T1", "quantity": 2 }], "notes": "rush", "ship_to": null })
    );
    assert_eq!(o["automation_steps"], json!([]));
    assert_eq!(o["payments"], json!([]));
    assert_eq!(o["shipments"], json!([]));

    let id = id_of(&o, "id");
    let (s, read) = t
        .call(
            "GET",
            &format!("/v1/orders/{id}"),
            None,
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read, o);
    let (s, timeline) = t
        .call("GET", &format!("/v1/orders/{id}/timeline"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{timeline}");
    assert_eq!(kinds(&timeline), ["order.created"]);
    assert_eq!(timeline["items"][0]["source"], "domain");

    // A service drafts too, but cannot touch the directory.
    let service = bearer(SERVICE_TOKEN);
    let (s, second) = t
        .call(
            "POST",
            "/v1/orders",
            Some(synced_body()),
            &[("authorization", &service)],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert_eq!(second["created_by"], "shop");
    let (s, b) = t
        .call(
            "PATCH",
            "/v1/companies/ACME",
            Some(json!({ "name": "Mine now" })),
            &[("authorization", &service)],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    // Viewers read but do not draft.
    let (s, _) = t
        .call(
            "POST",
            "/v1/orders",
            Some(order_body()),
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_order_or_conflicts() {
    let t = app().await;
    let key = [("idempotency-key", "order-42")];
    let (s, first) = t.call("POST", "/v1/orders", Some(order_body()), &key).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, replay) = t.call("POST", "/v1/orders", Some(order_body()), &key).await;
    assert_eq!(s, StatusCode::OK, "{replay}");
    assert_eq!(replay["id"], first["id"]);
    let (s, conflict) = t
        .call("POST", "/v1/orders", Some(synced_body()), &key)
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
    assert!(
        conflict["error"]["message"]
            .as_str()
            .unwrap()
            .contains(first["id"].as_str().unwrap())
    );
    // Keys are the caller's own: another caller's same key is another order.
    let (s, other) = t
        .call(
            "POST",
            "/v1/orders",
            Some(order_body()),
            &[
                ("idempotency-key", "order-42"),
                ("authorization", &bearer(SERVICE_TOKEN)),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);
    assert_eq!(count(&t, "SELECT count(*) FROM hardware_orders").await, 2);
    let (s, bad) = t
        .call(
            "POST",
            "/v1/orders",
            Some(order_body()),
            &[("idempotency-key", "")],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
}

#[tokio::test]
async fn each_invalid_field_is_a_422_naming_it_and_writes_nothing() {
    let t = app().await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut body = order_body();
        f(&mut body);
        body
    };
    let many: Vec<Value> = (0..101)
        .map(|i| json!({ "sku": format!("SKU-{i}"), "quantity": 1 }))
        .collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            with(&|b| b["lines"] = json!([])),
            "invalid_lines",
            "lines: give at least one line",
        ),
        (
            with(&|b| b["lines"] = json!(many)),
            "invalid_lines",
            "at most 100 lines",
        ),
        (
            with(&|b| b["lines"][0]["quantity"] = json!(0)),
            "invalid_quantity",
            "line 1 (SENSOR-T1): quantity must be between 1 and",
        ),
        (
            with(&|b| b["lines"][1]["scenario"] = json!("sensor_teleport")),
            "unknown_scenario",
            "line 2 (SENSOR-X9): unknown scenario \"sensor_teleport\"",
        ),
        (
            with(&|b| b["lines"][1]["sku"] = json!("NOPE-1")),
            "pricing_error",
            "line 2: unknown SKU \"NOPE-1\"",
        ),
        (
            with(&|b| b["currency"] = json!("eur")),
            "pricing_error",
            "line 1 (SENSOR-T1): no price in eur for region CA",
        ),
        (
            with(&|b| b["lines"][2]["sku"] = json!("SENSOR-T1")),
            "duplicate_sku",
            "line 3: SENSOR-T1 is already on line 1",
        ),
        (
            with(&|b| b["lines"][2]["bespoke"]["unit_amount"] = json!(0)),
            "invalid_bespoke",
            "line 3 (GATEWAY-G1): bespoke.unit_amount must be above 0",
        ),
        (
            with(&|b| b["ship_to"] = json!({ "address": { "city": "Ottawa" } })),
            "invalid_body",
            "ship_to.address.line1 is required",
        ),
        (
            with(&|b| {
                b["ship_to"] = json!({ "address": address("Ottawa"), "address_id": Uuid::nil() })
            }),
            "invalid_body",
            "ship_to: give either address_id (from the address book) or address",
        ),
        (
            with(&|b| b["ship_to"] = json!({ "address_id": Uuid::nil() })),
            "unknown_address",
            "ship_to.address_id: company ACME has no address 00000000-0000-0000-0000-000000000000",
        ),
        (
            with(&|b| b["billing_address_id"] = json!("nope")),
            "unknown_address",
            "billing_address_id: company ACME has no address nope",
        ),
        (
            with(&|b| b["billing_contact_id"] = json!(Uuid::nil())),
            "unknown_contact",
            "billing_contact_id: company ACME has no contact 00000000-0000-0000-0000-000000000000",
        ),
        (
            with(&|b| b["company_id"] = json!("")),
            "invalid_body",
            "company_id is required",
        ),
        (
            with(&|b| b["initial_shipment"] = json!([{ "sku": "SENSOR-H2", "quantity": 1 }])),
            "invalid_initial_shipment",
            "initial_shipment: SENSOR-H2 is not on the order's lines",
        ),
        (
            with(&|b| b["initial_shipment"] = json!([{ "sku": "SENSOR-T1", "quantity": 5 }])),
            "invalid_initial_shipment",
            "initial_shipment: 5 of SENSOR-T1 asked, but the order has 3",
        ),
        (
            with(&|b| b["courier"] = json!("fedex")),
            "unknown_courier",
            "courier \"fedex\" is not configured; use one of: canadapost, chitchat, dhl, usps",
        ),
        (
            with(&|b| b["currency"] = json!("dollars")),
            "invalid_currency",
            "currency \"dollars\" must be a three-letter code",
        ),
        (
            with(&|b| b["company_id"] = json!("NEWCO")),
            "unknown_company",
            "company NEWCO is not in the directory",
        ),
        (
            with(&|b| b["surprise"] = json!(true)),
            "invalid_body",
            "surprise",
        ),
    ];
    for (body, code, message) in cases {
        let (s, b) = t.call("POST", "/v1/orders", Some(body), &[]).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{message}: {b}");
        assert_eq!(b["error"]["code"], code, "{b}");
        let got = b["error"]["message"].as_str().unwrap();
        assert!(got.contains(message), "{got:?} should say {message:?}");
    }
    // Malformed and oversized bodies.
    let raw = |bytes: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri("/v1/orders")
            .header("content-type", "application/json")
            .header("authorization", bearer(OPERATOR_TOKEN))
            .body(Body::from(bytes))
            .unwrap()
    };
    let (s, b) = t.send(raw(b"{\"company_id\": ".to_vec())).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert_eq!(b["error"]["code"], "malformed_json");
    let limit = t.app.settings.server.body_limit_bytes;
    let mut huge = order_body();
    huge["notes"] = json!("x".repeat(limit + 1));
    let (s, b) = t.send(raw(serde_json::to_vec(&huge).unwrap())).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{b}");
    assert_eq!(count(&t, "SELECT count(*) FROM hardware_orders").await, 0);
    assert_eq!(
        count(&t, "SELECT count(*) FROM companies").await,
        1,
        "an order never makes a company"
    );
}

#[tokio::test]
async fn quotes_show_regional_global_bespoke_and_unsynced_prices() {
    let t = app().await;
    let viewer = [("authorization", bearer(VIEWER_TOKEN))];
    let viewer: Vec<(&str, &str)> = viewer.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let lines = json!([
        { "sku": "SENSOR-T1", "quantity": 2 },
        { "sku": "SENSOR-X9", "quantity": 1 },
        { "sku": "GATEWAY-G1", "quantity": 1, "bespoke": { "unit_amount": 99.5 } },
    ]);
    let (s, q) = t
        .call(
            "POST",
            "/v1/pricing/quote",
            Some(json!({ "region": "ca", "lines": lines })),
            &viewer,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let l = &q["lines"];
    assert_eq!(l[0]["line"], 1);
    assert_eq!(l[0]["source"], "PRICEBOOK_REGIONAL");
    assert_eq!(l[0]["price_book_entry_id"], "pb-t1-ca-usd");
    assert_eq!(l[0]["processor_price_id"], "price_pb-t1-ca-usd");
    assert_eq!(l[0]["description"], "Temperature sensor T1");
    assert_eq!(l[0]["unit_amount_minor"], 15900);
    assert_eq!(l[0]["line_total_minor"], 31800);
    assert_eq!(l[0]["currency"], "usd");
    assert_eq!(l[0]["synced"], true);
    assert_eq!(l[1]["source"], "PRICEBOOK_GLOBAL");
    assert_eq!(l[1]["synced"], false);
    assert_eq!(l[2]["source"], "BESPOKE");
    assert_eq!(l[2]["unit_amount_minor"], 9950);
    assert_eq!(l[2]["price_agreement_id"], Value::Null);
    assert_eq!(q["total_minor"], 31800 + 22900 + 9950);
    assert_eq!(q["checkout_ready"], false);

    let (s, q) = t
        .call(
            "POST",
            "/v1/pricing/quote",
            Some(json!({ "lines": [{ "sku": "SENSOR-T1", "quantity": 1 }] })),
            &viewer,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    assert_eq!(q["lines"][0]["source"], "PRICEBOOK_GLOBAL");
    assert_eq!(q["lines"][0]["price_book_entry_id"], "pb-t1-global-usd");
    assert_eq!(q["total_minor"], 14900);
    assert_eq!(q["checkout_ready"], true);

    let (s, e) = t
        .call(
            "POST",
            "/v1/pricing/quote",
            Some(json!({ "strict": true, "lines": lines })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "price_not_synced");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("line 2 (SENSOR-X9): the processor price price_pb-x9-global-usd"),
        "{e}"
    );
    let (s, e) = t
        .call(
            "POST",
            "/v1/pricing/quote",
            Some(json!({ "lines": [{ "sku": "SENSOR-T1", "quantity": 1 }, { "sku": "NOPE", "quantity": 1 }] })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["message"], "line 2: unknown SKU \"NOPE\"");
    let (s, e) = t
        .call(
            "POST",
            "/v1/pricing/quote",
            Some(json!({ "lines": [] })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}

#[tokio::test]
async fn send_checkout_refuses_an_unsynced_line_and_starts_nothing() {
    let t = app().await;
    let mut body = order_body();
    body["lines"] = json!([
        { "sku": "SENSOR-T1", "quantity": 1 },
        { "sku": "SENSOR-X9", "quantity": 2 },
    ]);
    body["initial_shipment"] = Value::Null;
    let o = create(&t, body).await;
    let id = id_of(&o, "id");
    let (s, e) = t
        .call("POST", &format!("/v1/orders/{id}/send-checkout"), None, &[])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "price_not_synced");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 2 (SENSOR-X9)"), "{message}");
    assert!(message.contains("pb-x9-global-usd"), "{message}");
    assert_eq!(count(&t, "SELECT count(*) FROM sagas").await, 0);
    let (_, after) = t.call("GET", &format!("/v1/orders/{id}"), None, &[]).await;
    assert_eq!(after["payment_status"], "draft");
    assert!(after["saga_id"].is_null());
    assert!(
        after["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["snapshot_locked_at"].is_null())
    );
}

#[tokio::test]
async fn a_draft_is_cancelled_once() {
    let t = app().await;
    let o = create(&t, order_body()).await;
    let id = id_of(&o, "id");
    let url = format!("/v1/orders/{id}/cancel");
    let (s, e) = t
        .call("POST", &url, Some(json!({ "reason": " " })), &[])
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["code"], "reason_required");
    let (s, c) = t
        .call(
            "POST",
            &url,
            Some(json!({ "reason": "customer changed their mind" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["payment_status"], "cancelled");
    assert_eq!(c["balance_minor"], 0);
    let (s, again) = t
        .call("POST", &url, Some(json!({ "reason": "again" })), &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "illegal_transition");
    assert_eq!(
        again["error"]["message"],
        "cannot cancel the order: it is cancelled"
    );
    let (s, e) = t
        .call("POST", &format!("/v1/orders/{id}/send-checkout"), None, &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot send checkout for the order: it is cancelled"
    );
    let (_, timeline) = t
        .call("GET", &format!("/v1/orders/{id}/timeline"), None, &[])
        .await;
    assert_eq!(kinds(&timeline), ["order.created", "order.cancelled"]);
    assert_eq!(
        timeline["items"][1]["detail"],
        json!({ "by": "operator:olivia", "reason": "customer changed their mind" })
    );
}

#[tokio::test]
async fn malformed_ids_are_400_and_unknown_ones_404() {
    let t = app().await;
    let unknown = Uuid::now_v7();
    let reason = json!({ "reason": "check" });
    let calls: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/v1/orders/{id}".into(), None),
        ("GET", "/v1/orders/{id}/timeline".into(), None),
        ("GET", "/v1/fulfillments/{id}".into(), None),
        ("GET", "/v1/shipments/{id}".into(), None),
        ("GET", "/v1/shipments/{id}/timeline".into(), None),
        ("POST", "/v1/orders/{id}/send-checkout".into(), None),
        (
            "POST",
            "/v1/orders/{id}/cancel".into(),
            Some(reason.clone()),
        ),
        (
            "POST",
            "/v1/fulfillments/{id}/shipments".into(),
            Some(json!({ "items": [{ "sku": "SENSOR-T1", "quantity": 1 }] })),
        ),
        (
            "PATCH",
            "/v1/shipments/{id}".into(),
            Some(json!({ "courier": "usps" })),
        ),
        (
            "POST",
            "/v1/shipments/{id}/status".into(),
            Some(json!({ "status": "delivered" })),
        ),
        (
            "POST",
            "/v1/automation-steps/{id}/retry".into(),
            Some(reason.clone()),
        ),
        (
            "POST",
            "/v1/automation-steps/{id}/fallback".into(),
            Some(json!({ "note": "done by hand" })),
        ),
    ];
    for (method, path, body) in calls {
        let (s, b) = t
            .call(
                method,
                &path.replace("{id}", "not-a-uuid"),
                body.clone(),
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], "invalid_id", "{method} {path}");
        let (s, b) = t
            .call(
                method,
                &path.replace("{id}", &unknown.to_string()),
                body,
                &[],
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {b}");
        assert_eq!(b["error"]["code"], "not_found");
        assert_ne!(b["error"]["message"], "no such route", "{method} {path}");
    }
}

const PLACEHOLDER_WORKFLOW: &str = r#"
name = "hardware_order"
version = 1
start = "family"
description = "Test stand-in: one step that parks for an operator."

[[steps]]
name = "automate"
action = "test.hw_park"
"#;

/// Parks the saga every time it runs, like the automate step waiting on failed steps.
struct ParkForOperator;

#[async_trait]
impl Action for ParkForOperator {
    async fn run(&self, _ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Err(StepError::park(
            "automation_failed",
            "an automation step needs an operator",
        ))
    }
}

async fn app_with_saga() -> TestApp {
    let mut settings = hardware_settings().await;
    add_workflows(
        &mut settings,
        &[("hardware_order.toml", PLACEHOLDER_WORKFLOW)],
    );
    let t = app_with(settings, |r| {
        r.register("test.hw_park", ParkForOperator);
    })
    .await;
    seed_acme(&t).await;
    t
}

/// Creates and checks out an order of synced lines; returns (order id, saga id).
async fn checked_out(t: &TestApp) -> (Uuid, Uuid) {
    let o = create(t, synced_body()).await;
    let id = id_of(&o, "id");
    let (s, started) = t
        .call("POST", &format!("/v1/orders/{id}/send-checkout"), None, &[])
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{started}");
    assert_eq!(started["order_id"], id.to_string());
    assert_eq!(started["payment_status"], "draft");
    (id, id_of(&started, "saga_id"))
}

async fn post(t: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    t.call("POST", path, Some(body), &[]).await
}

async fn step_status(t: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM automation_steps WHERE id = $1")
        .bind(id)
        .fetch_one(t.app.store().pool())
        .await
        .unwrap()
}

/// A checkout sent again under its `Idempotency-Key` (the first answer lost to a restart)
/// answers the checkout it started; another request for the same order is still a conflict.
#[tokio::test]
async fn a_checkout_sent_again_under_its_key_answers_the_first() {
    let t = app_with_saga().await;
    let id = id_of(&create(&t, synced_body()).await, "id");
    let path = format!("/v1/orders/{id}/send-checkout");
    let send = |key: Option<&'static str>| {
        let t = &t;
        let path = path.clone();
        async move {
            let headers: Vec<(&str, &str)> =
                key.map(|k| ("idempotency-key", k)).into_iter().collect();
            t.call("POST", &path, None, &headers).await
        }
    };
    let (s, first) = send(Some("send-1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{first}");
    let saga = id_of(&first, "saga_id");

    let (s, again) = send(Some("send-1")).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(id_of(&again, "saga_id"), saga);
    assert_eq!(again["order_id"], id.to_string());

    for key in [Some("send-2"), None] {
        let (s, e) = send(key).await;
        assert_eq!(s, StatusCode::CONFLICT, "{key:?}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("checkout was already sent for this order"),
            "{e}"
        );
    }
    // Another tenant's repeat of the key is not this caller's request.
    let other = bearer(OTHER_SERVICE_TOKEN);
    let (s, e) = t
        .call(
            "POST",
            &path,
            None,
            &[("idempotency-key", "send-1"), ("authorization", &other)],
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s} {e}"
    );
    let sagas = count(
        &t,
        &format!("SELECT count(*) FROM sagas WHERE data->'input'->>'order_id' = '{id}'"),
    )
    .await;
    assert_eq!(sagas, 1, "one checkout saga for the order");
}

#[tokio::test]
async fn checkout_shipments_cancellation_and_automation_through_the_api() {
    let t = app_with_saga().await;
    let pool = t.app.store().pool().clone();
    let now = t.clock.now();

    // A cancel while the saga has moved nothing goes through the saga.
    let (other, other_saga) = checked_out(&t).await;
    let (s, c) = post(
        &t,
        &format!("/v1/orders/{other}/cancel"),
        json!({ "reason": "duplicate order" }),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{c}");
    assert_eq!(c["saga_id"], other_saga.to_string());
    assert_eq!(c["status"], "cancelled");
    assert_eq!(t.status(other_saga).await, "cancelled");
    let (s, _) = post(
        &t,
        &format!("/v1/orders/{other}/cancel"),
        json!({ "reason": "again" }),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (order, saga) = checked_out(&t).await;
    let (s, e) = t
        .call(
            "POST",
            &format!("/v1/orders/{order}/send-checkout"),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("checkout was already sent for this order")
    );
    let (_, o) = t
        .call("GET", &format!("/v1/orders/{order}"), None, &[])
        .await;
    assert_eq!(o["saga_id"], saga.to_string());
    assert_eq!(o["saga_status"], "pending");

    // The saga would create the fulfilment once paid; here the test does.
    let fulfillment = Uuid::now_v7();
    let mut conn = pool.acquire().await.unwrap();
    create_fulfillment_in(&mut conn, fulfillment, order, now)
        .await
        .unwrap();
    let (s, f) = t
        .call("GET", &format!("/v1/fulfillments/{fulfillment}"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["status"], "ready_to_prepare");
    assert_eq!(f["items"][0]["sku"], "SENSOR-T1");
    assert_eq!(f["items"][0]["remaining"], 3);

    let ship = format!("/v1/fulfillments/{fulfillment}/shipments");
    let (s, first) = post(
        &t,
        &ship,
        json!({ "items": [{ "sku": "SENSOR-T1", "quantity": 2 }] }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["status"], "draft");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["courier_code"], "dhl", "the order's courier");
    assert_eq!(
        first["address_snapshot"],
        address("Toronto"),
        "the company's default"
    );
    assert!(first["address_id"].is_string(), "{first}");
    assert_eq!(first["created_by"], "operator:olivia");
    assert_eq!(first["items"][0]["quantity"], 2);
    let first_id = id_of(&first, "id");
    let signals: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM saga_signals WHERE saga_id = $1 AND name = 'hardware.shipment_drafted'
             AND payload->>'shipment_id' = $2",
    )
    .bind(saga)
    .bind(first_id.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(signals, 1, "the saga is told to book the draft");

    let (s, e) = post(
        &t,
        &ship,
        json!({ "items": [{ "sku": "SENSOR-T1", "quantity": 2 }] }),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot allocate 2 of SENSOR-T1: only 1 left to ship"
    );
    let (s, e) = post(
        &t,
        &ship,
        json!({ "items": [{ "sku": "GATEWAY-G1", "quantity": 1 }] }),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(
        e["error"]["message"],
        "items[0]: GATEWAY-G1 is not on this fulfillment; it has SENSOR-T1, SENSOR-H2"
    );
    let (s, e) = post(&t, &ship, json!({ "items": [] })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, e) = post(
        &t,
        &ship,
        json!({ "items": [{ "sku": "SENSOR-H2", "quantity": 1 }], "courier": "fedex" }),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_courier");
    let (s, _) = t
        .call(
            "POST",
            &ship,
            Some(json!({ "items": [{ "sku": "SENSOR-H2", "quantity": 1 }] })),
            &[("authorization", &bearer(SERVICE_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "operators only");

    // Edit the draft: courier, then address; the same values again change nothing.
    let edit = format!("/v1/shipments/{first_id}");
    let (s, edited) = t
        .call("PATCH", &edit, Some(json!({ "courier": "USPS" })), &[])
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["courier_code"], "usps");
    let (s, e) = t
        .call("PATCH", &edit, Some(json!({ "courier": "usps" })), &[])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "nothing_to_change");
    let (s, e) = t.call("PATCH", &edit, Some(json!({})), &[]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, e) = t
        .call("PATCH", &edit, Some(json!({ "courier": "pigeon" })), &[])
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let mut ottawa = address("Ottawa");
    ottawa["country"] = json!("ca");
    let (s, edited) = t
        .call(
            "PATCH",
            &edit,
            Some(json!({ "destination": { "address": ottawa } })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["address_snapshot"]["city"], "Ottawa");
    assert_eq!(edited["address_snapshot"]["country"], "CA");

    // The courier books it (the saga's job); then it can no longer be edited.
    book_shipment_in(&mut conn, first_id, "TRK-1", None, now)
        .await
        .unwrap();
    let (s, e) = t
        .call("PATCH", &edit, Some(json!({ "courier": "dhl" })), &[])
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot edit the shipment: it is ready"
    );

    // An operator reports the courier's word: legal moves become tracking signals.
    let status = format!("/v1/shipments/{first_id}/status");
    let (s, e) = post(&t, &status, json!({ "status": "lost" })).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, r) = post(
        &t,
        &status,
        json!({ "status": "in_transit", "note": "driver picked it up" }),
    )
    .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(
        r,
        json!({ "shipment_id": first_id, "status": "ready", "requested": "in_transit" })
    );
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM saga_signals WHERE correlation_key = 'courier:usps:TRK-1' AND name = 'courier.tracking'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(payload["status"], "in_transit");
    assert_eq!(payload["courier"], "usps");
    assert_eq!(payload["tracking_number"], "TRK-1");
    assert_eq!(payload["source"], "operator:olivia");
    assert_eq!(payload["note"], "driver picked it up");

    // A second draft, cancelled by hand: its quantity goes back.
    let (s, second) = post(
        &t,
        &ship,
        json!({ "items": [{ "sku": "SENSOR-H2", "quantity": 1 }], "courier": "canadapost" }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let second_id = id_of(&second, "id");
    let (s, e) = post(
        &t,
        &format!("/v1/shipments/{second_id}/status"),
        json!({ "status": "in_transit" }),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, cancelled) = post(
        &t,
        &format!("/v1/shipments/{second_id}/status"),
        json!({ "status": "cancelled", "note": "customer collects" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    let (_, f) = t
        .call("GET", &format!("/v1/fulfillments/{fulfillment}"), None, &[])
        .await;
    assert_eq!(f["items"][1]["remaining"], 1);
    assert_eq!(f["shipments"].as_array().unwrap().len(), 2);
    let (s, timeline) = t
        .call(
            "GET",
            &format!("/v1/shipments/{second_id}/timeline"),
            None,
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{timeline}");
    assert_eq!(kinds(&timeline), ["shipment.drafted", "shipment.cancelled"]);
    let (s, read) = t
        .call(
            "GET",
            &format!("/v1/shipments/{second_id}"),
            None,
            &[("authorization", &bearer(VIEWER_TOKEN))],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["courier_code"], "canadapost");

    // Once a shipment moves, the order can no longer be cancelled.
    use sagaflow::domain::hardware::shipment::ShipmentEvent;
    move_shipment_in(&mut conn, first_id, ShipmentEvent::Dispatch, json!({}), now)
        .await
        .unwrap();
    let (s, e) = post(&t, &status, json!({ "status": "in_transit" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot dispatch the shipment: it is in_transit"
    );
    let cancel = format!("/v1/orders/{order}/cancel");
    let (s, e) = post(&t, &cancel, json!({ "reason": "too late" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot cancel the order: shipment 1 is in_transit"
    );

    // Delivered: its automation step fails for good and the saga parks.
    move_shipment_in(&mut conn, first_id, ShipmentEvent::Deliver, json!({}), now)
        .await
        .unwrap();
    queue_automation_in(
        &mut conn,
        first_id,
        &HardwareSettings::default().max_attempts(),
        now,
    )
    .await
    .unwrap();
    let step: Uuid = sqlx::query_scalar("SELECT id FROM automation_steps")
        .fetch_one(&pool)
        .await
        .unwrap();
    let failed = AttemptOutcome::Failed {
        error: "bridge down".into(),
        retry_at: None,
    };
    record_attempt_in(&mut conn, step, &failed, now)
        .await
        .unwrap();
    t.run().await;
    assert_eq!(t.status(saga).await, "parked");
    let (_, o) = t
        .call("GET", &format!("/v1/orders/{order}"), None, &[])
        .await;
    assert_eq!(o["automation_steps"][0]["status"], "failed");
    assert_eq!(o["shipments"].as_array().unwrap().len(), 2);

    // Retry: the step is queued again and the parked saga retried, in one audited action.
    let retry = format!("/v1/automation-steps/{step}/retry");
    let fallback = format!("/v1/automation-steps/{step}/fallback");
    let (s, r) = post(&t, &retry, json!({ "reason": "bridge is back" })).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    assert_eq!(
        r,
        json!({ "automation_step_id": step, "status": "queued", "saga_status": "running" })
    );
    assert_eq!(step_status(&t, step).await, "queued");
    let (_, audit) = t
        .call("GET", &format!("/v1/audit?saga_id={saga}"), None, &[])
        .await;
    assert_eq!(audit["items"][0]["action"], "retry");
    assert_eq!(audit["items"][0]["reason"], "bridge is back");
    let (s, e) = post(&t, &retry, json!({ "reason": "again" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot retry the automation: it is queued"
    );
    let (s, e) = post(&t, &fallback, json!({ "note": "by hand" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    // It fails again; the operator registers the devices by hand and the saga moves on.
    record_attempt_in(&mut conn, step, &failed, now)
        .await
        .unwrap();
    t.run().await;
    assert_eq!(t.status(saga).await, "parked");
    let (s, e) = post(&t, &fallback, json!({ "note": "" })).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, r) = post(
        &t,
        &fallback,
        json!({ "note": "registered in the legacy console" }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r,
        json!({ "automation_step_id": step, "status": "fallback_triggered", "saga_status": "running" })
    );
    assert_eq!(step_status(&t, step).await, "fallback_triggered");
    let (s, _) = post(&t, &retry, json!({ "reason": "late" })).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, e) = post(&t, &cancel, json!({ "reason": "too late" })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot cancel the order: shipment 1 is delivered"
    );
    let (_, timeline) = t
        .call("GET", &format!("/v1/orders/{order}/timeline"), None, &[])
        .await;
    let kinds = kinds(&timeline);
    for kind in [
        "order.created",
        "shipment.drafted",
        "shipment.in_transit",
        "automation.fallback_triggered",
        "operator_retry",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}
