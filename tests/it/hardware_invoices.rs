//! Invoice numbering under concurrency: twenty orders issued at once get INV-000001 to
//! INV-000020, unique and without gaps, even while other issuing transactions roll back.

use std::collections::BTreeSet;

use chrono::Utc;
use serde_json::json;
use uuid::Uuid;

use sagaflow::domain::pricing::{PriceSource, Resolution};
use sagaflow::families::hardware::store::{NewHardwareOrder, NewItem, issue_invoice_in};

use crate::support;
use crate::support::hardware::{Directory, seed_directory_rows};

fn new_order(acme: &Directory, n: usize) -> NewHardwareOrder {
    NewHardwareOrder {
        id: Uuid::now_v7(),
        order_code: format!("HW-TEST-{n:03}"),
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
                unit_amount_minor: 1000 + n as i64,
                line_total_minor: 1000 + n as i64,
                currency: "usd".into(),
                synced: true,
                bespoke_notes: Some("test".into()),
            },
        }],
        idempotency_key: None,
        request_hash: String::new(),
        created_by: "test".into(),
    }
}

#[tokio::test]
async fn twenty_concurrent_invoices_are_gap_free_and_unique() {
    let t = support::app().await;
    let store = t.app.store().clone();
    let acme = seed_directory_rows(store.pool()).await;
    let mut orders = Vec::new();
    for n in 0..25 {
        let o = new_order(&acme, n);
        store.create_hardware_order(&o, Utc::now()).await.unwrap();
        orders.push(o.id);
    }
    let (issued, rolled_back) = orders.split_at(20);
    let mut tasks = Vec::new();
    // Five take a number first and roll back while the twenty queue behind them: a sequence
    // would leave gaps here, the counter row gives the numbers back.
    for &order in rolled_back {
        let pool = store.pool().clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = pool.begin().await.unwrap();
            let row = issue_invoice_in(&mut tx, order, Utc::now()).await;
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            tx.rollback().await.unwrap();
            row
        }));
    }
    for &order in issued {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.issue_invoice(order, Utc::now()).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let numbers: Vec<String> =
        sqlx::query_scalar("SELECT number FROM invoices WHERE number IS NOT NULL ORDER BY number")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let expected: Vec<String> = (1..=20).map(|n| format!("INV-{n:06}")).collect();
    assert_eq!(numbers, expected);
    let unique: BTreeSet<_> = numbers.iter().collect();
    assert_eq!(unique.len(), 20);
    // Issuing again is a no-op that keeps the number.
    let again = store.issue_invoice(issued[0], Utc::now()).await.unwrap();
    assert!(
        again
            .number
            .as_deref()
            .is_some_and(|n| expected.contains(&n.to_string()))
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(count, 20, "rolled-back issues left no invoice behind");
}

#[tokio::test]
async fn manual_payments_settle_an_invoice_in_parts_and_then_are_refused() {
    let t = support::app().await;
    let store = t.app.store().clone();
    let acme = seed_directory_rows(store.pool()).await;
    let order = new_order(&acme, 7);
    store
        .create_hardware_order(&order, Utc::now())
        .await
        .unwrap();
    let invoice = store.issue_invoice(order.id, Utc::now()).await.unwrap();
    assert_eq!(
        (invoice.status.as_str(), invoice.total_minor),
        ("issued", 1007)
    );
    let path = format!("/v1/invoices/{}/payments", invoice.id);

    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 0, "reference": "B-0"})),
            &[],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 2000, "reference": "B-1"})),
            &[],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::CONFLICT, "more than is due: {b}");
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 500, "reference": "B-1"})),
            &[],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::OK, "{b}");
    assert_eq!(
        (b["status"].as_str(), b["allocated_minor"].as_i64()),
        (Some("partially_paid"), Some(500))
    );
    let recorded_by: Option<String> =
        sqlx::query_scalar("SELECT actor FROM payment_records WHERE provider_ref = 'manual:B-1'")
            .fetch_one(t.app.store().pool())
            .await
            .unwrap();
    assert_eq!(recorded_by.as_deref(), Some("operator:olivia"));
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 507, "reference": "B-2"})),
            &[],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::OK, "{b}");
    assert_eq!(
        (b["status"].as_str(), b["allocated_minor"].as_i64()),
        (Some("paid"), Some(1007))
    );
    let (s, b) = t
        .call(
            "POST",
            &path,
            Some(json!({"amount_minor": 1, "reference": "B-3"})),
            &[],
        )
        .await;
    assert_eq!(s, axum::http::StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("it is paid"),
        "{b}"
    );
    let payments = store.payments_for_order(order.id).await.unwrap();
    assert_eq!(
        payments.iter().map(|p| p.amount_minor).sum::<i64>(),
        1007,
        "refused payments left nothing"
    );
    let (s, b) = t
        .call("GET", &format!("/v1/invoices/{}", invoice.id), None, &[])
        .await;
    assert_eq!(s, axum::http::StatusCode::OK, "{b}");
    assert_eq!(b["number"], invoice.number.unwrap());
}
