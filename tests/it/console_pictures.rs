//! The console's pictures without a browser: the saga picture (page and fragment) for a
//! compensated and a waiting saga, the overview chart's counts and its window, and the partner
//! order pages with a refused webhook that only an operator, with a reason, can replay.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::ops_console::{get, login, send};
use crate::support::orders::{Harness, harness};
use crate::support::*;

fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form.to_string()))
        .unwrap()
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..at + 64].to_string()
}

/// `(kind, state)` of every node the picture draws, in order.
pub(crate) fn nodes(html: &str) -> Vec<(String, String)> {
    html.match_indices("<g class=\"node node-")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            let kind = rest.split(' ').next().unwrap().to_string();
            let state = rest
                .split("data-state=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            (kind, state)
        })
        .collect()
}

/// The sum of the chart's bars of one series.
pub(crate) fn series_total(html: &str, series: &str) -> i64 {
    let marker = format!("data-series=\"{series}\" data-value=\"");
    html.match_indices(&marker)
        .map(|(at, m)| {
            html[at + m.len()..]
                .split('"')
                .next()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        })
        .sum()
}

#[tokio::test]
async fn a_compensated_saga_is_drawn_with_its_undone_and_failed_steps() {
    let t = app().await;
    let failed = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "fail": "permanent" } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(failed).await, "compensated");
    let viewer = login(&t, VIEWER_TOKEN).await;

    let (s, _, page) = send(&t, get(&format!("/ui/sagas/{failed}"), &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    // reserve and charge were done then undone; deliver failed; notify was never reached.
    let want: Vec<(String, String)> = [
        ("step", "compensated"),
        ("undo", "compensated"),
        ("step", "compensated"),
        ("undo", "compensated"),
        ("step", "failed"),
        ("step", "not-reached"),
    ]
    .iter()
    .map(|(k, s)| (k.to_string(), s.to_string()))
    .collect();
    assert_eq!(nodes(&page), want);
    assert!(page.contains(
        "<title id=\"picture-title\">sample v2: 4 steps, the saga is compensated</title>"
    ));
    assert!(
        page.contains("Step 3 deliver is failed."),
        "the desc says it in words"
    );
    assert!(page.contains("↺ compensated") && page.contains("✗ failed"));
    assert!(
        !page.contains("id=\"picture-refresh\""),
        "a finished saga's picture does not refresh"
    );
    // The picture comes before the timeline.
    assert!(page.find("saga-graph").unwrap() < page.find("<h2>Timeline</h2>").unwrap());

    let (s, _, fragment) = send(&t, get(&format!("/ui/sagas/{failed}/picture"), &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(fragment.starts_with("<div class=\"picture-body\" data-live=\"false\">"));
    assert_eq!(nodes(&fragment), want);

    let (s, _, _) = send(&t, get("/ui/sagas/not-a-uuid/picture", &viewer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = send(
        &t,
        get(
            &format!("/ui/sagas/{}/picture", uuid::Uuid::now_v7()),
            &viewer,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = send(
        &t,
        Request::get(format!("/ui/sagas/{failed}/picture"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER, "the fragment needs a session");
}

#[tokio::test]
async fn a_waiting_saga_names_its_signal_and_refreshes() {
    let t = app().await;
    let waiting = t
        .start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    t.run().await;
    assert_eq!(t.status(waiting).await, "waiting");
    let viewer = login(&t, VIEWER_TOKEN).await;
    let (_, _, page) = send(&t, get(&format!("/ui/sagas/{waiting}"), &viewer)).await;
    let states: Vec<String> = nodes(&page).into_iter().map(|n| n.1).collect();
    assert_eq!(
        states,
        [
            "done",
            "not-reached",
            "done",
            "not-reached",
            "waiting",
            "not-reached"
        ]
    );
    assert!(
        page.contains("id=\"picture-refresh\""),
        "a live saga's picture refreshes"
    );
    assert!(page.contains("data-src=\"/ui/sagas/"));
    let (_, _, fragment) = send(&t, get(&format!("/ui/sagas/{waiting}/picture"), &viewer)).await;
    assert!(fragment.contains("data-live=\"true\""));
    assert!(
        fragment.contains("for sample.delivered until 2026-03-01 09:10:00 UTC"),
        "{fragment}"
    );

    // Delivered: the fragment the page polls now shows every step done, and stops.
    let (s, _) = t.signal(waiting, "sample.delivered", "k1", json!({})).await;
    assert!(s.is_success());
    t.run().await;
    let (_, _, fragment) = send(&t, get(&format!("/ui/sagas/{waiting}/picture"), &viewer)).await;
    assert!(fragment.contains("data-live=\"false\""));
    let steps: Vec<String> = nodes(&fragment)
        .into_iter()
        .filter(|n| n.0 == "step")
        .map(|n| n.1)
        .collect();
    assert_eq!(steps, ["done"; 4]);
}

#[tokio::test]
async fn the_overview_chart_counts_the_sagas_of_its_window() {
    let t = app().await;
    for _ in 0..3 {
        t.start("sample", json!({})).await;
    }
    t.start(
        "sample",
        json!({ "steps": { "deliver": { "fail": "permanent" } } }),
    )
    .await;
    t.run().await;
    let viewer = login(&t, VIEWER_TOKEN).await;
    for window in ["1h", "24h", "7d"] {
        let (s, _, page) = send(&t, get(&format!("/ui?window={window}"), &viewer)).await;
        assert_eq!(s, StatusCode::OK, "{window}");
        assert_eq!(series_total(&page, "started"), 4, "{window}");
        assert_eq!(series_total(&page, "completed"), 3, "{window}");
        assert_eq!(series_total(&page, "compensated"), 1, "{window}");
        assert!(page.contains(&format!("data-window=\"{window}\"")));
        assert!(page.contains("4 started, 3 completed and 1 compensated"));
        // The cards are still there.
        assert!(page.contains("Completed today"));
    }
    let (_, _, page) = send(&t, get("/ui", &viewer)).await;
    assert!(page.contains("data-window=\"24h\""), "24 hours by default");
    // An hour on, the 1 h window is empty and the 24 h one still counts them.
    t.advance(mins(70));
    // The session has idled out meanwhile.
    let viewer = login(&t, VIEWER_TOKEN).await;
    let (_, _, page) = send(&t, get("/ui?window=1h", &viewer)).await;
    assert_eq!(series_total(&page, "started"), 0);
    assert!(
        page.contains("No sagas started or finished in the last hour."),
        "{}",
        &page[page.find("chart-numbers").unwrap()..]
    );
    let (_, _, page) = send(&t, get("/ui?window=24h", &viewer)).await;
    assert_eq!(series_total(&page, "started"), 4);

    let (s, _, page) = send(&t, get("/ui?window=3d", &viewer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        page.contains("unknown window &quot;3d&quot;: choose 1h, 24h or 7d")
            || page.contains("unknown window &#34;3d&#34;"),
        "{page}"
    );
}

/// A partner receiver that refuses the first `refusals` deliveries with a 422 and a JSON
/// message, then accepts.
async fn receiver(refusals: usize) -> (String, Arc<AtomicUsize>) {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let count = count.clone();
            async move {
                if count.fetch_add(1, Ordering::SeqCst) < refusals {
                    (
                        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                        axum::Json(json!({ "message": "order T2M-PIC is not known here yet" })),
                    )
                } else {
                    (
                        axum::http::StatusCode::OK,
                        axum::Json(json!({ "ok": true })),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks"), seen)
}

/// A fulfilled partner order whose ORDER_FULFILLED webhook the receiver refused once.
pub(crate) async fn refused_partner_order() -> (Harness, uuid::Uuid, i64, Arc<AtomicUsize>) {
    let (url, seen) = receiver(1).await;
    let h = harness(move |s, _| {
        if let Some(p) = s.providers.partner_webhooks.partners.get_mut("t2mobile") {
            p.url = url;
        }
    })
    .await;
    let body = json!({
        "orderId": "T2M-PIC",
        "productId": "OFFICE-PRO",
        "customerId": "CUST-9",
        "customerName": "Ama Mensah",
        "customerEmail": "ama@example.com",
        "customerPhone": "+233241234567",
        "tenure": "12_MONTHS",
    });
    let (s, _, b) = h
        .request(
            reqwest::Method::POST,
            "/v1/partner/fulfilment",
            &[
                ("authorization", "Bearer sim_partner_api_key"),
                ("idempotency-key", "pic-1"),
            ],
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{b}");
    h.t.run().await;
    let relay = h.t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
    let order =
        h.t.app
            .store()
            .partner_order_by_ref("T2MOBILE001", "T2M-PIC")
            .await
            .unwrap()
            .unwrap();
    assert_eq!(order.status, "FULFILLED");
    let (outbox_id, status): (i64, String) = sqlx::query_as(
        "SELECT id, status FROM outbox WHERE saga_id = $1 AND topic = 'partner_webhook'",
    )
    .bind(order.saga_id)
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(status, "dead", "a 422 is not retried");
    (h, order.id, outbox_id, seen)
}

#[tokio::test]
async fn a_partner_order_shows_its_licence_and_webhooks_and_an_operator_replays_one() {
    let (h, order, outbox_id, seen) = refused_partner_order().await;
    let t = &h.t;
    let viewer = login(t, VIEWER_TOKEN).await;

    let (s, _, list) = send(t, get("/ui/partner/orders", &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains(&format!("href=\"/ui/partner/orders/{order}\">T2M-PIC</a>")));
    let licence = t
        .app
        .store()
        .licence_for_order(order)
        .await
        .unwrap()
        .unwrap();
    assert!(
        list.contains(&licence.expires_on.to_string()),
        "the licence's expiry"
    );
    let (_, _, failed_only) = send(t, get("/ui/partner/orders?status=FAILED", &viewer)).await;
    assert!(failed_only.contains("No partner orders match."));
    let (s, _, bad) = send(t, get("/ui/partner/orders?status=LOST", &viewer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(bad.contains("unknown status"));
    let (s, _, _) = send(t, get("/ui/partner/orders?cursor=zz", &viewer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        !list.contains("Partner API requests"),
        "the request log is for operators"
    );

    let path = format!("/ui/partner/orders/{order}");
    let (s, _, page) = send(t, get(&path, &viewer)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(page.contains(&licence.activation_reference));
    assert!(page.contains(&format!("{} (in ", licence.expires_on)));
    assert!(page.contains("ORDER_FULFILLED"));
    assert!(
        page.contains("<td class=\"status-code\">422</td>"),
        "{page}"
    );
    assert!(
        page.contains("order T2M-PIC is not known here yet"),
        "the receiver's answer"
    );
    assert!(
        !page.contains("ama@example.com") && !page.contains("241234567"),
        "personal data is masked"
    );
    assert!(
        !page.contains("data-action=\"replay\""),
        "a viewer sees no replay button"
    );
    // A viewer's own form token does not make it an operator.
    let replay = format!("/ui/partner/orders/{order}/webhooks/{outbox_id}/replay");
    let (s, _, _) = send(
        t,
        post(&replay, &viewer, &format!("csrf={}&reason=x", csrf(&page))),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, _, _) = send(t, get("/ui/partner/orders/nope", &viewer)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = send(
        t,
        get(
            &format!("/ui/partner/orders/{}", uuid::Uuid::now_v7()),
            &viewer,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let operator = login(t, OPERATOR_TOKEN).await;
    // The partner's fulfilment request, as logged: its account, masked key and answer.
    let (s, _, list) = send(t, get("/ui/partner/orders", &operator)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(list.contains("Partner API requests"), "{list}");
    assert!(list.contains("POST /v1/partner/fulfilment"), "{list}");
    assert!(
        list.contains("<td class=\"status-code\">202</td>"),
        "{list}"
    );
    assert!(
        list.contains("T2MOBILE001") && list.contains("sim_****"),
        "{list}"
    );
    assert!(
        !list.contains("sim_partner_api_key"),
        "the key is never shown"
    );
    let (_, _, page) = send(t, get(&path, &operator)).await;
    assert!(page.contains("data-action=\"replay\""));
    let token = csrf(&page);
    let (s, _, _) = send(t, post(&replay, &operator, "csrf=wrong&reason=again")).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a stale form is refused");
    let (s, _, body) = send(
        t,
        post(&replay, &operator, &format!("csrf={token}&reason=++")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(body.contains("give a reason"));
    let other = format!(
        "/ui/partner/orders/{order}/webhooks/{}/replay",
        outbox_id + 1000
    );
    let (s, _, _) = send(
        t,
        post(&other, &operator, &format!("csrf={token}&reason=again")),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not this order's webhook");
    assert_eq!(
        h.count(&format!(
            "SELECT count(*) FROM outbox WHERE id = {outbox_id} AND status = 'dead'"
        ))
        .await,
        1,
        "refused replays changed nothing"
    );

    let (s, headers, _) = send(
        t,
        post(
            &replay,
            &operator,
            &format!("csrf={token}&reason=partner+fixed+their+lookup"),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let to = headers["location"].to_str().unwrap();
    assert!(to.starts_with(&format!("{path}?notice=")), "{to}");
    let (action, actor, reason, from, to_status): (String, String, String, String, String) = sqlx::query_as(
        "SELECT action, actor, reason, from_status, to_status FROM operator_actions WHERE action LIKE 'outbox_replay:%'",
    )
    .fetch_one(h.pool())
    .await
    .unwrap();
    assert_eq!(action, format!("outbox_replay:{outbox_id}"));
    assert_eq!(reason, "partner fixed their lookup");
    assert_eq!((from.as_str(), to_status.as_str()), ("dead", "pending"));
    assert!(!actor.is_empty());

    let relay = t.app.outbox_relay();
    while relay.deliver_due().await.unwrap() > 0 {}
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    let (_, _, page) = send(t, get(&path, &operator)).await;
    assert!(page.contains("<td class=\"status-code\">200</td>"));
    assert!(page.contains("<td class=\"answer\">accepted</td>"));
    assert!(page.contains("status-delivered"));

    // The overview's providers table counts the refused and the accepted delivery.
    let (_, _, overview) = send(t, get("/ui?window=1h", &operator)).await;
    let row = overview
        .split("<tr data-provider=\"outbox:partner_webhook\">")
        .nth(1)
        .expect("the partner webhooks' row");
    assert!(
        row.starts_with("<th scope=\"row\">outbox:partner_webhook</th><td>2</td><td>1</td>"),
        "{row}"
    );
    assert!(row.contains("50.0%"));
}
