//! The console's hardware screens without a browser, against a real order driven through the
//! provider simulator: the order list and page (lines with price provenance, checkout and
//! payment, the invoice, two shipments with their items, exhausted automation steps and the
//! merged timeline), the company, invoice and job-run pages, the PDF behind the session, and
//! the retry and fallback forms: operators only, CSRF-checked, audited, bad input refused
//! with nothing changed.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use reqwest::StatusCode as Http;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ops_console::{get, login, send};
use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OPERATOR_TOKEN, VIEWER_TOKEN};
use sagaflow::simulator::Fault;

/// A paid order of two SENSOR-T1 sent as two shipments of one each, both delivered, whose
/// two automation steps used up their attempts (the bridge answers 503): the saga is parked.
pub(crate) struct Parked {
    pub order: Uuid,
    pub saga: Uuid,
    pub code: String,
    pub steps: [Uuid; 2],
    pub tracking: [String; 2],
}

async fn next_signal(h: &Harness, saga: Uuid, before: i64) {
    signals(h, saga, before + 1).await;
    h.t.run().await;
}

async fn signal_total(h: &Harness, saga: Uuid) -> i64 {
    h.count(&format!(
        "SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"
    ))
    .await
}

pub(crate) async fn two_part_parked(h: &Harness) -> Parked {
    h.sim
        .set_fault(
            "bridge.run_automation",
            Some(Fault {
                status: Some(503),
                ..Default::default()
            }),
        )
        .unwrap();
    let mut body = order_body(&[("SENSOR-T1", 2, "sensor_vendor_replacement")]);
    body["initial_shipment"] = json!([{"sku": "SENSOR-T1", "quantity": 1}]);
    let created = create(h, &body).await;
    let order = id(&created, "id");
    let code = created["order_code"].as_str().unwrap().to_string();
    let saga = send_checkout(h, order).await;
    h.t.run().await;
    pay(h, order, saga).await;
    let first = tracking(&shipments(h, order).await[0]);
    courier(h, saga, &first, "delivered").await;
    assert_eq!(
        h.t.status(saga).await,
        "waiting",
        "one item is still to ship"
    );

    let fulfillment = view(h, order).await["fulfillment_id"]
        .as_str()
        .unwrap()
        .to_string();
    let before = signal_total(h, saga).await;
    let (s, b) = operator_post(
        h,
        &format!("/v1/fulfillments/{fulfillment}/shipments"),
        &json!({"items": [{"sku": "SENSOR-T1", "quantity": 1}]}),
    )
    .await;
    assert_eq!(s, Http::CREATED, "{b}");
    next_signal(h, saga, before).await;
    let both = shipments(h, order).await;
    assert_eq!(both.len(), 2);
    let second = tracking(&both[1]);
    courier(h, saga, &second, "delivered").await;
    // Three attempts each, ten minutes apart, then the saga parks for an operator.
    for _ in 0..2 {
        h.t.advance(Duration::from_secs(10 * 60));
        h.t.run().await;
    }
    assert_eq!(h.t.status(saga).await, "parked");
    let steps = view(h, order).await["automation_steps"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps.iter().all(|s| s["status"] == "failed"), "{steps:?}");
    let step = |i: usize| steps[i]["id"].as_str().unwrap().parse().unwrap();
    Parked {
        order,
        saga,
        code,
        steps: [step(0), step(1)],
        tracking: [first, second],
    }
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap()
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_string()
}

async fn page(h: &Harness, path: &str, cookie: &str) -> String {
    let (s, _, html) = send(&h.t, get(path, cookie)).await;
    assert_eq!(s, StatusCode::OK, "{path}: {html}");
    html
}

async fn step_row(h: &Harness, step: Uuid) -> Value {
    let row: (String, Option<String>) =
        sqlx::query_as("SELECT status, fallback_note FROM automation_steps WHERE id = $1")
            .bind(step)
            .fetch_one(h.pool())
            .await
            .unwrap();
    json!({"status": row.0, "fallback_note": row.1})
}

