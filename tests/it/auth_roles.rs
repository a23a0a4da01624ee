//! Every route in the OpenAPI document, called with no token, an unknown token and each role:
//! 401 for the first two, 403 for a role the route does not allow, and never 401/403 for one
//! it does. Also: a service reads only its own sagas, and the open routes stay open.

use crate::support::*;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Who may call each (method, path) of the document. "open" routes take no token.
fn allowed(method: &str, path: &str) -> &'static [&'static str] {
    const READ: &[&str] = &["viewer", "operator"];
    const OPERATE: &[&str] = &["operator"];
    const OPEN: &[&str] = &["open"];
    match (method, path) {
        ("post", "/v1/sagas") => &["service"],
        ("get", "/v1/sagas" | "/v1/sagas/{id}" | "/v1/sagas/export.csv" | "/v1/job-runs") => {
            &["viewer", "operator", "service"]
        }
        ("post", "/v1/sagas/{id}/signals/{name}") => &["operator", "service"],
        (
            "post",
            "/v1/sagas/{id}/{action}"
            | "/v1/sagas/{id}/reveal"
            | "/v1/sagas/bulk"
            | "/v1/outbox/{id}/replay",
        ) => OPERATE,
        ("post", "/v1/providers/{provider}/pause" | "/v1/providers/{provider}/resume") => OPERATE,
        ("get", "/v1/providers") => READ,
        ("get", "/v1/audit" | "/v1/stats" | "/v1/queues" | "/v1/jobs/{id}" | "/v1/outbox")
        | ("get", "/v1/outbox/{id}" | "/v1/providers/reseller/balance") => READ,
        (_, "/v1/webhooks/{provider}" | "/healthz" | "/readyz") => OPEN,
        // `[server] docs_access = "token"`, the default: any configured token.
        ("get", "/metrics" | "/openapi.json") => &["viewer", "operator", "service"],
        ("post", "/v1/orders/data-bundles") => &["service"],
        ("post", "/v1/wallets/{user_id}/top-ups") => &["operator", "service"],
        ("get", "/v1/orders/{id}" | "/v1/packages" | "/v1/wallets/{user_id}") => {
            &["viewer", "operator", "service"]
        }
        ("post", "/v1/orders" | "/v1/orders/{id}/send-checkout" | "/v1/orders/{id}/cancel") => {
            &["operator", "service"]
        }
        // A billing portal link: support or the shop's service, never a viewer.
        ("post", "/v1/companies/{id}/portal-sessions") => &["operator", "service"],
        (
            "get",
            "/v1/orders/{id}/timeline"
            | "/v1/fulfillments/{id}"
            | "/v1/shipments/{id}"
            | "/v1/shipments/{id}/timeline"
            | "/v1/invoices"
            | "/v1/invoices/{id}"
            | "/v1/invoices/{id}.pdf",
        )
        | ("post", "/v1/pricing/quote") => &["viewer", "operator", "service"],
        (
            "post",
            "/v1/fulfillments/{id}/shipments"
            | "/v1/shipments/{id}/status"
            | "/v1/automation-steps/{id}/retry"
            | "/v1/automation-steps/{id}/fallback"
            | "/v1/invoices/{id}/payments",
        )
        | ("patch", "/v1/shipments/{id}") => OPERATE,
        (
            "get",
            "/v1/companies"
            | "/v1/companies/{id}"
            | "/v1/companies/{id}/contacts"
            | "/v1/companies/{id}/addresses",
        ) => READ,
        (
            "post",
            "/v1/companies"
            | "/v1/companies/{id}/contacts"
            | "/v1/companies/{id}/addresses"
            | "/v1/contacts/{id}/archive"
            | "/v1/contacts/{id}/roles"
            | "/v1/addresses/{id}/archive"
            | "/v1/shipments/{id}/save-address"
            | "/v1/invoices"
            | "/v1/invoices/{id}/issue"
            | "/v1/invoices/{id}/lines"
            | "/v1/fulfillments"
            | "/v1/shipments/{id}/automation-steps",
        )
        | (
            "patch",
            "/v1/companies/{id}"
            | "/v1/contacts/{id}"
            | "/v1/addresses/{id}"
            | "/v1/invoices/{id}"
            | "/v1/orders/{id}/status"
            | "/v1/automation-steps/{id}",
        ) => OPERATE,
        ("get", "/v1/pricing/resolutions/{order_item_id}") => &["viewer", "operator", "service"],
        (
            "get",
            "/v1/price-agreements" | "/v1/price-agreements/{id}" | "/v1/legacy-sync/reports",
        ) => READ,
        (
            "post",
            "/v1/price-agreements" | "/v1/pricing/sync" | "/v1/legacy-sync/{entity}/refresh",
        )
        | ("patch" | "delete", "/v1/price-agreements/{id}") => OPERATE,
        // The partner API's request log: support only (it shows what partners sent).
        ("get", "/v1/partner/requests") => OPERATE,
        (_, p) if p.starts_with("/v1/partner") => &["partner"],
        (_, p) if p.starts_with("/ui") => &["console"],
        _ => panic!("route {method} {path} has no expected roles in this test; add it"),
    }
}

