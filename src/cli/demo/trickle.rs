//! After the batch, a gentle trickle of new sagas and orders keeps the console's and the
//! dashboards' charts moving until Ctrl-C (`--no-trickle` stops it): every two seconds a saga
//! that needs no signal, and every third tick a data bundle and a partner subscription.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::orders::{Credentials, start_batch};
use super::scenarios::{scenarios, start};

const TICK: Duration = Duration::from_secs(2);

/// Runs until the task is dropped, showing how many it placed on one spinner line. A refused
/// start is logged and the trickle goes on: it is scenery, not the demo's result.
pub async fn run(base: String, who: Credentials<'_>) {
    let http = reqwest::Client::new();
    let run = uuid::Uuid::now_v7().simple().to_string();
    let kinds: Vec<_> = scenarios()
        .into_iter()
        .filter(|s| s.signal.is_none())
        .collect();
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
        bar.set_style(style);
    }
    let mut placed = 0usize;
    let mut ticker = tokio::time::interval(TICK);
    for tick in 0usize.. {
        ticker.tick().await;
        let kind = &kinds[tick % kinds.len()];
        let key = format!("demo-trickle-{run}-{tick}");
        match start(&http, &base, who.shop_token, &key, &key, kind).await {
            Ok(_) => placed += 1,
            Err(e) => tracing::warn!(error = %e, "the trickle could not start a saga"),
        }
        if tick % 3 == 2 {
            match start_batch(&base, &who, 2).await {
                Ok(ids) => placed += ids.len(),
                Err(e) => tracing::warn!(error = %e, "the trickle could not place orders"),
            }
        }
        bar.set_message(format!(
            "trickle: {placed} sagas and orders started since the batch (Ctrl-C stops the demo)"
        ));
        bar.tick();
    }
}
