//! The reseller client against the simulator on a real port: success, every error class,
//! timeouts, `Retry-After`, and an unknown outcome resolved by a history lookup.

use std::time::Duration;

use chrono::Utc;
use sagaflow::domain::phone::{Network, PhoneNumber};
use sagaflow::providers::Error;
use sagaflow::providers::reseller::{HistoryQuery, NewOrder, ResellerClient};
use sagaflow::simulator::{ConfigPatch, Fault};

use crate::support::providers::simulator;

fn order(phone: &str, reference: Option<&str>) -> NewOrder {
    NewOrder {
        phone: PhoneNumber::parse(phone).unwrap(),
        network: Network::Mtn,
        size_gb: 5,
        reference: reference.map(str::to_string),
    }
}

fn fault(f: impl FnOnce(&mut Fault)) -> Option<Fault> {
    let mut fault = Fault::default();
    f(&mut fault);
    Some(fault)
}

#[tokio::test]
async fn creates_an_order_lists_it_and_debits_the_balance() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    let before = client.get_balance().await.result.unwrap().balance;

    let attempt = client
        .create_order(&order("0241234567", Some("saga-1:fulfill")))
        .await;
    let created = attempt.result.clone().unwrap();
    assert_eq!(attempt.exchange.status, Some(200));
    assert_eq!(attempt.exchange.method, "POST");
    assert!(attempt.exchange.url.ends_with("/api/orders"));
    let body = attempt.exchange.request_body.as_deref().unwrap();
    assert!(
        body.contains("024****567") && !body.contains("0241234567"),
        "{body}"
    );

    let after = client.get_balance().await.result.unwrap().balance;
    assert!(
        (before - after - 25.0).abs() < 1e-9,
        "5 GB at 5 GHS debited"
    );

    let orders = client
        .list_orders(&HistoryQuery::default())
        .await
        .result
        .unwrap();
    let found = orders.iter().find(|o| o.id == created.order_id).unwrap();
    assert_eq!(found.recipient_phone, "0241234567");
    assert_eq!(found.network, "MTN");
    assert_eq!(found.size_mb, Some(5120));
    assert_eq!(
        sim.stats()
            .deliveries("reseller.create_order", "saga-1:fulfill"),
        1
    );
}

#[tokio::test]
async fn every_error_class_is_classified() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();

    // 401: wrong key.
    let mut wrong = providers.reseller.clone();
    wrong.api_key = "not-the-key".into();
    let err = ResellerClient::new(&wrong)
        .unwrap()
        .create_order(&order("0241234567", None))
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized { .. }), "{err:?}");
    assert!(!err.retryable());
    assert_eq!(err.code(), "unauthorized");

    // 404: no such plan.
    let mut bad_plan = order("0241234567", None);
    bad_plan.size_gb = 0;
    let attempt = client.create_order(&bad_plan).await;
    assert_eq!(attempt.exchange.status, Some(404));
    assert_eq!(attempt.exchange.error_code.as_deref(), Some("not_found"));
    assert!(matches!(attempt.result, Err(Error::NotFound { .. })));

    // 402: insufficient balance.
    sim.configure(ConfigPatch {
        balance: Some(1.0),
        ..ConfigPatch::default()
    })
    .unwrap();
    let err = client
        .create_order(&order("0241234567", None))
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, Error::InsufficientBalance { .. }), "{err:?}");
    assert!(err.to_string().contains("Insufficient balance"));
    assert!(!err.retryable());
    sim.configure(ConfigPatch {
        balance: Some(10_000.0),
        ..ConfigPatch::default()
    })
    .unwrap();

    // Forced statuses: 400 and 422 permanent, 500 and 503 retryable.
    for (status, code, retryable) in [
        (400, "invalid_request", false),
        (422, "unprocessable", false),
        (500, "http_5xx", true),
        (503, "http_5xx", true),
    ] {
        sim.set_fault("reseller.create_order", fault(|f| f.status = Some(status)))
            .unwrap();
        let err = client
            .create_order(&order("0241234567", None))
            .await
            .result
            .unwrap_err();
        assert_eq!(err.code(), code, "{status}");
        assert_eq!(err.retryable(), retryable, "{status}");
    }
    sim.set_fault("reseller.create_order", None).unwrap();

    // A local network mismatch is refused before anything is sent.
    let requests = sim.stats().requests("reseller.create_order");
    let mut mismatch = order("0201234567", None);
    mismatch.network = Network::Mtn;
    let attempt = client.create_order(&mismatch).await;
    let err = attempt.result.unwrap_err();
    assert_eq!(err.code(), "invalid_input");
    assert!(err.to_string().contains("TELECEL"), "{err}");
    assert_eq!(sim.stats().requests("reseller.create_order"), requests);
    assert_eq!(attempt.exchange.status, None);
}

#[tokio::test]
async fn rate_limit_carries_retry_after() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    sim.set_fault(
        "reseller.balance",
        fault(|f| {
            f.status = Some(429);
            f.retry_after_secs = Some(7);
        }),
    )
    .unwrap();
    let err = client.get_balance().await.result.unwrap_err();
    assert!(err.retryable());
    assert_eq!(err.code(), "rate_limited");
    assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn error_rate_and_times_make_a_transient_failure() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    sim.set_fault(
        "reseller.balance",
        fault(|f| {
            f.error_rate = 1.0;
            f.error_status = Some(502);
            f.times = Some(2);
        }),
    )
    .unwrap();
    assert_eq!(
        client.get_balance().await.result.unwrap_err().code(),
        "http_5xx"
    );
    assert_eq!(
        client.get_balance().await.result.unwrap_err().code(),
        "http_5xx"
    );
    assert!(client.get_balance().await.result.is_ok());
    let stats = sim.stats();
    assert_eq!(stats.requests("reseller.balance"), 3);
    assert_eq!(stats.endpoints["reseller.balance"].faults, 2);
}

