//! The data-bundle orders screens over HTTP with a console session, against orders placed
//! through the shop's API and fulfilled (or failed) by the provider simulator: the list's
//! filters and cards, the order page's attempts, the CSV report, retries, and a refunded
//! order placed again (once, re-debiting the wallet, or refused with the shortfall). Viewers
//! see no buttons and may not post.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use reqwest::StatusCode as HttpStatus;
use serde_json::json;
use uuid::Uuid;

use crate::ops_console::{get, login, send};
use crate::support::orders::{Harness, harness};
use crate::support::{OPERATOR_TOKEN, VIEWER_TOKEN};
use sagaflow::simulator::Fault;

/// mtn-5gb in config/default.toml.
pub(crate) const MTN_5GB_MINOR: i64 = 2700;

/// A wallet holding `amount` GHS.
pub(crate) async fn funded(h: &Harness, amount: f64) -> Uuid {
    let user = Uuid::now_v7();
    let (s, b) = h
        .post_json(
            &format!("/v1/wallets/{user}/top-ups"),
            &[("idempotency-key", "seed")],
            &json!({ "amount": amount }),
        )
        .await;
    assert_eq!(s, HttpStatus::OK, "{b}");
    user
}

/// An order placed through the shop's API: (order id, order code, saga id).
pub(crate) async fn place(
    h: &Harness,
    user: Uuid,
    network: &str,
    size: u32,
    phone: &str,
) -> (Uuid, String, Uuid) {
    let key = Uuid::now_v7().to_string();
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", &key)],
            &json!({ "user_id": user, "network": network, "size": format!("{size}GB"), "phone_number": phone }),
        )
        .await;
    assert_eq!(s, HttpStatus::ACCEPTED, "{b}");
    let id = |k: &str| b[k].as_str().unwrap().parse::<Uuid>().unwrap();
    (
        id("order_id"),
        b["order_code"].as_str().unwrap().to_string(),
        id("saga_id"),
    )
}

/// Waits for the simulator's webhooks for `saga` (`n` of them), then runs the worker.
pub(crate) async fn settle(h: &Harness, saga: Uuid, n: i64) {
    h.wait_for(
        &format!("SELECT count(*) FROM saga_signals WHERE saga_id = '{saga}'"),
        n,
    )
    .await;
    h.t.run().await;
}

/// The next request to the reseller's create endpoint answers `status`.
pub(crate) fn fail_next(h: &Harness, status: u16) {
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                status: Some(status),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
}

/// A refunded order: the reseller refuses it (400, not retryable), so its saga compensates.
pub(crate) async fn refunded(h: &Harness, user: Uuid, phone: &str) -> (Uuid, String, Uuid) {
    fail_next(h, 400);
    let placed = place(h, user, "MTN", 5, phone).await;
    h.t.run().await;
    assert_eq!(h.t.status(placed.2).await, "compensated");
    placed
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

async fn page(h: &Harness, path: &str, cookie: &str) -> (StatusCode, String) {
    let (s, _, body) = send(&h.t, get(path, cookie)).await;
    (s, body)
}

/// The order codes the list shows, in order.
fn codes(html: &str) -> Vec<String> {
    html.match_indices("<tr data-order=\"")
        .map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('"').unwrap()].to_string()
        })
        .collect()
}

/// A card's number by its label.
fn card(html: &str, label: &str) -> String {
    let marker = format!("<span class=\"label\">{label}</span><span class=\"value\">");
    let at = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no card {label}"))
        + marker.len();
    html[at..at + html[at..].find('<').unwrap()].to_string()
}

/// The notice a redirect carries, decoded.
fn notice_of(location: &str) -> String {
    let q = location.split_once('?').map(|x| x.1).unwrap_or_default();
    serde_urlencoded::from_str::<Vec<(String, String)>>(q)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "notice")
        .map(|(_, v)| v)
        .unwrap_or_default()
}

async fn bundle_orders(h: &Harness) -> i64 {
    h.count("SELECT count(*) FROM orders").await
}

