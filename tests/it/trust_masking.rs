//! Personal data stays masked in what the API answers, for every role: saga input and data,
//! business keys, errors, order views with billing contacts, outbox payloads and the CSV
//! export. An operator sees it unmasked only through the audited reveal.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::hardware::*;
use crate::support::orders::Harness;
use crate::support::*;

/// Raw forms that must never appear in an answer.
const RAW: &[&str] = &[
    "0241234567",
    "+233 24 123 4567",
    "241234567",
    "024-123-4567",
    "020 123 4567",
    "ada@acme.test",
    "bob@example.com",
];

async fn text_as(h: &Harness, token: &str, path: &str) -> (StatusCode, String) {
    let res = h
        .http
        .get(format!("{}{path}", h.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

fn assert_masked(what: &str, body: &str) {
    for raw in RAW {
        assert!(!body.contains(raw), "{what} shows {raw}: {body}");
    }
}

#[tokio::test]
async fn masking_for_each_role_on_each_response_that_carries_personal_data() {
    let h = hardware().await;
    // A sample saga whose input, business key and failure name a customer in several forms.
    let input = json!({
        "contact": { "phone": "+233 24 123 4567", "alt": "241234567", "email": "bob@example.com" },
        "note": "call 024-123-4567 or 020 123 4567",
        "steps": { "reserve": { "fail": "permanent" } },
    });
    let (s, b) = h
        .post_json(
            "/v1/sagas",
            &[("idempotency-key", "pii-1")],
            &json!({ "workflow": "sample", "input": input, "business_key": "0241234567" }),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let sample = id(&b, "saga_id");
    // A hardware order for a company whose billing contact the directory holds.
    let order = id(
        &create(
            &h,
            &order_body(&[("SENSOR-T1", 1, "sensor_vendor_first_time")]),
        )
        .await,
        "id",
    );
    // A data-bundle order the reseller fails, so the customer is texted "Retrying…" (an
    // outbox row addressed to the phone).
    h.sim
        .configure(sagaflow::simulator::ConfigPatch {
            default_outcome: Some(sagaflow::simulator::Outcome::Failed),
            ..Default::default()
        })
        .unwrap();
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
    let (bundle_order, bundle_saga) = (id(&bundle, "order_id"), id(&bundle, "saga_id"));
    let sms_rows = "SELECT count(*) FROM outbox WHERE topic = 'customer_sms'";
    for _ in 0..200 {
        h.t.run().await;
        if h.count(sms_rows).await > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(h.count(sms_rows).await > 0, "no SMS was queued");
    let stored: Value =
        sqlx::query_scalar("SELECT payload FROM outbox WHERE topic = 'customer_sms'")
            .fetch_one(h.pool())
            .await
            .unwrap();
    assert!(
        stored.to_string().contains("0241234567"),
        "the row itself keeps the number: {stored}"
    );
    let sms: i64 = sqlx::query_scalar("SELECT id FROM outbox WHERE topic = 'customer_sms'")
        .fetch_one(h.pool())
        .await
        .unwrap();

    let owner_paths = [
        format!("/v1/sagas/{sample}"),
        format!("/v1/sagas/{bundle_saga}"),
        "/v1/sagas?limit=50".to_string(),
        "/v1/sagas?business_key=0241234567".to_string(),
        "/v1/sagas/export.csv".to_string(),
        format!("/v1/orders/{order}"),
        format!("/v1/orders/{bundle_order}"),
    ];
    let ops_paths = [
        "/v1/outbox".to_string(),
        format!("/v1/outbox/{sms}"),
        "/v1/companies/ACME/contacts".to_string(),
    ];
    for token in [SERVICE_TOKEN, VIEWER_TOKEN, OPERATOR_TOKEN] {
        let paths = owner_paths.iter().chain(if token == SERVICE_TOKEN {
            &[][..]
        } else {
            &ops_paths[..]
        });
        for path in paths {
            let (s, body) = text_as(&h, token, path).await;
            assert_eq!(s, StatusCode::OK, "{path} as {token}: {body}");
            assert_masked(&format!("{path} as {token}"), &body);
        }
    }
    // What masking leaves: the masked forms, so an operator can still tell numbers apart.
    let (_, body) = text_as(&h, OPERATOR_TOKEN, &format!("/v1/sagas/{sample}")).await;
    assert!(
        body.contains("024****567") && body.contains("b***@example.com"),
        "{body}"
    );
    let (_, body) = text_as(&h, VIEWER_TOKEN, "/v1/companies/ACME/contacts").await;
    assert!(body.contains("a***@acme.test"), "{body}");

    // The reveal: operators only, with a reason, audited.
    let reveal = format!("/v1/sagas/{sample}/reveal");
    let viewer = bearer(VIEWER_TOKEN);
    let (s, _) = h
        .post_json(
            &reveal,
            &[("authorization", &viewer)],
            &json!({ "reason": "x" }),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = h.post_json(&reveal, &[], &json!({ "reason": "" })).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, body) = h
        .post_json(
            &reveal,
            &[],
            &json!({ "reason": "customer asked us to call back" }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"]["input"]["contact"]["phone"],
        "+233 24 123 4567"
    );
    assert_eq!(body["business_key"], "0241234567");
    let (_, audit) = text_as(&h, OPERATOR_TOKEN, &format!("/v1/audit?saga_id={sample}")).await;
    let audit: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(audit["items"][0]["action"], "reveal", "{audit}");
    assert_eq!(
        audit["items"][0]["reason"],
        "customer asked us to call back"
    );
}
