//! The partner API and the `partner_subscription` workflow end to end: Bearer keys, the rate
//! limit, idempotency, the CRM in the simulator, and signed webhooks checked by a receiver
//! served on a real port. Also the expiry-reminder cron across two scheduler nodes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::orders::{Harness, harness};
use sagaflow::families::partner::PartnerSettings;
use sagaflow::providers::signature::{PARTNER_SIGNATURE_HEADER, verify_timestamped};
use sagaflow::simulator::Fault;

use crate::support;

/// The simulator-only key whose hash is in config/default.toml.
pub(crate) const KEY: &str = "sim_partner_api_key";

/// Webhooks the test receiver accepted, after checking each signature: (type, event id, body).
pub(crate) type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// Serves a partner endpoint that verifies `X-Signature` with `secret` and records events.
async fn receiver(secret: String) -> (String, Received) {
    let got: Received = Arc::default();
    let store = got.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (store, secret) = (store.clone(), secret.clone());
            async move {
                let sig = headers
                    .get(PARTNER_SIGNATURE_HEADER)
                    .and_then(|v| v.to_str().ok());
                if verify_timestamped(
                    secret.as_bytes(),
                    sig,
                    &body,
                    Utc::now().timestamp(),
                    Duration::from_secs(300),
                )
                .is_err()
                {
                    return AxumStatus::UNAUTHORIZED;
                }
                let header = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string()
                };
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                store
                    .lock()
                    .unwrap()
                    .push((header("x-event-type"), header("x-event-id"), body));
                AxumStatus::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks"), got)
}

pub(crate) async fn partner_harness(rate: u32) -> (Harness, Received) {
    let mut received = None;
    let h = harness(|s, _| {
        s.edit_section("partner", |p: &mut PartnerSettings| {
            p.rate_limit_per_minute = rate
        })
        .unwrap();
        let partner = s
            .providers
            .partner_webhooks
            .partners
            .get("t2mobile")
            .cloned()
            .unwrap();
        received = Some(partner.secret.expose().to_string());
    })
    .await;
    let (url, got) = receiver(received.unwrap()).await;
    // The relay reads the partner URL from the app's settings, so rebuild with it.
    drop(h);
    let h = harness(move |s, _| {
        s.edit_section("partner", |p: &mut PartnerSettings| {
            p.rate_limit_per_minute = rate
        })
        .unwrap();
        if let Some(p) = s.providers.partner_webhooks.partners.get_mut("t2mobile") {
            p.url = url;
        }
    })
    .await;
    (h, got)
}

pub(crate) fn order_body(order_id: &str) -> Value {
    json!({
        "orderId": order_id,
        "productId": "OFFICE-PRO",
        "customerId": "CUST-1",
        "customerName": "Ama Mensah",
        "customerEmail": "ama@example.com",
        "customerPhone": "+233241234567",
        "tenure": "12_MONTHS",
    })
}

pub(crate) async fn fulfil(
    h: &Harness,
    key: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let auth = format!("Bearer {KEY}");
    h.request(
        reqwest::Method::POST,
        "/v1/partner/fulfilment",
        &[("authorization", &auth), ("idempotency-key", key)],
        Some(serde_json::to_vec(body).unwrap()),
    )
    .await
}

pub(crate) async fn deliver(h: &Harness) {
    let relay = h.t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
}

pub(crate) fn events(got: &Received, kind: &str) -> Vec<(String, Value)> {
    got.lock()
        .unwrap()
        .iter()
        .filter(|e| e.0 == kind)
        .map(|e| (e.1.clone(), e.2.clone()))
        .collect()
}

