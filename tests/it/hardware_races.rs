//! Operators drafting shipments while the ship step books them: both take their row locks in
//! one order (saga, shipments, fulfilment, its items), so two hundred of each at once never
//! deadlock.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::hardware::{
    create, hardware, id, operator_post, order_body, pay, send_checkout, shipments, view,
};

/// Deadlocks Postgres detected in this database so far.
async fn deadlocks(pool: &sqlx::PgPool) -> i64 {
    // The statistics are flushed shortly after each transaction: let them settle first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn operator_shipments_and_the_ship_steps_checkpoints_never_deadlock() {
    let h = hardware().await;
    let mut body = order_body(&[("SENSOR-T1", 200, "sensor_vendor_replacement")]);
    body["initial_shipment"] = json!([{"sku": "SENSOR-T1", "quantity": 1}]);
    let order = id(&create(&h, &body).await, "id");
    let saga = send_checkout(&h, order).await;
    h.t.run().await;
    pay(&h, order, saga).await;
    assert_eq!(shipments(&h, order).await.len(), 1);
    let fulfillment = view(&h, order).await["fulfillment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = deadlocks(h.pool()).await;

    // The worker books drafts (the ship step's signal, its courier call and its checkpoint)
    // while 199 operator drafts of one unit each arrive, twenty at a time.
    let drafting_done = AtomicBool::new(false);
    let path = format!("/v1/fulfillments/{fulfillment}/shipments");
    let one = json!({"items": [{"sku": "SENSOR-T1", "quantity": 1}]});
    let drafting = async {
        let answers: Vec<(StatusCode, serde_json::Value)> = futures::stream::iter(0..199)
            .map(|_| operator_post(&h, &path, &one))
            .buffer_unordered(20)
            .collect()
            .await;
        drafting_done.store(true, Ordering::SeqCst);
        answers
    };
    let booking = async {
        while !drafting_done.load(Ordering::SeqCst) {
            h.t.worker.process_one().await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    let (answers, ()) = tokio::join!(drafting, booking);
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::CREATED, "{body}");
    }
    h.t.run().await;

    let all = shipments(&h, order).await;
    assert_eq!(all.len(), 200);
    assert!(
        all.iter().all(|s| s["status"] == "ready"),
        "every draft was booked"
    );
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM saga_events WHERE saga_id = $1 AND detail::text LIKE '%deadlock%'",
    )
    .bind(saga)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(refused, 0, "no checkpoint was refused for a deadlock");
    assert_eq!(
        deadlocks(h.pool()).await,
        before,
        "Postgres detected no deadlock"
    );
}
