//! The console's search box and short ids, over HTTP with a console session: data-bundle,
//! partner and hardware orders placed through their own APIs (the hardware one paid, shipped
//! and invoiced through the simulator) are each found by the key an operator would hold, and
//! sagas made together show different short ids with the whole id in the title.

use axum::http::{StatusCode, header};
use reqwest::StatusCode as HttpStatus;
use serde_json::json;
use uuid::Uuid;

use crate::ops_console::{get, login, send};
use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::{OPERATOR_TOKEN, VIEWER_TOKEN};

/// Places a data bundle for `phone`; returns its order code and saga.
async fn bundle(h: &Harness, user: Uuid, key: &str, phone: &str) -> (String, Uuid) {
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", key)],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": phone }),
        )
        .await;
    assert_eq!(s, HttpStatus::ACCEPTED, "{b}");
    (
        b["order_code"].as_str().unwrap().to_string(),
        id(&b, "saga_id"),
    )
}

/// Places a partner order for `phone` through the partner API; returns its saga.
async fn partner_order(h: &Harness, order_id: &str, phone: &str) -> Uuid {
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/partner/fulfilment",
            &[
                ("authorization", "Bearer sim_partner_api_key"),
                ("idempotency-key", order_id),
            ],
            Some(
                serde_json::to_vec(&json!({
                    "orderId": order_id, "productId": "OFFICE-PRO", "customerId": "CUST-9",
                    "customerName": "Ama Mensah", "customerEmail": "ama@example.com",
                    "customerPhone": phone, "tenure": "12_MONTHS",
                }))
                .unwrap(),
            ),
        )
        .await;
    assert_eq!(s, HttpStatus::ACCEPTED, "{b}");
    sqlx::query_scalar("SELECT saga_id FROM partner_orders WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(h.pool())
        .await
        .unwrap()
}

fn tail(id: Uuid) -> String {
    let s = id.simple().to_string();
    s[24..].to_string()
}

fn find(q: &str, cookie: &str) -> axum::http::Request<axum::body::Body> {
    get(
        &format!(
            "/ui/search?{}",
            serde_urlencoded::to_string([("q", q)]).unwrap()
        ),
        cookie,
    )
}