#[tokio::test]
async fn products_need_a_valid_key_and_are_cached() {
    let (h, _) = partner_harness(100).await;
    let (s, b) = h.get("/v1/partner/products", &[]).await;
    assert_eq!(
        (s, b["success"].as_bool(), b["errorCode"].as_str()),
        (StatusCode::UNAUTHORIZED, Some(false), Some("UNAUTHORIZED"))
    );
    let (s, _) = h
        .get("/v1/partner/products", &[("authorization", "Bearer wrong")])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = h
        .get("/v1/partner/products", &[("authorization", KEY)])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the Bearer scheme is required");
    let auth = format!("Bearer {KEY}");
    let (s, b) = h
        .get("/v1/partner/products", &[("authorization", &auth)])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["partnerId"], "T2MOBILE001");
    let products = b["products"].as_array().unwrap();
    assert_eq!(products.len(), 3);
    let pro = products
        .iter()
        .find(|p| p["productId"] == "OFFICE-PRO")
        .unwrap();
    assert_eq!(pro["prices"]["12_MONTHS"], "960.00");
    // Within the TTL the answer comes from the cache, not the table.
    sqlx::query("UPDATE partner_products SET price_12_months_minor = 1 WHERE id = 'OFFICE-PRO'")
        .execute(h.pool())
        .await
        .unwrap();
    let (_, again) = h
        .get("/v1/partner/products", &[("authorization", &auth)])
        .await;
    assert_eq!(again, b);
}

#[tokio::test]
async fn fulfilment_answers_202_and_the_partner_gets_a_signed_order_fulfilled() {
    let (h, got) = partner_harness(100).await;
    let (s, _, b) = fulfil(&h, "key-1", &order_body("T2M-1")).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    assert_eq!(
        b,
        json!({ "success": true, "orderId": "T2M-1", "status": "PROCESSING" })
    );
    h.t.run().await;
    deliver(&h).await;

    let po =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", "T2M-1")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(po.status, "FULFILLED");
    assert_eq!(po.price_minor, Some(96_000));
    let licence =
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        Some(licence.activation_reference.clone()),
        po.activation_reference
    );
    let fulfilled = events(&got, "ORDER_FULFILLED");
    assert_eq!(fulfilled.len(), 1, "{:?}", got.lock().unwrap());
    let body = &fulfilled[0].1;
    assert_eq!(body["orderId"], "T2M-1");
    assert_eq!(body["status"], "FULFILLED");
    assert_eq!(
        body["activationReference"],
        licence.activation_reference.as_str()
    );
    // Every delivery attempt is logged.
    assert!(h.count("SELECT count(*) FROM outbox_deliveries").await >= 1);
    let auth = format!("Bearer {KEY}");
    let (s, b) = h
        .get("/v1/partner/orders/T2M-1", &[("authorization", &auth)])
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("FULFILLED"))
    );
}

