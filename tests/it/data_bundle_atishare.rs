//! The `data_bundle` workflow on the AirtelTigo route (AT-iShare) end to end: orders over HTTP
//! to the served app, AT-iShare's signed API and its timestamped webhooks over HTTP from the
//! simulator, a fresh database and a manual clock for the retry schedule. Deliveries are
//! counted at the simulator per reference, so a double delivery cannot hide.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use sagaflow::engine::clock::Clock;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::orders::{Harness, harness};
use sagaflow::providers::signature::{ISHARE_SIGNATURE_HEADER, sign_timestamped};
use sagaflow::simulator::config::CallbacksPatch;
use sagaflow::simulator::{ConfigPatch, Fault, Outcome};

/// An AirtelTigo number (026…), which only AT-iShare serves.
const AT_PHONE: &str = "0261234567";

/// The simulator signs its webhooks with the wall clock while the app reads a manual clock
/// set in the past; the flows here are about the saga, so the window is opened wide. The
/// signature test keeps the real window and sets the clock to now instead.
async fn at_harness() -> Harness {
    harness(|s, _| {
        s.providers.signature_tolerance = Duration::from_secs(3 * 365 * 24 * 3600);
    })
    .await
}

async fn place(h: &Harness, phone: &str) -> (Uuid, Uuid) {
    let user = Uuid::now_v7();
    let (s, b) = h
        .post_json(
            &format!("/v1/wallets/{user}/top-ups"),
            &[("idempotency-key", "seed")],
            &json!({ "amount": 100.0 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "at-1")],
            &json!({ "user_id": user, "network": "AirtelTigo", "size": "5GB", "phone_number": phone }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    (
        b["order_id"].as_str().unwrap().parse().unwrap(),
        b["saga_id"].as_str().unwrap().parse().unwrap(),
    )
}

fn reference(saga: Uuid, n: u32) -> String {
    format!("{saga}:fulfill:{n}")
}

async fn order_view(h: &Harness, id: Uuid) -> Value {
    let (s, b) = h.get(&format!("/v1/orders/{id}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

async fn signals_for(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
}

/// (status, retry_after) of each logged submission, oldest first.
async fn logged(h: &Harness, order: Uuid) -> Vec<(String, Option<DateTime<Utc>>)> {
    sqlx::query_as(
        "SELECT status, retry_after FROM fulfillment_logs WHERE order_id = $1 ORDER BY attempt_number",
    )
    .bind(order)
    .fetch_all(h.pool())
    .await
    .unwrap()
}

fn no_ishare_webhooks(h: &Harness) {
    h.sim
        .configure(ConfigPatch {
            callbacks: Some(CallbacksPatch {
                ishare: Some(String::new()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap();
}

fn outcome_for(h: &Harness, phone: &str, outcome: Outcome) {
    h.sim
        .configure(ConfigPatch {
            outcomes: [(phone.to_string(), Some(outcome))].into_iter().collect(),
            ..Default::default()
        })
        .unwrap();
}

/// Runs the worker until the saga settles or `tries` runs pass, giving the simulator's
/// asynchronous webhooks time to land between runs.
async fn run_until_completed(h: &Harness, saga: Uuid, tries: usize) {
    for _ in 0..tries {
        h.t.run().await;
        if h.t.status(saga).await == "completed" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("saga {saga} is {}", h.t.status(saga).await);
}

#[tokio::test]
async fn at_ishare_success_through_the_webhook() {
    let h = at_harness().await;
    let (id, saga) = place(&h, AT_PHONE).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    assert_eq!(order_view(&h, id).await["fulfillment_status"], "processing");
    signals_for(&h, saga, 1).await;
    h.t.run().await;

    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(
        h.t.saga(saga).await["data"]["steps"]["fulfill"]["via"],
        "webhook"
    );
    let view = order_view(&h, id).await;
    assert_eq!(
        (view["status"].as_str(), view["fulfillment_status"].as_str()),
        (Some("completed"), Some("completed"))
    );
    assert_eq!(view["phone_number"], "026****567");
    let attempts = view["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["provider"], "ishare");
    assert_eq!(attempts[0]["status"], "success");
    assert_eq!(attempts[0]["reference"], reference(saga, 1));
    assert_eq!(logged(&h, id).await, [("success".to_string(), None)]);
    let r1 = reference(saga, 1);
    assert_eq!(h.sim.stats().deliveries("ishare.fulfill", &r1), 1);
    assert_eq!(h.sim.stats().deliveries("ishare.delivered", &r1), 1);
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 0);
    // The submission is logged redacted: never the full number.
    let request: Value =
        sqlx::query_scalar("SELECT api_request FROM fulfillment_logs WHERE order_id = $1")
            .bind(id)
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(!request.to_string().contains(AT_PHONE), "{request}");
}

#[tokio::test]
async fn at_ishare_success_through_polling_when_no_webhook_arrives() {
    let h = at_harness().await;
    h.sim
        .configure(ConfigPatch {
            completion_delay_ms: Some(0),
            ..Default::default()
        })
        .unwrap();
    no_ishare_webhooks(&h);
    let (id, saga) = place(&h, AT_PHONE).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    h.t.advance(Duration::from_secs(9 * 60));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting", "no poll before 10m");
    assert_eq!(h.sim.stats().requests("ishare.verify"), 0);
    h.t.advance(Duration::from_secs(60));
    h.t.run().await;

    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(
        h.t.saga(saga).await["data"]["steps"]["fulfill"]["via"],
        "poll"
    );
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
        ))
        .await,
        0
    );
    assert!(h.sim.stats().requests("ishare.verify") >= 1);
    assert_eq!(order_view(&h, id).await["status"], "completed");
    let r1 = reference(saga, 1);
    assert_eq!(h.sim.stats().deliveries("ishare.fulfill", &r1), 1);
    assert_eq!(h.sim.stats().deliveries("ishare.delivered", &r1), 1);
}

#[tokio::test]
async fn at_ishare_failure_is_retried_under_a_new_reference_after_5_minutes() {
    let h = at_harness().await;
    outcome_for(&h, AT_PHONE, Outcome::Failed);
    let (id, saga) = place(&h, AT_PHONE).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    signals_for(&h, saga, 1).await;
    let failed_at = h.t.clock.now();
    h.t.run().await; // the failed webhook: a retry is scheduled
    assert_eq!(h.t.status(saga).await, "running");
    // The failed submission says when the next one is due: the policy's first delay.
    assert_eq!(
        logged(&h, id).await,
        [(
            "failed".to_string(),
            Some(failed_at + chrono::Duration::minutes(5))
        )]
    );

    outcome_for(&h, AT_PHONE, Outcome::Completed);
    h.t.advance(Duration::from_secs(5 * 60 - 1));
    h.t.run().await;
    assert_eq!(h.sim.stats().requests("ishare.fulfill"), 1, "not before 5m");
    h.t.advance(Duration::from_secs(1));
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    signals_for(&h, saga, 2).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");

    let (r1, r2) = (reference(saga, 1), reference(saga, 2));
    let stats = h.sim.stats();
    assert_eq!(stats.requests("ishare.fulfill"), 2);
    assert_eq!(stats.deliveries("ishare.fulfill", &r1), 1);
    assert_eq!(stats.deliveries("ishare.fulfill", &r2), 1);
    assert_eq!(stats.deliveries("ishare.delivered", &r1), 0, "it failed");
    assert_eq!(stats.deliveries("ishare.delivered", &r2), 1);
    let rows = logged(&h, id).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, "failed");
    assert_eq!(rows[1], ("success".to_string(), None));
    let view = order_view(&h, id).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["attempts"][1]["reference"], r2);
}

#[tokio::test]
async fn at_ishare_unknown_outcome_is_resolved_by_verify_and_delivered_once() {
    let h = at_harness().await;
    // AT-iShare takes the order but the answer is lost; the first lookup comes back cut off.
    h.sim
        .set_fault(
            "ishare.fulfill",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    h.sim
        .set_fault(
            "ishare.verify",
            Some(Fault {
                status: Some(200),
                body_hex: Some(hex_of(r#"{"success":true,"refer"#)),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let (id, saga) = place(&h, AT_PHONE).await;
    let started = h.t.clock.now();
    h.t.run().await;
    let s = h.t.saga(saga).await;
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["last_error"]["code"], "outcome_unknown", "{s}");
    assert_eq!(h.sim.stats().requests("ishare.verify"), 1);
    // Logged as failed, with the time the look again is due.
    assert_eq!(
        logged(&h, id).await,
        [(
            "failed".to_string(),
            Some(started + chrono::Duration::minutes(5))
        )]
    );

    h.t.advance(Duration::from_secs(5 * 60));
    run_until_completed(&h, saga, 40).await;

    let r1 = reference(saga, 1);
    let stats = h.sim.stats();
    assert_eq!(stats.requests("ishare.fulfill"), 1, "never submitted again");
    assert_eq!(stats.deliveries("ishare.fulfill", &r1), 1);
    assert_eq!(stats.deliveries("ishare.delivered", &r1), 1);
    assert_eq!(
        stats.deliveries("ishare.fulfill", &reference(saga, 2)),
        0,
        "no second reference"
    );
    assert!(stats.requests("ishare.verify") >= 2);
    let view = order_view(&h, id).await;
    assert_eq!(view["status"], "completed");
    assert_eq!(view["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(view["attempts"][0]["status"], "success");
}

#[tokio::test]
async fn at_ishare_webhook_signatures_are_timestamped() {
    // The real five-minute window, with the app's clock at the wall clock's time.
    let h = harness(|_, _| {}).await;
    h.t.clock.set(Utc::now());
    no_ishare_webhooks(&h);
    let (id, saga) = place(&h, AT_PHONE).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    let r1 = reference(saga, 1);
    let body = serde_json::to_vec(&json!({
        "id": "evt_test_1", "event": "fulfillment.updated", "reference": r1,
        "status": "completed", "phone": AT_PHONE, "size_gb": 5, "message": "data delivered",
        "occurred_at": Utc::now().to_rfc3339(),
    }))
    .unwrap();
    let secret = h.sim.providers_config().ishare.webhook_secret;
    let secret = secret.expose().as_bytes().to_vec();
    let now = Utc::now().timestamp();
    let post = |signature: String, body: Vec<u8>| {
        let h = &h;
        async move {
            h.request(
                reqwest::Method::POST,
                "/v1/webhooks/ishare",
                &[(ISHARE_SIGNATURE_HEADER, signature.as_str())],
                Some(body),
            )
            .await
        }
    };

    let refused = [
        (
            sign_timestamped(&secret, now - 600, &body),
            "signature timestamp is outside the accepted window",
        ),
        (
            sign_timestamped(&secret, now + 600, &body),
            "signature timestamp is outside the accepted window",
        ),
        (
            sign_timestamped(b"not-the-secret", now, &body),
            "signature does not match",
        ),
        (format!("t={now}"), "signature header is malformed"),
    ];
    for (signature, why) in refused {
        let (s, _, b) = post(signature.clone(), body.clone()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("bad_signature")),
            "{signature}: {b}"
        );
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{signature}: {message}");
    }
    assert_eq!(h.count("SELECT count(*) FROM saga_signals").await, 0);
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    assert_eq!(order_view(&h, id).await["status"], "pending");

    let (s, _, b) = post(sign_timestamped(&secret, now, &body), body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    signals_for(&h, saga, 1).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "completed");
    assert_eq!(order_view(&h, id).await["status"], "completed");
}

fn hex_of(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The request signature AT-iShare checks: hex HMAC-SHA256 of `{t}.{METHOD}.{path}.{body}`.
fn request_signature(secret: &[u8], t: i64, method: &str, path: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.{method}.{path}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn at_ishare_refuses_stale_or_wrongly_signed_requests_and_delivers_nothing() {
    let h = at_harness().await;
    let cfg = h.sim.providers_config().ishare;
    let (key, secret) = (cfg.api_key.expose(), cfg.api_secret.expose().as_bytes());
    let path = "/v1/fulfillments";
    let body = br#"{"phone":"0261234567","size_gb":5,"reference":"sig-test:1"}"#;
    let now = Utc::now().timestamp();
    let send = |t: i64, signature: String| {
        let url = format!("{}{path}", h.sim.base_url());
        let http = h.http.clone();
        let key = key.to_string();
        async move {
            let res = http
                .post(url)
                .header("x-ishare-key", key)
                .header("x-ishare-timestamp", t.to_string())
                .header("x-ishare-signature", signature)
                .header("content-type", "application/json")
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    for (t, signature) in [
        (
            now - 600,
            request_signature(secret, now - 600, "POST", path, body),
        ),
        (
            now + 600,
            request_signature(secret, now + 600, "POST", path, body),
        ),
        (
            now,
            request_signature(b"not-the-secret", now, "POST", path, body),
        ),
        (now, request_signature(secret, now, "GET", path, body)),
    ] {
        let (s, b) = send(t, signature).await;
        assert_eq!(
            (s, b["errorCode"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("UNAUTHORIZED")),
            "{b}"
        );
    }
    assert_eq!(h.sim.stats().deliveries("ishare.fulfill", "sig-test:1"), 0);
    let (s, b) = send(now, request_signature(secret, now, "POST", path, body)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(h.sim.stats().deliveries("ishare.fulfill", "sig-test:1"), 1);
}