#[tokio::test]
async fn a_hang_times_out_and_latency_is_measured() {
    let (sim, providers) = simulator(None).await;
    let mut cfg = providers.reseller.clone();
    cfg.timeout = Duration::from_millis(300);
    let client = ResellerClient::new(&cfg).unwrap();

    sim.set_fault("reseller.balance", fault(|f| f.hang = true))
        .unwrap();
    let started = std::time::Instant::now();
    let attempt = client.get_balance().await;
    let err = attempt.result.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(err.retryable() && err.outcome_unknown());
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(attempt.exchange.status, None);
    assert_eq!(attempt.exchange.error_code.as_deref(), Some("timeout"));
    assert!(
        attempt.exchange.latency_ms >= 290,
        "{}",
        attempt.exchange.latency_ms
    );

    sim.set_fault("reseller.balance", fault(|f| f.latency_ms = 120))
        .unwrap();
    let attempt = client.get_balance().await;
    assert!(attempt.result.is_ok());
    assert!(attempt.exchange.latency_ms >= 120);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let (sim, providers) = simulator(None).await;
    sim.shutdown().await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    let err = client.get_balance().await.result.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.retryable() && !err.outcome_unknown());
}

#[tokio::test]
async fn unknown_outcome_is_resolved_by_history_without_a_second_delivery() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    let wanted = order("0551234567", Some("saga-42:fulfill"));
    let since = Utc::now();

    sim.set_fault(
        "reseller.create_order",
        fault(|f| {
            f.drop_response = true;
            f.times = Some(1);
        }),
    )
    .unwrap();
    let attempt = client.create_order(&wanted).await;
    let err = attempt.result.unwrap_err();
    assert_eq!(err.code(), "unknown_outcome", "{err:?}");
    assert!(err.outcome_unknown() && err.retryable());
    // The reseller did act: one order exists for the reference.
    assert_eq!(
        sim.stats()
            .deliveries("reseller.create_order", "saga-42:fulfill"),
        1
    );

    // Verify before retry: the history shows the order, so no second create is sent.
    let phone = wanted.phone.clone();
    let history = client.history_since(&phone, since).await.result.unwrap();
    assert!(history.complete, "one short page is the whole history");
    let found: Vec<_> = history
        .orders
        .iter()
        .filter(|o| o.reference.as_deref() == Some("saga-42:fulfill"))
        .collect();
    assert_eq!(found.len(), 1, "the dropped order is in the history");
    assert_eq!(
        sim.stats()
            .deliveries("reseller.create_order", "saga-42:fulfill"),
        1
    );
}

#[tokio::test]
async fn the_history_is_paged_back_to_the_start_and_says_when_it_could_not() {
    let (sim, providers) = simulator(None).await;
    let client = ResellerClient::new(&providers.reseller).unwrap();
    let since = Utc::now() - chrono::Duration::minutes(5);
    // 230 orders to one number: three pages of 100.
    for i in 0..230 {
        let one_gb = NewOrder {
            size_gb: 1,
            ..order("0241112233", Some(&format!("many:{i}")))
        };
        let r = client.create_order(&one_gb).await;
        assert!(r.result.is_ok(), "{i}");
    }
    let phone = PhoneNumber::parse("0241112233").unwrap();
    let before = sim.stats().requests("reseller.list_orders");
    let history = client.history_since(&phone, since).await.result.unwrap();
    assert!(history.complete);
    assert_eq!(history.orders.len(), 230);
    assert!(
        history
            .orders
            .iter()
            .any(|o| o.reference.as_deref() == Some("many:0")),
        "the oldest order is on the last page"
    );
    assert_eq!(sim.stats().requests("reseller.list_orders") - before, 3);

    // A page that fails is an error, never a shorter history.
    sim.set_fault(
        "reseller.list_orders",
        fault(|f| {
            f.status = Some(500);
            f.times = Some(1);
        }),
    )
    .unwrap();
    assert!(client.history_since(&phone, since).await.result.is_err());
}

#[tokio::test]
async fn order_completes_or_fails_as_configured() {
    let (sim, providers) = simulator(None).await;
    sim.configure(ConfigPatch {
        outcomes: [(
            "0241112222".to_string(),
            Some(sagaflow::simulator::Outcome::Failed),
        )]
        .into_iter()
        .collect(),
        ..ConfigPatch::default()
    })
    .unwrap();
    let client = ResellerClient::new(&providers.reseller).unwrap();
    let ok = client
        .create_order(&order("0241234567", None))
        .await
        .result
        .unwrap();
    let bad = client
        .create_order(&order("0241112222", None))
        .await
        .result
        .unwrap();
    let mut statuses = (String::new(), String::new());
    for _ in 0..100 {
        let orders = client
            .list_orders(&HistoryQuery::default())
            .await
            .result
            .unwrap();
        let status = |id| orders.iter().find(|o| o.id == id).unwrap().status.clone();
        statuses = (status(ok.order_id), status(bad.order_id));
        if statuses.0 != "pending" && statuses.1 != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(statuses, ("completed".to_string(), "failed".to_string()));
}
