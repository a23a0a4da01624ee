//! Billing over HTTP: manual invoices drafted, edited and issued; adjustments and credit notes
//! moving the balance; a payment in two parts; net-30 invoices turning overdue under the
//! daily cron on the manual clock; the invoice list's filters; and the PDF parsed back.

use chrono::{DateTime, Duration, NaiveTime, Utc};
use reqwest::StatusCode;
use sagaflow::engine::clock::Clock;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OPERATOR_TOKEN, SERVICE_TOKEN, VIEWER_TOKEN};

async fn call(
    h: &Harness,
    token: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let mut req = h
        .http
        .request(method.parse().unwrap(), format!("{}{path}", h.base))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(b);
    }
    let res = req.send().await.unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn operator(
    h: &Harness,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    call(h, OPERATOR_TOKEN, method, path, body).await
}

/// A manual draft for ACME: 2 × 150.00 installation and a 50.00 survey.
async fn draft(h: &Harness) -> Value {
    let body = json!({
        "company_id": "ACME",
        "lines": [
            {"description": "Installation", "quantity": 2, "unit_amount_minor": 15_000},
            {"description": "Site survey", "unit_amount_minor": 5_000},
        ],
        "notes": "Thank you",
    });
    let (s, inv) = operator(h, "POST", "/v1/invoices", Some(&body)).await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    inv
}

fn events_of(events: &[(String, Uuid)], invoice: Uuid) -> Vec<&str> {
    events
        .iter()
        .filter(|(_, a)| *a == invoice)
        .map(|(e, _)| e.as_str())
        .collect()
}