#[tokio::test]
async fn an_order_page_shows_lines_payment_shipments_steps_and_timeline() {
    let h = hardware_exhausting_automation().await;
    let p = two_part_parked(&h).await;
    let cookie = login(&h.t, VIEWER_TOKEN).await;

    // The list: business key first, filters by status and company, refuses an unknown status.
    let list = page(&h, "/ui/orders", &cookie).await;
    assert!(list.contains(&p.code), "{list}");
    assert!(list.contains("2 steps failed"), "a parked order says why");
    let paid = page(&h, "/ui/orders?status=paid&company=ACME", &cookie).await;
    assert!(paid.contains(&p.code));
    let none = page(&h, "/ui/orders?status=draft", &cookie).await;
    assert!(!none.contains(&p.code), "a draft filter hides a paid order");
    let (s, _, html) = send(&h.t, get("/ui/orders?status=shipped-ish", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("There is no order status"), "{html}");

    let html = page(&h, &format!("/ui/orders/{}", p.order), &cookie).await;
    assert!(html.contains(&format!("<h1>{}", p.code)));
    // Price provenance: the default book's SKU comes from the regional or global book.
    assert!(
        html.contains("Regional price book") || html.contains("Global price book"),
        "{html}"
    );
    assert!(html.contains("Shipment 1 of 2") && html.contains("Shipment 2 of 2"));
    for t in &p.tracking {
        assert!(html.contains(t.as_str()), "tracking {t} shown");
    }
    assert!(html.contains("attempts spent; needs an operator"));
    assert!(html.contains("3 of 3"), "attempts shown");
    assert!(html.contains("automation.attempt_failed"), "attempt log");
    // The merged timeline: courier, domain and saga lines.
    for source in ["src-courier", "src-domain", "src-saga"] {
        assert!(html.contains(source), "timeline has {source}");
    }
    assert!(html.contains("Checkout sessions") && html.contains("payment"));
    // A viewer sees no action.
    assert!(!html.contains("/retry\"") && !html.contains("/fallback\""));
    assert!(!html.contains("Record fallback"));

    // Job runs link to their record's console page, which opens the order there.
    let queues = page(&h, "/ui/queues", &cookie).await;
    assert!(queues.contains("Average wait") && queues.contains("automation"));
    let run = page(&h, &format!("/ui/job-runs/{}/automate", p.saga), &cookie).await;
    assert!(
        run.contains("attempt") && run.contains("Last error"),
        "{run}"
    );
    assert!(run.contains("/ui/automation-steps/"), "{run}");
    let (s, h2, _) = send(
        &h.t,
        get(&format!("/ui/automation-steps/{}", p.steps[0]), &cookie),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        h2[header::LOCATION],
        format!("/ui/orders/{}#step-{}", p.order, p.steps[0]).as_str()
    );
    let (s, _, _) = send(&h.t, get(&format!("/ui/job-runs/{}/nope", p.saga), &cookie)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&h.t, get(&format!("/ui/orders/{}", Uuid::nil()), &cookie)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(&h.t, get("/ui/orders/not-an-id", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Pages need a session.
    let (s, _, _) = send(
        &h.t,
        Request::get(format!("/ui/orders/{}", p.order))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "to the login form");
}

#[tokio::test]
async fn viewers_cannot_post_and_operators_retry_and_fall_back_audited() {
    let h = hardware_exhausting_automation().await;
    let p = two_part_parked(&h).await;
    let viewer = login(&h.t, VIEWER_TOKEN).await;
    let operator = login(&h.t, OPERATOR_TOKEN).await;
    let order_path = format!("/ui/orders/{}", p.order);
    let retry = format!("/ui/automation-steps/{}/retry", p.steps[0]);
    let fallback = format!("/ui/automation-steps/{}/fallback", p.steps[1]);

    // A viewer's post is refused even with its own CSRF token; nothing changes.
    let vt = csrf(&page(&h, &order_path, &viewer).await);
    let (s, _, _) = send(
        &h.t,
        post(&retry, &viewer, &[("csrf", &vt), ("reason", "try")]),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = send(
        &h.t,
        post(&fallback, &viewer, &[("csrf", &vt), ("note", "by hand")]),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(step_row(&h, p.steps[0]).await["status"], "failed");
    assert_eq!(step_row(&h, p.steps[1]).await["status"], "failed");

    // The operator's page has both forms; a post without the session's token is refused.
    let html = page(&h, &order_path, &operator).await;
    assert!(html.contains(&retry) && html.contains(&fallback));
    let ot = csrf(&html);
    let (s, _, _) = send(
        &h.t,
        post(
            &retry,
            &operator,
            &[("csrf", &"0".repeat(64)), ("reason", "x")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A fallback without a note says so and changes nothing.
    let (s, hd, _) = send(
        &h.t,
        post(&fallback, &operator, &[("csrf", &ot), ("note", "  ")]),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let back = page(&h, hd[header::LOCATION].to_str().unwrap(), &operator).await;
    assert!(back.contains("Not done: give a note"), "{back}");
    assert_eq!(step_row(&h, p.steps[1]).await["status"], "failed");
    // An unknown step is 404.
    let (s, _, _) = send(
        &h.t,
        post(
            &format!("/ui/automation-steps/{}/retry", Uuid::nil()),
            &operator,
            &[("csrf", &ot), ("reason", "x")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The bridge is back: retry the first; the second still failed, so the saga parks again.
    h.sim.set_fault("bridge.run_automation", None).unwrap();
    let (s, hd, _) = send(
        &h.t,
        post(
            &retry,
            &operator,
            &[("csrf", &ot), ("reason", "bridge fixed")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let back = page(&h, hd[header::LOCATION].to_str().unwrap(), &operator).await;
    assert!(back.contains("Retry queued"), "{back}");
    h.t.run().await;
    assert_eq!(step_row(&h, p.steps[0]).await["status"], "succeeded");
    assert_eq!(h.t.status(p.saga).await, "parked");
    // A succeeded step has no more buttons, and a late retry is refused with its state.
    let (_, hd, _) = send(
        &h.t,
        post(&retry, &operator, &[("csrf", &ot), ("reason", "again")]),
    )
    .await;
    let back = page(&h, hd[header::LOCATION].to_str().unwrap(), &operator).await;
    assert!(back.contains("Not done:"), "{back}");

    // The second: the operator's fallback with a note; the order completes.
    let note = "registered by hand, ticket OPS-7";
    let (s, _, _) = send(
        &h.t,
        post(&fallback, &operator, &[("csrf", &ot), ("note", note)]),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    h.t.run().await;
    assert_eq!(h.t.status(p.saga).await, "completed");
    assert_eq!(step_row(&h, p.steps[1]).await["fallback_note"], note);
    let html = page(&h, &order_path, &operator).await;
    assert!(html.contains(note));
    assert!(!html.contains("Record fallback"), "nothing left to resolve");
    let audit = h
        .count(&format!(
            "SELECT count(*) FROM operator_actions WHERE saga_id = '{}'",
            p.saga
        ))
        .await;
    assert_eq!(
        audit, 2,
        "the retry and the fallback each retried the saga, audited"
    );
}

#[tokio::test]
async fn company_and_invoice_pages_with_the_pdf_behind_the_session() {
    let h = hardware().await;
    let (order, saga) = paid_order(&h, &[("SENSOR-T1", 1, "sensor_vendor_replacement")]).await;
    let t = tracking(&shipments(&h, order).await[0]);
    courier(&h, saga, &t, "delivered").await;
    assert_eq!(h.t.status(saga).await, "completed");
    let v = view(&h, order).await;
    let invoice = v["invoice_id"].as_str().unwrap().to_string();
    let number = v["invoice_number"].as_str().unwrap().to_string();
    // A manual invoice, issued and now past due: the list marks it overdue in words.
    let (s, m) = operator_post(
        &h,
        "/v1/invoices",
        &json!({"company_id": "ACME", "lines": [{"description": "Site survey", "quantity": 1, "unit_amount_minor": 50000}]}),
    )
    .await;
    assert_eq!(s, Http::CREATED, "{m}");
    let manual = m["id"].as_str().unwrap().to_string();
    let (s, b) = operator_post(&h, &format!("/v1/invoices/{manual}/issue"), &json!({})).await;
    assert_eq!(s, Http::OK, "{b}");
    let (s, b) = operator_post(
        &h,
        &format!("/v1/invoices/{manual}/lines"),
        &json!({"kind": "credit", "description": "Goodwill", "amount_minor": -5000}),
    )
    .await;
    assert!(s.is_success(), "{b}");
    h.t.advance(Duration::from_secs(60 * 86_400));

    let cookie = login(&h.t, VIEWER_TOKEN).await;
    let companies = page(&h, "/ui/companies?q=acm", &cookie).await;
    assert!(companies.contains("/ui/companies/ACME"), "{companies}");
    let company = page(&h, "/ui/companies/ACME", &cookie).await;
    assert!(company.contains("Ada"), "the primary billing contact");
    assert!(company.contains("★ primary"));
    assert!(company.contains("★ default shipping") && company.contains("★ default billing"));
    assert!(company.contains(&format!("/ui/orders/{order}")));
    assert!(company.contains(&number));
    let (s, _, _) = send(&h.t, get("/ui/companies/NOPE", &cookie)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let overdue = page(&h, "/ui/invoices?overdue=yes", &cookie).await;
    assert!(
        overdue.contains(&format!("/ui/invoices/{manual}")),
        "{overdue}"
    );
    assert!(overdue.contains("class=\"overdue-mark\">▲ overdue"));
    assert!(
        !overdue.contains(&format!("/ui/invoices/{invoice}")),
        "a paid invoice is not overdue"
    );
    let paid = page(&h, "/ui/invoices?status=paid&company=ACME", &cookie).await;
    assert!(paid.contains(&number) && !paid.contains("overdue-mark"));
    let (s, _, html) = send(&h.t, get("/ui/invoices?overdue=maybe", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(html.contains("Overdue is yes, no or blank"));

    let detail = page(&h, &format!("/ui/invoices/{manual}"), &cookie).await;
    assert!(detail.contains("▲ Overdue"));
    assert!(detail.contains("Site survey") && detail.contains("Goodwill"));
    assert!(detail.contains("credit note"));
    assert!(
        detail.contains("450.00 USD"),
        "the balance follows the credit: {detail}"
    );
    let paid_detail = page(&h, &format!("/ui/invoices/{invoice}"), &cookie).await;
    assert!(paid_detail.contains("Allocated here") && paid_detail.contains("payment"));
    assert!(paid_detail.contains("0.00 USD"), "nothing left to pay");

    let (s, hd, _) = send(&h.t, get(&format!("/ui/invoices/{invoice}/pdf"), &cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(hd[header::CONTENT_TYPE], "application/pdf");
    let (s, _, _) = send(
        &h.t,
        Request::get(format!("/ui/invoices/{invoice}/pdf"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "no session, no PDF");
    let (s, _, _) = send(
        &h.t,
        get(&format!("/ui/invoices/{}/pdf", Uuid::nil()), &cookie),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
