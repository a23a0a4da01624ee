//! Provider webhooks reaching sagas through `POST /v1/webhooks/{provider}`, and the outbox relay
//! delivering signed partner webhooks to the simulator on a real port.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use sagaflow::engine::action::{Action, OutboxRow, Signal, StepContext, StepError, StepOutcome};
use sagaflow::providers::signature::sign_reseller;
use sagaflow::simulator::{self, Fault, SimulatorConfig};

use crate::support;

const WEBHOOK_WORKFLOW: &str = r#"
name = "webhook_test"
version = 1
start = "api"

[[steps]]
name = "submit"
action = "test.submit"
wait = { signal = "reseller.order_status", source = "provider", timeout = "10m" }
retry = { schedule = ["1m"] }

[[steps]]
name = "announce"
action = "test.announce"
"#;

/// Submits "an order" and waits for the reseller's webhook about it.
struct Submit;

#[async_trait]
impl Action for Submit {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        let order = ctx.input["order_id"].as_i64().unwrap_or_default();
        Ok(StepOutcome::wait(json!({ "order_id": order })).correlate(format!("reseller:{order}")))
    }

    async fn on_signal(
        &self,
        _ctx: &StepContext,
        signal: &Signal,
    ) -> Result<StepOutcome, StepError> {
        match signal.payload["order"]["status"].as_str() {
            Some("completed") => Ok(StepOutcome::done(json!({ "delivered": true }))),
            Some("pending") => Ok(StepOutcome::pending()),
            _ => Err(StepError::retryable(
                "provider_failed",
                "the reseller reported a failure",
            )),
        }
    }
}

/// Writes a partner webhook to the outbox in its checkpoint.
struct Announce;

#[async_trait]
impl Action for Announce {
    async fn run(&self, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        Ok(StepOutcome::done(Value::Null).with_outbox(OutboxRow {
            topic: "partner_webhook".into(),
            destination: Some("t2mobile".into()),
            payload: json!({
                "partner": "t2mobile",
                "event_type": "ORDER_FULFILLED",
                "event_id": ctx.idempotency_key,
                "body": { "orderId": ctx.input["order_id"], "status": "FULFILLED" },
            }),
        }))
    }
}

async fn test_app(providers: Option<sagaflow::providers::ProvidersConfig>) -> support::TestApp {
    let mut settings = support::settings().await;
    support::add_workflows(&mut settings, &[("webhook_test.toml", WEBHOOK_WORKFLOW)]);
    if let Some(p) = providers {
        settings.providers = p;
    }
    support::app_with(settings, |r| {
        r.register("test.submit", Submit)
            .register("test.announce", Announce);
    })
    .await
}

fn reseller_event(order: i64, status: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "order.status_changed",
        "timestamp": "2026-03-01T09:01:00Z",
        "order": { "id": order, "status": status, "message": "ok", "amount": 25.0,
                   "recipient_phone": "0241234567", "plan_name": "MTN 5GB", "network": "MTN",
                   "size_mb": 5120, "created_at": "2026-03-01 09:00:00", "updated_at": "2026-03-01 09:01:00" }
    }))
    .unwrap()
}

async fn post_webhook(
    t: &support::TestApp,
    provider: &str,
    body: Vec<u8>,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder()
        .method("POST")
        .uri(format!("/v1/webhooks/{provider}"))
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header("x-webhook-signature", sig);
    }
    t.send(req.body(Body::from(body)).unwrap()).await
}

fn sign(t: &support::TestApp, body: &[u8]) -> String {
    sign_reseller(
        t.app
            .settings
            .providers
            .reseller
            .webhook_secret
            .expose()
            .as_bytes(),
        body,
    )
}

async fn signal_rows(t: &support::TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM saga_signals")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap()
}

async fn metric(t: &support::TestApp, needle: &str) -> f64 {
    let (_, _) = t.call("GET", "/healthz", None, &[]).await;
    let res = tower::ServiceExt::oneshot(
        t.app.router(),
        Request::get("/metrics")
            .header("authorization", support::bearer(support::VIEWER_TOKEN))
            .body(Body::empty())
            .unwrap(),
    )
    .await
    .unwrap();
    let text = String::from_utf8(
        http_body_util::BodyExt::collect(res.into_body())
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    text.lines()
        .find(|l| l.starts_with(needle))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn signed_webhook_wakes_the_waiting_saga_and_duplicates_change_nothing() {
    let t = test_app(None).await;
    let id = t.start("webhook_test", json!({ "order_id": 777 })).await;
    t.run().await;
    assert_eq!(t.status(id).await, "waiting");

    let body = reseller_event(777, "completed");
    let (s, b) = post_webhook(&t, "reseller", body.clone(), Some(sign(&t, &body))).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::OK, Some("accepted")),
        "{b}"
    );
    let (s, b) = post_webhook(&t, "reseller", body.clone(), Some(sign(&t, &body))).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    assert_eq!(signal_rows(&t).await, 1);

    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(saga["status"], "completed");
    assert_eq!(saga["data"]["steps"]["submit"]["delivered"], true);
    assert_eq!(saga["data"]["steps"]["submit"]["order_id"], 777);
}