#[tokio::test]
async fn one_box_finds_each_kind_of_key_and_refuses_bad_input() {
    let h = hardware().await;
    let user = h.funded(100.0).await;
    // One customer's number, typed two ways, on a bundle and a partner order; another number
    // on a second bundle.
    let (shared_code, shared_bundle) = bundle(&h, user, "k1", "024 123 4567").await;
    let (code, lone_bundle) = bundle(&h, user, "k2", "0551234567").await;
    let partner = partner_order(&h, "T2M-CONSOLE-7", "+233241234567").await;
    let (order, hw_saga) = paid_order(&h, &[("SENSOR-T1", 1, "sensor_vendor_first_time")]).await;
    let v = view(&h, order).await;
    let hw_code = v["order_code"].as_str().unwrap().to_string();
    let invoice = v["invoice_number"].as_str().expect("issued").to_string();
    let parcel = tracking(&shipments(&h, order).await[0]);

    let viewer = login(&h.t, VIEWER_TOKEN).await;
    let one_hit: Vec<(String, Uuid)> = vec![
        (code.clone(), lone_bundle),
        (code.to_lowercase(), lone_bundle),
        ("0551234567".into(), lone_bundle),
        ("+233 55 123 4567".into(), lone_bundle),
        ("233551234567".into(), lone_bundle),
        ("055-123-4567".into(), lone_bundle),
        ("T2M-CONSOLE-7".into(), partner),
        (hw_code.clone(), hw_saga),
        (invoice.clone(), hw_saga),
        (parcel.clone(), hw_saga),
        (shared_bundle.to_string(), shared_bundle),
        (tail(shared_bundle), shared_bundle),
        (format!("…{}", tail(partner).to_uppercase()), partner),
    ];
    for (q, saga) in &one_hit {
        let (s, headers, body) = send(&h.t, find(q, &viewer)).await;
        assert_eq!(s, StatusCode::SEE_OTHER, "{q}: {body}");
        assert_eq!(
            headers[header::LOCATION],
            format!("/ui/sagas/{saga}").as_str(),
            "{q}"
        );
    }

    // A number on two orders lists both, matched on the phone, each linking to its saga.
    for q in ["0241234567", "+233 24 123 4567"] {
        let (s, _, html) = send(&h.t, find(q, &viewer)).await;
        assert_eq!(s, StatusCode::OK, "{q}");
        assert!(html.contains("2 sagas match"), "{html}");
        for saga in [shared_bundle, partner] {
            assert!(html.contains(&format!("href=\"/ui/sagas/{saga}\"")), "{q}");
            assert!(html.contains(&format!("title=\"{saga}\">…{}", tail(saga))));
        }
        assert!(html.contains(&shared_code), "the order code leads the row");
        assert!(html.contains("<td>phone</td>"));
    }

    // The sagas page's own filter box finds a bundle by its number too.
    let (s, _, html) = send(&h.t, get("/ui/sagas?q=%2B233551234567", &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        html.contains(&format!("href=\"/ui/sagas/{lone_bundle}\"")),
        "{html}"
    );
    assert!(!html.contains(&format!("href=\"/ui/sagas/{shared_bundle}\"")));

    // An operator finds the same; nothing found is said so, without an error page.
    let op = login(&h.t, OPERATOR_TOKEN).await;
    let (s, headers, _) = send(&h.t, find(&invoice, &op)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(
        headers[header::LOCATION],
        format!("/ui/sagas/{hw_saga}").as_str()
    );
    let (s, _, html) = send(&h.t, find("DB-NOSUCH00", &op)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("No saga matches"), "{html}");

    // Empty, absurdly long and control characters: a message on the page, not an error page.
    let (s, _, html) = send(&h.t, find("   ", &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Type an order code"), "{html}");
    for bad in ["x".repeat(5000), "DB-\u{0}1".to_string()] {
        let (s, _, html) = send(&h.t, find(&bad, &viewer)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert!(html.contains("role=\"status\""), "{html}");
        assert!(html.contains("<form method=\"get\" action=\"/ui/search\""));
    }
    let (s, _, _) = send(&h.t, get("/ui/search", &viewer)).await;
    assert_eq!(s, StatusCode::OK, "no q at all is the empty search");

    // No session, no search.
    let (s, headers, _) = send(
        &h.t,
        axum::http::Request::get("/ui/search?q=T2M-CONSOLE-7")
            .body(axum::body::Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/ui/login");
}

#[tokio::test]
async fn sagas_made_together_show_different_short_ids_after_their_key() {
    let h = hardware().await;
    let user = h.funded(100.0).await;
    let (code_a, a) = bundle(&h, user, "a", "0241234567").await;
    let (code_b, b) = bundle(&h, user, "b", "0241234568").await;
    assert_ne!(tail(a), tail(b));

    let viewer = login(&h.t, VIEWER_TOKEN).await;
    let (s, _, html) = send(&h.t, get("/ui/sagas", &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    for (code, saga) in [(&code_a, a), (&code_b, b)] {
        let shown = format!("<code title=\"{saga}\">…{}</code>", tail(saga));
        let at = html
            .find(&shown)
            .unwrap_or_else(|| panic!("{shown} in {html}"));
        let key = html.find(code.as_str()).expect("the order code is listed");
        assert!(key < at, "the order code comes before the id in its row");
        // The timestamp head that every saga of the minute shares is not what is shown.
        let head = &saga.to_string()[..8];
        assert!(!html.contains(&format!("…{head}<")));
        assert!(!html.contains(&format!(">{head}<")));
    }

    // The detail page is titled by the order code, with the tail and the whole id to copy.
    let (s, _, html) = send(&h.t, get(&format!("/ui/sagas/{a}"), &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(&format!("<title>{code_a} · saga …{}", tail(a))));
    assert!(html.contains(&format!("<h1>{code_a} <small>")));
    assert!(html.contains(&format!("<code id=\"saga-id\">{a}</code>")));
    assert!(html.contains(&format!("data-copy=\"{a}\"")));
}
