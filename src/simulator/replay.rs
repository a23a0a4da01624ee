//! `sagaflow simulate courier-events` and `payment-events`: build provider events, sign them
//! with the configured secrets, and post them to a running sagaflow server.

use chrono::Utc;
use serde_json::json;

use super::events::{SignedEvent, courier_event, payment_event, post};
use crate::providers::ProvidersConfig;

/// Arguments of `sagaflow simulate courier-events`.
#[derive(Debug, Clone, clap::Args)]
pub struct CourierEventsArgs {
    /// Tracking number of the shipment.
    #[arg(long)]
    pub shipment: String,
    /// Last status to send: in_transit, out_for_delivery, delivered, exception or returned.
    #[arg(long, default_value = "delivered")]
    pub to: String,
    /// Courier code (`usps`, `dhl`, `chitchat`, `canadapost`).
    #[arg(long, default_value = "usps")]
    pub courier: String,
    /// Base URL of the sagaflow server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
}

/// Arguments of `sagaflow simulate payment-events`.
#[derive(Debug, Clone, clap::Args)]
pub struct PaymentEventsArgs {
    /// Checkout session id (`cs_…`).
    #[arg(long)]
    pub session: String,
    /// `completed` or `expired`.
    #[arg(long, default_value = "completed")]
    pub to: String,
    /// Amount paid, in minor units.
    #[arg(long, default_value_t = 1000)]
    pub amount: i64,
    /// Our reference, sent as `client_reference_id`.
    #[arg(long)]
    pub client_reference_id: Option<String>,
    /// Base URL of the sagaflow server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
}

/// The statuses a shipment passes through on its way to `to`.
pub(crate) fn courier_path(to: &str) -> anyhow::Result<Vec<&'static str>> {
    Ok(match to {
        "in_transit" => vec!["in_transit"],
        "out_for_delivery" => vec!["in_transit", "out_for_delivery"],
        "delivered" => vec!["in_transit", "out_for_delivery", "delivered"],
        "exception" => vec!["in_transit", "exception"],
        "returned" => vec!["in_transit", "exception", "returned"],
        other => anyhow::bail!(
            "unknown status {other:?}: use in_transit, out_for_delivery, delivered, exception or returned"
        ),
    })
}

async fn send_all(url: &str, events: Vec<SignedEvent>) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()?;
    for event in events {
        match post(&http, url, &event).await {
            Ok(status) => println!("{} -> {url}: {status}", event.event_id),
            Err(err) => anyhow::bail!("{} -> {url}: {err}", event.event_id),
        }
    }
    Ok(())
}

pub(crate) async fn courier_events(
    providers: &ProvidersConfig,
    args: &CourierEventsArgs,
) -> anyhow::Result<()> {
    let code = args.courier.to_ascii_lowercase();
    let carrier = providers
        .courier
        .carriers
        .get(&code)
        .ok_or_else(|| anyhow::anyhow!("unknown courier {code:?}"))?;
    let now = Utc::now();
    let events = courier_path(&args.to)?
        .into_iter()
        .enumerate()
        .map(|(i, status)| {
            let id = format!(
                "evt_replay_{}_{}_{i}",
                args.shipment,
                now.timestamp_millis()
            );
            courier_event(&code, carrier, &id, &args.shipment, status, now)
        })
        .collect();
    let url = format!("{}/v1/webhooks/courier", args.target.trim_end_matches('/'));
    send_all(&url, events).await
}

pub(crate) async fn payment_events(
    providers: &ProvidersConfig,
    args: &PaymentEventsArgs,
) -> anyhow::Result<()> {
    let (kind, status, payment_status) = match args.to.as_str() {
        "completed" | "paid" => ("checkout.session.completed", "complete", "paid"),
        "expired" => ("checkout.session.expired", "expired", "unpaid"),
        other => anyhow::bail!("unknown outcome {other:?}: use completed or expired"),
    };
    let now = Utc::now();
    let object = json!({
        "id": args.session,
        "object": "checkout.session",
        "status": status,
        "payment_status": payment_status,
        "amount_total": args.amount,
        "currency": "usd",
        "client_reference_id": args.client_reference_id,
        "payment_intent": (payment_status == "paid").then(|| format!("pi_replay_{}", now.timestamp_millis())),
    });
    let event = payment_event(
        providers.payments.webhook_secret.expose(),
        &format!("evt_replay_{}", now.timestamp_millis()),
        kind,
        &object,
        now,
    );
    let url = format!("{}/v1/webhooks/payments", args.target.trim_end_matches('/'));
    send_all(&url, vec![event]).await
}
