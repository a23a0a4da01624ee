//! Tenants own what they create: a second service token sweeping every route of the API
//! document with the first one's ids gets 404 everywhere (never 403, so ids do not leak) and
//! changes nothing; operators and viewers still see everything.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;

/// Everything a sweep could change, as one text: if it is equal before and after, nothing did.
async fn fingerprint(h: &Harness) -> String {
    let tables = [
        "SELECT id::text, status, version::text FROM sagas",
        "SELECT id::text, name, coalesce(consumed_at::text, '') FROM saga_signals",
        "SELECT id::text, payment_status, updated_at::text FROM hardware_orders",
        "SELECT id::text, status, updated_at::text FROM shipments",
        "SELECT id::text, status, allocated_minor::text FROM invoices",
        "SELECT user_id::text, balance_minor::text, coalesce(owner, '') FROM wallets",
        "SELECT id::text, kind, amount_minor::text FROM wallet_ledger",
        "SELECT id::text, status, '' FROM orders",
        "SELECT id::text, action, actor FROM operator_actions",
    ];
    let mut all = String::new();
    for sql in tables {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as(&format!("{sql} ORDER BY 1, 2, 3"))
                .fetch_all(h.pool())
                .await
                .unwrap();
        all.push_str(&format!("{sql}: {rows:?}\n"));
    }
    all
}

async fn call(h: &Harness, token: &str, method: &str, path: &str) -> (StatusCode, Value) {
    let auth = bearer(token);
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "sweep-1"),
    ];
    let method: reqwest::Method = method.to_uppercase().parse().unwrap();
    // A body each route accepts, so the answer is about the id, not the body.
    let body = if path.ends_with("/top-ups") {
        json!({ "amount": 1.0 })
    } else if path.ends_with("/send-checkout") {
        json!({})
    } else {
        json!({ "reason": "sweep" })
    };
    let body = (method != reqwest::Method::GET).then(|| serde_json::to_vec(&body).unwrap());
    let (s, _, b) = h.request(method, path, &headers, body).await;
    (s, b)
}

