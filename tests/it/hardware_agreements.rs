//! Price agreements and the price sync over HTTP against the simulator: an agreement wins the
//! resolution, blocks a strict checkout until the sync gives the processor its price, then
//! checks out at the agreed amount; edits, archives and their audit trail; who may do what;
//! the sync under processor faults, from the CLI and on its cron schedule; and the stored
//! resolution behind a locked snapshot.

use std::process::Command;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;
use sagaflow::simulator::Fault;

/// The company the tests buy for, made the way the order path makes companies.
async fn company(h: &Harness) {
    create(
        h,
        &order_body(&[("SENSOR-H2", 1, "sensor_vendor_first_time")]),
    )
    .await;
}

fn agreement_body(amount: f64) -> Value {
    json!({
        "company_id": "ACME", "sku": "SENSOR-T1", "currency": "usd", "unit_amount": amount,
        "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2027-01-01T00:00:00Z",
        "notes": "2026 frame contract",
    })
}

async fn as_token(
    h: &Harness,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let auth = bearer(token);
    let (s, _, b) = h
        .request(
            method,
            path,
            &[("authorization", &auth)],
            body.map(|b| serde_json::to_vec(b).unwrap()),
        )
        .await;
    (s, b)
}

async fn new_agreement(h: &Harness, body: &Value) -> Value {
    let (s, b) = operator_post(h, "/v1/price-agreements", body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    b
}

async fn agreement(h: &Harness, id: &str) -> Value {
    let (s, b) = h.get(&format!("/v1/price-agreements/{id}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b
}

/// Starts the price sync as an operator and runs it to its end.
async fn sync(h: &Harness) -> Uuid {
    let (s, b) = operator_post(h, "/v1/pricing/sync", &json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let saga = id(&b, "saga_id");
    h.t.run().await;
    saga
}

async fn quote_t1(h: &Harness) -> Value {
    let (s, b) = h
        .post_json(
            "/v1/pricing/quote",
            &[],
            &json!({"company_id": "ACME", "region": "CA", "currency": "usd",
                    "lines": [{"sku": "SENSOR-T1", "quantity": 2}]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["lines"][0].clone()
}

async fn agreement_count(h: &Harness) -> i64 {
    h.count("SELECT count(*) FROM price_agreements").await
}

#[tokio::test]
async fn an_agreement_wins_blocks_checkout_until_synced_then_checks_out_at_its_price() {
    let h = hardware().await;
    company(&h).await;
    let pa = new_agreement(&h, &agreement_body(120.0)).await;
    let pa_id = pa["id"].as_str().unwrap().to_string();
    assert_eq!(pa["synced"], false);
    assert_eq!(pa["state"], "active");
    assert_eq!(pa["unit_amount_minor"], 12000);

    // The quote takes the agreement over the regional (CA) entry, and says checkout would fail.
    let line = quote_t1(&h).await;
    assert_eq!(line["source"], "PRICE_AGREEMENT", "{line}");
    assert_eq!(line["price_agreement_id"], pa_id.as_str());
    assert_eq!(line["unit_amount_minor"], 12000);
    assert_eq!(line["synced"], false);

    // A draft takes the agreement's price; a strict checkout refuses it, naming it.
    let order = create(
        &h,
        &order_body(&[("SENSOR-T1", 2, "sensor_vendor_first_time")]),
    )
    .await;
    assert_eq!(
        order["items"][0]["price_type"], "PRICE_AGREEMENT",
        "{order}"
    );
    assert_eq!(order["total_minor"], 24000);
    let order_id = id(&order, "id");
    let (s, b) = h
        .post_json(
            &format!("/v1/orders/{order_id}/send-checkout"),
            &[],
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert_eq!(b["error"]["code"], "price_not_synced");
    let message = b["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&pa_id) && message.contains("PRICE_AGREEMENT"),
        "{message}"
    );
    assert_eq!(view(&h, order_id).await["payment_status"], "draft");

    // The sync gives the processor the agreed price (and the unsynced X9 entry its own).
    let saga = sync(&h).await;
    assert_eq!(
        h.t.status(saga).await,
        "completed",
        "{}",
        h.t.saga(saga).await
    );
    let pa = agreement(&h, &pa_id).await;
    assert_eq!(pa["synced"], true, "{pa}");
    let price = pa["processor_price_id"].as_str().unwrap().to_string();
    let actions: Vec<&str> = pa["audit"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["created", "synced"]);
    let prices: Value = h
        .http
        .get(format!("{}/_sim/payments/prices", h.sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let held = prices["prices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == price.as_str())
        .expect("the processor holds the agreement's price")
        .clone();
    assert_eq!(held["unit_amount"], 12000);
    assert_eq!(held["lookup_key"], format!("agreement:{pa_id}"));
    let (_, x9) = h
        .post_json(
            "/v1/pricing/quote",
            &[],
            &json!({"strict": true, "lines": [{"sku": "SENSOR-X9", "quantity": 1}]}),
        )
        .await;
    assert_eq!(x9["lines"][0]["synced"], true, "{x9}");

    // A second sync has nothing to do and creates no price.
    let created = h.sim.stats().requests("payments.create_price");
    assert_eq!(created, 2, "one price for the agreement, one for X9");
    sync(&h).await;
    assert_eq!(h.sim.stats().requests("payments.create_price"), created);

    // Now the checkout goes through at the agreed amount.
    let saga = send_checkout(&h, order_id).await;
    h.t.run().await;
    assert_eq!(h.t.status(saga).await, "waiting");
    let session = view(&h, order_id).await["checkout_session"]
        .as_str()
        .unwrap()
        .to_string();
    let s: Value = h
        .http
        .get(format!(
            "{}/v1/checkout/sessions/{session}",
            h.sim.base_url()
        ))
        .bearer_auth("sk_test_simulator")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["amount_total"], 24000, "{s}");

    // The resolution behind the locked snapshot: the agreement applied, the regional entry
    // outranked, the other entries out of scope.
    let item = view(&h, order_id).await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, r) = h.get(&format!("/v1/pricing/resolutions/{item}"), &[]).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["locked"], true);
    let res = &r["resolution"];
    assert_eq!(res["result"]["source"], "PRICE_AGREEMENT");
    assert_eq!(res["result"]["processor_price_id"], price.as_str());
    assert_eq!(res["scope"]["strict"], true);
    let outcome = |id: &str| {
        res["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["outcome"].as_str().unwrap().to_string())
    };
    assert_eq!(outcome(&pa_id).as_deref(), Some("applied"), "{res}");
    assert_eq!(outcome("pb-t1-ca-usd").as_deref(), Some("outranked"));
    assert_eq!(outcome("pb-t1-global-usd").as_deref(), Some("outranked"));

    // The shop that placed the order reads it; another shop learns nothing.
    let path = format!("/v1/pricing/resolutions/{item}");
    let (s, _) = as_token(&h, reqwest::Method::GET, &path, SERVICE_TOKEN, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = as_token(&h, reqwest::Method::GET, &path, OTHER_SERVICE_TOKEN, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{b}");
    let (s, _) = h.get("/v1/pricing/resolutions/not-a-uuid", &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .get(&format!("/v1/pricing/resolutions/{}", Uuid::now_v7()), &[])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn agreements_refuse_bad_input_and_reach_only_operators_and_viewers() {
    let h = hardware().await;
    company(&h).await;
    new_agreement(&h, &agreement_body(120.0)).await;
    for (body, status, what) in [
        (
            json!({"company_id": "NOPE", "sku": "SENSOR-T1", "unit_amount": 100.0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown company",
        ),
        (
            json!({"company_id": "ACME", "sku": "NOPE", "unit_amount": 100.0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown SKU",
        ),
        (
            json!({"company_id": "ACME", "sku": "SENSOR-H2", "unit_amount": 0.0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "zero amount",
        ),
        (
            json!({"company_id": "ACME", "sku": "SENSOR-H2", "unit_amount": 90.0, "currency": "dollars"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad currency",
        ),
        (
            json!({"company_id": "ACME", "sku": "SENSOR-H2", "unit_amount": 90.0,
                   "valid_from": "2026-06-01T00:00:00Z", "valid_until": "2026-05-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "empty window",
        ),
        (
            json!({"company_id": "ACME", "sku": "SENSOR-T1", "unit_amount": 110.0,
                   "valid_from": "2026-12-01T00:00:00Z"}),
            StatusCode::CONFLICT,
            "overlapping window",
        ),
        (
            json!({"company_id": "ACME", "sku": "SENSOR-T1", "unit_amount": 110.0, "price": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field",
        ),
    ] {
        let (s, b) = operator_post(&h, "/v1/price-agreements", &body).await;
        assert_eq!(s, status, "{what}: {b}");
        assert!(b["error"]["message"].is_string(), "{what}: {b}");
    }
    assert_eq!(agreement_count(&h).await, 1, "nothing refused was written");
    // Back to back with the first is no overlap; another currency is none either.
    new_agreement(
        &h,
        &json!({"company_id": "ACME", "sku": "SENSOR-T1", "unit_amount": 115.0,
                "valid_from": "2027-01-01T00:00:00Z"}),
    )
    .await;
    new_agreement(
        &h,
        &json!({"company_id": "ACME", "sku": "SENSOR-T1", "unit_amount": 99.0, "currency": "eur"}),
    )
    .await;

    // Viewers read; services reach nothing; only operators write.
    let (s, b) = as_token(
        &h,
        reqwest::Method::GET,
        "/v1/price-agreements?company_id=ACME",
        VIEWER_TOKEN,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["items"].as_array().unwrap().len(), 3, "{b}");
    let body = agreement_body(130.0);
    for (token, method, path, want) in [
        (
            VIEWER_TOKEN,
            reqwest::Method::POST,
            "/v1/price-agreements",
            StatusCode::FORBIDDEN,
        ),
        (
            SERVICE_TOKEN,
            reqwest::Method::POST,
            "/v1/price-agreements",
            StatusCode::FORBIDDEN,
        ),
        (
            OTHER_SERVICE_TOKEN,
            reqwest::Method::GET,
            "/v1/price-agreements",
            StatusCode::FORBIDDEN,
        ),
        (
            SERVICE_TOKEN,
            reqwest::Method::POST,
            "/v1/pricing/sync",
            StatusCode::FORBIDDEN,
        ),
        (
            VIEWER_TOKEN,
            reqwest::Method::POST,
            "/v1/pricing/sync",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (s, b) = as_token(&h, method.clone(), path, token, Some(&body)).await;
        assert_eq!(s, want, "{token} {method} {path}: {b}");
    }
    assert_eq!(agreement_count(&h).await, 3);
    assert_eq!(
        h.count("SELECT count(*) FROM sagas WHERE workflow = 'price_sync'")
            .await,
        0
    );
    let (s, _) = h.get("/v1/price-agreements?limit=0", &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.get("/v1/price-agreements/pa-missing", &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_edit_unsyncs_the_agreement_and_an_archive_ends_it() {
    let h = hardware().await;
    company(&h).await;
    let pa = new_agreement(&h, &agreement_body(120.0)).await;
    let pa_id = pa["id"].as_str().unwrap().to_string();
    let path = format!("/v1/price-agreements/{pa_id}");
    sync(&h).await;
    let first_price = agreement(&h, &pa_id).await["processor_price_id"].clone();

    // Notes alone keep the price synced; a new amount needs a new processor price.
    let (s, b) = h
        .request(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(serde_json::to_vec(&json!({"notes": "renegotiated"})).unwrap()),
        )
        .await
        .into_pair();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["synced"].clone(), b["revision"].clone()),
        (json!(true), json!(1))
    );
    let (s, b) = h
        .request(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(serde_json::to_vec(&json!({"unit_amount": 110.0})).unwrap()),
        )
        .await
        .into_pair();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["synced"], false);
    assert_eq!(b["revision"], 2);
    assert_eq!(quote_t1(&h).await["unit_amount_minor"], 11000);
    let (s, b) = h
        .request(reqwest::Method::PATCH, &path, &[], Some(b"{}".to_vec()))
        .await
        .into_pair();
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    sync(&h).await;
    let pa = agreement(&h, &pa_id).await;
    assert_eq!(pa["synced"], true);
    assert_ne!(
        pa["processor_price_id"], first_price,
        "a new amount is a new price"
    );
    let audit = pa["audit"].as_array().unwrap();
    let actions: Vec<&str> = audit
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["created", "synced", "updated", "updated", "synced"]
    );
    let repriced = &audit[3];
    assert_eq!(repriced["actor"], "operator:olivia");
    assert_eq!(repriced["before"]["unit_amount_minor"], 12000);
    assert_eq!(repriced["after"]["unit_amount_minor"], 11000);

    // Archived: the quote falls back to the regional price; nothing more may change.
    let (s, b) = h
        .request(reqwest::Method::DELETE, &path, &[], None)
        .await
        .into_pair();
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["state"], "archived");
    assert_eq!(quote_t1(&h).await["source"], "PRICEBOOK_REGIONAL");
    let (s, _) = h
        .request(reqwest::Method::DELETE, &path, &[], None)
        .await
        .into_pair();
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, _) = h
        .request(
            reqwest::Method::PATCH,
            &path,
            &[],
            Some(serde_json::to_vec(&json!({"unit_amount": 100.0})).unwrap()),
        )
        .await
        .into_pair();
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, list) = h.get("/v1/price-agreements", &[]).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    let (_, list) = h
        .get("/v1/price-agreements?include_archived=true", &[])
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_sync_that_meets_processor_faults_retries_without_creating_a_price_twice() {
    let h = hardware().await;
    company(&h).await;
    let pa = new_agreement(&h, &agreement_body(120.0)).await;
    // The first create fails outright; the next one's answer is lost after the processor acted.
    h.sim
        .set_fault(
            "payments.create_price",
            Some(Fault {
                status: Some(500),
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    let saga = sync(&h).await;
    assert_eq!(h.t.status(saga).await, "running", "waiting to retry");
    assert_eq!(
        agreement(&h, pa["id"].as_str().unwrap()).await["synced"],
        false
    );
    h.sim
        .set_fault(
            "payments.create_price",
            Some(Fault {
                drop_response: true,
                times: Some(1),
                ..Default::default()
            }),
        )
        .unwrap();
    for _ in 0..3 {
        h.t.advance(Duration::from_secs(15 * 60));
        h.t.run().await;
    }
    assert_eq!(
        h.t.status(saga).await,
        "completed",
        "{}",
        h.t.saga(saga).await
    );
    assert_eq!(
        agreement(&h, pa["id"].as_str().unwrap()).await["synced"],
        true
    );
    let stats = h.sim.stats();
    let deliveries = &stats.endpoints["payments.create_price"].deliveries;
    assert!(!deliveries.is_empty());
    assert!(
        deliveries.values().all(|n| *n == 1),
        "each price created once: {deliveries:?}"
    );
    assert_eq!(
        h.count("SELECT count(*) FROM price_book_entries WHERE NOT synced")
            .await,
        0
    );
}

#[tokio::test]
async fn the_cli_and_the_cron_job_start_the_sync() {
    let h = hardware().await;
    company(&h).await;
    let pa = new_agreement(&h, &agreement_body(120.0)).await;
    let base = h.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sagaflow"))
            .args(["pricing", "sync"])
            .env("SAGAFLOW_URL", base)
            .env("SAGAFLOW_TOKEN", OPERATOR_TOKEN)
            .output()
            .expect("run sagaflow")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("price sync started"), "{stdout}");
    h.t.run().await;
    assert_eq!(
        agreement(&h, pa["id"].as_str().unwrap()).await["synced"],
        true
    );
    // A viewer's token is refused with the server's reason.
    let base = h.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_sagaflow"))
            .args(["pricing", "sync"])
            .env("SAGAFLOW_URL", base)
            .env("SAGAFLOW_TOKEN", VIEWER_TOKEN)
            .output()
            .expect("run sagaflow")
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    // The cron job fires at 5, 20, 35 and 50 past the hour.
    let scheduler = h.t.app.scheduler("node-1").unwrap();
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 1, 10, 4, 59).unwrap());
    scheduler.tick_once().await.unwrap();
    let before = h
        .count("SELECT count(*) FROM sagas WHERE workflow = 'price_sync'")
        .await;
    h.t.clock
        .set(Utc.with_ymd_and_hms(2026, 3, 1, 10, 5, 1).unwrap());
    assert_eq!(scheduler.tick_once().await.unwrap(), 1);
    assert_eq!(
        h.count("SELECT count(*) FROM sagas WHERE workflow = 'price_sync'")
            .await,
        before + 1
    );
}

/// `(status, body)` of a [`Harness::request`] answer.
trait IntoPair {
    fn into_pair(self) -> (StatusCode, Value);
}

impl IntoPair for (StatusCode, reqwest::header::HeaderMap, Value) {
    fn into_pair(self) -> (StatusCode, Value) {
        (self.0, self.2)
    }
}