#[tokio::test]
async fn the_list_filters_by_network_status_dates_and_phone_and_the_report_agrees() {
    let h = harness(|_, _| {}).await;
    let user = funded(&h, 200.0).await;
    // Delivered, on 1 March.
    let (_, delivered, saga_a) = place(&h, user, "MTN", 5, "0241234567").await;
    h.t.run().await;
    settle(&h, saga_a, 1).await;
    assert_eq!(h.t.status(saga_a).await, "completed");
    // Failed once: the reseller is busy (429) and asks for 2 minutes; retried on the schedule.
    h.sim
        .set_fault(
            "reseller.create_order",
            Some(Fault {
                status: Some(429),
                retry_after_secs: Some(120),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let (failed_id, failed, saga_b) = place(&h, user, "MTN", 5, "0551234567").await;
    h.t.run().await;
    assert_eq!(h.t.status(saga_b).await, "running");
    // Two days later, a Telecel order not yet run.
    h.t.advance(Duration::from_secs(2 * 86_400));
    let (_, pending, _) = place(&h, user, "TELECEL", 5, "0201234567").await;

    let cookie = login(&h.t, OPERATOR_TOKEN).await;
    let (s, all) = page(&h, "/ui/bundles", &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        codes(&all).iter().collect::<Vec<_>>(),
        [&pending, &failed, &delivered],
        "newest first"
    );
    assert_eq!(card(&all, "Orders"), "3");
    assert_eq!(card(&all, "Delivered"), "1");
    assert_eq!(card(&all, "Failed"), "1");
    assert_eq!(card(&all, "Pending"), "1");
    assert_eq!(card(&all, "Success rate (of finished)"), "50.0%");
    assert_eq!(card(&all, "Revenue delivered"), "GHS 27.00");
    assert!(
        all.contains("024****567") && !all.contains("0241234567"),
        "phones masked"
    );
    assert!(all.contains("id=\"auto-refresh\""));

    for (query, want) in [
        ("status=success", vec![&delivered]),
        ("status=failed", vec![&failed]),
        ("status=pending", vec![&pending]),
        ("network=TELECEL", vec![&pending]),
        ("network=mtn", vec![&failed, &delivered]),
        // The same number in the forms people type it.
        ("phone=%2B233+24+123+4567", vec![&delivered]),
        ("phone=233551234567", vec![&failed]),
        ("phone=0201234567", vec![&pending]),
        ("created_from=2026-03-03", vec![&pending]),
        ("created_to=2026-03-01", vec![&failed, &delivered]),
        (
            "created_from=2026-03-01&created_to=2026-03-01&status=failed",
            vec![&failed],
        ),
        ("network=AIRTELTIGO", vec![]),
    ] {
        let (s, html) = page(&h, &format!("/ui/bundles?{query}"), &cookie).await;
        assert_eq!(s, StatusCode::OK, "{query}");
        assert_eq!(codes(&html).iter().collect::<Vec<_>>(), want, "{query}");
    }
    // The cards count every state within the other filters.
    let (_, mtn) = page(&h, "/ui/bundles?network=MTN&status=failed", &cookie).await;
    assert_eq!(card(&mtn, "Orders"), "2");
    assert_eq!(card(&mtn, "Pending"), "0");

    // A filter that cannot be used says why, and lists nothing.
    for (query, says) in [
        ("phone=12345", "phone"),
        ("network=GLO", "is not MTN, TELECEL or AIRTELTIGO"),
        ("status=done", "is not success, failed or pending"),
        ("created_from=yesterday", "is not a date"),
        (
            "created_from=2026-03-02&created_to=2026-03-01",
            "before it starts",
        ),
    ] {
        let (s, html) = page(&h, &format!("/ui/bundles?{query}"), &cookie).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}");
        assert!(html.contains(says), "{query}: {html}");
        assert!(codes(&html).is_empty(), "{query}");
    }

    // The report: the same orders and filters, masked, one line each.
    let (s, headers, csv) = send(&h.t, get("/ui/bundles/report.csv", &cookie)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "order_code,phone,network,size_gb,price_ghs,provider,provider_reference,attempts,status,saga_status,created_at,fulfilled_at,updated_at"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    let row: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with(&delivered))
        .unwrap()
        .split(',')
        .collect();
    assert_eq!(
        &row[..5],
        [delivered.as_str(), "024****567", "MTN", "5", "27.00"]
    );
    assert_eq!(row[5], "reseller");
    assert!(!row[6].is_empty(), "the provider's reference: {row:?}");
    assert_eq!((row[7], row[8], row[9]), ("1", "success", "completed"));
    assert!(row[11].starts_with("2026-03-01T"), "delivered at: {row:?}");
    for phone in ["0241234567", "0551234567", "0201234567"] {
        assert!(!csv.contains(phone), "{phone} unmasked in the report");
    }
    let (_, _, failed_csv) = send(
        &h.t,
        get("/ui/bundles/report.csv?status=failed&network=MTN", &cookie),
    )
    .await;
    let failed_lines: Vec<&str> = failed_csv.lines().skip(1).collect();
    assert_eq!(failed_lines.len(), 1, "{failed_csv}");
    assert!(
        failed_lines[0].starts_with(&format!("{failed},055****567,MTN,5,27.00,reseller,")),
        "{failed_csv}"
    );
    assert!(
        failed_lines[0].contains(",1,failed,running,"),
        "{failed_csv}"
    );
    let (s, _, _) = send(&h.t, get("/ui/bundles/report.csv?phone=12", &cookie)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The failed order's page: the attempt, the provider's answer, the retry time, the saga.
    let (s, detail) = page(&h, &format!("/ui/bundles/{failed_id}"), &cookie).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        detail.contains(&format!("<h1>{failed} ")),
        "the order code first"
    );
    assert!(detail.contains("Attempt 1 of"));
    assert!(
        detail.contains("&#34;status&#34;: 429"),
        "the provider's response: {detail}"
    );
    // The next attempt's time: the policy's 5 minutes, longer than the 2 the provider asked.
    assert!(
        detail.contains("2026-03-01 09:05:00 UTC"),
        "retry_after is shown: {detail}"
    );
    assert!(detail.contains(&format!("href=\"/ui/sagas/{saga_b}\"")));
    assert!(detail.contains("055****567") && !detail.contains("0551234567"));
    assert!(
        detail.contains("action=\"/ui/bundles/"),
        "an operator may retry it"
    );
    let (s, _) = page(&h, &format!("/ui/bundles/{}", Uuid::now_v7()), &cookie).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = page(&h, "/ui/bundles/not-an-id", &cookie).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A viewer reads the same pages with no button, and may not post.
    let viewer = login(&h.t, VIEWER_TOKEN).await;
    let (_, vlist) = page(&h, "/ui/bundles?status=failed", &viewer).await;
    assert_eq!(codes(&vlist), [failed.as_str()]);
    let (_, vdetail) = page(&h, &format!("/ui/bundles/{failed_id}"), &viewer).await;
    for html in [&vlist, &vdetail] {
        assert!(!html.contains("<button type=\"submit\" name=\"one\""));
        assert!(!html.contains("action=\"/ui/bundles/"));
        assert!(!html.contains("name=\"ids\""));
    }
    let token = csrf(&vlist);
    for path in [
        format!("/ui/bundles/{failed_id}/retry"),
        "/ui/bundles/retry".to_string(),
    ] {
        let form = [
            ("csrf", token.as_str()),
            ("reason", "viewer tries"),
            ("ids", &failed_id.to_string()),
        ];
        let (s, _, _) = send(&h.t, post(&path, &viewer, &form)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(h.sim.stats().requests("reseller.create_order"), 2);
    assert_eq!(
        h.count("SELECT count(*) FROM operator_actions").await,
        0,
        "nothing was done"
    );
}

#[tokio::test]
async fn a_refunded_order_is_placed_again_once_or_refused_with_the_shortfall() {
    let h = harness(|_, _| {}).await;
    let user = funded(&h, 30.0).await;
    let (orig_id, orig_code, orig_saga) = refunded(&h, user, "0241234567").await;
    assert_eq!(
        h.t.app.store().wallet_balance(user).await.unwrap(),
        Some(3000)
    );
    let cookie = login(&h.t, OPERATOR_TOKEN).await;
    let (_, list) = page(&h, "/ui/bundles?status=failed", &cookie).await;
    assert_eq!(codes(&list), [orig_code.as_str()]);
    assert!(list.contains(&format!("value=\"{orig_id}\" class=\"row-retry\"")));
    assert!(list.contains("Place again<span class=\"sr\">"));
    let token = csrf(&list);

    // No reason: refused, nothing placed.
    let path = format!("/ui/bundles/{orig_id}/retry");
    let (s, h1, _) = send(
        &h.t,
        post(&path, &cookie, &[("csrf", &token), ("reason", " ")]),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(
        notice_of(h1[header::LOCATION].to_str().unwrap()).starts_with("Not done: give a reason")
    );
    assert_eq!(bundle_orders(&h).await, 1);
    // A stale CSRF token: refused.
    let (s, _, _) = send(
        &h.t,
        post(
            &path,
            &cookie,
            &[("csrf", &"0".repeat(64)), ("reason", "x")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A double submit, both at once: one new order and saga.
    let form = [
        ("csrf", token.as_str()),
        ("reason", "reseller fixed the number range"),
    ];
    let (a, b) = tokio::join!(
        send(&h.t, post(&path, &cookie, &form)),
        send(&h.t, post(&path, &cookie, &form)),
    );
    assert_eq!((a.0, b.0), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER));
    let (la, lb) = (
        a.1[header::LOCATION].to_str().unwrap().to_string(),
        b.1[header::LOCATION].to_str().unwrap().to_string(),
    );
    assert_eq!(bundle_orders(&h).await, 2, "{la} / {lb}");
    let new_id: Uuid = sqlx::query_scalar("SELECT id FROM orders WHERE reorder_of = $1")
        .bind(orig_id)
        .fetch_one(h.pool())
        .await
        .unwrap();
    for l in [&la, &lb] {
        assert!(l.starts_with(&format!("/ui/bundles/{new_id}?")), "{l}");
    }
    let placed = [notice_of(&la), notice_of(&lb)];
    assert!(
        placed.iter().any(|n| n.contains("placed again as")),
        "{placed:?}"
    );
    // And a third press later: answered with the same order, nothing new.
    let (_, l3, _) = send(&h.t, post(&path, &cookie, &form)).await;
    assert!(notice_of(l3[header::LOCATION].to_str().unwrap()).contains("was placed again already"));
    assert_eq!(bundle_orders(&h).await, 2);

    // The new order runs like any: it debits the wallet once and is delivered once.
    let new_saga: Uuid = sqlx::query_scalar("SELECT saga_id FROM orders WHERE id = $1")
        .bind(new_id)
        .fetch_one(h.pool())
        .await
        .unwrap();
    h.t.run().await;
    settle(&h, new_saga, 1).await;
    assert_eq!(h.t.status(new_saga).await, "completed");
    assert_eq!(
        h.t.app.store().order_ledger(new_id).await.unwrap(),
        [("debit".to_string(), -MTN_5GB_MINOR)]
    );
    assert_eq!(
        h.t.app.store().wallet_balance(user).await.unwrap(),
        Some(300)
    );
    assert_eq!(
        h.sim
            .stats()
            .deliveries("reseller.create_order", &format!("{new_saga}:fulfill:1")),
        1
    );
    assert_eq!(
        h.t.status(orig_saga).await,
        "compensated",
        "the original stays as it was"
    );

    // Each page names the other.
    let (_, new_page) = page(&h, &format!("/ui/bundles/{new_id}"), &cookie).await;
    assert!(new_page.contains(&format!(
        "href=\"/ui/bundles/{orig_id}\" id=\"reorder-of\">{orig_code}<"
    )));
    assert!(new_page.contains("success"));
    let new_code: String = sqlx::query_scalar("SELECT order_code FROM orders WHERE id = $1")
        .bind(new_id)
        .fetch_one(h.pool())
        .await
        .unwrap();
    let (_, orig_page) = page(&h, &format!("/ui/bundles/{orig_id}"), &cookie).await;
    assert!(orig_page.contains(&format!("id=\"reordered-as\">{new_code}<")));
    assert!(
        !orig_page.contains("data-action=\"retry\""),
        "placed again: no second button"
    );
    // Audited on both sagas, with the reason.
    let audited: Vec<(Uuid, String, String)> =
        sqlx::query_as("SELECT saga_id, action, reason FROM operator_actions ORDER BY id")
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(
        audited,
        [
            (
                orig_saga,
                "reorder".into(),
                "reseller fixed the number range".into()
            ),
            (
                new_saga,
                "reorder".into(),
                "reseller fixed the number range".into()
            ),
        ]
    );

    // Short of money: refused, with the shortfall, and nothing is placed or debited.
    let poor = funded(&h, 30.0).await;
    let (poor_id, _, _) = refunded(&h, poor, "0541234567").await;
    let (spend, _, spend_saga) = place(&h, poor, "MTN", 5, "0541234567").await;
    h.t.run().await;
    settle(&h, spend_saga, 1).await;
    assert_eq!(h.t.app.store().order_ledger(spend).await.unwrap().len(), 1);
    assert_eq!(
        h.t.app.store().wallet_balance(poor).await.unwrap(),
        Some(300)
    );
    let before = bundle_orders(&h).await;
    let (s, hs, _) = send(
        &h.t,
        post(
            &format!("/ui/bundles/{poor_id}/retry"),
            &cookie,
            &[("csrf", &token), ("reason", "customer asked again")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let location = hs[header::LOCATION].to_str().unwrap();
    assert!(location.starts_with(&format!("/ui/bundles/{poor_id}?")));
    assert_eq!(
        notice_of(location),
        "Not done: wallet has GHS 3.00, needs GHS 27.00: short by GHS 24.00"
    );
    let (_, shown) = page(&h, location, &cookie).await;
    assert!(shown.contains("short by GHS 24.00"));
    assert_eq!(bundle_orders(&h).await, before);
    assert_eq!(
        h.t.app.store().wallet_balance(poor).await.unwrap(),
        Some(300)
    );
}

#[tokio::test]
async fn bulk_retry_retries_the_chosen_failed_orders_and_refuses_the_rest() {
    let h = harness(|_, _| {}).await;
    let user = funded(&h, 200.0).await;
    // Two orders whose first attempt failed (retries due in 5 minutes) and one delivered.
    let mut failed = Vec::new();
    for phone in ["0241111111", "0242222222"] {
        fail_next(&h, 500);
        let (id, code, saga) = place(&h, user, "MTN", 5, phone).await;
        h.t.run().await;
        assert_eq!(h.t.status(saga).await, "running");
        failed.push((id, code, saga));
    }
    let (ok_id, ok_code, ok_saga) = place(&h, user, "MTN", 1, "0243333333").await;
    h.t.run().await;
    settle(&h, ok_saga, 1).await;

    let cookie = login(&h.t, OPERATOR_TOKEN).await;
    let (_, list) = page(&h, "/ui/bundles?network=MTN", &cookie).await;
    assert!(
        !list.contains(&format!("value=\"{ok_id}\"")),
        "a delivered order has no box"
    );
    let token = csrf(&list);
    let mut form = vec![
        ("csrf".to_string(), token.clone()),
        ("reason".to_string(), "reseller back up".to_string()),
        ("back".to_string(), "network=MTN&cursor=zz".to_string()),
    ];
    for id in [failed[0].0, failed[1].0, ok_id] {
        form.push(("ids".into(), id.to_string()));
    }
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, hs, _) = send(&h.t, post("/ui/bundles/retry", &cookie, &pairs)).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    let location = hs[header::LOCATION].to_str().unwrap();
    assert!(
        location.starts_with("/ui/bundles?network=MTN&notice="),
        "filters kept, cursor dropped: {location}"
    );
    let n = notice_of(location);
    assert!(n.starts_with("Retried 2 of 3"), "{n}");
    assert!(
        n.contains(&format!("Not done: {ok_code} is success")),
        "{n}"
    );
    // The retries run now, not in 5 minutes, and each order is delivered once.
    h.t.run().await;
    for (id, _, saga) in &failed {
        settle(&h, *saga, 1).await;
        assert_eq!(h.t.status(*saga).await, "completed", "{id}");
        assert_eq!(
            h.sim
                .stats()
                .deliveries("reseller.create_order", &format!("{saga}:fulfill:2")),
            1
        );
    }
    assert_eq!(
        h.count("SELECT count(*) FROM operator_actions WHERE action = 'retry' AND reason = 'reseller back up'")
            .await,
        2
    );
    // Nothing chosen, or no reason: refused before anything is done.
    for pairs in [
        vec![("csrf", token.as_str()), ("reason", "again")],
        vec![
            ("csrf", token.as_str()),
            ("reason", ""),
            ("one", &ok_id.to_string()),
        ],
    ] {
        let (s, hs, _) = send(&h.t, post("/ui/bundles/retry", &cookie, &pairs)).await;
        assert_eq!(s, StatusCode::SEE_OTHER);
        assert!(notice_of(hs[header::LOCATION].to_str().unwrap()).starts_with("Not done:"));
    }
    let (s, _, _) = send(
        &h.t,
        post(
            "/ui/bundles/retry",
            &cookie,
            &[("csrf", &token), ("reason", "x"), ("ids", "nope")],
        ),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(h.count("SELECT count(*) FROM operator_actions").await, 2);
}
