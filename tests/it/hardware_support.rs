//! Support's maintenance routes over HTTP: an order's status moved only where the lifecycle
//! allows (409 otherwise), a paid order's missing fulfilment made, automation queued for a
//! delivered shipment's items, and a step corrected before it runs.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OPERATOR_TOKEN, SERVICE_TOKEN};

async fn call(
    h: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let res = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn operator(h: &Harness, method: &str, path: &str, body: &Value) -> (StatusCode, Value) {
    call(h, OPERATOR_TOKEN, method, path, body).await
}

const LINE: &[(&str, i32, &str)] = &[("SENSOR-T1", 1, "sensor_vendor_first_time")];

#[tokio::test]
async fn support_closes_only_orders_the_lifecycle_lets_it_close() {
    let h = hardware().await;
    let draft = id(&create(&h, &order_body(LINE)).await, "id");
    let status = format!("/v1/orders/{draft}/status");
    let (s, e) = operator(
        &h,
        "PATCH",
        &status,
        &json!({"status": "paid", "reason": "they said so"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["code"], "illegal_transition");
    let (s, e) = operator(
        &h,
        "PATCH",
        &status,
        &json!({"status": "teleported", "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    let (s, e) = operator(&h, "PATCH", &status, &json!({"status": "cancelled"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a reason is required: {e}");
    let (s, _) = call(
        &h,
        SERVICE_TOKEN,
        "PATCH",
        &status,
        &json!({"status": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        view(&h, draft).await["payment_status"],
        "draft",
        "nothing changed"
    );
    let (s, o) = operator(
        &h,
        "PATCH",
        &status,
        &json!({"status": "cancelled", "reason": "customer withdrew"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["payment_status"], "cancelled");
    let (s, e) = operator(
        &h,
        "PATCH",
        &status,
        &json!({"status": "cancelled", "reason": "again"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM domain_events WHERE order_id = $1 AND event_type = 'order.cancelled'",
    )
    .bind(draft)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(payload["by"], "operator:olivia");
    assert_eq!(payload["reason"], "customer withdrew");

    // A checkout still open belongs to its saga.
    let open = id(&create(&h, &order_body(LINE)).await, "id");
    let saga = send_checkout(&h, open).await;
    h.t.run().await;
    let (s, e) = operator(
        &h,
        "PATCH",
        &format!("/v1/orders/{open}/status"),
        &json!({"status": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("is running"),
        "{e}"
    );

    // A failed payment whose saga is over: support closes it, and no checkout recovers it.
    settle(&h, open, saga, "failed").await;
    assert_eq!(view(&h, open).await["payment_status"], "payment_failed");
    let (s, o) = operator(
        &h,
        "PATCH",
        &format!("/v1/orders/{open}/status"),
        &json!({"status": "cancelled", "reason": "gave up"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{o}");
    assert_eq!(o["payment_status"], "cancelled");
    let (s, e) = h
        .post_json(&format!("/v1/orders/{open}/send-checkout"), &[], &json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    // A paid order is never closed here (the saga refunds).
    let (paid, _) = paid_order(&h, LINE).await;
    let (s, e) = operator(
        &h,
        "PATCH",
        &format!("/v1/orders/{paid}/status"),
        &json!({"status": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, _) = operator(
        &h,
        "PATCH",
        &format!("/v1/orders/{}/status", Uuid::nil()),
        &json!({"status": "cancelled", "reason": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_paid_order_without_a_fulfilment_gets_one_by_hand() {
    let h = hardware().await;
    let fulfillments = "/v1/fulfillments";
    // A draft is not fulfilled.
    let draft = id(&create(&h, &order_body(LINE)).await, "id");
    let (s, e) = operator(&h, "POST", fulfillments, &json!({"order_id": draft})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "only a paid order is fulfilled: it is draft"
    );
    // An order paid outside a saga (recorded by hand) has none until support makes it.
    sqlx::query("UPDATE hardware_orders SET payment_status = 'paid' WHERE id = $1")
        .bind(draft)
        .execute(h.pool())
        .await
        .unwrap();
    let (s, f) = operator(&h, "POST", fulfillments, &json!({"order_id": draft})).await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert_eq!(f["status"], "ready_to_prepare");
    assert_eq!(f["items"][0]["sku"], "SENSOR-T1");
    assert_eq!(f["items"][0]["remaining"], 1);
    assert_eq!(view(&h, draft).await["fulfillment_id"], f["id"]);
    let (s, e) = operator(&h, "POST", fulfillments, &json!({"order_id": draft})).await;
    assert_eq!(s, StatusCode::CONFLICT, "one fulfilment per order: {e}");
    let (s, _) = operator(&h, "POST", fulfillments, &json!({"order_id": Uuid::nil()})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = operator(&h, "POST", fulfillments, &json!({"order_id": "nope"})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(
        &h,
        SERVICE_TOKEN,
        "POST",
        fulfillments,
        &json!({"order_id": draft}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn automation_is_queued_for_a_delivered_shipment_and_corrected_before_it_runs() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, LINE).await;
    let shipment = shipments(&h, order).await[0].clone();
    let sid = shipment["id"].as_str().unwrap().to_string();
    let queue = format!("/v1/shipments/{sid}/automation-steps");
    // Not delivered yet: nothing to automate.
    let (s, e) = operator(&h, "POST", &queue, &json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let t = tracking(&shipment);
    courier(&h, saga, &t, "in_transit").await;
    courier(&h, saga, &t, "delivered").await;
    assert_eq!(h.t.status(saga).await, "completed");
    let steps = view(&h, order).await["automation_steps"].clone();
    assert_eq!(steps[0]["status"], "succeeded", "{steps}");
    let done = steps[0]["id"].as_str().unwrap().to_string();
    // Every item has its step already.
    let (s, e) = operator(&h, "POST", &queue, &json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    // A finished step is not edited.
    let (s, e) = operator(
        &h,
        "PATCH",
        &format!("/v1/automation-steps/{done}"),
        &json!({"payload": {"note": "x"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot edit the automation step: it is succeeded"
    );

    // A lost step (removed by hand) is queued again from the item's scenario and policy.
    sqlx::query("DELETE FROM automation_steps WHERE id = $1")
        .bind(done.parse::<Uuid>().unwrap())
        .execute(h.pool())
        .await
        .unwrap();
    let (s, queued) = operator(&h, "POST", &queue, &json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{queued}");
    let step = &queued["automation_steps"][0];
    assert_eq!(step["status"], "queued");
    assert_eq!(step["scenario"], "sensor_vendor_first_time");
    assert_eq!(step["payload"]["sku"], "SENSOR-T1");
    let path = format!("/v1/automation-steps/{}", step["id"].as_str().unwrap());
    for (bad, code) in [
        (json!({}), "nothing_to_change"),
        (json!({"scenario": "sensor_teleport"}), "unknown_scenario"),
        (json!({"payload": [1, 2]}), "invalid_body"),
    ] {
        let (s, e) = operator(&h, "PATCH", &path, &bad).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }
    let (s, edited) = operator(&h, "PATCH", &path, &json!({"scenario": "sensor_return", "payload": {"sku": "SENSOR-T1", "quantity": 1, "serial": "T1-0042"}})).await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["scenario"], "sensor_return");
    assert_eq!(edited["payload"]["serial"], "T1-0042");
    assert_eq!(edited["status"], "queued");
    let kinds = events(&h, order).await;
    assert!(
        kinds.contains(&"automation.step_edited".to_string()),
        "{kinds:?}"
    );
    let (s, _) = call(&h, SERVICE_TOKEN, "PATCH", &path, &json!({"payload": {}})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = operator(
        &h,
        "PATCH",
        &format!("/v1/automation-steps/{}", Uuid::nil()),
        &json!({"payload": {}}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