fn token(role: &str) -> &'static str {
    match role {
        "viewer" => VIEWER_TOKEN,
        "operator" => OPERATOR_TOKEN,
        "service" => SERVICE_TOKEN,
        _ => unreachable!(),
    }
}

fn concrete(path: &str, saga: &str) -> String {
    path.replace("{id}", saga)
        .replace("{name}", "sample.delivered")
        .replace("{action}", "retry")
        .replace("{provider}", "reseller")
        .replace("{user_id}", "01900000-0000-7000-8000-000000000000")
        .replace("{order_id}", "NO-SUCH-ORDER")
        .replace("{activation_reference}", "NO-SUCH-LICENCE")
        .replace("{order_item_id}", saga)
        .replace("{entity}", "device")
}

#[tokio::test]
async fn every_documented_route_checks_its_role() {
    let t = app().await;
    let saga = t.start("sample", json!({})).await.to_string();
    let (status, doc) = t.call("GET", "/openapi.json", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let roles = allowed(method, path);
            if roles == ["console"] {
                continue; // the console's session rules are tested in ops_console.rs
            }
            if roles == ["partner"] {
                // Partner keys are their own scheme: no operator or service token opens it.
                let url = concrete(path, &saga);
                for tok in [OPERATOR_TOKEN, SERVICE_TOKEN, VIEWER_TOKEN] {
                    let (s, _) = t
                        .call(
                            &method.to_uppercase(),
                            &url,
                            Some(json!({})),
                            &[("authorization", &bearer(tok))],
                        )
                        .await;
                    assert_eq!(
                        s,
                        StatusCode::UNAUTHORIZED,
                        "{method} {path} with an API token"
                    );
                }
                checked += 1;
                continue;
            }
            let url = concrete(path, &saga);
            let m = method.to_uppercase();
            let body = (m == "POST").then(|| json!({ "reason": "role check" }));
            if roles == ["open"] {
                let (s, _) = t
                    .call(&m, &url, body.clone(), &[("authorization", "")])
                    .await;
                assert!(
                    s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN
                        || path.contains("webhooks"),
                    "{m} {path} should be open, got {s}"
                );
                continue;
            }
            let (s, b) = t
                .call(&m, &url, body.clone(), &[("authorization", "")])
                .await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{m} {path} without a token: {b}"
            );
            assert_eq!(b["error"]["code"], "unauthorized");
            let (s, _) = t
                .call(
                    &m,
                    &url,
                    body.clone(),
                    &[("authorization", "Bearer not-a-token")],
                )
                .await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "{m} {path} with an unknown token"
            );
            for role in ["viewer", "operator", "service"] {
                let auth = bearer(token(role));
                let (s, b) = t
                    .call(
                        &m,
                        &url,
                        body.clone(),
                        &[("authorization", &auth), ("idempotency-key", "k-1")],
                    )
                    .await;
                if roles.contains(&role) {
                    assert!(
                        s != StatusCode::UNAUTHORIZED && s != StatusCode::FORBIDDEN,
                        "{m} {path} as {role} should pass auth, got {s} {b}"
                    );
                } else {
                    assert_eq!(s, StatusCode::FORBIDDEN, "{m} {path} as {role}: {b}");
                    assert_eq!(b["error"]["code"], "forbidden");
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 81, "every protected API route was checked");
}