async fn billing_events(h: &Harness) -> Vec<(String, Uuid)> {
    sqlx::query_as("SELECT event_type, aggregate_id FROM domain_events WHERE source_module = 'billing' ORDER BY id")
        .fetch_all(h.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_manual_invoice_with_adjustments_is_paid_in_two_parts() {
    let h = hardware().await;
    let inv = draft(&h).await;
    assert_eq!(inv["status"], "draft");
    assert_eq!(inv["kind"], "manual");
    assert!(inv["number"].is_null() && inv["order_id"].is_null());
    assert_eq!(inv["total_minor"], 35_000);
    assert_eq!(inv["created_by"], "operator:olivia");
    let id = id(&inv, "id");
    let path = format!("/v1/invoices/{id}");

    // Drafts are edited: the lines replaced, the total follows.
    let change = json!({"lines": [
        {"description": "Installation", "quantity": 2, "unit_amount_minor": 15_000},
        {"description": "Site survey", "unit_amount_minor": 10_000},
    ]});
    let (s, edited) = operator(&h, "PATCH", &path, Some(&change)).await;
    assert_eq!(s, StatusCode::OK, "{edited}");
    assert_eq!(edited["total_minor"], 40_000);
    assert_eq!(edited["lines"].as_array().unwrap().len(), 2);
    for (bad, code) in [
        (json!({}), "nothing_to_change"),
        (json!({"lines": []}), "invalid_lines"),
        (
            json!({"lines": [{"description": "x", "unit_amount_minor": -1}]}),
            "amount_too_large",
        ),
        (
            json!({"lines": [{"description": "x", "quantity": 0, "unit_amount_minor": 1}]}),
            "invalid_quantity",
        ),
    ] {
        let (s, e) = operator(&h, "PATCH", &path, Some(&bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {e}");
        assert_eq!(e["error"]["code"], code, "{e}");
    }

    // Issued: numbered and, ACME being prepaid, due at once.
    let (s, issued) = operator(&h, "POST", &format!("{path}/issue"), None).await;
    assert_eq!(s, StatusCode::OK, "{issued}");
    assert_eq!(issued["status"], "issued");
    let number = issued["number"].as_str().unwrap().to_string();
    assert!(number.starts_with("INV-"), "{number}");
    assert_eq!(
        issued["due_at"], issued["issued_at"],
        "prepaid: due on issue"
    );
    let (s, e) = operator(&h, "PATCH", &path, Some(&change)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(
        e["error"]["message"],
        "cannot edit the invoice: it is issued"
    );
    let (s, _) = operator(&h, "POST", &format!("{path}/issue"), None).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // An adjustment up and a credit note down; the balance follows the lines.
    let lines = format!("{path}/lines");
    let (s, adj) = operator(
        &h,
        "POST",
        &lines,
        Some(&json!({"kind": "adjustment", "description": "Travel", "amount_minor": 2_500})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{adj}");
    assert_eq!(
        (adj["total_minor"].as_i64(), adj["balance_minor"].as_i64()),
        (Some(42_500), Some(42_500))
    );
    let (s, credited) = operator(
        &h,
        "POST",
        &lines,
        Some(&json!({"kind": "credit", "description": "Goodwill", "amount_minor": -12_500})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{credited}");
    assert_eq!(credited["total_minor"], 30_000);
    let kinds: Vec<&str> = credited["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["item", "item", "adjustment", "credit"]);
    for (bad, status) in [
        (
            json!({"kind": "credit", "description": "x", "amount_minor": 100}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "refund", "description": "x", "amount_minor": -100}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "adjustment", "description": "x", "amount_minor": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"kind": "credit", "description": "too much", "amount_minor": -30_001}),
            StatusCode::CONFLICT,
        ),
    ] {
        let (s, e) = operator(&h, "POST", &lines, Some(&bad)).await;
        assert_eq!(s, status, "{bad}: {e}");
    }

    // Paid in two parts.
    let pay = format!("{path}/payments");
    let (s, part) = operator(
        &h,
        "POST",
        &pay,
        Some(&json!({"amount_minor": 10_000, "reference": "bank-1"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{part}");
    assert_eq!(part["status"], "partially_paid");
    assert_eq!(part["balance_minor"], 20_000);
    let (s, e) = operator(
        &h,
        "POST",
        &pay,
        Some(&json!({"amount_minor": 20_001, "reference": "bank-2"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "more than is owed: {e}");
    let (s, paid) = operator(
        &h,
        "POST",
        &pay,
        Some(&json!({"amount_minor": 20_000, "reference": "bank-2"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{paid}");
    assert_eq!(paid["status"], "paid");
    assert_eq!(
        (
            paid["allocated_minor"].as_i64(),
            paid["balance_minor"].as_i64()
        ),
        (Some(30_000), Some(0))
    );
    let (s, _) = operator(
        &h,
        "POST",
        &lines,
        Some(&json!({"kind": "adjustment", "description": "late", "amount_minor": 100})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a paid invoice takes no more lines"
    );
    let payments: Vec<(i64, String)> = sqlx::query_as("SELECT amount_minor, actor FROM payment_records WHERE invoice_id = $1 ORDER BY created_at, id")
        .bind(id).fetch_all(h.pool()).await.unwrap();
    assert_eq!(
        payments,
        [
            (10_000, "operator:olivia".to_string()),
            (20_000, "operator:olivia".to_string())
        ]
    );
    assert_eq!(
        events_of(&billing_events(&h).await, id),
        [
            "invoice.drafted",
            "invoice.issued",
            "invoice.adjusted",
            "invoice.credited",
            "invoice.partially_paid",
            "invoice.paid"
        ]
    );

    // Services reach only their own orders' invoices: not a manual one.
    let (s, _) = call(&h, SERVICE_TOKEN, "GET", &path, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, listed) = call(&h, SERVICE_TOKEN, "GET", "/v1/invoices", None).await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    assert_eq!(listed["invoices"], json!([]));
    let (s, _) = call(
        &h,
        SERVICE_TOKEN,
        "POST",
        "/v1/invoices",
        Some(&json!({"company_id": "ACME", "lines": []})),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, read) = call(&h, VIEWER_TOKEN, "GET", &path, None).await;
    assert_eq!(s, StatusCode::OK, "{read}");
    assert_eq!(read["number"], number.as_str());
    // A company the directory does not hold gets no invoice.
    let (s, e) = operator(
        &h,
        "POST",
        "/v1/invoices",
        Some(
            &json!({"company_id": "NOPE", "lines": [{"description": "x", "unit_amount_minor": 1}]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "unknown_company");
}

/// 03:00:01 on the day `days` after `from`: just past the daily overdue run.
fn run_time(from: DateTime<Utc>, days: i64) -> DateTime<Utc> {
    (from + Duration::days(days))
        .date_naive()
        .and_time(NaiveTime::from_hms_opt(3, 0, 1).unwrap())
        .and_utc()
}

#[tokio::test]
async fn net_30_invoices_turn_overdue_under_the_daily_cron() {
    let h = hardware().await;
    let (s, c) = operator(
        &h,
        "PATCH",
        "/v1/companies/ACME",
        Some(&json!({"payment_terms_days": 30})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let start = h.t.clock.now();
    // Two net-30 invoices: one is paid in time, one is not.
    let mut ids = Vec::new();
    for _ in 0..2 {
        let inv = draft(&h).await;
        let (s, issued) = operator(
            &h,
            "POST",
            &format!("/v1/invoices/{}/issue", inv["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{issued}");
        let issued_at: DateTime<Utc> = issued["issued_at"].as_str().unwrap().parse().unwrap();
        let due_at: DateTime<Utc> = issued["due_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(due_at - issued_at, Duration::days(30), "net 30");
        ids.push(id(&issued, "id"));
    }
    let (late, on_time) = (ids[0], ids[1]);
    let (s, _) = operator(
        &h,
        "POST",
        &format!("/v1/invoices/{on_time}/payments"),
        Some(&json!({"amount_minor": 35_000, "reference": "wire-9"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    let scheduler = h.t.app.scheduler("node-1").unwrap();
    let overdue_runs = "SELECT count(*) FROM sagas WHERE workflow = 'invoice_overdue'";
    // Day 29: the run finds nothing due yet.
    h.t.clock.set(run_time(start, 29));
    scheduler.tick_once().await.unwrap();
    h.t.run().await;
    assert!(h.count(overdue_runs).await >= 1, "the daily run went");
    let (_, listed) = operator(&h, "GET", "/v1/invoices?overdue=true", None).await;
    assert_eq!(listed["invoices"], json!([]));
    assert_eq!(
        events_of(&billing_events(&h).await, late)
            .iter()
            .filter(|e| **e == "invoice.overdue")
            .count(),
        0
    );

    // Day 31: the unpaid one is overdue, flagged once with invoice.overdue.
    h.t.clock.set(run_time(start, 31));
    scheduler.tick_once().await.unwrap();
    h.t.run().await;
    let (s, listed) = operator(&h, "GET", "/v1/invoices?overdue=true&company=ACME", None).await;
    assert_eq!(s, StatusCode::OK, "{listed}");
    let found: Vec<&str> = listed["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, [late.to_string()]);
    assert_eq!(listed["invoices"][0]["overdue"], true);
    assert!(listed["invoices"][0]["overdue_at"].is_string());
    let (_, not_overdue) =
        operator(&h, "GET", "/v1/invoices?overdue=false&status=paid", None).await;
    let found: Vec<&str> = not_overdue["invoices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(found, [on_time.to_string()]);
    let (s, e) = operator(&h, "GET", "/v1/invoices?status=late", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let overdue_events = |events: Vec<(String, Uuid)>| {
        events
            .into_iter()
            .filter(|(e, _)| e == "invoice.overdue")
            .map(|(_, a)| a)
            .collect::<Vec<_>>()
    };
    assert_eq!(overdue_events(billing_events(&h).await), [late]);
    let payload: Value = sqlx::query_scalar(
        "SELECT payload FROM domain_events WHERE event_type = 'invoice.overdue'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(payload["balance_minor"], 35_000);
    assert_eq!(payload["company_id"], "ACME");

    // The next day's run flags nothing again; paying it leaves the overdue list.
    h.t.clock.set(run_time(start, 32));
    scheduler.tick_once().await.unwrap();
    h.t.run().await;
    assert_eq!(overdue_events(billing_events(&h).await), [late]);
    let (s, _) = operator(
        &h,
        "POST",
        &format!("/v1/invoices/{late}/payments"),
        Some(&json!({"amount_minor": 35_000, "reference": "wire-10"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, listed) = operator(&h, "GET", "/v1/invoices?overdue=true", None).await;
    assert_eq!(listed["invoices"], json!([]));
    let failed = h.count("SELECT count(*) FROM sagas WHERE workflow = 'invoice_overdue' AND status <> 'completed'").await;
    assert_eq!(failed, 0);
}

#[tokio::test]
async fn an_invoice_pdf_reads_back_with_its_number_lines_and_total() {
    let h = hardware().await;
    let inv = draft(&h).await;
    let id = id(&inv, "id");
    let (s, issued) = operator(&h, "POST", &format!("/v1/invoices/{id}/issue"), None).await;
    assert_eq!(s, StatusCode::OK, "{issued}");
    let (s, _) = operator(
        &h,
        "POST",
        &format!("/v1/invoices/{id}/lines"),
        Some(&json!({"kind": "credit", "description": "Loyalty credit", "amount_minor": -2_550})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let number = issued["number"].as_str().unwrap();

    let res = h
        .http
        .get(format!("{}/v1/invoices/{id}.pdf", h.base))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let bytes = res.bytes().await.unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF");
    let doc = lopdf::Document::load_mem(&bytes).expect("a PDF lopdf can read");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    assert_eq!(pages.len(), 1);
    let text = doc.extract_text(&pages).unwrap();
    for want in [
        format!("Invoice {number}"),
        "Acme Sensors Ltd".to_string(),
        "Installation  x2  300.00 USD".to_string(),
        "Site survey  x1  50.00 USD".to_string(),
        "Credit note: Loyalty credit  x1  -25.50 USD".to_string(),
        "Total: 324.50 USD".to_string(),
        "Balance due: 324.50 USD".to_string(),
    ] {
        assert!(text.contains(&want), "{want:?} in {text:?}");
    }

    // Tenancy and ids, as for the JSON.
    let (s, _) = call(
        &h,
        SERVICE_TOKEN,
        "GET",
        &format!("/v1/invoices/{id}.pdf"),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = call(&h, VIEWER_TOKEN, "GET", "/v1/invoices/nope.pdf", None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, _) = call(
        &h,
        VIEWER_TOKEN,
        "GET",
        &format!("/v1/invoices/{}.pdf", Uuid::nil()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failed_or_expired_checkout_is_recovered_by_a_second_one() {
    let h = hardware().await;
    let order = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 2, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    let first = send_checkout(&h, order).await;
    h.t.run().await;
    let first_session = view(&h, order).await["checkout_session"]
        .as_str()
        .unwrap()
        .to_string();
    settle(&h, order, first, "failed").await;
    assert_eq!(h.t.status(first).await, "compensated");
    assert_eq!(view(&h, order).await["payment_status"], "payment_failed");

    // Checkout again: a new saga opens a new session under its own key.
    let second = send_checkout(&h, order).await;
    assert_ne!(second, first);
    h.t.run().await;
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "checkout_sent");
    assert_eq!(v["saga_id"], second.to_string());
    let second_session = v["checkout_session"].as_str().unwrap().to_string();
    assert_ne!(second_session, first_session);
    let checkouts = v["checkouts"].as_array().unwrap();
    assert_eq!(checkouts.len(), 2, "{v}");
    assert_eq!(checkouts[0]["saga_id"], first.to_string());
    assert_eq!(checkouts[0]["session_id"], first_session.as_str());
    assert_eq!(checkouts[0]["outcome"], "payment_failed");
    assert_eq!(checkouts[1]["saga_id"], second.to_string());
    assert_eq!(checkouts[1]["session_id"], second_session.as_str());
    assert!(checkouts[1]["outcome"].is_null());
    let stats = h.sim.stats();
    assert_eq!(
        stats.deliveries("payments.create_session", &format!("{first}:checkout")),
        1
    );
    assert_eq!(
        stats.deliveries("payments.create_session", &format!("{second}:checkout")),
        1
    );
    let key: Option<String> = sqlx::query_scalar("SELECT idempotency_key FROM sagas WHERE id = $1")
        .bind(second)
        .fetch_one(h.pool())
        .await
        .unwrap();
    assert_eq!(
        key.as_deref(),
        Some(format!("hardware_order:{order}:checkout-2").as_str())
    );
    // While it is open, no third checkout.
    let (s, e) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");

    // Paid this time: the order goes on to its invoice.
    pay(&h, order, second).await;
    let v = view(&h, order).await;
    assert_eq!(v["payment_status"], "paid");
    assert_eq!(v["invoice_status"], "paid");
    let (s, e) = h
        .post_json(
            &format!("/v1/orders/{order}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a paid order is not checked out again: {e}"
    );
    let kinds = events(&h, order).await;
    let sent = kinds.iter().filter(|e| *e == "order.checkout_sent").count();
    assert_eq!(sent, 2, "{kinds:?}");
    assert!(kinds.contains(&"order.payment_failed".to_string()));

    // An expired checkout is recovered the same way.
    let other = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    let expired = send_checkout(&h, other).await;
    h.t.run().await;
    h.t.advance(std::time::Duration::from_secs(66 * 60));
    h.t.run().await;
    assert_eq!(h.t.status(expired).await, "compensated");
    assert_eq!(view(&h, other).await["payment_status"], "checkout_expired");
    let again = send_checkout(&h, other).await;
    h.t.run().await;
    pay(&h, other, again).await;
    let v = view(&h, other).await;
    assert_eq!(v["payment_status"], "paid");
    assert_eq!(v["checkouts"][0]["outcome"], "checkout_expired");
    // Another service cannot recover someone else's order.
    let (s, _) = call(
        &h,
        crate::support::OTHER_SERVICE_TOKEN,
        "POST",
        &format!("/v1/orders/{order}/send-checkout"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