#[tokio::test]
async fn a_replay_is_idempotent_and_a_duplicate_order_id_is_409() {
    let (h, _) = partner_harness(100).await;
    let (s1, _, b1) = fulfil(&h, "key-1", &order_body("T2M-2")).await;
    let (s2, headers, b2) = fulfil(&h, "key-1", &order_body("T2M-2")).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    assert_eq!(b1, b2);
    assert_eq!(headers.get("idempotent-replayed").unwrap(), "true");
    let (s, _, b) = fulfil(&h, "key-2", &order_body("T2M-2")).await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::CONFLICT, Some("DUPLICATE_ORDER")),
        "{b}"
    );
    let mut changed = order_body("T2M-2");
    changed["tenure"] = json!("1_MONTH");
    let (s, _, b) = fulfil(&h, "key-1", &changed).await;
    assert_eq!(
        (s, b["success"].as_bool()),
        (StatusCode::CONFLICT, Some(false)),
        "{b}"
    );
    let (s, _, b) = fulfil(&h, "key-1", &order_body("T2M-3")).await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::CONFLICT, Some("IDEMPOTENCY_KEY_REUSED")),
        "{b}"
    );
    // Validation in the partner's format, and nothing written.
    let mut bad = order_body("T2M-4");
    bad["productId"] = json!("NOPE");
    let (s, _, b) = fulfil(&h, "key-4", &bad).await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_PRODUCT")),
        "{b}"
    );
    let mut bad = order_body("T2M-5");
    bad["tenure"] = json!("6_MONTHS");
    let (s, _, b) = fulfil(&h, "key-5", &bad).await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_TENURE")),
        "{b}"
    );
    let auth = format!("Bearer {KEY}");
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/partner/fulfilment",
            &[("authorization", &auth), ("idempotency-key", "k6")],
            Some(b"{oops".to_vec()),
        )
        .await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::BAD_REQUEST, Some("INVALID_JSON")),
        "{b}"
    );
    assert_eq!(h.count("SELECT count(*) FROM partner_orders").await, 1);
    assert_eq!(h.count("SELECT count(*) FROM sagas").await, 1);
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let (h, _) = partner_harness(5).await;
    let auth = format!("Bearer {KEY}");
    for _ in 0..5 {
        let (s, _) = h
            .get("/v1/partner/products", &[("authorization", &auth)])
            .await;
        assert_eq!(s, StatusCode::OK);
    }
    let (s, headers, b) = h
        .request(
            reqwest::Method::GET,
            "/v1/partner/products",
            &[("authorization", &auth)],
            None,
        )
        .await;
    assert_eq!(
        (s, b["errorCode"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("RATE_LIMITED"))
    );
    let wait: u64 = headers
        .get("retry-after")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=12).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_crm_failure_cancels_the_sales_order_and_sends_order_failed() {
    let (h, got) = partner_harness(100).await;
    h.sim
        .set_fault(
            "crm.provision_licence",
            Some(Fault {
                status: Some(500),
                ..Default::default()
            }),
        )
        .unwrap();
    let (s, _, _) = fulfil(&h, "key-1", &order_body("T2M-9")).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    h.t.run().await;
    for delay in [30, 120, 600] {
        h.t.advance(Duration::from_secs(delay));
        h.t.run().await;
    }
    let po =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", "T2M-9")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(h.t.status(po.saga_id).await, "compensated");
    assert_eq!(po.status, "FAILED");
    let so = po
        .sales_order_id
        .clone()
        .expect("the sales order id was recorded");
    assert_eq!(h.sim.stats().requests("crm.create_sales_order"), 1);
    assert_eq!(h.sim.stats().requests("crm.provision_licence"), 4);
    // The simulator counts cancellations per sales order id.
    assert_eq!(h.sim.stats().deliveries("crm.cancel_sales_order", &so), 1);
    let undone = h.t.saga(po.saga_id).await["data"]["compensations"]["fulfil"].clone();
    assert_eq!(undone["cancelled"], so.as_str(), "{undone}");
    assert_eq!(undone["status"], "cancelled");
    deliver(&h).await;
    assert!(events(&got, "ORDER_FULFILLED").is_empty());
    let failed = events(&got, "ORDER_FAILED");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].1["orderId"], "T2M-9");
    assert_eq!(failed[0].1["status"], "FAILED");
    assert!(
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_expiry_cron_sends_one_reminder_per_licence_across_two_schedulers() {
    let (h, got) = partner_harness(100).await;
    for (i, key) in ["a", "b"].iter().enumerate() {
        let (s, _, _) = fulfil(&h, key, &order_body(&format!("T2M-R{i}"))).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    h.t.run().await;
    // Both licences expire on the same day; the sim dates them from today.
    let expiries: Vec<NaiveDate> =
        sqlx::query_scalar("SELECT expires_on FROM licences ORDER BY id")
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(expiries.len(), 2);
    let remind_day = expiries[0] - chrono::Duration::days(3);
    let at =
        |h: u32, m: u32, s: u32| Utc.from_utc_datetime(&remind_day.and_hms_opt(h, m, s).unwrap());

    // A second node: another app on the same database, with its own scheduler and clock.
    let mut settings = h.t.app.settings.clone();
    settings.workflows = h.t.app.settings.workflows.clone();
    let other = support::app_with(settings, |_| {}).await;
    let (s1, s2) = (
        h.t.app.scheduler("node-1").unwrap(),
        other.app.scheduler("node-2").unwrap(),
    );
    for clock in [&h.t.clock, &other.clock] {
        clock.set(at(1, 59, 59));
    }
    assert_eq!(
        s1.tick_once().await.unwrap() + s2.tick_once().await.unwrap(),
        0
    );
    for clock in [&h.t.clock, &other.clock] {
        clock.set(at(2, 0, 1));
    }
    let (a, b) = tokio::join!(s1.tick_once(), s2.tick_once());
    assert_eq!(a.unwrap() + b.unwrap(), 1, "one node fires the 02:00 tick");
    let (x, y) = tokio::join!(h.t.worker.run_until_idle(), other.worker.run_until_idle());
    x.unwrap();
    y.unwrap();
    deliver(&h).await;
    let reminders = events(&got, "EXPIRY_REMINDER");
    assert_eq!(reminders.len(), 2, "{reminders:?}");
    assert!(reminders.iter().all(|r| r.1["daysLeft"] == 3));

    // The next day's tick, and an extra run started by hand, remind nobody again. The other
    // cron jobs' ticks missed over the day fire first, just before 02:00.
    for clock in [&h.t.clock, &other.clock] {
        clock.set(at(1, 59, 59) + chrono::Duration::days(1));
    }
    let (a, b) = tokio::join!(s1.tick_once(), s2.tick_once());
    a.unwrap();
    b.unwrap();
    for clock in [&h.t.clock, &other.clock] {
        clock.set(at(2, 0, 1) + chrono::Duration::days(1));
    }
    let (a, b) = tokio::join!(s1.tick_once(), s2.tick_once());
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    // By hand, as the server would: the workflow is not one a caller may start.
    h.t.app
        .rt
        .start(
            sagaflow::engine::StartSaga {
                workflow: "licence_expiry_reminder".into(),
                input: json!({ "within_days": 7 }),
                business_key: None,
                idempotency_key: None,
                request_hash: None,
                actor: "cron:by-hand".into(),
            },
            None,
        )
        .await
        .unwrap();
    let (x, y) = tokio::join!(h.t.worker.run_until_idle(), other.worker.run_until_idle());
    x.unwrap();
    y.unwrap();
    deliver(&h).await;
    assert_eq!(events(&got, "EXPIRY_REMINDER").len(), 2);
    assert_eq!(h.t.app.store().licence_reminders().await.unwrap().len(), 2);
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM sagas WHERE workflow = 'licence_expiry_reminder'")
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(statuses, ["completed", "completed", "completed"]);
}

#[tokio::test]
async fn a_renewal_extends_the_licence_and_sends_subscription_renewed() {
    let (h, got) = partner_harness(100).await;
    fulfil(&h, "a", &order_body("T2M-N1")).await;
    h.t.run().await;
    let po =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", "T2M-N1")
            .await
            .unwrap()
            .unwrap();
    let before =
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .unwrap();
    let auth = format!("Bearer {KEY}");
    let path = format!(
        "/v1/partner/subscriptions/{}/renewals",
        before.activation_reference
    );
    let (s, b) = h
        .post_json(
            &path,
            &[("authorization", &auth), ("idempotency-key", "renew-1")],
            &json!({ "tenure": "1_MONTH" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    h.t.run().await;
    deliver(&h).await;
    let after =
        h.t.app
            .store()
            .licence_for_order(po.id)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        after.expires_on,
        before
            .expires_on
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
    );
    assert_eq!(after.renewals, 1);
    let renewed = events(&got, "SUBSCRIPTION_RENEWED");
    assert_eq!(renewed.len(), 1);
    assert_eq!(
        renewed[0].1["activationReference"],
        before.activation_reference.as_str()
    );
}