#[tokio::test]
async fn a_service_reads_only_the_sagas_it_started() {
    let t = app().await;
    let mine = t.start("sample", json!({})).await;
    let (s, b) = t
        .call(
            "POST",
            "/v1/sagas",
            Some(json!({ "workflow": "sample", "input": {} })),
            &[
                ("authorization", &bearer(OTHER_SERVICE_TOKEN)),
                ("idempotency-key", "other-1"),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let theirs = b["saga_id"].as_str().unwrap().to_string();
    let me = bearer(SERVICE_TOKEN);
    let (s, _) = t
        .call(
            "GET",
            &format!("/v1/sagas/{mine}"),
            None,
            &[("authorization", &me)],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = t
        .call(
            "GET",
            &format!("/v1/sagas/{theirs}"),
            None,
            &[("authorization", &me)],
        )
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another service's saga is invisible"
    );
    let (s, list) = t
        .call("GET", "/v1/sagas", None, &[("authorization", &me)])
        .await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine.to_string()]);
    // The operator sees both.
    let (_, all) = t.call("GET", "/v1/sagas", None, &[]).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn probes_are_open_the_document_needs_a_token_and_tokens_are_never_stored_plainly() {
    let t = app().await;
    for path in ["/healthz", "/readyz"] {
        let (s, _) = t.call("GET", path, None, &[("authorization", "")]).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    for path in ["/openapi.json", "/metrics"] {
        let (s, _) = t.call("GET", path, None, &[("authorization", "")]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{path}");
        let viewer = bearer(VIEWER_TOKEN);
        let (s, _) = t
            .call("GET", path, None, &[("authorization", &viewer)])
            .await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    // Configured tokens are hashes; the default config holds none.
    let defaults = sagaflow::config::Settings::defaults().unwrap();
    assert!(defaults.auth.tokens.is_empty());
    assert!(!sagaflow::config::DEFAULT_TOML.contains(OPERATOR_TOKEN));
    let id = t.start("sample", json!({})).await;
    t.operate(id, "cancel", "customer changed their mind").await;
    let dump: Vec<Value> = sqlx::query_scalar(
        "SELECT to_jsonb(e) FROM saga_events e UNION ALL SELECT to_jsonb(a) FROM operator_actions a",
    )
    .fetch_all(t.app.store().pool())
    .await
    .unwrap();
    let text = serde_json::to_string(&dump).unwrap();
    assert!(!text.contains(OPERATOR_TOKEN) && !text.contains(SERVICE_TOKEN));
}

#[tokio::test]
async fn the_document_and_metrics_can_be_open_or_off_the_api_port() {
    let mut settings = settings().await;
    settings.server.docs_access = sagaflow::config::DocsAccess::Open;
    let open = app_with(settings, |_| {}).await;
    for path in ["/openapi.json", "/metrics"] {
        let (s, _) = open.call("GET", path, None, &[("authorization", "")]).await;
        assert_eq!(s, StatusCode::OK, "{path}");
    }
    let mut settings = support_settings_closed().await;
    settings.server.metrics_bind = Some("127.0.0.1:0".into());
    let closed = app_with(settings, |_| {}).await;
    for path in ["/openapi.json", "/metrics"] {
        let (s, _) = closed.call("GET", path, None, &[]).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path} with a token");
    }
}

async fn support_settings_closed() -> sagaflow::config::Settings {
    let mut s = settings().await;
    s.server.docs_access = sagaflow::config::DocsAccess::Closed;
    s
}

/// The trust rules on top of the roles: no role sends a provider's signal or starts a
/// workflow begun elsewhere, only operators reveal personal data, and a service sees only
/// its own sagas however it asks.
#[tokio::test]
async fn no_role_sends_a_providers_signal_or_starts_an_internal_workflow() {
    let t = app().await;
    let saga = t.start("sample", json!({})).await;
    for role in ["viewer", "operator", "service"] {
        let auth = bearer(token(role));
        let (s, b) = t
            .call(
                "POST",
                &format!("/v1/sagas/{saga}/signals/payments.checkout"),
                Some(json!({ "reason": "role check", "type": "checkout.session.completed" })),
                &[("authorization", &auth), ("idempotency-key", "k")],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}: {b}");
        let (s, b) = t
            .call(
                "POST",
                "/v1/sagas",
                Some(json!({ "workflow": "hardware_order", "input": {} })),
                &[("authorization", &auth), ("idempotency-key", "k")],
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role}: {b}");
        let (s, _) = t
            .call(
                "POST",
                &format!("/v1/sagas/{saga}/reveal"),
                Some(json!({ "reason": "role check" })),
                &[("authorization", &auth)],
            )
            .await;
        let want = if role == "operator" {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(s, want, "{role} reveal");
    }
    let other = bearer(OTHER_SERVICE_TOKEN);
    for path in [format!("/v1/sagas/{saga}"), format!("/v1/orders/{saga}")] {
        let (s, _) = t
            .call("GET", &path, None, &[("authorization", &other)])
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
    }
}
