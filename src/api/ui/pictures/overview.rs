//! The overview's pictures section: the activity chart over the chosen window, each
//! provider's error rate over the same window, and what is known of each provider's state.

use std::collections::BTreeMap;

use askama::Template;

use super::chart::{self, Bar, Bucket, Tick, Window};
use crate::api::{ApiError, AppState};

pub struct WindowLink {
    pub key: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// A provider's row: its error rate over the window and its state where this node knows it.
pub struct ProviderLine {
    pub provider: String,
    pub calls: i64,
    pub errors: i64,
    pub rate: String,
    /// The rate bar's width out of 100.
    pub rate_width: i64,
    pub balance: String,
    /// The breaker and any pause, shared by every node (see `providers::gates`).
    pub gate: String,
}

/// What a row says of a provider's breaker and pauses: "closed", "open since 09:14 (5
/// failures)", and "paused by olivia: maintenance" for each pause in force.
fn gate_line(status: Option<&crate::providers::gates::ProviderStatus>) -> String {
    let Some(status) = status else {
        return "—".into();
    };
    let mut parts = Vec::new();
    match &status.breaker {
        Some(b) if b.state != "closed" => parts.push(format!(
            "breaker {}{} ({} failures)",
            b.state.replace('_', " "),
            b.opened_at
                .map(|at| format!(" since {}", at.format("%H:%M:%S UTC")))
                .unwrap_or_default(),
            b.failures
        )),
        _ => parts.push("breaker closed".into()),
    }
    for p in &status.pauses {
        let what = if p.endpoint.is_empty() {
            "paused".to_string()
        } else {
            format!("{} paused", p.endpoint)
        };
        parts.push(format!("{what} by {}: {}", p.paused_by, p.reason));
    }
    parts.join("; ")
}

#[derive(Template)]
#[template(path = "pictures_overview.html")]
pub struct OverviewPictures {
    pub window: &'static str,
    pub window_label: &'static str,
    pub windows: Vec<WindowLink>,
    pub error: Option<String>,
    pub width: i32,
    pub height: i32,
    pub bar_w: i32,
    pub max: i64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub buckets: Vec<BucketLine>,
    pub totals: (i64, i64, i64),
    pub providers: Vec<ProviderLine>,
}

pub struct BucketLine {
    pub at: String,
    pub started: i64,
    pub completed: i64,
    pub compensated: i64,
}

/// The last balance each provider reported to this node, read back from the Prometheus
/// gauges named `sagaflow_<…>_balance` with a `provider` label (the data-bundle family's
/// reseller pre-check sets one; no other record of a balance exists yet).
fn balances(rendered: &str) -> BTreeMap<String, String> {
    rendered
        .lines()
        .filter(|l| l.starts_with("sagaflow_"))
        .filter_map(|l| {
            let (name, rest) = l.split_once('{')?;
            name.ends_with("_balance").then_some(rest)
        })
        .filter_map(|rest| {
            let (labels, value) = rest.split_once("} ")?;
            let provider = labels
                .split(',')
                .find_map(|kv| kv.strip_prefix("provider=\""))?
                .trim_end_matches('"');
            let v: f64 = value.trim().parse().ok()?;
            Some((provider.to_string(), format!("GHS {v:.2}")))
        })
        .collect()
}

/// Renders the section for `raw_window` (`1h`, `24h`, `7d`); an unknown window shows the
/// default one with a message saying why, and the flag that the request was bad.
pub async fn section(s: &AppState, raw_window: Option<&str>) -> Result<(String, bool), ApiError> {
    let (window, error) = match Window::parse(raw_window) {
        Ok(w) => (w, None),
        Err(e) => (Window::Day, Some(e)),
    };
    let (from, to) = window.bounds(s.rt.clock.now());
    let rows = s.rt.store.saga_activity(from, to, window.step()).await?;
    let buckets: Vec<Bucket> = chart::fill(window, from, &rows);
    let (bars, max, ticks) = chart::bars(window, &buckets);
    let rates = s.rt.store.provider_rates(from, to).await?;
    let mut balance = balances(&s.metrics.render());
    let gates = match &s.gates {
        Some(g) => g.status().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "provider gate state unreadable for the overview");
            Vec::new()
        }),
        None => Vec::new(),
    };
    // Rows name couriers `courier:usps`; the gate is the provider's.
    let gate_of = |provider: &str| {
        let base = provider.split(':').next().unwrap_or(provider);
        gate_line(gates.iter().find(|g| g.provider == base))
    };
    let mut providers: Vec<ProviderLine> = rates
        .into_iter()
        .map(|r| ProviderLine {
            balance: balance.remove(&r.provider).unwrap_or_else(|| "—".into()),
            gate: gate_of(&r.provider),
            rate: if r.calls > 0 {
                format!("{:.1}%", r.errors as f64 * 100.0 / r.calls as f64)
            } else {
                "—".into()
            },
            rate_width: (r.errors * 100).checked_div(r.calls).unwrap_or(0),
            provider: r.provider,
            calls: r.calls,
            errors: r.errors,
        })
        .collect();
    // Providers with a balance but no calls in the window still show their balance.
    providers.extend(balance.into_iter().map(|(provider, balance)| ProviderLine {
        gate: gate_of(&provider),
        provider,
        calls: 0,
        errors: 0,
        rate: "—".into(),
        rate_width: 0,
        balance,
    }));
    // A provider held open or paused shows even when it had no calls in the window.
    for g in &gates {
        let held = !g.pauses.is_empty() || g.breaker.as_ref().is_some_and(|b| b.state != "closed");
        if held
            && !providers
                .iter()
                .any(|p| p.provider.split(':').next() == Some(&g.provider))
        {
            providers.push(ProviderLine {
                provider: g.provider.clone(),
                calls: 0,
                errors: 0,
                rate: "—".into(),
                rate_width: 0,
                balance: "—".into(),
                gate: gate_line(Some(g)),
            });
        }
    }
    let totals = buckets.iter().fold((0, 0, 0), |t, b| {
        (t.0 + b.started, t.1 + b.completed, t.2 + b.compensated)
    });
    let page = OverviewPictures {
        window: window.key(),
        window_label: window.label(),
        windows: Window::ALL
            .iter()
            .map(|w| WindowLink {
                key: w.key(),
                label: w.label(),
                current: *w == window,
            })
            .collect(),
        error,
        width: chart::CHART_W,
        height: chart::CHART_H,
        bar_w: chart::bar_width(buckets.len()),
        max,
        bars,
        ticks,
        buckets: buckets
            .iter()
            .filter(|b| b.started + b.completed + b.compensated > 0)
            .map(|b| BucketLine {
                at: b.start.format("%Y-%m-%d %H:%M UTC").to_string(),
                started: b.started,
                completed: b.completed,
                compensated: b.compensated,
            })
            .collect(),
        totals,
        providers,
    };
    let bad = page.error.is_some();
    page.render().map(|html| (html, bad)).map_err(|e| {
        tracing::error!(error = %e, "overview pictures template failed");
        ApiError::internal()
    })
}

#[cfg(test)]
mod tests {
    use super::balances;

    #[test]
    fn balances_are_read_from_the_gauge_lines() {
        let text = "# TYPE sagaflow_reseller_balance gauge\n\
                    sagaflow_reseller_balance{provider=\"reseller\"} 412.5\n\
                    sagaflow_reseller_balance_threshold{provider=\"reseller\"} 50\n";
        let b = balances(text);
        assert_eq!(b.len(), 1);
        assert_eq!(b["reseller"], "GHS 412.50");
    }
}