#[tokio::test]
async fn bad_signatures_and_bodies_are_refused_and_store_nothing() {
    let t = test_app(None).await;
    let body = reseller_event(5, "completed");
    let before = metric(
        &t,
        "sagaflow_webhooks_received_total{provider=\"reseller\",result=\"bad_signature\"}",
    )
    .await;

    let (s, b) = post_webhook(&t, "reseller", body.clone(), None).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("bad_signature"))
    );
    let forged = sign_reseller(b"not-the-secret", &body);
    let (s, _) = post_webhook(&t, "reseller", body.clone(), Some(forged)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut tampered = body.clone();
    let sig = sign(&t, &body);
    tampered[10] ^= 1;
    let (s, _) = post_webhook(&t, "reseller", tampered, Some(sig)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let junk = b"{not json".to_vec();
    let (s, b) = post_webhook(&t, "reseller", junk.clone(), Some(sign(&t, &junk))).await;
    assert_eq!(
        (s, b["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed"))
    );
    let (s, _) = post_webhook(&t, "nonsense", body.clone(), Some(sign(&t, &body))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    assert_eq!(signal_rows(&t).await, 0);
    let after = metric(
        &t,
        "sagaflow_webhooks_received_total{provider=\"reseller\",result=\"bad_signature\"}",
    )
    .await;
    assert!(
        after >= before + 3.0,
        "bad_signature counter moved from {before} to {after}"
    );
}

#[tokio::test]
async fn an_event_before_its_saga_is_kept_then_attached() {
    let t = test_app(None).await;
    let body = reseller_event(888, "completed");
    let (s, b) = post_webhook(&t, "reseller", body.clone(), Some(sign(&t, &body))).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::ACCEPTED, Some("uncorrelated"))
    );

    let id = t.start("webhook_test", json!({ "order_id": 888 })).await;
    // No clock movement: the stored event must be attached and used, not waited out.
    t.run().await;
    assert_eq!(t.status(id).await, "completed");
    let attached: Option<uuid::Uuid> = sqlx::query_scalar("SELECT saga_id FROM saga_signals")
        .fetch_one(t.app.store().pool())
        .await
        .unwrap();
    assert_eq!(attached, Some(id));
}

#[tokio::test]
async fn a_failed_provider_event_retries_the_step() {
    let t = test_app(None).await;
    let id = t.start("webhook_test", json!({ "order_id": 9 })).await;
    t.run().await;
    let body = reseller_event(9, "failed");
    post_webhook(&t, "reseller", body.clone(), Some(sign(&t, &body))).await;
    t.run().await;
    let saga = t.saga(id).await;
    assert_eq!(
        (saga["status"].as_str(), saga["attempt"].as_i64()),
        (Some("running"), Some(2))
    );
    assert_eq!(saga["last_error"]["code"], "provider_failed");
}

#[tokio::test]
async fn outbox_rows_are_delivered_signed_logged_retried_and_replayed() {
    let sim = simulator::start(SimulatorConfig::default()).await.unwrap();
    let t = test_app(Some(sim.providers_config())).await;
    let relay = t.app.outbox_relay();

    let id = t.start("webhook_test", json!({ "order_id": 1 })).await;
    t.run().await;
    let body = reseller_event(1, "completed");
    post_webhook(&t, "reseller", body.clone(), Some(sign(&t, &body))).await;
    t.run().await;
    assert_eq!(t.status(id).await, "completed");

    // The checkpoint wrote the row; the relay delivers it, signed, once.
    assert_eq!(relay.deliver_due().await.unwrap(), 1);
    let (s, list) = t
        .call("GET", &format!("/v1/outbox?saga_id={id}"), None, &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    let row = &list["items"][0];
    assert_eq!(row["status"], "delivered");
    let row_id = row["id"].as_i64().unwrap();
    let key = format!("{id}:announce");
    assert_eq!(
        sim.stats().deliveries("partner.receive", &key),
        1,
        "the partner verified the signature"
    );
    assert_eq!(
        relay.deliver_due().await.unwrap(),
        0,
        "nothing left to send"
    );

    // A partner refusing for good: the row goes dead, each attempt logged; replay sends it again.
    sim.set_fault(
        "partner.receive",
        Some(Fault {
            status: Some(400),
            times: Some(1),
            ..Fault::default()
        }),
    )
    .unwrap();
    let (s, _) = t
        .call(
            "POST",
            &format!("/v1/outbox/{row_id}/replay"),
            Some(json!({ "reason": "partner asked again" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    relay.deliver_due().await.unwrap();
    let (_, detail) = t
        .call("GET", &format!("/v1/outbox/{row_id}"), None, &[])
        .await;
    assert_eq!(detail["item"]["status"], "dead");
    assert_eq!(detail["deliveries"][1]["outcome"], "failed");
    assert_eq!(detail["deliveries"][1]["status_code"], 400);

    // A 503 is retried later, not dropped.
    sim.set_fault(
        "partner.receive",
        Some(Fault {
            status: Some(503),
            times: Some(1),
            ..Fault::default()
        }),
    )
    .unwrap();
    t.call(
        "POST",
        &format!("/v1/outbox/{row_id}/replay"),
        Some(json!({ "reason": "again" })),
        &[],
    )
    .await;
    relay.deliver_due().await.unwrap();
    let (_, detail) = t
        .call("GET", &format!("/v1/outbox/{row_id}"), None, &[])
        .await;
    assert_eq!(detail["item"]["status"], "pending");
    assert_eq!(detail["deliveries"][2]["outcome"], "retry");
    assert_eq!(
        relay.deliver_due().await.unwrap(),
        0,
        "not due before its backoff"
    );
    t.advance(std::time::Duration::from_secs(60));
    assert_eq!(relay.deliver_due().await.unwrap(), 1);
    let (_, detail) = t
        .call("GET", &format!("/v1/outbox/{row_id}"), None, &[])
        .await;
    assert_eq!(detail["item"]["status"], "delivered");
    assert_eq!(detail["deliveries"].as_array().unwrap().len(), 4);
    assert_eq!(sim.stats().deliveries("partner.receive", &key), 2);

    let (s, _) = t
        .call(
            "POST",
            "/v1/outbox/abc/replay",
            Some(json!({ "reason": "x" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = t
        .call(
            "POST",
            "/v1/outbox/999999/replay",
            Some(json!({ "reason": "x" })),
            &[],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