#[tokio::test]
async fn a_second_service_sweeping_every_route_with_the_first_ones_ids_gets_404() {
    let h = hardware().await;
    // The first shop's things: a saga of its own, a paid hardware order with its fulfilment,
    // shipment and invoice, a draft order, a funded wallet and a data-bundle order.
    let sample =
        h.t.start(
            "sample",
            json!({ "steps": { "deliver": { "wait": true } } }),
        )
        .await;
    let lines = &[("SENSOR-T1", 1, "sensor_vendor_first_time")];
    let (order, hw_saga) = paid_order(&h, lines).await;
    let draft = id(&create(&h, &order_body(lines)).await, "id");
    let fulfillment = id(&view(&h, order).await, "fulfillment_id");
    let shipment = id(&shipments(&h, order).await[0], "id");
    let invoice: Uuid = sqlx::query_scalar("SELECT id FROM invoices WHERE order_id = $1")
        .bind(order)
        .fetch_one(h.pool())
        .await
        .unwrap();
    // The reseller's webhook would land mid-sweep: the saga polls instead.
    h.no_reseller_webhooks();
    let user = Uuid::now_v7();
    let (s, b) = h
        .post_json(
            &format!("/v1/wallets/{user}/top-ups"),
            &[("idempotency-key", "fund")],
            &json!({ "amount": 50.0 }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, bundle) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("idempotency-key", "b-1")],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": "0241234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{bundle}");
    let bundle_order = id(&bundle, "order_id");
    let bundle_saga = id(&bundle, "saga_id");
    h.t.run().await;

    let items: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM hardware_order_items WHERE order_id = $1")
            .bind(order)
            .fetch_all(h.pool())
            .await
            .unwrap();
    let company: String =
        sqlx::query_scalar("SELECT company_id FROM hardware_orders WHERE id = $1")
            .bind(order)
            .fetch_one(h.pool())
            .await
            .unwrap();
    let sagas = [sample, hw_saga, bundle_saga];
    let ids_for = |path: &str| -> Vec<String> {
        let segment = path.split('/').nth(2).unwrap_or_default();
        if segment == "companies" {
            // The company the first shop ordered for: the second reaches it through nothing.
            return vec![company.clone()];
        }
        let ids: Vec<Uuid> = match segment {
            "sagas" => sagas.to_vec(),
            "orders" => vec![order, draft, bundle_order],
            "fulfillments" => vec![fulfillment],
            "shipments" => vec![shipment],
            "invoices" => vec![invoice],
            "wallets" => vec![user],
            // Pricing resolutions, by order line.
            "pricing" => items.clone(),
            _ => Vec::new(),
        };
        ids.iter().map(Uuid::to_string).collect()
    };

    let before = fingerprint(&h).await;
    let (s, doc) = call(&h, OPERATOR_TOKEN, "get", "/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let mut swept = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.contains('{') || path.starts_with("/v1/partner") || path.starts_with("/ui") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            // A malformed id tells whether the role reaches the route at all, changing
            // nothing (the role test covers the 403s): where it does, the first shop's ids
            // must be 404.
            let concrete = |id: &str| {
                path.replace("{id}", id)
                    .replace("{user_id}", id)
                    .replace("{order_item_id}", id)
                    .replace("{name}", "sample.delivered")
                    .replace("{action}", "cancel")
                    .replace("{provider}", "payments")
            };
            let (s, _) = call(&h, OTHER_SERVICE_TOKEN, method, &concrete("not-a-uuid")).await;
            if s == StatusCode::FORBIDDEN || path.contains("{provider}") {
                continue;
            }
            let ids = ids_for(path);
            assert!(!ids.is_empty(), "{method} {path}: no ids to sweep it with");
            for id in ids {
                let url = concrete(&id);
                let (s, b) = call(&h, OTHER_SERVICE_TOKEN, method, &url).await;
                assert_eq!(s, StatusCode::NOT_FOUND, "{method} {url}: {b}");
                swept += 1;
            }
        }
    }
    assert!(swept >= 20, "swept only {swept} route and id pairs");
    // Lists and exports show none of them; a bundle order for the first shop's customer is
    // refused before anything is written.
    let (s, list) = call(&h, OTHER_SERVICE_TOKEN, "get", "/v1/sagas").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["items"], json!([]), "{list}");
    let (s, b) = h
        .post_json(
            "/v1/orders/data-bundles",
            &[("authorization", &bearer(OTHER_SERVICE_TOKEN)), ("idempotency-key", "steal")],
            &json!({ "user_id": user, "network": "MTN", "size": "5GB", "phone_number": "0241234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(fingerprint(&h).await, before, "the sweep changed something");

    // The owner, operators and viewers still see them.
    for token in [SERVICE_TOKEN, OPERATOR_TOKEN, VIEWER_TOKEN] {
        for path in [
            format!("/v1/orders/{order}"),
            format!("/v1/orders/{bundle_order}"),
            format!("/v1/shipments/{shipment}"),
            format!("/v1/invoices/{invoice}"),
            format!("/v1/wallets/{user}"),
            format!("/v1/sagas/{hw_saga}"),
        ] {
            let (s, b) = call(&h, token, "get", &path).await;
            assert_eq!(s, StatusCode::OK, "{path} as {token}: {b}");
        }
    }
}

#[tokio::test]
async fn a_partner_key_reaches_only_its_own_partners_orders_and_licences() {
    use sagaflow::families::partner::{PartnerAccount, PartnerSettings};
    let h = crate::support::orders::harness(|s, _| {
        s.edit_section("partner", |p: &mut PartnerSettings| {
            p.accounts.push(PartnerAccount {
                id: "RIVAL001".into(),
                key_sha256: sagaflow::api::auth::hash_token("rival-key"),
                webhook: "t2mobile".into(),
            })
        })
        .unwrap();
    })
    .await;
    let order = json!({
        "orderId": "T2M-9", "productId": "OFFICE-PRO", "customerId": "CUST-1",
        "customerName": "Ama Mensah", "customerEmail": "ama@example.com",
        "customerPhone": "+233241234567", "tenure": "12_MONTHS",
    });
    let mine = "Bearer sim_partner_api_key";
    let (s, b) = h
        .post_json(
            "/v1/partner/fulfilment",
            &[("authorization", mine), ("idempotency-key", "p-1")],
            &order,
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    h.t.run().await;
    let (s, b) = h
        .get("/v1/partner/orders/T2M-9", &[("authorization", mine)])
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let activation = b["activationReference"]
        .as_str()
        .expect("fulfilled")
        .to_string();

    let rival = "Bearer rival-key";
    let (s, b) = h
        .get("/v1/partner/orders/T2M-9", &[("authorization", rival)])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let before = fingerprint(&h).await;
    let (s, b) = h
        .post_json(
            &format!("/v1/partner/subscriptions/{activation}/renewals"),
            &[("authorization", rival), ("idempotency-key", "r-1")],
            &json!({ "tenure": "12_MONTHS" }),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    assert_eq!(fingerprint(&h).await, before);
}
