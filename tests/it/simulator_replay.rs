//! `sagaflow simulate courier-events` and `payment-events` post signed events that a sagaflow
//! server configured with the same settings accepts.

use chrono::Utc;
use clap::Parser;
use sagaflow::providers::webhooks::verify_inbound;
use sagaflow::simulator::{SimulateArgs, run};

use crate::support::providers::Sink;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: SimulateArgs,
}

fn args(words: &[&str]) -> SimulateArgs {
    let mut argv = vec!["simulate"];
    argv.extend_from_slice(words);
    Cli::try_parse_from(argv).expect("arguments parse").args
}

#[tokio::test]
async fn replays_courier_and_payment_events() {
    let sink = Sink::start().await;
    let target = sink.base.trim_end_matches("/v1/webhooks").to_string();
    let providers = sagaflow::Settings::load().unwrap().providers;

    run(args(&[
        "courier-events",
        "--shipment",
        "DHL0000000042SIM",
        "--courier",
        "dhl",
        "--to",
        "delivered",
        "--target",
        &target,
    ]))
    .await
    .expect("courier events sent");
    let hooks = sink.wait_for("courier", 3).await;
    let statuses: Vec<String> = hooks
        .iter()
        .map(|h| {
            let event = verify_inbound("courier", &h.headers, &h.body, &providers, Utc::now())
                .expect("replayed courier event verifies");
            assert_eq!(event.reference, "courier:dhl:DHL0000000042SIM");
            event.payload["status"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(statuses, ["in_transit", "out_for_delivery", "delivered"]);

    run(args(&[
        "payment-events",
        "--session",
        "cs_test_replay1",
        "--to",
        "completed",
        "--target",
        &target,
    ]))
    .await
    .expect("payment event sent");
    let hooks = sink.wait_for("payments", 1).await;
    let event = verify_inbound(
        "payments",
        &hooks[0].headers,
        &hooks[0].body,
        &providers,
        Utc::now(),
    )
    .expect("replayed payment event verifies");
    assert_eq!(event.reference, "payments:cs_test_replay1");
    assert_eq!(event.payload["type"], "checkout.session.completed");
    assert_eq!(event.payload["data"]["object"]["payment_status"], "paid");

    assert!(
        run(args(&[
            "courier-events",
            "--shipment",
            "X",
            "--to",
            "lost",
            "--target",
            &target
        ]))
        .await
        .is_err()
    );
}
