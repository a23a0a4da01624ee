//! Idempotency keys belong to the caller and the route: another caller's key neither answers
//! with someone else's result nor takes a key first, a key the server makes itself cannot be
//! sent from outside, and a top-up key replayed with another amount is refused.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;

async fn post_as(
    h: &Harness,
    token: &str,
    path: &str,
    key: &str,
    body: Value,
) -> (StatusCode, Value) {
    let auth = bearer(token);
    h.post_json(
        path,
        &[("authorization", &auth), ("idempotency-key", key)],
        &body,
    )
    .await
}

#[tokio::test]
async fn key_squatting_across_two_tokens_and_on_internal_prefixes() {
    let h = hardware().await;
    let start = json!({ "workflow": "sample_six", "input": {} });
    let (s, mine) = post_as(&h, SERVICE_TOKEN, "/v1/sagas", "shared-key", start.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{mine}");
    // The same key and body from another token is another saga, not a view of the first.
    let (s, theirs) = post_as(&h, OTHER_SERVICE_TOKEN, "/v1/sagas", "shared-key", start).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{theirs}");
    assert_ne!(mine["saga_id"], theirs["saga_id"]);
    // And with another body it is not a conflict with the first caller's request either.
    let other = json!({ "workflow": "sample_six", "input": { "x": 1 } });
    let (s, b) = post_as(&h, OTHER_SERVICE_TOKEN, "/v1/sagas", "fresh-key", other).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");

    // A key spelt as the checkout's own (`hardware_order:<order id>`) and the cron's cannot
    // take them first: the shop's checkout still starts its own saga.
    let order = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    for key in [
        format!("hardware_order:{order}"),
        "cron:licence_expiry_reminders:2026-03-02T00:00:00+00:00".to_string(),
    ] {
        let body = json!({ "workflow": "sample_six", "input": {} });
        let (s, b) = post_as(&h, OTHER_SERVICE_TOKEN, "/v1/sagas", &key, body).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    let saga = send_checkout(&h, order).await;
    let body = h.t.saga(saga).await;
    assert_eq!(body["workflow"], "hardware_order", "{body}");
}

#[tokio::test]
async fn a_top_up_key_reused_with_another_amount_is_a_conflict_and_the_actor_is_recorded() {
    let h = hardware().await;
    let user = Uuid::now_v7();
    let path = format!("/v1/wallets/{user}/top-ups");
    let (s, b) = post_as(&h, SERVICE_TOKEN, &path, "t-1", json!({ "amount": 10.0 })).await;
    assert_eq!(
        (s, b["balance"].as_str()),
        (StatusCode::OK, Some("10.00")),
        "{b}"
    );
    let (s, b) = post_as(&h, SERVICE_TOKEN, &path, "t-1", json!({ "amount": 10.0 })).await;
    assert_eq!(
        (s, b["balance"].as_str()),
        (StatusCode::OK, Some("10.00")),
        "{b}"
    );
    let (s, b) = post_as(&h, SERVICE_TOKEN, &path, "t-1", json!({ "amount": 99.0 })).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["error"]["code"], "idempotency_conflict");
    // Another caller's same key is its own top-up.
    let (s, b) = post_as(&h, OPERATOR_TOKEN, &path, "t-1", json!({ "amount": 5.0 })).await;
    assert_eq!(
        (s, b["balance"].as_str()),
        (StatusCode::OK, Some("15.00")),
        "{b}"
    );
    let actors: Vec<Option<String>> =
        sqlx::query_scalar("SELECT actor FROM wallet_ledger WHERE user_id = $1 ORDER BY id")
            .bind(user)
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(
        actors,
        [
            Some("service:shop".to_string()),
            Some("operator:olivia".to_string())
        ]
    );
}
