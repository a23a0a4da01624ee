//! The daily `licence_expiry` cron workflow: licences whose term has ended become EXPIRED and
//! their partner gets one signed SUBSCRIPTION_EXPIRED webhook, checked by a receiver on a real
//! port, however often the job runs. Driven by the manual clock and the scheduler's own tick.

use chrono::{NaiveDate, TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::json;

use crate::partner::{deliver, events, fulfil, order_body, partner_harness};

#[tokio::test]
async fn licences_expire_once_after_their_term_and_the_partner_hears_it_once() {
    let (h, got) = partner_harness(100).await;
    for (key, order) in [("a", "T2M-E1"), ("b", "T2M-E2")] {
        let (s, _, b) = fulfil(&h, key, &order_body(order)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    }
    h.t.run().await;
    let licences: Vec<(i64, NaiveDate)> =
        sqlx::query_as(
            "SELECT l.id, l.expires_on FROM licences l JOIN partner_orders o ON o.id = l.partner_order_id
             ORDER BY o.order_id",
        )
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert_eq!(licences.len(), 2);
    let (first, second) = (licences[0], licences[1]);
    // The second licence runs ten days longer: only the first one's term ends here.
    sqlx::query("UPDATE licences SET expires_on = expires_on + 10 WHERE id = $1")
        .bind(second.0)
        .execute(h.pool())
        .await
        .unwrap();
    let last_day = first.1;
    let at = |day: NaiveDate, h: u32, m: u32, s: u32| {
        Utc.from_utc_datetime(&day.and_hms_opt(h, m, s).unwrap())
    };
    let status = |id: i64| {
        let pool = h.pool().clone();
        async move {
            sqlx::query_scalar::<_, String>("SELECT status FROM licences WHERE id = $1")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };

    let scheduler = h.t.app.scheduler("node-1").unwrap();
    // On its last day a licence is still good: the 00:15 run expires nothing.
    h.t.clock.set(at(last_day, 0, 14, 59));
    scheduler.tick_once().await.unwrap();
    h.t.clock.set(at(last_day, 0, 15, 1));
    assert_eq!(scheduler.tick_once().await.unwrap(), 1, "the 00:15 tick");
    h.t.run().await;
    deliver(&h).await;
    assert_eq!(status(first.0).await, "ACTIVE");
    assert!(events(&got, "SUBSCRIPTION_EXPIRED").is_empty());

    // The next day's run expires it and tells the partner.
    let next = last_day + chrono::Duration::days(1);
    h.t.clock.set(at(next, 0, 15, 1));
    assert!(scheduler.tick_once().await.unwrap() >= 1);
    h.t.run().await;
    deliver(&h).await;
    assert_eq!(status(first.0).await, "EXPIRED");
    assert_eq!(status(second.0).await, "ACTIVE");
    let expired = events(&got, "SUBSCRIPTION_EXPIRED");
    assert_eq!(expired.len(), 1, "{expired:?}");
    let (event_id, body) = &expired[0];
    assert_eq!(event_id, &format!("expired:{}:{}", first.0, last_day));
    assert_eq!(body["orderId"], "T2M-E1");
    assert_eq!(body["status"], "EXPIRED");
    assert_eq!(body["expiresOn"], json!(last_day));
    assert_eq!(body["event"], "SUBSCRIPTION_EXPIRED");
    // The order's console page lists it with the order's own webhooks; the other order's
    // page does not.
    for (order, licence, expected) in [("T2M-E1", first.0, 1), ("T2M-E2", second.0, 0)] {
        let po =
            h.t.app
                .store()
                .partner_order_by_ref("T2MOBILE001", order)
                .await
                .unwrap()
                .unwrap();
        let (hooks, _) =
            h.t.app
                .store()
                .partner_order_webhooks(po.saga_id, Some(licence))
                .await
                .unwrap();
        let notices = hooks
            .iter()
            .filter(|w| w.payload["event_type"] == "SUBSCRIPTION_EXPIRED")
            .count();
        assert_eq!(notices, expected, "{order}: {hooks:?}");
    }

    // Another day's run and one started by hand send nothing again.
    h.t.clock
        .set(at(next + chrono::Duration::days(1), 0, 15, 1));
    scheduler.tick_once().await.unwrap();
    h.t.app
        .rt
        .start(
            sagaflow::engine::StartSaga {
                workflow: "licence_expiry".into(),
                input: json!({}),
                business_key: None,
                idempotency_key: None,
                request_hash: None,
                actor: "cron:by-hand".into(),
            },
            None,
        )
        .await
        .unwrap();
    h.t.run().await;
    deliver(&h).await;
    assert_eq!(events(&got, "SUBSCRIPTION_EXPIRED").len(), 1);
    assert_eq!(
        h.t.app.store().licence_expiries().await.unwrap(),
        [(first.0, last_day)]
    );
    let statuses: Vec<String> =
        sqlx::query_scalar("SELECT status FROM sagas WHERE workflow = 'licence_expiry'")
            .fetch_all(h.pool())
            .await
            .unwrap();
    assert!(statuses.len() >= 4, "{statuses:?}");
    assert!(statuses.iter().all(|s| s == "completed"), "{statuses:?}");
}
