//! The device/asset bridge client against the simulator on a real port: a run, its idempotent
//! replay, refusals, and injected faults (a 503 and a hang past the per-call timeout).

use std::time::{Duration, Instant};

use sagaflow::providers::bridge::{AutomationRequest, BridgeClient};
use sagaflow::providers::{Error, Providers};
use sagaflow::simulator::{BRIDGE_SCENARIOS, Fault};
use serde_json::{Value, json};

use crate::support::providers::simulator;

const CALL: Duration = Duration::from_secs(5);

fn request(reference: &str, scenario: &str) -> AutomationRequest {
    AutomationRequest {
        reference: reference.into(),
        scenario: scenario.into(),
        order_id: "HW-1001".into(),
        sku: "SENSOR-T1".into(),
        quantity: 2,
        payload: json!({"site": "warehouse-3", "serials": ["S-1", "S-2"]}),
    }
}

#[tokio::test]
async fn runs_once_per_reference_and_refuses_bad_requests() {
    let (sim, cfg) = simulator(None).await;
    let p = Providers::from_config(&cfg).unwrap();

    let first = p
        .bridge
        .run_automation(&request("hw-1:provision", "sensor_vendor_first_time"), CALL)
        .await;
    assert_eq!(first.exchange.provider, "bridge");
    assert_eq!(
        first.exchange.idempotency_key.as_deref(),
        Some("hw-1:provision")
    );
    assert!(!format!("{:?}", first.exchange).contains(cfg.bridge.api_key.expose()));
    let first = first.result.unwrap();
    assert_eq!(first.status, "completed");
    assert!(first.message.unwrap().contains("HW-1001"));

    let again = p
        .bridge
        .run_automation(&request("hw-1:provision", "sensor_vendor_first_time"), CALL)
        .await
        .result
        .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        sim.stats()
            .deliveries("bridge.run_automation", "hw-1:provision"),
        1
    );
    let runs = sim.automations();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].scenario, "sensor_vendor_first_time");
    assert_eq!(runs[0].quantity, 2);
    assert_eq!(runs[0].payload["site"], "warehouse-3");
    assert_eq!(runs[0].idempotency_key.as_deref(), Some("hw-1:provision"));

    // Every documented scenario runs.
    for (i, scenario) in BRIDGE_SCENARIOS.iter().enumerate() {
        let ran = p
            .bridge
            .run_automation(&request(&format!("hw-2:{i}"), scenario), CALL)
            .await;
        assert!(ran.result.is_ok(), "{scenario}: {:?}", ran.result);
    }

    let unknown = p
        .bridge
        .run_automation(&request("hw-3:provision", "sensor_teleport"), CALL)
        .await;
    assert_eq!(unknown.exchange.status, Some(422));
    let err = unknown.result.unwrap_err();
    assert_eq!(err.code(), "unprocessable");
    assert!(!err.retryable());
    assert!(err.to_string().contains("unknown_scenario"), "{err}");

    let mut wrong = cfg.bridge.clone();
    wrong.api_key = "not-the-key".into();
    let err = BridgeClient::new(&wrong)
        .unwrap()
        .run_automation(&request("hw-4:provision", "sensor_return"), CALL)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "unauthorized");

    // Bad bodies are 400 with a message naming what is wrong.
    let http = reqwest::Client::new();
    let url = format!("{}/bridge/v1/automations", sim.base_url());
    let key = cfg.bridge.api_key.expose();
    let missing = http
        .post(&url)
        .bearer_auth(key)
        .json(&json!({"reference": "hw-5", "scenario": "sensor_return", "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "missing required fields: order_id, sku"
    );
    let garbled = http
        .post(&url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 400);
    let body: Value = garbled.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON body")
    );
    assert_eq!(sim.automations().len(), 1 + BRIDGE_SCENARIOS.len());

    let runs: Value = http
        .get(format!("{}/_sim/bridge/automations", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        runs["automations"].as_array().unwrap().len(),
        1 + BRIDGE_SCENARIOS.len()
    );
}

#[tokio::test]
async fn faults_are_retryable_and_a_hang_times_out_per_call() {
    let (sim, cfg) = simulator(None).await;
    let p = Providers::from_config(&cfg).unwrap();
    let req = request("hw-9:provision", "sensor_partner_replacement");

    let busy = Fault {
        status: Some(503),
        times: Some(1),
        ..Fault::default()
    };
    sim.set_fault("bridge.run_automation", Some(busy)).unwrap();
    let err = p
        .bridge
        .run_automation(&req, CALL)
        .await
        .result
        .unwrap_err();
    assert_eq!(err.code(), "http_5xx");
    assert!(err.retryable());

    let hang = Fault {
        hang: true,
        times: Some(1),
        ..Fault::default()
    };
    sim.set_fault("bridge.run_automation", Some(hang)).unwrap();
    let started = Instant::now();
    let timed_out = p
        .bridge
        .run_automation(&req, Duration::from_millis(300))
        .await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(timed_out.exchange.status, None);
    assert_eq!(timed_out.exchange.error_code.as_deref(), Some("timeout"));
    let err = timed_out.result.unwrap_err();
    assert!(
        matches!(err, Error::Timeout { after, .. } if after == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.retryable());
    assert!(err.outcome_unknown());

    // Neither faulted attempt ran anything; the retry runs once.
    assert!(sim.automations().is_empty());
    let done = p.bridge.run_automation(&req, CALL).await.result.unwrap();
    assert_eq!(done.status, "completed");
    let stats = sim.stats();
    assert_eq!(stats.requests("bridge.run_automation"), 3);
    assert_eq!(stats.endpoints["bridge.run_automation"].faults, 2);
    assert_eq!(
        stats.deliveries("bridge.run_automation", "hw-9:provision"),
        1
    );
}
